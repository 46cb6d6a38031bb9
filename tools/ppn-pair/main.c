/* ppn-pair — the Genesis Protocol: node keys, the genesis node, and the
 * pairing ceremony that admits a node into the mesh.
 *
 * It composes three independent libraries: libppn-crypto runs the ceremony
 * (commitment, CPace, key confirmation, SAS, encrypted node records),
 * libppn-ledger records the admission, and libppn-wg turns the ledger's
 * member list into WireGuard peers.  See doc/ppn-pair.md. */
#include <errno.h>
#include <jansson.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ppn/crypto.h"
#include "ppn/ledger.h"
#include "ppn/wg.h"
#include "glue.h"
#include "handoff.h"
#include "pair.h"
#include "tool-util.h"

/* ---- node state directory ----------------------------------------------- */

int node_load(struct node *n, const char *dir, bool need_ledger)
{
    memset(n, 0, sizeof(*n));
    if (snprintf(n->dir, sizeof(n->dir), "%s", dir) >= (int)sizeof(n->dir))
        return tool_error("state directory path too long: '%s'", dir);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/identity.key", dir);
    if (tool_check_key_file(path))
        return 1;
    int r = ppn_crypto_identity_load(path, n->id_pk, n->id_sk);
    if (r < 0) {
        if (r == -ENOENT)
            return tool_error("Failed to load '%s': no such file (run 'ppn-pair keys --state %s' first)",
                              path, dir);
        return tool_fail("load identity key", path, r);
    }
    snprintf(path, sizeof(path), "%s/wg.key", dir);
    if (tool_check_key_file(path))
        return 1;
    r = ppn_crypto_wg_load(path, n->wg_sk, n->wg_pk);
    if (r < 0)
        return tool_fail("load WireGuard key", path, r);
    snprintf(n->ledger_dir, sizeof(n->ledger_dir), "%s/ledger", dir);
    if (need_ledger && access(n->ledger_dir, F_OK) != 0)
        return tool_error("no ledger in '%s' (this node has not joined a mesh yet)", n->ledger_dir);
    n->loaded = true;
    return 0;
}

void node_wipe(struct node *n)
{
    sodium_memzero(n->id_sk, sizeof(n->id_sk));
    sodium_memzero(n->wg_sk, sizeof(n->wg_sk));
}

int node_open_ledger(struct node *n, const char *dir, ppn_ledger **ret)
{
    *ret = NULL;
    if (node_load(n, dir, true))
        return 1;
    int r = glue_ledger_open_write_wait(n->ledger_dir, ret);
    if (r < 0) {
        node_wipe(n);
        return tool_fail("open ledger", n->ledger_dir, r);
    }
    return 0;
}

/* ---- keys ---------------------------------------------------------------- */

static int cmd_keys(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL;
    bool force = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:fh", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'f': force = true; break;
        case 'h':
            printf("Usage: ppn-pair keys --state DIR [--force]\n"
                   "Generate this node's Ed25519 identity key (DIR/identity.key) and WireGuard\n"
                   "private key (DIR/wg.key), files 0600, and print the public keys.\n");
            return 0;
        default: return tool_error("usage: ppn-pair keys --state DIR [--force]");
        }
    }
    if (!state)
        return tool_error("--state DIR is required");
    if (mkdir(state, 0700) < 0 && errno != EEXIST)
        return tool_fail("create", state, -errno);

    uint8_t id_pk[32], id_sk[64], wg_sk[32], wg_pk[32];
    char path[PATH_MAX], b64[PPN_CRYPTO_KEY_B64_LEN + 1];
    int r = ppn_crypto_identity_generate(id_pk, id_sk);
    if (r < 0)
        return tool_fail("generate", "identity key", r);
    snprintf(path, sizeof(path), "%s/identity.key", state);
    r = ppn_crypto_identity_save(path, id_sk, force);
    sodium_memzero(id_sk, sizeof(id_sk));
    if (r < 0)
        return r == -EEXIST ? tool_error("'%s' exists; --force replaces it (the node's identity changes)", path)
                            : tool_fail("save", path, r);
    printf("identity\t");
    ppn_crypto_key_to_base64(id_pk, b64);
    printf("%s\n", b64);

    r = ppn_crypto_wg_generate(wg_sk);
    if (r < 0)
        return tool_fail("generate", "WireGuard key", r);
    snprintf(path, sizeof(path), "%s/wg.key", state);
    r = ppn_crypto_wg_save(path, wg_sk, force);
    if (r == 0)
        r = ppn_crypto_wg_public(wg_sk, wg_pk);
    sodium_memzero(wg_sk, sizeof(wg_sk));
    if (r < 0)
        return r == -EEXIST ? tool_error("'%s' exists; --force replaces it", path) : tool_fail("save", path, r);
    ppn_crypto_key_to_base64(wg_pk, b64);
    printf("wireguard\t%s\n", b64);
    return 0;
}

/* ---- genesis ------------------------------------------------------------- */

#define GENESIS_USAGE                                                                                   \
    "genesis --state DIR --origin NAME [--range CIDR] [--endpoint HOST:PORT] [--hostname NAME] "       \
    "[--topology mesh|hub [--hub NAME]] [--ifname IF [--listen-port N]]"
#define MESH_USAGE "mesh --state DIR [--ifname IF] [--listen-port N] [--import LEDGER_DIR]"

static int cmd_genesis(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"origin", required_argument, NULL, 'o'},
        {"range", required_argument, NULL, 'r'},
        {"endpoint", required_argument, NULL, 'e'},
        {"hostname", required_argument, NULL, 'n'},
        {"ifname", required_argument, NULL, 'i'},
        {"listen-port", required_argument, NULL, 'p'},
        {"topology", required_argument, NULL, 't'},
        {"hub", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL, *origin = NULL, *range = "10.8.0.0/24", *endpoint = "", *ifname = NULL;
    const char *topology = "mesh", *hub = NULL;
    char hostname[256] = "";
    unsigned port = 51820;
    bool port_given = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:o:r:e:n:i:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'o': origin = optarg; break;
        case 'r': range = optarg; break;
        case 'e': endpoint = optarg; break;
        case 'n': snprintf(hostname, sizeof(hostname), "%s", optarg); break;
        case 'i': ifname = optarg; break;
        case 't': topology = optarg; break;
        case 'H': hub = optarg; break;
        case 'p': if (opt_port(GENESIS_USAGE, optarg, &port, &port_given)) return 1; break;
        case 'h':
            printf("Usage: ppn-pair genesis --state DIR --origin NAME [--range CIDR] [--endpoint HOST:PORT]\n"
                   "                        [--hostname NAME] [--topology mesh|hub [--hub NAME]]\n"
                   "                        [--ifname IF [--listen-port N]]\n"
                   "Make this node the first of a new mesh: create the ledger with this node's\n"
                   "identity as first administrator, admit this node with the first address of\n"
                   "the range, and with --ifname bring up its WireGuard interface.\n"
                   "  --topology mesh   every member peers with every other (the default)\n"
                   "  --topology hub    this node is the routing hub (--hub NAME may only name it:\n"
                   "                    it is the only member yet; 'ppn-pair topology hub NODE'\n"
                   "                    moves the hub later)\n");
            return 0;
        default: return tool_usage_error(GENESIS_USAGE, "unknown option (see --help)");
        }
    }
    if (optind < argc)
        return tool_usage_error(GENESIS_USAGE, "unexpected argument '%s'%s", argv[optind],
                                strchr(argv[optind], '/') ? " (a mesh range is given with --range)" : "");
    if (!state || !origin)
        return tool_usage_error(GENESIS_USAGE, "--state DIR and --origin NAME are required");
    {
        char why[TOOL_WHY_MAX], host[256];
        uint16_t ep;
        if (*endpoint && tool_parse_hostport(endpoint, false, host, sizeof(host), &ep, why) < 0)
            return tool_usage_error(GENESIS_USAGE, "--endpoint: %s", why);
        if (ifname && tool_check_ifname(ifname, why) < 0)
            return tool_usage_error(GENESIS_USAGE, "--ifname: %s", why);
        if (port_given && !ifname)
            return tool_usage_error(GENESIS_USAGE, "--listen-port needs --ifname");
        if (strcmp(topology, "mesh") && strcmp(topology, "hub"))
            return tool_usage_error(GENESIS_USAGE, "--topology: '%s' is not a topology (mesh or hub)", topology);
        if (hub && strcmp(topology, "hub"))
            return tool_usage_error(GENESIS_USAGE, "--hub needs --topology hub");
    }
    if (!hostname[0] && gethostname(hostname, sizeof(hostname)) < 0)
        return tool_fail("read", "hostname", -errno);
    if (hub && strcmp(hub, hostname))
        return tool_usage_error(GENESIS_USAGE, "--hub: at genesis the hub can only be this node ('%s'); name "
                                "another later with 'ppn-pair topology hub NODE'", hostname);

    struct node n;
    if (node_load(&n, state, false))
        return 1;
    struct glue_mesh_range mr;
    if (glue_mesh_range_parse(range, &mr) < 0) {
        node_wipe(&n);
        return tool_error("Failed to parse mesh range '%s': expected an IPv4 prefix such as 10.8.0.0/24", range);
    }
    ppn_ledger *l = NULL;
    int r = ppn_ledger_create(n.ledger_dir, origin, range, n.id_sk, &l);
    if (r < 0) {
        node_wipe(&n);
        return r == -EEXIST ? tool_error("'%s' already holds a ledger", n.ledger_dir)
                            : tool_fail("create ledger", n.ledger_dir, r);
    }
    char addr[64];
    glue_mesh_range_host(&mr, 1, addr, sizeof(addr));
    r = ppn_ledger_node_join(l, n.id_pk, n.wg_pk, addr, endpoint, hostname, n.id_sk, NULL);
    if (r == 0 && !strcmp(topology, "hub"))
        r = ppn_ledger_cap_grant(l, n.id_pk, PPN_LEDGER_CAP_MESH_HUB, "", n.id_sk, NULL);
    if (r < 0) {
        ppn_ledger_free(l);
        node_wipe(&n);
        return tool_fail("append node join to", n.ledger_dir, r);
    }
    r = ledger_seal(l, &n);
    ppn_ledger_free(l);
    if (r)
        return node_wipe(&n), 1;
    printf("genesis\t%s\t%s\t%s%s\n", origin, hostname, addr, strcmp(topology, "hub") ? "" : "\thub");
    if (ifname)
        r = mesh_apply(&n, ifname, port, false);
    node_wipe(&n);
    return r ? 1 : 0;
}

/* ---- mesh and status ----------------------------------------------------- */

static int cmd_mesh(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"ifname", required_argument, NULL, 'i'},
        {"listen-port", required_argument, NULL, 'p'},
        {"import", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL, *ifname = "wg0", *import = NULL;
    unsigned port = 51820;
    int c;
    while ((c = getopt_long(argc, argv, "s:i:p:m:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'i': ifname = optarg; break;
        case 'p': if (opt_port(MESH_USAGE, optarg, &port, NULL)) return 1; break;
        case 'm': import = optarg; break;
        case 'h':
            printf("Usage: ppn-pair mesh --state DIR [--ifname IF] [--listen-port N] [--import LEDGER_DIR]\n"
                   "Make the WireGuard interface match the ledger: this node's key, port and mesh\n"
                   "address, one peer per other current member (revoked members removed).\n"
                   "--import first imports newer entries from another replica's ledger directory.\n");
            return 0;
        default: return tool_usage_error(MESH_USAGE, "unknown option (see --help)");
        }
    }
    if (tool_no_operands(argc, argv, optind, MESH_USAGE))
        return 1;
    {
        char why[TOOL_WHY_MAX];
        if (tool_check_ifname(ifname, why) < 0)
            return tool_usage_error(MESH_USAGE, "--ifname: %s", why);
    }
    if (!state)
        return tool_error("--state DIR is required");
    struct node n;
    if (node_load(&n, state, true))
        return 1;
    int r = 0;
    if (import) {
        ppn_ledger *l = NULL;
        struct ppn_ledger_import_report rep = {0};
        r = ppn_ledger_open(n.ledger_dir, PPN_LEDGER_OPEN_WRITE, &l);
        if (r < 0)
            r = tool_fail("open ledger", n.ledger_dir, r);
        else {
            int k = ppn_ledger_import(l, import, &rep);
            char *t = NULL;
            if (k < 0 && ppn_ledger_import_report_format(import, k, &rep, ppn_ledger_last_error(l), 0, &t) == 0) {
                tool_print_lines(t); /* a fork, or the source's entry at fault: as ppn-ledger import says */
                r = 1;
            } else if (k < 0)
                r = tool_fail("import ledger from", import, k);
            else {
                printf("imported\t%llu\n", (unsigned long long)rep.imported);
                k = ppn_ledger_export_nodes(l, NULL);
                if (k < 0)
                    r = tool_fail("export nodes.jsonl of", n.ledger_dir, k);
            }
            ppn_ledger_free(l);
        }
    }
    if (!r)
        r = mesh_apply(&n, ifname, port, true);
    node_wipe(&n);
    return r ? 1 : 0;
}

static void status_handoff(void *ud, const char *line)
{
    json_array_append_new(ud, json_string(line));
}

static int cmd_status(int argc, char **argv)
{
    static const char usage[] = "status --state DIR [--json]";
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'j':
            json = true;
            tool_set_json_errors(true);
            break;
        case 'h':
            printf("Usage: ppn-pair %s\nShow this node's keys and the mesh members in its ledger.\n"
                   "  --json   one JSON object: identity, wireguard, ledger (null when not paired),\n"
                   "           members (hostname, mesh, endpoint, identity, self)\n", usage);
            return 0;
        default: return tool_usage_error(usage, "unknown option (see --help)");
        }
    }
    if (tool_no_operands(argc, argv, optind, usage))
        return 1;
    if (!state)
        return tool_usage_error(usage, "--state DIR is required");
    struct node n;
    if (node_load(&n, state, false))
        return 1;
    char id[PPN_CRYPTO_KEY_B64_LEN + 1], wg[PPN_CRYPTO_KEY_B64_LEN + 1], b64[PPN_CRYPTO_KEY_B64_LEN + 1];
    ppn_crypto_key_to_base64(n.id_pk, id);
    ppn_crypto_key_to_base64(n.wg_pk, wg);
    uint8_t self_pk[32];
    memcpy(self_pk, n.id_pk, 32);
    node_wipe(&n);
    /* The pairing state in one line (a pending hand-off past its bound rolls back here), and
     * on an administrator each hand-off its node has not confirmed yet. */
    (void)pending_expire(&n);
    char pstate[32], ptext[700];
    pairing_state(&n, pstate, sizeof(pstate), ptext, sizeof(ptext));
    json_t *handoffs = json_array(), *settled = json_array();
    ppn_ledger *hl = NULL;
    if (access(n.ledger_dir, F_OK) == 0 && ppn_ledger_open(n.ledger_dir, 0, &hl) == 0) {
        handoff_settle(&n, hl, status_handoff, settled); /* completed since: the node's cosignature */
        ppn_ledger_free(hl);
    }
    handoff_list(&n, status_handoff, handoffs);
    if (access(n.ledger_dir, F_OK) != 0) {
        if (json) {
            json_t *o = json_pack("{s:s,s:s,s:n,s:[],s:{s:s,s:s},s:o}", "identity", id, "wireguard", wg, "ledger",
                                  "members", "pairing", "state", pstate, "text", ptext, "handoffs", handoffs);
            char *t = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
            if (t)
                puts(t);
            free(t);
            json_decref(o);
        } else {
            printf("identity:  %s\nwireguard: %s\nledger:    none\npairing:   %s\n", id, wg, ptext);
            json_decref(handoffs);
        }
        json_decref(settled);
        return 0;
    }
    ppn_ledger *l = NULL;
    int r = ppn_ledger_open(n.ledger_dir, 0, &l);
    if (r < 0) {
        json_decref(handoffs);
        json_decref(settled);
        return tool_fail("open ledger", n.ledger_dir, r);
    }
    json_t *members = json ? json_array() : NULL;
    if (!json) {
        printf("identity:  %s\nwireguard: %s\n", id, wg);
        printf("ledger:    %s (origin %s, range %s, %llu entries)\n", n.ledger_dir, ppn_ledger_origin(l),
               ppn_ledger_mesh_range(l), (unsigned long long)ppn_ledger_size(l));
        printf("pairing:   %s\n", ptext);
        for (size_t i = 0; i < json_array_size(handoffs); i++)
            printf("%s\n", json_string_value(json_array_get(handoffs, i)));
        for (size_t i = 0; i < json_array_size(settled); i++)
            printf("%s\n", json_string_value(json_array_get(settled, i)));
        struct ppn_ledger_member hub;
        if (ppn_ledger_hub(l, &hub) == 0)
            printf("topology:  hub %s (%s)\n\n", hub.hostname, hub.mesh);
        else
            printf("topology:  full mesh\n\n");
        printf("%-20s %-18s %-24s %s\n", "HOSTNAME", "MESH", "ENDPOINT", "IDENTITY");
    }
    size_t count = ppn_ledger_member_count(l);
    for (size_t i = 0; i < count; i++) {
        struct ppn_ledger_member m;
        if (ppn_ledger_member_get(l, i, &m) < 0)
            continue;
        ppn_crypto_key_to_base64(m.identity, b64);
        bool self = memcmp(m.identity, self_pk, 32) == 0;
        if (json)
            json_array_append_new(members, json_pack("{s:s,s:s,s:s,s:s,s:b}", "hostname", m.hostname, "mesh", m.mesh,
                                                     "endpoint", m.endpoint, "identity", b64, "self", self));
        else
            printf("%-20s %-18s %-24s %s%s\n", m.hostname, m.mesh, m.endpoint[0] ? m.endpoint : "-", b64,
                   self ? "  (this node)" : "");
    }
    if (json) {
        json_t *o = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:I},s:o,s:{s:s,s:s},s:O}", "identity", id, "wireguard", wg,
                              "ledger", "dir", n.ledger_dir, "origin", ppn_ledger_origin(l), "range",
                              ppn_ledger_mesh_range(l), "entries", (json_int_t)ppn_ledger_size(l), "members", members,
                              "pairing", "state", pstate, "text", ptext, "handoffs", handoffs);
        if (o)
            json_object_set(o, "handoffs_completed", settled);
        struct ppn_ledger_member hub;
        json_t *lo = o ? json_object_get(o, "ledger") : NULL;
        if (lo && ppn_ledger_hub(l, &hub) == 0) {
            json_object_set_new(lo, "topology", json_string("hub"));
            json_object_set_new(lo, "hub", json_string(hub.hostname));
        } else if (lo) {
            json_object_set_new(lo, "topology", json_string("mesh"));
        }
        char *t = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (t)
            puts(t);
        free(t);
        json_decref(o);
    }
    json_decref(handoffs);
    json_decref(settled);
    ppn_ledger_free(l);
    return 0;
}

#define REMOVE_USAGE "remove --state DIR NODE [--reason TEXT] [--ifname IF [--listen-port N]]"

static int cmd_remove(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"reason", required_argument, NULL, 'r'},
        {"ifname", required_argument, NULL, 'i'},
        {"listen-port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL, *reason = "", *ifname = NULL;
    unsigned port = 51820;
    bool port_given = false;
    int c;
    while ((c = getopt_long(argc, argv, "s:r:i:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'r': reason = optarg; break;
        case 'i': ifname = optarg; break;
        case 'p': if (opt_port(REMOVE_USAGE, optarg, &port, &port_given)) return 1; break;
        case 'h':
            printf("Usage: ppn-pair %s\n"
                   "Revoke a member (NODE: its host name or base64 identity key): a node-revoke entry\n"
                   "signed by this node's identity key (which needs node.admit), then a checkpoint.\n"
                   "Members drop the peer when their ledger has the entry (ppn-pair sync, mesh);\n"
                   "with --ifname this node drops it now.  The node's keys can never join again\n"
                   "and its mesh address is not handed out again.\n", REMOVE_USAGE);
            return 0;
        default: return tool_usage_error(REMOVE_USAGE, "unknown option (see --help)");
        }
    }
    if (optind + 1 != argc)
        return tool_usage_error(REMOVE_USAGE, optind >= argc ? "NODE is needed" : "one NODE only");
    const char *who = argv[optind];
    if (!state)
        return tool_usage_error(REMOVE_USAGE, "--state DIR is required");
    char why[TOOL_WHY_MAX];
    if (ifname && tool_check_ifname(ifname, why) < 0)
        return tool_usage_error(REMOVE_USAGE, "--ifname: %s", why);
    if (port_given && !ifname)
        return tool_usage_error(REMOVE_USAGE, "--listen-port needs --ifname");
    struct node n;
    ppn_ledger *l;
    if (node_open_ledger(&n, state, &l))
        return 1;
    int r = 0;
    struct ppn_ledger_member m;
    bool found = false;
    uint8_t key[32];
    if (ppn_crypto_key_from_base64(who, strlen(who), key) == 0)
        found = ppn_ledger_member_find(l, key, &m) == 0;
    for (size_t i = 0; !found && i < ppn_ledger_member_count(l); i++)
        found = ppn_ledger_member_get(l, i, &m) == 0 && strcmp(m.hostname, who) == 0;
    if (!found)
        r = tool_error("Failed to remove '%s': no current member has that host name or identity key", who);
    else if (memcmp(m.identity, n.id_pk, 32) == 0)
        r = tool_error("Failed to remove '%s': that is this node (another administrator removes it)", who);
    else if (!ppn_ledger_has_capability(l, n.id_pk, "node.admit", NULL))
        r = tool_error("Failed to remove '%s': this node may not revoke members (it lacks node.admit)", who);
    else {
        uint64_t idx;
        r = ppn_ledger_node_revoke(l, m.identity, reason, n.id_sk, &idx);
        if (r < 0) {
            const char *e = ppn_ledger_last_error(l);
            r = e[0] ? tool_error("Failed to remove '%s': %s", who, e) : tool_fail("revoke", who, r);
        } else if ((r = ledger_seal(l, &n)) == 0) {
            printf("removed\t%s\t%s\tentry %llu\n", m.hostname, m.mesh, (unsigned long long)idx);
        }
    }
    ppn_ledger_free(l);
    if (r == 0 && ifname)
        r = mesh_apply(&n, ifname, port, true);
    node_wipe(&n);
    return r ? 1 : 0;
}

static const struct tool_cmd cmds[] = {
    {"keys", cmd_keys, "generate this node's identity and WireGuard keys"},
    {"genesis", cmd_genesis, "start a new mesh with this node as first administrator"},
    {"join", cmd_join, "show a pairing code and wait for the administrator (joining node)"},
    {"admit", cmd_admit, "type the joining node's code and admit it (administrator)"},
    {"invite", cmd_invite, "show a code and admit the node that joins with it (admit --listen)"},
    {"mesh", cmd_mesh, "configure WireGuard from the ledger (optionally import first)"},
    {"status", cmd_status, "show this node's keys and the mesh members"},
    {"remove", cmd_remove, "revoke a member: its peer goes, its keys never come back"},
    {"topology", cmd_topology, "show or change the topology: a full mesh or a routing hub"},
    {"sync", cmd_sync, "bring the ledger up to date from a member running 'serve'"},
    {"serve", cmd_serve, "serve this node's ledger replica to members running 'sync'"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    /* A peer that goes away must never kill us silently: writes to it fail with EPIPE and say so. */
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0)
        return tool_error("libsodium failed to initialise");
    return tool_dispatch("ppn-pair", ppn_crypto_version(), cmds, argc, argv);
}
