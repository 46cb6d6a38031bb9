/* Append with group commit: authority, framing, tree, one fdatasync; the typed
 * helpers (node-join, revoke, grants, assignments, supersede). */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"

/* ---- revoked keys stay out ---- */

static int burn(ppn_ledger *l, const uint8_t key[32], uint64_t index)
{
    if (l->nburned == l->cburned) {
        size_t nc = l->cburned ? l->cburned * 2 : 16;
        struct burned_key *nb = realloc(l->burned, nc * sizeof(*nb));
        if (!nb)
            return -ENOMEM;
        l->burned = nb;
        l->cburned = nc;
    }
    memcpy(l->burned[l->nburned].key, key, 32);
    l->burned[l->nburned++].index = index;
    return 0;
}

static const struct burned_key *burned_find(const ppn_ledger *l, const uint8_t key[32])
{
    for (size_t i = 0; i < l->nburned; i++)
        if (!memcmp(l->burned[i].key, key, 32))
            return &l->burned[i];
    return NULL;
}

/* The identities and WireGuard keys of every node revoked so far, from one
 * pass over the entries (a node-join's keys, burned by a later revoke). */
static int burned_build(ppn_ledger *l)
{
    struct join_keys {
        uint8_t id[32], wg[32];
    } *joins = NULL;
    size_t nj = 0, cj = 0;
    int r = 0;
    for (uint64_t i = 0; i < l->n && r == 0; i++) {
        struct ppn_ledger_entry e;
        if ((r = ppn_ledger_get(l, i, &e)) < 0)
            break;
        if (e.type == PPN_LEDGER_ENTRY_NODE_JOIN) {
            if (nj == cj) {
                size_t nc = cj ? cj * 2 : 64;
                struct join_keys *nb = realloc(joins, nc * sizeof(*nb));
                if (!nb) {
                    r = -ENOMEM;
                    break;
                }
                joins = nb;
                cj = nc;
            }
            memcpy(joins[nj].id, e.subject, 32);
            memcpy(joins[nj++].wg, e.wg_key, 32);
        } else if (e.type == PPN_LEDGER_ENTRY_NODE_REVOKE) {
            r = burn(l, e.subject, i);
            for (size_t k = 0; r == 0 && k < nj; k++)
                if (!memcmp(joins[k].id, e.subject, 32))
                    r = burn(l, joins[k].wg, i);
        }
    }
    free(joins);
    if (r == 0)
        l->burned_ready = true;
    else
        l->nburned = 0;
    return r;
}

static int check_not_burned(ppn_ledger *l, const struct ppn_ledger_entry *e)
{
    /* an author without the right is refused as such by view_apply */
    if (e->type != PPN_LEDGER_ENTRY_NODE_JOIN || !view_has_cap(&l->v, e->author, PPN_LEDGER_CAP_NODE_ADMIT, ""))
        return 0;
    const struct burned_key *b = burned_find(l, e->subject);
    const char *field = "subject", *what = "identity";
    if (!b) {
        b = burned_find(l, e->wg_key);
        field = "wg_key";
        what = "WireGuard key";
    }
    if (!b)
        return 0;
    snprintf(l->err, sizeof(l->err),
             "node-join: \"%s\": that %s belongs to a node revoked at entry %llu; a removed node joins again "
             "only with new keys", field, what, (unsigned long long)b->index);
    return -EPROTO;
}

static void explain_view_error(ppn_ledger *l, const struct ppn_ledger_entry *e, int r)
{
    const char *tn = ppn_ledger_entry_type_name(e->type), *rule = "breaks a ledger rule";
    if (r == -EPERM) {
        char a[PPNC_KEY_B64_LEN + 1];
        ppnc_key_to_base64(a, e->author);
        const char *cap = e->type == PPN_LEDGER_ENTRY_NODE_JOIN || e->type == PPN_LEDGER_ENTRY_NODE_REVOKE
                              ? PPN_LEDGER_CAP_NODE_ADMIT
                              : e->type == PPN_LEDGER_ENTRY_VM_ASSIGN ? PPN_LEDGER_CAP_VM_ASSIGN
                              : e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? "that its target needed"
                                                                      : PPN_LEDGER_CAP_ADMIN;
        snprintf(l->err, sizeof(l->err), "%s: the author %s lacks the capability %s%s%s", tn, a,
                 e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? "" : "\"", cap,
                 e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? "" : "\"");
        return;
    }
    if (r == -ENOMEM) {
        snprintf(l->err, sizeof(l->err), "out of memory");
        return;
    }
    switch (e->type) {
    case PPN_LEDGER_ENTRY_GENESIS: rule = "a genesis entry only at index 0, once, self-signed"; break;
    case PPN_LEDGER_ENTRY_NODE_JOIN: rule = "\"subject\": that identity key is already a member"; break;
    case PPN_LEDGER_ENTRY_NODE_REVOKE: rule = "\"subject\": that identity key is not a current member"; break;
    case PPN_LEDGER_ENTRY_CAP_GRANT: rule = "the same grant (subject, capability, scope) is already in effect"; break;
    case PPN_LEDGER_ENTRY_CAP_REVOKE: rule = "no grant of that subject, capability and scope is in effect"; break;
    case PPN_LEDGER_ENTRY_VM_ASSIGN: rule = "\"node\": that identity key is not a current member"; break;
    case PPN_LEDGER_ENTRY_SUPERSEDE:
        rule = "\"target\" is not a node-join, cap-grant or vm-assign still in effect (or the "
               "replacement's identity key is already a member), or \"replacement_type\" is not the "
               "target's type";
        break;
    }
    snprintf(l->err, sizeof(l->err), "%s: %s", tn, rule);
}

/* Append n decoded entries whose signed bytes are payloads[i]: authority, framing, tree, one
 * fdatasync.  The caller has checked the signatures. */
static int append_core(ppn_ledger *l, const struct ppn_ledger_entry *es,
                       const uint8_t *const *payloads, const size_t *lens, size_t n)
{
    if (!l->writer)
        return -EBADF;
    if (l->poisoned)
        return -EIO;
    if (n == 0)
        return 0;
    struct view snap;
    size_t burned_before = l->nburned; /* restored with the view on undo */
    int r = view_copy(&snap, &l->v);
    if (r < 0)
        return r;
    struct frontier *fr = malloc(sizeof(*fr));
    size_t rec_total = 0;
    for (size_t i = 0; i < n; i++)
        rec_total += lens[i] + REC_OVERHEAD;
    uint8_t *rec = malloc(rec_total);
    uint8_t (*hs)[32] = malloc((2 * n + 64) * 32);
    struct entry_loc *nl = realloc(l->locs, (l->n + n) * sizeof(*nl));
    if (!fr || !rec || !hs || !nl) {
        r = -ENOMEM;
        goto undo;
    }
    l->locs = nl;
    *fr = l->fr;
    size_t roff = 0, nh = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ppn_ledger_entry *e = &es[i];
        /* before the first join or revoke of the batch: what is revoked so far */
        if ((e->type == PPN_LEDGER_ENTRY_NODE_JOIN || e->type == PPN_LEDGER_ENTRY_NODE_REVOKE) &&
            !l->burned_ready && (r = burned_build(l)) < 0)
            goto undo;
        const char *tn = ppn_ledger_entry_type_name(e->type);
        l->err_index = l->n + i;
        if (e->index != l->n + i) {
            snprintf(l->err, sizeof(l->err), "%s: \"index\": signed for index %llu, not %llu",
                     tn, (unsigned long long)e->index, (unsigned long long)(l->n + i));
            r = -EPROTO;
            goto undo;
        }
        /* The meaning, then the rules that need the ledger, then authority and the view. */
        if ((r = entry_check_meaning(e, l->err, sizeof(l->err))) < 0 ||
            (r = view_check_write(&l->v, l->mesh, e, l->err, sizeof(l->err))) < 0 ||
            (r = check_not_burned(l, e)) < 0)
            goto undo;
        struct ppn_ledger_member gone;
        bool revoking = e->type == PPN_LEDGER_ENTRY_NODE_REVOKE && ppn_ledger_member_find(l, e->subject, &gone) == 0;
        if ((r = view_apply(&l->v, e)) < 0) {
            explain_view_error(l, e, r);
            goto undo;
        }
        if (revoking && ((r = burn(l, gone.identity, l->n + i)) < 0 || (r = burn(l, gone.wg_key, l->n + i)) < 0))
            goto undo;
        record_frame(rec + roff, l->n + i, payloads[i], lens[i]);
        uint8_t leaf[32];
        ppn_ledger_merkle_leaf_hash(payloads[i], lens[i], leaf);
        nh += frontier_append(fr, leaf, hs + nh);
        struct entry_loc *c = &l->locs[l->n + i];
        c->off = l->end + roff;
        roff += lens[i] + REC_OVERHEAD;
    }
    /* One write for the records, one for the tree cache, one fdatasync: the group commit. */
    if (pwrite(l->efd, rec, rec_total, (off_t)l->end) != (ssize_t)rec_total ||
        pwrite(l->tfd, hs, nh * 32, (off_t)(l->tree_count * 32)) != (ssize_t)(nh * 32) ||
        fdatasync(l->efd) < 0) {
        l->poisoned = true; /* never retry a failed write or fsync */
        r = -EIO;
        goto undo;
    }
    l->fr = *fr;
    l->n += n;
    l->end += rec_total;
    crypto_generichash_update(&l->eh, rec, rec_total);
    crypto_generichash_update(&l->th, hs[0], (unsigned long long)nh * 32);
    l->err_index = UINT64_MAX;
    l->err[0] = 0;
    l->tree_count += nh;
    view_free(&snap);
    free(fr);
    free(rec);
    free(hs);
    return 0;
undo:
    view_free(&l->v);
    l->v = snap;
    if (l->burned_ready)
        l->nburned = burned_before;
    free(fr);
    free(rec);
    free(hs);
    return r;
}

PPN_EXPORT int ppn_ledger_append(ppn_ledger *l, const struct ppn_ledger_entry *entries,
                                 size_t n, const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                 uint64_t *ret_first_index)
{
    if (!l || (!entries && n) || !author_sk)
        return -EINVAL;
    if (!l->writer)
        return -EBADF;
    struct ppn_ledger_entry *es = malloc((n ? n : 1) * sizeof(*es));
    uint8_t *buf = malloc((n ? n : 1) * PPN_LEDGER_ENTRY_MAX);
    const uint8_t **pp = malloc((n ? n : 1) * sizeof(*pp));
    size_t *lens = malloc((n ? n : 1) * sizeof(*lens));
    int r = -ENOMEM;
    if (!es || !buf || !pp || !lens)
        goto out;
    for (size_t i = 0; i < n; i++) {
        uint8_t *b = buf + i * PPN_LEDGER_ENTRY_MAX;
        r = ppn_ledger_entry_sign(&entries[i], l->n + i, author_sk, b, PPN_LEDGER_ENTRY_MAX, &lens[i]);
        if (r < 0) {
            struct ppn_ledger_entry e = entries[i];
            e.index = l->n + i;
            memcpy(e.author, author_sk + 32, 32);
            l->err_index = l->n + i;
            if (ppn_ledger_entry_check(&e, l->err, sizeof(l->err)) == 0)
                snprintf(l->err, sizeof(l->err), "%s: cannot be signed with this key (%s)",
                         ppn_ledger_entry_type_name(e.type), strerror(-r));
            goto out;
        }
        if (entry_decode_unverified(b, lens[i], &es[i], NULL, NULL, NULL) < 0) {
            r = -EINVAL;
            goto out;
        }
        pp[i] = b;
    }
    uint64_t first = l->n;
    r = append_core(l, es, pp, lens, n);
    if (r == 0 && ret_first_index)
        *ret_first_index = first;
out:
    free(es);
    free(buf);
    free(pp);
    free(lens);
    return r;
}

PPN_EXPORT int ppn_ledger_append_signed(ppn_ledger *l, const uint8_t *const *entries,
                                        const size_t *lens, size_t n, uint64_t *ret_first_index)
{
    if (!l || (n && (!entries || !lens)))
        return -EINVAL;
    if (!l->writer)
        return -EBADF;
    struct ppn_ledger_entry *es = calloc(n ? n : 1, sizeof(*es));
    if (!es)
        return -ENOMEM;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (l->progress && i % 2048 == 0)
            l->progress(l->progress_ud, "appending", i, n);
        if (!entries[i])
            r = -EINVAL;
        else
            r = ppn_ledger_entry_decode(entries[i], lens[i], &es[i]);
        if (r < 0) {
            l->err_index = l->n + i;
            snprintf(l->err, sizeof(l->err), "entry %llu of the batch: %s",
                     (unsigned long long)i, r == -EKEYREJECTED ? "the signature does not verify"
                     : "not one canonical signed entry (CBOR [body, signature] with the fields of its type)");
        }
    }
    uint64_t first = l->n;
    if (r == 0)
        r = append_core(l, es, entries, lens, n);
    if (r == 0 && l->progress && n >= 2048)
        l->progress(l->progress_ud, "appending", n, n);
    if (r == 0 && ret_first_index)
        *ret_first_index = first;
    free(es);
    return r;
}

static bool str_ok(const char *s)
{
    return s && strlen(s) <= PPN_LEDGER_TEXT_MAX;
}

PPN_EXPORT int ppn_ledger_node_join(ppn_ledger *l, const uint8_t identity_pk[32],
                                    const uint8_t wg_pk[32], const char *mesh_address,
                                    const char *endpoint, const char *hostname,
                                    const uint8_t author_sk[64], uint64_t *ret_index)
{
    if (!identity_pk || !wg_pk || !str_ok(mesh_address) || !str_ok(endpoint) || !str_ok(hostname))
        return -EINVAL;
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_NODE_JOIN;
    memcpy(e.subject, identity_pk, 32);
    memcpy(e.wg_key, wg_pk, 32);
    strcpy(e.mesh, mesh_address);
    strcpy(e.endpoint, endpoint);
    strcpy(e.hostname, hostname);
    return ppn_ledger_append(l, &e, 1, author_sk, ret_index);
}

PPN_EXPORT int ppn_ledger_node_revoke(ppn_ledger *l, const uint8_t identity_pk[32],
                                      const char *reason, const uint8_t author_sk[64],
                                      uint64_t *ret_index)
{
    if (!identity_pk || !str_ok(reason))
        return -EINVAL;
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_NODE_REVOKE;
    memcpy(e.subject, identity_pk, 32);
    strcpy(e.text, reason);
    return ppn_ledger_append(l, &e, 1, author_sk, ret_index);
}

static int cap_entry(ppn_ledger *l, uint32_t type, const uint8_t subject[32], const char *cap,
                     const char *scope, const uint8_t sk[64], uint64_t *ret)
{
    if (!subject || !str_ok(cap) || (scope && !str_ok(scope)))
        return -EINVAL;
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = type;
    memcpy(e.subject, subject, 32);
    strcpy(e.capability, cap);
    strcpy(e.scope, scope ? scope : "");
    return ppn_ledger_append(l, &e, 1, sk, ret);
}

PPN_EXPORT int ppn_ledger_cap_grant(ppn_ledger *l, const uint8_t subject_pk[32],
                                    const char *capability, const char *scope,
                                    const uint8_t author_sk[64], uint64_t *ret_index)
{
    return cap_entry(l, PPN_LEDGER_ENTRY_CAP_GRANT, subject_pk, capability, scope, author_sk, ret_index);
}

PPN_EXPORT int ppn_ledger_cap_revoke(ppn_ledger *l, const uint8_t subject_pk[32],
                                     const char *capability, const char *scope,
                                     const uint8_t author_sk[64], uint64_t *ret_index)
{
    return cap_entry(l, PPN_LEDGER_ENTRY_CAP_REVOKE, subject_pk, capability, scope, author_sk, ret_index);
}

PPN_EXPORT int ppn_ledger_vm_assign(ppn_ledger *l, const char *vm_name, const uint8_t node_pk[32],
                                    const uint8_t author_sk[64], uint64_t *ret_index)
{
    if (!str_ok(vm_name) || !node_pk)
        return -EINVAL;
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_VM_ASSIGN;
    strcpy(e.text, vm_name);
    memcpy(e.subject, node_pk, 32);
    return ppn_ledger_append(l, &e, 1, author_sk, ret_index);
}

PPN_EXPORT int ppn_ledger_supersede(ppn_ledger *l, uint64_t target,
                                    const struct ppn_ledger_entry *replacement,
                                    const uint8_t author_sk[64], uint64_t *ret_index)
{
    struct ppn_ledger_entry e;
    if (replacement) {
        e = *replacement;
        e.replacement_type = replacement->type;
    } else {
        memset(&e, 0, sizeof(e));
    }
    e.type = PPN_LEDGER_ENTRY_SUPERSEDE;
    e.target = target;
    return ppn_ledger_append(l, &e, 1, author_sk, ret_index);
}
