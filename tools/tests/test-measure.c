/* The agent's heartbeat measurements (tools/glue/measure.c): the load
 * figure; a tree of real files laid out as /proc and /sys/fs/cgroup are
 * (the cgroup's limit decides, the load, errors); the running system's
 * /proc; the VMs of a real state directory in each state (a process whose
 * command line names the VM's monitor runs as its QEMU); and — as root — a
 * real child memory cgroup of 300 MiB that a forked process joins. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup-setup.h"
#include "hostmem.h"
#include "measure.h"
#include "tree-setup.h"

#define MIB (1024ULL * 1024)

static void fresh(void)
{
    tree_make("measure");
}

START_TEST(test_load)
{
    ck_assert_uint_eq(glue_measure_load_milli("0.52 0.58 0.59 1/190 4242\n"), 520);
    ck_assert_uint_eq(glue_measure_load_milli("12.25 1 1 1/1 1\n"), 12250);
    ck_assert_uint_eq(glue_measure_load_milli("3999999.5 1 1"), 3999999500u);
    ck_assert_uint_eq(glue_measure_load_milli("4000000 1 1"), 0);
    ck_assert_uint_eq(glue_measure_load_milli("0.00 0.00 0.00 1/1 1"), 0);
    ck_assert_uint_eq(glue_measure_load_milli("-1.5"), 0);
    ck_assert_uint_eq(glue_measure_load_milli("abc"), 0);
    ck_assert_uint_eq(glue_measure_load_milli(""), 0);
    ck_assert_uint_eq(glue_measure_load_milli("nan"), 0);
}
END_TEST

/* A tree: MemTotal 24000 MiB, a v2 cgroup of 2048 MiB using 548 MiB. */
START_TEST(test_tree)
{
    fresh();
    put("proc/meminfo", "MemTotal:       %llu kB\nMemFree:    1000 kB\nMemAvailable:   %llu kB\n",
        24000ULL * 1024, 20000ULL * 1024);
    put("proc/loadavg", "1.25 0.50 0.25 2/300 999\n");
    put("proc/self/mountinfo", "41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n");
    put("proc/self/cgroup", "0::/ppn.slice/agent.service\n");
    put("sys/fs/cgroup/ppn.slice/agent.service/memory.max", "%llu\n", 2048 * MIB);
    put("sys/fs/cgroup/ppn.slice/agent.service/memory.current", "%llu\n", 548 * MIB);
    char state[128];
    snprintf(state, sizeof(state), "%s/vms", tree);
    const struct glue_measure m = {.root = tree, .node_name = "node-a", .ledger_size = 17, .state_dir = state};
    ppn_fleet_heartbeat hb;
    memset(&hb, 0, sizeof(hb));
    ck_assert_int_eq(glue_measure_heartbeat(&m, &hb), 0);
    ck_assert_str_eq(hb.node_name, "node-a");
    ck_assert_uint_eq(hb.ram_total_bytes, 2048 * MIB);
    ck_assert_uint_eq(hb.ram_available_bytes, 1500 * MIB);
    ck_assert_uint_eq(hb.load_milli, 1250);
    ck_assert_uint_eq(hb.cpu_count, (uint32_t)sysconf(_SC_NPROCESSORS_ONLN));
    ck_assert_uint_eq(hb.ledger_size, 17);
    ck_assert_uint_eq(hb.n_vms, 0); /* a missing state directory is no VMs */
    /* no cgroup limit: the host's figures; no loadavg: load 0 */
    put("sys/fs/cgroup/ppn.slice/agent.service/memory.max", "max\n");
    char p[256];
    snprintf(p, sizeof(p), "%s/proc/loadavg", tree);
    ck_assert_int_eq(unlink(p), 0);
    hb.load_milli = 77;
    ck_assert_int_eq(glue_measure_heartbeat(&m, &hb), 0);
    ck_assert_uint_eq(hb.ram_total_bytes, 24000 * MIB);
    ck_assert_uint_eq(hb.ram_available_bytes, 20000 * MIB);
    ck_assert_uint_eq(hb.load_milli, 0);
    /* beyond what a heartbeat carries: held at PPN_FLEET_BYTES_MAX */
    put("proc/meminfo", "MemTotal: 18014398509481983 kB\nMemAvailable: 18014398509481983 kB\n");
    ck_assert_int_eq(glue_measure_heartbeat(&m, &hb), 0);
    ck_assert_uint_eq(hb.ram_total_bytes, PPN_FLEET_BYTES_MAX);
    ck_assert_uint_eq(hb.ram_available_bytes, PPN_FLEET_BYTES_MAX);
    /* meminfo without MemAvailable, or none at all: no heartbeat */
    put("proc/meminfo", "MemTotal: 1000 kB\n");
    ck_assert_int_eq(glue_measure_heartbeat(&m, &hb), -EBADMSG);
    snprintf(p, sizeof(p), "%s/proc/meminfo", tree);
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(glue_measure_heartbeat(&m, &hb), -ENOENT);
    ck_assert_int_eq(glue_measure_heartbeat(NULL, &hb), -EINVAL);
    ck_assert_int_eq(glue_measure_heartbeat(&m, NULL), -EINVAL);
    done();
}
END_TEST

/* The running system: the figures of /proc and the cgroup as hostmem reads them. */
START_TEST(test_running_system)
{
    fresh();
    char state[128];
    snprintf(state, sizeof(state), "%s/vms", tree);
    const struct glue_measure m = {.node_name = "n", .state_dir = state};
    ppn_fleet_heartbeat hb;
    memset(&hb, 0, sizeof(hb));
    struct glue_hostmem before, after;
    FILE *f = fopen("/proc/loadavg", "r");
    ck_assert_ptr_nonnull(f);
    double l0 = 0, l1 = 0;
    ck_assert_int_eq(fscanf(f, "%lf", &l0), 1);
    fclose(f);
    ck_assert_int_eq(glue_hostmem_read(NULL, &before), 0);
    ck_assert_int_eq(glue_measure_heartbeat(&m, &hb), 0);
    ck_assert_int_eq(glue_hostmem_read(NULL, &after), 0);
    f = fopen("/proc/loadavg", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lf", &l1), 1);
    fclose(f);
    ck_assert_uint_eq(hb.ram_total_bytes, before.total_bytes);
    ck_assert_uint_le(hb.ram_available_bytes, hb.ram_total_bytes);
    /* available moves with the machine: within 256 MiB of the reads around it */
    uint64_t lo = (before.available_bytes < after.available_bytes ? before.available_bytes : after.available_bytes);
    uint64_t hi = (before.available_bytes > after.available_bytes ? before.available_bytes : after.available_bytes);
    ck_assert_uint_le(hb.ram_available_bytes, hi + 256 * MIB);
    ck_assert_uint_ge(hb.ram_available_bytes + 256 * MIB, lo);
    double lmin = l0 < l1 ? l0 : l1, lmax = l0 > l1 ? l0 : l1;
    ck_assert_uint_ge(hb.load_milli + 1, (uint32_t)(lmin * 1000.0));
    ck_assert_uint_le(hb.load_milli, (uint32_t)(lmax * 1000.0) + 1);
    ck_assert_uint_eq(hb.cpu_count, (uint32_t)sysconf(_SC_NPROCESSORS_ONLN));
    done();
}
END_TEST

static void save_vm(const char *state, const char *name, uint32_t mib)
{
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new(name, PPN_VM_TYPE_ORCHESTRATION, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_memory_mib(s, mib), 0);
    ck_assert_int_eq(ppn_vm_spec_set_kernel(s, "/boot/vmlinuz", NULL, NULL), 0);
    ck_assert_int_eq(ppn_vm_spec_save(s, state, true), 0);
    ppn_vm_spec_free(s);
}

/* The VMs of a real state directory: one in each state, one whose
 * specification does not load (left out). */
START_TEST(test_vms)
{
    fresh();
    put("vms/.keep", "");
    char state[128], path[4096], mon[4096];
    snprintf(state, sizeof(state), "%s/vms", tree);
    save_vm(state, "vm-run", 256);
    save_vm(state, "vm-start", 512);
    save_vm(state, "vm-fail", 128);
    save_vm(state, "vm-stop", 1024);
    save_vm(state, "vm-bad", 64);
    ck_assert_int_eq(ppn_vm_path(state, "vm-bad", "spec", path, sizeof(path)), 0);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{not json", f);
    ck_assert_int_eq(fclose(f), 0);
    /* vm-run's "QEMU": a process whose command line names its monitor */
    ck_assert_int_eq(ppn_vm_path(state, "vm-run", "monitor", mon, sizeof(mon)), 0);
    pid_t q = fork();
    ck_assert_int_ge(q, 0);
    if (q == 0) {
        execl("/bin/sh", "sh", "-c", "sleep 60", mon, (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(ppn_vm_path(state, "vm-run", "pid", path, sizeof(path)), 0);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d\n", (int)q);
    ck_assert_int_eq(fclose(f), 0);
    struct glue_vm_work w;
    memset(&w, 0, sizeof(w));
    w.work[0].pid = 1;
    snprintf(w.work[0].name, sizeof(w.work[0].name), "vm-start");
    w.n_work = 1;
    glue_vm_work_set_failed(&w, "vm-fail", true);
    const struct glue_measure m = {.node_name = "n", .state_dir = state, .work = &w};
    ppn_fleet_heartbeat hb;
    memset(&hb, 0, sizeof(hb));
    /* the exec is seen once /proc/PID/cmdline names the monitor */
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(glue_measure_heartbeat(&m, &hb), 0);
        bool seen = false;
        for (uint32_t v = 0; v < hb.n_vms; v++)
            seen |= strcmp(hb.vms[v].name, "vm-run") == 0 && hb.vms[v].state == PPN_FLEET_VM_RUNNING;
        if (seen)
            break;
        usleep(10000);
    }
    ck_assert_uint_eq(hb.n_vms, 4); /* sorted by name; vm-bad left out */
    ck_assert_str_eq(hb.vms[0].name, "vm-fail");
    ck_assert_uint_eq(hb.vms[0].state, PPN_FLEET_VM_FAILED);
    ck_assert_uint_eq(hb.vms[0].mem_bytes, 128 * MIB);
    ck_assert_str_eq(hb.vms[1].name, "vm-run");
    ck_assert_uint_eq(hb.vms[1].state, PPN_FLEET_VM_RUNNING);
    ck_assert_uint_eq(hb.vms[1].mem_bytes, 256 * MIB); /* no pool: the specification's */
    ck_assert_str_eq(hb.vms[2].name, "vm-start");
    ck_assert_uint_eq(hb.vms[2].state, PPN_FLEET_VM_STARTING);
    ck_assert_uint_eq(hb.vms[2].mem_bytes, 512 * MIB);
    ck_assert_str_eq(hb.vms[3].name, "vm-stop");
    ck_assert_uint_eq(hb.vms[3].state, PPN_FLEET_VM_STOPPED);
    ck_assert_uint_eq(hb.vms[3].mem_bytes, 1024 * MIB);
    /* its QEMU gone: stopped; the creation over and not failed: stopped */
    kill(q, SIGKILL);
    ck_assert_int_eq(waitpid(q, NULL, 0), q);
    w.n_work = 0;
    glue_vm_work_set_failed(&w, "vm-fail", false);
    ck_assert_int_eq(glue_measure_heartbeat(&m, &hb), 0);
    ck_assert_uint_eq(hb.n_vms, 4);
    for (uint32_t v = 0; v < hb.n_vms; v++)
        ck_assert_msg(hb.vms[v].state == PPN_FLEET_VM_STOPPED, "%s", hb.vms[v].name);
    /* without a work table (NULL): nothing starting or failed */
    const struct glue_measure m2 = {.state_dir = state};
    ck_assert_int_eq(glue_measure_heartbeat(&m2, &hb), 0);
    ck_assert_uint_eq(hb.n_vms, 4);
    ck_assert_str_eq(hb.node_name, "");
    done();
}
END_TEST

static char child_state[128];

/* In the child cgroup: the heartbeat's total and available memory. */
static int measure_in_child(void *outp, size_t size)
{
    uint64_t *out = outp;
    (void)size;
    const struct glue_measure m = {.node_name = "n", .state_dir = child_state};
    ppn_fleet_heartbeat hb;
    memset(&hb, 0, sizeof(hb));
    if (glue_measure_heartbeat(&m, &hb) < 0)
        return 3;
    out[0] = hb.ram_total_bytes, out[1] = hb.ram_available_bytes;
    return 0;
}

/* As root: a child memory cgroup of 300 MiB that a forked process joins;
 * its heartbeat's total is the limit. */
START_TEST(test_real_cgroup)
{
    ck_assert_msg(geteuid() == 0, "needs root (a child memory cgroup is made)");
    fresh();
    char child[700];
    snprintf(child_state, sizeof(child_state), "%s/vms", tree);
    int version = 0;
    const char *step = cgroup_setup_child("ppn-measure", 300 * MIB, child, sizeof(child), &version);
    ck_assert_msg(!step, "%s: %s", step, strerror(errno));
    uint64_t out[2] = {0};
    int st = cgroup_setup_run(child, measure_in_child, out, sizeof(out));
    rmdir(child);
    done();
    ck_assert_msg(st == 0, "child status %d", st);
    ck_assert_uint_eq(out[0], 300 * MIB);
    ck_assert_uint_le(out[1], 300 * MIB);
    ck_assert_uint_gt(out[1], 200 * MIB); /* a small process used little of it */
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("tool-measure");
    TCase *tc = tcase_create("measure");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_load);
    tcase_add_test(tc, test_tree);
    tcase_add_test(tc, test_running_system);
    tcase_add_test(tc, test_vms);
    tcase_add_test(tc, test_real_cgroup);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
