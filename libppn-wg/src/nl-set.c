/* WG_CMD_SET_DEVICE: a device object split over large acknowledged
 * messages. */
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

unsigned long wg_set_messages;

static int ack_cb(const struct nlmsghdr *nlh, void *data)
{
    return MNL_CB_OK;
}

static int send_and_ack(struct wg_nl *nl, struct nlmsghdr *nlh)
{
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    wg_set_messages++;
    errno = 0;
    /* wg_nl_recv reads into nl->buf, which holds the sent message: done with it. */
    return wg_nl_recv(nl, nlh->nlmsg_seq, ack_cb, NULL);
}

static struct nlmsghdr *set_header(struct wg_nl *nl, const ppn_wg_device *d)
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

int wg_nl_set(struct wg_nl *nl, const ppn_wg_device *d)
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
            return wg_nl_map_dev_err(r);
        first = false;
    } while (pi < d->n_peers);
    return 0;
}

PPN_EXPORT int ppn_wg_set_device(const ppn_wg_device *d)
{
    if (!d || !d->name[0])
        return -EINVAL;
    struct wg_nl nl;
    int r = wg_nl_open(&nl);
    if (r < 0)
        return r;
    r = wg_nl_set(&nl, d);
    wg_nl_close(&nl);
    return r;
}

