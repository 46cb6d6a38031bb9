/* Durable appends per second at batch sizes 1, 16 and 256, against the floor of one
 * fdatasync per batch (appending the same bytes to a plain file) plus one Ed25519
 * verification per entry, measured in the same run.
 *   bench-ledger-append [DIR]   (DIR on a real disk; default ".") */
#include <fcntl.h>

#include "bench-common.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : ".";
    if (sodium_init() < 0)
        return 1;
    bench_keys();
    static const size_t batches[] = {1, 16, 256};
    static const size_t totals[] = {400, 3200, 25600};
    printf("durable appends (ledger in %s)\n", base);
    double worst = 0;
    for (size_t b = 0; b < 3; b++) {
        size_t batch = batches[b], total = totals[b];
        char dir[4096];
        ppn_ledger *l = bench_ledger(base, "bench-append", dir, sizeof(dir));
        const uint8_t **pp;
        size_t *lens;
        uint64_t first = ppn_ledger_size(l);
        uint8_t *buf = bench_entries(first, total, &pp, &lens);
        size_t bytes = 0;
        for (size_t i = 0; i < total; i++)
            bytes += lens[i] + 56; /* framing */
        /* The ledger and the floor interleaved batch by batch, so that both see the same
         * machine (it is shared and its load changes by the second).  Floor: the same bytes
         * appended to a plain file with one fdatasync per batch, plus one Ed25519
         * verification per entry. */
        char fp[4200];
        snprintf(fp, sizeof(fp), "%s/floor", dir);
        int fd = open(fp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            die("open floor file", -errno);
        size_t per_batch = bytes / total * batch;
        uint8_t *chunk = calloc(1, per_batch + 4096);
        uint64_t t_ledger = 0, t_sync = 0, t_verify = 0;
        size_t rounds = total / batch;
        uint64_t *rl = calloc(rounds, sizeof(*rl)), *rf = calloc(rounds, sizeof(*rf));
        struct ppn_ledger_entry e;
        for (size_t i = 0, round = 0; i < total; i += batch, round++) {
            /* Alternate which goes first: a sync right after another one is cheaper. */
            for (int part = 0; part < 2; part++) {
                uint64_t t0 = ppnc_now_mono_ns();
                if ((part == 0) == (round % 2 == 0)) {
                    int r = ppn_ledger_append_signed(l, pp + i, lens + i, batch, NULL);
                    if (r < 0)
                        die("append", r);
                    rl[round] = ppnc_now_mono_ns() - t0;
                    t_ledger += rl[round];
                } else {
                    if (write(fd, chunk, per_batch) != (ssize_t)per_batch || fdatasync(fd) < 0)
                        die("floor write", -errno);
                    uint64_t t1 = ppnc_now_mono_ns();
                    for (size_t k = i; k < i + batch; k++)
                        if (ppn_ledger_entry_decode(pp[k], lens[k], &e) < 0)
                            die("verify", -EKEYREJECTED);
                    t_sync += t1 - t0;
                    t_verify += ppnc_now_mono_ns() - t1;
                    rf[round] = ppnc_now_mono_ns() - t0;
                }
            }
        }
        ppn_ledger_free(l);
        close(fd);
        free(chunk);
        double floor_ns = (double)(t_sync + t_verify);
        /* Ratio of the medians per batch: one stall of the shared disk does not decide it. */
        qsort(rl, rounds, sizeof(*rl), cmp_u64);
        qsort(rf, rounds, sizeof(*rf), cmp_u64);
        double ratio = (double)rl[rounds / 2] / (double)rf[rounds / 2];
        double ratio_sum = (double)t_ledger / floor_ns;
        free(rl);
        free(rf);
        if (ratio > worst)
            worst = ratio;
        printf("  batch %3zu: %8.0f appends/s  (floor %8.0f/s: fdatasync %.3f ms per batch + verify %.1f us per entry)  ratio %.2f (of totals %.2f)\n",
               batch, total / (t_ledger / 1e9), total / (floor_ns / 1e9),
               t_sync / 1e6 / (double)(total / batch), t_verify / 1e3 / (double)total, ratio, ratio_sum);
        free(buf);
        free(pp);
        free(lens);
        rm_dir(dir);
    }
    printf("worst ratio to floor (medians per batch): %.2f (aim <= 1.25)\n", worst);
    return 0;
}
