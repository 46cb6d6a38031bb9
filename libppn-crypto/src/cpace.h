/* Internal CPace building blocks (draft-irtf-cfrg-cpace-21), exposed to the
 * tests through the static library. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer; on allocation failure 'failed' is set and further
 * appends are ignored, so callers check once at the end. */
typedef struct cbuf {
    uint8_t *data;
    size_t len, cap;
    int failed;
} cbuf;

void cbuf_init(cbuf *b);
void cbuf_append(cbuf *b, const void *data, size_t len);
void cbuf_wipe_free(cbuf *b);

/* LEB128 of 'n' into out (at most 10 bytes); returns the length. */
size_t cpace_leb128(uint8_t out[10], uint64_t n);
/* prepend_len(x) appended to 'b'. */
void cpace_prepend_len(cbuf *b, const uint8_t *x, size_t len);
/* o_cat(x, y) appended to 'b'. */
void cpace_o_cat(cbuf *b, const uint8_t *x, size_t xlen, const uint8_t *y, size_t ylen);
/* 1 if x > y lexicographically (a proper prefix is smaller). */
int cpace_lexi_larger(const uint8_t *x, size_t xlen, const uint8_t *y, size_t ylen);
/* generator_string(DSI, PRS, CI, sid, 128) appended to 'b'. */
void cpace_generator_string(cbuf *b, const uint8_t *prs, size_t prs_len,
                            const uint8_t *ci, size_t ci_len,
                            const uint8_t *sid, size_t sid_len);
/* transcript_ir / transcript_oc appended to 'b'. */
void cpace_transcript(cbuf *b, int symmetric,
                      const uint8_t *ya, const uint8_t *ada, size_t ada_len,
                      const uint8_t *yb, const uint8_t *adb, size_t adb_len);
