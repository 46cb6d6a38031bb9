/* The agent's resource pool: see pool.h. */
#include "pool.h"
#include "glue-log.h"
#include "ppn-common.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ppn/vmm.h"

#define MIB ((uint64_t)1024 * 1024)

typedef struct pool_vm {
    char name[PPN_FLEET_NAME_MAX + 1];
    pid_t pid;       /* the QEMU the stats were enabled on */
    uint64_t actual; /* last balloon size read */
} pool_vm;

struct glue_pool {
    ppn_fleet_balloon_policy policy;
    uint64_t next_ms;
    bool started;
    pool_vm vms[PPN_FLEET_MAX_VMS];
    unsigned n_vms;
    uint64_t log_window_ms;
    unsigned log_count;
    uint64_t log_suppressed;
    int last_pressure;
    unsigned cursor;                    /* where the next pass starts in the VM list */
    char cgroup[GLUE_HOSTMEM_PATH_MAX]; /* the memory cgroup that bounded the last pass */
};

int glue_pool_new(uint64_t margin_bytes, struct glue_pool **ret)
{
    if (!ret || margin_bytes == 0)
        return -EINVAL;
    struct glue_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->policy = (ppn_fleet_balloon_policy){.margin_bytes = margin_bytes, .hysteresis_bytes = 256 * MIB,
                                           .step_bytes = 128 * MIB, .reserve_bytes = 64 * MIB};
    *ret = p;
    return 0;
}

void glue_pool_free(struct glue_pool *p) { free(p); }

uint64_t glue_pool_floor(uint64_t max)
{
    uint64_t f = max / 4 > 128 * MIB ? max / 4 : 128 * MIB;
    return f < max ? f : max;
}

static pool_vm *pool_find(struct glue_pool *p, const char *name)
{
    for (unsigned i = 0; i < p->n_vms; i++)
        if (strcmp(p->vms[i].name, name) == 0)
            return &p->vms[i];
    return NULL;
}

uint64_t glue_pool_actual(const struct glue_pool *p, const char *name)
{
    if (!p || !name)
        return 0;
    for (unsigned i = 0; i < p->n_vms; i++)
        if (strcmp(p->vms[i].name, name) == 0)
            return p->vms[i].actual;
    return 0;
}

/* Every action is logged, at most GLUE_POOL_LOG_MAX lines per window; the
 * rest are counted and the count is given with the next line. */
static bool log_allow(struct glue_pool *p, uint64_t now, uint64_t *ret_suppressed)
{
    if (!p->log_window_ms || now - p->log_window_ms >= GLUE_POOL_LOG_WINDOW_MS) {
        p->log_window_ms = now ? now : 1;
        p->log_count = 0;
    }
    if (p->log_count >= GLUE_POOL_LOG_MAX) {
        p->log_suppressed++;
        return false;
    }
    p->log_count++;
    *ret_suppressed = p->log_suppressed;
    p->log_suppressed = 0;
    return true;
}

bool glue_pool_due(const struct glue_pool *p, uint64_t now)
{
    return p && (!p->started || now >= p->next_ms);
}

int glue_pool_pass(struct glue_pool *p, const char *state_dir, const struct glue_hostmem *hm, uint64_t now,
                   glue_pool_skip_fn skip, glue_pool_log_fn log, void *ud)
{
    if (!p || !state_dir || !hm)
        return -EINVAL;
    if (!glue_pool_due(p, now))
        return 0;
    p->started = true;
    p->next_ms = now + GLUE_POOL_INTERVAL_MS;
    uint64_t avail = hm->available_bytes, sup0 = 0;
    if (strcmp(hm->cgroup, p->cgroup) != 0 && log_allow(p, now, &sup0)) {
        /* say what bounds the host's memory when that changes */
        snprintf(p->cgroup, sizeof(p->cgroup), "%s", hm->cgroup);
        if (hm->cgroup[0])
            glue_logf(log, ud,
                  "pool: available memory bounded by memory cgroup %s (v%d, limit %" PRIu64 " MiB): %" PRIu64
                  " MiB available (host %" PRIu64 " MiB)",
                  hm->cgroup, hm->cgroup_version, hm->limit_bytes / MIB, avail / MIB,
                  hm->host_available_bytes / MIB);
        else
            glue_logf(log, ud,
                  "pool: available memory from /proc/meminfo (no memory cgroup limits this agent): %" PRIu64
                  " MiB",
                  avail / MIB);
    }
    char **names = NULL;
    int n = ppn_vm_list(state_dir, &names);
    if (n < 0)
        n = 0;
    ppn_fleet_balloon_guest g[PPN_FLEET_MAX_VMS];
    uint64_t targets[PPN_FLEET_MAX_VMS];
    ppn_qmp *q[PPN_FLEET_MAX_VMS];
    pool_vm *pv[PPN_FLEET_MAX_VMS];
    size_t ng = 0;
    /* Forget VMs that are gone, so that the table holds this node's VMs only. */
    unsigned kept = 0;
    for (unsigned j = 0; j < p->n_vms; j++) {
        bool present = false;
        for (int i = 0; i < n && !present; i++)
            present = strcmp(names[i], p->vms[j].name) == 0;
        if (present)
            p->vms[kept++] = p->vms[j];
    }
    p->n_vms = kept;
    uint64_t end = ppnc_now_mono_ms() + GLUE_POOL_BUDGET_MS;
    /* Round robin: a pass cut short by the budget starts the next one further on. */
    int start = n > 0 ? (int)(p->cursor % (unsigned)n) : 0;
    for (int k = 0; k < n && ng < PPN_FLEET_MAX_VMS && ppnc_now_mono_ms() < end; k++) {
        int i = (start + k) % n;
        p->cursor = (unsigned)i + 1;
        pid_t pid = 0;
        char mon[PATH_MAX];
        ppn_vm_spec *spec = NULL;
        if ((skip && skip(names[i], ud)) || ppn_vm_pid(state_dir, names[i], &pid) < 0 || pid <= 0 ||
            ppn_vm_path(state_dir, names[i], "monitor", mon, sizeof(mon)) < 0 ||
            ppn_vm_spec_load(state_dir, names[i], &spec, NULL) < 0)
            continue;
        uint64_t max = (uint64_t)ppn_vm_spec_memory_mib(spec) * MIB;
        ppn_vm_spec_free(spec);
        ppn_qmp *h = NULL;
        if (ppn_qmp_connect(mon, GLUE_POOL_QMP_MS, &h) < 0)
            continue;
        pool_vm *v = pool_find(p, names[i]);
        if (!v && p->n_vms < PPN_FLEET_MAX_VMS) {
            v = &p->vms[p->n_vms++];
            memset(v, 0, sizeof(*v));
            snprintf(v->name, sizeof(v->name), "%s", names[i]);
        }
        if (!v) {
            ppn_qmp_free(h);
            continue;
        }
        if (v->pid != pid && ppn_qmp_guest_stats_enable(h, NULL, 2, GLUE_POOL_QMP_MS) == 0)
            v->pid = pid;
        uint64_t actual = 0;
        if (ppn_qmp_balloon_query(h, GLUE_POOL_QMP_MS, &actual) < 0 || actual > max) {
            ppn_qmp_free(h);
            continue;
        }
        v->actual = actual;
        ppn_vmm_guest_stats st;
        uint64_t free_b = UINT64_MAX;
        if (ppn_qmp_guest_stats(h, NULL, GLUE_POOL_QMP_MS, &st) == 0 && st.last_update > 0)
            free_b = st.available_memory != UINT64_MAX ? st.available_memory : st.free_memory;
        g[ng] = (ppn_fleet_balloon_guest){actual, free_b, glue_pool_floor(max), max};
        q[ng] = h;
        pv[ng] = v;
        ng++;
    }
    ppn_vmm_strv_free(names);
    ppn_fleet_balloon_result res;
    int changed = ppn_fleet_balloon_plan(avail, &p->policy, g, ng, targets, &res);
    if (changed >= 0 && res.pressure != p->last_pressure && (res.pressure < 0 || changed > 0)) {
        uint64_t sup = 0;
        if (log_allow(p, now, &sup))
            glue_logf(log, ud, "pool: host has %" PRIu64 " MiB available, margin %" PRIu64 " MiB: %s", avail / MIB,
                  p->policy.margin_bytes / MIB,
                  res.pressure < 0   ? "under pressure, reclaiming from guests with memory free"
                  : res.pressure > 0 ? "pressure gone, giving memory back"
                                     : "steady");
        p->last_pressure = res.pressure;
    }
    int set = 0;
    for (size_t i = 0; changed > 0 && i < ng; i++) {
        if (targets[i] == g[i].actual_bytes)
            continue;
        int r = ppn_qmp_balloon_set(q[i], targets[i], GLUE_POOL_QMP_MS);
        set += r == 0;
        uint64_t sup = 0;
        if (log_allow(p, now, &sup)) {
            char more[64] = "";
            if (sup)
                snprintf(more, sizeof(more), " (%" PRIu64 " more not logged)", sup);
            glue_logf(log, ud,
                  "pool: %s VM '%s' balloon %" PRIu64 " -> %" PRIu64 " MiB (guest free %s%" PRIu64
                  " MiB, floor %" PRIu64 " MiB, host available %" PRIu64 " MiB)%s%s%s",
                  targets[i] < g[i].actual_bytes ? "reclaim from" : "give back to", pv[i]->name,
                  g[i].actual_bytes / MIB, targets[i] / MIB, g[i].free_bytes == UINT64_MAX ? "unknown " : "",
                  g[i].free_bytes == UINT64_MAX ? 0 : g[i].free_bytes / MIB, g[i].floor_bytes / MIB,
                  avail / MIB, more, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        }
    }
    for (size_t i = 0; i < ng; i++)
        ppn_qmp_free(q[i]);
    return set;
}
