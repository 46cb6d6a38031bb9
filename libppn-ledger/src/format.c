/* Text and JSON forms of ledger data, for people and scripts: an entry, the current views,
 * the ledger's summary, a verification summary, checkpoints, proofs, and the key-file forms
 * of an Ed25519 secret key.  What `ppn-ledger show/verify/checkpoint/prove/consistency` print
 * is made here, so that another program or a binding prints the same. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "internal.h"

/* ---- a growing text buffer ---- */
struct text {
    char *p;
    size_t len, cap;
    int err;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
    if (t->err)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->err = -EINVAL;
            return;
        }
        if (t->p && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap : 256;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *np = realloc(t->p, cap);
        if (!np) {
            t->err = -ENOMEM;
            return;
        }
        t->p = np;
        t->cap = cap;
    }
}

/* 0 and *ret = the text (malloc'd, "" when nothing was put), or the error (text freed). */
static int text_done(struct text *t, char **ret)
{
    if (!t->err && !t->p)
        put(t, "%s", "");
    if (t->err) {
        free(t->p);
        return t->err;
    }
    *ret = t->p;
    return 0;
}

static void b64key(char out[45], const uint8_t k[32])
{
    sodium_bin2base64(out, 45, k, 32, sodium_base64_VARIANT_ORIGINAL);
}

static void hex32(char out[65], const uint8_t h[32])
{
    sodium_bin2hex(out, 65, h, 32);
}

/* One JSON value as compact ASCII text (taking the reference). */
static int json_done(json_t *o, char **ret)
{
    char *t = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(o);
    if (!t)
        return -ENOMEM;
    *ret = t;
    return 0;
}

PPN_EXPORT const char *ppn_ledger_file_name(uint32_t file)
{
    static const char *files[] = {"entries", "tree", "checkpoint", "nodes.jsonl"};
    return file < sizeof(files) / sizeof(files[0]) ? files[file] : "?";
}

PPN_EXPORT int ppn_ledger_view_from_name(const char *name, uint32_t *ret_view)
{
    static const char *names[] = {"members", "grants", "assignments"};
    if (!name || !ret_view)
        return -EINVAL;
    for (uint32_t i = 0; i < 3; i++)
        if (!strcmp(name, names[i])) {
            *ret_view = i + 1;
            return 0;
        }
    return -EINVAL;
}

/* ---- entries ---- */

PPN_EXPORT int ppn_ledger_entry_describe(const struct ppn_ledger_entry *e, char **ret_text)
{
    if (!e || !ret_text)
        return -EINVAL;
    struct text t = {0};
    char a[45], s[45], w[45];
    b64key(a, e->author);
    b64key(s, e->subject);
    b64key(w, e->wg_key);
    uint32_t ty = e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? e->replacement_type : e->type;
    put(&t, "%6" PRIu64 "  %-11s  by %s", e->index, ppn_ledger_entry_type_name(e->type), a);
    if (e->type == PPN_LEDGER_ENTRY_SUPERSEDE)
        put(&t, "\n        replaces %" PRIu64 " with %s", e->target, ty ? ppn_ledger_entry_type_name(ty) : "nothing");
    switch (ty) {
    case PPN_LEDGER_ENTRY_GENESIS:
        put(&t, "\n        origin %s, mesh %s, administrator %s", e->text, e->mesh, s);
        break;
    case PPN_LEDGER_ENTRY_NODE_JOIN:
        put(&t, "\n        node %s (%s) wg %s mesh %s endpoint %s", s, e->hostname, w, e->mesh,
            e->endpoint[0] ? e->endpoint : "(none)");
        break;
    case PPN_LEDGER_ENTRY_NODE_REVOKE:
        put(&t, "\n        node %s%s%s", s, e->text[0] ? ", reason: " : "", e->text);
        break;
    case PPN_LEDGER_ENTRY_CAP_GRANT:
    case PPN_LEDGER_ENTRY_CAP_REVOKE:
        put(&t, "\n        %s to %s%s%s", e->capability, s, e->scope[0] ? " scope " : "", e->scope);
        break;
    case PPN_LEDGER_ENTRY_VM_ASSIGN:
        put(&t, "\n        VM %s on node %s", e->text, s);
        break;
    }
    put(&t, "\n");
    return text_done(&t, ret_text);
}

PPN_EXPORT int ppn_ledger_get_json(ppn_ledger *l, uint64_t index, char **ret_json)
{
    if (!l || !ret_json)
        return -EINVAL;
    struct ppn_ledger_entry e;
    uint8_t leaf[32];
    char *js, hx[65];
    int r = ppn_ledger_get(l, index, &e);
    if (r < 0 || (r = ppn_ledger_leaf_hash(l, index, leaf)) < 0 || (r = ppn_ledger_entry_to_json(&e, &js)) < 0)
        return r;
    hex32(hx, leaf);
    struct text t = {0};
    size_t n = strlen(js);
    /* the leaf hash goes before the object's closing brace */
    put(&t, "%.*s,\"leaf_hash\":\"%s\"}", (int)(n ? n - 1 : 0), js, hx);
    free(js);
    return text_done(&t, ret_json);
}

/* ---- the current views ---- */

/* The records of one view: into the JSON array 'a', or as text lines after 'indent'. */
static int view_put(const ppn_ledger *l, uint32_t view, bool json, const char *indent, struct text *t,
                    json_t *a)
{
    size_t count = view == PPN_LEDGER_VIEW_MEMBERS ? ppn_ledger_member_count(l)
                   : view == PPN_LEDGER_VIEW_GRANTS ? ppn_ledger_grant_count(l)
                   : view == PPN_LEDGER_VIEW_ASSIGNMENTS ? ppn_ledger_assignment_count(l) : 0;
    if (view < PPN_LEDGER_VIEW_MEMBERS || view > PPN_LEDGER_VIEW_ASSIGNMENTS)
        return -EINVAL;
    char k[45], w[45];
    for (size_t i = 0; i < count; i++) {
        json_t *o = NULL;
        int r;
        if (view == PPN_LEDGER_VIEW_MEMBERS) {
            struct ppn_ledger_member m;
            if ((r = ppn_ledger_member_get(l, i, &m)) < 0)
                return r;
            b64key(k, m.identity);
            b64key(w, m.wg_key);
            if (json)
                o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "hostname", m.hostname, "mesh", m.mesh, "endpoint",
                              m.endpoint, "identity", k, "wg_key", w, "entry", (json_int_t)m.index);
            else
                put(t, "%s%-16s %-15s %s  %s (entry %" PRIu64 ")\n", indent, m.hostname, m.mesh, k,
                    m.endpoint[0] ? m.endpoint : "-", m.index);
        } else if (view == PPN_LEDGER_VIEW_GRANTS) {
            struct ppn_ledger_grant g;
            if ((r = ppn_ledger_grant_get(l, i, &g)) < 0)
                return r;
            b64key(k, g.subject);
            if (json)
                o = json_pack("{s:s,s:s,s:s,s:I}", "capability", g.capability, "subject", k, "scope", g.scope,
                              "entry", (json_int_t)g.index);
            else
                put(t, "%s%-12s %s%s%s (entry %" PRIu64 ")\n", indent, g.capability, k,
                    g.scope[0] ? " scope " : "", g.scope, g.index);
        } else {
            struct ppn_ledger_assignment as;
            if ((r = ppn_ledger_assignment_get(l, i, &as)) < 0)
                return r;
            b64key(k, as.node);
            if (json)
                o = json_pack("{s:s,s:s,s:I}", "vm", as.vm, "node", k, "entry", (json_int_t)as.index);
            else
                put(t, "%s%-16s on %s (entry %" PRIu64 ")\n", indent, as.vm, k, as.index);
        }
        if (json && json_array_append_new(a, o) < 0)
            return -ENOMEM;
    }
    return 0;
}

PPN_EXPORT int ppn_ledger_view_format(const ppn_ledger *l, uint32_t view, uint32_t flags, char **ret)
{
    if (!l || !ret || (flags & ~(uint32_t)PPN_LEDGER_FORMAT_JSON) || view < PPN_LEDGER_VIEW_MEMBERS ||
        view > PPN_LEDGER_VIEW_ASSIGNMENTS)
        return -EINVAL;
    bool json = flags & PPN_LEDGER_FORMAT_JSON;
    struct text t = {0};
    json_t *a = json ? json_array() : NULL;
    if (json && !a)
        return -ENOMEM;
    int r = view_put(l, view, json, "", &t, a);
    if (json) {
        free(t.p);
        if (r < 0) {
            json_decref(a);
            return r;
        }
        return json_done(a, ret);
    }
    if (r < 0)
        t.err = t.err ? t.err : r;
    return text_done(&t, ret);
}

/* The root of the whole ledger in hex. */
static int root_hex(ppn_ledger *l, char hx[65])
{
    uint8_t root[32];
    int r = ppn_ledger_root(l, ppn_ledger_size(l), root);
    if (r == 0)
        hex32(hx, root);
    return r;
}

PPN_EXPORT int ppn_ledger_describe(ppn_ledger *l, char **ret_text)
{
    if (!l || !ret_text)
        return -EINVAL;
    char hx[65];
    int r = root_hex(l, hx);
    if (r < 0)
        return r;
    struct text t = {0};
    put(&t, "ledger %s\n  origin %s\n  mesh   %s\n  size   %" PRIu64 "\n  root   %s\n", ppn_ledger_dir(l),
        ppn_ledger_origin(l), ppn_ledger_mesh_range(l), ppn_ledger_size(l), hx);
    put(&t, "members (%zu):\n", ppn_ledger_member_count(l));
    if ((r = view_put(l, PPN_LEDGER_VIEW_MEMBERS, false, "  ", &t, NULL)) == 0) {
        put(&t, "grants (%zu):\n", ppn_ledger_grant_count(l));
        r = view_put(l, PPN_LEDGER_VIEW_GRANTS, false, "  ", &t, NULL);
    }
    if (r == 0) {
        put(&t, "assignments (%zu):\n", ppn_ledger_assignment_count(l));
        r = view_put(l, PPN_LEDGER_VIEW_ASSIGNMENTS, false, "  ", &t, NULL);
    }
    if (r < 0)
        t.err = t.err ? t.err : r;
    return text_done(&t, ret_text);
}

PPN_EXPORT int ppn_ledger_verify_summary(ppn_ledger *l, uint32_t flags, char **ret)
{
    if (!l || !ret || (flags & ~(uint32_t)PPN_LEDGER_FORMAT_JSON))
        return -EINVAL;
    if (!(flags & PPN_LEDGER_FORMAT_JSON)) {
        struct text t = {0};
        put(&t, "%s: %" PRIu64 " entries verified\n", ppn_ledger_dir(l), ppn_ledger_size(l));
        return text_done(&t, ret);
    }
    char hx[65];
    int r = root_hex(l, hx);
    if (r < 0)
        return r;
    return json_done(json_pack("{s:s,s:s,s:I,s:s,s:b}", "dir", ppn_ledger_dir(l), "origin", ppn_ledger_origin(l),
                               "entries", (json_int_t)ppn_ledger_size(l), "root", hx, "verified", 1),
                     ret);
}

/* ---- checkpoints ---- */

PPN_EXPORT int ppn_ledger_checkpoint_parse(const char *note, size_t len,
                                           struct ppn_ledger_checkpoint_info *ret_info)
{
    if (!note || !ret_info)
        return -EINVAL;
    size_t text_len, nsigs;
    struct note_sig sig;
    struct checkpoint cp;
    int r = note_parse(note, len, &text_len, &sig, 1, &nsigs, NULL);
    if (r < 0 || (r = checkpoint_parse_text(note, text_len, &cp)) < 0)
        return -EBADMSG;
    if (cp.size > INT64_MAX)
        return -EBADMSG; /* no ledger of this library grows that far; JSON numbers stay exact */
    memset(ret_info, 0, sizeof(*ret_info));
    memcpy(ret_info->origin, cp.origin, sizeof(ret_info->origin));
    ret_info->size = cp.size;
    memcpy(ret_info->root, cp.root, 32);
    return 0;
}

PPN_EXPORT int ppn_ledger_checkpoint_to_json(const char *note, size_t len, char **ret_json)
{
    if (!note || !ret_json)
        return -EINVAL;
    struct ppn_ledger_checkpoint_info ci;
    int r = ppn_ledger_checkpoint_parse(note, len, &ci);
    if (r < 0)
        return r;
    char root[45];
    b64key(root, ci.root);
    return json_done(json_pack("{s:s,s:I,s:s,s:s%}", "origin", ci.origin, "size", (json_int_t)ci.size, "root", root,
                               "note", note, len),
                     ret_json);
}

/* ---- proofs ---- */

/* Inclusion of entry a in the tree of size b, or consistency of sizes a and b: the proof made,
 * verified against the ledger's roots, and printed with the two hashes it links. */
static int proof_format(ppn_ledger *l, bool consistency, uint64_t a, uint64_t b, uint32_t flags, char **ret)
{
    if (!l || !ret || (flags & ~(uint32_t)PPN_LEDGER_FORMAT_JSON))
        return -EINVAL;
    if ((consistency ? a > b : a >= b) || b > ppn_ledger_size(l))
        return -EINVAL;
    uint8_t proof[PPN_LEDGER_PROOF_MAX * 32], h1[32], h2[32];
    size_t n;
    int r = consistency ? ppn_ledger_prove_consistency(l, a, b, proof, PPN_LEDGER_PROOF_MAX, &n)
                        : ppn_ledger_prove_inclusion(l, a, b, proof, PPN_LEDGER_PROOF_MAX, &n);
    if (r < 0 || (r = consistency ? ppn_ledger_root(l, a, h1) : ppn_ledger_leaf_hash(l, a, h1)) < 0 ||
        (r = ppn_ledger_root(l, b, h2)) < 0)
        return r;
    r = consistency ? ppn_ledger_merkle_verify_consistency(a, b, h1, h2, proof, n)
                    : ppn_ledger_merkle_verify_inclusion(h1, a, b, proof, n, h2);
    if (r < 0)
        return r;
    char x1[65], x2[65];
    hex32(x1, h1);
    hex32(x2, h2);
    struct text t = {0};
    bool json = flags & PPN_LEDGER_FORMAT_JSON;
    if (json && consistency)
        put(&t, "{\"old_size\":%" PRIu64 ",\"new_size\":%" PRIu64 ",\"old_root\":\"%s\",\"new_root\":\"%s\",\"proof\":[",
            a, b, x1, x2);
    else if (json)
        put(&t, "{\"index\":%" PRIu64 ",\"size\":%" PRIu64 ",\"leaf_hash\":\"%s\",\"root\":\"%s\",\"proof\":[", a, b,
            x1, x2);
    else if (consistency)
        put(&t, "old size  %" PRIu64 "\nold root  %s\nnew size  %" PRIu64 "\nnew root  %s\n", a, x1, b, x2);
    else
        put(&t, "index     %" PRIu64 "\nsize      %" PRIu64 "\nleaf hash %s\nroot      %s\n", a, b, x1, x2);
    if (!json)
        put(&t, "proof (%zu hashes):\n", n);
    for (size_t i = 0; i < n; i++) {
        hex32(x1, proof + 32 * i);
        put(&t, json ? "%s\"%s\"" : "%s  %s\n", json && i ? "," : "", x1);
    }
    if (json)
        put(&t, "]}");
    return text_done(&t, ret);
}

PPN_EXPORT int ppn_ledger_inclusion_format(ppn_ledger *l, uint64_t index, uint64_t size, uint32_t flags,
                                           char **ret)
{
    return proof_format(l, false, index, size, flags, ret);
}

PPN_EXPORT int ppn_ledger_consistency_format(ppn_ledger *l, uint64_t old_size, uint64_t new_size,
                                             uint32_t flags, char **ret)
{
    return proof_format(l, true, old_size, new_size, flags, ret);
}

/* ---- secret keys in key files ---- */

PPN_EXPORT int ppn_ledger_secret_key_parse(const uint8_t *data, size_t len,
                                           uint8_t ret_sk[PPN_LEDGER_SECRET_KEY_BYTES])
{
    if (!data || !ret_sk)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    uint8_t raw[64], sk[64], pk[32];
    size_t got = 0, n = len;
    while (n && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' '))
        n--;
    /* Hex first: 64 hex digits (a seed) are also valid base64, and 64 raw bytes could be
     * anything.  Then base64, then 64 raw bytes. */
    bool is_hex = n == 64 || n == 128;
    for (size_t i = 0; is_hex && i < n; i++)
        is_hex = strchr("0123456789abcdefABCDEF", data[i]) && data[i];
    if (is_hex) {
        if (sodium_hex2bin(raw, sizeof(raw), (const char *)data, n, NULL, &got, NULL) != 0)
            got = 0;
    } else if (len != 64) {
        if (sodium_base642bin(raw, sizeof(raw), (const char *)data, n, NULL, &got, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
            got = 0;
    } else {
        memcpy(raw, data, 64);
        got = 64;
    }
    int r = -EBADMSG;
    if (got == 64) {
        memcpy(sk, raw, 64);
        r = 0;
    } else if (got == 32) {
        crypto_sign_seed_keypair(pk, sk, raw);
        r = 0;
    }
    if (r == 0) {
        /* The public half must belong to the seed. */
        uint8_t chk[64];
        crypto_sign_seed_keypair(pk, chk, sk);
        if (sodium_memcmp(chk, sk, 64) != 0)
            r = -EKEYREJECTED;
        else
            memcpy(ret_sk, sk, 64);
        sodium_memzero(chk, sizeof(chk));
    }
    sodium_memzero(raw, sizeof(raw));
    sodium_memzero(sk, sizeof(sk));
    return r;
}

/* ---- the reports of open, verify, import and sync, as sentences ---- */

PPN_EXPORT int ppn_ledger_report_format(const char *dir, int error, const struct ppn_ledger_report *report,
                                        uint32_t open_flags, char **ret_text)
{
    if (!dir || !report || !ret_text || error > 0)
        return -EINVAL;
    const struct ppn_ledger_report *rep = report;
    struct text t = {0};
    if (error < 0) {
        if (rep->error_index == UINT64_MAX && rep->error_offset == UINT64_MAX)
            return -ENOENT; /* nothing located: the caller says it as it says any errno */
        const char *f = ppn_ledger_file_name(rep->error_file);
        if (rep->error_index != UINT64_MAX)
            put(&t, "Failed to open '%s': %s at entry %" PRIu64 ", byte offset %" PRIu64 " of '%s'\n", dir,
                strerror(-error), rep->error_index, rep->error_offset, f);
        else
            put(&t, "Failed to open '%s': %s in '%s' (byte offset %" PRIu64 ")\n", dir, strerror(-error), f,
                rep->error_offset);
        return text_done(&t, ret_text);
    }
    bool writer = open_flags & PPN_LEDGER_OPEN_WRITE;
    if (rep->torn_bytes)
        put(&t, "'%s': torn tail of %" PRIu64 " bytes at offset %" PRIu64 " %s\n", dir, rep->torn_bytes,
            rep->torn_offset, writer ? "cut back" : "ignored");
    if (rep->tree_rebuilt)
        put(&t, "'%s': %u hashes of the tree cache rebuilt\n", dir, rep->tree_rebuilt);
    if (rep->lost_count)
        put(&t, "'%s': warning: entries %" PRIu64 "..%" PRIu64 " are lost: the tree cache holds their hashes but "
            "'entries' ends before them (never acknowledged if power failed while they were written; "
            "otherwise 'entries' was cut: restore them from a replica)%s\n", dir, rep->lost_index,
            rep->lost_index + rep->lost_count - 1, writer ? "; new entries are appended from there" : "");
    return text_done(&t, ret_text);
}

PPN_EXPORT int ppn_ledger_import_report_format(const char *src_dir, int error,
                                               const struct ppn_ledger_import_report *report,
                                               const char *reason, uint32_t flags, char **ret)
{
    if (!src_dir || !report || !ret || error >= 0 || (flags & ~(uint32_t)PPN_LEDGER_FORMAT_JSON))
        return -EINVAL;
    const struct ppn_ledger_import_report *rep = report;
    const char *why = reason ? reason : "";
    bool json = flags & PPN_LEDGER_FORMAT_JSON;
    bool at_index = rep->error_index != UINT64_MAX, at_offset = rep->error_offset != UINT64_MAX;
    struct text t = {0};
    if (rep->fork) {
        char a[65], b[65];
        hex32(a, rep->ours);
        hex32(b, rep->theirs);
        if (json)
            return json_done(json_pack("{s:s,s:s,s:I,s:s,s:s}", "error", "fork", "source", src_dir, "fork_size",
                                       (json_int_t)rep->fork_size, "our_root", a, "their_root", b),
                             ret);
        put(&t, "Failed to import '%s': fork at tree size %" PRIu64 ": our root %s, theirs %s; nothing imported\n",
            src_dir, rep->fork_size, a, b);
        return text_done(&t, ret);
    }
    if (!at_index && !at_offset)
        return -ENOENT;
    const char *file = ppn_ledger_file_name(rep->error_file);
    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:i,s:s,s:s}", "error", strerror(-error), "source", src_dir, "errno", -error,
                              "file", file, "reason", why);
        if (o && at_index)
            json_object_set_new(o, "index", json_integer((json_int_t)rep->error_index));
        if (o && at_offset)
            json_object_set_new(o, "offset", json_integer((json_int_t)rep->error_offset));
        return json_done(o, ret);
    }
    if (at_index)
        put(&t, "Failed to import '%s': %s at entry %" PRIu64 ", byte offset %" PRIu64 " of '%s/%s'%s%s; nothing "
            "imported\n", src_dir, strerror(-error), rep->error_index, rep->error_offset, src_dir, file,
            why[0] ? ": " : "", why);
    else
        put(&t, "Failed to import '%s': %s in '%s/%s' (byte offset %" PRIu64 "); nothing imported\n", src_dir,
            strerror(-error), src_dir, file, rep->error_offset);
    return text_done(&t, ret);
}

PPN_EXPORT int ppn_ledger_sync_report_format(int error, const struct ppn_ledger_sync_report *report,
                                             char **ret_text)
{
    if (!report || !ret_text || error >= 0)
        return -EINVAL;
    const struct ppn_ledger_sync_report *rep = report;
    char why[sizeof(rep->why) + 1];
    memcpy(why, rep->why, sizeof(rep->why));
    why[sizeof(rep->why)] = 0; /* bounded whatever the caller's struct holds */
    struct text t = {0};
    if (rep->fork) {
        char a[65], b[65];
        hex32(a, rep->ours);
        hex32(b, rep->theirs);
        put(&t, "fork at size %" PRIu64 ", ours %s theirs %s", rep->fork_size, a, b);
        if (why[0])
            put(&t, ": %s", why);
    } else if (!why[0]) {
        put(&t, "%s\n", strerror(-error));
        return text_done(&t, ret_text);
    } else {
        put(&t, "%s", why);
    }
    put(&t, " (error %s)\n", strerror(-error));
    return text_done(&t, ret_text);
}
