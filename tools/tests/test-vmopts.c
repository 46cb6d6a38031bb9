/* The VM-spec options shared by `ppn-vm create` and `ppn-vm request`
 * (tools/glue/vmopts.h): the table through getopt_long beside a command's own
 * options, the collector's bounds, and what reaches a real ppn_vm_spec. */
#include <check.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "vmopts.h"

static const struct option table[] = {
    {"help", no_argument, NULL, 'h'}, VM_SPEC_LONGOPTS, {"key", required_argument, NULL, 'k'}, {0},
};

/* Runs getopt_long over argv: the shared options into *o; *own the --key value.
 * The first refusal of vm_spec_opt, or 0, or '?' for an unknown option. */
static int collect(int argc, char **argv, struct vm_spec_opts *o, const char **own, const char **why)
{
    memset(o, 0, sizeof(*o));
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", table, NULL)) != -1) {
        int k = vm_spec_opt(o, ch, optarg, why);
        if (k < 0)
            return k;
        if (k > 0)
            continue;
        if (ch == 'k')
            *own = optarg;
        else
            return '?';
    }
    return 0;
}

START_TEST(test_collect)
{
    char *argv[] = {"create", "--type", "mediakit", "--memory", "512", "--vcpus", "2", "--disk", "/d.qcow2",
                    "--disk-size", "3", "--node", "n1", "--kernel", "/k", "--initrd", "/i", "--append", "a=1",
                    "--base", "/b", "--no-network", "--forward", "8080:80", "--no-default-forwards",
                    "--hostname", "h", "--user", "u", "--ssh-key", "ssh-ed25519 AAAA", "--ssh-key", "/keys",
                    "--user-data", "/ud", "--network-config", "/nc", "--key", "op.key", "vm1", NULL};
    int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
    struct vm_spec_opts o;
    const char *own = NULL, *why = NULL;
    ck_assert_int_eq(collect(argc, argv, &o, &own, &why), 0);
    ck_assert_str_eq(o.type, "mediakit");
    ck_assert_str_eq(o.memory, "512");
    ck_assert_str_eq(o.vcpus, "2");
    ck_assert_str_eq(o.disk, "/d.qcow2");
    ck_assert_str_eq(o.disk_size, "3");
    ck_assert_str_eq(o.node, "n1");
    ck_assert_str_eq(o.kernel, "/k");
    ck_assert_str_eq(o.initrd, "/i");
    ck_assert_str_eq(o.append, "a=1");
    ck_assert_str_eq(o.base, "/b");
    ck_assert(o.no_network && o.no_default_forwards);
    ck_assert_uint_eq(o.n_forwards, 1);
    ck_assert_str_eq(o.forwards[0], "8080:80");
    ck_assert_str_eq(o.hostname, "h");
    ck_assert_str_eq(o.user, "u");
    ck_assert_uint_eq(o.n_ssh_keys, 2);
    ck_assert_str_eq(o.ssh_keys[1], "/keys");
    ck_assert_str_eq(o.user_data, "/ud");
    ck_assert_str_eq(o.network_config, "/nc");
    ck_assert_str_eq(own, "op.key"); /* the command's own option is left to it */
    ck_assert_int_eq(optind, argc - 1);
    ck_assert_str_eq(argv[optind], "vm1");
    /* a command's own code is not taken */
    ck_assert_int_eq(vm_spec_opt(&o, 'k', "x", &why), 0);
    ck_assert_int_eq(vm_spec_opt(&o, 'h', NULL, &why), 0);
}
END_TEST

START_TEST(test_bounds)
{
    struct vm_spec_opts o;
    memset(&o, 0, sizeof(o));
    const char *why = NULL;
    for (unsigned i = 0; i < PPN_VM_PORT_FORWARDS_MAX; i++)
        ck_assert_int_eq(vm_spec_opt(&o, VM_OPT_FORWARD, "1:2", &why), 1);
    ck_assert_int_eq(vm_spec_opt(&o, VM_OPT_FORWARD, "1:2", &why), -E2BIG);
    ck_assert_str_eq(why, "too many --forward");
    ck_assert_uint_eq(o.n_forwards, PPN_VM_PORT_FORWARDS_MAX);
    for (unsigned i = 0; i < PPN_VM_SSH_KEYS_MAX; i++)
        ck_assert_int_eq(vm_spec_opt(&o, VM_OPT_SSH_KEY, "k", &why), 1);
    ck_assert_int_eq(vm_spec_opt(&o, VM_OPT_SSH_KEY, "k", &why), -E2BIG);
    ck_assert_str_eq(why, "too many --ssh-key");
}
END_TEST


/* Numbers as the test gives them: uint64 decimal, "bad" refused. */
static int number(int code, const char *arg, uint64_t *ret, const char **ret_why, void *userdata)
{
    int *calls = userdata;
    calls[code - VM_OPT_TYPE]++;
    if (!strcmp(arg, "bad"))
        return *ret_why = "not a number", -EINVAL;
    *ret = strtoull(arg, NULL, 10);
    return 0;
}

static const char *after_disk(ppn_vm_spec *s, void *userdata)
{
    int *calls = userdata;
    calls[0]++;
    /* runs once the disk is set, before the kernel */
    if (!strcmp(ppn_vm_spec_disk(s), "/stop.img"))
        return ppn_vm_spec_kernel(s)[0] ? "kernel set too early" : "stopped after the disk";
    return NULL;
}

static int calls[32];
static const struct vm_spec_steps steps = {number, after_disk, calls};

static ppn_vm_spec *spec(void)
{
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new("vm1", PPN_VM_TYPE_MEDIAKIT, &s), 0);
    return s;
}

START_TEST(test_apply)
{
    struct vm_spec_opts o;
    memset(&o, 0, sizeof(o));
    const char *why = "x";
    size_t bad = 99;
    /* nothing given: the type's defaults stay */
    ppn_vm_spec *s = spec(), *d = spec();
    ck_assert_int_eq(vm_spec_apply(s, &o, &steps, &why, &bad), 0);
    ck_assert_ptr_null(why);
    ck_assert_uint_eq(ppn_vm_spec_memory_mib(s), ppn_vm_spec_memory_mib(d));
    ck_assert_uint_eq(ppn_vm_spec_port_forward_count(s), ppn_vm_spec_port_forward_count(d));
    ck_assert(ppn_vm_spec_network(s));
    ppn_vm_spec_free(s);
    /* every field */
    o.memory = "512", o.vcpus = "3", o.disk_size = "7", o.disk = "/d.qcow2", o.kernel = "/k", o.initrd = "/i", o.append = "a=1";
    o.no_default_forwards = true;
    o.forwards[o.n_forwards++] = "udp:5353:53";
    o.forwards[o.n_forwards++] = "8080:80";
    s = spec();
    ck_assert_int_eq(vm_spec_apply(s, &o, &steps, &why, &bad), 0);
    ck_assert_uint_eq(ppn_vm_spec_memory_mib(s), 512);
    ck_assert_uint_eq(ppn_vm_spec_vcpus(s), 3);
    ck_assert_str_eq(ppn_vm_spec_disk(s), "/d.qcow2");
    ck_assert_uint_eq(ppn_vm_spec_disk_size_bytes(s), 7ULL << 30);
    ck_assert_str_eq(ppn_vm_spec_kernel(s), "/k");
    ck_assert_str_eq(ppn_vm_spec_initrd(s), "/i");
    ck_assert_str_eq(ppn_vm_spec_append(s), "a=1");
    ck_assert_uint_eq(ppn_vm_spec_port_forward_count(s), 2);
    ck_assert_int_eq(calls[VM_OPT_MEMORY - VM_OPT_TYPE], 1);
    ck_assert_int_eq(calls[VM_OPT_VCPUS - VM_OPT_TYPE], 1);
    ck_assert_int_eq(calls[VM_OPT_DISK_SIZE - VM_OPT_TYPE], 1);
    ppn_vm_port_forward f;
    ck_assert_int_eq(ppn_vm_spec_port_forward(s, 1, &f), 0);
    ck_assert_uint_eq(f.host_port, 8080);
    ck_assert_uint_eq(f.guest_port, 80);
    ppn_vm_spec_free(s);
    /* --no-network: no card, no forwards */
    memset(&o, 0, sizeof(o));
    o.no_network = true;
    s = spec();
    ck_assert_int_eq(vm_spec_apply(s, &o, &steps, &why, &bad), 0);
    ck_assert(!ppn_vm_spec_network(s));
    ck_assert_uint_eq(ppn_vm_spec_port_forward_count(s), 0);
    ppn_vm_spec_free(s);
    ppn_vm_spec_free(d);
}
END_TEST

/* Each refusal: the sentence naming the option, and the spec left as it was. */
START_TEST(test_refusals)
{
    static const struct {
        const char *field, *value, *why;
    } cases[] = {
        {"memory", "10", "--memory must be 64..1048576 MiB"},
        {"memory", "0", "--memory must be 64..1048576 MiB"},
        {"memory", "4294967296", "--memory must be 64..1048576 MiB"},
        {"memory", "bad", "not a number"}, /* the command's own sentence */
        {"vcpus", "0", "--vcpus must be 1..256"},
        {"vcpus", "257", "--vcpus must be 1..256"},
        {"vcpus", "bad", "not a number"},
        {"disk-size", "bad", "not a number"},
        {"disk-size", "17179869184", "--disk must be an absolute path"}, /* gib << 30 would overflow */
        {"disk", "rel.img", "--disk must be an absolute path"},
        {"disk", "/stop.img", "stopped after the disk"},
        {"kernel", "rel", "--kernel and --initrd must be absolute paths"},
        {"initrd", "rel", "--kernel and --initrd must be absolute paths"},
        {"forward", "nope", "--forward is [tcp:|udp:]HOSTPORT:GUESTPORT"},
        {"forward", "0:80", "--forward is [tcp:|udp:]HOSTPORT:GUESTPORT"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vm_spec_opts o;
        memset(&o, 0, sizeof(o));
        if (!strcmp(cases[i].field, "memory"))
            o.memory = cases[i].value;
        else if (!strcmp(cases[i].field, "vcpus"))
            o.vcpus = cases[i].value;
        else if (!strcmp(cases[i].field, "disk-size"))
            o.disk_size = cases[i].value;
        else if (!strcmp(cases[i].field, "disk"))
            o.disk = cases[i].value, o.kernel = "/k";
        else if (!strcmp(cases[i].field, "kernel"))
            o.kernel = cases[i].value;
        else if (!strcmp(cases[i].field, "initrd"))
            o.kernel = "/k", o.initrd = cases[i].value;
        else
            o.forwards[o.n_forwards++] = cases[i].value;
        ppn_vm_spec *s = spec();
        uint32_t mem = ppn_vm_spec_memory_mib(s);
        const char *why = NULL;
        size_t bad = 99;
        ck_assert_int_eq(vm_spec_apply(s, &o, &steps, &why, &bad), -EINVAL);
        ck_assert_msg(why && !strcmp(why, cases[i].why), "case %zu: '%s'", i, why ? why : "(null)");
        ck_assert_uint_eq(ppn_vm_spec_memory_mib(s), mem);
        ppn_vm_spec_free(s);
    }
    /* a forward the spec refuses (the host port taken twice): its index, no sentence */
    struct vm_spec_opts o;
    memset(&o, 0, sizeof(o));
    o.no_default_forwards = true;
    o.forwards[o.n_forwards++] = "8080:80";
    o.forwards[o.n_forwards++] = "9090:90";
    o.forwards[o.n_forwards++] = "8080:81";
    ppn_vm_spec *s = spec();
    const char *why = "x";
    size_t bad = 99;
    ck_assert_int_eq(vm_spec_apply(s, &o, &steps, &why, &bad), -EEXIST);
    ck_assert_ptr_null(why);
    ck_assert_uint_eq(bad, 2);
    ppn_vm_spec_free(s);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("tool-vmopts");
    TCase *tc = tcase_create("vmopts");
    tcase_add_test(tc, test_collect);
    tcase_add_test(tc, test_bounds);
    tcase_add_test(tc, test_apply);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
