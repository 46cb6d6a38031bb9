/* 'sync' and 'serve': the ledger sync of libppn-ledger over TCP (doc/sync.md).
 *
 *   sync (client)                          serve (any member)
 *   ---- u32 length | PPNSYNQ1 request --->
 *   <--- u32 length | PPNSYNA1 answer -----   from the ledger as it is now
 *   applies it (everything verified first); asks again while the other has more
 *
 * The transport adds nothing to the trust: every entry and checkpoint the client applies is
 * signed; the mesh runs this inside the WireGuard tunnel.  Every wait has a deadline and
 * every frame a bound: a connection has CONN_DEADLINE_MS in all (a drip-feed cannot hold a
 * slot longer), a request longer than PPN_LEDGER_SYNC_REQUEST_MAX is dropped unread, at most
 * MAX_CONNS connections at once (the oldest is dropped for a new one, so a flood of idle
 * connections cannot lock out a real client). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ppn/ledger.h"
#include "pair.h"
#include "tool-util.h"

#define MAX_CONNS 16
#define CONN_DEADLINE_MS 10000
#define SYNC_USAGE "sync --state DIR --from HOST:PORT [--timeout SECONDS] [--max-bytes N]"
#define SERVE_USAGE "serve --state DIR --listen ADDR:PORT [--max-bytes N]"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int left_ms(uint64_t deadline)
{
    uint64_t now = now_ms();
    return now >= deadline ? 0 : (int)(deadline - now > INT32_MAX ? INT32_MAX : deadline - now);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Non-blocking TCP socket: connected (within the deadline) or listening. */
static int tcp_open(const char *addr, bool listening, uint64_t deadline, int *ret_fd)
{
    char host[256], port[8], why[TOOL_WHY_MAX];
    uint16_t p;
    if (tool_parse_hostport(addr, listening, host, sizeof(host), &p, why) < 0)
        return -EINVAL;
    snprintf(port, sizeof(port), "%u", p);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (listening ? AI_PASSIVE : 0)},
                    *res;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
        return -EHOSTUNREACH;
    int r = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        if (listening) {
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
                *ret_fd = fd;
                r = 0;
                break;
            }
            r = -errno;
        } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            int pr, err = 0;
            socklen_t el = sizeof(err);
            do
                pr = poll(&pf, 1, left_ms(deadline));
            while (pr < 0 && errno == EINTR);
            if (pr == 0)
                r = -ETIMEDOUT;
            else if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                r = -errno;
            else
                r = -err;
            if (r == 0) {
                *ret_fd = fd;
                break;
            }
        } else {
            r = -errno;
        }
        close(fd);
        if (r == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    return r;
}

/* Moves exactly 'len' bytes in or out of a non-blocking fd before the deadline. */
static int io_all(int fd, bool out, uint8_t *buf, size_t len, uint64_t deadline)
{
    while (len) {
        ssize_t n = out ? send(fd, buf, len, MSG_NOSIGNAL) : recv(fd, buf, len, 0);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        struct pollfd pf = {.fd = fd, .events = out ? POLLOUT : POLLIN};
        int pr = poll(&pf, 1, left_ms(deadline));
        if (pr == 0)
            return -ETIMEDOUT;
        if (pr < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}

/* ---- sync (the client) ---- */

int cmd_sync(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"from", required_argument, NULL, 'f'},
        {"timeout", required_argument, NULL, 't'},
        {"max-bytes", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL, *from = NULL;
    uint64_t timeout_ms = 30000, max = PPN_LEDGER_SYNC_ANSWER_MAX;
    char why[TOOL_WHY_MAX];
    int c;
    while ((c = getopt_long(argc, argv, "s:f:t:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'f': from = optarg; break;
        case 't':
            if (tool_parse_seconds_ms(optarg, 100, 3600000, &timeout_ms, why) < 0)
                return tool_usage_error(SYNC_USAGE, "--timeout: %s", why);
            break;
        case 'm':
            if (tool_parse_uint(optarg, 4096, PPN_LEDGER_SYNC_ANSWER_MAX, &max, why) < 0)
                return tool_usage_error(SYNC_USAGE, "--max-bytes: %s", why);
            break;
        case 'h':
            printf("Usage: ppn-pair " SYNC_USAGE "\n"
                   "Bring this node's ledger up to date from the member serving it at HOST:PORT\n"
                   "('ppn-pair serve').  Everything received is verified before it is appended; a\n"
                   "fork is refused with the first size at which the histories differ and both roots.\n");
            return 0;
        default: return tool_usage_error(SYNC_USAGE, "unknown option (see --help)");
        }
    }
    if (tool_no_operands(argc, argv, optind, SYNC_USAGE))
        return 1;
    if (!state || !from)
        return tool_usage_error(SYNC_USAGE, "--state DIR and --from HOST:PORT are required");
    char host[256];
    uint16_t port;
    if (tool_parse_hostport(from, false, host, sizeof(host), &port, why) < 0)
        return tool_usage_error(SYNC_USAGE, "--from: %s", why);
    struct node n;
    if (node_load(&n, state, true))
        return 1;
    node_wipe(&n); /* the sync needs no secret */
    ppn_ledger *l = NULL;
    int r = ppn_ledger_open(n.ledger_dir, PPN_LEDGER_OPEN_WRITE, &l);
    if (r < 0)
        return tool_fail("open ledger", n.ledger_dir, r);
    uint64_t deadline = now_ms() + timeout_ms, total = 0, rounds = 0;
    uint8_t *ans = NULL;
    struct ppn_ledger_sync_report rep = {0};
    for (;;) {
        int fd = -1;
        r = tcp_open(from, false, deadline, &fd);
        if (r < 0) {
            ppn_ledger_free(l);
            return tool_fail("connect to", from, r);
        }
        uint8_t q[4 + PPN_LEDGER_SYNC_REQUEST_MAX], hdr[4];
        size_t ql;
        r = ppn_ledger_sync_request(l, q + 4, sizeof(q) - 4, &ql);
        if (r == 0) {
            put_be32(q, (uint32_t)ql);
            r = io_all(fd, true, q, 4 + ql, deadline);
        }
        if (r == 0)
            r = io_all(fd, false, hdr, 4, deadline);
        uint32_t al = r == 0 ? get_be32(hdr) : 0;
        if (r == 0 && (al == 0 || al > max)) {
            /* Refused on its announced length, before a byte of it is read. */
            close(fd);
            ppn_ledger_free(l);
            return tool_error("Failed to sync from '%s': an answer of %u bytes (the bound is %llu)", from, al,
                              (unsigned long long)max);
        }
        if (r == 0 && !(ans = malloc(al)))
            r = -ENOMEM;
        if (r == 0)
            r = io_all(fd, false, ans, al, deadline);
        close(fd);
        if (r < 0) {
            free(ans);
            ppn_ledger_free(l);
            return tool_fail("receive the answer from", from, r);
        }
        r = ppn_ledger_sync_apply(l, ans, al, max, &rep);
        free(ans);
        ans = NULL;
        rounds++;
        if (r < 0)
            break;
        total += rep.appended;
        if (rep.appended == 0 || ppn_ledger_size(l) >= rep.their_size)
            break;
    }
    if (r < 0) {
        if (rep.fork) {
            char ours[65], theirs[65];
            for (int i = 0; i < 32; i++) {
                snprintf(ours + 2 * i, 3, "%02x", rep.ours[i]);
                snprintf(theirs + 2 * i, 3, "%02x", rep.theirs[i]);
            }
            printf("fork\t%llu\t%s\tours %s\ttheirs %s\n", (unsigned long long)rep.fork_size,
                   rep.fork_exact ? "first" : "at-or-before", ours, theirs);
        }
        ppn_ledger_free(l);
        return tool_error("Failed to sync from '%s': %s (error %s)", from, rep.why, strerror(-r));
    }
    if (total)
        (void)ppn_ledger_export_nodes(l, NULL);
    printf("synced\t%llu entries\tsize %llu\t%llu round(s)\n", (unsigned long long)total,
           (unsigned long long)ppn_ledger_size(l), (unsigned long long)rounds);
    ppn_ledger_free(l);
    return 0;
}

/* ---- serve ---- */

struct conn {
    int fd;
    uint64_t deadline, started;
    uint8_t in[4 + PPN_LEDGER_SYNC_REQUEST_MAX];
    size_t got;
    uint8_t *out;
    size_t out_len, sent;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

/* The request is complete: answer from the ledger as it is now (opened afresh: appends by
 * other processes are seen). */
static int conn_answer(struct conn *c, const char *ledger_dir, size_t max)
{
    ppn_ledger *l = NULL;
    int r = ppn_ledger_open(ledger_dir, 0, &l);
    if (r < 0)
        return r;
    uint8_t *ans;
    size_t al;
    r = ppn_ledger_sync_answer(l, c->in + 4, c->got - 4, max, &ans, &al);
    ppn_ledger_free(l);
    if (r < 0)
        return r;
    c->out = malloc(4 + al);
    if (!c->out) {
        free(ans);
        return -ENOMEM;
    }
    put_be32(c->out, (uint32_t)al);
    memcpy(c->out + 4, ans, al);
    free(ans);
    c->out_len = 4 + al;
    return 0;
}

/* Progress on one connection; returns 1 when it is finished (close it). */
static int conn_step(struct conn *c, const char *ledger_dir, size_t max)
{
    if (!c->out) {
        size_t want = c->got < 4 ? 4 - c->got : 4 + (size_t)get_be32(c->in) - c->got;
        ssize_t n = recv(c->fd, c->in + c->got, want, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
        if (n < 0)
            return 0;
        c->got += (size_t)n;
        if (c->got >= 4) {
            uint32_t ql = get_be32(c->in);
            if (ql == 0 || ql > PPN_LEDGER_SYNC_REQUEST_MAX) {
                fprintf(stderr, "ppn-pair: dropped a request of %u bytes (the bound is %d)\n", ql,
                        PPN_LEDGER_SYNC_REQUEST_MAX);
                return 1;
            }
            if (c->got == 4 + ql) {
                int r = conn_answer(c, ledger_dir, max);
                if (r < 0) {
                    fprintf(stderr, "ppn-pair: refused a request: %s\n", strerror(-r));
                    return 1;
                }
            }
        }
        return 0;
    }
    ssize_t n = send(c->fd, c->out + c->sent, c->out_len - c->sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        return 1;
    if (n > 0)
        c->sent += (size_t)n;
    return c->sent == c->out_len;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"max-bytes", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL, *listen_addr = NULL;
    uint64_t max = PPN_LEDGER_SYNC_ANSWER_MAX;
    char why[TOOL_WHY_MAX];
    int c;
    while ((c = getopt_long(argc, argv, "s:l:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'l': listen_addr = optarg; break;
        case 'm':
            if (tool_parse_uint(optarg, 4096, PPN_LEDGER_SYNC_ANSWER_MAX, &max, why) < 0)
                return tool_usage_error(SERVE_USAGE, "--max-bytes: %s", why);
            break;
        case 'h':
            printf("Usage: ppn-pair " SERVE_USAGE "\n"
                   "Serve this node's ledger replica to members running 'ppn-pair sync' (on the mesh\n"
                   "address: the tunnel is the transport's protection).  Runs until SIGTERM or SIGINT.\n");
            return 0;
        default: return tool_usage_error(SERVE_USAGE, "unknown option (see --help)");
        }
    }
    if (tool_no_operands(argc, argv, optind, SERVE_USAGE))
        return 1;
    if (!state || !listen_addr)
        return tool_usage_error(SERVE_USAGE, "--state DIR and --listen ADDR:PORT are required");
    char host[256];
    uint16_t port;
    if (tool_parse_hostport(listen_addr, false, host, sizeof(host), &port, why) < 0)
        return tool_usage_error(SERVE_USAGE, "--listen: %s", why);
    struct node n;
    if (node_load(&n, state, true))
        return 1;
    node_wipe(&n);
    int lfd = -1;
    int r = tcp_open(listen_addr, true, 0, &lfd);
    if (r < 0)
        return tool_fail("listen on", listen_addr, r);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("serving\t%s\t%s\n", listen_addr, n.ledger_dir);
    fflush(stdout);
    struct conn conns[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++) {
        memset(&conns[i], 0, sizeof(conns[i]));
        conns[i].fd = -1;
    }
    while (!stop) {
        struct pollfd pf[MAX_CONNS + 1];
        /* At most 1 s, so that a signal that lands just before poll() is seen soon. */
        int idx[MAX_CONNS + 1], np = 0, timeout = 1000;
        pf[np].fd = lfd, pf[np].events = POLLIN, idx[np++] = -1;
        for (int i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd < 0)
                continue;
            pf[np].fd = conns[i].fd;
            pf[np].events = conns[i].out ? POLLOUT : POLLIN;
            idx[np++] = i;
            int t = left_ms(conns[i].deadline);
            if (t < timeout)
                timeout = t;
        }
        int pr = poll(pf, (nfds_t)np, timeout);
        if (pr < 0 && errno != EINTR) {
            r = -errno;
            break;
        }
        uint64_t now = now_ms();
        for (int k = 1; pr > 0 && k < np; k++)
            if (pf[k].revents && conn_step(&conns[idx[k]], n.ledger_dir, (size_t)max))
                conn_close(&conns[idx[k]]);
        for (int i = 0; i < MAX_CONNS; i++)
            if (conns[i].fd >= 0 && now >= conns[i].deadline)
                conn_close(&conns[i]); /* silence, a drip-feed or a reader that does not read */
        if (pr > 0 && (pf[0].revents & POLLIN)) {
            int fd;
            while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
                /* A free slot, else the oldest connection makes room. */
                int slot = -1, oldest = 0;
                for (int i = 0; i < MAX_CONNS; i++) {
                    if (conns[i].fd < 0) {
                        slot = i;
                        break;
                    }
                    if (conns[i].started < conns[oldest].started)
                        oldest = i;
                }
                if (slot < 0) {
                    conn_close(&conns[oldest]);
                    slot = oldest;
                }
                conns[slot].fd = fd;
                conns[slot].started = now_ms();
                conns[slot].deadline = conns[slot].started + CONN_DEADLINE_MS;
            }
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
    close(lfd);
    if (r < 0)
        return tool_fail("serve on", listen_addr, r);
    return 0;
}
