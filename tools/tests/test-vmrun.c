/* The agent's creation worker and its runners (tools/glue/vmrun.c) against
 * real processes, real files and real TCG QEMUs (the guest of
 * tests/vmm-guest/build-guest.sh): a command waited for with a deadline
 * (exit 0, non-zero, not runnable, killed at the deadline and reaped); the
 * unit written atomically as ppn_vm_unit gives it, then systemctl's failure
 * reported (the systemd runner itself runs in fleet-systemd); a request
 * created and started by the direct runner, refused while it runs, refused
 * with another specification, started again with the same; pinned
 * elsewhere, missing files, QEMU failing; the worker processes: in
 * progress, reaped, failed or not, their log lines.
 * Usage: test-vmrun BUILD-GUEST-SH GUEST-DIR */
#include <check.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest-setup.h"
#include "ppn-common.h"
#include "vmreq.h"
#include "vmrun.h"

#define MIB ((uint64_t)1024 * 1024)

static const char *guest_dir;

/* Log lines into a real file: a worker's lines come from another process. */
static void file_log(const char *line, void *ud)
{
    FILE *f = fopen(ud, "a");
    if (f) {
        fprintf(f, "%s\n", line);
        fclose(f);
    }
}

static char *slurp(const char *path)
{
    uint8_t *d = NULL;
    size_t n;
    if (ppnc_read_file(path, 1 << 20, &d, &n) < 0)
        return strdup("");
    return (char *)d;
}

static bool logged(const char *logfile, const char *what)
{
    char *t = slurp(logfile);
    bool hit = strstr(t, what) != NULL;
    free(t);
    return hit;
}

static void make_tmp(char *dir, size_t size, const char *tag)
{
    snprintf(dir, size, "/tmp/ppn-vmrun-%s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_rf(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static ppn_fleet_request kernel_request(const char *name, uint32_t mem_mib, uint32_t kind)
{
    ppn_fleet_request rq;
    memset(&rq, 0, sizeof(rq));
    snprintf(rq.vm_name, sizeof(rq.vm_name), "%s", name);
    rq.mem_bytes = mem_mib * MIB;
    rq.vcpus = 1;
    rq.kind = kind;
    snprintf(rq.kernel, sizeof(rq.kernel), "%s/vmlinuz", guest_dir);
    snprintf(rq.initrd, sizeof(rq.initrd), "%s/initrd.gz", guest_dir);
    snprintf(rq.append, sizeof(rq.append), "console=ttyS0 panic=-1");
    return rq;
}

/* The QEMU of 'vm' killed and its files cleaned (it is the caller's child,
 * or its grandchild inherited through the subreaper). */
static void kill_vm(const char *state, const char *vm)
{
    pid_t pid = 0;
    ck_assert_int_eq(ppn_vm_pid(state, vm, &pid), 0);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int st;
    ck_assert_int_eq(ppn_vm_supervise(state, vm, pid, &st), 0);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(ppn_vm_pid(state, vm, &pid), 0);
    ck_assert_int_eq(pid, 0);
}

START_TEST(test_run_wait)
{
    char *ok[] = {"/bin/true", NULL}, *no[] = {"/bin/false", NULL};
    char *none[] = {"/nonexistent/ppn-no-such-binary", NULL};
    char *slow[] = {"/bin/sleep", "30", NULL};
    ck_assert_int_eq(glue_run_wait(ok, 5000), 0);
    ck_assert_int_eq(glue_run_wait(no, 5000), -EIO);
    ck_assert_int_eq(glue_run_wait(none, 5000), -EIO); /* exit 127 */
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(glue_run_wait(slow, 300), -ETIMEDOUT);
    ck_assert_uint_lt(ppnc_now_mono_ms() - t0, 30000); /* killed, not waited out */
    /* and reaped: no child left */
    errno = 0;
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    /* stdin is /dev/null: a reader sees EOF at once */
    char *cat[] = {"/bin/cat", NULL};
    ck_assert_int_eq(glue_run_wait(cat, 5000), 0);
}
END_TEST

START_TEST(test_failed_ring)
{
    struct glue_vm_work w;
    memset(&w, 0, sizeof(w));
    char name[32];
    for (int i = 0; i <= GLUE_VM_WORK_MAX; i++) {
        snprintf(name, sizeof(name), "vm%d", i);
        glue_vm_work_set_failed(&w, name, true);
    }
    ck_assert_uint_eq(w.n_failed, GLUE_VM_WORK_MAX);
    ck_assert(!glue_vm_work_failed(&w, "vm0")); /* the oldest went */
    ck_assert(glue_vm_work_failed(&w, "vm1"));
    ck_assert(glue_vm_work_failed(&w, "vm16"));
    glue_vm_work_set_failed(&w, "vm5", true); /* once only */
    ck_assert_uint_eq(w.n_failed, GLUE_VM_WORK_MAX);
    glue_vm_work_set_failed(&w, "vm5", false);
    ck_assert(!glue_vm_work_failed(&w, "vm5"));
    ck_assert(glue_vm_work_failed(&w, "vm6"));
    ck_assert_uint_eq(w.n_failed, GLUE_VM_WORK_MAX - 1);
    glue_vm_work_set_failed(&w, "never", false);
    ck_assert_uint_eq(w.n_failed, GLUE_VM_WORK_MAX - 1);
    ck_assert(!glue_vm_work_starting(&w, "vm6"));
    ck_assert_int_eq(glue_vm_work_reap(&w), 0); /* no child */
}
END_TEST

START_TEST(test_start_unit)
{
    char state[64], units[64], path[PATH_MAX];
    make_tmp(state, sizeof(state), "state");
    make_tmp(units, sizeof(units), "units");
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new("u1", PPN_VM_TYPE_ORCHESTRATION, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_kernel(s, "/boot/vmlinuz", NULL, NULL), 0);
    struct glue_vm_runner r = {.state_dir = state, .unit_dir = units, .binary = "/opt/ppn/bin/ppn-vm",
                               .systemctl = "/bin/false", .accel = PPN_VM_ACCEL_TCG, .systemd = 1};
    ck_assert(glue_vm_runner_systemd(&r));
    const char *why = NULL;
    path[0] = '\0';
    ck_assert_int_eq(glue_vm_start_unit(&r, s, path, sizeof(path), &why), -EIO);
    ck_assert_str_eq(why, "systemctl daemon-reload failed");
    /* the unit is written all the same, exactly as libppn-vmm makes it */
    char want_path[PATH_MAX];
    snprintf(want_path, sizeof(want_path), "%s/ppn-vm-u1.service", units);
    ck_assert_str_eq(path, want_path);
    ppn_vm_unit_opts uo = {.ppn_vm_binary = "/opt/ppn/bin/ppn-vm", .state_dir = state,
                           .accel = PPN_VM_ACCEL_TCG};
    char *want = NULL, *got = slurp(path);
    ck_assert_int_eq(ppn_vm_unit(s, &uo, &want), 0);
    ck_assert_str_eq(got, want);
    ck_assert_ptr_nonnull(strstr(got, "/opt/ppn/bin/ppn-vm"));
    free(got);
    free(want);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    /* nothing else in the directory (no temporary left) */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s')\" = ppn-vm-u1.service", units);
    ck_assert_int_eq(system(cmd), 0);
    /* a unit directory that is not there */
    char gone[PATH_MAX];
    snprintf(gone, sizeof(gone), "%s/missing", units);
    r.unit_dir = gone;
    ck_assert_int_eq(glue_vm_start_unit(&r, s, NULL, 0, &why), -ENOENT);
    ck_assert_str_eq(why, "cannot write the unit file");
    /* a state directory that is not there */
    r.unit_dir = units;
    r.state_dir = gone;
    ck_assert_int_eq(glue_vm_start_unit(&r, s, NULL, 0, &why), -ENOENT);
    ck_assert_str_eq(why, "cannot resolve the state directory");
    /* the runner decided once: systemd=0 stays direct */
    struct glue_vm_runner d = {.systemd = 0};
    ck_assert(!glue_vm_runner_systemd(&d));
    struct glue_vm_runner a = {.systemd = -1};
    bool pid1 = access("/run/systemd/system", F_OK) == 0 && glue_systemctl_path();
    ck_assert(glue_vm_runner_systemd(&a) == pid1);
    ck_assert_int_eq(a.systemd, pid1 ? 1 : 0);
    ppn_vm_spec_free(s);
    rm_rf(state);
    rm_rf(units);
}
END_TEST

START_TEST(test_create_direct)
{
    char state[64], logf[PATH_MAX];
    make_tmp(state, sizeof(state), "direct");
    snprintf(logf, sizeof(logf), "%s/agent.log", state);
    struct glue_vm_runner r = {.state_dir = state, .accel = PPN_VM_ACCEL_TCG, .systemd = 0};
    ppn_fleet_request rq = kernel_request("w1", 192, PPN_FLEET_VM_GENERAL);
    int e = glue_vm_create(&r, &rq, "node-a", "", file_log, logf);
    ck_assert_msg(e == 0, "create: %s: %s", strerror(-e), slurp(logf));
    ck_assert(logged(logf, "started VM 'w1' (VM-Orchestration, 192 MiB, 1 vCPUs) QEMU pid "));
    pid_t pid = 0;
    ck_assert_int_eq(ppn_vm_pid(state, "w1", &pid), 0);
    ck_assert_int_gt(pid, 0);
    /* while it runs: refused */
    ck_assert_int_eq(glue_vm_create(&r, &rq, "node-a", "", file_log, logf), -EALREADY);
    ck_assert(logged(logf, "Failed to create 'w1': it runs already"));
    kill_vm(state, "w1");
    /* stopped, another specification under that name: refused, the stored one kept */
    ppn_fleet_request other = kernel_request("w1", 256, PPN_FLEET_VM_GENERAL);
    ck_assert_int_eq(glue_vm_create(&r, &other, "node-a", "", file_log, logf), -EEXIST);
    ck_assert(logged(logf, "Failed to create 'w1': a VM of that name exists on this node with "
                           "another specification"));
    ppn_vm_spec *have;
    ck_assert_int_eq(ppn_vm_spec_load(state, "w1", &have, NULL), 0);
    ck_assert_uint_eq(ppn_vm_spec_memory_mib(have), 192);
    ppn_vm_spec_free(have);
    /* the same VM again: started again, QEMU's user the stored one's
     * whatever this runner's default (it is this host's choice, not part of
     * what was requested) */
    struct glue_vm_runner nobody = r;
    nobody.run_as_default = "nobody";
    ck_assert_int_eq(glue_vm_create(&nobody, &rq, "node-a", "", file_log, logf), 0);
    ck_assert_int_eq(ppn_vm_spec_load(state, "w1", &have, NULL), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(have), "");
    ppn_vm_spec_free(have);
    ck_assert_int_eq(ppn_vm_pid(state, "w1", &pid), 0);
    ck_assert_int_gt(pid, 0);
    kill_vm(state, "w1");

    /* a VM-Totebox stored here pinned to another node: refused with the seeds' reason */
    ppn_fleet_request tb = kernel_request("t1", 192, PPN_FLEET_VM_TOTEBOX);
    ppn_vm_spec *pinned;
    const char *why = NULL;
    ck_assert_int_eq(glue_vm_from_request(&tb, "node-b", "", &pinned, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_node(pinned), "node-b");
    ck_assert_int_eq(ppn_vm_spec_save(pinned, state, true), 0);
    ppn_vm_spec_free(pinned);
    ck_assert_int_eq(glue_vm_create(&r, &tb, "node-a", "", file_log, logf), -EXDEV);
    ck_assert(logged(logf, "refused 't1': pinned to node 'node-b', this is 'node-a'"));
    ck_assert(logged(logf, "Failed to create 't1': VM-Totebox is pinned to its node and starts "
                           "nowhere else"));

    /* a kernel that is not there: nothing stored */
    ppn_fleet_request miss = kernel_request("w2", 192, PPN_FLEET_VM_GENERAL);
    snprintf(miss.kernel, sizeof(miss.kernel), "%s/no-such-vmlinuz", guest_dir);
    ck_assert_int_eq(glue_vm_create(&r, &miss, "node-a", "", file_log, logf), -ENOENT);
    ck_assert(logged(logf, "Failed to create 'w2': kernel: No such file or directory"));
    ck_assert_int_eq(ppn_vm_spec_load(state, "w2", &have, NULL), -ENOENT);

    /* QEMU that fails at once: the failure said, the VM stays stored (listed
     * as failed), with QEMU's user the runner's default where it exists */
    struct glue_vm_runner bad = r;
    bad.qemu = "/bin/false";
    bad.run_as_default = "nobody";
    ppn_fleet_request w3 = kernel_request("w3", 192, PPN_FLEET_VM_GENERAL);
    ck_assert_int_lt(glue_vm_create(&bad, &w3, "node-a", "", file_log, logf), 0);
    ck_assert(logged(logf, "Failed to start 'w3': "));
    ck_assert_int_eq(ppn_vm_spec_load(state, "w3", &have, NULL), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(have), "nobody");
    ppn_vm_spec_free(have);
    /* a process that cannot change user (the hardened ppn-vm-host unit):
     * the direct runner's QEMU keeps its user */
    ck_assert(glue_can_change_user() == (geteuid() == 0));
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2];
        if (syscall(SYS_capget, &h, d) < 0)
            _exit(2);
        d[0].effective &= ~((1u << CAP_SETUID) | (1u << CAP_SETGID));
        if (syscall(SYS_capset, &h, d) < 0 || glue_can_change_user())
            _exit(3);
        ppn_fleet_request w4 = kernel_request("w4", 192, PPN_FLEET_VM_GENERAL);
        ppn_vm_spec *h4;
        if (glue_vm_create(&bad, &w4, "node-a", "", file_log, logf) == 0 ||
            ppn_vm_spec_load(state, "w4", &h4, NULL) < 0)
            _exit(4);
        int same = strcmp(ppn_vm_spec_run_as(h4), "") == 0;
        ppn_vm_spec_free(h4);
        _exit(same ? 0 : 5);
    }
    int st;
    ck_assert_int_eq(waitpid(child, &st, 0), child);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    rm_rf(state);
}
END_TEST

/* Reaps until no worker is left (each has its own deadlines; this one
 * only bounds the test). */
static void reap_all(struct glue_vm_work *w)
{
    int ended = 0;
    for (int t = 0; t < 1800 && w->n_work; t++) {
        ended += glue_vm_work_reap(w);
        usleep(100 * 1000);
    }
    ck_assert_uint_eq(w->n_work, 0);
    ck_assert_int_gt(ended, 0);
}

START_TEST(test_workers)
{
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0); /* as the agent: QEMUs stay ours */
    char state[64], logf[PATH_MAX];
    make_tmp(state, sizeof(state), "work");
    snprintf(logf, sizeof(logf), "%s/agent.log", state);
    struct glue_vm_runner r = {.state_dir = state, .accel = PPN_VM_ACCEL_TCG, .systemd = 0};
    struct glue_vm_work w;
    memset(&w, 0, sizeof(w));
    glue_vm_work_set_failed(&w, "s1", true); /* a failure before: cleared by a success */
    ppn_fleet_request s1 = kernel_request("s1", 192, PPN_FLEET_VM_GENERAL);
    ck_assert_int_eq(glue_vm_work_spawn(&w, &r, &s1, "node-a", "", file_log, logf, 1), 0);
    ck_assert(glue_vm_work_starting(&w, "s1"));
    ck_assert_uint_eq(w.work[0].t0_ms, 1);
    ck_assert_int_eq(glue_vm_work_spawn(&w, &r, &s1, "node-a", "", file_log, logf, 2), -EALREADY);
    ppn_fleet_request s2 = kernel_request("s2", 192, PPN_FLEET_VM_GENERAL);
    snprintf(s2.kernel, sizeof(s2.kernel), "%s/no-such-vmlinuz", guest_dir);
    ck_assert_int_eq(glue_vm_work_spawn(&w, &r, &s2, "node-a", "", file_log, logf, 3), 0);
    ck_assert_uint_eq(w.n_work, 2);
    reap_all(&w);
    ck_assert(!glue_vm_work_starting(&w, "s1"));
    ck_assert(!glue_vm_work_failed(&w, "s1"));
    ck_assert(glue_vm_work_failed(&w, "s2"));
    ck_assert(logged(logf, "started VM 's1' (VM-Orchestration, 192 MiB, 1 vCPUs) QEMU pid "));
    ck_assert(logged(logf, "Failed to create 's2': kernel: No such file or directory"));
    /* the QEMU outlived its worker and runs on as the subreaper's child */
    kill_vm(state, "s1");
    /* a full table: busy */
    struct glue_vm_work full;
    memset(&full, 0, sizeof(full));
    full.n_work = GLUE_VM_WORK_MAX;
    for (unsigned i = 0; i < GLUE_VM_WORK_MAX; i++)
        snprintf(full.work[i].name, sizeof(full.work[i].name), "b%u", i);
    ck_assert_int_eq(glue_vm_work_spawn(&full, &r, &s1, "node-a", "", file_log, logf, 4), -EBUSY);
    rm_rf(state);
}
END_TEST

#include "ppn-check.h"

int main(int argc, char **argv)
{
    guest_dir = guest_setup(argc, argv);
    if (!guest_dir)
        return 1;
    Suite *s = suite_create("tool-vmrun");
    TCase *tc = tcase_create("vmrun");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_run_wait);
    tcase_add_test(tc, test_failed_ring);
    tcase_add_test(tc, test_start_unit);
    tcase_add_test(tc, test_create_direct);
    tcase_add_test(tc, test_workers);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
