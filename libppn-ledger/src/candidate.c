/* Candidate entries: an entry signed for the next index and checked to apply, without
 * appending it.  The pairing hand-off prepares the node-join entry this way, sends exactly
 * these bytes to the new node, which checks them on top of its replica, and appends them
 * (ppn_ledger_append_signed) only after the node said it holds them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ledger-private.h"

/* The revoked-key rule without the writer's cache: a node-join may not bring back the identity
 * or WireGuard key of an earlier node-join whose node is no longer a member.  (Stricter than
 * the append's rule, which burns only revoked keys; the append stays the final word.) */
static int check_keys_unused(ppn_ledger *l, const struct ppn_ledger_entry *e)
{
    if (e->type != PPN_LEDGER_ENTRY_NODE_JOIN)
        return 0;
    for (uint64_t i = 0; i < l->n; i++) {
        struct ppn_ledger_entry old;
        int r = ppn_ledger_get(l, i, &old);
        if (r < 0)
            return r;
        if (old.type != PPN_LEDGER_ENTRY_NODE_JOIN &&
            !(old.type == PPN_LEDGER_ENTRY_SUPERSEDE && old.replacement_type == PPN_LEDGER_ENTRY_NODE_JOIN))
            continue;
        bool same_id = memcmp(old.subject, e->subject, 32) == 0, same_wg = memcmp(old.wg_key, e->wg_key, 32) == 0;
        if (!same_id && !same_wg)
            continue;
        struct ppn_ledger_member m;
        if (ppn_ledger_member_find(l, old.subject, &m) == 0)
            continue; /* a current member: the view's rules decide */
        l->err_index = l->n;
        snprintf(l->err, sizeof(l->err),
                 "node-join: \"%s\": that key belonged to the node of entry %llu, which is no longer a member; "
                 "a removed node joins again only with new keys",
                 same_id ? "subject" : "wg_key", (unsigned long long)i);
        return -EPROTO;
    }
    return 0;
}

PPN_EXPORT int ppn_ledger_check_signed(ppn_ledger *l, const uint8_t *entry, size_t len)
{
    if (!l || !entry || len == 0)
        return -EINVAL;
    struct ppn_ledger_entry e;
    l->err[0] = 0;
    l->err_index = l->n;
    int r = ppn_ledger_entry_decode(entry, len, &e);
    if (r < 0) {
        snprintf(l->err, sizeof(l->err), "%s",
                 r == -EKEYREJECTED ? "the signature does not verify"
                                    : "not one canonical signed entry (CBOR [body, signature] with the fields of its type)");
        return r;
    }
    const char *tn = ppn_ledger_entry_type_name(e.type);
    if (e.index != l->n) {
        snprintf(l->err, sizeof(l->err), "%s: \"index\": signed for index %llu, not %llu", tn,
                 (unsigned long long)e.index, (unsigned long long)l->n);
        return -EPROTO;
    }
    if ((r = entry_check_meaning(&e, l->err, sizeof(l->err))) < 0 ||
        (r = view_check_write(&l->v, l->mesh, &e, l->err, sizeof(l->err))) < 0 ||
        (r = check_keys_unused(l, &e)) < 0)
        return r;
    struct view copy;
    if ((r = view_copy(&copy, &l->v)) < 0)
        return r;
    r = view_apply(&copy, &e);
    view_free(&copy);
    if (r == -EPERM)
        snprintf(l->err, sizeof(l->err), "%s: the author lacks the capability it needs", tn);
    else if (r < 0)
        snprintf(l->err, sizeof(l->err), "%s: breaks a ledger rule (e.g. the subject is already a member)", tn);
    else {
        l->err_index = UINT64_MAX;
        l->err[0] = 0;
    }
    return r;
}

PPN_EXPORT int ppn_ledger_prepare(ppn_ledger *l, const struct ppn_ledger_entry *entry,
                                  const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES], uint8_t *buf,
                                  size_t size, size_t *ret_len)
{
    if (!l || !entry || !author_sk || !buf || !ret_len)
        return -EINVAL;
    size_t n;
    int r = ppn_ledger_entry_sign(entry, l->n, author_sk, buf, size, &n);
    if (r < 0)
        return r;
    r = ppn_ledger_check_signed(l, buf, n);
    if (r < 0) {
        sodium_memzero(buf, n);
        return r;
    }
    *ret_len = n;
    return 0;
}
