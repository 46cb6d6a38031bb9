/* VM specifications: the four guest types with the seeds' defaults, JSON
 * storage in a state directory, validation with clear reasons. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ppn-common.h"
#include "ppn/vmm.h"
#include "vmm-internal.h"

#define STR_MAX 4095u
#define SPEC_FILE_MAX (256u * 1024u)

struct ppn_vm_spec {
    char name[PPN_VM_NAME_MAX + 1];
    ppn_vm_type type;
    uint32_t memory_mib;
    uint32_t vcpus;
    char *disk;
    uint64_t disk_size;
    char *node;
    char *kernel, *initrd, *append;
    bool network;
    size_t nfwd;
    ppn_vm_port_forward fwd[PPN_VM_PORT_FORWARDS_MAX];
    ppn_vm_disk_format disk_format;
    char *base;
    /* cloud-init: has_ci when any of these is set */
    bool has_ci;
    char *ci_hostname, *ci_user, *ci_user_data, *ci_network_config;
    size_t ci_nkeys;
    char *ci_keys[PPN_VM_SSH_KEYS_MAX + 1]; /* NULL-terminated */
    char *run_as; /* QEMU's user (-runas); NULL: as started */
};

static const struct {
    ppn_vm_type type;
    const char *name;
    const char *shortname;
    uint32_t memory_mib;
    uint32_t vcpus;
    uint64_t disk_size;
    uint16_t ports[8];
} types[] = {
    {PPN_VM_TYPE_TOTEBOX, "VM-Totebox", "totebox", 4096, 2, 20ULL << 30, {0}},
    {PPN_VM_TYPE_MEDIAKIT, "VM-MediaKit", "mediakit", 6144, 2, 20ULL << 30,
     {9090, 9092, 9093, 9095, 9096, 9100, 9101, 9102}},
    {PPN_VM_TYPE_ORCHESTRATION, "VM-Orchestration", "orchestration", 2048, 2, 10ULL << 30, {9180, 0}},
    {PPN_VM_TYPE_PRIVATEGIT, "VM-PrivateGit", "privategit", 2048, 2, 20ULL << 30, {3000, 0}},
};

static int type_index(ppn_vm_type t)
{
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(types); i++)
        if (types[i].type == t)
            return (int)i;
    return -1;
}

PPN_EXPORT const char *ppn_vm_type_to_string(ppn_vm_type type)
{
    int i = type_index(type);
    return i < 0 ? NULL : types[i].name;
}

PPN_EXPORT int ppn_vm_type_from_string(const char *s, ppn_vm_type *ret_type)
{
    if (!s || !ret_type)
        return -EINVAL;
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(types); i++)
        if (!strcasecmp(s, types[i].name) || !strcasecmp(s, types[i].shortname)) {
            *ret_type = types[i].type;
            return 0;
        }
    return -EINVAL;
}


PPN_EXPORT int ppn_vm_name_valid(const char *name)
{
    if (!name)
        return 0;
    size_t n = strlen(name);
    if (n == 0 || n > PPN_VM_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok)
            return 0;
    }
    return 1;
}

static bool str_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > STR_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static int set_str(char **field, const char *v)
{
    if (v && !str_ok(v))
        return -EINVAL;
    char *n = NULL;
    if (v && *v && !(n = strdup(v)))
        return -ENOMEM;
    free(*field);
    *field = n;
    return 0;
}

PPN_EXPORT int ppn_vm_spec_new(const char *name, ppn_vm_type type, ppn_vm_spec **ret_spec)
{
    int ti = type_index(type);
    if (!ppn_vm_name_valid(name) || ti < 0 || !ret_spec)
        return -EINVAL;
    ppn_vm_spec *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->type = type;
    s->memory_mib = types[ti].memory_mib;
    s->vcpus = types[ti].vcpus;
    s->disk_size = types[ti].disk_size;
    s->network = true;
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(types[ti].ports) && types[ti].ports[i]; i++) {
        uint16_t p = types[ti].ports[i];
        /* the seeds' convention: host port 1xxxx -> guest :xxxx */
        s->fwd[s->nfwd++] = (ppn_vm_port_forward){PPN_VM_PROTO_TCP, (uint16_t)(10000 + p), p};
    }
    *ret_spec = s;
    return 0;
}

static void ci_clear(ppn_vm_spec *s)
{
    free(s->ci_hostname);
    free(s->ci_user);
    free(s->ci_user_data);
    free(s->ci_network_config);
    for (size_t i = 0; i < s->ci_nkeys; i++) {
        free(s->ci_keys[i]);
        s->ci_keys[i] = NULL;
    }
    s->ci_hostname = s->ci_user = s->ci_user_data = s->ci_network_config = NULL;
    s->ci_nkeys = 0;
    s->has_ci = false;
}

PPN_EXPORT void ppn_vm_spec_free(ppn_vm_spec *s)
{
    if (!s)
        return;
    ci_clear(s);
    free(s->run_as);
    free(s->base);
    free(s->disk);
    free(s->node);
    free(s->kernel);
    free(s->initrd);
    free(s->append);
    free(s);
}

PPN_EXPORT int ppn_vm_spec_dup(const ppn_vm_spec *spec, ppn_vm_spec **ret_copy)
{
    if (!spec || !ret_copy)
        return -EINVAL;
    ppn_vm_spec *c = malloc(sizeof(*c));
    if (!c)
        return -ENOMEM;
    *c = *spec;
    c->disk = c->node = c->kernel = c->initrd = c->append = c->base = c->run_as = NULL;
    c->has_ci = false;
    c->ci_hostname = c->ci_user = c->ci_user_data = c->ci_network_config = NULL;
    c->ci_nkeys = 0;
    memset(c->ci_keys, 0, sizeof(c->ci_keys));
    ppn_vm_cloud_init ci;
    int has = ppn_vm_spec_cloud_init(spec, &ci);
    if (set_str(&c->disk, spec->disk) < 0 || set_str(&c->node, spec->node) < 0 ||
        set_str(&c->kernel, spec->kernel) < 0 || set_str(&c->initrd, spec->initrd) < 0 ||
        set_str(&c->append, spec->append) < 0 || set_str(&c->base, spec->base) < 0 ||
        set_str(&c->run_as, spec->run_as) < 0 ||
        (has > 0 && ppn_vm_spec_set_cloud_init(c, &ci, NULL) < 0)) {
        ppn_vm_spec_free(c);
        return -ENOMEM;
    }
    *ret_copy = c;
    return 0;
}

#define S(x) ((x) ? (x) : "")
PPN_EXPORT const char *ppn_vm_spec_name(const ppn_vm_spec *s) { return s ? s->name : ""; }
PPN_EXPORT ppn_vm_type ppn_vm_spec_type(const ppn_vm_spec *s) { return s ? s->type : (ppn_vm_type)0; }
PPN_EXPORT uint32_t ppn_vm_spec_memory_mib(const ppn_vm_spec *s) { return s ? s->memory_mib : 0; }
PPN_EXPORT uint32_t ppn_vm_spec_vcpus(const ppn_vm_spec *s) { return s ? s->vcpus : 0; }
PPN_EXPORT const char *ppn_vm_spec_disk(const ppn_vm_spec *s) { return s ? S(s->disk) : ""; }
PPN_EXPORT uint64_t ppn_vm_spec_disk_size_bytes(const ppn_vm_spec *s) { return s ? s->disk_size : 0; }
PPN_EXPORT const char *ppn_vm_spec_node(const ppn_vm_spec *s) { return s ? S(s->node) : ""; }
PPN_EXPORT const char *ppn_vm_spec_kernel(const ppn_vm_spec *s) { return s ? S(s->kernel) : ""; }
PPN_EXPORT const char *ppn_vm_spec_initrd(const ppn_vm_spec *s) { return s ? S(s->initrd) : ""; }
PPN_EXPORT const char *ppn_vm_spec_append(const ppn_vm_spec *s) { return s ? S(s->append) : ""; }
PPN_EXPORT bool ppn_vm_spec_network(const ppn_vm_spec *s) { return s ? s->network : false; }
PPN_EXPORT size_t ppn_vm_spec_port_forward_count(const ppn_vm_spec *s) { return s ? s->nfwd : 0; }

PPN_EXPORT int ppn_vm_spec_port_forward(const ppn_vm_spec *s, size_t index, ppn_vm_port_forward *ret)
{
    if (!s || !ret)
        return -EINVAL;
    if (index >= s->nfwd)
        return -ERANGE;
    *ret = s->fwd[index];
    return 0;
}

PPN_EXPORT int ppn_vm_spec_set_memory_mib(ppn_vm_spec *s, uint32_t mib)
{
    if (!s || mib < PPN_VM_MEMORY_MIN_MIB || mib > PPN_VM_MEMORY_MAX_MIB)
        return -EINVAL;
    s->memory_mib = mib;
    return 0;
}

PPN_EXPORT int ppn_vm_spec_set_vcpus(ppn_vm_spec *s, uint32_t vcpus)
{
    if (!s || vcpus < 1 || vcpus > PPN_VM_VCPUS_MAX)
        return -EINVAL;
    s->vcpus = vcpus;
    return 0;
}

static bool abs_or_empty(const char *p)
{
    return !p || !*p || p[0] == '/';
}

PPN_EXPORT int ppn_vm_spec_set_disk(ppn_vm_spec *s, const char *path, uint64_t size_bytes)
{
    if (!s || !abs_or_empty(path))
        return -EINVAL;
    int r = set_str(&s->disk, path);
    if (r < 0)
        return r;
    if (size_bytes)
        s->disk_size = size_bytes;
    return 0;
}

PPN_EXPORT int ppn_vm_spec_set_node(ppn_vm_spec *s, const char *node)
{
    if (!s || (node && strlen(node) > 63))
        return -EINVAL;
    return set_str(&s->node, node);
}

PPN_EXPORT int ppn_vm_spec_set_kernel(ppn_vm_spec *s, const char *kernel, const char *initrd,
                                      const char *append)
{
    if (!s || !abs_or_empty(kernel) || !abs_or_empty(initrd) || (append && !str_ok(append)) ||
        (kernel && !str_ok(kernel)) || (initrd && !str_ok(initrd)))
        return -EINVAL;
    if (set_str(&s->kernel, kernel) < 0 || set_str(&s->initrd, initrd) < 0 ||
        set_str(&s->append, append) < 0)
        return -ENOMEM;
    return 0;
}

PPN_EXPORT int ppn_vm_spec_set_network(ppn_vm_spec *s, bool enabled)
{
    if (!s)
        return -EINVAL;
    s->network = enabled;
    return 0;
}

PPN_EXPORT int ppn_vm_spec_add_port_forward(ppn_vm_spec *s, const ppn_vm_port_forward *f)
{
    if (!s || !f || f->host_port == 0 || f->guest_port == 0 ||
        (f->proto != PPN_VM_PROTO_TCP && f->proto != PPN_VM_PROTO_UDP))
        return -EINVAL;
    for (size_t i = 0; i < s->nfwd; i++)
        if (s->fwd[i].proto == f->proto && s->fwd[i].host_port == f->host_port)
            return -EEXIST;
    if (s->nfwd >= PPN_VM_PORT_FORWARDS_MAX)
        return -E2BIG;
    s->fwd[s->nfwd++] = *f;
    return 0;
}

PPN_EXPORT void ppn_vm_spec_clear_port_forwards(ppn_vm_spec *s)
{
    if (s)
        s->nfwd = 0;
}

PPN_EXPORT int ppn_vm_spec_set_disk_format(ppn_vm_spec *s, ppn_vm_disk_format format)
{
    if (!s || !ppn_vm_disk_format_to_string(format))
        return -EINVAL;
    s->disk_format = format;
    return 0;
}

PPN_EXPORT ppn_vm_disk_format ppn_vm_spec_disk_format(const ppn_vm_spec *s)
{
    return s ? s->disk_format : PPN_VM_DISK_FORMAT_AUTO;
}

PPN_EXPORT int ppn_vm_spec_set_base(ppn_vm_spec *s, const char *base)
{
    if (!s || !abs_or_empty(base) || (base && strlen(base) > PPN_VM_BACKING_FILE_MAX))
        return -EINVAL;
    return set_str(&s->base, base);
}

PPN_EXPORT const char *ppn_vm_spec_base(const ppn_vm_spec *s) { return s ? S(s->base) : ""; }

/* A user name as useradd takes it: [a-z_][a-z0-9_-]*, at most 32. */
static bool run_as_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > PPN_VM_RUN_AS_MAX || !((u[0] >= 'a' && u[0] <= 'z') || u[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= '0' && u[i] <= '9') || u[i] == '_' || u[i] == '-'))
            return false;
    return true;
}

PPN_EXPORT int ppn_vm_spec_set_run_as(ppn_vm_spec *s, const char *user)
{
    if (!s || (user && *user && !run_as_ok(user)))
        return -EINVAL;
    return set_str(&s->run_as, user);
}

PPN_EXPORT const char *ppn_vm_spec_run_as(const ppn_vm_spec *s) { return s ? S(s->run_as) : ""; }

static int dup_opt(const char *v, char **ret)
{
    *ret = NULL;
    if (v && *v && !(*ret = strdup(v)))
        return -ENOMEM;
    return 0;
}

PPN_EXPORT int ppn_vm_spec_set_cloud_init(ppn_vm_spec *s, const ppn_vm_cloud_init *ci,
                                          const char **ret_reason)
{
    if (!s) {
        if (ret_reason)
            *ret_reason = "no specification";
        return -EINVAL;
    }
    int r = ci ? vmm_cloud_init_check(ci, ret_reason) : 0;
    if (r < 0)
        return r;
    bool any = ci && ((ci->hostname && *ci->hostname) || (ci->user && *ci->user) || ci->n_ssh_keys ||
                      (ci->user_data && *ci->user_data) || (ci->network_config && *ci->network_config));
    ppn_vm_spec n;
    memset(&n, 0, sizeof(n));
    if (any) {
        r = dup_opt(ci->hostname, &n.ci_hostname);
        if (!r)
            r = dup_opt(ci->user, &n.ci_user);
        if (!r)
            r = dup_opt(ci->user_data, &n.ci_user_data);
        if (!r)
            r = dup_opt(ci->network_config, &n.ci_network_config);
        for (size_t i = 0; !r && i < ci->n_ssh_keys; i++) {
            if (!(n.ci_keys[i] = strdup(ci->ssh_keys[i])))
                r = -ENOMEM;
            else
                n.ci_nkeys++;
        }
        if (r < 0) {
            ci_clear(&n);
            if (ret_reason)
                *ret_reason = "out of memory";
            return r;
        }
        n.has_ci = true;
    }
    ci_clear(s);
    s->has_ci = n.has_ci;
    s->ci_hostname = n.ci_hostname;
    s->ci_user = n.ci_user;
    s->ci_user_data = n.ci_user_data;
    s->ci_network_config = n.ci_network_config;
    s->ci_nkeys = n.ci_nkeys;
    for (size_t i = 0; i <= PPN_VM_SSH_KEYS_MAX; i++)
        s->ci_keys[i] = i < n.ci_nkeys ? n.ci_keys[i] : NULL;
    return 0;
}

PPN_EXPORT int ppn_vm_spec_cloud_init(const ppn_vm_spec *s, ppn_vm_cloud_init *ret)
{
    if (!s || !ret)
        return -EINVAL;
    ret->hostname = S(s->ci_hostname);
    ret->user = S(s->ci_user);
    ret->ssh_keys = (const char *const *)s->ci_keys;
    ret->n_ssh_keys = s->ci_nkeys;
    ret->user_data = S(s->ci_user_data);
    ret->network_config = S(s->ci_network_config);
    return s->has_ci ? 1 : 0;
}

PPN_EXPORT int ppn_vm_spec_validate(const ppn_vm_spec *s, const char **ret_reason)
{
    const char *why = NULL;
    if (!s)
        why = "no specification";
    else if (!ppn_vm_name_valid(s->name))
        why = "name must be 1..63 of a-z, 0-9 and '-', not starting with '-'";
    else if (type_index(s->type) < 0)
        why = "unknown VM type";
    else if (s->memory_mib < PPN_VM_MEMORY_MIN_MIB || s->memory_mib > PPN_VM_MEMORY_MAX_MIB)
        why = "memory out of range (64 MiB .. 1 TiB)";
    else if (s->vcpus < 1 || s->vcpus > PPN_VM_VCPUS_MAX)
        why = "vcpus out of range (1 .. 256)";
    else if (s->type == PPN_VM_TYPE_TOTEBOX && !s->node)
        why = "VM-Totebox needs a pinned node (its WORM archive cannot move)";
    else if (!abs_or_empty(s->disk) || !abs_or_empty(s->kernel) || !abs_or_empty(s->initrd))
        why = "disk, kernel and initrd paths must be absolute";
    else if ((s->initrd || s->append) && !s->kernel)
        why = "initrd and append need a kernel";
    else if (!s->disk && !s->kernel)
        why = "nothing to boot: give a disk image or a kernel";
    else if (!s->network && s->nfwd > 0)
        why = "port forwards need networking";
    else if (!ppn_vm_disk_format_to_string(s->disk_format))
        why = "unknown disk format";
    else if (s->base && !s->disk)
        why = "a base image needs a disk (the overlay on it)";
    else if (s->base && (s->base[0] != '/' || strlen(s->base) > PPN_VM_BACKING_FILE_MAX))
        why = "the base image path must be absolute, at most 1023 bytes";
    else if (s->base && !strcmp(s->base, s->disk))
        why = "the base image and the disk are the same file";
    else {
        for (size_t i = 0; i < s->nfwd && !why; i++) {
            const ppn_vm_port_forward *f = &s->fwd[i];
            if (!f->host_port || !f->guest_port ||
                (f->proto != PPN_VM_PROTO_TCP && f->proto != PPN_VM_PROTO_UDP))
                why = "bad port forward";
            for (size_t j = 0; j < i && !why; j++)
                if (s->fwd[j].proto == f->proto && s->fwd[j].host_port == f->host_port)
                    why = "two port forwards use the same host port";
        }
    }
    if (why) {
        if (ret_reason)
            *ret_reason = why;
        return -EINVAL;
    }
    return 0;
}

PPN_EXPORT int ppn_vm_spec_to_json(const ppn_vm_spec *s, char **ret_json)
{
    if (!s || !ret_json)
        return -EINVAL;
    json_t *fw = json_array();
    json_t *o = json_object();
    int bad = !fw || !o;
    for (size_t i = 0; i < s->nfwd && !bad; i++)
        bad |= json_array_append_new(fw, json_pack("{s:s,s:i,s:i}", "proto",
                                                   s->fwd[i].proto == PPN_VM_PROTO_UDP ? "udp" : "tcp",
                                                   "host", (int)s->fwd[i].host_port, "guest",
                                                   (int)s->fwd[i].guest_port)) < 0;
    if (!bad) {
        bad |= json_object_set_new(o, "format", json_integer(1)) < 0;
        bad |= json_object_set_new(o, "name", json_string(s->name)) < 0;
        bad |= json_object_set_new(o, "type", json_string(ppn_vm_type_to_string(s->type))) < 0;
        bad |= json_object_set_new(o, "memory_mib", json_integer(s->memory_mib)) < 0;
        bad |= json_object_set_new(o, "vcpus", json_integer(s->vcpus)) < 0;
        bad |= json_object_set_new(o, "disk", json_string(S(s->disk))) < 0;
        bad |= json_object_set_new(o, "disk_size_bytes", json_integer((json_int_t)s->disk_size)) < 0;
        bad |= json_object_set_new(o, "node", json_string(S(s->node))) < 0;
        bad |= json_object_set_new(o, "kernel", json_string(S(s->kernel))) < 0;
        bad |= json_object_set_new(o, "initrd", json_string(S(s->initrd))) < 0;
        bad |= json_object_set_new(o, "append", json_string(S(s->append))) < 0;
        bad |= json_object_set_new(o, "network", json_boolean(s->network)) < 0;
        bad |= json_object_set(o, "port_forwards", fw) < 0;
        /* optional members, absent when unset (older files round-trip) */
        if (s->disk_format != PPN_VM_DISK_FORMAT_AUTO)
            bad |= json_object_set_new(o, "disk_format",
                                       json_string(ppn_vm_disk_format_to_string(s->disk_format))) < 0;
        if (s->base)
            bad |= json_object_set_new(o, "base", json_string(s->base)) < 0;
        if (s->run_as)
            bad |= json_object_set_new(o, "run_as", json_string(s->run_as)) < 0;
        if (s->has_ci) {
            json_t *ci = json_object(), *keys = json_array();
            bad |= !ci || !keys;
            for (size_t i = 0; i < s->ci_nkeys && !bad; i++)
                bad |= json_array_append_new(keys, json_string(s->ci_keys[i])) < 0;
            if (!bad) {
                bad |= json_object_set_new(ci, "hostname", json_string(S(s->ci_hostname))) < 0;
                bad |= json_object_set_new(ci, "user", json_string(S(s->ci_user))) < 0;
                bad |= json_object_set(ci, "ssh_keys", keys) < 0;
                bad |= json_object_set_new(ci, "user_data", json_string(S(s->ci_user_data))) < 0;
                bad |= json_object_set_new(ci, "network_config", json_string(S(s->ci_network_config))) < 0;
                bad |= json_object_set(o, "cloud_init", ci) < 0;
            }
            json_decref(keys);
            json_decref(ci);
        }
    }
    char *txt = bad ? NULL : json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(fw);
    json_decref(o);
    if (!txt)
        return -ENOMEM;
    *ret_json = txt;
    return 0;
}

static int get_str(json_t *o, const char *key, const char **ret)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return -1;
    *ret = json_string_value(v);
    if (strlen(*ret) != json_string_length(v))
        return -1; /* embedded NUL */
    return 0;
}

static int get_uint(json_t *o, const char *key, uint64_t max, uint64_t *ret)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return -1;
    *ret = (uint64_t)json_integer_value(v);
    return 0;
}

PPN_EXPORT int ppn_vm_spec_from_json(const char *json, size_t len, ppn_vm_spec **ret_spec,
                                     const char **ret_reason)
{
    if (!json || !ret_spec)
        return -EINVAL;
    const char *why = NULL;
    json_error_t jerr;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        if (ret_reason)
            *ret_reason = "not JSON";
        return -EBADMSG;
    }
    ppn_vm_spec *s = NULL;
    static const char *const known[] = {"format", "name", "type", "memory_mib", "vcpus", "disk",
                                        "disk_size_bytes", "node", "kernel", "initrd", "append",
                                        "network", "port_forwards", "disk_format", "base",
                                        "cloud_init", "run_as"};
    uint64_t format, mem, vcpus, dsize;
    const char *name, *type, *disk, *node, *kernel, *initrd, *append;
    ppn_vm_type t;
    json_t *net, *fw;
    if (!json_is_object(o)) {
        why = "not a JSON object";
        goto bad;
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        bool ok = false;
        for (size_t i = 0; i < PPNC_ARRAY_SIZE(known); i++)
            ok |= !strcmp(key, known[i]);
        if (!ok) {
            why = "unknown member";
            goto bad;
        }
    }
    if (get_uint(o, "format", 1000, &format) < 0 || format != 1) {
        why = "\"format\" must be 1";
        goto bad;
    }
    if (get_str(o, "name", &name) < 0 || !ppn_vm_name_valid(name)) {
        why = "\"name\" missing or not a valid VM name";
        goto bad;
    }
    if (get_str(o, "type", &type) < 0 || ppn_vm_type_from_string(type, &t) < 0) {
        why = "\"type\" missing or not a VM type";
        goto bad;
    }
    if (ppn_vm_spec_new(name, t, &s) < 0) {
        why = "out of memory";
        goto bad;
    }
    if (get_uint(o, "memory_mib", UINT32_MAX, &mem) < 0 || ppn_vm_spec_set_memory_mib(s, (uint32_t)mem) < 0) {
        why = "\"memory_mib\" missing or out of range";
        goto bad;
    }
    if (get_uint(o, "vcpus", UINT32_MAX, &vcpus) < 0 || ppn_vm_spec_set_vcpus(s, (uint32_t)vcpus) < 0) {
        why = "\"vcpus\" missing or out of range";
        goto bad;
    }
    if (get_str(o, "disk", &disk) < 0 || get_uint(o, "disk_size_bytes", INT64_MAX, &dsize) < 0 ||
        ppn_vm_spec_set_disk(s, disk, 0) < 0) {
        why = "\"disk\"/\"disk_size_bytes\" missing or invalid";
        goto bad;
    }
    s->disk_size = dsize;
    if (get_str(o, "node", &node) < 0 || ppn_vm_spec_set_node(s, node) < 0) {
        why = "\"node\" missing or invalid";
        goto bad;
    }
    if (get_str(o, "kernel", &kernel) < 0 || get_str(o, "initrd", &initrd) < 0 ||
        get_str(o, "append", &append) < 0 || ppn_vm_spec_set_kernel(s, kernel, initrd, append) < 0) {
        why = "\"kernel\"/\"initrd\"/\"append\" missing or invalid";
        goto bad;
    }
    net = json_object_get(o, "network");
    if (!json_is_boolean(net)) {
        why = "\"network\" must be true or false";
        goto bad;
    }
    s->network = json_is_true(net);
    fw = json_object_get(o, "port_forwards");
    if (!json_is_array(fw) || json_array_size(fw) > PPN_VM_PORT_FORWARDS_MAX) {
        why = "\"port_forwards\" must be an array of at most 64";
        goto bad;
    }
    ppn_vm_spec_clear_port_forwards(s);
    for (size_t i = 0; i < json_array_size(fw); i++) {
        json_t *f = json_array_get(fw, i);
        const char *proto;
        uint64_t h, g;
        if (!json_is_object(f) || json_object_size(f) != 3 || get_str(f, "proto", &proto) < 0 ||
            (strcmp(proto, "tcp") && strcmp(proto, "udp")) || get_uint(f, "host", 65535, &h) < 0 ||
            get_uint(f, "guest", 65535, &g) < 0) {
            why = "a port forward is not {\"proto\": tcp|udp, \"host\": port, \"guest\": port}";
            goto bad;
        }
        ppn_vm_port_forward pf = {strcmp(proto, "udp") ? PPN_VM_PROTO_TCP : PPN_VM_PROTO_UDP,
                                  (uint16_t)h, (uint16_t)g};
        if (ppn_vm_spec_add_port_forward(s, &pf) < 0) {
            why = "a port forward is invalid or repeats a host port";
            goto bad;
        }
    }
    json_t *jf = json_object_get(o, "disk_format");
    if (jf) {
        const char *fs;
        ppn_vm_disk_format df;
        if (get_str(o, "disk_format", &fs) < 0 || ppn_vm_disk_format_from_string(fs, &df) < 0 ||
            df == PPN_VM_DISK_FORMAT_AUTO) {
            why = "\"disk_format\" must be \"raw\" or \"qcow2\"";
            goto bad;
        }
        s->disk_format = df;
    }
    if (json_object_get(o, "base")) {
        const char *b;
        if (get_str(o, "base", &b) < 0 || !*b || ppn_vm_spec_set_base(s, b) < 0) {
            why = "\"base\" must be an absolute path of at most 1023 bytes";
            goto bad;
        }
    }
    if (json_object_get(o, "run_as")) {
        const char *u;
        if (get_str(o, "run_as", &u) < 0 || !*u || ppn_vm_spec_set_run_as(s, u) < 0) {
            why = "\"run_as\" must be a user name ([a-z_][a-z0-9_-]*, at most 32)";
            goto bad;
        }
    }
    json_t *jci = json_object_get(o, "cloud_init");
    if (jci) {
        static const char *const ck[] = {"hostname", "user", "ssh_keys", "user_data", "network_config"};
        const char *v[5] = {NULL};
        json_t *keys = json_object_get(jci, "ssh_keys");
        const char *kv[PPN_VM_SSH_KEYS_MAX];
        if (!json_is_object(jci) || json_object_size(jci) != 5 || !json_is_array(keys) ||
            json_array_size(keys) > PPN_VM_SSH_KEYS_MAX) {
            why = "\"cloud_init\" must be {hostname, user, ssh_keys (at most 8), user_data, network_config}";
            goto bad;
        }
        for (size_t i = 0; i < 5; i++)
            if (i != 2 && get_str(jci, ck[i], &v[i]) < 0) {
                why = "a \"cloud_init\" member is missing or not a string";
                goto bad;
            }
        for (size_t i = 0; i < json_array_size(keys); i++) {
            json_t *k = json_array_get(keys, i);
            if (!json_is_string(k) || strlen(json_string_value(k)) != json_string_length(k)) {
                why = "\"cloud_init\".\"ssh_keys\" holds a non-string";
                goto bad;
            }
            kv[i] = json_string_value(k);
        }
        ppn_vm_cloud_init ci = {v[0], v[1], kv, json_array_size(keys), v[3], v[4]};
        if (ppn_vm_spec_set_cloud_init(s, &ci, &why) < 0)
            goto bad;
        if (!s->has_ci) {
            why = "\"cloud_init\" is present but empty";
            goto bad;
        }
    }
    if (ppn_vm_spec_validate(s, &why) < 0)
        goto bad;
    json_decref(o);
    *ret_spec = s;
    return 0;
bad:
    ppn_vm_spec_free(s);
    json_decref(o);
    if (ret_reason)
        *ret_reason = why;
    return -EUCLEAN;
}

PPN_EXPORT int ppn_vm_path(const char *state_dir, const char *name, const char *what, char *buf,
                           size_t size)
{
    static const struct {
        const char *what, *file;
    } files[] = {{"spec", "spec.json"}, {"monitor", "qmp.sock"}, {"pid", "qemu.pid"},
                 {"console", "console.log"}, {"log", "qemu.log"}, {"seed", "cidata.img"},
                 {"lock", "lock"}, {"dir", ""}};
    if (!state_dir || !*state_dir || !ppn_vm_name_valid(name) || !what || !buf)
        return -EINVAL;
    /* Always absolute: QEMU's command line holds the monitor path, and a
     * VM named through a relative state directory is the same VM. */
    char abs[4096];
    if (state_dir[0] != '/') {
        if (realpath(state_dir, abs)) {
            state_dir = abs;
        } else {
            char cwd[4096];
            if (!getcwd(cwd, sizeof(cwd)))
                return -errno;
            int n = snprintf(abs, sizeof(abs), "%s/%s", cwd, state_dir);
            if (n < 0 || (size_t)n >= sizeof(abs))
                return -ENAMETOOLONG;
            state_dir = abs;
        }
    }
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(files); i++)
        if (!strcmp(what, files[i].what)) {
            int n = snprintf(buf, size, "%s/%s%s%s", state_dir, name, *files[i].file ? "/" : "",
                             files[i].file);
            if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
            return 0;
        }
    return -EINVAL;
}

PPN_EXPORT int ppn_vm_spec_save(const ppn_vm_spec *s, const char *state_dir, bool create)
{
    if (!s || !state_dir || ppn_vm_spec_validate(s, NULL) < 0)
        return -EINVAL;
    char dir[4096], path[4096];
    int r = ppn_vm_path(state_dir, s->name, "dir", dir, sizeof(dir));
    if (r < 0)
        return r;
    if ((r = ppn_vm_path(state_dir, s->name, "spec", path, sizeof(path))) < 0)
        return r;
    if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    if (mkdir(dir, 0700) < 0) {
        if (errno != EEXIST)
            return -errno;
        if (create && access(path, F_OK) == 0)
            return -EEXIST;
    } else {
        ppnc_fsync_parent(dir);
    }
    char *txt;
    if ((r = ppn_vm_spec_to_json(s, &txt)) < 0)
        return r;
    size_t n = strlen(txt);
    txt[n] = '\0';
    char *withnl = realloc(txt, n + 2);
    if (!withnl) {
        free(txt);
        return -ENOMEM;
    }
    withnl[n] = '\n';
    withnl[n + 1] = '\0';
    r = ppnc_write_file_atomic(path, withnl, n + 1, 0600);
    free(withnl);
    return r;
}

PPN_EXPORT int ppn_vm_spec_load(const char *state_dir, const char *name, ppn_vm_spec **ret_spec,
                                const char **ret_reason)
{
    if (!state_dir || !ret_spec || !ppn_vm_name_valid(name))
        return -EINVAL;
    char path[4096];
    int r = ppn_vm_path(state_dir, name, "spec", path, sizeof(path));
    if (r < 0)
        return r;
    uint8_t *data;
    size_t len;
    r = ppnc_read_file(path, SPEC_FILE_MAX, &data, &len);
    if (r < 0) {
        if (ret_reason)
            *ret_reason = r == -ENOENT ? "no such VM" : "cannot read spec.json";
        return r;
    }
    ppn_vm_spec *s;
    r = ppn_vm_spec_from_json((const char *)data, len, &s, ret_reason);
    free(data);
    if (r < 0)
        return r == -EBADMSG ? -EUCLEAN : r;
    if (strcmp(s->name, name) != 0) {
        ppn_vm_spec_free(s);
        if (ret_reason)
            *ret_reason = "the stored name differs from the VM's directory";
        return -EUCLEAN;
    }
    *ret_spec = s;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

PPN_EXPORT int ppn_vm_list(const char *state_dir, char ***ret_names)
{
    if (!state_dir || !ret_names)
        return -EINVAL;
    DIR *d = opendir(state_dir);
    size_t n = 0, cap = 8;
    char **v = calloc(cap + 1, sizeof(char *));
    if (!v) {
        if (d)
            closedir(d);
        return -ENOMEM;
    }
    if (!d) {
        if (errno == ENOENT) {
            *ret_names = v;
            return 0;
        }
        int e = -errno;
        free(v);
        return e;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!ppn_vm_name_valid(de->d_name))
            continue;
        char p[4096];
        if (ppn_vm_path(state_dir, de->d_name, "spec", p, sizeof(p)) < 0 || access(p, F_OK) < 0)
            continue;
        if (n == cap) {
            char **nv = realloc(v, (cap * 2 + 1) * sizeof(char *));
            if (!nv)
                goto nomem;
            v = nv;
            cap *= 2;
        }
        if (!(v[n] = strdup(de->d_name)))
            goto nomem;
        v[++n] = NULL;
    }
    closedir(d);
    qsort(v, n, sizeof(char *), cmp_str);
    if (n > INT32_MAX) {
        ppn_vmm_strv_free(v);
        return -E2BIG;
    }
    *ret_names = v;
    return (int)n;
nomem:
    closedir(d);
    ppn_vmm_strv_free(v);
    return -ENOMEM;
}

PPN_EXPORT int ppn_vm_remove(const char *state_dir, const char *name)
{
    if (!state_dir || !ppn_vm_name_valid(name))
        return -EINVAL;
    pid_t pid = 0;
    int r = ppn_vm_pid(state_dir, name, &pid);
    if (r < 0)
        return r;
    if (pid > 0)
        return -EBUSY;
    char dir[4096], p[4096];
    if ((r = ppn_vm_path(state_dir, name, "dir", dir, sizeof(dir))) < 0)
        return r;
    if (access(dir, F_OK) < 0)
        return -errno;
    static const char *const what[] = {"spec", "monitor", "pid", "console", "log", "seed", "lock"};
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(what); i++)
        if (ppn_vm_path(state_dir, name, what[i], p, sizeof(p)) == 0)
            unlink(p);
    if (rmdir(dir) < 0)
        return -errno;
    ppnc_fsync_parent(dir);
    return 0;
}
