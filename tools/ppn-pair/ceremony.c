/* The pairing ceremony over TCP: 'join' on the new node, 'admit' on an
 * administrator.
 *
 *   join                                   admit
 *   code shown on the console   ------>    operator types it (never argv)
 *         <======= libppn-crypto session over TCP =======>
 *   SAS shown, operator confirms           SAS shown, operator confirms
 *                                          appends the node-join entry, signs a
 *                                          checkpoint, exports nodes.jsonl
 *   <------ ledger replica (entries, tree, checkpoint) ------
 *   verifies it against the admin key the
 *   ceremony authenticated; installs it
 *   ------ "OK" or an errno ------------------------------>
 *   both: WireGuard peers from the ledger (with --ifname)
 *
 * The replica is not secret; it is authenticated by its signatures: every
 * entry is signed and authorised (checked when the ledger opens and by a
 * full verification), and the checkpoint over the whole tree must be signed
 * by the administrator whose identity key the ceremony authenticated. */
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
#include "tool-util.h"

#define TRANSFER_TIMEOUT_S 60

/* ---- small I/O helpers ---------------------------------------------------- */

static int read_exact(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? -ETIMEDOUT : -errno;
        if (n == 0)
            return -ECONNRESET;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = v << 8 | p[i];
    return v;
}

static void set_io_timeout(int fd, unsigned seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

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

static int split_host_port(const char *s, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon = strrchr(s, ':');
    if (!colon || !colon[1])
        return -EINVAL;
    const char *h = s, *he = colon;
    if (*h == '[') {
        h++;
        if (he[-1] != ']')
            return -EINVAL;
        he--;
    }
    if ((size_t)(he - h) >= hsize || strlen(colon + 1) >= psize)
        return -EINVAL;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = 0;
    strcpy(port, colon + 1);
    return 0;
}

static int tcp_socket(const char *addr, bool listen_side, int *ret_fd)
{
    char host[256], port[16];
    if (split_host_port(addr, host, sizeof(host), port, sizeof(port)) < 0)
        return -EINVAL;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = listen_side ? AI_PASSIVE : 0}, *res;
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (g != 0)
        return -EHOSTUNREACH;
    int r = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        int one = 1;
        if (listen_side) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0) {
                *ret_fd = fd;
                r = 0;
                break;
            }
        } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            *ret_fd = fd;
            r = 0;
            break;
        }
        r = -errno;
        close(fd);
    }
    freeaddrinfo(res);
    return r;
}

/* Close so that the peer still reads what we sent last (an ABORT saying why):
 * a plain close() with the peer still writing answers it with a reset, and
 * a reset throws away the data the peer had not read yet. */
static void close_gracefully(int fd)
{
    shutdown(fd, SHUT_WR);
    set_io_timeout(fd, 2);
    char buf[512];
    for (int i = 0; i < 64; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0 && !(n < 0 && errno == EINTR))
            break;
    }
    close(fd);
}

/* ---- ledger replica transfer (the bundle format and its checks: libppn-ledger) ---- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads one bundle from 'fd' into *ret_buf within 'timeout_s' in all (a drip-feed cannot
 * stretch it), never more than PPN_LEDGER_BUNDLE_MAX bytes.  A malformed start is refused at
 * once (report filled). */
static int recv_bundle(int fd, unsigned timeout_s, uint8_t **ret_buf, size_t *ret_len,
                       struct ppn_ledger_bundle_report *rep)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;
    size_t len = 0, cap = 0;
    uint8_t *buf = NULL;
    uint64_t need = 0;
    int r;
    while ((r = ppn_ledger_bundle_need(buf, len, &need, rep)) == -EAGAIN || (r == 0 && need > len)) {
        /* Read up to what is known to be needed (headers are read as they come). */
        if (need > cap) {
            size_t nc = cap ? cap : 65536;
            while (nc < need)
                nc *= 2;
            if (nc > PPN_LEDGER_BUNDLE_MAX)
                nc = PPN_LEDGER_BUNDLE_MAX;
            uint8_t *nb = realloc(buf, nc);
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            buf = nb;
            cap = nc;
        }
        uint64_t now = now_ms();
        if (now >= deadline) {
            r = -ETIMEDOUT;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(deadline - now > INT32_MAX ? INT32_MAX : deadline - now));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            r = pr == 0 ? -ETIMEDOUT : -errno;
            break;
        }
        ssize_t got = read(fd, buf + len, (size_t)need - len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0) {
            r = got == 0 ? -ECONNRESET : -errno;
            break;
        }
        len += (size_t)got;
    }
    if (r < 0) {
        free(buf);
        return r;
    }
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

/* The replica must hold this node with its keys and the administrator as the member the
 * ceremony showed. */
struct accept_ctx {
    const ppn_crypto_node_record *admin;
    const struct node *self;
};

static int accept_replica(void *userdata, ppn_ledger *l, char *why, size_t why_size)
{
    const struct accept_ctx *c = userdata;
    struct ppn_ledger_member m;
    if (ppn_ledger_member_find(l, c->self->id_pk, &m) < 0 || memcmp(m.wg_key, c->self->wg_pk, 32) != 0) {
        snprintf(why, why_size, "it does not admit this node with its WireGuard key");
        return -EPROTO;
    }
    if (ppn_ledger_member_find(l, c->admin->identity_public, &m) < 0 ||
        memcmp(m.wg_key, c->admin->wg_public, 32) != 0) {
        snprintf(why, why_size, "it does not hold the administrator as the member the ceremony showed");
        return -EPROTO;
    }
    return 0;
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
    switch (-r) {
    case EACCES: return "the code was wrong or a message was forged; this code is now used up";
    case ECANCELED: return "an operator declined the SAS";
    case ETIMEDOUT: return "the ceremony window expired";
    case EBADMSG: return "the peer sent a malformed message";
    case EPROTO: return "the peer broke the protocol";
    case ECONNRESET: return "the peer closed the connection";
    default: return strerror(-r);
    }
}

/* Runs the session on 'fd' up to DONE with the operator's SAS confirmation.
 * Prints the failure; returns 0 with the peer's record, or 1. */
static int run_ceremony(ppn_crypto_session *s, int fd, bool assume_yes, ppn_crypto_node_record *peer)
{
    int r = ppn_crypto_session_run_fd(s, fd, PPN_CRYPTO_SESSION_SAS_READY);
    if (r < 0)
        return tool_error("Failed to pair: %s", session_reason(r));
    char sas[PPN_CRYPTO_SAS_STRING_SIZE];
    r = ppn_crypto_session_sas(s, sas);
    if (r < 0)
        return tool_error("Failed to pair: %s", session_reason(r));
    printf("SAS\t%s\n", sas);
    fflush(stdout);
    int accept = 1;
    if (!assume_yes) {
        accept = ask_sas(s, fd, sas);
        if (accept < 0) {
            ppn_crypto_session_run_fd(s, fd, PPN_CRYPTO_SESSION_DONE); /* flush our ABORT */
            return tool_error("Failed to pair: %s", session_reason(accept));
        }
    }
    r = ppn_crypto_session_confirm(s, accept == 1);
    if (r < 0 && r != -ECANCELED)
        return tool_error("Failed to pair: %s", session_reason(r));
    r = ppn_crypto_session_run_fd(s, fd, PPN_CRYPTO_SESSION_DONE);
    if (r < 0)
        return tool_error("Failed to pair: %s", session_reason(r));
    r = ppn_crypto_session_peer_record(s, peer);
    if (r < 0)
        return tool_error("Failed to pair: %s", session_reason(r));
    return 0;
}

/* ---- argument checks (before any code is shown or anything is written) ---- */

#define JOIN_USAGE                                                                                      \
    "join --state DIR --listen ADDR:PORT [--endpoint HOST:PORT] [--hostname NAME] [--address CIDR] "   \
    "[--ifname IF [--listen-port N]] [--symbols N] [--timeout SECONDS] [--yes]"
#define ADMIT_USAGE "admit --state DIR --connect HOST:PORT [--ifname IF [--listen-port N]] [--timeout SECONDS] [--yes]"

int opt_uint(const char *usage, const char *opt, const char *s, unsigned min, unsigned max, unsigned *ret)
{
    char why[TOOL_WHY_MAX];
    uint64_t v;
    if (tool_parse_uint(s, min, max, &v, why) < 0)
        return tool_usage_error(usage, "%s: %s", opt, why);
    *ret = (unsigned)v;
    return 0;
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

/* ---- join (the new node) --------------------------------------------------- */

int cmd_join(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"listen", required_argument, NULL, 'l'},
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
    const char *state = NULL, *listen_addr = NULL, *endpoint = "", *address = "", *ifname = NULL;
    char hostname[256] = "";
    unsigned port = 51820, symbols = PPN_CRYPTO_CODE_DEFAULT_SYMBOLS, timeout_s = 600;
    bool yes = false, port_given = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:l:e:n:a:i:p:c:t:yh", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'l': listen_addr = optarg; break;
        case 'e': endpoint = optarg; break;
        case 'n': snprintf(hostname, sizeof(hostname), "%s", optarg); break;
        case 'a': address = optarg; break;
        case 'i': ifname = optarg; break;
        case 'p':
            port_given = true;
            if (opt_uint(JOIN_USAGE, "--listen-port", optarg, 1, 65535, &port))
                return 1;
            break;
        case 'c':
            if (opt_uint(JOIN_USAGE, "--symbols", optarg, PPN_CRYPTO_CODE_MIN_SYMBOLS, PPN_CRYPTO_CODE_MAX_SYMBOLS,
                         &symbols))
                return 1;
            break;
        case 't': if (opt_uint(JOIN_USAGE, "--timeout", optarg, 1, 3600, &timeout_s)) return 1; break;
        case 'y': yes = true; break;
        case 'h':
            printf("Usage: ppn-pair join --state DIR --listen ADDR:PORT [--endpoint HOST:PORT] [--hostname NAME]\n"
                   "                     [--address CIDR] [--ifname IF [--listen-port N]] [--symbols N]\n"
                   "                     [--timeout SECONDS] [--yes]\n"
                   "Show a one-time pairing code and wait (600 s by default) for an administrator\n"
                   "to run 'ppn-pair admit' with it.  Both consoles then show the same SAS; the\n"
                   "operator confirms it here (stdin) unless --yes.  On success the ledger replica\n"
                   "is verified and installed in DIR/ledger and, with --ifname, WireGuard is set up.\n");
            return 0;
        default: return tool_usage_error(JOIN_USAGE, "unknown option (see --help)");
        }
    }
    if (tool_no_operands(argc, argv, optind, JOIN_USAGE))
        return 1;
    if (!state || !listen_addr)
        return tool_usage_error(JOIN_USAGE, "--state DIR and --listen ADDR:PORT are required");
    if (check_addr_opts(JOIN_USAGE, listen_addr, true, endpoint, ifname, port_given, "--listen"))
        return 1;
    if (!hostname[0] && gethostname(hostname, sizeof(hostname)) < 0)
        return tool_fail("read", "hostname", -errno);

    struct node n;
    if (node_load(&n, state, false))
        return 1;
    if (access(n.ledger_dir, F_OK) == 0) {
        node_wipe(&n);
        return tool_error("this node already holds a ledger in '%s': it is a member; use 'ppn-pair mesh'",
                          n.ledger_dir);
    }

    ppn_crypto_node_record local = {0};
    memcpy(local.identity_public, n.id_pk, 32);
    memcpy(local.wg_public, n.wg_pk, 32);
    int r = 0;
    if (copy_text(local.endpoint, sizeof(local.endpoint), endpoint) < 0 ||
        copy_text(local.hostname, sizeof(local.hostname), hostname) < 0 ||
        copy_text(local.address, sizeof(local.address), address) < 0)
        r = -ENAMETOOLONG;
    else
        r = ppn_crypto_node_record_validate(&local);
    if (r < 0) {
        node_wipe(&n);
        return tool_error("this node's record is not valid (hostname, endpoint or address): %s", strerror(-r));
    }

    int lfd = -1;
    r = tcp_socket(listen_addr, true, &lfd);
    if (r < 0) {
        node_wipe(&n);
        return tool_fail("listen on", listen_addr, r);
    }

    char code[PPN_CRYPTO_CODE_STRING_SIZE];
    r = ppn_crypto_code_generate(symbols, PPN_CRYPTO_CODE_CHECK, code, sizeof(code));
    if (r < 0) {
        close(lfd);
        node_wipe(&n);
        return r == -EINVAL ? tool_error("--symbols must be %d to %d", PPN_CRYPTO_CODE_MIN_SYMBOLS,
                                         PPN_CRYPTO_CODE_MAX_SYMBOLS)
                            : tool_fail("generate", "pairing code", r);
    }
    ppn_crypto_session *s = NULL;
    r = ppn_crypto_session_new(&s, PPN_CRYPTO_ROLE_RESPONDER, code, PPN_CRYPTO_CODE_CHECK, &local,
                               (uint64_t)timeout_s * 1000);
    if (r < 0) {
        sodium_memzero(code, sizeof(code));
        close(lfd);
        node_wipe(&n);
        return tool_fail("start", "pairing session", r);
    }
    /* The code goes to the console (the operator reads it out), nowhere else. */
    printf("code\t%s\n", code);
    printf("listening\t%s\twindow %u s, one attempt\n", listen_addr, timeout_s);
    fflush(stdout);
    (void)tool_notify_ready("showing the code"); /* ppn-pairing.service (Type=notify) */
    sodium_memzero(code, sizeof(code));

    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    uint64_t left = ppn_crypto_session_remaining_ms(s);
    int pr;
    do
        pr = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
    while (pr < 0 && errno == EINTR);
    int fd = pr > 0 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
    close(lfd);
    if (fd < 0) {
        ppn_crypto_session_free(s);
        node_wipe(&n);
        return tool_error("Failed to pair: %s", pr == 0 ? "no administrator connected within the window; "
                                                          "the code has expired"
                                                        : strerror(errno));
    }

    ppn_crypto_node_record admin;
    r = run_ceremony(s, fd, yes, &admin);
    ppn_crypto_session_free(s);
    if (r) {
        close_gracefully(fd);
        node_wipe(&n);
        return 1;
    }
    print_record("admin", &admin);

    /* The replica: verified against the authenticated admin key and installed by the
     * library; the admin learns the outcome. */
    char why[300] = "";
    struct ppn_ledger_bundle_report brep;
    uint8_t *bundle = NULL;
    size_t blen = 0;
    r = recv_bundle(fd, TRANSFER_TIMEOUT_S, &bundle, &blen, &brep);
    if (r < 0) {
        snprintf(why, sizeof(why), "receiving it failed: %s", r == -EBADMSG || r == -E2BIG ? brep.why : strerror(-r));
    } else {
        struct accept_ctx ctx = {.admin = &admin, .self = &n};
        r = ppn_ledger_bundle_install(bundle, blen, n.ledger_dir, admin.identity_public, accept_replica, &ctx,
                                      &brep);
        if (r < 0)
            snprintf(why, sizeof(why), "%s", brep.why);
    }
    free(bundle);
    if (r == 0) {
        ppn_ledger *l = NULL;
        if (ppn_ledger_open(n.ledger_dir, PPN_LEDGER_OPEN_WRITE, &l) == 0) {
            ppn_ledger_export_nodes(l, NULL);
            ppn_ledger_free(l);
        }
    }
    uint8_t ack[5] = {r == 0 ? 'K' : 'E'};
    put_be(ack + 1, (uint32_t)-r, 4);
    tool_write_all(fd, ack, sizeof(ack));
    close_gracefully(fd);
    if (r < 0) {
        node_wipe(&n);
        return tool_error("Failed to accept the administrator's ledger: %s", why);
    }
    struct ppn_ledger_member me;
    ppn_ledger *l = NULL;
    if (ppn_ledger_open(n.ledger_dir, 0, &l) == 0 && ppn_ledger_member_find(l, n.id_pk, &me) == 0)
        printf("joined\t%s\t%s\n", ppn_ledger_origin(l), me.mesh);
    ppn_ledger_free(l);
    r = ifname ? mesh_apply(&n, ifname, port, false) : 0;
    node_wipe(&n);
    return r ? 1 : 0;
}

/* ---- admit (the administrator) --------------------------------------------- */

int cmd_admit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"connect", required_argument, NULL, 'c'},
        {"ifname", required_argument, NULL, 'i'},
        {"listen-port", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},
        {"yes", no_argument, NULL, 'y'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL, *connect_addr = NULL, *ifname = NULL;
    unsigned port = 51820, timeout_s = 600;
    bool yes = false, port_given = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:c:i:p:t:yh", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'c': connect_addr = optarg; break;
        case 'i': ifname = optarg; break;
        case 'p':
            port_given = true;
            if (opt_uint(ADMIT_USAGE, "--listen-port", optarg, 1, 65535, &port))
                return 1;
            break;
        case 't': if (opt_uint(ADMIT_USAGE, "--timeout", optarg, 1, 3600, &timeout_s)) return 1; break;
        case 'y': yes = true; break;
        case 'h':
            printf("Usage: ppn-pair admit --state DIR --connect HOST:PORT [--ifname IF [--listen-port N]]\n"
                   "                      [--timeout SECONDS] [--yes]\n"
                   "Admit the node that shows a pairing code.  The code is read from the terminal\n"
                   "(or stdin), never from the command line; a mistyped code is reported before\n"
                   "any network traffic.  After the SAS is confirmed on both consoles, the node is\n"
                   "recorded in the ledger, a checkpoint is signed and the replica is sent to it.\n");
            return 0;
        default: return tool_usage_error(ADMIT_USAGE, "unknown option (see --help)");
        }
    }
    if (tool_no_operands(argc, argv, optind, ADMIT_USAGE))
        return 1;
    if (!state || !connect_addr)
        return tool_usage_error(ADMIT_USAGE, "--state DIR and --connect HOST:PORT are required");
    if (check_addr_opts(ADMIT_USAGE, connect_addr, false, NULL, ifname, port_given, "--connect"))
        return 1;

    struct node n;
    if (node_load(&n, state, true))
        return 1;
    ppn_ledger *l = NULL;
    int r = ppn_ledger_open(n.ledger_dir, PPN_LEDGER_OPEN_WRITE, &l);
    if (r < 0) {
        node_wipe(&n);
        return tool_fail("open ledger", n.ledger_dir, r);
    }
    struct ppn_ledger_member self;
    if (ppn_ledger_member_find(l, n.id_pk, &self) < 0 ||
        ppn_ledger_has_capability(l, n.id_pk, PPN_LEDGER_CAP_ADMIN, NULL) <= 0) {
        ppn_ledger_free(l);
        node_wipe(&n);
        return tool_error("this node is not an administrator of the mesh in '%s'", n.ledger_dir);
    }

    char typed[64], code[PPN_CRYPTO_CODE_CANONICAL_SIZE];
    int len = tool_read_secret_line(STDIN_FILENO, "Pairing code shown on the joining node: ", typed, sizeof(typed));
    size_t pos = 0;
    r = len < 0 ? len : ppn_crypto_code_parse(typed, (size_t)len, PPN_CRYPTO_CODE_CHECK, code, &pos);
    sodium_memzero(typed, sizeof(typed));
    if (r < 0) {
        ppn_ledger_free(l);
        node_wipe(&n);
        if (len < 0)
            return tool_fail("read", "pairing code", len);
        /* Positions count from 1 as people do; the character itself is not
         * echoed (it is part of a secret). */
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

    ppn_crypto_node_record local = {0};
    memcpy(local.identity_public, n.id_pk, 32);
    memcpy(local.wg_public, n.wg_pk, 32);
    if (copy_text(local.endpoint, sizeof(local.endpoint), self.endpoint) < 0 ||
        copy_text(local.hostname, sizeof(local.hostname), self.hostname) < 0 ||
        copy_text(local.address, sizeof(local.address), self.mesh) < 0) {
        ppn_ledger_free(l);
        node_wipe(&n);
        return tool_error("this node's ledger record does not fit a pairing record");
    }

    ppn_crypto_session *s = NULL;
    /* 'code' is canonical now, its check symbol verified and removed. */
    r = ppn_crypto_session_new(&s, PPN_CRYPTO_ROLE_INITIATOR, code, 0, &local,
                               (uint64_t)timeout_s * 1000);
    sodium_memzero(code, sizeof(code));
    if (r < 0) {
        ppn_ledger_free(l);
        node_wipe(&n);
        return tool_fail("start", "pairing session", r);
    }
    int fd = -1;
    r = tcp_socket(connect_addr, false, &fd);
    if (r < 0) {
        ppn_crypto_session_free(s);
        ppn_ledger_free(l);
        node_wipe(&n);
        return tool_fail("connect to", connect_addr, r);
    }
    ppn_crypto_node_record peer;
    r = run_ceremony(s, fd, yes, &peer);
    ppn_crypto_session_free(s);
    if (r)
        goto fail;
    print_record("joining", &peer);

    struct ppn_ledger_member existing;
    if (ppn_ledger_member_find(l, peer.identity_public, &existing) == 0) {
        r = tool_error("'%s' is already a member (mesh address %s); nothing recorded", existing.hostname,
                       existing.mesh);
        goto fail;
    }
    char addr[64];
    r = mesh_allocate(l, peer.address, addr, sizeof(addr));
    if (r < 0) {
        r = tool_fail("allocate a mesh address in", ppn_ledger_mesh_range(l), r);
        goto fail;
    }
    uint64_t index;
    r = ppn_ledger_node_join(l, peer.identity_public, peer.wg_public, addr, peer.endpoint, peer.hostname,
                             n.id_sk, &index);
    if (r < 0) {
        r = tool_fail("record the node in", n.ledger_dir, r);
        goto fail;
    }
    printf("admitted\t%s\t%s\tentry %llu\n", peer.hostname, addr, (unsigned long long)index);
    if ((r = ledger_seal(l, &n)))
        goto fail;
    uint8_t *bundle = NULL;
    size_t blen = 0;
    r = ppn_ledger_bundle_build(l, &bundle, &blen);
    ppn_ledger_free(l);
    l = NULL;
    if (r < 0) {
        r = tool_fail("build the replica of", n.ledger_dir, r);
        goto fail;
    }

    set_io_timeout(fd, TRANSFER_TIMEOUT_S);
    r = tool_write_all(fd, bundle, blen);
    free(bundle);
    uint8_t ack[5];
    if (r == 0)
        r = read_exact(fd, ack, sizeof(ack));
    close(fd);
    fd = -1;
    if (r < 0) {
        r = tool_fail("send the ledger to", connect_addr, r);
        goto fail;
    }
    if (ack[0] != 'K') {
        int err = (int)get_be(ack + 1, 4);
        r = tool_error("the joining node refused the ledger: %s (it is recorded here; it must import again)",
                       strerror(err));
        goto fail;
    }
    r = ifname ? mesh_apply(&n, ifname, port, false) : 0;
fail:
    if (fd >= 0)
        close_gracefully(fd);
    ppn_ledger_free(l);
    node_wipe(&n);
    return r ? 1 : 0;
}
