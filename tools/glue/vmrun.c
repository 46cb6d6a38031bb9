/* The agent's creation worker and its runners: see vmrun.h. */
#include "vmrun.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "glue-log.h"
#include "ppn-common.h"
#include "vmreq.h"

int glue_run_wait(char *const argv[], int timeout_ms)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        execv(argv[0], argv);
        _exit(127);
    }
    uint64_t end = ppnc_now_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
        if (w < 0 && errno != EINTR)
            return -errno;
        if (ppnc_now_mono_ms() >= end) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -ETIMEDOUT;
        }
        usleep(20000);
    }
}

const char *glue_systemctl_path(void)
{
    static const char *const paths[] = {"/usr/bin/systemctl", "/bin/systemctl"};
    for (size_t i = 0; i < 2; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

bool glue_can_change_user(void)
{
    uint8_t *text = NULL;
    size_t len;
    bool can = false;
    if (ppnc_read_file("/proc/self/status", 1 << 16, &text, &len) == 0) {
        const char *e = strstr((const char *)text, "\nCapEff:");
        unsigned long long caps = 0;
        /* CAP_SETGID 6, CAP_SETUID 7 */
        can = e && sscanf(e + 9, "%llx", &caps) == 1 && (caps & 0xc0) == 0xc0;
    }
    free(text);
    return can;
}

bool glue_vm_runner_systemd(struct glue_vm_runner *r)
{
    if (r->systemd < 0)
        r->systemd = access("/run/systemd/system", F_OK) == 0 &&
                     (r->systemctl || glue_systemctl_path() != NULL);
    return r->systemd == 1;
}

int glue_vm_start_unit(const struct glue_vm_runner *r, const ppn_vm_spec *spec, char *path,
                       size_t path_size, const char **ret_why)
{
    char self[PATH_MAX], sdir[PATH_MAX], uname[128], upath[PATH_MAX];
    const char *bin = r->binary;
    if (!bin) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
            return *ret_why = "cannot find the ppn-vm binary (/proc/self/exe)", n < 0 ? -errno : -ENOENT;
        self[n] = '\0';
        bin = self;
    }
    if (!realpath(r->state_dir, sdir))
        return *ret_why = "cannot resolve the state directory", -errno;
    const char *ctl = r->systemctl ? r->systemctl : glue_systemctl_path();
    ppn_vm_unit_opts uo = {.ppn_vm_binary = bin, .state_dir = sdir, .accel = r->accel};
    char *text = NULL;
    int e = ppn_vm_unit(spec, &uo, &text);
    if (e == 0)
        e = ppn_vm_unit_name(spec, uname, sizeof(uname));
    if (e == 0 && (size_t)snprintf(upath, sizeof(upath), "%s/%s", r->unit_dir, uname) >= sizeof(upath))
        e = -ENAMETOOLONG;
    if (e < 0) {
        free(text);
        return *ret_why = "cannot generate the unit", e;
    }
    e = ppnc_write_file_atomic(upath, text, strlen(text), 0644);
    free(text);
    if (e < 0)
        return *ret_why = "cannot write the unit file", e;
    if (path)
        snprintf(path, path_size, "%s", upath);
    if (!ctl)
        return *ret_why = "systemctl not found", -ENOENT;
    char *reload[] = {(char *)ctl, "daemon-reload", NULL};
    char *start[] = {(char *)ctl, "start", uname, NULL};
    if ((e = glue_run_wait(reload, GLUE_VM_RELOAD_MS)) < 0)
        return *ret_why = "systemctl daemon-reload failed", e;
    if ((e = glue_run_wait(start, GLUE_VM_UNIT_START_MS)) < 0)
        return *ret_why = "systemctl start failed (see journalctl -u the unit)", e;
    return 0;
}

/* -EXDEV with the seeds' reason and a log line when 'spec' is pinned
 * elsewhere; 0 otherwise. */
static int pinned_refusal(const ppn_vm_spec *spec, const char *vm, const char *node_name,
                          const char *ledger_name, const char **why, glue_vm_log_fn log, void *ud)
{
    const char *pin = glue_vm_pinned_elsewhere(spec, node_name, ledger_name);
    if (!pin)
        return 0;
    *why = ppn_vm_spec_type(spec) == PPN_VM_TYPE_TOTEBOX
               ? "VM-Totebox is pinned to its node and starts nowhere else"
               : "the VM is pinned to another node";
    glue_logf(log, ud, "refused '%s': pinned to node '%s', this is '%s'", vm, pin, node_name);
    return -EXDEV;
}

static bool same_spec(const ppn_vm_spec *a, const ppn_vm_spec *b)
{
    char *j1 = NULL, *j2 = NULL;
    bool same = ppn_vm_spec_to_json(a, &j1) == 0 && ppn_vm_spec_to_json(b, &j2) == 0 &&
                strcmp(j1, j2) == 0;
    free(j1);
    free(j2);
    return same;
}

int glue_vm_create(struct glue_vm_runner *run, const ppn_fleet_request *rq, const char *node_name,
                   const char *ledger_name, glue_vm_log_fn log, void *ud)
{
    const char *why = NULL;
    ppn_vm_spec *spec = NULL, *have = NULL;
    bool saved = false, made = false;
    uint64_t t0 = ppnc_now_mono_ms();
    /* QEMU's user: a unit's QEMU starts with systemd's privileges; the
     * direct runner's with this process's, which must be able to drop them */
    const char *dflt = run->run_as_default ? run->run_as_default : GLUE_VM_RUN_AS_DEFAULT;
    if (!glue_vm_runner_systemd(run) && !glue_can_change_user())
        dflt = "";
    int r = glue_vm_from_request(rq, node_name, dflt, &spec, &why);
    if (r < 0)
        goto fail;
    /* Pinned elsewhere: refused, whether by what is here or by the request. */
    r = ppn_vm_spec_load(run->state_dir, rq->vm_name, &have, NULL);
    int pin = r == 0 ? pinned_refusal(have, rq->vm_name, node_name, ledger_name, &why, log, ud) : 0;
    if (pin == 0)
        pin = pinned_refusal(spec, rq->vm_name, node_name, ledger_name, &why, log, ud);
    if (pin < 0) {
        r = pin;
        goto fail;
    }
    if (r == 0) {
        /* It lives here already: a request for it starts it, if it is the
         * same VM and does not run. */
        pid_t pid = 0;
        if (ppn_vm_pid(run->state_dir, rq->vm_name, &pid) == 0 && pid > 0) {
            why = "it runs already";
            r = -EALREADY;
            goto fail;
        }
        /* QEMU's user is this host's choice, not part of what was requested */
        if (ppn_vm_spec_set_run_as(spec, ppn_vm_spec_run_as(have)) < 0 || !same_spec(have, spec)) {
            why = "a VM of that name exists on this node with another specification";
            r = -EEXIST;
            goto fail;
        }
        ppn_vm_spec_free(spec);
        spec = have;
        have = NULL;
    } else if (r != -ENOENT) {
        why = "the VM's stored specification does not load";
        goto fail;
    } else {
        const char *field = NULL;
        r = ppn_vm_spec_check_files(spec, &field);
        if (r < 0 && !(r == -ENOENT && field && strcmp(field, "disk") == 0)) {
            why = field ? field : "files";
            goto fail;
        }
        if ((r = glue_vm_prepare_disk(spec, &made, &why)) < 0)
            goto fail;
        if ((r = ppn_vm_spec_save(spec, run->state_dir, true)) < 0) {
            why = "cannot write the specification";
            goto fail;
        }
        saved = true;
    }
    pid_t qpid = 0;
    if (glue_vm_runner_systemd(run)) {
        char upath[PATH_MAX];
        r = glue_vm_start_unit(run, spec, upath, sizeof(upath), &why);
        if (r == 0)
            glue_logf(log, ud, "installed %s and started it", upath);
    } else {
        r = ppn_vm_start(run->state_dir, rq->vm_name, run->qemu, run->accel, GLUE_VM_DIRECT_START_MS,
                         &qpid);
        if (r < 0)
            why = r == -ECHILD ? "QEMU exited during start (see qemu.log)" : "start";
    }
    if (r < 0) {
        glue_logf(log, ud, "Failed to start '%s': %s: %s", rq->vm_name, why, strerror(-r));
        ppn_vm_spec_free(spec);
        return r;
    }
    glue_logf(log, ud, "started VM '%s' (%s, %u MiB, %u vCPUs) %s%d in %" PRIu64 " ms", rq->vm_name,
          ppn_vm_type_to_string(ppn_vm_spec_type(spec)), ppn_vm_spec_memory_mib(spec),
          ppn_vm_spec_vcpus(spec), qpid ? "QEMU pid " : "by systemd", qpid ? (int)qpid : 0,
          ppnc_now_mono_ms() - t0);
    ppn_vm_spec_free(spec);
    return 0;
fail:
    if (made && !saved)
        unlink(ppn_vm_spec_disk(spec));
    glue_logf(log, ud, "Failed to create '%s': %s: %s", rq->vm_name, why ? why : "refused", strerror(-r));
    ppn_vm_spec_free(spec);
    ppn_vm_spec_free(have);
    return r;
}

bool glue_vm_work_starting(const struct glue_vm_work *w, const char *vm)
{
    for (unsigned i = 0; i < w->n_work; i++)
        if (strcmp(w->work[i].name, vm) == 0)
            return true;
    return false;
}

bool glue_vm_work_failed(const struct glue_vm_work *w, const char *vm)
{
    for (unsigned i = 0; i < w->n_failed && i < GLUE_VM_WORK_MAX; i++)
        if (strcmp(w->failed[i], vm) == 0)
            return true;
    return false;
}

void glue_vm_work_set_failed(struct glue_vm_work *w, const char *vm, bool failed)
{
    unsigned n = w->n_failed < GLUE_VM_WORK_MAX ? w->n_failed : GLUE_VM_WORK_MAX;
    for (unsigned i = 0; i < n; i++)
        if (strcmp(w->failed[i], vm) == 0) {
            if (!failed)
                memmove(w->failed[i], w->failed[i + 1], (n - i - 1) * sizeof(w->failed[0]));
            w->n_failed = failed ? n : n - 1;
            return;
        }
    if (!failed)
        return;
    if (n == GLUE_VM_WORK_MAX) { /* the oldest goes */
        memmove(w->failed[0], w->failed[1], (n - 1) * sizeof(w->failed[0]));
        n--;
    }
    snprintf(w->failed[n], sizeof(w->failed[n]), "%s", vm);
    w->n_failed = n + 1;
}

int glue_vm_work_spawn(struct glue_vm_work *w, struct glue_vm_runner *r, const ppn_fleet_request *rq,
                       const char *node_name, const char *ledger_name, glue_vm_log_fn log,
                       void *userdata, uint64_t now_ms)
{
    if (glue_vm_work_starting(w, rq->vm_name))
        return -EALREADY;
    if (w->n_work == GLUE_VM_WORK_MAX)
        return -EBUSY;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        int e = glue_vm_create(r, rq, node_name, ledger_name, log, userdata);
        fflush(NULL);
        _exit(e < 0 ? 1 : 0);
    }
    w->work[w->n_work].pid = pid;
    w->work[w->n_work].t0_ms = now_ms;
    snprintf(w->work[w->n_work].name, sizeof(w->work[0].name), "%s", rq->vm_name);
    w->n_work++;
    return 0;
}

int glue_vm_work_reap(struct glue_vm_work *w)
{
    int st, ended = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (unsigned i = 0; i < w->n_work; i++) {
            if (w->work[i].pid != pid)
                continue;
            char name[PPN_FLEET_NAME_MAX + 1];
            snprintf(name, sizeof(name), "%s", w->work[i].name);
            glue_vm_work_set_failed(w, name, !(WIFEXITED(st) && WEXITSTATUS(st) == 0));
            w->work[i] = w->work[--w->n_work];
            ended++;
            break;
        }
    }
    return ended;
}
