/* A creation request (libppn-fleet) made a VM (libppn-vmm): the glue of the
 * agent's creation worker (internal, not installed).  The worker process,
 * the unit or direct runner and the logging stay in the tool. */
#pragma once

#include <stdbool.h>

#include "ppn/fleet.h"
#include "ppn/vmm.h"

/* The VM a request describes: its specification (or, for the kernel-only
 * form, one built from kernel, initrd and append: VM-Orchestration or
 * VM-Totebox, no network), checked against the figures the controller
 * placed (name, memory, vCPUs, kind); a VM-Totebox that came without a
 * node is pinned to 'node_name'.  0 and *ret (the caller frees it);
 * -EBADMSG the specification disagrees with the placement or is not JSON,
 * -EUCLEAN it is no valid specification, -EINVAL a kernel request out of
 * range, each with a reason in *ret_why. */
int glue_vm_from_request(const ppn_fleet_request *rq, const char *node_name, ppn_vm_spec **ret,
                         const char **ret_why);

/* The node the VM is pinned to when that is neither 'node_name' (the
 * agent's --name) nor 'ledger_name' (its name in the ledger, may be ""):
 * NULL when it may run here. */
const char *glue_vm_pinned_elsewhere(const ppn_vm_spec *spec, const char *node_name, const char *ledger_name);

/* The disk as 'ppn-vm create' makes it: a new overlay on the base, or an
 * empty image of the size asked when missing; then the format read from the
 * image and pinned in the spec.  *made tells whether this call wrote the
 * file (the caller removes it when a later step fails).  -EEXIST an
 * overlay's disk exists already; -ENOENT a missing disk without a size
 * (every type has a default size: a spec whose size was cleared);
 * errors of ppn_vm_image_create/_probe; *ret_why says which. */
int glue_vm_prepare_disk(ppn_vm_spec *spec, bool *made, const char **ret_why);
