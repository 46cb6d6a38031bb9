/* The agent's resource pool (internal glue, not installed): balloon memory
 * back from guests when the host runs short, and give it back when the
 * pressure goes.  The policy is libppn-fleet's (ppn_fleet_balloon_plan,
 * pure); this is the glue that feeds it from libppn-vmm (the running VMs of
 * a state directory, their balloon and guest statistics over QMP) and
 * applies its targets over QMP, on the caller's clock, with every action
 * reported as a log line (at most GLUE_POOL_LOG_MAX per
 * GLUE_POOL_LOG_WINDOW_MS, the rest counted).  The host's available memory
 * comes from the caller (glue_hostmem_read). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hostmem.h"
#include "ppn/fleet.h"

#define GLUE_POOL_INTERVAL_MS 2000u /* one pass this often */
#define GLUE_POOL_BUDGET_MS 1500u   /* a pass reaches the guests it can in this time */
#define GLUE_POOL_QMP_MS 300u       /* each QMP call */
#define GLUE_POOL_LOG_WINDOW_MS 10000u
#define GLUE_POOL_LOG_MAX 10u

struct glue_pool;

/* A log line (no newline); the tool prefixes and prints it. */
typedef void (*glue_pool_log_fn)(const char *line, void *userdata);
/* true for a VM the pool must leave alone this pass (one being started). */
typedef bool (*glue_pool_skip_fn)(const char *vm, void *userdata);

/* The agent's rules: margin, hysteresis 256 MiB, steps of 128 MiB, a 64 MiB
 * reserve of each guest's free memory; floors are a quarter of each guest's
 * memory, at least 128 MiB (glue_pool_floor).  -EINVAL NULL or a margin of
 * 0; -ENOMEM. */
int glue_pool_new(uint64_t margin_bytes, struct glue_pool **ret);
void glue_pool_free(struct glue_pool *p);
/* A VM's floor for its configured memory. */
uint64_t glue_pool_floor(uint64_t max_bytes);

/* true when a pass is due at 'now_ms' (the caller reads the host's memory
 * only then). */
bool glue_pool_due(const struct glue_pool *p, uint64_t now_ms);

/* One pass when due (GLUE_POOL_INTERVAL_MS after the last; 'now_ms' is the
 * caller's monotonic clock): each running VM of 'state_dir' not skipped —
 * its guest statistics enabled once per QEMU, balloon and statistics read —
 * then the plan for 'hm' (the host's memory) applied.  Returns the number of
 * balloon targets set (0 when not due or nothing changes); -EINVAL NULL. */
int glue_pool_pass(struct glue_pool *p, const char *state_dir, const struct glue_hostmem *hm,
                   uint64_t now_ms, glue_pool_skip_fn skip, glue_pool_log_fn log, void *userdata);

/* The balloon size last read for a VM (0: unknown), for the heartbeat. */
uint64_t glue_pool_actual(const struct glue_pool *p, const char *vm);
