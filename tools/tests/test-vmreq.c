/* A creation request made a VM (tools/glue/vmreq.c), the agent worker's
 * glue: the specification checked against the placement, the kernel-only
 * form, a VM-Totebox pinned here, pins elsewhere, and the disk made as
 * create makes it (real files: an empty qcow2, an overlay on a base, the
 * format read back and pinned). */
#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmreq.h"

#define MIB ((uint64_t)1024 * 1024)

static ppn_fleet_request request_for(const ppn_vm_spec *s)
{
    ppn_fleet_request rq;
    memset(&rq, 0, sizeof(rq));
    snprintf(rq.vm_name, sizeof(rq.vm_name), "%s", ppn_vm_spec_name(s));
    rq.mem_bytes = (uint64_t)ppn_vm_spec_memory_mib(s) * MIB;
    rq.vcpus = ppn_vm_spec_vcpus(s);
    rq.kind = ppn_vm_spec_type(s) == PPN_VM_TYPE_TOTEBOX ? PPN_FLEET_VM_TOTEBOX : PPN_FLEET_VM_GENERAL;
    char *txt;
    ck_assert_int_eq(ppn_vm_spec_to_json(s, &txt), 0);
    ck_assert_uint_lt(strlen(txt), sizeof(rq.spec));
    snprintf(rq.spec, sizeof(rq.spec), "%s", txt);
    free(txt);
    return rq;
}

static ppn_vm_spec *media(void)
{
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new("media-1", PPN_VM_TYPE_MEDIAKIT, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_memory_mib(s, 256), 0);
    ck_assert_int_eq(ppn_vm_spec_set_vcpus(s, 1), 0);
    ck_assert_int_eq(ppn_vm_spec_set_kernel(s, "/boot/vmlinuz", NULL, NULL), 0);
    return s;
}

START_TEST(test_spec_against_placement)
{
    ppn_vm_spec *s = media(), *got = NULL;
    ppn_fleet_request rq = request_for(s);
    const char *why = NULL;
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "", &got, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_name(got), "media-1");
    ck_assert_int_eq(ppn_vm_spec_type(got), PPN_VM_TYPE_MEDIAKIT);
    ck_assert_str_eq(ppn_vm_spec_node(got), ""); /* only a VM-Totebox is pinned here */
    ppn_vm_spec_free(got);
    /* each placed figure that disagrees */
    for (int k = 0; k < 4; k++) {
        ppn_fleet_request bad = rq;
        if (k == 0)
            snprintf(bad.vm_name, sizeof(bad.vm_name), "media-2");
        else if (k == 1)
            bad.mem_bytes += MIB;
        else if (k == 2)
            bad.vcpus = 2;
        else
            bad.kind = PPN_FLEET_VM_TOTEBOX;
        why = NULL;
        got = NULL;
        ck_assert_int_eq(glue_vm_from_request(&bad, "node-a", "", &got, &why), -EBADMSG);
        ck_assert_ptr_null(got);
        ck_assert_ptr_nonnull(strstr(why, "disagrees with the placed request"));
    }
    /* a specification that does not load: not JSON, not a specification */
    ppn_fleet_request junk = rq;
    snprintf(junk.spec, sizeof(junk.spec), "{\"format\": 1, \"name\": \"media-1\"");
    why = NULL;
    ck_assert_int_eq(glue_vm_from_request(&junk, "node-a", "", &got, &why), -EBADMSG);
    ck_assert_str_eq(why, "not JSON");
    snprintf(junk.spec, sizeof(junk.spec), "{\"format\": 1, \"name\": \"media-1\"}");
    why = NULL;
    ck_assert_int_eq(glue_vm_from_request(&junk, "node-a", "", &got, &why), -EUCLEAN);
    ck_assert_ptr_nonnull(why);
    ppn_vm_spec_free(s);
}
END_TEST

START_TEST(test_kernel_form_and_totebox_pin)
{
    ppn_fleet_request rq;
    memset(&rq, 0, sizeof(rq));
    snprintf(rq.vm_name, sizeof(rq.vm_name), "k1");
    rq.mem_bytes = 192 * MIB;
    rq.vcpus = 1;
    rq.kind = PPN_FLEET_VM_GENERAL;
    snprintf(rq.kernel, sizeof(rq.kernel), "/boot/vmlinuz");
    snprintf(rq.append, sizeof(rq.append), "console=ttyS0");
    ppn_vm_spec *got = NULL;
    const char *why = NULL;
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "", &got, &why), 0);
    ck_assert_int_eq(ppn_vm_spec_type(got), PPN_VM_TYPE_ORCHESTRATION);
    ck_assert_uint_eq(ppn_vm_spec_memory_mib(got), 192);
    ck_assert(!ppn_vm_spec_network(got));
    ck_assert_uint_eq(ppn_vm_spec_port_forward_count(got), 0);
    ck_assert_str_eq(ppn_vm_spec_append(got), "console=ttyS0");
    ppn_vm_spec_free(got);
    /* a VM-Totebox that came without a node is pinned to this one */
    rq.kind = PPN_FLEET_VM_TOTEBOX;
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "", &got, &why), 0);
    ck_assert_int_eq(ppn_vm_spec_type(got), PPN_VM_TYPE_TOTEBOX);
    ck_assert_str_eq(ppn_vm_spec_node(got), "node-a");
    ck_assert_ptr_null(glue_vm_pinned_elsewhere(got, "node-a", ""));
    ck_assert_str_eq(glue_vm_pinned_elsewhere(got, "node-b", ""), "node-a");
    ck_assert_ptr_null(glue_vm_pinned_elsewhere(got, "host-7", "node-a")); /* its ledger name */
    ck_assert_str_eq(glue_vm_pinned_elsewhere(got, "host-7", ""), "node-a");
    ppn_vm_spec_free(got);
    /* a kernel path that is not absolute */
    rq.kind = PPN_FLEET_VM_GENERAL;
    snprintf(rq.kernel, sizeof(rq.kernel), "boot/vmlinuz");
    why = NULL;
    ck_assert_int_lt(glue_vm_from_request(&rq, "node-a", "", &got, &why), 0);
    ck_assert_str_eq(why, "invalid kernel request");
    /* memory beyond what a spec holds */
    snprintf(rq.kernel, sizeof(rq.kernel), "/boot/vmlinuz");
    rq.mem_bytes = (uint64_t)UINT32_MAX * MIB + MIB;
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "", &got, &why), -EINVAL);
    ck_assert_str_eq(why, "memory out of range");
}
END_TEST

/* QEMU's user, chosen on this host as create chooses it: the user a
 * request's specification names, else the default user where it exists
 * (this machine's ppn-vm as getpwnam says, and nobody, which exists), else
 * root; the kernel-only form too. */
START_TEST(test_run_as)
{
    ck_assert_ptr_nonnull(getpwnam("nobody"));
    ck_assert_ptr_null(getpwnam("ppn-no-such-user"));
    ppn_vm_spec *s = media(), *got = NULL;
    ppn_fleet_request rq = request_for(s);
    const char *why = NULL;
    /* the default (NULL): ppn-vm when this host has that user */
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", NULL, &got, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(got), getpwnam(GLUE_VM_RUN_AS_DEFAULT) ? GLUE_VM_RUN_AS_DEFAULT : "");
    ppn_vm_spec_free(got);
    /* a default that exists, one that does not, none */
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "nobody", &got, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(got), "nobody");
    ppn_vm_spec_free(got);
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "ppn-no-such-user", &got, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(got), "");
    ppn_vm_spec_free(got);
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "", &got, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(got), "");
    ppn_vm_spec_free(got);
    /* the kernel-only form gets it too */
    ppn_fleet_request k;
    memset(&k, 0, sizeof(k));
    snprintf(k.vm_name, sizeof(k.vm_name), "k1");
    k.mem_bytes = 192 * MIB;
    k.vcpus = 1;
    snprintf(k.kernel, sizeof(k.kernel), "/boot/vmlinuz");
    ck_assert_int_eq(glue_vm_from_request(&k, "node-a", "nobody", &got, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(got), "nobody");
    ppn_vm_spec_free(got);
    /* a specification that names its user: that one, if it is here */
    ck_assert_int_eq(ppn_vm_spec_set_run_as(s, "root"), 0);
    rq = request_for(s);
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "nobody", &got, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(got), "root");
    ppn_vm_spec_free(got);
    ck_assert_int_eq(ppn_vm_spec_set_run_as(s, "nobody"), 0);
    rq = request_for(s);
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "", &got, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(got), "nobody");
    ppn_vm_spec_free(got);
    ck_assert_int_eq(ppn_vm_spec_set_run_as(s, "ppn-no-such-user"), 0);
    rq = request_for(s);
    got = NULL;
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "nobody", &got, &why), -ENOENT);
    ck_assert_ptr_null(got);
    ck_assert_str_eq(why, "no such user on this host");
    ppn_vm_spec_free(s);
    /* the step itself, as create uses it */
    s = media();
    ck_assert_int_eq(glue_vm_set_run_as(s, NULL, "nobody", &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(s), "nobody");
    ck_assert_int_eq(glue_vm_set_run_as(s, "root", "nobody", &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(s), "root");
    ck_assert_int_eq(glue_vm_set_run_as(s, "Bad User", "nobody", &why), -EINVAL);
    ck_assert_str_eq(why, "--run-as is a user name ([a-z_][a-z0-9_-]*, at most 32)");
    ck_assert_int_eq(glue_vm_set_run_as(s, "ppn-no-such-user", NULL, &why), -ENOENT);
    ppn_vm_spec_free(s);
    s = media();
    ck_assert_int_eq(glue_vm_set_run_as(s, NULL, NULL, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(s), "");
    ck_assert_int_eq(glue_vm_set_run_as(s, NULL, "ppn-no-such-user", &why), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(s), "");
    ppn_vm_spec_free(s);
}
END_TEST

/* The operator's side: a request for a spec, read back by the agent's
 * side as the same VM; a VM-Totebox; a spec too long for one request; one
 * that does not validate; the confirmation question. */
START_TEST(test_request_for)
{
    uint8_t node[32];
    memset(node, 0x5a, sizeof(node));
    ppn_vm_spec *s = media(), *got = NULL;
    ck_assert_int_eq(ppn_vm_spec_set_node(s, "node-a"), 0);
    ppn_vm_port_forward f;
    ck_assert_int_eq(ppn_vm_port_forward_parse("tcp:19096:9096", &f), 0);
    ppn_vm_spec_clear_port_forwards(s);
    ck_assert_int_eq(ppn_vm_spec_add_port_forward(s, &f), 0);
    const char *keys[] = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv3 op@host"};
    ppn_vm_cloud_init ci = {"vm-mediakit", "foundry", keys, 1, NULL, NULL};
    const char *why = NULL;
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, &ci, &why), 0);
    ppn_fleet_request rq;
    memset(&rq, 0xff, sizeof(rq)); /* cleared by the call */
    ck_assert_int_eq(glue_vm_request_for(s, node, &rq), 0);
    ck_assert_str_eq(rq.vm_name, "media-1");
    ck_assert_uint_eq(rq.mem_bytes, 256 * MIB);
    ck_assert_uint_eq(rq.vcpus, 1);
    ck_assert_int_eq(rq.kind, PPN_FLEET_VM_GENERAL);
    ck_assert(rq.has_node && !rq.confirmed);
    ck_assert_mem_eq(rq.node_key, node, 32);
    ck_assert_uint_eq(rq.created_unix, 0);
    ck_assert_str_eq(rq.kernel, "");
    for (const char *p = rq.spec; *p; p++)
        ck_assert_msg(*p >= 0x20 && *p < 0x7f, "byte %02x in the line", (unsigned char)*p);
    /* the agent reads back the same VM */
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-a", "", &got, &why), 0);
    char *j1, *j2;
    ck_assert_int_eq(ppn_vm_spec_to_json(s, &j1), 0);
    ck_assert_int_eq(ppn_vm_spec_to_json(got, &j2), 0);
    ck_assert_str_eq(j1, j2);
    free(j1);
    free(j2);
    ppn_vm_spec_free(got);
    char q[1024];
    glue_vm_request_question(s, "node-a", q, sizeof(q));
    ck_assert_str_eq(q, "Create VM-MediaKit 'media-1' (256 MiB, 1 vCPUs, 1 forwards) on node 'node-a'?");
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, "/var/lib/ppn/images/m.qcow2", 1ULL << 30), 0);
    ck_assert_int_eq(ppn_vm_spec_set_base(s, "/var/lib/ppn/images/ubuntu.img"), 0);
    glue_vm_request_question(s, "node-b", q, sizeof(q));
    ck_assert_str_eq(q, "Create VM-MediaKit 'media-1' (256 MiB, 1 vCPUs, disk /var/lib/ppn/images/m.qcow2 on "
                        "/var/lib/ppn/images/ubuntu.img, 1 forwards) on node 'node-b'?");
    /* user-data that makes the line longer than a request holds */
    char *ud = malloc(PPN_FLEET_SPEC_MAX + 16);
    ck_assert_ptr_nonnull(ud);
    memset(ud, 'x', PPN_FLEET_SPEC_MAX + 15);
    memcpy(ud, "#cloud-config\n", 14);
    ud[PPN_FLEET_SPEC_MAX + 15] = '\0';
    ci.user_data = ud;
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, &ci, &why), 0);
    ck_assert_int_eq(glue_vm_request_for(s, node, &rq), -EMSGSIZE);
    free(ud);
    ppn_vm_spec_free(s);
    /* a VM-Totebox */
    ck_assert_int_eq(ppn_vm_spec_new("tb-1", PPN_VM_TYPE_TOTEBOX, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_kernel(s, "/boot/vmlinuz", NULL, NULL), 0);
    ck_assert_int_eq(ppn_vm_spec_set_node(s, "node-b"), 0);
    ck_assert_int_eq(glue_vm_request_for(s, node, &rq), 0);
    ck_assert_int_eq(rq.kind, PPN_FLEET_VM_TOTEBOX);
    ck_assert_int_eq(glue_vm_from_request(&rq, "node-b", "", &got, &why), 0);
    ck_assert_str_eq(ppn_vm_spec_node(got), "node-b");
    ppn_vm_spec_free(got);
    ppn_vm_spec_free(s);
    /* one that does not validate: a VM-Totebox pinned nowhere */
    ck_assert_int_eq(ppn_vm_spec_new("tb-2", PPN_VM_TYPE_TOTEBOX, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_kernel(s, "/boot/vmlinuz", NULL, NULL), 0);
    ck_assert_int_eq(glue_vm_request_for(s, node, &rq), -EINVAL);
    ppn_vm_spec_free(s);
}
END_TEST

START_TEST(test_prepare_disk)
{
    char dir[] = "/tmp/ppn-vmreq-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char disk[128], base[128], over[128];
    snprintf(disk, sizeof(disk), "%s/disk.qcow2", dir);
    snprintf(base, sizeof(base), "%s/base.img", dir);
    snprintf(over, sizeof(over), "%s/over.img", dir);
    ppn_vm_spec *s = media();
    bool made = true;
    const char *why = NULL;
    /* no disk: nothing to do */
    ck_assert_int_eq(glue_vm_prepare_disk(s, &made, &why), 0);
    ck_assert(!made);
    /* missing: made with the type's size (20 GiB for VM-MediaKit), its format read and pinned */
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, disk, 0), 0);
    ck_assert_uint_eq(ppn_vm_spec_disk_size_bytes(s), 20ULL << 30);
    ck_assert_int_eq(glue_vm_prepare_disk(s, &made, &why), 0);
    ck_assert(made);
    ck_assert_int_eq(access(disk, F_OK), 0);
    ck_assert_int_eq(ppn_vm_spec_disk_format(s), PPN_VM_DISK_FORMAT_QCOW2);
    /* there now: used as it is */
    ck_assert_int_eq(glue_vm_prepare_disk(s, &made, &why), 0);
    ck_assert(!made);
    /* an overlay on a raw base, once */
    FILE *f = fopen(base, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ftruncate(fileno(f), 8 << 20), 0);
    fclose(f);
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, over, 1ULL << 30), 0);
    ck_assert_int_eq(ppn_vm_spec_set_base(s, base), 0);
    ck_assert_int_eq(glue_vm_prepare_disk(s, &made, &why), 0);
    ck_assert(made);
    ck_assert_int_eq(ppn_vm_spec_disk_format(s), PPN_VM_DISK_FORMAT_QCOW2);
    ppn_vm_image_info info;
    ck_assert_int_eq(ppn_vm_image_probe(over, &info, NULL), 0);
    ck_assert_int_eq(info.format, PPN_VM_DISK_FORMAT_QCOW2);
    ck_assert_int_eq(glue_vm_prepare_disk(s, &made, &why), -EEXIST);
    ck_assert(!made);
    ck_assert_str_eq(why, "the overlay's --disk exists already");
    ppn_vm_spec_free(s);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("tool-vmreq");
    TCase *tc = tcase_create("vmreq");
    tcase_add_test(tc, test_spec_against_placement);
    tcase_add_test(tc, test_kernel_form_and_totebox_pin);
    tcase_add_test(tc, test_run_as);
    tcase_add_test(tc, test_request_for);
    tcase_add_test(tc, test_prepare_disk);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
