/* The managed block of a hosts file (ppn-pair serve --hosts): this mesh's current members by
 * name, between "# BEGIN ppn <origin> ..." and "# END ppn <origin>" lines; the rest of the
 * file is the administrator's and is kept as it is. */
#pragma once

#include <stddef.h>

#include "ppn/ledger.h"

/* The file 'old' (old_len bytes, NULL or 0: none) with its block for 'origin' (every one, if
 * there are several) removed and a new one appended: a line per member, its mesh address
 * without the prefix length, a tab, its host name.  0 with *ret (malloc'd, NUL-terminated) and
 * *ret_len; -EINVAL NULL origin, ret or ret_len, or members NULL with count > 0; -ENOMEM. */
int glue_hosts_merge(const char *old, size_t old_len, const char *origin, const struct ppn_ledger_member *members,
                     size_t count, char **ret, size_t *ret_len);

/* The block of ledger 'l' (its origin, its current members) merged (glue_hosts_merge) into
 * the file at 'path' (a missing file: empty), replaced atomically (a temporary file beside it,
 * fsync, rename; mode 0644).  0 or a negative errno (-EINVAL NULL path or l; -ENOMEM;
 * reading, writing, renaming: an unreadable file is an error, never taken for an empty one). */
int glue_hosts_write(const char *path, const ppn_ledger *l);
