/* A stored VM's monitor: see ppn_vm_qmp_connect in <ppn/vmm.h>. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>

#include "ppn/vmm.h"

PPN_EXPORT int ppn_vm_qmp_connect(const char *state_dir, const char *name, int timeout_ms, ppn_qmp **ret)
{
    if (!state_dir || !name || !ret || timeout_ms < 0 || !ppn_vm_name_valid(name))
        return -EINVAL;
    pid_t pid = 0;
    int r = ppn_vm_pid(state_dir, name, &pid);
    if (r < 0)
        return r;
    if (pid == 0) {
        /* not running: is it a VM at all? */
        ppn_vm_spec *s = NULL;
        r = ppn_vm_spec_load(state_dir, name, &s, NULL);
        ppn_vm_spec_free(s);
        return r < 0 ? r : -ESRCH;
    }
    char mon[PATH_MAX];
    r = ppn_vm_path(state_dir, name, "monitor", mon, sizeof(mon));
    if (r < 0)
        return r;
    return ppn_qmp_connect(mon, timeout_ms, ret);
}
