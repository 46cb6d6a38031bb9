/* sync.c internals (also used by the fuzz harness). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "ppn/ledger.h"

#define SYNC_REQ_MAGIC "PPNSYNQ1"
#define SYNC_ANS_MAGIC "PPNSYNA1"
#define SYNC_REQ_MAGIC2 "PPNSYNQ2" /* the same request; the asker takes PPNSYNA2 answers */
#define SYNC_ANS_MAGIC2 "PPNSYNA2" /* a PPNSYNA1 answer followed by cosignatures */
#define SYNC_REQ_HEAD 49 /* magic, u64 size, root, u8 origin length */

/* A decoded answer; pointers into the answer's bytes. */
struct sync_answer {
    uint64_t from, leaves;
    const uint8_t *leaf; /* leaves * 32 bytes */
    uint32_t count;
    size_t entry_off; /* the first entry's u16 length */
    const char *note;
    size_t note_len, note_off;
    struct checkpoint cp; /* the note's text, not verified */
    unsigned proof_count;
    const uint8_t *proof;
    unsigned version;      /* 1 or 2 */
    unsigned cosig_count;  /* version 2: cosignature records (COSIG_RECORD bytes each) */
    const uint8_t *cosig;
    size_t cosig_off;
};

/* Bounds and framing only: no hashing, no signature.  0, -E2BIG (len > max), -EBADMSG with
 * rep->error_offset and rep->why. */
int sync_answer_decode(const uint8_t *buf, size_t len, size_t max, struct sync_answer *a,
                       struct ppn_ledger_sync_report *rep);
