/* cosign.c internals: cosignatures of checkpoints (C2SP tlog-cosignature/v1). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ppn/ledger.h"

#define COSIG_RECORD 144 /* cosigner key 32, size 8, root 32, time 8, signature 64 */
#define COSIG_KEEP PPN_LEDGER_COSIGNATURES_MAX
#define COSIG_FILE_MAGIC "PPNCOSG1"

struct cosig {
    uint8_t pk[32];
    uint64_t size;
    uint8_t root[32];
    uint64_t time;
    uint8_t sig[64];
};

void cosig_key_name(const char *origin, const uint8_t pk[32], char *buf, size_t size);
uint32_t cosig_key_id(const char *origin, const uint8_t pk[32]);
void cosig_sign(const char *origin, struct cosig *c, const uint8_t sk[64]);
bool cosig_verify(const char *origin, const struct cosig *c);
void cosig_encode(const struct cosig *c, uint8_t out[COSIG_RECORD]);
int cosig_decode(const uint8_t in[COSIG_RECORD], struct cosig *c);
/* The kept set ('<dir>/cosignatures'): at most COSIG_KEEP. */
int cosig_load(const ppn_ledger *l, struct cosig *set, size_t *ret_n);
int cosig_store(const ppn_ledger *l, const struct cosig *set, size_t n);
bool cosig_merge(struct cosig *set, size_t *n, const struct cosig *c);
