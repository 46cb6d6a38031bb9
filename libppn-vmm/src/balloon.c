/* The balloon target set and waited for: see ppn_qmp_balloon_set_wait in
 * <ppn/vmm.h>. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>

#include "ppn-common.h"
#include "ppn/vmm.h"

struct reach {
    uint64_t target;
    uint64_t actual; /* the last one seen */
};

/* A BALLOON_CHANGE event: its "actual" noted; a match when it is the target. */
static int reached(const char *name, const char *data, void *userdata)
{
    (void)name;
    struct reach *w = userdata;
    json_t *o = json_loads(data, 0, NULL);
    json_t *a = json_object_get(o, "actual");
    int m = 0;
    if (json_is_integer(a) && json_integer_value(a) >= 0) {
        w->actual = (uint64_t)json_integer_value(a);
        m = w->actual == w->target;
    }
    json_decref(o);
    return m;
}

PPN_EXPORT int ppn_qmp_balloon_set_wait(ppn_qmp *qmp, uint64_t target_bytes, int wait_ms, int timeout_ms,
                                        uint64_t *ret_actual_bytes)
{
    if (!qmp || target_bytes == 0 || wait_ms < 0)
        return -EINVAL;
    uint64_t end = ppnc_now_mono_ms() + (uint64_t)wait_ms;
    struct reach w = {.target = target_bytes};
    int r = ppn_qmp_balloon_set(qmp, target_bytes, timeout_ms);
    if (r == 0)
        r = ppn_qmp_balloon_query(qmp, timeout_ms, &w.actual);
    if (r < 0)
        return r;
    /* events are queued even before the query's reply: one matching the
     * target is found first among those */
    while (wait_ms > 0 && w.actual != target_bytes) {
        uint64_t now = ppnc_now_mono_ms();
        if (now >= end) {
            r = -ETIMEDOUT;
            break;
        }
        r = ppn_qmp_wait_event(qmp, "BALLOON_CHANGE", reached, &w, (int)(end - now), NULL);
        if (r < 0)
            break;
    }
    if (ret_actual_bytes)
        *ret_actual_bytes = w.actual;
    return r < 0 ? r : 0;
}
