/* The agent's heartbeat measurements of this host (internal glue across
 * libppn-fleet and libppn-vmm, not installed): the host's memory bounded by
 * the agent's memory cgroup (hostmem.h), its load and CPUs, the ledger's
 * size, and every VM of the state directory with its state and the memory
 * it holds now.  The agent engine (ppn_fleet_agent) signs and sends what
 * this fills in; the tool composes the two. */
#pragma once

#include <stdint.h>

#include "ppn/fleet.h"
#include "pool.h"
#include "vmrun.h"

struct glue_measure {
    const char *root;                /* NULL or "": the running system; a test's tree of files */
    const char *node_name;           /* the heartbeat's (informative) node name */
    uint64_t ledger_size;            /* the node's ledger checkpoint size */
    const char *state_dir;           /* the VMs' state directory */
    const struct glue_vm_work *work; /* creations in progress and failed (may be NULL) */
    const struct glue_pool *pool;    /* the balloon sizes the pool last read (may be NULL) */
};

/* The 1-minute load average of /proc/loadavg text x 1000: 0 unless it is
 * above 0 and below 4,000,000 (what a heartbeat carries). */
uint32_t glue_measure_load_milli(const char *loadavg);

/* Fills in hb's measurements (its key and sequence are the engine's):
 *   node_name, ledger_size               from 'm';
 *   ram_total/available_bytes            glue_hostmem_read(m->root), at most
 *                                        PPN_FLEET_BYTES_MAX, available <= total;
 *   load_milli                           ROOT/proc/loadavg (0 when unreadable);
 *   cpu_count                            the CPUs online (at least 1);
 *   vms, n_vms                           each VM of m->state_dir whose
 *                                        specification loads (at most
 *                                        PPN_FLEET_MAX_VMS): "starting" while a
 *                                        creation runs, "running" when its QEMU
 *                                        runs (its memory then what the pool's
 *                                        balloon left it, when less), "failed"
 *                                        when its last creation failed, else
 *                                        "stopped".
 * 0; the errors of glue_hostmem_read (the heartbeat is skipped); -EINVAL NULL. */
int glue_measure_heartbeat(const struct glue_measure *m, ppn_fleet_heartbeat *hb);
