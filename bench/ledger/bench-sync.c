/* The network sync (issue 11): applying one answer of M new entries to a replica of N, against
 * a floor measured in the same run — the M Ed25519 verifications plus the same bytes appended
 * to a plain file with one fdatasync — and beside ppn_ledger_import of the same entries from
 * the other replica's directory.  Also the bundle: building one of N entries and installing it
 * (a full verification), against the full verification of the same ledger in place.
 *
 *   bench-ledger-sync DIR [N [M]]     (defaults 10000 and 1000; DIR on a real disk) */
#include <fcntl.h>

#include "bench-common.h"

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 2 || sodium_init() < 0) {
        fprintf(stderr, "usage: bench-ledger-sync DIR [N [M]]\n");
        return 1;
    }
    size_t N = argc > 2 ? (size_t)atol(argv[2]) : 10000, M = argc > 3 ? (size_t)atol(argv[3]) : 1000;
    bench_keys();
    char da[4096], db[4096], dc[4096], note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t nl;
    ppn_ledger *a = bench_ledger(argv[1], "sync-a", da, sizeof(da));
    const uint8_t **pp;
    size_t *lens;
    uint8_t *buf = bench_entries(2, N, &pp, &lens);
    int r;
    if ((r = ppn_ledger_append_signed(a, pp, lens, N, NULL)) < 0 ||
        (r = ppn_ledger_checkpoint(a, admin_sk, note, sizeof(note), &nl)) < 0)
        die("fill A", r);
    free(buf);
    free(pp);
    free(lens);

    /* The bundle: build, install (full verification), and the full verification in place. */
    uint8_t *bundle;
    size_t bl;
    snprintf(db, sizeof(db), "%s/sync-b.%d", argv[1], (int)getpid());
    snprintf(dc, sizeof(dc), "%s/sync-c.%d", argv[1], (int)getpid());
    uint64_t t0 = ppnc_now_mono_ns();
    if ((r = ppn_ledger_bundle_build(a, &bundle, &bl)) < 0)
        die("build bundle", r);
    uint64_t t1 = ppnc_now_mono_ns();
    if ((r = ppn_ledger_bundle_install(bundle, bl, db, admin_pk, NULL, NULL, NULL)) < 0)
        die("install bundle", r);
    uint64_t t2 = ppnc_now_mono_ns();
    if ((r = ppn_ledger_bundle_install(bundle, bl, dc, admin_pk, NULL, NULL, NULL)) < 0)
        die("install bundle", r);
    free(bundle);
    uint64_t t3 = ppnc_now_mono_ns();
    if ((r = ppn_ledger_verify(a, 0, NULL)) < 0)
        die("verify", r);
    uint64_t t4 = ppnc_now_mono_ns();
    printf("bundle of %zu entries: %zu bytes, build %.1f ms, install %.1f ms; verify in place %.1f ms "
           "(install/verify %.2f)\n", N + 2, bl, ms(t1 - t0), ms(t2 - t1), ms(t4 - t3),
           (double)(t2 - t1) / (double)(t4 - t3));

    /* M new entries at A. */
    buf = bench_entries(N + 2, M, &pp, &lens);
    if ((r = ppn_ledger_append_signed(a, pp, lens, M, NULL)) < 0 ||
        (r = ppn_ledger_checkpoint(a, admin_sk, note, sizeof(note), &nl)) < 0)
        die("append at A", r);
    ppn_ledger *b, *c;
    if ((r = ppn_ledger_open(db, PPN_LEDGER_OPEN_WRITE, &b)) < 0 || (r = ppn_ledger_open(dc, PPN_LEDGER_OPEN_WRITE, &c)) < 0)
        die("open replicas", r);

    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX], *ans;
    size_t ql, al;
    struct ppn_ledger_sync_report rep;
    t0 = ppnc_now_mono_ns();
    if ((r = ppn_ledger_sync_request(b, q, sizeof(q), &ql)) < 0 ||
        (r = ppn_ledger_sync_answer(a, q, ql, PPN_LEDGER_SYNC_ANSWER_MAX, &ans, &al)) < 0)
        die("answer", r);
    t1 = ppnc_now_mono_ns();
    if ((r = ppn_ledger_sync_apply(b, ans, al, PPN_LEDGER_SYNC_ANSWER_MAX, &rep)) < 0 || rep.appended != M)
        die("apply", r);
    t2 = ppnc_now_mono_ns();
    struct ppn_ledger_import_report ir;
    if ((r = ppn_ledger_import(c, da, &ir)) < 0)
        die("import", r);
    t3 = ppnc_now_mono_ns();
    /* Floor: the signatures and the bytes with one fdatasync. */
    char fp[4200];
    snprintf(fp, sizeof(fp), "%s/sync-floor.%d", argv[1], (int)getpid());
    int fd = open(fp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        die("floor file", -errno);
    uint64_t t5 = ppnc_now_mono_ns();
    for (size_t i = 0; i < M; i++) {
        struct ppn_ledger_entry e;
        if ((r = ppn_ledger_entry_decode(pp[i], lens[i], &e)) < 0)
            die("floor decode", r);
    }
    if (ppnc_write_all(fd, ans, al) < 0 || fdatasync(fd) < 0)
        die("floor write", -errno);
    uint64_t t6 = ppnc_now_mono_ns();
    close(fd);
    unlink(fp);
    /* An up-to-date round. */
    free(ans);
    uint64_t t7 = ppnc_now_mono_ns();
    if ((r = ppn_ledger_sync_request(b, q, sizeof(q), &ql)) < 0 ||
        (r = ppn_ledger_sync_answer(a, q, ql, PPN_LEDGER_SYNC_ANSWER_MAX, &ans, &al)) < 0 ||
        (r = ppn_ledger_sync_apply(b, ans, al, PPN_LEDGER_SYNC_ANSWER_MAX, &rep)) < 0)
        die("idle round", r);
    uint64_t t8 = ppnc_now_mono_ns();
    printf("sync of %zu new entries onto %zu: answer built in %.2f ms; applied in %.1f ms; floor "
           "(signatures + one fdatasync of the answer's bytes) %.1f ms: ratio %.2f; ppn_ledger_import "
           "of the same %.1f ms (apply/import %.2f)\n",
           M, N + 2, ms(t1 - t0), ms(t2 - t1), ms(t6 - t5), (double)(t2 - t1) / (double)(t6 - t5), ms(t3 - t2),
           (double)(t2 - t1) / (double)(t3 - t2));
    printf("an up-to-date round (request, answer of %zu bytes, apply): %.3f ms\n", al, ms(t8 - t7));
    free(ans);
    free(buf);
    free(pp);
    free(lens);
    ppn_ledger_free(a);
    ppn_ledger_free(b);
    ppn_ledger_free(c);
    rm_dir(da);
    rm_dir(db);
    rm_dir(dc);
    return 0;
}
