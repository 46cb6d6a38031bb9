/* Links and addresses through libnl-route-3. */
#include <errno.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <string.h>

#include "wg-internal.h"

static int map_nl(int e)
{
    switch (e < 0 ? -e : e) {
    case 0: return 0;
    case NLE_EXIST: return -EEXIST;
    case NLE_PERM: return -EPERM;
    case NLE_NOACCESS: return -EPERM;
    case NLE_OPNOTSUPP: return -ENOTSUP;
    case NLE_NODEV: return -ENODEV;
    case NLE_OBJ_NOTFOUND: return -ENODEV;
    case NLE_NOMEM: return -ENOMEM;
    case NLE_INVAL: return -EINVAL;
    case NLE_RANGE: return -ERANGE;
    case NLE_NOADDR: return -EADDRNOTAVAIL;
    case NLE_BUSY: return -EBUSY;
    case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
    case NLE_MSGSIZE: return -EMSGSIZE;
    case NLE_AGAIN: return -EAGAIN;
    case NLE_INTR: return -EINTR;
    default: return -EIO;
    }
}

static bool name_ok(const char *n)
{
    return wg_ifname_valid(n);
}

static int sock_open(struct nl_sock **ret)
{
    struct nl_sock *sk = nl_socket_alloc();
    if (!sk)
        return -ENOMEM;
    int r = nl_connect(sk, NETLINK_ROUTE);
    if (r < 0) {
        nl_socket_free(sk);
        return map_nl(r);
    }
    *ret = sk;
    return 0;
}

/* Fetches one link by name: -ENODEV when absent. */
static int link_get(struct nl_sock *sk, const char *ifname, struct rtnl_link **ret)
{
    int r = rtnl_link_get_kernel(sk, 0, ifname, ret);
    if (r < 0)
        return map_nl(r) == -ENOTSUP ? -ENODEV : map_nl(r);
    return 0;
}

static bool is_wireguard(struct rtnl_link *l)
{
    const char *t = rtnl_link_get_type(l);
    return t && strcmp(t, "wireguard") == 0;
}

/* Checks ifname, opens a route socket, with 'fetch' fetches the link (else l is NULL), and
 * runs 'op': op's result, or the error before it (-EINVAL the name, -ENODEV no such link). */
typedef int (*link_op)(struct nl_sock *sk, const char *ifname, struct rtnl_link *l,
                       const void *arg);

static int with_link(const char *ifname, bool fetch, link_op op, const void *arg)
{
    if (!name_ok(ifname))
        return -EINVAL;
    struct nl_sock *sk;
    int r = sock_open(&sk);
    if (r < 0)
        return r;
    struct rtnl_link *l = NULL;
    r = fetch ? link_get(sk, ifname, &l) : 0;
    if (r == 0) {
        r = op(sk, ifname, l, arg);
        if (l)
            rtnl_link_put(l);
    }
    nl_socket_free(sk);
    return r;
}

static int op_add(struct nl_sock *sk, const char *ifname, struct rtnl_link *unused,
                  const void *arg)
{
    (void)unused;
    (void)arg;
    struct rtnl_link *l = rtnl_link_alloc();
    if (!l)
        return -ENOMEM;
    rtnl_link_set_name(l, ifname);
    int r = rtnl_link_set_type(l, "wireguard");
    if (r >= 0)
        r = rtnl_link_add(sk, l, NLM_F_CREATE | NLM_F_EXCL);
    r = map_nl(r);
    rtnl_link_put(l);
    return r;
}

PPN_EXPORT int ppn_wg_link_add(const char *ifname)
{
    return with_link(ifname, false, op_add, NULL);
}

static int op_check_wireguard(struct nl_sock *sk, const char *ifname, struct rtnl_link *l,
                              const void *arg)
{
    (void)sk;
    (void)ifname;
    (void)arg;
    return is_wireguard(l) ? 0 : -EEXIST;
}

PPN_EXPORT int ppn_wg_link_ensure(const char *ifname)
{
    int r = with_link(ifname, true, op_check_wireguard, NULL);
    if (r != -ENODEV)
        return r;
    r = ppn_wg_link_add(ifname);
    return r < 0 ? r : 1;
}

static int op_delete(struct nl_sock *sk, const char *ifname, struct rtnl_link *l,
                     const void *arg)
{
    (void)ifname;
    (void)arg;
    return map_nl(rtnl_link_delete(sk, l));
}

PPN_EXPORT int ppn_wg_link_del(const char *ifname)
{
    return with_link(ifname, true, op_delete, NULL);
}

struct link_change {
    bool set_up, up; /* set_up: the IFF_UP flag, else the MTU */
    uint32_t mtu;
};

static int op_change(struct nl_sock *sk, const char *ifname, struct rtnl_link *l,
                     const void *arg)
{
    (void)ifname;
    const struct link_change *ch = arg;
    struct rtnl_link *c = rtnl_link_alloc();
    if (!c)
        return -ENOMEM;
    if (ch->set_up) {
        if (ch->up)
            rtnl_link_set_flags(c, IFF_UP);
        else
            rtnl_link_unset_flags(c, IFF_UP);
    } else {
        rtnl_link_set_mtu(c, ch->mtu);
    }
    int r = map_nl(rtnl_link_change(sk, l, c, 0));
    rtnl_link_put(c);
    return r;
}

static int link_change(const char *ifname, bool set_up, bool up, uint32_t mtu)
{
    const struct link_change ch = {.set_up = set_up, .up = up, .mtu = mtu};
    return with_link(ifname, true, op_change, &ch);
}

PPN_EXPORT int ppn_wg_link_set_up(const char *ifname, bool up)
{
    return link_change(ifname, true, up, 0);
}

PPN_EXPORT int ppn_wg_link_set_mtu(const char *ifname, uint32_t mtu)
{
    if (mtu < 68)
        return -EINVAL;
    return link_change(ifname, false, false, mtu);
}

struct addr_change {
    const ppn_wg_allowedip *a;
    bool add;
};

static int op_addr(struct nl_sock *sk, const char *ifname, struct rtnl_link *l,
                   const void *arg)
{
    (void)ifname;
    const struct addr_change *ch = arg;
    const ppn_wg_allowedip *a = ch->a;
    int r;
    struct rtnl_addr *ra = rtnl_addr_alloc();
    struct nl_addr *na = nl_addr_build(a->family, a->addr, a->family == AF_INET ? 4 : 16);
    if (!ra || !na) {
        r = -ENOMEM;
    } else {
        nl_addr_set_prefixlen(na, a->cidr);
        rtnl_addr_set_ifindex(ra, rtnl_link_get_ifindex(l));
        rtnl_addr_set_family(ra, a->family);
        r = rtnl_addr_set_local(ra, na);
        if (r >= 0)
            r = ch->add ? rtnl_addr_add(sk, ra, NLM_F_CREATE | NLM_F_EXCL) : rtnl_addr_delete(sk, ra, 0);
        r = map_nl(r);
        if (!ch->add && (r == -ENODEV || r == -ENOTSUP))
            r = -EADDRNOTAVAIL;
    }
    if (na)
        nl_addr_put(na);
    if (ra)
        rtnl_addr_put(ra);
    return r;
}

static int addr_op(const char *ifname, const ppn_wg_allowedip *a, bool add)
{
    if (!a || (a->family != AF_INET && a->family != AF_INET6) ||
        a->cidr > (a->family == AF_INET ? 32 : 128))
        return -EINVAL;
    const struct addr_change ch = {.a = a, .add = add};
    return with_link(ifname, true, op_addr, &ch);
}

PPN_EXPORT int ppn_wg_link_addr_add(const char *ifname, const ppn_wg_allowedip *addr)
{
    return addr_op(ifname, addr, true);
}

PPN_EXPORT int ppn_wg_link_addr_del(const char *ifname, const ppn_wg_allowedip *addr)
{
    return addr_op(ifname, addr, false);
}

PPN_EXPORT int ppn_wg_link_list(ppn_wg_link_cb cb, void *userdata)
{
    struct nl_sock *sk;
    int r = sock_open(&sk);
    if (r < 0)
        return r;
    struct nl_cache *cache = NULL;
    r = map_nl(rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache));
    if (r == 0) {
        int count = 0;
        for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
            struct rtnl_link *l = (struct rtnl_link *)o;
            if (!is_wireguard(l))
                continue;
            count++;
            if (cb) {
                int c = cb(rtnl_link_get_name(l), (uint32_t)rtnl_link_get_ifindex(l), userdata);
                if (c < 0) {
                    count = c;
                    break;
                }
            }
        }
        r = count;
        nl_cache_free(cache);
    }
    nl_socket_free(sk);
    return r;
}
