/* The wireguard generic netlink family through libmnl: GET dump, SET split
 * over large acknowledged messages, and sync. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ppn-common.h"
#include "wg-internal.h"

#define RECV_BUF (64 * 1024)        /* the kernel fills dump messages up to 32 KiB */
#define SEND_MAX (128 * 1024)       /* largest SET message; its PEERS nest stays < 64 KiB */
#define DUMP_RESTARTS 16

size_t wg_max_message;
unsigned long wg_dump_restarts;

struct nl {
    struct mnl_socket *sock;
    uint32_t portid;
    uint32_t seq;
    uint16_t family;
    size_t send_max;
    uint8_t *buf;
};

static void nl_close(struct nl *nl)
{
    if (nl->sock)
        mnl_socket_close(nl->sock);
    free(nl->buf);
    memset(nl, 0, sizeof(*nl));
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
    uint16_t *id = data;
    struct nlattr *a;
    mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
        if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID && mnl_attr_validate(a, MNL_TYPE_U16) >= 0)
            *id = mnl_attr_get_u16(a);
    }
    return MNL_CB_OK;
}

/* Runs the callback loop until the reply with 'seq' ends.  Returns 0 or a
 * negative errno. */
static int nl_recv(struct nl *nl, uint32_t seq, mnl_cb_t cb, void *data)
{
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, RECV_BUF);
        if (n < 0)
            return errno == ENOBUFS ? -ENOBUFS : -errno;
        int r = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, cb, data);
        if (r < 0)
            return errno ? -errno : -EBADMSG;
        if (r == MNL_CB_STOP)
            return 0;
    }
}

static int nl_open(struct nl *nl)
{
    memset(nl, 0, sizeof(*nl));
    nl->buf = malloc(RECV_BUF);
    if (!nl->buf)
        return -ENOMEM;
    nl->sock = mnl_socket_open(NETLINK_GENERIC);
    if (!nl->sock) {
        int r = -errno;
        nl_close(nl);
        return r;
    }
    if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        int r = -errno;
        nl_close(nl);
        return r;
    }
    nl->portid = mnl_socket_get_portid(nl->sock);
    /* Error ACKs must not echo a 1 MiB request back (it would not fit the
     * receive buffer and hide the error). */
    int one = 1;
    (void)mnl_socket_setsockopt(nl->sock, NETLINK_CAP_ACK, &one, sizeof(one));
    nl->seq = (uint32_t)time(NULL);

    /* Resolve the family. */
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
    nlh->nlmsg_type = GENL_ID_CTRL;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = ++nl->seq;
    struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
    g->cmd = CTRL_CMD_GETFAMILY;
    g->version = 1;
    mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0) {
        int r = -errno;
        nl_close(nl);
        return r;
    }
    uint16_t id = 0;
    errno = 0;
    int r = nl_recv(nl, nl->seq, family_cb, &id);
    if (r == -ENOENT || (r == 0 && id == 0))
        r = -ENOTSUP;
    if (r < 0) {
        nl_close(nl);
        return r;
    }
    nl->family = id;

    /* Large SET messages need a send buffer to match (root may force it). */
    int fd = mnl_socket_get_fd(nl->sock);
    int want = 4 * SEND_MAX;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
    int have = 0;
    socklen_t hl = sizeof(have);
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &hl) < 0 || have < 8192)
        have = 8192;
    nl->send_max = (size_t)have - 256 < SEND_MAX ? (size_t)have - 256 : SEND_MAX;
    if (nl->send_max > 8192)
        nl->send_max &= ~(size_t)4095;
    if (wg_max_message && wg_max_message < nl->send_max)
        nl->send_max = wg_max_message;
    want = 4 * RECV_BUF;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
    if (nl->send_max > RECV_BUF) {
        uint8_t *b = realloc(nl->buf, nl->send_max);
        if (!b) {
            nl_close(nl);
            return -ENOMEM;
        }
        nl->buf = b;
    }
    return 0;
}

/* An error about the device itself: a missing name or a non-WireGuard link. */
static int map_dev_err(int r)
{
    if (r == -EOPNOTSUPP || r == -ENODEV)
        return -ENODEV;
    return r;
}

/* ---- GET ---- */

/* Attribute walk without a library call per step (a dump of 100,000 peers
 * has millions of attributes); the same checks as mnl_attr_ok(). */
#define A_OK(a, rem) ((rem) >= (int)sizeof(struct nlattr) && (a)->nla_len >= sizeof(struct nlattr) && \
                      (int)(a)->nla_len <= (rem))
#define A_TYPE(a) ((a)->nla_type & NLA_TYPE_MASK)
#define A_LEN(a) ((size_t)((a)->nla_len - MNL_ATTR_HDRLEN))
#define A_DATA(a) ((const void *)((const uint8_t *)(a) + MNL_ATTR_HDRLEN))
#define for_each_nested(a, nest, rem)                                                          \
    for ((a) = A_DATA(nest), (rem) = (int)A_LEN(nest); A_OK(a, rem);                           \
         (rem) -= (int)MNL_ALIGN((a)->nla_len),                                                 \
        (a) = (const struct nlattr *)((const uint8_t *)(a) + MNL_ALIGN((a)->nla_len)))

static inline bool get_u16(const struct nlattr *a, uint16_t *v)
{
    if (A_LEN(a) != sizeof(*v))
        return false;
    memcpy(v, A_DATA(a), sizeof(*v));
    return true;
}

static inline bool get_u8(const struct nlattr *a, uint8_t *v)
{
    if (A_LEN(a) != sizeof(*v))
        return false;
    *v = *(const uint8_t *)A_DATA(a);
    return true;
}

static inline bool get_u64(const struct nlattr *a, uint64_t *v)
{
    if (A_LEN(a) != sizeof(*v))
        return false;
    memcpy(v, A_DATA(a), sizeof(*v));
    return true;
}

struct parse_ctx {
    ppn_wg_device *d;
    ppn_wg_peer *last;
    bool *interrupted;
    uint16_t family;
    int err;
};

static int parse_allowedips(ppn_wg_peer *p, const struct nlattr *nest)
{
    const struct nlattr *ipn, *a;
    int rem, rem2;
    for_each_nested(ipn, nest, rem) {
        ppn_wg_allowedip ip;
        bool have_fam = false, have_addr = false, have_cidr = false;
        size_t alen = 0;
        const void *addr = NULL;
        memset(&ip, 0, sizeof(ip));
        for_each_nested(a, ipn, rem2) {
            switch (A_TYPE(a)) {
            case WGALLOWEDIP_A_FAMILY:
                if (!get_u16(a, &ip.family))
                    return -EBADMSG;
                have_fam = true;
                break;
            case WGALLOWEDIP_A_IPADDR:
                alen = A_LEN(a);
                addr = A_DATA(a);
                have_addr = true;
                break;
            case WGALLOWEDIP_A_CIDR_MASK:
                if (!get_u8(a, &ip.cidr))
                    return -EBADMSG;
                have_cidr = true;
                break;
            default:
                break;
            }
        }
        if (!have_fam || !have_addr || !have_cidr)
            return -EBADMSG;
        if (ip.family == AF_INET && alen == 4 && ip.cidr <= 32)
            memcpy(ip.addr, addr, 4);
        else if (ip.family == AF_INET6 && alen == 16 && ip.cidr <= 128)
            memcpy(ip.addr, addr, 16);
        else
            return -EBADMSG;
        int r = ppn_wg_peer_add_allowedip(p, &ip);
        if (r < 0)
            return r;
    }
    return 0;
}

static int parse_peer(struct parse_ctx *c, const struct nlattr *nest)
{
    const struct nlattr *a;
    const struct nlattr *pub = NULL;
    int rem;
    for_each_nested(a, nest, rem) {
        if (A_TYPE(a) == WGPEER_A_PUBLIC_KEY) {
            if (A_LEN(a) != PPN_WG_KEY_BYTES)
                return -EBADMSG;
            pub = a;
        }
    }
    if (!pub)
        return -EBADMSG;
    const uint8_t *key = A_DATA(pub);
    ppn_wg_peer *p;
    /* A peer continued from the previous message repeats its key. */
    if (c->last && memcmp(c->last->pub, key, PPN_WG_KEY_BYTES) == 0) { /* public */
        p = c->last;
    } else {
        p = ppn_wg_device_find_peer(c->d, key);
        if (!p) {
            int r = wg_device_append_peer(c->d, key, &p);
            if (r < 0)
                return r;
        }
    }
    c->last = p;
    for_each_nested(a, nest, rem) {
        size_t len = A_LEN(a);
        const void *v = A_DATA(a);
        int r = 0;
        uint16_t u16;
        switch (A_TYPE(a)) {
        case WGPEER_A_PRESHARED_KEY: {
            static const uint8_t zero[PPN_WG_KEY_BYTES];
            if (len != PPN_WG_KEY_BYTES)
                return -EBADMSG;
            if (!ppnc_memeq_ct(v, zero, PPN_WG_KEY_BYTES))
                ppn_wg_peer_set_preshared_key(p, v);
            break;
        }
        case WGPEER_A_ENDPOINT: {
            struct sockaddr_in6 s6;
            if (len < sizeof(struct sockaddr_in))
                return -EBADMSG;
            memset(&s6, 0, sizeof(s6));
            memcpy(&s6, v, len < sizeof(s6) ? len : sizeof(s6));
            if (s6.sin6_family == AF_INET && len == sizeof(struct sockaddr_in))
                r = ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&s6, sizeof(struct sockaddr_in));
            else if (s6.sin6_family == AF_INET6 && len == sizeof(struct sockaddr_in6))
                r = ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&s6, sizeof(s6));
            else if (s6.sin6_family != AF_UNSPEC)
                return -EBADMSG;
            if (r < 0)
                return -EBADMSG;
            break;
        }
        case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL:
            if (!get_u16(a, &u16))
                return -EBADMSG;
            if (u16)
                ppn_wg_peer_set_keepalive(p, u16);
            break;
        case WGPEER_A_LAST_HANDSHAKE_TIME: {
            int64_t ts[2];
            if (len != sizeof(ts))
                return -EBADMSG;
            memcpy(ts, v, sizeof(ts));
            p->hs_sec = ts[0];
            p->hs_nsec = ts[1];
            break;
        }
        case WGPEER_A_RX_BYTES:
            if (!get_u64(a, &p->rx))
                return -EBADMSG;
            break;
        case WGPEER_A_TX_BYTES:
            if (!get_u64(a, &p->tx))
                return -EBADMSG;
            break;
        case WGPEER_A_ALLOWEDIPS:
            r = parse_allowedips(p, a);
            if (r < 0)
                return r;
            break;
        default:
            break;
        }
    }
    return 0;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
    struct parse_ctx *c = data;
    if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr)) {
        c->err = -EBADMSG;
        return MNL_CB_ERROR;
    }
    const struct nlattr *a;
    mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
        size_t len = mnl_attr_get_payload_len(a);
        const void *v = mnl_attr_get_payload(a);
        switch (mnl_attr_get_type(a)) {
        case WGDEVICE_A_IFINDEX:
            if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
                goto bad;
            c->d->ifindex = mnl_attr_get_u32(a);
            break;
        case WGDEVICE_A_IFNAME:
            if (len == 0 || len > IFNAMSIZ || ((const char *)v)[len - 1] != '\0' ||
                strlen(v) == 0 || strlen(v) > PPN_WG_IFNAME_MAX)
                goto bad;
            memcpy(c->d->name, v, strlen(v) + 1);
            break;
        case WGDEVICE_A_PRIVATE_KEY:
            if (len != PPN_WG_KEY_BYTES)
                goto bad;
            ppn_wg_device_set_private_key(c->d, v);
            break;
        case WGDEVICE_A_PUBLIC_KEY:
            if (len != PPN_WG_KEY_BYTES)
                goto bad;
            memcpy(c->d->pub, v, PPN_WG_KEY_BYTES);
            c->d->flags |= PPN_WG_DEVICE_HAS_PUBLIC_KEY;
            break;
        case WGDEVICE_A_LISTEN_PORT:
            if (mnl_attr_validate(a, MNL_TYPE_U16) < 0)
                goto bad;
            c->d->port = mnl_attr_get_u16(a);
            c->d->flags |= PPN_WG_DEVICE_HAS_LISTEN_PORT;
            break;
        case WGDEVICE_A_FWMARK:
            if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
                goto bad;
            c->d->fwmark = mnl_attr_get_u32(a);
            c->d->flags |= PPN_WG_DEVICE_HAS_FWMARK;
            break;
        case WGDEVICE_A_PEERS: {
            const struct nlattr *pn;
            int rem;
            for_each_nested(pn, a, rem) {
                int r = parse_peer(c, pn);
                if (r < 0) {
                    c->err = r;
                    return MNL_CB_ERROR;
                }
            }
            break;
        }
        default:
            break;
        }
    }
    return MNL_CB_OK;
bad:
    c->err = -EBADMSG;
    return MNL_CB_ERROR;
}

int wg_parse_dump(ppn_wg_device *d, const void *buf, size_t len, uint32_t seq, uint32_t portid,
                  uint16_t family_id, bool *interrupted)
{
    struct parse_ctx c = {.d = d, .interrupted = interrupted, .family = family_id};
    if (d->n_peers)
        c.last = d->peers[d->n_peers - 1];
    size_t off = 0;
    /* Our own walk rather than mnl_cb_run(): that one stops at the first
     * NLM_F_DUMP_INTR, leaving the rest of the dump in the socket (and
     * mnl_nlmsg_ok() trusts a huge nlmsg_len through a signed cast). */
    while (len - off >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)((const uint8_t *)buf + off);
        /* In size_t: MNL_ALIGN() of a 32-bit length near 2^32 wraps to 0. */
        size_t step = ((size_t)nlh->nlmsg_len + 3) & ~(size_t)3;
        if (nlh->nlmsg_len < sizeof(struct nlmsghdr) || step > len - off)
            return -EBADMSG;
        if (!mnl_nlmsg_portid_ok(nlh, portid) || !mnl_nlmsg_seq_ok(nlh, seq))
            return -EPROTO;
        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
            *interrupted = true;
        switch (nlh->nlmsg_type) {
        case NLMSG_NOOP:
        case NLMSG_OVERRUN:
            break;
        case NLMSG_ERROR: {
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
                return -EBADMSG;
            if (e->error > 0 || e->error < -4095)
                return -EBADMSG;
            return e->error; /* 0: an acknowledgement ends the reply */
        }
        case NLMSG_DONE: {
            int32_t err = 0;
            if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(err))
                memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
            if (err > 0 || err < -4095)
                return -EBADMSG;
            return err;
        }
        default:
            /* An interrupted dump is read to its end, then restarted. */
            if (nlh->nlmsg_type == family_id && !*interrupted && dump_cb(nlh, &c) != MNL_CB_OK)
                return c.err ? c.err : -EBADMSG;
            break;
        }
        if (step >= len - off)
            break;
        off += step;
    }
    return 1;
}

PPN_EXPORT int ppn_wg_get_device(const char *ifname, ppn_wg_device **ret)
{
    if (!ifname || !ret || strlen(ifname) == 0 || strlen(ifname) > PPN_WG_IFNAME_MAX)
        return -EINVAL;
    struct nl nl;
    int r = nl_open(&nl);
    if (r < 0)
        return r;
    for (unsigned attempt = 0;; attempt++) {
        ppn_wg_device *d;
        bool interrupted = false;
        if (attempt > DUMP_RESTARTS) {
            r = -EAGAIN;
            break;
        }
        r = ppn_wg_device_new(&d);
        if (r < 0)
            break;
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl.buf);
        nlh->nlmsg_type = nl.family;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = ++nl.seq;
        struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->cmd = WG_CMD_GET_DEVICE;
        g->version = WG_GENL_VERSION;
        mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
        if (mnl_socket_sendto(nl.sock, nlh, nlh->nlmsg_len) < 0) {
            r = -errno;
            ppn_wg_device_free(d);
            break;
        }
        for (;;) {
            ssize_t n = mnl_socket_recvfrom(nl.sock, nl.buf, RECV_BUF);
            if (n < 0) {
                r = -errno;
                break;
            }
            r = wg_parse_dump(d, nl.buf, (size_t)n, nl.seq, nl.portid, nl.family, &interrupted);
            if (r <= 0)
                break;
        }
        if (r < 0) {
            ppn_wg_device_free(d);
            r = map_dev_err(r);
            break;
        }
        if (interrupted) {
            wg_dump_restarts++;
            ppn_wg_device_free(d);
            continue;
        }
        *ret = d;
        r = 0;
        break;
    }
    nl_close(&nl);
    return r;
}

/* ---- SET ---- */

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
    return MNL_CB_OK;
}

static int send_and_ack(struct nl *nl, struct nlmsghdr *nlh)
{
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    errno = 0;
    /* nl_recv reads into nl->buf, which holds the sent message: done with it. */
    return nl_recv(nl, nlh->nlmsg_seq, ack_cb, NULL);
}

static struct nlmsghdr *set_header(struct nl *nl, const ppn_wg_device *d)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
    nlh->nlmsg_type = nl->family;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = ++nl->seq;
    struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
    g->cmd = WG_CMD_SET_DEVICE;
    g->version = WG_GENL_VERSION;
    mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, d->name);
    return nlh;
}

/* Puts one peer from allowed IP *ip_idx on.  Returns 1 when the peer is
 * complete, 0 when the message is full (*ip_idx tells where to resume; the
 * caller sends and calls again), -EMSGSIZE when nothing of it fit. */
static int put_peer(struct nlmsghdr *nlh, size_t max, const ppn_wg_peer *p, size_t *ip_idx)
{
    struct nlattr *pn = mnl_attr_nest_start_check(nlh, max, 0);
    if (!pn)
        return -EMSGSIZE;
    uint32_t fl = 0;
    if (p->flags & PPN_WG_PEER_REMOVE_ME)
        fl |= WGPEER_F_REMOVE_ME;
    if (p->flags & PPN_WG_PEER_UPDATE_ONLY)
        fl |= WGPEER_F_UPDATE_ONLY;
    if (*ip_idx == 0 && (p->flags & PPN_WG_PEER_REPLACE_ALLOWEDIPS))
        fl |= WGPEER_F_REPLACE_ALLOWEDIPS;
    if (!mnl_attr_put_check(nlh, max, WGPEER_A_PUBLIC_KEY, PPN_WG_KEY_BYTES, p->pub))
        goto cancel;
    if (fl && !mnl_attr_put_u32_check(nlh, max, WGPEER_A_FLAGS, fl))
        goto cancel;
    if (*ip_idx == 0) {
        if ((p->flags & PPN_WG_PEER_HAS_PRESHARED_KEY) &&
            !mnl_attr_put_check(nlh, max, WGPEER_A_PRESHARED_KEY, PPN_WG_KEY_BYTES, p->psk))
            goto cancel;
        if (p->flags & PPN_WG_PEER_HAS_ENDPOINT) {
            size_t l = p->ep.sa.sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                     : sizeof(struct sockaddr_in6);
            if (!mnl_attr_put_check(nlh, max, WGPEER_A_ENDPOINT, l, &p->ep))
                goto cancel;
        }
        if ((p->flags & PPN_WG_PEER_HAS_KEEPALIVE) &&
            !mnl_attr_put_u16_check(nlh, max, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p->keepalive))
            goto cancel;
    }
    if (p->n_ips > *ip_idx && !(p->flags & PPN_WG_PEER_REMOVE_ME)) {
        struct nlattr *ips = mnl_attr_nest_start_check(nlh, max, WGPEER_A_ALLOWEDIPS);
        if (!ips)
            goto cancel;
        size_t start = *ip_idx, i;
        for (i = start; i < p->n_ips; i++) {
            const ppn_wg_allowedip *ip = &p->ips[i];
            struct nlattr *in = mnl_attr_nest_start_check(nlh, max, 0);
            if (!in)
                break;
            if (!mnl_attr_put_u16_check(nlh, max, WGALLOWEDIP_A_FAMILY, ip->family) ||
                !mnl_attr_put_check(nlh, max, WGALLOWEDIP_A_IPADDR, ip->family == AF_INET ? 4 : 16,
                                    ip->addr) ||
                !mnl_attr_put_u8_check(nlh, max, WGALLOWEDIP_A_CIDR_MASK, ip->cidr)) {
                mnl_attr_nest_cancel(nlh, in);
                break;
            }
            mnl_attr_nest_end(nlh, in);
        }
        if (i == start) {
            mnl_attr_nest_cancel(nlh, ips);
            goto cancel;
        }
        mnl_attr_nest_end(nlh, ips);
        mnl_attr_nest_end(nlh, pn);
        *ip_idx = i;
        return i == p->n_ips ? 1 : 0;
    }
    mnl_attr_nest_end(nlh, pn);
    return 1;
cancel:
    mnl_attr_nest_cancel(nlh, pn);
    return -EMSGSIZE;
}

static int set_with(struct nl *nl, const ppn_wg_device *d)
{
    size_t pi = 0, ip_idx = 0;
    bool first = true;
    size_t max = nl->send_max;
    do {
        struct nlmsghdr *nlh = set_header(nl, d);
        if (first) {
            uint32_t fl = (d->flags & PPN_WG_DEVICE_REPLACE_PEERS) ? WGDEVICE_F_REPLACE_PEERS : 0;
            if (d->flags & PPN_WG_DEVICE_HAS_PRIVATE_KEY)
                mnl_attr_put(nlh, WGDEVICE_A_PRIVATE_KEY, PPN_WG_KEY_BYTES, d->priv);
            if (d->flags & PPN_WG_DEVICE_HAS_LISTEN_PORT)
                mnl_attr_put_u16(nlh, WGDEVICE_A_LISTEN_PORT, d->port);
            if (d->flags & PPN_WG_DEVICE_HAS_FWMARK)
                mnl_attr_put_u32(nlh, WGDEVICE_A_FWMARK, d->fwmark);
            if (fl)
                mnl_attr_put_u32(nlh, WGDEVICE_A_FLAGS, fl);
        }
        if (pi < d->n_peers) {
            /* nla_len is 16 bits: the PEERS nest (and so everything in it)
             * must stay under 64 KiB, whatever the message size. */
            max = nlh->nlmsg_len + 65532;
            if (max > nl->send_max)
                max = nl->send_max;
            struct nlattr *peers = mnl_attr_nest_start_check(nlh, max, WGDEVICE_A_PEERS);
            if (!peers)
                return -EMSGSIZE;
            bool any = false;
            while (pi < d->n_peers) {
                int r = put_peer(nlh, max, d->peers[pi], &ip_idx);
                if (r == -EMSGSIZE)
                    break;
                any = true;
                if (r == 0)
                    break;
                pi++;
                ip_idx = 0;
            }
            if (!any) {
                mnl_attr_nest_cancel(nlh, peers);
                if (!first)
                    return -EMSGSIZE; /* cannot happen with messages of >= 8 KiB */
            } else {
                mnl_attr_nest_end(nlh, peers);
            }
        }
        int r = send_and_ack(nl, nlh);
        ppnc_wipe(nl->buf, 64 + 3 * PPN_WG_KEY_BYTES); /* private key near the front */
        if (r < 0)
            return map_dev_err(r);
        first = false;
    } while (pi < d->n_peers);
    return 0;
}

PPN_EXPORT int ppn_wg_set_device(const ppn_wg_device *d)
{
    if (!d || !d->name[0])
        return -EINVAL;
    struct nl nl;
    int r = nl_open(&nl);
    if (r < 0)
        return r;
    r = set_with(&nl, d);
    ppnc_wipe(nl.buf, nl.send_max > RECV_BUF ? nl.send_max : RECV_BUF);
    nl_close(&nl);
    return r;
}

/* ---- sync ---- */

static int ipcmp_qsort(const void *a, const void *b)
{
    return wg_allowedip_cmp(a, b);
}

/* Sorted, normalized, deduplicated copy of p's allowed IPs. */
static int sorted_ips(const ppn_wg_peer *p, ppn_wg_allowedip **ret, size_t *ret_n)
{
    ppn_wg_allowedip *v = malloc((p->n_ips ? p->n_ips : 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < p->n_ips; i++) {
        v[i] = p->ips[i];
        wg_allowedip_normalize(&v[i]);
    }
    qsort(v, p->n_ips, sizeof(*v), ipcmp_qsort);
    size_t n = 0;
    for (size_t i = 0; i < p->n_ips; i++)
        if (n == 0 || wg_allowedip_cmp(&v[n - 1], &v[i]) != 0)
            v[n++] = v[i];
    *ret = v;
    *ret_n = n;
    return 0;
}

static bool endpoint_equal(const ppn_wg_peer *a, const ppn_wg_peer *b)
{
    if (a->ep.sa.sa_family != b->ep.sa.sa_family)
        return false;
    if (a->ep.sa.sa_family == AF_INET)
        return a->ep.sin.sin_port == b->ep.sin.sin_port &&
               a->ep.sin.sin_addr.s_addr == b->ep.sin.sin_addr.s_addr;
    return a->ep.sin6.sin6_port == b->ep.sin6.sin6_port &&
           memcmp(&a->ep.sin6.sin6_addr, &b->ep.sin6.sin6_addr, 16) == 0 &&
           a->ep.sin6.sin6_scope_id == b->ep.sin6.sin6_scope_id;
}

/* Fills 'out' (already in 'o') with what changes 'cur' into 'want'.
 * Returns 1 when something changed, 0 when not. */
static int diff_peer(const ppn_wg_peer *want, const ppn_wg_peer *cur, ppn_wg_peer *out)
{
    static const uint8_t zero[PPN_WG_KEY_BYTES];
    bool changed = false;
    const uint8_t *wpsk = (want->flags & PPN_WG_PEER_HAS_PRESHARED_KEY) ? want->psk : zero;
    const uint8_t *cpsk = (cur->flags & PPN_WG_PEER_HAS_PRESHARED_KEY) ? cur->psk : zero;
    if (!ppnc_memeq_ct(wpsk, cpsk, PPN_WG_KEY_BYTES)) {
        ppn_wg_peer_set_preshared_key(out, wpsk);
        changed = true;
    }
    uint16_t wka = (want->flags & PPN_WG_PEER_HAS_KEEPALIVE) ? want->keepalive : 0;
    if (wka != cur->keepalive) {
        ppn_wg_peer_set_keepalive(out, wka);
        changed = true;
    }
    if ((want->flags & PPN_WG_PEER_HAS_ENDPOINT) &&
        (!(cur->flags & PPN_WG_PEER_HAS_ENDPOINT) || !endpoint_equal(want, cur))) {
        out->ep = want->ep;
        out->flags |= PPN_WG_PEER_HAS_ENDPOINT;
        changed = true;
    }
    ppn_wg_allowedip *w, *c;
    size_t nw, nc;
    int r = sorted_ips(want, &w, &nw);
    if (r < 0)
        return r;
    r = sorted_ips(cur, &c, &nc);
    if (r < 0) {
        free(w);
        return r;
    }
    /* Walk both sorted lists: IPs only in 'want' are added; any only in
     * 'cur' forces a replace (the 6.1 kernel cannot remove one IP). */
    size_t i = 0, j = 0;
    bool removed = false;
    size_t added = 0;
    while (i < nw || j < nc) {
        int cmp = i >= nw ? 1 : j >= nc ? -1 : wg_allowedip_cmp(&w[i], &c[j]);
        if (cmp == 0) {
            i++;
            j++;
        } else if (cmp < 0) {
            added++;
            i++;
        } else {
            removed = true;
            j++;
        }
    }
    if (removed) {
        out->flags |= PPN_WG_PEER_REPLACE_ALLOWEDIPS;
        for (i = 0; i < want->n_ips && r >= 0; i++)
            r = ppn_wg_peer_add_allowedip(out, &want->ips[i]);
        changed = true;
    } else if (added) {
        i = 0;
        j = 0;
        while (i < nw && r >= 0) {
            int cmp = j >= nc ? -1 : wg_allowedip_cmp(&w[i], &c[j]);
            if (cmp == 0) {
                i++;
                j++;
            } else if (cmp < 0) {
                r = ppn_wg_peer_add_allowedip(out, &w[i++]);
            } else {
                j++;
            }
        }
        changed = true;
    }
    free(w);
    free(c);
    if (r < 0)
        return r;
    return changed ? 1 : 0;
}

PPN_EXPORT int ppn_wg_sync_device(const ppn_wg_device *want)
{
    if (!want || !want->name[0])
        return -EINVAL;
    ppn_wg_device *cur = NULL, *out = NULL;
    int r = ppn_wg_get_device(want->name, &cur);
    if (r < 0)
        return r;
    r = ppn_wg_device_new(&out);
    if (r < 0)
        goto done;
    memcpy(out->name, want->name, sizeof(out->name));
    if ((want->flags & PPN_WG_DEVICE_HAS_PRIVATE_KEY) &&
        (!(cur->flags & PPN_WG_DEVICE_HAS_PRIVATE_KEY) ||
         !ppnc_memeq_ct(want->priv, cur->priv, PPN_WG_KEY_BYTES)))
        ppn_wg_device_set_private_key(out, want->priv);
    if ((want->flags & PPN_WG_DEVICE_HAS_LISTEN_PORT) && want->port && want->port != cur->port)
        ppn_wg_device_set_listen_port(out, want->port);
    if ((want->flags & PPN_WG_DEVICE_HAS_FWMARK) && want->fwmark != cur->fwmark)
        ppn_wg_device_set_fwmark(out, want->fwmark);

    int count = 0;
    /* Removals first, so that their prefixes are free for the others. */
    for (size_t i = 0; i < cur->n_peers; i++) {
        if (ppn_wg_device_find_peer(want, cur->peers[i]->pub))
            continue;
        ppn_wg_peer *p;
        r = wg_device_append_peer(out, cur->peers[i]->pub, &p);
        if (r < 0)
            goto done;
        p->flags = PPN_WG_PEER_REMOVE_ME;
        count++;
    }
    for (size_t i = 0; i < want->n_peers; i++) {
        const ppn_wg_peer *w = want->peers[i];
        if (w->flags & PPN_WG_PEER_REMOVE_ME)
            continue;
        const ppn_wg_peer *c = ppn_wg_device_find_peer(cur, w->pub);
        ppn_wg_peer *p;
        if (!c) {
            r = wg_device_append_peer(out, w->pub, &p);
            if (r < 0)
                goto done;
            p->flags = (w->flags & (PPN_WG_PEER_HAS_PRESHARED_KEY | PPN_WG_PEER_HAS_ENDPOINT |
                                    PPN_WG_PEER_HAS_KEEPALIVE)) |
                       PPN_WG_PEER_REPLACE_ALLOWEDIPS;
            memcpy(p->psk, w->psk, sizeof(p->psk));
            p->ep = w->ep;
            p->keepalive = w->keepalive;
            for (size_t k = 0; k < w->n_ips && r >= 0; k++)
                r = ppn_wg_peer_add_allowedip(p, &w->ips[k]);
            if (r < 0)
                goto done;
            count++;
            continue;
        }
        ppn_wg_peer tmp;
        memset(&tmp, 0, sizeof(tmp));
        r = diff_peer(w, c, &tmp);
        if (r > 0) {
            r = wg_device_append_peer(out, w->pub, &p);
            if (r >= 0) {
                ppn_wg_allowedip *keep = p->ips;
                memcpy(p->psk, tmp.psk, sizeof(p->psk));
                p->flags = tmp.flags;
                p->ep = tmp.ep;
                p->keepalive = tmp.keepalive;
                p->ips = tmp.ips;
                p->n_ips = tmp.n_ips;
                p->cap_ips = tmp.cap_ips;
                tmp.ips = keep;
                count++;
            }
        }
        free(tmp.ips);
        ppnc_wipe(&tmp, sizeof(tmp));
        if (r < 0)
            goto done;
    }
    r = 0;
    if (out->n_peers || (out->flags & (PPN_WG_DEVICE_HAS_PRIVATE_KEY | PPN_WG_DEVICE_HAS_LISTEN_PORT |
                                       PPN_WG_DEVICE_HAS_FWMARK)))
        r = ppn_wg_set_device(out);
    if (r >= 0)
        r = count;
done:
    ppn_wg_device_free(cur);
    ppn_wg_device_free(out);
    return r;
}
