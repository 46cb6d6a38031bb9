/* SPDX-License-Identifier: ISC */
/* libppn-fleet — signed heartbeats, liveness and advisory placement
 *
 * Errors: functions that can fail return int: 0 (or a count) on success and a
 * negative errno on failure; see doc/ERRORS.md and the comment of each
 * function for the codes it documents.  Return parameters come last, are
 * named ret_*, are left untouched on failure and always set on success.
 *
 * Time: every function that depends on time takes 'now_ms', a reading of the
 * caller's monotonic clock in milliseconds (CLOCK_MONOTONIC in the tools, an
 * injected value in tests).  The library never reads a clock itself, so
 * liveness and claim expiry are exact functions of their inputs.
 *
 * Keys: Ed25519.  Public keys are 32 bytes; secret keys are the 64-byte
 * libsodium form (seed || public key), see ppn_fleet_keypair_from_seed(). */
#ifndef PPN_FLEET_H
#define PPN_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifndef PPN_EXPORT
#  if defined(PPN_BUILDING_LIBRARY) && defined(__GNUC__)
#    define PPN_EXPORT __attribute__((visibility("default")))
#  else
#    define PPN_EXPORT
#  endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The package version of the library, e.g. "0.1.0".  Static storage. */
PPN_EXPORT const char *ppn_fleet_version(void);

/* ---- sizes and limits ------------------------------------------------- */

#define PPN_FLEET_PUBLIC_KEY_BYTES 32
#define PPN_FLEET_SECRET_KEY_BYTES 64
#define PPN_FLEET_SEED_BYTES 32
#define PPN_FLEET_SIGNATURE_BYTES 64
/* Names (nodes, VMs): 1..63 bytes of [A-Za-z0-9._-], NUL-terminated. */
#define PPN_FLEET_NAME_MAX 63
/* Paths and kernel command line in a creation request. */
#define PPN_FLEET_PATH_MAX 255
/* Running VMs listed in one heartbeat. */
#define PPN_FLEET_MAX_VMS 64
/* Largest encoded heartbeat or request: fits one UDP datagram on any link. */
#define PPN_FLEET_MESSAGE_MAX 8192
#define PPN_FLEET_HEARTBEAT_VERSION 1
#define PPN_FLEET_REQUEST_VERSION 1
#define PPN_FLEET_NONCE_BYTES 16

/* The same values, for bindings without access to the macros. */
PPN_EXPORT size_t ppn_fleet_message_max(void);
PPN_EXPORT size_t ppn_fleet_name_max(void);
PPN_EXPORT size_t ppn_fleet_max_vms(void);

/* ---- keys -------------------------------------------------------------- */

/* Derive an Ed25519 key pair from a 32-byte seed (what a node's key file
 * holds).  ret_sk is secret: wipe it when done.  -EINVAL on NULL;
 * -ENOMEM if libsodium cannot initialise. */
PPN_EXPORT int ppn_fleet_keypair_from_seed(const uint8_t seed[PPN_FLEET_SEED_BYTES],
                                           uint8_t ret_pk[PPN_FLEET_PUBLIC_KEY_BYTES],
                                           uint8_t ret_sk[PPN_FLEET_SECRET_KEY_BYTES]);

/* ---- heartbeat ------------------------------------------------------------
 * Wire form: CBOR array [version, body, signature] where body is a byte
 * string holding a CBOR map with integer keys and signature is Ed25519 over
 * "ppn-fleet heartbeat v1\0" || body by the node key inside the body. */

typedef struct ppn_fleet_vm {
    char name[PPN_FLEET_NAME_MAX + 1];
    uint64_t mem_bytes;
} ppn_fleet_vm;

typedef struct ppn_fleet_heartbeat {
    uint32_t version;            /* PPN_FLEET_HEARTBEAT_VERSION */
    uint8_t node_key[PPN_FLEET_PUBLIC_KEY_BYTES];
    char node_name[PPN_FLEET_NAME_MAX + 1];
    uint64_t seq;                /* strictly increasing per node */
    uint64_t ram_total_bytes;
    uint64_t ram_available_bytes;
    uint32_t cpu_count;
    uint32_t load_milli;         /* 1-minute load average x 1000 */
    uint64_t ledger_size;        /* the node's ledger checkpoint size (entries) */
    uint32_t n_vms;
    ppn_fleet_vm vms[PPN_FLEET_MAX_VMS];
} ppn_fleet_heartbeat;

/* Encode and sign 'hb' with 'sk' into buf[size]; the version field is
 * ignored (the current version is written).  hb->node_key must be the public
 * half of sk.  Returns the encoded length.  -EINVAL: NULL, a name that is not
 * 1..63 of [A-Za-z0-9._-] (VM names; the node name may be empty), n_vms too
 * large, or node_key not matching sk; -EMSGSIZE: buf too small; -ENOMEM. */
PPN_EXPORT int ppn_fleet_heartbeat_sign(const ppn_fleet_heartbeat *hb,
                                        const uint8_t sk[PPN_FLEET_SECRET_KEY_BYTES],
                                        uint8_t *buf, size_t size);

/* Decode a heartbeat and verify its signature by the key it names (this
 * says nothing about membership: see ppn_fleet_ingest()).  -EINVAL: NULL;
 * -EMSGSIZE: longer than PPN_FLEET_MESSAGE_MAX; -EBADMSG: malformed; -EPROTO:
 * another version; -EKEYREJECTED: the signature does not verify; -ENOMEM. */
PPN_EXPORT int ppn_fleet_heartbeat_open(const void *buf, size_t len,
                                        ppn_fleet_heartbeat *ret_hb);

/* ---- VM creation request -----------------------------------------------
 * Signed by the operator.  Wire form like the heartbeat, with the context
 * "ppn-fleet request v1\0".  The node is named either by the operator
 * (pinning, required for a VM-Totebox) or, after the operator confirmed the
 * controller's suggestion, filled in with the node that was confirmed. */

typedef enum ppn_fleet_vm_kind {
    PPN_FLEET_VM_GENERAL = 0,
    PPN_FLEET_VM_TOTEBOX = 1, /* WORM archive: always on a named node */
} ppn_fleet_vm_kind;

typedef struct ppn_fleet_request {
    uint32_t version;            /* PPN_FLEET_REQUEST_VERSION */
    uint8_t operator_key[PPN_FLEET_PUBLIC_KEY_BYTES];
    uint8_t nonce[PPN_FLEET_NONCE_BYTES];
    uint64_t created_unix;       /* seconds; for freshness checks by the receiver */
    char vm_name[PPN_FLEET_NAME_MAX + 1];
    uint32_t kind;               /* ppn_fleet_vm_kind */
    uint64_t mem_bytes;
    uint32_t vcpus;
    bool has_node;
    uint8_t node_key[PPN_FLEET_PUBLIC_KEY_BYTES];
    char kernel[PPN_FLEET_PATH_MAX + 1];  /* paths on the target node */
    char initrd[PPN_FLEET_PATH_MAX + 1];  /* may be empty */
    char append[PPN_FLEET_PATH_MAX + 1];  /* kernel command line, may be empty */
} ppn_fleet_request;

/* Encode and sign a creation request with the operator's 'sk' (whose public
 * half must be req->operator_key).  Returns the encoded length.  -EINVAL: NULL,
 * bad name, mem_bytes or vcpus 0, unknown kind, a VM-Totebox without a node,
 * key mismatch; -EMSGSIZE: buf too small; -ENOMEM. */
PPN_EXPORT int ppn_fleet_request_sign(const ppn_fleet_request *req,
                                      const uint8_t sk[PPN_FLEET_SECRET_KEY_BYTES],
                                      uint8_t *buf, size_t size);

/* Decode a creation request and verify the operator's signature (whether
 * that operator may create VMs is the caller's question to the ledger).
 * -EINVAL: NULL; -EMSGSIZE: too long; -EBADMSG: malformed; -EPROTO: another
 * version, or a VM-Totebox without a named node; -EKEYREJECTED: bad
 * signature; -ENOMEM. */
PPN_EXPORT int ppn_fleet_request_open(const void *buf, size_t len,
                                      ppn_fleet_request *ret_req);

/* ---- the controller's view of the fleet ---------------------------------- */

typedef struct ppn_fleet ppn_fleet;

/* A new, empty fleet whose liveness clock starts at 'now_ms' (the grace
 * period counts from here).  -EINVAL: NULL; -ENOMEM. */
PPN_EXPORT int ppn_fleet_new(uint64_t now_ms, ppn_fleet **ret_fleet);
/* Frees the fleet and everything it owns.  NULL is fine. */
PPN_EXPORT void ppn_fleet_free(ppn_fleet *fleet);

typedef enum ppn_fleet_option {
    PPN_FLEET_OPT_SILENCE_MS = 0,      /* evict after this much silence (30000) */
    PPN_FLEET_OPT_GRACE_MS = 1,        /* no eviction this long after start (30000) */
    PPN_FLEET_OPT_GUARD_PERCENT = 2,   /* hold evictions above this share of live nodes (50) */
    PPN_FLEET_OPT_GUARD_MIN_NODES = 3, /* the guard applies from this many live nodes (2) */
    PPN_FLEET_OPT_CLAIM_TTL_MS = 4,    /* a claim not seen in a heartbeat expires (60000) */
    PPN_FLEET_OPT_SAFETY_MARGIN = 5,   /* bytes that must stay available (512 MiB) */
} ppn_fleet_option;

/* Set or read one option.  -EINVAL: NULL, unknown option, a zero silence,
 * a percent above 100. */
PPN_EXPORT int ppn_fleet_set_option(ppn_fleet *fleet, ppn_fleet_option opt, uint64_t value);
PPN_EXPORT int ppn_fleet_get_option(const ppn_fleet *fleet, ppn_fleet_option opt,
                                    uint64_t *ret_value);

/* Replace the member key set with n_keys keys of 32 bytes each at 'keys'
 * (n_keys may be 0).  Nodes that stay members keep their state; new members
 * start as "never heard"; removed members are forgotten, with their claims,
 * and from now on their heartbeats are refused as non-member.  Duplicate keys
 * count once.  Returns the number of members.  -EINVAL: NULL with n_keys > 0,
 * or more than 2^30 keys; -ENOMEM (the previous set is kept). */
PPN_EXPORT int ppn_fleet_set_members(ppn_fleet *fleet, const uint8_t *keys, size_t n_keys);

typedef enum ppn_fleet_refusal {
    PPN_FLEET_REFUSED_MALFORMED = 0,   /* -EBADMSG */
    PPN_FLEET_REFUSED_VERSION = 1,     /* -EPROTO */
    PPN_FLEET_REFUSED_TOO_BIG = 2,     /* -EMSGSIZE */
    PPN_FLEET_REFUSED_NON_MEMBER = 3,  /* -EPERM */
    PPN_FLEET_REFUSED_SIGNATURE = 4,   /* -EKEYREJECTED */
    PPN_FLEET_REFUSED_REPLAY = 5,      /* -ESTALE: sequence not newer */
    PPN_FLEET_REFUSED_COUNT = 6,
} ppn_fleet_refusal;

/* Take one heartbeat datagram received at 'now_ms' from 'from' (may be NULL;
 * kept as the node's address for dispatching).  In order: size, CBOR shape,
 * version, membership, signature, sequence; only then is state changed.
 * Every refusal is counted (see ppn_fleet_refusals()).  0: accepted, and the
 * claims the heartbeat now reflects are released.  Errors: -EINVAL (NULL
 * fleet/buf, fromlen too large), -EMSGSIZE, -EBADMSG, -EPROTO, -EPERM,
 * -EKEYREJECTED, -ESTALE, -ENOMEM. */
PPN_EXPORT int ppn_fleet_ingest(ppn_fleet *fleet, const void *buf, size_t len,
                                const struct sockaddr *from, socklen_t fromlen,
                                uint64_t now_ms);

/* Refusals counted since ppn_fleet_new() for one reason; 0 for a reason out
 * of range.  ppn_fleet_accepted(): heartbeats accepted. */
PPN_EXPORT uint64_t ppn_fleet_refusals(const ppn_fleet *fleet, ppn_fleet_refusal reason);
PPN_EXPORT uint64_t ppn_fleet_accepted(const ppn_fleet *fleet);
/* "malformed", "wrong version", ... Static storage; NULL if out of range. */
PPN_EXPORT const char *ppn_fleet_refusal_name(ppn_fleet_refusal reason);

/* ---- liveness ------------------------------------------------------------ */

typedef enum ppn_fleet_node_state {
    PPN_FLEET_NODE_UNKNOWN = 0, /* a member never heard since the controller started */
    PPN_FLEET_NODE_ALIVE = 1,   /* heard within the silence limit */
    PPN_FLEET_NODE_SILENT = 2,  /* over the limit, eviction held (grace or guard) */
    PPN_FLEET_NODE_EVICTED = 3, /* evicted; a valid heartbeat brings it back */
} ppn_fleet_node_state;

typedef struct ppn_fleet_tick_result {
    uint32_t evicted;       /* nodes evicted by this call */
    uint32_t held;          /* silent nodes whose eviction was held */
    bool in_grace;          /* held because the grace period is running */
    bool guard_tripped;     /* held because too much of the fleet went silent */
} ppn_fleet_tick_result;

/* Apply liveness at 'now_ms': nodes silent for more than the limit are
 * evicted, unless the grace period after start is running, or unless they
 * are more than GUARD_PERCENT of the nodes that were alive (and at least
 * GUARD_MIN_NODES were), in which case none is evicted and guard_tripped says
 * so (probably the controller's own network).  Expired claims are dropped.
 * Returns the number evicted.  -EINVAL: NULL, or now_ms before the start. */
PPN_EXPORT int ppn_fleet_tick(ppn_fleet *fleet, uint64_t now_ms,
                              ppn_fleet_tick_result *ret_result);

typedef struct ppn_fleet_node_info {
    uint8_t node_key[PPN_FLEET_PUBLIC_KEY_BYTES];
    char node_name[PPN_FLEET_NAME_MAX + 1];
    uint32_t state;              /* ppn_fleet_node_state */
    uint64_t last_heard_ms;      /* on the controller's clock; 0 if never */
    uint64_t seq;
    uint64_t ram_total_bytes;
    uint64_t ram_available_bytes;
    uint64_t claimed_bytes;      /* by live claims not yet seen in a heartbeat */
    uint32_t cpu_count;
    uint32_t load_milli;
    uint64_t ledger_size;
    uint32_t n_vms;
    uint32_t n_claims;
    uint64_t vm_mem_bytes;       /* sum over the VMs listed */
    struct sockaddr_storage addr; /* where the last heartbeat came from */
    socklen_t addr_len;          /* 0 if unknown */
} ppn_fleet_node_info;

/* Number of member nodes; index order is stable between set_members calls. */
PPN_EXPORT size_t ppn_fleet_node_count(const ppn_fleet *fleet);
/* Information on node 'index' as of 'now_ms' (the state accounts for silence
 * even before the next tick).  -EINVAL: NULL; -ENOENT: index out of range. */
PPN_EXPORT int ppn_fleet_node_get(const ppn_fleet *fleet, size_t index, uint64_t now_ms,
                                  ppn_fleet_node_info *ret_info);
/* Index of the node with 'key'.  -EINVAL: NULL; -ENOENT: not a member. */
PPN_EXPORT int ppn_fleet_node_find(const ppn_fleet *fleet,
                                   const uint8_t key[PPN_FLEET_PUBLIC_KEY_BYTES]);
/* VM 'vm_index' of node 'index' as of its last heartbeat.  -EINVAL; -ENOENT. */
PPN_EXPORT int ppn_fleet_node_vm(const ppn_fleet *fleet, size_t index, size_t vm_index,
                                 ppn_fleet_vm *ret_vm);
/* "unknown", "alive", "silent", "evicted"; NULL if out of range. */
PPN_EXPORT const char *ppn_fleet_node_state_name(ppn_fleet_node_state state);

/* ---- placement -----------------------------------------------------------
 * Advisory and pure: ppn_fleet_place() reads the fleet and changes nothing.
 * Filters, in order: alive, the named node (if any), vCPUs <= the node's
 * CPUs, available RAM - claims - request >= safety margin.  Among the nodes
 * that pass, the most RAM left wins; ties go to the smallest key (bytes). */

typedef enum ppn_fleet_reason {
    PPN_FLEET_FITS = 0,
    PPN_FLEET_NOT_ALIVE = 1,        /* evicted or silent */
    PPN_FLEET_NOT_HEARD = 2,        /* never heard since the controller started */
    PPN_FLEET_NOT_NAMED = 3,        /* another node was named */
    PPN_FLEET_INSUFFICIENT_CPU = 4,
    PPN_FLEET_INSUFFICIENT_MEMORY = 5,
    PPN_FLEET_REASON_COUNT = 6,
} ppn_fleet_reason;

typedef struct ppn_fleet_place_query {
    uint64_t mem_bytes;   /* > 0 */
    uint32_t vcpus;       /* > 0 */
    uint32_t kind;        /* ppn_fleet_vm_kind */
    bool has_node;
    uint8_t node_key[PPN_FLEET_PUBLIC_KEY_BYTES];
} ppn_fleet_place_query;

typedef struct ppn_fleet_placement {
    uint32_t n_nodes;                        /* nodes considered (all members) */
    uint32_t n_fit;                          /* nodes that passed every filter */
    uint32_t reasons[PPN_FLEET_REASON_COUNT]; /* nodes per reason; [0] == n_fit */
    bool placed;
    size_t node_index;                       /* valid when placed */
    uint8_t node_key[PPN_FLEET_PUBLIC_KEY_BYTES];
    uint64_t ram_left_bytes;                 /* on that node after this VM and claims */
} ppn_fleet_placement;

/* Called once per node with the reason it does or does not fit. */
typedef void (*ppn_fleet_reason_cb)(size_t node_index, ppn_fleet_reason reason,
                                    void *userdata);

/* Where would a VM described by 'q' go at 'now_ms'?  Returns the number of
 * nodes that fit (0: none, ret->placed false, with a reason per node).
 * 'cb' (may be NULL) is called per node.  -EINVAL: NULL fleet/q/ret,
 * mem_bytes or vcpus 0, unknown kind; -EDESTADDRREQ: a VM-Totebox without a
 * named node. */
PPN_EXPORT int ppn_fleet_place(const ppn_fleet *fleet, const ppn_fleet_place_query *q,
                               uint64_t now_ms, ppn_fleet_reason_cb cb, void *userdata,
                               ppn_fleet_placement *ret);

/* Render a placement for people, e.g. "0/3 nodes are available: 2
 * insufficient memory, 1 not alive" (reasons by count, then by enum order).
 * Always NUL-terminates when size > 0.  Returns the length of the full text
 * (as snprintf); -EINVAL: NULL placement, or NULL buf with size > 0. */
PPN_EXPORT int ppn_fleet_placement_explain(const ppn_fleet_placement *p, char *buf, size_t size);
/* "fits", "not alive", "not heard", "not the named node", "insufficient
 * cpu", "insufficient memory"; NULL if out of range. */
PPN_EXPORT const char *ppn_fleet_reason_name(ppn_fleet_reason reason);

/* Record that 'vm_name' (mem_bytes) was dispatched to the node with 'key' at
 * now_ms, so that later placements count it until a heartbeat lists the VM
 * or the claim expires.  A second claim for the same name on the node
 * replaces the first.  -EINVAL: NULL, bad name, mem_bytes 0; -ENOENT: not a
 * member; -ENOMEM. */
PPN_EXPORT int ppn_fleet_claim(ppn_fleet *fleet, const uint8_t key[PPN_FLEET_PUBLIC_KEY_BYTES],
                               const char *vm_name, uint64_t mem_bytes, uint64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif
