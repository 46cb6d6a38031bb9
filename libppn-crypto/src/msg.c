#include <errno.h>
#include <string.h>

#include <cbor.h>
#include <sodium.h>

#include "msg.h"

static int map_add(cbor_item_t *map, uint8_t key, cbor_item_t *value)
{
    if (!value)
        return -ENOMEM;
    cbor_item_t *k = cbor_build_uint8(key);
    if (!k) {
        cbor_decref(&value);
        return -ENOMEM;
    }
    bool ok = cbor_map_add(map, (struct cbor_pair){.key = k, .value = value});
    cbor_decref(&k);
    cbor_decref(&value);
    return ok ? 0 : -ENOMEM;
}

/* The shortest encoding, so that messages are canonical CBOR. */
static cbor_item_t *build_uint(uint64_t v)
{
    if (v <= UINT8_MAX)
        return cbor_build_uint8((uint8_t)v);
    if (v <= UINT16_MAX)
        return cbor_build_uint16((uint16_t)v);
    if (v <= UINT32_MAX)
        return cbor_build_uint32((uint32_t)v);
    return cbor_build_uint64(v);
}

/* Serialize 'item' appended to 'out' with an optional frame header. */
static int serialize(cbor_item_t *item, cbuf *out, int framed)
{
    unsigned char *buf = NULL;
    size_t size = 0;
    size_t n = cbor_serialize_alloc(item, &buf, &size);
    if (n == 0) {
        free(buf);
        return -ENOMEM;
    }
    int r = 0;
    if (framed) {
        if (n > MSG_MAX) {
            r = -EINVAL;
        } else {
            uint8_t hdr[2] = {(uint8_t)(n >> 8), (uint8_t)n};
            cbuf_append(out, hdr, 2);
        }
    }
    if (r == 0) {
        cbuf_append(out, buf, n);
        if (out->failed)
            r = -ENOMEM;
    }
    sodium_memzero(buf, size);
    free(buf);
    return r;
}

int msg_encode(const msg *m, cbuf *out)
{
    cbor_item_t *map = cbor_new_definite_map(5);
    if (!map)
        return -ENOMEM;
    int r = map_add(map, KEY_VERSION, build_uint(m->version));
    if (r == 0)
        r = map_add(map, KEY_TYPE, build_uint(m->type));
    switch (m->type) {
    case PM_COMMIT:
        if (r == 0)
            r = map_add(map, KEY_SID, cbor_build_bytestring(m->sid, MSG_SID_BYTES));
        if (r == 0)
            r = map_add(map, KEY_COMMIT, cbor_build_bytestring(m->commit, MSG_COMMIT_BYTES));
        break;
    case PM_SHARE:
    case PM_REVEAL:
        if (r == 0)
            r = map_add(map, KEY_Y, cbor_build_bytestring(m->y, 32));
        if (r == 0)
            r = map_add(map, KEY_AD, cbor_build_bytestring(m->ad, m->ad_len));
        if (r == 0 && m->type == PM_REVEAL)
            r = map_add(map, KEY_MAC, cbor_build_bytestring(m->mac, MSG_MAC_BYTES));
        break;
    case PM_CONFIRM:
        if (r == 0)
            r = map_add(map, KEY_MAC, cbor_build_bytestring(m->mac, MSG_MAC_BYTES));
        break;
    case PM_RECORD:
    case PM_ACCEPT:
        if (r == 0)
            r = map_add(map, KEY_CT, cbor_build_bytestring(m->ct, m->ct_len));
        break;
    case PM_ABORT:
        if (r == 0)
            r = map_add(map, KEY_REASON, build_uint(m->reason));
        break;
    default:
        r = -EINVAL;
    }
    if (r == 0)
        r = serialize(map, out, 1);
    cbor_decref(&map);
    return r;
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
    cbor_item_t *map = cbor_new_definite_map(5);
    if (!map)
        return -ENOMEM;
    int r = map_add(map, REC_IDENTITY, cbor_build_bytestring(rec->identity_public, 32));
    if (r == 0)
        r = map_add(map, REC_WG, cbor_build_bytestring(rec->wg_public, 32));
    if (r == 0)
        r = map_add(map, REC_ENDPOINT, cbor_build_stringn(rec->endpoint, strlen(rec->endpoint)));
    if (r == 0)
        r = map_add(map, REC_HOSTNAME, cbor_build_stringn(rec->hostname, strlen(rec->hostname)));
    if (r == 0)
        r = map_add(map, REC_ADDRESS, cbor_build_stringn(rec->address, strlen(rec->address)));
    if (r == 0)
        r = serialize(map, out, 0);
    cbor_decref(&map);
    return r;
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
