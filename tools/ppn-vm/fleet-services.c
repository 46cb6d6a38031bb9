/* The host agent and the fleet controller: libppn-fleet's engines composed
 * with libppn-ledger (members, names, mesh addresses, "vm.create") and
 * libppn-vmm (guests).  This file holds flags, the UNIX-socket protocol,
 * logging and the poll loops; the behaviour over time is in the engines.
 *
 *   agent       heartbeats from /proc and the running guests, from the node's
 *               mesh address; creation requests checked by the engine, then
 *               created and started with libppn-vmm.
 *   controller  heartbeats on the mesh address; "fleet", "place" and "request"
 *               on a UNIX socket, one JSON line each way, clients served
 *               without ever blocking on one. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ppn/crypto.h"
#include "ppn/fleet.h"
#include "ppn/vmm.h"
#include "fleet-tool.h"
#include "ppn-common.h"
#include "fleetview.h"
#include "hostmem.h"
#include "measure.h"
#include "pool.h"
#include "ppn-vm.h"
#include "notify.h"
#include "vmrun.h"
#include "tool-util.h"

#define DEFAULT_STATE_DIR "/var/lib/ppn/vms"
#define DEFAULT_CONTROLLER_STATE "/var/lib/ppn/fleet/controller.state"
#define DEFAULT_AGENT_EPOCH "/var/lib/ppn/fleet/agent.epoch"
#define MIB ((uint64_t)1 << 20)
#define RELOAD_MS 5000
#define MAX_CLIENTS 32
#define CLIENT_DEADLINE_MS 2000

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

/* Creates the directories above a default state path (0700 each; errors
 * show when the file itself is opened). */
static void make_parent(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        (void)mkdir(dir, 0700);
        *p = '/';
    }
}

/* ---- the ledger's view, read once per reload (tools/glue/fleetview.c) ---- */

/* ---- agent -------------------------------------------------------------------- */

typedef struct agent_ctx {
    char name[PPN_FLEET_NAME_MAX + 1];
    char ledger_name[PPN_FLEET_NAME_MAX + 1]; /* this node's name in the ledger ("" none) */
    uint8_t pk[32];
    const char *ledger_dir;
    uint64_t ledger_size;
    struct glue_vm_runner run;   /* how VMs are run (tools/glue/vmrun.c) */
    /* Creations in progress, each in a worker process, so that the agent's
     * heartbeats go on while a guest boots (QEMU, reparented to the agent
     * as subreaper, stays its child); the VMs whose last start failed. */
    struct glue_vm_work work;
    struct glue_pool *pool;      /* the balloon resource pool (NULL: off) */
} agent_ctx;

/* The heartbeat's measurements (tools/glue/measure.c). */
static int agent_measure(ppn_fleet_agent *ag, ppn_fleet_heartbeat *hb, void *userdata)
{
    (void)ag;
    agent_ctx *a = userdata;
    const struct glue_measure m = {.node_name = a->name, .ledger_size = a->ledger_size,
                                   .state_dir = a->run.state_dir, .work = &a->work, .pool = a->pool};
    return glue_measure_heartbeat(&m, hb);
}

/* The creation worker's lines (tools/glue/vmrun.c), in the worker. */
static void work_log(const char *line, void *userdata)
{
    (void)userdata;
    fprintf(stderr, "ppn-vm agent: %s\n", line);
}

/* A request the engine checked (confirmed, from the controller, for this
 * node, by an operator, fresh, signed) is carried out in a worker process
 * (tools/glue/vmrun.c); a heartbeat follows at once, the VM as starting. */
static int agent_create(ppn_fleet_agent *ag, const ppn_fleet_request *rq, void *userdata)
{
    (void)ag;
    agent_ctx *a = userdata;
    int r = glue_vm_work_spawn(&a->work, &a->run, rq, a->name, a->ledger_name, work_log, NULL,
                               ppnc_now_mono_ms());
    if (r == -EALREADY)
        fprintf(stderr, "ppn-vm agent: Failed to create '%s': it is being started already\n",
                rq->vm_name);
    else if (r == -EBUSY)
        fprintf(stderr, "ppn-vm agent: Failed to create '%s': %u creations in progress\n",
                rq->vm_name, a->work.n_work);
    else if (r < 0)
        fprintf(stderr, "ppn-vm agent: Failed to create '%s': fork: %s\n", rq->vm_name, strerror(-r));
    return r;
}

/* Reaps ended children: creation workers (their VM's state is then known:
 * a heartbeat goes now) and QEMUs whose worker ended before them. */
static void agent_reap(agent_ctx *a, ppn_fleet_agent *ag)
{
    if (glue_vm_work_reap(&a->work) > 0)
        ppn_fleet_agent_heartbeat_now(ag);
}

/* ---- the resource pool (tools/glue/pool.c): balloon memory back from guests
 * under pressure, the host's memory bounded by the agent's cgroup
 * (tools/glue/hostmem.c); the tool prints the pool's lines. */
static void pool_log(const char *line, void *userdata)
{
    (void)userdata;
    fprintf(stderr, "ppn-vm agent: %s\n", line);
}

static bool pool_skip(const char *vm, void *userdata)
{
    return glue_vm_work_starting(&((agent_ctx *)userdata)->work, vm);
}

static void agent_pool_pass(agent_ctx *a, uint64_t now)
{
    struct glue_hostmem hm;
    if (!a->pool || !glue_pool_due(a->pool, now) || glue_hostmem_read(NULL, &hm) < 0)
        return;
    glue_pool_pass(a->pool, a->run.state_dir, &hm, now, pool_skip, pool_log, a);
}

static void agent_refused(ppn_fleet_agent *ag, int err, const char *vm,
                          const struct sockaddr *from, socklen_t fromlen, uint64_t suppressed,
                          void *userdata)
{
    char src[80], more[64] = "";
    if (suppressed)
        snprintf(more, sizeof(more), " (%" PRIu64 " more refused since the last report)",
                 suppressed);
    if (!from) {
        fprintf(stderr, "ppn-vm agent: %" PRIu64 " more datagrams refused\n", suppressed);
        return;
    }
    fleet_format_addr((const struct sockaddr_storage *)from, fromlen, src, sizeof(src));
    fprintf(stderr, "ppn-vm agent: refused request '%s' from %s: %s%s\n", vm[0] ? vm : "?", src,
            strerror(-err), more);
}

static int agent_reload(agent_ctx *a, ppn_fleet_agent *ag)
{
    struct glue_fleet_view v;
    int r = glue_fleet_view_load(a->ledger_dir, FLEET_DEFAULT_AGENT_PORT, &v);
    if (r < 0)
        return r;
    r = ppn_fleet_agent_set_operators(ag, v.operators, v.n_operators);
    a->ledger_size = v.size;
    snprintf(a->ledger_name, sizeof(a->ledger_name), "%s", glue_fleet_view_name(&v, a->pk));
    glue_fleet_view_free(&v);
    return r < 0 ? r : 0;
}

#define AGENT_USAGE \
    "ppn-vm agent --key KEYFILE --ledger DIR --controller HOST[:PORT] [--listen ADDR[:PORT]]\n" \
    "             [--name NAME] [--state-dir DIR] [--epoch-file FILE] [--interval-ms MS]\n" \
    "             [--accel auto|tcg|kvm] [--qemu PATH] [--runner auto|systemd|direct]\n" \
    "             [--unit-dir DIR] [--pool-margin-mib MIB] [--once]\n"

static int agent_usage(FILE *f)
{
    fputs("Usage: " AGENT_USAGE
          "Runs the host agent: a signed heartbeat every 10 s (with jitter) to the controller\n"
          "(default port " FLEET_DEFAULT_PORT "), sent from this node's mesh address in the ledger\n"
          "(port 51901, or --listen), where creation requests arrive.  Requests are checked\n"
          "(from the controller, for this node, signed by a \"vm.create\" holder, fresh) and\n"
          "carried out with libppn-vmm: the VM's specification written, its systemd unit\n"
          "installed (--unit-dir, default /etc/systemd/system) and started where systemd is\n"
          "PID 1, the direct runner elsewhere (--runner).  Heartbeats list this node's VMs\n"
          "and their states.  The resource pool: when MemAvailable (bounded by the\n"
          "agent's memory cgroup: a unit's MemoryMax=, which its direct-run guests share)\n"
          "falls below\n"
          "--pool-margin-mib (512; 0 turns the pool off) the agent reclaims memory from\n"
          "guests that have it free (balloon, guest statistics), and gives it back when the\n"
          "pressure goes (128 MiB steps, never below a quarter of a guest's memory or 128\n"
          "MiB).  Sequences: an epoch kept in --epoch-file (default\n"
          DEFAULT_AGENT_EPOCH ") and a counter.\n",
          f);
    return f == stdout ? 0 : 1;
}

/* A bad option value: one line naming it (and its range), the usage; 1. */
static int agent_bad(agent_ctx *a, const char *opt, const char *val, const char *range)
{
    free(a);
    fprintf(stderr, "ppn-vm agent: bad %s '%s'%s%s%s\n", opt, val, range ? " (" : "", range ? range : "",
            range ? ")" : "");
    fputs("Usage: " AGENT_USAGE, stderr);
    return 1;
}

static int agent_fail(agent_ctx *a, uint8_t sk[64], int code)
{
    explicit_bzero(sk, 64);
    free(a);
    return code;
}

int cmd_agent(int argc, char **argv)
{
    char nw[TOOL_WHY_MAX];
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},       {"key", required_argument, NULL, 'k'},
        {"ledger", required_argument, NULL, 'l'}, {"controller", required_argument, NULL, 'c'},
        {"name", required_argument, NULL, 'n'}, {"state-dir", required_argument, NULL, 's'},
        {"interval-ms", required_argument, NULL, 'i'}, {"accel", required_argument, NULL, 'a'},
        {"qemu", required_argument, NULL, 'q'}, {"once", no_argument, NULL, 'o'},
        {"listen", required_argument, NULL, 'L'}, {"epoch-file", required_argument, NULL, 'E'},
        {"runner", required_argument, NULL, 'R'}, {"unit-dir", required_argument, NULL, 'U'},
        {"pool-margin-mib", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    agent_ctx *a = calloc(1, sizeof(*a));
    const char *keyf = NULL, *ctl = NULL, *listen_at = NULL, *epoch_file = NULL;
    uint64_t interval = 10000, pool_margin_mib = 512;
    bool once = false;
    uint8_t pk[32], sk[64];
    int c, r;
    if (!a)
        return tool_fail("start", "agent", -ENOMEM);
    a->run.state_dir = DEFAULT_STATE_DIR;
    a->run.unit_dir = "/etc/systemd/system";
    a->run.systemd = -1;
    a->run.accel = PPN_VM_ACCEL_AUTO;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': free(a); return agent_usage(stdout);
        case 'k': keyf = optarg; break;
        case 'l': a->ledger_dir = optarg; break;
        case 'c': ctl = optarg; break;
        case 'n': snprintf(a->name, sizeof(a->name), "%s", optarg); break;
        case 's': a->run.state_dir = optarg; break;
        case 'q': a->run.qemu = optarg; break;
        case 'o': once = true; break;
        case 'L': listen_at = optarg; break;
        case 'E': epoch_file = optarg; break;
        case 'U': a->run.unit_dir = optarg; break;
        case 'R':
            if (strcmp(optarg, "systemd") == 0)
                a->run.systemd = 1;
            else if (strcmp(optarg, "direct") == 0)
                a->run.systemd = 0;
            else if (strcmp(optarg, "auto") != 0)
                return agent_bad(a, "--runner", optarg, "auto, systemd, direct");
            break;
        case 'P':
            if (tool_parse_uint(optarg, 0, 1ULL << 30, &pool_margin_mib, nw) < 0)
                return agent_bad(a, "--pool-margin-mib", optarg, "0..1073741824");
            break;
        case 'i':
            if (tool_parse_uint(optarg, 100, UINT32_MAX, &interval, nw) < 0)
                return agent_bad(a, "--interval-ms", optarg, "100..4294967295");
            break;
        case 'a':
            if (strcmp(optarg, "tcg") == 0)
                a->run.accel = PPN_VM_ACCEL_TCG;
            else if (strcmp(optarg, "kvm") == 0)
                a->run.accel = PPN_VM_ACCEL_KVM;
            else if (strcmp(optarg, "auto") != 0)
                return agent_bad(a, "--accel", optarg, NULL);
            break;
        default: free(a); fputs("Usage: " AGENT_USAGE, stderr); return 1;
        }
    }
    if (!keyf || !ctl || !a->ledger_dir || optind != argc) {
        free(a);
        if (optind != argc)
            fprintf(stderr, "ppn-vm agent: unexpected argument '%s'\n", argv[optind]);
        else
            fprintf(stderr, "ppn-vm agent: --key, --ledger and --controller are needed\n");
        fputs("Usage: " AGENT_USAGE, stderr);
        return 1;
    }
    if (!a->name[0]) {
        char host[PPN_FLEET_NAME_MAX + 1] = "";
        gethostname(host, sizeof(host) - 1);
        for (char *p = host; *p; p++)
            if (!glue_fleet_name_ok((char[]){*p, 0}))
                *p = '-';
        snprintf(a->name, sizeof(a->name), "%s", host[0] ? host : "node");
    }
    if (!glue_fleet_name_ok(a->name)) {
        fprintf(stderr, "ppn-vm agent: bad --name '%s' (1..63 of [A-Za-z0-9._-])\n", a->name);
        free(a);
        return 1;
    }
    if (tool_check_key_file(keyf)) {
        free(a);
        return 1;
    }
    r = ppn_crypto_identity_load(keyf, pk, sk);
    if (r < 0) {
        free(a);
        return tool_fail("read key file", keyf, r);
    }
    memcpy(a->pk, pk, 32);
    struct sockaddr_storage ctl_addr, la;
    socklen_t ctl_len, ll = 0;
    r = fleet_parse_endpoint(ctl, FLEET_DEFAULT_PORT, &ctl_addr, &ctl_len);
    if (r < 0)
        return agent_fail(a, sk, tool_fail("resolve", ctl, r));
    if (listen_at) {
        char port[8];
        snprintf(port, sizeof(port), "%d", FLEET_DEFAULT_AGENT_PORT);
        r = fleet_parse_endpoint(listen_at, port, &la, &ll);
        if (r < 0)
            return agent_fail(a, sk, tool_fail("resolve", listen_at, r));
    } else {
        /* This node's mesh address, from its own ledger record. */
        r = glue_fleet_self_addr(a->ledger_dir, pk, FLEET_DEFAULT_AGENT_PORT, &la, &ll);
        if (r < 0 && r != -ESRCH && r != -EINVAL)
            return agent_fail(a, sk, tool_fail("read ledger", a->ledger_dir, r));
        if (r < 0) {
            fprintf(stderr, "ppn-vm: Failed to find this node's mesh address in the ledger "
                            "'%s': %s (give --listen)\n",
                    a->ledger_dir, r == -ESRCH ? "not a member" : "no valid address");
            return agent_fail(a, sk, 1);
        }
    }
    if (!epoch_file) {
        epoch_file = DEFAULT_AGENT_EPOCH;
        make_parent(epoch_file);
    }
    uint32_t epoch;
    r = ppn_fleet_epoch_next(epoch_file, ppnc_now_real_ns() / 1000000000u, &epoch);
    if (r < 0)
        return agent_fail(a, sk, tool_fail("advance the sequence epoch in", epoch_file, r));

    ppn_fleet_agent_config cfg = {.secret_key = sk, .listen = (struct sockaddr *)&la,
                                  .listen_len = ll, .controller = (struct sockaddr *)&ctl_addr,
                                  .controller_len = ctl_len, .epoch = epoch,
                                  .interval_ms = interval};
    ppn_fleet_agent_callbacks cb = {agent_measure, agent_create, agent_refused};
    ppn_fleet_agent *ag = NULL;
    char where[80];
    fleet_format_addr(&la, ll, where, sizeof(where));
    r = ppn_fleet_agent_new(&cfg, &cb, a, ppnc_now_mono_ms(), &ag);
    explicit_bzero(sk, sizeof(sk));
    if (r < 0) {
        free(a);
        return tool_fail("listen on", where, r);
    }
    r = agent_reload(a, ag);
    if (r < 0) {
        ppn_fleet_agent_free(ag);
        tool_fail("read ledger", a->ledger_dir, r);
        free(a);
        return 1;
    }
    if (pool_margin_mib && glue_pool_new(pool_margin_mib * MIB, &a->pool) < 0) { /* 0: no pool */
        ppn_fleet_agent_free(ag);
        tool_fail("start the resource pool of", a->name, -ENOMEM);
        free(a);
        return 1;
    }
    install_stop_handlers();
    /* QEMUs started by creation workers stay the agent's children. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char kb[PPN_CRYPTO_KEY_B64_LEN + 1];
    ppn_crypto_key_to_base64(pk, kb);
    fprintf(stderr, "ppn-vm agent: node %s (%s) on %s, heartbeats to %s every %" PRIu64
            " ms, epoch %u\n", a->name, kb, where, ctl, interval, epoch);
    uint64_t next_reload = ppnc_now_mono_ms() + RELOAD_MS;
    int status = 0;
    bool ready = false;
    while (!stop_requested) {
        uint64_t now = ppnc_now_mono_ms();
        r = ppn_fleet_agent_process(ag, now, ppnc_now_real_ns() / 1000000000u);
        if (r < 0)
            tool_fail("send heartbeat to", ctl, r);
        if (once && r != 0) {
            status = r < 0;
            break;
        }
        if (!ready && r > 0) /* systemd (Type=notify): the first heartbeat has gone */
            ready = tool_notify_ready("heartbeats sent") >= 0;
        agent_reap(a, ag); /* creation workers and QEMU children that ended */
        agent_pool_pass(a, ppnc_now_mono_ms());
        if (now >= next_reload) {
            if ((r = agent_reload(a, ag)) < 0)
                tool_fail("reload ledger", a->ledger_dir, r);
            next_reload = now + RELOAD_MS;
        }
        int wait = ppn_fleet_agent_timeout(ag, ppnc_now_mono_ms());
        struct pollfd p = {.fd = ppn_fleet_agent_fd(ag), .events = POLLIN};
        poll(&p, 1, wait > 1000 ? 1000 : wait);
    }
    (void)tool_notify_stopping();
    ppn_fleet_agent_free(ag);
    glue_pool_free(a->pool);
    free(a);
    return status;
}

/* ---- controller --------------------------------------------------------------- */

typedef struct client {
    int fd;                      /* -1: free */
    uint64_t deadline;
    char *in;                    /* FLEET_QUERY_MAX + 1 */
    size_t in_len;
    char *out;                   /* the answer line, once known */
    size_t out_len, out_off;
} client;

typedef struct controller {
    ppn_fleet_controller *eng;
    ppn_fleet *fleet;
    const char *ledger_dir;
    uint16_t agent_port;
    int ux;
    bool guard;
    client clients[MAX_CLIENTS];
} controller;

/* Byte counts are at most PPN_FLEET_BYTES_MAX in libppn-fleet, so they fit
 * a JSON integer as jansson holds it; clamp anyway rather than print -1. */
static json_t *json_u64(uint64_t v)
{
    return json_integer((json_int_t)(v > PPN_FLEET_BYTES_MAX ? PPN_FLEET_BYTES_MAX : v));
}

static json_t *node_json(const ppn_fleet *f, size_t i, uint64_t now)
{
    ppn_fleet_node_info info;
    if (ppn_fleet_node_get(f, i, now, &info) < 0)
        return NULL;
    char kb[PPN_CRYPTO_KEY_B64_LEN + 1], addr[80], src[80];
    ppn_crypto_key_to_base64(info.node_key, kb);
    fleet_format_addr(&info.addr, info.addr_len, addr, sizeof(addr));
    fleet_format_addr(&info.src_addr, info.src_addr_len, src, sizeof(src));
    json_t *vms = json_array();
    for (uint32_t v = 0; v < info.n_vms; v++) {
        ppn_fleet_vm vm;
        if (ppn_fleet_node_vm(f, i, v, &vm) == 0)
            json_array_append_new(vms, json_pack("{s:s, s:o, s:s}", "name", vm.name, "mem_bytes",
                                                 json_u64(vm.mem_bytes), "state",
                                                 ppn_fleet_vm_state_name((ppn_fleet_vm_state)vm.state)));
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:i, s:f, s:o, s:o, s:I, s:s, s:s, s:o}",
                     "key", kb, "name", info.node_name,
                     "state", ppn_fleet_node_state_name((ppn_fleet_node_state)info.state),
                     "ram_total_bytes", json_u64(info.ram_total_bytes),
                     "ram_available_bytes", json_u64(info.ram_available_bytes),
                     "claimed_bytes", json_u64(info.claimed_bytes),
                     "cpus", (int)info.cpu_count, "load", info.load_milli / 1000.0,
                     "ledger_size", json_u64(info.ledger_size), "vms", vms,
                     "last_heard_ms_ago",
                     info.last_heard_ms ? (json_int_t)(now - info.last_heard_ms) : (json_int_t)-1,
                     "addr", addr, "source", src, "seq", json_u64(info.seq));
}

static json_t *error_json(int err, const char *detail)
{
    return json_pack("{s:b, s:i, s:s, s:s}", "ok", 0, "errno", -err, "error", strerror(-err),
                     "detail", detail ? detail : "");
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
    ppn_crypto_key_to_base64(info.node_key, kb);
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
        ppn_crypto_key_to_base64(p.node_key, kb);
        json_object_set_new(o, "node", json_string(kb));
        json_object_set_new(o, "node_name", json_string(info.node_name));
        json_object_set_new(o, "ram_left_bytes", json_u64(p.ram_left_bytes));
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
        int r = ppn_fleet_node_resolve(f, node, q->node_key);
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
    ppn_fleet_dispatch d;
    int n = fleet_hex_decode(hex, buf, PPN_FLEET_MESSAGE_MAX), r;
    if (n < 0) {
        out = error_json(n, "request is not hex");
        goto done;
    }
    r = ppn_fleet_controller_dispatch(c->eng, buf, (size_t)n, now, ppnc_now_real_ns() / 1000000000u, &d);
    if (r < 0) {
        char why[256];
        ppn_fleet_dispatch_explain(c->fleet, buf, (size_t)n, r, now, why, sizeof(why));
        out = error_json(r, why);
        goto done;
    }
    ppn_fleet_node_info info;
    ppn_fleet_node_get(c->fleet, d.node_index, now, &info);
    char kb[PPN_CRYPTO_KEY_B64_LEN + 1], addr[80];
    ppn_crypto_key_to_base64(d.request.node_key, kb);
    fleet_format_addr(&info.addr, info.addr_len, addr, sizeof(addr));
    fprintf(stderr, "ppn-vm controller: dispatched VM '%s' to node %s (%s) at %s\n",
            d.request.vm_name, info.node_name, kb, addr);
    out = json_pack("{s:b, s:b, s:s, s:s, s:s}", "ok", 1, "dispatched", 1, "node", kb,
                    "node_name", info.node_name, "vm", d.request.vm_name);
done:
    free(buf);
    return out;
}

static json_t *controller_answer(controller *c, const char *line)
{
    uint64_t now = ppnc_now_mono_ms();
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
                                json_u64(ppn_fleet_refusals(c->fleet, (ppn_fleet_refusal)r)));
        out = json_pack("{s:b, s:o, s:o, s:o, s:b}", "ok", 1, "nodes", nodes, "accepted",
                        json_u64(ppn_fleet_accepted(c->fleet)), "refused", refused,
                        "guard_tripped", c->guard);
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

/* ---- UNIX-socket clients: non-blocking, a buffer and a deadline each ---- */

static void client_close(client *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    free(cl->in);
    free(cl->out);
    memset(cl, 0, sizeof(*cl));
    cl->fd = -1;
}

/* The answer as one line to send; false (client closed) without memory. */
static bool client_set_answer(client *cl, json_t *out)
{
    char *text = out ? json_dumps(out, JSON_COMPACT) : NULL;
    json_decref(out);
    size_t n = text ? strlen(text) : 0;
    char *line = text ? malloc(n + 1) : NULL;
    if (line) {
        memcpy(line, text, n);
        line[n] = '\n';
    }
    free(text);
    if (!line) {
        client_close(cl);
        return false;
    }
    cl->out = line;
    cl->out_len = n + 1;
    cl->out_off = 0;
    return true;
}

static void client_answer(controller *c, client *cl)
{
    cl->in[cl->in_len] = '\0';
    client_set_answer(cl, controller_answer(c, cl->in));
}

static void client_accept(controller *c, uint64_t now)
{
    for (;;) {
        int fd = accept4(c->ux, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        client *cl = NULL;
        for (int i = 0; i < MAX_CLIENTS && !cl; i++)
            if (c->clients[i].fd < 0)
                cl = &c->clients[i];
        if (cl)
            cl->in = malloc(FLEET_QUERY_MAX + 1);
        if (!cl || !cl->in) {
            close(fd); /* full: the client sees the connection end */
            if (cl)
                client_close(cl);
            continue;
        }
        cl->fd = fd;
        cl->deadline = now + CLIENT_DEADLINE_MS;
    }
}

static void client_io(controller *c, client *cl, short revents, uint64_t now)
{
    if (!cl->out && (revents & (POLLIN | POLLHUP | POLLERR))) {
        for (;;) {
            ssize_t n = read(cl->fd, cl->in + cl->in_len, FLEET_QUERY_MAX - cl->in_len);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    break;
                client_close(cl);
                return;
            }
            char *nl = n > 0 ? memchr(cl->in + cl->in_len, '\n', (size_t)n) : NULL;
            cl->in_len += (size_t)n;
            if (nl) {
                cl->in_len = (size_t)(nl - cl->in);
                client_answer(c, cl);
                break;
            }
            if (n == 0) { /* end of the query without a newline */
                if (!cl->in_len) {
                    client_close(cl);
                    return;
                }
                client_answer(c, cl);
                break;
            }
            if (cl->in_len == FLEET_QUERY_MAX) {
                if (!client_set_answer(cl, error_json(-EMSGSIZE, "query longer than 64 KiB")))
                    return;
                break;
            }
        }
        if (cl->fd < 0)
            return;
    }
    while (cl->out && cl->out_off < cl->out_len) {
        ssize_t n = write(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                client_close(cl);
            return;
        }
        cl->out_off += (size_t)n;
    }
    if (cl->out && cl->out_off == cl->out_len)
        client_close(cl);
    else if (now >= cl->deadline)
        client_close(cl); /* a client that trickles or does not read */
}

/* ---- the engine's reports ------------------------------------------------ */

static void on_evicted(ppn_fleet_controller *e, size_t index, uint64_t silent_ms, void *ud)
{
    controller *c = ud;
    ppn_fleet_node_info info;
    if (ppn_fleet_node_get(c->fleet, index, 0, &info) == 0)
        fprintf(stderr, "ppn-vm controller: evicted node '%s': silent for %" PRIu64 " ms\n",
                info.node_name, silent_ms);
}

static void on_guard(ppn_fleet_controller *e, bool tripped, uint32_t held, void *ud)
{
    controller *c = ud;
    c->guard = tripped;
    if (tripped)
        fprintf(stderr, "ppn-vm controller: %u nodes went silent at once, more than the guard "
                        "allows: holding evictions (check this controller's own network)\n",
                held);
    else
        fprintf(stderr, "ppn-vm controller: eviction guard released\n");
}

static void on_refused(ppn_fleet_controller *e, ppn_fleet_refusal reason,
                       const struct sockaddr *from, socklen_t fromlen, uint64_t suppressed,
                       void *ud)
{
    if (!from) {
        fprintf(stderr, "ppn-vm controller: %" PRIu64 " more datagrams refused\n", suppressed);
        return;
    }
    char src[80], more[64] = "";
    fleet_format_addr((const struct sockaddr_storage *)from, fromlen, src, sizeof(src));
    if (suppressed)
        snprintf(more, sizeof(more), " (%" PRIu64 " more refused since the last report)",
                 suppressed);
    fprintf(stderr, "ppn-vm controller: refused datagram from %s: %s%s\n", src,
            ppn_fleet_refusal_name(reason), more);
}

static int controller_reload(controller *c)
{
    struct glue_fleet_view v;
    int r = glue_fleet_view_load(c->ledger_dir, c->agent_port, &v);
    if (r < 0)
        return r;
    r = ppn_fleet_controller_set_members(c->eng, v.members, v.n_members);
    if (r >= 0)
        r = ppn_fleet_controller_set_operators(c->eng, v.operators, v.n_operators);
    glue_fleet_view_free(&v);
    return r < 0 ? r : 0;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    mode_t old = umask(0077); /* only root (the operator) may query and request */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 64) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

#define CONTROLLER_USAGE \
    "ppn-vm controller --ledger DIR [--listen ADDR[:PORT]] [--socket PATH] [--state FILE]\n" \
    "                  [--agent-port PORT] [--silence-ms MS] [--grace-ms MS] [--margin-mib MIB]\n" \
    "                  [--claim-ttl-ms MS] [--member-rate N]\n"

static int controller_usage(FILE *f)
{
    fputs("Usage: " CONTROLLER_USAGE
          "Runs the fleet controller: heartbeats over UDP on this node's mesh address (the one\n"
          "local address in the ledger's mesh range, port " FLEET_DEFAULT_PORT ", or --listen) from\n"
          "members of the ledger, each from its own mesh address; nodes silent > 30 s are evicted\n"
          "(after a grace period, never most of the fleet at once); queries and creation\n"
          "requests on the UNIX socket (default " FLEET_DEFAULT_SOCKET "), dispatched to the\n"
          "node's mesh address in the ledger (agent port 51901).  Replay state in --state\n"
          "(default " DEFAULT_CONTROLLER_STATE ").  More than --member-rate datagrams/s (20)\n"
          "from one member's address are refused before parsing.\n",
          f);
    return f == stdout ? 0 : 1;
}

static int controller_bad(const char *opt, const char *val, const char *range)
{
    fprintf(stderr, "ppn-vm controller: bad %s '%s' (%s)\n", opt, val, range);
    fputs("Usage: " CONTROLLER_USAGE, stderr);
    return 1;
}

int cmd_controller(int argc, char **argv)
{
    char nw[TOOL_WHY_MAX];
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},        {"ledger", required_argument, NULL, 'l'},
        {"listen", required_argument, NULL, 'L'}, {"socket", required_argument, NULL, 'S'},
        {"silence-ms", required_argument, NULL, 1}, {"grace-ms", required_argument, NULL, 2},
        {"margin-mib", required_argument, NULL, 3}, {"claim-ttl-ms", required_argument, NULL, 4},
        {"state", required_argument, NULL, 5}, {"agent-port", required_argument, NULL, 6},
        {"member-rate", required_argument, NULL, 7},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        ppn_fleet_option opt;
        uint64_t min, max, scale;
        const char *flag, *range;
    } num[8] = {
        [1] = {PPN_FLEET_OPT_SILENCE_MS, 1, 86400000, 1, "--silence-ms", "1..86400000"},
        [2] = {PPN_FLEET_OPT_GRACE_MS, 0, 86400000, 1, "--grace-ms", "0..86400000"},
        [3] = {PPN_FLEET_OPT_SAFETY_MARGIN, 0, 1ULL << 30, MIB, "--margin-mib", "0..1073741824"},
        [4] = {PPN_FLEET_OPT_CLAIM_TTL_MS, 0, 86400000, 1, "--claim-ttl-ms", "0..86400000"},
        [7] = {PPN_FLEET_OPT_MEMBER_RATE, 0, 1000000, 1, "--member-rate", "0..1000000"},
    };
    controller *c = calloc(1, sizeof(*c));
    if (!c)
        return tool_fail("start", "controller", -ENOMEM);
    for (int i = 0; i < MAX_CLIENTS; i++)
        c->clients[i].fd = -1;
    c->agent_port = FLEET_DEFAULT_AGENT_PORT;
    const char *listen_at = NULL, *sock = FLEET_DEFAULT_SOCKET, *state = NULL;
    uint64_t vals[8] = {0}, v;
    bool set[8] = {false};
    int ch, r, status = 1;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'h': free(c); return controller_usage(stdout);
        case 'l': c->ledger_dir = optarg; break;
        case 'L': listen_at = optarg; break;
        case 'S': sock = optarg; break;
        case 5: state = optarg; break;
        case 6:
            if (tool_parse_uint(optarg, 1, 65535, &v, nw) < 0) {
                free(c);
                return controller_bad("--agent-port", optarg, "1..65535");
            }
            c->agent_port = (uint16_t)v;
            break;
        case 1: case 2: case 3: case 4: case 7:
            if (tool_parse_uint(optarg, num[ch].min, num[ch].max, &vals[ch], nw) < 0) {
                free(c);
                return controller_bad(num[ch].flag, optarg, num[ch].range);
            }
            set[ch] = true;
            break;
        default: free(c); fputs("Usage: " CONTROLLER_USAGE, stderr); return 1;
        }
    }
    if (!c->ledger_dir || optind != argc) {
        if (optind != argc)
            fprintf(stderr, "ppn-vm controller: unexpected argument '%s'\n", argv[optind]);
        else
            fprintf(stderr, "ppn-vm controller: --ledger is needed\n");
        fputs("Usage: " CONTROLLER_USAGE, stderr);
        free(c);
        return 1;
    }
    struct sockaddr_storage la;
    socklen_t ll;
    char where[128];
    if (listen_at) {
        r = fleet_parse_endpoint(listen_at, FLEET_DEFAULT_PORT, &la, &ll);
        if (r < 0) {
            free(c);
            return tool_fail("resolve", listen_at, r);
        }
    } else {
        struct glue_fleet_view lv;
        char found[512] = "";
        r = glue_fleet_view_load(c->ledger_dir, c->agent_port, &lv);
        if (r < 0) {
            tool_fail("read ledger", c->ledger_dir, r);
            free(c);
            return 1;
        }
        r = glue_fleet_local_addr(lv.mesh_range, (uint16_t)atoi(FLEET_DEFAULT_PORT), &la, &ll, found, sizeof(found));
        if (r < 0) {
            fprintf(stderr, "ppn-vm: Failed to find this node's mesh address in %s: %s (give "
                            "--listen)\n", lv.mesh_range,
                    r == -ENOTUNIQ ? found : r == -ENOENT ? "no local address in the range"
                                                          : strerror(-r));
            glue_fleet_view_free(&lv);
            free(c);
            return 1;
        }
        glue_fleet_view_free(&lv);
    }
    fleet_format_addr(&la, ll, where, sizeof(where));
    if (!state) {
        state = DEFAULT_CONTROLLER_STATE;
        make_parent(state);
    }
    r = ppn_fleet_controller_new((struct sockaddr *)&la, ll, state, ppnc_now_mono_ms(), &c->eng);
    if (r < 0) {
        tool_fail(r == -EUCLEAN || r == -EACCES || r == -ENOENT ? "open state file" : "listen on",
                  r == -EUCLEAN || r == -EACCES || r == -ENOENT ? state : where, r);
        free(c);
        return 1;
    }
    c->fleet = ppn_fleet_controller_fleet(c->eng);
    for (int i = 1; i < 8; i++)
        if (set[i] && (r = ppn_fleet_set_option(c->fleet, num[i].opt, vals[i] * num[i].scale)) < 0) {
            tool_fail("set", "option", r);
            goto out;
        }
    ppn_fleet_controller_callbacks cb = {on_evicted, on_guard, on_refused};
    ppn_fleet_controller_set_callbacks(c->eng, &cb, c);
    r = controller_reload(c);
    if (r < 0) {
        tool_fail("read ledger", c->ledger_dir, r);
        goto out;
    }
    c->ux = listen_unix(sock);
    if (c->ux < 0) {
        tool_fail("listen on", sock, c->ux);
        goto out;
    }
    install_stop_handlers();
    fprintf(stderr, "ppn-vm controller: %zu members, heartbeats on %s (receive buffer %d KiB), "
            "queries on %s\n", ppn_fleet_node_count(c->fleet), where,
            ppn_fleet_controller_rcvbuf(c->eng) / 1024, sock);
    (void)tool_notify_ready("listening"); /* systemd (Type=notify) */
    uint64_t next_reload = ppnc_now_mono_ms() + RELOAD_MS;
    while (!stop_requested) {
        struct pollfd p[2 + MAX_CLIENTS];
        client *who[2 + MAX_CLIENTS];
        nfds_t np = 0;
        uint64_t now = ppnc_now_mono_ms();
        int wait = ppn_fleet_controller_timeout(c->eng, now);
        p[np++] = (struct pollfd){.fd = ppn_fleet_controller_fd(c->eng), .events = POLLIN};
        p[np++] = (struct pollfd){.fd = c->ux, .events = POLLIN};
        for (int i = 0; i < MAX_CLIENTS; i++) {
            client *cl = &c->clients[i];
            if (cl->fd < 0)
                continue;
            who[np] = cl;
            p[np++] = (struct pollfd){.fd = cl->fd, .events = cl->out ? POLLOUT : POLLIN};
            int left = cl->deadline > now ? (int)(cl->deadline - now) : 0;
            if (left < wait)
                wait = left;
        }
        if (next_reload > now && (int)(next_reload - now) < wait)
            wait = (int)(next_reload - now);
        if (poll(p, np, wait < 0 ? 0 : wait) < 0 && errno != EINTR)
            break;
        now = ppnc_now_mono_ms();
        /* Heartbeats first: the engine drains its queue in batches. */
        r = ppn_fleet_controller_process(c->eng, now);
        if (r < 0)
            tool_fail("receive heartbeats on", where, r);
        for (nfds_t i = 2; i < np; i++)
            if (who[i]->fd == p[i].fd)
                client_io(c, who[i], p[i].revents, now);
        if (p[1].revents & POLLIN)
            client_accept(c, now);
        if (now >= next_reload) {
            r = controller_reload(c);
            if (r < 0)
                tool_fail("reload ledger", c->ledger_dir, r);
            next_reload = now + RELOAD_MS;
        }
    }
    status = 0;
    (void)tool_notify_stopping();
    unlink(sock);
    close(c->ux);
out:
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (c->clients[i].fd >= 0)
            client_close(&c->clients[i]);
    ppn_fleet_controller_free(c->eng);
    free(c);
    return status;
}
