/* The pairing hand-off across libppn-crypto and libppn-ledger (doc/ppn-pair.md "The
 * hand-off"): the messages inside the session's encrypted channel, the new node's pending
 * state (STATE/pending/{info,ledger/}, STATE/not-admitted) and the administrator's record of
 * hand-offs not confirmed yet (STATE/handoff/<id>).
 *
 *   administrator                                   new node
 *   prepares the node-join entry (not appended)
 *   'R' deadline, entry, replica bundle  ------->   verifies the bundle and the entry on top of
 *                                                   it; stores STATE/pending/ (fsync): PENDING
 *                                      <-------  'K' + its sync request (or 'E' errno why)
 *   records STATE/handoff/<id>, appends exactly
 *   the prepared bytes, seals
 *   'F' + the sync answer (the final part) ----->   applies it: a checkpoint covering its entry;
 *                                                   STATE/pending/ledger becomes STATE/ledger
 *                                      <-------  'D'
 *
 * A node left PENDING completes through the network sync from the administrator (the same
 * answer: glue_pending_judge), or rolls back when a sync shows the administrator's signed
 * ledger holds another entry at its index, or past its bound.
 *
 * Nothing here prints: every failure is a negative errno with one sentence in 'why' (what
 * the tool prints after "ppn-pair: "), progress lines go to a hook.  Clocks: the channel's
 * deadlines are CLOCK_MONOTONIC milliseconds (ppnc_now_mono_ms); the pending state's bound
 * is wall-clock milliseconds, passed in by the caller where it is judged. */
#pragma once

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "ppn/crypto.h"
#include "ppn/ledger.h"

/* A node as the hand-off sees it (nothing is owned or copied). */
struct glue_node {
    const char *dir;        /* the state directory */
    const char *ledger_dir; /* its ledger (DIR/ledger) */
    const uint8_t *id_pk;   /* Ed25519 identity, 32 bytes */
    const uint8_t *id_sk;   /* 64 bytes; NULL or all zero (wiped): no cosignature, no seal */
    const uint8_t *wg_pk;   /* WireGuard public key, 32 bytes */
};

/* The new node's pending state (STATE/pending/info). */
struct glue_pending {
    char admin_b64[64], admin_hostname[256], admin_mesh[64], origin[256];
    uint64_t index, rollback_at_ms; /* the join entry's index; the bound, wall-clock ms */
    unsigned window_s;
    char ledger_dir[PATH_MAX]; /* STATE/pending/ledger */
};

/* Room for any sentence the functions below write into 'why'. */
#define GLUE_HANDOFF_WHY_MAX 1024

/* What the caller sees of a running hand-off (each may be NULL). */
struct glue_handoff_hooks {
    /* A progress line for the operator, e.g. "sent\treplica of 3 entries ..." (no newline). */
    void (*progress)(void *userdata, const char *line);
    /* Called at "before-ack" (node), "before-append", "before-seal", "before-final" (admin).
     * 0 goes on; a negative errno stops the hand-off right there, as a process killed at that
     * point would (nothing more sent or written; the function returns it, 'why' names the
     * step).  ppn-pair's PPN_PAIR_TEST_STOP uses it to freeze itself, the C tests to cut. */
    int (*step)(void *userdata, const char *step);
    /* A warning that changes no outcome (the node's cosignature failed), a sentence. */
    void (*warn)(void *userdata, const char *text);
    void *userdata;
};

/* ppn_ledger_open for writing, waiting up to 2 s while another writer (ppn-pair serve applying
 * an answer, for milliseconds) holds the lock. */
int glue_ledger_open_write_wait(const char *dir, ppn_ledger **ret);

/* Milliseconds from now (CLOCK_MONOTONIC) to 'deadline', 0 when passed. */
uint64_t glue_handoff_left_ms(uint64_t deadline);

/* Before an administrator's ceremony on its open writable ledger 'l': checks that 'n' is a
 * member allowed to admit (PPN_LEDGER_CAP_NODE_ADMIT), seals the entries past its last
 * checkpoint (left by a hand-off stopped between its append and its seal: a node left
 * pending by it completes through the sync, which serves only what a checkpoint covers), and
 * fills *ret_local, its pairing record, from its ledger record.  0; -EPERM not an
 * administrator; -ENAMETOOLONG its ledger record does not fit a pairing record; the errors of
 * sealing.  'why' says. */
int glue_handoff_admin_ready(const struct glue_node *n, ppn_ledger *l, ppn_crypto_node_record *ret_local,
                             char why[GLUE_HANDOFF_WHY_MAX]);

/* The administrator's side, after the ceremony (session DONE, 'peer' its record), on the open
 * writable ledger 'l' of 'n' (whose id_sk must be there).  0: the node is a member and
 * confirmed it; -EEXIST already a member (refusal sent, nothing recorded); -ENOTCONN the entry
 * is appended and sealed but the node did not confirm the final part (handoff/<id> stays: it
 * completes through sync); other negative errnos: nothing recorded (or, for a failed seal or
 * record after the append, as 'why' says).  'why' always says what happened on failure. */
int glue_handoff_admin(ppn_crypto_session *s, int fd, const struct glue_node *n, ppn_ledger *l,
                       const ppn_crypto_node_record *peer, uint64_t deadline, const struct glue_handoff_hooks *h,
                       char why[GLUE_HANDOFF_WHY_MAX]);

/* Before a new node's ceremony, at wall-clock 'now_ms': a pending state past its bound rolls
 * back (glue_pending_expire); then 0 when the node may pair; -EEXIST it holds a ledger (a
 * member); -EBUSY it is pending.  'why' says. */
int glue_handoff_node_ready(const struct glue_node *n, uint64_t now_ms, char why[GLUE_HANDOFF_WHY_MAX]);

/* The new node's side ('admin' the ceremony's peer; 'window_s' this node's window, the
 * margin of its roll-back bound).  0: a member (STATE/ledger); 1: left pending (*ret_p, 'why'
 * says why it did not complete: it completes through sync or rolls back); a negative errno:
 * nothing stored, or rolled back (as 'why' says). */
int glue_handoff_node(ppn_crypto_session *s, int fd, const struct glue_node *n, const ppn_crypto_node_record *admin,
                      uint64_t deadline, unsigned window_s, const struct glue_handoff_hooks *h,
                      struct glue_pending *ret_p, char why[GLUE_HANDOFF_WHY_MAX]);

/* ---- the pending state ---- */

/* 0 with *p; -ENOENT none; -EBADMSG STATE/pending/info unreadable. */
int glue_pending_load(const struct glue_node *n, struct glue_pending *p);
/* Ends a pending state for good; 'why' is kept in STATE/not-admitted.  0 or a negative errno
 * (removing the pending replica). */
int glue_pending_rollback(const struct glue_node *n, const char *why);
/* After a sync of the pending ledger 'l' (its result r, report rep), at wall-clock 'now_ms':
 * 1 completed (the replica is STATE/ledger, cosigned with id_sk when there; 'why' is empty,
 * or a warning that the cosignature failed), 0 still pending,
 * <0 rolled back (-EPROTO another entry at its index, -ENOENT past the bound and the
 * administrator's signed ledger ends before it).  'l' is freed in every case; 'why' says. */
int glue_pending_judge(const struct glue_node *n, const struct glue_pending *p, ppn_ledger *l, int r,
                       const struct ppn_ledger_sync_report *rep, uint64_t now_ms, char *why, size_t why_size);
/* Applies a sync answer (the final part) to the pending ledger, then as glue_pending_judge. */
int glue_pending_apply_answer(const struct glue_node *n, const struct glue_pending *p, const uint8_t *ans,
                              size_t len, uint64_t now_ms, char *why, size_t why_size);
/* At wall-clock 'now_ms': a pending state past its bound rolls back (1); 0 otherwise.  A pending
 * directory without its info older than an hour (a crash before the acknowledgement) is
 * removed. */
int glue_pending_expire(const struct glue_node *n, uint64_t now_ms);
/* The pairing state for 'status': 'state' one of member, pending, not-admitted, none; 'text'
 * the line it prints. */
void glue_pairing_state(const struct glue_node *n, char *state, size_t ssize, char *text, size_t tsize);

/* ---- the administrator's records ---- */

/* Calls fn with the line of each hand-off not confirmed (STATE/handoff/<id>). */
void glue_handoff_list(const struct glue_node *n, void (*fn)(void *ud, const char *line), void *ud);
/* Each recorded hand-off whose node's cosignature of a checkpoint of this ledger's own history
 * covering its entry is in 'l' completed: its record is removed and fn called with a line
 * saying so. */
void glue_handoff_settle(const struct glue_node *n, ppn_ledger *l, void (*fn)(void *ud, const char *line), void *ud);

/* ---- channel messages (exposed for tests and the fuzz harness) ---- */

/* The administrator's 'R': the parts of m[0..len), pointing into it.  0, or -EBADMSG when it
 * is not an 'R' of a deadline, an entry of 1..PPN_LEDGER_ENTRY_MAX bytes and a bundle. */
struct glue_handoff_replica {
    uint64_t admin_left_ms; /* how long the administrator may still append */
    const uint8_t *entry, *bundle;
    size_t entry_len, bundle_len;
};
int glue_handoff_parse_replica(const uint8_t *m, size_t len, struct glue_handoff_replica *ret);
/* An 'E' refusal: its errno (negative; -EPROTO when absent) and its sentence, printable ASCII
 * ('?' for any other byte), cut to size - 1 (size >= 1). */
void glue_handoff_parse_refusal(const uint8_t *m, size_t len, char *buf, size_t size, int *ret_err);

/* Sends one channel record: 'type' then a[0..alen) then b[0..blen), flushed by 'deadline'. */
int glue_handoff_send(ppn_crypto_session *s, int fd, uint8_t type, const void *a, size_t alen, const void *b,
                      size_t blen, uint64_t deadline);
/* What a negative errno of the channel means, for 'why'. */
const char *glue_handoff_io_reason(int r);
