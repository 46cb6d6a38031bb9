/* nodes.jsonl, full verification, replication. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"

static int nodes_text(ppn_ledger *l, char **ret, size_t *ret_len)
{
    char *out = NULL;
    size_t len = 0, cap = 0;
    int r = 0;
    for (uint64_t i = 0; i < l->n; i++) {
        struct ppn_ledger_entry e;
        if ((r = ppn_ledger_get(l, i, &e)) < 0)
            break;
        bool node = e.type == PPN_LEDGER_ENTRY_NODE_JOIN || e.type == PPN_LEDGER_ENTRY_NODE_REVOKE ||
                    (e.type == PPN_LEDGER_ENTRY_SUPERSEDE &&
                     e.replacement_type == PPN_LEDGER_ENTRY_NODE_JOIN);
        if (e.type == PPN_LEDGER_ENTRY_SUPERSEDE && !e.replacement_type) {
            struct ppn_ledger_entry t;
            if (ppn_ledger_get(l, e.target, &t) == 0 &&
                (t.type == PPN_LEDGER_ENTRY_NODE_JOIN ||
                 (t.type == PPN_LEDGER_ENTRY_SUPERSEDE && t.replacement_type == PPN_LEDGER_ENTRY_NODE_JOIN)))
                node = true;
        }
        if (!node)
            continue;
        uint8_t leaf[32];
        char hex[65], b64[PPNC_KEY_B64_LEN + 1];
        if ((r = ppn_ledger_leaf_hash(l, i, leaf)) < 0)
            break;
        sodium_bin2hex(hex, sizeof(hex), leaf, 32);
        json_t *o = json_object();
        if (!o) {
            r = -ENOMEM;
            break;
        }
        json_object_set_new(o, "index", json_integer((json_int_t)i));
        json_object_set_new(o, "leaf_hash", json_string(hex));
        json_object_set_new(o, "type", json_string(ppn_ledger_entry_type_name(e.type)));
        if (e.type == PPN_LEDGER_ENTRY_SUPERSEDE)
            json_object_set_new(o, "target", json_integer((json_int_t)e.target));
        if (e.type != PPN_LEDGER_ENTRY_SUPERSEDE || e.replacement_type) {
            ppnc_key_to_base64(b64, e.subject);
            json_object_set_new(o, "identity", json_string(b64));
        }
        if (e.type == PPN_LEDGER_ENTRY_NODE_JOIN || e.replacement_type == PPN_LEDGER_ENTRY_NODE_JOIN) {
            ppnc_key_to_base64(b64, e.wg_key);
            json_object_set_new(o, "wg_key", json_string(b64));
            json_object_set_new(o, "mesh", json_string(e.mesh));
            json_object_set_new(o, "endpoint", json_string(e.endpoint));
            json_object_set_new(o, "hostname", json_string(e.hostname));
        }
        if (e.type == PPN_LEDGER_ENTRY_NODE_REVOKE)
            json_object_set_new(o, "reason", json_string(e.text));
        json_object_set_new(o, "time_ms", json_integer((json_int_t)e.time_ms));
        ppnc_key_to_base64(b64, e.author);
        json_object_set_new(o, "author", json_string(b64));
        char *s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (!s) {
            r = -ENOMEM;
            break;
        }
        size_t sl = strlen(s);
        if (len + sl + 2 > cap) {
            size_t nc = (cap + sl + 2) * 2;
            char *no = realloc(out, nc);
            if (!no) {
                free(s);
                r = -ENOMEM;
                break;
            }
            out = no;
            cap = nc;
        }
        memcpy(out + len, s, sl);
        len += sl;
        out[len++] = '\n';
        free(s);
    }
    if (r < 0) {
        free(out);
        return r;
    }
    if (!out && !(out = malloc(1)))
        return -ENOMEM;
    out[len] = 0;
    *ret = out;
    *ret_len = len;
    return 0;
}

PPN_EXPORT int ppn_ledger_export_nodes(ppn_ledger *l, const char *path)
{
    if (!l)
        return -EINVAL;
    char p[4096];
    if (!path) {
        if (snprintf(p, sizeof(p), "%s/nodes.jsonl", l->dir) >= (int)sizeof(p))
            return -ENAMETOOLONG;
        path = p;
    }
    char *text;
    size_t len;
    int r = nodes_text(l, &text, &len);
    if (r < 0)
        return r;
    r = ppnc_write_file_atomic(path, text, len, 0644);
    free(text);
    return r;
}

PPN_EXPORT int ppn_ledger_verify(ppn_ledger *l, unsigned threads, struct ppn_ledger_report *report)
{
    struct ppn_ledger_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.error_index = rep.error_offset = rep.torn_offset = rep.lost_index = UINT64_MAX;
    if (!l) {
        if (report)
            *report = rep;
        return -EINVAL;
    }
    ppn_ledger *f;
    int r = ledger_open_internal(l->dir, 0, true, false, threads, l->progress, l->progress_ud, &rep, &f);
    if (r == 0) {
        /* What is on disk must be what this handle holds (a writer sees all of it). */
        uint8_t a[32], b[32];
        if (f->n < l->n) {
            rep.error_index = f->n;
            rep.error_offset = f->end;
            r = -EUCLEAN;
        } else if (ppn_ledger_root(l, l->n, a) < 0 || ppn_ledger_root(f, l->n, b) < 0 ||
                   memcmp(a, b, 32) != 0) {
            rep.error_index = l->n - 1;
            rep.error_offset = l->locs[l->n - 1].off;
            r = -EUCLEAN;
        }
        /* The nodes.jsonl view, when present, must be what the entries say. */
        char p[4096];
        uint8_t *have;
        size_t hl;
        snprintf(p, sizeof(p), "%s/nodes.jsonl", l->dir);
        if (r == 0 && ppnc_read_file(p, 1u << 30, &have, &hl) == 0) {
            char *want;
            size_t wl;
            r = nodes_text(f, &want, &wl);
            /* A stale view (a prefix, whole lines) is truthful; anything else is not. */
            bool prefix = hl <= wl && memcmp(want, have, hl) == 0 && (hl == 0 || have[hl - 1] == '\n');
            if (r == 0 && !prefix) {
                rep.error_file = 3;
                rep.error_index = UINT64_MAX;
                /* The first byte that differs, or where the shorter one ends (a file longer
                 * than the entries say, or one that stops inside a line). */
                rep.error_offset = hl < wl ? hl : wl;
                for (size_t i = 0; i < hl && i < wl; i++)
                    if (have[i] != (uint8_t)want[i]) {
                        rep.error_offset = i;
                        break;
                    }
                r = -EUCLEAN;
            }
            if (r == 0 || r == -EUCLEAN)
                free(want);
            free(have);
        }
        ppn_ledger_free(f);
    }
    if (report)
        *report = rep;
    return r;
}

int ledger_adopt_checkpoint(ppn_ledger *l, const char *note, size_t len)
{
    struct checkpoint cp;
    uint8_t root[32];
    if (checkpoint_verify_any(note, len, l->origin, (const uint8_t (*)[32])l->v.admins, l->v.nadm, &cp) < 0 ||
        cp.size > l->n || ppn_ledger_root(l, cp.size, root) < 0 || memcmp(root, cp.root, 32) != 0)
        return -EKEYREJECTED;
    if (l->has_cp && cp.size <= l->cp.size)
        return 0;
    char p[4096];
    snprintf(p, sizeof(p), "%s/checkpoint", l->dir);
    if (fdatasync(l->tfd) < 0 || ppnc_write_file_atomic(p, note, len, 0600) < 0) {
        l->poisoned = true;
        return -EIO;
    }
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, note, len);
        copy[len] = 0;
        free(l->cp_note);
        l->cp_note = copy;
        l->cp_len = len;
        l->cp = cp;
        l->has_cp = true;
    }
    return 1;
}

PPN_EXPORT int ppn_ledger_import(ppn_ledger *l, const char *src_dir,
                                 struct ppn_ledger_import_report *report)
{
    struct ppn_ledger_import_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.error_index = rep.error_offset = UINT64_MAX;
    if (!l || !src_dir) {
        if (report)
            *report = rep;
        return -EINVAL;
    }
    if (!l->writer)
        return -EBADF;
    ppn_ledger *s;
    struct ppn_ledger_report srep;
    memset(&srep, 0, sizeof(srep));
    srep.error_index = srep.error_offset = srep.torn_offset = srep.lost_index = UINT64_MAX;
    /* Another replica's 'verified' state records what that node checked, not this one. */
    int r = ledger_open_internal(src_dir, 0, false, false, 0, l->progress, l->progress_ud, &srep, &s);
    if (r < 0) {
        /* Where the source is damaged or forged: its file, entry index and byte offset. */
        rep.error_file = srep.error_file;
        rep.error_index = srep.error_index;
        rep.error_offset = srep.error_offset;
        l->err_index = UINT64_MAX;
        snprintf(l->err, sizeof(l->err), "%s",
                 r == -EKEYREJECTED ? "a signature does not verify (forged or damaged)"
                 : r == -EPERM ? "its author lacked the capability the entry needs"
                 : r == -EUCLEAN ? "damaged (framing, head check, checksum, encoding, index, tree cache or checkpoint)"
                 : strerror(-r));
        if (report)
            *report = rep;
        return r == -EUCLEAN || r == -EKEYREJECTED || r == -EPERM ? -EBADMSG : r;
    }
    uint64_t common = l->n < s->n ? l->n : s->n;
    uint8_t ours[32], theirs[32];
    /* Any disagreement on the common prefix is a fork (two checkpoints of the same size with
     * different roots are one too: each was checked against its own entries on opening). */
    if ((r = ppn_ledger_root(l, common, ours)) < 0 || (r = ppn_ledger_root(s, common, theirs)) < 0)
        goto out;
    if (memcmp(ours, theirs, 32) != 0) {
        /* The first size at which they differ: roots agree below it and differ from it on
         * (a root commits to its whole prefix), so a binary search finds it. */
        uint64_t lo = 1, hi = common; /* the answer is in [lo, hi] */
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            uint8_t a[32], b[32];
            if ((r = ppn_ledger_root(l, mid, a)) < 0 || (r = ppn_ledger_root(s, mid, b)) < 0)
                goto out;
            if (memcmp(a, b, 32) != 0)
                hi = mid;
            else
                lo = mid + 1;
        }
        rep.fork = 1;
        rep.fork_size = lo;
        if ((r = ppn_ledger_root(l, lo, rep.ours)) < 0 || (r = ppn_ledger_root(s, lo, rep.theirs)) < 0)
            goto out;
        rep.error_file = 0;
        rep.error_index = lo - 1;
        rep.error_offset = s->locs[lo - 1].off;
        r = -EPROTO;
        goto out;
    }
    if (s->n > l->n) {
        size_t n = (size_t)(s->n - l->n);
        /* Room for exactly their records (not ENTRY_MAX each: 50,000 entries would be 200 MB). */
        size_t room = (size_t)(s->end - s->locs[l->n].off);
        uint8_t *buf = malloc(room);
        const uint8_t **pp = malloc(n * sizeof(*pp));
        size_t *lens = malloc(n * sizeof(*lens));
        r = -ENOMEM;
        if (buf && pp && lens) {
            r = 0;
            size_t used = 0;
            for (size_t i = 0; i < n && r == 0; i++) {
                pp[i] = buf + used;
                r = ppn_ledger_get_raw(s, l->n + i, buf + used, room - used, &lens[i]);
                used += lens[i];
            }
            if (r == 0)
                r = ppn_ledger_append_signed(l, pp, lens, n, NULL);
            if (r == 0)
                rep.imported = n;
            else if (l->err_index != UINT64_MAX && l->err_index < s->n) {
                /* An entry the source holds but our rules refuse: where it is in the source. */
                rep.error_file = 0;
                rep.error_index = l->err_index;
                rep.error_offset = s->locs[l->err_index].off;
            }
        }
        free(buf);
        free(pp);
        free(lens);
        if (r < 0)
            goto out;
    }
    /* Keep the newer checkpoint, once it verifies against our (now extended) ledger. */
    if (s->has_cp && (r = ledger_adopt_checkpoint(l, s->cp_note, s->cp_len)) < 0 && r == -EIO)
        goto out;
    r = 0;
out:
    ppn_ledger_free(s);
    if (report)
        *report = rep;
    return r;
}
