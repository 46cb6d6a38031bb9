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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ppn/ledger.h"
#include "handoff.h"
#include "hosts.h"
#include "pullres.h"
#include "syncloop.h"
#include "nudge.h"
#include "pair.h"
#include "notify.h"
#include "ppn-common.h"
#include "tool-util.h"

#define MAX_CONNS 16
#define CONN_DEADLINE_MS 10000
#define PULL_SYNC_MS 3000   /* one member's sync in a pull round */
#define PULL_ROUND_MS 60000 /* a pull round starts no sync after this */
#define PULL_TARGETS 64 /* members one pull worker syncs from, one after the other */
#define PULL_WORKERS 4  /* pull workers at once */
#define PULL_DEFAULT_MS 10000 /* the heartbeat interval: covers a lost nudge */
#define SYNC_USAGE "sync --state DIR --from HOST:PORT [--timeout SECONDS] [--max-bytes N]"
#define SERVE_USAGE                                                                                   \
    "serve --state DIR --listen ADDR:PORT [--max-bytes N] [--pull SECONDS] [--peer-port N] [--ifname IF] " \
    "[--listen-port N] [--hosts FILE]"

/* ---- sync (the client) ---- */

/* The transport of the sync rounds (tools/glue/syncloop.h): a request to 'from' (HOST:PORT,
 * userdata) over TCP, u32 length-framed both ways, and its answer. */
static int fetch_answer(void *ud, const uint8_t *req, size_t req_len, uint64_t deadline, size_t max,
                        uint8_t **ret_ans, size_t *ret_len, char *err, size_t errsize)
{
    const char *from = ud;
    int fd = -1;
    int r = tool_tcp_connect(from, deadline, false, &fd);
    if (r < 0) {
        snprintf(err, errsize, "connect: %s", strerror(-r));
        return r;
    }
    uint8_t q[4 + PPN_LEDGER_SYNC_REQUEST_MAX], hdr[4], *ans = NULL;
    if (req_len > PPN_LEDGER_SYNC_REQUEST_MAX)
        r = -EMSGSIZE;
    if (r == 0) {
        ppnc_put_be(q, (uint32_t)req_len, 4);
        memcpy(q + 4, req, req_len);
        r = tool_io_all(fd, true, q, 4 + req_len, deadline);
    }
    if (r == 0)
        r = tool_io_all(fd, false, hdr, 4, deadline);
    uint32_t al = r == 0 ? (uint32_t)ppnc_get_be(hdr, 4) : 0;
    if (r == 0 && (al == 0 || al > max)) {
        /* Refused on its announced length, before a byte of it is read. */
        close(fd);
        snprintf(err, errsize, "an answer of %u bytes (the bound is %llu)", al, (unsigned long long)max);
        return -EMSGSIZE;
    }
    if (r == 0 && !(ans = malloc(al)))
        r = -ENOMEM;
    if (r == 0)
        r = tool_io_all(fd, false, ans, al, deadline);
    close(fd);
    if (r < 0) {
        free(ans);
        snprintf(err, errsize, "receive the answer: %s", strerror(-r));
        return r;
    }
    *ret_ans = ans;
    *ret_len = al;
    return 0;
}

/* The rounds from 'from' into the writer handle 'l' within 'timeout_ms' (glue_sync_rounds). */
static int sync_from(ppn_ledger *l, const char *from, uint64_t timeout_ms, size_t max, uint64_t *ret_appended,
                     uint64_t *ret_rounds, struct ppn_ledger_sync_report *ret_rep, char *err, size_t errsize)
{
    return glue_sync_rounds(l, fetch_answer, (void *)from, ppnc_now_mono_ms() + timeout_ms, max, ret_appended,
                            ret_rounds, ret_rep, err, errsize);
}

/* A node left pending by a hand-off completes (or learns it was not recorded) by syncing its
 * pending ledger from the administrator (handoff.c judges the outcome). */
static int sync_pending(const struct node *n, const struct glue_pending *p, const char *from, uint64_t timeout_ms,
                        size_t max)
{
    ppn_ledger *l = NULL;
    int r = ppn_ledger_open(p->ledger_dir, PPN_LEDGER_OPEN_WRITE, &l);
    if (r < 0)
        return tool_fail("open the pending ledger", p->ledger_dir, r);
    uint64_t total = 0, rounds = 0;
    struct ppn_ledger_sync_report rep = {0};
    char err[256] = "", why[700] = "";
    r = sync_from(l, from, timeout_ms, max, &total, &rounds, &rep, err, sizeof(err));
    if (r < 0 && err[0]) {
        ppn_ledger_free(l);
        return tool_error("Failed to sync from '%s': %s; this node is still pending", from, err);
    }
    int k = pending_judge(n, p, l, r, &rep, why, sizeof(why));
    if (k == 1) {
        printf("completed\tadmitted by %s at entry %llu\n", p->admin_hostname, (unsigned long long)p->index);
        return 0;
    }
    if (k < 0)
        return tool_error("Failed to complete the hand-off: %s", why);
    return tool_error("Failed to complete the hand-off from '%s': %s; this node is still pending", from, why);
}

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
    int r0;
    if (node_load(&n, state, false)) /* the sync needs no secret, but completing a hand-off cosigns */
        return 1;
    struct glue_pending pend;
    if (access(n.ledger_dir, F_OK) != 0) {
        (void)pending_expire(&n);
        if (pending_load(&n, &pend) == 0) {
            /* the identity key cosigns the checkpoint once the hand-off completes */
            r0 = sync_pending(&n, &pend, from, timeout_ms, (size_t)max);
            node_wipe(&n);
            return r0;
        }
        node_wipe(&n);
        char st[32], text[700];
        pairing_state(&n, st, sizeof(st), text, sizeof(text));
        if (strcmp(st, "not-admitted") == 0)
            return tool_error("Failed to sync: this node is %s", text);
    }
    if (node_load(&n, state, true))
        return 1;
    node_wipe(&n);
    ppn_ledger *l = NULL;
    int r = ppn_ledger_open(n.ledger_dir, PPN_LEDGER_OPEN_WRITE, &l);
    if (r < 0)
        return tool_fail("open ledger", n.ledger_dir, r);
    uint64_t total = 0, rounds = 0;
    struct ppn_ledger_sync_report rep = {0};
    char err[256] = "";
    r = sync_from(l, from, timeout_ms, (size_t)max, &total, &rounds, &rep, err, sizeof(err));
    if (r < 0 && err[0]) {
        ppn_ledger_free(l);
        return tool_error("Failed to sync from '%s': %s", from, err);
    }
    if (r < 0) {
        if (rep.fork) { /* the evidence for scripts (doc/ppn-pair.md) */
            char ours[65], theirs[65];
            sodium_bin2hex(ours, sizeof(ours), rep.ours, 32);
            sodium_bin2hex(theirs, sizeof(theirs), rep.theirs, 32);
            printf("fork\t%llu\t%s\tours %s\ttheirs %s\n", (unsigned long long)rep.fork_size,
                   rep.fork_exact ? "first" : "at-or-before", ours, theirs);
        }
        ppn_ledger_free(l);
        char *t = NULL;
        if (ppn_ledger_sync_report_format(r, &rep, &t) < 0)
            return tool_fail("sync from", from, r);
        t[strcspn(t, "\n")] = 0;
        tool_error("Failed to sync from '%s': %s", from, t);
        free(t);
        return 1;
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

/* The hook for a node left pending by a hand-off (handoff.c): before serving, pull its pending
 * replica from the administrator's mesh address every 'pull_ms' until the hand-off completes
 * (then serve as a member) or rolls back (then exit 1).  With --ifname the tunnel to the
 * administrator comes from the pending replica first.  0 when there is nothing pending. */
static int complete_pending(const char *state, uint16_t peer_port, uint64_t pull_ms, const char *ifname,
                            unsigned wg_port, size_t max)
{
    struct node n;
    struct glue_pending p;
    if (node_load(&n, state, false))
        return 1;
    if (access(n.ledger_dir, F_OK) == 0 || (pending_expire(&n), pending_load(&n, &p)) < 0) {
        node_wipe(&n);
        return 0;
    }
    if (ifname) {
        struct node pn = n;
        snprintf(pn.ledger_dir, sizeof(pn.ledger_dir), "%s", p.ledger_dir);
        (void)mesh_apply(&pn, ifname, wg_port, true);
    }
    /* the identity key stays: completing cosigns the checkpoint (the administrator's signal) */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    char from[96];
    snprintf(from, sizeof(from), "%s:%u", p.admin_mesh, peer_port);
    printf("pending\tcompleting through sync from %s\n", from);
    fflush(stdout);
    while (!stop) {
        ppn_ledger *l = NULL;
        int r = ppn_ledger_open(p.ledger_dir, PPN_LEDGER_OPEN_WRITE, &l);
        if (r == 0) {
            uint64_t total = 0, rounds = 0;
            struct ppn_ledger_sync_report rep = {0};
            char err[256] = "", why[700] = "";
            r = sync_from(l, from, PULL_SYNC_MS, max, &total, &rounds, &rep, err, sizeof(err));
            if (r < 0 && err[0]) {
                ppn_ledger_free(l);
                if (pending_expire(&n) == 1) {
                    node_wipe(&n);
                    return tool_error("Failed to complete the hand-off: past its bound with no answer from %s; "
                                      "rolled back, pair again", from);
                }
            } else {
                int k = pending_judge(&n, &p, l, r, &rep, why, sizeof(why));
                if (k != 0)
                    node_wipe(&n);
                if (k == 1) {
                    printf("completed\tadmitted by %s at entry %llu\n", p.admin_hostname,
                           (unsigned long long)p.index);
                    fflush(stdout);
                    return 0;
                }
                if (k < 0)
                    return tool_error("Failed to complete the hand-off: %s", why);
            }
        }
        for (uint64_t t = 0; t < pull_ms && !stop; t += 100)
            usleep(100000);
    }
    node_wipe(&n);
    return tool_error("stopped while this node is pending");
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
    ppnc_put_be(c->out, (uint32_t)al, 4);
    memcpy(c->out + 4, ans, al);
    free(ans);
    c->out_len = 4 + al;
    return 0;
}

/* Progress on one connection; returns 1 when it is finished (close it). */
static int conn_step(struct conn *c, const char *ledger_dir, size_t max)
{
    if (!c->out) {
        size_t want = c->got < 4 ? 4 - c->got : 4 + (size_t)(uint32_t)ppnc_get_be(c->in, 4) - c->got;
        ssize_t n = recv(c->fd, c->in + c->got, want, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return 1;
        if (n < 0)
            return 0;
        c->got += (size_t)n;
        if (c->got >= 4) {
            uint32_t ql = (uint32_t)ppnc_get_be(c->in, 4);
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

/* ---- the mesh keeping itself current: pull, WireGuard, names ---- */

struct puller {
    const struct node *n;
    uint16_t peer_port;
    const char *ifname, *hosts;
    size_t max;
    uint16_t wg_port;
    struct last_err {
        uint64_t ticket;
        char msg[800];
    } last_err[64]; /* per member (ticket % 64): the last failure shown (shown again only when it changes) */
};

/* After a change: cosign what this node now holds, and WireGuard and the hosts block follow
 * the ledger as it is now.  'appended' entries came with the change (0: a local one). */
static void follow(struct puller *p, uint64_t appended)
{
    ppn_ledger *l = NULL;
    int r = ppn_ledger_open(p->n->ledger_dir, 0, &l);
    if (r < 0)
        return;
    if (appended) {
        printf("pulled\t%llu entries\tsize %llu\n", (unsigned long long)appended,
               (unsigned long long)ppn_ledger_size(l));
        fflush(stdout);
    }
    /* cosign the checkpoint this node now holds (verified when it was adopted) */
    ppn_ledger *w = NULL;
    if ((r = ppn_ledger_open_wait(p->n->ledger_dir, PPN_LEDGER_OPEN_WRITE, 1000, &w)) == 0) {
        r = ppn_ledger_cosign(w, p->n->id_sk, (uint64_t)time(NULL));
        if (r < 0 && r != -EPERM && r != -ENOENT)
            fprintf(stderr, "ppn-pair serve: cannot cosign the checkpoint: %s\n", strerror(-r));
        ppn_ledger_free(w);
    }
    if (p->hosts && (r = glue_hosts_write(p->hosts, l)) < 0)
        fprintf(stderr, "ppn-pair serve: cannot write %s: %s\n", p->hosts, strerror(-r));
    ppn_ledger_free(l);
    if (p->ifname)
        (void)mesh_apply(p->n, p->ifname, p->wg_port, true);
    fflush(stdout);
}

/* The pulls run in child processes, so that serving never waits on them (two members pulling
 * from each other at once would otherwise each wait for the other); a member that does not
 * answer delays only the pulls in the same child.  At most PULL_WORKERS at once, each with the
 * members the engine handed out (PULL_TARGETS at most); a child past its bound is killed. */
struct pull_child {
    pid_t pid;
    int fd;
    uint64_t deadline;
    bool force, first;
    ppn_ledger_replica_pull t[PULL_TARGETS];
    size_t nt;
    char buf[PULL_TARGETS * 700];
    size_t len;
};

/* In the child: sync from each of its members at its mesh address; WireGuard and the hosts
 * block follow after each pull that brought something (a member that does not answer then
 * delays nothing learnt before it), and once at the end when 'force'.  Each result goes to
 * the parent as "ticket TAB result TAB message" (result 1 learnt, 0 up to date, else the
 * negative errno; message empty when it worked). */
static void pull_round(struct puller *p, const struct pull_child *pc, int report_fd)
{
    bool applied = false;
    /* one round has PULL_ROUND_MS: members past it are not reported, so they are retried */
    uint64_t round_end = ppnc_now_mono_ms() + PULL_ROUND_MS;
    for (size_t i = 0; i < pc->nt && ppnc_now_mono_ms() < round_end; i++) {
        const ppn_ledger_replica_pull *t = &pc->t[i];
        char addr[96];
        snprintf(addr, sizeof(addr), "%s:%u", t->address, p->peer_port);
        if (strchr(t->address, ':')) /* IPv6 */
            snprintf(addr, sizeof(addr), "[%s]:%u", t->address, p->peer_port);
        uint64_t app = 0;
        struct ppn_ledger_sync_report rep = {0};
        char err[500] = "";
        int r = glue_sync_pull(p->n->ledger_dir, fetch_answer, addr, ppnc_now_mono_ms() + PULL_SYNC_MS, p->max, &app,
                               &rep, err, sizeof(err));
        if (app) {
            follow(p, app);
            applied = true;
        }
        char *said = NULL; /* the answer's refusal, with a fork's evidence (size, both roots) */
        if (r < 0 && !err[0] && ppn_ledger_sync_report_format(r, &rep, &said) == 0) {
            said[strcspn(said, "\n")] = 0;
            snprintf(err, sizeof(err), "refused: %s", said);
            free(said);
        }
        /* the parent logs changes only */
        char what[GLUE_PULL_LINE_MAX], line[GLUE_PULL_LINE_MAX];
        snprintf(what, sizeof(what), "%.200s (%.40s): %.400s", t->name, addr, err);
        size_t len = glue_pull_line(line, t->ticket, r < 0 ? r : app ? 1 : 0, r < 0 ? what : NULL);
        (void)tool_write_all(report_fd, line, len);
    }
    if (pc->force && !applied)
        follow(p, 0);
    fflush(stdout);
}

static int pull_start(struct puller *p, struct pull_child *pc)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(fds[0]);
        close(fds[1]);
        return r;
    }
    if (pid == 0) {
        close(fds[0]);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        pull_round(p, pc, fds[1]);
        fflush(stdout);
        _exit(0);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    pc->pid = pid;
    pc->fd = fds[0];
    pc->len = 0;
    /* the round's own budget, one sync's timeout, and the WireGuard and hosts updates */
    pc->deadline = ppnc_now_mono_ms() + PULL_ROUND_MS + PULL_SYNC_MS + 10000;
    return 0;
}

/* Reads what the child reported; when it is done, tells the engine each result (a member
 * not reported has failed: it is retried) and logs each member whose state changed (a
 * failure once, not every round).  Returns true while the child runs. */
static bool pull_poll(struct puller *p, struct pull_child *pc, ppn_ledger_replica *engine)
{
    if (pc->pid <= 0)
        return false;
    for (;;) {
        ssize_t n = read(pc->fd, pc->buf + pc->len, sizeof(pc->buf) - 1 - pc->len);
        if (n > 0) {
            pc->len += (size_t)n;
            if (pc->len < sizeof(pc->buf) - 1)
                continue;
        }
        break;
    }
    int st;
    pid_t w = waitpid(pc->pid, &st, WNOHANG);
    if (w == 0 && ppnc_now_mono_ms() < pc->deadline)
        return true;
    if (w == 0) {
        kill(pc->pid, SIGKILL);
        waitpid(pc->pid, &st, 0);
        fprintf(stderr, "ppn-pair serve: a pull round ran past its bound and was stopped\n");
    }
    close(pc->fd);
    pc->pid = 0;
    pc->buf[pc->len] = '\0';
    uint64_t now = ppnc_now_mono_ms();
    bool seen[PULL_TARGETS] = {false};
    for (char *line = strtok(pc->buf, "\n"); line; line = strtok(NULL, "\n")) {
        uint64_t ticket;
        int result;
        const char *text;
        if (glue_pull_parse(line, &ticket, &result, &text) < 0)
            continue;
        for (size_t i = 0; i < pc->nt; i++)
            if (pc->t[i].ticket == ticket && !seen[i]) {
                seen[i] = true;
                (void)ppn_ledger_replica_done(engine, ticket, result, now);
            }
        struct last_err *last = &p->last_err[ticket % 64];
        if (last->ticket != ticket)
            last->ticket = ticket, last->msg[0] = '\0';
        if (text[0] && strcmp(text, last->msg) != 0)
            fprintf(stderr, "ppn-pair serve: pull from %s\n", text);
        snprintf(last->msg, sizeof(last->msg), "%s", text);
    }
    for (size_t i = 0; i < pc->nt; i++)
        if (!seen[i])
            (void)ppn_ledger_replica_done(engine, pc->t[i].ticket, -ETIMEDOUT, now);
    pc->nt = 0;
    return false;
}

static void settled_line(void *ud, const char *line)
{
    (void)ud;
    printf("%s\n", line);
}

/* An administrator's hand-off records ('STATE/handoff/') that a node's cosignature, now in
 * this ledger, has settled are cleared here, not only by 'ppn-pair status'. */
static void settle_handoffs(const struct node *n)
{
    ppn_ledger *l = NULL;
    if (ppn_ledger_open(n->ledger_dir, 0, &l) < 0)
        return;
    handoff_settle(n, l, settled_line, NULL);
    ppn_ledger_free(l);
    fflush(stdout);
}

int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"max-bytes", required_argument, NULL, 'm'},
        {"pull", required_argument, NULL, 'P'},
        {"peer-port", required_argument, NULL, 'o'},
        {"ifname", required_argument, NULL, 'i'},
        {"hosts", required_argument, NULL, 'H'},
        {"listen-port", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL, *listen_addr = NULL, *ifname = NULL, *hosts = NULL;
    uint64_t max = PPN_LEDGER_SYNC_ANSWER_MAX, pull_ms = PULL_DEFAULT_MS, peer_port = 0, wg_port = 51820;
    char why[TOOL_WHY_MAX];
    int c;
    while ((c = getopt_long(argc, argv, "s:l:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'l': listen_addr = optarg; break;
        case 'P':
            if (tool_parse_seconds_ms(optarg, 0, 3600000, &pull_ms, why) < 0)
                return tool_usage_error(SERVE_USAGE, "--pull: %s", why);
            break;
        case 'o':
            if (tool_parse_uint(optarg, 1, 65535, &peer_port, why) < 0)
                return tool_usage_error(SERVE_USAGE, "--peer-port: %s", why);
            break;
        case 'i':
            if (tool_check_ifname(optarg, why) < 0)
                return tool_usage_error(SERVE_USAGE, "--ifname: %s", why);
            ifname = optarg;
            break;
        case 'H': hosts = optarg; break;
        case 'w':
            if (tool_parse_uint(optarg, 1, 65535, &wg_port, why) < 0)
                return tool_usage_error(SERVE_USAGE, "--listen-port: %s", why);
            break;
        case 'm':
            if (tool_parse_uint(optarg, 4096, PPN_LEDGER_SYNC_ANSWER_MAX, &max, why) < 0)
                return tool_usage_error(SERVE_USAGE, "--max-bytes: %s", why);
            break;
        case 'h':
            printf("Usage: ppn-pair " SERVE_USAGE "\n"
                   "Serve this node's ledger replica to members running 'ppn-pair sync' (on the mesh\n"
                   "address: the tunnel is the transport's protection).  Runs until SIGTERM or SIGINT.\n"
                   "  --pull S       every S seconds (default 10; 0: serve only) sync from every other\n"
                   "                 member at its mesh address and --peer-port (default: the --listen\n"
                   "                 port), so that an entry appended anywhere reaches this node by\n"
                   "                 itself; between pulls, nudges (UDP on the same address and port)\n"
                   "                 bring a change to every member at once\n"
                   "  --ifname IF    after every change WireGuard follows the ledger (as 'mesh'),\n"
                   "                 with --listen-port N (default 51820)\n"
                   "  --hosts FILE   after every change the members' names in a managed block of\n"
                   "                 FILE (e.g. /etc/hosts): name -> mesh address\n");
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
    if ((ifname || hosts) && !pull_ms)
        return tool_usage_error(SERVE_USAGE, "--ifname and --hosts follow the pulls: not with --pull 0");
    if (pull_ms && complete_pending(state, peer_port ? (uint16_t)peer_port : port, pull_ms, ifname,
                                    (unsigned)wg_port, (size_t)max))
        return 1;
    struct node n;
    if (node_load(&n, state, true))
        return 1;
    if (!pull_ms)
        node_wipe(&n); /* only the pulls (cosigning) and WireGuard need secrets */
    struct puller pl = {.n = &n, .peer_port = peer_port ? (uint16_t)peer_port : port, .ifname = ifname,
                        .hosts = hosts, .max = (size_t)max, .wg_port = (uint16_t)wg_port};
    int lfd = -1;
    int r = tool_tcp_listen(listen_addr, 64, &lfd);
    if (r < 0)
        return tool_fail("listen on", listen_addr, r);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("serving\t%s\t%s\n", listen_addr, n.ledger_dir);
    fflush(stdout);
    if (!pull_ms) /* systemd (Type=notify): ready once listening, or after the first pull round */
        (void)tool_notify_ready("serving");
    struct conn conns[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++) {
        memset(&conns[i], 0, sizeof(conns[i]));
        conns[i].fd = -1;
    }
    bool apply_pending = false;
    size_t first_left = 0; /* workers of the first round still running */
    struct pull_child *pc = calloc(PULL_WORKERS, sizeof(*pc));
    struct nudge nd = {.ufd = -1, .ifd = -1};
    bool nudging = false;
    if (!pc) {
        close(lfd);
        node_wipe(&n);
        return tool_fail("serve on", listen_addr, -ENOMEM);
    }
    if (pull_ms) {
        /* the nudges: UDP on the listening address, the ledger directory watched; the engine's
         * first round (every member) is due now */
        r = nudge_open(&nd, host, port, n.ledger_dir, n.id_pk, pl.peer_port, pull_ms, ppnc_now_mono_ms());
        if (r < 0) {
            free(pc);
            close(lfd);
            node_wipe(&n);
            return tool_fail("listen for nudges on", listen_addr, r);
        }
        nudging = true;
        nudge_send_all(&nd); /* whatever this node holds that the others lack */
        settle_handoffs(&n);
    }
    bool first = nudging, ready_sent = !nudging;
    while (!stop) {
        size_t running = 0;
        for (size_t w = 0; w < PULL_WORKERS; w++) {
            bool was_first = pc[w].pid > 0 && pc[w].first;
            if (pull_poll(&pl, &pc[w], nd.engine))
                running++;
            else if (was_first)
                first_left--;
        }
        if (!ready_sent && !first && !first_left) {
            (void)tool_notify_ready("serving; first pull round done");
            ready_sent = true;
        }
        uint64_t now = ppnc_now_mono_ms();
        int changed = nudging ? nudge_process(&nd, now) : 0;
        if (changed & PPN_LEDGER_REPLICA_CHECKPOINT)
            apply_pending = true; /* our checkpoint changed: WireGuard and names follow */
        if (changed) /* something learnt (entries or cosignatures): hand-offs it settles */
            settle_handoffs(&n);
        /* the pulls the engine says are due, into free workers */
        for (size_t w = 0; nudging && w < PULL_WORKERS; w++) {
            if (pc[w].pid > 0)
                continue;
            pc[w].nt = 0;
            while (pc[w].nt < PULL_TARGETS && ppn_ledger_replica_next(nd.engine, now, &pc[w].t[pc[w].nt]) == 1)
                pc[w].nt++;
            if (!pc[w].nt && !apply_pending && !first)
                break;
            pc[w].force = first || apply_pending;
            pc[w].first = first;
            if (pull_start(&pl, &pc[w]) < 0) {
                for (size_t i = 0; i < pc[w].nt; i++)
                    (void)ppn_ledger_replica_done(nd.engine, pc[w].t[i].ticket, -EAGAIN, now);
                pc[w].nt = 0;
                break;
            }
            running++;
            first_left += first;
            apply_pending = false;
            if (pc[w].nt < PULL_TARGETS)
                first = false; /* the first round fitted into the workers started so far */
        }
        struct pollfd pf[MAX_CONNS + 3];
        /* At most 1 s, so that a signal that lands just before poll() is seen soon; 50 ms while
         * pulls run (their end is seen by waitpid). */
        int idx[MAX_CONNS + 3], np = 0, timeout = running ? 50 : 1000;
        bool idle_worker = false;
        for (size_t w = 0; w < PULL_WORKERS; w++)
            idle_worker |= pc[w].pid <= 0;
        if (nudging && idle_worker) { /* with every worker busy, a pull due waits for one */
            int w = ppn_ledger_replica_timeout(nd.engine, now);
            if (w >= 0 && w < timeout)
                timeout = w;
        }
        pf[np].fd = lfd, pf[np].events = POLLIN, idx[np++] = -1;
        if (nudging)
            for (size_t k = nudge_pollfds(&nd, pf + np); k; k--)
                idx[np++] = -2;
        for (int i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd < 0)
                continue;
            pf[np].fd = conns[i].fd;
            pf[np].events = conns[i].out ? POLLOUT : POLLIN;
            idx[np++] = i;
            int t = tool_left_ms(conns[i].deadline);
            if (t < timeout)
                timeout = t;
        }
        int pr = poll(pf, (nfds_t)np, timeout);
        if (pr < 0 && errno != EINTR) {
            r = -errno;
            break;
        }
        now = ppnc_now_mono_ms();
        for (int k = 1; pr > 0 && k < np; k++)
            if (idx[k] >= 0 && pf[k].revents && conn_step(&conns[idx[k]], n.ledger_dir, (size_t)max))
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
                conns[slot].started = ppnc_now_mono_ms();
                conns[slot].deadline = conns[slot].started + CONN_DEADLINE_MS;
            }
        }
    }
    (void)tool_notify_stopping();
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
    close(lfd);
    for (size_t w = 0; w < PULL_WORKERS; w++)
        if (pc[w].pid > 0) {
            kill(pc[w].pid, SIGTERM);
            waitpid(pc[w].pid, NULL, 0);
            close(pc[w].fd);
        }
    free(pc);
    if (nudging)
        nudge_close(&nd);
    node_wipe(&n);
    if (r < 0)
        return tool_fail("serve on", listen_addr, r);
    return 0;
}
