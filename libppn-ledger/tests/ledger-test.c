/* Helpers shared by the ledger's Check suites (ledger-test.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ledger-test.h"

void ledger_test_key(uint8_t sk[64], uint8_t pk[32], uint8_t seedbyte)
{
    uint8_t seed[32], p[32];
    memset(seed, seedbyte, 32);
    crypto_sign_seed_keypair(pk ? pk : p, sk, seed);
}

char *ledger_test_tmpdir(const char *tag)
{
    char *d = malloc(64);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_lt(snprintf(d, 64, "/tmp/ppn-ledger-%s-XXXXXX", tag), 64);
    ck_assert_ptr_nonnull(mkdtemp(d));
    return d;
}

void ledger_test_rmrf(const char *dir)
{
    char cmd[600];
    ck_assert_int_lt(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir), (int)sizeof(cmd));
    ck_assert_int_eq(system(cmd), 0);
}

struct ppn_ledger_entry ledger_test_vm_entry(uint64_t i, const uint8_t node[32])
{
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_VM_ASSIGN;
    snprintf(e.text, sizeof(e.text), "vm-%llu", (unsigned long long)(i % 50));
    memcpy(e.subject, node, 32);
    e.time_ms = 1000 + i;
    return e;
}

int ledger_test_checkpoint(ppn_ledger *l, const uint8_t sk[64])
{
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    return ppn_ledger_checkpoint(l, sk, note, sizeof(note), &len);
}

#include "ppn-check.h"

int ledger_test_main(Suite *s)
{
    if (sodium_init() < 0)
        return 1;
    return ppn_check_run(s);
}
