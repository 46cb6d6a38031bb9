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
 * range, keys in ascending order, every head in its shortest form, nothing
 * after the outer array: canonical CBOR through the libraries' one codec
 * (common/cbor.c, doc/CBOR.md). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fleet-internal.h"
#include "ppn-cbor.h"

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

/* Printable UTF-8 text without NUL or control characters (paths, command line). */
static bool text_valid(const char *s, size_t len, size_t max)
{
    if (len > max || !ppnc_utf8_valid(s, len))
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
        return -EIO;
    crypto_sign_seed_keypair(ret_pk, ret_sk, seed);
    return 0;
}

/* ---- encoding ---------------------------------------------------------- */

/* Signs context || body and writes the outer array [version, body, signature] into buf.
 * Returns the length or a negative errno. */
static int seal(const struct ppnc_cbor_w *body, const char *context, size_t context_len,
                uint32_t version, const uint8_t sk[64], uint8_t *buf, size_t size)
{
    if (!ppnc_cbor_w_ok(body) || body->len + 100 > PPN_FLEET_MESSAGE_MAX)
        return -EMSGSIZE;
    uint8_t sig[crypto_sign_BYTES];
    size_t msg_len = context_len + body->len;
    uint8_t *msg = malloc(msg_len);
    if (!msg)
        return -ENOMEM;
    memcpy(msg, context, context_len);
    memcpy(msg + context_len, body->p, body->len);
    crypto_sign_detached(sig, NULL, msg, msg_len, sk);
    free(msg);
    struct ppnc_cbor_w w = PPNC_CBOR_W(buf, size);
    ppnc_cbor_put_array(&w, 3);
    ppnc_cbor_put_uint(&w, version);
    ppnc_cbor_put_bytes(&w, body->p, body->len);
    ppnc_cbor_put_bytes(&w, sig, sizeof(sig));
    if (!ppnc_cbor_w_ok(&w) || w.len > PPN_FLEET_MESSAGE_MAX)
        return -EMSGSIZE;
    return (int)w.len;
}

static void put_key_uint(struct ppnc_cbor_w *w, unsigned key, uint64_t v)
{
    ppnc_cbor_put_uint(w, key);
    ppnc_cbor_put_uint(w, v);
}

static void put_key_bytes(struct ppnc_cbor_w *w, unsigned key, const uint8_t *d, size_t n)
{
    ppnc_cbor_put_uint(w, key);
    ppnc_cbor_put_bytes(w, d, n);
}

static void put_key_text(struct ppnc_cbor_w *w, unsigned key, const char *s)
{
    ppnc_cbor_put_uint(w, key);
    ppnc_cbor_put_text(w, s, strlen(s));
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
        return -EIO;
    if (!sk_matches(sk, hb->node_key))
        return -EINVAL;

    uint8_t *bb = malloc(PPN_FLEET_MESSAGE_MAX);
    if (!bb)
        return -ENOMEM;
    struct ppnc_cbor_w w = PPNC_CBOR_W(bb, PPN_FLEET_MESSAGE_MAX);
    ppnc_cbor_put_map(&w, HB_MAX_KEY); /* keys ascending: the canonical order */
    put_key_bytes(&w, HB_NODE_KEY, hb->node_key, 32);
    put_key_text(&w, HB_NODE_NAME, hb->node_name);
    put_key_uint(&w, HB_SEQ, hb->seq);
    put_key_uint(&w, HB_RAM_TOTAL, hb->ram_total_bytes);
    put_key_uint(&w, HB_RAM_AVAIL, hb->ram_available_bytes);
    put_key_uint(&w, HB_CPUS, hb->cpu_count);
    put_key_uint(&w, HB_LOAD, hb->load_milli);
    put_key_uint(&w, HB_LEDGER, hb->ledger_size);
    ppnc_cbor_put_uint(&w, HB_VMS);
    ppnc_cbor_put_array(&w, hb->n_vms);
    for (uint32_t i = 0; i < hb->n_vms; i++) {
        ppnc_cbor_put_array(&w, 3);
        ppnc_cbor_put_text(&w, hb->vms[i].name, strlen(hb->vms[i].name));
        ppnc_cbor_put_uint(&w, hb->vms[i].mem_bytes);
        ppnc_cbor_put_uint(&w, hb->vms[i].state);
    }
    int r = seal(&w, hb_context, sizeof(hb_context), PPN_FLEET_HEARTBEAT_VERSION, sk, buf, size);
    free(bb);
    return r;
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
        return -EIO;
    if (!sk_matches(sk, req->operator_key))
        return -EINVAL;
    uint8_t *bb = malloc(PPN_FLEET_MESSAGE_MAX);
    if (!bb)
        return -ENOMEM;
    struct ppnc_cbor_w w = PPNC_CBOR_W(bb, PPN_FLEET_MESSAGE_MAX);
    ppnc_cbor_put_map(&w, 10 + (req->has_node ? 1 : 0) + (req->spec[0] ? 1 : 0) +
                              (req->confirmed ? 1 : 0));
    put_key_bytes(&w, RQ_OPERATOR, req->operator_key, 32);
    put_key_bytes(&w, RQ_NONCE, req->nonce, PPN_FLEET_NONCE_BYTES);
    put_key_uint(&w, RQ_CREATED, req->created_unix);
    put_key_text(&w, RQ_NAME, req->vm_name);
    put_key_uint(&w, RQ_KIND, req->kind);
    put_key_uint(&w, RQ_MEM, req->mem_bytes);
    put_key_uint(&w, RQ_VCPUS, req->vcpus);
    if (req->has_node)
        put_key_bytes(&w, RQ_NODE, req->node_key, 32);
    put_key_text(&w, RQ_KERNEL, req->kernel);
    put_key_text(&w, RQ_INITRD, req->initrd);
    put_key_text(&w, RQ_APPEND, req->append);
    if (req->spec[0])
        put_key_text(&w, RQ_SPEC, req->spec);
    if (req->confirmed)
        put_key_uint(&w, RQ_CONFIRMED, 1);
    int r = seal(&w, req_context, sizeof(req_context), PPN_FLEET_REQUEST_VERSION, sk, buf, size);
    free(bb);
    return r;
}

/* ---- decoding ---------------------------------------------------------- */

/* The codec reads the untrusted bytes in place, without allocating: a declared count or
 * length is checked against the bytes that remain before anything is read under it. */

/* The outer array [version, body, signature]; body and signature point into buf. */
static int parse_outer(const void *buf, size_t len, uint32_t want_version,
                       const uint8_t **ret_body, size_t *ret_body_len, const uint8_t **ret_sig)
{
    if (!buf)
        return -EINVAL;
    if (len > PPN_FLEET_MESSAGE_MAX)
        return -EMSGSIZE;
    struct ppnc_cbor_r r = PPNC_CBOR_R(buf, len);
    uint64_t n, version;
    const uint8_t *sig;
    size_t sig_len;
    if (ppnc_cbor_get_array(&r, 3, &n) < 0 || n != 3 ||
        ppnc_cbor_get_uint(&r, UINT32_MAX, &version) < 0 ||
        ppnc_cbor_get_bytes(&r, 0, PPN_FLEET_MESSAGE_MAX, ret_body, ret_body_len) < 0 ||
        ppnc_cbor_get_bytes(&r, crypto_sign_BYTES, crypto_sign_BYTES, &sig, &sig_len) < 0 ||
        !ppnc_cbor_r_done(&r))
        return -EBADMSG;
    if (version != want_version)
        return -EPROTO;
    *ret_sig = sig;
    return 0;
}

static bool get_uint(struct ppnc_cbor_r *r, uint64_t max, uint64_t *ret)
{
    return ppnc_cbor_get_uint(r, max, ret) == 0;
}

static bool get_bytes(struct ppnc_cbor_r *r, uint8_t *out, size_t n)
{
    return ppnc_cbor_get_bytes_n(r, out, n) == 0;
}

/* A text string of at most 'max' bytes, copied with a NUL. */
static bool get_text(struct ppnc_cbor_r *r, char *out, size_t max, size_t *ret_len)
{
    return ppnc_cbor_get_text(r, out, max, ret_len) == 0;
}

/* One VM of a heartbeat: [name, memory] (the first form) or [name, memory, state]. */
static bool get_vm(struct ppnc_cbor_r *r, ppn_fleet_vm *vm)
{
    uint64_t nf, v;
    size_t l;
    if (ppnc_cbor_get_array(r, 3, &nf) < 0 || nf < 2 ||
        !get_text(r, vm->name, PPN_FLEET_NAME_MAX, &l) || !fleet_name_valid(vm->name, l) ||
        !get_uint(r, PPN_FLEET_BYTES_MAX, &vm->mem_bytes))
        return false;
    vm->state = PPN_FLEET_VM_UNKNOWN;
    if (nf == 3) {
        if (!get_uint(r, PPN_FLEET_VM_STATE_COUNT - 1, &v))
            return false;
        vm->state = (uint32_t)v;
    }
    return true;
}

static int parse_hb_body(const uint8_t *body, size_t body_len, ppn_fleet_heartbeat *hb)
{
    struct ppnc_cbor_r r = PPNC_CBOR_R(body, body_len);
    uint64_t n, k, v, last = UINT64_MAX;
    if (ppnc_cbor_get_map(&r, HB_MAX_KEY, &n) < 0 || n != HB_MAX_KEY) /* every key is required */
        return -EBADMSG;
    for (uint64_t i = 0; i < n; i++) {
        size_t l;
        if (ppnc_cbor_get_key(&r, 1, HB_MAX_KEY, &last, &k) < 0)
            return -EBADMSG;
        switch (k) {
        case HB_NODE_KEY:
            if (!get_bytes(&r, hb->node_key, 32))
                return -EBADMSG;
            break;
        case HB_NODE_NAME:
            if (!get_text(&r, hb->node_name, PPN_FLEET_NAME_MAX, &l) ||
                (l && !fleet_name_valid(hb->node_name, l)))
                return -EBADMSG;
            break;
        case HB_SEQ:
            if (!get_uint(&r, UINT64_MAX, &hb->seq))
                return -EBADMSG;
            break;
        case HB_RAM_TOTAL:
            if (!get_uint(&r, PPN_FLEET_BYTES_MAX, &hb->ram_total_bytes))
                return -EBADMSG;
            break;
        case HB_RAM_AVAIL:
            if (!get_uint(&r, PPN_FLEET_BYTES_MAX, &hb->ram_available_bytes))
                return -EBADMSG;
            break;
        case HB_CPUS:
            if (!get_uint(&r, UINT32_MAX, &v) || v == 0)
                return -EBADMSG;
            hb->cpu_count = (uint32_t)v;
            break;
        case HB_LOAD:
            if (!get_uint(&r, UINT32_MAX, &v))
                return -EBADMSG;
            hb->load_milli = (uint32_t)v;
            break;
        case HB_LEDGER:
            if (!get_uint(&r, UINT64_MAX, &hb->ledger_size))
                return -EBADMSG;
            break;
        default: { /* HB_VMS */
            uint64_t nv;
            if (ppnc_cbor_get_array(&r, PPN_FLEET_MAX_VMS, &nv) < 0)
                return -EBADMSG;
            for (uint64_t j = 0; j < nv; j++)
                if (!get_vm(&r, &hb->vms[j]))
                    return -EBADMSG;
            hb->n_vms = (uint32_t)nv;
            break;
        }
        }
    }
    if (!ppnc_cbor_r_done(&r) || hb->ram_available_bytes > hb->ram_total_bytes)
        return -EBADMSG;
    hb->version = PPN_FLEET_HEARTBEAT_VERSION;
    return 0;
}

int fleet_heartbeat_parse(const void *buf, size_t len, ppn_fleet_heartbeat *ret_hb,
                          uint8_t *ret_msg, size_t *ret_msg_len, uint8_t ret_sig[64])
{
    const uint8_t *body, *sig;
    size_t body_len;
    int r = parse_outer(buf, len, PPN_FLEET_HEARTBEAT_VERSION, &body, &body_len, &sig);
    if (r < 0)
        return r;
    r = parse_hb_body(body, body_len, ret_hb);
    if (r == 0) {
        memcpy(ret_msg, hb_context, sizeof(hb_context));
        memcpy(ret_msg + sizeof(hb_context), body, body_len);
        *ret_msg_len = sizeof(hb_context) + body_len;
        memcpy(ret_sig, sig, 64);
    }
    return r;
}

PPN_EXPORT int ppn_fleet_heartbeat_open(const void *buf, size_t len, ppn_fleet_heartbeat *ret_hb)
{
    if (!buf || !ret_hb)
        return -EINVAL;
    if (fleet_sodium_init() < 0)
        return -EIO;
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
    struct ppnc_cbor_r r = PPNC_CBOR_R(body, body_len);
    uint64_t n, k, v, last = UINT64_MAX;
    uint32_t seen = 0;
    if (ppnc_cbor_get_map(&r, RQ_MAX_KEY, &n) < 0)
        return -EBADMSG;
    for (uint64_t i = 0; i < n; i++) {
        size_t l;
        if (ppnc_cbor_get_key(&r, 1, RQ_MAX_KEY, &last, &k) < 0)
            return -EBADMSG;
        seen |= 1U << k;
        switch (k) {
        case RQ_OPERATOR:
            if (!get_bytes(&r, rq->operator_key, 32))
                return -EBADMSG;
            break;
        case RQ_NONCE:
            if (!get_bytes(&r, rq->nonce, PPN_FLEET_NONCE_BYTES))
                return -EBADMSG;
            break;
        case RQ_CREATED:
            if (!get_uint(&r, UINT64_MAX, &rq->created_unix))
                return -EBADMSG;
            break;
        case RQ_NAME:
            if (!get_text(&r, rq->vm_name, PPN_FLEET_NAME_MAX, &l) ||
                !fleet_name_valid(rq->vm_name, l))
                return -EBADMSG;
            break;
        case RQ_KIND:
            if (!get_uint(&r, PPN_FLEET_VM_TOTEBOX, &v))
                return -EBADMSG;
            rq->kind = (uint32_t)v;
            break;
        case RQ_MEM:
            if (!get_uint(&r, PPN_FLEET_BYTES_MAX, &rq->mem_bytes) || rq->mem_bytes == 0)
                return -EBADMSG;
            break;
        case RQ_VCPUS:
            if (!get_uint(&r, UINT32_MAX, &v) || v == 0)
                return -EBADMSG;
            rq->vcpus = (uint32_t)v;
            break;
        case RQ_NODE:
            if (!get_bytes(&r, rq->node_key, 32))
                return -EBADMSG;
            rq->has_node = true;
            break;
        case RQ_KERNEL: /* may be empty when a specification comes */
            if (!get_text(&r, rq->kernel, PPN_FLEET_PATH_MAX, &l) ||
                !text_valid(rq->kernel, l, PPN_FLEET_PATH_MAX))
                return -EBADMSG;
            break;
        case RQ_INITRD:
            if (!get_text(&r, rq->initrd, PPN_FLEET_PATH_MAX, &l) ||
                !text_valid(rq->initrd, l, PPN_FLEET_PATH_MAX))
                return -EBADMSG;
            break;
        case RQ_APPEND:
            if (!get_text(&r, rq->append, PPN_FLEET_PATH_MAX, &l) ||
                !text_valid(rq->append, l, PPN_FLEET_PATH_MAX))
                return -EBADMSG;
            break;
        case RQ_SPEC:
            if (!get_text(&r, rq->spec, PPN_FLEET_SPEC_MAX, &l) || l == 0 ||
                !text_valid(rq->spec, l, PPN_FLEET_SPEC_MAX))
                return -EBADMSG;
            break;
        default: /* RQ_CONFIRMED */
            if (!get_uint(&r, 1, &v) || v != 1)
                return -EBADMSG;
            rq->confirmed = true;
            break;
        }
    }
    if (!ppnc_cbor_r_done(&r))
        return -EBADMSG;
    /* Every key but the node, the specification and the confirmation is
     * required; a kernel or a specification; confirmed only with a node. */
    if ((seen | (1U << RQ_NODE) | (1U << RQ_SPEC) | (1U << RQ_CONFIRMED)) !=
        ((1U << (RQ_MAX_KEY + 1)) - 2))
        return -EBADMSG;
    if ((!rq->kernel[0] && !rq->spec[0]) || (rq->confirmed && !rq->has_node))
        return -EBADMSG;
    rq->version = PPN_FLEET_REQUEST_VERSION;
    return 0;
}

int fleet_request_parse(const void *buf, size_t len, ppn_fleet_request *ret_req,
                        uint8_t **ret_msg, size_t *ret_msg_len, uint8_t ret_sig[64])
{
    const uint8_t *body, *sig;
    size_t body_len;
    int r = parse_outer(buf, len, PPN_FLEET_REQUEST_VERSION, &body, &body_len, &sig);
    if (r < 0)
        return r;
    memset(ret_req, 0, sizeof(*ret_req));
    r = parse_req_body(body, body_len, ret_req);
    if (r < 0)
        return r;
    uint8_t *msg = malloc(sizeof(req_context) + body_len);
    if (!msg)
        return -ENOMEM;
    memcpy(msg, req_context, sizeof(req_context));
    memcpy(msg + sizeof(req_context), body, body_len);
    memcpy(ret_sig, sig, 64);
    *ret_msg = msg;
    *ret_msg_len = sizeof(req_context) + body_len;
    return 0;
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
        return -EIO;
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
