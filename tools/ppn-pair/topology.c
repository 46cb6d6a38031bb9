/* 'ppn-pair topology': show or change the mesh's topology (doc/ppn-pair.md "Topology").
 * The ledger owns the rules (libppn-ledger topology.c: the hub is one current member, by
 * an unscoped grant of mesh.hub); this composes the entries and seals them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ppn/crypto.h"
#include "ppn/ledger.h"
#include "glue.h"
#include "handoff.h"
#include "pair.h"
#include "tool-util.h"

#define TOPOLOGY_USAGE "topology --state DIR [mesh | hub NODE]"

int topology_member(ppn_ledger *l, const char *who, struct ppn_ledger_member *ret)
{
    uint8_t key[32];
    if (ppn_crypto_key_from_base64(who, strlen(who), key) == 0 && ppn_ledger_member_find(l, key, ret) == 0)
        return 0;
    for (size_t i = 0; i < ppn_ledger_member_count(l); i++)
        if (ppn_ledger_member_get(l, i, ret) == 0 && strcmp(ret->hostname, who) == 0)
            return 0;
    return -ENOENT;
}

/* The entries that make 'hub' (NULL: none, a full mesh) the hub: the present hub's grant
 * revoked, the new one granted, in one batch.  *ret_n entries (0: nothing to change). */
int topology_entries(ppn_ledger *l, const struct ppn_ledger_member *hub, struct ppn_ledger_entry es[2], size_t *ret_n)
{
    struct ppn_ledger_member now;
    bool has = ppn_ledger_hub(l, &now) == 0;
    size_t n = 0;
    if (has && hub && !memcmp(now.identity, hub->identity, 32)) {
        *ret_n = 0;
        return 0;
    }
    memset(es, 0, 2 * sizeof(*es));
    if (has) {
        es[n].type = PPN_LEDGER_ENTRY_CAP_REVOKE;
        memcpy(es[n].subject, now.identity, 32);
        snprintf(es[n++].capability, sizeof(es[0].capability), "%s", PPN_LEDGER_CAP_MESH_HUB);
    }
    if (hub) {
        es[n].type = PPN_LEDGER_ENTRY_CAP_GRANT;
        memcpy(es[n].subject, hub->identity, 32);
        snprintf(es[n++].capability, sizeof(es[0].capability), "%s", PPN_LEDGER_CAP_MESH_HUB);
    }
    *ret_n = n;
    return 0;
}

int cmd_topology(int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *state = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': state = optarg; break;
        case 'h':
            printf("Usage: ppn-pair %s\n"
                   "Show the mesh's topology, or change it with one signed ledger entry (this node\n"
                   "must hold admin):\n"
                   "  mesh       a full mesh: every member peers with every other\n"
                   "  hub NODE   NODE (host name or identity key of a current member) is the routing\n"
                   "             hub: the others peer only with it, for the whole mesh range, and it\n"
                   "             forwards; a node behind NAT reaches everyone through it\n"
                   "Members follow by themselves ('ppn-pair serve'); a revoked hub leaves a full mesh.\n",
                   TOPOLOGY_USAGE);
            return 0;
        default: return tool_usage_error(TOPOLOGY_USAGE, "unknown option (see --help)");
        }
    }
    if (!state)
        return tool_usage_error(TOPOLOGY_USAGE, "--state DIR is required");
    const char *kind = optind < argc ? argv[optind] : NULL, *who = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (kind && strcmp(kind, "mesh") && strcmp(kind, "hub"))
        return tool_usage_error(TOPOLOGY_USAGE, "'%s' is not a topology (mesh or hub)", kind);
    if (kind && !strcmp(kind, "hub") && !who)
        return tool_usage_error(TOPOLOGY_USAGE, "hub needs NODE, the member that routes");
    if (kind && argc - optind > (!strcmp(kind, "hub") ? 2 : 1))
        return tool_usage_error(TOPOLOGY_USAGE, "unexpected argument '%s'", argv[argc - 1]);
    struct node n;
    if (node_load(&n, state, true))
        return 1;
    ppn_ledger *l = NULL;
    int r = kind ? glue_ledger_open_write_wait(n.ledger_dir, &l) : ppn_ledger_open(n.ledger_dir, 0, &l);
    if (r < 0) {
        node_wipe(&n);
        return tool_fail("open ledger", n.ledger_dir, r);
    }
    struct ppn_ledger_member hub;
    if (!kind) {
        if (ppn_ledger_hub(l, &hub) == 0)
            printf("topology\thub\t%s\t%s\n", hub.hostname, hub.mesh);
        else
            printf("topology\tmesh\n");
        ppn_ledger_free(l);
        node_wipe(&n);
        return 0;
    }
    bool to_hub = !strcmp(kind, "hub");
    struct ppn_ledger_entry es[2];
    size_t ne = 0;
    if (to_hub && topology_member(l, who, &hub) < 0)
        r = tool_error("Failed to change the topology: no current member has the host name or identity key '%s'", who);
    else if (!ppn_ledger_has_capability(l, n.id_pk, PPN_LEDGER_CAP_ADMIN, NULL))
        r = tool_error("Failed to change the topology: this node is not an administrator (it lacks admin)");
    else if ((r = topology_entries(l, to_hub ? &hub : NULL, es, &ne)) == 0 && ne == 0) {
        printf("topology\t%s%s%s\tunchanged\n", kind, to_hub ? "\t" : "", to_hub ? hub.hostname : "");
    } else {
        uint64_t idx;
        r = ppn_ledger_append(l, es, ne, n.id_sk, &idx);
        if (r < 0) {
            const char *e = ppn_ledger_last_error(l);
            r = e[0] ? tool_error("Failed to change the topology: %s", e) : tool_fail("append to", n.ledger_dir, r);
        } else if ((r = ledger_seal(l, &n)) == 0) {
            printf("topology\t%s%s%s\tentry %llu\n", kind, to_hub ? "\t" : "", to_hub ? hub.hostname : "",
                   (unsigned long long)(idx + ne - 1));
        }
    }
    ppn_ledger_free(l);
    node_wipe(&n);
    return r ? 1 : 0;
}
