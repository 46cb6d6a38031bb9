/* The ledger as the fleet engines see it: see fleetview.h. */
#include "fleetview.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool glue_fleet_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PPN_FLEET_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!(*s == '-' || *s == '.' || *s == '_' || (*s >= '0' && *s <= '9') ||
              (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return false;
    return true;
}

/* 'text' (an address without prefix) with 'port'. */
static int addr_port(const char *text, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    memset(ret, 0, sizeof(*ret));
    if (inet_pton(AF_INET, text, &v4.sin_addr) == 1) {
        memcpy(ret, &v4, sizeof(v4));
        *ret_len = sizeof(v4);
        return 0;
    }
    if (inet_pton(AF_INET6, text, &v6.sin6_addr) == 1) {
        memcpy(ret, &v6, sizeof(v6));
        *ret_len = sizeof(v6);
        return 0;
    }
    return -EINVAL;
}

int glue_fleet_mesh_addr(const char *mesh, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len)
{
    char text[INET6_ADDRSTRLEN + 1];
    size_t n = strcspn(mesh, "/");
    if (n >= sizeof(text))
        return -EINVAL;
    memcpy(text, mesh, n);
    text[n] = '\0';
    return addr_port(text, port, ret, ret_len);
}

void glue_fleet_view_free(struct glue_fleet_view *v)
{
    free(v->members);
    free(v->operators);
    memset(v, 0, sizeof(*v));
}

int glue_fleet_view_load(const char *dir, uint16_t agent_port, struct glue_fleet_view *ret)
{
    ppn_ledger *lg;
    int r = ppn_ledger_open(dir, 0, &lg);
    if (r < 0)
        return r;
    struct glue_fleet_view v;
    memset(&v, 0, sizeof(v));
    size_t n = ppn_ledger_member_count(lg), g = ppn_ledger_grant_count(lg);
    v.members = calloc(n ? n : 1, sizeof(*v.members));
    v.operators = calloc(g ? g : 1, 32);
    if (!v.members || !v.operators) {
        glue_fleet_view_free(&v);
        ppn_ledger_free(lg);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct ppn_ledger_member m;
        if (ppn_ledger_member_get(lg, i, &m) < 0)
            continue;
        ppn_fleet_member *fm = &v.members[v.n_members++];
        memcpy(fm->key, m.identity, 32);
        if (glue_fleet_name_ok(m.hostname))
            memcpy(fm->name, m.hostname, strlen(m.hostname) + 1);
        socklen_t l = 0;
        if (glue_fleet_mesh_addr(m.mesh, agent_port, &fm->addr, &l) == 0)
            fm->addr_len = l;
    }
    for (size_t i = 0; i < g; i++) {
        struct ppn_ledger_grant gr;
        if (ppn_ledger_grant_get(lg, i, &gr) < 0)
            continue;
        bool dup = false;
        for (size_t j = 0; j < v.n_operators && !dup; j++)
            dup = memcmp(v.operators + 32 * j, gr.subject, 32) == 0;
        if (!dup && ppn_ledger_has_capability(lg, gr.subject, PPN_LEDGER_CAP_VM_CREATE, NULL) == 1)
            memcpy(v.operators + 32 * v.n_operators++, gr.subject, 32);
    }
    v.size = ppn_ledger_size(lg);
    snprintf(v.mesh_range, sizeof(v.mesh_range), "%s", ppn_ledger_mesh_range(lg));
    ppn_ledger_free(lg);
    *ret = v;
    return 0;
}

const char *glue_fleet_view_name(const struct glue_fleet_view *v, const uint8_t key[32])
{
    const char *name = "";
    for (size_t i = 0; i < v->n_members; i++)
        if (memcmp(v->members[i].key, key, 32) == 0)
            name = v->members[i].name;
    return name;
}

int glue_fleet_self_addr(const char *dir, const uint8_t key[32], uint16_t port,
                         struct sockaddr_storage *ret, socklen_t *ret_len)
{
    ppn_ledger *lg;
    struct ppn_ledger_member m;
    int r = ppn_ledger_open(dir, 0, &lg);
    if (r < 0)
        return r;
    r = ppn_ledger_member_find(lg, key, &m);
    ppn_ledger_free(lg);
    if (r < 0)
        return -ESRCH;
    return glue_fleet_mesh_addr(m.mesh, port, ret, ret_len) < 0 ? -EINVAL : 0;
}

int glue_fleet_local_addr(const char *range, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len,
                          char *found, size_t found_size)
{
    char net[PPN_LEDGER_TEXT_MAX + 1];
    snprintf(net, sizeof(net), "%s", range);
    if (found_size)
        found[0] = '\0';
    char *slash = strchr(net, '/'), *end;
    if (!slash)
        return -EINVAL;
    *slash = '\0';
    errno = 0;
    unsigned long plen = strtoul(slash + 1, &end, 10);
    if (slash[1] < '0' || slash[1] > '9' || *end || errno || plen > 128)
        return -EINVAL;
    uint8_t base[16];
    int fam, alen;
    if (inet_pton(AF_INET, net, base) == 1)
        fam = AF_INET, alen = 4;
    else if (inet_pton(AF_INET6, net, base) == 1)
        fam = AF_INET6, alen = 16;
    else
        return -EINVAL;
    if (plen > (unsigned long)alen * 8)
        return -EINVAL;
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0)
        return -errno;
    int hits = 0;
    char text[INET6_ADDRSTRLEN] = "";
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != fam)
            continue;
        const uint8_t *a = fam == AF_INET
                               ? (const uint8_t *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                               : (const uint8_t *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
        bool in = true;
        for (unsigned b = 0; b < plen && in; b++)
            in = ((a[b / 8] ^ base[b / 8]) & (0x80 >> (b % 8))) == 0;
        if (!in)
            continue;
        inet_ntop(fam, a, text, sizeof(text));
        size_t l = strlen(found);
        if (l < found_size)
            snprintf(found + l, found_size - l, "%s%s", hits ? ", " : "", text);
        hits++;
    }
    freeifaddrs(ifs);
    if (hits != 1)
        return hits ? -ENOTUNIQ : -ENOENT;
    return addr_port(text, port, ret, ret_len);
}
