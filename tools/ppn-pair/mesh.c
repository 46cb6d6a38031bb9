/* From ledger members to WireGuard peers, and mesh addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/crypto.h"
#include "ppn/ledger.h"
#include "ppn/wg.h"
#include "pair.h"
#include "tool-util.h"

int mesh_range_parse(const char *s, struct mesh_range *ret)
{
    char ip[32];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return -EINVAL;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = 0;
    char *end;
    errno = 0;
    unsigned long prefix = strtoul(slash + 1, &end, 10);
    if (errno || *end || end == slash + 1 || prefix < 8 || prefix > 30)
        return -EINVAL;
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return -EINVAL;
    uint32_t mask = prefix ? ~0U << (32 - prefix) : 0;
    ret->net = ntohl(a.s_addr) & mask;
    ret->prefix = (unsigned)prefix;
    return 0;
}

void mesh_range_host(const struct mesh_range *mr, uint32_t i, char *buf, size_t size)
{
    struct in_addr a = {.s_addr = htonl(mr->net + i)};
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, ip, sizeof(ip));
    snprintf(buf, size, "%s/%u", ip, mr->prefix);
}

/* Host number of "a.b.c.d[/n]" within the range, or 0 when outside or not a host. */
static uint32_t host_in_range(const struct mesh_range *mr, const char *s)
{
    char ip[64];
    size_t len = strcspn(s, "/");
    if (len == 0 || len >= sizeof(ip))
        return 0;
    memcpy(ip, s, len);
    ip[len] = 0;
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return 0;
    uint32_t h = ntohl(a.s_addr), size = 1U << (32 - mr->prefix);
    if ((h & ~(size - 1)) != mr->net)
        return 0;
    h -= mr->net;
    return h == 0 || h == size - 1 ? 0 : h;
}

int mesh_allocate(ppn_ledger *l, const char *proposal, char *buf, size_t size)
{
    struct mesh_range mr;
    if (mesh_range_parse(ppn_ledger_mesh_range(l), &mr) < 0)
        return -EINVAL;
    uint32_t hosts = (1U << (32 - mr.prefix)) - 2;
    uint8_t *used = calloc(hosts + 2, 1);
    if (!used)
        return -ENOMEM;
    size_t count = ppn_ledger_member_count(l);
    for (size_t i = 0; i < count; i++) {
        struct ppn_ledger_member m;
        if (ppn_ledger_member_get(l, i, &m) == 0)
            used[host_in_range(&mr, m.mesh)] = 1;
    }
    uint32_t pick = proposal && *proposal ? host_in_range(&mr, proposal) : 0;
    if (pick && used[pick])
        pick = 0;
    for (uint32_t h = 1; !pick && h <= hosts; h++)
        if (!used[h])
            pick = h;
    free(used);
    if (!pick)
        return -ENOSPC;
    mesh_range_host(&mr, pick, buf, size);
    return 0;
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
    r = ppn_ledger_member_find(l, n->id_pk, &self);
    if (r < 0) {
        ppn_ledger_free(l);
        return tool_error("this node is not a current member of the ledger in '%s'", n->ledger_dir);
    }
    if (memcmp(self.wg_key, n->wg_pk, 32) != 0) {
        ppn_ledger_free(l);
        return tool_error("the ledger records another WireGuard key for this node than '%s/wg.key'", n->dir);
    }

    ppn_wg_device *d = NULL;
    r = ppn_wg_device_new(&d);
    if (r == 0)
        r = ppn_wg_device_set_name(d, ifname);
    if (r == 0)
        r = ppn_wg_device_set_private_key(d, n->wg_sk);
    if (r == 0)
        r = ppn_wg_device_set_listen_port(d, (uint16_t)listen_port);
    size_t count = ppn_ledger_member_count(l);
    unsigned peers = 0;
    for (size_t i = 0; r == 0 && i < count; i++) {
        struct ppn_ledger_member m;
        if (ppn_ledger_member_get(l, i, &m) < 0 || memcmp(m.identity, n->id_pk, 32) == 0)
            continue;
        ppn_wg_peer *p;
        r = ppn_wg_device_add_peer(d, m.wg_key, &p);
        if (r < 0)
            break;
        ppn_wg_allowedip ip;
        char host[64];
        snprintf(host, sizeof(host), "%.*s", (int)strcspn(m.mesh, "/"), m.mesh);
        r = ppn_wg_allowedip_parse(host, &ip); /* a bare address: /32 */
        if (r < 0) {
            tool_error("member '%s' has an unusable mesh address '%s'", m.hostname, m.mesh);
            break;
        }
        r = ppn_wg_peer_add_allowedip(p, &ip);
        if (r == 0 && m.endpoint[0]) {
            struct sockaddr_in6 sa;
            socklen_t salen;
            if (ppn_wg_endpoint_parse(m.endpoint, &sa, &salen) == 0)
                r = ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&sa, salen);
            else
                fprintf(stderr, "ppn-pair: warning: endpoint '%s' of '%s' does not resolve; peer added without one\n",
                        m.endpoint, m.hostname);
        }
        if (r == 0)
            r = ppn_wg_peer_set_keepalive(p, 25);
        peers++;
    }
    ppn_ledger_free(l);
    if (r < 0) {
        ppn_wg_device_free(d);
        return tool_fail("build the WireGuard configuration for", ifname, r);
    }

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
    r = ppn_wg_sync_device(d);
    ppn_wg_device_free(d);
    if (r < 0)
        return wg_error("configure", ifname, r);
    int changed = r;
    r = ppn_wg_link_set_up(ifname, true);
    if (r < 0)
        return wg_error("bring up", ifname, r);
    printf("mesh\t%s\t%s\t%u peer(s)\t%d change(s)\n", ifname, self.mesh, peers, changed);
    return 0;
}
