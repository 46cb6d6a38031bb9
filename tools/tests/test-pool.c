/* The agent's resource pool (tools/glue/pool.c) against a real TCG guest
 * (tests/vmm-guest/build-guest.sh, 512 MiB, having touched 300 MiB): the
 * host's memory is given to each pass (a real shortage is what the
 * fleet-pool-pressure test makes), the guest's balloon is read back over
 * QMP.  Under a shortage the pool reclaims in logged steps of at most 128
 * MiB, never below the floor nor into the guest's 64 MiB reserve, then
 * stops; a VM being started is left alone; with plenty it gives everything
 * back in steps; the cgroup that bounds the host is logged once per change;
 * passes come every 2 s of the caller's clock.
 * Usage: test-pool BUILD-GUEST-SH GUEST-DIR */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest-setup.h"
#include "measure.h"
#include "pool.h"
#include "ppn/vmm.h"

#define MIB ((uint64_t)1024 * 1024)

static const char *guest_dir;
static char state[64];
static pid_t qemu;

struct logs {
    char lines[64][1024];
    unsigned n;
    bool skip;
};

static void on_log(const char *line, void *ud)
{
    struct logs *l = ud;
    if (l->n < 64)
        snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%s", line);
}

static bool on_skip(const char *vm, void *ud)
{
    (void)vm;
    return ((struct logs *)ud)->skip;
}

static uint64_t balloon(void)
{
    char mon[PATH_MAX];
    ck_assert_int_eq(ppn_vm_path(state, "p1", "monitor", mon, sizeof(mon)), 0);
    ppn_qmp *q = NULL;
    ck_assert_int_eq(ppn_qmp_connect(mon, 2000, &q), 0);
    uint64_t actual = 0;
    ck_assert_int_eq(ppn_qmp_balloon_query(q, 2000, &actual), 0);
    ppn_qmp_free(q);
    return actual;
}

static struct glue_hostmem host(uint64_t avail_mib)
{
    struct glue_hostmem hm = {.total_bytes = 4096 * MIB, .available_bytes = avail_mib * MIB,
                              .host_total_bytes = 4096 * MIB, .host_available_bytes = avail_mib * MIB};
    return hm;
}

static void boot(void)
{
    snprintf(state, sizeof(state), "/tmp/ppn-pool-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(state));
    ppn_vm_spec *s;
    char k[512], i[512];
    snprintf(k, sizeof(k), "%s/vmlinuz", guest_dir);
    snprintf(i, sizeof(i), "%s/initrd.gz", guest_dir);
    ck_assert_int_eq(ppn_vm_spec_new("p1", PPN_VM_TYPE_ORCHESTRATION, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_memory_mib(s, 512), 0);
    ck_assert_int_eq(ppn_vm_spec_set_vcpus(s, 1), 0);
    ck_assert_int_eq(ppn_vm_spec_set_kernel(s, k, i, "console=ttyS0 panic=-1 loglevel=3 ppn.touch=300"), 0);
    ppn_vm_spec_clear_port_forwards(s);
    ck_assert_int_eq(ppn_vm_spec_set_network(s, false), 0);
    ck_assert_int_eq(ppn_vm_spec_save(s, state, true), 0);
    ppn_vm_spec_free(s);
    int r = ppn_vm_start(state, "p1", NULL, PPN_VM_ACCEL_TCG, 60000, &qemu);
    ck_assert_msg(r == 0, "ppn_vm_start: %s", strerror(-r));
    /* until the guest has touched its memory and is up */
    char con[PATH_MAX], buf[8192];
    ck_assert_int_eq(ppn_vm_path(state, "p1", "console", con, sizeof(con)), 0);
    for (int t = 0; t < 1200; t++) {
        FILE *f = fopen(con, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        if (strstr(buf, "ppn-guest: ready"))
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("the guest did not come up: %s", buf);
}

static void shut(void)
{
    kill(qemu, SIGKILL);
    waitpid(qemu, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    ck_assert_int_eq(system(cmd), 0);
}

/* "... balloon A -> B MiB ..." of a log line. */
static bool step_of(const char *line, const char *verb, unsigned *from, unsigned *to)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "pool: %s VM 'p1' balloon ", verb);
    const char *p = strstr(line, pat);
    return p && sscanf(p + strlen(pat), "%u -> %u MiB", from, to) == 2;
}

START_TEST(test_pool_real_guest)
{
    struct glue_pool *p;
    ck_assert_int_eq(glue_pool_new(0, &p), -EINVAL);
    ck_assert_int_eq(glue_pool_new(512 * MIB, &p), 0);
    ck_assert_uint_eq(glue_pool_floor(512 * MIB), 128 * MIB);
    ck_assert_uint_eq(glue_pool_floor(2048 * MIB), 512 * MIB);
    ck_assert_uint_eq(glue_pool_floor(100 * MIB), 100 * MIB);
    struct glue_hostmem hm = host(100);
    ck_assert_int_eq(glue_pool_pass(NULL, "/x", &hm, 0, NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(glue_pool_pass(p, NULL, &hm, 0, NULL, NULL, NULL), -EINVAL);
    boot();
    struct logs lg = {.skip = true};
    uint64_t now = 1000;
    /* a VM being started is left alone, whatever the shortage */
    ck_assert(glue_pool_due(p, now));
    ck_assert_int_eq(glue_pool_pass(p, state, &hm, now, on_skip, on_log, &lg), 0);
    ck_assert_uint_eq(glue_pool_actual(p, "p1"), 0);
    ck_assert_uint_eq(balloon(), 512 * MIB);
    /* not due before 2 s of the caller's clock */
    ck_assert(!glue_pool_due(p, now + 1999));
    ck_assert_int_eq(glue_pool_pass(p, state, &hm, now + 1999, NULL, on_log, &lg), 0);
    /* a shortage of 412 MiB: reclaimed in steps until the reserve or floor holds */
    lg.skip = false;
    int idle = 0, total = 0;
    for (int round = 0; round < 20 && idle < 2; round++) {
        now += 2000;
        sleep(2); /* the guest's statistics come every 2 s */
        ck_assert(glue_pool_due(p, now));
        int r = glue_pool_pass(p, state, &hm, now, on_skip, on_log, &lg);
        ck_assert_int_ge(r, 0);
        total += r;
        idle = r == 0 && total > 0 ? idle + 1 : 0;
    }
    ck_assert_int_ge(total, 2);
    unsigned last = 512, from, to, steps = 0;
    bool pressure = false;
    for (unsigned i = 0; i < lg.n; i++) {
        pressure |= strstr(lg.lines[i], "pool: host has 100 MiB available, margin 512 MiB: under pressure") != NULL;
        if (!step_of(lg.lines[i], "reclaim from", &from, &to))
            continue;
        ck_assert_msg(from == last && to < from && from - to <= 128 && to >= 128, "step: %s", lg.lines[i]);
        ck_assert_msg(strstr(lg.lines[i], "floor 128 MiB, host available 100 MiB") != NULL, "%s", lg.lines[i]);
        last = to;
        steps++;
    }
    ck_assert_msg(pressure, "no pressure line (%u lines)", lg.n);
    ck_assert_uint_ge(steps, 2);
    for (int t = 0; t < 100 && balloon() != (uint64_t)last * MIB; t++)
        usleep(100 * 1000);
    ck_assert_uint_eq(balloon(), (uint64_t)last * MIB);
    ck_assert_uint_eq(glue_pool_actual(p, "p1"), (uint64_t)last * MIB);
    /* the heartbeat advertises what the balloon left the running guest */
    const struct glue_measure m = {.node_name = "n", .state_dir = state, .pool = p};
    ppn_fleet_heartbeat hb;
    memset(&hb, 0, sizeof(hb));
    ck_assert_int_eq(glue_measure_heartbeat(&m, &hb), 0);
    ck_assert_uint_eq(hb.n_vms, 1);
    ck_assert_str_eq(hb.vms[0].name, "p1");
    ck_assert_uint_eq(hb.vms[0].state, PPN_FLEET_VM_RUNNING);
    ck_assert_uint_eq(hb.vms[0].mem_bytes, (uint64_t)last * MIB);
    ck_assert_uint_ge(last, 128);
    ck_assert_uint_lt(last, 512);
    /* plenty: everything back, in steps, "pressure gone" said once */
    hm = host(3000);
    lg.n = 0;
    for (int round = 0; round < 20 && balloon() != 512 * MIB; round++) {
        now += 2000;
        ck_assert_int_ge(glue_pool_pass(p, state, &hm, now, NULL, on_log, &lg), 0);
        usleep(300 * 1000);
    }
    ck_assert_uint_eq(balloon(), 512 * MIB);
    unsigned gone = 0;
    last = 0;
    for (unsigned i = 0; i < lg.n; i++) {
        gone += strstr(lg.lines[i], "pressure gone, giving memory back") != NULL;
        if (step_of(lg.lines[i], "give back to", &from, &to)) {
            ck_assert_msg(to > from && to - from <= 128, "give-back step: %s", lg.lines[i]);
            last = to;
        }
    }
    ck_assert_uint_eq(gone, 1);
    ck_assert_uint_eq(last, 512);
    /* the bounding cgroup is said when it changes, once */
    lg.n = 0;
    hm.cgroup_version = 2;
    hm.limit_bytes = 1024 * MIB;
    snprintf(hm.cgroup, sizeof(hm.cgroup), "/sys/fs/cgroup/system.slice/ppn-vm-agent.service");
    now += 2000;
    ck_assert_int_eq(glue_pool_pass(p, state, &hm, now, NULL, on_log, &lg), 0);
    now += 2000;
    ck_assert_int_eq(glue_pool_pass(p, state, &hm, now, NULL, on_log, &lg), 0);
    unsigned said = 0;
    for (unsigned i = 0; i < lg.n; i++)
        said += strstr(lg.lines[i], "pool: available memory bounded by memory cgroup "
                                    "/sys/fs/cgroup/system.slice/ppn-vm-agent.service (v2, limit 1024 MiB): "
                                    "3000 MiB available (host 3000 MiB)") != NULL;
    ck_assert_uint_eq(said, 1);
    /* the VM gone: forgotten */
    shut();
    now += 2000;
    ck_assert_int_eq(glue_pool_pass(p, state, &hm, now, NULL, on_log, &lg), 0);
    ck_assert_uint_eq(glue_pool_actual(p, "p1"), 0);
    glue_pool_free(p);
}
END_TEST

#include "ppn-check.h"

int main(int argc, char **argv)
{
    guest_dir = guest_setup(argc, argv);
    if (!guest_dir)
        return 1;
    Suite *s = suite_create("tool-pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_pool_real_guest);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
