/* Shared by the libppn-fleet benchmarks. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ppn/fleet.h"

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS of this process in KiB (0 if unknown). */
static inline long bench_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static inline void bench_key(unsigned i, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];
    memset(seed, 0, sizeof(seed));
    memcpy(seed, &i, sizeof(i));
    seed[31] = 0xb5;
    ppn_fleet_keypair_from_seed(seed, pk, sk);
}

static inline void bench_hb(ppn_fleet_heartbeat *hb, const uint8_t pk[32], unsigned i,
                            uint64_t seq)
{
    memset(hb, 0, sizeof(*hb));
    memcpy(hb->node_key, pk, 32);
    snprintf(hb->node_name, sizeof(hb->node_name), "node-%u", i);
    hb->seq = seq;
    hb->ram_total_bytes = 64ULL << 30;
    /* spread, with ties */
    hb->ram_available_bytes = ((uint64_t)(i * 7919u % 50000u) + 1000u) << 20;
    hb->cpu_count = 16;
    hb->load_milli = i % 4000;
    hb->ledger_size = 100;
    hb->n_vms = 3;
    for (unsigned j = 0; j < 3; j++) {
        snprintf(hb->vms[j].name, sizeof(hb->vms[j].name), "vm-%u-%u", i, j);
        hb->vms[j].mem_bytes = 1ULL << 30;
    }
}
