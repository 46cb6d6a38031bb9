/* The operator's side of the fleet controller's UNIX socket (fleet, place,
 * request) and the helpers fleet-services.c shares.
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
#include "ppn-common.h"
#include "ppn-vm.h"
#include "fleet-tool.h"
#include "tool-util.h"
#include "vmopts.h"
#include "vmreq.h"

#define DEFAULT_SOCKET FLEET_DEFAULT_SOCKET
#define MIB ((uint64_t)1 << 20)

void fleet_hex_encode(const uint8_t *in, size_t n, char *out)
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
int fleet_hex_decode(const char *in, uint8_t *out, size_t max)
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

int fleet_parse_endpoint(const char *s, const char *default_port, struct sockaddr_storage *ret,
                         socklen_t *ret_len)
{
    char host[256];
    const char *port = default_port;
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

void fleet_format_addr(const struct sockaddr_storage *a, socklen_t len, char *out, size_t size)
{
    char host[INET6_ADDRSTRLEN] = "-", port[8] = "";
    if (len && getnameinfo((const struct sockaddr *)a, len, host, sizeof(host), port,
                           sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        snprintf(out, size, a->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    else
        snprintf(out, size, "-");
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
        tool_error("Failed to %s '%s': %s (%s)", verb, what, strerror(e), detail);
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
        size_t j;
        json_t *vm;
        json_array_foreach(json_object_get(n, "vms"), j, vm) {
            const char *vn = "", *vs = "";
            json_int_t vmem = 0;
            json_unpack(vm, "{s:s, s:I, s?s}", "name", &vn, "mem_bytes", &vmem, "state", &vs);
            char vb[16];
            human_bytes((uint64_t)vmem, vb, sizeof(vb));
            printf("  vm %-32s %-8s %s\n", vn, vs, vb);
        }
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
    char nw[TOOL_WHY_MAX];
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
            if (tool_parse_uint(optarg, 1, UINT32_MAX, &v.mem_mib, nw) < 0)
                return fprintf(stderr, "ppn-vm place: bad --memory '%s'\n", optarg), place_usage(stderr);
            break;
        case 'c':
            if (tool_parse_uint(optarg, 1, UINT32_MAX, &v.vcpus, nw) < 0)
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
    fputs("Usage: ppn-vm request NAME [--type TYPE] --key KEYFILE [options]\n"
          "Requests a VM, described as 'ppn-vm create' describes one: the controller suggests\n"
          "a node, you confirm (or --yes), then the full specification, the node and your\n"
          "confirmation are signed with the operator key (which must hold \"vm.create\") and\n"
          "the controller dispatches it to that node's agent, which creates and starts it.\n"
          "  --type TYPE           VM-Totebox, VM-MediaKit, VM-Orchestration, VM-PrivateGit\n"
          "                        (or totebox, mediakit, ...); default 'general', which is\n"
          "                        VM-Orchestration\n"
          "  --memory MIB  --vcpus N  --disk PATH  --disk-size GIB  --base IMAGE\n"
          "  --kernel K --initrd I --append A   direct kernel boot\n"
          "  --forward [tcp:|udp:]HOST:GUEST  --no-default-forwards  --no-network\n"
          "  --hostname NAME --user NAME --ssh-key KEY|FILE --user-data FILE\n"
          "  --network-config FILE  cloud-init (files read here, their text is sent)\n"
          "  --node NODE           pin to a node (name or key; required for VM-Totebox)\n"
          "  --yes  --wait SECONDS (until it runs there)  --socket PATH\n"
          "  --json                the result as JSON (name, node, node_key, dispatched, and with\n"
          "                        --wait running and request_to_running_s); errors as JSON\n"
          "Paths (disk, base, kernel) are on the target node.  A VM never moves: a name\n"
          "already placed on another node is refused.\n"
          "Exit 0 dispatched (and running with --wait), 1 failed or declined, 2 no node fits.\n",
          f);
    return f == stdout ? 0 : 1;
}

/* Until the VM is listed on the node as running (0), or as failed (-EIO). */
static int wait_running(const char *sock, const char *node_key, const char *vm, int seconds)
{
    uint64_t end = ppnc_now_mono_ms() + (uint64_t)seconds * 1000;
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
                    const char *st = json_string_value(json_object_get(v, "state"));
                    if (s && strcmp(s, vm) == 0 && st &&
                        (strcmp(st, "running") == 0 || strcmp(st, "failed") == 0)) {
                        r = strcmp(st, "running") == 0 ? 0 : -EIO;
                        json_decref(a);
                        return r;
                    }
                }
            }
            json_decref(a);
        }
        usleep(200000);
    } while (ppnc_now_mono_ms() < end);
    return -ETIMEDOUT;
}

typedef struct request_opts {
    struct vm_spec_opts so; /* the options create shares (glue/vmopts.h) */
    uint64_t mem_mib, vcpus, disk_gib;
} request_opts;

/* request's numbers were read as the options came (vm_spec_apply). */
static int request_number(int code, const char *arg, uint64_t *ret, const char **ret_why, void *userdata)
{
    const request_opts *o = userdata;
    (void)arg, (void)ret_why;
    *ret = code == VM_OPT_MEMORY ? o->mem_mib : code == VM_OPT_VCPUS ? o->vcpus : o->disk_gib;
    return 0;
}

static const char *request_base(ppn_vm_spec *s, void *userdata)
{
    const request_opts *o = userdata;
    if (o->so.base && (o->so.base[0] != '/' || !ppn_vm_spec_disk(s)[0] || ppn_vm_spec_set_base(s, o->so.base) < 0))
        return "--base is an absolute path and needs --disk (the new overlay)";
    return NULL;
}

/* The specification as create would write it, checked, without touching
 * the files it names (they are on the target node).  NULL after an error line. */
static ppn_vm_spec *request_build_spec(const char *name, const request_opts *o)
{
    ppn_vm_type t;
    const char *type = strcmp(o->so.type, "general") == 0 ? "VM-Orchestration" : o->so.type;
    if (ppn_vm_type_from_string(type, &t) < 0) {
        fprintf(stderr, "ppn-vm request: unknown --type '%s' (VM-Totebox, VM-MediaKit, "
                        "VM-Orchestration, VM-PrivateGit)\n", o->so.type);
        return NULL;
    }
    ppn_vm_spec *s = NULL;
    const char *why = NULL, *bad = NULL;
    char *keys[PPN_VM_SSH_KEYS_MAX] = {NULL}, *ud = NULL, *nc = NULL;
    size_t nkeys = 0;
    int r = ppn_vm_spec_new(name, t, &s);
    if (r < 0) {
        tool_error("Failed to request '%s': %s", name, strerror(-r));
        return NULL;
    }
    size_t bad_fwd;
    const struct vm_spec_steps steps = {request_number, request_base, (void *)o};
    if (vm_spec_apply(s, &o->so, &steps, &bad, &bad_fwd) < 0) {
        bad = bad ? bad : "--forward is [tcp:|udp:]HOSTPORT:GUESTPORT";
        goto fail;
    }
    for (size_t i = 0; i < o->so.n_ssh_keys; i++) {
        const char *k = o->so.ssh_keys[i];
        bool literal = !strncmp(k, "ssh-", 4) || !strncmp(k, "ecdsa-", 6) || !strncmp(k, "sk-", 3);
        char *text = literal ? strdup(k) : vm_read_option_file("--ssh-key", k, 64 * 1024);
        if (!text)
            goto fail_quiet;
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            size_t l = strlen(line);
            if (l && line[l - 1] == '\r')
                line[--l] = '\0';
            if (!l || line[0] == '#')
                continue;
            if (nkeys == PPN_VM_SSH_KEYS_MAX || !(keys[nkeys] = strdup(line))) {
                free(text);
                bad = "--ssh-key: too many keys";
                goto fail;
            }
            nkeys++;
        }
        free(text);
    }
    if (o->so.user_data && !(ud = vm_read_option_file("--user-data", o->so.user_data, PPN_VM_USER_DATA_MAX)))
        goto fail_quiet;
    if (o->so.network_config &&
        !(nc = vm_read_option_file("--network-config", o->so.network_config, PPN_VM_NETWORK_CONFIG_MAX)))
        goto fail_quiet;
    ppn_vm_cloud_init ci = {o->so.hostname, o->so.user, (const char *const *)keys, nkeys, ud, nc};
    if (ppn_vm_spec_set_cloud_init(s, &ci, &why) < 0) {
        tool_error("Failed to request '%s': %s", name, why);
        goto fail_quiet;
    }
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(ud);
    free(nc);
    return s;
fail:
    fprintf(stderr, "ppn-vm request: %s\n", bad);
fail_quiet:
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(ud);
    free(nc);
    ppn_vm_spec_free(s);
    return NULL;
}

int cmd_request(int argc, char **argv)
{
    char nw[TOOL_WHY_MAX];
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},         VM_SPEC_LONGOPTS,
        {"socket", required_argument, NULL, 'S'}, {"key", required_argument, NULL, 'k'},
        {"yes", no_argument, NULL, 'y'},          {"wait", required_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    vm_args v = {.vcpus = 0, .kind = "general", .sock = DEFAULT_SOCKET};
    request_opts o;
    memset(&o, 0, sizeof(o));
    o.so.type = "general";
    const char *keyf = NULL, *why = NULL;
    bool yes = false;
    uint64_t wait_s = 0;
    int ch, r;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int k = vm_spec_opt(&o.so, ch, optarg, &why);
        if (k < 0)
            return fprintf(stderr, "ppn-vm request: %s\n", why), request_usage(stderr);
        switch (k ? ch : 0) {
        case VM_OPT_MEMORY:
            if (tool_parse_uint(optarg, 1, UINT32_MAX, &o.mem_mib, nw) < 0)
                return fprintf(stderr, "ppn-vm request: bad --memory '%s'\n", optarg), request_usage(stderr);
            break;
        case VM_OPT_VCPUS:
            if (tool_parse_uint(optarg, 1, UINT32_MAX, &o.vcpus, nw) < 0)
                return fprintf(stderr, "ppn-vm request: bad --vcpus '%s'\n", optarg), request_usage(stderr);
            break;
        case VM_OPT_DISK_SIZE:
            if (tool_parse_uint(optarg, 1, 1ULL << 20, &o.disk_gib, nw) < 0)
                return fprintf(stderr, "ppn-vm request: bad --disk-size '%s'\n", optarg), request_usage(stderr);
            break;
        case VM_OPT_NODE: v.node = optarg; break;
        case 0:
            switch (ch) {
            case 'h': return request_usage(stdout);
            case 'w':
                if (tool_parse_uint(optarg, 0, 3600, &wait_s, nw) < 0)
                    return fprintf(stderr, "ppn-vm request: bad --wait '%s'\n", optarg), request_usage(stderr);
                break;
            case 'S': v.sock = optarg; break;
            case 'k': keyf = optarg; break;
            case 'y': yes = true; break;
            case 'J':
                json = true;
                tool_set_json_errors(true);
                break;
            default: return request_usage(stderr);
            }
            break;
        default: break;
        }
    }
    if (optind + 1 != argc || !keyf) {
        fprintf(stderr, "ppn-vm request: NAME and --key are needed\n");
        return request_usage(stderr);
    }
    const char *name = argv[optind];
    if (!ppn_vm_name_valid(name)) {
        fprintf(stderr, "ppn-vm request: a VM name is 1..63 of a-z, 0-9 and '-'\n");
        return request_usage(stderr);
    }
    ppn_vm_spec *spec = request_build_spec(name, &o);
    if (!spec)
        return 1;
    bool totebox = ppn_vm_spec_type(spec) == PPN_VM_TYPE_TOTEBOX;
    v.kind = totebox ? "totebox" : "general";
    v.mem_mib = ppn_vm_spec_memory_mib(spec);
    v.vcpus = ppn_vm_spec_vcpus(spec);
    if (totebox && !v.node) {
        ppn_vm_spec_free(spec);
        fprintf(stderr, "ppn-vm: Failed to request '%s': a VM-Totebox must be assigned to a "
                        "named node (--node)\n", name);
        return 1;
    }
    static ppn_fleet_request rq;
    uint8_t sk[64], operator_key[32], node_key[32];
    if (tool_check_key_file(keyf)) {
        ppn_vm_spec_free(spec);
        return 1;
    }
    r = ppn_crypto_identity_load(keyf, operator_key, sk);
    if (r < 0) {
        ppn_vm_spec_free(spec);
        return tool_fail("read key file", keyf, r);
    }

    /* 1. The advisory placement. */
    json_t *q = place_query_json(&v), *a = NULL;
    r = query(v.sock, q, &a);
    json_decref(q);
    if (r < 0) {
        ppn_vm_spec_free(spec);
        explicit_bzero(sk, sizeof(sk));
        return tool_fail("query controller at", v.sock, r);
    }
    if (answer_error(a, "place", name) < 0 || !json_is_true(json_object_get(a, "placed"))) {
        int code = json_is_true(json_object_get(a, "ok")) ? 2 : 1;
        if (code == 2)
            fprintf(stderr, "ppn-vm: Failed to place '%s': %s\n", name,
                    json_string_value(json_object_get(a, "explain")));
        json_decref(a);
        ppn_vm_spec_free(spec);
        explicit_bzero(sk, sizeof(sk));
        return code;
    }
    print_placement(a);
    const char *node_b64 = json_string_value(json_object_get(a, "node"));
    const char *nn = json_string_value(json_object_get(a, "node_name"));
    char node_copy[PPN_CRYPTO_KEY_B64_LEN + 1], name_copy[PPN_FLEET_NAME_MAX + 1];
    snprintf(node_copy, sizeof(node_copy), "%s", node_b64 ? node_b64 : "");
    snprintf(name_copy, sizeof(name_copy), "%s", nn && nn[0] ? nn : "");
    json_decref(a);
    r = ppn_crypto_key_from_base64(node_copy, strlen(node_copy), node_key);
    if (r < 0 || !name_copy[0]) {
        ppn_vm_spec_free(spec);
        explicit_bzero(sk, sizeof(sk));
        fprintf(stderr, "ppn-vm: Failed to request '%s': the controller named no node %s\n", name,
                r < 0 ? "key" : "name (the ledger must name it)");
        return 1;
    }
    /* Placed once, it stays: the VM is pinned to the node confirmed
     * (the request: tools/glue/vmreq.c). */
    r = ppn_vm_spec_set_node(spec, name_copy);
    if (r == 0)
        r = glue_vm_request_for(spec, node_key, &rq);
    if (r < 0) {
        ppn_vm_spec_free(spec);
        explicit_bzero(sk, sizeof(sk));
        if (r == -EMSGSIZE)
            fprintf(stderr, "ppn-vm: Failed to request '%s': the specification is over %d bytes "
                            "(user-data, network-config or keys too long for one request)\n",
                    name, PPN_FLEET_SPEC_MAX);
        else
            tool_fail("request", name, r);
        return 1;
    }

    memcpy(rq.operator_key, operator_key, 32);

    /* 2. The operator's confirmation (signed with the rest). */
    char question[1024];
    glue_vm_request_question(spec, name_copy, question, sizeof(question));
    ppn_vm_spec_free(spec);
    if (!yes && !tool_confirm(question)) {
        explicit_bzero(sk, sizeof(sk));
        return tool_fail("request", name, -ECANCELED);
    }

    /* 3. Sign (the signature covers the specification, the confirmed node
     * and the confirmation) and send. */
    rq.confirmed = true;
    rq.created_unix = ppnc_now_real_ns() / 1000000000u;
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
    fleet_hex_encode(buf, (size_t)r, hex);
    q = json_pack("{s:s, s:s}", "op", "request", "request", hex);
    free(hex);
    uint64_t t0 = ppnc_now_mono_ms();
    r = query(v.sock, q, &a);
    json_decref(q);
    if (r < 0)
        return tool_fail("query controller at", v.sock, r);
    if (answer_error(a, "request", name) < 0) {
        json_decref(a);
        return 1;
    }
    json_decref(a);
    if (!json)
        printf("dispatched '%s' to node '%s'\n", name, name_copy);
    if (json && !wait_s) {
        json_t *jo = json_pack("{s:s,s:s,s:s,s:b}", "name", name, "node", name_copy, "node_key", node_copy,
                               "dispatched", 1);
        char *t = jo ? json_dumps(jo, JSON_COMPACT) : NULL;
        json_decref(jo);
        if (t)
            puts(t);
        free(t);
    }
    if (wait_s) {
        r = wait_running(v.sock, node_copy, name, (int)wait_s);
        if (r == -EIO) {
            fprintf(stderr, "ppn-vm: Failed to start '%s' on node '%s' (its agent's log says why)\n",
                    name, name_copy);
            return 1;
        }
        if (r < 0)
            return tool_fail("see running", name, r);
        double secs = (double)(ppnc_now_mono_ms() - t0) / 1000.0;
        if (json) {
            json_t *jo = json_pack("{s:s,s:s,s:s,s:b,s:b,s:f}", "name", name, "node", name_copy, "node_key",
                                   node_copy, "dispatched", 1, "running", 1, "request_to_running_s", secs);
            char *t = jo ? json_dumps(jo, JSON_COMPACT) : NULL;
            json_decref(jo);
            if (t)
                puts(t);
            free(t);
        } else {
            printf("'%s' runs on node '%s'\n", name, name_copy);
            printf("request to running: %.1f s\n", secs);
        }
    }
    return 0;
}
