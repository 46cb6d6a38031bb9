/* Host agent and fleet controller over libppn-fleet, composed with
 * libppn-ledger (members, capabilities) and libppn-vmm (guests).
 *
 *   agent       every 10 s (+-10 % jitter) a signed heartbeat from /proc/meminfo,
 *               /proc/loadavg and the running guests, to the controller over UDP;
 *               carries out creation requests that arrive on the same socket, after
 *               checking the operator's signature and "vm.create" in its ledger.
 *   controller  ingests heartbeats (members of its ledger only), evicts silent nodes,
 *               answers "fleet", "place" and "request" on a UNIX socket (one JSON
 *               line each way) and dispatches signed creation requests to agents.
 *   fleet/place/request  the operator's side of that socket.
 *
 * Confirmation: "request" shows the advisory placement and asks the operator
 * (or takes --yes); only then does it sign a request that names the confirmed
 * node.  The controller dispatches only such signed requests, only when the
 * signer holds "vm.create" in the ledger, and only if the node still fits. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ppn/crypto.h"
#include "ppn/fleet.h"
#include "ppn/ledger.h"
#include "ppn/vmm.h"
#include "ppn-vm.h"
#include "tool-util.h"

#define DEFAULT_PORT "51900"
#define DEFAULT_SOCKET "/run/ppn/fleet.sock"
#define DEFAULT_STATE_DIR "/var/lib/ppn/vms"
#define MIB ((uint64_t)1 << 20)
#define REQUEST_MAX_AGE_S 300
#define NONCES_KEPT 256
#define QUERY_MAX (64 * 1024)

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_stop_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void key_b64(const uint8_t key[32], char out[PPN_CRYPTO_KEY_B64_LEN + 1])
{
    ppn_crypto_key_to_base64(key, out);
}

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Returns the byte count or -EBADMSG. */
static int hex_decode(const char *in, uint8_t *out, size_t max)
{
    size_t n = strlen(in);
    if (n % 2 || n / 2 > max)
        return -EBADMSG;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EBADMSG;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(n / 2);
}

/* "host:port", "[v6]:port" or "host" (default port) into an address. */
static int parse_endpoint(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len)
{
    char host[256];
    const char *port = DEFAULT_PORT;
    if (strlen(s) >= sizeof(host))
        return -EINVAL;
    strcpy(host, s);
    char *h = host;
    if (h[0] == '[') {
        char *end = strchr(h, ']');
        if (!end)
            return -EINVAL;
        *end = '\0';
        h++;
        if (end[1] == ':')
            port = end + 2;
    } else {
        char *colon = strrchr(h, ':');
        if (colon && strchr(h, ':') == colon) {
            *colon = '\0';
            port = colon + 1;
        }
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(h, port, &hints, &ai) != 0 || !ai)
        return -EINVAL;
    memcpy(ret, ai->ai_addr, ai->ai_addrlen);
    *ret_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static void format_addr(const struct sockaddr_storage *a, socklen_t len, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "-", port[8] = "";
    if (len && getnameinfo((const struct sockaddr *)a, len, host, sizeof(host), port,
                           sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(out, size, a->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    else
        snprintf(out, size, "-");
}

static int parse_u64(const char *s, uint64_t *ret)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -EINVAL;
    *ret = v;
    return 0;
}

/* ---- the ledger's view: members and capabilities ------------------------ */

/* Opens the ledger read-only and gives its current members' identity keys
 * to the fleet.  Returns the member count. */
static int members_from_ledger(ppn_ledger *lg, ppn_fleet *fleet)
{
    size_t n = ppn_ledger_member_count(lg);
    uint8_t *keys = calloc(n ? n : 1, 32);
    if (!keys)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct ppn_ledger_member m;
        if (ppn_ledger_member_get(lg, i, &m) == 0)
            memcpy(keys + 32 * i, m.identity, 32);
    }
    int r = ppn_fleet_set_members(fleet, keys, n);
    free(keys);
    return r;
}

/* Replay protection for creation requests: recent nonces, and an age limit. */
typedef struct nonce_ring {
    uint8_t nonce[NONCES_KEPT][PPN_FLEET_NONCE_BYTES];
    size_t next, used;
} nonce_ring;

static int request_fresh(nonce_ring *ring, const ppn_fleet_request *rq)
{
    uint64_t now_s = real_ms() / 1000;
    if (rq->created_unix + REQUEST_MAX_AGE_S < now_s || rq->created_unix > now_s + REQUEST_MAX_AGE_S)
        return -ESTALE;
    for (size_t i = 0; i < ring->used; i++)
        if (memcmp(ring->nonce[i], rq->nonce, PPN_FLEET_NONCE_BYTES) == 0)
            return -ESTALE;
    memcpy(ring->nonce[ring->next], rq->nonce, PPN_FLEET_NONCE_BYTES);
    ring->next = (ring->next + 1) % NONCES_KEPT;
    if (ring->used < NONCES_KEPT)
        ring->used++;
    return 0;
}

static int open_ledger(const char *dir, ppn_ledger **ret)
{
    return ppn_ledger_open(dir, 0, ret);
}

/* 1 if 'key' holds "vm.create" in the ledger at 'dir' now, 0 if not. */
static int may_create(const char *dir, const uint8_t key[32])
{
    ppn_ledger *lg;
    int r = open_ledger(dir, &lg);
    if (r < 0)
        return r;
    r = ppn_ledger_has_capability(lg, key, PPN_LEDGER_CAP_VM_CREATE, NULL);
    ppn_ledger_free(lg);
    return r;
}

/* ---- agent -------------------------------------------------------------------- */

typedef struct agent {
    uint8_t pk[32], sk[64];
    char name[PPN_FLEET_NAME_MAX + 1];
    const char *ledger_dir, *state_dir, *qemu;
    unsigned accel;
    struct sockaddr_storage ctl;
    socklen_t ctl_len;
    int fd;
    uint64_t seq;
    nonce_ring nonces;
} agent;

static uint64_t meminfo_field(const char *text, const char *field)
{
    const char *p = strstr(text, field);
    return p ? strtoull(p + strlen(field), NULL, 10) * 1024 : 0;
}

static int read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, size - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    buf[n] = '\0';
    return 0;
}

static int agent_heartbeat(agent *a, ppn_fleet_heartbeat *hb)
{
    char text[4096];
    memset(hb, 0, sizeof(*hb));
    memcpy(hb->node_key, a->pk, 32);
    memcpy(hb->node_name, a->name, sizeof(hb->node_name));
    int r = read_text("/proc/meminfo", text, sizeof(text));
    if (r < 0)
        return r;
    hb->ram_total_bytes = meminfo_field(text, "MemTotal:");
    hb->ram_available_bytes = meminfo_field(text, "MemAvailable:");
    if (hb->ram_available_bytes > hb->ram_total_bytes)
        hb->ram_available_bytes = hb->ram_total_bytes;
    if (read_text("/proc/loadavg", text, sizeof(text)) == 0)
        hb->load_milli = (uint32_t)(strtod(text, NULL) * 1000.0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    hb->cpu_count = cpus > 0 ? (uint32_t)cpus : 1;

    ppn_ledger *lg;
    if (open_ledger(a->ledger_dir, &lg) == 0) {
        hb->ledger_size = ppn_ledger_size(lg);
        ppn_ledger_free(lg);
    }
    char **names = NULL;
    int n = ppn_vm_list(a->state_dir, &names);
    for (int i = 0; i < n && hb->n_vms < PPN_FLEET_MAX_VMS; i++) {
        pid_t pid = 0;
        ppn_vm_spec *spec;
        if (ppn_vm_pid(a->state_dir, names[i], &pid) < 0 || pid <= 0)
            continue;
        if (ppn_vm_spec_load(a->state_dir, names[i], &spec, NULL) < 0)
            continue;
        ppn_fleet_vm *vm = &hb->vms[hb->n_vms++];
        snprintf(vm->name, sizeof(vm->name), "%s", names[i]);
        vm->mem_bytes = (uint64_t)ppn_vm_spec_memory_mib(spec) * MIB;
        ppn_vm_spec_free(spec);
    }
    ppn_vmm_strv_free(names);
    /* Strictly increasing across restarts: wall-clock milliseconds. */
    uint64_t now = real_ms();
    a->seq = now > a->seq ? now : a->seq + 1;
    hb->seq = a->seq;
    return 0;
}

static int agent_send(agent *a)
{
    ppn_fleet_heartbeat *hb = malloc(sizeof(*hb));
    uint8_t buf[PPN_FLEET_MESSAGE_MAX];
    if (!hb)
        return -ENOMEM;
    int r = agent_heartbeat(a, hb);
    if (r == 0)
        r = ppn_fleet_heartbeat_sign(hb, a->sk, buf, sizeof(buf));
    free(hb);
    if (r < 0)
        return r;
    if (sendto(a->fd, buf, (size_t)r, 0, (struct sockaddr *)&a->ctl, a->ctl_len) < 0)
        return -errno;
    return 0;
}

/* Carries out one creation request received from the network. */
static int agent_create(agent *a, const uint8_t *buf, size_t len, char *what, size_t what_size)
{
    ppn_fleet_request rq;
    snprintf(what, what_size, "request");
    int r = ppn_fleet_request_open(buf, len, &rq);
    if (r < 0)
        return r;
    snprintf(what, what_size, "%s", rq.vm_name);
    if (!rq.has_node || memcmp(rq.node_key, a->pk, 32) != 0)
        return -EDESTADDRREQ; /* not for this node */
    r = may_create(a->ledger_dir, rq.operator_key);
    if (r < 0)
        return r;
    if (r == 0)
        return -EPERM;
    r = request_fresh(&a->nonces, &rq);
    if (r < 0)
        return r;
    if (!ppn_vm_name_valid(rq.vm_name))
        return -EINVAL;
    ppn_vm_spec *spec;
    r = ppn_vm_spec_new(rq.vm_name,
                        rq.kind == PPN_FLEET_VM_TOTEBOX ? PPN_VM_TYPE_TOTEBOX : PPN_VM_TYPE_ORCHESTRATION,
                        &spec);
    if (r < 0)
        return r;
    if (rq.mem_bytes / MIB > UINT32_MAX)
        r = -EINVAL;
    if (r == 0)
        r = ppn_vm_spec_set_memory_mib(spec, (uint32_t)(rq.mem_bytes / MIB));
    if (r == 0)
        r = ppn_vm_spec_set_vcpus(spec, rq.vcpus);
    if (r == 0)
        r = ppn_vm_spec_set_kernel(spec, rq.kernel, rq.initrd[0] ? rq.initrd : NULL,
                                   rq.append[0] ? rq.append : NULL);
    if (r == 0) {
        ppn_vm_spec_clear_port_forwards(spec);
        r = ppn_vm_spec_set_network(spec, false);
    }
    if (r == 0 && rq.kind == PPN_FLEET_VM_TOTEBOX)
        r = ppn_vm_spec_set_node(spec, a->name);
    if (r == 0)
        r = ppn_vm_spec_save(spec, a->state_dir, true);
    ppn_vm_spec_free(spec);
    if (r < 0)
        return r;
    pid_t pid;
    r = ppn_vm_start(a->state_dir, rq.vm_name, a->qemu, a->accel, 60000, &pid);
    if (r < 0)
        return r;
    fprintf(stderr, "ppn-vm agent: started VM '%s' (%" PRIu64 " MiB, %u vCPUs), QEMU pid %d\n",
            rq.vm_name, rq.mem_bytes / MIB, rq.vcpus, (int)pid);
    return 0;
}

#define AGENT_USAGE \
    "ppn-vm agent --key KEYFILE --ledger DIR --controller HOST[:PORT] [--name NAME]\n" \
    "             [--state-dir DIR] [--interval-ms MS] [--accel auto|tcg|kvm] [--qemu PATH] [--once]\n"

static int agent_usage(FILE *f)
{
    fputs("Usage: " AGENT_USAGE
          "Runs the host agent: a signed heartbeat every 10 s (with jitter) to the controller\n"
          "(default port " DEFAULT_PORT "); creation requests for this node are checked (operator's\n"
          "signature, \"vm.create\" in the ledger, freshness) and started with libppn-vmm.\n",
          f);
    return f == stdout ? 0 : 1;
}

int cmd_agent(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},       {"key", required_argument, NULL, 'k'},
        {"ledger", required_argument, NULL, 'l'}, {"controller", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'}, {"state-dir", required_argument, NULL, 's'},
        {"interval-ms", required_argument, NULL, 'i'}, {"accel", required_argument, NULL, 'a'},
        {"qemu", required_argument, NULL, 'q'}, {"once", no_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    agent *a = calloc(1, sizeof(*a));
    const char *keyf = NULL, *ctl = NULL;
    uint64_t interval = 10000;
    bool once = false;
    int c, r;
    if (!a)
        return tool_fail("start", "agent", -ENOMEM);
    a->state_dir = DEFAULT_STATE_DIR;
    a->accel = PPN_VM_ACCEL_AUTO;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': free(a); return agent_usage(stdout);
        case 'k': keyf = optarg; break;
        case 'l': a->ledger_dir = optarg; break;
        case 'c': ctl = optarg; break;
        case 'n': snprintf(a->name, sizeof(a->name), "%s", optarg); break;
        case 's': a->state_dir = optarg; break;
        case 'q': a->qemu = optarg; break;
        case 'o': once = true; break;
        case 'i':
            if (parse_u64(optarg, &interval) < 0 || interval < 100) {
                free(a);
                fprintf(stderr, "ppn-vm agent: bad --interval-ms '%s'\n", optarg);
                return agent_usage(stderr);
            }
            break;
        case 'a':
            if (strcmp(optarg, "tcg") == 0)
                a->accel = PPN_VM_ACCEL_TCG;
            else if (strcmp(optarg, "kvm") == 0)
                a->accel = PPN_VM_ACCEL_KVM;
            else if (strcmp(optarg, "auto") != 0) {
                free(a);
                fprintf(stderr, "ppn-vm agent: bad --accel '%s'\n", optarg);
                return agent_usage(stderr);
            }
            break;
        default: free(a); return agent_usage(stderr);
        }
    }
    if (!keyf || !ctl || !a->ledger_dir || optind != argc) {
        free(a);
        fprintf(stderr, "ppn-vm agent: --key, --ledger and --controller are needed\n");
        return agent_usage(stderr);
    }
    if (!a->name[0]) {
        char host[PPN_FLEET_NAME_MAX + 1] = "";
        gethostname(host, sizeof(host) - 1);
        for (char *p = host; *p; p++)
            if (!(*p == '-' || *p == '.' || *p == '_' || (*p >= '0' && *p <= '9') ||
                  (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                *p = '-';
        snprintf(a->name, sizeof(a->name), "%s", host[0] ? host : "node");
    }
    for (const char *p = a->name; *p; p++)
        if (!(*p == '-' || *p == '.' || *p == '_' || (*p >= '0' && *p <= '9') ||
              (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
            fprintf(stderr, "ppn-vm agent: bad --name '%s' (1..63 of [A-Za-z0-9._-])\n", a->name);
            free(a);
            return 1;
        }
    r = ppn_crypto_identity_load(keyf, a->pk, a->sk);
    if (r < 0) {
        free(a);
        return tool_fail("read key file", keyf, r);
    }
    r = parse_endpoint(ctl, &a->ctl, &a->ctl_len);
    if (r < 0) {
        explicit_bzero(a->sk, sizeof(a->sk));
        free(a);
        return tool_fail("resolve", ctl, r);
    }
    a->fd = socket(a->ctl.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (a->fd < 0) {
        r = -errno;
        explicit_bzero(a->sk, sizeof(a->sk));
        free(a);
        return tool_fail("open", "UDP socket", r);
    }
    install_stop_handlers();
    char kb[PPN_CRYPTO_KEY_B64_LEN + 1];
    key_b64(a->pk, kb);
    fprintf(stderr, "ppn-vm agent: node %s (%s), heartbeats to %s every %" PRIu64 " ms\n", a->name,
            kb, ctl, interval);
    uint64_t next = mono_ms();
    int status = 0;
    while (!stop_requested) {
        uint64_t now = mono_ms();
        if (now >= next) {
            r = agent_send(a);
            if (r < 0)
                tool_fail("send heartbeat to", ctl, r);
            if (once) {
                status = r < 0;
                break;
            }
            uint32_t rnd;
            if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                rnd = 0;
            /* +-10 % so that a fleet started together does not stay in step */
            uint64_t span = interval / 5;
            next = now + interval - interval / 10 + (span ? rnd % span : 0);
        }
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ; /* QEMU children that ended */
        struct pollfd p = {.fd = a->fd, .events = POLLIN};
        int wait = next > now ? (int)(next - now) : 0;
        if (poll(&p, 1, wait > 1000 ? 1000 : wait) > 0 && (p.revents & POLLIN)) {
            uint8_t buf[PPN_FLEET_MESSAGE_MAX + 1];
            struct sockaddr_storage from;
            socklen_t fl = sizeof(from);
            ssize_t n = recvfrom(a->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
            if (n > 0) {
                char what[PPN_FLEET_NAME_MAX + 16], src[64];
                format_addr(&from, fl, src, sizeof(src));
                r = agent_create(a, buf, (size_t)n, what, sizeof(what));
                if (r < 0)
                    fprintf(stderr, "ppn-vm agent: Failed to create '%s' (from %s): %s\n", what,
                            src, strerror(-r));
                else
                    next = mono_ms(); /* tell the controller at once */
            }
        }
    }
    explicit_bzero(a->sk, sizeof(a->sk));
    close(a->fd);
    free(a);
    return status;
}

/* ---- controller --------------------------------------------------------------- */

typedef struct controller {
    ppn_fleet *fleet;
    const char *ledger_dir;
    int udp, ux;
    nonce_ring nonces;
    bool guard_reported;
} controller;

static json_t *node_json(const ppn_fleet *f, size_t i, uint64_t now)
{
    ppn_fleet_node_info info;
    if (ppn_fleet_node_get(f, i, now, &info) < 0)
        return NULL;
    char kb[PPN_CRYPTO_KEY_B64_LEN + 1], addr[80];
    key_b64(info.node_key, kb);
    format_addr(&info.addr, info.addr_len, addr, sizeof(addr));
    json_t *vms = json_array();
    for (uint32_t v = 0; v < info.n_vms; v++) {
        ppn_fleet_vm vm;
        if (ppn_fleet_node_vm(f, i, v, &vm) == 0)
            json_array_append_new(vms, json_pack("{s:s, s:I}", "name", vm.name, "mem_bytes",
                                                 (json_int_t)vm.mem_bytes));
    }
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:f, s:I, s:o, s:I, s:s, s:I}",
                     "key", kb, "name", info.node_name,
                     "state", ppn_fleet_node_state_name((ppn_fleet_node_state)info.state),
                     "ram_total_bytes", (json_int_t)info.ram_total_bytes,
                     "ram_available_bytes", (json_int_t)info.ram_available_bytes,
                     "claimed_bytes", (json_int_t)info.claimed_bytes,
                     "cpus", (int)info.cpu_count, "load", info.load_milli / 1000.0,
                     "ledger_size", (json_int_t)info.ledger_size, "vms", vms,
                     "last_heard_ms_ago",
                     info.last_heard_ms ? (json_int_t)(now - info.last_heard_ms) : (json_int_t)-1,
                     "addr", addr, "seq", (json_int_t)info.seq);
}

static json_t *error_json(int err, const char *detail)
{
    return json_pack("{s:b, s:i, s:s, s:s}", "ok", 0, "errno", -err, "error", strerror(-err),
                     "detail", detail ? detail : "");
}

/* A node named by base64 key or by the name in its heartbeats. */
static int resolve_node(const ppn_fleet *f, const char *s, uint8_t key[32])
{
    if (ppn_crypto_key_from_base64(s, strlen(s), key) == 0)
        return 0;
    size_t n = ppn_fleet_node_count(f);
    int found = -ENOENT;
    for (size_t i = 0; i < n; i++) {
        ppn_fleet_node_info info;
        if (ppn_fleet_node_get(f, i, 0, &info) == 0 && strcmp(info.node_name, s) == 0) {
            if (found == 0)
                return -ENOTUNIQ;
            memcpy(key, info.node_key, 32);
            found = 0;
        }
    }
    return found;
}

struct reason_collect {
    const ppn_fleet *f;
    json_t *obj;
};

static void collect_reason(size_t index, ppn_fleet_reason reason, void *userdata)
{
    struct reason_collect *rc = userdata;
    ppn_fleet_node_info info;
    if (json_object_size(rc->obj) >= 256 || ppn_fleet_node_get(rc->f, index, 0, &info) < 0)
        return;
    char kb[PPN_CRYPTO_KEY_B64_LEN + 1];
    key_b64(info.node_key, kb);
    json_object_set_new(rc->obj, kb, json_string(ppn_fleet_reason_name(reason)));
}

static json_t *placement_json(const ppn_fleet *f, const ppn_fleet_place_query *q, uint64_t now)
{
    ppn_fleet_placement p;
    struct reason_collect rc = {.f = f, .obj = json_object()};
    int r = ppn_fleet_place(f, q, now, collect_reason, &rc, &p);
    if (r < 0) {
        json_decref(rc.obj);
        return error_json(r, r == -EDESTADDRREQ ? "a VM-Totebox must be assigned to a named node"
                                                : NULL);
    }
    char text[256], kb[PPN_CRYPTO_KEY_B64_LEN + 1] = "";
    ppn_fleet_placement_explain(&p, text, sizeof(text));
    json_t *o = json_pack("{s:b, s:b, s:s, s:o}", "ok", 1, "placed", p.placed, "explain", text,
                          "reasons", rc.obj);
    if (p.placed) {
        ppn_fleet_node_info info;
        ppn_fleet_node_get(f, p.node_index, now, &info);
        key_b64(p.node_key, kb);
        json_object_set_new(o, "node", json_string(kb));
        json_object_set_new(o, "node_name", json_string(info.node_name));
        json_object_set_new(o, "ram_left_bytes", json_integer((json_int_t)p.ram_left_bytes));
    }
    return o;
}

static int query_from_json(const ppn_fleet *f, json_t *req, ppn_fleet_place_query *q)
{
    json_int_t mem = 0, vcpus = 1;
    const char *kind = "general", *node = NULL;
    if (json_unpack(req, "{s:I, s?I, s?s, s?s}", "mem_bytes", &mem, "vcpus", &vcpus, "kind",
                    &kind, "node", &node) != 0 || mem <= 0 || vcpus <= 0 || vcpus > UINT32_MAX)
        return -EINVAL;
    memset(q, 0, sizeof(*q));
    q->mem_bytes = (uint64_t)mem;
    q->vcpus = (uint32_t)vcpus;
    if (strcmp(kind, "totebox") == 0)
        q->kind = PPN_FLEET_VM_TOTEBOX;
    else if (strcmp(kind, "general") != 0)
        return -EINVAL;
    if (node && node[0]) {
        int r = resolve_node(f, node, q->node_key);
        if (r < 0)
            return r;
        q->has_node = true;
    }
    return 0;
}

static json_t *controller_dispatch(controller *c, json_t *req, uint64_t now)
{
    const char *hex;
    if (json_unpack(req, "{s:s}", "request", &hex) != 0)
        return error_json(-EINVAL, "no request");
    uint8_t *buf = malloc(PPN_FLEET_MESSAGE_MAX);
    if (!buf)
        return error_json(-ENOMEM, NULL);
    json_t *out = NULL;
    ppn_fleet_request rq;
    int n = hex_decode(hex, buf, PPN_FLEET_MESSAGE_MAX), r;
    if (n < 0) {
        out = error_json(n, "request is not hex");
        goto done;
    }
    r = ppn_fleet_request_open(buf, (size_t)n, &rq);
    if (r < 0) {
        out = error_json(r, "the signed request does not verify");
        goto done;
    }
    if (!rq.has_node) {
        out = error_json(-EDESTADDRREQ, "the request names no node: confirm a placement first");
        goto done;
    }
    r = may_create(c->ledger_dir, rq.operator_key);
    if (r <= 0) {
        out = error_json(r < 0 ? r : -EPERM, "the signer does not hold \"vm.create\" in the ledger");
        goto done;
    }
    r = request_fresh(&c->nonces, &rq);
    if (r < 0) {
        out = error_json(r, "replayed or stale request");
        goto done;
    }
    ppn_fleet_place_query q = {.mem_bytes = rq.mem_bytes, .vcpus = rq.vcpus, .kind = rq.kind,
                               .has_node = true};
    memcpy(q.node_key, rq.node_key, 32);
    ppn_fleet_placement p;
    r = ppn_fleet_place(c->fleet, &q, now, NULL, NULL, &p);
    if (r <= 0) {
        char text[256] = "";
        if (r == 0)
            ppn_fleet_placement_explain(&p, text, sizeof(text));
        out = error_json(r < 0 ? r : -ENOSPC, text);
        goto done;
    }
    ppn_fleet_node_info info;
    ppn_fleet_node_get(c->fleet, p.node_index, now, &info);
    if (!info.addr_len) {
        out = error_json(-EHOSTUNREACH, "no address for the node");
        goto done;
    }
    if (sendto(c->udp, buf, (size_t)n, 0, (struct sockaddr *)&info.addr, info.addr_len) < 0) {
        out = error_json(-errno, "dispatch");
        goto done;
    }
    ppn_fleet_claim(c->fleet, rq.node_key, rq.vm_name, rq.mem_bytes, now);
    char kb[PPN_CRYPTO_KEY_B64_LEN + 1], addr[80];
    key_b64(rq.node_key, kb);
    format_addr(&info.addr, info.addr_len, addr, sizeof(addr));
    fprintf(stderr, "ppn-vm controller: dispatched VM '%s' to node %s (%s) at %s\n", rq.vm_name,
            info.node_name, kb, addr);
    out = json_pack("{s:b, s:b, s:s, s:s, s:s}", "ok", 1, "dispatched", 1, "node", kb,
                    "node_name", info.node_name, "vm", rq.vm_name);
done:
    free(buf);
    return out;
}

static json_t *controller_answer(controller *c, const char *line)
{
    uint64_t now = mono_ms();
    json_error_t jerr;
    json_t *req = json_loads(line, 0, &jerr), *out = NULL;
    const char *op = NULL;
    if (!req || json_unpack(req, "{s:s}", "op", &op) != 0) {
        json_decref(req);
        return error_json(-EBADMSG, "not a JSON query");
    }
    if (strcmp(op, "fleet") == 0) {
        json_t *nodes = json_array(), *refused = json_object();
        for (size_t i = 0; i < ppn_fleet_node_count(c->fleet); i++)
            json_array_append_new(nodes, node_json(c->fleet, i, now));
        for (int r = 0; r < PPN_FLEET_REFUSED_COUNT; r++)
            json_object_set_new(refused, ppn_fleet_refusal_name((ppn_fleet_refusal)r),
                                json_integer((json_int_t)ppn_fleet_refusals(c->fleet, (ppn_fleet_refusal)r)));
        out = json_pack("{s:b, s:o, s:I, s:o, s:b}", "ok", 1, "nodes", nodes, "accepted",
                        (json_int_t)ppn_fleet_accepted(c->fleet), "refused", refused,
                        "guard_tripped", c->guard_reported);
    } else if (strcmp(op, "place") == 0) {
        ppn_fleet_place_query q;
        int r = query_from_json(c->fleet, req, &q);
        out = r < 0 ? error_json(r, "bad placement query") : placement_json(c->fleet, &q, now);
    } else if (strcmp(op, "request") == 0) {
        out = controller_dispatch(c, req, now);
    } else {
        out = error_json(-EOPNOTSUPP, "unknown op");
    }
    json_decref(req);
    return out;
}

static void controller_client(controller *c)
{
    int fd = accept4(c->ux, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char *line = malloc(QUERY_MAX + 1);
    size_t len = 0;
    while (line && len < QUERY_MAX) {
        ssize_t n = read(fd, line + len, QUERY_MAX - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(line + len - (size_t)n, '\n', (size_t)n))
            break;
    }
    if (line) {
        line[len] = '\0';
        json_t *out = controller_answer(c, line);
        char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
        if (text && tool_write_all(fd, text, strlen(text)) == 0)
            (void)tool_write_all(fd, "\n", 1); /* a client that left gets nothing */
        free(text);
        json_decref(out);
        free(line);
    }
    close(fd);
}

static int controller_reload(controller *c)
{
    ppn_ledger *lg;
    int r = open_ledger(c->ledger_dir, &lg);
    if (r < 0)
        return r;
    r = members_from_ledger(lg, c->fleet);
    ppn_ledger_free(lg);
    return r;
}

static void controller_tick(controller *c, uint64_t now)
{
    ppn_fleet_tick_result res;
    size_t n = ppn_fleet_node_count(c->fleet);
    /* States before, to name the evicted nodes. */
    uint8_t *before = calloc(n ? n : 1, 1);
    for (size_t i = 0; before && i < n; i++) {
        ppn_fleet_node_info info;
        if (ppn_fleet_node_get(c->fleet, i, now, &info) == 0)
            before[i] = (uint8_t)info.state;
    }
    if (ppn_fleet_tick(c->fleet, now, &res) < 0) {
        free(before);
        return;
    }
    for (size_t i = 0; before && res.evicted && i < n; i++) {
        ppn_fleet_node_info info;
        if (ppn_fleet_node_get(c->fleet, i, now, &info) == 0 &&
            info.state == PPN_FLEET_NODE_EVICTED && before[i] != PPN_FLEET_NODE_EVICTED)
            fprintf(stderr, "ppn-vm controller: evicted node '%s': silent for %" PRIu64 " ms\n",
                    info.node_name, now - info.last_heard_ms);
    }
    free(before);
    if (res.guard_tripped && !c->guard_reported)
        fprintf(stderr, "ppn-vm controller: %u nodes went silent at once, more than the guard "
                        "allows: holding evictions (check this controller's own network)\n",
                res.held);
    c->guard_reported = res.guard_tripped;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    mode_t old = umask(0077); /* only root (the operator) may query and request */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 16) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

#define CONTROLLER_USAGE \
    "ppn-vm controller --ledger DIR [--listen ADDR[:PORT]] [--socket PATH]\n" \
    "                  [--silence-ms MS] [--grace-ms MS] [--margin-mib MIB] [--claim-ttl-ms MS]\n"

static int controller_usage(FILE *f)
{
    fputs("Usage: " CONTROLLER_USAGE
          "Runs the fleet controller: heartbeats over UDP (default 0.0.0.0:" DEFAULT_PORT ") from\n"
          "members of the ledger; nodes silent > 30 s are evicted (after a grace period, never\n"
          "most of the fleet at once); queries and creation requests on the UNIX socket\n"
          "(default " DEFAULT_SOCKET ").\n",
          f);
    return f == stdout ? 0 : 1;
}

int cmd_controller(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},        {"ledger", required_argument, NULL, 'l'},
        {"listen", required_argument, NULL, 'L'}, {"socket", required_argument, NULL, 'S'},
        {"silence-ms", required_argument, NULL, 1}, {"grace-ms", required_argument, NULL, 2},
        {"margin-mib", required_argument, NULL, 3}, {"claim-ttl-ms", required_argument, NULL, 4},
        {NULL, 0, NULL, 0},
    };
    controller c;
    memset(&c, 0, sizeof(c));
    const char *listen_at = "0.0.0.0:" DEFAULT_PORT, *sock = DEFAULT_SOCKET;
    uint64_t vals[5] = {0};
    bool set[5] = {false};
    int ch, r;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'h': return controller_usage(stdout);
        case 'l': c.ledger_dir = optarg; break;
        case 'L': listen_at = optarg; break;
        case 'S': sock = optarg; break;
        case 1: case 2: case 3: case 4:
            if (parse_u64(optarg, &vals[ch]) < 0) {
                fprintf(stderr, "ppn-vm controller: bad number '%s'\n", optarg);
                return controller_usage(stderr);
            }
            set[ch] = true;
            break;
        default: return controller_usage(stderr);
        }
    }
    if (!c.ledger_dir || optind != argc) {
        fprintf(stderr, "ppn-vm controller: --ledger is needed\n");
        return controller_usage(stderr);
    }
    r = ppn_fleet_new(mono_ms(), &c.fleet);
    if (r < 0)
        return tool_fail("start", "controller", r);
    if ((set[1] && (r = ppn_fleet_set_option(c.fleet, PPN_FLEET_OPT_SILENCE_MS, vals[1])) < 0) ||
        (set[2] && (r = ppn_fleet_set_option(c.fleet, PPN_FLEET_OPT_GRACE_MS, vals[2])) < 0) ||
        (set[3] && (r = ppn_fleet_set_option(c.fleet, PPN_FLEET_OPT_SAFETY_MARGIN, vals[3] * MIB)) < 0) ||
        (set[4] && (r = ppn_fleet_set_option(c.fleet, PPN_FLEET_OPT_CLAIM_TTL_MS, vals[4])) < 0)) {
        ppn_fleet_free(c.fleet);
        return tool_fail("set", "option", r);
    }
    r = controller_reload(&c);
    if (r < 0) {
        ppn_fleet_free(c.fleet);
        return tool_fail("read ledger", c.ledger_dir, r);
    }
    struct sockaddr_storage la;
    socklen_t ll;
    r = parse_endpoint(listen_at, &la, &ll);
    if (r < 0) {
        ppn_fleet_free(c.fleet);
        return tool_fail("resolve", listen_at, r);
    }
    c.udp = socket(la.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (c.udp < 0 || bind(c.udp, (struct sockaddr *)&la, ll) < 0) {
        r = -errno;
        ppn_fleet_free(c.fleet);
        return tool_fail("listen on", listen_at, r);
    }
    c.ux = listen_unix(sock);
    if (c.ux < 0) {
        close(c.udp);
        ppn_fleet_free(c.fleet);
        return tool_fail("listen on", sock, c.ux);
    }
    install_stop_handlers();
    fprintf(stderr, "ppn-vm controller: %zu members, heartbeats on %s, queries on %s\n",
            ppn_fleet_node_count(c.fleet), listen_at, sock);
    uint64_t next_tick = mono_ms() + 1000, next_reload = mono_ms() + 5000;
    while (!stop_requested) {
        struct pollfd p[2] = {{.fd = c.udp, .events = POLLIN}, {.fd = c.ux, .events = POLLIN}};
        if (poll(p, 2, 500) > 0) {
            if (p[0].revents & POLLIN) {
                for (int k = 0; k < 256; k++) {
                    uint8_t buf[PPN_FLEET_MESSAGE_MAX + 1];
                    struct sockaddr_storage from;
                    socklen_t fl = sizeof(from);
                    ssize_t n = recvfrom(c.udp, buf, sizeof(buf), MSG_DONTWAIT,
                                         (struct sockaddr *)&from, &fl);
                    if (n < 0)
                        break;
                    ppn_fleet_ingest(c.fleet, buf, (size_t)n, (struct sockaddr *)&from, fl,
                                     mono_ms());
                }
            }
            if (p[1].revents & POLLIN)
                controller_client(&c);
        }
        uint64_t now = mono_ms();
        if (now >= next_tick) {
            controller_tick(&c, now);
            next_tick = now + 1000;
        }
        if (now >= next_reload) {
            r = controller_reload(&c);
            if (r < 0)
                tool_fail("reload ledger", c.ledger_dir, r);
            next_reload = now + 5000;
        }
    }
    unlink(sock);
    close(c.ux);
    close(c.udp);
    ppn_fleet_free(c.fleet);
    return 0;
}

/* ---- the operator's commands ------------------------------------------------------- */

/* Sends one JSON query to the controller and returns its answer. */
static int query(const char *sock, json_t *q, json_t **ret)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char *text = json_dumps(q, JSON_COMPACT);
    int r = 0;
    if (!text)
        r = -ENOMEM;
    else {
        r = tool_write_all(fd, text, strlen(text));
        if (r == 0)
            r = tool_write_all(fd, "\n", 1);
        free(text);
    }
    shutdown(fd, SHUT_WR);
    size_t cap = 65536, len = 0;
    char *buf = r == 0 ? malloc(cap) : NULL;
    if (r == 0 && !buf)
        r = -ENOMEM;
    while (r == 0) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0)
            r = -errno;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (r == 0) {
        buf[len] = '\0';
        json_error_t jerr;
        *ret = json_loads(buf, 0, &jerr);
        if (!*ret)
            r = -EBADMSG;
    }
    free(buf);
    return r;
}

/* The controller's error as a negative errno, with its detail on stderr. */
static int answer_error(json_t *a, const char *verb, const char *what)
{
    int ok = 0, e = EPROTO;
    const char *detail = "";
    json_unpack(a, "{s?b, s?i, s?s}", "ok", &ok, "errno", &e, "detail", &detail);
    if (ok)
        return 0;
    if (detail[0])
        fprintf(stderr, "ppn-vm: Failed to %s '%s': %s (%s)\n", verb, what, strerror(e), detail);
    else
        tool_fail(verb, what, -e);
    return -e;
}

static void human_bytes(uint64_t b, char *out, size_t size)
{
    if (b >= (10ULL << 30))
        snprintf(out, size, "%.0fG", b / (double)(1ULL << 30));
    else if (b >= (1ULL << 30))
        snprintf(out, size, "%.1fG", b / (double)(1ULL << 30));
    else
        snprintf(out, size, "%" PRIu64 "M", b / MIB);
}

static int fleet_usage(FILE *f)
{
    fputs("Usage: ppn-vm fleet [--socket PATH] [--json]\n"
          "Shows the fleet as the controller sees it: node, state, RAM available/total, load,\n"
          "VMs, last heard; then the heartbeats refused, by reason.\n",
          f);
    return f == stdout ? 0 : 1;
}

int cmd_fleet(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'}, {"socket", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0},
    };
    const char *sock = DEFAULT_SOCKET;
    bool as_json = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'h': return fleet_usage(stdout);
        case 'S': sock = optarg; break;
        case 'j': as_json = true; break;
        default: return fleet_usage(stderr);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ppn-vm fleet: unexpected argument '%s'\n", argv[optind]);
        return fleet_usage(stderr);
    }
    json_t *q = json_pack("{s:s}", "op", "fleet"), *a = NULL;
    int r = query(sock, q, &a);
    json_decref(q);
    if (r < 0)
        return tool_fail("query controller at", sock, r);
    if (answer_error(a, "query", "fleet") < 0) {
        json_decref(a);
        return 1;
    }
    if (as_json) {
        char *t = json_dumps(a, JSON_INDENT(2) | JSON_SORT_KEYS);
        puts(t ? t : "{}");
        free(t);
        json_decref(a);
        return 0;
    }
    printf("%-20s %-8s %-8s %-15s %6s %4s  %s\n", "NODE", "KEY", "STATE", "RAM AVAIL/TOTAL",
           "LOAD", "VMS", "LAST HEARD");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(a, "nodes"), i, n) {
        const char *name = "", *key = "", *state = "";
        json_int_t total = 0, avail = 0, ago = -1;
        double load = 0;
        json_unpack(n, "{s:s, s:s, s:s, s:I, s:I, s:F, s:I}", "name", &name, "key", &key, "state",
                    &state, "ram_total_bytes", &total, "ram_available_bytes", &avail, "load",
                    &load, "last_heard_ms_ago", &ago);
        char ram[40], t1[16], t2[16], heard[32], shortkey[9];
        human_bytes((uint64_t)avail, t1, sizeof(t1));
        human_bytes((uint64_t)total, t2, sizeof(t2));
        snprintf(ram, sizeof(ram), "%s/%s", t1, t2);
        snprintf(shortkey, sizeof(shortkey), "%s", key);
        if (ago < 0)
            snprintf(heard, sizeof(heard), "never");
        else
            snprintf(heard, sizeof(heard), "%.1f s ago", (double)ago / 1000.0);
        printf("%-20s %-8s %-8s %-15s %6.2f %4zu  %s\n", name[0] ? name : "-", shortkey, state,
               ago < 0 ? "-" : ram, load, json_array_size(json_object_get(n, "vms")), heard);
    }
    const char *reason;
    json_t *count;
    printf("heartbeats accepted: %" JSON_INTEGER_FORMAT "; refused:",
           json_integer_value(json_object_get(a, "accepted")));
    json_object_foreach(json_object_get(a, "refused"), reason, count)
        printf(" %s %" JSON_INTEGER_FORMAT ";", reason, json_integer_value(count));
    printf("\n");
    if (json_is_true(json_object_get(a, "guard_tripped")))
        printf("eviction guard: holding evictions, most of the fleet went silent at once\n");
    json_decref(a);
    return 0;
}

/* Options shared by place and request. */
typedef struct vm_args {
    uint64_t mem_mib;
    uint64_t vcpus;
    const char *kind, *node, *sock;
} vm_args;

static json_t *place_query_json(const vm_args *v)
{
    json_t *q = json_pack("{s:s, s:I, s:I, s:s}", "op", "place", "mem_bytes",
                          (json_int_t)(v->mem_mib * MIB), "vcpus", (json_int_t)v->vcpus, "kind",
                          v->kind);
    if (v->node)
        json_object_set_new(q, "node", json_string(v->node));
    return q;
}

static int place_usage(FILE *f)
{
    fputs("Usage: ppn-vm place --memory MIB [--vcpus N] [--type general|totebox] [--node NODE]\n"
          "                    [--socket PATH] [--json]\n"
          "Asks the controller where a VM would go (advisory, changes nothing).  NODE is a node\n"
          "name or identity key; a VM-Totebox needs one.\n",
          f);
    return f == stdout ? 0 : 1;
}

static void print_placement(json_t *a)
{
    const char *explain = "", *node = "", *name = "";
    json_int_t left = 0;
    json_unpack(a, "{s?s, s?s, s?s, s?I}", "explain", &explain, "node", &node, "node_name", &name,
                "ram_left_bytes", &left);
    if (json_is_true(json_object_get(a, "placed")))
        printf("suggested node: %s (%s), %" PRIu64 " MiB left after this VM\n",
               name[0] ? name : "-", node, (uint64_t)left / MIB);
    printf("%s\n", explain);
    if (json_is_true(json_object_get(a, "placed")))
        return;
    /* Why each node does not fit (the controller lists at most 256). */
    const char *key;
    json_t *why;
    json_object_foreach(json_object_get(a, "reasons"), key, why)
        printf("  %s: %s\n", key, json_string_value(why));
}

int cmd_place(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},      {"memory", required_argument, NULL, 'm'},
        {"vcpus", required_argument, NULL, 'c'}, {"type", required_argument, NULL, 't'},
        {"node", required_argument, NULL, 'n'}, {"socket", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},      {NULL, 0, NULL, 0},
    };
    vm_args v = {.vcpus = 1, .kind = "general", .sock = DEFAULT_SOCKET};
    bool as_json = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'h': return place_usage(stdout);
        case 'm':
            if (parse_u64(optarg, &v.mem_mib) < 0 || !v.mem_mib)
                return fprintf(stderr, "ppn-vm place: bad --memory '%s'\n", optarg), place_usage(stderr);
            break;
        case 'c':
            if (parse_u64(optarg, &v.vcpus) < 0 || !v.vcpus)
                return fprintf(stderr, "ppn-vm place: bad --vcpus '%s'\n", optarg), place_usage(stderr);
            break;
        case 't': v.kind = optarg; break;
        case 'n': v.node = optarg; break;
        case 'S': v.sock = optarg; break;
        case 'j': as_json = true; break;
        default: return place_usage(stderr);
        }
    }
    if (!v.mem_mib || optind != argc) {
        fprintf(stderr, "ppn-vm place: --memory is needed\n");
        return place_usage(stderr);
    }
    json_t *q = place_query_json(&v), *a = NULL;
    int r = query(v.sock, q, &a);
    json_decref(q);
    if (r < 0)
        return tool_fail("query controller at", v.sock, r);
    if (answer_error(a, "place", "VM") < 0) {
        json_decref(a);
        return 1;
    }
    bool placed = json_is_true(json_object_get(a, "placed"));
    if (as_json) {
        char *t = json_dumps(a, JSON_INDENT(2) | JSON_SORT_KEYS);
        puts(t ? t : "{}");
        free(t);
    } else {
        print_placement(a);
    }
    json_decref(a);
    return placed ? 0 : 2;
}

static int request_usage(FILE *f)
{
    fputs("Usage: ppn-vm request NAME --memory MIB --kernel PATH [--initrd PATH] [--append LINE]\n"
          "                      [--vcpus N] [--type general|totebox] [--node NODE]\n"
          "                      --key KEYFILE [--yes] [--wait SECONDS] [--socket PATH]\n"
          "Requests a VM: the controller suggests a node, you confirm (or --yes), then the\n"
          "request is signed with the operator key (which must hold \"vm.create\") and the\n"
          "controller dispatches it to that node's agent.  Paths are on the target node.\n"
          "Exit 0 dispatched (and running with --wait), 1 failed or declined, 2 no node fits.\n",
          f);
    return f == stdout ? 0 : 1;
}

static int wait_running(const char *sock, const char *node_key, const char *vm, int seconds)
{
    uint64_t end = mono_ms() + (uint64_t)seconds * 1000;
    do {
        json_t *q = json_pack("{s:s}", "op", "fleet"), *a = NULL;
        int r = query(sock, q, &a);
        json_decref(q);
        if (r == 0) {
            size_t i, j;
            json_t *n, *v;
            json_array_foreach(json_object_get(a, "nodes"), i, n) {
                const char *k = json_string_value(json_object_get(n, "key"));
                if (!k || strcmp(k, node_key) != 0)
                    continue;
                json_array_foreach(json_object_get(n, "vms"), j, v) {
                    const char *s = json_string_value(json_object_get(v, "name"));
                    if (s && strcmp(s, vm) == 0) {
                        json_decref(a);
                        return 0;
                    }
                }
            }
            json_decref(a);
        }
        usleep(500000);
    } while (mono_ms() < end);
    return -ETIMEDOUT;
}

int cmd_request(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},        {"memory", required_argument, NULL, 'm'},
        {"vcpus", required_argument, NULL, 'c'},   {"type", required_argument, NULL, 't'},
        {"node", required_argument, NULL, 'n'},   {"socket", required_argument, NULL, 'S'},
        {"kernel", required_argument, NULL, 'K'}, {"initrd", required_argument, NULL, 'I'},
        {"append", required_argument, NULL, 'A'}, {"key", required_argument, NULL, 'k'},
        {"yes", no_argument, NULL, 'y'},          {"wait", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    vm_args v = {.vcpus = 1, .kind = "general", .sock = DEFAULT_SOCKET};
    const char *kernel = NULL, *initrd = "", *append = "", *keyf = NULL;
    bool yes = false;
    uint64_t wait_s = 0;
    int ch, r;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'h': return request_usage(stdout);
        case 'm':
            if (parse_u64(optarg, &v.mem_mib) < 0 || !v.mem_mib)
                return fprintf(stderr, "ppn-vm request: bad --memory '%s'\n", optarg), request_usage(stderr);
            break;
        case 'c':
            if (parse_u64(optarg, &v.vcpus) < 0 || !v.vcpus || v.vcpus > UINT32_MAX)
                return fprintf(stderr, "ppn-vm request: bad --vcpus '%s'\n", optarg), request_usage(stderr);
            break;
        case 'w':
            if (parse_u64(optarg, &wait_s) < 0 || wait_s > 3600)
                return fprintf(stderr, "ppn-vm request: bad --wait '%s'\n", optarg), request_usage(stderr);
            break;
        case 't': v.kind = optarg; break;
        case 'n': v.node = optarg; break;
        case 'S': v.sock = optarg; break;
        case 'K': kernel = optarg; break;
        case 'I': initrd = optarg; break;
        case 'A': append = optarg; break;
        case 'k': keyf = optarg; break;
        case 'y': yes = true; break;
        default: return request_usage(stderr);
        }
    }
    if (optind + 1 != argc || !v.mem_mib || !kernel || !keyf) {
        fprintf(stderr, "ppn-vm request: NAME, --memory, --kernel and --key are needed\n");
        return request_usage(stderr);
    }
    const char *name = argv[optind];
    ppn_fleet_request rq;
    memset(&rq, 0, sizeof(rq));
    if (strcmp(v.kind, "totebox") == 0)
        rq.kind = PPN_FLEET_VM_TOTEBOX;
    else if (strcmp(v.kind, "general") != 0) {
        fprintf(stderr, "ppn-vm request: bad --type '%s'\n", v.kind);
        return request_usage(stderr);
    }
    if (rq.kind == PPN_FLEET_VM_TOTEBOX && !v.node) {
        fprintf(stderr, "ppn-vm: Failed to request '%s': a VM-Totebox must be assigned to a "
                        "named node (--node)\n", name);
        return 1;
    }
    if (snprintf(rq.vm_name, sizeof(rq.vm_name), "%s", name) >= (int)sizeof(rq.vm_name) ||
        snprintf(rq.kernel, sizeof(rq.kernel), "%s", kernel) >= (int)sizeof(rq.kernel) ||
        snprintf(rq.initrd, sizeof(rq.initrd), "%s", initrd) >= (int)sizeof(rq.initrd) ||
        snprintf(rq.append, sizeof(rq.append), "%s", append) >= (int)sizeof(rq.append))
        return tool_fail("request", name, -ENAMETOOLONG);
    uint8_t sk[64];
    r = ppn_crypto_identity_load(keyf, rq.operator_key, sk);
    if (r < 0)
        return tool_fail("read key file", keyf, r);

    /* 1. The advisory placement. */
    json_t *q = place_query_json(&v), *a = NULL;
    r = query(v.sock, q, &a);
    json_decref(q);
    if (r < 0) {
        explicit_bzero(sk, sizeof(sk));
        return tool_fail("query controller at", v.sock, r);
    }
    if (answer_error(a, "place", name) < 0 || !json_is_true(json_object_get(a, "placed"))) {
        int code = json_is_true(json_object_get(a, "ok")) ? 2 : 1;
        if (code == 2)
            fprintf(stderr, "ppn-vm: Failed to place '%s': %s\n", name,
                    json_string_value(json_object_get(a, "explain")));
        json_decref(a);
        explicit_bzero(sk, sizeof(sk));
        return code;
    }
    print_placement(a);
    const char *node_b64 = json_string_value(json_object_get(a, "node"));
    const char *nn = json_string_value(json_object_get(a, "node_name"));
    char node_copy[PPN_CRYPTO_KEY_B64_LEN + 1], name_copy[PPN_FLEET_NAME_MAX + 1];
    snprintf(node_copy, sizeof(node_copy), "%s", node_b64 ? node_b64 : "");
    snprintf(name_copy, sizeof(name_copy), "%s", nn && nn[0] ? nn : node_copy);
    const char *node_name = name_copy;
    r = ppn_crypto_key_from_base64(node_copy, strlen(node_copy), rq.node_key);
    if (r < 0) {
        json_decref(a);
        explicit_bzero(sk, sizeof(sk));
        return tool_fail("read placement for", name, -EPROTO);
    }
    rq.has_node = true;

    /* 2. The operator's confirmation. */
    char question[512];
    snprintf(question, sizeof(question), "Create VM '%s' (%" PRIu64 " MiB, %" PRIu64
             " vCPUs) on node '%s'?", name, v.mem_mib, v.vcpus, node_name);
    json_decref(a);
    if (!yes && !tool_confirm(question)) {
        explicit_bzero(sk, sizeof(sk));
        return tool_fail("request", name, -ECANCELED);
    }

    /* 3. Sign (the signature covers the confirmed node) and send. */
    rq.mem_bytes = v.mem_mib * MIB;
    rq.vcpus = (uint32_t)v.vcpus;
    rq.created_unix = real_ms() / 1000;
    if (getrandom(rq.nonce, sizeof(rq.nonce), 0) != sizeof(rq.nonce)) {
        explicit_bzero(sk, sizeof(sk));
        return tool_fail("request", name, -EIO);
    }
    uint8_t buf[PPN_FLEET_MESSAGE_MAX];
    r = ppn_fleet_request_sign(&rq, sk, buf, sizeof(buf));
    explicit_bzero(sk, sizeof(sk));
    if (r < 0)
        return tool_fail("sign request for", name, r);
    char *hex = malloc(2 * (size_t)r + 1);
    if (!hex)
        return tool_fail("request", name, -ENOMEM);
    hex_encode(buf, (size_t)r, hex);
    q = json_pack("{s:s, s:s}", "op", "request", "request", hex);
    free(hex);
    r = query(v.sock, q, &a);
    json_decref(q);
    if (r < 0)
        return tool_fail("query controller at", v.sock, r);
    if (answer_error(a, "request", name) < 0) {
        json_decref(a);
        return 1;
    }
    json_decref(a);
    printf("dispatched '%s' to node '%s'\n", name, node_name);
    if (wait_s) {
        r = wait_running(v.sock, node_copy, name, (int)wait_s);
        if (r < 0)
            return tool_fail("see running", name, r);
        printf("'%s' runs on node '%s'\n", name, node_name);
    }
    return 0;
}
