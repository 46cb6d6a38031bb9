/* The one CBOR codec of the libraries that speak CBOR (crypto, ledger, fleet): strict
 * canonical CBOR (RFC 8949 §4.2.1, "core deterministic encoding") for exactly the subset
 * the wire formats use: unsigned integers, byte strings, text strings, arrays and maps
 * with unsigned integer keys in ascending order.  Internal: compiled into each library
 * with hidden visibility (see common/meson.build), never exported.  doc/CBOR.md says why
 * this and not libcbor. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    PPNC_CBOR_UINT = 0,
    PPNC_CBOR_BYTES = 2,
    PPNC_CBOR_TEXT = 3,
    PPNC_CBOR_ARRAY = 4,
    PPNC_CBOR_MAP = 5,
};

/* ---- encoder: into a caller's buffer, shortest heads, definite lengths ----
 * Writing past 'size' writes nothing more but goes on counting: 'len' is then the size
 * the whole encoding needs, and ppnc_cbor_w_ok() is false. */
struct ppnc_cbor_w {
    uint8_t *p;
    size_t size, len;
};
#define PPNC_CBOR_W(buf, size) ((struct ppnc_cbor_w){(buf), (size), 0})
void ppnc_cbor_put_head(struct ppnc_cbor_w *w, unsigned major, uint64_t v);
void ppnc_cbor_put_raw(struct ppnc_cbor_w *w, const void *d, size_t n);
void ppnc_cbor_put_uint(struct ppnc_cbor_w *w, uint64_t v);
void ppnc_cbor_put_bytes(struct ppnc_cbor_w *w, const void *d, size_t n);
void ppnc_cbor_put_text(struct ppnc_cbor_w *w, const char *s, size_t n);
void ppnc_cbor_put_array(struct ppnc_cbor_w *w, uint64_t items);
void ppnc_cbor_put_map(struct ppnc_cbor_w *w, uint64_t pairs);
static inline bool ppnc_cbor_w_ok(const struct ppnc_cbor_w *w) { return w->len <= w->size; }

/* ---- decoder: one cursor over untrusted bytes, no allocation ----
 * Every reader returns 0 or -EBADMSG and moves the cursor only on success.  Refused:
 * a head that is not the shortest form of its argument, indefinite lengths, reserved
 * additional information (28..30), the major types not in the subset (negative integers,
 * tags, simple values, floats), a declared length or count the remaining bytes cannot
 * hold, text that is not UTF-8 or holds a NUL, and map keys not strictly ascending. */
struct ppnc_cbor_r {
    const uint8_t *p;
    size_t len, pos;
};
#define PPNC_CBOR_R(buf, size) ((struct ppnc_cbor_r){(const uint8_t *)(buf), (size), 0})
/* Any head of the subset: its major type and argument (a string's length is checked
 * against the bytes that follow; an array's or map's count against one byte per item). */
int ppnc_cbor_get_head(struct ppnc_cbor_r *r, unsigned *ret_major, uint64_t *ret_arg);
/* An unsigned integer of at most 'max'. */
int ppnc_cbor_get_uint(struct ppnc_cbor_r *r, uint64_t max, uint64_t *ret);
/* A byte string of min..max bytes; *ret points into the input. */
int ppnc_cbor_get_bytes(struct ppnc_cbor_r *r, size_t min, size_t max, const uint8_t **ret,
                        size_t *ret_len);
/* A byte string of min..max bytes copied into out (ret_len may be NULL), or of exactly n. */
int ppnc_cbor_get_bytes_copy(struct ppnc_cbor_r *r, void *out, size_t min, size_t max,
                             size_t *ret_len);
int ppnc_cbor_get_bytes_n(struct ppnc_cbor_r *r, void *out, size_t n);
/* A text string of at most 'max' bytes (UTF-8 without NUL), copied into out[max + 1] with
 * a NUL; ret_len may be NULL. */
int ppnc_cbor_get_text(struct ppnc_cbor_r *r, char *out, size_t max, size_t *ret_len);
/* An array's or a map's count, at most 'max'. */
int ppnc_cbor_get_array(struct ppnc_cbor_r *r, uint64_t max, uint64_t *ret_items);
int ppnc_cbor_get_map(struct ppnc_cbor_r *r, uint64_t max, uint64_t *ret_pairs);
/* A map key: an unsigned integer 'min'..'max' greater than *last (the canonical order of
 * unsigned keys is ascending); *last becomes it.  Start with *last = -1 (UINT64_MAX): then
 * any key of the range is first.  A key is below UINT64_MAX (that value marks "none yet"). */
int ppnc_cbor_get_key(struct ppnc_cbor_r *r, uint64_t min, uint64_t max, uint64_t *last,
                      uint64_t *ret_key);
static inline bool ppnc_cbor_r_done(const struct ppnc_cbor_r *r) { return r->pos == r->len; }

/* UTF-8 (RFC 3629: shortest forms, no surrogates, at most U+10FFFF) without NUL. */
bool ppnc_utf8_valid(const char *s, size_t len);
