/* The generic netlink socket for the wireguard family through libmnl:
 * open, family lookup, buffer sizes, acknowledged replies. */
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

size_t wg_max_message;

void wg_nl_close(struct wg_nl *nl)
{
    if (nl->sock)
        mnl_socket_close(nl->sock);
    if (nl->buf)
        ppnc_wipe(nl->buf, nl->send_max > WG_NL_RECV_BUF ? nl->send_max : WG_NL_RECV_BUF);
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
int wg_nl_recv(struct wg_nl *nl, uint32_t seq, mnl_cb_t cb, void *data)
{
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, WG_NL_RECV_BUF);
        if (n < 0)
            return errno == ENOBUFS ? -ENOBUFS : -errno;
        int r = mnl_cb_run(nl->buf, (size_t)n, seq, nl->portid, cb, data);
        if (r < 0)
            return errno ? -errno : -EBADMSG;
        if (r == MNL_CB_STOP)
            return 0;
    }
}

int wg_nl_open(struct wg_nl *nl)
{
    memset(nl, 0, sizeof(*nl));
    nl->buf = malloc(WG_NL_RECV_BUF);
    if (!nl->buf)
        return -ENOMEM;
    nl->sock = mnl_socket_open(NETLINK_GENERIC);
    if (!nl->sock) {
        int r = -errno;
        wg_nl_close(nl);
        return r;
    }
    if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        int r = -errno;
        wg_nl_close(nl);
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
        wg_nl_close(nl);
        return r;
    }
    uint16_t id = 0;
    errno = 0;
    int r = wg_nl_recv(nl, nl->seq, family_cb, &id);
    if (r == -ENOENT || (r == 0 && id == 0))
        r = -ENOTSUP;
    if (r < 0) {
        wg_nl_close(nl);
        return r;
    }
    nl->family = id;

    /* Large SET messages need a send buffer to match (root may force it). */
    int fd = mnl_socket_get_fd(nl->sock);
    int want = 4 * WG_NL_SEND_MAX;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
    int have = 0;
    socklen_t hl = sizeof(have);
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &have, &hl) < 0 || have < 8192)
        have = 8192;
    nl->send_max = (size_t)have - 256 < WG_NL_SEND_MAX ? (size_t)have - 256 : WG_NL_SEND_MAX;
    if (nl->send_max > 8192)
        nl->send_max &= ~(size_t)4095;
    if (wg_max_message && wg_max_message < nl->send_max)
        nl->send_max = wg_max_message;
    want = 4 * WG_NL_RECV_BUF;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
    if (nl->send_max > WG_NL_RECV_BUF) {
        uint8_t *b = realloc(nl->buf, nl->send_max);
        if (!b) {
            wg_nl_close(nl);
            return -ENOMEM;
        }
        nl->buf = b;
    }
    return 0;
}

/* An error about the device itself: a missing name or a non-WireGuard link. */
int wg_nl_map_dev_err(int r)
{
    if (r == -EOPNOTSUPP || r == -ENODEV)
        return -ENODEV;
    return r;
}
