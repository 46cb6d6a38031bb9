/* Shared by the ledger benchmarks: keys, signed VM-assignment entries, a fresh directory. */
#pragma once
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ledger-private.h"
#include "ppn-common.h"
#include "ppn/ledger.h"

static uint8_t admin_sk[64], admin_pk[32], node_pk[32];

static void bench_keys(void)
{
    uint8_t seed[32], nsk[64];
    memset(seed, 0xa1, 32);
    crypto_sign_seed_keypair(admin_pk, admin_sk, seed);
    memset(seed, 0xb2, 32);
    crypto_sign_seed_keypair(node_pk, nsk, seed);
}

static void die(const char *what, int r)
{
    fprintf(stderr, "bench: %s: %s\n", what, strerror(r < 0 ? -r : r));
    exit(1);
}

/* A new ledger in 'base' (a real file system, not tmpfs, for fsync to mean anything) with
 * genesis and one member node. */
static ppn_ledger *bench_ledger(const char *base, const char *name, char *dir, size_t size)
{
    snprintf(dir, size, "%s/%s.%d", base, name, (int)getpid());
    ppn_ledger *l;
    int r = ppn_ledger_create(dir, "bench.example/ledger", "10.8.0.0/16", admin_sk, &l);
    if (r < 0)
        die("create ledger", r);
    uint8_t wg[32] = {1};
    if ((r = ppn_ledger_node_join(l, node_pk, wg, "10.8.0.2", "192.0.2.2:51820", "node", admin_sk, NULL)) < 0)
        die("node join", r);
    return l;
}

/* Signed VM assignments for indexes first..first+n-1; *ret_lens, pointers into one buffer. */
static __attribute__((unused)) uint8_t *bench_entries(uint64_t first, size_t n, const uint8_t ***ret_ptrs, size_t **ret_lens)
{
    uint8_t *buf = malloc(n * 256);
    const uint8_t **pp = malloc(n * sizeof(*pp));
    size_t *lens = malloc(n * sizeof(*lens));
    if (!buf || !pp || !lens)
        die("allocate", -ENOMEM);
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_VM_ASSIGN;
    memcpy(e.subject, node_pk, 32);
    e.time_ms = 1700000000000ull;
    for (size_t i = 0; i < n; i++) {
        snprintf(e.text, sizeof(e.text), "totebox-%zu", i % 64);
        int r = ppn_ledger_entry_sign(&e, first + i, admin_sk, buf + i * 256, 256, &lens[i]);
        if (r < 0)
            die("sign entry", r);
        pp[i] = buf + i * 256;
    }
    *ret_ptrs = pp;
    *ret_lens = lens;
    return buf;
}

static void rm_dir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
}
