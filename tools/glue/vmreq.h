/* A creation request (libppn-fleet) made a VM (libppn-vmm): the glue of the
 * agent's creation worker (internal, not installed).  The worker process,
 * the unit or direct runner and the logging stay in the tool. */
#pragma once

#include <stdbool.h>

#include "ppn/fleet.h"
#include "ppn/vmm.h"

/* The system user QEMU runs as by default where it exists. */
#define GLUE_VM_RUN_AS_DEFAULT "ppn-vm"

/* QEMU's user (ppn_vm_spec_set_run_as) for a VM made on this host, chosen
 * as `ppn-vm create` and the agent's requests choose it: 'user' when given
 * (create's --run-as; the user a request's specification names), else
 * 'fallback' when that user exists here (getpwnam), else none (QEMU stays
 * root).  "root" always exists.  0; -EINVAL 'user' is no user name; -ENOENT
 * 'user' does not exist on this host; *ret_why says which ("--run-as is a
 * user name ([a-z_][a-z0-9_-]*, at most 32)", "no such user on this host"). */
int glue_vm_set_run_as(ppn_vm_spec *s, const char *user, const char *fallback, const char **ret_why);

/* The VM a request describes: its specification (or, for the kernel-only
 * form, one built from kernel, initrd and append: VM-Orchestration or
 * VM-Totebox, no network), checked against the figures the controller
 * placed (name, memory, vCPUs, kind); a VM-Totebox that came without a
 * node is pinned to 'node_name'.  QEMU's user: glue_vm_set_run_as with the
 * user the specification names, else 'run_as_default' (NULL:
 * GLUE_VM_RUN_AS_DEFAULT; "": none).  0 and *ret (the caller frees it);
 * -EBADMSG the specification disagrees with the placement or is not JSON,
 * -EUCLEAN it is no valid specification, -EINVAL a kernel request out of
 * range, -ENOENT the user it names is not on this host, each with a reason
 * in *ret_why. */
int glue_vm_from_request(const ppn_fleet_request *rq, const char *node_name, const char *run_as_default,
                         ppn_vm_spec **ret, const char **ret_why);

/* The operator's side, the inverse of glue_vm_from_request: a request for
 * the VM 'spec' describes (already pinned to the confirmed node), placed on
 * the node 'node_key': its name, kind (VM-Totebox or general), memory and
 * vCPUs from the specification, the specification as one line of JSON
 * (compact, ASCII: no control characters), the node; 'rq' is cleared
 * first, and the operator's key, the confirmation, the time and the nonce
 * are the caller's to set before signing.  0; -EMSGSIZE the specification
 * is over PPN_FLEET_SPEC_MAX bytes as a line; -EINVAL a spec that does not
 * validate; -ENOMEM. */
int glue_vm_request_for(const ppn_vm_spec *spec, const uint8_t node_key[32], ppn_fleet_request *rq);

/* The operator's confirmation question for that request: "Create TYPE
 * 'NAME' (M MiB, N vCPUs[, disk D[ on BASE]], F forwards) on node
 * 'NODE'?" into buf[size]. */
void glue_vm_request_question(const ppn_vm_spec *spec, const char *node_name, char *buf, size_t size);

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
