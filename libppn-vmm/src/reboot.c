/* Graceful reboot over QMP (QMP has no reboot command).
 *
 * The guest is asked to shut down with the ACPI power button, as for a
 * graceful shutdown, but QEMU is first told to pause rather than exit when
 * the guest powers off (set-action shutdown=pause, QEMU >= 6.0); once the
 * guest's SHUTDOWN arrives the machine is reset (system_reset) and resumed:
 * the guest boots again with its disks flushed by its own shutdown.  This is
 * libvirt's ACPI reboot ("fake reboot", there done with -no-shutdown).  A
 * guest that answers the button by resetting itself (its RESET event)
 * counts as rebooted too.  When nothing of the kind happens by the deadline,
 * system_reset (the reset button) follows unless the caller forbids it; the
 * outcome says which.  The shutdown action goes back to poweroff in every
 * case. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "ppn-common.h"
#include "ppn/vmm.h"
#include "qmp-internal.h"

static int set_shutdown_action(ppn_qmp *q, const char *action, int step_ms)
{
    char args[64];
    snprintf(args, sizeof(args), "{\"shutdown\": \"%s\"}", action);
    int r = ppn_qmp_execute(q, "set-action", args, step_ms, NULL);
    if (r == -EREMOTEIO && strcmp(ppn_qmp_last_error_class(q), "CommandNotFound") == 0)
        return -ENOTSUP;
    return r;
}

/* After system_reset from the paused shutdown state: resume. */
static int resume(ppn_qmp *q, int step_ms)
{
    ppn_qmp_status st;
    int r = ppn_qmp_query_status(q, step_ms, &st);
    if (r < 0)
        return r;
    return st.running ? 0 : ppn_qmp_cont(q, step_ms);
}

PPN_EXPORT int ppn_vm_reboot(const char *monitor_path, uint32_t deadline_ms, uint32_t repress_interval_ms,
                             uint32_t step_timeout_ms, unsigned flags, ppn_vm_reboot_outcome *ret_outcome,
                             unsigned *ret_presses)
{
    if (!monitor_path || !ret_outcome || step_timeout_ms == 0 || step_timeout_ms > INT32_MAX ||
        deadline_ms > INT32_MAX || (flags & ~PPN_VM_REBOOT_NO_RESET))
        return -EINVAL;
    int step_ms = (int)step_timeout_ms;
    unsigned presses = 0;
    *ret_outcome = PPN_VM_REBOOT_OUTCOME_NONE;
    if (ret_presses)
        *ret_presses = 0;
    ppn_qmp *q = NULL;
    int r = ppn_qmp_connect(monitor_path, step_ms, &q);
    if (r < 0)
        return r;
    ppn_qmp_status st;
    if ((r = ppn_qmp_query_status(q, step_ms, &st)) < 0)
        goto out;
    if (!st.running) {
        r = -EBUSY; /* paused, or already shut down: nothing to reboot */
        goto out;
    }
    if ((r = set_shutdown_action(q, "pause", step_ms)) < 0)
        goto out;
    uint64_t t0 = ppnc_now_mono_ms(), deadline = t0 + deadline_ms;
    uint64_t next_press = t0;
    bool down = false, self_reset = false;
    while (!down && !self_reset) {
        uint64_t now = ppnc_now_mono_ms();
        if (now >= deadline)
            break;
        if (now >= next_press) {
            r = ppn_qmp_powerdown(q, step_ms);
            presses++;
            if (r < 0 && r != -ETIMEDOUT)
                goto restore;
            next_press = repress_interval_ms ? ppnc_now_mono_ms() + repress_interval_ms : UINT64_MAX;
            continue;
        }
        uint64_t until = deadline < next_press ? deadline : next_press;
        uint64_t slice = until - now > 200 ? 200 : until - now;
        r = ppn_qmp_wait_event(q, "SHUTDOWN", vmm_event_from_guest, NULL, (int)slice, NULL);
        if (r == 0) {
            down = true;
        } else if (r != -ETIMEDOUT) {
            goto restore; /* QEMU went away (-ECONNRESET) or broke the protocol */
        } else if (ppn_qmp_wait_event(q, "RESET", vmm_event_from_guest, NULL, 0, NULL) == 0) {
            self_reset = true;
        }
    }
    if (down) {
        /* QEMU paused on the guest's poweroff: reset, then run again */
        if ((r = ppn_qmp_system_reset(q, step_ms)) < 0 || (r = resume(q, step_ms)) < 0)
            goto restore;
        *ret_outcome = PPN_VM_REBOOT_OUTCOME_GRACEFUL;
    } else if (self_reset) {
        *ret_outcome = PPN_VM_REBOOT_OUTCOME_GRACEFUL;
    } else if (flags & PPN_VM_REBOOT_NO_RESET) {
        r = -ETIMEDOUT;
        goto restore;
    } else {
        /* no answer by the deadline: the reset button (and a guest that
         * had just gone down and paused runs again) */
        if ((r = ppn_qmp_system_reset(q, step_ms)) < 0 || (r = resume(q, step_ms)) < 0)
            goto restore;
        *ret_outcome = PPN_VM_REBOOT_OUTCOME_RESET;
    }
    r = 0;
restore:;
    int r2 = set_shutdown_action(q, "poweroff", step_ms);
    if (r == 0 && r2 < 0)
        r = r2; /* rebooted, but a later poweroff would pause QEMU: say so */
out:
    ppn_qmp_free(q);
    if (ret_presses)
        *ret_presses = presses;
    return r;
}
