#include <errno.h>
#include <string.h>

#include <cbor.h>
#include <sodium.h>

#include "msg.h"

/* Encoding with libcbor's allocation-free encoders into a stack buffer:
 * definite lengths, shortest integer forms (canonical CBOR). */
typedef struct writer {
    uint8_t buf[MSG_FRAME_HDR + MSG_MAX];
    size_t len;
    int failed;
} writer;

static void w_put(writer *w, size_t n)
{
    if (n == 0)
        w->failed = 1;
    w->len += n;
}

static void w_map(writer *w, size_t pairs)
{
    if (!w->failed)
        w_put(w, cbor_encode_map_start(pairs, w->buf + w->len, sizeof(w->buf) - w->len));
}

static void w_uint(writer *w, uint64_t key, uint64_t v)
{
    if (!w->failed)
        w_put(w, cbor_encode_uint(key, w->buf + w->len, sizeof(w->buf) - w->len));
    if (!w->failed)
        w_put(w, cbor_encode_uint(v, w->buf + w->len, sizeof(w->buf) - w->len));
}

static void w_bytes(writer *w, uint64_t key, const void *data, size_t n, int text)
{
    if (!w->failed)
        w_put(w, cbor_encode_uint(key, w->buf + w->len, sizeof(w->buf) - w->len));
    if (!w->failed)
        w_put(w, (text ? cbor_encode_string_start : cbor_encode_bytestring_start)(
                     n, w->buf + w->len, sizeof(w->buf) - w->len));
    if (w->failed || n > sizeof(w->buf) - w->len) {
        w->failed = 1;
        return;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
}

static int w_finish(writer *w, cbuf *out, int framed)
{
    int r = 0;
    if (w->failed || w->len - MSG_FRAME_HDR > MSG_MAX) {
        r = -EINVAL;
    } else {
        size_t n = w->len - MSG_FRAME_HDR;
        w->buf[0] = (uint8_t)(n >> 8);
        w->buf[1] = (uint8_t)n;
        cbuf_append(out, framed ? w->buf : w->buf + MSG_FRAME_HDR, framed ? w->len : n);
        if (out->failed)
            r = -ENOMEM;
    }
    sodium_memzero(w->buf, w->len < sizeof(w->buf) ? w->len : sizeof(w->buf));
    return r;
}

int msg_encode(const msg *m, cbuf *out)
{
    writer w;
    w.len = MSG_FRAME_HDR;
    w.failed = 0;
    size_t extra;
    switch (m->type) {
    case PM_COMMIT: extra = 2; break;
    case PM_SHARE: extra = 2; break;
    case PM_REVEAL: extra = 3; break;
    case PM_CONFIRM:
    case PM_RECORD:
    case PM_ACCEPT:
    case PM_ABORT: extra = 1; break;
    default: return -EINVAL;
    }
    w_map(&w, 2 + extra);
    w_uint(&w, KEY_VERSION, m->version);
    w_uint(&w, KEY_TYPE, m->type);
    switch (m->type) {
    case PM_COMMIT:
        w_bytes(&w, KEY_SID, m->sid, MSG_SID_BYTES, 0);
        w_bytes(&w, KEY_COMMIT, m->commit, MSG_COMMIT_BYTES, 0);
        break;
    case PM_SHARE:
    case PM_REVEAL:
        w_bytes(&w, KEY_Y, m->y, 32, 0);
        w_bytes(&w, KEY_AD, m->ad, m->ad_len, 0);
        if (m->type == PM_REVEAL)
            w_bytes(&w, KEY_MAC, m->mac, MSG_MAC_BYTES, 0);
        break;
    case PM_CONFIRM:
        w_bytes(&w, KEY_MAC, m->mac, MSG_MAC_BYTES, 0);
        break;
    case PM_RECORD:
    case PM_ACCEPT:
        w_bytes(&w, KEY_CT, m->ct, m->ct_len, 0);
        break;
    case PM_ABORT:
        w_uint(&w, KEY_REASON, m->reason);
        break;
    }
    return w_finish(&w, out, 1);
}

static int get_bytes(const cbor_item_t *v, uint8_t *dst, size_t min, size_t max, size_t *ret_len)
{
    if (!cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v))
        return -EBADMSG;
    size_t n = cbor_bytestring_length(v);
    if (n < min || n > max)
        return -EBADMSG;
    if (n)
        memcpy(dst, cbor_bytestring_handle(v), n);
    if (ret_len)
        *ret_len = n;
    return 0;
}

static int get_uint(const cbor_item_t *v, uint64_t *ret)
{
    if (!cbor_isa_uint(v))
        return -EBADMSG;
    *ret = cbor_get_int(v);
    return 0;
}

/* Walk one CBOR item at *p without allocating: every declared length must
 * fit in the bytes that remain, nesting is bounded and indefinite lengths
 * are refused.  libcbor's cbor_load() allocates what a header declares
 * before reading the content, so untrusted bytes pass this check first. */
static int prescan(const uint8_t **p, const uint8_t *end, unsigned depth)
{
    if (depth > 8 || *p >= end)
        return -EBADMSG;
    uint8_t ib = *(*p)++;
    unsigned major = ib >> 5, ai = ib & 31;
    uint64_t val = ai;
    if (ai >= 24) {
        size_t n;
        switch (ai) {
        case 24: n = 1; break;
        case 25: n = 2; break;
        case 26: n = 4; break;
        case 27: n = 8; break;
        default: return -EBADMSG; /* reserved or indefinite */
        }
        if ((size_t)(end - *p) < n)
            return -EBADMSG;
        val = 0;
        for (size_t i = 0; i < n; i++)
            val = (val << 8) | *(*p)++;
    }
    size_t left = (size_t)(end - *p);
    switch (major) {
    case 0:
    case 1:
        return 0;
    case 2:
    case 3:
        if (val > left)
            return -EBADMSG;
        *p += val;
        return 0;
    case 4:
    case 5: {
        uint64_t items = major == 5 ? val * 2 : val;
        if (val > left || items > left)
            return -EBADMSG;
        for (uint64_t i = 0; i < items; i++) {
            int r = prescan(p, end, depth + 1);
            if (r < 0)
                return r;
        }
        return 0;
    }
    case 6:
        return prescan(p, end, depth + 1);
    default: /* 7: simple values and floats, their bytes already read */
        return 0;
    }
}

/* Load exactly one definite map from 'data'. */
static int load_map(const uint8_t *data, size_t len, cbor_item_t **ret)
{
    const uint8_t *p = data;
    if (prescan(&p, data + len, 0) < 0 || p != data + len)
        return -EBADMSG;
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(data, len, &res);
    if (!item)
        return res.error.code == CBOR_ERR_MEMERROR ? -ENOMEM : -EBADMSG;
    if (res.read != len || !cbor_isa_map(item) || !cbor_map_is_definite(item)) {
        cbor_decref(&item);
        return -EBADMSG;
    }
    *ret = item;
    return 0;
}

int msg_decode(const uint8_t *data, size_t len, msg *ret)
{
    cbor_item_t *map;
    int r = load_map(data, len, &map);
    if (r < 0)
        return r;

    msg m;
    memset(&m, 0, sizeof(m));
    unsigned seen = 0;
    size_t n = cbor_map_size(map);
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < n && r == 0; i++) {
        uint64_t key;
        if (get_uint(pairs[i].key, &key) < 0 || key > KEY_REASON || (seen & (1u << key))) {
            r = -EBADMSG;
            break;
        }
        seen |= 1u << key;
        const cbor_item_t *v = pairs[i].value;
        switch (key) {
        case KEY_VERSION: r = get_uint(v, &m.version); break;
        case KEY_TYPE: r = get_uint(v, &m.type); break;
        case KEY_SID: r = get_bytes(v, m.sid, MSG_SID_BYTES, MSG_SID_BYTES, NULL); break;
        case KEY_COMMIT: r = get_bytes(v, m.commit, MSG_COMMIT_BYTES, MSG_COMMIT_BYTES, NULL); break;
        case KEY_Y: r = get_bytes(v, m.y, 32, 32, NULL); break;
        case KEY_AD: r = get_bytes(v, m.ad, 0, MSG_AD_MAX, &m.ad_len); break;
        case KEY_MAC: r = get_bytes(v, m.mac, MSG_MAC_BYTES, MSG_MAC_BYTES, NULL); break;
        case KEY_CT: r = get_bytes(v, m.ct, 16, MSG_CT_MAX, &m.ct_len); break;
        case KEY_REASON: r = get_uint(v, &m.reason); break;
        }
    }
    cbor_decref(&map);
    if (r < 0)
        return r;

    const unsigned base = (1u << KEY_VERSION) | (1u << KEY_TYPE);
    if ((seen & base) != base)
        return -EBADMSG;
    if (m.version != PPN_CRYPTO_PROTOCOL_VERSION)
        return -EPROTO;
    unsigned want;
    switch (m.type) {
    case PM_COMMIT: want = (1u << KEY_SID) | (1u << KEY_COMMIT); break;
    case PM_SHARE: want = (1u << KEY_Y) | (1u << KEY_AD); break;
    case PM_REVEAL: want = (1u << KEY_Y) | (1u << KEY_AD) | (1u << KEY_MAC); break;
    case PM_CONFIRM: want = 1u << KEY_MAC; break;
    case PM_RECORD:
    case PM_ACCEPT: want = 1u << KEY_CT; break;
    case PM_ABORT: want = 1u << KEY_REASON; break;
    default: return -EPROTO;
    }
    if (seen != (base | want))
        return -EBADMSG;
    *ret = m;
    return 0;
}

enum { REC_IDENTITY = 1, REC_WG = 2, REC_ENDPOINT = 3, REC_HOSTNAME = 4, REC_ADDRESS = 5 };

int record_encode(const ppn_crypto_node_record *rec, cbuf *out)
{
    writer w;
    w.len = MSG_FRAME_HDR;
    w.failed = 0;
    w_map(&w, 5);
    w_bytes(&w, REC_IDENTITY, rec->identity_public, 32, 0);
    w_bytes(&w, REC_WG, rec->wg_public, 32, 0);
    w_bytes(&w, REC_ENDPOINT, rec->endpoint, strnlen(rec->endpoint, sizeof(rec->endpoint)), 1);
    w_bytes(&w, REC_HOSTNAME, rec->hostname, strnlen(rec->hostname, sizeof(rec->hostname)), 1);
    w_bytes(&w, REC_ADDRESS, rec->address, strnlen(rec->address, sizeof(rec->address)), 1);
    return w_finish(&w, out, 0);
}

static int get_string(const cbor_item_t *v, char *dst, size_t max)
{
    if (!cbor_isa_string(v) || !cbor_string_is_definite(v))
        return -EBADMSG;
    size_t n = cbor_string_length(v);
    if (n > max)
        return -EBADMSG;
    if (n)
        memcpy(dst, cbor_string_handle(v), n);
    if (memchr(dst, '\0', n))
        return -EBADMSG;
    dst[n] = '\0';
    return 0;
}

int record_decode(const uint8_t *data, size_t len, ppn_crypto_node_record *ret)
{
    cbor_item_t *map;
    int r = load_map(data, len, &map);
    if (r < 0)
        return r;
    ppn_crypto_node_record rec;
    memset(&rec, 0, sizeof(rec));
    unsigned seen = 0;
    size_t n = cbor_map_size(map);
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < n && r == 0; i++) {
        uint64_t key;
        if (get_uint(pairs[i].key, &key) < 0 || key < REC_IDENTITY || key > REC_ADDRESS ||
            (seen & (1u << key))) {
            r = -EBADMSG;
            break;
        }
        seen |= 1u << key;
        const cbor_item_t *v = pairs[i].value;
        switch (key) {
        case REC_IDENTITY: r = get_bytes(v, rec.identity_public, 32, 32, NULL); break;
        case REC_WG: r = get_bytes(v, rec.wg_public, 32, 32, NULL); break;
        case REC_ENDPOINT: r = get_string(v, rec.endpoint, PPN_CRYPTO_ENDPOINT_MAX); break;
        case REC_HOSTNAME: r = get_string(v, rec.hostname, PPN_CRYPTO_HOSTNAME_MAX); break;
        case REC_ADDRESS: r = get_string(v, rec.address, PPN_CRYPTO_ADDRESS_MAX); break;
        }
    }
    cbor_decref(&map);
    if (r == 0 && seen != 0x3e)
        r = -EBADMSG;
    if (r == 0 && ppn_crypto_node_record_validate(&rec) < 0)
        r = -EBADMSG;
    if (r == 0)
        *ret = rec;
    return r;
}
