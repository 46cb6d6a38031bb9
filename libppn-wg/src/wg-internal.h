/* Internal to libppn-wg: object layout and helpers shared by the sources,
 * the tests and the fuzz harnesses. */
#pragma once

#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>

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
    size_t *index; /* open addressing: peer position + 1, 0 = empty */
    size_t index_size;
};

/* Appends a peer without the duplicate check of the public function
 * (-ENOMEM); keeps the index. */
int wg_device_append_peer(ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES],
                          ppn_wg_peer **ret);
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

/* For tests: when non-zero, the largest SET message (bytes) to build, to
 * exercise splitting; and a count of dump restarts after NLM_F_DUMP_INTR. */
extern size_t wg_max_message;
extern unsigned long wg_dump_restarts;
