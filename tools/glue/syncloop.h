/* The rounds of a ledger sync (doc/sync.md) over any transport: ask, apply, ask again while the
 * answering member has more.  The transport (ppn-pair's TCP framing, or anything else) is the
 * caller's 'fetch'; these hold the rules of when to ask again. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ppn/ledger.h"

/* Sends request 'req' and gives the answer back (*ret_ans malloc'd, at most 'max' bytes)
 * before 'deadline' (CLOCK_MONOTONIC ms): 0, or a negative errno with 'err' saying what. */
typedef int (*glue_sync_fetch_fn)(void *userdata, const uint8_t *req, size_t req_len, uint64_t deadline,
                                  size_t max, uint8_t **ret_ans, size_t *ret_len, char *err, size_t errsize);

/* Into the writer handle 'l', round after round until up to date (an answer that appends
 * nothing, or our size reaches theirs), all before 'deadline'.  0 with *ret_appended entries
 * and *ret_rounds rounds; a negative errno with 'err' saying what (the transport, err[0] set)
 * or *ret_rep (the answer refused, err[0] 0). */
int glue_sync_rounds(ppn_ledger *l, glue_sync_fetch_fn fetch, void *userdata, uint64_t deadline, size_t max,
                     uint64_t *ret_appended, uint64_t *ret_rounds, struct ppn_ledger_sync_report *ret_rep,
                     char *err, size_t errsize);

/* As glue_sync_rounds for the ledger in 'dir', holding the writer lock only while an answer is
 * applied (never while the transport is waited on; a writer held by another process is waited
 * for until the deadline), so that a slow member delays no local append; an answer to a size
 * we no longer have (appended meanwhile) is asked again.  At most 64 rounds.  After entries
 * were applied, nodes.jsonl is rewritten. */
int glue_sync_pull(const char *dir, glue_sync_fetch_fn fetch, void *userdata, uint64_t deadline, size_t max,
                   uint64_t *ret_appended, struct ppn_ledger_sync_report *ret_rep, char *err, size_t errsize);
