/* Placement latency over 10,000 simulated nodes, against the floor: one
 * scan of 10,000 available-RAM values for the maximum, same run. */
#include <stdlib.h>

#include "bench-util.h"

#define NODES 10000
#define QUERIES 2000

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    uint8_t *pks = malloc(32 * NODES), sk[64], buf[1024];
    ppn_fleet *f;
    ppn_fleet_heartbeat hb;
    if (!pks || ppn_fleet_new(0, &f) < 0)
        return 1;
    for (unsigned i = 0; i < NODES; i++)
        bench_key(i, pks + 32 * i, sk);
    if (ppn_fleet_set_members(f, pks, NODES) != NODES)
        return 1;
    for (unsigned i = 0; i < NODES; i++) {
        bench_key(i, pks + 32 * i, sk);
        bench_hb(&hb, pks + 32 * i, i, 1);
        int n = ppn_fleet_heartbeat_sign(&hb, sk, buf, sizeof(buf));
        if (n < 0 || ppn_fleet_ingest(f, buf, (size_t)n, NULL, 0, 1000) != 0)
            return 1;
    }
    /* A few claims so that the claim path is exercised. */
    for (unsigned i = 0; i < 100; i++)
        ppn_fleet_claim(f, pks + 32 * (i * 97 % NODES), "claimed", 1ULL << 30, 1000);

    uint64_t *avail = malloc(NODES * sizeof(uint64_t));
    for (unsigned i = 0; i < NODES; i++)
        avail[i] = ((uint64_t)(i * 7919u % 50000u) + 1000u) << 20;
    volatile uint64_t sink = 0;
    double t = bench_now();
    for (int q = 0; q < QUERIES; q++) {
        uint64_t best = 0;
        for (unsigned i = 0; i < NODES; i++)
            if (avail[i] > best)
                best = avail[i];
        sink += best + (uint64_t)q;
    }
    double floor_s = (bench_now() - t) / QUERIES;

    ppn_fleet_place_query pq = {.mem_bytes = 2ULL << 30, .vcpus = 2};
    ppn_fleet_placement p;
    static double lat[QUERIES];
    t = bench_now();
    for (int q = 0; q < QUERIES; q++) {
        double t1 = bench_now();
        if (ppn_fleet_place(f, &pq, 2000, NULL, NULL, &p) <= 0)
            return 1;
        lat[q] = bench_now() - t1;
    }
    double place_s = (bench_now() - t) / QUERIES;
    qsort(lat, QUERIES, sizeof(double), cmp_double);
    char text[128];
    ppn_fleet_placement_explain(&p, text, sizeof(text));
    printf("nodes:                 %d (%s)\n", NODES, text);
    printf("floor (max scan):      %.1f us\n", floor_s * 1e6);
    printf("placement latency:     %.1f us mean, %.1f us median, %.1f us p99 of %d "
           "(aim < 1000 us)\n", place_s * 1e6, lat[QUERIES / 2] * 1e6,
           lat[QUERIES * 99 / 100] * 1e6, QUERIES);
    printf("ratio to floor:        %.1fx\n", place_s / floor_s);
    (void)sink;
    ppn_fleet_free(f);
    free(avail);
    free(pks);
    return 0;
}
