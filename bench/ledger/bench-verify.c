/* Full verification of a 100,000-entry ledger with both cores, against the floor of the
 * Ed25519 verifications divided over the cores (measured with the same thread count).
 *   bench-ledger-verify [DIR] [ENTRIES] [THREADS] */
#include <pthread.h>

#include "bench-common.h"

struct job {
    const uint8_t **pp;
    size_t *lens;
    size_t from, to;
};

static void *verify_part(void *arg)
{
    struct job *j = arg;
    struct ppn_ledger_entry e;
    for (size_t i = j->from; i < j->to; i++)
        if (ppn_ledger_entry_decode(j->pp[i], j->lens[i], &e) < 0)
            die("verify", -EKEYREJECTED);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : ".";
    size_t total = argc > 2 ? (size_t)atol(argv[2]) : 100000;
    unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
    if (sodium_init() < 0 || threads < 1 || threads > 16)
        return 1;
    bench_keys();
    char dir[4096];
    ppn_ledger *l = bench_ledger(base, "bench-verify", dir, sizeof(dir));
    const uint8_t **pp;
    size_t *lens;
    uint64_t first = ppn_ledger_size(l);
    printf("building a ledger of %zu entries in %s ...\n", total + first, dir);
    uint8_t *buf = bench_entries(first, total, &pp, &lens);
    for (size_t i = 0; i < total; i += 4096) {
        size_t n = total - i < 4096 ? total - i : 4096;
        int r = ppn_ledger_append_signed(l, pp + i, lens + i, n, NULL);
        if (r < 0)
            die("append", r);
    }
    /* Floor: the Ed25519 verifications of all entries over 'threads' threads. */
    struct job jobs[16];
    pthread_t tid[16];
    uint64_t t0 = ppnc_now_mono_ns();
    for (unsigned t = 0; t < threads; t++) {
        jobs[t] = (struct job){pp, lens, total * t / threads, total * (t + 1) / threads};
        pthread_create(&tid[t], NULL, verify_part, &jobs[t]);
    }
    for (unsigned t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    uint64_t t_floor = ppnc_now_mono_ns() - t0;
    /* The ledger's full verification (reads every record, checksums, canonical decoding,
     * signatures, authority, every tree hash, the checkpoint). */
    struct ppn_ledger_report rep;
    t0 = ppnc_now_mono_ns();
    int r = ppn_ledger_verify(l, threads, &rep);
    uint64_t t_verify = ppnc_now_mono_ns() - t0;
    if (r < 0)
        die("ledger verify", r);
    printf("full verification of %llu entries on %u threads: %.3f s (%.0f entries/s)\n",
           (unsigned long long)ppn_ledger_size(l), threads, t_verify / 1e9, total / (t_verify / 1e9));
    printf("floor (Ed25519 verifications over %u threads): %.3f s\n", threads, t_floor / 1e9);
    printf("ratio to floor: %.2f (aim <= 1.25)\n", (double)t_verify / (double)t_floor);
    ppn_ledger_free(l);
    free(buf);
    free(pp);
    free(lens);
    rm_dir(dir);
    return 0;
}
