/* Opening a ledger to read one entry and one proof, beside the full verification: with the
 * state this node last verified ('verified'), without it (the cost before issue 14: every
 * signature after the checkpoint), and with DELTA entries appended since the state.
 *   bench-ledger-open [DIR] [ENTRIES] [DELTA] */
#include "bench-common.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Open, read entry 0 and its inclusion proof, close: the median of 5, in ns. */
static uint64_t open_read_prove(const char *dir, uint64_t want_state)
{
    uint64_t t[5];
    for (int k = 0; k < 5; k++) {
        uint64_t t0 = ppnc_now_mono_ns();
        ppn_ledger *l;
        int r = ppn_ledger_open(dir, 0, &l);
        if (r < 0)
            die("open", r);
        struct ppn_ledger_entry e;
        uint8_t proof[PPN_LEDGER_PROOF_MAX * 32];
        size_t n;
        if ((r = ppn_ledger_get(l, 0, &e)) < 0 ||
            (r = ppn_ledger_prove_inclusion(l, 0, ppn_ledger_size(l), proof, PPN_LEDGER_PROOF_MAX, &n)) < 0)
            die("read", r);
        t[k] = ppnc_now_mono_ns() - t0;
        if (l->state_n != want_state) {
            fprintf(stderr, "bench: opened from a state of %llu entries, expected %llu\n",
                    (unsigned long long)l->state_n, (unsigned long long)want_state);
            exit(1);
        }
        ppn_ledger_free(l);
    }
    qsort(t, 5, sizeof(t[0]), cmp_u64);
    return t[2];
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : ".";
    size_t total = argc > 2 ? (size_t)atol(argv[2]) : 40000;
    size_t delta = argc > 3 ? (size_t)atol(argv[3]) : 1000;
    if (sodium_init() < 0 || total < 2)
        return 1;
    bench_keys();
    char dir[4096], st[4200], keep[4200];
    ppn_ledger *l = bench_ledger(base, "bench-open", dir, sizeof(dir));
    snprintf(st, sizeof(st), "%s/verified", dir);
    snprintf(keep, sizeof(keep), "%s/verified.keep", dir);
    const uint8_t **pp;
    size_t *lens;
    uint64_t first = ppn_ledger_size(l);
    printf("building a ledger of %zu entries (no checkpoint) in %s ...\n", total + first + delta, dir);
    uint8_t *buf = bench_entries(first, total + delta, &pp, &lens);
    for (size_t i = 0; i < total; i += 4096) {
        size_t n = total - i < 4096 ? total - i : 4096;
        int r = ppn_ledger_append_signed(l, pp + i, lens + i, n, NULL);
        if (r < 0)
            die("append", r);
    }
    ppn_ledger_free(l); /* records the verified state */
    uint64_t n = total + first;

    /* Full verification (every signature over 2 threads, every hash). */
    int r = ppn_ledger_open(dir, 0, &l);
    if (r < 0)
        die("open", r);
    uint64_t t0 = ppnc_now_mono_ns();
    if ((r = ppn_ledger_verify(l, 2, NULL)) < 0)
        die("verify", r);
    uint64_t t_full = ppnc_now_mono_ns() - t0;
    ppn_ledger_free(l);

    uint64_t t_state = open_read_prove(dir, n);
    if (rename(st, keep) < 0)
        die("rename", -errno);
    uint64_t t_none = open_read_prove(dir, 0);
    if (rename(keep, st) < 0)
        die("rename", -errno);

    /* DELTA entries since the state: appended by a writer whose state is then put back. */
    uint64_t t_delta = 0;
    if (delta) {
        if ((r = ppn_ledger_open(dir, PPN_LEDGER_OPEN_WRITE, &l)) < 0)
            die("open writer", r);
        if ((r = ppn_ledger_append_signed(l, pp + total, lens + total, delta, NULL)) < 0)
            die("append delta", r);
        if (rename(st, keep) < 0)
            die("rename", -errno);
        ppn_ledger_free(l);
        if (rename(keep, st) < 0)
            die("rename", -errno);
        t_delta = open_read_prove(dir, n);
    }
    printf("full verification of %llu entries (2 threads):       %9.3f ms\n", (unsigned long long)n, t_full / 1e6);
    printf("open + entry 0 + inclusion proof, no verified state: %9.3f ms  (%.3f of full)\n", t_none / 1e6,
           (double)t_none / (double)t_full);
    printf("open + entry 0 + inclusion proof, verified state:    %9.3f ms  (%.4f of full)\n", t_state / 1e6,
           (double)t_state / (double)t_full);
    if (delta)
        printf("the same with %zu entries since the state:          %9.3f ms  (%.4f of full; "
               "%.3f of the no-state open per entry scanned)\n", delta, t_delta / 1e6,
               (double)t_delta / (double)t_full,
               ((double)t_delta / (double)delta) / ((double)t_none / (double)n));
    printf("speed-up of the verified state over no state: %.1fx\n", (double)t_none / (double)t_state);
    const char *files[] = {"entries", "tree", "verified"};
    for (int i = 0; i < 3; i++) {
        char fp[4200];
        struct stat sb;
        snprintf(fp, sizeof(fp), "%s/%s", dir, files[i]);
        if (stat(fp, &sb) == 0)
            printf("  %-8s %10lld bytes\n", files[i], (long long)sb.st_size);
    }
    rm_dir(dir);
    free(buf);
    free(pp);
    free(lens);
    return 0;
}
