/* From a specification: the QEMU command line, a systemd unit, a direct
 * runner, the pid and the status of a VM. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ppn-common.h"
#include "ppn/vmm.h"
#include "vmm-internal.h"

/* ---- argv ---- */

struct strv {
    char **v;
    size_t n, cap;
    int err;
};

static void sv_add(struct strv *sv, char *s)
{
    if (!s)
        sv->err = -ENOMEM;
    if (sv->err) {
        free(s);
        return;
    }
    if (sv->n + 2 > sv->cap) {
        size_t nc = sv->cap ? sv->cap * 2 : 32;
        char **nv = realloc(sv->v, nc * sizeof(char *));
        if (!nv) {
            free(s);
            sv->err = -ENOMEM;
            return;
        }
        sv->v = nv;
        sv->cap = nc;
    }
    sv->v[sv->n++] = s;
    sv->v[sv->n] = NULL;
}

static void sv_addf(struct strv *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void sv_addf(struct strv *sv, const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    sv_add(sv, n < 0 ? NULL : s);
}

/* QEMU option values: a comma is written twice. */
static char *qemu_escape(const char *s)
{
    size_t n = strlen(s), extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += s[i] == ',';
    char *o = malloc(n + extra + 1), *p = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        *p++ = s[i];
        if (s[i] == ',')
            *p++ = ',';
    }
    *p = '\0';
    return o;
}

PPN_EXPORT int ppn_vm_qemu_argv(const ppn_vm_spec *spec, const char *state_dir, const char *qemu_binary,
                                unsigned flags, char ***ret_argv)
{
    if (!spec || !state_dir || !ret_argv || ppn_vm_spec_validate(spec, NULL) < 0)
        return -EINVAL;
    if (flags & ~(PPN_VM_ACCEL_KVM | PPN_VM_ACCEL_TCG | PPN_VM_START_PAUSED))
        return -EINVAL;
    if ((flags & PPN_VM_ACCEL_KVM) && (flags & PPN_VM_ACCEL_TCG))
        return -EINVAL;
    const char *name = ppn_vm_spec_name(spec);
    char mon[4096], con[4096];
    int r;
    if ((r = ppn_vm_path(state_dir, name, "monitor", mon, sizeof(mon))) < 0 ||
        (r = ppn_vm_path(state_dir, name, "console", con, sizeof(con))) < 0)
        return r;
    if (strlen(mon) >= 108) /* sun_path */
        return -ENAMETOOLONG;
    bool kvm = ppn_vm_accel_resolve(qemu_binary, flags) == (int)PPN_VM_ACCEL_KVM;

    struct strv sv = {0};
    char *emon = qemu_escape(mon), *econ = qemu_escape(con);
    sv_add(&sv, strdup(qemu_binary && *qemu_binary ? qemu_binary : "qemu-system-x86_64"));
    sv_add(&sv, strdup("-name"));
    sv_addf(&sv, "guest=%s,process=ppn-vm-%s", name, name);
    sv_add(&sv, strdup("-nodefaults"));
    sv_add(&sv, strdup("-no-user-config"));
    /* seccomp: no obsolete syscalls, no setuid, no fork/exec, no
     * scheduler or affinity changes.  With -runas QEMU must call setgid/
     * setuid itself after the filter is in place (QEMU 7.2 kills itself with
     * SIGSYS otherwise, "children" included), so set*id stays allowed: once
     * it is the unprivileged user it has no capability left to gain anything
     * with them, and the guest never runs before the drop. */
    const char *run_as = ppn_vm_spec_run_as(spec);
    bool drop = *run_as && strcmp(run_as, "root") != 0;
    sv_add(&sv, strdup("-sandbox"));
    sv_add(&sv, strdup(drop ? "on,obsolete=deny,spawn=deny,resourcecontrol=deny"
                            : "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
    sv_add(&sv, strdup("-accel"));
    sv_add(&sv, strdup(kvm ? "kvm" : "tcg"));
    sv_add(&sv, strdup("-cpu"));
    sv_add(&sv, strdup(kvm ? "host" : "max"));
    sv_add(&sv, strdup("-m"));
    sv_addf(&sv, "%u", ppn_vm_spec_memory_mib(spec));
    sv_add(&sv, strdup("-smp"));
    sv_addf(&sv, "%u", ppn_vm_spec_vcpus(spec));
    sv_add(&sv, strdup("-display"));
    sv_add(&sv, strdup("none"));
    sv_add(&sv, strdup("-chardev"));
    sv_addf(&sv, "socket,id=ppn-qmp,path=%s,server=on,wait=off", emon ? emon : "");
    sv_add(&sv, strdup("-mon"));
    sv_add(&sv, strdup("chardev=ppn-qmp,mode=control"));
    sv_add(&sv, strdup("-chardev"));
    sv_addf(&sv, "file,id=ppn-console,path=%s", econ ? econ : "");
    sv_add(&sv, strdup("-serial"));
    sv_add(&sv, strdup("chardev:ppn-console"));
    sv_add(&sv, strdup("-device"));
    sv_add(&sv, strdup("virtio-balloon-pci,id=ppn-balloon0"));
    if (!emon || !econ)
        sv.err = -ENOMEM;
    free(emon);
    free(econ);

    /* the disk's format is the spec's or read from the image (image.c),
     * then the cloud-init seed */
    char *drive = NULL, *seed = NULL;
    r = vmm_drive_args(spec, state_dir, &drive, &seed);
    if (r < 0)
        sv.err = r;
    if (drive) {
        sv_add(&sv, strdup("-drive"));
        sv_add(&sv, drive);
    }
    if (seed) {
        sv_add(&sv, strdup("-drive"));
        sv_add(&sv, seed);
    }
    if (*ppn_vm_spec_kernel(spec)) {
        sv_add(&sv, strdup("-kernel"));
        sv_add(&sv, strdup(ppn_vm_spec_kernel(spec)));
        if (*ppn_vm_spec_initrd(spec)) {
            sv_add(&sv, strdup("-initrd"));
            sv_add(&sv, strdup(ppn_vm_spec_initrd(spec)));
        }
        if (*ppn_vm_spec_append(spec)) {
            sv_add(&sv, strdup("-append"));
            sv_add(&sv, strdup(ppn_vm_spec_append(spec)));
        }
    }
    sv_add(&sv, strdup("-nic"));
    if (ppn_vm_spec_network(spec)) {
        char *nic = strdup("user,model=virtio-net-pci");
        for (size_t i = 0; nic && i < ppn_vm_spec_port_forward_count(spec); i++) {
            ppn_vm_port_forward f;
            ppn_vm_spec_port_forward(spec, i, &f);
            char *n2;
            if (asprintf(&n2, "%s,hostfwd=%s:127.0.0.1:%u-:%u", nic,
                         f.proto == PPN_VM_PROTO_UDP ? "udp" : "tcp", f.host_port, f.guest_port) < 0)
                n2 = NULL;
            free(nic);
            nic = n2;
        }
        sv_add(&sv, nic);
    } else {
        sv_add(&sv, strdup("none"));
    }
    if (drop) {
        /* QEMU opens what it needs, then drops to this user (setgid,
         * initgroups, setuid) before the guest runs */
        sv_add(&sv, strdup("-runas"));
        sv_add(&sv, strdup(run_as));
    }
    if (flags & PPN_VM_START_PAUSED)
        sv_add(&sv, strdup("-S"));
    if (sv.err) {
        ppn_vmm_strv_free(sv.v);
        return sv.err;
    }
    *ret_argv = sv.v;
    return 0;
}

/* ---- systemd unit ---- */

/* A word for Exec* lines: double-quoted, with \ " escaped and % $ doubled
 * (specifiers and variable expansion off). */
static int unit_quote(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20)
            return -EINVAL;
        if (*s == '\\' || *s == '"')
            fputc('\\', f);
        if (*s == '%' || *s == '$')
            fputc(*s, f);
        fputc(*s, f);
    }
    fputc('"', f);
    return 0;
}

PPN_EXPORT int ppn_vm_unit_name(const ppn_vm_spec *spec, char *buf, size_t size)
{
    if (!spec || !buf)
        return -EINVAL;
    int n = snprintf(buf, size, "ppn-vm-%s.service", ppn_vm_spec_name(spec));
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* One command line: each word quoted; the words "$MAINPID" and "${MAINPID}"
 * are left for systemd to expand, every other '$' and '%' is literal. */
static int unit_command(FILE *f, const char *const *argv)
{
    int r = 0;
    for (size_t i = 0; argv[i]; i++) {
        if (i)
            fputc(' ', f);
        if (i > 0 && (!strcmp(argv[i], "$MAINPID") || !strcmp(argv[i], "${MAINPID}")))
            fputs("${MAINPID}", f);
        else
            r |= unit_quote(f, argv[i]);
    }
    fputc('\n', f);
    return r;
}

static bool argv_ok(const char *const *argv)
{
    return argv && argv[0] && argv[0][0] == '/';
}

PPN_EXPORT int ppn_vm_unit(const ppn_vm_spec *spec, const ppn_vm_unit_opts *o, char **ret_text)
{
    if (!spec || !o || !ret_text || ppn_vm_spec_validate(spec, NULL) < 0 ||
        (o->reserved[0] | o->reserved[1] | o->reserved[2] | o->reserved[3]))
        return -EINVAL; /* the reserved tail is zero (doc/API.md, "Structs") */
    bool own = o->exec_start != NULL; /* the caller's command lines */
    if (own ? !argv_ok(o->exec_start) || (o->exec_stop && !argv_ok(o->exec_stop))
            : !o->ppn_vm_binary || o->ppn_vm_binary[0] != '/' || !o->state_dir || o->state_dir[0] != '/')
        return -EINVAL;
    if (o->accel & ~(PPN_VM_ACCEL_KVM | PPN_VM_ACCEL_TCG) ||
        (o->accel & PPN_VM_ACCEL_KVM && o->accel & PPN_VM_ACCEL_TCG))
        return -EINVAL;
    ppn_vm_shutdown_opts so;
    ppn_vm_shutdown_opts_init(&so);
    if (o->shutdown_deadline_ms)
        so.deadline_ms = o->shutdown_deadline_ms;
    so.pid = 1;
    uint64_t stop_s = ppn_vm_shutdown_max_ms(&so) / 1000 + 30;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return -ENOMEM;
    const char *name = ppn_vm_spec_name(spec);
    int r = 0;
    fprintf(f, "# Generated by libppn-vmm %s: %s\n", PPN_VERSION, ppn_vm_type_to_string(ppn_vm_spec_type(spec)));
    if (*ppn_vm_spec_run_as(spec) && strcmp(ppn_vm_spec_run_as(spec), "root") != 0)
        fprintf(f, "# QEMU opens the VM's files as root, then runs as user %s (-runas)\n", ppn_vm_spec_run_as(spec));
    fprintf(f, "[Unit]\nDescription=PointSav %s guest %s\n", ppn_vm_type_to_string(ppn_vm_spec_type(spec)), name);
    fprintf(f, "After=network-online.target\nWants=network-online.target\n\n");
    fprintf(f, "[Service]\nType=simple\n");
    char dl[16];
    snprintf(dl, sizeof(dl), "%u", (unsigned)((so.deadline_ms + 999) / 1000));
    const char *accel = ppn_vm_accel_name(o->accel);
    fprintf(f, "ExecStart=");
    if (own) {
        r |= unit_command(f, o->exec_start);
    } else {
        const char *start[8] = {o->ppn_vm_binary, "run", "--state-dir", o->state_dir};
        size_t n = 4;
        if (accel) {
            start[n++] = "--accel";
            start[n++] = accel;
        }
        start[n++] = name;
        r |= unit_command(f, start);
    }
    /* ExecStop must not return before QEMU is gone: systemd kills the main
     * process as soon as it does. */
    if (!own || o->exec_stop) {
        fprintf(f, "ExecStop=");
        if (own) {
            r |= unit_command(f, o->exec_stop);
        } else {
            const char *stop[] = {o->ppn_vm_binary, "shutdown", "--state-dir", o->state_dir, "--deadline", dl,
                                  "--pid", "${MAINPID}", name, NULL};
            r |= unit_command(f, stop);
        }
    }
    fprintf(f, "TimeoutStopSec=%llu\n", (unsigned long long)stop_s);
    fprintf(f, "KillMode=mixed\nRestart=on-failure\nRestartSec=5\n\n");
    fprintf(f, "[Install]\nWantedBy=multi-user.target\n");
    if (fclose(f) != 0 || !text) {
        free(text);
        return -ENOMEM;
    }
    if (r) {
        free(text);
        return -EINVAL;
    }
    *ret_text = text;
    return 0;
}

/* ---- pid file, runner ---- */

static int write_pid(const char *state_dir, const char *name, pid_t pid)
{
    char p[4096], buf[32];
    int r = ppn_vm_path(state_dir, name, "pid", p, sizeof(p));
    if (r < 0)
        return r;
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
    return ppnc_write_file_atomic(p, buf, (size_t)n, 0644);
}

/* Does /proc/<pid>/cmdline contain the VM's monitor path (QEMU of this
 * VM, not a recycled pid)? */
static bool pid_is_vm(pid_t pid, const char *monitor)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
    uint8_t *data;
    size_t len;
    if (ppnc_read_file(p, 1 << 20, &data, &len) < 0)
        return false;
    bool found = false;
    size_t ml = strlen(monitor);
    for (size_t i = 0; i + ml <= len && !found; i++)
        found = memcmp(data + i, monitor, ml) == 0;
    free(data);
    return found;
}

PPN_EXPORT int ppn_vm_pid(const char *state_dir, const char *name, pid_t *ret_pid)
{
    if (!state_dir || !ret_pid || !ppn_vm_name_valid(name))
        return -EINVAL;
    char p[4096], mon[4096];
    int r = ppn_vm_path(state_dir, name, "pid", p, sizeof(p));
    if (r < 0 || (r = ppn_vm_path(state_dir, name, "monitor", mon, sizeof(mon))) < 0)
        return r;
    uint8_t *data;
    size_t len;
    r = ppnc_read_file(p, 64, &data, &len);
    if (r == -ENOENT || r == -EFBIG) {
        *ret_pid = 0;
        return 0;
    }
    if (r < 0)
        return r;
    char *end;
    long v = strtol((char *)data, &end, 10);
    bool ok = end != (char *)data && (*end == '\n' || *end == '\0') && v > 0 && v < INT32_MAX;
    free(data);
    char *esc = qemu_escape(mon);
    if (!esc)
        return -ENOMEM;
    *ret_pid = ok && !vmm_pid_exited((pid_t)v) && pid_is_vm((pid_t)v, esc) ? (pid_t)v : 0;
    free(esc);
    return 0;
}

/* One start at a time per VM: an exclusive flock on <vm>/lock, tried until
 * 'deadline'.  Returns the descriptor (close it to release; an exec
 * releases it too) or -ETIMEDOUT / the open error. */
static int lock_vm(const char *state_dir, const char *name, uint64_t deadline)
{
    char p[4096];
    int r = ppn_vm_path(state_dir, name, "lock", p, sizeof(p));
    if (r < 0)
        return r;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            r = -errno;
            close(fd);
            return r;
        }
        if (ppnc_now_mono_ms() >= deadline) {
            close(fd);
            return -ETIMEDOUT;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return fd;
}

static int prepare(const char *state_dir, const char *name, const char *qemu_binary, unsigned flags,
                   char ***ret_argv)
{
    ppn_vm_spec *spec;
    int r = ppn_vm_spec_load(state_dir, name, &spec, NULL);
    if (r < 0)
        return r;
    pid_t pid;
    if ((r = ppn_vm_pid(state_dir, name, &pid)) < 0)
        goto out;
    if (pid > 0) {
        r = -EALREADY;
        goto out;
    }
    char mon[4096];
    if ((r = ppn_vm_path(state_dir, name, "monitor", mon, sizeof(mon))) < 0)
        goto out;
    unlink(mon); /* a stale socket of an earlier run */
    if ((r = ppn_vm_seed_write(spec, state_dir)) < 0) /* cloud-init seed from the spec */
        goto out;
    r = ppn_vm_qemu_argv(spec, state_dir, qemu_binary, flags, ret_argv);
out:
    ppn_vm_spec_free(spec);
    return r;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* After the monitor answered: the vCPUs run (or wait, when started paused)
 * and the guest has written to its serial console.  -ECHILD QEMU exited,
 * -EIO the guest stopped for good (internal error, panic, I/O error,
 * shutdown), -ETIMEDOUT the deadline passed. */
static int wait_guest_up(ppn_qmp *q, const char *state_dir, const char *name, pid_t pid, bool paused,
                         uint64_t deadline)
{
    char con[4096];
    int r = ppn_vm_path(state_dir, name, "console", con, sizeof(con));
    if (r < 0)
        return r;
    for (;;) {
        if (vmm_pid_exited(pid))
            return -ECHILD;
        uint64_t now = ppnc_now_mono_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        ppn_qmp_status st;
        r = ppn_qmp_query_status(q, (int)(deadline - now), &st);
        if (r < 0)
            return vmm_pid_exited(pid) ? -ECHILD : r;
        if (paused && (!strcmp(st.status, "prelaunch") || !strcmp(st.status, "paused")))
            return 0;
        if (!strcmp(st.status, "internal-error") || !strcmp(st.status, "guest-panicked") ||
            !strcmp(st.status, "io-error") || !strcmp(st.status, "shutdown"))
            return -EIO;
        struct stat sb;
        if (st.running && stat(con, &sb) == 0 && sb.st_size > 0)
            return 0;
        sleep_ms(20);
    }
}

static int start_locked(const char *state_dir, const char *name, const char *qemu_binary, unsigned flags,
                        int timeout_ms, pid_t *ret_pid);

PPN_EXPORT int ppn_vm_start(const char *state_dir, const char *name, const char *qemu_binary,
                            unsigned flags, int timeout_ms, pid_t *ret_pid)
{
    if (!state_dir || !ret_pid || timeout_ms <= 0 || !ppn_vm_name_valid(name))
        return -EINVAL;
    /* held until the guest is up or the start failed: a second start
     * waits, then finds it running (-EALREADY) */
    int lock = lock_vm(state_dir, name, ppnc_now_mono_ms() + (uint64_t)timeout_ms);
    if (lock < 0)
        return lock; /* -ENOENT: no such VM */
    int r = start_locked(state_dir, name, qemu_binary, flags, timeout_ms, ret_pid);
    close(lock);
    return r;
}

static int start_locked(const char *state_dir, const char *name, const char *qemu_binary, unsigned flags,
                        int timeout_ms, pid_t *ret_pid)
{
    char **argv;
    int r = prepare(state_dir, name, qemu_binary, flags, &argv);
    if (r < 0)
        return r;
    char logp[4096], mon[4096];
    if ((r = ppn_vm_path(state_dir, name, "log", logp, sizeof(logp))) < 0 ||
        (r = ppn_vm_path(state_dir, name, "monitor", mon, sizeof(mon))) < 0) {
        ppn_vmm_strv_free(argv);
        return r;
    }
    int logfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0) {
        r = -errno;
        ppn_vmm_strv_free(argv);
        return r;
    }
    pid_t pid = fork();
    if (pid < 0) {
        r = -errno;
        close(logfd);
        ppn_vmm_strv_free(argv);
        return r;
    }
    if (pid == 0) {
        /* child: only async-signal-safe calls; QEMU starts with no signal
         * blocked, whatever the caller had blocked */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(logfd, 1);
        dup2(logfd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(logfd);
    ppn_vmm_strv_free(argv);
    r = write_pid(state_dir, name, pid);
    if (r < 0)
        goto kill_it;
    uint64_t deadline = ppnc_now_mono_ms() + (uint64_t)timeout_ms;
    bool paused = flags & PPN_VM_START_PAUSED;
    for (;;) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            char pp[4096];
            if (ppn_vm_path(state_dir, name, "pid", pp, sizeof(pp)) == 0)
                unlink(pp);
            return -ECHILD;
        }
        uint64_t now = ppnc_now_mono_ms();
        if (now >= deadline) {
            r = -ETIMEDOUT;
            goto kill_it;
        }
        if (access(mon, F_OK) == 0) {
            ppn_qmp *q;
            uint64_t left = deadline - now;
            int c = ppn_qmp_connect(mon, left > 2000 ? 2000 : (int)left, &q);
            if (c == 0) {
                r = wait_guest_up(q, state_dir, name, pid, paused, deadline);
                ppn_qmp_free(q);
                if (r == 0) {
                    *ret_pid = pid;
                    return 0;
                }
                if (r == -ECHILD)
                    continue; /* reaped above on the next turn */
                goto kill_it;
            }
        }
        sleep_ms(20);
    }
kill_it:
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    {
        char pp[4096];
        if (ppn_vm_path(state_dir, name, "pid", pp, sizeof(pp)) == 0)
            unlink(pp);
    }
    return r;
}

PPN_EXPORT int ppn_vm_supervise(const char *state_dir, const char *name, pid_t pid, int *ret_wait_status)
{
    if (!state_dir || pid <= 0 || !ret_wait_status || !ppn_vm_name_valid(name))
        return -EINVAL;
    int st = 0;
    pid_t w = waitpid(pid, &st, 0);
    if (w < 0 && errno != ECHILD)
        return -errno;
    int r = w < 0 ? -ECHILD : 0;
    char p[4096];
    if (ppn_vm_path(state_dir, name, "pid", p, sizeof(p)) == 0)
        unlink(p);
    if (ppn_vm_path(state_dir, name, "monitor", p, sizeof(p)) == 0)
        unlink(p);
    *ret_wait_status = st;
    return r;
}

PPN_EXPORT int ppn_vm_exec(const char *state_dir, const char *name, const char *qemu_binary, unsigned flags)
{
    if (!state_dir || !ppn_vm_name_valid(name))
        return -EINVAL;
    int lock = lock_vm(state_dir, name, ppnc_now_mono_ms() + 30000); /* O_CLOEXEC: exec releases it */
    if (lock < 0)
        return lock; /* -ENOENT: no such VM */
    char **argv;
    int r = prepare(state_dir, name, qemu_binary, flags, &argv);
    if (r < 0) {
        close(lock);
        return r;
    }
    r = write_pid(state_dir, name, getpid());
    if (r == 0) {
        execvp(argv[0], argv);
        r = -errno;
        char p[4096];
        if (ppn_vm_path(state_dir, name, "pid", p, sizeof(p)) == 0)
            unlink(p);
    }
    ppn_vmm_strv_free(argv);
    close(lock);
    return r;
}

PPN_EXPORT int ppn_vm_pid_check(const char *state_dir, const char *name, pid_t pid)
{
    if (pid <= 0)
        return -EINVAL;
    pid_t rec;
    int r = ppn_vm_pid(state_dir, name, &rec);
    if (r < 0)
        return r;
    if (rec == 0)
        return -ESRCH;
    return rec == pid ? 0 : -EPERM;
}

PPN_EXPORT int ppn_vm_log_last_line(const char *state_dir, const char *name, char *buf, size_t size)
{
    if (!state_dir || !buf || size == 0 || !ppn_vm_name_valid(name))
        return -EINVAL;
    char p[4096];
    int r = ppn_vm_path(state_dir, name, "log", p, sizeof(p));
    if (r < 0)
        return r;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* the last 4 KiB is plenty for one line */
    char tail[4096];
    struct stat sb;
    off_t off = fstat(fd, &sb) == 0 && sb.st_size > (off_t)sizeof(tail) ? sb.st_size - (off_t)sizeof(tail) : 0;
    ssize_t n;
    do
        n = pread(fd, tail, sizeof(tail), off);
    while (n < 0 && errno == EINTR);
    r = n < 0 ? -errno : 0;
    close(fd);
    if (r < 0)
        return r;
    size_t end = (size_t)n;
    while (end > 0 && (tail[end - 1] == '\n' || tail[end - 1] == '\r' || tail[end - 1] == ' '))
        end--;
    if (end == 0)
        return -ENODATA;
    size_t start = end;
    while (start > 0 && tail[start - 1] != '\n')
        start--;
    /* printable ASCII only: the log is QEMU's, the guest's name is in it */
    size_t k = 0;
    for (size_t i = start; i < end && k + 1 < size; i++) {
        unsigned char ch = (unsigned char)tail[i];
        buf[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    buf[k] = '\0';
    return (int)k;
}

static int file_readable(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) < 0)
        return -errno;
    if (!S_ISREG(sb.st_mode) && !S_ISBLK(sb.st_mode))
        return -EISDIR;
    return access(path, R_OK) < 0 ? -errno : 0;
}

PPN_EXPORT int ppn_vm_spec_check_files(const ppn_vm_spec *spec, const char **ret_field)
{
    if (!spec)
        return -EINVAL;
    static const char *const fields[] = {"kernel", "initrd", "base", "disk"};
    const char *paths[] = {ppn_vm_spec_kernel(spec), ppn_vm_spec_initrd(spec), ppn_vm_spec_base(spec),
                           ppn_vm_spec_disk(spec)};
    bool base = *paths[2];
    for (size_t i = 0; i < 4; i++) {
        if (!*paths[i])
            continue;
        /* a disk is created when missing: as an overlay on the base, or with a size */
        if (i == 3 && (base || ppn_vm_spec_disk_size_bytes(spec) > 0) && access(paths[i], F_OK) < 0 &&
            errno == ENOENT)
            continue;
        int r = file_readable(paths[i]);
        if (r < 0) {
            if (ret_field)
                *ret_field = fields[i];
            return r;
        }
    }
    return 0;
}

/* ---- status ---- */

PPN_EXPORT int ppn_vm_info_get(const char *state_dir, const char *name, int timeout_ms, ppn_vm_info *ret)
{
    if (!state_dir || !ret || timeout_ms <= 0 || !ppn_vm_name_valid(name))
        return -EINVAL;
    ppn_vm_spec *spec;
    int r = ppn_vm_spec_load(state_dir, name, &spec, NULL);
    if (r < 0)
        return r;
    ppn_vm_info info;
    memset(&info, 0, sizeof(info));
    snprintf(info.name, sizeof(info.name), "%s", name);
    info.type = ppn_vm_spec_type(spec);
    info.memory_mib = ppn_vm_spec_memory_mib(spec);
    info.vcpus = ppn_vm_spec_vcpus(spec);
    snprintf(info.node, sizeof(info.node), "%s", ppn_vm_spec_node(spec));
    ppn_vm_spec_free(spec);
    pid_t pid = 0;
    if ((r = ppn_vm_pid(state_dir, name, &pid)) < 0)
        return r;
    info.pid = pid;
    info.running = pid > 0;
    if (info.running) {
        char mon[4096];
        ppn_qmp *q = NULL;
        uint64_t deadline = ppnc_now_mono_ms() + (uint64_t)timeout_ms;
        r = ppn_vm_path(state_dir, name, "monitor", mon, sizeof(mon));
        if (r == 0)
            r = ppn_qmp_connect(mon, timeout_ms, &q);
        ppn_qmp_status st;
        if (r == 0) {
            uint64_t now = ppnc_now_mono_ms();
            r = ppn_qmp_query_status(q, now < deadline ? (int)(deadline - now) : 1, &st);
        }
        if (r == 0) {
            snprintf(info.status, sizeof(info.status), "%s", st.status);
            uint64_t now = ppnc_now_mono_ms();
            r = ppn_qmp_balloon_query(q, now < deadline ? (int)(deadline - now) : 1, &info.balloon_actual);
        }
        bool kvm;
        if (r == 0) {
            uint64_t now = ppnc_now_mono_ms();
            r = ppn_qmp_query_kvm(q, now < deadline ? (int)(deadline - now) : 1, &kvm);
        }
        if (r == 0)
            snprintf(info.accel, sizeof(info.accel), "%s", kvm ? "kvm" : "tcg");
        info.qmp_error = r;
        ppn_qmp_free(q);
    }
    *ret = info;
    return 0;
}

PPN_EXPORT int ppn_vm_info_list(const char *state_dir, int timeout_ms, ppn_vm_info **ret_infos)
{
    if (!state_dir || !ret_infos || timeout_ms <= 0)
        return -EINVAL;
    char **names;
    int n = ppn_vm_list(state_dir, &names);
    if (n < 0)
        return n;
    ppn_vm_info *v = calloc((size_t)n + 1, sizeof(*v));
    if (!v) {
        ppn_vmm_strv_free(names);
        return -ENOMEM;
    }
    int k = 0;
    for (int i = 0; i < n; i++)
        if (ppn_vm_info_get(state_dir, names[i], timeout_ms, &v[k]) == 0)
            k++;
    ppn_vmm_strv_free(names);
    *ret_infos = v;
    return k;
}
