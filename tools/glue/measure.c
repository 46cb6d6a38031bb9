/* The agent's heartbeat measurements: see measure.h. */
#include "measure.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostmem.h"
#include "ppn-common.h"
#include "ppn/vmm.h"

#define MIB ((uint64_t)1 << 20)

uint32_t glue_measure_load_milli(const char *loadavg)
{
    double load = strtod(loadavg, NULL);
    return load > 0 && load < 4e6 ? (uint32_t)(load * 1000.0) : 0;
}

static uint64_t bounded(uint64_t v)
{
    return v > PPN_FLEET_BYTES_MAX ? PPN_FLEET_BYTES_MAX : v;
}

int glue_measure_heartbeat(const struct glue_measure *m, ppn_fleet_heartbeat *hb)
{
    if (!m || !hb || !m->state_dir)
        return -EINVAL;
    const char *root = m->root ? m->root : "";
    snprintf(hb->node_name, sizeof(hb->node_name), "%s", m->node_name ? m->node_name : "");
    /* MemTotal/MemAvailable, bounded by the memory cgroup the agent (and the
     * guests it starts) runs in: a unit's MemoryMax= is what it has */
    struct glue_hostmem hm;
    int r = glue_hostmem_read(root, &hm);
    if (r < 0)
        return r;
    hb->ram_total_bytes = bounded(hm.total_bytes);
    hb->ram_available_bytes = bounded(hm.available_bytes);
    if (hb->ram_available_bytes > hb->ram_total_bytes)
        hb->ram_available_bytes = hb->ram_total_bytes;
    char path[GLUE_HOSTMEM_PATH_MAX];
    uint8_t *text = NULL;
    size_t len;
    hb->load_milli = 0;
    snprintf(path, sizeof(path), "%s/proc/loadavg", root);
    if (ppnc_read_file(path, 4096, &text, &len) == 0)
        hb->load_milli = glue_measure_load_milli((const char *)text);
    free(text);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    hb->cpu_count = cpus > 0 ? (uint32_t)cpus : 1;
    hb->ledger_size = m->ledger_size;
    /* Every VM of this node with its state: a VM stays listed (and so where
     * it is) whether it runs or not. */
    char **names = NULL;
    int n = ppn_vm_list(m->state_dir, &names);
    hb->n_vms = 0;
    for (int i = 0; i < n && hb->n_vms < PPN_FLEET_MAX_VMS; i++) {
        pid_t pid = 0;
        ppn_vm_spec *spec;
        if (ppn_vm_spec_load(m->state_dir, names[i], &spec, NULL) < 0)
            continue;
        ppn_fleet_vm *vm = &hb->vms[hb->n_vms++];
        snprintf(vm->name, sizeof(vm->name), "%s", names[i]);
        vm->mem_bytes = (uint64_t)ppn_vm_spec_memory_mib(spec) * MIB;
        if (m->work && glue_vm_work_starting(m->work, names[i])) {
            vm->state = PPN_FLEET_VM_STARTING;
        } else if (ppn_vm_pid(m->state_dir, names[i], &pid) == 0 && pid > 0) {
            vm->state = PPN_FLEET_VM_RUNNING;
            /* what the guest holds now, after the pool's ballooning */
            uint64_t actual = glue_pool_actual(m->pool, names[i]);
            if (actual && actual < vm->mem_bytes)
                vm->mem_bytes = actual;
        } else {
            vm->state = m->work && glue_vm_work_failed(m->work, names[i]) ? PPN_FLEET_VM_FAILED
                                                                          : PPN_FLEET_VM_STOPPED;
        }
        ppn_vm_spec_free(spec);
    }
    ppn_vmm_strv_free(names);
    return 0;
}
