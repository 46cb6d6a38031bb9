/* Check suite for replicas handed over as bundles (bundle.c) and kept current by the sync
 * (sync.c): real ledgers on disk with real fsync, real bytes tampered with. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "ledger-private.h"
#include "sync.h"
#include "ledger-test.h"
#include "ppn/ledger.h"

static uint8_t admin_sk[64], admin_pk[32], node_sk[64], node_pk[32], other_sk[64], other_pk[32];

static void keys_setup(void)
{
    ledger_test_key(admin_sk, admin_pk, 0xa1);
    ledger_test_key(node_sk, node_pk, 0xb2);
    ledger_test_key(other_sk, other_pk, 0xc3);
}

static char *tmpdir(void) { return ledger_test_tmpdir("replica"); }

static void rmrf(const char *d) { ledger_test_rmrf(d); }

/* The end of a test: the handles freed (NULL: none), the directory 'base' removed. */
static void drop_base(char *base, ppn_ledger *a, ppn_ledger *b)
{
    ppn_ledger_free(a);
    ppn_ledger_free(b);
    rmrf(base);
    free(base);
}

static int checkpoint(ppn_ledger *l) { return ledger_test_checkpoint(l, admin_sk); }

static void add_vms(ppn_ledger *l, unsigned n, unsigned tag)
{
    for (unsigned i = 0; i < n; i++) {
        struct ppn_ledger_entry e;
        memset(&e, 0, sizeof(e));
        e.type = PPN_LEDGER_ENTRY_VM_ASSIGN;
        snprintf(e.text, sizeof(e.text), "vm-%u-%u", tag, i % 40);
        memcpy(e.subject, node_pk, 32);
        e.time_ms = 1000 + i;
        ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0);
    }
}

/* <base>/a: a ledger of genesis, a node join and n VM assignments, checkpointed. */
static ppn_ledger *make_ledger(const char *base, const char *name, unsigned n)
{
    keys_setup();
    char d[512];
    snprintf(d, sizeof(d), "%s/%s", base, name);
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_create(d, "replica.example/ledger", "10.8.0.0/24", admin_sk, &l), 0);
    uint8_t wg[32];
    memset(wg, 0x77, 32);
    ck_assert_int_eq(ppn_ledger_node_join(l, node_pk, wg, "10.8.0.2", "", "n", admin_sk, NULL), 0);
    add_vms(l, n, 0);
    ck_assert_int_eq(checkpoint(l), 0);
    return l;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* ---- bundles ---- */

START_TEST(test_bundle_roundtrip)
{
    char *base = tmpdir(), dst[600];
    ppn_ledger *l = make_ledger(base, "a", 100);
    uint8_t *b;
    size_t len;
    ck_assert_int_eq(ppn_ledger_bundle_build(l, &b, &len), 0);
    ck_assert_mem_eq(b, "PPNLEDG1", 8);
    snprintf(dst, sizeof(dst), "%s/b", base);
    struct ppn_ledger_bundle_report rep;
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, admin_pk, NULL, NULL, &rep), 0);
    ck_assert_str_eq(rep.why, "");
    ppn_ledger *c;
    ck_assert_int_eq(ppn_ledger_open(dst, 0, &c), 0);
    ck_assert_uint_eq(ppn_ledger_size(c), ppn_ledger_size(l));
    uint8_t r1[32], r2[32];
    ck_assert_int_eq(ppn_ledger_root(l, ppn_ledger_size(l), r1), 0);
    ck_assert_int_eq(ppn_ledger_root(c, ppn_ledger_size(c), r2), 0);
    ck_assert_mem_eq(r1, r2, 32);
    ck_assert_int_eq(ppn_ledger_verify(c, 1, NULL), 0);
    ppn_ledger_free(c);
    /* Any administrator of the replica will do with a NULL key; another key will not. */
    rmrf(dst);
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, NULL, NULL, NULL, &rep), 0);
    /* An existing directory is never replaced, even an empty one. */
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, NULL, NULL, NULL, &rep), -EEXIST);
    rmrf(dst);
    ck_assert_int_eq(mkdir(dst, 0700), 0);
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, NULL, NULL, NULL, &rep), -EEXIST);
    ck_assert_int_eq(count_entries(dst), 0);
    rmrf(dst);
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, node_pk, NULL, NULL, &rep), -EKEYREJECTED);
    ck_assert_str_eq(rep.file, "checkpoint");
    ck_assert_int_eq(access(dst, F_OK), -1);
    ck_assert_int_eq(count_entries(base), 1); /* only a: no temporary directory left */
    free(b);
    drop_base(base, l, NULL);
}
END_TEST

/* Streaming: one byte at a time, 'need' never asks past the end and ends exactly there. */
START_TEST(test_bundle_need_incremental)
{
    char *base = tmpdir();
    ppn_ledger *l = make_ledger(base, "a", 5);
    uint8_t *b;
    size_t len;
    ck_assert_int_eq(ppn_ledger_bundle_build(l, &b, &len), 0);
    size_t have = 0;
    uint64_t need = 0;
    int r, calls = 0;
    while ((r = ppn_ledger_bundle_need(b, have, &need, NULL)) == -EAGAIN || (r == 0 && need > have)) {
        ck_assert_uint_gt(need, have);
        ck_assert_uint_le(need, len);
        have = have + 1 < need ? have + 1 : (size_t)need;
        calls++;
    }
    ck_assert_int_eq(r, 0);
    ck_assert_uint_eq(need, len);
    ck_assert_uint_eq(have, len);
    ck_assert_int_gt(calls, 10);
    free(b);
    drop_base(base, l, NULL);
}
END_TEST

/* Every byte flipped in turn (every 3rd byte of a small replica): always refused, nothing left. */
START_TEST(test_bundle_every_flip_refused)
{
    char *base = tmpdir(), dst[600];
    ppn_ledger *l = make_ledger(base, "a", 3);
    uint8_t *b;
    size_t len;
    ck_assert_int_eq(ppn_ledger_bundle_build(l, &b, &len), 0);
    snprintf(dst, sizeof(dst), "%s/b", base);
    unsigned tried = 0;
    for (size_t off = 0; off < len; off += 3) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            b[off] ^= (uint8_t)(1u << bit);
            struct ppn_ledger_bundle_report rep;
            int r = ppn_ledger_bundle_install(b, len, dst, admin_pk, NULL, NULL, &rep);
            b[off] ^= (uint8_t)(1u << bit);
            if (r == 0)
                ck_abort_msg("byte %zu bit %u flipped was installed", off, bit);
            ck_assert_str_ne(rep.why, "");
            ck_assert_int_eq(access(dst, F_OK), -1);
            tried++;
        }
    }
    ck_assert_int_eq(count_entries(base), 1);
    ck_assert_uint_gt(tried, 100);
    free(b);
    drop_base(base, l, NULL);
}
END_TEST

static size_t part_data(const uint8_t *b, size_t len, const char *want)
{
    size_t pos = 12;
    uint32_t count = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11];
    for (uint32_t i = 0; i < count && pos < len; i++) {
        size_t nl = (size_t)b[pos] << 8 | b[pos + 1];
        uint64_t size = 0;
        for (int k = 0; k < 8; k++)
            size = size << 8 | b[pos + 2 + nl + k];
        if (nl == strlen(want) && !memcmp(b + pos + 2, want, nl))
            return pos + 2 + nl + 8;
        pos += 2 + nl + 8 + size;
    }
    ck_abort_msg("no part %s", want);
    return 0;
}

/* A forged entry is located: the file, the entry index and its offsets. */
START_TEST(test_bundle_error_location)
{
    char *base = tmpdir(), dst[600];
    ppn_ledger *l = make_ledger(base, "a", 10);
    uint8_t *b;
    size_t len;
    ck_assert_int_eq(ppn_ledger_bundle_build(l, &b, &len), 0);
    snprintf(dst, sizeof(dst), "%s/b", base);
    size_t ent = part_data(b, len, "entries");
    /* The last byte of entry 7's signature (its record ends with a 32-byte checksum): fix the
     * checksum so that only the signature is wrong. */
    uint64_t off7 = l->locs[7].off, off8 = l->locs[8].off;
    uint8_t *rec = b + ent + off7;
    size_t plen = (size_t)(off8 - off7) - REC_OVERHEAD;
    rec[REC_HEAD + plen - 1] ^= 1;
    crypto_generichash(rec + REC_HEAD + plen, 32, rec, REC_HEAD + plen, NULL, 0);
    struct ppn_ledger_bundle_report rep;
    /* As is, the tree hash of entry 7 gives it away. */
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, admin_pk, NULL, NULL, &rep), -EUCLEAN);
    ck_assert_str_eq(rep.file, "tree");
    ck_assert_uint_eq(rep.error_index, 7);
    ck_assert_uint_ge(rep.offset, part_data(b, len, "tree"));
    /* A forger who also rebuilds the tree and (holding the checkpoint key) re-signs the
     * checkpoint: the entry's own signature gives it away. */
    struct frontier fr;
    memset(&fr, 0, sizeof(fr));
    uint8_t *tree = b + part_data(b, len, "tree");
    for (uint64_t i = 0; i < l->n; i++) {
        uint64_t o = l->locs[i].off, e = i + 1 < l->n ? l->locs[i + 1].off : l->end;
        uint8_t leaf[32], out[64][32];
        ppn_ledger_merkle_leaf_hash(b + ent + o + REC_HEAD, (size_t)(e - o) - REC_OVERHEAD, leaf);
        unsigned k = frontier_append(&fr, leaf, out);
        memcpy(tree, out, (size_t)k * 32);
        tree += (size_t)k * 32;
    }
    struct checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    snprintf(cp.origin, sizeof(cp.origin), "%s", ppn_ledger_origin(l));
    cp.size = l->n;
    frontier_root(&fr, cp.root);
    char note[1024];
    size_t nlen;
    ck_assert_int_eq(checkpoint_sign(&cp, admin_sk, note, sizeof(note), &nlen), 0);
    ck_assert_uint_eq(nlen, l->cp_len);
    memcpy(b + part_data(b, len, "checkpoint"), note, nlen);
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, admin_pk, NULL, NULL, &rep), -EKEYREJECTED);
    ck_assert_str_eq(rep.file, "entries");
    ck_assert_uint_eq(rep.error_index, 7);
    ck_assert_uint_eq(rep.error_offset, off7);
    ck_assert_uint_eq(rep.offset, ent + off7);
    ck_assert_ptr_nonnull(strstr(rep.why, "entry 7"));
    ck_assert_int_eq(access(dst, F_OK), -1);

    /* Malformed framing: truncated anywhere, trailing bytes, unknown and duplicate names, a
     * file count of 0 or 17, a size past the bound. */
    free(b);
    ck_assert_int_eq(ppn_ledger_bundle_build(l, &b, &len), 0);
    for (size_t cut = 0; cut < len; cut += len / 37 + 1) {
        ck_assert_int_eq(ppn_ledger_bundle_install(b, cut, dst, admin_pk, NULL, NULL, &rep), -EBADMSG);
        ck_assert_int_eq(access(dst, F_OK), -1);
    }
    uint8_t *big = malloc(len + 1);
    memcpy(big, b, len);
    big[len] = 0;
    ck_assert_int_eq(ppn_ledger_bundle_install(big, len + 1, dst, admin_pk, NULL, NULL, &rep), -EBADMSG);
    ck_assert_uint_eq(rep.offset, len);
    free(big);
    uint8_t hdr[64] = "PPNLEDG1\0\0\0\x01\0\x05lockx";
    uint64_t need;
    ck_assert_int_eq(ppn_ledger_bundle_need(hdr, 19, &need, &rep), -EBADMSG);
    ck_assert_uint_eq(rep.part, 0);
    ck_assert_uint_eq(rep.offset, 14);
    memcpy(hdr, "PPNLEDG1\0\0\0\x02\0\x04tree\0\0\0\0\0\0\0\0\0\x04tree\0\0\0\0\0\0\0\0", 40);
    ck_assert_int_eq(ppn_ledger_bundle_need(hdr, 40, &need, &rep), -EBADMSG);
    ck_assert_uint_eq(rep.part, 1);
    ck_assert_ptr_nonnull(strstr(rep.why, "twice"));
    memcpy(hdr, "PPNLEDG1\0\0\0\x11", 12);
    ck_assert_int_eq(ppn_ledger_bundle_need(hdr, 12, &need, &rep), -EBADMSG);
    memcpy(hdr, "PPNLEDG1\0\0\0\0", 12);
    ck_assert_int_eq(ppn_ledger_bundle_need(hdr, 12, &need, &rep), -EBADMSG);
    memcpy(hdr, "PPNLEDG1\0\0\0\x01\0\x04tree\0\0\0\0\x10\0\0\0", 26);
    ck_assert_int_eq(ppn_ledger_bundle_need(hdr, 26, &need, &rep), -E2BIG);
    memcpy(hdr, "PPNLEDGX", 8);
    ck_assert_int_eq(ppn_ledger_bundle_need(hdr, 8, &need, &rep), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_bundle_need(hdr, 3, &need, &rep), -EAGAIN);
    ck_assert_int_eq(ppn_ledger_bundle_need(hdr, 8, &need, &rep), -EBADMSG);
    free(b);
    drop_base(base, l, NULL);
}
END_TEST

static int refuse_all(void *ud, ppn_ledger *replica, char *why, size_t size)
{
    *(uint64_t *)ud = ppn_ledger_size(replica);
    snprintf(why, size, "not this one");
    return -EPROTO;
}

/* A checkpoint that does not cover every entry, a refusing caller, a replica without a
 * checkpoint: refused, nothing left. */
START_TEST(test_bundle_refusals)
{
    char *base = tmpdir(), dst[600];
    ppn_ledger *l = make_ledger(base, "a", 4);
    snprintf(dst, sizeof(dst), "%s/b", base);
    uint8_t *b;
    size_t len;
    struct ppn_ledger_bundle_report rep;
    uint64_t seen = 0;
    ck_assert_int_eq(ppn_ledger_bundle_build(l, &b, &len), 0);
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, admin_pk, refuse_all, &seen, &rep), -EPROTO);
    ck_assert_uint_eq(seen, 6);
    ck_assert_str_eq(rep.why, "not this one");
    ck_assert_int_eq(access(dst, F_OK), -1);
    free(b);
    add_vms(l, 2, 9);
    ck_assert_int_eq(ppn_ledger_bundle_build(l, &b, &len), 0);
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, admin_pk, NULL, NULL, &rep), -EPROTO);
    ck_assert_ptr_nonnull(strstr(rep.why, "covers 6 of its 8"));
    ck_assert_int_eq(access(dst, F_OK), -1);
    free(b);
    ppn_ledger_free(l);
    /* Without a checkpoint. */
    char d2[600];
    snprintf(d2, sizeof(d2), "%s/nocp", base);
    ck_assert_int_eq(ppn_ledger_create(d2, "replica.example/ledger", "10.8.0.0/24", admin_sk, &l), 0);
    ck_assert_int_eq(ppn_ledger_bundle_build(l, &b, &len), 0);
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, dst, admin_pk, NULL, NULL, &rep), -EBADMSG);
    ck_assert_ptr_nonnull(strstr(rep.why, "checkpoint"));
    ck_assert_int_eq(ppn_ledger_bundle_install(NULL, 0, dst, admin_pk, NULL, NULL, &rep), -EINVAL);
    ck_assert_int_eq(ppn_ledger_bundle_build(NULL, &b, &len), -EINVAL);
    free(b);
    drop_base(base, l, NULL);
}
END_TEST


/* ---- sync ---- */

/* <base>/b: a replica of a installed from its bundle, open for writing. */
static ppn_ledger *replicate(ppn_ledger *a, const char *base, const char *name)
{
    char d[600];
    snprintf(d, sizeof(d), "%s/%s", base, name);
    uint8_t *b;
    size_t len;
    ck_assert_int_eq(ppn_ledger_bundle_build(a, &b, &len), 0);
    ck_assert_int_eq(ppn_ledger_bundle_install(b, len, d, admin_pk, NULL, NULL, NULL), 0);
    free(b);
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &l), 0);
    return l;
}

/* One round: 'to' asks 'from'; returns the apply result. */
static int pull(ppn_ledger *to, ppn_ledger *from, size_t max, struct ppn_ledger_sync_report *rep)
{
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX], *ans;
    size_t ql, al;
    ck_assert_int_eq(ppn_ledger_sync_request(to, q, sizeof(q), &ql), 0);
    ck_assert_int_eq(ppn_ledger_sync_answer(from, q, ql, max, &ans, &al), 0);
    int r = ppn_ledger_sync_apply(to, ans, al, max, rep);
    free(ans);
    return r;
}

static void assert_same(ppn_ledger *x, ppn_ledger *y)
{
    ck_assert_uint_eq(ppn_ledger_size(x), ppn_ledger_size(y));
    uint8_t r1[32], r2[32];
    ck_assert_int_eq(ppn_ledger_root(x, ppn_ledger_size(x), r1), 0);
    ck_assert_int_eq(ppn_ledger_root(y, ppn_ledger_size(y), r2), 0);
    ck_assert_mem_eq(r1, r2, 32);
}

/* Two ledgers on disk: B falls behind A and catches up, in one round or in many small ones; a
 * revocation reaches B; B ahead of A is not a fork; everything survives reopening. */
START_TEST(test_sync_converge)
{
    char *base = tmpdir();
    ppn_ledger *a = make_ledger(base, "a", 5), *b = replicate(a, base, "b");
    struct ppn_ledger_sync_report rep;
    ck_assert_int_eq(pull(b, a, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    ck_assert_uint_eq(rep.appended, 0);
    add_vms(a, 3, 1);
    ck_assert_int_eq(checkpoint(a), 0);
    ck_assert_int_eq(pull(b, a, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    ck_assert_uint_eq(rep.appended, 3);
    ck_assert_str_eq(rep.why, "");
    assert_same(a, b);
    char n1[PPN_LEDGER_CHECKPOINT_MAX], n2[PPN_LEDGER_CHECKPOINT_MAX];
    size_t l1, l2;
    ck_assert_int_eq(ppn_ledger_checkpoint_get(a, n1, sizeof(n1), &l1), 0);
    ck_assert_int_eq(ppn_ledger_checkpoint_get(b, n2, sizeof(n2), &l2), 0);
    ck_assert_uint_eq(l1, l2);
    ck_assert_mem_eq(n1, n2, l1);
    /* A revocation. */
    add_vms(a, 40, 2);
    ck_assert_int_eq(ppn_ledger_node_revoke(a, node_pk, "lost", admin_sk, NULL), 0);
    ck_assert_int_eq(checkpoint(a), 0);
    struct ppn_ledger_member mem;
    ck_assert_int_eq(ppn_ledger_member_find(b, node_pk, &mem), 0);
    /* A small bound: a few entries a round, the proof carries each round to the checkpoint. */
    unsigned rounds = 0;
    while (ppn_ledger_size(b) < ppn_ledger_size(a)) {
        ck_assert_int_eq(pull(b, a, 1200, &rep), 0);
        ck_assert_uint_gt(rep.appended, 0);
        ck_assert_uint_eq(rep.their_size, ppn_ledger_size(a));
        ck_assert_uint_lt(++rounds, 100);
    }
    ck_assert_uint_gt(rounds, 3);
    assert_same(a, b);
    ck_assert_int_eq(ppn_ledger_member_find(b, node_pk, &mem), -ENOENT);
    /* B ahead of a stale A: A's answer holds its leaf hashes; B finds them its own: no fork. */
    ck_assert_int_eq(ppn_ledger_cap_grant(b, other_pk, "vm.create", "x", admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_cap_grant(b, other_pk, "vm.create", "y", admin_sk, NULL), 0);
    ck_assert_int_eq(checkpoint(b), 0);
    ck_assert_int_eq(pull(b, a, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    ck_assert_uint_eq(rep.appended, 0);
    ck_assert_uint_eq(rep.fork, 0);
    ck_assert_int_eq(pull(a, b, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    ck_assert_uint_eq(rep.appended, 2);
    assert_same(a, b);
    /* Durable: reopened and fully verified. */
    char d[600];
    snprintf(d, sizeof(d), "%s/b", base);
    ppn_ledger_free(b);
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &b), 0);
    assert_same(a, b);
    ck_assert_int_eq(ppn_ledger_verify(b, 1, NULL), 0);
    drop_base(base, a, b);
}
END_TEST

/* The answer B gets from A after A appended 3: its bytes, for tampering. */
static uint8_t *answer_for(ppn_ledger *b, ppn_ledger *a, size_t *ret_len)
{
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX], *ans;
    size_t ql;
    ck_assert_int_eq(ppn_ledger_sync_request(b, q, sizeof(q), &ql), 0);
    ck_assert_int_eq(ppn_ledger_sync_answer(a, q, ql, PPN_LEDGER_SYNC_ANSWER_MAX, &ans, ret_len), 0);
    return ans;
}

static size_t note_offset(const uint8_t *ans, size_t len)
{
    struct sync_answer sa;
    struct ppn_ledger_sync_report rep;
    ck_assert_int_eq(sync_answer_decode(ans, len, len, &sa, &rep), 0);
    return sa.note_off;
}

/* A forged entry, a forged checkpoint, a truncated answer, one too big: refused, with where,
 * and B unchanged. */
START_TEST(test_sync_refusals)
{
    char *base = tmpdir();
    ppn_ledger *a = make_ledger(base, "a", 5), *b = replicate(a, base, "b");
    add_vms(a, 3, 1);
    ck_assert_int_eq(checkpoint(a), 0);
    uint64_t before = ppn_ledger_size(b);
    size_t len;
    uint8_t *ans = answer_for(b, a, &len);
    struct ppn_ledger_sync_report rep;
    /* Too big: refused on its length alone. */
    ck_assert_int_eq(ppn_ledger_sync_apply(b, ans, len, len - 1, &rep), -E2BIG);
    /* Truncated anywhere. */
    for (size_t cut = 0; cut < len; cut++)
        ck_assert_int_eq(ppn_ledger_sync_apply(b, ans, cut, len, &rep), -EBADMSG);
    ck_assert_uint_eq(ppn_ledger_size(b), before);
    /* Every byte flipped: never applied. */
    for (size_t off = 0; off < len; off++) {
        ans[off] ^= 0x10;
        int r = ppn_ledger_sync_apply(b, ans, len, len, &rep);
        ans[off] ^= 0x10;
        if (r == 0)
            ck_abort_msg("answer byte %zu flipped was applied (%llu appended)", off,
                         (unsigned long long)rep.appended);
        ck_assert_str_ne(rep.why, "");
    }
    ck_assert_uint_eq(ppn_ledger_size(b), before);
    /* A forged checkpoint: the same text signed by a key that is not an administrator. */
    size_t no = note_offset(ans, len);
    struct checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    snprintf(cp.origin, sizeof(cp.origin), "%s", ppn_ledger_origin(a));
    cp.size = ppn_ledger_size(a);
    ck_assert_int_eq(ppn_ledger_root(a, cp.size, cp.root), 0);
    char note[1024];
    size_t nl;
    ck_assert_int_eq(checkpoint_sign(&cp, other_sk, note, sizeof(note), &nl), 0);
    uint8_t *forged = malloc(len);
    memcpy(forged, ans, len);
    memcpy(forged + no, note, nl);
    ck_assert_int_eq(ppn_ledger_sync_apply(b, forged, len, len, &rep), -EKEYREJECTED);
    ck_assert_uint_eq(rep.error_offset, no);
    ck_assert_ptr_nonnull(strstr(rep.why, "checkpoint"));
    /* A forged entry the checkpoint vouches for (its signer re-signs over the forged tree):
     * the entry's own signature is checked before anything is appended. */
    memcpy(forged, ans, len);
    struct sync_answer sa;
    ck_assert_int_eq(sync_answer_decode(forged, len, len, &sa, &rep), 0);
    size_t e1 = sa.entry_off + 2 + ((size_t)forged[sa.entry_off] << 8 | forged[sa.entry_off + 1]);
    size_t el = (size_t)forged[e1] << 8 | forged[e1 + 1];
    forged[e1 + 2 + el - 1] ^= 1; /* the last byte of entry before+1's signature */
    struct frontier f = b->fr;
    uint8_t tmp[64][32];
    size_t p = sa.entry_off;
    for (uint32_t i = 0; i < sa.count; i++) {
        size_t n = (size_t)forged[p] << 8 | forged[p + 1];
        uint8_t leaf[32];
        ppn_ledger_merkle_leaf_hash(forged + p + 2, n, leaf);
        frontier_append(&f, leaf, tmp);
        p += 2 + n;
    }
    frontier_root(&f, cp.root);
    ck_assert_int_eq(checkpoint_sign(&cp, admin_sk, note, sizeof(note), &nl), 0);
    memcpy(forged + no, note, nl);
    ck_assert_int_eq(ppn_ledger_sync_apply(b, forged, len, len, &rep), -EKEYREJECTED);
    ck_assert_uint_eq(rep.error_index, before + 1);
    ck_assert_uint_eq(rep.error_offset, e1);
    ck_assert_ptr_nonnull(strstr(rep.why, "signature"));
    ck_assert_uint_eq(ppn_ledger_size(b), before);
    /* A stale answer (for another size) and one for another ledger. */
    add_vms(b, 1, 7);
    ck_assert_int_eq(ppn_ledger_sync_apply(b, ans, len, len, &rep), -EPROTO);
    ck_assert_ptr_nonnull(strstr(rep.why, "follows size"));
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX], *x;
    size_t ql, xl;
    ck_assert_int_eq(ppn_ledger_sync_request(b, q, sizeof(q), &ql), 0);
    q[49] ^= 1;
    ck_assert_int_eq(ppn_ledger_sync_answer(a, q, ql, PPN_LEDGER_SYNC_ANSWER_MAX, &x, &xl), -EPROTO);
    ck_assert_int_eq(ppn_ledger_sync_answer(a, q, ql - 1, PPN_LEDGER_SYNC_ANSWER_MAX, &x, &xl), -EBADMSG);
    q[49] ^= 1;
    ck_assert_int_eq(ppn_ledger_sync_answer(a, q, ql, 100, &x, &xl), -E2BIG);
    struct ppn_ledger_sync_request rq;
    ck_assert_int_eq(ppn_ledger_sync_request_decode(q, ql, &rq), 0);
    ck_assert_uint_eq(rq.size, ppn_ledger_size(b));
    ck_assert_int_eq(ppn_ledger_sync_request_decode(q, PPN_LEDGER_SYNC_REQUEST_MAX + 1, &rq), -E2BIG);
    free(forged);
    free(ans);
    drop_base(base, a, b);
}
END_TEST

/* A fork: the same administrator signs two different entries 6 and checkpoints each.  Each side
 * refuses the other's answer with the evidence: the first size at which they differ (7) and
 * both roots there, which are the two ledgers' own roots at 7. */
START_TEST(test_sync_fork_evidence)
{
    char *base = tmpdir();
    ppn_ledger *a = make_ledger(base, "a", 4), *b = replicate(a, base, "b");
    add_vms(a, 3, 1);
    ck_assert_int_eq(checkpoint(a), 0);
    add_vms(b, 1, 2);
    ck_assert_int_eq(checkpoint(b), 0);
    uint64_t sa = ppn_ledger_size(a), sb = ppn_ledger_size(b);
    uint8_t ra[32], rb[32];
    ck_assert_int_eq(ppn_ledger_root(a, 7, ra), 0);
    ck_assert_int_eq(ppn_ledger_root(b, 7, rb), 0);
    struct ppn_ledger_sync_report rep;
    ck_assert_int_eq(pull(b, a, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), -EPROTO);
    ck_assert_uint_eq(rep.fork, 1);
    ck_assert_uint_eq(rep.fork_exact, 1);
    ck_assert_uint_eq(rep.fork_size, 7);
    ck_assert_mem_eq(rep.ours, rb, 32);
    ck_assert_mem_eq(rep.theirs, ra, 32);
    ck_assert_uint_eq(rep.error_index, 6);
    ck_assert_ptr_nonnull(strstr(rep.why, "fork"));
    ck_assert_uint_eq(rep.appended, 0);
    /* The other way (the asker ahead of the answerer's checkpoint). */
    ck_assert_int_eq(pull(a, b, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), -EPROTO);
    ck_assert_uint_eq(rep.fork, 1);
    ck_assert_uint_eq(rep.fork_exact, 1);
    ck_assert_uint_eq(rep.fork_size, 7);
    ck_assert_mem_eq(rep.ours, ra, 32);
    ck_assert_mem_eq(rep.theirs, rb, 32);
    /* Without room for the leaf hashes: still refused, the size known to differ. */
    ck_assert_int_eq(pull(b, a, 600, &rep), -EPROTO);
    ck_assert_uint_eq(rep.fork_exact, 0);
    ck_assert_uint_eq(rep.fork, 1);
    ck_assert_uint_eq(rep.fork_size, 7);
    ck_assert_uint_eq(ppn_ledger_size(a), sa);
    ck_assert_uint_eq(ppn_ledger_size(b), sb);
    drop_base(base, a, b);
}
END_TEST


/* ---- candidate entries: the pairing hand-off at the ledger level ---- */

static struct ppn_ledger_entry join_of(const uint8_t pk[32], uint8_t wgbyte, const char *mesh)
{
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_NODE_JOIN;
    memcpy(e.subject, pk, 32);
    memset(e.wg_key, wgbyte, 32);
    snprintf(e.mesh, sizeof(e.mesh), "%s", mesh);
    snprintf(e.hostname, sizeof(e.hostname), "c");
    return e;
}

START_TEST(test_candidate_handoff)
{
    char *base = tmpdir();
    ppn_ledger *a = make_ledger(base, "a", 3);
    uint64_t n = ppn_ledger_size(a);
    struct ppn_ledger_entry e = join_of(other_pk, 0x55, "10.8.0.3");
    uint8_t cand[PPN_LEDGER_ENTRY_MAX];
    size_t clen;
    ck_assert_int_eq(ppn_ledger_prepare(a, &e, admin_sk, cand, sizeof(cand), &clen), 0);
    ck_assert_uint_eq(ppn_ledger_size(a), n); /* nothing appended */
    /* the new node: the replica, then the candidate on top of it */
    ppn_ledger *b = replicate(a, base, "b");
    ck_assert_int_eq(ppn_ledger_check_signed(b, cand, clen), 0);
    const uint8_t *pp[1] = {cand};
    ck_assert_int_eq(ppn_ledger_append_signed(b, pp, &clen, 1, NULL), 0);
    struct ppn_ledger_member m;
    ck_assert_int_eq(ppn_ledger_member_find(b, other_pk, &m), 0);
    /* the administrator appends exactly those bytes, seals; the final part is a sync answer */
    ck_assert_int_eq(ppn_ledger_append_signed(a, pp, &clen, 1, NULL), 0);
    ck_assert_int_eq(checkpoint(a), 0);
    struct ppn_ledger_sync_report rep;
    ck_assert_int_eq(pull(b, a, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    ck_assert_uint_eq(rep.appended, 0);
    ck_assert_uint_eq(rep.their_size, n + 1);
    assert_same(a, b);
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t nl;
    uint64_t cs;
    uint8_t root[32];
    ck_assert_int_eq(ppn_ledger_checkpoint_get(b, note, sizeof(note), &nl), 0);
    ck_assert_int_eq(ppn_ledger_checkpoint_verify(note, nl, "replica.example/ledger", admin_pk, &cs, root), 0);
    ck_assert_uint_eq(cs, n + 1); /* b now holds a checkpoint covering its own admission */
    /* the same candidate again: signed for an index that is taken now */
    ck_assert_int_eq(ppn_ledger_check_signed(a, cand, clen), -EPROTO);
    ck_assert_ptr_nonnull(strstr(ppn_ledger_last_error(a), "index"));
    drop_base(base, a, b);
}
END_TEST

/* The administrator never appended: a sync shows it (their checkpoint below our pending entry,
 * no fork); it appended something else at that index: a fork. */
START_TEST(test_candidate_not_appended)
{
    char *base = tmpdir();
    ppn_ledger *a = make_ledger(base, "a", 2);
    uint64_t n = ppn_ledger_size(a);
    struct ppn_ledger_entry e = join_of(other_pk, 0x55, "10.8.0.3");
    uint8_t cand[PPN_LEDGER_ENTRY_MAX];
    size_t clen;
    ck_assert_int_eq(ppn_ledger_prepare(a, &e, admin_sk, cand, sizeof(cand), &clen), 0);
    ppn_ledger *b = replicate(a, base, "b");
    const uint8_t *pp[1] = {cand};
    ck_assert_int_eq(ppn_ledger_append_signed(b, pp, &clen, 1, NULL), 0);
    struct ppn_ledger_sync_report rep;
    ck_assert_int_eq(pull(b, a, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    ck_assert_uint_eq(rep.their_size, n);
    ck_assert_uint_eq(rep.fork, 0);
    add_vms(a, 1, 9);
    ck_assert_int_eq(checkpoint(a), 0);
    ck_assert_int_eq(pull(b, a, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), -EPROTO);
    ck_assert_uint_eq(rep.fork, 1);
    ck_assert_uint_eq(rep.fork_size, n + 1);
    drop_base(base, a, b);
}
END_TEST

START_TEST(test_candidate_refusals)
{
    char *base = tmpdir();
    ppn_ledger *a = make_ledger(base, "a", 1);
    uint64_t n = ppn_ledger_size(a);
    uint8_t cand[PPN_LEDGER_ENTRY_MAX];
    size_t clen;
    /* already a member */
    struct ppn_ledger_entry e = join_of(node_pk, 0x56, "10.8.0.4");
    ck_assert_int_eq(ppn_ledger_prepare(a, &e, admin_sk, cand, sizeof(cand), &clen), -EPROTO);
    /* an author without node.admit */
    e = join_of(other_pk, 0x55, "10.8.0.3");
    ck_assert_int_eq(ppn_ledger_prepare(a, &e, node_sk, cand, sizeof(cand), &clen), -EPERM);
    /* a flipped bit anywhere: never accepted */
    ck_assert_int_eq(ppn_ledger_prepare(a, &e, admin_sk, cand, sizeof(cand), &clen), 0);
    for (size_t i = 0; i < clen; i++) {
        cand[i] ^= 1;
        ck_assert_int_lt(ppn_ledger_check_signed(a, cand, clen), 0);
        cand[i] ^= 1;
    }
    ck_assert_int_eq(ppn_ledger_check_signed(a, cand, clen - 1), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_check_signed(a, cand, clen), 0);
    /* a revoked node's keys cannot come back through a candidate */
    ck_assert_int_eq(ppn_ledger_node_revoke(a, node_pk, "gone", admin_sk, NULL), 0);
    struct ppn_ledger_entry back = join_of(other_pk, 0x77, "10.8.0.5"); /* node's old WireGuard key */
    ck_assert_int_eq(ppn_ledger_prepare(a, &back, admin_sk, cand, sizeof(cand), &clen), -EPROTO);
    back = join_of(node_pk, 0x57, "10.8.0.5");
    ck_assert_int_eq(ppn_ledger_prepare(a, &back, admin_sk, cand, sizeof(cand), &clen), -EPROTO);
    ck_assert_uint_eq(ppn_ledger_size(a), n + 1);
    drop_base(base, a, NULL);
}
END_TEST

/* ---- cosignatures ---- */

/* The cosignature as C2SP tlog-cosignature/v1 defines it, checked here from the spec alone:
 * key ID = SHA-256(name || "\n" || 0x04 || key)[:4], then the time (8 bytes, big-endian),
 * then Ed25519 over "cosignature/v1\ntime <T>\n" || the checkpoint's text. */
static void check_c2sp(ppn_ledger *l, size_t i, const uint8_t pk[32], uint64_t time)
{
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t nl;
    ck_assert_int_eq(ppn_ledger_cosignature_note(l, i, note, sizeof(note), &nl), 0);
    char *blank = strstr(note, "\n\n");
    ck_assert_ptr_nonnull(blank);
    size_t tl = (size_t)(blank - note) + 1;
    char *line = blank + 2;
    ck_assert(!strncmp(line, "\xe2\x80\x94 ", 4));
    char *name = line + 4, *sp = strchr(name, ' ');
    ck_assert_ptr_nonnull(sp);
    char want_name[400];
    snprintf(want_name, sizeof(want_name), "%s/cosigner/%02x%02x%02x%02x%02x%02x%02x%02x", ppn_ledger_origin(l),
             pk[0], pk[1], pk[2], pk[3], pk[4], pk[5], pk[6], pk[7]);
    ck_assert_int_eq((int)(sp - name), (int)strlen(want_name));
    ck_assert(!memcmp(name, want_name, strlen(want_name)));
    uint8_t raw[76];
    size_t rl;
    ck_assert_int_eq(sodium_base642bin(raw, sizeof(raw), sp + 1, strcspn(sp + 1, "\n"), NULL, &rl, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    ck_assert_uint_eq(rl, 76);
    uint8_t h[32], t = 0x04;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)want_name, strlen(want_name));
    crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_hash_sha256_update(&st, &t, 1);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    ck_assert_mem_eq(raw, h, 4);
    uint64_t ts = 0;
    for (int k = 4; k < 12; k++)
        ts = ts << 8 | raw[k];
    ck_assert_uint_eq(ts, time);
    char msg[1024];
    int ml = snprintf(msg, sizeof(msg), "cosignature/v1\ntime %llu\n%.*s", (unsigned long long)time, (int)tl, note);
    ck_assert_int_eq(crypto_sign_verify_detached(raw + 12, (const uint8_t *)msg, (size_t)ml, pk), 0);
}

/* The administrator forks the ledger after a common prefix: x and y hold the same size with
 * different roots.  C (holding y) cosigns; its cosignature reaches s, which holds only the
 * prefix (an answer with no room for entries), and s passes it on: x, which never spoke to y
 * or C, refuses s's answer as a fork with both roots and the size, and so does s when it later
 * pulls x's entries.  A forged cosignature is ignored; a non-member cannot cosign; the
 * cosignatures travel and are C2SP tlog-cosignature/v1; a version 1 asker gets a version 1
 * answer. */
START_TEST(test_sync_cosign_fork)
{
    char *base = tmpdir();
    ppn_ledger *a = make_ledger(base, "a", 3);
    uint8_t wg[32];
    memset(wg, 0x78, 32);
    ck_assert_int_eq(ppn_ledger_node_join(a, other_pk, wg, "10.8.0.3", "", "c", admin_sk, NULL), 0);
    ck_assert_int_eq(checkpoint(a), 0);
    ppn_ledger *s = replicate(a, base, "s"), *x = replicate(a, base, "x"), *y = replicate(a, base, "y");
    uint64_t k = ppn_ledger_size(a);
    add_vms(x, 2, 1);
    ck_assert_int_eq(checkpoint(x), 0);
    add_vms(y, 2, 2);
    ck_assert_int_eq(checkpoint(y), 0);
    uint64_t n = ppn_ledger_size(x);
    ck_assert_uint_eq(n, k + 2);
    uint8_t rx[32], ry[32];
    ck_assert_int_eq(ppn_ledger_root(x, n, rx), 0);
    ck_assert_int_eq(ppn_ledger_root(y, n, ry), 0);
    ck_assert(memcmp(rx, ry, 32) != 0);

    /* cosigning: members only, once per checkpoint */
    struct ppn_ledger_member mem;
    ck_assert_int_ne(ppn_ledger_member_find(y, admin_pk, &mem), 0);
    ck_assert_int_eq(ppn_ledger_cosign(y, admin_sk, 1700000000), -EPERM);
    ck_assert_int_eq(ppn_ledger_cosign(y, other_sk, 1700000000), 0);
    ck_assert_int_eq(ppn_ledger_cosign(y, other_sk, 1700000005), 0);
    ck_assert_int_eq(ppn_ledger_cosign(x, node_sk, 1700000001), 0);
    struct ppn_ledger_cosignature cs[PPN_LEDGER_COSIGNATURES_MAX];
    size_t nc;
    ck_assert_int_eq(ppn_ledger_cosignatures(y, cs, PPN_LEDGER_COSIGNATURES_MAX, &nc), 0);
    ck_assert_uint_eq(nc, 1);
    ck_assert_mem_eq(cs[0].cosigner, other_pk, 32);
    ck_assert_uint_eq(cs[0].size, n);
    ck_assert_mem_eq(cs[0].root, ry, 32);
    ck_assert_uint_eq(cs[0].time, 1700000000);
    check_c2sp(y, 0, other_pk, 1700000000);

    /* s asks y with no room for entries: nothing appended, C's cosignature kept */
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX], *ans = NULL;
    size_t ql, al = 0, max;
    ck_assert_int_eq(ppn_ledger_sync_request(s, q, sizeof(q), &ql), 0);
    for (max = 256;; max++) {
        int r = ppn_ledger_sync_answer(y, q, ql, max, &ans, &al);
        if (r == 0)
            break;
        ck_assert_int_eq(r, -E2BIG);
    }
    struct ppn_ledger_sync_report rep;
    ck_assert_int_eq(ppn_ledger_sync_apply(s, ans, al, max, &rep), 0);
    free(ans);
    ck_assert_uint_eq(rep.appended, 0);
    ck_assert_uint_eq(ppn_ledger_size(s), k);
    ck_assert_int_eq(ppn_ledger_cosignatures(s, cs, PPN_LEDGER_COSIGNATURES_MAX, &nc), 0);
    ck_assert_uint_eq(nc, 1);
    ck_assert_mem_eq(cs[0].cosigner, other_pk, 32);
    check_c2sp(s, 0, other_pk, 1700000000);

    /* a forged cosignature (one signature bit) in s's answer to x: ignored, not a fork */
    ck_assert_int_eq(ppn_ledger_sync_request(x, q, sizeof(q), &ql), 0);
    ck_assert_int_eq(ppn_ledger_sync_answer(s, q, ql, PPN_LEDGER_SYNC_ANSWER_MAX, &ans, &al), 0);
    ck_assert(!memcmp(ans, "PPNSYNA2", 8));
    ans[al - 1] ^= 1;
    ck_assert_int_eq(ppn_ledger_sync_apply(x, ans, al, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    ck_assert_uint_eq(rep.fork, 0);
    ans[al - 1] ^= 1;
    /* the genuine one: x refuses s, which shares x's history as far as it goes */
    ck_assert_int_eq(ppn_ledger_sync_apply(x, ans, al, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), -EPROTO);
    free(ans);
    ck_assert_uint_eq(rep.fork, 1);
    ck_assert_uint_eq(rep.fork_size, n);
    ck_assert_mem_eq(rep.ours, rx, 32);
    ck_assert_mem_eq(rep.theirs, ry, 32);
    ck_assert_ptr_nonnull(strstr(rep.why, "member c"));
    ck_assert_ptr_nonnull(strstr(rep.why, "cosigned"));
    ck_assert_uint_eq(ppn_ledger_size(x), n);
    ck_assert_int_eq(ppn_ledger_cosignatures(x, cs, PPN_LEDGER_COSIGNATURES_MAX, &nc), 0);
    ck_assert_uint_eq(nc, 1); /* its own only: evidence of a fork is reported, not kept */
    ck_assert_mem_eq(cs[0].cosigner, node_pk, 32);

    /* s, holding C's cosignature beyond its size, refuses x's entries that contradict it */
    ck_assert_int_eq(pull(s, x, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), -EPROTO);
    ck_assert_uint_eq(rep.fork, 1);
    ck_assert_uint_eq(rep.fork_size, n);
    ck_assert_mem_eq(rep.ours, rx, 32);
    ck_assert_mem_eq(rep.theirs, ry, 32);
    ck_assert_uint_eq(ppn_ledger_size(s), k);

    /* cosignatures travel: z, from the prefix, pulls x and keeps B's (and would pass it on) */
    ppn_ledger *z = replicate(a, base, "z");
    ck_assert_int_eq(pull(z, x, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    ck_assert_uint_eq(rep.appended, 2);
    ck_assert_int_eq(ppn_ledger_cosignatures(z, cs, PPN_LEDGER_COSIGNATURES_MAX, &nc), 0);
    ck_assert_uint_eq(nc, 1);
    ck_assert_mem_eq(cs[0].cosigner, node_pk, 32);
    ck_assert_mem_eq(cs[0].root, rx, 32);
    check_c2sp(z, 0, node_pk, 1700000001);
    /* z cosigns too; both are kept, each once */
    ck_assert_int_eq(ppn_ledger_cosign(z, other_sk, 1700000002), 0);
    ck_assert_int_eq(pull(z, x, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    ck_assert_int_eq(ppn_ledger_cosignatures(z, cs, PPN_LEDGER_COSIGNATURES_MAX, &nc), 0);
    ck_assert_uint_eq(nc, 2);
    ck_assert_int_eq(ppn_ledger_cosignatures(z, cs, 1, &nc), -ENOBUFS);

    /* a version 1 asker gets a version 1 answer, and it applies */
    ppn_ledger *v = replicate(a, base, "v");
    ck_assert_int_eq(ppn_ledger_sync_request(v, q, sizeof(q), &ql), 0);
    memcpy(q, "PPNSYNQ1", 8);
    ck_assert_int_eq(ppn_ledger_sync_answer(x, q, ql, PPN_LEDGER_SYNC_ANSWER_MAX, &ans, &al), 0);
    ck_assert(!memcmp(ans, "PPNSYNA1", 8));
    ck_assert_int_eq(ppn_ledger_sync_apply(v, ans, al, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    free(ans);
    ck_assert_uint_eq(rep.appended, 2);
    /* a damaged cosignatures file is refused by the API, and an answer built without it */
    char p[700];
    snprintf(p, sizeof(p), "%s/z/cosignatures", base);
    FILE *f = fopen(p, "r+");
    ck_assert_ptr_nonnull(f);
    fputs("XX", f);
    fclose(f);
    ck_assert_int_eq(ppn_ledger_cosignatures(z, cs, PPN_LEDGER_COSIGNATURES_MAX, &nc), -EUCLEAN);
    ck_assert_int_eq(ppn_ledger_sync_request(v, q, sizeof(q), &ql), 0);
    ck_assert_int_eq(ppn_ledger_sync_answer(z, q, ql, PPN_LEDGER_SYNC_ANSWER_MAX, &ans, &al), 0);
    ck_assert_uint_eq(ans[al - 1], 0); /* no cosignatures */
    free(ans);
    ppn_ledger *all[] = {a, s, x, y, z, v};
    for (size_t i = 0; i < 6; i++)
        ppn_ledger_free(all[i]);
    rmrf(base);
    free(base);
}
END_TEST

static Suite *replica_suite(void)
{
    Suite *s = suite_create("ledger-replica");
    TCase *tc = tcase_create("bundle");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_bundle_roundtrip);
    tcase_add_test(tc, test_bundle_need_incremental);
    tcase_add_test(tc, test_bundle_every_flip_refused);
    tcase_add_test(tc, test_bundle_error_location);
    tcase_add_test(tc, test_bundle_refusals);
    suite_add_tcase(s, tc);
    tc = tcase_create("sync");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_sync_converge);
    tcase_add_test(tc, test_sync_refusals);
    tcase_add_test(tc, test_sync_fork_evidence);
    tcase_add_test(tc, test_sync_cosign_fork);
    suite_add_tcase(s, tc);
    tc = tcase_create("candidate");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_candidate_handoff);
    tcase_add_test(tc, test_candidate_not_appended);
    tcase_add_test(tc, test_candidate_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ledger_test_main(replica_suite());
}
