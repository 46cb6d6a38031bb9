/* Check suites of libppn-ledger: Merkle known answers, signed notes, canonical entries,
 * authority and views, replication and forks, and durability (kill -9, truncation, bit flips)
 * on real files with real fsync. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "ledger-private.h"
#include "ledger-test.h"
#include "ppn/ledger.h"

static void hex(uint8_t *out, const char *h)
{
    size_t n;
    ck_assert_int_eq(sodium_hex2bin(out, 32, h, 64, NULL, &n, NULL), 0);
    ck_assert_uint_eq(n, 32);
}

static void key(uint8_t sk[64], uint8_t pk[32], uint8_t seedbyte) { ledger_test_key(sk, pk, seedbyte); }

static char *tmpdir(void) { return ledger_test_tmpdir("test"); }

static void rmrf(const char *d) { ledger_test_rmrf(d); }

/* ---- Merkle known answers (RFC 6962 test leaves; transparency-dev/merkle testonly and
 * proof/verify_test.go; their inclusion table numbers leaves from 1) ---- */
static const char *leaves_hex[8] = {"", "00", "10", "2021", "3031", "40414243",
                                    "5051525354555657", "606162636465666768696a6b6c6d6e6f"};
static const char *roots_hex[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
struct kat_proof {
    uint64_t a, b; /* inclusion: leaf number (from 1), size; consistency: size1, size2 */
    int n;
    const char *h[3];
};
static const struct kat_proof incl[] = {
    {1, 8, 3, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8, 3, {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
               "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {3, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {2, 5, 3, {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};
static const struct kat_proof cons[] = {
    {1, 8, 3, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
               "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6, 8, 3, {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
               "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 5, 2, {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
               "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6, 7, 3, {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
               "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
               "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

struct memtree {
    uint8_t h[64][32];
    uint64_t n;
};
static int mem_read(void *ud, uint64_t idx, uint8_t out[32])
{
    struct memtree *t = ud;
    if (idx >= t->n)
        return -ERANGE;
    memcpy(out, t->h[idx], 32);
    return 0;
}

static void build_kat_tree(struct memtree *t, uint8_t lh[8][32], uint8_t roots[9][32])
{
    struct frontier f;
    memset(&f, 0, sizeof(f));
    memset(t, 0, sizeof(*t));
    frontier_root(&f, roots[0]);
    for (int i = 0; i < 8; i++) {
        uint8_t leaf[16];
        size_t ll = strlen(leaves_hex[i]) / 2, n;
        sodium_hex2bin(leaf, sizeof(leaf), leaves_hex[i], ll * 2, NULL, &n, NULL);
        ppn_ledger_merkle_leaf_hash(leaf, ll, lh[i]);
        uint8_t out[64][32];
        unsigned k = frontier_append(&f, lh[i], out);
        ck_assert_uint_eq(t->n, merkle_stored_index(0, (uint64_t)i));
        for (unsigned j = 0; j < k; j++)
            memcpy(t->h[t->n++], out[j], 32);
        ck_assert_uint_eq(t->n, merkle_stored_count((uint64_t)i + 1));
        frontier_root(&f, roots[i + 1]);
    }
}

START_TEST(test_merkle_roots)
{
    struct memtree t;
    uint8_t lh[8][32], roots[9][32], want[32];
    build_kat_tree(&t, lh, roots);
    for (int n = 0; n <= 8; n++) {
        hex(want, roots_hex[n]);
        ck_assert_mem_eq(roots[n], want, 32);
        if (n > 0) {
            uint8_t r[32];
            ck_assert_int_eq(merkle_subtree_hash(mem_read, &t, 0, (uint64_t)n, r), 0);
            ck_assert_mem_eq(r, want, 32);
        }
    }
}
END_TEST

START_TEST(test_merkle_inclusion_kat)
{
    struct memtree t;
    uint8_t lh[8][32], roots[9][32];
    build_kat_tree(&t, lh, roots);
    for (size_t i = 0; i < sizeof(incl) / sizeof(incl[0]); i++) {
        const struct kat_proof *k = &incl[i];
        uint8_t proof[PPN_LEDGER_PROOF_MAX * 32], want[3][32];
        size_t n;
        ck_assert_int_eq(merkle_inclusion_proof(mem_read, &t, k->a - 1, k->b, proof, PPN_LEDGER_PROOF_MAX, &n), 0);
        ck_assert_uint_eq(n, (size_t)k->n);
        for (int j = 0; j < k->n; j++) {
            hex(want[j], k->h[j]);
            ck_assert_mem_eq(proof + 32 * j, want[j], 32);
        }
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a - 1], k->a - 1, k->b, proof, n, roots[k->b]), 0);
        /* Corruptions from the reference test: wrong index, size, leaf, root, extra hashes. */
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a - 1], k->a, k->b, proof, n, roots[k->b]), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a - 1], (k->a - 1) ^ 2, k->b, proof, n, roots[k->b]), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a - 1], k->a - 1, k->b * 2, proof, n, roots[k->b]), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a - 1], k->a - 1, k->b / 2, proof, n, roots[k->b]), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a % 8], k->a - 1, k->b, proof, n, roots[k->b]), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a - 1], k->a - 1, k->b, proof, n, roots[0]), -EBADMSG);
        memcpy(proof + 32 * n, roots[k->b], 32);
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a - 1], k->a - 1, k->b, proof, n + 1, roots[k->b]), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a - 1], k->a - 1, k->b, proof, n - 1, roots[k->b]), -EBADMSG);
        for (size_t j = 0; j < n; j++) {
            proof[32 * j] ^= 8;
            ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[k->a - 1], k->a - 1, k->b, proof, n, roots[k->b]), -EBADMSG);
            proof[32 * j] ^= 8;
        }
    }
    /* Every leaf of every size: generated proofs verify. */
    for (uint64_t size = 1; size <= 8; size++)
        for (uint64_t i = 0; i < size; i++) {
            uint8_t proof[PPN_LEDGER_PROOF_MAX * 32];
            size_t n;
            ck_assert_int_eq(merkle_inclusion_proof(mem_read, &t, i, size, proof, PPN_LEDGER_PROOF_MAX, &n), 0);
            ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[i], i, size, proof, n, roots[size]), 0);
        }
    /* Edge cases: index >= size, size 0. */
    ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[0], 0, 0, NULL, 0, roots[0]), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[0], 1, 1, NULL, 0, lh[0]), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(lh[0], 0, 1, NULL, 0, lh[0]), 0);
}
END_TEST

START_TEST(test_merkle_consistency_kat)
{
    struct memtree t;
    uint8_t lh[8][32], roots[9][32];
    build_kat_tree(&t, lh, roots);
    for (size_t i = 0; i < sizeof(cons) / sizeof(cons[0]); i++) {
        const struct kat_proof *k = &cons[i];
        uint8_t proof[PPN_LEDGER_PROOF_MAX * 32], want[32];
        size_t n;
        ck_assert_int_eq(merkle_consistency_proof(mem_read, &t, k->a, k->b, proof, PPN_LEDGER_PROOF_MAX, &n), 0);
        ck_assert_uint_eq(n, (size_t)k->n);
        for (int j = 0; j < k->n; j++) {
            hex(want, k->h[j]);
            ck_assert_mem_eq(proof + 32 * j, want, 32);
        }
        ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(k->a, k->b, roots[k->a], roots[k->b], proof, n), 0);
        ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(k->a - 1, k->b, roots[k->a], roots[k->b], proof, n), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(k->a + 1, k->b, roots[k->a], roots[k->b], proof, n), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(k->a, k->b * 2, roots[k->a], roots[k->b], proof, n), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(k->a, k->b, roots[k->b], roots[k->a], proof, n), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(k->a, k->b, roots[k->a], roots[k->b], proof, 0), -EBADMSG);
        ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(k->a, k->b, roots[k->a], roots[k->b], proof, n - 1), -EBADMSG);
        memcpy(proof + 32 * n, roots[k->a], 32);
        ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(k->a, k->b, roots[k->a], roots[k->b], proof, n + 1), -EBADMSG);
        for (size_t j = 0; j < n; j++) {
            proof[32 * j] ^= 16;
            ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(k->a, k->b, roots[k->a], roots[k->b], proof, n), -EBADMSG);
            proof[32 * j] ^= 16;
        }
    }
    for (uint64_t a = 0; a <= 8; a++)
        for (uint64_t b = a; b <= 8; b++) {
            uint8_t proof[PPN_LEDGER_PROOF_MAX * 32];
            size_t n;
            ck_assert_int_eq(merkle_consistency_proof(mem_read, &t, a, b, proof, PPN_LEDGER_PROOF_MAX, &n), 0);
            ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(a, b, roots[a], roots[b], proof, n), 0);
        }
    /* Pitfalls: equal sizes need equal roots and an empty proof; from 0 the proof is empty;
     * no time travel. */
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(1, 1, roots[1], roots[2], NULL, 0), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(1, 1, roots[1], roots[1], roots[0], 1), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(0, 1, roots[0], roots[1], roots[0], 1), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(0, 1, roots[0], roots[1], NULL, 0), 0);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(2, 1, roots[2], roots[1], NULL, 0), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(1, 2, roots[1], roots[2], NULL, 0), -EBADMSG);
}
END_TEST

/* ---- Signed notes: golang.org/x/mod/sumdb/note example (PeterNeumann) ---- */
static const char peter_text[] = "If you think cryptography is the answer to your problem,\n"
                                 "then you don't know what your problem is.\n";
static const char peter_note[] = "If you think cryptography is the answer to your problem,\n"
                                 "then you don't know what your problem is.\n"
                                 "\n"
                                 "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

START_TEST(test_note_kat)
{
    /* Signer key AYEK... = 0x01 || seed; verifier ARpc... = 0x01 || public key. */
    uint8_t sraw[33], vraw[33], pk[32], sk[64];
    size_t n;
    ck_assert_int_eq(sodium_base642bin(sraw, 33, "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz", 44, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
    ck_assert_int_eq(sodium_base642bin(vraw, 33, "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", 44, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL), 0);
    crypto_sign_seed_keypair(pk, sk, sraw + 1);
    ck_assert_mem_eq(pk, vraw + 1, 32);
    ck_assert_uint_eq(ppn_ledger_note_key_id("PeterNeumann", pk), 0xc74f20a3u);
    char out[1024];
    size_t len;
    ck_assert_int_eq(note_sign(peter_text, strlen(peter_text), "PeterNeumann", sk, out, sizeof(out), &len), 0);
    ck_assert_uint_eq(len, strlen(peter_note));
    ck_assert_str_eq(out, peter_note);
    struct note_sig sigs[4];
    size_t tl, ns;
    ck_assert_int_eq(note_parse(peter_note, strlen(peter_note), &tl, sigs, 4, &ns, "PeterNeumann"), 0);
    ck_assert_uint_eq(tl, strlen(peter_text));
    ck_assert_uint_eq(ns, 1);
    ck_assert_uint_eq(sigs[0].key_id, 0xc74f20a3u);
    ck_assert_int_eq(crypto_sign_verify_detached(sigs[0].sig, (const uint8_t *)peter_note, tl, pk), 0);
    /* Malformed notes. */
    const char *bad[] = {
        "no signature\n",
        "text\n\nnot a signature line\n",
        "text\n\n\xe2\x80\x94 name\n",
        "text\n\n\xe2\x80\x94 na me AAAA\n",
        "text\n\n\xe2\x80\x94 name !!!!\n",
        "text\n\n\xe2\x80\x94 name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        "te\x01xt\n\n\xe2\x80\x94 name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(note_parse(bad[i], strlen(bad[i]), &tl, sigs, 4, &ns, NULL), -EBADMSG);
}
END_TEST

START_TEST(test_checkpoint_format)
{
    uint8_t sk[64], pk[32], sk2[64], pk2[32];
    key(sk, pk, 1);
    key(sk2, pk2, 2);
    struct checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    strcpy(cp.origin, "example.com/ledger");
    cp.size = 8;
    hex(cp.root, roots_hex[8]);
    char note[1024];
    size_t len;
    ck_assert_int_eq(checkpoint_sign(&cp, sk, note, sizeof(note), &len), 0);
    /* Three lines, blank line, one signature line. */
    ck_assert(!strncmp(note, "example.com/ledger\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n\xe2\x80\x94 example.com/ledger ", 81));
    uint64_t size;
    uint8_t root[32];
    ck_assert_int_eq(ppn_ledger_checkpoint_verify(note, len, "example.com/ledger", pk, &size, root), 0);
    ck_assert_uint_eq(size, 8);
    ck_assert_mem_eq(root, cp.root, 32);
    ck_assert_int_eq(ppn_ledger_checkpoint_verify(note, len, "example.com/ledger", pk2, &size, root), -EKEYREJECTED);
    ck_assert_int_eq(ppn_ledger_checkpoint_verify(note, len, "other", pk, &size, root), -EBADMSG);
    note[19] = '9'; /* size 8 -> 9: signature fails */
    ck_assert_int_eq(ppn_ledger_checkpoint_verify(note, len, "example.com/ledger", pk, &size, root), -EKEYREJECTED);
    const char *badtext[] = {"o\n01\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
                             "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQy=\n",
                             "o\n-1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",
                             "o\n1\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n",
                             "o\n99999999999999999999\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"};
    for (size_t i = 0; i < sizeof(badtext) / sizeof(badtext[0]); i++)
        ck_assert_int_eq(checkpoint_parse_text(badtext[i], strlen(badtext[i]), &cp), -EBADMSG);
}
END_TEST

/* ---- Entries ---- */
static struct ppn_ledger_entry join_entry(uint8_t idbyte)
{
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_NODE_JOIN;
    memset(e.subject, idbyte, 32);
    memset(e.wg_key, idbyte ^ 0x55, 32);
    snprintf(e.mesh, sizeof(e.mesh), "10.8.0.%u", idbyte);
    strcpy(e.endpoint, "192.0.2.1:51820");
    snprintf(e.hostname, sizeof(e.hostname), "node-%u", idbyte);
    e.time_ms = 1700000000000ull;
    return e;
}

START_TEST(test_entry_roundtrip)
{
    uint8_t sk[64], pk[32];
    key(sk, pk, 7);
    struct ppn_ledger_entry e = join_entry(3), d;
    uint8_t buf[PPN_LEDGER_ENTRY_MAX];
    size_t len;
    ck_assert_int_eq(ppn_ledger_entry_sign(&e, 5, sk, buf, sizeof(buf), &len), 0);
    ck_assert_int_eq(ppn_ledger_entry_decode(buf, len, &d), 0);
    ck_assert_uint_eq(d.index, 5);
    ck_assert_mem_eq(d.author, pk, 32);
    ck_assert_str_eq(d.hostname, "node-3");
    /* Deterministic: same entry, same bytes. */
    uint8_t buf2[PPN_LEDGER_ENTRY_MAX];
    size_t len2;
    ck_assert_int_eq(ppn_ledger_entry_sign(&d, 5, sk, buf2, sizeof(buf2), &len2), 0);
    ck_assert_uint_eq(len, len2);
    ck_assert_mem_eq(buf, buf2, len);
    /* Every single bit flip is refused (malformed or bad signature). */
    for (size_t i = 0; i < len * 8; i++) {
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        int r = ppn_ledger_entry_decode(buf, len, &d);
        ck_assert_msg(r == -EBADMSG || r == -EKEYREJECTED, "bit %zu accepted (%d)", i, r);
        buf[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    /* Every truncation and a trailing byte are refused. */
    for (size_t n = 0; n < len; n++)
        ck_assert_int_eq(ppn_ledger_entry_decode(buf, n, &d), -EBADMSG);
    buf[len] = 0;
    ck_assert_int_eq(ppn_ledger_entry_decode(buf, len + 1, &d), -EBADMSG);
    /* JSON round trip. */
    char *js;
    ck_assert_int_eq(ppn_ledger_entry_to_json(&e, &js), 0);
    struct ppn_ledger_entry j;
    ck_assert_int_eq(ppn_ledger_entry_from_json(js, strlen(js), &j), 0);
    ck_assert_int_eq(memcmp(&j, &e, sizeof(e)), 0);
    free(js);
    ck_assert_int_eq(ppn_ledger_entry_from_json("{\"type\":\"nope\"}", 15, &j), -EBADMSG);
    /* Bad fields are refused when signing. */
    e.hostname[0] = (char)0xff;
    ck_assert_int_eq(ppn_ledger_entry_sign(&e, 5, sk, buf, sizeof(buf), &len), -EINVAL);
    e = join_entry(3);
    e.type = 99;
    ck_assert_int_eq(ppn_ledger_entry_sign(&e, 5, sk, buf, sizeof(buf), &len), -EINVAL);
    e = join_entry(3);
    ck_assert_int_eq(ppn_ledger_entry_sign(&e, 5, sk, buf, 10, &len), -ENOBUFS);
}
END_TEST

START_TEST(test_entry_noncanonical)
{
    uint8_t sk[64], pk[32];
    key(sk, pk, 7);
    struct ppn_ledger_entry e, d;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_VM_ASSIGN;
    strcpy(e.text, "vm1");
    memcpy(e.subject, pk, 32);
    e.time_ms = 5;
    uint8_t buf[PPN_LEDGER_ENTRY_MAX];
    size_t len;
    ck_assert_int_eq(ppn_ledger_entry_sign(&e, 1, sk, buf, sizeof(buf), &len), 0);
    /* 82 a6 01 06 02 01 03 05 ...: array(2), map(6), 1:type 6, 2:index 1, 3:time 5 */
    ck_assert_uint_eq(buf[0], 0x82);
    ck_assert_uint_eq(buf[1], 0xa6);
    ck_assert_uint_eq(buf[2], 0x01);
    ck_assert_uint_eq(buf[3], 0x06);
    /* A non-shortest integer (0x18 0x06 for 6) is not canonical. */
    uint8_t nc[PPN_LEDGER_ENTRY_MAX + 1];
    memcpy(nc, buf, 3);
    nc[3] = 0x18;
    nc[4] = 0x06;
    memcpy(nc + 5, buf + 4, len - 4);
    ck_assert_int_eq(entry_decode_unverified(nc, len + 1, &d, NULL, NULL, NULL), -EBADMSG);
    /* Swapped keys (index before type) are not canonical. */
    memcpy(nc, buf, len);
    nc[2] = 0x02; nc[3] = 0x01; nc[4] = 0x01; nc[5] = 0x06;
    ck_assert_int_eq(entry_decode_unverified(nc, len, &d, NULL, NULL, NULL), -EBADMSG);
    /* Indefinite-length map. */
    memcpy(nc, buf, len);
    nc[1] = 0xbf;
    ck_assert_int_eq(entry_decode_unverified(nc, len, &d, NULL, NULL, NULL), -EBADMSG);
    ck_assert_int_eq(entry_decode_unverified(buf, len, &d, NULL, NULL, NULL), 0);
}
END_TEST

/* ---- Ledger: authority and views ---- */
static uint8_t admin_sk[64], admin_pk[32], node_sk[64], node_pk[32], other_sk[64], other_pk[32];

static void keys_setup(void)
{
    key(admin_sk, admin_pk, 0xa1);
    key(node_sk, node_pk, 0xb2);
    key(other_sk, other_pk, 0xc3);
}

START_TEST(test_ledger_authority)
{
    keys_setup();
    char *d = tmpdir();
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_create(d, "test.example/ledger", "10.8.0.0/24", admin_sk, &l), 0);
    ck_assert_uint_eq(ppn_ledger_size(l), 1);
    ck_assert_str_eq(ppn_ledger_origin(l), "test.example/ledger");
    ck_assert_str_eq(ppn_ledger_mesh_range(l), "10.8.0.0/24");
    ck_assert_int_eq(ppn_ledger_has_capability(l, admin_pk, "vm.create", NULL), 1);
    ck_assert_int_eq(ppn_ledger_has_capability(l, node_pk, "vm.create", NULL), 0);
    /* A second writer is refused. */
    ppn_ledger *l2;
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &l2), -EBUSY);
    ck_assert_int_eq(ppn_ledger_create(d, "x", "10.0.0.0/8", admin_sk, NULL), -EEXIST);
    uint64_t idx;
    uint8_t wg[32];
    memset(wg, 9, 32);
    /* Someone without node.admit cannot add a node. */
    ck_assert_int_eq(ppn_ledger_node_join(l, other_pk, wg, "10.8.0.3", "", "other", node_sk, &idx), -EPERM);
    ck_assert_int_eq(ppn_ledger_node_join(l, node_pk, wg, "10.8.0.2", "198.51.100.2:51820", "node-b", admin_sk, &idx), 0);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(ppn_ledger_node_join(l, node_pk, wg, "10.8.0.2", "", "dup", admin_sk, &idx), -EPROTO);
    ck_assert_int_eq(ppn_ledger_cap_grant(l, node_pk, "node.admit", "", node_sk, &idx), -EPERM);
    ck_assert_int_eq(ppn_ledger_cap_grant(l, node_pk, "node.admit", "", admin_sk, &idx), 0);
    ck_assert_uint_eq(idx, 2);
    ck_assert_int_eq(ppn_ledger_node_join(l, other_pk, wg, "10.8.0.3", "", "other", node_sk, &idx), 0);
    ck_assert_uint_eq(ppn_ledger_member_count(l), 2);
    ck_assert_int_eq(ppn_ledger_cap_grant(l, node_pk, "vm.create", "pool-a", admin_sk, &idx), 0);
    ck_assert_int_eq(ppn_ledger_has_capability(l, node_pk, "vm.create", "pool-a"), 1);
    ck_assert_int_eq(ppn_ledger_has_capability(l, node_pk, "vm.create", "pool-b"), 0);
    ck_assert_int_eq(ppn_ledger_has_capability(l, node_pk, "vm.create", NULL), 0);
    /* VM assignment needs vm.assign and a member node. */
    ck_assert_int_eq(ppn_ledger_vm_assign(l, "totebox-1", other_pk, node_sk, &idx), -EPERM);
    ck_assert_int_eq(ppn_ledger_vm_assign(l, "totebox-1", admin_pk, admin_sk, &idx), -EPROTO);
    ck_assert_int_eq(ppn_ledger_vm_assign(l, "totebox-1", other_pk, admin_sk, &idx), 0);
    uint64_t asg_idx = idx;
    struct ppn_ledger_assignment a;
    ck_assert_int_eq(ppn_ledger_assignment_find(l, "totebox-1", &a), 0);
    ck_assert_mem_eq(a.node, other_pk, 32);
    /* Supersede: move the VM to node_pk. */
    struct ppn_ledger_entry rep;
    memset(&rep, 0, sizeof(rep));
    rep.type = PPN_LEDGER_ENTRY_VM_ASSIGN;
    strcpy(rep.text, "totebox-1");
    memcpy(rep.subject, node_pk, 32);
    ck_assert_int_eq(ppn_ledger_supersede(l, asg_idx, &rep, admin_sk, &idx), 0);
    ck_assert_int_eq(ppn_ledger_assignment_find(l, "totebox-1", &a), 0);
    ck_assert_mem_eq(a.node, node_pk, 32);
    ck_assert_uint_eq(a.index, idx);
    /* The superseded entry is no longer in effect: superseding it again fails. */
    ck_assert_int_eq(ppn_ledger_supersede(l, asg_idx, NULL, admin_sk, &idx), -EPROTO);
    /* Revoking node_pk removes the member and all its grants. */
    ck_assert_int_eq(ppn_ledger_node_revoke(l, node_pk, "retired", admin_sk, &idx), 0);
    ck_assert_int_eq(ppn_ledger_has_capability(l, node_pk, "node.admit", NULL), 0);
    ck_assert_uint_eq(ppn_ledger_member_count(l), 1);
    struct ppn_ledger_member m;
    ck_assert_int_eq(ppn_ledger_member_find(l, node_pk, &m), -ENOENT);
    ck_assert_int_eq(ppn_ledger_member_find(l, other_pk, &m), 0);
    ck_assert_str_eq(m.hostname, "other");
    ck_assert_int_eq(ppn_ledger_node_join(l, admin_pk, wg, "10.8.0.9", "", "x", node_sk, &idx), -EPERM);
    /* A batch is all or nothing. */
    struct ppn_ledger_entry b[2] = {join_entry(0x31), join_entry(0x31)};
    uint64_t before = ppn_ledger_size(l);
    ck_assert_int_eq(ppn_ledger_append(l, b, 2, admin_sk, &idx), -EPROTO);
    ck_assert_uint_eq(ppn_ledger_size(l), before);
    b[1] = join_entry(0x32);
    ck_assert_int_eq(ppn_ledger_append(l, b, 2, admin_sk, &idx), 0);
    ck_assert_uint_eq(idx, before);
    uint64_t size = ppn_ledger_size(l);
    /* Reopen read-only: same views. */
    uint8_t root[32], root2[32];
    ck_assert_int_eq(ppn_ledger_root(l, size, root), 0);
    ppn_ledger_free(l);
    ck_assert_int_eq(ppn_ledger_open(d, 0, &l), 0);
    ck_assert_uint_eq(ppn_ledger_size(l), size);
    ck_assert_int_eq(ppn_ledger_root(l, size, root2), 0);
    ck_assert_mem_eq(root, root2, 32);
    ck_assert_uint_eq(ppn_ledger_member_count(l), 3);
    ck_assert_int_eq(ppn_ledger_assignment_find(l, "totebox-1", &a), 0);
    ck_assert_mem_eq(a.node, node_pk, 32);
    ck_assert_int_eq(ppn_ledger_node_revoke(l, other_pk, "", admin_sk, &idx), -EBADF);
    struct ppn_ledger_report rep2;
    ck_assert_int_eq(ppn_ledger_verify(l, 2, &rep2), 0);
    /* Inclusion and consistency proofs from the ledger verify. */
    for (uint64_t i = 0; i < size; i++) {
        uint8_t proof[PPN_LEDGER_PROOF_MAX * 32], leaf[32], raw[PPN_LEDGER_ENTRY_MAX], lh[32];
        size_t n, rl;
        ck_assert_int_eq(ppn_ledger_prove_inclusion(l, i, size, proof, PPN_LEDGER_PROOF_MAX, &n), 0);
        ck_assert_int_eq(ppn_ledger_leaf_hash(l, i, leaf), 0);
        ck_assert_int_eq(ppn_ledger_get_raw(l, i, raw, sizeof(raw), &rl), 0);
        ppn_ledger_merkle_leaf_hash(raw, rl, lh);
        ck_assert_mem_eq(lh, leaf, 32);
        ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(leaf, i, size, proof, n, root), 0);
        uint8_t old[32];
        ck_assert_int_eq(ppn_ledger_root(l, i, old), 0);
        ck_assert_int_eq(ppn_ledger_prove_consistency(l, i, size, proof, PPN_LEDGER_PROOF_MAX, &n), 0);
        ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(i, size, old, root, proof, n), 0);
    }
    ppn_ledger_free(l);
    rmrf(d);
    free(d);
}
END_TEST

START_TEST(test_ledger_checkpoint_export)
{
    keys_setup();
    char *d = tmpdir();
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_create(d, "test.example/ledger", "10.8.0.0/24", admin_sk, &l), 0);
    uint8_t wg[32];
    memset(wg, 4, 32);
    uint64_t idx;
    ck_assert_int_eq(ppn_ledger_node_join(l, node_pk, wg, "10.8.0.2", "h:1", "b", admin_sk, &idx), 0);
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    ck_assert_int_eq(ppn_ledger_checkpoint_get(l, note, sizeof(note), &len), -ENOENT);
    ck_assert_int_eq(ppn_ledger_checkpoint(l, node_sk, note, sizeof(note), &len), -EPERM);
    ck_assert_int_eq(ppn_ledger_checkpoint(l, admin_sk, note, sizeof(note), &len), 0);
    uint64_t size;
    uint8_t root[32], want[32];
    ck_assert_int_eq(ppn_ledger_checkpoint_verify(note, len, "test.example/ledger", admin_pk, &size, root), 0);
    ck_assert_uint_eq(size, 2);
    ck_assert_int_eq(ppn_ledger_root(l, 2, want), 0);
    ck_assert_mem_eq(root, want, 32);
    ck_assert_int_eq(ppn_ledger_export_nodes(l, NULL), 0);
    char p[512];
    snprintf(p, sizeof(p), "%s/nodes.jsonl", d);
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    char line[2048];
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
    ck_assert_ptr_null(fgets(line + 1024, 1024, f));
    fclose(f);
    ck_assert_ptr_nonnull(strstr(line, "\"index\":1,"));
    ck_assert_ptr_nonnull(strstr(line, "\"mesh\":\"10.8.0.2\""));
    uint8_t leaf[32];
    char hx[65];
    ck_assert_int_eq(ppn_ledger_leaf_hash(l, 1, leaf), 0);
    sodium_bin2hex(hx, sizeof(hx), leaf, 32);
    ck_assert_ptr_nonnull(strstr(line, hx));
    ck_assert_int_eq(ppn_ledger_verify(l, 0, NULL), 0);
    /* A tampered view is detected by verify. */
    int fd = open(p, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "X", 1, 3), 1);
    close(fd);
    struct ppn_ledger_report rep;
    ck_assert_int_eq(ppn_ledger_verify(l, 0, &rep), -EUCLEAN);
    ck_assert_uint_eq(rep.error_file, 3);
    ck_assert_int_eq(ppn_ledger_export_nodes(l, NULL), 0);
    ck_assert_int_eq(ppn_ledger_verify(l, 0, &rep), 0);
    /* A view that lags behind the entries (not yet exported) is not an error. */
    ck_assert_int_eq(ppn_ledger_node_join(l, other_pk, wg, "10.8.0.3", "", "c", admin_sk, &idx), 0);
    ck_assert_int_eq(ppn_ledger_verify(l, 0, &rep), 0);
    ppn_ledger_free(l);
    rmrf(d);
    free(d);
}
END_TEST

START_TEST(test_ledger_import_fork)
{
    keys_setup();
    char *a = tmpdir(), *b = tmpdir(), *c = tmpdir();
    ppn_ledger *la, *lb, *lc;
    /* Same genesis bytes need the same time: create a, copy it to b and c. */
    ck_assert_int_eq(ppn_ledger_create(a, "o", "10.8.0.0/24", admin_sk, &la), 0);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp -a %s/entries %s/tree %s/ && cp -a %s/entries %s/tree %s/", a, a, b, a, a, c);
    ppn_ledger_free(la);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(ppn_ledger_open(a, PPN_LEDGER_OPEN_WRITE, &la), 0);
    ck_assert_int_eq(ppn_ledger_open(b, PPN_LEDGER_OPEN_WRITE, &lb), 0);
    ck_assert_int_eq(ppn_ledger_open(c, PPN_LEDGER_OPEN_WRITE, &lc), 0);
    uint8_t wg[32];
    memset(wg, 1, 32);
    uint64_t idx;
    struct ppn_ledger_entry e1 = join_entry(0x41), e2 = join_entry(0x42);
    ck_assert_int_eq(ppn_ledger_append(la, &e1, 1, admin_sk, &idx), 0);
    ck_assert_int_eq(ppn_ledger_append(la, &e2, 1, admin_sk, &idx), 0);
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    ck_assert_int_eq(ppn_ledger_checkpoint(la, admin_sk, note, sizeof(note), &len), 0);
    /* b imports a: gets both entries and the checkpoint. */
    struct ppn_ledger_import_report rep;
    ck_assert_int_eq(ppn_ledger_import(lb, a, &rep), 0);
    ck_assert_uint_eq(rep.imported, 2);
    ck_assert_uint_eq(ppn_ledger_size(lb), 3);
    ck_assert_int_eq(ppn_ledger_checkpoint_get(lb, note, sizeof(note), &len), 0);
    ck_assert_int_eq(ppn_ledger_import(lb, a, &rep), 0);
    ck_assert_uint_eq(rep.imported, 0);
    /* c diverged: a different entry at index 1 and its own checkpoint of size 3. */
    struct ppn_ledger_entry x = join_entry(0x43);
    ck_assert_int_eq(ppn_ledger_append(lc, &x, 1, admin_sk, &idx), 0);
    ck_assert_int_eq(ppn_ledger_append(lc, &e2, 1, admin_sk, &idx), 0);
    ck_assert_int_eq(ppn_ledger_checkpoint(lc, admin_sk, note, sizeof(note), &len), 0);
    ck_assert_int_eq(ppn_ledger_import(lb, c, &rep), -EPROTO);
    ck_assert_uint_eq(rep.fork, 1);
    ck_assert_uint_eq(rep.fork_size, 2); /* the first size at which they differ: entry 1 */
    ck_assert_uint_eq(rep.imported, 0);
    ck_assert_uint_eq(ppn_ledger_size(lb), 3);
    ck_assert_int_eq(ppn_ledger_verify(lb, 0, NULL), 0);
    ppn_ledger_free(la);
    ppn_ledger_free(lb);
    ppn_ledger_free(lc);
    rmrf(a); rmrf(b); rmrf(c);
    free(a); free(b); free(c);
}
END_TEST

/* ---- Durability ---- */
static struct ppn_ledger_entry vm_entry(uint64_t i) { return ledger_test_vm_entry(i, node_pk); }

static char *make_ledger(unsigned n)
{
    keys_setup();
    char *d = tmpdir();
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_create(d, "crash.example", "10.8.0.0/24", admin_sk, &l), 0);
    uint8_t wg[32];
    memset(wg, 0x77, 32);
    ck_assert_int_eq(ppn_ledger_node_join(l, node_pk, wg, "10.8.0.2", "", "n", admin_sk, NULL), 0);
    for (unsigned i = 2; i < n; i++) {
        struct ppn_ledger_entry e = vm_entry(i);
        ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0);
    }
    ppn_ledger_free(l);
    return d;
}

START_TEST(test_kill9_loop)
{
    keys_setup();
    char *d = NULL;
    volatile uint64_t *acked = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne((void *)acked, MAP_FAILED);
    unsigned iterations = 300, survived_torn = 0, verified = 0;
    uint64_t checked = 0;
    const char *env = getenv("PPN_LEDGER_KILL_ITERATIONS");
    if (env)
        iterations = (unsigned)atoi(env);
    uint64_t seed = (uint64_t)getpid();
    for (unsigned it = 0; it < iterations; it++) {
        if (it % 40 == 0) {
            if (d) {
                rmrf(d);
                free(d);
            }
            d = make_ledger(3);
        }
        *acked = 0;
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            ppn_ledger *l;
            if (ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &l) < 0)
                _exit(3);
            uint64_t s = seed + it;
            for (unsigned round = 0;; round++) {
                struct ppn_ledger_entry es[32];
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                size_t n = 1 + (size_t)(s >> 59); /* 1..32 */
                for (size_t k = 0; k < n; k++)
                    es[k] = vm_entry(ppn_ledger_size(l) + k);
                if (ppn_ledger_append(l, es, n, admin_sk, NULL) < 0)
                    _exit(4);
                *acked = ppn_ledger_size(l);
                if (round % 8 == 7) {
                    char note[PPN_LEDGER_CHECKPOINT_MAX];
                    size_t len;
                    if (ppn_ledger_checkpoint(l, admin_sk, note, sizeof(note), &len) < 0)
                        _exit(5);
                }
            }
        }
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        usleep((useconds_t)(500 + (seed >> 33) % 6000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        ck_assert_msg(WIFSIGNALED(status), "writer exited early: %d", WEXITSTATUS(status));
        uint64_t ack = *acked;
        ppn_ledger *l;
        struct ppn_ledger_report rep;
        int r = ppn_ledger_open_full(d, PPN_LEDGER_OPEN_WRITE, &rep, &l);
        ck_assert_msg(r == 0, "iteration %u: open failed %d at index %llu offset %llu", it, r,
                      (unsigned long long)rep.error_index, (unsigned long long)rep.error_offset);
        if (rep.torn_bytes)
            survived_torn++;
        ck_assert_msg(ppn_ledger_size(l) >= ack, "iteration %u: lost acknowledged entries (%llu < %llu)",
                      it, (unsigned long long)ppn_ledger_size(l), (unsigned long long)ack);
        /* Every acknowledged entry is the one written, and the whole ledger verifies, after
         * every iteration. */
        for (uint64_t i = 2; i < ack; i++) {
            struct ppn_ledger_entry e;
            ck_assert_int_eq(ppn_ledger_get(l, i, &e), 0);
            ck_assert_msg(e.time_ms == 1000 + i, "iteration %u: entry %llu is not the one acknowledged",
                          it, (unsigned long long)i);
            checked++;
        }
        struct ppn_ledger_report vrep;
        r = ppn_ledger_verify(l, 0, &vrep);
        ck_assert_msg(r == 0, "iteration %u: verify failed %d at index %llu offset %llu", it, r,
                      (unsigned long long)vrep.error_index, (unsigned long long)vrep.error_offset);
        verified++;
        ppn_ledger_free(l);
    }
    printf("kill -9 loop: %u iterations, %u with a torn tail cut back, %u verifications, %llu "
           "acknowledged entries checked\n", iterations, survived_torn, verified,
           (unsigned long long)checked);
    ck_assert_uint_eq(verified, iterations);
    rmrf(d);
    free(d);
    munmap((void *)acked, 4096);
}
END_TEST

static void copy_file(const char *from, const char *to, off_t len)
{
    uint8_t *data;
    size_t n;
    FILE *f = fopen(from, "rb");
    ck_assert_ptr_nonnull(f);
    data = malloc(1 << 20);
    n = fread(data, 1, 1 << 20, f);
    fclose(f);
    if (len >= 0 && (size_t)len < n)
        n = (size_t)len;
    f = fopen(to, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    free(data);
}

START_TEST(test_truncation_every_offset)
{
    char *d = make_ledger(6);
    char p[512], bak[512];
    snprintf(p, sizeof(p), "%s/entries", d);
    snprintf(bak, sizeof(bak), "%s/entries.orig", d);
    copy_file(p, bak, -1);
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_open(d, 0, &l), 0);
    uint64_t off3 = l->locs[3].off, end = l->end;
    uint64_t offs[7];
    for (int i = 0; i < 6; i++)
        offs[i] = l->locs[i].off;
    offs[6] = end;
    ppn_ledger_free(l);
    /* Truncate at every offset of the last three records. */
    for (uint64_t cut = off3; cut <= end; cut++) {
        copy_file(bak, p, (off_t)cut);
        struct ppn_ledger_report rep;
        ck_assert_int_eq(ppn_ledger_open_full(d, PPN_LEDGER_OPEN_WRITE, &rep, &l), 0);
        uint64_t complete = 0;
        while (complete < 6 && offs[complete + 1] <= cut)
            complete++;
        ck_assert_uint_eq(ppn_ledger_size(l), complete);
        if (cut == offs[complete])
            ck_assert_uint_eq(rep.torn_bytes, 0);
        else {
            ck_assert_uint_eq(rep.torn_offset, offs[complete]);
            ck_assert_uint_eq(rep.torn_bytes, cut - offs[complete]);
        }
        ck_assert_int_eq(ppn_ledger_verify(l, 1, NULL), 0);
        /* Appending after the cut works and verifies. */
        struct ppn_ledger_entry e = vm_entry(complete);
        ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0);
        ppn_ledger_free(l);
        ck_assert_int_eq(ppn_ledger_open(d, 0, &l), 0);
        ck_assert_uint_eq(ppn_ledger_size(l), complete + 1);
        ck_assert_int_eq(ppn_ledger_verify(l, 1, NULL), 0);
        ppn_ledger_free(l);
    }
    /* With a checkpoint at size 6, a cut below it refuses to open. */
    copy_file(bak, p, -1);
    char tp[512];
    snprintf(tp, sizeof(tp), "%s/tree", d);
    ck_assert_int_eq(truncate(tp, 0), 0);
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &l), 0);
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    ck_assert_int_eq(ppn_ledger_checkpoint(l, admin_sk, note, sizeof(note), &len), 0);
    ppn_ledger_free(l);
    /* A lost tree cache is rebuilt (and reported), even under a checkpoint. */
    ck_assert_int_eq(truncate(tp, 0), 0);
    struct ppn_ledger_report rep;
    memset(&rep, 0xa5, sizeof(rep)); /* the reserved tail comes back zero (doc/API.md) */
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
    ck_assert_uint_gt(rep.tree_rebuilt, 0);
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq(rep.reserved[i], 0);
    uint8_t proof[PPN_LEDGER_PROOF_MAX * 32];
    size_t pc;
    ck_assert_int_eq(ppn_ledger_prove_inclusion(l, 1, 6, proof, PPN_LEDGER_PROOF_MAX, &pc), 0);
    ppn_ledger_free(l);
    ck_assert_int_eq(ppn_ledger_open_full(d, PPN_LEDGER_OPEN_WRITE, &rep, &l), 0);
    ck_assert_uint_gt(rep.tree_rebuilt, 0);
    ck_assert_int_eq(ppn_ledger_verify(l, 1, &rep), 0);
    ppn_ledger_free(l);
    copy_file(bak, p, (off_t)(end - 1));
    ck_assert_int_eq(ppn_ledger_open_full(d, PPN_LEDGER_OPEN_WRITE, &rep, &l), -EUCLEAN);
    ck_assert_uint_eq(rep.error_index, 5);
    ck_assert_uint_eq(rep.error_offset, offs[5]);
    rmrf(d);
    free(d);
}
END_TEST

static int open_and_verify(const char *d, struct ppn_ledger_report *rep)
{
    ppn_ledger *l;
    int r = ppn_ledger_open_full(d, 0, rep, &l);
    if (r < 0)
        return r;
    if (rep->tree_rebuilt)
        r = -EUCLEAN; /* reported: the tree cache did not match */
    int v = ppn_ledger_verify(l, 1, rep);
    ppn_ledger_free(l);
    return r < 0 ? r : v;
}

START_TEST(test_bitflip_anywhere)
{
    char *d = make_ledger(5);
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &l), 0);
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    ck_assert_int_eq(ppn_ledger_checkpoint(l, admin_sk, note, sizeof(note), &len), 0);
    struct ppn_ledger_entry e = vm_entry(5);
    ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0); /* one past the checkpoint */
    ck_assert_int_eq(ppn_ledger_export_nodes(l, NULL), 0);
    ppn_ledger_free(l);
    const char *files[] = {"entries", "tree", "checkpoint", "nodes.jsonl"};
    unsigned tried = 0;
    uint64_t s = 12345;
    for (size_t f = 0; f < 4; f++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", d, files[f]);
        int fd = open(p, O_RDWR);
        ck_assert_int_ge(fd, 0);
        struct stat st;
        fstat(fd, &st);
        for (off_t off = 0; off < st.st_size; off++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            uint8_t bit = (uint8_t)(1u << (s >> 61)), b;
            ck_assert_int_eq(pread(fd, &b, 1, off), 1);
            b ^= bit;
            ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
            struct ppn_ledger_report rep;
            int r = open_and_verify(d, &rep);
            ck_assert_msg(r < 0, "flip in %s at %lld (bit %u) not detected", files[f], (long long)off, bit);
            b ^= bit;
            ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
            tried++;
        }
        close(fd);
    }
    struct ppn_ledger_report rep;
    ck_assert_int_eq(open_and_verify(d, &rep), 0);
    printf("bit flips: %u positions, all detected\n", tried);
    rmrf(d);
    free(d);
}
END_TEST

START_TEST(test_corruption_names_index)
{
    char *d = make_ledger(5);
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_open(d, 0, &l), 0);
    uint64_t off2 = l->locs[2].off;
    ppn_ledger_free(l);
    char p[512];
    snprintf(p, sizeof(p), "%s/entries", d);
    int fd = open(p, O_RDWR);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)off2 + 40), 1);
    b ^= 1;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off2 + 40), 1);
    close(fd);
    struct ppn_ledger_report rep;
    ck_assert_int_eq(ppn_ledger_open_full(d, PPN_LEDGER_OPEN_WRITE, &rep, &l), -EUCLEAN);
    ck_assert_uint_eq(rep.error_index, 2);
    ck_assert_uint_eq(rep.error_offset, off2);
    ck_assert_uint_eq(rep.error_file, 0);
    rmrf(d);
    free(d);
}
END_TEST

/* Every id of ppn_ledger_constant is its macro; one past the last is -EINVAL. */
static void check_constants_ledger(void)
{
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_PUBLIC_KEY_BYTES), (int64_t)PPN_LEDGER_PUBLIC_KEY_BYTES);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_SECRET_KEY_BYTES), (int64_t)PPN_LEDGER_SECRET_KEY_BYTES);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_SIGNATURE_BYTES), (int64_t)PPN_LEDGER_SIGNATURE_BYTES);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_HASH_BYTES), (int64_t)PPN_LEDGER_HASH_BYTES);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_TEXT_MAX), (int64_t)PPN_LEDGER_TEXT_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_ENTRY_MAX), (int64_t)PPN_LEDGER_ENTRY_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_PROOF_MAX), (int64_t)PPN_LEDGER_PROOF_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_CHECKPOINT_MAX), (int64_t)PPN_LEDGER_CHECKPOINT_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_BUNDLE_MAX), (int64_t)PPN_LEDGER_BUNDLE_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_BUNDLE_FILES_MAX), (int64_t)PPN_LEDGER_BUNDLE_FILES_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_SYNC_REQUEST_MAX), (int64_t)PPN_LEDGER_SYNC_REQUEST_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_SYNC_ANSWER_MAX), (int64_t)PPN_LEDGER_SYNC_ANSWER_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_COSIGNATURES_MAX), (int64_t)PPN_LEDGER_COSIGNATURES_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_NUDGE_BYTES), (int64_t)PPN_LEDGER_NUDGE_BYTES);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_REPLICA_MEMBERS_MAX),
                     (int64_t)PPN_LEDGER_REPLICA_MEMBERS_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_REPLICA_ADDRESS_MAX),
                     (int64_t)PPN_LEDGER_REPLICA_ADDRESS_MAX);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_OPEN_WAIT_MAX_MS), (int64_t)PPN_LEDGER_OPEN_WAIT_MAX_MS);
    ck_assert_int_eq(ppn_ledger_constant(PPN_LEDGER_CONSTANT_OPEN_WAIT_MAX_MS + 1), -EINVAL);
    ck_assert_int_eq(ppn_ledger_constant(UINT32_MAX), -EINVAL);
}

START_TEST(test_version_constants)
{
    ck_assert_str_eq(ppn_ledger_version(), PPN_VERSION);
    check_constants_ledger();
    ck_assert_int_eq(ppn_ledger_constant(3), 32); /* HASH_BYTES: the ids are fixed numbers */
    ck_assert_str_eq(ppn_ledger_entry_type_name(PPN_LEDGER_ENTRY_SUPERSEDE), "supersede");
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_open("/nonexistent/ppn", 0, &l), -ENOENT);
    ck_assert_int_eq(ppn_ledger_open(NULL, 0, &l), -EINVAL);
    ppn_ledger_free(NULL);
}
END_TEST

static Suite *ledger_suite(void)
{
    Suite *s = suite_create("ledger");
    TCase *tc = tcase_create("merkle");
    tcase_add_test(tc, test_merkle_roots);
    tcase_add_test(tc, test_merkle_inclusion_kat);
    tcase_add_test(tc, test_merkle_consistency_kat);
    suite_add_tcase(s, tc);
    tc = tcase_create("note");
    tcase_add_test(tc, test_note_kat);
    tcase_add_test(tc, test_checkpoint_format);
    suite_add_tcase(s, tc);
    tc = tcase_create("entry");
    tcase_add_test(tc, test_entry_roundtrip);
    tcase_add_test(tc, test_entry_noncanonical);
    tcase_add_test(tc, test_version_constants);
    suite_add_tcase(s, tc);
    tc = tcase_create("ledger");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ledger_authority);
    tcase_add_test(tc, test_ledger_checkpoint_export);
    tcase_add_test(tc, test_ledger_import_fork);
    suite_add_tcase(s, tc);
    tc = tcase_create("durability");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_corruption_names_index);
    tcase_add_test(tc, test_truncation_every_offset);
    tcase_add_test(tc, test_bitflip_anywhere);
    tcase_add_test(tc, test_kill9_loop);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ledger_test_main(ledger_suite());
}
