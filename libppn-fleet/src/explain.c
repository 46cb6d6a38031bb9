/* What the controller says of a node name and of a refused dispatch: the sentences an operator
 * reads, from the fleet's own state (no printing: into the caller's buffer). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fleet-internal.h"
#include "ppn-common.h"
#include "ppn/fleet.h"

PPN_EXPORT int ppn_fleet_node_resolve(const ppn_fleet *fleet, const char *name_or_key,
                                      uint8_t ret_key[PPN_FLEET_PUBLIC_KEY_BYTES])
{
    if (!fleet || !name_or_key || !ret_key)
        return -EINVAL;
    size_t len = strlen(name_or_key);
    if (len == PPNC_KEY_B64_LEN && ppnc_key_from_base64(ret_key, name_or_key, len) == 0)
        return 0;
    uint8_t key[PPN_FLEET_PUBLIC_KEY_BYTES];
    int found = -ENOENT;
    for (size_t i = 0; i < ppn_fleet_node_count(fleet); i++) {
        ppn_fleet_node_info info;
        if (ppn_fleet_node_get(fleet, i, 0, &info) == 0 && strcmp(info.node_name, name_or_key) == 0) {
            if (found == 0)
                return -ENOTUNIQ;
            memcpy(key, info.node_key, sizeof(key));
            found = 0;
        }
    }
    if (found == 0)
        memcpy(ret_key, key, sizeof(key));
    return found;
}

PPN_EXPORT int ppn_fleet_dispatch_explain(const ppn_fleet *fleet, const void *buf, size_t len, int err,
                                          uint64_t now_ms, char *text, size_t size)
{
    if (!fleet || (!buf && len) || !text || !size || err >= 0)
        return -EINVAL;
    ppn_fleet_request rq;
    bool have = buf && ppn_fleet_request_open(buf, len, &rq) == 0;
    text[0] = '\0';
    switch (err) {
    case -EDESTADDRREQ:
        snprintf(text, size, "the request names no node: confirm a placement first");
        break;
    case -ECANCELED:
        snprintf(text, size, "the request was not confirmed: the signed request must carry the operator's "
                             "confirmation of the placement");
        break;
    case -EEXIST: {
        /* A VM never moves (the seeds: VMs are placed once and remain on their assigned node;
         * live migration is permanently excluded). */
        int w = have ? ppn_fleet_vm_where(fleet, rq.vm_name, now_ms) : -1;
        ppn_fleet_node_info wi;
        if (w >= 0 && ppn_fleet_node_get(fleet, (size_t)w, now_ms, &wi) == 0)
            snprintf(text, size, "no live migration: VM '%s' is placed on node '%s' and remains there",
                     rq.vm_name, wi.node_name[0] ? wi.node_name : "?");
        else
            snprintf(text, size, "no live migration: the VM is placed on another node");
        break;
    }
    case -EPERM: snprintf(text, size, "the signer does not hold \"vm.create\" in the ledger"); break;
    case -ESTALE: snprintf(text, size, "replayed or stale request"); break;
    case -EBUSY: snprintf(text, size, "too many recent requests held for replay protection"); break;
    case -EHOSTUNREACH: snprintf(text, size, "no mesh address for the node in the ledger"); break;
    case -ENOSPC:
        /* why it no longer fits: a placement pinned to the node */
        if (have) {
            ppn_fleet_place_query q = {.mem_bytes = rq.mem_bytes, .vcpus = rq.vcpus, .kind = rq.kind,
                                       .has_node = true};
            memcpy(q.node_key, rq.node_key, sizeof(q.node_key));
            ppn_fleet_placement p;
            if (ppn_fleet_place(fleet, &q, now_ms, NULL, NULL, &p) == 0)
                ppn_fleet_placement_explain(&p, text, size);
        }
        break;
    case -EKEYREJECTED:
    case -EBADMSG:
    case -EPROTO:
    case -EMSGSIZE:
        snprintf(text, size, "the signed request does not verify");
        break;
    default: snprintf(text, size, "dispatch"); break;
    }
    return (int)strlen(text);
}
