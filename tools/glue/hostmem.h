/* The host's memory as the agent sees it (internal glue, not installed):
 * /proc/meminfo, bounded by the memory cgroup the process runs in.
 *
 * An agent run in a unit with MemoryMax= (cgroup v2 memory.max), or in a
 * cgroup v1 memory controller with memory.limit_in_bytes, has less to give
 * than the machine's MemAvailable: what it (and the guests it starts, which
 * inherit its cgroup) may still use is the limit minus the working set
 * (usage minus inactive file pages, which the kernel reclaims first — the
 * kubelet's "memory.available").  The tightest of the process's own cgroup
 * and each ancestor up to the hierarchy's root decides; v2 memory.high
 * counts as a limit too (above it the kernel throttles).  Both hierarchies
 * are read on a hybrid host (v2 for some controllers, v1 memory). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define GLUE_HOSTMEM_PATH_MAX 512

struct glue_hostmem {
    uint64_t total_bytes;          /* MemTotal, or the deciding cgroup's limit when lower */
    uint64_t available_bytes;      /* MemAvailable, or what the cgroup leaves when lower */
    uint64_t host_total_bytes;     /* MemTotal */
    uint64_t host_available_bytes; /* MemAvailable */
    uint64_t limit_bytes;          /* the deciding cgroup's limit (0: none limits) */
    int cgroup_version;            /* 1 or 2 for the deciding cgroup, 0: none */
    char cgroup[GLUE_HOSTMEM_PATH_MAX]; /* its directory ("" none) */
};

/* Reads MemTotal and MemAvailable from ROOT/proc/meminfo and the memory
 * cgroup of the calling process (ROOT/proc/self/cgroup, its mount in
 * ROOT/proc/self/mountinfo, then the cgroup files under ROOT + mount
 * point).  ROOT is "" (or NULL) for the running system; a test points it at
 * a tree of real files.  A cgroup that cannot be read (no memory
 * controller, a path outside the mount, missing files) limits nothing.
 * 0; -ENOENT/-EACCES/... meminfo unreadable; -EBADMSG meminfo without
 * MemTotal or MemAvailable; -ENAMETOOLONG ROOT too long; -EINVAL NULL ret. */
int glue_hostmem_read(const char *root, struct glue_hostmem *ret);

/* The pieces, for tests: a "Field:   N kB" value of meminfo text in bytes
 * (-ENOENT absent, -EBADMSG malformed) and a cgroup value file ("max" is
 * UINT64_MAX; -EBADMSG otherwise not a number). */
int glue_hostmem_meminfo_field(const char *text, const char *field, uint64_t *ret);
int glue_hostmem_parse_value(const char *text, uint64_t *ret);
