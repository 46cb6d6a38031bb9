/* SPDX-License-Identifier: ISC */
/* The signed CBOR messages: heartbeats and VM creation requests.
 *
 * Both have the same outer form, a CBOR array [version, body, signature]:
 * the version is outside the signed bytes so that a receiver can tell "a
 * version I don't speak" from "garbage" before parsing the body; it is also
 * bound into the signature through the context string.  The body is a byte
 * string holding a definite CBOR map with small unsigned integer keys.  The
 * decoder is strict: definite lengths only, each key at most once, every
 * required key present, no unknown key, every value of its exact type and
 * range, nothing after the outer array. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>
#include <sodium.h>

#include "fleet-internal.h"

static const char hb_context[] = "ppn-fleet heartbeat v1"; /* signed with its NUL */
static const char req_context[] = "ppn-fleet request v1";

enum {
    HB_NODE_KEY = 1, HB_NODE_NAME = 2, HB_SEQ = 3, HB_RAM_TOTAL = 4, HB_RAM_AVAIL = 5,
    HB_CPUS = 6, HB_LOAD = 7, HB_LEDGER = 8, HB_VMS = 9, HB_MAX_KEY = 9,
};
enum {
    RQ_OPERATOR = 1, RQ_NONCE = 2, RQ_CREATED = 3, RQ_NAME = 4, RQ_KIND = 5, RQ_MEM = 6,
    RQ_VCPUS = 7, RQ_NODE = 8, RQ_KERNEL = 9, RQ_INITRD = 10, RQ_APPEND = 11, RQ_SPEC = 12,
    RQ_CONFIRMED = 13, RQ_MAX_KEY = 13,
};

PPN_EXPORT const char *ppn_fleet_vm_state_name(ppn_fleet_vm_state state)
{
    static const char *const names[] = {"unknown", "running", "stopped", "failed", "starting"};
    return (unsigned)state < PPN_FLEET_VM_STATE_COUNT ? names[state] : NULL;
}

PPN_EXPORT size_t ppn_fleet_message_max(void) { return PPN_FLEET_MESSAGE_MAX; }
PPN_EXPORT size_t ppn_fleet_name_max(void) { return PPN_FLEET_NAME_MAX; }
PPN_EXPORT size_t ppn_fleet_max_vms(void) { return PPN_FLEET_MAX_VMS; }
PPN_EXPORT uint64_t ppn_fleet_bytes_max(void) { return PPN_FLEET_BYTES_MAX; }

int fleet_sodium_init(void)
{
    return sodium_init() < 0 ? -EIO : 0;
}

bool fleet_name_valid(const char *s, size_t len)
{
    if (len < 1 || len > PPN_FLEET_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Printable text without NUL or control characters (paths, command line). */
static bool text_valid(const char *s, size_t len, size_t max)
{
    if (len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

PPN_EXPORT int ppn_fleet_keypair_from_seed(const uint8_t seed[PPN_FLEET_SEED_BYTES],
                                           uint8_t ret_pk[PPN_FLEET_PUBLIC_KEY_BYTES],
                                           uint8_t ret_sk[PPN_FLEET_SECRET_KEY_BYTES])
{
    if (!seed || !ret_pk || !ret_sk)
        return -EINVAL;
    if (fleet_sodium_init() < 0)
        return -ENOMEM;
    crypto_sign_seed_keypair(ret_pk, ret_sk, seed);
    return 0;
}

/* ---- encoding ---------------------------------------------------------- */

/* The smallest encoding of an unsigned integer. */
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

/* Adds key -> value to map, taking ownership of value (NULL: allocation
 * failed).  Returns false on failure. */
static bool map_put(cbor_item_t *map, unsigned key, cbor_item_t *value)
{
    if (!value)
        return false;
    cbor_item_t *k = build_uint(key);
    if (!k) {
        cbor_decref(&value);
        return false;
    }
    bool ok = cbor_map_add(map, (struct cbor_pair){.key = k, .value = value});
    cbor_decref(&k);
    cbor_decref(&value);
    return ok;
}

static bool array_put(cbor_item_t *array, cbor_item_t *value)
{
    if (!value)
        return false;
    bool ok = cbor_array_push(array, value);
    cbor_decref(&value);
    return ok;
}

static cbor_item_t *build_str(const char *s)
{
    return cbor_build_stringn(s, strlen(s));
}

/* Serialises 'body' (consumed), signs context || body, writes the outer
 * array into buf.  Returns the length or a negative errno. */
static int seal(cbor_item_t *body, const char *context, size_t context_len, uint32_t version,
                const uint8_t sk[64], uint8_t *buf, size_t size)
{
    unsigned char *body_bytes = NULL;
    size_t body_cap = 0;
    size_t body_len = cbor_serialize_alloc(body, &body_bytes, &body_cap);
    cbor_decref(&body);
    if (body_len == 0)
        return -ENOMEM;

    int r = -ENOMEM;
    uint8_t sig[crypto_sign_BYTES];
    size_t msg_len = context_len + body_len;
    uint8_t *msg = malloc(msg_len);
    cbor_item_t *outer = NULL;
    if (!msg)
        goto out;
    memcpy(msg, context, context_len);
    memcpy(msg + context_len, body_bytes, body_len);
    crypto_sign_detached(sig, NULL, msg, msg_len, sk);

    outer = cbor_new_definite_array(3);
    if (!outer || !array_put(outer, build_uint(version)) ||
        !array_put(outer, cbor_build_bytestring(body_bytes, body_len)) ||
        !array_put(outer, cbor_build_bytestring(sig, sizeof(sig))))
        goto out;
    if (body_len + 100 > PPN_FLEET_MESSAGE_MAX) {
        r = -EMSGSIZE;
        goto out;
    }
    size_t n = cbor_serialize(outer, buf, size);
    if (n == 0) {
        r = -EMSGSIZE;
        goto out;
    }
    if (n > PPN_FLEET_MESSAGE_MAX) {
        r = -EMSGSIZE;
        goto out;
    }
    r = (int)n;
out:
    if (outer)
        cbor_decref(&outer);
    free(msg);
    free(body_bytes);
    return r;
}

static bool sk_matches(const uint8_t sk[64], const uint8_t pk[32])
{
    uint8_t derived[32];
    crypto_sign_ed25519_sk_to_pk(derived, sk);
    return sodium_memcmp(derived, pk, 32) == 0;
}

PPN_EXPORT int ppn_fleet_heartbeat_sign(const ppn_fleet_heartbeat *hb,
                                        const uint8_t sk[PPN_FLEET_SECRET_KEY_BYTES],
                                        uint8_t *buf, size_t size)
{
    if (!hb || !sk || !buf || hb->n_vms > PPN_FLEET_MAX_VMS || hb->cpu_count == 0 ||
        hb->ram_available_bytes > hb->ram_total_bytes || hb->ram_total_bytes > PPN_FLEET_BYTES_MAX)
        return -EINVAL;
    size_t name_len = strnlen(hb->node_name, sizeof(hb->node_name));
    if (name_len == sizeof(hb->node_name) || (name_len && !fleet_name_valid(hb->node_name, name_len)))
        return -EINVAL;
    for (uint32_t i = 0; i < hb->n_vms; i++) {
        size_t l = strnlen(hb->vms[i].name, sizeof(hb->vms[i].name));
        if (!fleet_name_valid(hb->vms[i].name, l) || hb->vms[i].mem_bytes > PPN_FLEET_BYTES_MAX ||
            hb->vms[i].state >= PPN_FLEET_VM_STATE_COUNT)
            return -EINVAL;
    }
    if (fleet_sodium_init() < 0)
        return -ENOMEM;
    if (!sk_matches(sk, hb->node_key))
        return -EINVAL;

    cbor_item_t *body = cbor_new_definite_map(HB_MAX_KEY);
    cbor_item_t *vms = NULL;
    if (!body)
        return -ENOMEM;
    if (!map_put(body, HB_NODE_KEY, cbor_build_bytestring(hb->node_key, 32)) ||
        !map_put(body, HB_NODE_NAME, build_str(hb->node_name)) ||
        !map_put(body, HB_SEQ, build_uint(hb->seq)) ||
        !map_put(body, HB_RAM_TOTAL, build_uint(hb->ram_total_bytes)) ||
        !map_put(body, HB_RAM_AVAIL, build_uint(hb->ram_available_bytes)) ||
        !map_put(body, HB_CPUS, build_uint(hb->cpu_count)) ||
        !map_put(body, HB_LOAD, build_uint(hb->load_milli)) ||
        !map_put(body, HB_LEDGER, build_uint(hb->ledger_size)))
        goto nomem;
    vms = cbor_new_definite_array(hb->n_vms);
    if (!vms)
        goto nomem;
    for (uint32_t i = 0; i < hb->n_vms; i++) {
        cbor_item_t *vm = cbor_new_definite_array(3);
        if (!vm)
            goto nomem;
        if (!array_put(vm, build_str(hb->vms[i].name)) ||
            !array_put(vm, build_uint(hb->vms[i].mem_bytes)) ||
            !array_put(vm, build_uint(hb->vms[i].state)) || !array_put(vms, vm)) {
            /* array_put(vms, vm) consumed vm only on its own call */
            goto nomem;
        }
    }
    if (!map_put(body, HB_VMS, vms)) {
        vms = NULL;
        goto nomem;
    }
    return seal(body, hb_context, sizeof(hb_context), PPN_FLEET_HEARTBEAT_VERSION, sk, buf, size);
nomem:
    if (vms)
        cbor_decref(&vms);
    cbor_decref(&body);
    return -ENOMEM;
}

static bool request_fields_valid(const ppn_fleet_request *req)
{
    size_t l = strnlen(req->vm_name, sizeof(req->vm_name));
    if (!fleet_name_valid(req->vm_name, l))
        return false;
    if (req->mem_bytes == 0 || req->mem_bytes > PPN_FLEET_BYTES_MAX || req->vcpus == 0 ||
        req->kind > PPN_FLEET_VM_TOTEBOX)
        return false;
    if (req->kind == PPN_FLEET_VM_TOTEBOX && !req->has_node)
        return false;
    const char *texts[] = {req->kernel, req->initrd, req->append};
    for (size_t i = 0; i < 3; i++) {
        size_t tl = strnlen(texts[i], PPN_FLEET_PATH_MAX + 1);
        if (tl > PPN_FLEET_PATH_MAX || !text_valid(texts[i], tl, PPN_FLEET_PATH_MAX))
            return false;
    }
    size_t sl = strnlen(req->spec, PPN_FLEET_SPEC_MAX + 1);
    if (sl > PPN_FLEET_SPEC_MAX || !text_valid(req->spec, sl, PPN_FLEET_SPEC_MAX))
        return false;
    if (req->confirmed && !req->has_node)
        return false;
    return strlen(req->kernel) > 0 || sl > 0;
}

PPN_EXPORT int ppn_fleet_request_sign(const ppn_fleet_request *req,
                                      const uint8_t sk[PPN_FLEET_SECRET_KEY_BYTES],
                                      uint8_t *buf, size_t size)
{
    if (!req || !sk || !buf || !request_fields_valid(req))
        return -EINVAL;
    if (fleet_sodium_init() < 0)
        return -ENOMEM;
    if (!sk_matches(sk, req->operator_key))
        return -EINVAL;
    cbor_item_t *body = cbor_new_definite_map(RQ_MAX_KEY);
    if (!body)
        return -ENOMEM;
    if (!map_put(body, RQ_OPERATOR, cbor_build_bytestring(req->operator_key, 32)) ||
        !map_put(body, RQ_NONCE, cbor_build_bytestring(req->nonce, PPN_FLEET_NONCE_BYTES)) ||
        !map_put(body, RQ_CREATED, build_uint(req->created_unix)) ||
        !map_put(body, RQ_NAME, build_str(req->vm_name)) ||
        !map_put(body, RQ_KIND, build_uint(req->kind)) ||
        !map_put(body, RQ_MEM, build_uint(req->mem_bytes)) ||
        !map_put(body, RQ_VCPUS, build_uint(req->vcpus)) ||
        (req->has_node && !map_put(body, RQ_NODE, cbor_build_bytestring(req->node_key, 32))) ||
        !map_put(body, RQ_KERNEL, build_str(req->kernel)) ||
        !map_put(body, RQ_INITRD, build_str(req->initrd)) ||
        !map_put(body, RQ_APPEND, build_str(req->append)) ||
        (req->spec[0] && !map_put(body, RQ_SPEC, build_str(req->spec))) ||
        (req->confirmed && !map_put(body, RQ_CONFIRMED, build_uint(1)))) {
        cbor_decref(&body);
        return -ENOMEM;
    }
    return seal(body, req_context, sizeof(req_context), PPN_FLEET_REQUEST_VERSION, sk, buf, size);
}

/* ---- decoding ---------------------------------------------------------- */

/* Before libcbor sees the bytes: only the subset this format uses
 * (unsigned integers, definite byte/text strings, arrays and maps), nesting
 * at most FLEET_CBOR_DEPTH, and every declared length or count backed by
 * enough remaining input.  libcbor preallocates arrays and maps by their
 * declared count, so a 12-byte datagram claiming 2^32 items must never
 * reach it. */
#define FLEET_CBOR_DEPTH 8

static bool read_head(const uint8_t *p, size_t len, size_t *pos, unsigned *ret_major,
                      uint64_t *ret_arg)
{
    if (*pos >= len)
        return false;
    uint8_t b = p[(*pos)++];
    unsigned info = b & 0x1f, extra;
    if (info < 24) {
        *ret_major = b >> 5;
        *ret_arg = info;
        return true;
    }
    switch (info) {
    case 24: extra = 1; break;
    case 25: extra = 2; break;
    case 26: extra = 4; break;
    case 27: extra = 8; break;
    default: return false; /* reserved or indefinite */
    }
    if (len - *pos < extra)
        return false;
    uint64_t v = 0;
    for (unsigned i = 0; i < extra; i++)
        v = (v << 8) | p[(*pos)++];
    *ret_major = b >> 5;
    *ret_arg = v;
    return true;
}

static bool precheck_item(const uint8_t *p, size_t len, size_t *pos, unsigned depth)
{
    unsigned major;
    uint64_t arg;
    if (depth > FLEET_CBOR_DEPTH || !read_head(p, len, pos, &major, &arg))
        return false;
    switch (major) {
    case 0: /* unsigned integer */
        return true;
    case 2: /* byte string */
    case 3: /* text string */
        if (arg > len - *pos)
            return false;
        *pos += (size_t)arg;
        return true;
    case 4: /* array: each item at least one byte */
    case 5: /* map: each pair at least two */
        if (arg > (len - *pos) / (major == 4 ? 1 : 2))
            return false;
        for (uint64_t i = 0; i < arg * (major == 4 ? 1 : 2); i++)
            if (!precheck_item(p, len, pos, depth + 1))
                return false;
        return true;
    default: /* negative integers, tags, floats, simple values: not used */
        return false;
    }
}

static int load(const void *buf, size_t len, cbor_item_t **ret)
{
    size_t pos = 0;
    if (!precheck_item(buf, len, &pos, 0) || pos != len)
        return -EBADMSG;
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(buf, len, &res);
    if (!item)
        return res.error.code == CBOR_ERR_MEMERROR ? -ENOMEM : -EBADMSG;
    if (res.read != len) {
        cbor_decref(&item);
        return -EBADMSG;
    }
    *ret = item;
    return 0;
}

static bool get_uint(const cbor_item_t *v, uint64_t max, uint64_t *ret)
{
    if (!cbor_isa_uint(v))
        return false;
    uint64_t x = cbor_get_int(v);
    if (x > max)
        return false;
    *ret = x;
    return true;
}

static bool get_bytes(const cbor_item_t *v, uint8_t *out, size_t n)
{
    if (!cbor_isa_bytestring(v) || !cbor_bytestring_is_definite(v) ||
        cbor_bytestring_length(v) != n)
        return false;
    memcpy(out, cbor_bytestring_handle(v), n);
    return true;
}

/* A definite text string of at most 'max' bytes, copied with a NUL. */
static bool get_text(const cbor_item_t *v, char *out, size_t max, size_t *ret_len)
{
    if (!cbor_isa_string(v) || !cbor_string_is_definite(v))
        return false;
    size_t l = cbor_string_length(v);
    if (l > max)
        return false;
    memcpy(out, cbor_string_handle(v), l);
    out[l] = '\0';
    *ret_len = l;
    return true;
}

/* The outer array; on success ret_item must be released by the caller and
 * the body/sig pointers point into it. */
static int parse_outer(const void *buf, size_t len, uint32_t want_version, cbor_item_t **ret_item,
                       const uint8_t **ret_body, size_t *ret_body_len, const uint8_t **ret_sig)
{
    if (!buf)
        return -EINVAL;
    if (len > PPN_FLEET_MESSAGE_MAX)
        return -EMSGSIZE;
    cbor_item_t *outer = NULL;
    int r = load(buf, len, &outer);
    if (r < 0)
        return r;
    r = -EBADMSG;
    if (!cbor_isa_array(outer) || !cbor_array_is_definite(outer) || cbor_array_size(outer) != 3)
        goto fail;
    cbor_item_t **it = cbor_array_handle(outer);
    uint64_t version;
    if (!get_uint(it[0], UINT32_MAX, &version))
        goto fail;
    if (!cbor_isa_bytestring(it[1]) || !cbor_bytestring_is_definite(it[1]) ||
        !cbor_isa_bytestring(it[2]) || !cbor_bytestring_is_definite(it[2]) ||
        cbor_bytestring_length(it[2]) != crypto_sign_BYTES)
        goto fail;
    if (version != want_version) {
        r = -EPROTO;
        goto fail;
    }
    *ret_item = outer;
    *ret_body = cbor_bytestring_handle(it[1]);
    *ret_body_len = cbor_bytestring_length(it[1]);
    *ret_sig = cbor_bytestring_handle(it[2]);
    return 0;
fail:
    cbor_decref(&outer);
    return r;
}

/* Iterates a definite map with unsigned keys 1..max_key, each at most once.
 * Returns the map's pairs or NULL. */
static struct cbor_pair *map_pairs(const cbor_item_t *map, unsigned max_key, size_t *ret_n)
{
    if (!cbor_isa_map(map) || !cbor_map_is_definite(map))
        return NULL;
    size_t n = cbor_map_size(map);
    struct cbor_pair *p = cbor_map_handle(map);
    uint32_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k;
        if (!get_uint(p[i].key, max_key, &k) || k == 0 || (seen & (1U << k)))
            return NULL;
        seen |= 1U << k;
    }
    *ret_n = n;
    return p;
}

static int parse_hb_body(const uint8_t *body, size_t body_len, ppn_fleet_heartbeat *hb)
{
    cbor_item_t *map = NULL;
    int r = load(body, body_len, &map);
    if (r < 0)
        return r;
    r = -EBADMSG;
    size_t n;
    struct cbor_pair *p = map_pairs(map, HB_MAX_KEY, &n);
    if (!p || n != HB_MAX_KEY) /* every key is required */
        goto out;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = cbor_get_int(p[i].key), v;
        const cbor_item_t *val = p[i].value;
        size_t l;
        switch (k) {
        case HB_NODE_KEY:
            if (!get_bytes(val, hb->node_key, 32))
                goto out;
            break;
        case HB_NODE_NAME:
            if (!get_text(val, hb->node_name, PPN_FLEET_NAME_MAX, &l) ||
                (l && !fleet_name_valid(hb->node_name, l)))
                goto out;
            break;
        case HB_SEQ:
            if (!get_uint(val, UINT64_MAX, &hb->seq))
                goto out;
            break;
        case HB_RAM_TOTAL:
            if (!get_uint(val, PPN_FLEET_BYTES_MAX, &hb->ram_total_bytes))
                goto out;
            break;
        case HB_RAM_AVAIL:
            if (!get_uint(val, PPN_FLEET_BYTES_MAX, &hb->ram_available_bytes))
                goto out;
            break;
        case HB_CPUS:
            if (!get_uint(val, UINT32_MAX, &v) || v == 0)
                goto out;
            hb->cpu_count = (uint32_t)v;
            break;
        case HB_LOAD:
            if (!get_uint(val, UINT32_MAX, &v))
                goto out;
            hb->load_milli = (uint32_t)v;
            break;
        case HB_LEDGER:
            if (!get_uint(val, UINT64_MAX, &hb->ledger_size))
                goto out;
            break;
        case HB_VMS: {
            if (!cbor_isa_array(val) || !cbor_array_is_definite(val) ||
                cbor_array_size(val) > PPN_FLEET_MAX_VMS)
                goto out;
            size_t nv = cbor_array_size(val);
            cbor_item_t **vms = cbor_array_handle(val);
            for (size_t j = 0; j < nv; j++) {
                /* [name, memory] (the first form) or [name, memory, state] */
                if (!cbor_isa_array(vms[j]) || !cbor_array_is_definite(vms[j]) ||
                    (cbor_array_size(vms[j]) != 2 && cbor_array_size(vms[j]) != 3))
                    goto out;
                cbor_item_t **f = cbor_array_handle(vms[j]);
                if (!get_text(f[0], hb->vms[j].name, PPN_FLEET_NAME_MAX, &l) ||
                    !fleet_name_valid(hb->vms[j].name, l) ||
                    !get_uint(f[1], PPN_FLEET_BYTES_MAX, &hb->vms[j].mem_bytes))
                    goto out;
                hb->vms[j].state = PPN_FLEET_VM_UNKNOWN;
                if (cbor_array_size(vms[j]) == 3) {
                    if (!get_uint(f[2], PPN_FLEET_VM_STATE_COUNT - 1, &v))
                        goto out;
                    hb->vms[j].state = (uint32_t)v;
                }
            }
            hb->n_vms = (uint32_t)nv;
            break;
        }
        default:
            goto out;
        }
    }
    if (hb->ram_available_bytes > hb->ram_total_bytes)
        goto out;
    hb->version = PPN_FLEET_HEARTBEAT_VERSION;
    r = 0;
out:
    cbor_decref(&map);
    return r;
}

int fleet_heartbeat_parse(const void *buf, size_t len, ppn_fleet_heartbeat *ret_hb,
                          uint8_t *ret_msg, size_t *ret_msg_len, uint8_t ret_sig[64])
{
    cbor_item_t *outer;
    const uint8_t *body, *sig;
    size_t body_len;
    int r = parse_outer(buf, len, PPN_FLEET_HEARTBEAT_VERSION, &outer, &body, &body_len, &sig);
    if (r < 0)
        return r;
    r = parse_hb_body(body, body_len, ret_hb);
    if (r == 0) {
        memcpy(ret_msg, hb_context, sizeof(hb_context));
        memcpy(ret_msg + sizeof(hb_context), body, body_len);
        *ret_msg_len = sizeof(hb_context) + body_len;
        memcpy(ret_sig, sig, 64);
    }
    cbor_decref(&outer);
    return r;
}

PPN_EXPORT int ppn_fleet_heartbeat_open(const void *buf, size_t len, ppn_fleet_heartbeat *ret_hb)
{
    if (!buf || !ret_hb)
        return -EINVAL;
    if (fleet_sodium_init() < 0)
        return -ENOMEM;
    ppn_fleet_heartbeat *hb = calloc(1, sizeof(*hb));
    uint8_t *msg = malloc(FLEET_SIGNED_MAX);
    uint8_t sig[64];
    size_t msg_len;
    int r = -ENOMEM;
    if (!hb || !msg)
        goto out;
    r = fleet_heartbeat_parse(buf, len, hb, msg, &msg_len, sig);
    if (r < 0)
        goto out;
    if (crypto_sign_verify_detached(sig, msg, msg_len, hb->node_key) != 0) {
        r = -EKEYREJECTED;
        goto out;
    }
    memcpy(ret_hb, hb, sizeof(*hb));
    r = 0;
out:
    free(hb);
    free(msg);
    return r;
}

static int parse_req_body(const uint8_t *body, size_t body_len, ppn_fleet_request *rq)
{
    cbor_item_t *map = NULL;
    int r = load(body, body_len, &map);
    if (r < 0)
        return r;
    r = -EBADMSG;
    size_t n;
    struct cbor_pair *p = map_pairs(map, RQ_MAX_KEY, &n);
    uint32_t seen = 0;
    if (!p)
        goto out;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = cbor_get_int(p[i].key), v;
        const cbor_item_t *val = p[i].value;
        size_t l;
        seen |= 1U << k;
        switch (k) {
        case RQ_OPERATOR:
            if (!get_bytes(val, rq->operator_key, 32))
                goto out;
            break;
        case RQ_NONCE:
            if (!get_bytes(val, rq->nonce, PPN_FLEET_NONCE_BYTES))
                goto out;
            break;
        case RQ_CREATED:
            if (!get_uint(val, UINT64_MAX, &rq->created_unix))
                goto out;
            break;
        case RQ_NAME:
            if (!get_text(val, rq->vm_name, PPN_FLEET_NAME_MAX, &l) ||
                !fleet_name_valid(rq->vm_name, l))
                goto out;
            break;
        case RQ_KIND:
            if (!get_uint(val, PPN_FLEET_VM_TOTEBOX, &v))
                goto out;
            rq->kind = (uint32_t)v;
            break;
        case RQ_MEM:
            if (!get_uint(val, PPN_FLEET_BYTES_MAX, &rq->mem_bytes) || rq->mem_bytes == 0)
                goto out;
            break;
        case RQ_VCPUS:
            if (!get_uint(val, UINT32_MAX, &v) || v == 0)
                goto out;
            rq->vcpus = (uint32_t)v;
            break;
        case RQ_NODE:
            if (!get_bytes(val, rq->node_key, 32))
                goto out;
            rq->has_node = true;
            break;
        case RQ_KERNEL: /* may be empty when a specification comes */
            if (!get_text(val, rq->kernel, PPN_FLEET_PATH_MAX, &l) ||
                !text_valid(rq->kernel, l, PPN_FLEET_PATH_MAX))
                goto out;
            break;
        case RQ_SPEC:
            if (!get_text(val, rq->spec, PPN_FLEET_SPEC_MAX, &l) || l == 0 ||
                !text_valid(rq->spec, l, PPN_FLEET_SPEC_MAX))
                goto out;
            break;
        case RQ_CONFIRMED:
            if (!get_uint(val, 1, &v) || v != 1)
                goto out;
            rq->confirmed = true;
            break;
        case RQ_INITRD:
            if (!get_text(val, rq->initrd, PPN_FLEET_PATH_MAX, &l) ||
                !text_valid(rq->initrd, l, PPN_FLEET_PATH_MAX))
                goto out;
            break;
        case RQ_APPEND:
            if (!get_text(val, rq->append, PPN_FLEET_PATH_MAX, &l) ||
                !text_valid(rq->append, l, PPN_FLEET_PATH_MAX))
                goto out;
            break;
        default:
            goto out;
        }
    }
    /* Every key but the node, the specification and the confirmation is
     * required; a kernel or a specification; confirmed only with a node. */
    if ((seen | (1U << RQ_NODE) | (1U << RQ_SPEC) | (1U << RQ_CONFIRMED)) !=
        ((1U << (RQ_MAX_KEY + 1)) - 2))
        goto out;
    if ((!rq->kernel[0] && !rq->spec[0]) || (rq->confirmed && !rq->has_node))
        goto out;
    rq->version = PPN_FLEET_REQUEST_VERSION;
    r = 0;
out:
    cbor_decref(&map);
    return r;
}

int fleet_request_parse(const void *buf, size_t len, ppn_fleet_request *ret_req,
                        uint8_t **ret_msg, size_t *ret_msg_len, uint8_t ret_sig[64])
{
    cbor_item_t *outer;
    const uint8_t *body, *sig;
    size_t body_len;
    int r = parse_outer(buf, len, PPN_FLEET_REQUEST_VERSION, &outer, &body, &body_len, &sig);
    if (r < 0)
        return r;
    uint8_t *msg = malloc(sizeof(req_context) + body_len);
    r = -ENOMEM;
    if (!msg)
        goto out;
    memset(ret_req, 0, sizeof(*ret_req));
    r = parse_req_body(body, body_len, ret_req);
    if (r < 0)
        goto out;
    memcpy(msg, req_context, sizeof(req_context));
    memcpy(msg + sizeof(req_context), body, body_len);
    memcpy(ret_sig, sig, 64);
    *ret_msg = msg;
    *ret_msg_len = sizeof(req_context) + body_len;
    msg = NULL;
out:
    free(msg);
    cbor_decref(&outer);
    return r;
}

int fleet_request_verify(const ppn_fleet_request *rq, const uint8_t *msg, size_t msg_len,
                         const uint8_t sig[64])
{
    if (crypto_sign_verify_detached(sig, msg, msg_len, rq->operator_key) != 0)
        return -EKEYREJECTED;
    /* Well-formed and authentic, but a VM-Totebox must name its node. */
    if (rq->kind == PPN_FLEET_VM_TOTEBOX && !rq->has_node)
        return -EPROTO;
    return 0;
}

PPN_EXPORT int ppn_fleet_request_open(const void *buf, size_t len, ppn_fleet_request *ret_req)
{
    if (!buf || !ret_req)
        return -EINVAL;
    if (fleet_sodium_init() < 0)
        return -ENOMEM;
    ppn_fleet_request *rq = calloc(1, sizeof(*rq));
    uint8_t *msg = NULL, sig[64];
    size_t msg_len;
    int r = -ENOMEM;
    if (!rq)
        goto out;
    r = fleet_request_parse(buf, len, rq, &msg, &msg_len, sig);
    if (r == 0)
        r = fleet_request_verify(rq, msg, msg_len, sig);
    if (r == 0)
        memcpy(ret_req, rq, sizeof(*rq));
out:
    free(rq);
    free(msg);
    return r;
}
