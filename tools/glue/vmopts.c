#include "vmopts.h"

#include <errno.h>

int vm_spec_opt(struct vm_spec_opts *o, int code, const char *arg, const char **ret_why)
{
    switch (code) {
    case VM_OPT_TYPE: o->type = arg; return 1;
    case VM_OPT_MEMORY: o->memory = arg; return 1;
    case VM_OPT_VCPUS: o->vcpus = arg; return 1;
    case VM_OPT_DISK: o->disk = arg; return 1;
    case VM_OPT_DISK_SIZE: o->disk_size = arg; return 1;
    case VM_OPT_NODE: o->node = arg; return 1;
    case VM_OPT_KERNEL: o->kernel = arg; return 1;
    case VM_OPT_INITRD: o->initrd = arg; return 1;
    case VM_OPT_APPEND: o->append = arg; return 1;
    case VM_OPT_BASE: o->base = arg; return 1;
    case VM_OPT_NO_NETWORK: o->no_network = true; return 1;
    case VM_OPT_NO_DEFAULT_FORWARDS: o->no_default_forwards = true; return 1;
    case VM_OPT_HOSTNAME: o->hostname = arg; return 1;
    case VM_OPT_USER: o->user = arg; return 1;
    case VM_OPT_USER_DATA: o->user_data = arg; return 1;
    case VM_OPT_NETWORK_CONFIG: o->network_config = arg; return 1;
    case VM_OPT_SSH_KEY:
        if (o->n_ssh_keys == PPN_VM_SSH_KEYS_MAX)
            return *ret_why = "too many --ssh-key", -E2BIG;
        o->ssh_keys[o->n_ssh_keys++] = arg;
        return 1;
    case VM_OPT_FORWARD:
        if (o->n_forwards == PPN_VM_PORT_FORWARDS_MAX)
            return *ret_why = "too many --forward", -E2BIG;
        o->forwards[o->n_forwards++] = arg;
        return 1;
    default: return 0;
    }
}

int vm_spec_apply(ppn_vm_spec *s, const struct vm_spec_opts *o, const struct vm_spec_steps *steps,
                  const char **ret_why, size_t *ret_forward)
{
    uint64_t v, gib = 0;
    *ret_why = NULL;
    if (o->memory) {
        if (steps->number(VM_OPT_MEMORY, o->memory, &v, ret_why, steps->userdata) < 0)
            return -EINVAL;
        if (v > UINT32_MAX || ppn_vm_spec_set_memory_mib(s, (uint32_t)v) < 0)
            return *ret_why = "--memory must be 64..1048576 MiB", -EINVAL;
    }
    if (o->vcpus) {
        if (steps->number(VM_OPT_VCPUS, o->vcpus, &v, ret_why, steps->userdata) < 0)
            return -EINVAL;
        if (v > UINT32_MAX || ppn_vm_spec_set_vcpus(s, (uint32_t)v) < 0)
            return *ret_why = "--vcpus must be 1..256", -EINVAL;
    }
    if (o->disk_size && steps->number(VM_OPT_DISK_SIZE, o->disk_size, &gib, ret_why, steps->userdata) < 0)
        return -EINVAL;
    if ((o->disk || gib) &&
        (gib > (UINT64_MAX >> 30) || ppn_vm_spec_set_disk(s, o->disk ? o->disk : ppn_vm_spec_disk(s), gib << 30) < 0))
        return *ret_why = "--disk must be an absolute path", -EINVAL;
    if (steps->after_disk && (*ret_why = steps->after_disk(s, steps->userdata)))
        return -EINVAL;
    if ((o->kernel || o->initrd || o->append) && ppn_vm_spec_set_kernel(s, o->kernel, o->initrd, o->append) < 0)
        return *ret_why = "--kernel and --initrd must be absolute paths", -EINVAL;
    if (o->no_default_forwards || o->no_network)
        ppn_vm_spec_clear_port_forwards(s);
    if (o->no_network)
        ppn_vm_spec_set_network(s, false);
    for (size_t i = 0; i < o->n_forwards; i++) {
        ppn_vm_port_forward f;
        if (ppn_vm_port_forward_parse(o->forwards[i], &f) < 0)
            return *ret_why = "--forward is [tcp:|udp:]HOSTPORT:GUESTPORT", -EINVAL;
        int r = ppn_vm_spec_add_port_forward(s, &f);
        if (r < 0) {
            *ret_forward = i;
            return r;
        }
    }
    return 0;
}
