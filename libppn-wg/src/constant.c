/* ppn_wg_constant: the macros of <ppn/wg.h> at run time (doc/API.md). */
#include <errno.h>

#include "ppn/wg.h"

static const int64_t values[] = {
    [PPN_WG_CONSTANT_KEY_BYTES] = (int64_t)PPN_WG_KEY_BYTES,
    [PPN_WG_CONSTANT_KEY_B64_LEN] = (int64_t)PPN_WG_KEY_B64_LEN,
    [PPN_WG_CONSTANT_IFNAME_MAX] = (int64_t)PPN_WG_IFNAME_MAX,
    [PPN_WG_CONSTANT_CONFIG_FIELD_MAX] = (int64_t)PPN_WG_CONFIG_FIELD_MAX,
    [PPN_WG_CONSTANT_CONFIG_REASON_MAX] = (int64_t)PPN_WG_CONFIG_REASON_MAX,
};

PPN_EXPORT int64_t ppn_wg_constant(uint32_t id)
{
    return id < sizeof(values) / sizeof(values[0]) ? values[id] : -EINVAL;
}
