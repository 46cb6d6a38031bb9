/* Helpers shared by the libppn-fleet test suites. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ppn/fleet.h"

typedef struct test_key {
    uint8_t pk[32];
    uint8_t sk[64];
} test_key;

/* A deterministic key pair from a small number. */
static inline test_key test_key_make(unsigned i)
{
    test_key k;
    uint8_t seed[32];
    memset(seed, 0, sizeof(seed));
    seed[0] = (uint8_t)i;
    seed[1] = (uint8_t)(i >> 8);
    seed[2] = (uint8_t)(i >> 16);
    seed[31] = 0x5a;
    ppn_fleet_keypair_from_seed(seed, k.pk, k.sk);
    return k;
}

static inline ppn_fleet_heartbeat test_hb(const test_key *k, uint64_t seq, uint64_t avail_mib)
{
    ppn_fleet_heartbeat hb;
    memset(&hb, 0, sizeof(hb));
    memcpy(hb.node_key, k->pk, 32);
    snprintf(hb.node_name, sizeof(hb.node_name), "node-%02x", k->pk[0]);
    hb.seq = seq;
    hb.ram_total_bytes = 16384ULL << 20;
    hb.ram_available_bytes = avail_mib << 20;
    hb.cpu_count = 4;
    hb.load_milli = 250;
    hb.ledger_size = 7;
    return hb;
}

/* Signs hb into buf; returns the length (asserted positive by callers). */
static inline int test_seal(const ppn_fleet_heartbeat *hb, const test_key *k, uint8_t *buf,
                            size_t size)
{
    return ppn_fleet_heartbeat_sign(hb, k->sk, buf, size);
}
