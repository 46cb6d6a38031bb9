/* Operations over QMP and the graceful shutdown sequence. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ppn-common.h"
#include "ppn/vmm.h"
#include "qmp-internal.h"
#include "vmm-internal.h"

static int map_device_error(ppn_qmp *qmp, int r)
{
    if (r == -EREMOTEIO && strcmp(ppn_qmp_last_error_class(qmp), "DeviceNotActive") == 0)
        return -ENODEV;
    if (r == -EREMOTEIO && strcmp(ppn_qmp_last_error_class(qmp), "DeviceNotFound") == 0)
        return -ENODEV;
    return r;
}

PPN_EXPORT int ppn_qmp_query_status(ppn_qmp *qmp, int timeout_ms, ppn_qmp_status *ret_status)
{
    if (!ret_status)
        return -EINVAL;
    json_t *o = NULL;
    int r = qmp_execute_json(qmp, "query-status", NULL, timeout_ms, &o);
    if (r < 0)
        return r;
    json_t *st = json_object_get(o, "status");
    json_t *run = json_object_get(o, "running");
    if (!json_is_string(st) || !json_is_boolean(run)) {
        json_decref(o);
        return -EPROTO;
    }
    ppn_qmp_status s = {0};
    s.running = json_is_true(run);
    s.singlestep = json_is_true(json_object_get(o, "singlestep"));
    size_t sl = strlen(json_string_value(st));
    if (sl >= sizeof(s.status))
        sl = sizeof(s.status) - 1;
    memcpy(s.status, json_string_value(st), sl);
    s.status[sl] = '\0';
    json_decref(o);
    *ret_status = s;
    return 0;
}

PPN_EXPORT int ppn_qmp_query_kvm(ppn_qmp *qmp, int timeout_ms, bool *ret_enabled)
{
    if (!ret_enabled)
        return -EINVAL;
    json_t *o = NULL;
    int r = qmp_execute_json(qmp, "query-kvm", NULL, timeout_ms, &o);
    if (r < 0)
        return r;
    json_t *en = json_object_get(o, "enabled");
    if (!json_is_boolean(en)) {
        json_decref(o);
        return -EPROTO;
    }
    *ret_enabled = json_is_true(en);
    json_decref(o);
    return 0;
}

PPN_EXPORT int ppn_qmp_system_reset(ppn_qmp *qmp, int timeout_ms)
{
    return qmp_execute_internal(qmp, "system_reset", NULL, timeout_ms, NULL);
}

PPN_EXPORT int ppn_qmp_stop(ppn_qmp *qmp, int timeout_ms)
{
    return qmp_execute_internal(qmp, "stop", NULL, timeout_ms, NULL);
}

PPN_EXPORT int ppn_qmp_cont(ppn_qmp *qmp, int timeout_ms)
{
    return qmp_execute_internal(qmp, "cont", NULL, timeout_ms, NULL);
}

PPN_EXPORT int ppn_qmp_powerdown(ppn_qmp *qmp, int timeout_ms)
{
    return qmp_execute_internal(qmp, "system_powerdown", NULL, timeout_ms, NULL);
}

PPN_EXPORT int ppn_qmp_quit(ppn_qmp *qmp, int timeout_ms)
{
    int r = qmp_execute_internal(qmp, "quit", NULL, timeout_ms, NULL);
    if (r == -ECONNRESET)
        return 0;
    return r;
}

PPN_EXPORT int ppn_qmp_balloon_set(ppn_qmp *qmp, uint64_t target_bytes, int timeout_ms)
{
    if (target_bytes == 0 || target_bytes > INT64_MAX)
        return -EINVAL;
    char args[64];
    snprintf(args, sizeof(args), "{\"value\":%" PRIu64 "}", target_bytes);
    return map_device_error(qmp, qmp_execute_internal(qmp, "balloon", args, timeout_ms, NULL));
}

PPN_EXPORT int ppn_qmp_balloon_query(ppn_qmp *qmp, int timeout_ms, uint64_t *ret_actual_bytes)
{
    if (!ret_actual_bytes)
        return -EINVAL;
    json_t *o = NULL;
    int r = qmp_execute_json(qmp, "query-balloon", NULL, timeout_ms, &o);
    if (r < 0)
        return map_device_error(qmp, r);
    uint64_t v;
    if (!qmp_json_u64(json_object_get(o, "actual"), &v)) {
        json_decref(o);
        return -EPROTO;
    }
    json_decref(o);
    *ret_actual_bytes = v;
    return 0;
}

PPN_EXPORT const char *ppn_vm_balloon_qom_path(void)
{
    return PPN_VM_BALLOON_QOM_PATH;
}

static int qom_path_arg(const char *path, const char *prop, json_t *value, char **ret)
{
    json_t *o = json_pack("{s:s,s:s}", "path", path, "property", prop);
    if (!o)
        return -ENOMEM;
    if (value && json_object_set_new(o, "value", value) < 0) {
        json_decref(o);
        return -ENOMEM;
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

PPN_EXPORT int ppn_qmp_guest_stats_enable(ppn_qmp *qmp, const char *device_path, uint32_t interval_s,
                                          int timeout_ms)
{
    if (!device_path)
        device_path = PPN_VM_BALLOON_QOM_PATH;
    char *args;
    int r = qom_path_arg(device_path, "guest-stats-polling-interval", json_integer(interval_s), &args);
    if (r < 0)
        return r;
    r = qmp_execute_internal(qmp, "qom-set", args, timeout_ms, NULL);
    free(args);
    return map_device_error(qmp, r);
}

PPN_EXPORT int ppn_qmp_guest_stats(ppn_qmp *qmp, const char *device_path, int timeout_ms,
                                   ppn_vmm_guest_stats *ret_stats)
{
    if (!ret_stats)
        return -EINVAL;
    if (!device_path)
        device_path = PPN_VM_BALLOON_QOM_PATH;
    char *args;
    json_t *o = NULL;
    int r = qom_path_arg(device_path, "guest-stats", NULL, &args);
    if (r < 0)
        return r;
    r = qmp_execute_json(qmp, "qom-get", args, timeout_ms, &o);
    free(args);
    if (r < 0) {
        r = map_device_error(qmp, r);
        /* "guest hasn't updated any stats yet" / polling disabled */
        if (r == -EREMOTEIO && strcmp(ppn_qmp_last_error_class(qmp), "GenericError") == 0)
            return -ENODATA;
        return r;
    }
    json_t *stats = json_object_get(o, "stats");
    json_t *lu = json_object_get(o, "last-update");
    if (!json_is_object(stats)) {
        json_decref(o);
        return -EPROTO;
    }
    static const struct {
        const char *key;
        size_t off;
    } keys[] = {
        {"stat-swap-in", offsetof(ppn_vmm_guest_stats, swap_in)},
        {"stat-swap-out", offsetof(ppn_vmm_guest_stats, swap_out)},
        {"stat-major-faults", offsetof(ppn_vmm_guest_stats, major_faults)},
        {"stat-minor-faults", offsetof(ppn_vmm_guest_stats, minor_faults)},
        {"stat-free-memory", offsetof(ppn_vmm_guest_stats, free_memory)},
        {"stat-total-memory", offsetof(ppn_vmm_guest_stats, total_memory)},
        {"stat-available-memory", offsetof(ppn_vmm_guest_stats, available_memory)},
        {"stat-disk-caches", offsetof(ppn_vmm_guest_stats, disk_caches)},
    };
    ppn_vmm_guest_stats s;
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(keys); i++) {
        uint64_t v = UINT64_MAX;
        json_t *j = json_object_get(stats, keys[i].key);
        if (j && !qmp_json_u64(j, &v))
            v = UINT64_MAX;
        memcpy((char *)&s + keys[i].off, &v, sizeof(v));
    }
    uint64_t t = 0;
    s.last_update = qmp_json_u64(lu, &t) && t != UINT64_MAX ? (int64_t)t : 0;
    json_decref(o);
    if (s.last_update == 0)
        return -ENODATA;
    *ret_stats = s;
    return 0;
}

/* ---- the process ---- */

int vmm_pid_exited(pid_t pid)
{
    if (pid <= 0)
        return 1;
    int st;
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid)
        return 1;
    if (w == 0)
        return 0; /* our child, not yet reaped (maybe its threads still exit) */
    if (errno != ECHILD)
        return 0;
    /* not our child */
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 1;
    /* someone else's zombie? */
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
        return 1;
    return 0;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* 1 when the process exited within 'ms'. */
static int wait_pid_exit(pid_t pid, uint32_t ms)
{
    uint64_t end = ppnc_now_mono_ms() + ms;
    for (;;) {
        if (vmm_pid_exited(pid))
            return 1;
        if (ppnc_now_mono_ms() >= end)
            return 0;
        sleep_ms(20);
    }
}

PPN_EXPORT void ppn_vm_shutdown_opts_init(ppn_vm_shutdown_opts *opts)
{
    if (!opts)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->deadline_ms = 60000;
    opts->repress_interval_ms = 10000;
    opts->step_timeout_ms = 5000;
    opts->quit_wait_ms = 5000;
    opts->term_wait_ms = 10000;
    opts->kill_wait_ms = 5000;
}

PPN_EXPORT uint64_t ppn_vm_shutdown_max_ms(const ppn_vm_shutdown_opts *o)
{
    if (!o)
        return 0;
    /* connect + press, the wait (re-presses are bounded by it, plus one
     * step each at most), quit + its wait, SIGTERM, SIGKILL */
    uint64_t presses = o->repress_interval_ms ? o->deadline_ms / o->repress_interval_ms + 1 : 1;
    return (uint64_t)o->step_timeout_ms * (2 + presses + 1) + o->deadline_ms + o->quit_wait_ms +
           o->term_wait_ms + o->kill_wait_ms + 1000;
}

struct sd {
    const ppn_vm_shutdown_opts *o;
    ppn_vm_shutdown_progress_fn fn;
    void *ud;
    uint64_t t0;
    ppn_vm_shutdown_result res;
};

static void report(struct sd *s, ppn_vm_shutdown_step step, int r)
{
    if (r < 0)
        s->res.last_error = r;
    if (s->fn)
        s->fn(step, r, ppnc_now_mono_ms() - s->t0, s->ud);
}

static int finish(struct sd *s, ppn_vm_shutdown_outcome outcome, ppn_vm_shutdown_result *ret)
{
    s->res.outcome = outcome;
    s->res.elapsed_ms = ppnc_now_mono_ms() - s->t0;
    if (outcome != PPN_VM_SHUTDOWN_OUTCOME_NONE)
        report(s, PPN_VM_SHUTDOWN_EXITED, 0);
    *ret = s->res;
    return outcome == PPN_VM_SHUTDOWN_OUTCOME_NONE ? -ETIMEDOUT : 0;
}

/* A SHUTDOWN (or RESET) event the guest asked for ("guest": true), not QEMU
 * on a signal, a quit or a command (qmp-internal.h). */
int vmm_event_from_guest(const char *name, const char *data, void *userdata)
{
    (void)name;
    (void)userdata;
    json_t *o = json_loads(data, 0, NULL);
    int yes = json_is_true(json_object_get(o, "guest"));
    json_decref(o);
    return yes;
}

/* The monitor closed or QEMU exited: was it the guest powering off? */
static ppn_vm_shutdown_outcome gone_outcome(ppn_qmp *q, bool guest_down)
{
    if (!guest_down && q && ppn_qmp_wait_event(q, "SHUTDOWN", vmm_event_from_guest, NULL, 0, NULL) == 0)
        guest_down = true;
    return guest_down ? PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL : PPN_VM_SHUTDOWN_OUTCOME_EXITED;
}

static void sleep_some(uint64_t deadline, unsigned max_ms)
{
    uint64_t now = ppnc_now_mono_ms();
    if (now < deadline)
        sleep_ms(deadline - now < max_ms ? (unsigned)(deadline - now) : max_ms);
}

PPN_EXPORT int ppn_vm_shutdown(const ppn_vm_shutdown_opts *o, ppn_vm_shutdown_progress_fn progress,
                               void *userdata, ppn_vm_shutdown_result *ret_result)
{
    if (!o || !ret_result || (!o->monitor_path && o->pid <= 0) || o->step_timeout_ms == 0 ||
        o->step_timeout_ms > INT32_MAX ||
        (o->reserved[0] | o->reserved[1] | o->reserved[2] | o->reserved[3])) /* doc/API.md */
        return -EINVAL;
    struct sd s = {.o = o, .fn = progress, .ud = userdata, .t0 = ppnc_now_mono_ms()};
    int step_ms = (int)o->step_timeout_ms;
    pid_t pid = o->pid;
    uint64_t deadline = s.t0 + o->deadline_ms;

    if (pid > 0 && vmm_pid_exited(pid))
        return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_NOT_RUNNING, ret_result);

    /* Connect.  A monitor another client holds (a full backlog) times out:
     * with a pid, keep trying until the deadline before any signal. */
    ppn_qmp *q = NULL;
    int r = -ENOENT;
    if (o->monitor_path) {
        for (bool first = true;; first = false) {
            r = ppn_qmp_connect(o->monitor_path, step_ms, &q);
            if (first || r == 0)
                report(&s, PPN_VM_SHUTDOWN_CONNECT, r);
            if (r == 0)
                break;
            if (pid <= 0) {
                /* nobody to signal; no monitor means nothing runs there */
                if (r == -ENOENT || r == -ECONNREFUSED)
                    return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_NOT_RUNNING, ret_result);
                return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_NONE, ret_result);
            }
            if (vmm_pid_exited(pid))
                return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_EXITED, ret_result);
            if (r != -ETIMEDOUT && r != -EAGAIN && r != -ECONNREFUSED && r != -ENOENT)
                break; /* a monitor that does not speak QMP: go on to the signals */
            if (ppnc_now_mono_ms() >= deadline)
                break;
            sleep_some(deadline, 100);
        }
    }

    bool guest_down = false; /* a SHUTDOWN event from the guest was seen */
    bool closed = false;     /* the monitor closed (QEMU is going or gone) */
    if (q) {
        r = ppn_qmp_powerdown(q, step_ms);
        s.res.presses++;
        report(&s, PPN_VM_SHUTDOWN_PRESS, r);
        closed = r == -ECONNRESET;
        uint64_t next_press = ppnc_now_mono_ms() + (o->repress_interval_ms ? o->repress_interval_ms : UINT32_MAX);
        /* only a closed monitor or a guest SHUTDOWN ends the wait; a broken
         * handle (a protocol error) says nothing about the guest */
        bool usable = r == 0 || r == -ETIMEDOUT || r == -EREMOTEIO;
        while (!closed && !guest_down) {
            uint64_t now = ppnc_now_mono_ms();
            if (now >= deadline)
                break;
            if (pid > 0 && vmm_pid_exited(pid)) {
                closed = true;
                break;
            }
            if (!usable) {
                if (pid <= 0)
                    break;
                sleep_some(deadline, 100);
                continue;
            }
            if (now >= next_press) {
                r = ppn_qmp_powerdown(q, step_ms);
                s.res.presses++;
                report(&s, PPN_VM_SHUTDOWN_PRESS, r);
                closed = r == -ECONNRESET;
                usable = r == 0 || r == -ETIMEDOUT || r == -EREMOTEIO;
                next_press = ppnc_now_mono_ms() + o->repress_interval_ms;
                continue;
            }
            uint64_t until = deadline < next_press ? deadline : next_press;
            uint64_t slice = until - now;
            if (pid > 0 && slice > 200)
                slice = 200;
            /* a SHUTDOWN for another reason (QEMU signalled) is followed
             * by the monitor closing */
            int w = ppn_qmp_wait_event(q, "SHUTDOWN", vmm_event_from_guest, NULL, (int)slice, NULL);
            if (w == 0) {
                guest_down = true;
            } else if (w == -ECONNRESET) {
                closed = true;
            } else if (w != -ETIMEDOUT) {
                report(&s, PPN_VM_SHUTDOWN_GUEST_DOWN, w);
                usable = false;
            }
        }
        if (closed || guest_down) {
            ppn_vm_shutdown_outcome out = guest_down ? PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL : gone_outcome(q, false);
            report(&s, PPN_VM_SHUTDOWN_GUEST_DOWN, out == PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL ? 0 : -ECONNRESET);
            /* QEMU exits after the guest's poweroff (no -no-shutdown) */
            if (pid <= 0 || wait_pid_exit(pid, o->quit_wait_ms)) {
                ppn_qmp_free(q);
                return finish(&s, out, ret_result);
            }
            guest_down = out == PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL;
        } else {
            report(&s, PPN_VM_SHUTDOWN_DEADLINE, -ETIMEDOUT);
        }

        if (usable) {
            r = ppn_qmp_quit(q, step_ms);
            report(&s, PPN_VM_SHUTDOWN_QUIT, r);
        }
        ppn_qmp_free(q);
        q = NULL;
        if (pid <= 0)
            return finish(&s, usable && r == 0 ? PPN_VM_SHUTDOWN_OUTCOME_QUIT : PPN_VM_SHUTDOWN_OUTCOME_NONE,
                          ret_result);
        if (usable && wait_pid_exit(pid, o->quit_wait_ms))
            return finish(&s, guest_down ? PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL : PPN_VM_SHUTDOWN_OUTCOME_QUIT,
                          ret_result);
    } else if (pid > 0) {
        /* no monitor to press: the guest still gets its deadline to go */
        while (ppnc_now_mono_ms() < deadline && !vmm_pid_exited(pid))
            sleep_some(deadline, 100);
        if (vmm_pid_exited(pid))
            return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_EXITED, ret_result);
        report(&s, PPN_VM_SHUTDOWN_DEADLINE, -ETIMEDOUT);
    }

    if (pid <= 0)
        return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_NONE, ret_result);
    if (vmm_pid_exited(pid))
        return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_EXITED, ret_result);
    r = kill(pid, SIGTERM) < 0 ? -errno : 0;
    report(&s, PPN_VM_SHUTDOWN_SIGTERM, r);
    if (wait_pid_exit(pid, o->term_wait_ms))
        return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_SIGTERM, ret_result);
    r = kill(pid, SIGKILL) < 0 ? -errno : 0;
    report(&s, PPN_VM_SHUTDOWN_SIGKILL, r);
    if (wait_pid_exit(pid, o->kill_wait_ms))
        return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_SIGKILL, ret_result);
    return finish(&s, PPN_VM_SHUTDOWN_OUTCOME_NONE, ret_result);
}
