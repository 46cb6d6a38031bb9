/* The replica service engine (replica.c, doc/sync.md "Nudges", "The replica service"): the
 * nudge format, the datagram path over real UDP sockets on the loopback, the budget, the
 * per-member merge, the schedule (periodic, nudged, forced, retry with backoff) on the
 * monotonic clock, and the directory watch on real files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ledger-test.h"
#include "ppn-common.h"

static const ppn_ledger_replica_config defaults = {0};

/* Members b (127.0.0.2), c (127.0.0.3) and an IPv6 one. */
static const ppn_ledger_replica_member members3[] = {
    {.name = "node-b", .address = "127.0.0.2/8"},
    {.name = "node-c", .address = "127.0.0.3"},
    {.name = "node-d", .address = "fd00::4/64"},
};

static ppn_ledger_replica *engine(uint64_t now, const ppn_ledger_replica_config *cfg)
{
    ppn_ledger_replica *r = NULL;
    ck_assert_int_eq(ppn_ledger_replica_new(cfg ? cfg : &defaults, now, &r), 0);
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, members3, 3, now), 0);
    return r;
}

/* Hands out every pull due at 'now' and reports each done with 'result'; returns how many. */
static int drain(ppn_ledger_replica *r, uint64_t now, int result)
{
    ppn_ledger_replica_pull p;
    int n = 0;
    while (ppn_ledger_replica_next(r, now, &p) == 1) {
        ck_assert_int_eq(ppn_ledger_replica_done(r, p.ticket, result, now), 0);
        n++;
    }
    return n;
}

static int udp_at(const char *ip, struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, ip, &sa->sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
    socklen_t l = sizeof(*sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)sa, &l), 0);
    return fd;
}

/* Receives one datagram on fd (waiting up to 2 s) and gives it to the engine. */
static int deliver(ppn_ledger_replica *r, int fd, uint64_t now)
{
    uint8_t d[PPN_LEDGER_NUDGE_BYTES + 64];
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recvfrom(fd, d, sizeof(d), 0, (struct sockaddr *)&from, &fl);
    ck_assert_int_ge(n, 0);
    return ppn_ledger_replica_datagram(r, d, (size_t)n, (struct sockaddr *)&from, fl, now);
}

START_TEST(test_nudge_format)
{
    uint8_t d[PPN_LEDGER_NUDGE_BYTES + 1];
    size_t len = 0;
    uint64_t size = 0;
    ck_assert_int_eq(ppn_ledger_nudge_encode(0x0102030405060708ull, d, sizeof(d), &len), 0);
    ck_assert_uint_eq(len, 16);
    /* the bytes doc/sync.md gives: the magic, then the size big-endian */
    static const uint8_t want[16] = {'P', 'P', 'N', 'N', 'U', 'D', 'G', '1', 1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert_mem_eq(d, want, 16);
    ck_assert_int_eq(ppn_ledger_nudge_parse(d, 16, &size), 0);
    ck_assert_uint_eq(size, 0x0102030405060708ull);
    ck_assert_int_eq(ppn_ledger_nudge_parse(d, 16, NULL), 0);
    for (size_t l = 0; l <= sizeof(d); l++)
        if (l != 16)
            ck_assert_int_eq(ppn_ledger_nudge_parse(d, l, &size), -EBADMSG);
    for (size_t i = 0; i < 8; i++) {
        d[i] ^= 0x20;
        ck_assert_int_eq(ppn_ledger_nudge_parse(d, 16, &size), -EBADMSG);
        d[i] ^= 0x20;
    }
    ck_assert_int_eq(ppn_ledger_nudge_parse(NULL, 16, &size), -EINVAL);
    ck_assert_int_eq(ppn_ledger_nudge_parse(NULL, 0, &size), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_nudge_encode(1, d, 15, &len), -ENOBUFS);
    ck_assert_int_eq(ppn_ledger_nudge_encode(1, NULL, 16, &len), -EINVAL);
    ck_assert_int_eq(ppn_ledger_nudge_encode(1, d, 16, NULL), -EINVAL);
}
END_TEST

START_TEST(test_config)
{
    ppn_ledger_replica *r = NULL;
    uint64_t now = ppnc_now_mono_ms();
    ppn_ledger_replica_config c = defaults;
    ck_assert_int_eq(ppn_ledger_replica_new(NULL, now, &r), -EINVAL);
    ck_assert_int_eq(ppn_ledger_replica_new(&c, now, NULL), -EINVAL);
    c.reserved[3] = 1;
    ck_assert_int_eq(ppn_ledger_replica_new(&c, now, &r), -EINVAL);
    c = defaults, c.nudge_rate = 100001;
    ck_assert_int_eq(ppn_ledger_replica_new(&c, now, &r), -EINVAL);
    c = defaults, c.pull_ms = 86400001;
    ck_assert_int_eq(ppn_ledger_replica_new(&c, now, &r), -EINVAL);
    c = defaults, c.pull_ms = 1000, c.retry_min_ms = 1001;
    ck_assert_int_eq(ppn_ledger_replica_new(&c, now, &r), -EINVAL);
    c = defaults, c.watched = 2;
    ck_assert_int_eq(ppn_ledger_replica_new(&c, now, &r), -EINVAL);
    c = defaults, c.dir = "";
    ck_assert_int_eq(ppn_ledger_replica_new(&c, now, &r), -EINVAL);
    ck_assert_ptr_null(r);
    /* a round shorter than the default retry: the retry is the round */
    c = defaults, c.pull_ms = 100;
    ck_assert_int_eq(ppn_ledger_replica_new(&c, now, &r), 0);
    ppn_ledger_replica_free(r);
    ppn_ledger_replica_free(NULL);
    ck_assert_int_eq(ppn_ledger_replica_timeout(NULL, now), -EINVAL);
    ck_assert_int_eq(ppn_ledger_replica_check(NULL, now), -EINVAL);
    ck_assert_int_eq(ppn_ledger_replica_done(NULL, 1, 0, now), -EINVAL);
    ck_assert_int_eq(ppn_ledger_replica_force(NULL, NULL, now), -EINVAL);
}
END_TEST

START_TEST(test_members)
{
    uint64_t now = ppnc_now_mono_ms();
    ppn_ledger_replica *r = engine(now, NULL);
    ppn_ledger_replica_pull p[3];
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ppn_ledger_replica_next(r, now, &p[i]), 1);
    ck_assert_int_eq(ppn_ledger_replica_next(r, now, &p[0]), 0); /* each once: all in flight */
    ck_assert_str_eq(p[0].address, "127.0.0.2");
    ck_assert_str_eq(p[0].name, "node-b");
    ck_assert_str_eq(p[2].address, "fd00::4");
    ck_assert_uint_eq(p[1].reason, PPN_LEDGER_REPLICA_PERIODIC);
    /* refusals leave the set as it is */
    ppn_ledger_replica_member bad[2] = {{.name = "x", .address = "10.0.0.1"}, {.name = "y", .address = "10.0.0.1/24"}};
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, bad, 2, now), -EINVAL); /* twice */
    bad[1].address = "10.0.0.300";
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, bad, 2, now), -EINVAL);
    bad[1].address = "node-y.example";
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, bad, 2, now), -EINVAL);
    bad[1].address = "10.0.0.2", bad[1].name = "";
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, bad, 2, now), -EINVAL);
    bad[1].name = NULL;
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, bad, 2, now), -EINVAL);
    bad[1].name = "y", bad[1].reserved[1] = 1;
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, bad, 2, now), -EINVAL);
    char longaddr[80];
    memset(longaddr, '1', sizeof(longaddr) - 1);
    longaddr[sizeof(longaddr) - 1] = '\0';
    bad[1].reserved[1] = 0, bad[1].address = longaddr;
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, bad, 2, now), -EINVAL);
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, NULL, 1, now), -EINVAL);
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, members3, PPN_LEDGER_REPLICA_MEMBERS_MAX + 1, now), -E2BIG);
    ck_assert_int_eq(ppn_ledger_replica_done(r, p[0].ticket, 0, now), 0); /* still the same set */
    ck_assert_int_eq(ppn_ledger_replica_done(r, p[0].ticket, 0, now), -ENOENT); /* not in flight */
    /* c leaves, e joins: b and d keep their tickets (d still in flight), c's is gone */
    ppn_ledger_replica_member next[3] = {members3[0], {.name = "node-e", .address = "127.0.0.5"}, members3[2]};
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, next, 3, now), 0);
    ck_assert_int_eq(ppn_ledger_replica_done(r, p[1].ticket, 0, now), -ENOENT);
    ck_assert_int_eq(ppn_ledger_replica_done(r, p[2].ticket, 1, now), 0);
    /* the new member waits for the next round; b is pulled again only then */
    ppn_ledger_replica_pull q;
    ck_assert_int_eq(ppn_ledger_replica_next(r, now, &q), 0);
    ck_assert_int_eq(ppn_ledger_replica_force(r, "127.0.0.5", now), 0);
    ck_assert_int_eq(ppn_ledger_replica_force(r, "127.0.0.3", now), -ENOENT);
    ck_assert_int_eq(ppn_ledger_replica_next(r, now, &q), 1);
    ck_assert_str_eq(q.name, "node-e");
    ck_assert_uint_eq(q.reason, PPN_LEDGER_REPLICA_FORCED);
    ck_assert_uint_ne(q.ticket, p[0].ticket);
    ck_assert_uint_ne(q.ticket, p[1].ticket);
    ck_assert_int_eq(ppn_ledger_replica_set_members(r, NULL, 0, now), 0);
    ck_assert_int_eq(ppn_ledger_replica_done(r, q.ticket, 0, now), -ENOENT);
    ck_assert_int_eq(ppn_ledger_replica_next(r, now + 100000, &q), 0);
    ppn_ledger_replica_free(r);
}
END_TEST

START_TEST(test_periodic)
{
    uint64_t now = ppnc_now_mono_ms();
    ppn_ledger_replica *r = engine(now, NULL);
    ck_assert_int_eq(ppn_ledger_replica_timeout(r, now), 0); /* the first round: at once */
    ck_assert_int_eq(drain(r, now, 0), 3);
    ck_assert_int_eq(ppn_ledger_replica_timeout(r, now), 10000);
    ck_assert_int_eq(ppn_ledger_replica_timeout(r, now + 4000), 6000);
    ck_assert_int_eq(drain(r, now + 9999, 0), 0);
    ck_assert_int_eq(ppn_ledger_replica_timeout(r, now + 10000), 0);
    ck_assert_int_eq(drain(r, now + 10000, 1), 3);
    ck_assert_int_eq(drain(r, now + 15000, 0), 0);
    ppn_ledger_replica_force(r, NULL, now + 15000);
    ck_assert_int_eq(ppn_ledger_replica_timeout(r, now + 15000), 0);
    ck_assert_int_eq(drain(r, now + 15000, 0), 3);
    ppn_ledger_replica_stats st;
    ck_assert_int_eq(ppn_ledger_replica_stats_get(r, &st), 0);
    ck_assert_uint_eq(st.pulls, 9);
    ck_assert_uint_eq(st.failed, 0);
    ppn_ledger_replica_free(r);
}
END_TEST

/* A member unreachable when the service starts is retried after 250 ms, 500, 1000, ... up to
 * the round's 10 s, not only a round later; one success resets the backoff. */
START_TEST(test_retry_backoff)
{
    uint64_t t = ppnc_now_mono_ms();
    ppn_ledger_replica *r = engine(t, NULL);
    ppn_ledger_replica_pull p;
    /* b fails, the others answer */
    ck_assert_int_eq(ppn_ledger_replica_next(r, t, &p), 1);
    ck_assert_int_eq(ppn_ledger_replica_done(r, p.ticket, -ECONNREFUSED, t), 0);
    ck_assert_int_eq(drain(r, t, 0), 2);
    /* step from one due time to the next: b keeps failing */
    static const uint64_t at[] = {250, 750, 1750, 3750, 7750, 10000, 20000, 30000};
    static const uint32_t why[] = {3, 3, 3, 3, 3, 4, 3, 3}; /* RETRY until the round comes first */
    uint64_t t0 = t;
    size_t k = 0;
    for (int steps = 0; k < sizeof(at) / sizeof(at[0]) && steps < 100; steps++) {
        int w = ppn_ledger_replica_timeout(r, t);
        ck_assert_int_ge(w, 1);
        ck_assert_int_eq(ppn_ledger_replica_next(r, t + (uint64_t)w - 1, &p), 0);
        t += (uint64_t)w;
        while (ppn_ledger_replica_next(r, t, &p) == 1) {
            if (strcmp(p.name, "node-b") != 0) {
                ck_assert_int_eq(ppn_ledger_replica_done(r, p.ticket, 0, t), 0);
                continue;
            }
            ck_assert_uint_eq(t - t0, at[k]);
            ck_assert_uint_eq(p.reason, why[k]);
            ck_assert_uint_eq(p.failures, k + 1);
            ck_assert_int_eq(ppn_ledger_replica_done(r, p.ticket, -ETIMEDOUT, t), 0);
            k++;
        }
    }
    ck_assert_uint_eq(k, sizeof(at) / sizeof(at[0]));
    /* a nudge from b (it is up) is taken at once, whatever its backoff */
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_port = htons(7411)};
    inet_pton(AF_INET, "127.0.0.2", &b.sin_addr);
    uint8_t d[16];
    size_t dl;
    ppn_ledger_nudge_encode(5, d, sizeof(d), &dl);
    ck_assert_int_eq(ppn_ledger_replica_datagram(r, d, dl, (struct sockaddr *)&b, sizeof(b), t + 300), 0);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 300, &p), 1);
    ck_assert_uint_eq(p.reason, PPN_LEDGER_REPLICA_NUDGED);
    ck_assert_int_eq(ppn_ledger_replica_done(r, p.ticket, 2, t + 300), 0);
    /* reset: a later failure waits 250 ms again */
    ck_assert_int_eq(ppn_ledger_replica_force(r, "127.0.0.2", t + 400), 0);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 400, &p), 1);
    ck_assert_uint_eq(p.failures, 0);
    ck_assert_int_eq(ppn_ledger_replica_done(r, p.ticket, -EHOSTUNREACH, t + 400), 0);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 649, &p), 0);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 650, &p), 1);
    ck_assert_uint_eq(p.reason, PPN_LEDGER_REPLICA_RETRY);
    ppn_ledger_replica_free(r);
}
END_TEST

/* A pull the caller never reports (a killed worker) has failed at its bound. */
START_TEST(test_pull_bound)
{
    uint64_t t = ppnc_now_mono_ms();
    ppn_ledger_replica_config c = defaults;
    c.pull_bound_ms = 5000;
    ppn_ledger_replica *r = engine(t, &c);
    ppn_ledger_replica_pull p;
    ck_assert_int_eq(ppn_ledger_replica_next(r, t, &p), 1);
    ck_assert_int_eq(drain(r, t, 0), 2);
    ck_assert_int_eq(ppn_ledger_replica_timeout(r, t), 5000);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 4999, &p), 0);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 5000, &p), 0); /* failed now; retried at +250 */
    ck_assert_int_eq(ppn_ledger_replica_done(r, 1, 0, t + 5000), -ENOENT);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 5250, &p), 1);
    ck_assert_uint_eq(p.reason, PPN_LEDGER_REPLICA_RETRY);
    ck_assert_uint_eq(p.failures, 1);
    ppn_ledger_replica_stats st;
    ppn_ledger_replica_stats_get(r, &st);
    ck_assert_uint_eq(st.failed, 1);
    ppn_ledger_replica_free(r);
}
END_TEST

/* Over real UDP sockets on the loopback: a nudge from a member's address makes that member's
 * pull due, from another address or malformed it does nothing. */
START_TEST(test_datagram_udp)
{
    struct sockaddr_in sa_a, sa_b, sa_x;
    int fa = udp_at("127.0.0.1", &sa_a), fb = udp_at("127.0.0.2", &sa_b), fx = udp_at("127.0.0.9", &sa_x);
    uint64_t t = ppnc_now_mono_ms();
    ppn_ledger_replica *r = engine(t, NULL);
    ck_assert_int_eq(drain(r, t, 0), 3);
    uint8_t d[PPN_LEDGER_NUDGE_BYTES + 1];
    size_t dl;
    ck_assert_int_eq(ppn_ledger_nudge_encode(7, d, sizeof(d), &dl), 0);
    /* from b: taken; b is due at once (the round's pull was not a nudged one) */
    ck_assert_int_eq(sendto(fb, d, dl, 0, (struct sockaddr *)&sa_a, sizeof(sa_a)), (ssize_t)dl);
    t = ppnc_now_mono_ms();
    ck_assert_int_eq(deliver(r, fa, t), 0);
    ppn_ledger_replica_pull p;
    ck_assert_int_eq(ppn_ledger_replica_timeout(r, t), 0);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t, &p), 1);
    ck_assert_uint_eq(p.reason, PPN_LEDGER_REPLICA_NUDGED);
    ck_assert_str_eq(p.address, "127.0.0.2");
    ck_assert_int_eq(ppn_ledger_replica_done(r, p.ticket, 0, t + 200), 0);
    /* from a stranger: refused, nothing due */
    ck_assert_int_eq(sendto(fx, d, dl, 0, (struct sockaddr *)&sa_a, sizeof(sa_a)), (ssize_t)dl);
    ck_assert_int_eq(deliver(r, fa, t + 300), -EADDRNOTAVAIL);
    /* a byte short, a byte long, another magic: refused */
    ck_assert_int_eq(sendto(fb, d, dl - 1, 0, (struct sockaddr *)&sa_a, sizeof(sa_a)), (ssize_t)dl - 1);
    ck_assert_int_eq(deliver(r, fa, t + 300), -EBADMSG);
    ck_assert_int_eq(sendto(fb, d, dl + 1, 0, (struct sockaddr *)&sa_a, sizeof(sa_a)), (ssize_t)dl + 1);
    ck_assert_int_eq(deliver(r, fa, t + 300), -EBADMSG);
    d[0] = 'X';
    ck_assert_int_eq(sendto(fb, d, dl, 0, (struct sockaddr *)&sa_a, sizeof(sa_a)), (ssize_t)dl);
    ck_assert_int_eq(deliver(r, fa, t + 300), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 1000, &p), 0);
    /* the same address as IPv4-mapped IPv6 (a dual-stack socket's view) is the member */
    struct sockaddr_in6 m6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:127.0.0.3", &m6.sin6_addr);
    d[0] = 'P';
    ck_assert_int_eq(ppn_ledger_replica_datagram(r, d, dl, (struct sockaddr *)&m6, sizeof(m6), t + 1000), 0);
    inet_pton(AF_INET6, "fd00::4", &m6.sin6_addr);
    ck_assert_int_eq(ppn_ledger_replica_datagram(r, d, dl, (struct sockaddr *)&m6, sizeof(m6), t + 1000), 0);
    ck_assert_int_eq(ppn_ledger_replica_datagram(r, d, dl, (struct sockaddr *)&m6, 8, t + 1000), -EADDRNOTAVAIL);
    ck_assert_int_eq(drain(r, t + 1000, 0), 2);
    ppn_ledger_replica_stats st;
    ppn_ledger_replica_stats_get(r, &st);
    ck_assert_uint_eq(st.nudges, 3);
    ck_assert_uint_eq(st.strangers, 2);
    ck_assert_uint_eq(st.malformed, 3);
    ppn_ledger_replica_free(r);
    close(fa), close(fb), close(fx);
}
END_TEST

/* A flood from a member over UDP: 50 datagrams a second are looked at, all merged into one
 * pull, at most one nudged pull per 200 ms; a nudge during a pull is not lost. */
START_TEST(test_flood_merge)
{
    struct sockaddr_in sa_a, sa_b;
    int fa = udp_at("127.0.0.1", &sa_a), fb = udp_at("127.0.0.2", &sa_b);
    int big = 1 << 20;
    setsockopt(fa, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    uint64_t t = ppnc_now_mono_ms();
    ppn_ledger_replica *r = engine(t, NULL);
    ck_assert_int_eq(drain(r, t, 0), 3);
    uint8_t d[16];
    size_t dl;
    ppn_ledger_nudge_encode(9, d, sizeof(d), &dl);
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(sendto(fb, d, dl, 0, (struct sockaddr *)&sa_a, sizeof(sa_a)), (ssize_t)dl);
    int taken = 0, over = 0;
    uint64_t t1 = t + 1;
    for (int i = 0; i < 200; i++) {
        int k = deliver(r, fa, t1);
        ck_assert(k == 0 || k == -EAGAIN);
        taken += k == 0, over += k == -EAGAIN;
    }
    ck_assert_int_eq(taken, 50);
    ck_assert_int_eq(over, 150);
    ppn_ledger_replica_pull p;
    ck_assert_int_eq(ppn_ledger_replica_next(r, t1, &p), 1);
    ck_assert_uint_eq(p.reason, PPN_LEDGER_REPLICA_NUDGED);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t1, &p), 0); /* 50 nudges, one pull */
    /* a nudge while b's pull is in flight: pulled again after it, 200 ms after the last */
    ck_assert_int_eq(sendto(fb, d, dl, 0, (struct sockaddr *)&sa_a, sizeof(sa_a)), (ssize_t)dl);
    ck_assert_int_eq(deliver(r, fa, t + 50), 0);
    ck_assert_int_eq(ppn_ledger_replica_done(r, p.ticket, 1, t + 60), 0);
    ck_assert_int_eq(ppn_ledger_replica_timeout(r, t + 60), 141);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 200, &p), 0);
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 201, &p), 1);
    ck_assert_uint_eq(p.reason, PPN_LEDGER_REPLICA_NUDGED);
    ppn_ledger_replica_done(r, p.ticket, 0, t + 201);
    /* the budget refills: a second later 50 are looked at again */
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(sendto(fb, d, dl, 0, (struct sockaddr *)&sa_a, sizeof(sa_a)), (ssize_t)dl);
    taken = 0;
    for (int i = 0; i < 60; i++)
        taken += deliver(r, fa, t + 1500) == 0;
    ck_assert_int_eq(taken, 50);
    ppn_ledger_replica_stats st;
    ppn_ledger_replica_stats_get(r, &st);
    ck_assert_uint_eq(st.nudges, 101);
    ck_assert_uint_eq(st.merged, 49 + 49);
    ck_assert_uint_eq(st.over_budget, 160);
    ppn_ledger_replica_free(r);
    close(fa), close(fb);
}
END_TEST

static void replace_file(const char *dir, const char *name, const char *text)
{
    char tmp[512], path[512];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    ck_assert_int_eq(fsync(fd), 0);
    close(fd);
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* The directory watch: a checkpoint replaced (a new inode), cosignatures written; without a
 * watch, looked at once a second. */
START_TEST(test_check)
{
    char *dir = ledger_test_tmpdir("replica");
    replace_file(dir, "checkpoint", "o\n1\nroot\n");
    uint64_t t = ppnc_now_mono_ms();
    ppn_ledger_replica_config c = defaults;
    c.dir = dir;
    c.watched = 1;
    ppn_ledger_replica *r = NULL;
    ck_assert_int_eq(ppn_ledger_replica_new(&c, t, &r), 0);
    ck_assert_int_eq(ppn_ledger_replica_check(r, t), 0);
    replace_file(dir, "checkpoint", "o\n2\nroot\n");
    ck_assert_int_eq(ppn_ledger_replica_check(r, t), PPN_LEDGER_REPLICA_CHECKPOINT);
    ck_assert_int_eq(ppn_ledger_replica_check(r, t), 0);
    replace_file(dir, "cosignatures", "PPNCOSG1");
    ck_assert_int_eq(ppn_ledger_replica_check(r, t), PPN_LEDGER_REPLICA_COSIGNATURES);
    replace_file(dir, "checkpoint", "o\n3\nroot\n");
    replace_file(dir, "cosignatures", "PPNCOSG1.");
    ck_assert_int_eq(ppn_ledger_replica_check(r, t), PPN_LEDGER_REPLICA_CHECKPOINT | PPN_LEDGER_REPLICA_COSIGNATURES);
    ppn_ledger_replica_free(r);
    /* unwatched: a change is seen at the next second */
    c.watched = 0;
    ck_assert_int_eq(ppn_ledger_replica_new(&c, t, &r), 0);
    replace_file(dir, "checkpoint", "o\n4\nroot\n");
    ck_assert_int_eq(ppn_ledger_replica_check(r, t + 10), 0);
    ppn_ledger_replica_pull p;
    ck_assert_int_eq(ppn_ledger_replica_next(r, t + 10, &p), 0); /* the first round, of no one */
    ck_assert_int_eq(ppn_ledger_replica_timeout(r, t + 10), 990);
    ck_assert_int_eq(ppn_ledger_replica_check(r, t + 1000), PPN_LEDGER_REPLICA_CHECKPOINT);
    char path[512];
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    unlink(path);
    ck_assert_int_eq(ppn_ledger_replica_check(r, t + 2000), PPN_LEDGER_REPLICA_CHECKPOINT);
    ppn_ledger_replica_free(r);
    /* no directory: nothing to look at */
    ck_assert_int_eq(ppn_ledger_replica_new(&defaults, t, &r), 0);
    ck_assert_int_eq(ppn_ledger_replica_check(r, t + 5000), 0);
    ppn_ledger_replica_free(r);
    ledger_test_rmrf(dir);
    free(dir);
}
END_TEST

static Suite *service_suite(void)
{
    Suite *s = suite_create("replica-service");
    TCase *tc = tcase_create("nudge");
    tcase_add_test(tc, test_nudge_format);
    tcase_add_test(tc, test_datagram_udp);
    tcase_add_test(tc, test_flood_merge);
    suite_add_tcase(s, tc);
    tc = tcase_create("schedule");
    tcase_add_test(tc, test_config);
    tcase_add_test(tc, test_members);
    tcase_add_test(tc, test_periodic);
    tcase_add_test(tc, test_retry_backoff);
    tcase_add_test(tc, test_pull_bound);
    tcase_add_test(tc, test_check);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ledger_test_main(service_suite());
}
