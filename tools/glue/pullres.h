/* The result of one pull as a pull worker of 'ppn-pair serve' reports it to the service over
 * a pipe: one line "<ticket>\t<result>\t<text>\n" per member pulled from, the ticket of
 * ppn_ledger_replica_next, the result for ppn_ledger_replica_done (<0 a negative errno, 0
 * nothing new, 1 entries applied) and, for a failure, the sentence to log. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The longest line, its newline included. */
#define GLUE_PULL_LINE_MAX 700

/* The line into buf (NUL-terminated); 'text' (NULL: none) shortened to fit, its tabs and line
 * breaks made spaces, so that a line is always one record.  Returns its length. */
size_t glue_pull_line(char buf[GLUE_PULL_LINE_MAX], uint64_t ticket, int result, const char *text);
/* One line (without its newline; written into: the text is terminated in place).  0 with
 * *ret_ticket, *ret_result and *ret_text (inside 'line', "" when none); -EBADMSG a line not of
 * that form (then nothing is set). */
int glue_pull_parse(char *line, uint64_t *ret_ticket, int *ret_result, const char **ret_text);
