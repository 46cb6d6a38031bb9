/* SPDX-License-Identifier: ISC */
/* libppn-wg — kernel WireGuard control over netlink
 *
 * Errors: functions that can fail return int: 0 (or a count) on success and a
 * negative errno on failure; see doc/ERRORS.md and the comment of each
 * function for the codes it documents.  Return parameters come last, are
 * named ret_*, are left untouched on failure and always set on success.
 *
 * Codes shared by every function that talks to the kernel:
 *   -ENODEV   no interface of that name (or it is not a WireGuard link)
 *   -EPERM    the caller lacks CAP_NET_ADMIN
 *   -ENOTSUP  the kernel has no WireGuard (generic netlink family missing)
 *   -EINVAL   bad argument (NULL, name too long, bad flags)
 *   -ENOMEM   allocation failed (also: the kernel refused more peers)
 *   -EBADMSG  the kernel answered with bytes this library cannot parse
 *   other     a negative errno the kernel returned unchanged
 *
 * Typical use by a mesh daemon:
 *   ppn_wg_link_ensure("wg0");                        create if absent
 *   d = ppn_wg_device_new(); set name, private key, listen port;
 *   ppn_wg_set_device(d);                             peers untouched
 *   ppn_wg_link_addr_add("wg0", &mesh_addr); ppn_wg_link_set_up("wg0", true);
 *   add/update one peer: a device object holding only that peer (no
 *   REPLACE_PEERS, peer flag REPLACE_ALLOWEDIPS) given to ppn_wg_set_device;
 *   the other peers are not touched.
 *   read back: ppn_wg_get_device("wg0", &d). */
#ifndef PPN_WG_H
#define PPN_WG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>

#ifndef PPN_EXPORT
#  if defined(PPN_BUILDING_LIBRARY) && defined(__GNUC__)
#    define PPN_EXPORT __attribute__((visibility("default")))
#  else
#    define PPN_EXPORT
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The package version of the library, e.g. "0.1.0".  Static storage. */
PPN_EXPORT const char *ppn_wg_version(void);

/* ---- sizes -------------------------------------------------------------- */

#define PPN_WG_KEY_BYTES 32     /* private, public and preshared keys */
#define PPN_WG_KEY_B64_LEN 44   /* base64 text of a key, without the NUL */
#define PPN_WG_IFNAME_MAX 15    /* longest interface name, without the NUL */
/* Every size, maximum and limit of this header at run time, for bindings and for programs
 * built against another version: ppn_wg_constant(PPN_WG_CONSTANT_<NAME>) is the value
 * of the macro PPN_WG_<NAME>, or -EINVAL for an unknown id.  An id never changes meaning;
 * new constants get new ids (doc/API.md, "Constants"). */
typedef enum ppn_wg_constant_id {
    PPN_WG_CONSTANT_KEY_BYTES = 0,
    PPN_WG_CONSTANT_KEY_B64_LEN = 1,
    PPN_WG_CONSTANT_IFNAME_MAX = 2,
    PPN_WG_CONSTANT_CONFIG_FIELD_MAX = 3,
    PPN_WG_CONSTANT_CONFIG_REASON_MAX = 4,
} ppn_wg_constant_id;
PPN_EXPORT int64_t ppn_wg_constant(uint32_t id);

/* 0 when 'name' is a valid interface name (1 to PPN_WG_IFNAME_MAX
 * characters, not "." or "..", no '/', ':' or whitespace: what the kernel
 * accepts), -EINVAL otherwise (NULL included).  Every function of this
 * library that takes a name applies this check. */
PPN_EXPORT int ppn_wg_ifname_check(const char *name);

/* ---- keys --------------------------------------------------------------- */

/* Writes the key as 44 characters of base64 plus a NUL (the `wg genkey`
 * form) into 'out' (at least PPN_WG_KEY_B64_LEN + 1 bytes). -EINVAL on NULL. */
PPN_EXPORT int ppn_wg_key_to_base64(const uint8_t key[PPN_WG_KEY_BYTES], char *out);
/* Decodes 'len' characters of base64 into a 32-byte key, in constant time.
 * -EINVAL for NULL; -EBADMSG for a wrong length (not 44 characters, i.e.
 * not 32 bytes) or anything but the canonical encoding, as
 * ppn_crypto_key_from_base64; 'ret_key' untouched on failure. */
PPN_EXPORT int ppn_wg_key_from_base64(const char *s, size_t len,
                                      uint8_t ret_key[PPN_WG_KEY_BYTES]);

/* A new private key: 32 random bytes from libsodium, clamped for X25519
 * (bits 0-2 and 255 cleared, bit 254 set), the `wg genkey` form.  -EINVAL
 * on NULL, -EIO when libsodium cannot be initialised.  Wipe it after use. */
PPN_EXPORT int ppn_wg_key_generate(uint8_t ret_key[PPN_WG_KEY_BYTES]);
/* A new preshared key: 32 random bytes (`wg genpsk`).  -EINVAL, -EIO. */
PPN_EXPORT int ppn_wg_key_generate_preshared(uint8_t ret_key[PPN_WG_KEY_BYTES]);
/* The public key of a private key (X25519 with the base point, the scalar
 * clamped as the kernel clamps it: `wg pubkey`).  -EINVAL on NULL, -EIO
 * when libsodium cannot be initialised.  'ret_public' untouched on failure. */
PPN_EXPORT int ppn_wg_key_public(const uint8_t private_key[PPN_WG_KEY_BYTES],
                                 uint8_t ret_public[PPN_WG_KEY_BYTES]);

/* ---- allowed IPs -------------------------------------------------------- */

/* One prefix: family AF_INET or AF_INET6, address in network byte order in
 * addr[0..3] or addr[0..15], prefix length cidr (<= 32 / 128). */
typedef struct ppn_wg_allowedip {
    uint16_t family;
    uint8_t cidr;
    uint8_t addr[16];
} ppn_wg_allowedip;

/* Parses "10.0.0.1/24", "fd00::1/64" or a bare address (full length).
 * -EINVAL when malformed. */
PPN_EXPORT int ppn_wg_allowedip_parse(const char *s, ppn_wg_allowedip *ret);
/* Formats as "addr/cidr" into 'buf' of 'size' bytes (64 is always enough).
 * -EINVAL on a bad family, -ENOSPC when 'buf' is too small. */
PPN_EXPORT int ppn_wg_allowedip_format(const ppn_wg_allowedip *ip, char *buf, size_t size);

/* ---- endpoints ---------------------------------------------------------- */

/* Parses "1.2.3.4:51820", "[fd00::1]:51820" or "host.name:51820" (resolved
 * with getaddrinfo, first answer) into a sockaddr_in or sockaddr_in6.
 * -EINVAL when malformed or not resolvable. */
PPN_EXPORT int ppn_wg_endpoint_parse(const char *s, struct sockaddr_in6 *ret_sa6_or_sa4,
                                     socklen_t *ret_len);
/* Formats a sockaddr_in / sockaddr_in6 the way `wg` prints it ("[v6]:port").
 * -EINVAL for another family, -ENOSPC when 'buf' is too small (128 is enough). */
PPN_EXPORT int ppn_wg_endpoint_format(const struct sockaddr *sa, socklen_t len, char *buf, size_t size);

/* ---- device and peer objects -------------------------------------------- */

/* A device configuration (what to write) or state (what was read).  Owns its
 * peers; a ppn_wg_peer pointer stays valid until its device is freed or the
 * peer is removed from it (adding peers does not move existing ones). */
typedef struct ppn_wg_device ppn_wg_device;
typedef struct ppn_wg_peer ppn_wg_peer;

enum ppn_wg_device_flag {
    PPN_WG_DEVICE_HAS_PRIVATE_KEY = 1U << 0,
    PPN_WG_DEVICE_HAS_PUBLIC_KEY = 1U << 1, /* read only */
    PPN_WG_DEVICE_HAS_LISTEN_PORT = 1U << 2,
    PPN_WG_DEVICE_HAS_FWMARK = 1U << 3,
    PPN_WG_DEVICE_REPLACE_PEERS = 1U << 4   /* on set: remove peers not listed */
};

enum ppn_wg_peer_flag {
    PPN_WG_PEER_HAS_PRESHARED_KEY = 1U << 0,
    PPN_WG_PEER_HAS_ENDPOINT = 1U << 1,
    PPN_WG_PEER_HAS_KEEPALIVE = 1U << 2,
    PPN_WG_PEER_REPLACE_ALLOWEDIPS = 1U << 3, /* on set: listed IPs replace the old */
    PPN_WG_PEER_REMOVE_ME = 1U << 4,          /* on set: remove this peer */
    PPN_WG_PEER_UPDATE_ONLY = 1U << 5         /* on set: only if the peer exists */
};

/* -ENOMEM.  Free with ppn_wg_device_free (wipes keys; NULL is fine). */
PPN_EXPORT int ppn_wg_device_new(ppn_wg_device **ret);
PPN_EXPORT void ppn_wg_device_free(ppn_wg_device *d);

/* Interface name: 1 to PPN_WG_IFNAME_MAX characters, not "." or "..", no
 * '/', ':' or whitespace (what the kernel accepts); -EINVAL otherwise, and
 * every function taking a name checks it the same way (never cut to fit).
 * get_name returns "" when unset; the string lives as long as 'd'. */
PPN_EXPORT int ppn_wg_device_set_name(ppn_wg_device *d, const char *name);
PPN_EXPORT const char *ppn_wg_device_get_name(const ppn_wg_device *d);
/* Interface index as read from the kernel (0 when not read). */
PPN_EXPORT uint32_t ppn_wg_device_get_ifindex(const ppn_wg_device *d);

/* Flags of enum ppn_wg_device_flag.  set_flags only changes
 * PPN_WG_DEVICE_REPLACE_PEERS (-EINVAL for any other bit); the HAS_* bits
 * follow the setters below. */
PPN_EXPORT uint32_t ppn_wg_device_get_flags(const ppn_wg_device *d);
PPN_EXPORT int ppn_wg_device_set_flags(ppn_wg_device *d, uint32_t flags);

/* Private key: 'key' NULL clears HAS_PRIVATE_KEY (on set the kernel key is
 * left alone); an all-zero key removes the kernel's key.  get: -ENOENT when
 * absent.  The object wipes keys on free. */
PPN_EXPORT int ppn_wg_device_set_private_key(ppn_wg_device *d, const uint8_t *key);
PPN_EXPORT int ppn_wg_device_get_private_key(const ppn_wg_device *d,
                                             uint8_t ret_key[PPN_WG_KEY_BYTES]);
/* Public key as read from the kernel.  -ENOENT when absent. */
PPN_EXPORT int ppn_wg_device_get_public_key(const ppn_wg_device *d,
                                            uint8_t ret_key[PPN_WG_KEY_BYTES]);
/* Listen port (0 = random on set) and firewall mark (0 = none). */
PPN_EXPORT int ppn_wg_device_set_listen_port(ppn_wg_device *d, uint16_t port);
PPN_EXPORT uint16_t ppn_wg_device_get_listen_port(const ppn_wg_device *d);
PPN_EXPORT int ppn_wg_device_set_fwmark(ppn_wg_device *d, uint32_t fwmark);
PPN_EXPORT uint32_t ppn_wg_device_get_fwmark(const ppn_wg_device *d);

/* Peers in order.  peer_at: NULL when i >= count. */
PPN_EXPORT size_t ppn_wg_device_peer_count(const ppn_wg_device *d);
PPN_EXPORT ppn_wg_peer *ppn_wg_device_peer_at(const ppn_wg_device *d, size_t i);
/* Looks up a peer by public key (constant time per comparison); NULL if none. */
PPN_EXPORT ppn_wg_peer *ppn_wg_device_find_peer(const ppn_wg_device *d,
                                                const uint8_t pub[PPN_WG_KEY_BYTES]);
/* Appends a peer with this public key.  -EEXIST when the device object
 * already has it, -EINVAL, -ENOMEM.  'ret' (may be NULL) owned by 'd'. */
PPN_EXPORT int ppn_wg_device_add_peer(ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES],
                                      ppn_wg_peer **ret);
/* Removes the peer from the object (not from the kernel: for that set
 * PPN_WG_PEER_REMOVE_ME).  -ENOENT when absent. */
PPN_EXPORT int ppn_wg_device_remove_peer(ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES]);

PPN_EXPORT void ppn_wg_peer_get_public_key(const ppn_wg_peer *p,
                                           uint8_t ret_key[PPN_WG_KEY_BYTES]);
/* Flags of enum ppn_wg_peer_flag.  set_flags changes only REPLACE_ALLOWEDIPS,
 * REMOVE_ME and UPDATE_ONLY (-EINVAL for any other bit). */
PPN_EXPORT uint32_t ppn_wg_peer_get_flags(const ppn_wg_peer *p);
PPN_EXPORT int ppn_wg_peer_set_flags(ppn_wg_peer *p, uint32_t flags);
/* Preshared key: NULL clears HAS_PRESHARED_KEY; all-zero removes it in the
 * kernel.  get: -ENOENT when absent (the kernel reports zero as absent). */
PPN_EXPORT int ppn_wg_peer_set_preshared_key(ppn_wg_peer *p, const uint8_t *key);
PPN_EXPORT int ppn_wg_peer_get_preshared_key(const ppn_wg_peer *p,
                                             uint8_t ret_key[PPN_WG_KEY_BYTES]);
/* Endpoint: a sockaddr_in or sockaddr_in6 of 'len' bytes; NULL clears
 * HAS_ENDPOINT.  -EINVAL for another family or length.  get: -ENOENT when
 * absent; writes at most sizeof(struct sockaddr_in6) bytes. */
PPN_EXPORT int ppn_wg_peer_set_endpoint(ppn_wg_peer *p, const struct sockaddr *sa, socklen_t len);
PPN_EXPORT int ppn_wg_peer_get_endpoint(const ppn_wg_peer *p, struct sockaddr_in6 *ret_sa6_or_sa4,
                                        socklen_t *ret_len);
/* Persistent keepalive interval in seconds, 0 = off. */
PPN_EXPORT int ppn_wg_peer_set_keepalive(ppn_wg_peer *p, uint16_t seconds);
PPN_EXPORT uint16_t ppn_wg_peer_get_keepalive(const ppn_wg_peer *p);
/* Read-only state from the kernel: last handshake (0,0 = never), traffic. */
PPN_EXPORT void ppn_wg_peer_get_last_handshake(const ppn_wg_peer *p, int64_t *ret_sec,
                                               int64_t *ret_nsec);
PPN_EXPORT uint64_t ppn_wg_peer_get_rx_bytes(const ppn_wg_peer *p);
PPN_EXPORT uint64_t ppn_wg_peer_get_tx_bytes(const ppn_wg_peer *p);
/* Allowed IPs in order.  add: -EINVAL for a bad family or cidr, -ENOMEM.
 * at: -ENOENT when i >= count. */
PPN_EXPORT int ppn_wg_peer_add_allowedip(ppn_wg_peer *p, const ppn_wg_allowedip *ip);
PPN_EXPORT void ppn_wg_peer_clear_allowedips(ppn_wg_peer *p);
PPN_EXPORT size_t ppn_wg_peer_allowedip_count(const ppn_wg_peer *p);
PPN_EXPORT int ppn_wg_peer_allowedip_at(const ppn_wg_peer *p, size_t i, ppn_wg_allowedip *ret);

/* ---- kernel: WireGuard generic netlink ---------------------------------- */

/* Reads device 'ifname' with a dump of as many messages as the kernel sends,
 * merging split peers; restarts when the dump is interrupted (at most 16
 * times, then -EAGAIN).  *ret is a new object the caller frees. */
PPN_EXPORT int ppn_wg_get_device(const char *ifname, ppn_wg_device **ret);
/* Writes 'd' to the interface named in it: device fields and peers present
 * in the object, with their flags, split over as many messages as needed
 * (each acknowledged before the next).  Not atomic across messages: on an
 * error the earlier messages stay applied.  -EINVAL when 'd' has no name. */
PPN_EXPORT int ppn_wg_set_device(const ppn_wg_device *d);
/* Makes the interface named in 'desired' match it: reads the current state,
 * then writes only the difference — device fields that differ, peers that
 * are new, changed or gone (a desired peer flagged REMOVE_ME counts as
 * gone), allowed IPs added or removed.  A peer's endpoint is written only
 * when 'desired' has one and it differs from the kernel's; an absent
 * endpoint never clears the kernel's (it may have roamed).  When nothing
 * differs nothing is sent: the cost is one read of the device plus an O(n)
 * comparison by public key.  Returns the number of peers written (added,
 * changed or removed). */
PPN_EXPORT int ppn_wg_sync_device(const ppn_wg_device *desired);

/* ---- kernel: links and addresses (rtnetlink) ---------------------------- */

/* Creates a WireGuard link: -EEXIST when the name exists, -ENOTSUP without
 * WireGuard in the kernel. */
PPN_EXPORT int ppn_wg_link_add(const char *ifname);
/* Creates the link unless a WireGuard link of that name exists.  Returns 1 when
 * created, 0 when it existed; -EEXIST when the name is another kind of link. */
PPN_EXPORT int ppn_wg_link_ensure(const char *ifname);
/* Deletes the link.  -ENODEV when absent. */
PPN_EXPORT int ppn_wg_link_del(const char *ifname);
/* Sets IFF_UP on or off. */
PPN_EXPORT int ppn_wg_link_set_up(const char *ifname, bool up);
/* Sets the MTU (-EINVAL below 68 for the kernel's sake). */
PPN_EXPORT int ppn_wg_link_set_mtu(const char *ifname, uint32_t mtu);
/* Adds / removes an address with prefix length (ppn_wg_allowedip used as an
 * address/prefix pair).  add: -EEXIST when present; del: -EADDRNOTAVAIL when
 * absent. */
PPN_EXPORT int ppn_wg_link_addr_add(const char *ifname, const ppn_wg_allowedip *addr);
PPN_EXPORT int ppn_wg_link_addr_del(const char *ifname, const ppn_wg_allowedip *addr);
/* Calls 'cb' with the name and index of every WireGuard link; a negative
 * return from 'cb' stops the walk and is returned.  Returns the count. */
typedef int (*ppn_wg_link_cb)(const char *ifname, uint32_t ifindex, void *userdata);
PPN_EXPORT int ppn_wg_link_list(ppn_wg_link_cb cb, void *userdata);

/* ---- configuration text (wg(8) setconf format) -------------------------- */

/* Parses the `wg setconf` format ([Interface] PrivateKey, ListenPort, FwMark;
 * [Peer] PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive)
 * into a new device object (no name set).  Host names in Endpoint are
 * resolved with getaddrinfo.  Numbers as wg(8) reads them: decimal (leading
 * zeros allowed) for ListenPort (0..65535), PersistentKeepalive (0..65535 or
 * "off"), endpoint ports (0..65535) and prefix lengths (0..32, 0..128);
 * FwMark also "0x" hexadecimal or "off" (0..0xffffffff).  -EBADMSG for a
 * syntax error, a number out of its range or a key that is not canonical
 * base64 of 32 bytes, with the 1-based line in *ret_line when
 * 'ret_line' is not NULL (also set on failure); -EINVAL for NULL text or
 * ret. */
PPN_EXPORT int ppn_wg_config_parse(const char *text, size_t len, ppn_wg_device **ret,
                                   unsigned *ret_line);
/* Why ppn_wg_config_parse_report refused a text.  Never holds a value (it may be a key). */
#define PPN_WG_CONFIG_FIELD_MAX 32   /* bytes of 'field' with its NUL */
#define PPN_WG_CONFIG_REASON_MAX 96  /* bytes of 'reason' with its NUL */
typedef struct ppn_wg_config_error {
    uint32_t line;                        /* 1-based; 0 when the text was accepted */
    char field[PPN_WG_CONFIG_FIELD_MAX];  /* the key as written ("ListenPort"; bytes outside
                                             printable ASCII as '?', cut to fit), "section" for
                                             a bad [...] line, "" for a line that is not one */
    char reason[PPN_WG_CONFIG_REASON_MAX]; /* what the value should be, e.g. "not a decimal
                                              port 0..65535" */
    uint64_t reserved[4];                 /* zeroed */
} ppn_wg_config_error;
/* ppn_wg_config_parse, saying which line and field were refused and why in *ret_error (may
 * be NULL; always filled, zeroed first).  The same returns. */
PPN_EXPORT int ppn_wg_config_parse_report(const char *text, size_t len, ppn_wg_device **ret,
                                          ppn_wg_config_error *ret_error);
/* Formats 'd' in the `wg showconf` format into a malloc'd NUL-terminated
 * string the caller frees (it holds the private key: wipe it).  -ENOMEM. */
PPN_EXPORT int ppn_wg_config_format(const ppn_wg_device *d, char **ret);

#ifdef __cplusplus
}
#endif

#endif
