/* The mesh topology (doc/ledger.md "Topology"): a full mesh, or a hub.  The hub is the one
 * current member that holds an unscoped grant of PPN_LEDGER_CAP_MESH_HUB; with no such grant
 * the mesh is full.  A typed entry like every other (cap-grant / cap-revoke, by an
 * administrator), so that changing the topology is one signed ledger entry, and the rules
 * below keep anything else out of the ledger at write time:
 *   - the hub must be a current member;
 *   - the grant is unscoped;
 *   - one hub at a time (revoke the present hub's grant in the same batch to move it).
 * A revoked hub loses its grant with its membership (as every revoked identity loses its
 * capabilities): the mesh is full again, never a hub that is gone. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "ledger-private.h"
#include "topology.h"

int topology_check_write(const struct view *v, const struct ppn_ledger_entry *e, char *msg, size_t size)
{
    uint32_t t = e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? e->replacement_type : e->type;
    if (t != PPN_LEDGER_ENTRY_CAP_GRANT || strcmp(e->capability, PPN_LEDGER_CAP_MESH_HUB) != 0)
        return 0;
    const char *tn = ppn_ledger_entry_type_name(e->type);
    if (e->scope[0]) {
        snprintf(msg, size, "%s: \"scope\": the routing hub (%s) is not scoped (\"%s\")", tn, PPN_LEDGER_CAP_MESH_HUB,
                 e->scope);
        return -EPROTO;
    }
    if (view_member_find(v, e->subject) < 0) {
        snprintf(msg, size, "%s: \"subject\": the routing hub (%s) must be a current member", tn,
                 PPN_LEDGER_CAP_MESH_HUB);
        return -EPROTO;
    }
    for (size_t i = 0; i < v->ng; i++)
        if (!strcmp(v->grants[i].capability, PPN_LEDGER_CAP_MESH_HUB) &&
            !(e->type == PPN_LEDGER_ENTRY_SUPERSEDE && v->grants[i].index == e->target)) {
            ssize_t m = view_member_find(v, v->grants[i].subject);
            snprintf(msg, size, "%s: \"subject\": entry %llu already makes %s the routing hub (one hub at a time: "
                     "revoke that grant first, in the same batch)", tn, (unsigned long long)v->grants[i].index,
                     m >= 0 ? v->members[m].hostname : "a member");
            return -EPROTO;
        }
    return 0;
}

PPN_EXPORT int ppn_ledger_hub(const ppn_ledger *l, struct ppn_ledger_member *ret_hub)
{
    if (!l)
        return -EINVAL;
    for (size_t i = 0; i < l->v.ng; i++) {
        if (strcmp(l->v.grants[i].capability, PPN_LEDGER_CAP_MESH_HUB) != 0 || l->v.grants[i].scope[0])
            continue;
        ssize_t m = view_member_find(&l->v, l->v.grants[i].subject);
        if (m < 0)
            continue; /* (not written since the rule; an older ledger's) */
        if (ret_hub)
            *ret_hub = l->v.members[m];
        return 0;
    }
    return -ENOENT;
}
