/* A full pairing ceremony between two in-process sessions (commitment,
 * CPace, key confirmation, SAS, encrypted records, both confirmations)
 * against the floor measured in the same run: per side one hash-to-group
 * (generator string hash + ristretto255_from_hash) and two ristretto255
 * scalar multiplications.  Prints medians, minimums and their ratios.
 *
 *   bench-ceremony [ITERATIONS]   (default 2000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ppn/crypto.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(ppn_crypto_node_record *r, const char *host)
{
    uint8_t sk[64], wg[32];
    memset(r, 0, sizeof(*r));
    ppn_crypto_identity_generate(r->identity_public, sk);
    ppn_crypto_wg_generate(wg);
    ppn_crypto_wg_public(wg, r->wg_public);
    snprintf(r->endpoint, sizeof(r->endpoint), "%s.example.org:51820", host);
    snprintf(r->hostname, sizeof(r->hostname), "%s", host);
    strcpy(r->address, "10.8.0.2/24");
}

static void move(ppn_crypto_session *from, ppn_crypto_session *to)
{
    uint8_t buf[4096];
    ssize_t n = ppn_crypto_session_take_output(from, buf, sizeof(buf));
    if (n > 0 && ppn_crypto_session_feed(to, buf, (size_t)n) < 0) {
        fprintf(stderr, "ceremony failed: %d\n", ppn_crypto_session_error(to));
        exit(1);
    }
}

static void ceremony(const char *code, const ppn_crypto_node_record *ra,
                     const ppn_crypto_node_record *rb)
{
    ppn_crypto_session *a, *b;
    if (ppn_crypto_session_new(&a, PPN_CRYPTO_ROLE_INITIATOR, code, 0, ra, 0) < 0 ||
        ppn_crypto_session_new(&b, PPN_CRYPTO_ROLE_RESPONDER, code, 0, rb, 0) < 0) {
        fprintf(stderr, "session_new failed\n");
        exit(1);
    }
    move(a, b); /* COMMIT */
    move(b, a); /* SHARE */
    move(a, b); /* REVEAL */
    move(b, a); /* CONFIRM, RECORD */
    move(a, b); /* RECORD */
    char sa[PPN_CRYPTO_SAS_STRING_SIZE], sb[PPN_CRYPTO_SAS_STRING_SIZE];
    if (ppn_crypto_session_sas(a, sa) < 0 || ppn_crypto_session_sas(b, sb) < 0 || strcmp(sa, sb)) {
        fprintf(stderr, "SAS mismatch\n");
        exit(1);
    }
    ppn_crypto_session_confirm(a, true);
    ppn_crypto_session_confirm(b, true);
    move(a, b);
    move(b, a);
    ppn_crypto_node_record r;
    if (ppn_crypto_session_peer_record(a, &r) < 0 || ppn_crypto_session_peer_record(b, &r) < 0) {
        fprintf(stderr, "not done\n");
        exit(1);
    }
    ppn_crypto_session_free(a);
    ppn_crypto_session_free(b);
}

/* The floor for both sides: 2 x (hash-to-group + 2 scalar multiplications). */
static void floor_op(const uint8_t *prs, size_t prs_len, const uint8_t sid[16])
{
    uint8_t g[32], y[32], Y[32], K[32];
    for (int side = 0; side < 2; side++) {
        ppn_crypto_cpace_generator(prs, prs_len, NULL, 0, sid, 16, g);
        crypto_core_ristretto255_scalar_random(y);
        if (crypto_scalarmult_ristretto255(Y, y, g) != 0 ||
            crypto_scalarmult_ristretto255(K, y, Y) != 0) {
            fprintf(stderr, "floor failed\n");
            exit(1);
        }
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int iters = argc > 1 ? atoi(argv[1]) : 2000;
    if (iters <= 0 || sodium_init() < 0)
        return 1;
    ppn_crypto_node_record ra, rb;
    record(&ra, "alpha");
    record(&rb, "beta");
    /* Codes are single use: draw them all before timing. */
    char (*codes)[PPN_CRYPTO_CODE_STRING_SIZE] = calloc((size_t)iters * 2 + 20, sizeof(*codes));
    if (!codes)
        return 1;
    for (int i = 0; i < iters * 2 + 20; i++)
        ppn_crypto_code_generate(10, 0, codes[i], sizeof(codes[i]));
    uint8_t sid[16];
    randombytes_buf(sid, sizeof(sid));

    /* warm up both */
    for (int i = 0; i < 20; i++) {
        ceremony(codes[iters * 2 + i], &ra, &rb);
        floor_op((const uint8_t *)"7KQ2M9XD", 8, sid);
    }
    /* Alternate one floor and one ceremony per iteration so that both see
     * the same machine load, time each one, and compare medians (and
     * minimums): robust against other processes on the cores. */
    double *tc = calloc((size_t)iters, sizeof(double)), *tf = calloc((size_t)iters, sizeof(double));
    if (!tc || !tf)
        return 1;
    for (int i = 0; i < iters; i++) {
        double t0 = now_s();
        floor_op((const uint8_t *)"7KQ2M9XD", 8, sid);
        double t1 = now_s();
        ceremony(codes[i], &ra, &rb);
        double t2 = now_s();
        tf[i] = t1 - t0;
        tc[i] = t2 - t1;
    }
    qsort(tc, (size_t)iters, sizeof(double), cmp_double);
    qsort(tf, (size_t)iters, sizeof(double), cmp_double);
    double mc = tc[iters / 2], mf = tf[iters / 2];
    printf("iterations: %d\n", iters);
    printf("ceremony (both sides, in process): median %8.1f us, min %8.1f us\n", mc * 1e6, tc[0] * 1e6);
    printf("floor (2 x [hash-to-group + 2 scalarmult]): median %8.1f us, min %8.1f us\n", mf * 1e6, tf[0] * 1e6);
    printf("ratio ceremony/floor: median %.3f, min %.3f (target <= 1.15)\n", mc / mf, tc[0] / tf[0]);
    free(tc);
    free(tf);
    free(codes);
    return 0;
}
