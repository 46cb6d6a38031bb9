/* ppn-pair internals shared by its source files. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ppn/ledger.h"

/* A node's state directory: identity.key, wg.key, ledger/. */
struct node {
    char dir[PATH_MAX - 32];
    char ledger_dir[PATH_MAX];
    uint8_t id_pk[32], id_sk[64];
    uint8_t wg_pk[32], wg_sk[32];
    bool loaded;
};

/* Loads the keys of the node in 'dir' (and checks for its ledger).  Prints
 * the error and returns 1 on failure. */
int node_load(struct node *n, const char *dir, bool need_ledger);
void node_wipe(struct node *n);
/* node_load with its ledger, opened for writing (glue_ledger_open_write_wait).  Prints the error,
 * wipes the keys and returns 1 on failure. */
int node_open_ledger(struct node *n, const char *dir, ppn_ledger **ret);

/* A mesh address for a new member (glue_mesh_allocate: never one a node
 * ever had). */
int mesh_allocate(ppn_ledger *l, const char *proposal, char *buf, size_t size);

/* Checkpoint (signed by the node, which must be an administrator) and
 * nodes.jsonl.  Prints the error and returns 1 on failure. */
int ledger_seal(ppn_ledger *l, const struct node *n);

/* Makes WireGuard interface 'ifname' match the ledger.  Prints; returns 1 on
 * failure. */
int mesh_apply(const struct node *n, const char *ifname, unsigned listen_port, bool quiet_if_same);

/* ceremony.c */
/* Option checks shared by the commands (ceremony.c): a whole number in
 * [min, max], and the address/endpoint/interface options; each reports a
 * usage error and returns 1 on failure, 0 when fine. */
int opt_uint(const char *usage, const char *opt, const char *s, unsigned min, unsigned max, unsigned *ret);
int opt_port(const char *usage, const char *s, unsigned *ret, bool *given);
int opt_symbols(const char *usage, const char *s, unsigned *ret, bool *given);
int check_addr_opts(const char *usage, const char *addr, bool listening, const char *endpoint,
                    const char *ifname, bool port_given, const char *addr_opt);

int cmd_join(int argc, char **argv);
int cmd_admit(int argc, char **argv);
int cmd_invite(int argc, char **argv);

/* handoff.c: the end of a ceremony inside the session's channel, and the states it leaves
 * (the behaviour: tools/glue/handoff.h; these compose it with a node, printing, the test
 * stops and, for a node left pending with 'ifname', WireGuard). */
struct ppn_crypto_session;
struct ppn_crypto_node_record;
struct glue_pending; /* the pending state (tools/glue/handoff.h) */
/* Before an administrator's ceremony: an administrator, entries past its checkpoint sealed,
 * its pairing record from the ledger into *ret_local.  Prints; returns 1 on failure. */
int handoff_admin_ready(const struct node *n, ppn_ledger *l, struct ppn_crypto_node_record *ret_local);
int handoff_admin(struct ppn_crypto_session *s, int fd, const struct node *n, ppn_ledger *l,
                  const struct ppn_crypto_node_record *peer, uint64_t deadline);
/* Before a new node's ceremony: a pending state past its bound rolls back; refuses a member
 * or a pending node.  Prints; returns 1 on failure. */
int handoff_node_ready(const struct node *n);
int handoff_node(struct ppn_crypto_session *s, int fd, const struct node *n, const struct ppn_crypto_node_record *admin,
                 uint64_t deadline, unsigned window_s, const char *ifname, unsigned port);
int pending_load(const struct node *n, struct glue_pending *p);
int pending_judge(const struct node *n, const struct glue_pending *p, ppn_ledger *l, int r,
                  const struct ppn_ledger_sync_report *rep, char *why, size_t why_size);
int pending_expire(const struct node *n);
void pairing_state(const struct node *n, char *state, size_t ssize, char *text, size_t tsize);
void handoff_list(const struct node *n, void (*fn)(void *ud, const char *line), void *ud);
void handoff_settle(const struct node *n, ppn_ledger *l, void (*fn)(void *ud, const char *line), void *ud);

/* topology.c: a member by host name or identity key (-ENOENT); the entries that make 'hub'
 * (NULL: none) the routing hub; the command. */
int topology_member(ppn_ledger *l, const char *who, struct ppn_ledger_member *ret);
int topology_entries(ppn_ledger *l, const struct ppn_ledger_member *hub, struct ppn_ledger_entry es[2],
                     size_t *ret_n);
int cmd_topology(int argc, char **argv);

/* serve.c: the ledger sync over TCP. */
int cmd_sync(int argc, char **argv);
int cmd_serve(int argc, char **argv);
