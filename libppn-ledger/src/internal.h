/* Internal interfaces of libppn-ledger (also used by the tests and fuzz harnesses). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ppn/ledger.h"

#define HASH_BYTES 32

/* ---- entry.c: canonical CBOR entries ---- */
/* Signed entries are the CBOR array [body-map, signature(bstr 64)]; the signature covers
 * ENTRY_SIG_DOMAIN || body bytes. */
#define ENTRY_SIG_DOMAIN "ppn-ledger/entry/v1\n"

/* Decode without checking the signature; sets ret_body, ret_body_len to the body bytes
 * inside 'data' and *ret_sig to the 64 signature bytes inside 'data'.  -EBADMSG. */
int entry_decode_unverified(const uint8_t *data, size_t len, struct ppn_ledger_entry *ret,
                            const uint8_t **ret_body, size_t *ret_body_len,
                            const uint8_t **ret_sig);
int entry_verify_sig(const uint8_t author[32], const uint8_t *body, size_t body_len,
                     const uint8_t sig[64]);
/* Field checks shared by sign and decode: -EINVAL (sign) style, caller maps. */
int entry_check_fields(const struct ppn_ledger_entry *e);
bool text_valid(const char *s, size_t len); /* UTF-8, no NUL, at most PPN_LEDGER_TEXT_MAX */
#include "ppn-cbor.h"
/* UTF-8 without NUL, any length (common/cbor.c) */
static inline bool utf8_valid(const char *s, size_t len) { return ppnc_utf8_valid(s, len); }

/* ---- merkle.c ---- */
void merkle_node_hash(uint8_t out[32], const uint8_t left[32], const uint8_t right[32]);
void merkle_empty_root(uint8_t out[32]);
/* Go sumdb stored-hash layout. */
uint64_t merkle_stored_index(unsigned level, uint64_t n);
uint64_t merkle_stored_count(uint64_t n);

/* A reader of stored hashes, for proofs over any storage. */
typedef int (*hash_reader_fn)(void *userdata, uint64_t stored_index, uint8_t out[32]);
int merkle_subtree_hash(hash_reader_fn rd, void *ud, uint64_t lo, uint64_t hi, uint8_t out[32]);
int merkle_inclusion_proof(hash_reader_fn rd, void *ud, uint64_t index, uint64_t size,
                           uint8_t *proof, size_t max, size_t *ret_count);
int merkle_consistency_proof(hash_reader_fn rd, void *ud, uint64_t m, uint64_t n,
                             uint8_t *proof, size_t max, size_t *ret_count);

/* The right edge of a tree: enough to append and to compute the root. */
struct frontier {
    uint64_t size;
    uint8_t h[64][32]; /* h[l] valid when bit l of size is set */
};
/* Appends a leaf; writes the newly stored hashes (leaf first, then parents) to out (room for
 * 64) and returns how many. */
unsigned frontier_append(struct frontier *f, const uint8_t leaf[32], uint8_t (*out)[32]);
void frontier_root(const struct frontier *f, uint8_t out[32]);

/* ---- note.c: C2SP signed note + tlog-checkpoint ---- */
struct checkpoint {
    char origin[PPN_LEDGER_TEXT_MAX + 1];
    uint64_t size;
    uint8_t root[32];
};
/* Parse a checkpoint note without verifying: the text part (origin, size, root) and the
 * signature lines.  Fills up to 'max' (key id, signature) pairs for signatures whose name
 * equals the origin.  -EBADMSG. */
struct note_sig {
    uint32_t key_id;
    uint8_t sig[64];
};
int note_parse(const char *note, size_t len, size_t *ret_text_len, struct note_sig *sigs,
               size_t max, size_t *ret_nsigs, const char *want_name);
int checkpoint_parse_text(const char *text, size_t len, struct checkpoint *ret);
/* Sign 'text' (ending in a newline) as a note under key name 'name'. */
int note_sign(const char *text, size_t tl, const char *name, const uint8_t sk[64], char *buf,
              size_t size, size_t *ret_len);
/* Build a checkpoint note signed by sk under name 'origin'. */
int checkpoint_sign(const struct checkpoint *cp, const uint8_t sk[64], char *buf, size_t size,
                    size_t *ret_len);
/* Verify note against a set of candidate public keys; returns 0 and the parsed checkpoint if
 * one of them signed it. */
int checkpoint_verify_any(const char *note, size_t len, const char *origin,
                          const uint8_t (*pks)[32], size_t npks, struct checkpoint *ret);

/* ---- record.c: framing ---- */
#define REC_MAGIC 0x5250504eu /* "NPPR" little-endian bytes 'N','P','P','R' */
#define REC_HEAD 24           /* magic u32, len u32, index u64, head check u64 */
#define REC_TAIL 32           /* BLAKE2b-256 over head and payload */
#define REC_OVERHEAD (REC_HEAD + REC_TAIL)

enum rec_status {
    REC_OK = 0,
    REC_TORN = 1,    /* incomplete: cut back / ignore */
    REC_CORRUPT = 2, /* refuse */
};
/* Frame 'payload' as record 'index' into out (room for len + REC_OVERHEAD). */
void record_frame(uint8_t *out, uint64_t index, const uint8_t *payload, size_t len);
/* Examine the record at data[0..avail): REC_OK with *ret_len = payload length. */
enum rec_status record_check(const uint8_t *data, size_t avail, uint64_t want_index,
                             size_t *ret_len);
