/* Pairing protocol messages: framing and CBOR encoding (doc/crypto.md). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cpace.h"
#include "ppn/crypto.h"

#define MSG_MAX 1024       /* CBOR bytes of one message */
#define MSG_FRAME_HDR 2    /* big-endian length */
#define MSG_SID_BYTES 16
#define MSG_COMMIT_BYTES 32
#define MSG_MAC_BYTES 32
#define MSG_AD_MAX 64
#define MSG_CT_MAX 900

enum msg_type {
    PM_COMMIT = 1,
    PM_SHARE = 2,
    PM_REVEAL = 3,
    PM_CONFIRM = 4,
    PM_RECORD = 5,
    PM_ACCEPT = 6,
    PM_ABORT = 7,
};

enum msg_key {
    KEY_VERSION = 0,
    KEY_TYPE = 1,
    KEY_SID = 2,
    KEY_COMMIT = 3,
    KEY_Y = 4,
    KEY_AD = 5,
    KEY_MAC = 6,
    KEY_CT = 7,
    KEY_REASON = 8,
};

typedef struct msg {
    uint64_t version;
    uint64_t type;
    uint8_t sid[MSG_SID_BYTES];
    uint8_t commit[MSG_COMMIT_BYTES];
    uint8_t y[32];
    uint8_t ad[MSG_AD_MAX];
    size_t ad_len;
    uint8_t mac[MSG_MAC_BYTES];
    uint8_t ct[MSG_CT_MAX];
    size_t ct_len;
    uint64_t reason;
} msg;

/* Encode 'm' (fields by m->type) as a frame appended to 'out'.
 * 0, -ENOMEM or -EINVAL. */
int msg_encode(const msg *m, cbuf *out);

/* Decode one message body (without the frame header).  -EBADMSG for
 * anything malformed (not one definite CBOR map of known unsigned keys, a
 * field of the wrong type or size, a missing or extra field for the type,
 * trailing bytes); -EPROTO for another version or an unknown type. */
int msg_decode(const uint8_t *data, size_t len, msg *ret);

/* The node record as the CBOR plaintext of a RECORD message. */
int record_encode(const ppn_crypto_node_record *rec, cbuf *out);
/* -EBADMSG for malformed CBOR or fields; the result is validated too. */
int record_decode(const uint8_t *data, size_t len, ppn_crypto_node_record *ret);
