/* Internal to libppn-fleet: shared by the codec and the controller, and used
 * by the tests and fuzz harnesses through the static library. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "ppn/fleet.h"

/* Name rule of the wire format: 1..63 of [A-Za-z0-9._-]. */
bool fleet_name_valid(const char *s, size_t len);

/* context string || body, at most this long. */
/* The reserved tail of an input struct is zero (doc/API.md, "Structs"). */
static inline bool fleet_reserved_zero(const uint64_t r[4])
{
    return (r[0] | r[1] | r[2] | r[3]) == 0;
}

#define FLEET_SIGNED_MAX (32 + PPN_FLEET_MESSAGE_MAX)

/* Decode a heartbeat without verifying the signature.  On success ret_msg
 * (FLEET_SIGNED_MAX bytes) holds the signed bytes (context || body) and
 * ret_sig the signature.  Errors as ppn_fleet_heartbeat_open() minus
 * -EKEYREJECTED. */
int fleet_heartbeat_parse(const void *buf, size_t len, ppn_fleet_heartbeat *ret_hb,
                          uint8_t *ret_msg, size_t *ret_msg_len, uint8_t ret_sig[64]);

int fleet_sodium_init(void);

/* Decode a request without verifying it.  On success *ret_msg (malloc'd,
 * the caller frees) holds the signed bytes and ret_sig the signature.
 * Errors as ppn_fleet_request_open() minus -EKEYREJECTED and -EPROTO for a
 * VM-Totebox without node (fleet_request_verify() says those). */
int fleet_request_parse(const void *buf, size_t len, ppn_fleet_request *ret_req,
                        uint8_t **ret_msg, size_t *ret_msg_len, uint8_t ret_sig[64]);
int fleet_request_verify(const ppn_fleet_request *rq, const uint8_t *msg, size_t msg_len,
                         const uint8_t sig[64]);

/* ppn_fleet_ingest() that also says which node accepted (index). */
int fleet_ingest(ppn_fleet *f, const void *buf, size_t len, const struct sockaddr *from,
                 socklen_t fromlen, uint64_t now_ms, long *ret_index);
/* A sequence floor from storage: heartbeats at or below it are replays. */
void fleet_node_resume_seq(ppn_fleet *f, size_t index, uint64_t seq);
const uint8_t *fleet_node_key(const ppn_fleet *f, size_t index);
uint64_t fleet_node_seq(const ppn_fleet *f, size_t index, bool *ret_known);
uint64_t fleet_start_ms(const ppn_fleet *f);

/* ---- shared by the engines ------------------------------------------- */

/* At most one report per FLEET_LOG_INTERVAL_MS; the rest are counted. */
#define FLEET_LOG_INTERVAL_MS 1000
typedef struct fleet_ratelimit {
    bool used;
    uint64_t last_ms;
    uint64_t suppressed;
} fleet_ratelimit;
/* true: report now, with *ret_suppressed the count held back before. */
bool fleet_ratelimit_allow(fleet_ratelimit *rl, uint64_t now_ms, uint64_t *ret_suppressed);
/* true when a summary of held-back reports is due (the interval passed). */
bool fleet_ratelimit_summary(fleet_ratelimit *rl, uint64_t now_ms, uint64_t *ret_suppressed);

/* Creation-request freshness: age window and the nonces seen within it. */
#define FLEET_REQUEST_WINDOW_S 300
#define FLEET_NONCES 1024
typedef struct fleet_nonces {
    uint8_t nonce[FLEET_NONCES][PPN_FLEET_NONCE_BYTES];
    uint64_t expires[FLEET_NONCES]; /* unix s; 0 free */
} fleet_nonces;
/* -ESTALE: outside the window or seen. */
int fleet_nonces_check(const fleet_nonces *n, const ppn_fleet_request *rq, uint64_t now_unix);
/* Remember rq's nonce.  -EBUSY: every slot holds an unexpired nonce. */
int fleet_nonces_commit(fleet_nonces *n, const ppn_fleet_request *rq, uint64_t now_unix);

/* A sorted-free set of 32-byte keys (operators). */
typedef struct fleet_keyset {
    uint8_t *keys;
    size_t n;
} fleet_keyset;
int fleet_keyset_set(fleet_keyset *ks, const uint8_t *keys, size_t n);
bool fleet_keyset_has(const fleet_keyset *ks, const uint8_t key[32]);
void fleet_keyset_clear(fleet_keyset *ks);

/* true if a and b (AF_INET/AF_INET6) have the same IP. */
bool fleet_same_ip(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b,
                   socklen_t blen);

/* A non-blocking UDP socket bound to 'listen', asking for 'rcvbuf' bytes of
 * receive buffer (0: default); the fd or a negative errno. */
int fleet_udp_socket(const struct sockaddr *listen, socklen_t len, int rcvbuf, int *ret_granted);
