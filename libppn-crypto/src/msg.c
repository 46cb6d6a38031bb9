/* Pairing messages and node records: their canonical CBOR forms, through the libraries'
 * one codec (common/cbor.c, doc/CBOR.md). */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "msg.h"
#include "ppn-cbor.h"

/* Encoding with the libraries' one canonical CBOR codec (common/cbor.c) into a stack
 * buffer: definite lengths, shortest integer forms, keys in ascending order. */
typedef struct writer {
    uint8_t buf[MSG_FRAME_HDR + MSG_MAX];
    struct ppnc_cbor_w c;
} writer;

static void w_init(writer *w)
{
    w->c = PPNC_CBOR_W(w->buf, sizeof(w->buf));
    w->c.len = MSG_FRAME_HDR;
}

static void w_map(writer *w, size_t pairs) { ppnc_cbor_put_map(&w->c, pairs); }

static void w_uint(writer *w, uint64_t key, uint64_t v)
{
    ppnc_cbor_put_uint(&w->c, key);
    ppnc_cbor_put_uint(&w->c, v);
}

static void w_bytes(writer *w, uint64_t key, const void *data, size_t n, int text)
{
    ppnc_cbor_put_uint(&w->c, key);
    if (text)
        ppnc_cbor_put_text(&w->c, data, n);
    else
        ppnc_cbor_put_bytes(&w->c, data, n);
}

static int w_finish(writer *w, cbuf *out, int framed)
{
    int r = 0;
    size_t len = w->c.len;
    if (!ppnc_cbor_w_ok(&w->c) || len - MSG_FRAME_HDR > MSG_MAX) {
        r = -EINVAL;
    } else {
        size_t n = len - MSG_FRAME_HDR;
        w->buf[0] = (uint8_t)(n >> 8);
        w->buf[1] = (uint8_t)n;
        cbuf_append(out, framed ? w->buf : w->buf + MSG_FRAME_HDR, framed ? len : n);
        if (out->failed)
            r = -ENOMEM;
    }
    sodium_memzero(w->buf, len < sizeof(w->buf) ? len : sizeof(w->buf));
    return r;
}

int msg_encode(const msg *m, cbuf *out)
{
    writer w;
    w_init(&w);
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

/* Decoding with the same codec: our messages are flat maps of unsigned keys, in
 * ascending order, to unsigned integers, byte strings and text strings, every head in
 * its shortest form; anything else (nesting, tags, floats, simple values, negative
 * integers, indefinite lengths, keys out of order) is malformed here. */
typedef int (*field_fn)(uint64_t key, struct ppnc_cbor_r *value, void *ctx);

/* Walk one flat map with keys min_key..max_key that fills 'data' exactly; 'field' reads
 * the value of every pair. */
static int walk_map(const uint8_t *data, size_t len, uint64_t min_key, uint64_t max_key,
                    field_fn field, void *ctx)
{
    struct ppnc_cbor_r r = PPNC_CBOR_R(data, len);
    uint64_t pairs, last = UINT64_MAX, key;
    if (ppnc_cbor_get_map(&r, max_key - min_key + 1, &pairs) < 0)
        return -EBADMSG;
    for (uint64_t i = 0; i < pairs; i++) {
        if (ppnc_cbor_get_key(&r, min_key, max_key, &last, &key) < 0)
            return -EBADMSG;
        int e = field(key, &r, ctx);
        if (e < 0)
            return e;
    }
    return ppnc_cbor_r_done(&r) ? 0 : -EBADMSG;
}

static int get_bytes(struct ppnc_cbor_r *v, uint8_t *dst, size_t min, size_t max, size_t *ret_len)
{
    return ppnc_cbor_get_bytes_copy(v, dst, min, max, ret_len);
}

static int get_uint(struct ppnc_cbor_r *v, uint64_t *ret)
{
    return ppnc_cbor_get_uint(v, UINT64_MAX, ret);
}

typedef struct msg_ctx {
    msg m;
    unsigned seen;
} msg_ctx;

static int msg_field(uint64_t key, struct ppnc_cbor_r *v, void *ctx)
{
    msg_ctx *c = ctx;
    if (key > KEY_REASON || (c->seen & (1u << key)))
        return -EBADMSG;
    c->seen |= 1u << key;
    switch (key) {
    case KEY_VERSION: return get_uint(v, &c->m.version);
    case KEY_TYPE: return get_uint(v, &c->m.type);
    case KEY_SID: return get_bytes(v, c->m.sid, MSG_SID_BYTES, MSG_SID_BYTES, NULL);
    case KEY_COMMIT: return get_bytes(v, c->m.commit, MSG_COMMIT_BYTES, MSG_COMMIT_BYTES, NULL);
    case KEY_Y: return get_bytes(v, c->m.y, 32, 32, NULL);
    case KEY_AD: return get_bytes(v, c->m.ad, 0, MSG_AD_MAX, &c->m.ad_len);
    case KEY_MAC: return get_bytes(v, c->m.mac, MSG_MAC_BYTES, MSG_MAC_BYTES, NULL);
    case KEY_CT: return get_bytes(v, c->m.ct, 16, MSG_CT_MAX, &c->m.ct_len);
    default: return get_uint(v, &c->m.reason);
    }
}

int msg_decode(const uint8_t *data, size_t len, msg *ret)
{
    msg_ctx c;
    memset(&c, 0, sizeof(c));
    int r = walk_map(data, len, KEY_VERSION, KEY_REASON, msg_field, &c);
    if (r < 0)
        return r;
    const msg m = c.m;
    const unsigned seen = c.seen;

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
    w_init(&w);
    w_map(&w, 5);
    w_bytes(&w, REC_IDENTITY, rec->identity_public, 32, 0);
    w_bytes(&w, REC_WG, rec->wg_public, 32, 0);
    w_bytes(&w, REC_ENDPOINT, rec->endpoint, strnlen(rec->endpoint, sizeof(rec->endpoint)), 1);
    w_bytes(&w, REC_HOSTNAME, rec->hostname, strnlen(rec->hostname, sizeof(rec->hostname)), 1);
    w_bytes(&w, REC_ADDRESS, rec->address, strnlen(rec->address, sizeof(rec->address)), 1);
    return w_finish(&w, out, 0);
}

/* Text: UTF-8 without NUL (the codec checks), copied with a NUL. */
static int get_string(struct ppnc_cbor_r *v, char *dst, size_t max)
{
    return ppnc_cbor_get_text(v, dst, max, NULL);
}

typedef struct rec_ctx {
    ppn_crypto_node_record rec;
    unsigned seen;
} rec_ctx;

static int rec_field(uint64_t key, struct ppnc_cbor_r *v, void *ctx)
{
    rec_ctx *c = ctx;
    if (key < REC_IDENTITY || key > REC_ADDRESS || (c->seen & (1u << key)))
        return -EBADMSG;
    c->seen |= 1u << key;
    switch (key) {
    case REC_IDENTITY: return get_bytes(v, c->rec.identity_public, 32, 32, NULL);
    case REC_WG: return get_bytes(v, c->rec.wg_public, 32, 32, NULL);
    case REC_ENDPOINT: return get_string(v, c->rec.endpoint, PPN_CRYPTO_ENDPOINT_MAX);
    case REC_HOSTNAME: return get_string(v, c->rec.hostname, PPN_CRYPTO_HOSTNAME_MAX);
    default: return get_string(v, c->rec.address, PPN_CRYPTO_ADDRESS_MAX);
    }
}

int record_decode(const uint8_t *data, size_t len, ppn_crypto_node_record *ret)
{
    rec_ctx c;
    memset(&c, 0, sizeof(c));
    int r = walk_map(data, len, REC_IDENTITY, REC_ADDRESS, rec_field, &c);
    if (r == 0 && c.seen != 0x3e)
        r = -EBADMSG;
    if (r == 0 && ppn_crypto_node_record_validate(&c.rec) < 0)
        r = -EBADMSG;
    if (r == 0)
        *ret = c.rec;
    sodium_memzero(&c, sizeof(c));
    return r;
}
