/* Strict canonical CBOR for the subset the libraries use (see ppn-cbor.h, doc/CBOR.md). */
#include <errno.h>
#include <string.h>

#include "ppn-cbor.h"

void ppnc_cbor_put_raw(struct ppnc_cbor_w *w, const void *d, size_t n)
{
    if (n && w->len <= w->size && n <= w->size - w->len)
        memcpy(w->p + w->len, d, n);
    w->len += n; /* once past the end, nothing more is written */
}

void ppnc_cbor_put_head(struct ppnc_cbor_w *w, unsigned major, uint64_t v)
{
    uint8_t b[9];
    size_t n;
    uint8_t m = (uint8_t)(major << 5);
    if (v < 24) {
        b[0] = (uint8_t)(m | v);
        n = 1;
    } else {
        unsigned bytes = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffffu ? 4 : 8;
        b[0] = (uint8_t)(m | (bytes == 1 ? 24 : bytes == 2 ? 25 : bytes == 4 ? 26 : 27));
        for (unsigned i = 0; i < bytes; i++)
            b[1 + i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
        n = 1 + bytes;
    }
    ppnc_cbor_put_raw(w, b, n);
}

void ppnc_cbor_put_uint(struct ppnc_cbor_w *w, uint64_t v) { ppnc_cbor_put_head(w, PPNC_CBOR_UINT, v); }
void ppnc_cbor_put_array(struct ppnc_cbor_w *w, uint64_t n) { ppnc_cbor_put_head(w, PPNC_CBOR_ARRAY, n); }
void ppnc_cbor_put_map(struct ppnc_cbor_w *w, uint64_t n) { ppnc_cbor_put_head(w, PPNC_CBOR_MAP, n); }

void ppnc_cbor_put_bytes(struct ppnc_cbor_w *w, const void *d, size_t n)
{
    ppnc_cbor_put_head(w, PPNC_CBOR_BYTES, n);
    ppnc_cbor_put_raw(w, d, n);
}

void ppnc_cbor_put_text(struct ppnc_cbor_w *w, const char *s, size_t n)
{
    ppnc_cbor_put_head(w, PPNC_CBOR_TEXT, n);
    ppnc_cbor_put_raw(w, s, n);
}

/* ---- decoder ---- */
int ppnc_cbor_get_head(struct ppnc_cbor_r *r, unsigned *ret_major, uint64_t *ret_arg)
{
    size_t pos = r->pos;
    if (pos >= r->len)
        return -EBADMSG;
    uint8_t b = r->p[pos++];
    unsigned major = b >> 5, ai = b & 31;
    if (major == 1 || major > PPNC_CBOR_MAP)
        return -EBADMSG; /* negative integers, tags, simple values and floats: not used */
    uint64_t v = ai;
    if (ai >= 24) {
        if (ai > 27)
            return -EBADMSG; /* reserved, or an indefinite length: never canonical */
        size_t n = (size_t)1 << (ai - 24);
        if (r->len - pos < n)
            return -EBADMSG;
        v = 0;
        for (size_t i = 0; i < n; i++)
            v = v << 8 | r->p[pos++];
        static const uint64_t shortest[] = {24, 0x100, 0x10000, 0x100000000ull};
        if (v < shortest[ai - 24])
            return -EBADMSG; /* fits a shorter head */
    }
    size_t left = r->len - pos;
    if ((major == PPNC_CBOR_BYTES || major == PPNC_CBOR_TEXT || major == PPNC_CBOR_ARRAY) && v > left)
        return -EBADMSG;
    if (major == PPNC_CBOR_MAP && v > left / 2)
        return -EBADMSG;
    r->pos = pos;
    *ret_major = major;
    *ret_arg = v;
    return 0;
}

static int get_typed(struct ppnc_cbor_r *r, unsigned want, uint64_t max, uint64_t *ret)
{
    struct ppnc_cbor_r t = *r;
    unsigned m;
    uint64_t v;
    if (ppnc_cbor_get_head(&t, &m, &v) < 0 || m != want || v > max)
        return -EBADMSG;
    *r = t;
    *ret = v;
    return 0;
}

int ppnc_cbor_get_uint(struct ppnc_cbor_r *r, uint64_t max, uint64_t *ret)
{
    return get_typed(r, PPNC_CBOR_UINT, max, ret);
}

int ppnc_cbor_get_array(struct ppnc_cbor_r *r, uint64_t max, uint64_t *ret)
{
    return get_typed(r, PPNC_CBOR_ARRAY, max, ret);
}

int ppnc_cbor_get_map(struct ppnc_cbor_r *r, uint64_t max, uint64_t *ret)
{
    return get_typed(r, PPNC_CBOR_MAP, max, ret);
}

int ppnc_cbor_get_bytes(struct ppnc_cbor_r *r, size_t min, size_t max, const uint8_t **ret,
                        size_t *ret_len)
{
    struct ppnc_cbor_r t = *r;
    uint64_t n;
    if (get_typed(&t, PPNC_CBOR_BYTES, max, &n) < 0 || n < min)
        return -EBADMSG;
    *ret = t.p + t.pos;
    *ret_len = (size_t)n;
    t.pos += (size_t)n;
    *r = t;
    return 0;
}

int ppnc_cbor_get_bytes_copy(struct ppnc_cbor_r *r, void *out, size_t min, size_t max,
                             size_t *ret_len)
{
    const uint8_t *p;
    size_t l;
    if (ppnc_cbor_get_bytes(r, min, max, &p, &l) < 0)
        return -EBADMSG;
    if (l)
        memcpy(out, p, l);
    if (ret_len)
        *ret_len = l;
    return 0;
}

int ppnc_cbor_get_bytes_n(struct ppnc_cbor_r *r, void *out, size_t n)
{
    return ppnc_cbor_get_bytes_copy(r, out, n, n, NULL);
}

int ppnc_cbor_get_text(struct ppnc_cbor_r *r, char *out, size_t max, size_t *ret_len)
{
    struct ppnc_cbor_r t = *r;
    uint64_t n;
    if (get_typed(&t, PPNC_CBOR_TEXT, max, &n) < 0 ||
        !ppnc_utf8_valid((const char *)t.p + t.pos, (size_t)n))
        return -EBADMSG;
    if (n)
        memcpy(out, t.p + t.pos, (size_t)n);
    out[n] = 0;
    t.pos += (size_t)n;
    *r = t;
    if (ret_len)
        *ret_len = (size_t)n;
    return 0;
}

int ppnc_cbor_get_key(struct ppnc_cbor_r *r, uint64_t min, uint64_t max, uint64_t *last,
                      uint64_t *ret_key)
{
    struct ppnc_cbor_r t = *r;
    uint64_t k;
    if (max == UINT64_MAX)
        max = UINT64_MAX - 1; /* UINT64_MAX is *last's "none yet" */
    if (get_typed(&t, PPNC_CBOR_UINT, max, &k) < 0 || k < min ||
        (*last != UINT64_MAX && k <= *last))
        return -EBADMSG;
    *r = t;
    *last = k;
    *ret_key = k;
    return 0;
}

bool ppnc_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        unsigned c = p[i];
        size_t n;
        uint32_t cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}
