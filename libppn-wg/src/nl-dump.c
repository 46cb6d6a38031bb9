/* WG_CMD_GET_DEVICE: the dump parser (wg_parse_dump, also fed by the fuzz
 * harness) and ppn_wg_get_device. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ppn-common.h"
#include "nl-internal.h"

#define DUMP_RESTARTS 16

unsigned long wg_dump_restarts;

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

int wg_nl_get(struct wg_nl *nl, const char *ifname, ppn_wg_device **ret)
{
    int r;
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
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
        nlh->nlmsg_type = nl->family;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = ++nl->seq;
        struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
        g->cmd = WG_CMD_GET_DEVICE;
        g->version = WG_GENL_VERSION;
        mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
        if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0) {
            r = -errno;
            ppn_wg_device_free(d);
            break;
        }
        for (;;) {
            ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, WG_NL_RECV_BUF);
            if (n < 0) {
                r = -errno;
                break;
            }
            r = wg_parse_dump(d, nl->buf, (size_t)n, nl->seq, nl->portid, nl->family, &interrupted);
            if (r <= 0)
                break;
        }
        if (r < 0) {
            ppn_wg_device_free(d);
            r = wg_nl_map_dev_err(r);
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
    return r;
}

PPN_EXPORT int ppn_wg_get_device(const char *ifname, ppn_wg_device **ret)
{
    if (!wg_ifname_valid(ifname) || !ret)
        return -EINVAL;
    struct wg_nl nl;
    int r = wg_nl_open(&nl);
    if (r < 0)
        return r;
    r = wg_nl_get(&nl, ifname, ret);
    wg_nl_close(&nl);
    return r;
}

