/* Genuine heartbeats accepted under a flood at the controller's UDP port, as
 * a ratio of those sent; the floor is the same run without a flood (1.0 when
 * nothing is lost on loopback).
 *
 * 20 member nodes, each on its own "mesh" address 127.77.1.x, send signed
 * heartbeats every 100 ms (200/s in all, half the default member rate) from
 * one process.  Flooders send as
 * fast as they can with sendmmsg from 127.0.0.9 (no member's address), each
 * batch a mix of garbage, forged heartbeats of the members with fresh
 * sequences and replays of captured genuine heartbeats.  The controller engine
 * (ppn_fleet_controller) runs in this process with silence 1 s and no grace
 * period: a false eviction is a member evicted while it was sending.
 *
 * "before" repeats the run with the old controller loop: a socket with the
 * default receive buffer, 256 recvfrom per poll, members as keys only (no
 * source check) and the signature checked before the sequence.
 *
 * "member" as a third argument floods from member 0's own address with its
 * key (what the mesh rules out: it authenticates source addresses), so that
 * fresh forgeries each cost a signature verification; the genuine sender
 * then leaves member 0 out, and the ratio is that of the other members.
 *
 * Usage: bench-fleet-flood [SECONDS per run (5)] [FLOODERS (1)] [member] */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "bench-util.h"
#include "fleet-internal.h"

#define NODES 20
#define HB_INTERVAL_MS 100
#define BATCH 64

static uint64_t ms_now(void)
{
    return (uint64_t)(bench_now() * 1000.0);
}

static struct sockaddr_in sin_of(const char *ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static uint8_t pks[NODES][32], sks[NODES][64];
static bool from_member;

static int node_socket(unsigned i)
{
    char ip[32];
    snprintf(ip, sizeof(ip), "127.77.1.%u", i + 1);
    struct sockaddr_in a = sin_of(ip, 0);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        return -1;
    return fd;
}

/* Sends genuine heartbeats until 'seconds' pass; writes the count sent. */
static void genuine(struct sockaddr_in ctl, double seconds, uint64_t seq0, int out)
{
    int fds[NODES];
    for (unsigned i = 0; i < NODES; i++)
        if ((fds[i] = node_socket(i)) < 0)
            _exit(2);
    uint64_t sent = 0, seq = seq0;
    double end = bench_now() + seconds, next = bench_now();
    ppn_fleet_heartbeat hb;
    uint8_t buf[PPN_FLEET_MESSAGE_MAX];
    unsigned who = from_member ? 1 : 0;
    while (bench_now() < end) {
        bench_hb(&hb, pks[who], who, ++seq);
        int n = ppn_fleet_heartbeat_sign(&hb, sks[who], buf, sizeof(buf));
        if (n > 0 && sendto(fds[who], buf, (size_t)n, 0, (struct sockaddr *)&ctl, sizeof(ctl)) == n)
            sent++;
        who = (who + 1) % NODES;
        if (from_member && who == 0)
            who = 1;
        next += HB_INTERVAL_MS / 1000.0 / NODES;
        double wait = next - bench_now();
        if (wait > 0)
            usleep((useconds_t)(wait * 1e6));
    }
    if (write(out, &sent, sizeof(sent)) != sizeof(sent))
        _exit(3);
    _exit(0);
}

/* Floods until killed; writes the count sent when told to stop (SIGTERM). */
static volatile sig_atomic_t flood_stop;
static void on_term(int s)
{
    (void)s;
    flood_stop = 1;
}

static void flooder(struct sockaddr_in ctl, int out, unsigned id)
{
    signal(SIGTERM, on_term);
    struct sockaddr_in a = sin_of(from_member ? "127.77.1.1" : "127.0.0.9", 0);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        _exit(2);
    /* The batch: garbage, forged with fresh sequences, replays (seq 1). */
    static uint8_t pkt[BATCH][512];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(msgs, 0, sizeof(msgs));
    for (unsigned k = 0; k < BATCH; k++) {
        ppn_fleet_heartbeat hb;
        unsigned node = from_member ? 0 : k % NODES;
        size_t len;
        if (k % 3 == 0) {
            randombytes_buf(pkt[k], 64);
            pkt[k][0] = 0x83;
            len = 64;
        } else {
            bench_hb(&hb, pks[node], node, k % 3 == 1 ? (1ULL << 62) + k + id : 1);
            int n = ppn_fleet_heartbeat_sign(&hb, sks[node], pkt[k], sizeof(pkt[k]));
            if (n < 0)
                _exit(3);
            len = (size_t)n;
            if (k % 3 == 1)
                pkt[k][len - 7] ^= 0x20; /* forged: the signature no longer holds */
        }
        iov[k] = (struct iovec){.iov_base = pkt[k], .iov_len = len};
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
        msgs[k].msg_hdr.msg_name = &ctl;
        msgs[k].msg_hdr.msg_namelen = sizeof(ctl);
    }
    uint64_t sent = 0;
    while (!flood_stop) {
        int n = sendmmsg(fd, msgs, BATCH, 0);
        if (n > 0)
            sent += (uint64_t)n;
    }
    if (write(out, &sent, sizeof(sent)) != sizeof(sent))
        _exit(4);
    _exit(0);
}

typedef struct result {
    uint64_t sent, accepted, flood_sent, evictions, refused;
    int rcvbuf;
} result;

static uint64_t old_refused;

/* In "member" mode member 0 is the attacker's: its evictions are not false. */
static void on_evicted(ppn_fleet_controller *c, size_t i, uint64_t ms, void *ud)
{
    if (!(from_member && i == 0))
        (*(uint64_t *)ud)++;
}

/* One run: the engine (old == 0) or the old loop (old == 1). */
static int run(bool old, double seconds, int flooders, uint64_t seq0, result *res)
{
    memset(res, 0, sizeof(*res));
    struct sockaddr_in la = sin_of("127.0.0.1", 0);
    ppn_fleet_controller *c = NULL;
    ppn_fleet *f = NULL;
    int fd;
    uint64_t t0 = ms_now();
    if (!old) {
        if (ppn_fleet_controller_new((struct sockaddr *)&la, sizeof(la), NULL, t0, &c) < 0)
            return -1;
        f = ppn_fleet_controller_fleet(c);
        ppn_fleet_member m[NODES];
        memset(m, 0, sizeof(m));
        for (unsigned i = 0; i < NODES; i++) {
            char ip[32];
            snprintf(ip, sizeof(ip), "127.77.1.%u", i + 1);
            struct sockaddr_in a = sin_of(ip, 51901);
            memcpy(m[i].key, pks[i], 32);
            snprintf(m[i].name, sizeof(m[i].name), "node-%u", i);
            memcpy(&m[i].addr, &a, sizeof(a));
            m[i].addr_len = sizeof(a);
        }
        if (ppn_fleet_controller_set_members(c, m, NODES) != NODES)
            return -1;
        ppn_fleet_controller_callbacks cb = {.evicted = on_evicted};
        ppn_fleet_controller_set_callbacks(c, &cb, &res->evictions);
        fd = ppn_fleet_controller_fd(c);
        res->rcvbuf = ppn_fleet_controller_rcvbuf(c);
    } else {
        if (ppn_fleet_new(t0, &f) < 0 || ppn_fleet_set_members(f, &pks[0][0], NODES) != NODES)
            return -1;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&la, sizeof(la)) < 0)
            return -1;
        socklen_t l = sizeof(res->rcvbuf);
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &res->rcvbuf, &l);
    }
    ppn_fleet_set_option(f, PPN_FLEET_OPT_GRACE_MS, 0);
    ppn_fleet_set_option(f, PPN_FLEET_OPT_SILENCE_MS, 1000);
    ppn_fleet_set_option(f, PPN_FLEET_OPT_GUARD_PERCENT, 100);
    struct sockaddr_in ctl;
    socklen_t cl = sizeof(ctl);
    getsockname(fd, (struct sockaddr *)&ctl, &cl);

    int gp[2], fp[2];
    if (pipe(gp) < 0 || pipe(fp) < 0)
        return -1;
    pid_t fl[8];
    for (int i = 0; i < flooders; i++)
        if ((fl[i] = fork()) == 0)
            flooder(ctl, fp[1], (unsigned)i);
    usleep(200000); /* the flood is on before the first genuine heartbeat */
    pid_t g = fork();
    if (g == 0)
        genuine(ctl, seconds, seq0, gp[1]);
    uint64_t end = ms_now() + (uint64_t)(seconds * 1000) + 300;
    uint8_t *buf = malloc(PPN_FLEET_MESSAGE_MAX + 1);
    while (ms_now() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 20);
        uint64_t now = ms_now();
        if (!old) {
            ppn_fleet_controller_process(c, now);
            continue;
        }
        /* The old loop: 256 datagrams per wakeup, a tick per second. */
        for (int k = 0; k < 256; k++) {
            struct sockaddr_storage from;
            socklen_t fromlen = sizeof(from);
            ssize_t n = recvfrom(fd, buf, PPN_FLEET_MESSAGE_MAX + 1, MSG_DONTWAIT,
                                 (struct sockaddr *)&from, &fromlen);
            if (n < 0)
                break;
            /* The signature before the sequence, as before: every datagram that
             * parses costs a verification (replays included); only those that
             * verify go on to the sequence check and state. */
            ppn_fleet_heartbeat hb;
            if (ppn_fleet_heartbeat_open(buf, (size_t)n, &hb) == 0)
                ppn_fleet_ingest(f, buf, (size_t)n, (struct sockaddr *)&from, fromlen, now);
            else
                old_refused++;
        }
        static uint64_t next_tick;
        if (now >= next_tick) {
            ppn_fleet_tick_result tr;
            static uint8_t was[NODES];
            if (ppn_fleet_tick(f, now, &tr) > 0)
                for (unsigned i = from_member ? 1 : 0; i < NODES; i++) {
                    ppn_fleet_node_info info;
                    if (ppn_fleet_node_get(f, i, now, &info) == 0 &&
                        info.state == PPN_FLEET_NODE_EVICTED && !was[i])
                        res->evictions++;
                    was[i] = info.state == PPN_FLEET_NODE_EVICTED;
                }
            next_tick = now + 1000;
        }
        if (ms_now() > end)
            break;
    }
    free(buf);
    for (int i = 0; i < flooders; i++)
        kill(fl[i], SIGTERM);
    int st;
    waitpid(g, &st, 0);
    for (int i = 0; i < flooders; i++) {
        uint64_t n = 0;
        waitpid(fl[i], &st, 0);
        if (read(fp[0], &n, sizeof(n)) == sizeof(n))
            res->flood_sent += n;
    }
    if (read(gp[0], &res->sent, sizeof(res->sent)) != sizeof(res->sent))
        return -1;
    res->accepted = ppn_fleet_accepted(f);
    ppn_fleet_node_info n0;
    if (from_member && ppn_fleet_node_get(f, 0, ms_now(), &n0) == 0 && n0.seq)
        res->accepted--; /* the attacker's replay of member 0's seq 1 */
    res->refused = old_refused;
    old_refused = 0;
    for (int r = 0; r < PPN_FLEET_REFUSED_COUNT; r++)
        res->refused += ppn_fleet_refusals(f, (ppn_fleet_refusal)r);
    close(gp[0]);
    close(gp[1]);
    close(fp[0]);
    close(fp[1]);
    if (old) {
        close(fd);
        ppn_fleet_free(f);
    } else {
        ppn_fleet_controller_free(c);
    }
    return 0;
}

static void report(const char *what, const result *r, double seconds)
{
    printf("%-34s %6" PRIu64 "/%-6" PRIu64 " genuine accepted = %.4f; flood %8.0f/s, "
           "%9" PRIu64 " refused; false evictions %" PRIu64 "; rcvbuf %d KiB\n",
           what, r->accepted, r->sent, r->sent ? (double)r->accepted / (double)r->sent : 0,
           (double)r->flood_sent / seconds, r->refused, r->evictions, r->rcvbuf / 1024);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5;
    int flooders = argc > 2 ? atoi(argv[2]) : 1;
    from_member = argc > 3 && strcmp(argv[3], "member") == 0;
    if (seconds <= 0 || flooders < 1 || flooders > 8 || sodium_init() < 0)
        return 1;
    for (unsigned i = 0; i < NODES; i++)
        bench_key(i + 1000, pks[i], sks[i]);
    result floor_r, eng, old;
    if (run(false, seconds, 0, 10, &floor_r) < 0 || run(false, seconds, flooders, 10, &eng) < 0 ||
        run(true, seconds, flooders, 10, &old) < 0) {
        fprintf(stderr, "bench-fleet-flood: setup failed: %s\n", strerror(errno));
        return 1;
    }
    printf("%d s per run, %d member nodes every %d ms, %d flooder(s) with sendmmsg from %s\n",
           (int)seconds, NODES, HB_INTERVAL_MS, flooders,
           from_member ? "member 0's own address (others' ratio)" : "a non-member address");
    report("floor (no flood)", &floor_r, seconds);
    report("engine under flood", &eng, seconds);
    report("before (old loop) under flood", &old, seconds);
    double fr = floor_r.sent ? (double)floor_r.accepted / (double)floor_r.sent : 0;
    double er = eng.sent ? (double)eng.accepted / (double)eng.sent : 0;
    printf("ratio under flood: %.4f (floor %.4f; aim >= 0.99, no false eviction)\n", er, fr);
    return 0;
}
