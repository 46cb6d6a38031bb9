/* Internal to libppn-wg's netlink sources: one generic netlink socket
 * resolved to the wireguard family (nl-socket.c), used by the dump
 * (nl-dump.c), the SET messages (nl-set.c) and sync (nl-sync.c). */
#pragma once

#include <libmnl/libmnl.h>
#include <stddef.h>
#include <stdint.h>

#include "wg-internal.h"

#define WG_NL_RECV_BUF (64 * 1024)  /* the kernel fills dump messages up to 32 KiB */
#define WG_NL_SEND_MAX (128 * 1024) /* largest SET message; its PEERS nest stays < 64 KiB */

struct wg_nl {
    struct mnl_socket *sock;
    uint32_t portid;
    uint32_t seq;
    uint16_t family;
    size_t send_max;
    uint8_t *buf; /* max(WG_NL_RECV_BUF, send_max) bytes */
};

/* Opens the socket and resolves the family: 0, -ENOTSUP without WireGuard,
 * -ENOMEM, or the kernel's error.  On failure 'nl' needs no close. */
int wg_nl_open(struct wg_nl *nl);
/* Wipes the buffer (it may have held keys) and closes. */
void wg_nl_close(struct wg_nl *nl);
/* Runs the callback loop until the reply with 'seq' ends: 0 or -errno. */
int wg_nl_recv(struct wg_nl *nl, uint32_t seq, mnl_cb_t cb, void *data);
/* An error about the device itself (a missing name or a non-WireGuard
 * link) as -ENODEV. */
int wg_nl_map_dev_err(int r);

/* ppn_wg_get_device and ppn_wg_set_device on an open socket. */
int wg_nl_get(struct wg_nl *nl, const char *ifname, ppn_wg_device **ret);
int wg_nl_set(struct wg_nl *nl, const ppn_wg_device *d);
