/* Test-only helpers shared by libppn-vmm's test programs (header-only). */
#ifndef VMM_TEST_H
#define VMM_TEST_H

#include <sys/types.h>

#include "ppn/vmm.h"

/* Shutdown options for the VM 'pid' (0: none) behind the QMP socket 'mon',
 * waiting 'deadline_ms' for the guest; the rest ppn_vm_shutdown_opts_init's. */
static inline ppn_vm_shutdown_opts vmm_test_shutdown_opts(const char *mon, pid_t pid, uint32_t deadline_ms)
{
    ppn_vm_shutdown_opts o;
    ppn_vm_shutdown_opts_init(&o);
    o.monitor_path = mon;
    o.pid = pid;
    o.deadline_ms = deadline_ms;
    return o;
}

#endif
