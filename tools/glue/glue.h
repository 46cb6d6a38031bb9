/* Cross-library glue for the tools (internal, static, not installed): what
 * needs two libraries at once, so belongs to neither.  Sans-I/O where it can
 * be: these functions read a ledger handle and build objects; the tools
 * apply them to the kernel, print and log. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ppn/ledger.h"
#include "ppn/wg.h"

/* ---- mesh addresses (the ledger's range) ---- */

struct glue_mesh_range {
    uint32_t net;    /* host order, host bits zero */
    unsigned prefix; /* 8..30 */
};

/* "a.b.c.d/n" with n in 8..30 (host bits are cleared).  -EINVAL otherwise. */
int glue_mesh_range_parse(const char *s, struct glue_mesh_range *ret);
/* Host 'i' of the range as "a.b.c.d/n" into buf (as ppn-pair records it). */
void glue_mesh_range_host(const struct glue_mesh_range *mr, uint32_t i, char *buf, size_t size);
/* Host number of "a.b.c.d[/n]" in the range; 0 when outside it or the
 * network or broadcast address. */
uint32_t glue_mesh_host_in_range(const struct glue_mesh_range *mr, const char *addr);

/* A mesh address for a new member: 'proposal' (may be NULL or "") when it
 * is a free host of the range, else the lowest free one.  An address is
 * taken for good once any node-join entry has carried it, even after that
 * node was revoked or replaced: members that have not yet heard of a
 * revocation still route it to the revoked node, so it is never handed out
 * again.  -ENOSPC the range has no free host; -EINVAL a ledger whose range
 * does not parse; -ENOMEM; errors of ppn_ledger_get. */
int glue_mesh_allocate(ppn_ledger *l, const char *proposal, char *buf, size_t size);

/* ---- ledger members as a WireGuard device ---- */

/* Called for a member whose endpoint does not resolve (its peer is added
 * without one) and names it. */
typedef void (*glue_warn_fn)(const char *member, const char *what, void *userdata);

/* This node's part in the ledger's topology (ppn_ledger_hub). */
enum glue_role {
    GLUE_FULL_MESH = 0, /* no hub: a peer per member */
    GLUE_HUB = 1,       /* this node is the hub: a peer per member, and it forwards */
    GLUE_SPOKE = 2,     /* another member is the hub: one peer, the hub, for the whole range */
};
enum glue_role glue_role(const ppn_ledger *l, const uint8_t identity_pk[32]);

/* The device this node should have: its name, private key and listen port,
 * and its peers as the topology says (glue_role).  Full mesh and hub: one
 * peer per other current member (its WireGuard key, its mesh address as a
 * /32, its endpoint when it has one and it resolves, a keepalive of 25 s).
 * Spoke: one peer, the hub, with the whole mesh range as its allowed IPs,
 * its endpoint and a keepalive of 25 s (a spoke behind NAT keeps its
 * mapping at the hub open).  *ret_self gets this node's own record (its mesh
 * address goes on the interface) and *ret_peers the number of peers.
 * -ENOENT this node is not a current member; -EKEYREJECTED the ledger
 * records another WireGuard key for it than 'wg_pk'; -EBADMSG a member's
 * mesh address is unusable (*ret_bad names the member, may be NULL);
 * errors of libppn-wg.  The caller frees *ret_dev (it holds the private
 * key) with ppn_wg_device_free. */
int glue_wg_device_from_ledger(const ppn_ledger *l, const uint8_t identity_pk[32], const uint8_t wg_pk[32],
                               const uint8_t wg_sk[32], const char *ifname, uint16_t listen_port,
                               glue_warn_fn warn, void *userdata, ppn_wg_device **ret_dev,
                               struct ppn_ledger_member *ret_self, unsigned *ret_peers,
                               char ret_bad[PPN_LEDGER_TEXT_MAX + 1]);
