/* libppn-vmm against a real QEMU (TCG) booting the Debian kernel with the
 * busybox initramfs of tests/vmm-guest: balloon, events, graceful shutdown,
 * the forced fallback for a guest that ignores the button, a QEMU that
 * dies or hangs mid-command, and a guest on a qcow2 overlay that reads its
 * cloud-init seed.
 *
 *   test-guest BUILD-GUEST-SH GUEST-DIR */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ppn-common.h"
#include "ppn/vmm.h"
#include "vmm-test.h"

static const char *guest_dir;
static char state[256];

#define MIB (1024ULL * 1024ULL)

/* One state directory for the run, made and cleaned by the parent process:
 * a failing test (in its forked child) cannot leave a QEMU running. */
static void cleanup_state(void)
{
    char **names;
    int n = ppn_vm_list(state, &names);
    for (int i = 0; i < n; i++) {
        char p[512];
        uint8_t *d;
        size_t len;
        if (ppn_vm_path(state, names[i], "pid", p, sizeof(p)) == 0 && ppnc_read_file(p, 64, &d, &len) == 0) {
            pid_t pid = (pid_t)atoi((char *)d);
            free(d);
            pid_t running;
            if (ppn_vm_pid(state, names[i], &running) == 0 && running == pid && pid > 0)
                kill(pid, SIGKILL);
        }
    }
    if (n >= 0)
        ppn_vmm_strv_free(names);
    if (getenv("PPN_KEEP_STATE"))
        return;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", state);
}

/* The spec every guest here starts from: the test kernel with 'initrd',
 * 'mib' MiB, one vCPU, no network. */
static ppn_vm_spec *new_spec(const char *name, const char *initrd, uint32_t mib)
{
    ppn_vm_spec *s;
    char k[512], i[512];
    snprintf(k, sizeof(k), "%s/vmlinuz", guest_dir);
    snprintf(i, sizeof(i), "%s/%s", guest_dir, initrd);
    ck_assert_int_eq(ppn_vm_spec_new(name, PPN_VM_TYPE_ORCHESTRATION, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_memory_mib(s, mib), 0);
    ck_assert_int_eq(ppn_vm_spec_set_vcpus(s, 1), 0);
    ck_assert_int_eq(ppn_vm_spec_set_kernel(s, k, i, "console=ttyS0 panic=-1 loglevel=3"), 0);
    ppn_vm_spec_clear_port_forwards(s);
    ck_assert_int_eq(ppn_vm_spec_set_network(s, false), 0);
    return s;
}

static void make_vm(const char *name, const char *initrd, uint32_t mib)
{
    ppn_vm_spec *s = new_spec(name, initrd, mib);
    ck_assert_int_eq(ppn_vm_spec_save(s, state, true), 0);
    ppn_vm_spec_free(s);
}

/* Waits until the console shows 'what'. */
static void wait_console(const char *name, const char *what, unsigned timeout_ms)
{
    char p[512];
    ck_assert_int_eq(ppn_vm_path(state, name, "console", p, sizeof(p)), 0);
    uint64_t end = ppnc_now_mono_ms() + timeout_ms;
    for (;;) {
        uint8_t *d;
        size_t n;
        if (ppnc_read_file(p, 1 << 22, &d, &n) == 0) {
            bool found = strstr((char *)d, what) != NULL;
            free(d);
            if (found)
                return;
        }
        ck_assert_msg(ppnc_now_mono_ms() < end, "guest never printed '%s'", what);
        usleep(100 * 1000);
    }
}

static pid_t start_vm(const char *name)
{
    pid_t pid = 0;
    int r = ppn_vm_start(state, name, NULL, PPN_VM_ACCEL_AUTO, 20000, &pid);
    ck_assert_msg(r == 0, "ppn_vm_start: %s", strerror(-r));
    ck_assert_int_gt(pid, 0);
    pid_t p2;
    ck_assert_int_eq(ppn_vm_pid(state, name, &p2), 0);
    ck_assert_int_eq(p2, pid);
    ck_assert_int_eq(ppn_vm_start(state, name, NULL, 0, 1000, &p2), -EALREADY);
    return pid;
}

/* The path of the QMP socket of 'name' (512 bytes). */
static void monitor_path(const char *name, char mon[512])
{
    ck_assert_int_eq(ppn_vm_path(state, name, "monitor", mon, 512), 0);
}

/* make_vm and start_vm; the monitor's path in 'mon'. */
static pid_t boot_vm(const char *name, const char *initrd, uint32_t mib, char mon[512])
{
    make_vm(name, initrd, mib);
    pid_t pid = start_vm(name);
    monitor_path(name, mon);
    return pid;
}

/* A deaf guest booted as 'name', its QMP connected in *q, then QEMU frozen
 * with SIGSTOP: a command sent now is in flight and unanswered. */
static pid_t frozen_vm(const char *name, char mon[512], ppn_qmp **q)
{
    pid_t pid = boot_vm(name, "initrd-deaf.gz", 256, mon);
    ck_assert_int_eq(ppn_qmp_connect(mon, 5000, q), 0);
    ck_assert_int_eq(kill(pid, SIGSTOP), 0);
    return pid;
}

static void kill_vm(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

struct bal {
    int changes;
};

static void on_event(const char *name, const char *data, int64_t s, int64_t us, void *ud)
{
    (void)data;
    (void)s;
    (void)us;
    struct bal *b = ud;
    if (!strcmp(name, "BALLOON_CHANGE"))
        b->changes++;
}

static int actual_is(const char *name, const char *data, void *ud)
{
    (void)name;
    json_t *o = json_loads(data, 0, NULL);
    int m = (uint64_t)json_integer_value(json_object_get(o, "actual")) == *(uint64_t *)ud;
    json_decref(o);
    return m;
}

struct steps {
    int seen[16];
};

static void on_step(ppn_vm_shutdown_step step, int result, uint64_t ms, void *ud)
{
    (void)result;
    (void)ms;
    struct steps *s = ud;
    if ((int)step < 16)
        s->seen[step]++;
}

/* One boot: balloon down and up with events, guest statistics, info, then
 * a graceful shutdown through acpid. */
START_TEST(test_balloon_and_graceful)
{
    char mon[512];
    pid_t pid = boot_vm("bal", "initrd.gz", 384, mon);
    wait_console("bal", "ppn-guest: ready acpid", 90000);

    ppn_qmp *q;
    ck_assert_int_eq(ppn_qmp_connect(mon, 5000, &q), 0);
    struct bal b = {0};
    ppn_qmp_set_event_callback(q, on_event, &b);
    ppn_qmp_status st;
    ck_assert_int_eq(ppn_qmp_query_status(q, 5000, &st), 0);
    ck_assert(st.running);
    ck_assert_str_eq(st.status, "running");

    uint64_t actual = 0;
    ck_assert_int_eq(ppn_qmp_balloon_query(q, 5000, &actual), 0);
    ck_assert(actual == 384 * MIB);

    uint64_t target = 256 * MIB;
    ck_assert_int_eq(ppn_qmp_balloon_set(q, target, 5000), 0);
    int r = ppn_qmp_wait_event(q, "BALLOON_CHANGE", actual_is, &target, 30000, NULL);
    ck_assert_msg(r == 0, "no BALLOON_CHANGE to 256 MiB: %s", strerror(-r));
    ck_assert_int_ge(b.changes, 1);
    ck_assert_int_eq(ppn_qmp_balloon_query(q, 5000, &actual), 0);
    ck_assert(actual == target);

    /* the fleet agent's view: QEMU serves one monitor client at a time */
    ppn_qmp_free(q);
    ppn_vm_info info;
    ck_assert_int_eq(ppn_vm_info_get(state, "bal", 5000, &info), 0);
    ck_assert(info.running);
    ck_assert_int_eq(info.pid, pid);
    ck_assert_int_eq(info.qmp_error, 0);
    ck_assert_str_eq(info.status, "running");
    ck_assert(info.balloon_actual == target);
    /* QEMU itself (query-kvm) runs the accelerator auto chose */
    ck_assert_str_eq(info.accel, ppn_vm_accel_name((unsigned)ppn_vm_accel_resolve(NULL, PPN_VM_ACCEL_AUTO)));
    ppn_vm_info *all;
    ck_assert_int_eq(ppn_vm_info_list(state, 5000, &all), 1);
    ck_assert(all[0].balloon_actual == target);
    free(all);
    /* the monitor of a running VM by its name */
    ck_assert_int_eq(ppn_vm_qmp_connect(state, "bal", 5000, &q), 0);
    ck_assert_int_eq(ppn_qmp_query_status(q, 5000, &st), 0);
    ck_assert(st.running);

    /* and back up */
    target = 384 * MIB;
    ck_assert_int_eq(ppn_qmp_balloon_set(q, target, 5000), 0);
    r = ppn_qmp_wait_event(q, "BALLOON_CHANGE", actual_is, &target, 30000, NULL);
    ck_assert_msg(r == 0, "no BALLOON_CHANGE back to 384 MiB: %s", strerror(-r));

    /* set and waited for in one call (ppn_qmp_balloon_set_wait, what
     * ppn-vm balloon --wait runs) */
    uint64_t got = 0;
    target = 320 * MIB;
    r = ppn_qmp_balloon_set_wait(q, target, 30000, 5000, &got);
    ck_assert_msg(r == 0, "set_wait to 320 MiB: %s", strerror(-r));
    ck_assert(got == target);
    ck_assert_int_eq(ppn_qmp_balloon_query(q, 5000, &actual), 0);
    ck_assert(actual == target);
    /* a target the guest cannot give within the wait: -ETIMEDOUT, the last size seen */
    got = 0;
    ck_assert_int_eq(ppn_qmp_balloon_set_wait(q, 1 * MIB, 1500, 5000, &got), -ETIMEDOUT);
    ck_assert(got > 1 * MIB && got <= 320 * MIB);
    ck_assert_int_eq(ppn_qmp_balloon_set_wait(q, 0, 1000, 5000, &got), -EINVAL);
    ck_assert_int_eq(ppn_qmp_balloon_set_wait(q, target, -1, 5000, &got), -EINVAL);
    target = 384 * MIB;
    r = ppn_qmp_balloon_set_wait(q, target, 30000, 5000, NULL);
    ck_assert_msg(r == 0, "set_wait back to 384 MiB: %s", strerror(-r));

    /* guest statistics from the balloon driver */
    ck_assert_int_eq(ppn_qmp_guest_stats_enable(q, NULL, 1, 5000), 0);
    ppn_vmm_guest_stats gs;
    uint64_t end = ppnc_now_mono_ms() + 15000;
    while ((r = ppn_qmp_guest_stats(q, NULL, 5000, &gs)) == -ENODATA && ppnc_now_mono_ms() < end)
        usleep(300 * 1000);
    ck_assert_msg(r == 0, "guest stats: %s", strerror(-r));
    ck_assert(gs.total_memory > 100 * MIB && gs.total_memory <= 384 * MIB);
    ck_assert(gs.free_memory > 0 && gs.free_memory < gs.total_memory);
    ck_assert_int_eq(ppn_qmp_guest_stats(q, "/machine/peripheral/none", 5000, &gs), -ENODEV);
    ppn_qmp_free(q);

    ppn_vm_shutdown_opts o = vmm_test_shutdown_opts(mon, pid, 30000);
    o.repress_interval_ms = 5000;
    struct steps seen = {{0}};
    ppn_vm_shutdown_result res;
    r = ppn_vm_shutdown(&o, on_step, &seen, &res);
    ck_assert_int_eq(r, 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL);
    ck_assert_uint_ge(res.presses, 1);
    ck_assert_uint_lt(res.elapsed_ms, 30000);
    ck_assert_int_eq(seen.seen[PPN_VM_SHUTDOWN_GUEST_DOWN], 1);
    ck_assert_int_eq(seen.seen[PPN_VM_SHUTDOWN_QUIT], 0);
    ck_assert_int_eq(seen.seen[PPN_VM_SHUTDOWN_SIGTERM], 0);
    wait_console("bal", "powering off", 1000);
    pid_t p2;
    ck_assert_int_eq(ppn_vm_pid(state, "bal", &p2), 0);
    ck_assert_int_eq(p2, 0);
    ck_assert_int_eq(ppn_vm_info_get(state, "bal", 1000, &info), 0);
    ck_assert(!info.running);
}
END_TEST

START_TEST(test_deaf_guest_fallback)
{
    char mon[512];
    pid_t pid = boot_vm("deaf", "initrd-deaf.gz", 256, mon);
    wait_console("deaf", "ppn-guest: ready deaf", 90000);
    ppn_vm_shutdown_opts o = vmm_test_shutdown_opts(mon, pid, 4000);
    o.repress_interval_ms = 1500;
    o.quit_wait_ms = 3000;
    struct steps seen = {{0}};
    ppn_vm_shutdown_result res;
    ck_assert_int_eq(ppn_vm_shutdown(&o, on_step, &seen, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_QUIT);
    ck_assert_uint_ge(res.presses, 3);
    ck_assert_uint_ge(res.elapsed_ms, 4000);
    ck_assert_uint_lt(res.elapsed_ms, 4000 + 3000 + 2000);
    ck_assert_int_eq(seen.seen[PPN_VM_SHUTDOWN_DEADLINE], 1);
    ck_assert_int_eq(seen.seen[PPN_VM_SHUTDOWN_QUIT], 1);
    ck_assert_int_eq(seen.seen[PPN_VM_SHUTDOWN_GUEST_DOWN], 0);
    ck_assert_int_eq(kill(pid, 0), -1); /* reaped */
}
END_TEST

START_TEST(test_hung_qemu_signals)
{
    /* a QEMU that neither answers nor exits: SIGSTOP'd */
    char mon[512];
    ppn_qmp *q;
    pid_t pid = frozen_vm("hung", mon, &q);
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 500, NULL), -ETIMEDOUT);
    ck_assert_uint_lt(ppnc_now_mono_ms() - t0, 1500);
    ppn_qmp_free(q);

    ppn_vm_shutdown_opts o = vmm_test_shutdown_opts(mon, pid, 1000);
    o.step_timeout_ms = 500;
    o.quit_wait_ms = 500;
    o.term_wait_ms = 500;
    o.kill_wait_ms = 3000;
    ppn_vm_shutdown_result res;
    t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_vm_shutdown(&o, NULL, NULL, &res), 0);
    /* SIGTERM stays pending on a stopped process: SIGKILL ends it */
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_SIGKILL);
    ck_assert_uint_lt(ppnc_now_mono_ms() - t0, ppn_vm_shutdown_max_ms(&o));
}
END_TEST

START_TEST(test_qemu_killed_mid_command)
{
    /* QEMU frozen so the command is in flight, then killed 300 ms later */
    char mon[512];
    ppn_qmp *q;
    pid_t pid = frozen_vm("dies", mon, &q);
    pid_t killer = fork();
    ck_assert_int_ge(killer, 0);
    if (killer == 0) {
        usleep(300 * 1000);
        kill(pid, SIGKILL);
        _exit(0);
    }
    uint64_t t0 = ppnc_now_mono_ms();
    int r = ppn_qmp_execute(q, "query-status", NULL, 10000, NULL);
    uint64_t el = ppnc_now_mono_ms() - t0;
    ck_assert_msg(r == -ECONNRESET, "got %d", r);
    ck_assert_uint_ge(el, 250);
    ck_assert_uint_lt(el, 3000);
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 1000, NULL), -ENOTCONN);
    ppn_qmp_free(q);
    waitpid(killer, NULL, 0);
    int wst;
    ck_assert_int_eq(ppn_vm_supervise(state, "dies", pid, &wst), 0);
    ck_assert(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    /* the socket is gone with it */
    ck_assert_int_eq(ppn_qmp_connect(mon, 500, &q), -ENOENT);
    (void)kill_vm;
}
END_TEST


/* ---- the supervisor (ppn_vm_supervisor_*) ---- */

struct sup_seen {
    int states[4];       /* how often each state was reported */
    int order[8], n;
    bool known;
    int wait_status;
};

static void on_sup_state(ppn_vm_supervisor_state st, bool known, int wait_status, void *ud)
{
    struct sup_seen *s = ud;
    if ((int)st > 0 && (int)st < 4)
        s->states[st]++;
    if (s->n < 8)
        s->order[s->n++] = (int)st;
    s->known = known;
    s->wait_status = wait_status;
}

static bool vm_file_exists(const char *name, const char *what)
{
    char p[512];
    ck_assert_int_eq(ppn_vm_path(state, name, what, p, sizeof(p)), 0);
    return access(p, F_OK) == 0;
}

/* A VM made with 'initrd' and started under a supervisor reporting to *seen. */
static ppn_vm_supervisor *sup_start(const char *name, const char *initrd, unsigned flags, struct sup_seen *seen)
{
    make_vm(name, initrd, 256);
    ppn_vm_supervisor *sup = NULL;
    memset(seen, 0, sizeof(*seen));
    int r = ppn_vm_supervisor_start(state, name, NULL, flags, 20000, on_sup_state, seen, &sup);
    ck_assert_msg(r == 0, "ppn_vm_supervisor_start: %s", strerror(-r));
    ck_assert_int_eq(seen->states[PPN_VM_SUPERVISOR_RUNNING], 1);
    return sup;
}

/* Started, watched on its pidfd, killed from outside: the exit is seen on
 * the descriptor, reaped with its status, the files removed. */
START_TEST(test_supervisor_watch_exit)
{
    struct sup_seen seen;
    ppn_vm_supervisor *sup = sup_start("sup", "initrd-deaf.gz", PPN_VM_ACCEL_TCG, &seen);
    pid_t pid = ppn_vm_supervisor_pid(sup), rec = 0;
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(ppn_vm_pid(state, "sup", &rec), 0);
    ck_assert_int_eq(rec, pid);
    ck_assert_uint_eq(ppn_vm_supervisor_accel(sup), PPN_VM_ACCEL_TCG);
    /* the guest runs: its console has output, the monitor says running */
    char con[512];
    struct stat sb;
    ck_assert_int_eq(ppn_vm_path(state, "sup", "console", con, sizeof(con)), 0);
    ck_assert(stat(con, &sb) == 0 && sb.st_size > 0);
    int fd = ppn_vm_supervisor_fd(sup);
    ck_assert_int_ge(fd, 0); /* this kernel has pidfd_open */
    ck_assert_int_eq(ppn_vm_supervisor_timeout(sup, ppnc_now_mono_ms()), -1);
    struct pollfd pw = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pw, 1, 300), 0); /* it runs: not readable */
    ck_assert_int_eq(ppn_vm_supervisor_process(sup, ppnc_now_mono_ms()), PPN_VM_SUPERVISOR_RUNNING);
    int st;
    ck_assert_int_eq(ppn_vm_supervisor_wait_status(sup, &st), -EAGAIN);
    /* a second start of the same VM: refused, the first untouched */
    ppn_vm_supervisor *two = NULL;
    ck_assert_int_eq(ppn_vm_supervisor_start(state, "sup", NULL, PPN_VM_ACCEL_TCG, 2000, NULL, NULL, &two), -EALREADY);
    ck_assert_ptr_null(two);
    ck_assert_int_eq(kill(pid, 0), 0);

    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(poll(&pw, 1, 5000), 1);
    ck_assert_uint_lt(ppnc_now_mono_ms() - t0, 3000);
    ck_assert_int_eq(ppn_vm_supervisor_process(sup, ppnc_now_mono_ms()), PPN_VM_SUPERVISOR_EXITED);
    ck_assert_int_eq(seen.states[PPN_VM_SUPERVISOR_EXITED], 1);
    ck_assert(seen.known && WIFSIGNALED(seen.wait_status) && WTERMSIG(seen.wait_status) == SIGKILL);
    ck_assert_int_eq(ppn_vm_supervisor_wait_status(sup, &st), 0);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    ck_assert(!vm_file_exists("sup", "pid"));
    ck_assert(!vm_file_exists("sup", "monitor"));
    ck_assert_int_eq(ppn_vm_supervisor_fd(sup), -1);
    /* processed again, stopped afterwards: nothing more happens */
    ck_assert_int_eq(ppn_vm_supervisor_process(sup, ppnc_now_mono_ms()), PPN_VM_SUPERVISOR_EXITED);
    ppn_vm_shutdown_result res;
    ck_assert_int_eq(ppn_vm_supervisor_stop(sup, NULL, NULL, NULL, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_NOT_RUNNING);
    ck_assert_int_eq(seen.n, 2);
    ppn_vm_supervisor_free(sup);
}
END_TEST

/* A stop: the graceful sequence on the acpid guest, STOPPING then EXITED,
 * the files removed. */
START_TEST(test_supervisor_stop_graceful)
{
    struct sup_seen seen;
    ppn_vm_supervisor *sup = sup_start("supstop", "initrd.gz", PPN_VM_ACCEL_AUTO, &seen);
    wait_console("supstop", "ppn-guest: ready acpid", 90000);
    pid_t pid = ppn_vm_supervisor_pid(sup);
    ppn_vm_shutdown_opts o;
    ppn_vm_shutdown_opts_init(&o);
    o.deadline_ms = 30000;
    o.reserved[1] = 1;
    ck_assert_int_eq(ppn_vm_supervisor_stop(sup, &o, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(kill(pid, 0), 0); /* refused options: nothing done */
    ck_assert_int_eq(seen.n, 1);
    o.reserved[1] = 0;
    o.pid = 1;                 /* the supervisor's own pid and monitor win */
    o.monitor_path = "/nonexistent";
    struct steps steps = {{0}};
    ppn_vm_shutdown_result res;
    ck_assert_int_eq(ppn_vm_supervisor_stop(sup, &o, on_step, &steps, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL);
    ck_assert_int_eq(steps.seen[PPN_VM_SHUTDOWN_GUEST_DOWN], 1);
    ck_assert_int_eq(seen.n, 3);
    ck_assert_int_eq(seen.order[0], PPN_VM_SUPERVISOR_RUNNING);
    ck_assert_int_eq(seen.order[1], PPN_VM_SUPERVISOR_STOPPING);
    ck_assert_int_eq(seen.order[2], PPN_VM_SUPERVISOR_EXITED);
    int st;
    ck_assert_int_eq(ppn_vm_supervisor_wait_status(sup, &st), -ECHILD); /* the sequence reaped it */
    ck_assert_int_eq(kill(pid, 0), -1);
    ck_assert(!vm_file_exists("supstop", "pid"));
    ck_assert(!vm_file_exists("supstop", "monitor"));
    ppn_vm_supervisor_free(sup);
}
END_TEST

/* Refusals, a QEMU that exits at once, the start deadline: no handle, no
 * QEMU left, no pid file. */
START_TEST(test_supervisor_start_errors)
{
    ppn_vm_supervisor *sup = NULL;
    ck_assert_int_eq(ppn_vm_supervisor_start(NULL, "x", NULL, 0, 1000, NULL, NULL, &sup), -EINVAL);
    ck_assert_int_eq(ppn_vm_supervisor_start(state, "Bad Name", NULL, 0, 1000, NULL, NULL, &sup), -EINVAL);
    ck_assert_int_eq(ppn_vm_supervisor_start(state, "x", NULL, 0, 0, NULL, NULL, &sup), -EINVAL);
    ck_assert_int_eq(ppn_vm_supervisor_start(state, "x", NULL, 1u << 20, 1000, NULL, NULL, &sup), -EINVAL);
    ck_assert_int_eq(ppn_vm_supervisor_start(state, "x", NULL, PPN_VM_ACCEL_KVM | PPN_VM_ACCEL_TCG, 1000, NULL,
                                             NULL, &sup), -EINVAL);
    ck_assert_int_eq(ppn_vm_supervisor_start(state, "x", NULL, 0, 1000, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(ppn_vm_supervisor_start(state, "nosuchvm", NULL, PPN_VM_ACCEL_TCG, 1000, NULL, NULL, &sup),
                     -ENOENT);
    ck_assert_ptr_null(sup);
    ck_assert_int_eq(ppn_vm_supervisor_process(NULL, 0), -EINVAL);
    ck_assert_int_eq(ppn_vm_supervisor_stop(NULL, NULL, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(ppn_vm_supervisor_fd(NULL), -1);
    ppn_vm_supervisor_free(NULL);

    make_vm("supfail", "initrd-deaf.gz", 256);
    /* a "QEMU" that exits at once */
    ck_assert_int_eq(ppn_vm_supervisor_start(state, "supfail", "false", PPN_VM_ACCEL_TCG, 5000, NULL, NULL, &sup),
                     -ECHILD);
    ck_assert_ptr_null(sup);
    ck_assert(!vm_file_exists("supfail", "pid"));
    /* the deadline: no guest is up within 50 ms under TCG; QEMU is killed */
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_vm_supervisor_start(state, "supfail", NULL, PPN_VM_ACCEL_TCG, 50, NULL, NULL, &sup),
                     -ETIMEDOUT);
    ck_assert_uint_lt(ppnc_now_mono_ms() - t0, 3000);
    ck_assert_ptr_null(sup);
    ck_assert(!vm_file_exists("supfail", "pid"));
    pid_t rec = 1;
    ck_assert_int_eq(ppn_vm_pid(state, "supfail", &rec), 0);
    ck_assert_int_eq(rec, 0);
}
END_TEST

/* ---- the accelerator probe against ground truth ---- */

/* Ground truth, independent of the probe: does the real Debian kernel,
 * started by 'qemu' under -accel kvm -cpu host, get through its
 * decompressor and print "Linux version" within 15 s?  (Under working KVM
 * it does in well under a second; where KVM guests hang it never does.) */
static bool linux_runs_under_kvm(const char *qemu, uint64_t *ret_ms)
{
    uint64_t t0 = ppnc_now_mono_ms();
    char con[512], k[512];
    snprintf(con, sizeof(con), "%s/truth-console.log", state);
    snprintf(k, sizeof(k), "%s/vmlinuz", guest_dir);
    unlink(con);
    char serial[600];
    snprintf(serial, sizeof(serial), "file:%s", con);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        execlp(qemu, qemu, "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-no-user-config",
               "-display", "none", "-no-reboot", "-kernel", k, "-append",
               "console=ttyS0 earlyprintk=ttyS0 panic=-1 loglevel=8", "-serial", serial, (char *)NULL);
        _exit(127);
    }
    bool found = false;
    uint64_t end = ppnc_now_mono_ms() + 15000;
    while (!found && ppnc_now_mono_ms() < end) {
        uint8_t *d;
        size_t n;
        if (ppnc_read_file(con, 1 << 22, &d, &n) == 0) {
            found = memmem(d, n, "Linux version", 13) != NULL;
            free(d);
        }
        if (!found && waitpid(pid, NULL, WNOHANG) == pid) {
            pid = 0;
            break;
        }
        usleep(50 * 1000);
    }
    *ret_ms = ppnc_now_mono_ms() - t0;
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return found;
}

START_TEST(test_probe_payload_runs_under_tcg)
{
    /* the probe guest itself is right: TCG runs it to its exit port */
    uint32_t ms = 0;
    ck_assert_int_eq(ppn_vmm_accel_probe(NULL, PPN_VM_ACCEL_TCG, 30000, &ms), 1);
    printf("accel probe under TCG: %u ms\n", ms);
    /* and it fails when it cannot run: too short a deadline, no binary */
    ck_assert_int_eq(ppn_vmm_accel_probe(NULL, PPN_VM_ACCEL_TCG, 1, NULL), 0);
    ck_assert_int_eq(ppn_vmm_accel_probe("/nonexistent/qemu", PPN_VM_ACCEL_TCG, 5000, NULL), -ENOENT);
    ck_assert_int_eq(ppn_vmm_accel_probe(NULL, PPN_VM_ACCEL_KVM | PPN_VM_ACCEL_TCG, 5000, NULL), -EINVAL);
}
END_TEST

static void probe_matches_truth(const char *qemu, const char *label)
{
    uint64_t linux_ms;
    bool truth = linux_runs_under_kvm(qemu, &linux_ms);
    uint64_t t0 = ppnc_now_mono_ms();
    int probe = ppn_vmm_kvm_probe(qemu);
    uint64_t ms = ppnc_now_mono_ms() - t0;
    printf("%s: Linux under KVM %s (%llu ms); probe says %d after %llu ms\n", label,
           truth ? "runs" : "does not run", (unsigned long long)linux_ms, probe, (unsigned long long)ms);
    /* Never KVM where a Linux guest does not run; always KVM where it is
     * up within 3 s (working KVM: well under one).  A guest that crawls up
     * in between may go either way: TCG is the safe answer. */
    if (!truth)
        ck_assert_int_eq(probe, 0);
    else if (linux_ms <= 3000)
        ck_assert_int_eq(probe, 1);
    else
        ck_assert(probe == 0 || probe == 1);
    ck_assert_int_eq(ppn_vm_accel_resolve(qemu, PPN_VM_ACCEL_AUTO),
                     (int)(probe == 1 ? PPN_VM_ACCEL_KVM : PPN_VM_ACCEL_TCG));
    ck_assert_uint_le(ms, PPN_VMM_KVM_PROBE_TIMEOUT_MS + 1000);
}

START_TEST(test_probe_matches_linux)
{
    probe_matches_truth("qemu-system-x86_64", "qemu-system-x86_64");
    ck_assert_int_eq(ppn_vmm_kvm_usable(), ppn_vmm_kvm_probe(NULL));
}
END_TEST

/* The real QEMU with the host CPU model minus arch-capabilities: on nested
 * machines whose KVM refuses MSR 0x10a (as on the build machines) this is a
 * QEMU that starts and quits cleanly under KVM while a Linux guest never gets
 * past its decompressor -- the machines of issue 10.  Elsewhere it is an
 * ordinary QEMU, and the probe must agree with Linux either way. */
START_TEST(test_probe_matches_linux_hanging_kvm)
{
    char w[512];
    snprintf(w, sizeof(w), "%s/qemu-host-minus-arch-caps", state);
    FILE *f = fopen(w, "w");
    ck_assert_ptr_nonnull(f);
    fputs("#!/bin/sh\n"
          "prev=\n"
          "for a do shift; [ \"$prev\" = -cpu ] && [ \"$a\" = host ] && a=host,-arch-capabilities;"
          " set -- \"$@\" \"$a\"; prev=$a; done\n"
          "exec qemu-system-x86_64 \"$@\"\n",
          f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(w, 0755), 0);
    probe_matches_truth(w, "qemu -cpu host,-arch-capabilities");

    /* the check the probe replaced is fooled here: a paused KVM QEMU starts
     * and quits cleanly (reported, not asserted: it depends on the host) */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "printf '%%s\\n' '{\"execute\":\"qmp_capabilities\"}' '{\"execute\":\"quit\"}' | "
             "timeout 10 '%s' -accel kvm -cpu host -S -display none -nodefaults -no-user-config -m 16 "
             "-qmp stdio >/dev/null 2>&1",
             w);
    printf("paused KVM QEMU start-and-quit check: %s\n", system(cmd) == 0 ? "passes" : "fails");
}
END_TEST

/* Guest images end to end: a qcow2 overlay made by the library on a raw
 * base, a cloud-init seed written by ppn_vm_start from the spec; the guest
 * finds the seed by its label "cidata", takes the hostname and prints the
 * user it was given, reads the base through the overlay and writes to it;
 * after a graceful shutdown the base is untouched and the write is in the
 * overlay. */
START_TEST(test_cloud_init_seed_and_overlay)
{
    char base[512], disk[512];
    snprintf(base, sizeof(base), "%s/base.raw", state);
    snprintf(disk, sizeof(disk), "%s/ci-disk.qcow2", state);
    size_t bsize = 4u << 20;
    uint8_t *b = malloc(bsize);
    memset(b, 0x5a, bsize);
    memcpy(b, "PPN-BASE", 8);
    ck_assert_int_eq(ppnc_write_file_atomic(base, b, bsize, 0644), 0);
    const char *why = NULL;
    ck_assert_int_eq(ppn_vm_image_create(disk, base, 0, &why), 0);
    ppn_vm_image_info info;
    ck_assert_int_eq(ppn_vm_image_probe(disk, &info, &why), 0);
    ck_assert_int_eq(info.format, PPN_VM_DISK_FORMAT_QCOW2);

    ppn_vm_spec *s = new_spec("ci", "initrd.gz", 256);
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, disk, 0), 0);
    ck_assert_int_eq(ppn_vm_spec_set_base(s, base), 0);
    ck_assert_int_eq(ppn_vm_spec_set_disk_format(s, info.format), 0);
    const char *keys[] = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl foundry@a"};
    ppn_vm_cloud_init ci = {.hostname = "vm-mediakit", .user = "foundry", .ssh_keys = keys, .n_ssh_keys = 1,
                            .network_config = "version: 2\nethernets: {}\n"};
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, &ci, &why), 0);
    ck_assert_int_eq(ppn_vm_spec_save(s, state, true), 0);
    ppn_vm_spec_free(s);
    char seed[512];
    ck_assert_int_eq(ppn_vm_path(state, "ci", "seed", seed, sizeof(seed)), 0);
    ck_assert_int_ne(access(seed, F_OK), 0); /* ppn_vm_start writes it */

    pid_t pid = start_vm("ci");
    ck_assert_int_eq(access(seed, F_OK), 0);
    wait_console("ci", "ppn-guest: cidata /dev/vdb hostname=vm-mediakit user=foundry keys=1 network-config=yes", 90000);
    wait_console("ci", "ppn-guest: vda starts PPN-BASE", 5000);
    wait_console("ci", "ppn-guest: vda sector 1 written", 10000);
    wait_console("ci", "ppn-guest: ready acpid", 10000);

    char mon[512];
    monitor_path("ci", mon);
    ppn_vm_shutdown_opts o = vmm_test_shutdown_opts(mon, pid, 30000);
    ppn_vm_shutdown_result res;
    ck_assert_int_eq(ppn_vm_shutdown(&o, NULL, NULL, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL);

    /* the base is as it was; the guest's write is in the overlay */
    uint8_t *now;
    size_t nlen;
    ck_assert_int_eq(ppnc_read_file(base, bsize, &now, &nlen), 0);
    ck_assert(nlen == bsize && memcmp(now, b, bsize) == 0);
    free(now);
    char cmd[2048], out[600];
    snprintf(out, sizeof(out), "%s/ci-disk.raw", state);
    snprintf(cmd, sizeof(cmd), "qemu-img check -q '%s' && qemu-img convert -O raw '%s' '%s'", disk, disk, out);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(ppnc_read_file(out, bsize, &now, &nlen), 0);
    ck_assert(nlen == bsize);
    ck_assert_int_eq(memcmp(now, "PPN-BASE", 8), 0);
    ck_assert_int_eq(memcmp(now + 512, "PPN-GUEST-WROTE", 15), 0);
    ck_assert_int_eq(memcmp(now + 1024, b + 1024, bsize - 1024), 0);
    free(now);
    free(b);
}
END_TEST

#include "ppn-check.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test-guest BUILD-GUEST-SH GUEST-DIR\n");
        return 1;
    }
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' '%s'", argv[1], argv[2]);
    if (system(cmd) != 0) {
        fprintf(stderr, "build-guest.sh failed\n");
        return 1;
    }
    guest_dir = realpath(argv[2], NULL); /* the spec wants absolute paths */
    if (!guest_dir)
        return 1;
    snprintf(state, sizeof(state), "/tmp/ppn-vmm-guest-XXXXXX");
    if (!mkdtemp(state))
        return 1;
    Suite *s = suite_create("vmm-guest");
    TCase *tc = tcase_create("qemu");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, test_balloon_and_graceful);
    tcase_add_test(tc, test_deaf_guest_fallback);
    tcase_add_test(tc, test_hung_qemu_signals);
    tcase_add_test(tc, test_qemu_killed_mid_command);
    tcase_add_test(tc, test_cloud_init_seed_and_overlay);
    tcase_add_test(tc, test_supervisor_watch_exit);
    tcase_add_test(tc, test_supervisor_stop_graceful);
    tcase_add_test(tc, test_supervisor_start_errors);
    suite_add_tcase(s, tc);
    TCase *ta = tcase_create("accel");
    tcase_set_timeout(ta, 120);
    tcase_add_test(ta, test_probe_payload_runs_under_tcg);
    tcase_add_test(ta, test_probe_matches_linux);
    tcase_add_test(ta, test_probe_matches_linux_hanging_kvm);
    suite_add_tcase(s, ta);
    int failed = ppn_check_run(s);
    cleanup_state();
    free((char *)guest_dir);
    return failed;
}
