/* Available memory as the agent reads it (tools/glue/hostmem.c): trees of
 * real files laid out as /proc and /sys/fs/cgroup are (v2, v1, hybrid,
 * ancestors, bind-mounted sub-hierarchies, escaped mount points, malformed
 * values), then the running system, and — as root — a real child memory
 * cgroup with a limit that a forked process joins and reads back. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup-setup.h"
#include "hostmem.h"
#include "tree-setup.h"

#define MIB (1024ULL * 1024)

static void fresh(uint64_t total_mib, uint64_t avail_mib)
{
    tree_make("hostmem");
    put("proc/meminfo", "MemTotal:       %llu kB\nMemFree:         1000 kB\nMemAvailable:   %llu kB\n",
        (unsigned long long)total_mib * 1024, (unsigned long long)avail_mib * 1024);
}

#define V2_MOUNT "41 31 0:38 / /sys/fs/cgroup rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
#define V1_MOUNT "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"

static struct glue_hostmem rd(void)
{
    struct glue_hostmem m;
    int r = glue_hostmem_read(tree, &m);
    ck_assert_msg(r == 0, "read: %s", strerror(-r));
    return m;
}

START_TEST(test_no_cgroup)
{
    fresh(24000, 20000);
    struct glue_hostmem m = rd(); /* no mountinfo, no cgroup file */
    ck_assert_uint_eq(m.total_bytes, 24000 * MIB);
    ck_assert_uint_eq(m.available_bytes, 20000 * MIB);
    ck_assert_int_eq(m.cgroup_version, 0);
    ck_assert_str_eq(m.cgroup, "");
    /* a v2 cgroup without a limit ("max") limits nothing */
    put("proc/self/mountinfo", V2_MOUNT);
    put("proc/self/cgroup", "0::/system.slice/ppn-vm-agent.service\n");
    put("sys/fs/cgroup/system.slice/ppn-vm-agent.service/memory.max", "max\n");
    put("sys/fs/cgroup/system.slice/ppn-vm-agent.service/memory.current", "%llu\n", 600 * MIB);
    m = rd();
    ck_assert_uint_eq(m.available_bytes, 20000 * MIB);
    ck_assert_int_eq(m.cgroup_version, 0);
    done();
}
END_TEST

START_TEST(test_v2_limit)
{
    fresh(24000, 20000);
    put("proc/self/mountinfo", "23 1 0:21 / /proc rw - proc proc rw\n" V2_MOUNT);
    put("proc/self/cgroup", "0::/system.slice/ppn-vm-agent.service\n");
    const char *d = "sys/fs/cgroup/system.slice/ppn-vm-agent.service";
    char p[256];
    snprintf(p, sizeof(p), "%s/memory.max", d);
    put(p, "%llu\n", 1024 * MIB);
    snprintf(p, sizeof(p), "%s/memory.current", d);
    put(p, "%llu\n", 600 * MIB);
    snprintf(p, sizeof(p), "%s/memory.stat", d);
    put(p, "anon 400000000\nfile 200000000\nactive_file 1\ninactive_file %llu\nslab 5\n", 100 * MIB);
    struct glue_hostmem m = rd();
    ck_assert_uint_eq(m.total_bytes, 1024 * MIB);
    ck_assert_uint_eq(m.available_bytes, (1024 - 500) * MIB); /* limit - (current - inactive_file) */
    ck_assert_uint_eq(m.host_available_bytes, 20000 * MIB);
    ck_assert_uint_eq(m.host_total_bytes, 24000 * MIB);
    ck_assert_uint_eq(m.limit_bytes, 1024 * MIB);
    ck_assert_int_eq(m.cgroup_version, 2);
    char want[256];
    snprintf(want, sizeof(want), "%s/%s", tree, d);
    ck_assert_str_eq(m.cgroup, want);
    /* memory.high below memory.max is the limit */
    snprintf(p, sizeof(p), "%s/memory.high", d);
    put(p, "%llu\n", 800 * MIB);
    m = rd();
    ck_assert_uint_eq(m.available_bytes, 300 * MIB);
    ck_assert_uint_eq(m.total_bytes, 800 * MIB);
    /* an ancestor with less left decides */
    put("sys/fs/cgroup/system.slice/memory.max", "%llu\n", 2048 * MIB);
    put("sys/fs/cgroup/system.slice/memory.current", "%llu\n", 1900 * MIB);
    m = rd();
    ck_assert_uint_eq(m.available_bytes, 148 * MIB);
    ck_assert_uint_eq(m.total_bytes, 800 * MIB); /* the tightest limit */
    ck_assert_uint_eq(m.limit_bytes, 2048 * MIB);
    snprintf(want, sizeof(want), "%s/sys/fs/cgroup/system.slice", tree);
    ck_assert_str_eq(m.cgroup, want);
    /* usage above the limit leaves nothing (no wrap) */
    put("sys/fs/cgroup/system.slice/memory.current", "%llu\n", 4096 * MIB);
    ck_assert_uint_eq(rd().available_bytes, 0);
    /* the host has less than any cgroup: the host decides */
    put("sys/fs/cgroup/system.slice/memory.current", "%llu\n", 0ULL);
    put("proc/meminfo", "MemTotal: 24000 kB\nMemAvailable: 100 kB\n");
    m = rd();
    ck_assert_uint_eq(m.available_bytes, 100 * 1024);
    ck_assert_int_eq(m.cgroup_version, 0);
    done();
}
END_TEST

START_TEST(test_v1_hybrid)
{
    /* this build host: v1 memory controller, v2 mounted for others only */
    fresh(24000, 23000);
    put("proc/self/mountinfo",
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n" V1_MOUNT
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
    put("proc/self/cgroup", "8:pids:/\n4:memory:/process_api/abc/ppn\n1:cpu:/\n0::/\n");
    put("sys/fs/cgroup/unified/cgroup.procs", "1\n"); /* no memory files in v2 */
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/memory.usage_in_bytes", "%llu\n", 3000 * MIB);
    put("sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes", "9223372036854771712\n");
    put("sys/fs/cgroup/memory/process_api/abc/memory.usage_in_bytes", "%llu\n", 900 * MIB);
    put("sys/fs/cgroup/memory/process_api/abc/ppn/memory.limit_in_bytes", "%llu\n", 1200 * MIB);
    put("sys/fs/cgroup/memory/process_api/abc/ppn/memory.usage_in_bytes", "%llu\n", 700 * MIB);
    put("sys/fs/cgroup/memory/process_api/abc/ppn/memory.stat",
        "cache 1\ninactive_file 5\ntotal_cache 2\ntotal_inactive_file %llu\n", 50 * MIB);
    struct glue_hostmem m = rd();
    ck_assert_int_eq(m.cgroup_version, 1);
    ck_assert_uint_eq(m.total_bytes, 1200 * MIB);
    ck_assert_uint_eq(m.available_bytes, (1200 - 650) * MIB);
    done();
}
END_TEST

START_TEST(test_mounts)
{
    fresh(24000, 23000);
    /* a container sees a sub-hierarchy bind-mounted: root /lxc/c1 at /sys/fs/cgroup */
    put("proc/self/mountinfo", "50 40 0:38 /lxc/c1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    put("proc/self/cgroup", "0::/lxc/c1/agent\n");
    put("sys/fs/cgroup/agent/memory.max", "%llu\n", 512 * MIB);
    put("sys/fs/cgroup/agent/memory.current", "%llu\n", 12 * MIB);
    struct glue_hostmem m = rd();
    ck_assert_uint_eq(m.available_bytes, 500 * MIB);
    /* our cgroup outside the mounted part: nothing can be read, nothing limits */
    put("proc/self/cgroup", "0::/other/agent\n");
    ck_assert_int_eq(rd().cgroup_version, 0);
    put("proc/self/cgroup", "0::/lxc/c10/agent\n"); /* a prefix of a name is not an ancestor */
    ck_assert_int_eq(rd().cgroup_version, 0);
    /* a mount point with a space, escaped \040 */
    put("proc/self/mountinfo", "50 40 0:38 / /sys/fs/cg\\040two rw - cgroup2 cgroup2 rw\n");
    put("proc/self/cgroup", "0::/a\n");
    put("sys/fs/cg two/a/memory.max", "%llu\n", 256 * MIB);
    put("sys/fs/cg two/a/memory.current", "%llu\n", 6 * MIB);
    ck_assert_uint_eq(rd().available_bytes, 250 * MIB);
    /* malformed values limit nothing: a limit that does not parse is no limit */
    put("sys/fs/cg two/a/memory.max", "12abc\n");
    ck_assert_int_eq(rd().cgroup_version, 0);
    put("sys/fs/cg two/a/memory.max", "99999999999999999999999\n"); /* overflow */
    ck_assert_int_eq(rd().cgroup_version, 0);
    /* garbage mountinfo and cgroup lines are skipped */
    put("proc/self/mountinfo", "x\n\n1 2 3 4 5 6 7 8 9 10\n- - -\n");
    put("proc/self/cgroup", "::\n0:\n:::\n");
    ck_assert_int_eq(rd().cgroup_version, 0);
    done();
}
END_TEST

START_TEST(test_meminfo_errors)
{
    fresh(1, 1);
    put("proc/meminfo", "MemTotal: 1000 kB\n");
    struct glue_hostmem m;
    ck_assert_int_eq(glue_hostmem_read(tree, &m), -EBADMSG);
    put("proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: x kB\n");
    ck_assert_int_eq(glue_hostmem_read(tree, &m), -EBADMSG);
    put("proc/meminfo", "MemTotal: 1000 kB\nMemAvailable: 2000 kB\n"); /* clamped to the total */
    ck_assert_int_eq(glue_hostmem_read(tree, &m), 0);
    ck_assert_uint_eq(m.available_bytes, 1000 * 1024);
    uint64_t v;
    ck_assert_int_eq(glue_hostmem_meminfo_field("MemTotalX: 5 kB\nMemTotal: 7 kB\n", "MemTotal", &v), 0);
    ck_assert_uint_eq(v, 7 * 1024);
    ck_assert_int_eq(glue_hostmem_meminfo_field("MemTotal: 7 MB\n", "MemTotal", &v), -EBADMSG);
    ck_assert_int_eq(glue_hostmem_meminfo_field("", "MemTotal", &v), -ENOENT);
    ck_assert_int_eq(glue_hostmem_meminfo_field("MemTotal: 18446744073709551615 kB\n", "MemTotal", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX); /* saturates, never wraps */
    ck_assert_int_eq(glue_hostmem_parse_value("max\n", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(glue_hostmem_parse_value("-1\n", &v), -EBADMSG);
    ck_assert_int_eq(glue_hostmem_parse_value("", &v), -EBADMSG);
    ck_assert_int_eq(glue_hostmem_parse_value("5 \n", &v), -EBADMSG);
    char longroot[400];
    memset(longroot, 'a', sizeof(longroot) - 1);
    longroot[sizeof(longroot) - 1] = '\0';
    ck_assert_int_eq(glue_hostmem_read(longroot, &m), -ENAMETOOLONG);
    ck_assert_int_eq(glue_hostmem_read(tree, NULL), -EINVAL);
    ck_assert_int_eq(glue_hostmem_read("/nonexistent-root", &m), -ENOENT);
    done();
}
END_TEST

/* The running system: whatever cgroup we are in, the result is bounded by
 * /proc/meminfo. */
START_TEST(test_running_system)
{
    struct glue_hostmem m;
    ck_assert_int_eq(glue_hostmem_read(NULL, &m), 0);
    ck_assert_uint_gt(m.host_total_bytes, 0);
    ck_assert_uint_le(m.available_bytes, m.host_available_bytes);
    ck_assert_uint_le(m.total_bytes, m.host_total_bytes);
}
END_TEST

/* In the child cgroup: the memory before and after 40 MiB touched. */
static int touch_40(void *outp, size_t size)
{
    uint64_t *out = outp;
    (void)size;
    struct glue_hostmem a, b;
    if (glue_hostmem_read(NULL, &a) < 0)
        return 3;
    volatile char *mem = malloc(40 * MIB); /* volatile: the writes are not elided */
    if (!mem)
        return 4;
    for (size_t i = 0; i < 40 * MIB; i += 4096)
        mem[i] = 1;
    int r = glue_hostmem_read(NULL, &b) < 0 ? 3 : 0;
    out[0] = a.total_bytes, out[1] = a.available_bytes, out[2] = b.available_bytes;
    out[3] = (uint64_t)a.cgroup_version;
    free((void *)mem);
    return r;
}

START_TEST(test_real_cgroup)
{
    ck_assert_msg(geteuid() == 0, "needs root (a child memory cgroup is made)");
    char child[700];
    int version = 0;
    const char *step = cgroup_setup_child("ppn-hostmem", 300 * MIB, child, sizeof(child), &version);
    ck_assert_msg(!step, "%s: %s", step, strerror(errno));
    uint64_t out[4] = {0};
    int st = cgroup_setup_run(child, touch_40, out, sizeof(out));
    rmdir(child);
    ck_assert_msg(st == 0, "child status %d", st);
    ck_assert_uint_eq(out[0], 300 * MIB);           /* the cgroup's limit is the total */
    ck_assert_int_eq((int)out[3], version);
    ck_assert_uint_le(out[1], 300 * MIB);
    ck_assert_uint_gt(out[1], 200 * MIB);           /* a small process used little of it */
    ck_assert_uint_le(out[2] + 38 * MIB, out[1]);   /* the 40 MiB touched are gone from it */
    ck_assert_uint_ge(out[2] + 60 * MIB, out[1]);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("tool-hostmem");
    TCase *tc = tcase_create("hostmem");
    tcase_add_test(tc, test_no_cgroup);
    tcase_add_test(tc, test_v2_limit);
    tcase_add_test(tc, test_v1_hybrid);
    tcase_add_test(tc, test_mounts);
    tcase_add_test(tc, test_meminfo_errors);
    tcase_add_test(tc, test_running_system);
    tcase_add_test(tc, test_real_cgroup);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
