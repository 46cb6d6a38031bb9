/* Internal helpers shared by the libppn-vmm sources. */
#pragma once

#include <sys/types.h>

#include "ppn/vmm.h"

int qmp_execute_internal(ppn_qmp *qmp, const char *command, const char *args, int timeout_ms,
                         char **ret_return_json);
/* 1 when 'pid' no longer runs (reaping it if it is our child). */
int vmm_pid_exited(pid_t pid);
