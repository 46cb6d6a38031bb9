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

/* Decoding with libcbor's streaming decoder: one item head per call, no
 * allocation, declared lengths checked against the bytes present.  Our
 * messages are flat maps of unsigned keys to unsigned integers, byte strings
 * and text strings; anything else (nesting, tags, floats, simple values,
 * negative integers, indefinite lengths) is malformed here. */
enum item_kind { IT_NONE, IT_UINT, IT_BYTES, IT_TEXT, IT_MAP, IT_OTHER };

typedef struct item {
    enum item_kind kind;
    uint64_t u;
    const uint8_t *p;
    size_t n;
} item;

static void cb_u8(void *c, uint8_t v) { ((item *)c)->kind = IT_UINT, ((item *)c)->u = v; }
static void cb_u16(void *c, uint16_t v) { ((item *)c)->kind = IT_UINT, ((item *)c)->u = v; }
static void cb_u32(void *c, uint32_t v) { ((item *)c)->kind = IT_UINT, ((item *)c)->u = v; }
static void cb_u64(void *c, uint64_t v) { ((item *)c)->kind = IT_UINT, ((item *)c)->u = v; }
static void cb_bytes(void *c, cbor_data d, size_t n)
{
    item *it = c;
    it->kind = IT_BYTES, it->p = d, it->n = n;
}
static void cb_text(void *c, cbor_data d, size_t n)
{
    item *it = c;
    it->kind = IT_TEXT, it->p = d, it->n = n;
}
static void cb_map(void *c, size_t n) { ((item *)c)->kind = IT_MAP, ((item *)c)->n = n; }
static void cb_o8(void *c, uint8_t v) { (void)v, ((item *)c)->kind = IT_OTHER; }
static void cb_o16(void *c, uint16_t v) { (void)v, ((item *)c)->kind = IT_OTHER; }
static void cb_o32(void *c, uint32_t v) { (void)v, ((item *)c)->kind = IT_OTHER; }
static void cb_o64(void *c, uint64_t v) { (void)v, ((item *)c)->kind = IT_OTHER; }
static void cb_o(void *c) { ((item *)c)->kind = IT_OTHER; }
static void cb_on(void *c, size_t n) { (void)n, ((item *)c)->kind = IT_OTHER; }
static void cb_of(void *c, float v) { (void)v, ((item *)c)->kind = IT_OTHER; }
static void cb_od(void *c, double v) { (void)v, ((item *)c)->kind = IT_OTHER; }
static void cb_ob(void *c, bool v) { (void)v, ((item *)c)->kind = IT_OTHER; }

static const struct cbor_callbacks callbacks = {
    .uint8 = cb_u8, .uint16 = cb_u16, .uint32 = cb_u32, .uint64 = cb_u64,
    .negint8 = cb_o8, .negint16 = cb_o16, .negint32 = cb_o32, .negint64 = cb_o64,
    .byte_string_start = cb_o, .byte_string = cb_bytes,
    .string_start = cb_o, .string = cb_text,
    .indef_array_start = cb_o, .array_start = cb_on,
    .indef_map_start = cb_o, .map_start = cb_map,
    .tag = cb_o64, .float2 = cb_of, .float4 = cb_of, .float8 = cb_od,
    .undefined = cb_o, .null = cb_o, .boolean = cb_ob, .indef_break = cb_o,
};

static int next_item(const uint8_t **p, const uint8_t *end, item *it)
{
    it->kind = IT_NONE;
    if (*p >= end)
        return -EBADMSG;
    struct cbor_decoder_result r = cbor_stream_decode(*p, (size_t)(end - *p), &callbacks, it);
    if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || r.read > (size_t)(end - *p) ||
        it->kind == IT_NONE || it->kind == IT_OTHER)
        return -EBADMSG;
    *p += r.read;
    return 0;
}

typedef int (*field_fn)(uint64_t key, const item *value, void *ctx);

/* Walk one flat map that fills 'data' exactly; 'field' sees every pair. */
static int walk_map(const uint8_t *data, size_t len, field_fn field, void *ctx)
{
    const uint8_t *p = data, *end = data + len;
    item it;
    if (next_item(&p, end, &it) < 0 || it.kind != IT_MAP)
        return -EBADMSG;
    size_t pairs = it.n;
    if (pairs > len)
        return -EBADMSG;
    for (size_t i = 0; i < pairs; i++) {
        item key, value;
        if (next_item(&p, end, &key) < 0 || key.kind != IT_UINT ||
            next_item(&p, end, &value) < 0 || value.kind == IT_MAP)
            return -EBADMSG;
        int r = field(key.u, &value, ctx);
        if (r < 0)
            return r;
    }
    return p == end ? 0 : -EBADMSG;
}

static int get_bytes(const item *v, uint8_t *dst, size_t min, size_t max, size_t *ret_len)
{
    if (v->kind != IT_BYTES || v->n < min || v->n > max)
        return -EBADMSG;
    if (v->n)
        memcpy(dst, v->p, v->n);
    if (ret_len)
        *ret_len = v->n;
    return 0;
}

static int get_uint(const item *v, uint64_t *ret)
{
    if (v->kind != IT_UINT)
        return -EBADMSG;
    *ret = v->u;
    return 0;
}

typedef struct msg_ctx {
    msg m;
    unsigned seen;
} msg_ctx;

static int msg_field(uint64_t key, const item *v, void *ctx)
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
    int r = walk_map(data, len, msg_field, &c);
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

static int get_string(const item *v, char *dst, size_t max)
{
    if (v->kind != IT_TEXT || v->n > max)
        return -EBADMSG;
    if (v->n)
        memcpy(dst, v->p, v->n);
    if (memchr(dst, '\0', v->n))
        return -EBADMSG;
    dst[v->n] = '\0';
    return 0;
}

typedef struct rec_ctx {
    ppn_crypto_node_record rec;
    unsigned seen;
} rec_ctx;

static int rec_field(uint64_t key, const item *v, void *ctx)
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
    int r = walk_map(data, len, rec_field, &c);
    if (r == 0 && c.seen != 0x3e)
        r = -EBADMSG;
    if (r == 0 && ppn_crypto_node_record_validate(&c.rec) < 0)
        r = -EBADMSG;
    if (r == 0)
        *ret = c.rec;
    sodium_memzero(&c, sizeof(c));
    return r;
}
