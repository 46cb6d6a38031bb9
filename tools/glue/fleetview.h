/* The ledger as the fleet engines see it (internal glue across
 * libppn-ledger and libppn-fleet, not installed): the current members as
 * libppn-fleet member records (key, name, mesh address with the agent's
 * port), the holders of "vm.create", the ledger's size and mesh range;
 * and this node's own address in that range.  The agent and the controller
 * read it once per reload and hand it to their engines. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ppn/fleet.h"
#include "ppn/ledger.h"

struct glue_fleet_view {
    ppn_fleet_member *members;
    size_t n_members;
    uint8_t *operators; /* holders of "vm.create", 32 bytes each, each once */
    size_t n_operators;
    uint64_t size;      /* entries */
    char mesh_range[PPN_LEDGER_TEXT_MAX + 1];
};

/* A node or VM name as libppn-fleet carries it: 1..PPN_FLEET_NAME_MAX of
 * [A-Za-z0-9._-]. */
bool glue_fleet_name_ok(const char *s);

/* A mesh address as the ledger records it ("10.8.0.2", "10.8.0.2/32",
 * "fd00::2/128") with 'port'.  0; -EINVAL not an address. */
int glue_fleet_mesh_addr(const char *mesh, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len);

/* Reads the ledger in 'dir' (ppn_ledger_open, read-only) into *ret: each
 * current member as a record (its hostname when glue_fleet_name_ok, else
 * no name; its mesh address with 'agent_port', else none: dispatch to it is
 * refused), the current holders of "vm.create".  0; errors of
 * ppn_ledger_open; -ENOMEM.  Free with glue_fleet_view_free. */
int glue_fleet_view_load(const char *dir, uint16_t agent_port, struct glue_fleet_view *ret);
void glue_fleet_view_free(struct glue_fleet_view *v);

/* The name of the member with 'key' in the view ("" none). */
const char *glue_fleet_view_name(const struct glue_fleet_view *v, const uint8_t key[32]);

/* This node's mesh address with 'port', from its own record in the ledger
 * in 'dir'.  0; -ESRCH not a member; -EINVAL its address is unusable;
 * errors of ppn_ledger_open. */
int glue_fleet_self_addr(const char *dir, const uint8_t key[32], uint16_t port,
                         struct sockaddr_storage *ret, socklen_t *ret_len);

/* The one local address (getifaddrs) inside 'range' ("10.8.0.0/24",
 * "fd00::/64"), with 'port'.  Each address found goes into found[size]
 * (", " between them).  0; -ENOENT none; -ENOTUNIQ several; -EINVAL a range
 * that does not parse; -errno of getifaddrs. */
int glue_fleet_local_addr(const char *range, uint16_t port, struct sockaddr_storage *ret, socklen_t *ret_len,
                          char *found, size_t found_size);
