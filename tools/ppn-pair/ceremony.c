/* The pairing ceremony over TCP, in both directions of the seeds:
 *
 *   join --listen / admit --connect     the new node shows the code, the administrator types it
 *   admit --listen (invite) / join --join --connect
 *                                       the administrator shows the code, the new node types it
 *                                       (the direction for a node that accepts no connection)
 *
 * The side that listens shows the code and is the session's responder; the side that connects
 * types it (never in argv) and is the initiator.  A connection whose first bytes are not a
 * well-formed first message of the protocol is dropped and is not an attempt.  After the SAS,
 * the hand-off (handoff.c) runs inside the session's encrypted channel: the administrator
 * appends the node-join entry only after the new node verified and stored the replica. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ppn/crypto.h"
#include "ppn/ledger.h"
#include "pair.h"
#include "notify.h"
#include "ppn-common.h"
#include "tool-util.h"

#define PROBE_MAX 8        /* connections waiting to show a first message */
#define PROBE_MS 10000     /* each has this long to send it */
#define HANDOFF_GRACE_S 30 /* the hand-off after the window, at most (and at most the window) */

/* ---- small I/O helpers ---------------------------------------------------- */

static int copy_text(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    if (len >= size)
        return -ENAMETOOLONG;
    memcpy(dst, src, len + 1);
    return 0;
}

/* Asks the operator to compare the SAS while still listening to the peer:
 * if the other operator declines (or the peer fails) first, the question
 * ends at once with the session's error.  Returns 1 accept, 0 decline, or
 * the session's negative error. */
static int ask_sas(ppn_crypto_session *s, int fd, const char *sas)
{
    fprintf(stderr, "Does the other console show %s? [y/N] ", sas);
    fflush(stderr);
    char line[16];
    size_t n = 0;
    bool stdin_open = true;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
        uint64_t left = ppn_crypto_session_remaining_ms(s);
        int pr = poll(p, stdin_open ? 2 : 1, left > INT32_MAX ? INT32_MAX : (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        int r = ppn_crypto_session_check_deadline(s);
        if (r < 0)
            return r;
        if (pr < 0)
            return -errno;
        if (p[0].revents) {
            uint8_t buf[4096];
            ssize_t k = read(fd, buf, sizeof(buf));
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                return k < 0 ? -errno : -ECONNRESET;
            r = ppn_crypto_session_feed(s, buf, (size_t)k);
            if (r < 0) {
                fputc('\n', stderr);
                return r;
            }
        }
        if (stdin_open && p[1].revents) {
            char c;
            ssize_t k = read(STDIN_FILENO, &c, 1);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0 || c == '\n') {
                line[n] = 0;
                if (n && line[n - 1] == '\r')
                    line[--n] = 0;
                return !strcmp(line, "y") || !strcmp(line, "Y") || !strcmp(line, "yes");
            }
            if (n + 1 < sizeof(line))
                line[n++] = c;
        }
    }
}

/* Waits on the listening socket until 'deadline' for a connection whose first bytes are a
 * well-formed first message (ppn_crypto_session_probe).  Connections that send anything else,
 * stay silent past PROBE_MS or are the oldest of more than PROBE_MAX are closed: none of them
 * is an attempt.  0 with *ret_fd (blocking) and the bytes read so far in first[0..*first_len). */
static int await_attempt(int lfd, uint64_t deadline, int *ret_fd, uint8_t *first, size_t first_size,
                         size_t *first_len, unsigned *ret_dropped)
{
    struct probe {
        int fd;
        uint64_t since;
        size_t len;
        uint8_t buf[1100];
    } *pr = calloc(PROBE_MAX, sizeof(*pr));
    if (!pr)
        return -ENOMEM;
    size_t np = 0;
    unsigned dropped = 0;
    int r = -ETIMEDOUT;
    while (tool_left_ms(deadline) > 0) {
        struct pollfd pfd[PROBE_MAX + 1];
        pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
        uint64_t now = ppnc_now_mono_ms(), wait = (uint64_t)tool_left_ms(deadline);
        for (size_t i = 0; i < np; i++) {
            pfd[1 + i] = (struct pollfd){.fd = pr[i].fd, .events = POLLIN};
            uint64_t end = pr[i].since + PROBE_MS;
            uint64_t left = end > now ? end - now : 0;
            if (left < wait)
                wait = left;
        }
        int n = poll(pfd, 1 + np, wait > 1000 ? 1000 : (int)wait);
        if (n < 0 && errno != EINTR) {
            r = -errno;
            break;
        }
        uint64_t cur = ppnc_now_mono_ms();
        /* probes: read, judge, expire */
        for (size_t i = 0; i < np;) {
            bool drop = cur >= pr[i].since + PROBE_MS;
            if (!drop && n > 0 && pfd[1 + i].revents) {
                ssize_t k = recv(pr[i].fd, pr[i].buf + pr[i].len, sizeof(pr[i].buf) - pr[i].len, MSG_DONTWAIT);
                if (k <= 0 && !(k < 0 && (errno == EAGAIN || errno == EINTR)))
                    drop = true;
                else if (k > 0) {
                    pr[i].len += (size_t)k;
                    size_t fl;
                    int pv = ppn_crypto_session_probe(pr[i].buf, pr[i].len, &fl);
                    if (pv == 0 && pr[i].len <= first_size) {
                        /* an attempt: this connection is the ceremony */
                        memcpy(first, pr[i].buf, pr[i].len);
                        *first_len = pr[i].len;
                        *ret_fd = pr[i].fd;
                        int fl2 = fcntl(pr[i].fd, F_GETFL);
                        fcntl(pr[i].fd, F_SETFL, fl2 & ~O_NONBLOCK);
                        pr[i].fd = -1;
                        r = 0;
                        goto out;
                    }
                    if (pv != -EAGAIN)
                        drop = true;
                }
            }
            if (drop) {
                close(pr[i].fd);
                dropped++;
                pr[i] = pr[--np];
                pfd[1 + i] = pfd[1 + np];
                continue;
            }
            i++;
        }
        if (n > 0 && (pfd[0].revents & POLLIN)) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd >= 0) {
                if (np == PROBE_MAX) { /* the oldest makes room: idle connections lock no one out */
                    close(pr[0].fd);
                    dropped++;
                    memmove(pr, pr + 1, (PROBE_MAX - 1) * sizeof(*pr));
                    np--;
                }
                pr[np].fd = fd;
                pr[np].since = cur;
                pr[np].len = 0;
                np++;
            }
        }
    }
out:
    for (size_t i = 0; i < np; i++)
        if (pr[i].fd >= 0)
            close(pr[i].fd);
    free(pr);
    *ret_dropped = dropped;
    return r;
}

/* Close so that the peer still reads what we sent last (an ABORT saying why):
 * a plain close() with the peer still writing answers it with a reset, and
 * a reset throws away the data the peer had not read yet. */
static void close_gracefully(int fd, uint64_t deadline)
{
    shutdown(fd, SHUT_WR);
    /* at most 2 s, and not past the deadline by more than 0.2 s: no process outlives its window */
    uint64_t left = (uint64_t)tool_left_ms(deadline);
    left = left > 2000 ? 2000 : left < 200 ? 200 : left;
    struct timeval tv = {.tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    uint64_t end = ppnc_now_mono_ms() + left;
    char buf[512];
    for (int i = 0; i < 64 && ppnc_now_mono_ms() < end; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0 && !(n < 0 && errno == EINTR))
            break;
    }
    close(fd);
}

/* ---- the ceremony common to both roles ------------------------------------- */

static void print_record(const char *what, const ppn_crypto_node_record *rec)
{
    char b64[PPN_CRYPTO_KEY_B64_LEN + 1];
    ppn_crypto_key_to_base64(rec->identity_public, b64);
    printf("%s\t%s\t%s\t%s\t%s\n", what, rec->hostname, rec->endpoint[0] ? rec->endpoint : "-",
           rec->address[0] ? rec->address : "-", b64);
}

static const char *session_reason(int r)
{
    const char *text = ppn_crypto_session_error_text(r);
    return text ? text : strerror(-r);
}

/* A failure of the session, said as what it is: the peer's unauthenticated ABORT is its word. */
static int pair_failed(ppn_crypto_session *s, int r)
{
    if (ppn_crypto_session_peer_aborted(s))
        return tool_error("Failed to pair: the peer ended the ceremony; it says (unauthenticated): %s",
                          session_reason(r));
    return tool_error("Failed to pair: %s", session_reason(r));
}

/* Runs the session on 'fd' up to DONE with the operator's SAS confirmation.
 * Prints the failure; returns 0 with the peer's record, or 1. */
static int run_ceremony(ppn_crypto_session *s, int fd, bool assume_yes, ppn_crypto_node_record *peer)
{
    int r = ppn_crypto_session_run_fd(s, fd, PPN_CRYPTO_SESSION_SAS_READY);
    if (r < 0)
        return pair_failed(s, r);
    char sas[PPN_CRYPTO_SAS_STRING_SIZE];
    r = ppn_crypto_session_sas(s, sas);
    if (r < 0)
        return pair_failed(s, r);
    printf("SAS\t%s\n", sas);
    fflush(stdout);
    int accept = 1;
    if (!assume_yes) {
        accept = ask_sas(s, fd, sas);
        if (accept < 0) {
            ppn_crypto_session_run_fd(s, fd, PPN_CRYPTO_SESSION_DONE); /* flush our ABORT */
            return pair_failed(s, accept);
        }
    }
    r = ppn_crypto_session_confirm(s, accept == 1);
    if (r < 0 && r != -ECANCELED)
        return pair_failed(s, r);
    r = ppn_crypto_session_run_fd(s, fd, PPN_CRYPTO_SESSION_DONE);
    if (r < 0)
        return pair_failed(s, r);
    r = ppn_crypto_session_peer_record(s, peer);
    if (r < 0)
        return pair_failed(s, r);
    return 0;
}

/* ---- argument checks (before any code is shown or anything is written) ---- */

#define JOIN_USAGE                                                                                      \
    "join --state DIR (--listen ADDR:PORT | --join [-] --connect HOST:PORT) [--endpoint HOST:PORT] "   \
    "[--hostname NAME] [--address CIDR] [--ifname IF [--listen-port N]] [--symbols N] [--timeout SECONDS] [--yes]"
#define ADMIT_USAGE                                                                                     \
    "admit --state DIR (--connect HOST:PORT | --listen ADDR:PORT [--symbols N]) [--ifname IF [--listen-port N]] " \
    "[--timeout SECONDS] [--yes]"
#define INVITE_USAGE                                                                                    \
    "invite --state DIR --listen ADDR:PORT [--symbols N] [--ifname IF [--listen-port N]] [--timeout SECONDS] [--yes]"

int opt_uint(const char *usage, const char *opt, const char *s, unsigned min, unsigned max, unsigned *ret)
{
    char why[TOOL_WHY_MAX];
    uint64_t v;
    if (tool_parse_uint(s, min, max, &v, why) < 0)
        return tool_usage_error(usage, "%s: %s", opt, why);
    *ret = (unsigned)v;
    return 0;
}

/* --listen-port N (1..65535) and --symbols N (the code's length), the options several commands
 * share; 'given' (may be NULL) says the option was there. */
int opt_port(const char *usage, const char *s, unsigned *ret, bool *given)
{
    if (given)
        *given = true;
    return opt_uint(usage, "--listen-port", s, 1, 65535, ret);
}

int opt_symbols(const char *usage, const char *s, unsigned *ret, bool *given)
{
    *given = true;
    return opt_uint(usage, "--symbols", s, PPN_CRYPTO_CODE_MIN_SYMBOLS, PPN_CRYPTO_CODE_MAX_SYMBOLS, ret);
}

/* The address to listen on or connect to, the endpoint and the interface
 * options, all before anything happens. */
int check_addr_opts(const char *usage, const char *addr, bool listening, const char *endpoint,
                    const char *ifname, bool port_given, const char *addr_opt)
{
    char why[TOOL_WHY_MAX], host[256];
    uint16_t port;
    if (tool_parse_hostport(addr, listening, host, sizeof(host), &port, why) < 0)
        return tool_usage_error(usage, "%s: %s", addr_opt, why);
    if (endpoint && *endpoint && tool_parse_hostport(endpoint, false, host, sizeof(host), &port, why) < 0)
        return tool_usage_error(usage, "--endpoint: %s", why);
    if (ifname && tool_check_ifname(ifname, why) < 0)
        return tool_usage_error(usage, "--ifname: %s", why);
    if (port_given && !ifname)
        return tool_usage_error(usage, "--listen-port needs --ifname");
    return 0;
}


/* ---- the ceremony in either direction -------------------------------------- */

struct cer {
    bool listening;          /* shows the code, responder; else types it, initiator */
    const char *addr;        /* --listen or --connect */
    const char *code_holder; /* who shows the code, for the prompt */
    unsigned timeout_s, symbols;
    bool yes;
    ppn_crypto_node_record local;
};

/* Reads the code at the prompt (terminal or stdin, never argv).  0, or 1 after printing. */
static int read_code(const char *holder, char code[PPN_CRYPTO_CODE_CANONICAL_SIZE])
{
    char typed[64], prompt[96];
    snprintf(prompt, sizeof(prompt), "Pairing code shown on the %s: ", holder);
    int len = tool_read_secret_line(STDIN_FILENO, prompt, typed, sizeof(typed));
    size_t pos = 0;
    int r = len < 0 ? len : ppn_crypto_code_parse(typed, (size_t)len, PPN_CRYPTO_CODE_CHECK, code, &pos);
    sodium_memzero(typed, sizeof(typed));
    if (r >= 0)
        return 0;
    if (len < 0)
        return tool_fail("read", "pairing code", len);
    /* Positions count from 1 as people do; the character itself is not echoed (it is part of
     * a secret). */
    if (r == -EILSEQ)
        return tool_error("Failed to read the pairing code: the check symbol (position %zu) does not match, "
                          "a typing error; nothing was sent, type it again", pos + 1);
    if (r == -EMSGSIZE)
        return tool_error("Failed to read the pairing code: it needs %d to %d symbols; nothing was sent",
                          PPN_CRYPTO_CODE_MIN_SYMBOLS, PPN_CRYPTO_CODE_MAX_SYMBOLS);
    if (r == -EBADMSG)
        return tool_error("Failed to read the pairing code: the character at position %zu is not in the "
                          "code alphabet; nothing was sent, type it again", pos + 1);
    return tool_fail("parse", "pairing code", r);
}

/* Runs the ceremony up to DONE.  0 with the session, its connection, the hand-off's deadline
 * (monotonic ms) and the peer's record; 1 after printing. */
static int cer_run(struct cer *c, ppn_crypto_session **ret_s, int *ret_fd, uint64_t *ret_deadline,
                   ppn_crypto_node_record *peer)
{
    ppn_crypto_session *s = NULL;
    int fd = -1, r;
    uint64_t start;
    if (c->listening) {
        int lfd = -1;
        r = tool_tcp_listen(c->addr, 16, &lfd);
        if (r < 0)
            return tool_fail("listen on", c->addr, r);
        char code[PPN_CRYPTO_CODE_STRING_SIZE];
        r = ppn_crypto_code_generate(c->symbols, PPN_CRYPTO_CODE_CHECK, code, sizeof(code));
        if (r >= 0)
            r = ppn_crypto_session_new(&s, PPN_CRYPTO_ROLE_RESPONDER, code, PPN_CRYPTO_CODE_CHECK, &c->local,
                                       (uint64_t)c->timeout_s * 1000);
        if (r < 0) {
            sodium_memzero(code, sizeof(code));
            close(lfd);
            return tool_fail("start", "pairing session", r);
        }
        start = ppnc_now_mono_ms();
        /* The code goes to the console (the operator reads it out), nowhere else. */
        printf("code\t%s\n", code);
        char shown[300];
        snprintf(shown, sizeof(shown), "%s", c->addr);
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char h[INET6_ADDRSTRLEN], pt[8];
        if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0 &&
            getnameinfo((struct sockaddr *)&ss, sl, h, sizeof(h), pt, sizeof(pt), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
            snprintf(shown, sizeof(shown), ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h, pt); /* the real port */
        printf("listening\t%s\twindow %u s, one attempt\n", shown, c->timeout_s);
        fflush(stdout);
        (void)tool_notify_ready("showing the code"); /* ppn-pairing.service (Type=notify) */
        sodium_memzero(code, sizeof(code));
        uint8_t first[1100];
        size_t flen = 0;
        unsigned dropped = 0;
        r = await_attempt(lfd, start + (uint64_t)c->timeout_s * 1000, &fd, first, sizeof(first), &flen, &dropped);
        close(lfd);
        if (dropped) {
            printf("ignored\t%u connection(s) that did not speak the protocol\n", dropped);
            fflush(stdout);
        }
        if (r < 0) {
            ppn_crypto_session_free(s);
            return tool_error("Failed to pair: %s", r == -ETIMEDOUT ? "no peer started the ceremony within the "
                                                                      "window; the code has expired"
                                                                    : strerror(-r));
        }
        r = ppn_crypto_session_feed(s, first, flen);
        sodium_memzero(first, sizeof(first));
    } else {
        char code[PPN_CRYPTO_CODE_CANONICAL_SIZE];
        if (read_code(c->code_holder, code))
            return 1;
        /* 'code' is canonical now, its check symbol verified and removed. */
        r = ppn_crypto_session_new(&s, PPN_CRYPTO_ROLE_INITIATOR, code, 0, &c->local, (uint64_t)c->timeout_s * 1000);
        sodium_memzero(code, sizeof(code));
        if (r < 0)
            return tool_fail("start", "pairing session", r);
        start = ppnc_now_mono_ms();
        r = tool_tcp_connect(c->addr, start + (uint64_t)c->timeout_s * 1000, true, &fd);
        if (r < 0) {
            ppn_crypto_session_free(s);
            return tool_fail("connect to", c->addr, r);
        }
    }
    if (r == 0)
        r = run_ceremony(s, fd, c->yes, peer) ? -EPROTO : 0;
    else
        r = pair_failed(s, r) ? -EPROTO : 0;
    if (r < 0) {
        (void)ppn_crypto_session_flush_fd(s, fd, 1000);
        ppn_crypto_session_free(s);
        close_gracefully(fd, ppnc_now_mono_ms() + 2000);
        return 1;
    }
    unsigned grace = c->timeout_s < HANDOFF_GRACE_S ? c->timeout_s : HANDOFF_GRACE_S;
    *ret_deadline = start + (uint64_t)(c->timeout_s + grace) * 1000;
    *ret_s = s;
    *ret_fd = fd;
    return 0;
}

/* ---- join (the new node) --------------------------------------------------- */

int cmd_join(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
        {"connect", required_argument, NULL, 'C'},
        {"join", no_argument, NULL, 'J'},
        {"endpoint", required_argument, NULL, 'e'},
        {"hostname", required_argument, NULL, 'n'},
        {"address", required_argument, NULL, 'a'},
        {"ifname", required_argument, NULL, 'i'},
        {"listen-port", required_argument, NULL, 'p'},
        {"symbols", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL, *listen_addr = NULL, *connect_addr = NULL, *endpoint = "", *address = "",
               *ifname = NULL;
    char hostname[256] = "";
    unsigned port = 51820, symbols = PPN_CRYPTO_CODE_DEFAULT_SYMBOLS, timeout_s = 600;
    bool yes = false, port_given = false, join_code = false, symbols_given = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:l:C:Je:n:a:i:p:c:t:yh", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'l': listen_addr = optarg; break;
        case 'C': connect_addr = optarg; break;
        case 'J': join_code = true; break;
        case 'e': endpoint = optarg; break;
        case 'n': snprintf(hostname, sizeof(hostname), "%s", optarg); break;
        case 'a': address = optarg; break;
        case 'i': ifname = optarg; break;
        case 'p': if (opt_port(JOIN_USAGE, optarg, &port, &port_given)) return 1; break;
        case 'c': if (opt_symbols(JOIN_USAGE, optarg, &symbols, &symbols_given)) return 1; break;
        case 't': if (opt_uint(JOIN_USAGE, "--timeout", optarg, 1, 3600, &timeout_s)) return 1; break;
        case 'y': yes = true; break;
        case 'h':
            printf("Usage: ppn-pair join --state DIR --listen ADDR:PORT [--endpoint HOST:PORT] [--hostname NAME]\n"
                   "                     [--address CIDR] [--ifname IF [--listen-port N]] [--symbols N]\n"
                   "                     [--timeout SECONDS] [--yes]\n"
                   "       ppn-pair join --state DIR --join [-] --connect HOST:PORT [same options but --symbols]\n"
                   "With --listen: show a one-time pairing code and wait (600 s by default) for an\n"
                   "administrator to run 'ppn-pair admit --connect' with it.  With --join: the\n"
                   "administrator ran 'ppn-pair invite' (admit --listen) and shows the code; type it\n"
                   "at the prompt (or give it on stdin: '--join -'; never on the command line) and\n"
                   "this node connects (it needs to accept no connection).  Both consoles then show\n"
                   "the same SAS; the operator confirms it here (stdin) unless --yes.  The replica\n"
                   "arrives inside the session, is verified and stored as pending, and this node is a\n"
                   "member once the administrator has recorded it ('ppn-pair status' says where it is).\n");
            return 0;
        default: return tool_usage_error(JOIN_USAGE, "unknown option (see --help)");
        }
    }
    /* '--join -': the code comes on stdin, as with '--join' alone.  Anything else after --join
     * would be the code in argv, where other users of the machine can read it. */
    if (join_code && optind < argc && strcmp(argv[optind], "-") == 0)
        optind++;
    if (join_code && optind < argc)
        return tool_usage_error(JOIN_USAGE, "the code is never given on the command line (other users can read "
                                            "it there): type it at the prompt, or pipe it with '--join -'");
    if (tool_no_operands(argc, argv, optind, JOIN_USAGE))
        return 1;
    if (!state)
        return tool_usage_error(JOIN_USAGE, "--state DIR is required");
    if (join_code ? (!connect_addr || listen_addr) : (!listen_addr || connect_addr))
        return tool_usage_error(JOIN_USAGE, join_code ? "--join needs --connect HOST:PORT (and no --listen)"
                                                      : "--listen ADDR:PORT is required (or --join --connect)");
    if (join_code && symbols_given)
        return tool_usage_error(JOIN_USAGE, "--symbols is for the side that shows the code");
    if (check_addr_opts(JOIN_USAGE, join_code ? connect_addr : listen_addr, !join_code, endpoint, ifname, port_given,
                        join_code ? "--connect" : "--listen"))
        return 1;
    if (!hostname[0] && gethostname(hostname, sizeof(hostname)) < 0)
        return tool_fail("read", "hostname", -errno);

    struct node n;
    if (node_load(&n, state, false))
        return 1;
    if (handoff_node_ready(&n)) {
        node_wipe(&n);
        return 1;
    }

    struct cer cr = {.listening = !join_code, .addr = join_code ? connect_addr : listen_addr,
                     .code_holder = "administering node", .timeout_s = timeout_s, .symbols = symbols, .yes = yes};
    memcpy(cr.local.identity_public, n.id_pk, 32);
    memcpy(cr.local.wg_public, n.wg_pk, 32);
    int r = 0;
    if (copy_text(cr.local.endpoint, sizeof(cr.local.endpoint), endpoint) < 0 ||
        copy_text(cr.local.hostname, sizeof(cr.local.hostname), hostname) < 0 ||
        copy_text(cr.local.address, sizeof(cr.local.address), address) < 0)
        r = -ENAMETOOLONG;
    else
        r = ppn_crypto_node_record_validate(&cr.local);
    if (r < 0) {
        node_wipe(&n);
        return tool_error("this node's record is not valid (hostname, endpoint or address): %s", strerror(-r));
    }

    ppn_crypto_session *s = NULL;
    int fd = -1;
    uint64_t deadline;
    ppn_crypto_node_record admin;
    if (cer_run(&cr, &s, &fd, &deadline, &admin)) {
        node_wipe(&n);
        return 1;
    }
    print_record("admin", &admin);
    fflush(stdout);
    r = handoff_node(s, fd, &n, &admin, deadline, timeout_s, ifname, port);
    (void)ppn_crypto_session_flush_fd(s, fd, (uint64_t)tool_left_ms(deadline));
    ppn_crypto_session_free(s);
    close_gracefully(fd, deadline);
    if (r == 0 && ifname)
        r = mesh_apply(&n, ifname, port, false);
    node_wipe(&n);
    return r ? 1 : 0;
}

/* ---- admit / invite (the administrator) ------------------------------------ */

static int admit_main(int argc, char **argv, bool invite)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"connect", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"ifname", required_argument, NULL, 'i'},
        {"listen-port", required_argument, NULL, 'p'},
        {"symbols", required_argument, NULL, 'S'},
        {"timeout", required_argument, NULL, 't'},
        {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *usage = invite ? INVITE_USAGE : ADMIT_USAGE;
    const char *state = NULL, *connect_addr = NULL, *listen_addr = NULL, *ifname = NULL;
    unsigned port = 51820, timeout_s = 600, symbols = PPN_CRYPTO_CODE_DEFAULT_SYMBOLS;
    bool yes = false, port_given = false, symbols_given = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:c:l:i:p:S:t:yh", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'c': connect_addr = optarg; break;
        case 'l': listen_addr = optarg; break;
        case 'i': ifname = optarg; break;
        case 'p': if (opt_port(usage, optarg, &port, &port_given)) return 1; break;
        case 'S': if (opt_symbols(usage, optarg, &symbols, &symbols_given)) return 1; break;
        case 't': if (opt_uint(usage, "--timeout", optarg, 1, 3600, &timeout_s)) return 1; break;
        case 'y': yes = true; break;
        case 'h':
            printf("Usage: ppn-pair admit --state DIR --connect HOST:PORT [--ifname IF [--listen-port N]]\n"
                   "                      [--timeout SECONDS] [--yes]\n"
                   "       ppn-pair invite --state DIR --listen ADDR:PORT [--symbols N] [--ifname IF\n"
                   "                      [--listen-port N]] [--timeout SECONDS] [--yes]\n"
                   "                      (the same as 'admit --listen')\n"
                   "Admit a node into the mesh.  With --connect: the joining node shows a code; type\n"
                   "it at the prompt (terminal or stdin, never the command line; a mistyped code is\n"
                   "reported before any network traffic).  With --listen (invite): this node shows\n"
                   "the code and waits for 'ppn-pair join --join --connect'.  After the SAS is\n"
                   "confirmed on both consoles, the replica and a prepared node-join entry go to the\n"
                   "node inside the session; the entry is appended only after the node has verified\n"
                   "and stored them, then a checkpoint is signed and sent as the final part.\n");
            return 0;
        default: return tool_usage_error(usage, "unknown option (see --help)");
        }
    }
    if (tool_no_operands(argc, argv, optind, usage))
        return 1;
    if (!state)
        return tool_usage_error(usage, "--state DIR is required");
    if (invite ? (!listen_addr || connect_addr) : !(!!listen_addr ^ !!connect_addr))
        return tool_usage_error(usage, invite ? "--listen ADDR:PORT is required" : "--connect HOST:PORT (or --listen ADDR:PORT) is required, one of them");
    if (symbols_given && !listen_addr)
        return tool_usage_error(usage, "--symbols is for the side that shows the code (--listen)");
    if (check_addr_opts(usage, listen_addr ? listen_addr : connect_addr, listen_addr != NULL, NULL, ifname, port_given,
                        listen_addr ? "--listen" : "--connect"))
        return 1;

    struct node n;
    ppn_ledger *l;
    if (node_open_ledger(&n, state, &l))
        return 1;
    struct cer cr = {.listening = listen_addr != NULL, .addr = listen_addr ? listen_addr : connect_addr,
                     .code_holder = "joining node", .timeout_s = timeout_s, .symbols = symbols, .yes = yes};
    if (handoff_admin_ready(&n, l, &cr.local)) {
        ppn_ledger_free(l);
        node_wipe(&n);
        return 1;
    }

    ppn_crypto_session *s = NULL;
    int fd = -1;
    uint64_t deadline;
    ppn_crypto_node_record peer;
    if (cer_run(&cr, &s, &fd, &deadline, &peer)) {
        ppn_ledger_free(l);
        node_wipe(&n);
        return 1;
    }
    print_record("joining", &peer);
    fflush(stdout);
    struct ppn_ledger_member before;
    bool was_member = ppn_ledger_member_find(l, peer.identity_public, &before) == 0;
    int r = handoff_admin(s, fd, &n, l, &peer, deadline);
    (void)ppn_crypto_session_flush_fd(s, fd, (uint64_t)tool_left_ms(deadline));
    ppn_crypto_session_free(s);
    close_gracefully(fd, deadline);
    /* Recorded (even if the node did not confirm): WireGuard follows, so that the node's tunnel
     * comes up and its sync completes the hand-off. */
    bool recorded = !was_member && ppn_ledger_member_find(l, peer.identity_public, &before) == 0;
    ppn_ledger_free(l);
    if (recorded && ifname && mesh_apply(&n, ifname, port, false))
        r = 1;
    node_wipe(&n);
    return r ? 1 : 0;
}

int cmd_admit(int argc, char **argv)
{
    return admit_main(argc, argv, false);
}

int cmd_invite(int argc, char **argv)
{
    return admit_main(argc, argv, true);
}
