/* Internal to libppn-wg: object layout and helpers shared by the sources,
 * the tests and the fuzz harnesses. */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ppn/wg.h"

struct ppn_wg_peer {
    uint8_t pub[PPN_WG_KEY_BYTES];
    uint8_t psk[PPN_WG_KEY_BYTES];
    uint32_t flags;
    union {
        struct sockaddr sa;
        struct sockaddr_in sin;
        struct sockaddr_in6 sin6;
    } ep;
    uint16_t keepalive;
    int64_t hs_sec, hs_nsec;
    uint64_t rx, tx;
    ppn_wg_allowedip *ips;
    size_t n_ips, cap_ips;
};

struct ppn_wg_device {
    char name[IFNAMSIZ];
    uint32_t ifindex;
    uint32_t flags;
    uint8_t priv[PPN_WG_KEY_BYTES];
    uint8_t pub[PPN_WG_KEY_BYTES];
    uint16_t port;
    uint32_t fwmark;
    struct ppn_wg_peer **peers;
    size_t n_peers, cap_peers;
    struct wg_index_slot {
        uint32_t pos;  /* peer position + 1, 0 = empty */
        uint32_t hash; /* of its public key: compared before the key */
    } *index;          /* open addressing, linear probing, load <= 1/2 */
    size_t index_size;
};

/* Appends a peer without the duplicate check of the public function
 * (-ENOMEM); keeps the index. */
int wg_device_append_peer(ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES],
                          ppn_wg_peer **ret);
/* An interface name as the kernel takes it (dev_valid_name): 1 to
 * PPN_WG_IFNAME_MAX characters, not "." or "..", no '/', ':' or whitespace.
 * Every function taking a name checks it with this. */
bool wg_ifname_valid(const char *name);
/* Position of the peer with this public key in d->peers, or -1. */
ssize_t wg_device_index_find(const ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES]);
/* A decimal number of at most 'max' as wg(8) reads one: digits only (leading
 * zeros allowed), no sign, space or "0x"; -EINVAL otherwise (config.c). */
int wg_parse_decimal(const char *s, unsigned long max, unsigned long *ret);
/* A public key from base64, fast (not constant time: for public keys only);
 * accepts exactly what ppn_wg_key_from_base64 accepts.  0 or -EINVAL. */
int wg_pubkey_from_base64(const char *s, size_t len, uint8_t ret_key[PPN_WG_KEY_BYTES]);
/* Masks host bits. */
void wg_allowedip_normalize(ppn_wg_allowedip *ip);
int wg_allowedip_cmp(const ppn_wg_allowedip *a, const ppn_wg_allowedip *b);

/* Parses one or more netlink messages of a WG_CMD_GET_DEVICE dump (as read
 * from the socket) into 'd', merging a peer continued from the previous
 * message.  Returns 1 to read on, 0 at the end of the dump, or a negative
 * errno (-EBADMSG for malformed input, -EPROTO for a foreign sequence
 * number or port, the kernel's error from NLMSG_ERROR / NLMSG_DONE).
 * *interrupted is set when a message has NLM_F_DUMP_INTR; later messages
 * are then only walked, not parsed.  seq / portid 0 accept any. */
int wg_parse_dump(ppn_wg_device *d, const void *buf, size_t len, uint32_t seq, uint32_t portid,
                  uint16_t family_id, bool *interrupted);

/* The sync's diff, without the kernel: a new device object in *ret_out
 * (named as 'want') that changes 'cur' into 'want' — device fields that
 * differ, peers removed (REMOVE_ME, first), added or changed (only what
 * changed).  Returns the number of peers in it (0: nothing to write unless
 * a device field differs), or -ENOMEM. */
int wg_sync_plan(const ppn_wg_device *want, const ppn_wg_device *cur, ppn_wg_device **ret_out);

/* For tests: when non-zero, the largest SET message (bytes) to build, to
 * exercise splitting; a count of dump restarts after NLM_F_DUMP_INTR; and a
 * count of WG_CMD_SET_DEVICE messages sent (process-wide, not locked). */
extern size_t wg_max_message;
extern unsigned long wg_dump_restarts;
extern unsigned long wg_set_messages;
