/* The supervisor of a started QEMU (PPN_VMM_1.3): start within a deadline,
 * a pidfd for the caller's poll loop, the exit reaped and the VM's files
 * removed, a graceful shutdown on request; each change of state reported
 * to a callback.  What ppn-vm start's supervisor process runs. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ppn/vmm.h"

/* Without a pidfd (Linux < 5.3) the exit is looked for this often. */
#define SUPERVISOR_STEP_MS 200

struct ppn_vm_supervisor {
    char *state_dir;
    char name[PPN_VM_NAME_MAX + 1];
    pid_t pid;
    unsigned accel;
    int pidfd;
    ppn_vm_supervisor_state state;
    bool status_known;
    int wait_status;
    uint64_t next_ms; /* without a pidfd: when process() is due */
    ppn_vm_supervisor_state_fn cb;
    void *userdata;
};

static void set_state(ppn_vm_supervisor *s, ppn_vm_supervisor_state st)
{
    s->state = st;
    if (s->cb)
        s->cb(st, s->status_known, s->wait_status, s->userdata);
}

PPN_EXPORT int ppn_vm_supervisor_start(const char *state_dir, const char *name, const char *qemu_binary,
                                       unsigned flags, int timeout_ms, ppn_vm_supervisor_state_fn cb,
                                       void *userdata, ppn_vm_supervisor **ret)
{
    if (!state_dir || !ret || timeout_ms <= 0 || !ppn_vm_name_valid(name) ||
        (flags & ~(PPN_VM_ACCEL_KVM | PPN_VM_ACCEL_TCG | PPN_VM_START_PAUSED)))
        return -EINVAL;
    ppn_vm_supervisor *s = calloc(1, sizeof(*s));
    if (!s || !(s->state_dir = strdup(state_dir))) {
        free(s);
        return -ENOMEM;
    }
    strcpy(s->name, name);
    s->pidfd = -1;
    int accel = ppn_vm_accel_resolve(qemu_binary, flags); /* what AUTO means here, probed once */
    int r = accel < 0 ? accel
                      : ppn_vm_start(state_dir, name, qemu_binary,
                                     (unsigned)accel | (flags & PPN_VM_START_PAUSED), timeout_ms, &s->pid);
    if (r < 0) {
        ppn_vm_supervisor_free(s);
        return r;
    }
    s->accel = (unsigned)accel;
    s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
    s->cb = cb;
    s->userdata = userdata;
    set_state(s, PPN_VM_SUPERVISOR_RUNNING);
    *ret = s;
    return 0;
}

PPN_EXPORT pid_t ppn_vm_supervisor_pid(const ppn_vm_supervisor *s)
{
    return s ? s->pid : 0;
}

PPN_EXPORT unsigned ppn_vm_supervisor_accel(const ppn_vm_supervisor *s)
{
    return s ? s->accel : 0;
}

PPN_EXPORT int ppn_vm_supervisor_fd(const ppn_vm_supervisor *s)
{
    return s && s->state != PPN_VM_SUPERVISOR_EXITED ? s->pidfd : -1;
}

PPN_EXPORT int ppn_vm_supervisor_timeout(const ppn_vm_supervisor *s, uint64_t now_ms)
{
    if (!s || s->state == PPN_VM_SUPERVISOR_EXITED || s->pidfd >= 0)
        return -1;
    return now_ms >= s->next_ms ? 0 : (int)(s->next_ms - now_ms);
}

/* Reaps QEMU (it has exited, or the shutdown sequence reaped it), removes
 * its files, goes to EXITED.  0, or -ECHILD when the status is unknown. */
static int reap(ppn_vm_supervisor *s)
{
    int st = 0, r;
    while ((r = ppn_vm_supervise(s->state_dir, s->name, s->pid, &st)) == -EINTR)
        ;
    s->status_known = r == 0;
    s->wait_status = r == 0 ? st : 0;
    set_state(s, PPN_VM_SUPERVISOR_EXITED);
    return r;
}

PPN_EXPORT int ppn_vm_supervisor_process(ppn_vm_supervisor *s, uint64_t now_ms)
{
    if (!s)
        return -EINVAL;
    if (s->state == PPN_VM_SUPERVISOR_EXITED)
        return (int)s->state;
    /* exited?  Not reaped here (WNOWAIT): ppn_vm_supervise does that */
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    bool gone = waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == s->pid;
    if (gone)
        reap(s);
    else
        s->next_ms = now_ms + SUPERVISOR_STEP_MS;
    return (int)s->state;
}

PPN_EXPORT int ppn_vm_supervisor_stop(ppn_vm_supervisor *s, const ppn_vm_shutdown_opts *opts,
                                      ppn_vm_shutdown_progress_fn progress, void *userdata,
                                      ppn_vm_shutdown_result *ret_result)
{
    if (!s || (opts && ((opts->reserved[0] | opts->reserved[1] | opts->reserved[2] | opts->reserved[3]) ||
                        opts->step_timeout_ms == 0 || opts->step_timeout_ms > INT32_MAX)))
        return -EINVAL; /* what ppn_vm_shutdown refuses, refused before anything is done */
    ppn_vm_shutdown_result res;
    memset(&res, 0, sizeof(res));
    if (s->state == PPN_VM_SUPERVISOR_EXITED) {
        res.outcome = PPN_VM_SHUTDOWN_OUTCOME_NOT_RUNNING;
        if (ret_result)
            *ret_result = res;
        return 0;
    }
    ppn_vm_shutdown_opts o;
    if (opts)
        o = *opts;
    else
        ppn_vm_shutdown_opts_init(&o);
    char mon[PATH_MAX];
    int r = ppn_vm_path(s->state_dir, s->name, "monitor", mon, sizeof(mon));
    o.monitor_path = r == 0 ? mon : NULL;
    o.pid = s->pid;
    set_state(s, PPN_VM_SUPERVISOR_STOPPING);
    int sr = ppn_vm_shutdown(&o, progress, userdata, &res);
    if (ret_result)
        *ret_result = res;
    /* the sequence reaps a child it waits for: the status is then unknown */
    reap(s);
    return sr;
}

PPN_EXPORT int ppn_vm_supervisor_wait_status(const ppn_vm_supervisor *s, int *ret_wait_status)
{
    if (!s || !ret_wait_status)
        return -EINVAL;
    if (s->state != PPN_VM_SUPERVISOR_EXITED)
        return -EAGAIN;
    if (!s->status_known)
        return -ECHILD;
    *ret_wait_status = s->wait_status;
    return 0;
}

PPN_EXPORT void ppn_vm_supervisor_free(ppn_vm_supervisor *s)
{
    if (!s)
        return;
    if (s->pidfd >= 0)
        close(s->pidfd);
    free(s->state_dir);
    free(s);
}
