/* Internal helpers shared by the libppn libraries.  Not installed, not
 * exported.  Same error convention as the public API: 0 or a count on
 * success, a negative errno on failure. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define PPNC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Replace 'path' with 'len' bytes of 'data' so that a crash leaves either the
 * old or the new content: write "<path>.tmp.<pid>" created with 'mode' (O_EXCL),
 * fsync it, rename over 'path', fsync the directory.  The temporary file is
 * removed on failure.  Returns 0 or a negative errno. */
int ppnc_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* fsync the directory that contains 'path' (or 'path' itself if 'is_dir'). */
int ppnc_fsync_parent(const char *path);
int ppnc_fsync_dir(const char *dir);

/* open(path, O_RDONLY | O_CLOEXEC | flags) and fstat it into *ret_st: the descriptor, or a
 * negative errno (nothing left open).  The caller checks the type and mode it needs. */
int ppnc_open_stat(const char *path, int flags, struct stat *ret_st);

/* Read a whole regular file of at most 'max' bytes into a malloc'd buffer
 * (NUL-terminated for convenience; the NUL is not counted in *ret_len).
 * -EFBIG if larger than 'max'.  The caller frees *ret_data. */
int ppnc_read_file(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len);

/* Read 'fd' (a pipe, a terminal, a file) to its end, at most 'max' bytes, into a malloc'd
 * buffer (NUL-terminated, the NUL not counted); the fd is not closed.  -EFBIG if there is more.
 * What was read is wiped before it is freed on failure (it may be a key). */
int ppnc_read_fd(int fd, size_t max, uint8_t **ret_data, size_t *ret_len);

/* write()/read() loops that retry on EINTR and short counts. */
int ppnc_write_all(int fd, const void *buf, size_t len);
ssize_t ppnc_read_full(int fd, void *buf, size_t len); /* count read, short only at EOF */

/* CLOCK_MONOTONIC in nanoseconds / milliseconds. */
uint64_t ppnc_now_mono_ns(void);
uint64_t ppnc_now_mono_ms(void);
/* CLOCK_REALTIME in nanoseconds. */
uint64_t ppnc_now_real_ns(void);

/* 32-byte keys in base64 exactly as `wg genkey` / `wg pubkey` print them. */
#define PPNC_KEY_B64_LEN 44
void ppnc_key_to_base64(char out[PPNC_KEY_B64_LEN + 1], const uint8_t key[32]);
/* Constant time in the key's value.  -EINVAL for NULL, -EBADMSG for
 * anything but 44 characters of canonical base64 ending in '='.  'key' is
 * untouched on failure. */
int ppnc_key_from_base64(uint8_t key[32], const char *s, size_t len);

/* Wipe memory the compiler may not elide (for code without libsodium). */
void ppnc_wipe(void *p, size_t len);
/* Grows the heap block 'old' (NULL, or *cap bytes of which the first 'len' are in use) to
 * hold at least 'need' bytes: 'old' itself when it already does, else a new block of *cap
 * doubled (from 'initial', > 0, when *cap is 0) with the used bytes copied, the old block
 * wiped and freed (not realloc, which may leave a copy of a secret behind) and *cap
 * updated.  NULL when out of memory, 'old' and *cap then untouched. */
void *ppnc_grow_wiped(void *old, size_t len, size_t *cap, size_t need, size_t initial);
/* Constant-time equality of two buffers: 1 if equal, else 0. */
int ppnc_memeq_ct(const void *a, const void *b, size_t len);

/* Big-endian integers of 'bytes' (1..8) bytes, as the wire formats in doc/ write them. */
static inline void ppnc_put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static inline uint64_t ppnc_get_be(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}
