/* Inclusion proof in a 1,000,000-entry ledger: hashes read from the tree file per proof
 * (must be O(log n)), and time per proof against the floor of ceil(log2 n) random 32-byte
 * reads of the same tree file plus the same number of SHA-256 node hashes.
 *   bench-ledger-proof [DIR] [ENTRIES] */
#include <fcntl.h>
#include <math.h>

#include "bench-common.h"

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : ".";
    size_t total = argc > 2 ? (size_t)atol(argv[2]) : 1000000 - 2;
    if (sodium_init() < 0)
        return 1;
    bench_keys();
    char dir[4096];
    ppn_ledger *l = bench_ledger(base, "bench-proof", dir, sizeof(dir));
    printf("building a ledger of %zu entries in %s ...\n", total + 2, dir);
    uint64_t t0 = ppnc_now_mono_ns();
    /* Signed by the library as appended (no separate verification pass: this benchmark is
     * about proofs), in batches of 8192. */
    struct ppn_ledger_entry *es = calloc(8192, sizeof(*es));
    for (size_t i = 0; i < total; i += 8192) {
        size_t n = total - i < 8192 ? total - i : 8192;
        for (size_t k = 0; k < n; k++) {
            es[k].type = PPN_LEDGER_ENTRY_VM_ASSIGN;
            memcpy(es[k].subject, node_pk, 32);
            es[k].time_ms = 1700000000000ull;
            snprintf(es[k].text, sizeof(es[k].text), "totebox-%zu", (i + k) % 64);
        }
        int r = ppn_ledger_append(l, es, n, admin_sk, NULL);
        if (r < 0)
            die("append", r);
    }
    free(es);
    /* A checkpoint vouches for the entries, so opening need not verify every signature. */
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t nl;
    int rc = ppn_ledger_checkpoint(l, admin_sk, note, sizeof(note), &nl);
    if (rc < 0)
        die("checkpoint", rc);
    printf("built in %.1f s\n", (ppnc_now_mono_ns() - t0) / 1e9);
    /* Reopen read-only, as a prover would. */
    ppn_ledger_free(l);
    t0 = ppnc_now_mono_ns();
    int r = ppn_ledger_open(dir, 0, &l);
    if (r < 0)
        die("open", r);
    printf("open (full scan of records, authority, tree cache): %.2f s\n", (ppnc_now_mono_ns() - t0) / 1e9);
    uint64_t n = ppn_ledger_size(l);
    unsigned logn = (unsigned)ceil(log2((double)n));
    uint8_t root[32];
    ppn_ledger_root(l, n, root);
    const unsigned proofs = 20000;
    uint64_t s = 88172645463325252ull, reads0 = l->hash_reads;
    uint8_t proof[PPN_LEDGER_PROOF_MAX * 32], leaf[32];
    size_t cnt, maxcnt = 0;
    t0 = ppnc_now_mono_ns();
    for (unsigned i = 0; i < proofs; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        uint64_t idx = s % n;
        if ((r = ppn_ledger_prove_inclusion(l, idx, n, proof, PPN_LEDGER_PROOF_MAX, &cnt)) < 0)
            die("prove", r);
        if (cnt > maxcnt)
            maxcnt = cnt;
    }
    uint64_t t_proof = ppnc_now_mono_ns() - t0;
    double reads = (double)(l->hash_reads - reads0) / proofs;
    /* Spot check that the proofs verify. */
    for (unsigned i = 0; i < 100; i++) {
        uint64_t idx = (uint64_t)i * (n / 100);
        ppn_ledger_prove_inclusion(l, idx, n, proof, PPN_LEDGER_PROOF_MAX, &cnt);
        ppn_ledger_leaf_hash(l, idx, leaf);
        if (ppn_ledger_merkle_verify_inclusion(leaf, idx, n, proof, cnt, root) < 0)
            die("proof does not verify", -EBADMSG);
    }
    /* Floor: ceil(log2 n) random 32-byte reads of the tree file + as many SHA-256 nodes. */
    char tp[4200];
    snprintf(tp, sizeof(tp), "%s/tree", dir);
    int fd = open(tp, O_RDONLY | O_CLOEXEC);
    uint64_t hashes = merkle_stored_count(n);
    uint8_t h[32], node[65] = {1};
    t0 = ppnc_now_mono_ns();
    for (unsigned i = 0; i < proofs; i++)
        for (unsigned k = 0; k < logn; k++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            if (pread(fd, h, 32, (off_t)((s % hashes) * 32)) != 32)
                die("floor read", -EIO);
            memcpy(node + 1, h, 32);
            crypto_hash_sha256(h, node, sizeof(node));
        }
    uint64_t t_floor = ppnc_now_mono_ns() - t0;
    close(fd);
    printf("inclusion proof in %llu entries: %.2f us per proof, %.1f hashes read from the tree file (log2 n = %u), %zu hashes per proof at most\n",
           (unsigned long long)n, t_proof / 1e3 / proofs, reads, logn, maxcnt);
    printf("floor (%u random hash reads + %u SHA-256 nodes): %.2f us\n", logn, logn, t_floor / 1e3 / proofs);
    printf("ratio to floor: %.2f (aim <= 1.25)\n", (double)t_proof / (double)t_floor);
    ppn_ledger_free(l);
    rm_dir(dir);
    return 0;
}
