/* Applying the ledger to this node's WireGuard interface (the device itself
 * comes from the glue library), and sealing the ledger. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ppn/crypto.h"
#include "ppn/ledger.h"
#include "ppn/wg.h"
#include "glue.h"
#include "pair.h"
#include "tool-util.h"

int mesh_allocate(ppn_ledger *l, const char *proposal, char *buf, size_t size)
{
    return glue_mesh_allocate(l, proposal, buf, size);
}

int ledger_seal(ppn_ledger *l, const struct node *n)
{
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    int r = ppn_ledger_checkpoint(l, n->id_sk, note, sizeof(note), &len);
    if (r < 0)
        return tool_fail("sign a checkpoint of", n->ledger_dir, r);
    r = ppn_ledger_export_nodes(l, NULL);
    if (r < 0)
        return tool_fail("export nodes.jsonl of", n->ledger_dir, r);
    return 0;
}

static int wg_error(const char *verb, const char *what, int r)
{
    if (r == -ENOTSUP)
        return tool_error("Failed to %s '%s': this kernel has no WireGuard (modprobe wireguard?)", verb, what);
    if (r == -EPERM)
        return tool_error("Failed to %s '%s': not permitted (needs CAP_NET_ADMIN)", verb, what);
    return tool_fail(verb, what, r);
}

static void warn_endpoint(const char *member, const char *endpoint, void *ud)
{
    (void)ud;
    fprintf(stderr, "ppn-pair: warning: endpoint '%s' of '%s' does not resolve; peer added without one\n", endpoint,
            member);
}

int mesh_apply(const struct node *n, const char *ifname, unsigned listen_port, bool quiet_if_same)
{
    (void)quiet_if_same;
    if (listen_port > 65535)
        return tool_error("listen port %u is out of range", listen_port);
    ppn_ledger *l = NULL;
    int r = ppn_ledger_open(n->ledger_dir, 0, &l);
    if (r < 0)
        return tool_fail("open ledger", n->ledger_dir, r);

    struct ppn_ledger_member self;
    if (ppn_ledger_member_find(l, n->id_pk, &self) < 0) {
        ppn_ledger_free(l);
        return tool_error("this node is not a current member of the ledger in '%s'", n->ledger_dir);
    }
    if (memcmp(self.wg_key, n->wg_pk, 32) != 0) {
        ppn_ledger_free(l);
        return tool_error("the ledger records another WireGuard key for this node than '%s/wg.key'", n->dir);
    }

    ppn_wg_device *d = NULL;
    unsigned peers = 0;
    char bad[PPN_LEDGER_TEXT_MAX + 1] = "";
    r = glue_wg_device_from_ledger(l, n->id_pk, n->wg_pk, n->wg_sk, ifname, (uint16_t)listen_port, warn_endpoint,
                                   NULL, &d, &self, &peers, bad);
    ppn_ledger_free(l);
    if (r == -EBADMSG)
        return tool_error("member '%s' has an unusable mesh address", bad);
    if (r < 0)
        return tool_fail("build the WireGuard configuration for", ifname, r);

    r = ppn_wg_link_ensure(ifname);
    if (r < 0) {
        ppn_wg_device_free(d);
        return wg_error("create WireGuard interface", ifname, r);
    }
    ppn_wg_allowedip addr;
    if (ppn_wg_allowedip_parse(self.mesh, &addr) == 0) {
        r = ppn_wg_link_addr_add(ifname, &addr);
        if (r < 0 && r != -EEXIST) {
            ppn_wg_device_free(d);
            return wg_error("add the mesh address to", ifname, r);
        }
    }
    /* Up before the peers are set: the kernel sends the first keepalive of a peer that gets a
     * persistent keepalive only on a running interface, and that first packet is what opens
     * the mapping of a node behind NAT (nobody can reach it before it speaks). */
    r = ppn_wg_link_set_up(ifname, true);
    if (r < 0) {
        ppn_wg_device_free(d);
        return wg_error("bring up", ifname, r);
    }
    r = ppn_wg_sync_device(d);
    ppn_wg_device_free(d);
    if (r < 0)
        return wg_error("configure", ifname, r);
    int changed = r;
    /* The hub of a hub topology forwards between the spokes (in this network namespace). */
    ppn_ledger *t = NULL;
    enum glue_role role = GLUE_FULL_MESH;
    struct ppn_ledger_member hub = {0};
    if (ppn_ledger_open(n->ledger_dir, 0, &t) == 0) {
        role = glue_role(t, n->id_pk);
        (void)ppn_ledger_hub(t, &hub);
        ppn_ledger_free(t);
    }
    if (role == GLUE_HUB) {
        int fd = open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "1\n", 2) != 2)
            fprintf(stderr, "ppn-pair: warning: this node is the routing hub but IPv4 forwarding could not be "
                            "turned on (/proc/sys/net/ipv4/ip_forward): %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    printf("mesh\t%s\t%s\t%u peer(s)\t%d change(s)%s%s\n", ifname, self.mesh, peers, changed,
           role == GLUE_HUB ? "\thub (forwarding)" : role == GLUE_SPOKE ? "\tthrough the hub " : "",
           role == GLUE_SPOKE ? hub.hostname : "");
    return 0;
}
