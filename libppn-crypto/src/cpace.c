/* CPACE-RISTR255-SHA512 as specified by draft-irtf-cfrg-cpace-21. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cpace.h"
#include "ppn-common.h"
#include "ppn/crypto.h"

#define CPACE_DSI "CPaceRistretto255"
#define CPACE_DSI_ISK "CPaceRistretto255_ISK"
#define CPACE_SID_OUTPUT "CPaceSidOutput"
#define SHA512_BLOCK 128 /* H.s_in_bytes */

void cbuf_init(cbuf *b)
{
    memset(b, 0, sizeof(*b));
}

void cbuf_append(cbuf *b, const void *data, size_t len)
{
    if (b->failed || len == 0)
        return;
    if (len > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return;
    }
    uint8_t *n = ppnc_grow_wiped(b->data, b->len, &b->cap, b->len + len, 128);
    if (!n) {
        b->failed = 1;
        return;
    }
    b->data = n;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void cbuf_wipe_free(cbuf *b)
{
    if (b->data) {
        sodium_memzero(b->data, b->cap);
        free(b->data);
    }
    cbuf_init(b);
}

size_t cpace_leb128(uint8_t out[10], uint64_t n)
{
    size_t i = 0;
    for (;;) {
        if (n < 128) {
            out[i++] = (uint8_t)n;
            return i;
        }
        out[i++] = (uint8_t)((n & 0x7f) | 0x80);
        n >>= 7;
    }
}

void cpace_prepend_len(cbuf *b, const uint8_t *x, size_t len)
{
    uint8_t l[10];
    cbuf_append(b, l, cpace_leb128(l, len));
    cbuf_append(b, x, len);
}

int cpace_lexi_larger(const uint8_t *x, size_t xlen, const uint8_t *y, size_t ylen)
{
    size_t m = xlen < ylen ? xlen : ylen;
    for (size_t i = 0; i < m; i++) {
        if (x[i] > y[i])
            return 1;
        if (x[i] < y[i])
            return 0;
    }
    return xlen > ylen;
}

void cpace_o_cat(cbuf *b, const uint8_t *x, size_t xlen, const uint8_t *y, size_t ylen)
{
    cbuf_append(b, "oc", 2);
    if (cpace_lexi_larger(x, xlen, y, ylen)) {
        cbuf_append(b, x, xlen);
        cbuf_append(b, y, ylen);
    } else {
        cbuf_append(b, y, ylen);
        cbuf_append(b, x, xlen);
    }
}

void cpace_generator_string(cbuf *b, const uint8_t *prs, size_t prs_len,
                            const uint8_t *ci, size_t ci_len,
                            const uint8_t *sid, size_t sid_len)
{
    static const uint8_t zeros[SHA512_BLOCK];
    uint8_t l[10];
    size_t dsi_len = sizeof(CPACE_DSI) - 1;
    size_t used = 1 + cpace_leb128(l, prs_len) + prs_len + cpace_leb128(l, dsi_len) + dsi_len;
    size_t zpad = used < SHA512_BLOCK ? SHA512_BLOCK - used : 0;

    cpace_prepend_len(b, (const uint8_t *)CPACE_DSI, dsi_len);
    cpace_prepend_len(b, prs, prs_len);
    cpace_prepend_len(b, zeros, zpad);
    cpace_prepend_len(b, ci, ci_len);
    cpace_prepend_len(b, sid, sid_len);
}

void cpace_transcript(cbuf *b, int symmetric,
                      const uint8_t *ya, const uint8_t *ada, size_t ada_len,
                      const uint8_t *yb, const uint8_t *adb, size_t adb_len)
{
    if (!symmetric) {
        cpace_prepend_len(b, ya, 32);
        cpace_prepend_len(b, ada, ada_len);
        cpace_prepend_len(b, yb, 32);
        cpace_prepend_len(b, adb, adb_len);
        return;
    }
    cbuf a, c;
    cbuf_init(&a);
    cbuf_init(&c);
    cpace_prepend_len(&a, ya, 32);
    cpace_prepend_len(&a, ada, ada_len);
    cpace_prepend_len(&c, yb, 32);
    cpace_prepend_len(&c, adb, adb_len);
    if (a.failed || c.failed)
        b->failed = 1;
    else
        cpace_o_cat(b, a.data, a.len, c.data, c.len);
    cbuf_wipe_free(&a);
    cbuf_wipe_free(&c);
}

static int bad_span(const void *p, size_t len)
{
    return !p && len;
}

PPN_EXPORT int ppn_crypto_cpace_generator(const uint8_t *prs, size_t prs_len,
                                          const uint8_t *ci, size_t ci_len,
                                          const uint8_t *sid, size_t sid_len,
                                          uint8_t ret_g[PPN_CRYPTO_CPACE_POINT_BYTES])
{
    if (bad_span(prs, prs_len) || bad_span(ci, ci_len) || bad_span(sid, sid_len) || !ret_g)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    cbuf b;
    cbuf_init(&b);
    cpace_generator_string(&b, prs, prs_len, ci, ci_len, sid, sid_len);
    if (b.failed) {
        cbuf_wipe_free(&b);
        return -ENOMEM;
    }
    uint8_t h[crypto_hash_sha512_BYTES];
    crypto_hash_sha512(h, b.data, b.len);
    cbuf_wipe_free(&b);
    crypto_core_ristretto255_from_hash(ret_g, h);
    sodium_memzero(h, sizeof(h));
    return 0;
}

static int scalar_is_zero(const uint8_t s[32])
{
    /* Reduce mod L first: a scalar equal to L is zero too. */
    uint8_t wide[64] = {0}, red[32];
    memcpy(wide, s, 32);
    crypto_core_ristretto255_scalar_reduce(red, wide);
    int z = sodium_is_zero(red, 32);
    sodium_memzero(wide, sizeof(wide));
    sodium_memzero(red, sizeof(red));
    return z;
}

PPN_EXPORT int ppn_crypto_cpace_share(const uint8_t g[PPN_CRYPTO_CPACE_POINT_BYTES],
                                      const uint8_t scalar[PPN_CRYPTO_CPACE_SCALAR_BYTES],
                                      uint8_t ret_y[PPN_CRYPTO_CPACE_POINT_BYTES])
{
    if (!g || !scalar || !ret_y)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    if (scalar_is_zero(scalar))
        return -EINVAL;
    uint8_t y[32];
    /* Fails for an invalid encoding of g or an identity result. */
    if (crypto_scalarmult_ristretto255(y, scalar, g) != 0)
        return -EINVAL;
    memcpy(ret_y, y, 32);
    return 0;
}

PPN_EXPORT int ppn_crypto_cpace_share_random(const uint8_t g[PPN_CRYPTO_CPACE_POINT_BYTES],
                                             uint8_t ret_scalar[PPN_CRYPTO_CPACE_SCALAR_BYTES],
                                             uint8_t ret_y[PPN_CRYPTO_CPACE_POINT_BYTES])
{
    if (!g || !ret_scalar || !ret_y)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    uint8_t s[32], y[32];
    crypto_core_ristretto255_scalar_random(s); /* uniform in [1, L-1]: never 0 */
    int r = crypto_scalarmult_ristretto255(y, s, g) == 0 ? 0 : -EINVAL;
    if (r == 0) {
        memcpy(ret_scalar, s, 32);
        memcpy(ret_y, y, 32);
    }
    sodium_memzero(s, sizeof(s));
    return r;
}

PPN_EXPORT int ppn_crypto_cpace_secret(const uint8_t scalar[PPN_CRYPTO_CPACE_SCALAR_BYTES],
                                       const uint8_t peer_y[PPN_CRYPTO_CPACE_POINT_BYTES],
                                       uint8_t ret_k[PPN_CRYPTO_CPACE_POINT_BYTES])
{
    if (!scalar || !peer_y || !ret_k)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    uint8_t k[32];
    /* scalar_mult_vfy: libsodium returns -1 for a non-canonical or invalid
     * encoding and for an identity result (peer_y == identity included).
     * This is the abort the draft makes mandatory. */
    if (crypto_scalarmult_ristretto255(k, scalar, peer_y) != 0) {
        sodium_memzero(k, sizeof(k));
        return -EBADMSG;
    }
    memcpy(ret_k, k, 32);
    sodium_memzero(k, sizeof(k));
    return 0;
}

PPN_EXPORT int ppn_crypto_cpace_isk(ppn_crypto_cpace_mode mode,
                                    const uint8_t *sid, size_t sid_len,
                                    const uint8_t k[PPN_CRYPTO_CPACE_POINT_BYTES],
                                    const uint8_t ya[PPN_CRYPTO_CPACE_POINT_BYTES],
                                    const uint8_t *ada, size_t ada_len,
                                    const uint8_t yb[PPN_CRYPTO_CPACE_POINT_BYTES],
                                    const uint8_t *adb, size_t adb_len,
                                    uint8_t ret_isk[PPN_CRYPTO_CPACE_ISK_BYTES])
{
    if ((mode != PPN_CRYPTO_CPACE_INITIATOR_RESPONDER && mode != PPN_CRYPTO_CPACE_SYMMETRIC) ||
        bad_span(sid, sid_len) || !k || !ya || !yb || bad_span(ada, ada_len) ||
        bad_span(adb, adb_len) || !ret_isk)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    cbuf b;
    cbuf_init(&b);
    cpace_prepend_len(&b, (const uint8_t *)CPACE_DSI_ISK, sizeof(CPACE_DSI_ISK) - 1);
    cpace_prepend_len(&b, sid, sid_len);
    cpace_prepend_len(&b, k, 32);
    cpace_transcript(&b, mode == PPN_CRYPTO_CPACE_SYMMETRIC, ya, ada, ada_len, yb, adb, adb_len);
    if (b.failed) {
        cbuf_wipe_free(&b);
        return -ENOMEM;
    }
    crypto_hash_sha512(ret_isk, b.data, b.len);
    cbuf_wipe_free(&b);
    return 0;
}

PPN_EXPORT int ppn_crypto_cpace_sid_output(ppn_crypto_cpace_mode mode,
                                           const uint8_t ya[PPN_CRYPTO_CPACE_POINT_BYTES],
                                           const uint8_t *ada, size_t ada_len,
                                           const uint8_t yb[PPN_CRYPTO_CPACE_POINT_BYTES],
                                           const uint8_t *adb, size_t adb_len,
                                           uint8_t ret_out[PPN_CRYPTO_CPACE_SID_OUTPUT_BYTES])
{
    if ((mode != PPN_CRYPTO_CPACE_INITIATOR_RESPONDER && mode != PPN_CRYPTO_CPACE_SYMMETRIC) ||
        !ya || !yb || bad_span(ada, ada_len) || bad_span(adb, adb_len) || !ret_out)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    cbuf b;
    cbuf_init(&b);
    cbuf_append(&b, CPACE_SID_OUTPUT, sizeof(CPACE_SID_OUTPUT) - 1);
    cpace_transcript(&b, mode == PPN_CRYPTO_CPACE_SYMMETRIC, ya, ada, ada_len, yb, adb, adb_len);
    if (b.failed) {
        cbuf_wipe_free(&b);
        return -ENOMEM;
    }
    crypto_hash_sha512(ret_out, b.data, b.len);
    cbuf_wipe_free(&b);
    return 0;
}
