/* Internal helpers shared by the libppn-vmm sources. */
#pragma once

#include <sys/types.h>

#include "ppn/vmm.h"

int qmp_execute_internal(ppn_qmp *qmp, const char *command, const char *args, int timeout_ms,
                         char **ret_return_json);
/* The same, giving the "return" member as a new jansson reference. */
typedef struct json_t json_t;
int qmp_execute_json(ppn_qmp *qmp, const char *command, const char *args, int timeout_ms,
                     json_t **ret_return);
/* 1 when 'pid' no longer runs (reaping it if it is our child). */
int vmm_pid_exited(pid_t pid);
/* A client over an already connected stream socket 'fd' (non-blocking
 * recommended): greeting and capabilities as in ppn_qmp_connect.  The
 * handle owns fd on success. */
int qmp_connect_fd(int fd, int timeout_ms, ppn_qmp **ret_qmp);
/* accel.c: the probe guest, assembled from accel-payload.S */
#include <stddef.h>
extern const unsigned char vmm_accel_payload[];
extern const size_t vmm_accel_payload_len;
