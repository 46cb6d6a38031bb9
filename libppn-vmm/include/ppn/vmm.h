/* SPDX-License-Identifier: ISC */
/* libppn-vmm — QEMU guests over QMP
 *
 * Errors: functions that can fail return int: 0 (or a count) on success and a
 * negative errno on failure; see doc/ERRORS.md and the comment of each
 * function for the codes it documents.  Return parameters come last, are
 * named ret_*, are left untouched on failure and always set on success.
 *
 * Three parts:
 *   ppn_qmp_*    a QMP client: one connection to a QEMU monitor socket,
 *                commands with ids and per-command timeouts, events kept in
 *                order whatever their position relative to replies;
 *   ppn_vm_spec_* a VM specification (type, memory, vCPUs, disk, forwards),
 *                stored as JSON in a state directory;
 *   ppn_vm_*     what is done with a specification: the QEMU command line, a
 *                systemd unit, a direct runner, status, graceful shutdown.
 *
 * Strings returned through char ** are malloc'd and owned by the caller
 * (free() them, or ppn_vmm_strv_free() for a NULL-terminated vector).
 * JSON crosses this API as UTF-8 text, never as a jansson object. */
#ifndef PPN_VMM_H
#define PPN_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifndef PPN_EXPORT
#  if defined(PPN_BUILDING_LIBRARY) && defined(__GNUC__)
#    define PPN_EXPORT __attribute__((visibility("default")))
#  else
#    define PPN_EXPORT
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The package version of the library, e.g. "0.1.0".  Static storage. */
PPN_EXPORT const char *ppn_vmm_version(void);

/* Frees a NULL-terminated vector of malloc'd strings (and the vector).
 * NULL is fine. */
PPN_EXPORT void ppn_vmm_strv_free(char **strv);

/* Every size, maximum and limit of this header at run time, for bindings and for programs
 * built against another version: ppn_vmm_constant(PPN_VMM_CONSTANT_<NAME>) is the value
 * of the macro PPN_<NAME>, or -EINVAL for an unknown id.  An id never changes meaning;
 * new constants get new ids (doc/API.md, "Constants"). */
typedef enum ppn_vmm_constant_id {
    PPN_VMM_CONSTANT_QMP_LINE_MAX = 0,
    PPN_VMM_CONSTANT_QMP_EVENT_QUEUE_MAX = 1,
    PPN_VMM_CONSTANT_QMP_STATUS_MAX = 2,
    PPN_VMM_CONSTANT_VM_NAME_MAX = 3,
    PPN_VMM_CONSTANT_VM_PORT_FORWARDS_MAX = 4,
    PPN_VMM_CONSTANT_VM_MEMORY_MIN_MIB = 5,
    PPN_VMM_CONSTANT_VM_MEMORY_MAX_MIB = 6,
    PPN_VMM_CONSTANT_VM_VCPUS_MAX = 7,
    PPN_VMM_CONSTANT_VM_SSH_KEYS_MAX = 8,
    PPN_VMM_CONSTANT_VM_SSH_KEY_MAX = 9,
    PPN_VMM_CONSTANT_VM_USER_DATA_MAX = 10,
    PPN_VMM_CONSTANT_VM_NETWORK_CONFIG_MAX = 11,
    PPN_VMM_CONSTANT_VM_IMAGE_HEADER_MAX = 12,
    PPN_VMM_CONSTANT_VM_BACKING_FILE_MAX = 13,
    PPN_VMM_CONSTANT_VM_IMAGE_SIZE_MAX = 14,
    PPN_VMM_CONSTANT_VM_SEED_BYTES = 15,
    PPN_VMM_CONSTANT_VMM_KVM_PROBE_TIMEOUT_MS = 16,
    PPN_VMM_CONSTANT_VM_RUN_AS_MAX = 17,
} ppn_vmm_constant_id;
PPN_EXPORT int64_t ppn_vmm_constant(uint32_t id);

/* ------------------------------------------------------------------------
 * QMP client
 * ------------------------------------------------------------------------ */

/* Longest line (one JSON object) accepted from QEMU; a longer one is
 * -EMSGSIZE. */
#define PPN_QMP_LINE_MAX (1024u * 1024u)
/* Events kept for ppn_qmp_next_event()/ppn_qmp_wait_event(); when full the
 * oldest is dropped and counted (ppn_qmp_events_dropped()). */
#define PPN_QMP_EVENT_QUEUE_MAX 1024u
/* Size of the run-state buffer in ppn_qmp_status ("running", "paused", ...). */
#define PPN_QMP_STATUS_MAX 32u

typedef struct ppn_qmp ppn_qmp;

/* Called for every event as soon as it is read, in arrival order, from
 * inside whichever call read it (execute, poll, wait_event).  'name' is the
 * event name, 'data_json' its "data" member as JSON text ("{}" when absent),
 * the timestamp as QEMU sent it (0 when absent).  The strings are valid only
 * during the call.  The callback must not call back into the same handle. */
typedef void (*ppn_qmp_event_fn)(const char *name, const char *data_json,
                                 int64_t ts_seconds, int64_t ts_microseconds,
                                 void *userdata);

/* Predicate for ppn_qmp_wait_event(): nonzero when the event is the one
 * waited for.  NULL predicate matches every event of the name. */
typedef int (*ppn_qmp_event_match_fn)(const char *name, const char *data_json,
                                      void *userdata);

/* Connects to the UNIX socket 'socket_path', reads the greeting and
 * negotiates capabilities (qmp_capabilities), all within 'timeout_ms' (> 0).
 * -EINVAL bad argument (or path too long for sun_path); -ENOENT no socket;
 * -ECONNREFUSED nobody listens; -ETIMEDOUT no greeting or no answer in time
 * (e.g. another client holds the monitor); -EBADMSG the greeting is not JSON;
 * -EPROTO JSON but not a QMP greeting, or capabilities refused;
 * -ECONNRESET QEMU closed the socket; -ENOMEM. */
PPN_EXPORT int ppn_qmp_connect(const char *socket_path, int timeout_ms, ppn_qmp **ret_qmp);

/* Closes the connection and frees the handle.  NULL is fine. */
PPN_EXPORT void ppn_qmp_free(ppn_qmp *qmp);

/* The QEMU version from the greeting, e.g. "7.2.0".  Owned by the handle. */
PPN_EXPORT const char *ppn_qmp_qemu_version(const ppn_qmp *qmp);

/* Sets (or with NULL clears) the event callback. */
PPN_EXPORT void ppn_qmp_set_event_callback(ppn_qmp *qmp, ppn_qmp_event_fn fn, void *userdata);

/* Executes 'command' with 'arguments_json' (a JSON object as text, or NULL
 * for none) and waits at most 'timeout_ms' (> 0) for the reply carrying this
 * command's id.  Events read meanwhile go to the callback and the queue;
 * replies to earlier, timed-out commands are discarded by id.
 * On success *ret_return_json (if not NULL) is the "return" member as JSON
 * text.  Errors: -EINVAL bad argument or arguments_json not a JSON object;
 * -EREMOTEIO QEMU answered with an error (ppn_qmp_last_error_class/desc);
 * -ETIMEDOUT no reply in time (the connection stays usable); -ECONNRESET
 * QEMU closed the socket; -EBADMSG QEMU sent a line that is not JSON;
 * -EPROTO a JSON object that is neither reply nor event, or an error
 * without id (QEMU could not parse the request); -EMSGSIZE an over-long
 * line; -ENOTCONN the handle was broken by one of these earlier.  After
 * -ECONNRESET, -EBADMSG, -EPROTO, -EMSGSIZE the handle is broken and every
 * later call returns -ENOTCONN. */
PPN_EXPORT int ppn_qmp_execute(ppn_qmp *qmp, const char *command, const char *arguments_json,
                               int timeout_ms, char **ret_return_json);

/* The error class ("GenericError", "DeviceNotActive", "CommandNotFound",
 * ...) and description of the last -EREMOTEIO, or "" when there was none.
 * Owned by the handle, valid until the next command.  Control characters
 * (escapes, line breaks) from the monitor are replaced with '?'. */
PPN_EXPORT const char *ppn_qmp_last_error_class(const ppn_qmp *qmp);
PPN_EXPORT const char *ppn_qmp_last_error_desc(const ppn_qmp *qmp);

/* Reads what QEMU sends for up to 'timeout_ms' (>= 0; 0 only drains what is
 * already readable) and delivers events.  Returns the number of events read
 * (0 when the time passed without any), or the errors of ppn_qmp_execute()
 * except -EREMOTEIO and -ETIMEDOUT. */
PPN_EXPORT int ppn_qmp_poll(ppn_qmp *qmp, int timeout_ms);

/* Takes the oldest queued event.  -EAGAIN when the queue is empty.  The
 * caller frees *ret_name and *ret_data_json. */
PPN_EXPORT int ppn_qmp_next_event(ppn_qmp *qmp, char **ret_name, char **ret_data_json);

/* Waits up to 'timeout_ms' (>= 0) for an event named 'name' that 'match'
 * accepts: first among queued events (including those that arrived before
 * the reply of the command that caused them), then among new ones.  The
 * matching event is removed from the queue; others stay, in order.  On
 * success *ret_data_json (if not NULL) is its data.  -ETIMEDOUT when the
 * time passed; -ECONNRESET when QEMU closed the socket first (the handle is
 * then broken); the other errors of ppn_qmp_poll(). */
PPN_EXPORT int ppn_qmp_wait_event(ppn_qmp *qmp, const char *name, ppn_qmp_event_match_fn match,
                                  void *userdata, int timeout_ms, char **ret_data_json);

/* How many events the full queue dropped since the connection opened. */
PPN_EXPORT uint64_t ppn_qmp_events_dropped(const ppn_qmp *qmp);

/* The socket's file descriptor, for the caller's own poll loop (readable
 * means: call ppn_qmp_poll(qmp, 0)).  Owned by the handle. */
PPN_EXPORT int ppn_qmp_fd(const ppn_qmp *qmp);

/* -- Operations over QMP (each bounded by its timeout_ms, same errors as
 *    ppn_qmp_execute plus those named) -- */

typedef struct ppn_qmp_status {
    bool running;                      /* vCPUs run */
    bool singlestep;
    char status[PPN_QMP_STATUS_MAX];   /* "running", "paused", "shutdown", ... */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_qmp_status;

/* query-status. */
PPN_EXPORT int ppn_qmp_query_status(ppn_qmp *qmp, int timeout_ms, ppn_qmp_status *ret_status);
/* query-kvm: *ret_enabled is true when the guest runs under KVM, false
 * under TCG.  -EPROTO a reply without "enabled". */
PPN_EXPORT int ppn_qmp_query_kvm(ppn_qmp *qmp, int timeout_ms, bool *ret_enabled);
/* system_reset: the reset button, without the guest's cooperation. */
PPN_EXPORT int ppn_qmp_system_reset(ppn_qmp *qmp, int timeout_ms);
/* stop (pause the vCPUs) and cont. */
PPN_EXPORT int ppn_qmp_stop(ppn_qmp *qmp, int timeout_ms);
PPN_EXPORT int ppn_qmp_cont(ppn_qmp *qmp, int timeout_ms);
/* Presses the ACPI power button (system_powerdown). */
PPN_EXPORT int ppn_qmp_powerdown(ppn_qmp *qmp, int timeout_ms);
/* quit: QEMU exits at once, without the guest's cooperation.  A socket
 * closed before the reply counts as success. */
PPN_EXPORT int ppn_qmp_quit(ppn_qmp *qmp, int timeout_ms);

/* Sets the balloon target: the guest's RAM size 'target_bytes' (> 0).  The
 * guest driver moves toward it over time (BALLOON_CHANGE events).
 * -ENODEV no balloon device (DeviceNotActive). */
PPN_EXPORT int ppn_qmp_balloon_set(ppn_qmp *qmp, uint64_t target_bytes, int timeout_ms);
/* query-balloon: guest RAM minus the balloon, in bytes.  -ENODEV as above. */
PPN_EXPORT int ppn_qmp_balloon_query(ppn_qmp *qmp, int timeout_ms, uint64_t *ret_actual_bytes);
/* Sets the balloon target (ppn_qmp_balloon_set) and reads the actual size
 * back; with 'wait_ms' > 0 it then waits up to 'wait_ms' in all until the
 * guest's driver has reached the target (query-balloon, then each
 * BALLOON_CHANGE event).  *ret_actual_bytes (may be NULL) is the last
 * actual size seen.  -ETIMEDOUT the target was not reached within
 * 'wait_ms' (it stays set); -EINVAL a target of 0, a negative wait; the
 * errors of ppn_qmp_balloon_set, ppn_qmp_balloon_query and
 * ppn_qmp_wait_event.  'timeout_ms' bounds each QMP command. */
PPN_EXPORT int ppn_qmp_balloon_set_wait(ppn_qmp *qmp, uint64_t target_bytes, int wait_ms, int timeout_ms,
                                        uint64_t *ret_actual_bytes);

/* Guest memory statistics reported by the balloon driver.  A value the
 * guest did not report is UINT64_MAX. */
typedef struct ppn_vmm_guest_stats {
    int64_t last_update;               /* guest time of the report, s; 0 never */
    uint64_t swap_in;
    uint64_t swap_out;
    uint64_t major_faults;
    uint64_t minor_faults;
    uint64_t free_memory;
    uint64_t total_memory;
    uint64_t available_memory;
    uint64_t disk_caches;
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_vmm_guest_stats;

/* The QOM path of the balloon device the VMs of this library have. */
#define PPN_VM_BALLOON_QOM_PATH "/machine/peripheral/ppn-balloon0"
PPN_EXPORT const char *ppn_vm_balloon_qom_path(void);

/* Asks the balloon driver at QOM 'device_path' (NULL: the path above) to
 * report every 'interval_s' (0 stops) seconds. */
PPN_EXPORT int ppn_qmp_guest_stats_enable(ppn_qmp *qmp, const char *device_path,
                                          uint32_t interval_s, int timeout_ms);
/* Reads the last report.  -ENODATA when polling is off or nothing came yet;
 * -ENODEV no such device. */
PPN_EXPORT int ppn_qmp_guest_stats(ppn_qmp *qmp, const char *device_path, int timeout_ms,
                                   ppn_vmm_guest_stats *ret_stats);

/* ------------------------------------------------------------------------
 * Graceful shutdown: power button, re-press, wait, quit, SIGTERM, SIGKILL
 * ------------------------------------------------------------------------ */

typedef enum ppn_vm_shutdown_step {
    PPN_VM_SHUTDOWN_CONNECT = 1,  /* connect to the monitor */
    PPN_VM_SHUTDOWN_PRESS = 2,    /* system_powerdown (first or again) */
    PPN_VM_SHUTDOWN_GUEST_DOWN = 3, /* SHUTDOWN event or monitor closed */
    PPN_VM_SHUTDOWN_DEADLINE = 4, /* the guest did not go down in time */
    PPN_VM_SHUTDOWN_QUIT = 5,     /* QMP quit */
    PPN_VM_SHUTDOWN_SIGTERM = 6,
    PPN_VM_SHUTDOWN_SIGKILL = 7,
    PPN_VM_SHUTDOWN_EXITED = 8,   /* the QEMU process is gone */
} ppn_vm_shutdown_step;

/* How the VM ended. */
typedef enum ppn_vm_shutdown_outcome {
    PPN_VM_SHUTDOWN_OUTCOME_NONE = 0,      /* still running (failure) */
    PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL = 1,  /* the guest powered off */
    PPN_VM_SHUTDOWN_OUTCOME_QUIT = 2,      /* QEMU quit on request */
    PPN_VM_SHUTDOWN_OUTCOME_SIGTERM = 3,
    PPN_VM_SHUTDOWN_OUTCOME_SIGKILL = 4,
    PPN_VM_SHUTDOWN_OUTCOME_NOT_RUNNING = 5, /* nothing was running */
    PPN_VM_SHUTDOWN_OUTCOME_EXITED = 6,  /* QEMU went away, not by the guest's poweroff
                                            nor by this sequence (killed by someone else) */
} ppn_vm_shutdown_outcome;

typedef struct ppn_vm_shutdown_opts {
    const char *monitor_path;     /* QMP socket; NULL: signals only */
    pid_t pid;                    /* QEMU process, or 0 if unknown (no signals) */
    uint32_t deadline_ms;         /* wait for the guest after the first press */
    uint32_t repress_interval_ms; /* press again this often; 0 never */
    uint32_t step_timeout_ms;     /* each QMP step (connect, command) */
    uint32_t quit_wait_ms;        /* after quit, wait for QEMU to exit */
    uint32_t term_wait_ms;        /* after SIGTERM, wait before SIGKILL */
    uint32_t kill_wait_ms;        /* after SIGKILL, wait for the exit */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_vm_shutdown_opts;

/* Fills 'opts' with defaults: deadline 60 s, re-press every 10 s, steps
 * 5 s, quit wait 5 s, SIGTERM wait 10 s, SIGKILL wait 5 s; no path, no pid. */
PPN_EXPORT void ppn_vm_shutdown_opts_init(ppn_vm_shutdown_opts *opts);
/* Longest the whole sequence can take with 'opts', in ms (for unit
 * TimeoutStopSec). */
PPN_EXPORT uint64_t ppn_vm_shutdown_max_ms(const ppn_vm_shutdown_opts *opts);

/* Reported for each step as it completes: 'result' is 0 or a negative errno
 * of that step, 'elapsed_ms' counts from the start of the sequence. */
typedef void (*ppn_vm_shutdown_progress_fn)(ppn_vm_shutdown_step step, int result,
                                            uint64_t elapsed_ms, void *userdata);

typedef struct ppn_vm_shutdown_result {
    uint32_t outcome;             /* ppn_vm_shutdown_outcome */
    unsigned presses;             /* power button presses sent */
    uint64_t elapsed_ms;
    int last_error;               /* last failing step's negative errno, or 0 */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_vm_shutdown_result;

/* Runs the sequence: connect (with a pid, a monitor another client holds
 * is retried until the deadline); press; wait for the guest's SHUTDOWN
 * event ("guest": true) or the monitor to close (re-pressing every
 * interval) until the deadline; then quit; then SIGTERM, SIGKILL to 'pid'.
 * With a pid, "down" means the process exited (reaped if it is our child);
 * without one, that the monitor closed.  GRACEFUL only when the guest's
 * SHUTDOWN was seen; QEMU going away otherwise is EXITED.  A monitor that
 * breaks the protocol is not taken for a guest going down: the guest keeps
 * its deadline, then the signals follow.
 * 'progress' may be NULL.  Returns 0 when the VM is down (outcome says how)
 * and -ETIMEDOUT when it still runs after every step; -EINVAL bad options
 * (neither path nor pid).  *ret_result is set in both cases. */
PPN_EXPORT int ppn_vm_shutdown(const ppn_vm_shutdown_opts *opts, ppn_vm_shutdown_progress_fn progress,
                               void *userdata, ppn_vm_shutdown_result *ret_result);

/* How a reboot went. */
typedef enum ppn_vm_reboot_outcome {
    PPN_VM_REBOOT_OUTCOME_NONE = 0,     /* not rebooted (failure) */
    PPN_VM_REBOOT_OUTCOME_GRACEFUL = 1, /* the guest shut down on the power button and was
                                           reset and resumed (or reset itself) */
    PPN_VM_REBOOT_OUTCOME_RESET = 2,    /* no answer by the deadline: system_reset */
} ppn_vm_reboot_outcome;

/* ppn_vm_reboot() flag: at the deadline give up instead of resetting. */
#define PPN_VM_REBOOT_NO_RESET 1u

/* Reboots the guest gracefully (QMP has no reboot command): QEMU is told to
 * pause instead of exiting when the guest powers off (set-action
 * shutdown=pause), the ACPI power button is pressed (again every
 * 'repress_interval_ms', 0 never), and when the guest's SHUTDOWN arrives the
 * machine is reset and resumed, so the guest boots again after its own
 * clean shutdown; a guest that resets itself (its RESET event) counts too.
 * Nothing by 'deadline_ms': system_reset (outcome RESET), or with
 * PPN_VM_REBOOT_NO_RESET -ETIMEDOUT with the guest left running.  The
 * shutdown action is set back to poweroff in every case.  Each QMP step is
 * bounded by 'step_timeout_ms' (> 0).  Returns 0 (rebooted, *ret_outcome
 * says how); -EINVAL bad argument or flag; -EBUSY the VM is not running
 * (paused, shut down); -ENOTSUP QEMU has no set-action (older than 6.0);
 * -ETIMEDOUT see above; the errors of ppn_qmp_connect() and
 * ppn_qmp_execute() (-ECONNRESET: QEMU exited meanwhile) — also after a
 * reboot whose shutdown action could not be set back (*ret_outcome then
 * says the guest rebooted; a later poweroff would pause QEMU).
 * *ret_presses (may be NULL) gets the presses sent. */
PPN_EXPORT int ppn_vm_reboot(const char *monitor_path, uint32_t deadline_ms, uint32_t repress_interval_ms,
                             uint32_t step_timeout_ms, unsigned flags, ppn_vm_reboot_outcome *ret_outcome,
                             unsigned *ret_presses);

/* ------------------------------------------------------------------------
 * VM specification
 * ------------------------------------------------------------------------ */

typedef enum ppn_vm_type {
    PPN_VM_TYPE_TOTEBOX = 1,       /* "VM-Totebox": pinned to a node */
    PPN_VM_TYPE_MEDIAKIT = 2,      /* "VM-MediaKit" */
    PPN_VM_TYPE_ORCHESTRATION = 3, /* "VM-Orchestration" */
    PPN_VM_TYPE_PRIVATEGIT = 4,    /* "VM-PrivateGit" */
} ppn_vm_type;

/* "VM-Totebox", ...; NULL for an unknown type. */
PPN_EXPORT const char *ppn_vm_type_to_string(ppn_vm_type type);
/* Accepts "VM-Totebox" and "totebox" (any case).  -EINVAL otherwise. */
PPN_EXPORT int ppn_vm_type_from_string(const char *s, ppn_vm_type *ret_type);

/* VM names: 1..63 of [a-z0-9-], starting with a letter or digit. */
#define PPN_VM_NAME_MAX 63u
#define PPN_VM_PORT_FORWARDS_MAX 64u
#define PPN_VM_MEMORY_MIN_MIB 64u
#define PPN_VM_MEMORY_MAX_MIB (1024u * 1024u)
#define PPN_VM_VCPUS_MAX 256u
PPN_EXPORT int ppn_vm_name_valid(const char *name); /* 1 valid, 0 not */

typedef enum ppn_vm_proto {
    PPN_VM_PROTO_TCP = 1,
    PPN_VM_PROTO_UDP = 2,
} ppn_vm_proto;

typedef struct ppn_vm_port_forward {
    uint32_t proto;         /* ppn_vm_proto */
    uint16_t host_port;     /* on 127.0.0.1 of the host */
    uint16_t guest_port;
} ppn_vm_port_forward;

typedef struct ppn_vm_spec ppn_vm_spec;

/* A specification with the defaults of 'type' (doc/vmm.md lists them):
 * VM-MediaKit 6144 MiB, 2 vCPUs, 20 GiB qcow2, forwards 1xxxx -> xxxx for
 * 9090 9092 9093 9095 9096 9100 9101 9102 (the seeds' eight services); VM-Totebox 4096 MiB, 2 vCPUs, 20 GiB;
 * VM-Orchestration 2048 MiB, 2 vCPUs, forward 19180 -> 9180;
 * VM-PrivateGit 2048 MiB, 2 vCPUs, forward 13000 -> 3000.  The disk path
 * defaults to empty (no disk) until set.  -EINVAL bad name or type. */
PPN_EXPORT int ppn_vm_spec_new(const char *name, ppn_vm_type type, ppn_vm_spec **ret_spec);
PPN_EXPORT void ppn_vm_spec_free(ppn_vm_spec *spec);
/* A deep copy. */
PPN_EXPORT int ppn_vm_spec_dup(const ppn_vm_spec *spec, ppn_vm_spec **ret_copy);

/* Getters: strings are owned by the spec ("" when unset). */
PPN_EXPORT const char *ppn_vm_spec_name(const ppn_vm_spec *spec);
PPN_EXPORT ppn_vm_type ppn_vm_spec_type(const ppn_vm_spec *spec);
PPN_EXPORT uint32_t ppn_vm_spec_memory_mib(const ppn_vm_spec *spec);
PPN_EXPORT uint32_t ppn_vm_spec_vcpus(const ppn_vm_spec *spec);
PPN_EXPORT const char *ppn_vm_spec_disk(const ppn_vm_spec *spec);
PPN_EXPORT uint64_t ppn_vm_spec_disk_size_bytes(const ppn_vm_spec *spec);
PPN_EXPORT const char *ppn_vm_spec_node(const ppn_vm_spec *spec);
PPN_EXPORT const char *ppn_vm_spec_kernel(const ppn_vm_spec *spec);
PPN_EXPORT const char *ppn_vm_spec_initrd(const ppn_vm_spec *spec);
PPN_EXPORT const char *ppn_vm_spec_append(const ppn_vm_spec *spec);
PPN_EXPORT bool ppn_vm_spec_network(const ppn_vm_spec *spec);
PPN_EXPORT size_t ppn_vm_spec_port_forward_count(const ppn_vm_spec *spec);
/* -ERANGE index out of range. */
PPN_EXPORT int ppn_vm_spec_port_forward(const ppn_vm_spec *spec, size_t index,
                                        ppn_vm_port_forward *ret_forward);

/* Setters: -EINVAL out of range (memory PPN_VM_MEMORY_MIN_MIB..MAX, vCPUs
 * 1..PPN_VM_VCPUS_MAX, strings with control characters or over 4095
 * bytes), -ENOMEM.  NULL or "" clears a string. */
PPN_EXPORT int ppn_vm_spec_set_memory_mib(ppn_vm_spec *spec, uint32_t mib);
PPN_EXPORT int ppn_vm_spec_set_vcpus(ppn_vm_spec *spec, uint32_t vcpus);
/* A disk image path (absolute) and its size for creation (0: leave). */
PPN_EXPORT int ppn_vm_spec_set_disk(ppn_vm_spec *spec, const char *path, uint64_t size_bytes);
/* The node a VM-Totebox is pinned to (required for that type). */
PPN_EXPORT int ppn_vm_spec_set_node(ppn_vm_spec *spec, const char *node);
/* Direct kernel boot (absolute paths; the append line is optional). */
PPN_EXPORT int ppn_vm_spec_set_kernel(ppn_vm_spec *spec, const char *kernel, const char *initrd,
                                      const char *append);
/* User-mode networking on (default) or off (-nic none; no forwards then). */
PPN_EXPORT int ppn_vm_spec_set_network(ppn_vm_spec *spec, bool enabled);
/* Adds a forward.  -EEXIST the host port/proto is taken; -E2BIG more than
 * PPN_VM_PORT_FORWARDS_MAX; -EINVAL port 0 or bad proto. */
PPN_EXPORT int ppn_vm_spec_add_port_forward(ppn_vm_spec *spec, const ppn_vm_port_forward *forward);
/* A port forward from its text form "[tcp:|udp:]HOSTPORT:GUESTPORT" (TCP when no protocol is
 * named; ports 1..65535 in decimal digits): 0 and *ret set, or -EINVAL (ret untouched). */
PPN_EXPORT int ppn_vm_port_forward_parse(const char *text, ppn_vm_port_forward *ret);
PPN_EXPORT void ppn_vm_spec_clear_port_forwards(ppn_vm_spec *spec);

/* Disk format of the spec's disk.  AUTO: read from the image itself each
 * time the QEMU command line is made (ppn_vm_image_probe); ppn-vm create pins
 * the format it read, so that a guest writing a qcow2 header into a raw disk
 * cannot change how the host opens it next time. */
typedef enum ppn_vm_disk_format {
    PPN_VM_DISK_FORMAT_AUTO = 0,
    PPN_VM_DISK_FORMAT_RAW = 1,
    PPN_VM_DISK_FORMAT_QCOW2 = 2,
} ppn_vm_disk_format;

/* "auto", "raw", "qcow2"; NULL for an unknown value. */
PPN_EXPORT const char *ppn_vm_disk_format_to_string(ppn_vm_disk_format format);
/* The reverse (exact, lower case).  -EINVAL otherwise. */
PPN_EXPORT int ppn_vm_disk_format_from_string(const char *s, ppn_vm_disk_format *ret_format);
/* -EINVAL for a value outside the enum. */
PPN_EXPORT int ppn_vm_spec_set_disk_format(ppn_vm_spec *spec, ppn_vm_disk_format format);
PPN_EXPORT ppn_vm_disk_format ppn_vm_spec_disk_format(const ppn_vm_spec *spec);
/* The shared base image the disk is a qcow2 overlay of (absolute; NULL or ""
 * clears).  Recorded for the operator and the fleet; the overlay itself is
 * made by ppn_vm_image_create().  Validation wants a disk when a base is set,
 * and a base different from the disk. */
PPN_EXPORT int ppn_vm_spec_set_base(ppn_vm_spec *spec, const char *base_path);
PPN_EXPORT const char *ppn_vm_spec_base(const ppn_vm_spec *spec);

/* The user QEMU runs as: ppn_vm_qemu_argv() adds "-runas USER" (QEMU opens
 * the monitor socket, console, disks and seed as the user it was started
 * as, then drops to USER before the guest runs), except for "root".  A
 * user name [a-z_][a-z0-9_-]*, at most PPN_VM_RUN_AS_MAX; NULL or "" clears
 * (QEMU keeps the user it is started as).  Stored as "run_as" in the
 * specification, absent when unset.  Whether the user exists is checked
 * where QEMU starts (QEMU refuses an unknown one).  -EINVAL bad name. */
#define PPN_VM_RUN_AS_MAX 32u
PPN_EXPORT int ppn_vm_spec_set_run_as(ppn_vm_spec *spec, const char *user);
/* "" when unset. */
PPN_EXPORT const char *ppn_vm_spec_run_as(const ppn_vm_spec *spec);

/* cloud-init NoCloud settings of a VM (see ppn_vm_seed_write).  Strings are
 * UTF-8, NULL or "" for none.  Bounds (and -EINVAL with a reason beyond):
 *   hostname        RFC 1123: labels of [a-z0-9-] (not starting or ending
 *                   with '-'), 1..63 each, joined by '.', at most 253;
 *   user            [a-z_][a-z0-9_-]*, at most 32;
 *   ssh_keys        at most PPN_VM_SSH_KEYS_MAX public keys, each one line of
 *                   printable ASCII, at most PPN_VM_SSH_KEY_MAX bytes, starting
 *                   "ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-nistp256/384/521 ",
 *                   "sk-ssh-ed25519@openssh.com " or
 *                   "sk-ecdsa-sha2-nistp256@openssh.com " (a private key is
 *                   refused as such);
 *   user_data       at most PPN_VM_USER_DATA_MAX bytes, starting with '#'
 *                   ("#cloud-config", "#!...") or "Content-Type:"; no NUL or
 *                   control characters but tab, CR and LF.  Alone it is the
 *                   seed's user-data as given; with user or ssh_keys, the
 *                   seed's user-data is a MIME multipart of the library's
 *                   cloud-config and this (last, so that its keys win), which
 *                   needs it to start with a marker cloud-init types
 *                   ("#cloud-config", "#!", "#cloud-boothook", "#include",
 *                   ...), not to be MIME itself;
 *   network_config  at most PPN_VM_NETWORK_CONFIG_MAX bytes, same characters,
 *                   must name its "version:". */
#define PPN_VM_SSH_KEYS_MAX 8u
#define PPN_VM_SSH_KEY_MAX 8192u
#define PPN_VM_USER_DATA_MAX (64u * 1024u)
#define PPN_VM_NETWORK_CONFIG_MAX (16u * 1024u)
typedef struct ppn_vm_cloud_init {
    const char *hostname;
    const char *user;
    const char *const *ssh_keys;
    size_t n_ssh_keys;
    const char *user_data;
    const char *network_config;
} ppn_vm_cloud_init;

/* Sets the VM's cloud-init settings (copied); NULL, or all fields empty,
 * removes them (no seed).  -EINVAL with *ret_reason (if not NULL, static)
 * naming the field and the problem; -ENOMEM.  The spec is unchanged on
 * failure. */
PPN_EXPORT int ppn_vm_spec_set_cloud_init(ppn_vm_spec *spec, const ppn_vm_cloud_init *ci,
                                          const char **ret_reason);
/* Fills *ret_ci with the spec's settings (strings "" when unset, pointers
 * owned by the spec, valid until it changes).  Returns 1 when the VM has
 * cloud-init settings, 0 when not, -EINVAL. */
PPN_EXPORT int ppn_vm_spec_cloud_init(const ppn_vm_spec *spec, ppn_vm_cloud_init *ret_ci);

/* Checks the whole spec.  -EINVAL with *ret_reason (if not NULL, static
 * string) naming the problem, e.g. "VM-Totebox needs a pinned node". */
PPN_EXPORT int ppn_vm_spec_validate(const ppn_vm_spec *spec, const char **ret_reason);

/* JSON text of the spec (versioned object, "format": 1). */
PPN_EXPORT int ppn_vm_spec_to_json(const ppn_vm_spec *spec, char **ret_json);
/* Parses and validates.  -EBADMSG not JSON; -EUCLEAN JSON but not a valid
 * spec (unknown format, missing or wrong-typed member, out of range,
 * failed validation); *ret_reason (if not NULL) is then a static string
 * naming the problem. */
PPN_EXPORT int ppn_vm_spec_from_json(const char *json, size_t len, ppn_vm_spec **ret_spec,
                                     const char **ret_reason);

/* State directory layout: <state_dir>/<name>/spec.json, qmp.sock,
 * qemu.pid, console.log, qemu.log, cidata.img.
 * Saves spec.json atomically (creating <state_dir>/<name>/, mode 0700).
 * -EINVAL invalid spec; -EEXIST when 'create' and the VM exists; -EIO. */
PPN_EXPORT int ppn_vm_spec_save(const ppn_vm_spec *spec, const char *state_dir, bool create);
/* Loads and validates <state_dir>/<name>/spec.json.  -ENOENT no such VM;
 * -EUCLEAN the stored file is corrupt: not JSON, not a valid spec, or its
 * name differs from the directory (*ret_reason, if not NULL, says which);
 * -EFBIG over 256 KiB; other read errors as from the file system. */
PPN_EXPORT int ppn_vm_spec_load(const char *state_dir, const char *name, ppn_vm_spec **ret_spec,
                                const char **ret_reason);
/* Removes the VM's directory.  -EBUSY while its QEMU runs; -ENOENT. */
PPN_EXPORT int ppn_vm_remove(const char *state_dir, const char *name);
/* Names of the VMs in 'state_dir', sorted; returns the count.  A missing
 * state directory is 0 VMs.  Free with ppn_vmm_strv_free(). */
PPN_EXPORT int ppn_vm_list(const char *state_dir, char ***ret_names);

/* Paths of one VM's files: 'what' is "spec", "monitor", "pid", "console",
 * "log", "seed" (cidata.img), "lock" (serialises start), "dir".  Always
 * absolute: a relative 'state_dir' is resolved against the working
 * directory.  -ENAMETOOLONG when the path does not fit 'size'. */
PPN_EXPORT int ppn_vm_path(const char *state_dir, const char *name, const char *what, char *buf,
                           size_t size);

/* ------------------------------------------------------------------------
 * Disk images: format read from the image, qcow2 overlays on a base image
 * ------------------------------------------------------------------------ */

/* Bytes of an image read to identify it; a qcow2 header, its extensions
 * and its backing file name must lie within them. */
#define PPN_VM_IMAGE_HEADER_MAX 65536u
#define PPN_VM_BACKING_FILE_MAX 1023u
/* Largest virtual size accepted from an image or for a new one: 64 TiB. */
#define PPN_VM_IMAGE_SIZE_MAX (64ULL << 40)

typedef struct ppn_vm_image_info {
    uint32_t format;                  /* ppn_vm_disk_format: RAW or QCOW2 */
    uint32_t qcow2_version;           /* 2 or 3; 0 for raw */
    uint32_t cluster_bits;            /* qcow2; 0 for raw */
    uint64_t virtual_size;            /* bytes the guest sees */
    char backing_file[PPN_VM_BACKING_FILE_MAX + 1]; /* "" for none */
    uint32_t backing_format;          /* ppn_vm_disk_format, from the header; AUTO if unstated */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_vm_image_info;

/* Identifies an image from its first 'len' bytes 'data' (untrusted; at most
 * PPN_VM_IMAGE_HEADER_MAX are looked at), 'file_size' being the whole
 * image's size.  The qcow2 magic "QFI\xfb" makes it qcow2 and then the
 * header must be valid (version 2 or 3, cluster size 512 B..2 MiB, aligned
 * tables inside the bounds above, no encryption, no external data file, no
 * unknown incompatible feature, a backing name of 1..1023 bytes without NUL
 * or control characters); the magic of another format QEMU knows (QED,
 * VMDK, VDI, VHDX, VPC, LUKS, Parallels, Bochs, cloop) is refused; anything
 * else is raw (virtual size = file size).  -EBADMSG an invalid qcow2 header;
 * -EMEDIUMTYPE a format other than raw and qcow2, or a qcow2 feature this
 * library does not accept; -EFBIG a virtual size over PPN_VM_IMAGE_SIZE_MAX;
 * each with *ret_reason (if not NULL, static) saying what; -EINVAL. */
PPN_EXPORT int ppn_vm_image_parse(const void *data, size_t len, uint64_t file_size,
                                  ppn_vm_image_info *ret_info, const char **ret_reason);

/* Opens 'path' (a regular file or block device; a FIFO is refused without
 * blocking), reads its first bytes and parses them as above.  The errors of
 * ppn_vm_image_parse, -ENOENT, -EACCES, -EISDIR, -ENODEV (not a file or
 * block device), -EIO. */
PPN_EXPORT int ppn_vm_image_probe(const char *path, ppn_vm_image_info *ret_info,
                                  const char **ret_reason);

/* Writes a new qcow2 (version 3, 64 KiB clusters, no compression or
 * encryption) at 'path' (absolute; must not exist) of 'size_bytes' (rounded
 * up to 512; 0: the base's virtual size) — with 'base' (absolute, or NULL
 * for an empty image) as its backing file, the base's format (raw or qcow2,
 * read from it) recorded in the header so that QEMU never guesses it.  The
 * base is only read, now and by QEMU later: many overlays can share it.
 * The file is written under a temporary name, fsync'd, linked into place
 * (never over an existing file) and the directory fsync'd: a failure leaves
 * nothing.  -EEXIST 'path' exists; -EINVAL bad arguments, size smaller than
 * the base or over PPN_VM_IMAGE_SIZE_MAX, base equal to path, base path over
 * PPN_VM_BACKING_FILE_MAX (*ret_reason says which); the errors of
 * ppn_vm_image_probe for the base; -EIO and other write errors. */
PPN_EXPORT int ppn_vm_image_create(const char *path, const char *base, uint64_t size_bytes,
                                   const char **ret_reason);

/* ------------------------------------------------------------------------
 * cloud-init NoCloud seed
 * ------------------------------------------------------------------------ */

/* Size of the seed image: a FAT12 file system labelled "cidata" holding
 * meta-data (instance-id, local-hostname), user-data (the library's
 * cloud-config: the user with passwordless sudo, a locked password and the
 * SSH keys; the spec's user-data as given; or both as a MIME multipart)
 * and, when given, network-config. */
#define PPN_VM_SEED_BYTES (1024u * 1024u)

/* The seed image of the spec's cloud-init settings, PPN_VM_SEED_BYTES long,
 * the same bytes for the same spec (instance-id "ppn-<name>-<16 hex>" from
 * a hash of the settings, so that changed settings are a new instance).
 * The caller frees *ret_image.  -ENODATA the spec has no cloud-init
 * settings; -EINVAL; -ENOMEM. */
PPN_EXPORT int ppn_vm_seed_build(const ppn_vm_spec *spec, uint8_t **ret_image, size_t *ret_size);

/* Writes the seed to <state_dir>/<name>/cidata.img (ppn_vm_path "seed")
 * atomically, or removes a stale one when the spec has no cloud-init
 * settings.  ppn_vm_qemu_argv attaches it as a read-only virtio disk;
 * ppn_vm_start and ppn_vm_exec write it before QEMU starts.  Errors of
 * ppn_vm_seed_build (but -ENODATA), ppn_vm_path, and the file system. */
PPN_EXPORT int ppn_vm_seed_write(const ppn_vm_spec *spec, const char *state_dir);

/* ------------------------------------------------------------------------
 * QEMU command line, systemd unit, runner, status
 * ------------------------------------------------------------------------ */

#define PPN_VM_ACCEL_AUTO 0u          /* KVM if ppn_vmm_kvm_usable(), else TCG */
#define PPN_VM_ACCEL_KVM (1u << 0)
#define PPN_VM_ACCEL_TCG (1u << 1)

/* How long ppn_vmm_kvm_probe() lets QEMU run the probe under KVM. */
#define PPN_VMM_KVM_PROBE_TIMEOUT_MS 1500u

/* Runs the probe guest under 'accel' (PPN_VM_ACCEL_KVM or _TCG): QEMU
 * ('qemu_binary', NULL: qemu-system-x86_64 from PATH) boots a 278-byte image
 * that enters long mode, rewrites a live page table, touches and checks the
 * pages it maps and exits through isa-debug-exit.  For KVM a vCPU running
 * HLT in this process is tried first (no QEMU when even that fails).
 * Returns 1 when the guest completed within 'timeout_ms' (QEMU is killed
 * at the deadline), 0 when it did not, -ENOENT no such QEMU binary,
 * -EINVAL bad accel or timeout, other negative errno when QEMU could not be
 * started.  *ret_elapsed_ms (may be NULL) is the wall time it took.
 * Thread-safe; writes no file; starts one process and reaps it. */
PPN_EXPORT int ppn_vmm_accel_probe(const char *qemu_binary, unsigned accel, int timeout_ms,
                                   uint32_t *ret_elapsed_ms);
/* ppn_vmm_accel_probe(qemu_binary, PPN_VM_ACCEL_KVM,
 * PPN_VMM_KVM_PROBE_TIMEOUT_MS, NULL), uncached.  Costs about one QEMU start
 * (tens of ms) where KVM works or QEMU refuses KVM at once; the full 1.5 s
 * where KVM guests hang. */
PPN_EXPORT int ppn_vmm_kvm_probe(const char *qemu_binary);
/* 1 if KVM really runs guests with qemu-system-x86_64 from PATH, else 0:
 * ppn_vmm_kvm_probe(), once per process (cached). */
PPN_EXPORT int ppn_vmm_kvm_usable(void);
/* The accelerator 'flags' mean for 'qemu_binary': PPN_VM_ACCEL_KVM or
 * PPN_VM_ACCEL_TCG as given, and for AUTO what the probe of that binary says
 * (cached per binary, thread-safe).  -EINVAL both given. */
PPN_EXPORT int ppn_vm_accel_resolve(const char *qemu_binary, unsigned flags);
/* "kvm" or "tcg"; NULL for anything else. */
PPN_EXPORT const char *ppn_vm_accel_name(unsigned accel);

#define PPN_VM_START_PAUSED (1u << 2) /* -S: vCPUs wait for cont */

/* Checks that the files a specification boots from exist now: kernel,
 * initrd and base image readable files, the disk a readable file or block
 * device (or missing with a base or a size: it is created).  On failure
 * *ret_field (may be NULL) names the field ("kernel", "initrd", "base",
 * "disk") and the errno is stat's or access's (-ENOENT, -EACCES; -EISDIR
 * not a file). */
PPN_EXPORT int ppn_vm_spec_check_files(const ppn_vm_spec *spec, const char **ret_field);

/* The QEMU argv (argv[0] is 'qemu_binary' or "qemu-system-x86_64"), NULL-
 * terminated; always a virtio-balloon device (id ppn-balloon0) and a QMP
 * socket at the VM's monitor path; the console goes to console.log.  The
 * disk is a virtio drive of the spec's pinned format, or of the format read
 * from the image when it is AUTO; with cloud-init settings the seed
 * (cidata.img) follows as a read-only virtio drive.
 * Free with ppn_vmm_strv_free().  -EINVAL invalid spec or flags (both
 * accelerators); for an AUTO disk, the errors of ppn_vm_image_probe (e.g.
 * -ENOENT no image yet, -EMEDIUMTYPE not raw or qcow2). */
PPN_EXPORT int ppn_vm_qemu_argv(const ppn_vm_spec *spec, const char *state_dir, const char *qemu_binary,
                                unsigned flags, char ***ret_argv);

typedef struct ppn_vm_unit_opts {
    const char *ppn_vm_binary;    /* absolute path of ppn-vm (ExecStart/ExecStop) */
    const char *state_dir;        /* absolute */
    uint32_t shutdown_deadline_ms; /* graceful wait of ExecStop; 0: 60 s */
    /* The caller's own command lines instead of ppn-vm's (then
     * ppn_vm_binary and state_dir are not used): NULL-terminated argv
     * arrays, argv[0] absolute.  exec_start must end up exec'ing QEMU
     * (ppn_vm_exec() does), so that QEMU is the main process; exec_stop
     * (may be NULL) must not return before QEMU is gone.  The word
     * "$MAINPID" or "${MAINPID}" is left for systemd to expand; every other
     * word is quoted, '$' and '%' literal. */
    const char *const *exec_start;
    const char *const *exec_stop;
    /* For ppn-vm's own ExecStart: "run --accel kvm|tcg"; 0 (AUTO) lets run
     * probe on each start. */
    uint32_t accel;
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_vm_unit_opts;

/* The unit name "ppn-vm-<name>.service" into 'buf'.  -ENAMETOOLONG. */
PPN_EXPORT int ppn_vm_unit_name(const ppn_vm_spec *spec, char *buf, size_t size);
/* The text of a systemd service: ExecStart runs "ppn-vm run" (which execs
 * QEMU, so the main PID is QEMU) or the caller's exec_start, ExecStop runs
 * "ppn-vm shutdown" with the deadline and $MAINPID (or exec_stop),
 * TimeoutStopSec exceeds the longest shutdown.  -EINVAL invalid spec,
 * relative paths, a control character in a word, both accelerators. */
PPN_EXPORT int ppn_vm_unit(const ppn_vm_spec *spec, const ppn_vm_unit_opts *opts, char **ret_text);

/* Direct runner, for hosts where systemd is not PID 1.
 * Writes the cloud-init seed (ppn_vm_seed_write), then starts QEMU for the
 * stored VM 'name' as a child of the caller in a new session, records its
 * pid in qemu.pid and waits up to 'timeout_ms' until the guest runs: the
 * monitor accepts a QMP connection, query-status says running (with
 * PPN_VM_START_PAUSED: prelaunch or paused) and the guest has written to
 * its serial console (console.log is not empty; not waited for when
 * paused).  The caller reaps the child (ppn_vm_supervise does).  -EALREADY it already runs; -ECHILD QEMU exited
 * during start (ppn_vm_log_last_line() has QEMU's reason); -EIO the guest
 * stopped for good before it ran (KVM internal error, panic, shutdown;
 * QEMU is killed); -ETIMEDOUT it did not come up in time (QEMU is
 * killed); the errors of ppn_vm_spec_load. */
PPN_EXPORT int ppn_vm_start(const char *state_dir, const char *name, const char *qemu_binary,
                            unsigned flags, int timeout_ms, pid_t *ret_pid);

/* Waits for the child 'pid' started by ppn_vm_start() to exit, removes
 * qemu.pid and the socket, and returns its wait status in *ret_wait_status.
 * -EINTR when a signal interrupted the wait (call again); -ECHILD it was
 * reaped already (ppn_vm_shutdown() reaps a child it waits for): the files
 * are removed all the same and the status is unknown. */
PPN_EXPORT int ppn_vm_supervise(const char *state_dir, const char *name, pid_t pid,
                                int *ret_wait_status);

/* -- The supervisor (PPN_VMM_1.3): a started QEMU watched on the caller's
 *    poll loop.  ppn_vm_supervisor_start() resolves the accelerator and
 *    starts QEMU (ppn_vm_start, within its deadline); the caller polls
 *    ppn_vm_supervisor_fd() (readable when QEMU exited) with
 *    ppn_vm_supervisor_timeout() and calls ppn_vm_supervisor_process() with
 *    its monotonic clock; ppn_vm_supervisor_stop() shuts the guest down
 *    gracefully.  Each change of state goes to the callback. -- */

typedef struct ppn_vm_supervisor ppn_vm_supervisor;

typedef enum ppn_vm_supervisor_state {
    PPN_VM_SUPERVISOR_RUNNING = 1,  /* the guest runs (it came up within the start deadline) */
    PPN_VM_SUPERVISOR_STOPPING = 2, /* the graceful shutdown sequence runs */
    PPN_VM_SUPERVISOR_EXITED = 3,   /* QEMU is gone: reaped, qemu.pid and the socket removed */
} ppn_vm_supervisor_state;

/* A change of state.  'wait_status' (waitpid's) is meaningful for EXITED
 * when 'status_known' is true; it is not when the shutdown sequence reaped
 * QEMU itself. */
typedef void (*ppn_vm_supervisor_state_fn)(ppn_vm_supervisor_state state, bool status_known,
                                           int wait_status, void *userdata);

/* Starts the stored VM 'name' (ppn_vm_accel_resolve of 'flags', then
 * ppn_vm_start with 'timeout_ms') and returns its supervisor, in state
 * RUNNING (reported to 'cb', which may be NULL).  The caller must not reap
 * QEMU itself.  Errors of ppn_vm_accel_resolve and ppn_vm_start (-EALREADY,
 * -ECHILD, -EIO, -ETIMEDOUT, -ENOENT); -EINVAL NULL, an invalid name,
 * timeout_ms <= 0, bad flags; -ENOMEM. */
PPN_EXPORT int ppn_vm_supervisor_start(const char *state_dir, const char *name, const char *qemu_binary,
                                       unsigned flags, int timeout_ms, ppn_vm_supervisor_state_fn cb,
                                       void *userdata, ppn_vm_supervisor **ret);
/* QEMU's pid (0 for NULL). */
PPN_EXPORT pid_t ppn_vm_supervisor_pid(const ppn_vm_supervisor *sup);
/* The accelerator QEMU was started with: PPN_VM_ACCEL_KVM or _TCG, what
 * AUTO resolved to (0 for NULL). */
PPN_EXPORT unsigned ppn_vm_supervisor_accel(const ppn_vm_supervisor *sup);
/* A descriptor that becomes readable when QEMU exits (a pidfd), or -1 on
 * a kernel without pidfd_open (before Linux 5.3: then only the timeout
 * drives the calls), once EXITED, or for NULL.  Owned by the supervisor. */
PPN_EXPORT int ppn_vm_supervisor_fd(const ppn_vm_supervisor *sup);
/* Milliseconds from 'now_ms' (the caller's CLOCK_MONOTONIC in ms) until
 * ppn_vm_supervisor_process() is due: -1 when only the descriptor matters,
 * else at most 200 (no pidfd); 0 when it is due now. */
PPN_EXPORT int ppn_vm_supervisor_timeout(const ppn_vm_supervisor *sup, uint64_t now_ms);
/* Looks whether QEMU exited, without blocking; when it did, reaps it,
 * removes qemu.pid and the socket and goes to EXITED.  Returns the state
 * (ppn_vm_supervisor_state); -EINVAL NULL. */
PPN_EXPORT int ppn_vm_supervisor_process(ppn_vm_supervisor *sup, uint64_t now_ms);
/* Graceful shutdown of the supervised VM: ppn_vm_shutdown() with 'opts'
 * (NULL: ppn_vm_shutdown_opts_init's defaults; its monitor_path and pid are
 * the supervisor's whatever the caller set), then the reaping of
 * ppn_vm_supervisor_process(); blocks for at most
 * ppn_vm_shutdown_max_ms(opts) plus the reaping.  States STOPPING, then
 * EXITED.  *ret_result (may be NULL) as ppn_vm_shutdown sets it.  0 when
 * QEMU is gone (also when it had exited already); -ETIMEDOUT QEMU outlived
 * every step (it is then still waited for, and reaped); -EINVAL NULL, bad
 * options (a reserved field set, no step timeout): nothing was done. */
PPN_EXPORT int ppn_vm_supervisor_stop(ppn_vm_supervisor *sup, const ppn_vm_shutdown_opts *opts,
                                      ppn_vm_shutdown_progress_fn progress, void *userdata,
                                      ppn_vm_shutdown_result *ret_result);
/* QEMU's wait status once EXITED.  -EAGAIN it has not exited; -ECHILD the
 * status is unknown (the shutdown sequence or someone else reaped it). */
PPN_EXPORT int ppn_vm_supervisor_wait_status(const ppn_vm_supervisor *sup, int *ret_wait_status);
/* Frees the supervisor and its descriptor; QEMU is left as it is (a
 * running one goes on running, unsupervised).  NULL is fine. */
PPN_EXPORT void ppn_vm_supervisor_free(ppn_vm_supervisor *sup);

/* Execs QEMU in the calling process (for ExecStart), writing qemu.pid.
 * Returns only on failure. */
PPN_EXPORT int ppn_vm_exec(const char *state_dir, const char *name, const char *qemu_binary,
                           unsigned flags);

/* The pid recorded in qemu.pid if that process still runs and is QEMU,
 * else 0 (and a stale pid file is ignored). */
PPN_EXPORT int ppn_vm_pid(const char *state_dir, const char *name, pid_t *ret_pid);
/* Connects to the monitor of the stored VM 'name' while its QEMU runs
 * (ppn_vm_pid, then ppn_qmp_connect on its "monitor" path within
 * 'timeout_ms').  -ESRCH the VM is stored but does not run; the errors of
 * ppn_vm_spec_load for a VM that does not run (-ENOENT: no such VM); -EINVAL
 * NULL, a negative timeout, an invalid name; the errors of ppn_qmp_connect
 * (-ETIMEDOUT: another client may hold the monitor). */
PPN_EXPORT int ppn_vm_qmp_connect(const char *state_dir, const char *name, int timeout_ms, ppn_qmp **ret);
/* 0 when 'pid' is this VM's own running QEMU: the pid recorded in qemu.pid,
 * alive, with the VM's monitor socket on its command line.  -ESRCH the VM
 * does not run; -EPERM 'pid' is some other process; -EINVAL pid <= 0;
 * errors of ppn_vm_pid.  Check before signalling a pid given from outside. */
PPN_EXPORT int ppn_vm_pid_check(const char *state_dir, const char *name, pid_t pid);
/* QEMU's last line in the VM's qemu.log (its stderr), non-printable bytes
 * as '?', into 'buf' (cut to fit).  Returns its length; -ENODATA empty log,
 * -ENOENT no log. */
PPN_EXPORT int ppn_vm_log_last_line(const char *state_dir, const char *name, char *buf, size_t size);

typedef struct ppn_vm_info {
    char name[PPN_VM_NAME_MAX + 1];
    uint32_t type;              /* ppn_vm_type */
    uint32_t memory_mib;        /* from the spec */
    uint32_t vcpus;
    pid_t pid;                  /* 0 when not running */
    bool running;               /* the QEMU process runs */
    char status[PPN_QMP_STATUS_MAX]; /* QMP run state, "" when unknown */
    uint64_t balloon_actual;    /* bytes; 0 when unknown */
    int qmp_error;              /* 0 or why status/balloon are unknown */
    char node[64];              /* pinned node ("" when none) */
    char accel[8];              /* "kvm" or "tcg" as QEMU reports it; "" when unknown */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_vm_info;

/* The state of one VM: spec, process, and over QMP (bounded by
 * 'timeout_ms') run state and balloon actual.  A failing QMP query is not
 * an error of this function: it lands in qmp_error.  Errors of
 * ppn_vm_spec_load. */
PPN_EXPORT int ppn_vm_info_get(const char *state_dir, const char *name, int timeout_ms,
                               ppn_vm_info *ret_info);
/* ppn_vm_info_get for every VM of the state directory (VMs whose spec does
 * not load are skipped).  Returns the count; free *ret_infos with free(). */
PPN_EXPORT int ppn_vm_info_list(const char *state_dir, int timeout_ms, ppn_vm_info **ret_infos);

#ifdef __cplusplus
}
#endif

#endif
