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
/* The VM specification a creation request carries (text, e.g. libppn-vmm's
 * JSON form): at most this many bytes, printable, no control characters. */
#define PPN_FLEET_SPEC_MAX 6144
/* Running VMs listed in one heartbeat. */
#define PPN_FLEET_MAX_VMS 64
/* Largest encoded heartbeat or request: fits one UDP datagram on any link. */
#define PPN_FLEET_MESSAGE_MAX 8192
#define PPN_FLEET_HEARTBEAT_VERSION 1
#define PPN_FLEET_REQUEST_VERSION 1
#define PPN_FLEET_NONCE_BYTES 16
/* The largest byte count (RAM, VM memory) a message may carry and any sum the
 * library reports: 2^63 - 1, so that every figure fits a signed 64-bit
 * integer (JSON, most bindings).  Sums saturate here instead of wrapping. */
#define PPN_FLEET_BYTES_MAX 9223372036854775807ULL

/* Every size, maximum and limit of this header at run time, for bindings and for programs
 * built against another version: ppn_fleet_constant(PPN_FLEET_CONSTANT_<NAME>) is the value
 * of the macro PPN_FLEET_<NAME>, or -EINVAL for an unknown id.  An id never changes meaning;
 * new constants get new ids (doc/API.md, "Constants"). */
typedef enum ppn_fleet_constant_id {
    PPN_FLEET_CONSTANT_PUBLIC_KEY_BYTES = 0,
    PPN_FLEET_CONSTANT_SECRET_KEY_BYTES = 1,
    PPN_FLEET_CONSTANT_SEED_BYTES = 2,
    PPN_FLEET_CONSTANT_SIGNATURE_BYTES = 3,
    PPN_FLEET_CONSTANT_NAME_MAX = 4,
    PPN_FLEET_CONSTANT_PATH_MAX = 5,
    PPN_FLEET_CONSTANT_SPEC_MAX = 6,
    PPN_FLEET_CONSTANT_MAX_VMS = 7,
    PPN_FLEET_CONSTANT_MESSAGE_MAX = 8,
    PPN_FLEET_CONSTANT_HEARTBEAT_VERSION = 9,
    PPN_FLEET_CONSTANT_REQUEST_VERSION = 10,
    PPN_FLEET_CONSTANT_NONCE_BYTES = 11,
    PPN_FLEET_CONSTANT_BYTES_MAX = 12,
} ppn_fleet_constant_id;
PPN_EXPORT int64_t ppn_fleet_constant(uint32_t id);

/* For bindings that cannot read this header (ctypes, cffi's ABI mode): the
 * size of a public struct ('field' NULL) or the offset and size of one of
 * its fields, by name ("ppn_fleet_heartbeat", "seq").  Covers
 * ppn_fleet_vm, ppn_fleet_heartbeat, ppn_fleet_place_query and
 * ppn_fleet_placement.  *ret_offset may be NULL.  -EINVAL: NULL type or
 * ret_size; -ENOENT: no such struct or field. */
PPN_EXPORT int ppn_fleet_layout(const char *type, const char *field, size_t *ret_offset, size_t *ret_size);

/* ---- keys -------------------------------------------------------------- */

/* Derive an Ed25519 key pair from a 32-byte seed (what a node's key file
 * holds).  ret_sk is secret: wipe it when done.  -EINVAL on NULL;
 * -EIO if libsodium cannot initialise. */
PPN_EXPORT int ppn_fleet_keypair_from_seed(const uint8_t seed[PPN_FLEET_SEED_BYTES],
                                           uint8_t ret_pk[PPN_FLEET_PUBLIC_KEY_BYTES],
                                           uint8_t ret_sk[PPN_FLEET_SECRET_KEY_BYTES]);

/* ---- heartbeat ------------------------------------------------------------
 * Wire form: CBOR array [version, body, signature] where body is a byte
 * string holding a CBOR map with integer keys and signature is Ed25519 over
 * "ppn-fleet heartbeat v1\0" || body by the node key inside the body. */

/* A VM's state as its node reports it.  A heartbeat of the older form
 * (name and memory only) reads as UNKNOWN. */
typedef enum ppn_fleet_vm_state {
    PPN_FLEET_VM_UNKNOWN = 0,
    PPN_FLEET_VM_RUNNING = 1,
    PPN_FLEET_VM_STOPPED = 2,
    PPN_FLEET_VM_FAILED = 3,   /* the node could not start it */
    PPN_FLEET_VM_STARTING = 4, /* being created or started */
    PPN_FLEET_VM_STATE_COUNT = 5,
} ppn_fleet_vm_state;

typedef struct ppn_fleet_vm {
    char name[PPN_FLEET_NAME_MAX + 1];
    uint64_t mem_bytes;
    uint32_t state;              /* ppn_fleet_vm_state */
} ppn_fleet_vm;

/* "unknown", "running", "stopped", "failed", "starting"; NULL if out of range. */
PPN_EXPORT const char *ppn_fleet_vm_state_name(ppn_fleet_vm_state state);

typedef struct ppn_fleet_heartbeat {
    uint32_t version;            /* PPN_FLEET_HEARTBEAT_VERSION */
    uint8_t node_key[PPN_FLEET_PUBLIC_KEY_BYTES];
    char node_name[PPN_FLEET_NAME_MAX + 1]; /* informative: the controller takes names from the ledger */
    uint64_t seq;                /* strictly increasing per node: epoch << 32 | counter */
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
 * large, a byte count above PPN_FLEET_BYTES_MAX, or node_key not matching sk; -EMSGSIZE: buf too small; -ENOMEM. */
PPN_EXPORT int ppn_fleet_heartbeat_sign(const ppn_fleet_heartbeat *hb,
                                        const uint8_t sk[PPN_FLEET_SECRET_KEY_BYTES],
                                        uint8_t *buf, size_t size);

/* Decode a heartbeat and verify its signature by the key it names (this
 * says nothing about membership: see ppn_fleet_ingest()).  -EINVAL: NULL;
 * -EMSGSIZE: longer than PPN_FLEET_MESSAGE_MAX; -EBADMSG: malformed (a byte
 * count above PPN_FLEET_BYTES_MAX included); -EPROTO:
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
    /* The full VM specification (opaque to this library; the tools put
     * libppn-vmm's JSON here), empty for a kernel-only request.  A request
     * needs a kernel or a specification. */
    char spec[PPN_FLEET_SPEC_MAX + 1];
    /* The operator confirmed the placement shown (node_key): signed with the
     * rest, so that what is dispatched is what was confirmed.  Controllers and
     * agents refuse a request without it (-ECANCELED). */
    bool confirmed;
} ppn_fleet_request;

/* Encode and sign a creation request with the operator's 'sk' (whose public
 * half must be req->operator_key).  Returns the encoded length.  -EINVAL: NULL,
 * bad name, mem_bytes 0 or above PPN_FLEET_BYTES_MAX, vcpus 0, unknown kind, a VM-Totebox without a node,
 * neither kernel nor spec, a spec too long or with control characters, confirmed without a node,
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
    PPN_FLEET_OPT_MEMBER_RATE = 6,     /* datagrams/s from one member's address, bursts of
                                        * twice that; 0: no limit (20) */
} ppn_fleet_option;

/* Set or read one option.  -EINVAL: NULL, unknown option, a zero silence,
 * a percent above 100, a member rate above 1000000. */
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

/* A member as the ledger records it: identity key, name, and the address of
 * its agent on the mesh (IP from the ledger, the agent's port).  addr_len 0:
 * no address known. */
typedef struct ppn_fleet_member {
    uint8_t key[PPN_FLEET_PUBLIC_KEY_BYTES];
    char name[PPN_FLEET_NAME_MAX + 1];   /* may be empty */
    struct sockaddr_storage addr;
    uint32_t addr_len;
} ppn_fleet_member;

/* As ppn_fleet_set_members(), with each member's name and mesh address.
 * Names shown for a node come only from here, never from its heartbeats.
 * When every member has an address, a datagram whose source IP is none of
 * them is refused before it is parsed (PPN_FLEET_REFUSED_SOURCE), and a
 * heartbeat must come from its own member's IP (the mesh authenticates
 * source addresses).  Dispatching goes to these addresses, never to where a
 * datagram came from.  -EINVAL: NULL with n > 0, more than 2^30 members, a
 * name that is not empty or 1..63 of [A-Za-z0-9._-], an address that is not
 * AF_INET/AF_INET6 of its size; -ENOMEM (the previous set is kept). */
PPN_EXPORT int ppn_fleet_set_member_records(ppn_fleet *fleet, const ppn_fleet_member *members,
                                            size_t n);

typedef enum ppn_fleet_refusal {
    PPN_FLEET_REFUSED_MALFORMED = 0,   /* -EBADMSG */
    PPN_FLEET_REFUSED_VERSION = 1,     /* -EPROTO */
    PPN_FLEET_REFUSED_TOO_BIG = 2,     /* -EMSGSIZE */
    PPN_FLEET_REFUSED_NON_MEMBER = 3,  /* -EPERM */
    PPN_FLEET_REFUSED_SIGNATURE = 4,   /* -EKEYREJECTED */
    PPN_FLEET_REFUSED_REPLAY = 5,      /* -ESTALE: sequence not newer */
    PPN_FLEET_REFUSED_SOURCE = 6,      /* -EADDRNOTAVAIL: not from the member's mesh address */
    PPN_FLEET_REFUSED_RATE = 7,        /* -EAGAIN: over MEMBER_RATE from that address */
    PPN_FLEET_REFUSED_COUNT = 8,
} ppn_fleet_refusal;

/* Take one heartbeat datagram received at 'now_ms' from 'from' (may be NULL;
 * shown as the node's last source, never used to dispatch).  Cheap checks
 * first: size, source address (see ppn_fleet_set_member_records()), the
 * member's rate at that address (PPN_FLEET_OPT_MEMBER_RATE: a flood from one
 * member's address cannot starve the others), CBOR shape, version, membership, the member's own address, sequence (strictly
 * newer than the last accepted, so a replay costs no signature check), and
 * only then the signature; only then is state changed.  Every refusal is
 * counted (see ppn_fleet_refusals()).  0: accepted, and the claims the
 * heartbeat now reflects are released.  Errors: -EINVAL (NULL fleet/buf,
 * fromlen too large), -EMSGSIZE, -EADDRNOTAVAIL, -EAGAIN, -EBADMSG, -EPROTO, -EPERM,
 * -ESTALE, -EKEYREJECTED, -ENOMEM. */
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
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
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
    uint64_t vm_mem_bytes;       /* sum over the VMs listed (saturates at PPN_FLEET_BYTES_MAX) */
    struct sockaddr_storage addr; /* the member's mesh address (ledger): where dispatch goes */
    socklen_t addr_len;          /* 0 if unknown */
    struct sockaddr_storage src_addr; /* where the last accepted heartbeat came from */
    socklen_t src_addr_len;      /* 0 if unknown */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
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
/* The key of the node named by 'name_or_key': its public key in base64 (44 characters), or
 * the node name of exactly one member.  -EINVAL: NULL; -ENOENT: no member has that name;
 * -ENOTUNIQ: two members have it (name it by key). */
PPN_EXPORT int ppn_fleet_node_resolve(const ppn_fleet *fleet, const char *name_or_key,
                                      uint8_t ret_key[PPN_FLEET_PUBLIC_KEY_BYTES]);
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
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_fleet_place_query;

typedef struct ppn_fleet_placement {
    uint32_t n_nodes;                        /* nodes considered (all members) */
    uint32_t n_fit;                          /* nodes that passed every filter */
    uint32_t reasons[PPN_FLEET_REASON_COUNT]; /* nodes per reason; [0] == n_fit */
    bool placed;
    size_t node_index;                       /* valid when placed */
    uint8_t node_key[PPN_FLEET_PUBLIC_KEY_BYTES];
    uint64_t ram_left_bytes;                 /* on that node after this VM and claims */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_fleet_placement;

/* Called once per node with the reason it does or does not fit. */
typedef void (*ppn_fleet_reason_cb)(size_t node_index, ppn_fleet_reason reason,
                                    void *userdata);

/* Where would a VM described by 'q' go at 'now_ms'?  Returns the number of
 * nodes that fit (0: none, ret->placed false, with a reason per node).
 * 'cb' (may be NULL) is called per node.  -EINVAL: NULL fleet/q/ret,
 * mem_bytes 0 or above PPN_FLEET_BYTES_MAX, vcpus 0, unknown kind; -EDESTADDRREQ: a VM-Totebox without a
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

/* Which node holds 'vm_name': listed in its last heartbeat, or claimed by a
 * dispatch not yet expired.  Returns the node index.  -EINVAL: NULL or a bad
 * name; -ENOENT: no node has it. */
PPN_EXPORT int ppn_fleet_vm_where(const ppn_fleet *fleet, const char *vm_name, uint64_t now_ms);

/* Record that 'vm_name' (mem_bytes) was dispatched to the node with 'key' at
 * now_ms, so that later placements count it until a heartbeat lists the VM
 * or the claim expires.  A second claim for the same name on the node
 * replaces the first.  Claims add up saturating at PPN_FLEET_BYTES_MAX.
 * -EINVAL: NULL, bad name, mem_bytes 0 or above PPN_FLEET_BYTES_MAX;
 * -ENOENT: not a member; -ENOMEM. */
PPN_EXPORT int ppn_fleet_claim(ppn_fleet *fleet, const uint8_t key[PPN_FLEET_PUBLIC_KEY_BYTES],
                               const char *vm_name, uint64_t mem_bytes, uint64_t now_ms);

/* ---- sequence epochs ------------------------------------------------------
 * A node's heartbeat sequence is epoch << 32 | counter: the counter starts at
 * 1 when the agent starts and grows by one per heartbeat; the epoch grows by
 * one per start and is kept in a file.  No wall clock is involved, so a clock
 * that jumps (an hour ahead, or back) never locks a node out. */

/* Read the epoch in the file at 'path', add one, store it (a temporary file,
 * fsync, rename, fsync of the directory; mode 0600) and return it.  With no
 * file the epoch is 'seed' (e.g. the Unix time in seconds, so that a node
 * whose file was lost starts above anything it sent before), clamped to
 * 1..2^32-2.  -EINVAL: NULL; -EUCLEAN: the file is not a decimal epoch;
 * -EOVERFLOW: the epoch would reach 2^32-1; other negative errno from the
 * file system. */
PPN_EXPORT int ppn_fleet_epoch_next(const char *path, uint64_t seed, uint32_t *ret_epoch);

/* ---- the controller engine ------------------------------------------------
 * Owns a UDP socket bound to the listen address (the mesh address, in the
 * tools) with a large receive buffer, and a ppn_fleet.  The caller polls
 * ppn_fleet_controller_fd() for input, calls ppn_fleet_controller_process()
 * when it is readable or when ppn_fleet_controller_timeout() has passed, and
 * gives the member records and operator keys from its ledger whenever they
 * change.  Every time is the caller's: now_ms on its monotonic clock, now_unix
 * (seconds) on its wall clock for the freshness of creation requests only.
 *
 * Replay protection survives a restart: with a state file, the last accepted
 * sequence of every node is written there (one pwrite per accepted heartbeat,
 * an fdatasync per second at most), and read back at the next start. */

typedef struct ppn_fleet_controller ppn_fleet_controller;

typedef struct ppn_fleet_controller_callbacks {
    /* A node was evicted after 'silent_ms' of silence. */
    void (*evicted)(ppn_fleet_controller *c, size_t node_index, uint64_t silent_ms,
                    void *userdata);
    /* The mass-eviction guard started (tripped) or stopped holding 'held' nodes. */
    void (*guard)(ppn_fleet_controller *c, bool tripped, uint32_t held, void *userdata);
    /* Refused datagrams, rate-limited: at most one call per second; 'suppressed'
     * counts the refusals not reported since the previous call (from NULL: a
     * summary of those only). */
    void (*refused)(ppn_fleet_controller *c, ppn_fleet_refusal reason,
                    const struct sockaddr *from, socklen_t fromlen, uint64_t suppressed,
                    void *userdata);
} ppn_fleet_controller_callbacks;

/* A controller listening on 'listen' (AF_INET or AF_INET6), with its fleet's
 * clock starting at now_ms.  'state_path' (may be NULL: memory only) keeps the
 * replay state.  -EINVAL: NULL, bad address; -EUCLEAN: the state file is not
 * one; -ENOMEM; the negative errno of socket/bind (-EADDRINUSE,
 * -EADDRNOTAVAIL...) or of opening the state file. */
PPN_EXPORT int ppn_fleet_controller_new(const struct sockaddr *listen, socklen_t listen_len,
                                        const char *state_path, uint64_t now_ms,
                                        ppn_fleet_controller **ret_controller);
/* Closes the socket and the state file (synced) and frees.  NULL is fine. */
PPN_EXPORT void ppn_fleet_controller_free(ppn_fleet_controller *c);
/* Callbacks (NULL members are skipped); 'cb' is copied. -EINVAL: NULL c. */
PPN_EXPORT int ppn_fleet_controller_set_callbacks(ppn_fleet_controller *c,
                                                  const ppn_fleet_controller_callbacks *cb,
                                                  void *userdata);
/* The fleet inside, for options, queries and placement.  Owned by c. */
PPN_EXPORT ppn_fleet *ppn_fleet_controller_fleet(ppn_fleet_controller *c);
/* The socket to poll for POLLIN.  Owned by c. */
PPN_EXPORT int ppn_fleet_controller_fd(const ppn_fleet_controller *c);
/* The receive buffer the kernel granted, in bytes (getsockopt SO_RCVBUF). */
PPN_EXPORT int ppn_fleet_controller_rcvbuf(const ppn_fleet_controller *c);
/* As ppn_fleet_set_member_records(); nodes with a stored sequence resume it. */
PPN_EXPORT int ppn_fleet_controller_set_members(ppn_fleet_controller *c,
                                                const ppn_fleet_member *members, size_t n);
/* The keys allowed to create VMs ("vm.create" in the ledger), 32 bytes each.
 * Returns the count.  -EINVAL: NULL with n > 0; -ENOMEM. */
PPN_EXPORT int ppn_fleet_controller_set_operators(ppn_fleet_controller *c, const uint8_t *keys,
                                                  size_t n);
/* Drains the socket (recvmmsg in batches, at most 16384 datagrams per call so
 * that the caller's other work runs) and ingests each datagram, then runs the
 * timers that are due at now_ms (liveness tick every second, state sync,
 * log summary).  Returns the number of datagrams handled.  -EINVAL: NULL;
 * the negative errno of a receive error other than EAGAIN/EINTR. */
PPN_EXPORT int ppn_fleet_controller_process(ppn_fleet_controller *c, uint64_t now_ms);
/* Milliseconds from now_ms until the next timer (0: due).  -EINVAL: NULL. */
PPN_EXPORT int ppn_fleet_controller_timeout(const ppn_fleet_controller *c, uint64_t now_ms);

typedef struct ppn_fleet_dispatch {
    size_t node_index;
    ppn_fleet_request request;   /* the request as verified */
} ppn_fleet_dispatch;

/* Checks a signed creation request and sends it to the named node's mesh
 * address (its member record, never where a heartbeat came from), then
 * claims its memory.  Cheap checks first: shape, a named node (-EDESTADDRREQ),
 * the operator's confirmation in the signed bytes (-ECANCELED), the VM
 * name listed (last heartbeat) or claimed on another node (-EEXIST: a VM
 * never moves, there is no live migration; see ppn_fleet_vm_where()),
 * the signer among the operators (-EPERM), created_unix within 300 s of
 * now_unix and a nonce not seen (-ESTALE), then the signature
 * (-EKEYREJECTED), the node still fits (-ENOSPC: ask ppn_fleet_place() why),
 * a known address (-EHOSTUNREACH), the send (its negative errno); a request
 * dispatched is remembered (-EBUSY when 1024 unexpired nonces are held).
 * Also -EINVAL (NULL), -EMSGSIZE, -EBADMSG, -EPROTO, -ENOMEM. */
PPN_EXPORT int ppn_fleet_controller_dispatch(ppn_fleet_controller *c, const void *buf,
                                             size_t len, uint64_t now_ms, uint64_t now_unix,
                                             ppn_fleet_dispatch *ret_dispatch);
/* Why ppn_fleet_controller_dispatch refused the request in 'buf' with 'err', in one sentence
 * for the operator, from 'fleet' as of now_ms: where the VM already is (-EEXIST), which
 * resource no longer fits on the node (-ENOSPC, as ppn_fleet_placement_explain; "" when the
 * request does not parse), the rule broken for the others.  Always NUL-terminates; returns the
 * length written (cut to 'size').  -EINVAL: NULL fleet or text, size 0, NULL buf with len > 0,
 * err not negative. */
PPN_EXPORT int ppn_fleet_dispatch_explain(const ppn_fleet *fleet, const void *buf, size_t len, int err,
                                          uint64_t now_ms, char *text, size_t size);

/* ---- the agent engine -------------------------------------------------------
 * Owns a UDP socket bound to the node's mesh address: heartbeats leave from
 * it to the controller, creation requests arrive on it.  The caller measures
 * (the heartbeat callback), carries out requests (the request callback) and
 * drives time as for the controller. */

typedef struct ppn_fleet_agent ppn_fleet_agent;

typedef struct ppn_fleet_agent_callbacks {
    /* Fill in the measurements (RAM, CPUs, load, ledger size, VMs); the agent
     * sets the key and sequence.  A negative errno skips this heartbeat. */
    int (*heartbeat)(ppn_fleet_agent *a, ppn_fleet_heartbeat *hb, void *userdata);
    /* A request for this node that passed every check: carry it out.  0 when
     * done (a heartbeat follows at once), a negative errno otherwise (the
     * request is authentic: the callback reports its own failure). */
    int (*request)(ppn_fleet_agent *a, const ppn_fleet_request *rq, void *userdata);
    /* Refused datagrams, rate-limited as the controller's: 'err' the negative
     * errno, vm_name "" when the request did not parse; from NULL (err 0): a
     * summary of the 'suppressed' refusals only. */
    void (*refused)(ppn_fleet_agent *a, int err, const char *vm_name,
                    const struct sockaddr *from, socklen_t fromlen, uint64_t suppressed,
                    void *userdata);
} ppn_fleet_agent_callbacks;

typedef struct ppn_fleet_agent_config {
    const uint8_t *secret_key;           /* 64 bytes (copied; wiped on free) */
    const struct sockaddr *listen;       /* the node's mesh address and agent port */
    socklen_t listen_len;
    const struct sockaddr *controller;   /* requests are taken from its IP only */
    socklen_t controller_len;
    uint32_t epoch;                      /* from ppn_fleet_epoch_next(), >= 1 */
    uint64_t interval_ms;                /* between heartbeats, +-10 % jitter; 0: 10000 */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_fleet_agent_config;

/* An agent whose first heartbeat is due at now_ms.  -EINVAL: NULL, bad
 * address, epoch 0 or 2^32-1, an interval below 100 ms; -ENOMEM; the negative
 * errno of socket/bind. */
PPN_EXPORT int ppn_fleet_agent_new(const ppn_fleet_agent_config *cfg,
                                   const ppn_fleet_agent_callbacks *cb, void *userdata,
                                   uint64_t now_ms, ppn_fleet_agent **ret_agent);
/* Wipes the key, closes the socket, frees.  NULL is fine. */
PPN_EXPORT void ppn_fleet_agent_free(ppn_fleet_agent *a);
PPN_EXPORT int ppn_fleet_agent_fd(const ppn_fleet_agent *a);
/* The keys allowed to create VMs, as for the controller. */
PPN_EXPORT int ppn_fleet_agent_set_operators(ppn_fleet_agent *a, const uint8_t *keys, size_t n);
/* Handles the datagrams waiting (at most 256 per call; each request checked
 * as ppn_fleet_controller_dispatch() does: confirmed, from the controller,
 * for this node, by an operator, fresh, signed), then
 * sends the heartbeat if it is due.  Returns the number of heartbeats sent
 * (0 or 1).  -EINVAL: NULL; -EOVERFLOW: 2^32-1 heartbeats in this epoch;
 * the negative errno of the heartbeat callback, signing or sendto (the next
 * attempt is one interval later). */
PPN_EXPORT int ppn_fleet_agent_process(ppn_fleet_agent *a, uint64_t now_ms, uint64_t now_unix);
/* Milliseconds until the next heartbeat (0: due).  -EINVAL: NULL. */
PPN_EXPORT int ppn_fleet_agent_timeout(const ppn_fleet_agent *a, uint64_t now_ms);
/* Make the next heartbeat due now. */
PPN_EXPORT void ppn_fleet_agent_heartbeat_now(ppn_fleet_agent *a);
/* The sequence of the last heartbeat sent (0: none yet). */
PPN_EXPORT uint64_t ppn_fleet_agent_seq(const ppn_fleet_agent *a);

/* ---- the resource pool: balloon policy -------------------------------------
 * Pure: which balloon target each guest should get, given the host's
 * available RAM (MemAvailable) and what each guest reports.  When the host
 * has less than 'margin' available it reclaims the shortfall from the guests
 * with memory free (the most free first), never taking more than the guest's
 * free memory above 'reserve', never going below its floor, at most 'step'
 * bytes per guest per call.  When the host has more than margin + hysteresis
 * available it gives memory back (guests furthest below their maximum first),
 * at most 'step' per guest and never more than the surplus above margin +
 * hysteresis in total, never above the guest's maximum.  Between the two it
 * changes nothing.  Changes are whole MiB (the shortfall rounded up), except
 * a give-back that reaches a guest's maximum exactly.  A guest already below
 * its floor is never reclaimed from. */

typedef struct ppn_fleet_balloon_guest {
    uint64_t actual_bytes;   /* the balloon's current size (what the guest has) */
    uint64_t free_bytes;     /* free in the guest (guest stats); UINT64_MAX: unknown (no reclaim) */
    uint64_t floor_bytes;    /* never below */
    uint64_t max_bytes;      /* the VM's configured memory: never above */
} ppn_fleet_balloon_guest;

typedef struct ppn_fleet_balloon_policy {
    uint64_t margin_bytes;     /* the host keeps at least this much available */
    uint64_t hysteresis_bytes; /* give back only above margin + this */
    uint64_t step_bytes;       /* largest change per guest per call, > 0 */
    uint64_t reserve_bytes;    /* a guest keeps at least this much of its free memory */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_fleet_balloon_policy;

typedef struct ppn_fleet_balloon_result {
    uint64_t reclaimed_bytes;  /* sum of decreases */
    uint64_t returned_bytes;   /* sum of increases */
    uint32_t changed;          /* guests whose target differs from actual */
    int32_t pressure;          /* -1 reclaiming, 0 steady, 1 giving back */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_fleet_balloon_result;

/* Fill ret_targets[n] with each guest's new balloon target (its actual
 * where nothing changes).  Returns the number of guests changed.  -EINVAL:
 * NULL (guests/ret_targets with n > 0, policy, ret), step 0, a guest whose
 * floor is above its max or whose actual is above its max, n above
 * PPN_FLEET_MAX_VMS. */
PPN_EXPORT int ppn_fleet_balloon_plan(uint64_t host_available_bytes,
                                      const ppn_fleet_balloon_policy *policy,
                                      const ppn_fleet_balloon_guest *guests, size_t n,
                                      uint64_t *ret_targets, ppn_fleet_balloon_result *ret);

#ifdef __cplusplus
}
#endif

#endif
