/* Cosignatures (C2SP tlog-cosignature/v1): members vouch for the checkpoints they verified,
 * keep each other's, and pass them on in sync answers (doc/sync.md "Cosignatures").
 *
 * A cosignature by member M on the checkpoint (origin, size, root) is the Ed25519 signature
 * of M's identity key over
 *
 *     "cosignature/v1\n" "time " <T> "\n" <origin> "\n" <size> "\n" <base64 root> "\n"
 *
 * (the checkpoint's text: this ledger's checkpoints have no extension lines), under the key
 * name "<origin>/cosigner/<hex of the first 8 bytes of M's key>", key ID
 * SHA-256(name || "\n" || 0x04 || key)[:4].  As a note signature line it is
 * "— <name> base64(key ID || T as 8 bytes big-endian || signature)".
 *
 * They are kept in '<dir>/cosignatures': "PPNCOSG1", a u8 count, then 'count' records of
 * COSIG_RECORD bytes (the wire form below), the newest per cosigner. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cosign.h"
#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"

void cosig_key_name(const char *origin, const uint8_t pk[32], char *buf, size_t size)
{
    snprintf(buf, size, "%s/cosigner/%02x%02x%02x%02x%02x%02x%02x%02x", origin, pk[0], pk[1], pk[2], pk[3],
             pk[4], pk[5], pk[6], pk[7]);
}

uint32_t cosig_key_id(const char *origin, const uint8_t pk[32])
{
    char name[PPN_LEDGER_TEXT_MAX + 32];
    cosig_key_name(origin, pk, name, sizeof(name));
    crypto_hash_sha256_state st;
    uint8_t h[32], t = 0x04;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_hash_sha256_update(&st, &t, 1);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* The signed message; its length. */
static size_t cosig_message(const char *origin, uint64_t size, const uint8_t root[32], uint64_t time,
                            char *buf, size_t bufsize)
{
    char rootb[64];
    sodium_bin2base64(rootb, sizeof(rootb), root, 32, sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(buf, bufsize, "cosignature/v1\ntime %llu\n%s\n%llu\n%s\n", (unsigned long long)time, origin,
                     (unsigned long long)size, rootb);
    return n < 0 || (size_t)n >= bufsize ? 0 : (size_t)n;
}

void cosig_sign(const char *origin, struct cosig *c, const uint8_t sk[64])
{
    char msg[PPN_LEDGER_TEXT_MAX + 160];
    size_t ml = cosig_message(origin, c->size, c->root, c->time, msg, sizeof(msg));
    memcpy(c->pk, sk + 32, 32);
    crypto_sign_detached(c->sig, NULL, (const uint8_t *)msg, ml, sk);
}

bool cosig_verify(const char *origin, const struct cosig *c)
{
    char msg[PPN_LEDGER_TEXT_MAX + 160];
    size_t ml = cosig_message(origin, c->size, c->root, c->time, msg, sizeof(msg));
    return ml && crypto_sign_verify_detached(c->sig, (const uint8_t *)msg, ml, c->pk) == 0;
}

void cosig_encode(const struct cosig *c, uint8_t out[COSIG_RECORD])
{
    memcpy(out, c->pk, 32);
    ppnc_put_be(out + 32, c->size, 8);
    memcpy(out + 40, c->root, 32);
    ppnc_put_be(out + 72, c->time, 8);
    memcpy(out + 80, c->sig, 64);
}

int cosig_decode(const uint8_t in[COSIG_RECORD], struct cosig *c)
{
    memcpy(c->pk, in, 32);
    c->size = ppnc_get_be(in + 32, 8);
    memcpy(c->root, in + 40, 32);
    c->time = ppnc_get_be(in + 72, 8);
    memcpy(c->sig, in + 80, 64);
    return c->size > (UINT64_C(1) << 62) ? -EBADMSG : 0;
}

/* ---- the kept set ---- */

static int cosig_path(const ppn_ledger *l, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/cosignatures", l->dir);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int cosig_load(const ppn_ledger *l, struct cosig *set, size_t *ret_n)
{
    char p[4096];
    uint8_t *data = NULL;
    size_t len = 0;
    *ret_n = 0;
    int r = cosig_path(l, p, sizeof(p));
    if (r < 0)
        return r;
    r = ppnc_read_file(p, 9 + (size_t)COSIG_KEEP * COSIG_RECORD, &data, &len);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r == -EFBIG ? -EUCLEAN : r;
    size_t n = len >= 9 ? data[8] : 0;
    if (len < 9 || memcmp(data, COSIG_FILE_MAGIC, 8) != 0 || n > COSIG_KEEP || len != 9 + n * COSIG_RECORD) {
        free(data);
        return -EUCLEAN;
    }
    for (size_t i = 0; i < n; i++)
        if (cosig_decode(data + 9 + i * COSIG_RECORD, &set[i]) < 0) {
            free(data);
            return -EUCLEAN;
        }
    free(data);
    *ret_n = n;
    return 0;
}

int cosig_store(const ppn_ledger *l, const struct cosig *set, size_t n)
{
    char p[4096];
    uint8_t buf[9 + (size_t)COSIG_KEEP * COSIG_RECORD];
    int r = cosig_path(l, p, sizeof(p));
    if (r < 0)
        return r;
    memcpy(buf, COSIG_FILE_MAGIC, 8);
    buf[8] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        cosig_encode(&set[i], buf + 9 + i * COSIG_RECORD);
    return ppnc_write_file_atomic(p, buf, 9 + n * COSIG_RECORD, 0600) < 0 ? -EIO : 0;
}

/* Adds c as its cosigner's newest (a larger size, or the same size later); the set keeps
 * COSIG_KEEP cosigners at most (the oldest cosignature makes room).  True if it changed. */
bool cosig_merge(struct cosig *set, size_t *n, const struct cosig *c)
{
    for (size_t i = 0; i < *n; i++)
        if (!memcmp(set[i].pk, c->pk, 32)) {
            if (c->size < set[i].size || (c->size == set[i].size && c->time <= set[i].time))
                return false;
            set[i] = *c;
            return true;
        }
    if (*n < COSIG_KEEP) {
        set[(*n)++] = *c;
        return true;
    }
    size_t old = 0;
    for (size_t i = 1; i < *n; i++)
        if (set[i].time < set[old].time)
            old = i;
    set[old] = *c;
    return true;
}

/* ---- public ---- */

PPN_EXPORT int ppn_ledger_cosign(ppn_ledger *l, const uint8_t sk[PPN_LEDGER_SECRET_KEY_BYTES], uint64_t time_s)
{
    if (!l || !sk)
        return -EINVAL;
    if (!l->writer)
        return -EBADF;
    if (l->poisoned)
        return -EIO;
    if (!l->has_cp)
        return -ENOENT;
    if (sodium_init() < 0)
        return -EIO;
    struct ppn_ledger_member m;
    if (ppn_ledger_member_find(l, sk + 32, &m) < 0)
        return -EPERM;
    struct cosig set[COSIG_KEEP], c;
    size_t n;
    int r = cosig_load(l, set, &n);
    if (r < 0)
        return r;
    memset(&c, 0, sizeof(c));
    c.size = l->cp.size;
    memcpy(c.root, l->cp.root, 32);
    c.time = time_s;
    cosig_sign(l->origin, &c, sk);
    for (size_t i = 0; i < n; i++)
        if (!memcmp(set[i].pk, c.pk, 32) && set[i].size == c.size && !memcmp(set[i].root, c.root, 32))
            return 0; /* this checkpoint is cosigned already */
    if (!cosig_merge(set, &n, &c))
        return 0;
    return cosig_store(l, set, n);
}

PPN_EXPORT int ppn_ledger_cosignatures(ppn_ledger *l, struct ppn_ledger_cosignature *out, size_t max,
                                       size_t *ret_count)
{
    if (!l || (!out && max) || !ret_count)
        return -EINVAL;
    struct cosig set[COSIG_KEEP];
    size_t n;
    int r = cosig_load(l, set, &n);
    if (r < 0)
        return r;
    *ret_count = n;
    for (size_t i = 0; i < n && i < max; i++) {
        memcpy(out[i].cosigner, set[i].pk, 32);
        out[i].size = set[i].size;
        memcpy(out[i].root, set[i].root, 32);
        out[i].time = set[i].time;
        out[i].key_id = cosig_key_id(l->origin, set[i].pk);
    }
    return n > max ? -ENOBUFS : 0;
}

PPN_EXPORT int ppn_ledger_cosignature_note(ppn_ledger *l, size_t i, char *buf, size_t size, size_t *ret_len)
{
    if (!l || !buf || !ret_len)
        return -EINVAL;
    struct cosig set[COSIG_KEEP];
    size_t n;
    int r = cosig_load(l, set, &n);
    if (r < 0)
        return r;
    if (i >= n)
        return -ENOENT;
    uint8_t raw[76];
    uint32_t id = cosig_key_id(l->origin, set[i].pk);
    ppnc_put_be(raw, id, 4);
    ppnc_put_be(raw + 4, set[i].time, 8);
    memcpy(raw + 12, set[i].sig, 64);
    char b64[128], name[PPN_LEDGER_TEXT_MAX + 32], rootb[64];
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(rootb, sizeof(rootb), set[i].root, 32, sodium_base64_VARIANT_ORIGINAL);
    cosig_key_name(l->origin, set[i].pk, name, sizeof(name));
    int k = snprintf(buf, size, "%s\n%llu\n%s\n\n\xe2\x80\x94 %s %s\n", l->origin, (unsigned long long)set[i].size,
                     rootb, name, b64);
    if (k < 0)
        return -EINVAL;
    if ((size_t)k >= size)
        return -ENOBUFS;
    *ret_len = (size_t)k;
    return 0;
}
