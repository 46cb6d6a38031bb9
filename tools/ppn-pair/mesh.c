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

#define IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

static int forward_read(void)
{
    char c = 0;
    int fd = open(IP_FORWARD, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t k = read(fd, &c, 1);
    close(fd);
    return k == 1 ? c == '1' : -EIO;
}

static int forward_write(bool on)
{
    int fd = open(IP_FORWARD, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = write(fd, on ? "1\n" : "0\n", 2) == 2 ? 0 : -errno;
    close(fd);
    return r;
}

/* The hub forwards between the spokes (in this network namespace).  Forwarding that this
 * node turned on as the hub (remembered in STATE/forwarding, written before it is turned on)
 * is turned off again when it stops being the hub; forwarding that was on already (an
 * operator's, or another service's) is never touched. */
static void forwarding_follow(const struct node *n, bool hub)
{
    char mark[PATH_MAX + 16];
    snprintf(mark, sizeof(mark), "%s/forwarding", n->dir);
    bool ours = access(mark, F_OK) == 0;
    int cur = forward_read(), r = 0;
    if (hub && cur == 0) {
        int fd = open(mark, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        static const char text[] = "IPv4 forwarding turned on by ppn-pair: this node is the routing hub\n";
        if (fd < 0 || tool_write_all(fd, text, sizeof(text) - 1) < 0 || fsync(fd) < 0)
            r = errno ? -errno : -EIO;
        if (fd >= 0)
            close(fd);
        if (r == 0)
            r = forward_write(true);
        if (r < 0) {
            unlink(mark);
            fprintf(stderr, "ppn-pair: warning: this node is the routing hub but IPv4 forwarding could not be "
                            "turned on (" IP_FORWARD "): %s\n", strerror(-r));
        }
    } else if (hub && cur < 0) {
        fprintf(stderr, "ppn-pair: warning: this node is the routing hub but " IP_FORWARD " cannot be read: %s\n",
                strerror(-cur));
    } else if (!hub && ours) {
        if (cur == 1 && (r = forward_write(false)) < 0)
            fprintf(stderr, "ppn-pair: warning: IPv4 forwarding, turned on by this node as the hub, could not be "
                            "turned off (" IP_FORWARD "): %s\n", strerror(-r));
        else {
            unlink(mark);
            printf("forwarding\toff\t(this node turned it on as the hub and is no longer the hub)\n");
        }
    }
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
        /* revoked (or never a member): no longer the hub either */
        forwarding_follow(n, false);
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
    forwarding_follow(n, role == GLUE_HUB);
    printf("mesh\t%s\t%s\t%u peer(s)\t%d change(s)%s%s\n", ifname, self.mesh, peers, changed,
           role == GLUE_HUB ? "\thub (forwarding)" : role == GLUE_SPOKE ? "\tthrough the hub " : "",
           role == GLUE_SPOKE ? hub.hostname : "");
    return 0;
}
