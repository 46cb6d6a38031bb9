/* SPDX-License-Identifier: ISC */
/* libppn-crypto — CPace pairing, short codes, SAS and node keys
 *
 * CPace is CPACE-RISTR255-SHA512 as specified by draft-irtf-cfrg-cpace-21
 * (its Appendix B.3 test vectors are reproduced by the test suite).  The
 * pairing protocol built on it (commitment, CPace, key confirmation, SAS,
 * encrypted node records) is described in doc/crypto.md.
 *
 * Errors: functions that can fail return int: 0 (or a count) on success and a
 * negative errno on failure; see doc/ERRORS.md and the comment of each
 * function for the codes it documents.  Return parameters come last, are
 * named ret_*, are left untouched on failure and always set on success
 * (exceptions are said explicitly).  Every function is safe to call from
 * several threads on different objects. */
#ifndef PPN_CRYPTO_H
#define PPN_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
PPN_EXPORT const char *ppn_crypto_version(void);

/* ------------------------------------------------------------------------
 * Sizes.  Each is also available at run time through ppn_crypto_constant().
 * ------------------------------------------------------------------------ */
#define PPN_CRYPTO_KEY_BYTES            32   /* X25519 / Ed25519 public key, WG private key */
#define PPN_CRYPTO_IDENTITY_SECRET_BYTES 64  /* libsodium Ed25519 secret key (seed || public) */
#define PPN_CRYPTO_KEY_B64_LEN          44   /* base64 of a 32-byte key, as `wg genkey` */
#define PPN_CRYPTO_CPACE_SCALAR_BYTES   32
#define PPN_CRYPTO_CPACE_POINT_BYTES    32
#define PPN_CRYPTO_CPACE_ISK_BYTES      64
#define PPN_CRYPTO_CPACE_SID_OUTPUT_BYTES 64
#define PPN_CRYPTO_CODE_MIN_SYMBOLS     6
#define PPN_CRYPTO_CODE_MAX_SYMBOLS     10
#define PPN_CRYPTO_CODE_DEFAULT_SYMBOLS 8
/* Buffer for a code as ppn_crypto_code_generate() writes it: at most 10
 * symbols in groups of four separated by '-', one check symbol, NUL. */
#define PPN_CRYPTO_CODE_STRING_SIZE     16
/* Buffer for a canonical code (symbols only, upper case, no check), NUL. */
#define PPN_CRYPTO_CODE_CANONICAL_SIZE  (PPN_CRYPTO_CODE_MAX_SYMBOLS + 1)
/* SAS: 8 decimal digits shown as "1234 5678" (26.5 bits). */
#define PPN_CRYPTO_SAS_DIGITS           8
#define PPN_CRYPTO_SAS_STRING_SIZE      10
/* Node record string limits in bytes, without the terminating NUL. */
#define PPN_CRYPTO_ENDPOINT_MAX         261  /* "[" 253-byte host "]:" 5 digits */
#define PPN_CRYPTO_HOSTNAME_MAX         253
#define PPN_CRYPTO_ADDRESS_MAX          49   /* IPv6 text (45) + "/128" */
/* The default ceremony deadline, from the seeds: 600 s. */
#define PPN_CRYPTO_DEFAULT_TIMEOUT_MS   600000u
/* Protocol version carried in every message and bound into CPace's CI. */
#define PPN_CRYPTO_PROTOCOL_VERSION     1

/* Every size, maximum and limit of this header at run time, for bindings and for programs
 * built against another version: ppn_crypto_constant(PPN_CRYPTO_CONSTANT_<NAME>) is the value
 * of the macro PPN_CRYPTO_<NAME>, or -EINVAL for an unknown id.  An id never changes meaning;
 * new constants get new ids (doc/API.md, "Constants"). */
typedef enum ppn_crypto_constant_id {
    PPN_CRYPTO_CONSTANT_KEY_BYTES = 0,
    PPN_CRYPTO_CONSTANT_IDENTITY_SECRET_BYTES = 1,
    PPN_CRYPTO_CONSTANT_KEY_B64_LEN = 2,
    PPN_CRYPTO_CONSTANT_CPACE_SCALAR_BYTES = 3,
    PPN_CRYPTO_CONSTANT_CPACE_POINT_BYTES = 4,
    PPN_CRYPTO_CONSTANT_CPACE_ISK_BYTES = 5,
    PPN_CRYPTO_CONSTANT_CPACE_SID_OUTPUT_BYTES = 6,
    PPN_CRYPTO_CONSTANT_CODE_MIN_SYMBOLS = 7,
    PPN_CRYPTO_CONSTANT_CODE_MAX_SYMBOLS = 8,
    PPN_CRYPTO_CONSTANT_CODE_DEFAULT_SYMBOLS = 9,
    PPN_CRYPTO_CONSTANT_CODE_STRING_SIZE = 10,
    PPN_CRYPTO_CONSTANT_CODE_CANONICAL_SIZE = 11,
    PPN_CRYPTO_CONSTANT_SAS_STRING_SIZE = 12,
    PPN_CRYPTO_CONSTANT_ENDPOINT_MAX = 13,
    PPN_CRYPTO_CONSTANT_HOSTNAME_MAX = 14,
    PPN_CRYPTO_CONSTANT_ADDRESS_MAX = 15,
    PPN_CRYPTO_CONSTANT_DEFAULT_TIMEOUT_MS = 16,
    PPN_CRYPTO_CONSTANT_PROTOCOL_VERSION = 17,
    PPN_CRYPTO_CONSTANT_SAS_DIGITS = 18,
    PPN_CRYPTO_CONSTANT_SESSION_RECORD_MAX = 19,
    PPN_CRYPTO_CONSTANT_SESSION_RECV_DEFAULT_MAX = 20,
} ppn_crypto_constant_id;
PPN_EXPORT int64_t ppn_crypto_constant(uint32_t id);

/* ------------------------------------------------------------------------
 * Key encoding: base64 exactly as `wg genkey` / `wg pubkey` print it.
 * ------------------------------------------------------------------------ */

/* Write the 44-character base64 form of 'key' and a NUL to 'ret_b64'.
 * -EINVAL if an argument is NULL. */
PPN_EXPORT int ppn_crypto_key_to_base64(const uint8_t key[PPN_CRYPTO_KEY_BYTES],
                                        char ret_b64[PPN_CRYPTO_KEY_B64_LEN + 1]);

/* Decode 'len' bytes of 's' (exactly 44 characters of canonical base64, no
 * whitespace) in constant time.  -EINVAL for NULL, -EBADMSG for anything
 * that is not a canonical encoding of 32 bytes. */
PPN_EXPORT int ppn_crypto_key_from_base64(const char *s, size_t len,
                                          uint8_t ret_key[PPN_CRYPTO_KEY_BYTES]);

/* ------------------------------------------------------------------------
 * Node keys.
 *
 * Key files hold one line: the base64 key followed by "\n", exactly what
 * `wg genkey > file` writes.  A WireGuard key file holds the (clamped)
 * X25519 private key, so `wg pubkey < file` works on it; an identity key
 * file holds the 32-byte Ed25519 seed.  Files are written with
 * ppnc_write_file_atomic semantics (temporary file, fsync, rename, fsync of
 * the directory) and mode 0600.  Loading refuses a file whose mode gives
 * group or others any access (-EPERM, before reading a byte) and anything
 * that is not a regular file (-EBADMSG).
 * ------------------------------------------------------------------------ */

/* A fresh Ed25519 identity key pair from the system CSPRNG.
 * 'ret_secret' is libsodium's 64-byte form; the caller wipes it. */
PPN_EXPORT int ppn_crypto_identity_generate(uint8_t ret_public[PPN_CRYPTO_KEY_BYTES],
                                            uint8_t ret_secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES]);

/* Save the seed of 'secret' to 'path' (0600, atomically).  -EINVAL for NULL
 * or a secret whose public half does not match its seed; -EEXIST if 'path'
 * exists and 'overwrite' is false; other negative errnos from the file
 * system (-EACCES, -ENOENT, -EIO, ...). */
PPN_EXPORT int ppn_crypto_identity_save(const char *path,
                                        const uint8_t secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES],
                                        bool overwrite);

/* Load an identity key file.  -ENOENT if missing; -EPERM if group or others
 * have any access to it (the key is not read); -EBADMSG if the content is
 * not one base64 key (optionally followed by one "\n"); -EINVAL for NULL.
 * 'ret_public' may be NULL. */
PPN_EXPORT int ppn_crypto_identity_load(const char *path,
                                        uint8_t ret_public[PPN_CRYPTO_KEY_BYTES],
                                        uint8_t ret_secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES]);

/* The public key of a 64-byte secret key.  -EINVAL for NULL. */
PPN_EXPORT int ppn_crypto_identity_public(const uint8_t secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES],
                                          uint8_t ret_public[PPN_CRYPTO_KEY_BYTES]);

/* A fresh WireGuard private key, clamped as `wg genkey` does. */
PPN_EXPORT int ppn_crypto_wg_generate(uint8_t ret_private[PPN_CRYPTO_KEY_BYTES]);

/* The WireGuard public key of 'private_key' (as `wg pubkey`).  -EINVAL for
 * NULL. */
PPN_EXPORT int ppn_crypto_wg_public(const uint8_t private_key[PPN_CRYPTO_KEY_BYTES],
                                    uint8_t ret_public[PPN_CRYPTO_KEY_BYTES]);

/* Save / load a WireGuard private key file; same errors as the identity
 * functions above.  'ret_public' of _load may be NULL. */
PPN_EXPORT int ppn_crypto_wg_save(const char *path,
                                  const uint8_t private_key[PPN_CRYPTO_KEY_BYTES],
                                  bool overwrite);
PPN_EXPORT int ppn_crypto_wg_load(const char *path,
                                  uint8_t ret_private[PPN_CRYPTO_KEY_BYTES],
                                  uint8_t ret_public[PPN_CRYPTO_KEY_BYTES]);

/* ------------------------------------------------------------------------
 * CPace (draft-irtf-cfrg-cpace-21, CPACE-RISTR255-SHA512), step by step.
 *
 * The session below uses these; they are public so that anyone can check
 * the implementation against the draft's test vectors with chosen scalars
 * (the known-answer entry point is ppn_crypto_cpace_share()).
 * ------------------------------------------------------------------------ */

typedef enum ppn_crypto_cpace_mode {
    PPN_CRYPTO_CPACE_INITIATOR_RESPONDER = 0, /* transcript_ir */
    PPN_CRYPTO_CPACE_SYMMETRIC = 1,           /* transcript_oc */
} ppn_crypto_cpace_mode;

/* g = ristretto255_from_hash(SHA-512(generator_string(DSI, PRS, CI, sid,
 * 128))) with DSI "CPaceRistretto255".  'ci' and 'sid' may be empty (NULL
 * with length 0).  -EINVAL for NULL with a non-zero length. */
PPN_EXPORT int ppn_crypto_cpace_generator(const uint8_t *prs, size_t prs_len,
                                          const uint8_t *ci, size_t ci_len,
                                          const uint8_t *sid, size_t sid_len,
                                          uint8_t ret_g[PPN_CRYPTO_CPACE_POINT_BYTES]);

/* Known-answer entry point: Y = scalar * g, with 'scalar' as 32 bytes little
 * endian (the draft's "ya"/"yb").  -EINVAL for NULL, a scalar that is zero
 * modulo the group order, or a 'g' that is not a valid non-identity point. */
PPN_EXPORT int ppn_crypto_cpace_share(const uint8_t g[PPN_CRYPTO_CPACE_POINT_BYTES],
                                      const uint8_t scalar[PPN_CRYPTO_CPACE_SCALAR_BYTES],
                                      uint8_t ret_y[PPN_CRYPTO_CPACE_POINT_BYTES]);

/* As above with a scalar drawn uniformly from [1, order-1] by the CSPRNG;
 * the scalar is returned for the _secret step.  The caller wipes it. */
PPN_EXPORT int ppn_crypto_cpace_share_random(const uint8_t g[PPN_CRYPTO_CPACE_POINT_BYTES],
                                             uint8_t ret_scalar[PPN_CRYPTO_CPACE_SCALAR_BYTES],
                                             uint8_t ret_y[PPN_CRYPTO_CPACE_POINT_BYTES]);

/* K = scalar_mult_vfy(scalar, peer_y).  This is the draft's mandatory abort:
 * -EBADMSG if 'peer_y' is not a canonical ristretto255 encoding or the
 * result is the identity (this includes peer_y == identity).  -EINVAL for
 * NULL. */
PPN_EXPORT int ppn_crypto_cpace_secret(const uint8_t scalar[PPN_CRYPTO_CPACE_SCALAR_BYTES],
                                       const uint8_t peer_y[PPN_CRYPTO_CPACE_POINT_BYTES],
                                       uint8_t ret_k[PPN_CRYPTO_CPACE_POINT_BYTES]);

/* ISK = SHA-512(lv_cat("CPaceRistretto255_ISK", sid, K) || transcript), the
 * transcript being transcript_ir(Ya,ADa,Yb,ADb) or transcript_oc(...) by
 * 'mode'.  -EINVAL for NULL with non-zero length or an unknown mode. */
PPN_EXPORT int ppn_crypto_cpace_isk(ppn_crypto_cpace_mode mode,
                                    const uint8_t *sid, size_t sid_len,
                                    const uint8_t k[PPN_CRYPTO_CPACE_POINT_BYTES],
                                    const uint8_t ya[PPN_CRYPTO_CPACE_POINT_BYTES],
                                    const uint8_t *ada, size_t ada_len,
                                    const uint8_t yb[PPN_CRYPTO_CPACE_POINT_BYTES],
                                    const uint8_t *adb, size_t adb_len,
                                    uint8_t ret_isk[PPN_CRYPTO_CPACE_ISK_BYTES]);

/* The optional session id output SHA-512("CPaceSidOutput" || transcript).
 * Same errors as ppn_crypto_cpace_isk(). */
PPN_EXPORT int ppn_crypto_cpace_sid_output(ppn_crypto_cpace_mode mode,
                                           const uint8_t ya[PPN_CRYPTO_CPACE_POINT_BYTES],
                                           const uint8_t *ada, size_t ada_len,
                                           const uint8_t yb[PPN_CRYPTO_CPACE_POINT_BYTES],
                                           const uint8_t *adb, size_t adb_len,
                                           uint8_t ret_out[PPN_CRYPTO_CPACE_SID_OUTPUT_BYTES]);

/* ------------------------------------------------------------------------
 * Short codes: Crockford base32, 6 to 10 symbols, optional check symbol.
 * ------------------------------------------------------------------------ */

/* Flag: the code carries a trailing Crockford check symbol (value mod 37,
 * alphabet "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U"). */
#define PPN_CRYPTO_CODE_CHECK (1U << 0)

/* A fresh code of 'symbols' random symbols (0 means the default, 8) from the
 * system CSPRNG, written to 'ret_code' as people read it: upper case, groups
 * of four joined by '-', the check symbol last ; the check symbol counts as a
 * symbol for the grouping (e.g. "7KQ2-M9XD", with check "7KQ2-M9XD-$").  -EINVAL for a NULL buffer, symbols outside
 * 6..10 or unknown flags; -ENOBUFS if 'size' is too small
 * (PPN_CRYPTO_CODE_STRING_SIZE always suffices).  Returns the string length. */
PPN_EXPORT int ppn_crypto_code_generate(unsigned symbols, uint32_t flags,
                                        char *ret_code, size_t size);

/* Parse a typed code: any case; I and L read as 1, O as 0; hyphens and
 * spaces ignored.  On success writes the canonical code (symbols only,
 * upper case, without the check symbol) to 'ret_canonical' and returns the
 * number of symbols.  Errors, each with the 0-based byte offset in 'text'
 * stored in '*ret_error_pos' (which may be NULL; it is only written on
 * failure):
 *   -EBADMSG   a character that is not part of the alphabet (U counts as
 *              bad except as a check symbol), or a check-only character
 *              (* ~ $ = U) elsewhere than last; the offset of that character;
 *   -EMSGSIZE  fewer than 6 or more than 10 symbols; the offset is 'len';
 *   -EILSEQ    with PPN_CRYPTO_CODE_CHECK: the check symbol does not match,
 *              a typing error (offset of the check symbol);
 *   -EINVAL    NULL arguments or unknown flags (position not written). */
PPN_EXPORT int ppn_crypto_code_parse(const char *text, size_t len, uint32_t flags,
                                     char ret_canonical[PPN_CRYPTO_CODE_CANONICAL_SIZE],
                                     size_t *ret_error_pos);

/* ------------------------------------------------------------------------
 * Node records: what each side of a pairing sends to the other.
 * ------------------------------------------------------------------------ */

typedef struct ppn_crypto_node_record {
    uint8_t identity_public[PPN_CRYPTO_KEY_BYTES]; /* Ed25519 */
    uint8_t wg_public[PPN_CRYPTO_KEY_BYTES];       /* X25519 (WireGuard) */
    /* NUL-terminated UTF-8. */
    char endpoint[PPN_CRYPTO_ENDPOINT_MAX + 1];    /* "host:port", "[v6]:port" or "" */
    char hostname[PPN_CRYPTO_HOSTNAME_MAX + 1];    /* required, RFC 1123 name */
    char address[PPN_CRYPTO_ADDRESS_MAX + 1];      /* "10.8.0.2/24", IPv6 too, or "" */
} ppn_crypto_node_record;

/* Check a record as the session does for both the local and the received
 * one: hostname 1..253 bytes of letters, digits, '-' and '.'; endpoint empty
 * or host:port with port 1..65535 (IPv6 hosts in brackets), no controls or
 * spaces; address empty or an IPv4/IPv6 address with a prefix length in
 * range; each string NUL-terminated within its array and valid UTF-8.
 * -EINVAL for NULL or a bad field. */
PPN_EXPORT int ppn_crypto_node_record_validate(const ppn_crypto_node_record *rec);

/* ------------------------------------------------------------------------
 * The pairing session.
 *
 * One object runs one ceremony between an initiator and a responder who
 * share a short code:
 *   A -> B  COMMIT   sid, H(Ya, ADa)
 *   B -> A  SHARE    Yb, ADb
 *   A -> B  REVEAL   Ya, ADa, confirmation MAC of A
 *   B -> A  CONFIRM  confirmation MAC of B
 *   A <-> B RECORD   the node record, encrypted with a per-direction key
 *   A <-> B ACCEPT   the operator accepted the SAS (encrypted), or ABORT
 * (wire format in doc/crypto.md).  The session does no I/O itself: bytes
 * received are passed to ppn_crypto_session_feed() and bytes to send are
 * taken with ppn_crypto_session_take_output(); ppn_crypto_session_run_fd()
 * does both over a connected stream socket for callers that want it.
 *
 * There is exactly one attempt: any failure (wrong code, bad MAC, malformed,
 * unexpected or late message, deadline, operator declining, peer abort) ends
 * the session for good; every later call returns the same error.  On a
 * failure the session queues an ABORT message for the peer (take it with
 * _take_output) so that the peer ends with an error too.
 *
 * The peer's node record is released only after the local operator accepted
 * the SAS (ppn_crypto_session_confirm) and the peer's ACCEPT arrived.
 *
 * Errors that end a session (also returned by ppn_crypto_session_error()):
 *   -EACCES       wrong code or a forged message: key confirmation failed,
 *                 the reveal does not match the commitment, or a record's
 *                 MAC does not verify; also reported when the peer aborts
 *                 because of a wrong code;
 *   -EBADMSG      malformed bytes: framing, CBOR, field types/sizes, an
 *                 invalid or identity CPace point, an invalid node record;
 *   -EPROTO       a well-formed message out of order, of an unknown type,
 *                 or of another protocol version; a record whose identity
 *                 key differs from the one bound into CPace;
 *   -ETIMEDOUT    the deadline passed (here or, reported by its ABORT, at
 *                 the peer);
 *   -ECANCELED    the local operator declined or the peer's operator did;
 *   -ESTALE       (session_new) the code was already used in this process;
 *   -ECONNABORTED the peer aborted for another reason;
 *   -ECONNRESET   (run_fd) the peer closed the connection early;
 *   -ENOMEM, -EIO and socket errors from run_fd.
 * ------------------------------------------------------------------------ */

typedef struct ppn_crypto_session ppn_crypto_session;

typedef enum ppn_crypto_role {
    PPN_CRYPTO_ROLE_INITIATOR = 0, /* "A": speaks first */
    PPN_CRYPTO_ROLE_RESPONDER = 1, /* "B" */
} ppn_crypto_role;

typedef enum ppn_crypto_session_state {
    PPN_CRYPTO_SESSION_HANDSHAKE = 0, /* commitment, CPace, key confirmation */
    PPN_CRYPTO_SESSION_SAS_READY = 1, /* keys confirmed both ways; SAS shown */
    PPN_CRYPTO_SESSION_DONE = 2,      /* both accepted; peer record released */
    PPN_CRYPTO_SESSION_FAILED = 3,    /* ended with an error, for good */
} ppn_crypto_session_state;

/* Monotonic clock in milliseconds, for tests that must not sleep. */
typedef uint64_t (*ppn_crypto_clock_fn)(void *userdata);

/* Create a session.  'code' is the code as typed or generated (parsed with
 * ppn_crypto_code_parse() and 'code_flags'); 'local' is this node's record
 * (copied); 'timeout_ms' is the deadline from now (0: 600 s).  The same code
 * cannot be used again for the same role in this process (-ESTALE).
 * -EINVAL for NULL, an unknown role or an invalid 'local' record; the code
 * errors of ppn_crypto_code_parse(); -ENOMEM.  The initiator's COMMIT is
 * queued at once. */
PPN_EXPORT int ppn_crypto_session_new(ppn_crypto_session **ret,
                                      ppn_crypto_role role,
                                      const char *code, uint32_t code_flags,
                                      const ppn_crypto_node_record *local,
                                      uint64_t timeout_ms);

/* Wipes all secrets and frees.  NULL is fine. */
PPN_EXPORT void ppn_crypto_session_free(ppn_crypto_session *s);

/* Replace the clock (default CLOCK_MONOTONIC); the deadline is restarted
 * from the new clock's now.  Only before any byte was fed or taken
 * (-EBUSY otherwise); -EINVAL for NULL. */
PPN_EXPORT int ppn_crypto_session_set_clock(ppn_crypto_session *s,
                                            ppn_crypto_clock_fn clock, void *userdata);

/* Feed bytes received from the peer, in any chunking.  Returns 0 or the
 * error that ended the session (see above).  A handshake message that arrives
 * when the session expects none (after the peer's ACCEPT, or once DONE) ends
 * it: -EPROTO, or for an ABORT the peer's reason; a DONE session that fails
 * this way no longer releases the record (the peer did not complete).  Once
 * DONE, channel records (below) are accepted, also in the same buffer as the
 * last handshake message; a channel record before DONE is -EBADMSG. */
PPN_EXPORT int ppn_crypto_session_feed(ppn_crypto_session *s,
                                       const void *data, size_t len);

/* Copy up to 'size' pending output bytes to 'buf' and drop them from the
 * queue; returns the number of bytes copied (0 if nothing is pending).
 * Works after a failure too (the ABORT message).  -EINVAL for NULL. */
PPN_EXPORT ssize_t ppn_crypto_session_take_output(ppn_crypto_session *s,
                                                  void *buf, size_t size);

/* Number of output bytes pending. */
PPN_EXPORT size_t ppn_crypto_session_output_pending(const ppn_crypto_session *s);

/* Check the deadline now (also done by every other call): returns 0, or
 * -ETIMEDOUT and ends the session when it passed. */
PPN_EXPORT int ppn_crypto_session_check_deadline(ppn_crypto_session *s);

/* Milliseconds until the deadline (0 when passed). */
PPN_EXPORT uint64_t ppn_crypto_session_remaining_ms(ppn_crypto_session *s);

/* The current state. */
PPN_EXPORT ppn_crypto_session_state ppn_crypto_session_get_state(const ppn_crypto_session *s);

/* 0 while the session is alive or done, else the error that ended it. */
PPN_EXPORT int ppn_crypto_session_error(const ppn_crypto_session *s);

/* The SAS as "1234 5678" (same on both sides).  -EAGAIN before
 * SAS_READY; the session's error if it failed; -EINVAL for NULL. */
PPN_EXPORT int ppn_crypto_session_sas(const ppn_crypto_session *s,
                                      char ret_sas[PPN_CRYPTO_SAS_STRING_SIZE]);

/* The local operator's decision on the SAS.  accept: queues ACCEPT (the
 * session becomes DONE once the peer's ACCEPT and record are in); decline:
 * queues ABORT and ends the session with -ECANCELED (which is returned).
 * -EAGAIN before SAS_READY, -EALREADY if already decided, -ETIMEDOUT past
 * the deadline, the session's error if it failed. */
PPN_EXPORT int ppn_crypto_session_confirm(ppn_crypto_session *s, bool accept);

/* Copy the peer's record.  Only in state DONE: -EAGAIN before; the
 * session's error if it failed; -EINVAL for NULL. */
PPN_EXPORT int ppn_crypto_session_peer_record(const ppn_crypto_session *s,
                                              ppn_crypto_node_record *ret_record);

/* Drive the session over a connected, blocking or non-blocking stream
 * socket 'fd' (poll(2) with the session deadline) until its state is at
 * least 'until' (SAS_READY or DONE); pending output is flushed before
 * returning, also after a failure.  Returns 0 when reached, else the
 * session's error; -ECONNRESET if the peer closes first; -EINVAL for a
 * negative fd or 'until' not SAS_READY/DONE.  The fd is not closed. */
PPN_EXPORT int ppn_crypto_session_run_fd(ppn_crypto_session *s, int fd,
                                         ppn_crypto_session_state until);


/* ---- The application-data channel (after DONE) -----------------------------
 * Once DONE, both sides may exchange records encrypted and authenticated with
 * keys derived from the session's ISK (one per direction, label "ppn-pair v1
 * channel") and a counter nonce (wire format in doc/crypto.md).  Bytes fed
 * after the last handshake message are kept as channel input, never an
 * error.  A forged, replayed, reordered or truncated-and-resumed record ends
 * the session (-EACCES); a malformed frame -EBADMSG; a record longer than
 * PPN_CRYPTO_SESSION_RECORD_MAX or a total past the receive limit -EMSGSIZE
 * (checked from the length, before the body is read).  An ABORT after DONE
 * still ends the session (it is not authenticated: see
 * ppn_crypto_session_peer_aborted). */
#define PPN_CRYPTO_SESSION_RECORD_MAX (16u << 20)       /* plaintext bytes of one record */
#define PPN_CRYPTO_SESSION_RECV_DEFAULT_MAX (64u << 20) /* plaintext bytes in all, by default */

/* Queue one record of 'len' bytes (0..PPN_CRYPTO_SESSION_RECORD_MAX) for the
 * peer (take it with _take_output or _flush_fd).  -EAGAIN before DONE,
 * -EMSGSIZE too long, -EINVAL NULL, -ENOMEM, the session's error if it
 * failed. */
PPN_EXPORT int ppn_crypto_session_send(ppn_crypto_session *s, const void *data, size_t len);

/* The next record received, in order: 0 with *ret_data (malloc'd, free()) and
 * *ret_len; -EAGAIN if none has arrived whole; the session's error if it
 * failed (records not taken are then wiped); -EINVAL NULL. */
PPN_EXPORT int ppn_crypto_session_recv(ppn_crypto_session *s, uint8_t **ret_data, size_t *ret_len);

/* The bound on the plaintext bytes received in all (default
 * PPN_CRYPTO_SESSION_RECV_DEFAULT_MAX).  -EINVAL NULL or 0. */
PPN_EXPORT int ppn_crypto_session_set_recv_limit(ppn_crypto_session *s, uint64_t max_bytes);

/* True when the session was ended by the peer's ABORT: its reason (the error
 * the session reports) is the peer's word, not authenticated. */
PPN_EXPORT bool ppn_crypto_session_peer_aborted(const ppn_crypto_session *s);

/* What a session error means for the ceremony, in one sentence for the operator (static
 * storage): -EACCES the code was wrong or a message forged (the attempt is used up),
 * -ECANCELED an operator declined the SAS, -ETIMEDOUT the window expired, -EBADMSG a
 * malformed message, -EPROTO the protocol broken, -ECONNRESET the peer closed, -EMSGSIZE a
 * record over its bound.  NULL for any other value (the caller says strerror). */
PPN_EXPORT const char *ppn_crypto_session_error_text(int err);

/* Write all pending output to 'fd' within 'timeout_ms' (session clock).
 * -ETIMEDOUT, -ECONNRESET (peer closed), socket errors, -EINVAL. */
PPN_EXPORT int ppn_crypto_session_flush_fd(ppn_crypto_session *s, int fd, uint64_t timeout_ms);

/* Flush pending output, then read from 'fd' until one record is whole, all
 * within 'timeout_ms': as _recv.  -ETIMEDOUT, -ECONNRESET (peer closed
 * first), -EAGAIN not DONE, the session's error if a record ends it. */
PPN_EXPORT int ppn_crypto_session_recv_fd(ppn_crypto_session *s, int fd, uint64_t timeout_ms,
                                          uint8_t **ret_data, size_t *ret_len);


/* Is data[0..len) the start of a well-formed first message of a ceremony (the initiator's
 * COMMIT frame), without any session?  For a listener that must not spend its one attempt on
 * a connection that does not speak the protocol: only bytes that pass this are fed to the
 * responder's session.  0 with *ret_len = the frame's length, -EAGAIN when more bytes are
 * needed (what is there is a valid prefix), -EBADMSG malformed, -EPROTO another message type or
 * version, -EINVAL NULL. */
PPN_EXPORT int ppn_crypto_session_probe(const void *data, size_t len, size_t *ret_len);

#ifdef __cplusplus
}
#endif

#endif
