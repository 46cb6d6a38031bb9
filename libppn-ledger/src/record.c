/* Record framing: magic, length, index, a head check (so that a flipped length bit is
 * corruption rather than a "torn" tail), the payload, and a BLAKE2b-256 checksum. */
#include <string.h>

#include <sodium.h>

#include "internal.h"

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void head_check(uint8_t out[8], const uint8_t head[16])
{
    crypto_generichash(out, 8, head, 16, NULL, 0);
}

void record_frame(uint8_t *out, uint64_t index, const uint8_t *payload, size_t len)
{
    le32(out, REC_MAGIC);
    le32(out + 4, (uint32_t)len);
    le64(out + 8, index);
    head_check(out + 16, out);
    memcpy(out + REC_HEAD, payload, len);
    crypto_generichash(out + REC_HEAD + len, REC_TAIL, out, REC_HEAD + len, NULL, 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

enum rec_status record_check(const uint8_t *data, size_t avail, uint64_t want_index,
                             size_t *ret_len)
{
    /* A file extended but never written (zeros after a crash) is a torn tail too. */
    if (avail < REC_HEAD)
        return REC_TORN;
    uint8_t hc[8];
    head_check(hc, data);
    if (rd32(data) != REC_MAGIC || memcmp(hc, data + 16, 8) != 0)
        return all_zero(data, avail) ? REC_TORN : REC_CORRUPT;
    uint32_t len = rd32(data + 4);
    if (len == 0 || len > PPN_LEDGER_ENTRY_MAX || rd64(data + 8) != want_index)
        return REC_CORRUPT;
    if (avail - REC_HEAD < (size_t)len + REC_TAIL)
        return REC_TORN;
    uint8_t sum[REC_TAIL];
    crypto_generichash(sum, REC_TAIL, data, REC_HEAD + len, NULL, 0);
    if (memcmp(sum, data + REC_HEAD + len, REC_TAIL) != 0)
        return REC_CORRUPT;
    *ret_len = len;
    return REC_OK;
}
