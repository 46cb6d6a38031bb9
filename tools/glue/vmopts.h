/* The VM-specification options that `ppn-vm create` and `ppn-vm request`
 * share (libppn-vmm's ppn_vm_spec): one option table, one collector, one
 * step that puts them into a specification (internal, not installed).  Each
 * command keeps its own framing of a refusal (create: a usage error; request:
 * its "ppn-vm request:" line), its number syntax and the options only it
 * has (create --force/--run-as, request --key/--socket/--yes/--wait). */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ppn/vmm.h"

/* getopt_long codes of the shared options, above any short option. */
enum {
    VM_OPT_TYPE = 0x1000,
    VM_OPT_MEMORY,
    VM_OPT_VCPUS,
    VM_OPT_DISK,
    VM_OPT_DISK_SIZE,
    VM_OPT_NODE,
    VM_OPT_KERNEL,
    VM_OPT_INITRD,
    VM_OPT_APPEND,
    VM_OPT_BASE,
    VM_OPT_NO_NETWORK,
    VM_OPT_FORWARD,
    VM_OPT_NO_DEFAULT_FORWARDS,
    VM_OPT_HOSTNAME,
    VM_OPT_USER,
    VM_OPT_SSH_KEY,
    VM_OPT_USER_DATA,
    VM_OPT_NETWORK_CONFIG,
};

/* The shared entries of a struct option table: put VM_SPEC_LONGOPTS in the
 * command's table beside its own entries. */
#define VM_SPEC_LONGOPTS                                                                                    \
    {"type", required_argument, NULL, VM_OPT_TYPE}, {"memory", required_argument, NULL, VM_OPT_MEMORY},   \
        {"vcpus", required_argument, NULL, VM_OPT_VCPUS}, {"disk", required_argument, NULL, VM_OPT_DISK}, \
        {"disk-size", required_argument, NULL, VM_OPT_DISK_SIZE},                                         \
        {"node", required_argument, NULL, VM_OPT_NODE}, {"kernel", required_argument, NULL, VM_OPT_KERNEL}, \
        {"initrd", required_argument, NULL, VM_OPT_INITRD},                                               \
        {"append", required_argument, NULL, VM_OPT_APPEND}, {"base", required_argument, NULL, VM_OPT_BASE}, \
        {"no-network", no_argument, NULL, VM_OPT_NO_NETWORK},                                             \
        {"forward", required_argument, NULL, VM_OPT_FORWARD},                                             \
        {"no-default-forwards", no_argument, NULL, VM_OPT_NO_DEFAULT_FORWARDS},                           \
        {"hostname", required_argument, NULL, VM_OPT_HOSTNAME},                                           \
        {"user", required_argument, NULL, VM_OPT_USER}, {"ssh-key", required_argument, NULL, VM_OPT_SSH_KEY}, \
        {"user-data", required_argument, NULL, VM_OPT_USER_DATA},                                         \
        {"network-config", required_argument, NULL, VM_OPT_NETWORK_CONFIG}

/* The options as given (NULL / false / none when absent); the strings are
 * the caller's argv. */
struct vm_spec_opts {
    const char *type, *memory, *vcpus, *disk, *disk_size, *node, *kernel, *initrd, *append, *base;
    const char *hostname, *user, *user_data, *network_config;
    bool no_network, no_default_forwards;
    const char *ssh_keys[PPN_VM_SSH_KEYS_MAX];
    size_t n_ssh_keys;
    const char *forwards[PPN_VM_PORT_FORWARDS_MAX];
    size_t n_forwards;
};

/* One getopt_long result: 1 if 'code' is a shared option (stored); 0 if it
 * is not one (the command handles it); -E2BIG for one --ssh-key or --forward
 * too many, with *ret_why "too many --ssh-key" / "too many --forward". */
int vm_spec_opt(struct vm_spec_opts *o, int code, const char *arg, const char **ret_why);

/* The command's own parts of vm_spec_apply. */
struct vm_spec_steps {
    /* The number of VM_OPT_MEMORY, VM_OPT_VCPUS or VM_OPT_DISK_SIZE from its
     * string, in the command's own syntax: 0, or -EINVAL with the sentence
     * of the refusal in *ret_why. */
    int (*number)(int code, const char *arg, uint64_t *ret, const char **ret_why, void *userdata);
    /* Once the disk is set, before --kernel (may be NULL): NULL to go on, or
     * the sentence of a refusal (create: --node; request: --base). */
    const char *(*after_disk)(ppn_vm_spec *s, void *userdata);
    void *userdata;
};

/* Puts the options every specification takes into 's', in this order:
 * --memory, --vcpus, --disk-size and --disk, steps->after_disk,
 * --kernel/--initrd/--append, --no-default-forwards/--no-network, each
 * --forward; a number is read (steps->number) when its turn comes.
 * 0; -EINVAL with a sentence in *ret_why naming the option; or the negative
 * errno of ppn_vm_spec_add_port_forward with *ret_why NULL and *ret_forward
 * the index of the --forward it refused. */
int vm_spec_apply(ppn_vm_spec *s, const struct vm_spec_opts *o, const struct vm_spec_steps *steps,
                  const char **ret_why, size_t *ret_forward);
