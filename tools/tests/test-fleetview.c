/* The ledger as the fleet engines see it (tools/glue/fleetview.c) against
 * real ledgers on disk: members as records (names, mesh addresses with the
 * agent's port, a revoked member gone), the "vm.create" holders (each
 * once, a revoked grant gone), this node's own address; and the one local
 * address in a mesh range over the real interfaces (getifaddrs), with a
 * second one added in a network namespace of its own (root). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fleetview.h"

static char dir[64], ld[128];
static uint8_t admin_pk[32], admin_sk[64];

static ppn_ledger *fresh(const char *range)
{
    snprintf(dir, sizeof(dir), "/tmp/ppn-fleetview-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(ld, sizeof(ld), "%s/ledger", dir);
    crypto_sign_keypair(admin_pk, admin_sk);
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_create(ld, "fleetview.example/test", range, admin_sk, &l), 0);
    return l;
}

static void done(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void join(ppn_ledger *l, uint8_t id[32], const char *mesh, const char *host)
{
    uint8_t sk[64], wg[32];
    crypto_sign_keypair(id, sk);
    randombytes_buf(wg, 32);
    wg[0] |= 1;
    int r = ppn_ledger_node_join(l, id, wg, mesh, "", host, admin_sk, NULL);
    ck_assert_msg(r == 0, "join %s: %s (%s)", mesh, strerror(-r), ppn_ledger_last_error(l));
}

static const ppn_fleet_member *find(const struct glue_fleet_view *v, const uint8_t key[32])
{
    for (size_t i = 0; i < v->n_members; i++)
        if (memcmp(v->members[i].key, key, 32) == 0)
            return &v->members[i];
    return NULL;
}

static void check_addr(const ppn_fleet_member *m, const char *want, uint16_t port)
{
    char text[INET6_ADDRSTRLEN] = "";
    ck_assert_ptr_nonnull(m);
    if (m->addr.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&m->addr;
        ck_assert_uint_eq(m->addr_len, sizeof(*a));
        ck_assert_uint_eq(ntohs(a->sin_port), port);
        inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&m->addr;
        ck_assert_int_eq(m->addr.ss_family, AF_INET6);
        ck_assert_uint_eq(m->addr_len, sizeof(*a));
        ck_assert_uint_eq(ntohs(a->sin6_port), port);
        inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
    }
    ck_assert_str_eq(text, want);
}

START_TEST(test_names_and_addrs)
{
    ck_assert(glue_fleet_name_ok("node-a.b_c9"));
    ck_assert(!glue_fleet_name_ok(""));
    ck_assert(!glue_fleet_name_ok("a b"));
    ck_assert(!glue_fleet_name_ok("n\xc3\xa9"));
    char longest[PPN_FLEET_NAME_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    longest[PPN_FLEET_NAME_MAX] = '\0';
    ck_assert(glue_fleet_name_ok(longest));
    longest[PPN_FLEET_NAME_MAX] = 'a';
    longest[PPN_FLEET_NAME_MAX + 1] = '\0';
    ck_assert(!glue_fleet_name_ok(longest));
    struct sockaddr_storage a;
    socklen_t l;
    ppn_fleet_member m = {0};
    ck_assert_int_eq(glue_fleet_mesh_addr("10.8.0.2/32", 51901, &m.addr, &l), 0);
    m.addr_len = l;
    check_addr(&m, "10.8.0.2", 51901);
    ck_assert_int_eq(glue_fleet_mesh_addr("fd00::7/128", 7, &m.addr, &l), 0);
    m.addr_len = l;
    check_addr(&m, "fd00::7", 7);
    ck_assert_int_eq(glue_fleet_mesh_addr("10.8.0.2", 1, &a, &l), 0);
    static const char *const bad[] = {"", "/24", "node-a", "10.8.0.256/24", "10.8.0.2x",
                                      "0000000000000000000000000000000000000000000000001.2.3.4"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(glue_fleet_mesh_addr(bad[i], 1, &a, &l) == -EINVAL, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_view)
{
    ppn_ledger *l = fresh("10.8.0.0/24");
    uint8_t a[32], b[32], c[32], op1[32], op2[32], sk[64];
    join(l, a, "10.8.0.2/24", "node-a");
    /* a hostname the ledger takes but a heartbeat cannot carry (> 63) */
    join(l, b, "10.8.0.3/24", "b23456789.b23456789.b23456789.b23456789.b23456789.b23456789.b2345");
    join(l, c, "10.8.0.4/24", "node-c");
    ck_assert_int_eq(ppn_ledger_node_revoke(l, c, "gone", admin_sk, NULL), 0);
    crypto_sign_keypair(op1, sk);
    crypto_sign_keypair(op2, sk);
    ck_assert_int_eq(ppn_ledger_cap_grant(l, op1, PPN_LEDGER_CAP_VM_CREATE, "", admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_cap_grant(l, op1, PPN_LEDGER_CAP_VM_CREATE, "lab", admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_cap_grant(l, op2, PPN_LEDGER_CAP_VM_CREATE, "", admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_cap_revoke(l, op2, PPN_LEDGER_CAP_VM_CREATE, "", admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_cap_grant(l, a, PPN_LEDGER_CAP_MESH_HUB, "", admin_sk, NULL), 0);
    uint64_t size = ppn_ledger_size(l);
    ppn_ledger_free(l);

    struct glue_fleet_view v;
    ck_assert_int_eq(glue_fleet_view_load(ld, 51901, &v), 0);
    ck_assert_uint_eq(v.n_members, 2); /* node-c revoked */
    ck_assert_ptr_null(find(&v, c));
    ck_assert_str_eq(find(&v, a)->name, "node-a");
    check_addr(find(&v, a), "10.8.0.2", 51901);
    ck_assert_str_eq(find(&v, b)->name, ""); /* too long for a heartbeat: no name */
    check_addr(find(&v, b), "10.8.0.3", 51901);
    /* op1 once and the administrator ("admin" holds every capability); op2
     * revoked; node-a's hub grant is not vm.create */
    ck_assert_uint_eq(v.n_operators, 2);
    bool has_op1 = false, has_admin = false;
    for (size_t i = 0; i < v.n_operators; i++) {
        has_op1 |= memcmp(v.operators + 32 * i, op1, 32) == 0;
        has_admin |= memcmp(v.operators + 32 * i, admin_pk, 32) == 0;
    }
    ck_assert(has_op1 && has_admin);
    ck_assert_uint_eq(v.size, size);
    ck_assert_str_eq(v.mesh_range, "10.8.0.0/24");
    ck_assert_str_eq(glue_fleet_view_name(&v, a), "node-a");
    ck_assert_str_eq(glue_fleet_view_name(&v, c), "");
    glue_fleet_view_free(&v);
    ck_assert_ptr_null(v.members);

    struct sockaddr_storage sa;
    socklen_t sl;
    ppn_fleet_member self = {0};
    ck_assert_int_eq(glue_fleet_self_addr(ld, a, 51901, &self.addr, &sl), 0);
    self.addr_len = sl;
    check_addr(&self, "10.8.0.2", 51901);
    ck_assert_int_eq(glue_fleet_self_addr(ld, c, 51901, &sa, &sl), -ESRCH); /* revoked */
    ck_assert_int_eq(glue_fleet_self_addr(ld, op1, 51901, &sa, &sl), -ESRCH);
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    ck_assert_int_lt(glue_fleet_view_load(missing, 51901, &v), 0);
    ck_assert_int_eq(glue_fleet_self_addr(missing, a, 51901, &sa, &sl), -ENOENT); /* the ledger's own error */
    done();
}
END_TEST

/* The real interfaces: loopback's one address in 127.0.0.0/8 and ::1. */
START_TEST(test_local_addr)
{
    struct sockaddr_storage sa;
    socklen_t sl;
    char found[256];
    ppn_fleet_member m = {0};
    ck_assert_int_eq(glue_fleet_local_addr("127.0.0.1/32", 51900, &m.addr, &sl, found, sizeof(found)), 0);
    m.addr_len = sl;
    check_addr(&m, "127.0.0.1", 51900);
    ck_assert_str_eq(found, "127.0.0.1");
    if (glue_fleet_local_addr("::1/128", 9, &m.addr, &sl, found, sizeof(found)) == 0) {
        m.addr_len = sl;
        check_addr(&m, "::1", 9);
    }
    ck_assert_int_eq(glue_fleet_local_addr("10.254.253.0/24", 1, &sa, &sl, found, sizeof(found)), -ENOENT);
    ck_assert_str_eq(found, "");
    static const char *const bad[] = {"10.8.0.0", "10.8.0.0/", "10.8.0.0/33", "10.8.0.0/x", "x/24",
                                      "fd00::/129", "10.8.0.0/-1", "10.8.0.0/ 8"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(glue_fleet_local_addr(bad[i], 1, &sa, &sl, found, sizeof(found)) == -EINVAL,
                      "accepted %s", bad[i]);
}
END_TEST

/* As root, in a network namespace of its own: two addresses in the range
 * are not one; the 127.0.0.2 added is found by a /32. */
START_TEST(test_local_addr_several)
{
    ck_assert_msg(geteuid() == 0, "needs root (a network namespace)");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) < 0 ||
            system("ip link set lo up && ip addr add 127.0.0.2/8 dev lo") != 0)
            _exit(2);
        struct sockaddr_storage sa;
        socklen_t sl;
        char found[256];
        if (glue_fleet_local_addr("127.0.0.0/8", 1, &sa, &sl, found, sizeof(found)) != -ENOTUNIQ)
            _exit(3);
        if (strcmp(found, "127.0.0.1, 127.0.0.2") != 0)
            _exit(4);
        char small[12];
        if (glue_fleet_local_addr("127.0.0.0/8", 1, &sa, &sl, small, sizeof(small)) != -ENOTUNIQ ||
            strlen(small) >= sizeof(small))
            _exit(5);
        if (glue_fleet_local_addr("127.0.0.2/32", 1, &sa, &sl, found, sizeof(found)) != 0 ||
            strcmp(found, "127.0.0.2") != 0)
            _exit(6);
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("tool-fleetview");
    TCase *tc = tcase_create("fleetview");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_names_and_addrs);
    tcase_add_test(tc, test_view);
    tcase_add_test(tc, test_local_addr);
    tcase_add_test(tc, test_local_addr_several);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
