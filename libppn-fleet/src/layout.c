/* The layout of the public structs, for bindings (ctypes, cffi without a
 * compiler): no binding copies offsets by hand. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "ppn-common.h"
#include "ppn/fleet.h"

#define F(type, field) {#type, #field, offsetof(type, field), sizeof(((type *)0)->field)}
#define T(type) {#type, NULL, 0, sizeof(type)}

static const struct {
    const char *type, *field;
    size_t offset, size;
} layout[] = {
    T(ppn_fleet_vm),
    F(ppn_fleet_vm, name),
    F(ppn_fleet_vm, mem_bytes),
    T(ppn_fleet_heartbeat),
    F(ppn_fleet_heartbeat, version),
    F(ppn_fleet_heartbeat, node_key),
    F(ppn_fleet_heartbeat, node_name),
    F(ppn_fleet_heartbeat, seq),
    F(ppn_fleet_heartbeat, ram_total_bytes),
    F(ppn_fleet_heartbeat, ram_available_bytes),
    F(ppn_fleet_heartbeat, cpu_count),
    F(ppn_fleet_heartbeat, load_milli),
    F(ppn_fleet_heartbeat, ledger_size),
    F(ppn_fleet_heartbeat, n_vms),
    F(ppn_fleet_heartbeat, vms),
    T(ppn_fleet_place_query),
    F(ppn_fleet_place_query, mem_bytes),
    F(ppn_fleet_place_query, vcpus),
    F(ppn_fleet_place_query, kind),
    F(ppn_fleet_place_query, has_node),
    F(ppn_fleet_place_query, node_key),
    T(ppn_fleet_placement),
    F(ppn_fleet_placement, n_nodes),
    F(ppn_fleet_placement, n_fit),
    F(ppn_fleet_placement, reasons),
    F(ppn_fleet_placement, placed),
    F(ppn_fleet_placement, node_index),
    F(ppn_fleet_placement, node_key),
    F(ppn_fleet_placement, ram_left_bytes),
};

PPN_EXPORT int ppn_fleet_layout(const char *type, const char *field, size_t *ret_offset, size_t *ret_size)
{
    if (!type || !ret_size)
        return -EINVAL;
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(layout); i++) {
        if (strcmp(layout[i].type, type) != 0)
            continue;
        if (field ? !layout[i].field || strcmp(layout[i].field, field) != 0 : layout[i].field != NULL)
            continue;
        if (ret_offset)
            *ret_offset = layout[i].offset;
        *ret_size = layout[i].size;
        return 0;
    }
    return -ENOENT;
}
