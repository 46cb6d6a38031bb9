/* SPDX-License-Identifier: ISC */
/* The resource pool's balloon policy: a pure function of the host's
 * available RAM and what the guests report (see ppn_fleet_balloon_plan() in
 * the header).  Changes are whole MiB (the guest balloons in pages; tiny
 * steps would only churn), except a give-back that reaches a guest's
 * maximum exactly. */
#include <errno.h>
#include <string.h>

#include "fleet-internal.h"

#define BALLOON_UNIT ((uint64_t)1 << 20)

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* What may be taken from guest g: its free memory above the reserve, what
 * it has above its floor, one step; whole MiB. */
static uint64_t reclaimable(const ppn_fleet_balloon_guest *g, const ppn_fleet_balloon_policy *p)
{
    if (g->free_bytes == UINT64_MAX || g->free_bytes <= p->reserve_bytes ||
        g->actual_bytes <= g->floor_bytes)
        return 0;
    uint64_t r = min_u64(g->free_bytes - p->reserve_bytes, g->actual_bytes - g->floor_bytes);
    r = min_u64(r, p->step_bytes);
    return r - r % BALLOON_UNIT;
}

/* Indices sorted by key descending, ties by index (stable insertion sort:
 * n is at most PPN_FLEET_MAX_VMS). */
static void order(size_t *idx, const uint64_t *key, size_t n)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i], j = i;
        while (j > 0 && key[idx[j - 1]] < key[v]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
}

PPN_EXPORT int ppn_fleet_balloon_plan(uint64_t avail, const ppn_fleet_balloon_policy *p,
                                      const ppn_fleet_balloon_guest *g, size_t n,
                                      uint64_t *targets, ppn_fleet_balloon_result *ret)
{
    if (!p || !ret || (n && (!g || !targets)) || n > PPN_FLEET_MAX_VMS || p->step_bytes == 0 ||
        !fleet_reserved_zero(p->reserved))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (g[i].floor_bytes > g[i].max_bytes || g[i].actual_bytes > g[i].max_bytes)
            return -EINVAL;
    ppn_fleet_balloon_result res = {0};
    uint64_t key[PPN_FLEET_MAX_VMS] = {0};
    size_t idx[PPN_FLEET_MAX_VMS] = {0};
    for (size_t i = 0; i < n; i++)
        targets[i] = g[i].actual_bytes;

    uint64_t high = p->margin_bytes + min_u64(p->hysteresis_bytes, UINT64_MAX - p->margin_bytes);
    if (avail < p->margin_bytes) {
        res.pressure = -1;
        uint64_t need = p->margin_bytes - avail;
        need = need % BALLOON_UNIT ? need - need % BALLOON_UNIT + BALLOON_UNIT : need;
        for (size_t i = 0; i < n; i++)
            key[i] = reclaimable(&g[i], p);
        order(idx, key, n);
        for (size_t k = 0; k < n && need; k++) {
            size_t i = idx[k];
            uint64_t take = min_u64(key[i], need);
            take -= take % BALLOON_UNIT;
            if (!take)
                continue;
            targets[i] = g[i].actual_bytes - take;
            res.reclaimed_bytes += take;
            need -= take;
            res.changed++;
        }
    } else if (avail > high) {
        res.pressure = 1;
        uint64_t surplus = avail - high;
        for (size_t i = 0; i < n; i++)
            key[i] = g[i].max_bytes - g[i].actual_bytes;
        order(idx, key, n);
        for (size_t k = 0; k < n && surplus; k++) {
            size_t i = idx[k];
            uint64_t give = min_u64(min_u64(key[i], p->step_bytes), surplus);
            if (give != key[i])
                give -= give % BALLOON_UNIT;
            if (!give)
                continue;
            targets[i] = g[i].actual_bytes + give;
            res.returned_bytes += give;
            surplus -= give;
            res.changed++;
        }
    }
    *ret = res;
    return (int)res.changed;
}
