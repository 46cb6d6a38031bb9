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
/* Checks cloud-init settings against the bounds of ppn_vm_cloud_init
 * (cloudinit.c).  -EINVAL with *ret_reason (static) naming the field. */
int vmm_cloud_init_check(const ppn_vm_cloud_init *ci, const char **ret_reason);
/* The -drive values for the spec's disk (format pinned or read from the
 * image) and its cloud-init seed, each NULL when there is none; malloc'd.
 * Errors of ppn_vm_image_probe for a disk of AUTO format; -ENOMEM. */
int vmm_drive_args(const ppn_vm_spec *spec, const char *state_dir, char **ret_disk, char **ret_seed);
