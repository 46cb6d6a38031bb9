/* The agent's creation worker and its two runners (internal glue across
 * libppn-fleet and libppn-vmm, not installed): a request the agent engine
 * checked becomes a VM stored in the state directory and started, by
 * systemd through the VM's own unit where systemd is PID 1, by libppn-vmm's
 * direct runner elsewhere; each creation in a worker process of its own, so
 * that the agent's heartbeats go on while a guest boots.  The tool keeps
 * argv, the sockets, the logging (every line comes through a callback) and
 * the poll loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ppn/fleet.h"
#include "ppn/vmm.h"

#define GLUE_VM_WORK_MAX 16            /* creations at once; VMs remembered as failed */
#define GLUE_VM_RELOAD_MS 30000        /* systemctl daemon-reload */
#define GLUE_VM_UNIT_START_MS 90000    /* systemctl start */
#define GLUE_VM_DIRECT_START_MS 60000  /* ppn_vm_start */

/* A log line (no newline); the tool prefixes and prints it.  In a worker it
 * is called in the worker process. */
typedef void (*glue_vm_log_fn)(const char *line, void *userdata);

/* How VMs are run.  Set by the caller; the pointers must outlive it. */
struct glue_vm_runner {
    const char *state_dir;  /* the VMs' state directory */
    const char *qemu;       /* direct runner: QEMU (NULL: libppn-vmm's default) */
    const char *unit_dir;   /* systemd runner: where the VM's unit is written */
    const char *binary;     /* the ppn-vm the unit runs (NULL: /proc/self/exe) */
    const char *systemctl;  /* NULL: /usr/bin/systemctl or /bin/systemctl */
    uint32_t accel;         /* PPN_VM_ACCEL_* */
    int systemd;            /* 1 units, 0 direct runner, -1 decided once (glue_vm_runner_systemd) */
    const char *run_as_default; /* QEMU's user when the request names none and it exists here
                                 * (glue_vm_set_run_as; NULL: GLUE_VM_RUN_AS_DEFAULT, "": root) */
};

/* Runs argv (argv[0] absolute; no shell; stdin from /dev/null) and waits at
 * most 'timeout_ms'.  0 when it exited 0; -EIO it exited otherwise (127: it
 * could not be run); -ETIMEDOUT it was killed (SIGKILL) and reaped at the
 * deadline; -errno of fork or waitpid. */
int glue_run_wait(char *const argv[], int timeout_ms);

/* /usr/bin/systemctl or /bin/systemctl when executable, else NULL. */
const char *glue_systemctl_path(void);

/* This process has CAP_SETUID and CAP_SETGID in its effective set
 * (/proc/self/status): a QEMU it starts can drop to another user (-runas).
 * Under a unit with CapabilityBoundingSet= empty (ppn-vm-host) it has not. */
bool glue_can_change_user(void);

/* Whether VMs are started through systemd: r->systemd when 0 or 1, else
 * decided now and kept in it: systemd is PID 1 (/run/systemd/system exists,
 * as sd_booted() asks) and systemctl is there. */
bool glue_vm_runner_systemd(struct glue_vm_runner *r);

/* The VM's unit (ppn_vm_unit: ExecStart "BINARY run", ExecStop "BINARY
 * shutdown", the runner's accelerator) written to r->unit_dir atomically
 * (ppnc_write_file_atomic: a temporary file, fsync, rename, the
 * directory fsynced; mode 0644), then "systemctl
 * daemon-reload" and "systemctl start UNIT", each with its deadline.  The
 * unit's path goes to 'path' (may be NULL).  Errors with a reason in
 * *ret_why: of readlink/realpath, ppn_vm_unit, the file system, and
 * glue_run_wait (-ENOENT no systemctl). */
int glue_vm_start_unit(const struct glue_vm_runner *r, const ppn_vm_spec *spec, char *path,
                       size_t path_size, const char **ret_why);

/* Carries out a request the engine checked (confirmed, from the controller,
 * for this node, signed, fresh): the VM it describes (glue_vm_from_request,
 * QEMU's user chosen as create chooses it, r->run_as_default, none for the
 * direct runner when this process cannot change user) is refused
 * when it, or the VM of that name stored here, is pinned to another node
 * (-EXDEV) than 'node_name'/'ledger_name'; a stored VM of that name is
 * started if it is the same VM (QEMU's user aside: the stored one's) and
 * does not run (-EALREADY it runs, -EEXIST another specification); otherwise its files are checked, its disk
 * made (glue_vm_prepare_disk) and its specification saved.  Then it is
 * started by the runner (glue_vm_runner_systemd decides).  Every outcome is
 * one log line: "started VM ...", "Failed to start ...", "Failed to create
 * ...", "refused ... pinned ...".  A disk this call made is removed when the
 * specification was not saved.  0 or a negative errno. */
int glue_vm_create(struct glue_vm_runner *r, const ppn_fleet_request *rq, const char *node_name,
                   const char *ledger_name, glue_vm_log_fn log, void *userdata);

/* The creations in progress, each in a worker process, and the VMs whose
 * last creation failed (at most GLUE_VM_WORK_MAX, the oldest forgotten
 * first).  Zero-initialised is empty. */
struct glue_vm_work {
    struct {
        pid_t pid;
        char name[PPN_FLEET_NAME_MAX + 1];
        uint64_t t0_ms;
    } work[GLUE_VM_WORK_MAX];
    unsigned n_work;
    char failed[GLUE_VM_WORK_MAX][PPN_FLEET_NAME_MAX + 1];
    unsigned n_failed;
};

/* A creation of 'vm' is in progress. */
bool glue_vm_work_starting(const struct glue_vm_work *w, const char *vm);
/* The last creation of 'vm' failed. */
bool glue_vm_work_failed(const struct glue_vm_work *w, const char *vm);
void glue_vm_work_set_failed(struct glue_vm_work *w, const char *vm, bool failed);

/* Forks a worker that runs glue_vm_create and exits 0 or 1 (SIGTERM and
 * SIGINT at their defaults in it).  -EALREADY a creation of that VM is in
 * progress; -EBUSY GLUE_VM_WORK_MAX are; -errno of fork.  'now_ms' is the
 * caller's monotonic clock. */
int glue_vm_work_spawn(struct glue_vm_work *w, struct glue_vm_runner *r, const ppn_fleet_request *rq,
                       const char *node_name, const char *ledger_name, glue_vm_log_fn log,
                       void *userdata, uint64_t now_ms);

/* Reaps every ended child of the caller without blocking (workers, and
 * QEMUs that a subreaper inherited from them); a worker that ended leaves
 * the table and marks its VM failed or not by its exit status.  Returns the
 * number of workers that ended (the caller's state to report changed). */
int glue_vm_work_reap(struct glue_vm_work *w);
