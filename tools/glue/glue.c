/* Cross-library glue for the tools: see glue.h. */
#include "glue.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int glue_mesh_range_parse(const char *s, struct glue_mesh_range *ret)
{
    char ip[32];
    const char *slash = s ? strchr(s, '/') : NULL;
    if (!slash || (size_t)(slash - s) >= sizeof(ip))
        return -EINVAL;
    memcpy(ip, s, (size_t)(slash - s));
    ip[slash - s] = 0;
    unsigned prefix = 0;
    const char *p = slash + 1;
    if (!*p)
        return -EINVAL;
    for (; *p; p++) {
        if (*p < '0' || *p > '9' || prefix > 32)
            return -EINVAL;
        prefix = prefix * 10 + (unsigned)(*p - '0');
    }
    if (prefix < 8 || prefix > 30)
        return -EINVAL;
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return -EINVAL;
    uint32_t mask = ~0U << (32 - prefix);
    ret->net = ntohl(a.s_addr) & mask;
    ret->prefix = prefix;
    return 0;
}

void glue_mesh_range_host(const struct glue_mesh_range *mr, uint32_t i, char *buf, size_t size)
{
    struct in_addr a = {.s_addr = htonl(mr->net + i)};
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, ip, sizeof(ip));
    snprintf(buf, size, "%s/%u", ip, mr->prefix);
}

uint32_t glue_mesh_host_in_range(const struct glue_mesh_range *mr, const char *s)
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

int glue_mesh_allocate(ppn_ledger *l, const char *proposal, char *buf, size_t size)
{
    struct glue_mesh_range mr;
    if (glue_mesh_range_parse(ppn_ledger_mesh_range(l), &mr) < 0)
        return -EINVAL;
    uint32_t hosts = (1U << (32 - mr.prefix)) - 2;
    uint8_t *used = calloc(hosts + 2, 1);
    if (!used)
        return -ENOMEM;
    /* every address a node-join ever carried, current or not */
    uint64_t n = ppn_ledger_size(l);
    int r = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct ppn_ledger_entry e;
        if ((r = ppn_ledger_get(l, i, &e)) < 0)
            break;
        if (e.type == PPN_LEDGER_ENTRY_NODE_JOIN)
            used[glue_mesh_host_in_range(&mr, e.mesh)] = 1;
    }
    if (r < 0) {
        free(used);
        return r;
    }
    uint32_t pick = proposal && *proposal ? glue_mesh_host_in_range(&mr, proposal) : 0;
    if (pick && used[pick])
        pick = 0;
    for (uint32_t h = 1; !pick && h <= hosts; h++)
        if (!used[h])
            pick = h;
    free(used);
    if (!pick)
        return -ENOSPC;
    glue_mesh_range_host(&mr, pick, buf, size);
    return 0;
}

enum glue_role glue_role(const ppn_ledger *l, const uint8_t identity_pk[32])
{
    struct ppn_ledger_member hub;
    if (ppn_ledger_hub(l, &hub) < 0)
        return GLUE_FULL_MESH;
    return memcmp(hub.identity, identity_pk, 32) == 0 ? GLUE_HUB : GLUE_SPOKE;
}

int glue_wg_device_from_ledger(const ppn_ledger *l, const uint8_t identity_pk[32], const uint8_t wg_pk[32],
                               const uint8_t wg_sk[32], const char *ifname, uint16_t listen_port,
                               glue_warn_fn warn, void *userdata, ppn_wg_device **ret_dev,
                               struct ppn_ledger_member *ret_self, unsigned *ret_peers,
                               char ret_bad[PPN_LEDGER_TEXT_MAX + 1])
{
    struct ppn_ledger_member self;
    int r = ppn_ledger_member_find(l, identity_pk, &self);
    if (r < 0)
        return -ENOENT;
    if (memcmp(self.wg_key, wg_pk, 32) != 0)
        return -EKEYREJECTED;
    ppn_wg_device *d = NULL;
    r = ppn_wg_device_new(&d);
    if (r == 0)
        r = ppn_wg_device_set_name(d, ifname);
    if (r == 0)
        r = ppn_wg_device_set_private_key(d, wg_sk);
    if (r == 0)
        r = ppn_wg_device_set_listen_port(d, listen_port);
    size_t count = ppn_ledger_member_count(l);
    unsigned peers = 0;
    struct ppn_ledger_member hub;
    bool spoke = glue_role(l, identity_pk) == GLUE_SPOKE && ppn_ledger_hub(l, &hub) == 0;
    for (size_t i = 0; r == 0 && i < count; i++) {
        struct ppn_ledger_member m;
        if (ppn_ledger_member_get(l, i, &m) < 0 || memcmp(m.identity, identity_pk, 32) == 0)
            continue;
        if (spoke && memcmp(m.identity, hub.identity, 32) != 0)
            continue; /* a spoke reaches the others through the hub */
        ppn_wg_peer *p;
        if ((r = ppn_wg_device_add_peer(d, m.wg_key, &p)) < 0)
            break;
        ppn_wg_allowedip ip;
        char host[64];
        if (spoke)
            snprintf(host, sizeof(host), "%s", ppn_ledger_mesh_range(l)); /* the whole range */
        else
            snprintf(host, sizeof(host), "%.*s", (int)strcspn(m.mesh, "/"), m.mesh);
        if (ppn_wg_allowedip_parse(host, &ip) < 0) { /* a bare address: /32 */
            if (ret_bad)
                snprintf(ret_bad, PPN_LEDGER_TEXT_MAX + 1, "%s", m.hostname);
            r = -EBADMSG;
            break;
        }
        r = ppn_wg_peer_add_allowedip(p, &ip);
        if (r == 0 && m.endpoint[0]) {
            struct sockaddr_in6 sa;
            socklen_t salen;
            if (ppn_wg_endpoint_parse(m.endpoint, &sa, &salen) == 0)
                r = ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&sa, salen);
            else if (warn)
                warn(m.hostname, m.endpoint, userdata);
        }
        if (r == 0)
            r = ppn_wg_peer_set_keepalive(p, 25);
        peers++;
    }
    if (r < 0) {
        ppn_wg_device_free(d);
        return r;
    }
    *ret_dev = d;
    if (ret_self)
        *ret_self = self;
    if (ret_peers)
        *ret_peers = peers;
    return 0;
}
