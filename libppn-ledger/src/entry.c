/* Entries: canonical CBOR (RFC 8949 §4.2.1) through the libraries' one strict codec
 * (common/cbor.c, doc/CBOR.md); the decoder accepts only the one canonical form. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "internal.h"
#include "ledger-private.h"
#include "ppn-cbor.h"
#include "ppn-common.h"

enum {
    K_TYPE = 1, K_INDEX = 2, K_TIME = 3, K_AUTHOR = 4, K_SUBJECT = 5, K_WG = 6, K_TEXT = 7,
    K_MESH = 8, K_ENDPOINT = 9, K_HOSTNAME = 10, K_CAP = 11, K_SCOPE = 12, K_TARGET = 13,
    K_REPL = 14, K_LAST = 14,
};
#define B(k) (1u << (k))
#define BASE (B(K_TYPE) | B(K_INDEX) | B(K_TIME) | B(K_AUTHOR))

/* Fields each type carries (besides BASE). */
static uint32_t type_fields(uint32_t type)
{
    switch (type) {
    case PPN_LEDGER_ENTRY_GENESIS: return B(K_SUBJECT) | B(K_TEXT) | B(K_MESH);
    case PPN_LEDGER_ENTRY_NODE_JOIN:
        return B(K_SUBJECT) | B(K_WG) | B(K_MESH) | B(K_ENDPOINT) | B(K_HOSTNAME);
    case PPN_LEDGER_ENTRY_NODE_REVOKE: return B(K_SUBJECT) | B(K_TEXT);
    case PPN_LEDGER_ENTRY_CAP_GRANT:
    case PPN_LEDGER_ENTRY_CAP_REVOKE: return B(K_SUBJECT) | B(K_CAP) | B(K_SCOPE);
    case PPN_LEDGER_ENTRY_VM_ASSIGN: return B(K_SUBJECT) | B(K_TEXT);
    case PPN_LEDGER_ENTRY_SUPERSEDE: return B(K_TARGET) | B(K_REPL);
    default: return 0;
    }
}

static uint32_t entry_fields(const struct ppn_ledger_entry *e)
{
    uint32_t f = type_fields(e->type);
    if (!f)
        return 0;
    if (e->type == PPN_LEDGER_ENTRY_SUPERSEDE && e->replacement_type != 0) {
        uint32_t r = e->replacement_type;
        if (r != PPN_LEDGER_ENTRY_NODE_JOIN && r != PPN_LEDGER_ENTRY_CAP_GRANT &&
            r != PPN_LEDGER_ENTRY_VM_ASSIGN)
            return 0;
        f |= type_fields(r);
    }
    return BASE | f;
}

bool text_valid(const char *s, size_t len)
{
    return len <= PPN_LEDGER_TEXT_MAX && utf8_valid(s, len);
}

static bool field_text_ok(const char *s)
{
    size_t n = strnlen(s, PPN_LEDGER_TEXT_MAX + 1);
    return n <= PPN_LEDGER_TEXT_MAX && text_valid(s, n);
}

/* A note key name: non-empty, no spaces, no '+' (C2SP signed-note). */
static bool origin_ok(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == '+' || *p == 0x7f)
            return false;
    return true;
}

int entry_check_fields(const struct ppn_ledger_entry *e)
{
    uint32_t f = entry_fields(e);
    if (!f)
        return -EINVAL;
    /* Numbers stay within what JSON tools (int64) carry. */
    if (e->index > INT64_MAX || e->time_ms > INT64_MAX || e->target > INT64_MAX)
        return -EINVAL;
    const char *texts[] = {e->text, e->mesh, e->endpoint, e->hostname, e->capability, e->scope};
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(texts); i++)
        if (!field_text_ok(texts[i]))
            return -EINVAL;
    uint32_t t = e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? e->replacement_type : e->type;
    switch (t) {
    case PPN_LEDGER_ENTRY_GENESIS:
        if (!origin_ok(e->text) || !e->mesh[0] || e->index != 0)
            return -EINVAL;
        if (memcmp(e->author, e->subject, 32) != 0)
            return -EINVAL;
        break;
    case PPN_LEDGER_ENTRY_NODE_JOIN:
        if (!e->mesh[0])
            return -EINVAL;
        break;
    case PPN_LEDGER_ENTRY_CAP_GRANT:
    case PPN_LEDGER_ENTRY_CAP_REVOKE:
        if (!e->capability[0])
            return -EINVAL;
        break;
    case PPN_LEDGER_ENTRY_VM_ASSIGN:
        if (!e->text[0])
            return -EINVAL;
        break;
    default:
        break;
    }
    if (e->type == PPN_LEDGER_ENTRY_SUPERSEDE && e->target >= e->index)
        return -EINVAL;
    return 0;
}

/* ---- encoder (common/cbor.c) ---- */
static void encode_body(struct ppnc_cbor_w *w, const struct ppn_ledger_entry *e, uint32_t f)
{
    ppnc_cbor_put_map(w, (uint64_t)__builtin_popcount(f));
    for (unsigned k = 1; k <= K_LAST; k++) {
        if (!(f & B(k)))
            continue;
        ppnc_cbor_put_uint(w, k);
        switch (k) {
        case K_TYPE: ppnc_cbor_put_uint(w, e->type); break;
        case K_INDEX: ppnc_cbor_put_uint(w, e->index); break;
        case K_TIME: ppnc_cbor_put_uint(w, e->time_ms); break;
        case K_AUTHOR: ppnc_cbor_put_bytes(w, e->author, 32); break;
        case K_SUBJECT: ppnc_cbor_put_bytes(w, e->subject, 32); break;
        case K_WG: ppnc_cbor_put_bytes(w, e->wg_key, 32); break;
        case K_TEXT: ppnc_cbor_put_text(w, e->text, strlen(e->text)); break;
        case K_MESH: ppnc_cbor_put_text(w, e->mesh, strlen(e->mesh)); break;
        case K_ENDPOINT: ppnc_cbor_put_text(w, e->endpoint, strlen(e->endpoint)); break;
        case K_HOSTNAME: ppnc_cbor_put_text(w, e->hostname, strlen(e->hostname)); break;
        case K_CAP: ppnc_cbor_put_text(w, e->capability, strlen(e->capability)); break;
        case K_SCOPE: ppnc_cbor_put_text(w, e->scope, strlen(e->scope)); break;
        case K_TARGET: ppnc_cbor_put_uint(w, e->target); break;
        case K_REPL: ppnc_cbor_put_uint(w, e->replacement_type); break;
        }
    }
}

PPN_EXPORT int ppn_ledger_entry_sign(const struct ppn_ledger_entry *entry, uint64_t index,
                                     const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                     uint8_t *buf, size_t size, size_t *ret_len)
{
    if (!entry || !author_sk || !buf || !ret_len)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    struct ppn_ledger_entry e = *entry;
    e.index = index;
    memcpy(e.author, author_sk + 32, 32);
    if (e.time_ms == 0)
        e.time_ms = ppnc_now_real_ns() / 1000000u;
    if (e.type == PPN_LEDGER_ENTRY_GENESIS && memcmp(e.subject, e.author, 32) != 0)
        return -EINVAL;
    int r = entry_check_fields(&e);
    if (r < 0)
        return r;
    if ((r = entry_check_meaning(&e, NULL, 0)) < 0)
        return r;
    uint8_t body[PPN_LEDGER_ENTRY_MAX];
    struct ppnc_cbor_w w = PPNC_CBOR_W(body, sizeof(body));
    encode_body(&w, &e, entry_fields(&e));
    if (w.len > sizeof(body) - 70)
        return -EINVAL;
    size_t dl = sizeof(ENTRY_SIG_DOMAIN) - 1;
    uint8_t msg[sizeof(ENTRY_SIG_DOMAIN) - 1 + PPN_LEDGER_ENTRY_MAX];
    memcpy(msg, ENTRY_SIG_DOMAIN, dl);
    memcpy(msg + dl, body, w.len);
    uint8_t sig[64];
    crypto_sign_detached(sig, NULL, msg, dl + w.len, author_sk);
    /* Refuse a secret key whose public half is not its own: the signature would not verify. */
    if (crypto_sign_verify_detached(sig, msg, dl + w.len, e.author) != 0)
        return -EINVAL;
    struct ppnc_cbor_w o = PPNC_CBOR_W(buf, size);
    ppnc_cbor_put_array(&o, 2);
    ppnc_cbor_put_raw(&o, body, w.len);
    ppnc_cbor_put_bytes(&o, sig, 64);
    if (o.len > size)
        return -ENOBUFS;
    *ret_len = o.len;
    return 0;
}

/* ---- decoder (common/cbor.c: the one canonical form only) ---- */
static int dtext(struct ppnc_cbor_r *d, char out[PPN_LEDGER_TEXT_MAX + 1])
{
    return ppnc_cbor_get_text(d, out, PPN_LEDGER_TEXT_MAX, NULL);
}

int entry_decode_unverified(const uint8_t *data, size_t len, struct ppn_ledger_entry *ret,
                            const uint8_t **ret_body, size_t *ret_body_len,
                            const uint8_t **ret_sig)
{
    struct ppnc_cbor_r d = PPNC_CBOR_R(data, len);
    uint64_t v;
    if (!data || len > PPN_LEDGER_ENTRY_MAX)
        return -EBADMSG;
    if (ppnc_cbor_get_array(&d, 2, &v) < 0 || v != 2)
        return -EBADMSG;
    size_t body_start = d.pos;
    uint64_t npairs;
    if (ppnc_cbor_get_map(&d, K_LAST, &npairs) < 0)
        return -EBADMSG;
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    uint32_t seen = 0;
    uint64_t last = UINT64_MAX;
    for (uint64_t i = 0; i < npairs; i++) {
        uint64_t k;
        if (ppnc_cbor_get_key(&d, 1, K_LAST, &last, &k) < 0)
            return -EBADMSG; /* keys ascending, each once: canonical order */
        seen |= B(k);
        int r = 0;
        switch (k) {
        case K_TYPE: r = ppnc_cbor_get_uint(&d, 0xffff, &v); e.type = (uint32_t)v; break;
        case K_INDEX: r = ppnc_cbor_get_uint(&d, UINT64_MAX, &e.index); break;
        case K_TIME: r = ppnc_cbor_get_uint(&d, UINT64_MAX, &e.time_ms); break;
        case K_AUTHOR: r = ppnc_cbor_get_bytes_n(&d, e.author, 32); break;
        case K_SUBJECT: r = ppnc_cbor_get_bytes_n(&d, e.subject, 32); break;
        case K_WG: r = ppnc_cbor_get_bytes_n(&d, e.wg_key, 32); break;
        case K_TEXT: r = dtext(&d, e.text); break;
        case K_MESH: r = dtext(&d, e.mesh); break;
        case K_ENDPOINT: r = dtext(&d, e.endpoint); break;
        case K_HOSTNAME: r = dtext(&d, e.hostname); break;
        case K_CAP: r = dtext(&d, e.capability); break;
        case K_SCOPE: r = dtext(&d, e.scope); break;
        case K_TARGET: r = ppnc_cbor_get_uint(&d, UINT64_MAX, &e.target); break;
        case K_REPL: r = ppnc_cbor_get_uint(&d, 0xffff, &v); e.replacement_type = (uint32_t)v; break;
        }
        if (r < 0)
            return -EBADMSG;
    }
    size_t body_len = d.pos - body_start;
    if (seen != entry_fields(&e) || entry_check_fields(&e) < 0)
        return -EBADMSG;
    const uint8_t *sig;
    size_t sl;
    if (ppnc_cbor_get_bytes(&d, 64, 64, &sig, &sl) < 0 || !ppnc_cbor_r_done(&d))
        return -EBADMSG;
    if (ret_sig)
        *ret_sig = sig;
    if (ret_body)
        *ret_body = data + body_start;
    if (ret_body_len)
        *ret_body_len = body_len;
    *ret = e;
    return 0;
}

int entry_verify_sig(const uint8_t author[32], const uint8_t *body, size_t body_len,
                     const uint8_t sig[64])
{
    uint8_t msg[sizeof(ENTRY_SIG_DOMAIN) - 1 + PPN_LEDGER_ENTRY_MAX];
    size_t dl = sizeof(ENTRY_SIG_DOMAIN) - 1;
    if (body_len > PPN_LEDGER_ENTRY_MAX)
        return -EBADMSG;
    memcpy(msg, ENTRY_SIG_DOMAIN, dl);
    memcpy(msg + dl, body, body_len);
    return crypto_sign_verify_detached(sig, msg, dl + body_len, author) == 0 ? 0 : -EKEYREJECTED;
}

PPN_EXPORT int ppn_ledger_entry_decode(const uint8_t *data, size_t len,
                                       struct ppn_ledger_entry *ret_entry)
{
    if (!data || !ret_entry)
        return -EINVAL;
    struct ppn_ledger_entry e;
    const uint8_t *body, *sig;
    size_t bl;
    int r = entry_decode_unverified(data, len, &e, &body, &bl, &sig);
    if (r < 0)
        return r;
    r = entry_verify_sig(e.author, body, bl, sig);
    if (r < 0)
        return r;
    *ret_entry = e;
    return 0;
}

/* ---- names and JSON ---- */
static const char *const type_names[] = {
    [PPN_LEDGER_ENTRY_GENESIS] = "genesis",       [PPN_LEDGER_ENTRY_NODE_JOIN] = "node-join",
    [PPN_LEDGER_ENTRY_NODE_REVOKE] = "node-revoke", [PPN_LEDGER_ENTRY_CAP_GRANT] = "cap-grant",
    [PPN_LEDGER_ENTRY_CAP_REVOKE] = "cap-revoke", [PPN_LEDGER_ENTRY_VM_ASSIGN] = "vm-assign",
    [PPN_LEDGER_ENTRY_SUPERSEDE] = "supersede",
};

PPN_EXPORT const char *ppn_ledger_entry_type_name(uint32_t type)
{
    if (type < PPNC_ARRAY_SIZE(type_names) && type_names[type])
        return type_names[type];
    return "?";
}

static uint32_t type_from_name(const char *s)
{
    for (uint32_t i = 1; i < PPNC_ARRAY_SIZE(type_names); i++)
        if (!strcmp(type_names[i], s))
            return i;
    return 0;
}

static int add_key(json_t *o, const char *name, const uint8_t k[32])
{
    char b[PPNC_KEY_B64_LEN + 1];
    ppnc_key_to_base64(b, k);
    return json_object_set_new(o, name, json_string(b));
}

PPN_EXPORT int ppn_ledger_entry_to_json(const struct ppn_ledger_entry *e, char **ret_json)
{
    if (!e || !ret_json)
        return -EINVAL;
    uint32_t f = entry_fields(e);
    if (!f)
        return -EINVAL;
    json_t *o = json_object();
    if (!o)
        return -ENOMEM;
    json_object_set_new(o, "type", json_string(ppn_ledger_entry_type_name(e->type)));
    json_object_set_new(o, "index", json_integer((json_int_t)e->index));
    json_object_set_new(o, "time_ms", json_integer((json_int_t)e->time_ms));
    add_key(o, "author", e->author);
    if (f & B(K_TARGET))
        json_object_set_new(o, "target", json_integer((json_int_t)e->target));
    if (f & B(K_REPL))
        json_object_set_new(o, "replacement_type",
                            json_string(e->replacement_type ? ppn_ledger_entry_type_name(e->replacement_type) : "none"));
    if (f & B(K_SUBJECT))
        add_key(o, "subject", e->subject);
    if (f & B(K_WG))
        add_key(o, "wg_key", e->wg_key);
    struct { uint32_t k; const char *n; const char *v; } t[] = {
        {K_TEXT, "text", e->text},         {K_MESH, "mesh", e->mesh},
        {K_ENDPOINT, "endpoint", e->endpoint}, {K_HOSTNAME, "hostname", e->hostname},
        {K_CAP, "capability", e->capability}, {K_SCOPE, "scope", e->scope},
    };
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(t); i++)
        if (f & B(t[i].k))
            json_object_set_new(o, t[i].n, json_stringn(t[i].v, strlen(t[i].v)));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return -ENOMEM;
    *ret_json = s;
    return 0;
}

/* ---- JSON in: every field named, typed and known to the entry's type ---- */
struct jfield {
    const char *name, *alias; /* alias: a second name for the same field (or NULL) */
    unsigned kind;            /* 0 key (base64), 1 text, 2 number */
    size_t off;
    bool required;
};
#define JF(n, a, k, f, req) {n, a, k, offsetof(struct ppn_ledger_entry, f), req}

static const struct jfield *type_jfields(uint32_t t, size_t *ret_n)
{
    static const struct jfield genesis[] = {
        JF("origin", "text", 1, text, true), JF("mesh", NULL, 1, mesh, true),
        JF("subject", NULL, 0, subject, false)};
    static const struct jfield join[] = {
        JF("subject", "identity", 0, subject, true), JF("wg_key", NULL, 0, wg_key, true),
        JF("mesh", NULL, 1, mesh, true), JF("endpoint", NULL, 1, endpoint, false),
        JF("hostname", NULL, 1, hostname, true)};
    static const struct jfield revoke[] = {
        JF("subject", "identity", 0, subject, true), JF("reason", "text", 1, text, false)};
    static const struct jfield cap[] = {
        JF("subject", NULL, 0, subject, true), JF("capability", NULL, 1, capability, true),
        JF("scope", NULL, 1, scope, false)};
    static const struct jfield vm[] = {
        JF("vm", "text", 1, text, true), JF("node", "subject", 0, subject, true)};
    static const struct jfield sup[] = {
        JF("target", NULL, 2, target, true)};
    switch (t) {
    case PPN_LEDGER_ENTRY_GENESIS: *ret_n = PPNC_ARRAY_SIZE(genesis); return genesis;
    case PPN_LEDGER_ENTRY_NODE_JOIN: *ret_n = PPNC_ARRAY_SIZE(join); return join;
    case PPN_LEDGER_ENTRY_NODE_REVOKE: *ret_n = PPNC_ARRAY_SIZE(revoke); return revoke;
    case PPN_LEDGER_ENTRY_CAP_GRANT:
    case PPN_LEDGER_ENTRY_CAP_REVOKE: *ret_n = PPNC_ARRAY_SIZE(cap); return cap;
    case PPN_LEDGER_ENTRY_VM_ASSIGN: *ret_n = PPNC_ARRAY_SIZE(vm); return vm;
    case PPN_LEDGER_ENTRY_SUPERSEDE: *ret_n = PPNC_ARRAY_SIZE(sup); return sup;
    default: *ret_n = 0; return NULL;
    }
}

static int jwhy(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jwhy(char *msg, size_t size, const char *fmt, ...)
{
    if (msg && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

static void list_fields(char *buf, size_t size, const struct jfield *f, size_t n,
                        const struct jfield *f2, size_t n2)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n + n2 && o < size; i++) {
        const struct jfield *x = i < n ? &f[i] : &f2[i - n];
        int k = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", x->name);
        if (k > 0)
            o += (size_t)k;
    }
}

static int get_field(json_t *v, const struct jfield *f, const char *name, const char *tn,
                     struct ppn_ledger_entry *e, char *msg, size_t size)
{
    uint8_t *base = (uint8_t *)e;
    switch (f->kind) {
    case 0:
        if (!json_is_string(v) ||
            ppnc_key_from_base64(base + f->off, json_string_value(v), json_string_length(v)) < 0)
            return jwhy(msg, size, "%s: \"%s\" must be a 32-byte key in base64 (44 characters, as "
                        "wg genkey prints)", tn, name);
        return 0;
    case 1:
        if (!json_is_string(v))
            return jwhy(msg, size, "%s: \"%s\" must be a string", tn, name);
        if (json_string_length(v) > PPN_LEDGER_TEXT_MAX ||
            !text_valid(json_string_value(v), json_string_length(v)))
            return jwhy(msg, size, "%s: \"%s\" must be UTF-8 without NUL, at most %d bytes", tn, name,
                        PPN_LEDGER_TEXT_MAX);
        memcpy(base + f->off, json_string_value(v), json_string_length(v) + 1);
        return 0;
    default:
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return jwhy(msg, size, "%s: \"%s\" must be a non-negative integer", tn, name);
        *(uint64_t *)(void *)(base + f->off) = (uint64_t)json_integer_value(v);
        return 0;
    }
}

PPN_EXPORT int ppn_ledger_entry_parse_json(const char *json, size_t len,
                                           struct ppn_ledger_entry *ret_entry, char *msg,
                                           size_t msg_size)
{
    if (!json || !ret_entry)
        return -EINVAL;
    if (msg && msg_size)
        msg[0] = 0;
    json_error_t jerr;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return jwhy(msg, msg_size, "not JSON: %s (column %d)", jerr.text, jerr.column);
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    int r = -EBADMSG;
    char names[256];
    if (!json_is_object(o)) {
        jwhy(msg, msg_size, "not a JSON object");
        goto out;
    }
    json_t *t = json_object_get(o, "type");
    if (!json_is_string(t)) {
        jwhy(msg, msg_size, "\"type\" is missing or not a string");
        goto out;
    }
    if (!(e.type = type_from_name(json_string_value(t)))) {
        jwhy(msg, msg_size, "\"type\": \"%s\" is not an entry type (genesis, node-join, "
             "node-revoke, cap-grant, cap-revoke, vm-assign, supersede)", json_string_value(t));
        goto out;
    }
    const char *tn = type_names[e.type];
    size_t n1, n2 = 0;
    const struct jfield *f1 = type_jfields(e.type, &n1), *f2 = NULL;
    if (e.type == PPN_LEDGER_ENTRY_SUPERSEDE) {
        json_t *rt = json_object_get(o, "replacement_type");
        if (!json_is_string(rt)) {
            jwhy(msg, msg_size, "supersede: \"replacement_type\" is missing or not a string "
                 "(none, node-join, cap-grant or vm-assign)");
            goto out;
        }
        const char *rs = json_string_value(rt);
        e.replacement_type = strcmp(rs, "none") ? type_from_name(rs) : 0;
        if (strcmp(rs, "none") &&
            e.replacement_type != PPN_LEDGER_ENTRY_NODE_JOIN &&
            e.replacement_type != PPN_LEDGER_ENTRY_CAP_GRANT &&
            e.replacement_type != PPN_LEDGER_ENTRY_VM_ASSIGN) {
            jwhy(msg, msg_size, "supersede: \"replacement_type\": \"%s\" is not none, node-join, "
                 "cap-grant or vm-assign", rs);
            goto out;
        }
        if (e.replacement_type)
            f2 = type_jfields(e.replacement_type, &n2);
    }
    /* Every key must be known: a misspelt field is refused, never ignored. */
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (!strcmp(k, "type") || (e.type == PPN_LEDGER_ENTRY_SUPERSEDE && !strcmp(k, "replacement_type")))
            continue;
        if (!strcmp(k, "index") || !strcmp(k, "time_ms")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                jwhy(msg, msg_size, "%s: \"%s\" must be a non-negative integer", tn, k);
                goto out;
            }
            *(!strcmp(k, "index") ? &e.index : &e.time_ms) = (uint64_t)json_integer_value(v);
            continue;
        }
        if (!strcmp(k, "author")) {
            if (!json_is_string(v) || ppnc_key_from_base64(e.author, json_string_value(v),
                                                           json_string_length(v)) < 0) {
                jwhy(msg, msg_size, "%s: \"author\" must be a 32-byte key in base64", tn);
                goto out;
            }
            continue;
        }
        const struct jfield *f = NULL;
        for (size_t i = 0; i < n1 + n2 && !f; i++) {
            const struct jfield *x = i < n1 ? &f1[i] : &f2[i - n1];
            if (!strcmp(x->name, k) || (x->alias && !strcmp(x->alias, k)))
                f = x;
        }
        if (!f) {
            list_fields(names, sizeof(names), f1, n1, f2, n2);
            jwhy(msg, msg_size, "%s: \"%s\" is not a field of %s%s%s (its fields: %s)", tn, k, tn,
                 f2 ? " replaced by " : "", f2 ? type_names[e.replacement_type] : "", names);
            goto out;
        }
        if (f->alias && json_object_get(o, f->name) && json_object_get(o, f->alias)) {
            jwhy(msg, msg_size, "%s: \"%s\" and \"%s\" are the same field; give one", tn, f->name,
                 f->alias);
            goto out;
        }
        if ((r = get_field(v, f, k, tn, &e, msg, msg_size)) < 0)
            goto out;
        r = -EBADMSG;
    }
    for (size_t i = 0; i < n1 + n2; i++) {
        const struct jfield *x = i < n1 ? &f1[i] : &f2[i - n1];
        if (x->required && !json_object_get(o, x->name) && !(x->alias && json_object_get(o, x->alias))) {
            jwhy(msg, msg_size, "%s: \"%s\" is missing (a %s%s%s needs it)", tn, x->name, tn,
                 f2 ? " replaced by " : "", f2 ? type_names[e.replacement_type] : "");
            goto out;
        }
    }
    *ret_entry = e;
    r = 0;
out:
    json_decref(o);
    return r;
}

PPN_EXPORT int ppn_ledger_entry_from_json(const char *json, size_t len,
                                          struct ppn_ledger_entry *ret_entry)
{
    return ppn_ledger_entry_parse_json(json, len, ret_entry, NULL, 0);
}
