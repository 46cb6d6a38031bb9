/* libppn-fleet over real UDP: agents and a controller on loopback, and
 * across network namespaces joined by veth pairs (needs root, as in CI). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-util.h"

#define MIB (1ULL << 20)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int udp_socket(const char *ip, uint16_t port, struct sockaddr_in *ret_addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t l = sizeof(a);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    if (ret_addr)
        *ret_addr = a;
    return fd;
}

static void send_hb(int fd, const struct sockaddr_in *to, const test_key *k, uint64_t seq,
                    uint64_t avail_mib)
{
    ppn_fleet_heartbeat hb = test_hb(k, seq, avail_mib);
    uint8_t buf[PPN_FLEET_MESSAGE_MAX];
    int n = test_seal(&hb, k, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(sendto(fd, buf, (size_t)n, 0, (const struct sockaddr *)to, sizeof(*to)), n);
}

/* Receives and ingests datagrams until 'want' have been handled or the
 * deadline passes.  Returns the number handled. */
static int controller_run(ppn_fleet *f, int fd, int want, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    int handled = 0;
    while (handled < want && now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(end - now_ms())) <= 0)
            continue;
        uint8_t buf[PPN_FLEET_MESSAGE_MAX + 1];
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        ck_assert_int_ge(n, 0);
        ppn_fleet_ingest(f, buf, (size_t)n, (struct sockaddr *)&from, fl, now_ms());
        handled++;
    }
    return handled;
}

START_TEST(test_udp_loopback)
{
    test_key k[3] = {test_key_make(1), test_key_make(2), test_key_make(3)};
    test_key stranger = test_key_make(50);
    ppn_fleet *f = NULL;
    ck_assert_int_eq(ppn_fleet_new(now_ms(), &f), 0);
    uint8_t keys[96];
    for (int i = 0; i < 3; i++)
        memcpy(keys + 32 * i, k[i].pk, 32);
    ck_assert_int_eq(ppn_fleet_set_members(f, keys, 3), 3);
    struct sockaddr_in ctl;
    int cfd = udp_socket("127.0.0.1", 0, &ctl);

    /* Three agent processes, three heartbeats each, 20 ms apart. */
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0) {
            struct sockaddr_in me;
            int fd = udp_socket("127.0.0.1", 0, &me);
            for (uint64_t s = 1; s <= 3; s++) {
                send_hb(fd, &ctl, &k[i], s, 1000 * (uint64_t)(i + 1));
                usleep(20000);
            }
            _exit(0);
        }
    }
    /* And the hostile ones, from this process. */
    struct sockaddr_in bad;
    int bfd = udp_socket("127.0.0.1", 0, &bad);
    send_hb(bfd, &ctl, &stranger, 1, 9999);                        /* non-member */
    ppn_fleet_heartbeat hb = test_hb(&k[0], 1000, 9999);
    uint8_t buf[PPN_FLEET_MESSAGE_MAX];
    int n = test_seal(&hb, &k[0], buf, sizeof(buf));
    buf[n - 1] ^= 0x80;                                             /* forged */
    ck_assert_int_eq(sendto(bfd, buf, (size_t)n, 0, (struct sockaddr *)&ctl, sizeof(ctl)), n);
    ck_assert_int_eq(sendto(bfd, "\x83\x01", 2, 0, (struct sockaddr *)&ctl, sizeof(ctl)), 2);
    for (int i = 0; i < 3; i++) {
        int st;
        ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* Then a replay of the first heartbeat of agent 1 (seq 1 < 3). */
    hb = test_hb(&k[1], 1, 2000);
    n = test_seal(&hb, &k[1], buf, sizeof(buf));
    ck_assert_int_eq(sendto(bfd, buf, (size_t)n, 0, (struct sockaddr *)&ctl, sizeof(ctl)), n);

    ck_assert_int_eq(controller_run(f, cfd, 9 + 4, 5000), 13);
    ck_assert_uint_eq(ppn_fleet_accepted(f), 9);
    ck_assert_uint_eq(ppn_fleet_refusals(f, PPN_FLEET_REFUSED_NON_MEMBER), 1);
    ck_assert_uint_eq(ppn_fleet_refusals(f, PPN_FLEET_REFUSED_SIGNATURE), 1);
    ck_assert_uint_eq(ppn_fleet_refusals(f, PPN_FLEET_REFUSED_MALFORMED), 1);
    ck_assert_uint_eq(ppn_fleet_refusals(f, PPN_FLEET_REFUSED_REPLAY), 1);
    for (int i = 0; i < 3; i++) {
        ppn_fleet_node_info info;
        ck_assert_int_eq(ppn_fleet_node_get(f, (size_t)i, now_ms(), &info), 0);
        ck_assert_uint_eq(info.state, PPN_FLEET_NODE_ALIVE);
        ck_assert_uint_eq(info.seq, 3);
        ck_assert_uint_eq(info.ram_available_bytes, 1000 * MIB * (uint64_t)(i + 1));
        ck_assert_uint_eq(info.src_addr_len, sizeof(struct sockaddr_in));
        const struct sockaddr_in *a = (const struct sockaddr_in *)&info.src_addr;
        ck_assert_uint_eq(a->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        ck_assert_uint_ne(a->sin_port, bad.sin_port);
    }
    ppn_fleet_place_query q = {.mem_bytes = 1000 * MIB, .vcpus = 1};
    ppn_fleet_placement p;
    ck_assert_int_eq(ppn_fleet_place(f, &q, now_ms(), NULL, NULL, &p), 2);
    ck_assert_mem_eq(p.node_key, k[2].pk, 32);
    close(bfd);
    close(cfd);
    ppn_fleet_free(f);
}
END_TEST

/* ---- network namespaces ----------------------------------------------- */

#define N_AGENTS 3
static char ns_ctl[32], ns_agent[N_AGENTS + 1][32];

static int sh(const char *cmd)
{
    int r = system(cmd);
    return r == 0 ? 0 : -1;
}

static void ns_setup(void)
{
    int tag = (int)getpid() % 10000;
    char cmd[2048];
    int n;
    snprintf(ns_ctl, sizeof(ns_ctl), "ppnfc%d", (int)getpid());
    n = snprintf(cmd, sizeof(cmd), "ip netns add %s && ip -n %s link set lo up", ns_ctl, ns_ctl);
    ck_assert(n > 0 && (size_t)n < sizeof(cmd));
    ck_assert_msg(sh(cmd) == 0, "%s", cmd);
    for (int i = 0; i <= N_AGENTS; i++) {
        const char *ns = ns_agent[i];
        snprintf(ns_agent[i], sizeof(ns_agent[i]), "ppnfa%d-%d", i, (int)getpid());
        n = snprintf(cmd, sizeof(cmd),
                     "ip netns add %s && "
                     "ip link add pfa%d-%d netns %s type veth peer name pfc%d-%d netns %s && "
                     "ip -n %s addr add 10.77.%d.2/24 dev pfa%d-%d && "
                     "ip -n %s link set pfa%d-%d up && "
                     "ip -n %s addr add 10.77.%d.1/24 dev pfc%d-%d && "
                     "ip -n %s link set pfc%d-%d up",
                     ns, i, tag, ns, i, tag, ns_ctl,
                     ns, i, i, tag,
                     ns, i, tag,
                     ns_ctl, i, i, tag,
                     ns_ctl, i, tag);
        ck_assert(n > 0 && (size_t)n < sizeof(cmd));
        ck_assert_msg(sh(cmd) == 0, "%s", cmd);
    }
}

static void ns_teardown(void)
{
    char cmd[128];
    for (int i = 0; i <= N_AGENTS; i++)
        if (ns_agent[i][0] && snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null",
                                       ns_agent[i]) < (int)sizeof(cmd))
            sh(cmd);
    if (ns_ctl[0] && snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null", ns_ctl) <
                         (int)sizeof(cmd))
        sh(cmd);
}

static void enter_ns(const char *name)
{
    char path[128];
    ck_assert_int_lt(snprintf(path, sizeof(path), "/run/netns/%s", name), (int)sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(setns(fd, CLONE_NEWNET), 0);
    close(fd);
}
START_TEST(test_udp_netns)
{
    test_key k[N_AGENTS + 1];
    for (int i = 0; i <= N_AGENTS; i++)
        k[i] = test_key_make(20 + (unsigned)i);
    ns_setup();
    pid_t ctl_pid = fork();
    ck_assert_int_ge(ctl_pid, 0);
    if (ctl_pid == 0) {
        /* The controller, in its own namespace; agent N_AGENTS is no member. */
        enter_ns(ns_ctl);
        ppn_fleet *f = NULL;
        uint64_t t0 = now_ms();
        ck_assert_int_eq(ppn_fleet_new(t0, &f), 0);
        ck_assert_int_eq(ppn_fleet_set_option(f, PPN_FLEET_OPT_GRACE_MS, 0), 0);
        ck_assert_int_eq(ppn_fleet_set_option(f, PPN_FLEET_OPT_SILENCE_MS, 5000), 0);
        uint8_t keys[32 * N_AGENTS];
        for (int i = 0; i < N_AGENTS; i++)
            memcpy(keys + 32 * i, k[i].pk, 32);
        ck_assert_int_eq(ppn_fleet_set_members(f, keys, N_AGENTS), N_AGENTS);
        int cfd = udp_socket("0.0.0.0", 51999, NULL);
        ck_assert_int_eq(write(STDOUT_FILENO, "", 0), 0);
        /* Each agent sends 3; the stranger 2; agent 0 then one replay. */
        int want = 3 * N_AGENTS + 2 + 1;
        ck_assert_int_eq(controller_run(f, cfd, want, 10000), want);
        ck_assert_uint_eq(ppn_fleet_accepted(f), 3 * N_AGENTS);
        ck_assert_uint_eq(ppn_fleet_refusals(f, PPN_FLEET_REFUSED_NON_MEMBER), 2);
        ck_assert_uint_eq(ppn_fleet_refusals(f, PPN_FLEET_REFUSED_REPLAY), 1);
        for (int i = 0; i < N_AGENTS; i++) {
            ppn_fleet_node_info info;
            ck_assert_int_eq(ppn_fleet_node_get(f, (size_t)i, now_ms(), &info), 0);
            ck_assert_uint_eq(info.state, PPN_FLEET_NODE_ALIVE);
            char ip[32], want_ip[32];
            inet_ntop(AF_INET, &((struct sockaddr_in *)&info.src_addr)->sin_addr, ip, sizeof(ip));
            snprintf(want_ip, sizeof(want_ip), "10.77.%d.2", i);
            ck_assert_str_eq(ip, want_ip);
        }
        /* Agent 2 stops first (see below): after 5 s of silence (injected) it is
         * evicted on the controller's clock while the others are alive. */
        ppn_fleet_tick_result res;
        uint64_t t = now_ms();
        ppn_fleet_node_info info;
        ck_assert_int_eq(ppn_fleet_node_get(f, 2, t, &info), 0);
        ck_assert_int_eq(ppn_fleet_tick(f, info.last_heard_ms + 5001, &res), 1);
        ck_assert_uint_eq(res.evicted, 1);
        ck_assert_int_eq(ppn_fleet_node_get(f, 2, info.last_heard_ms + 5001, &info), 0);
        ck_assert_uint_eq(info.state, PPN_FLEET_NODE_EVICTED);
        close(cfd);
        ppn_fleet_free(f);
        _exit(0);
    }
    usleep(200000); /* let the controller bind */
    pid_t agents[N_AGENTS + 1];
    for (int i = 0; i <= N_AGENTS; i++) {
        agents[i] = fork();
        ck_assert_int_ge(agents[i], 0);
        if (agents[i] == 0) {
            enter_ns(ns_agent[i]);
            char dst_ip[32];
            snprintf(dst_ip, sizeof(dst_ip), "10.77.%d.1", i);
            struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(51999)};
            inet_pton(AF_INET, dst_ip, &dst.sin_addr);
            int fd = socket(AF_INET, SOCK_DGRAM, 0);
            int count = i == N_AGENTS ? 2 : 3;
            /* agent 2 sends its 3 at once, the others spread over 600 ms */
            for (int s = 1; s <= count; s++) {
                send_hb(fd, &dst, &k[i], (uint64_t)s, 2000);
                usleep(i == 2 ? 1000 : 300000);
            }
            if (i == 0) {
                usleep(100000);
                send_hb(fd, &dst, &k[i], 2, 2000); /* replay: seq 2 < 3 */
            }
            _exit(0);
        }
    }
    int ok = 1;
    for (int i = 0; i <= N_AGENTS; i++) {
        int st;
        waitpid(agents[i], &st, 0);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    int st;
    waitpid(ctl_pid, &st, 0);
    ns_teardown();
    ck_assert(ok);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "controller status %d", st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fleet-net");
    TCase *tc = tcase_create("udp");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_udp_loopback);
    tcase_add_test(tc, test_udp_netns);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
