/* Helpers shared by the ledger's Check suites (test-ledger.c, test-hardening.c,
 * test-replica.c): keys from a seed byte, temporary directories, the runner. */
#pragma once
#include <check.h>
#include <stdint.h>

#include "ppn/ledger.h"

/* The Ed25519 key pair whose seed is 32 times 'seedbyte' (pk may be NULL). */
void ledger_test_key(uint8_t sk[64], uint8_t pk[32], uint8_t seedbyte);
/* A new directory /tmp/ppn-ledger-<tag>-XXXXXX (free it), and its removal with all it holds. */
char *ledger_test_tmpdir(const char *tag);
void ledger_test_rmrf(const char *dir);
/* Entry i of a test ledger's bulk: vm-(i mod 50) assigned to 'node', at time 1000 + i. */
struct ppn_ledger_entry ledger_test_vm_entry(uint64_t i, const uint8_t node[32]);
/* A checkpoint of 'l' signed with 'sk' (the note itself is not kept): ppn_ledger_checkpoint's return. */
int ledger_test_checkpoint(ppn_ledger *l, const uint8_t sk[64]);
/* main(): libsodium up, the suite run (ppn_check_run), 0 or 1 as the exit status. */
int ledger_test_main(Suite *s);
