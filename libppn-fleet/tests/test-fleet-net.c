/* libppn-fleet over real UDP: agents and a controller on loopback, and
 * across network namespaces joined by veth pairs (needs root, as in CI). */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
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


/* ---- the engines over real UDP on loopback ------------------------------ */

static uint64_t unix_s(void)
{
    return (uint64_t)time(NULL);
}

static struct sockaddr_in sock_addr(int fd)
{
    struct sockaddr_in a;
    socklen_t l = sizeof(a);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    return a;
}

static struct sockaddr_in ip_port(const char *ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    ck_assert_int_eq(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    return a;
}

static ppn_fleet_member member_at(const test_key *k, const char *name, struct sockaddr_in a)
{
    ppn_fleet_member m;
    memset(&m, 0, sizeof(m));
    memcpy(m.key, k->pk, 32);
    snprintf(m.name, sizeof(m.name), "%s", name);
    memcpy(&m.addr, &a, sizeof(a));
    m.addr_len = sizeof(a);
    return m;
}

typedef struct agent_seen {
    int requests;
    char last_vm[PPN_FLEET_NAME_MAX + 1];
    int refused_calls;
    uint64_t refused_total;
    int last_err;
    uint64_t avail_mib;
} agent_seen;

static int cb_heartbeat(ppn_fleet_agent *a, ppn_fleet_heartbeat *hb, void *ud)
{
    agent_seen *s = ud;
    snprintf(hb->node_name, sizeof(hb->node_name), "liar"); /* names come from the ledger */
    hb->ram_total_bytes = 16384 * MIB;
    hb->ram_available_bytes = s->avail_mib * MIB;
    hb->cpu_count = 4;
    if (s->last_vm[0]) {
        hb->n_vms = 1;
        snprintf(hb->vms[0].name, sizeof(hb->vms[0].name), "%s", s->last_vm);
        hb->vms[0].mem_bytes = 256 * MIB;
    }
    return 0;
}

static int cb_request(ppn_fleet_agent *a, const ppn_fleet_request *rq, void *ud)
{
    agent_seen *s = ud;
    s->requests++;
    snprintf(s->last_vm, sizeof(s->last_vm), "%s", rq->vm_name);
    return 0;
}

static void cb_agent_refused(ppn_fleet_agent *a, int err, const char *vm,
                             const struct sockaddr *from, socklen_t fromlen,
                             uint64_t suppressed, void *ud)
{
    agent_seen *s = ud;
    s->refused_calls++;
    s->refused_total += suppressed + (from ? 1 : 0);
    if (from)
        s->last_err = err;
}

static ppn_fleet_agent *agent_on(const test_key *k, const char *ip, struct sockaddr_in ctl,
                                 uint32_t epoch, agent_seen *seen, const test_key *op)
{
    struct sockaddr_in l = ip_port(ip, 0);
    ppn_fleet_agent_config cfg = {.secret_key = k->sk,
                                  .listen = (struct sockaddr *)&l, .listen_len = sizeof(l),
                                  .controller = (struct sockaddr *)&ctl,
                                  .controller_len = sizeof(ctl),
                                  .epoch = epoch, .interval_ms = 200};
    ppn_fleet_agent_callbacks cb = {cb_heartbeat, cb_request, cb_agent_refused};
    ppn_fleet_agent *a = NULL;
    ck_assert_int_eq(ppn_fleet_agent_new(&cfg, &cb, seen, now_ms(), &a), 0);
    if (op)
        ck_assert_int_eq(ppn_fleet_agent_set_operators(a, op->pk, 1), 1);
    return a;
}

/* Runs the controller and agents for up to timeout_ms or until done(). */
static void drive(ppn_fleet_controller *c, ppn_fleet_agent **ag, int n_ag,
                  bool (*done)(void *), void *arg, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < end && !(done && done(arg))) {
        struct pollfd p[8];
        int np = 0, wait = 50;
        if (c) {
            p[np++] = (struct pollfd){.fd = ppn_fleet_controller_fd(c), .events = POLLIN};
            int t = ppn_fleet_controller_timeout(c, now_ms());
            wait = t < wait ? t : wait;
        }
        for (int i = 0; i < n_ag; i++) {
            p[np++] = (struct pollfd){.fd = ppn_fleet_agent_fd(ag[i]), .events = POLLIN};
            int t = ppn_fleet_agent_timeout(ag[i], now_ms());
            wait = t < wait ? t : wait;
        }
        poll(p, (nfds_t)np, wait);
        if (c)
            ck_assert_int_ge(ppn_fleet_controller_process(c, now_ms()), 0);
        for (int i = 0; i < n_ag; i++)
            ppn_fleet_agent_process(ag[i], now_ms(), unix_s());
    }
}

static bool all_alive(void *arg)
{
    ppn_fleet *f = arg;
    for (size_t i = 0; i < ppn_fleet_node_count(f); i++) {
        ppn_fleet_node_info info;
        if (ppn_fleet_node_get(f, i, now_ms(), &info) < 0 || info.state != PPN_FLEET_NODE_ALIVE)
            return false;
    }
    return true;
}

static bool got_request(void *arg)
{
    return ((agent_seen *)arg)->requests > 0;
}

/* As the tools sign: confirmed when a node is named, unless told otherwise. */
static bool sign_unconfirmed;

static int sign_request(const test_key *op, const test_key *node, const char *vm,
                        uint64_t created, uint8_t *buf, size_t size)
{
    ppn_fleet_request rq;
    memset(&rq, 0, sizeof(rq));
    memcpy(rq.operator_key, op->pk, 32);
    randombytes_buf(rq.nonce, sizeof(rq.nonce));
    rq.created_unix = created;
    snprintf(rq.vm_name, sizeof(rq.vm_name), "%s", vm);
    rq.mem_bytes = 256 * MIB;
    rq.vcpus = 1;
    if (node) {
        rq.has_node = true;
        memcpy(rq.node_key, node->pk, 32);
        rq.confirmed = !sign_unconfirmed;
    }
    strcpy(rq.kernel, "/boot/vmlinuz");
    int n = ppn_fleet_request_sign(&rq, op->sk, buf, size);
    ck_assert_int_gt(n, 0);
    return n;
}

/* A controller engine on 127.0.0.1, a port of the kernel's choosing, no state file. */
static ppn_fleet_controller *loopback_controller(void)
{
    struct sockaddr_in la = ip_port("127.0.0.1", 0);
    ppn_fleet_controller *c = NULL;
    ck_assert_int_eq(ppn_fleet_controller_new((struct sockaddr *)&la, sizeof(la), NULL, now_ms(),
                                              &c), 0);
    return c;
}
/* Controller and two agents as engines: names from the records, sequences
 * from the epoch, a request checked cheap-first and delivered to the
 * member's address, replays and strangers refused. */
START_TEST(test_engines_loopback)
{
    test_key k[2] = {test_key_make(61), test_key_make(62)};
    test_key op = test_key_make(70), stranger = test_key_make(71);
    ppn_fleet_controller *c = loopback_controller();
    if (geteuid() == 0)
        ck_assert_int_ge(ppn_fleet_controller_rcvbuf(c), 16 << 20);
    ppn_fleet *f = ppn_fleet_controller_fleet(c);
    ck_assert_int_eq(ppn_fleet_set_option(f, PPN_FLEET_OPT_GRACE_MS, 0), 0);
    struct sockaddr_in ctl = sock_addr(ppn_fleet_controller_fd(c));
    agent_seen seen[2] = {{.avail_mib = 4000}, {.avail_mib = 2000}};
    ppn_fleet_agent *ag[2] = {agent_on(&k[0], "127.0.0.2", ctl, 5, &seen[0], &op),
                              agent_on(&k[1], "127.0.0.3", ctl, 9, &seen[1], &op)};
    ppn_fleet_member m[2] = {member_at(&k[0], "node-a", sock_addr(ppn_fleet_agent_fd(ag[0]))),
                             member_at(&k[1], "node-b", sock_addr(ppn_fleet_agent_fd(ag[1])))};
    ck_assert_int_eq(ppn_fleet_controller_set_members(c, m, 2), 2);
    ck_assert_int_eq(ppn_fleet_controller_set_operators(c, op.pk, 1), 1);
    drive(c, ag, 2, all_alive, f, 5000);
    ck_assert(all_alive(f));
    ppn_fleet_node_info info;
    ck_assert_int_eq(ppn_fleet_node_get(f, 0, now_ms(), &info), 0);
    ck_assert_str_eq(info.node_name, "node-a");
    ck_assert_uint_eq(info.seq >> 32, 5);
    ck_assert_uint_ge(info.seq & 0xffffffffu, 1);
    ck_assert_uint_eq(info.ram_available_bytes, 4000 * MIB);
    ck_assert_uint_eq(((struct sockaddr_in *)&info.src_addr)->sin_addr.s_addr, htonl(0x7f000002));
    ck_assert_uint_eq(ppn_fleet_agent_seq(ag[1]) >> 32, 9);

    /* A request for node-a: dispatched to its record, carried out there. */
    uint8_t buf[PPN_FLEET_MESSAGE_MAX];
    int n = sign_request(&op, &k[0], "web-1", unix_s(), buf, sizeof(buf));
    ppn_fleet_dispatch d;
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, buf, (size_t)n, now_ms(), unix_s(), &d), 0);
    ck_assert_uint_eq(d.node_index, 0);
    ck_assert_str_eq(d.request.vm_name, "web-1");
    drive(c, ag, 2, got_request, &seen[0], 3000);
    ck_assert_int_eq(seen[0].requests, 1);
    ck_assert_str_eq(seen[0].last_vm, "web-1");
    ck_assert_int_eq(seen[1].requests, 0);
    /* Replayed, stale, unsigned by an operator, no node, forged: refused. */
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, buf, (size_t)n, now_ms(), unix_s(), &d),
                     -ESTALE);
    uint8_t b2[PPN_FLEET_MESSAGE_MAX];
    int n2 = sign_request(&op, &k[0], "web-2", unix_s() - 301, b2, sizeof(b2));
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, b2, (size_t)n2, now_ms(), unix_s(), &d),
                     -ESTALE);
    n2 = sign_request(&op, &k[0], "web-2", unix_s() + 301, b2, sizeof(b2));
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, b2, (size_t)n2, now_ms(), unix_s(), &d),
                     -ESTALE);
    n2 = sign_request(&stranger, &k[0], "web-2", unix_s(), b2, sizeof(b2));
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, b2, (size_t)n2, now_ms(), unix_s(), &d),
                     -EPERM);
    n2 = sign_request(&op, NULL, "web-2", unix_s(), b2, sizeof(b2));
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, b2, (size_t)n2, now_ms(), unix_s(), &d),
                     -EDESTADDRREQ);
    n2 = sign_request(&op, &k[1], "web-2", unix_s(), b2, sizeof(b2));
    b2[n2 - 5] ^= 1;
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, b2, (size_t)n2, now_ms(), unix_s(), &d),
                     -EKEYREJECTED);
    b2[n2 - 5] ^= 1; /* the same request, intact: its nonce was not used up */
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, b2, (size_t)n2, now_ms(), unix_s(), &d), 0);
    drive(c, ag, 2, got_request, &seen[1], 3000);
    ck_assert_int_eq(seen[1].requests, 1);


    /* Straight to the agent from an address that is not the controller's. */
    struct sockaddr_in a0 = sock_addr(ppn_fleet_agent_fd(ag[0]));
    int hostile = udp_socket("127.0.0.9", 0, NULL);
    n2 = sign_request(&op, &k[0], "web-3", unix_s(), b2, sizeof(b2));
    ck_assert_int_eq(sendto(hostile, b2, (size_t)n2, 0, (struct sockaddr *)&a0, sizeof(a0)), n2);
    drive(c, ag, 2, NULL, NULL, 300);
    ck_assert_int_eq(seen[0].requests, 1);
    ck_assert_int_eq(seen[0].last_err, -EADDRNOTAVAIL);
    close(hostile);

    /* Signed by an operator for a named node but not confirmed: refused by
     * the controller, and by the agent when it arrives from the controller's
     * own address (as if the controller had been bypassed). */
    sign_unconfirmed = true;
    n2 = sign_request(&op, &k[0], "web-4", unix_s(), b2, sizeof(b2));
    sign_unconfirmed = false;
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, b2, (size_t)n2, now_ms(), unix_s(), &d),
                     -ECANCELED);
    {
        struct sockaddr_in a0c = sock_addr(ppn_fleet_agent_fd(ag[0]));
        int from_ctl = udp_socket("127.0.0.1", 0, NULL);
        drive(c, ag, 2, NULL, NULL, 1100); /* refusal reports: one per second */
        ck_assert_int_eq(sendto(from_ctl, b2, (size_t)n2, 0, (struct sockaddr *)&a0c, sizeof(a0c)),
                         n2);
        drive(c, ag, 2, NULL, NULL, 300);
        ck_assert_int_eq(seen[0].requests, 1);
        ck_assert_int_eq(seen[0].last_err, -ECANCELED);
        close(from_ctl);
    }
    /* A VM never moves: web-1 was placed on node-a, so web-1 for node-b is
     * refused whatever room node-b has; web-1 again on node-a is not a move. */
    n2 = sign_request(&op, &k[1], "web-1", unix_s(), b2, sizeof(b2));
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, b2, (size_t)n2, now_ms(), unix_s(), &d),
                     -EEXIST);
    n2 = sign_request(&op, &k[0], "web-1", unix_s(), b2, sizeof(b2));
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, b2, (size_t)n2, now_ms(), unix_s(), &d), 0);
    drive(c, ag, 2, NULL, NULL, 300);
    ck_assert_int_eq(seen[0].requests, 2);

    /* The agent restarts with the next epoch: its counter starts again at 1
     * and is accepted, whatever the wall clock says. */
    uint64_t before = ppn_fleet_accepted(f);
    ppn_fleet_agent_free(ag[0]);
    struct sockaddr_in l0 = a0;
    ppn_fleet_agent_config cfg = {.secret_key = k[0].sk, .listen = (struct sockaddr *)&l0,
                                  .listen_len = sizeof(l0), .controller = (struct sockaddr *)&ctl,
                                  .controller_len = sizeof(ctl), .epoch = 6, .interval_ms = 200};
    ppn_fleet_agent_callbacks cb = {cb_heartbeat, cb_request, cb_agent_refused};
    ck_assert_int_eq(ppn_fleet_agent_new(&cfg, &cb, &seen[0], now_ms(), &ag[0]), 0);
    ck_assert_int_eq(ppn_fleet_agent_process(ag[0], now_ms(), unix_s() + 3600 * 24), 1);
    ck_assert_uint_eq(ppn_fleet_agent_seq(ag[0]), (6ULL << 32) | 1);
    drive(c, ag, 2, NULL, NULL, 300);
    ck_assert_uint_gt(ppn_fleet_accepted(f), before);
    ck_assert_int_eq(ppn_fleet_node_get(f, 0, now_ms(), &info), 0);
    ck_assert_uint_eq(info.seq >> 32, 6);
    ck_assert_uint_eq(ppn_fleet_refusals(f, PPN_FLEET_REFUSED_REPLAY), 0);

    ppn_fleet_agent_free(ag[0]);
    ppn_fleet_agent_free(ag[1]);
    ppn_fleet_controller_free(c);
}
END_TEST

/* Dispatch goes to the member's recorded address, never to where its
 * heartbeats came from. */
START_TEST(test_dispatch_to_record)
{
    test_key k = test_key_make(63), op = test_key_make(70);
    ppn_fleet_controller *c = loopback_controller();
    struct sockaddr_in ctl = sock_addr(ppn_fleet_controller_fd(c)), rec_a, src_a;
    int rec = udp_socket("127.0.0.4", 0, &rec_a), src = udp_socket("127.0.0.4", 0, &src_a);
    ppn_fleet_member m = member_at(&k, "node-r", rec_a);
    ck_assert_int_eq(ppn_fleet_controller_set_members(c, &m, 1), 1);
    ck_assert_int_eq(ppn_fleet_controller_set_operators(c, op.pk, 1), 1);
    send_hb(src, &ctl, &k, 1, 4000);
    drive(c, NULL, 0, all_alive, ppn_fleet_controller_fleet(c), 2000);
    ck_assert(all_alive(ppn_fleet_controller_fleet(c)));
    uint8_t buf[PPN_FLEET_MESSAGE_MAX], got[PPN_FLEET_MESSAGE_MAX];
    int n = sign_request(&op, &k, "vm-r", unix_s(), buf, sizeof(buf));
    ppn_fleet_dispatch d;
    ck_assert_int_eq(ppn_fleet_controller_dispatch(c, buf, (size_t)n, now_ms(), unix_s(), &d), 0);
    struct pollfd p = {.fd = rec, .events = POLLIN};
    ck_assert_int_eq(poll(&p, 1, 2000), 1);
    ck_assert_int_eq(recv(rec, got, sizeof(got), 0), n);
    ck_assert_mem_eq(got, buf, (size_t)n);
    ck_assert_int_eq(recv(src, got, sizeof(got), MSG_DONTWAIT), -1);
    close(rec);
    close(src);
    ppn_fleet_controller_free(c);
}
END_TEST

/* Replay protection survives a restart, even a kill -9: a captured
 * heartbeat is refused by the next controller. */
START_TEST(test_replay_after_restart)
{
    test_key k = test_key_make(64);
    char dir[] = "/tmp/ppn-fleet-state-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/controller.state", dir);
    struct sockaddr_in sa;
    int sender = udp_socket("127.0.0.5", 0, &sa);
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct sockaddr_in la = ip_port("127.0.0.1", 0);
        ppn_fleet_controller *c = NULL;
        if (ppn_fleet_controller_new((struct sockaddr *)&la, sizeof(la), path, now_ms(), &c) < 0)
            _exit(2);
        ppn_fleet_member m = member_at(&k, "node-s", sa);
        ppn_fleet_controller_set_members(c, &m, 1);
        struct sockaddr_in ctl = sock_addr(ppn_fleet_controller_fd(c));
        if (write(pipefd[1], &ctl, sizeof(ctl)) != sizeof(ctl))
            _exit(3);
        for (;;) { /* until killed */
            struct pollfd p = {.fd = ppn_fleet_controller_fd(c), .events = POLLIN};
            poll(&p, 1, 100);
            ppn_fleet_controller_process(c, now_ms());
            if (ppn_fleet_accepted(ppn_fleet_controller_fleet(c)) == 1) {
                char one = 1;
                if (write(pipefd[1], &one, 1) != 1)
                    _exit(4);
                for (;;)
                    pause();
            }
        }
    }
    struct sockaddr_in ctl;
    ck_assert_int_eq(read(pipefd[0], &ctl, sizeof(ctl)), sizeof(ctl));
    ppn_fleet_heartbeat hb = test_hb(&k, 7, 1000);
    uint8_t cap[PPN_FLEET_MESSAGE_MAX];
    int n = test_seal(&hb, &k, cap, sizeof(cap));
    ck_assert_int_eq(sendto(sender, cap, (size_t)n, 0, (struct sockaddr *)&ctl, sizeof(ctl)), n);
    char one;
    ck_assert_int_eq(read(pipefd[0], &one, 1), 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    struct sockaddr_in la = ip_port("127.0.0.1", 0);
    ppn_fleet_controller *c = NULL;
    ck_assert_int_eq(ppn_fleet_controller_new((struct sockaddr *)&la, sizeof(la), path, now_ms(),
                                              &c), 0);
    ppn_fleet_member m = member_at(&k, "node-s", sa);
    ck_assert_int_eq(ppn_fleet_controller_set_members(c, &m, 1), 1);
    ctl = sock_addr(ppn_fleet_controller_fd(c));
    ppn_fleet *f = ppn_fleet_controller_fleet(c);
    ck_assert_int_eq(sendto(sender, cap, (size_t)n, 0, (struct sockaddr *)&ctl, sizeof(ctl)), n);
    send_hb(sender, &ctl, &k, 8, 1000);
    drive(c, NULL, 0, all_alive, f, 2000);
    drive(c, NULL, 0, NULL, NULL, 100);
    ck_assert_uint_eq(ppn_fleet_refusals(f, PPN_FLEET_REFUSED_REPLAY), 1);
    ck_assert_uint_eq(ppn_fleet_accepted(f), 1);
    ppn_fleet_node_info info;
    ck_assert_int_eq(ppn_fleet_node_get(f, 0, now_ms(), &info), 0);
    ck_assert_uint_eq(info.seq, 8);
    ppn_fleet_controller_free(c);
    /* A state file that is not one is refused, not reset. */
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("garbage", fp);
    fclose(fp);
    ck_assert_int_eq(ppn_fleet_controller_new((struct sockaddr *)&la, sizeof(la), path, now_ms(),
                                              &c), -EUCLEAN);
    unlink(path);
    rmdir(dir);
    close(sender);
    close(pipefd[0]);
    close(pipefd[1]);
}
END_TEST

typedef struct ctl_seen {
    int calls;
    uint64_t total;
    ppn_fleet_refusal last;
} ctl_seen;

static void cb_ctl_refused(ppn_fleet_controller *c, ppn_fleet_refusal reason,
                           const struct sockaddr *from, socklen_t fromlen, uint64_t suppressed,
                           void *ud)
{
    ctl_seen *s = ud;
    s->calls++;
    s->total += suppressed + (from ? 1 : 0);
    if (from)
        s->last = reason;
}

/* One report per second however many datagrams are refused, and the count
 * of the rest; the agent likewise. */
START_TEST(test_refusals_rate_limited)
{
    test_key k = test_key_make(65), op = test_key_make(70);
    ppn_fleet_controller *c = loopback_controller();
    ctl_seen cs = {0};
    ppn_fleet_controller_callbacks cb = {.refused = cb_ctl_refused};
    ck_assert_int_eq(ppn_fleet_controller_set_callbacks(c, &cb, &cs), 0);
    struct sockaddr_in ctl = sock_addr(ppn_fleet_controller_fd(c));
    ppn_fleet_member m = member_at(&k, "node-l", ip_port("127.0.0.6", 51901));
    ck_assert_int_eq(ppn_fleet_controller_set_members(c, &m, 1), 1);
    agent_seen as = {.avail_mib = 100};
    ppn_fleet_agent *ag = agent_on(&k, "127.0.0.6", ctl, 1, &as, &op);
    struct sockaddr_in aa = sock_addr(ppn_fleet_agent_fd(ag));
    int junk = udp_socket("127.0.0.9", 0, NULL);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(sendto(junk, "junk", 4, 0, (struct sockaddr *)&ctl, sizeof(ctl)), 4);
        ck_assert_int_eq(sendto(junk, "junk", 4, 0, (struct sockaddr *)&aa, sizeof(aa)), 4);
    }
    drive(c, &ag, 1, NULL, NULL, 300);
    ck_assert_int_eq(cs.calls, 1);
    ck_assert_int_eq(cs.last, PPN_FLEET_REFUSED_SOURCE);
    ck_assert_int_eq(as.refused_calls, 1);
    ck_assert_int_eq(as.last_err, -EADDRNOTAVAIL);
    drive(c, &ag, 1, NULL, NULL, 1200); /* the summary of the rest */
    ck_assert_int_eq(cs.calls, 2);
    ck_assert_uint_eq(cs.total, 1000);
    ck_assert_int_eq(as.refused_calls, 2);
    ck_assert_uint_eq(as.refused_total, 1000);
    close(junk);
    ppn_fleet_agent_free(ag);
    ppn_fleet_controller_free(c);
}
END_TEST

START_TEST(test_engine_arguments)
{
    struct sockaddr_in la = ip_port("127.0.0.1", 0);
    ppn_fleet_controller *c = NULL;
    ck_assert_int_eq(ppn_fleet_controller_new(NULL, 0, NULL, 0, &c), -EINVAL);
    ck_assert_int_eq(ppn_fleet_controller_new((struct sockaddr *)&la, 3, NULL, 0, &c), -EINVAL);
    ck_assert_int_eq(ppn_fleet_controller_new((struct sockaddr *)&la, sizeof(la), NULL, 0, NULL),
                     -EINVAL);
    struct sockaddr_in other = ip_port("192.0.2.1", 0);
    ck_assert_int_eq(ppn_fleet_controller_new((struct sockaddr *)&other, sizeof(other), NULL, 0,
                                              &c), -EADDRNOTAVAIL);
    ck_assert_int_eq(ppn_fleet_controller_process(NULL, 0), -EINVAL);
    ck_assert_int_eq(ppn_fleet_controller_timeout(NULL, 0), -EINVAL);
    ppn_fleet_controller_free(NULL);
    test_key k = test_key_make(66);
    ppn_fleet_agent_config cfg = {.secret_key = k.sk, .listen = (struct sockaddr *)&la,
                                  .listen_len = sizeof(la), .controller = (struct sockaddr *)&la,
                                  .controller_len = sizeof(la), .epoch = 0};
    ppn_fleet_agent *a = NULL;
    ck_assert_int_eq(ppn_fleet_agent_new(&cfg, NULL, NULL, 0, &a), -EINVAL);
    cfg.epoch = UINT32_MAX;
    ck_assert_int_eq(ppn_fleet_agent_new(&cfg, NULL, NULL, 0, &a), -EINVAL);
    cfg.epoch = 1;
    cfg.interval_ms = 99;
    ck_assert_int_eq(ppn_fleet_agent_new(&cfg, NULL, NULL, 0, &a), -EINVAL);
    cfg.interval_ms = 0;
    ck_assert_int_eq(ppn_fleet_agent_new(&cfg, NULL, NULL, 0, &a), 0);
    ck_assert_int_eq(ppn_fleet_agent_timeout(a, 0), 0);
    ppn_fleet_agent_free(a);
    ppn_fleet_agent_free(NULL);
    ck_assert_int_eq(ppn_fleet_agent_process(NULL, 0, 0), -EINVAL);
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

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("fleet-net");
    TCase *tc = tcase_create("udp");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_udp_loopback);
    tcase_add_test(tc, test_udp_netns);
    suite_add_tcase(s, tc);
    tc = tcase_create("engines");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_engines_loopback);
    tcase_add_test(tc, test_dispatch_to_record);
    tcase_add_test(tc, test_replay_after_restart);
    tcase_add_test(tc, test_refusals_rate_limited);
    tcase_add_test(tc, test_engine_arguments);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
