/* Durable appends per second at batch sizes 1, 16 and 256, against the floor of one
 * fdatasync per batch (appending the same bytes to a plain file) plus one Ed25519
 * verification per entry, measured in the same run.
 *   bench-ledger-append [DIR]   (DIR on a real disk; default ".") */
#include <fcntl.h>

#include "bench-common.h"

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
        /* the ledger */
        uint64_t t0 = ppnc_now_mono_ns();
        for (size_t i = 0; i < total; i += batch) {
            int r = ppn_ledger_append_signed(l, pp + i, lens + i, batch, NULL);
            if (r < 0)
                die("append", r);
        }
        uint64_t t_ledger = ppnc_now_mono_ns() - t0;
        ppn_ledger_free(l);
        /* floor part 1: the same bytes appended to a plain file, one fdatasync per batch */
        char fp[4200];
        snprintf(fp, sizeof(fp), "%s/floor", dir);
        int fd = open(fp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            die("open floor file", -errno);
        uint8_t *chunk = calloc(1, bytes / total * batch + 4096);
        size_t per_batch = bytes / total * batch;
        t0 = ppnc_now_mono_ns();
        for (size_t i = 0; i < total; i += batch)
            if (write(fd, chunk, per_batch) != (ssize_t)per_batch || fdatasync(fd) < 0)
                die("floor write", -errno);
        uint64_t t_sync = ppnc_now_mono_ns() - t0;
        close(fd);
        free(chunk);
        /* floor part 2: one Ed25519 verification per entry */
        struct ppn_ledger_entry e;
        t0 = ppnc_now_mono_ns();
        for (size_t i = 0; i < total; i++)
            if (ppn_ledger_entry_decode(pp[i], lens[i], &e) < 0)
                die("verify", -EKEYREJECTED);
        uint64_t t_verify = ppnc_now_mono_ns() - t0;
        double floor_ns = (double)(t_sync + t_verify);
        double ratio = (double)t_ledger / floor_ns;
        if (ratio > worst)
            worst = ratio;
        printf("  batch %3zu: %8.0f appends/s  (floor %8.0f/s: fdatasync %.3f ms per batch + verify %.1f us per entry)  ratio %.2f\n",
               batch, total / (t_ledger / 1e9), total / (floor_ns / 1e9),
               t_sync / 1e6 / (double)(total / batch), t_verify / 1e3 / (double)total, ratio);
        free(buf);
        free(pp);
        free(lens);
        rm_dir(dir);
    }
    printf("worst ratio to floor: %.2f (aim <= 1.25)\n", worst);
    return 0;
}
