/* A creation request made a VM: see vmreq.h. */
#include "vmreq.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB ((uint64_t)1024 * 1024)

const char *glue_vm_pinned_elsewhere(const ppn_vm_spec *spec, const char *node_name, const char *ledger_name)
{
    const char *node = ppn_vm_spec_node(spec);
    if (!node || !node[0] || (node_name && strcmp(node, node_name) == 0) ||
        (ledger_name && ledger_name[0] && strcmp(node, ledger_name) == 0))
        return NULL;
    return node;
}

int glue_vm_set_run_as(ppn_vm_spec *s, const char *user, const char *fallback, const char **ret_why)
{
    if (!user && fallback && fallback[0] && getpwnam(fallback))
        user = fallback;
    if (!user)
        return 0;
    if (ppn_vm_spec_set_run_as(s, user) < 0)
        return *ret_why = "--run-as is a user name ([a-z_][a-z0-9_-]*, at most 32)", -EINVAL;
    if (strcmp(user, "root") != 0 && !getpwnam(user))
        return *ret_why = "no such user on this host", -ENOENT;
    return 0;
}

/* The VM the request describes: its specification, checked against the
 * figures the controller placed (memory, vCPUs, kind, name). */
int glue_vm_from_request(const ppn_fleet_request *rq, const char *node_name, const char *run_as_default,
                         ppn_vm_spec **ret, const char **ret_why)
{
    ppn_vm_spec *spec = NULL;
    int r;
    if (rq->spec[0]) {
        r = ppn_vm_spec_from_json(rq->spec, strlen(rq->spec), &spec, ret_why);
        if (r < 0)
            return r;
        bool totebox = ppn_vm_spec_type(spec) == PPN_VM_TYPE_TOTEBOX;
        if (strcmp(ppn_vm_spec_name(spec), rq->vm_name) != 0 ||
            (uint64_t)ppn_vm_spec_memory_mib(spec) * MIB != rq->mem_bytes ||
            ppn_vm_spec_vcpus(spec) != rq->vcpus || totebox != (rq->kind == PPN_FLEET_VM_TOTEBOX)) {
            ppn_vm_spec_free(spec);
            *ret_why = "the specification disagrees with the placed request (name, memory, vCPUs or type)";
            return -EBADMSG;
        }
    } else {
        /* the kernel-only form */
        if (rq->mem_bytes / MIB > UINT32_MAX)
            return *ret_why = "memory out of range", -EINVAL;
        r = ppn_vm_spec_new(rq->vm_name, rq->kind == PPN_FLEET_VM_TOTEBOX ? PPN_VM_TYPE_TOTEBOX
                                                                         : PPN_VM_TYPE_ORCHESTRATION,
                            &spec);
        if (r == 0)
            r = ppn_vm_spec_set_memory_mib(spec, (uint32_t)(rq->mem_bytes / MIB));
        if (r == 0)
            r = ppn_vm_spec_set_vcpus(spec, rq->vcpus);
        if (r == 0)
            r = ppn_vm_spec_set_kernel(spec, rq->kernel, rq->initrd[0] ? rq->initrd : NULL,
                                       rq->append[0] ? rq->append : NULL);
        if (r == 0) {
            ppn_vm_spec_clear_port_forwards(spec);
            r = ppn_vm_spec_set_network(spec, false);
        }
        if (r < 0) {
            ppn_vm_spec_free(spec);
            return *ret_why = "invalid kernel request", r;
        }
    }
    /* VM-Totebox: pinned at request; one that came without a node is pinned here. */
    if (ppn_vm_spec_type(spec) == PPN_VM_TYPE_TOTEBOX && !ppn_vm_spec_node(spec)[0] &&
        (r = ppn_vm_spec_set_node(spec, node_name)) < 0) {
        ppn_vm_spec_free(spec);
        return *ret_why = "cannot pin the VM-Totebox", r;
    }
    /* QEMU's user, as create chooses it: this host's ppn-vm user where there is one */
    const char *asked = ppn_vm_spec_run_as(spec)[0] ? ppn_vm_spec_run_as(spec) : NULL;
    char user[PPN_VM_RUN_AS_MAX + 1] = "";
    if (asked)
        snprintf(user, sizeof(user), "%s", asked);
    if ((r = glue_vm_set_run_as(spec, asked ? user : NULL,
                                run_as_default ? run_as_default : GLUE_VM_RUN_AS_DEFAULT, ret_why)) < 0 ||
        (r = ppn_vm_spec_validate(spec, ret_why)) < 0) {
        ppn_vm_spec_free(spec);
        return r;
    }
    *ret = spec;
    return 0;
}

/* The disk as create makes it: an overlay on the base, or an empty image of
 * the size asked; then the format read from it, pinned in the spec.  Sets
 * *made when this call wrote the file. */
int glue_vm_prepare_disk(ppn_vm_spec *spec, bool *made, const char **ret_why)
{
    const char *disk = ppn_vm_spec_disk(spec);
    *made = false;
    if (!disk[0])
        return 0;
    int r;
    if (ppn_vm_spec_base(spec)[0]) {
        if (access(disk, F_OK) == 0)
            return *ret_why = "the overlay's --disk exists already", -EEXIST;
        r = ppn_vm_image_create(disk, ppn_vm_spec_base(spec), ppn_vm_spec_disk_size_bytes(spec),
                                ret_why);
        if (r < 0)
            return r;
        *made = true;
    } else if (access(disk, F_OK) != 0) {
        if (!ppn_vm_spec_disk_size_bytes(spec))
            return *ret_why = "the disk does not exist (give --disk-size)", -ENOENT;
        r = ppn_vm_image_create(disk, NULL, ppn_vm_spec_disk_size_bytes(spec), ret_why);
        if (r < 0)
            return r;
        *made = true;
    }
    ppn_vm_image_info info;
    r = ppn_vm_image_probe(disk, &info, ret_why);
    if (r < 0) {
        if (*made)
            unlink(disk);
        *made = false;
        return r;
    }
    return ppn_vm_spec_set_disk_format(spec, info.format);
}

/* The spec as one line of JSON (no control characters: what a request carries). */
static int spec_line(const ppn_vm_spec *s, char *out, size_t size)
{
    char *txt = NULL;
    int r = ppn_vm_spec_to_json(s, &txt);
    if (r < 0)
        return r;
    json_error_t e;
    json_t *j = json_loads(txt, 0, &e);
    free(txt);
    if (!j)
        return -EBADMSG;
    char *line = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(j);
    if (!line)
        return -ENOMEM;
    r = strlen(line) < size ? 0 : -EMSGSIZE;
    if (r == 0)
        memcpy(out, line, strlen(line) + 1);
    free(line);
    return r;
}

int glue_vm_request_for(const ppn_vm_spec *spec, const uint8_t node_key[32], ppn_fleet_request *rq)
{
    memset(rq, 0, sizeof(*rq));
    if (ppn_vm_spec_validate(spec, NULL) < 0)
        return -EINVAL;
    bool totebox = ppn_vm_spec_type(spec) == PPN_VM_TYPE_TOTEBOX;
    rq->kind = totebox ? PPN_FLEET_VM_TOTEBOX : PPN_FLEET_VM_GENERAL;
    snprintf(rq->vm_name, sizeof(rq->vm_name), "%s", ppn_vm_spec_name(spec));
    rq->mem_bytes = (uint64_t)ppn_vm_spec_memory_mib(spec) * MIB;
    rq->vcpus = ppn_vm_spec_vcpus(spec);
    memcpy(rq->node_key, node_key, 32);
    rq->has_node = true;
    return spec_line(spec, rq->spec, sizeof(rq->spec));
}

void glue_vm_request_question(const ppn_vm_spec *spec, const char *node_name, char *buf, size_t size)
{
    char disk[400] = "";
    if (ppn_vm_spec_disk(spec)[0])
        snprintf(disk, sizeof(disk), ", disk %s%s%s", ppn_vm_spec_disk(spec),
                 ppn_vm_spec_base(spec)[0] ? " on " : "", ppn_vm_spec_base(spec));
    snprintf(buf, size, "Create %s '%s' (%" PRIu32 " MiB, %" PRIu32 " vCPUs%s, %zu forwards) on node '%s'?",
             ppn_vm_type_to_string(ppn_vm_spec_type(spec)), ppn_vm_spec_name(spec),
             (uint32_t)ppn_vm_spec_memory_mib(spec), (uint32_t)ppn_vm_spec_vcpus(spec), disk,
             ppn_vm_spec_port_forward_count(spec), node_name);
}
