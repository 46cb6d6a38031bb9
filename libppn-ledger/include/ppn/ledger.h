/* SPDX-License-Identifier: ISC */
/* libppn-ledger — the WORM capability ledger with Merkle proofs and signed checkpoints
 *
 * A ledger is a directory:
 *   entries      framed records (length, index, BLAKE2b-256 checksum) of signed entries
 *   tree         RFC 9162 Merkle hashes of all complete subtrees (Go sumdb layout), a cache
 *   checkpoint   the latest C2SP signed-note checkpoint (write-temp-fsync-rename)
 *   nodes.jsonl  a view of the node entries (ppn_ledger_export_nodes), never the authority
 *   lock         held (flock) by the single writer
 *
 * Entries are canonical CBOR (RFC 8949 §4.2.1) signed with Ed25519 by their author.  An entry is
 * valid only if its author holds the needed capability at that point of the ledger:
 *   genesis            index 0 only, self-signed; gives "admin" to the first administrator
 *   node join/revoke   "node.admit"
 *   capability grant/revoke  "admin"
 *   VM assignment      "vm.assign"
 *   supersede          the capability the superseded entry needed
 * "admin" implies every capability.  Revoking a node also drops every grant to its identity key.
 * The current views (members, grants, assignments) are derived from the whole sequence.
 *
 * Keys are libsodium Ed25519 keys: 32-byte public keys, 64-byte secret keys (seed || public).
 * Secret keys are only read during a call and never stored.
 *
 * Errors: functions that can fail return int: 0 (or a count) on success and a
 * negative errno on failure; see doc/ERRORS.md and the comment of each
 * function for the codes it documents.  Return parameters come last, are
 * named ret_*, are left untouched on failure and always set on success.
 * Codes used throughout: -EINVAL bad argument; -ENOMEM; -EIO an I/O or fsync failure (the
 * handle is then poisoned: every later write returns -EIO, never a retry); -EUCLEAN stored data
 * is corrupt; -EBADMSG malformed bytes from outside; -EKEYREJECTED a signature does not verify;
 * -EPERM the author lacks the capability; -EPROTO an entry that breaks the ledger's rules (wrong
 * index, unknown target, duplicate member) or a fork in replication; -EBUSY another writer. */
#ifndef PPN_LEDGER_H
#define PPN_LEDGER_H

#include <stddef.h>
#include <stdint.h>

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

struct sockaddr; /* <sys/socket.h>: only pointers to it here */

/* The package version of the library, e.g. "0.1.0".  Static storage. */
PPN_EXPORT const char *ppn_ledger_version(void);

/* ---- Sizes and constants ------------------------------------------------------------ */

#define PPN_LEDGER_PUBLIC_KEY_BYTES 32
#define PPN_LEDGER_SECRET_KEY_BYTES 64
#define PPN_LEDGER_SIGNATURE_BYTES 64
#define PPN_LEDGER_HASH_BYTES 32
/* Longest text field in bytes, without the terminating NUL. */
#define PPN_LEDGER_TEXT_MAX 255
/* Longest encoded entry in bytes. */
#define PPN_LEDGER_ENTRY_MAX 4096
/* Most hashes in an inclusion or consistency proof (trees up to 2^63 leaves). */
#define PPN_LEDGER_PROOF_MAX 128
/* Longest checkpoint note this library reads (or returns), in bytes: a C2SP signed note with
 * cosignatures, of at most 100 signature lines (the limit of golang.org/x/mod/sumdb/note).
 * The notes it signs itself are far shorter (under 700 bytes). */
#define PPN_LEDGER_CHECKPOINT_MAX 16384

/* Every size, maximum and limit of this header at run time, for bindings and for programs
 * built against another version: ppn_ledger_constant(PPN_LEDGER_CONSTANT_<NAME>) is the value
 * of the macro PPN_LEDGER_<NAME>, or -EINVAL for an unknown id.  An id never changes meaning;
 * new constants get new ids (doc/API.md, "Constants"). */
typedef enum ppn_ledger_constant_id {
    PPN_LEDGER_CONSTANT_PUBLIC_KEY_BYTES = 0,
    PPN_LEDGER_CONSTANT_SECRET_KEY_BYTES = 1,
    PPN_LEDGER_CONSTANT_SIGNATURE_BYTES = 2,
    PPN_LEDGER_CONSTANT_HASH_BYTES = 3,
    PPN_LEDGER_CONSTANT_TEXT_MAX = 4,
    PPN_LEDGER_CONSTANT_ENTRY_MAX = 5,
    PPN_LEDGER_CONSTANT_PROOF_MAX = 6,
    PPN_LEDGER_CONSTANT_CHECKPOINT_MAX = 7,
    PPN_LEDGER_CONSTANT_BUNDLE_MAX = 8,
    PPN_LEDGER_CONSTANT_BUNDLE_FILES_MAX = 9,
    PPN_LEDGER_CONSTANT_SYNC_REQUEST_MAX = 10,
    PPN_LEDGER_CONSTANT_SYNC_ANSWER_MAX = 11,
    PPN_LEDGER_CONSTANT_COSIGNATURES_MAX = 12,
    PPN_LEDGER_CONSTANT_NUDGE_BYTES = 13,
    PPN_LEDGER_CONSTANT_REPLICA_MEMBERS_MAX = 14,
    PPN_LEDGER_CONSTANT_REPLICA_ADDRESS_MAX = 15,
    PPN_LEDGER_CONSTANT_OPEN_WAIT_MAX_MS = 16,
} ppn_ledger_constant_id;
PPN_EXPORT int64_t ppn_ledger_constant(uint32_t id);

/* Capabilities are UTF-8 strings; these are the ones the ledger itself checks. */
#define PPN_LEDGER_CAP_ADMIN "admin"          /* implies every capability */
#define PPN_LEDGER_CAP_NODE_ADMIT "node.admit" /* node join and revoke */
#define PPN_LEDGER_CAP_VM_CREATE "vm.create"   /* checked by the fleet controller */
#define PPN_LEDGER_CAP_VM_ASSIGN "vm.assign"   /* VM assignment entries */
/* The routing hub of a hub topology: granted (unscoped) to one current member at a time; with
 * no such grant the mesh is full (doc/ledger.md "Topology", ppn_ledger_hub). */
#define PPN_LEDGER_CAP_MESH_HUB "mesh.hub"

/* ---- Entries ------------------------------------------------------------------------ */

enum ppn_ledger_entry_type {
    PPN_LEDGER_ENTRY_GENESIS = 1,
    PPN_LEDGER_ENTRY_NODE_JOIN = 2,
    PPN_LEDGER_ENTRY_NODE_REVOKE = 3,
    PPN_LEDGER_ENTRY_CAP_GRANT = 4,
    PPN_LEDGER_ENTRY_CAP_REVOKE = 5,
    PPN_LEDGER_ENTRY_VM_ASSIGN = 6,
    PPN_LEDGER_ENTRY_SUPERSEDE = 7,
};

/* One entry, flat: which fields count depends on 'type' (unused ones are zero / "").
 *   GENESIS      text = origin name, subject = first administrator, mesh = address range
 *                ("10.8.0.0/24"); the author must be the subject.
 *   NODE_JOIN    subject = identity key, wg_key, mesh = address ("10.8.0.2"), endpoint
 *                ("host:port", may be ""), hostname
 *   NODE_REVOKE  subject = identity key, text = reason (may be "")
 *   CAP_GRANT    subject, capability, scope ("" = unscoped)
 *   CAP_REVOKE   subject, capability, scope (must match a grant)
 *   VM_ASSIGN    text = VM name, subject = node identity key it is pinned to
 *   SUPERSEDE    target = index of the entry replaced (a NODE_JOIN, CAP_GRANT, VM_ASSIGN or
 *                SUPERSEDE still in effect); replacement_type = the type of the replacement
 *                (the target's type), or 0 to withdraw the target with nothing in its place;
 *                the replacement's fields are the ones of that type, in this struct.
 * Text fields are NUL-terminated UTF-8 of at most PPN_LEDGER_TEXT_MAX bytes. */
struct ppn_ledger_entry {
    uint32_t type;             /* enum ppn_ledger_entry_type */
    uint32_t replacement_type; /* SUPERSEDE only */
    uint64_t index;            /* ledger index; set by the library when signing/decoding */
    uint64_t time_ms;          /* Unix time in ms; 0 when signing means "now" */
    uint64_t target;           /* SUPERSEDE only */
    uint8_t author[PPN_LEDGER_PUBLIC_KEY_BYTES]; /* set from the secret key when signing */
    uint8_t subject[PPN_LEDGER_PUBLIC_KEY_BYTES];
    uint8_t wg_key[PPN_LEDGER_PUBLIC_KEY_BYTES];
    char text[PPN_LEDGER_TEXT_MAX + 1];
    char mesh[PPN_LEDGER_TEXT_MAX + 1];
    char endpoint[PPN_LEDGER_TEXT_MAX + 1];
    char hostname[PPN_LEDGER_TEXT_MAX + 1];
    char capability[PPN_LEDGER_TEXT_MAX + 1];
    char scope[PPN_LEDGER_TEXT_MAX + 1];
};

/* Encode 'entry' canonically for ledger position 'index', sign it with 'author_sk' (the
 * author field is taken from the key) and write the bytes to 'buf'.  -EINVAL for a bad field
 * (unknown type, text too long or not UTF-8, genesis author != subject), -ENOBUFS if 'size'
 * is too small (PPN_LEDGER_ENTRY_MAX always suffices).  Returns 0, *ret_len = bytes. */
PPN_EXPORT int ppn_ledger_entry_sign(const struct ppn_ledger_entry *entry, uint64_t index,
                                     const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                     uint8_t *buf, size_t size, size_t *ret_len);

/* Decode signed entry bytes: -EBADMSG unless they are exactly one canonical entry with the
 * fields of its type; -EKEYREJECTED if the signature does not verify.  Authority is not
 * checked (that needs the ledger).  Fills *ret_entry. */
PPN_EXPORT int ppn_ledger_entry_decode(const uint8_t *data, size_t len,
                                       struct ppn_ledger_entry *ret_entry);

/* Entries as JSON (one object, no newline) and back, for the tool and for people.  The JSON
 * form has "type" ("genesis", "node-join", "node-revoke", "cap-grant", "cap-revoke",
 * "vm-assign", "supersede"), keys in wg base64, the text fields by name.  *ret_json is
 * malloc'd; free it with free().  from_json: -EBADMSG for malformed JSON or fields. */
PPN_EXPORT int ppn_ledger_entry_to_json(const struct ppn_ledger_entry *entry, char **ret_json);
PPN_EXPORT int ppn_ledger_entry_from_json(const char *json, size_t len,
                                          struct ppn_ledger_entry *ret_entry);
/* As ppn_ledger_entry_from_json, and every key must be a field of the type (a misspelt or
 * unknown field is refused, never ignored), every field the type needs must be there
 * ("endpoint", "scope" and "reason" may be left out: ""), "replacement_type" must be "none",
 * "node-join", "cap-grant" or "vm-assign".  On failure (-EBADMSG) 'msg' (may be NULL) gets a
 * sentence naming the field and the rule.  The entry's meaning is checked on signing and
 * appending (ppn_ledger_entry_check), not here. */
PPN_EXPORT int ppn_ledger_entry_parse_json(const char *json, size_t len,
                                           struct ppn_ledger_entry *ret_entry, char *msg,
                                           size_t msg_size);

/* Check what an entry means, as ppn_ledger_entry_sign and every append do before anything is
 * written: keys present (not all zero), the genesis origin a note key name and its mesh an
 * IPv4 range a.b.c.d/8../30 without host bits, a node's mesh address dotted-quad IPv4, its
 * endpoint "" or host:port (host name, IPv4 or [IPv6]; port 1..65535), its hostname RFC 1123,
 * a VM name 1..63 of a-z 0-9 '-', a capability without spaces, a supersede's
 * replacement_type none / node-join / cap-grant / vm-assign.  (Appending also checks that a
 * node's address is a host of the ledger's mesh range and not another member's.)  Returns 0,
 * or -EINVAL with a sentence naming the field and the rule in 'msg' (may be NULL). */
PPN_EXPORT int ppn_ledger_entry_check(const struct ppn_ledger_entry *entry, char *msg,
                                      size_t msg_size);

/* "genesis", "node-join", ...; "?" for an unknown type.  Static storage. */
PPN_EXPORT const char *ppn_ledger_entry_type_name(uint32_t type);

/* ---- Opening, creating, closing --------------------------------------------------- */

typedef struct ppn_ledger ppn_ledger;

enum ppn_ledger_open_flags {
    PPN_LEDGER_OPEN_WRITE = 1U << 0, /* take the writer lock (-EBUSY if held); cut a torn tail */
};

/* What opening (or verifying) found.  Filled on success and on failure. */
struct ppn_ledger_report {
    uint64_t error_index;  /* entry index where the error is, UINT64_MAX if none */
    uint64_t error_offset; /* byte offset in 'entries', UINT64_MAX if none */
    uint64_t torn_offset;  /* where a torn tail began, UINT64_MAX if none */
    uint64_t torn_bytes;   /* bytes of torn tail (cut back by a writer; ignored by a reader) */
    uint64_t entries;      /* complete entries found */
    uint32_t tree_rebuilt; /* hashes of the tree cache beyond the last checkpoint rewritten */
    uint32_t error_file;   /* where error_offset points: 0 entries, 1 tree, 2 checkpoint,
                              3 nodes.jsonl (verify only) */
    /* Entries the tree cache holds hashes of but 'entries' does not hold (it ends, at a record
     * boundary or in a torn tail, before them): indices lost_index .. lost_index+lost_count-1.
     * After a power loss these were never acknowledged (the records and the tree are written
     * before the one fdatasync); otherwise 'entries' was cut.  A writer then truncates the
     * cache and appends at lost_index.  lost_count 0: none. */
    uint64_t lost_index;
    uint64_t lost_count;
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
};

/* Progress of the long operations on a handle (ppn_ledger_verify, ppn_ledger_import): called
 * in the calling thread every few thousand entries with what is being done ("reading" the
 * records, in bytes; "signatures", in entries; "appending", in entries), how much of it is
 * done and its total.  fn NULL: none (the default). */
typedef void (*ppn_ledger_progress_fn)(void *userdata, const char *what, uint64_t done,
                                       uint64_t total);
PPN_EXPORT void ppn_ledger_set_progress(ppn_ledger *ledger, ppn_ledger_progress_fn fn,
                                        void *userdata);

/* Create the ledger directory 'dir' (it must not exist, or be empty) with its genesis entry:
 * origin name (checkpoint origin, e.g. "pointsav.example/ledger"), mesh address range, first
 * administrator = the public half of 'admin_sk', which signs it.  Everything is durable when
 * this returns.  If ret_ledger is non-NULL the ledger stays open for writing there, else it is
 * closed.  -EEXIST if 'dir' holds a ledger or other files. */
PPN_EXPORT int ppn_ledger_create(const char *dir, const char *origin, const char *mesh_range,
                                 const uint8_t admin_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                 ppn_ledger **ret_ledger);

/* Open a ledger.  A handle sees the ledger as it was when opened (plus its own appends): to see
 * another process's appends, open again.  Reads every record (checksums, index sequence), decodes every entry, checks
 * authority, rebuilds the views, and checks the tree cache and the stored checkpoint; verifies
 * the signatures of the entries after the last checkpoint (the checkpoint vouches for those
 * before it; ppn_ledger_verify checks them all).  A torn tail is cut back (writer) or ignored
 * (reader) and reported.  Anything else refuses: -EUCLEAN (bad checksum, bad entry, ledger
 * shorter than its checkpoint, tree cache wrong within the checkpoint), -EKEYREJECTED (a bad
 * signature), -EPERM (an entry whose author lacked the capability), with index and offset in
 * *report (may be NULL).  -ENOENT no ledger there, -EBUSY writer lock held.  Files are read
 * with pread (a writer cutting a tail meanwhile cannot crash a reader).  Entries the tree cache
 * hashed but 'entries' lost are reported (lost_index, lost_count), not refused.  A writer
 * removes stale checkpoint.tmp.<pid> files. */
PPN_EXPORT int ppn_ledger_open(const char *dir, uint32_t flags, ppn_ledger **ret_ledger);
PPN_EXPORT int ppn_ledger_open_full(const char *dir, uint32_t flags,
                                    struct ppn_ledger_report *report, ppn_ledger **ret_ledger);

/* As ppn_ledger_open_full, reporting progress as ppn_ledger_set_progress says (fn may be
 * NULL); the handle keeps fn for its own long operations. */
PPN_EXPORT int ppn_ledger_open_progress(const char *dir, uint32_t flags,
                                        struct ppn_ledger_report *report,
                                        ppn_ledger_progress_fn fn, void *userdata,
                                        ppn_ledger **ret_ledger);

/* The longest wait ppn_ledger_open_wait takes, in milliseconds (an hour). */
#define PPN_LEDGER_OPEN_WAIT_MAX_MS 3600000
/* As ppn_ledger_open, but with PPN_LEDGER_OPEN_WRITE a writer lock that another handle or
 * process holds is waited for, up to 'timeout_ms' (woken when the holder closes the lock file,
 * else tried every 20 ms; 0: not at all, as ppn_ledger_open): -EBUSY when it is still held
 * then.  -EINVAL timeout_ms above PPN_LEDGER_OPEN_WAIT_MAX_MS, NULL dir or ret_ledger, an
 * unknown flag; otherwise the codes of ppn_ledger_open. */
PPN_EXPORT int ppn_ledger_open_wait(const char *dir, uint32_t flags, uint32_t timeout_ms,
                                    ppn_ledger **ret_ledger);

/* Close: syncs the tree cache of a writer and releases the lock.  NULL is fine. */
PPN_EXPORT void ppn_ledger_free(ppn_ledger *ledger);

/* Number of entries, origin name, mesh range of the genesis entry.  Strings are owned by the
 * ledger and valid until ppn_ledger_free. */
PPN_EXPORT uint64_t ppn_ledger_size(const ppn_ledger *ledger);
PPN_EXPORT const char *ppn_ledger_origin(const ppn_ledger *ledger);
PPN_EXPORT const char *ppn_ledger_mesh_range(const ppn_ledger *ledger);
PPN_EXPORT const char *ppn_ledger_dir(const ppn_ledger *ledger);

/* Merkle root of the first 'size' entries (size <= ppn_ledger_size; 0 gives SHA-256("")).
 * Reads O(log n) hashes.  -EINVAL size too large. */
PPN_EXPORT int ppn_ledger_root(ppn_ledger *ledger, uint64_t size,
                               uint8_t ret_root[PPN_LEDGER_HASH_BYTES]);

/* Entry 'index' decoded, its signed bytes, or its leaf hash.  -ENOENT index >= size;
 * get_raw: -ENOBUFS if 'size' is too small. */
PPN_EXPORT int ppn_ledger_get(ppn_ledger *ledger, uint64_t index, struct ppn_ledger_entry *ret_entry);
PPN_EXPORT int ppn_ledger_get_raw(ppn_ledger *ledger, uint64_t index, uint8_t *buf, size_t size,
                                  size_t *ret_len);
PPN_EXPORT int ppn_ledger_leaf_hash(ppn_ledger *ledger, uint64_t index,
                                    uint8_t ret_hash[PPN_LEDGER_HASH_BYTES]);

/* ---- Appending (writer only: -EBADF on a read-only handle) ------------------------ */

/* Sign and append 'n' entries in one batch (one fdatasync).  Each is checked for authority in
 * order, as if the earlier ones were in effect; nothing is written unless all are valid
 * (-EPERM missing capability, -EPROTO broken rule, -EINVAL bad field).  Returns 0 only after
 * the batch is durable; *ret_first_index = index of the first (may be NULL).  -EIO on a write
 * or sync failure (then the handle refuses every later append). */
PPN_EXPORT int ppn_ledger_append(ppn_ledger *ledger, const struct ppn_ledger_entry *entries,
                                 size_t n, const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                 uint64_t *ret_first_index);

/* Append already-signed entries (e.g. read from a file): entries[i] of lens[i] bytes, which
 * must have been signed for index size+i.  Signatures are verified (-EKEYREJECTED), then as
 * ppn_ledger_append. */
PPN_EXPORT int ppn_ledger_append_signed(ppn_ledger *ledger, const uint8_t *const *entries,
                                        const size_t *lens, size_t n, uint64_t *ret_first_index);

/* Why the last append (or import) on this handle refused an entry: a sentence naming the
 * field and the rule ("" after a success), and that entry's ledger index (UINT64_MAX if
 * none).  Owned by the handle, valid until the next call on it. */
PPN_EXPORT const char *ppn_ledger_last_error(const ppn_ledger *ledger);
PPN_EXPORT uint64_t ppn_ledger_last_error_index(const ppn_ledger *ledger);

/* Conveniences for one entry each; same errors as ppn_ledger_append.  Strings may be "" but
 * not NULL, except where said. */
PPN_EXPORT int ppn_ledger_node_join(ppn_ledger *ledger,
                                    const uint8_t identity_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                    const uint8_t wg_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                    const char *mesh_address, const char *endpoint,
                                    const char *hostname,
                                    const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                    uint64_t *ret_index);
PPN_EXPORT int ppn_ledger_node_revoke(ppn_ledger *ledger,
                                      const uint8_t identity_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                      const char *reason,
                                      const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                      uint64_t *ret_index);
PPN_EXPORT int ppn_ledger_cap_grant(ppn_ledger *ledger,
                                    const uint8_t subject_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                    const char *capability, const char *scope,
                                    const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                    uint64_t *ret_index);
PPN_EXPORT int ppn_ledger_cap_revoke(ppn_ledger *ledger,
                                     const uint8_t subject_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                     const char *capability, const char *scope,
                                     const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                     uint64_t *ret_index);
PPN_EXPORT int ppn_ledger_vm_assign(ppn_ledger *ledger, const char *vm_name,
                                    const uint8_t node_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                    const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                    uint64_t *ret_index);
/* 'replacement' may be NULL to withdraw the target; otherwise its type must be the target's. */
PPN_EXPORT int ppn_ledger_supersede(ppn_ledger *ledger, uint64_t target,
                                    const struct ppn_ledger_entry *replacement,
                                    const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                    uint64_t *ret_index);

/* ---- Current views ---------------------------------------------------------------- */

/* A current member: from a NODE_JOIN (or its SUPERSEDE replacement) not revoked since. */
struct ppn_ledger_member {
    uint64_t index; /* the entry that holds the current record */
    uint8_t identity[PPN_LEDGER_PUBLIC_KEY_BYTES];
    uint8_t wg_key[PPN_LEDGER_PUBLIC_KEY_BYTES];
    char mesh[PPN_LEDGER_TEXT_MAX + 1];
    char endpoint[PPN_LEDGER_TEXT_MAX + 1];
    char hostname[PPN_LEDGER_TEXT_MAX + 1];
};

/* Members in ledger order: count, then get i < count (-ENOENT otherwise); find by identity
 * key (-ENOENT if not a current member). */
PPN_EXPORT size_t ppn_ledger_member_count(const ppn_ledger *ledger);
PPN_EXPORT int ppn_ledger_member_get(const ppn_ledger *ledger, size_t i,
                                     struct ppn_ledger_member *ret_member);
PPN_EXPORT int ppn_ledger_member_find(const ppn_ledger *ledger,
                                      const uint8_t identity_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                      struct ppn_ledger_member *ret_member);

/* A capability grant in effect. */
struct ppn_ledger_grant {
    uint64_t index;
    uint8_t subject[PPN_LEDGER_PUBLIC_KEY_BYTES];
    char capability[PPN_LEDGER_TEXT_MAX + 1];
    char scope[PPN_LEDGER_TEXT_MAX + 1];
};
PPN_EXPORT size_t ppn_ledger_grant_count(const ppn_ledger *ledger);
PPN_EXPORT int ppn_ledger_grant_get(const ppn_ledger *ledger, size_t i,
                                    struct ppn_ledger_grant *ret_grant);

/* 1 if 'key' currently holds 'capability' for 'scope', else 0; -EINVAL for NULL arguments.
 * Held means: a grant of "admin" (unscoped), or a grant of 'capability' that is unscoped or
 * whose scope equals 'scope'.  'scope' NULL or "" asks for an unscoped grant. */
PPN_EXPORT int ppn_ledger_has_capability(const ppn_ledger *ledger,
                                         const uint8_t key[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                         const char *capability, const char *scope);

/* A VM assignment in effect (the latest per VM name). */
struct ppn_ledger_assignment {
    uint64_t index;
    char vm[PPN_LEDGER_TEXT_MAX + 1];
    uint8_t node[PPN_LEDGER_PUBLIC_KEY_BYTES];
};
PPN_EXPORT size_t ppn_ledger_assignment_count(const ppn_ledger *ledger);
PPN_EXPORT int ppn_ledger_assignment_get(const ppn_ledger *ledger, size_t i,
                                         struct ppn_ledger_assignment *ret_assignment);
PPN_EXPORT int ppn_ledger_assignment_find(const ppn_ledger *ledger, const char *vm_name,
                                          struct ppn_ledger_assignment *ret_assignment);

/* ---- nodes.jsonl -------------------------------------------------------------------- */

/* Write '<dir>/nodes.jsonl' (path NULL) or 'path' atomically: one JSON object per line for each
 * NODE_JOIN / NODE_REVOKE entry and each SUPERSEDE of a node, in ledger order, with "index",
 * "leaf_hash" (hex), "type", "identity", "wg_key" (base64), "mesh", "endpoint", "hostname",
 * "time_ms", "author" (a revoke line has "reason" instead of the node fields; a supersede has
 * "target").  Lines are only ever added, so an older file is a prefix of a newer one. */
PPN_EXPORT int ppn_ledger_export_nodes(ppn_ledger *ledger, const char *path);

/* ---- Checkpoints (C2SP tlog-checkpoint in a C2SP signed note) ------------------------ */

/* Sign a checkpoint of the whole ledger with 'signer_sk' (its key must hold "admin"; -EPERM
 * otherwise), store it durably as '<dir>/checkpoint', and copy the note text to 'buf'.
 * The note key name is the origin.  -ENOBUFS if 'size' < the note length (a buffer of exactly
 * the note's length is enough; PPN_LEDGER_CHECKPOINT_MAX always suffices).  *ret_len = length
 * (no NUL counted; a NUL is written if it fits).  Writer only. */
PPN_EXPORT int ppn_ledger_checkpoint(ppn_ledger *ledger,
                                     const uint8_t signer_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                     char *buf, size_t size, size_t *ret_len);
/* The latest stored checkpoint note (with any cosignatures added to it).  -ENOENT if none was
 * made yet; -ENOBUFS if 'size' < its length (exactly its length is enough; a NUL is written if
 * it fits). */
PPN_EXPORT int ppn_ledger_checkpoint_get(ppn_ledger *ledger, char *buf, size_t size,
                                         size_t *ret_len);

/* Verify a checkpoint note signed by 'pk' under key name 'origin' (which must also be the
 * checkpoint's origin line).  -EBADMSG malformed, -EKEYREJECTED no valid signature by that
 * key.  Returns the tree size and root. */
PPN_EXPORT int ppn_ledger_checkpoint_verify(const char *note, size_t len, const char *origin,
                                            const uint8_t pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                            uint64_t *ret_size,
                                            uint8_t ret_root[PPN_LEDGER_HASH_BYTES]);

/* The C2SP signed-note key ID of (name, Ed25519 pk): SHA-256(name || "\n" || 0x01 || pk)[0:4],
 * big-endian. */
PPN_EXPORT uint32_t ppn_ledger_note_key_id(const char *name,
                                           const uint8_t pk[PPN_LEDGER_PUBLIC_KEY_BYTES]);

/* ---- Merkle proofs (RFC 9162 §2.1) ------------------------------------------------- */

/* Inclusion proof of entry 'index' in the tree of the first 'size' entries: *ret_count hashes
 * of 32 bytes into 'proof' (room for 'max' hashes; PPN_LEDGER_PROOF_MAX suffices, else
 * -ENOBUFS).  Reads O(log n) stored hashes.  -EINVAL index >= size or size > ledger size. */
PPN_EXPORT int ppn_ledger_prove_inclusion(ppn_ledger *ledger, uint64_t index, uint64_t size,
                                          uint8_t *proof, size_t max, size_t *ret_count);
/* Consistency proof between sizes old_size <= new_size <= ledger size. */
PPN_EXPORT int ppn_ledger_prove_consistency(ppn_ledger *ledger, uint64_t old_size,
                                            uint64_t new_size, uint8_t *proof, size_t max,
                                            size_t *ret_count);

/* Stand-alone: leaf hash SHA-256(0x00 || data), and proof verification.  Return 0 when the
 * proof holds, -EBADMSG when it does not (wrong length, wrong hashes, index >= size, ...),
 * -EINVAL for NULL arguments.  A consistency proof from size 0 holds only for the empty-tree
 * root SHA-256("") as old_root (and, for (0, 0), as both roots). */
PPN_EXPORT void ppn_ledger_merkle_leaf_hash(const uint8_t *data, size_t len,
                                            uint8_t ret_hash[PPN_LEDGER_HASH_BYTES]);
PPN_EXPORT int ppn_ledger_merkle_verify_inclusion(const uint8_t leaf_hash[PPN_LEDGER_HASH_BYTES],
                                                  uint64_t index, uint64_t size,
                                                  const uint8_t *proof, size_t count,
                                                  const uint8_t root[PPN_LEDGER_HASH_BYTES]);
PPN_EXPORT int ppn_ledger_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                                                    const uint8_t old_root[PPN_LEDGER_HASH_BYTES],
                                                    const uint8_t new_root[PPN_LEDGER_HASH_BYTES],
                                                    const uint8_t *proof, size_t count);

/* ---- Verification and replication ------------------------------------------------- */

/* Full verification of what is on disk: every checksum, canonical encoding, signature (spread
 * over 'threads' threads; 0 = one per online CPU), authority, every stored tree hash, the
 * stored checkpoint, and nodes.jsonl if present (it may lag behind, as a prefix of whole lines,
 * but must not differ; error_offset is where it diverges).  The tree cache is judged as by
 * opening: hashes missing or stale after the checkpoint (a crash) are counted in tree_rebuilt,
 * not refused.  -EUCLEAN / -EKEYREJECTED / -EPERM with index and offset in *report (may be
 * NULL). */
PPN_EXPORT int ppn_ledger_verify(ppn_ledger *ledger, unsigned threads,
                                 struct ppn_ledger_report *report);

struct ppn_ledger_import_report {
    uint64_t imported;    /* entries appended */
    uint32_t fork;        /* 1 if a fork was found (then nothing was imported) */
    uint32_t error_file;  /* where error_offset points in the SOURCE: as in ppn_ledger_report */
    uint64_t fork_size;   /* the first tree size at which the two differ (entry fork_size-1) */
    uint8_t ours[PPN_LEDGER_HASH_BYTES];   /* our root at fork_size */
    uint8_t theirs[PPN_LEDGER_HASH_BYTES]; /* theirs at fork_size */
    uint64_t error_index;  /* the source's entry at fault (damaged, forged, refused, forked), */
    uint64_t error_offset; /* and its byte offset in the source's file; UINT64_MAX if none */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
};

/* Import from another replica's ledger directory 'src_dir' (opened read-only).  A damaged or
 * forged source (-EBADMSG), or a source entry our rules refuse (-EPERM, -EPROTO, -EINVAL), is
 * located in report->error_file/error_index/error_offset (in the source), its reason in
 * ppn_ledger_last_error.  Their
 * checkpoint must be signed by a key holding "admin"; their entries must verify (signatures,
 * authority) and agree with ours on the common prefix and with both checkpoints.  Two
 * checkpoints of the same size with different roots, or any disagreement on the common
 * prefix, is a fork: -EPROTO with report->fork = 1, and nothing is imported.  New entries are
 * appended in one batch and their checkpoint is stored.  Writer only. */
PPN_EXPORT int ppn_ledger_import(ppn_ledger *ledger, const char *src_dir,
                                 struct ppn_ledger_import_report *report);

/* ---- Replica bundles (doc/sync.md) ----------------------------------------- */

/* A bundle is one replica in one byte string, to hand a whole ledger to a new member: the
 * 'entries', 'tree' and 'checkpoint' files of a ledger directory in the PPNLEDG1 format of
 * doc/sync.md.  It needs no secrecy: everything in it is signed and is verified on
 * installing. */

/* Largest bundle this library builds or reads, in bytes (256 MiB), and most files in one. */
#define PPN_LEDGER_BUNDLE_MAX (256U << 20)
#define PPN_LEDGER_BUNDLE_FILES_MAX 16

/* Where a bundle was refused.  Filled by ppn_ledger_bundle_need and _install, on success
 * (nothing set) and on failure. */
struct ppn_ledger_bundle_report {
    uint32_t part;         /* the bundle's file (0 = first) at fault, UINT32_MAX if none */
    uint32_t error_file;   /* for a replica that does not verify: as in ppn_ledger_report */
    uint64_t offset;       /* byte offset in the bundle at fault, UINT64_MAX if none */
    uint64_t error_index;  /* the entry at fault, UINT64_MAX if none */
    uint64_t error_offset; /* its byte offset in that file of the replica, UINT64_MAX if none */
    char file[65];         /* the name of that file ("" if none) */
    char why[256];         /* a sentence saying what is wrong ("" on success) */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
};

/* Build the bundle of what 'ledger' holds (its entries, the tree hashes of them, its stored
 * checkpoint if any) into *ret_buf (malloc'd; free with free()), *ret_len bytes.  -EINVAL
 * NULL arguments, -E2BIG more than PPN_LEDGER_BUNDLE_MAX, -EIO a read failed, -ENOMEM. */
PPN_EXPORT int ppn_ledger_bundle_build(ppn_ledger *ledger, uint8_t **ret_buf, size_t *ret_len);

/* For reading a bundle from a stream: given its first 'len' bytes, returns 0 with *ret_total
 * = the length of the whole bundle once 'len' covers every header (*ret_total <= len means it
 * is all there; bytes after it are not part of it), or -EAGAIN with *ret_total = a length it
 * needs at least (read up to it and call again).  -EBADMSG when the bytes cannot start a valid
 * bundle (magic, file count, name, duplicate, size), -E2BIG when it would exceed
 * PPN_LEDGER_BUNDLE_MAX; report (may be NULL) says where. */
PPN_EXPORT int ppn_ledger_bundle_need(const uint8_t *buf, size_t len, uint64_t *ret_total,
                                      struct ppn_ledger_bundle_report *report);

/* Called by ppn_ledger_bundle_install with the verified replica opened read-only, before it is
 * installed: return 0 to install it, or a negative errno (and a sentence in 'why') to refuse. */
typedef int (*ppn_ledger_bundle_accept_fn)(void *userdata, ppn_ledger *replica, char *why,
                                           size_t why_size);

/* Verify the bundle buf[0..len) and install it as the new ledger directory 'dir' (which must
 * not exist: -EEXIST) atomically: written to a temporary sibling '<dir>.tmp.<pid>', every file
 * and the directory fsynced, fully verified there (as ppn_ledger_verify: every checksum,
 * encoding, signature, authority, tree hash), its checkpoint checked to be signed by
 * 'signer_pk' (NULL: by any current administrator of the replica) and to cover every entry,
 * then 'accept' (may be NULL) asked, and only then renamed to 'dir' (never over anything) and
 * the parent fsynced.  On any failure nothing is left behind.  Errors: -EINVAL arguments;
 * -EBADMSG a malformed bundle (trailing bytes included) or one without 'entries' or
 * 'checkpoint'; -E2BIG too large; -EUCLEAN / -EKEYREJECTED / -EPERM a replica that does not
 * verify (file, entry index and offset in *report); -EKEYREJECTED a checkpoint not signed by
 * the key; -EPROTO a checkpoint that does not cover all the entries; -EEXIST; -EIO; whatever
 * 'accept' returns.  report (may be NULL) says where and why. */
PPN_EXPORT int ppn_ledger_bundle_install(const uint8_t *buf, size_t len, const char *dir,
                                         const uint8_t signer_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                         ppn_ledger_bundle_accept_fn accept, void *userdata,
                                         struct ppn_ledger_bundle_report *report);

/* ---- Candidate entries (prepared, checked, appended later) --------------------------- */

/* Sign 'entry' for the next index (ppn_ledger_size) and check that it would apply now (as
 * ppn_ledger_check_signed), without appending it; the bytes go to 'buf' (PPN_LEDGER_ENTRY_MAX
 * suffices), *ret_len their length.  Append exactly them later with ppn_ledger_append_signed
 * (which checks everything again, and refuses them with -EPROTO if the ledger grew since).
 * Errors as ppn_ledger_entry_sign and ppn_ledger_check_signed; nothing is written.  Works on
 * a read-only handle too. */
PPN_EXPORT int ppn_ledger_prepare(ppn_ledger *ledger, const struct ppn_ledger_entry *entry,
                                  const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                  uint8_t *buf, size_t size, size_t *ret_len);

/* Check that the signed entry bytes would apply on top of this ledger as its next entry,
 * without appending: -EBADMSG not one canonical entry, -EKEYREJECTED a bad signature, -EPROTO
 * signed for another index or a broken rule (a node-join of a key that belonged to a node that
 * is no longer a member is refused too), -EPERM the author lacks the capability, -EINVAL a bad
 * field or NULL, -ENOMEM, -EIO.  ppn_ledger_last_error() says why.  Read-only handles too. */
PPN_EXPORT int ppn_ledger_check_signed(ppn_ledger *ledger, const uint8_t *entry, size_t len);

/* ---- Network sync, sans-I/O (doc/sync.md) -------------------------------------------- */

/* One member asks another for what it lacks with a request (origin, its size, its root) and
 * applies the answer: the entries after its size, the answering member's latest signed
 * checkpoint, a consistency proof from the new size to it; when the two histories diverge,
 * the answerer's leaf hashes instead, from which the first size at which they differ is found.
 * No I/O here: byte buffers in and out, every length bounded; the caller moves them. */

/* Longest request (an origin of 255 bytes), and the largest answer ever built or applied. */
#define PPN_LEDGER_SYNC_REQUEST_MAX 304
#define PPN_LEDGER_SYNC_ANSWER_MAX (16U << 20)

/* Encode this ledger's request (its size and root) into buf (PPN_LEDGER_SYNC_REQUEST_MAX
 * always suffices, else -ENOBUFS).  -EINVAL NULL arguments. */
PPN_EXPORT int ppn_ledger_sync_request(ppn_ledger *ledger, uint8_t *buf, size_t size,
                                       size_t *ret_len);

struct ppn_ledger_sync_request {
    uint64_t size;
    uint8_t root[PPN_LEDGER_HASH_BYTES];
    char origin[PPN_LEDGER_TEXT_MAX + 1];
};
/* Decode a request: -E2BIG longer than PPN_LEDGER_SYNC_REQUEST_MAX, -EBADMSG malformed. */
PPN_EXPORT int ppn_ledger_sync_request_decode(const uint8_t *buf, size_t len,
                                              struct ppn_ledger_sync_request *ret_request);

/* Answer a request from what 'ledger' holds, in at most 'max' bytes (capped at
 * PPN_LEDGER_SYNC_ANSWER_MAX): the entries after the asker's size up to this ledger's latest
 * checkpoint, as many as fit (the asker asks again for the rest), that checkpoint, and the
 * consistency proof; if the asker's root is not this ledger's at its size (or it is ahead of
 * the checkpoint), this ledger's leaf hashes up to the smaller size instead, when they fit.
 * *ret_buf is malloc'd (free()).  -EBADMSG a malformed request, -EPROTO another ledger's
 * origin, -ENOENT no checkpoint to answer with, -E2BIG 'max' too small for any answer. */
PPN_EXPORT int ppn_ledger_sync_answer(ppn_ledger *ledger, const uint8_t *request, size_t len,
                                      size_t max, uint8_t **ret_buf, size_t *ret_len);

/* What applying an answer did or why it refused.  Filled on success and on failure. */
struct ppn_ledger_sync_report {
    uint64_t appended;    /* entries appended */
    uint64_t their_size;  /* the answering member's checkpoint size (ask again while larger) */
    uint32_t fork;        /* 1: the two signed histories differ (nothing appended) */
    uint32_t fork_exact;  /* 1: fork_size is the first size at which they differ (entry
                             fork_size-1); 0: they differ at fork_size, maybe earlier too */
    uint64_t fork_size;
    uint8_t ours[PPN_LEDGER_HASH_BYTES];   /* our root at fork_size */
    uint8_t theirs[PPN_LEDGER_HASH_BYTES]; /* theirs (zero when not proven: fork_exact 0 and
                                              fork_size below their checkpoint's) */
    uint64_t error_index;  /* the ledger index of the entry at fault, UINT64_MAX if none */
    uint64_t error_offset; /* byte offset in the answer at fault, UINT64_MAX if none */
    char why[256];         /* a sentence ("" on success) */
    uint64_t reserved[4];        /* zero: room for later fields (doc/API.md, "Structs") */
};

/* Apply an answer to this ledger (writer only, -EBADF): checked in order, cheapest first —
 * its length against 'max' (-E2BIG, before anything is read), its framing (-EBADMSG), that it
 * answers this ledger at its present size (-EPROTO), the entries' encoding and indices, the
 * checkpoint's signature by a key that holds or is granted "admin" in this ledger
 * (-EKEYREJECTED), the Merkle tree of our entries and theirs against the checkpoint with the
 * proof (-EBADMSG), then every entry's signature (-EKEYREJECTED) and authority (-EPERM,
 * -EPROTO, -EINVAL) in one batch that is appended durably only if all hold (-EIO).  A fork is
 * -EPROTO with report->fork = 1 and the evidence.  A newer checkpoint is stored.  Returns 0 with
 * report->appended (0: nothing new). */
PPN_EXPORT int ppn_ledger_sync_apply(ppn_ledger *ledger, const uint8_t *answer, size_t len,
                                     size_t max, struct ppn_ledger_sync_report *report);

/* ---- Topology ------------------------------------------------------------------------ */

/* The mesh's routing hub: 0 and *ret_hub (may be NULL) = the member that holds the unscoped
 * PPN_LEDGER_CAP_MESH_HUB grant (a hub topology: the others peer only with it, for the whole
 * mesh range, and it forwards); -ENOENT none (a full mesh); -EINVAL NULL ledger.  Write-time
 * rules keep the grant to one current member at a time, unscoped; a revoked hub loses it. */
PPN_EXPORT int ppn_ledger_hub(const ppn_ledger *ledger, struct ppn_ledger_member *ret_hub);

/* ---- Cosignatures (C2SP tlog-cosignature/v1, doc/sync.md) ----------------------------- */

/* Members vouch for the checkpoints they verified.  A ledger keeps the newest cosignature of
 * each member it has seen (at most PPN_LEDGER_COSIGNATURES_MAX, in '<dir>/cosignatures'),
 * passes them on in its sync answers, and ppn_ledger_sync_apply refuses a fork when a
 * member's cosignature is on a checkpoint of a size it holds with another root. */
#define PPN_LEDGER_COSIGNATURES_MAX 64

struct ppn_ledger_cosignature {
    uint8_t cosigner[PPN_LEDGER_PUBLIC_KEY_BYTES]; /* the member's identity key */
    uint64_t size;
    uint8_t root[PPN_LEDGER_HASH_BYTES];
    uint64_t time;   /* POSIX seconds, as the cosigner stated */
    uint32_t key_id; /* its C2SP key ID (algorithm 0x04) */
};

/* Cosign this ledger's stored checkpoint (verified against the entries when it was opened or
 * adopted) with a current member's identity key 'sk', at 'time_s', and keep it (it replaces
 * this member's older one; cosigning the same checkpoint again does nothing).  Writer only
 * (-EBADF).  -EPERM the key is not a current member's, -ENOENT no checkpoint, -EUCLEAN a
 * damaged cosignatures file, -EIO (nothing kept). */
PPN_EXPORT int ppn_ledger_cosign(ppn_ledger *ledger,
                                 const uint8_t sk[PPN_LEDGER_SECRET_KEY_BYTES], uint64_t time_s);

/* The cosignatures kept: *ret_count of them, the first 'max' into 'out' (-ENOBUFS when more
 * than 'max'; PPN_LEDGER_COSIGNATURES_MAX always suffices).  -EUCLEAN a damaged file. */
PPN_EXPORT int ppn_ledger_cosignatures(ppn_ledger *ledger, struct ppn_ledger_cosignature *out,
                                       size_t max, size_t *ret_count);

/* Cosignature 'i' as a C2SP signed note: the checkpoint's text, a blank line, and the
 * cosignature line "— <origin>/cosigner/<16 hex> base64(key ID || time || signature)".
 * -ENOENT no such cosignature, -ENOBUFS 'size' too small (PPN_LEDGER_CHECKPOINT_MAX suffices). */
PPN_EXPORT int ppn_ledger_cosignature_note(ppn_ledger *ledger, size_t i, char *buf, size_t size,
                                           size_t *ret_len);

/* ---- The replica service (sans-I/O, doc/sync.md "Nudges" and "The replica service") ------ */

/* What keeps a member's replica current over time: which member to pull from and when —
 * a periodic round, nudges from members (UDP datagrams the caller receives), pulls the
 * caller forces, and retries with backoff after a failed pull — and when this ledger's own
 * checkpoint or cosignatures changed (so the caller nudges the others).  No sockets and no
 * clock of its own: the caller gives the member set, every datagram it received, the result
 * of every pull, and 'now_ms' on its monotonic clock; the engine says which pull is due and
 * how long the caller may sleep (ppn_ledger_replica_timeout, for poll()). */

/* A nudge datagram: "PPNNUDG1", then the sender's checkpoint size (8 bytes big-endian, a hint
 * never trusted). */
#define PPN_LEDGER_NUDGE_BYTES 16
/* Most members a replica service pulls from, and the longest member address it takes
 * (numeric IPv4 or IPv6, with an optional "/prefix"), in bytes without the NUL. */
#define PPN_LEDGER_REPLICA_MEMBERS_MAX 1024
#define PPN_LEDGER_REPLICA_ADDRESS_MAX 63

/* Writes the nudge for 'checkpoint_size' into buf (PPN_LEDGER_NUDGE_BYTES).  -EINVAL NULL;
 * -ENOBUFS 'size' below PPN_LEDGER_NUDGE_BYTES. */
PPN_EXPORT int ppn_ledger_nudge_encode(uint64_t checkpoint_size, uint8_t *buf, size_t size,
                                       size_t *ret_len);
/* Parses a datagram as a nudge, the length first, then the magic: -EBADMSG not exactly
 * PPN_LEDGER_NUDGE_BYTES bytes or another magic; -EINVAL NULL buf with len > 0.
 * *ret_checkpoint_size (may be NULL) is the sender's claim, nothing more. */
PPN_EXPORT int ppn_ledger_nudge_parse(const uint8_t *buf, size_t len,
                                      uint64_t *ret_checkpoint_size);

typedef struct ppn_ledger_replica ppn_ledger_replica;

typedef struct ppn_ledger_replica_config {
    const char *dir;        /* the ledger directory whose 'checkpoint' and 'cosignatures' are
                               watched (copied); NULL: none (ppn_ledger_replica_check is 0) */
    uint32_t watched;       /* 1: the caller calls ppn_ledger_replica_check whenever the
                               directory changed (inotify); 0: the engine looks every second */
    uint32_t nudge_rate;    /* datagrams looked at per second, at most; 0: 50 */
    uint64_t pull_ms;       /* between periodic rounds (every member); 0: 10000 */
    uint64_t nudge_min_ms;  /* at most one nudged pull from a member in this time; 0: 200 */
    uint64_t retry_min_ms;  /* first retry after a failed pull, doubled after each further
                               failure up to pull_ms; 0: 250 */
    uint64_t pull_bound_ms; /* a pull not reported done after this has failed; 0: 75000 */
    uint64_t reserved[4];   /* zero: room for later fields (doc/API.md, "Structs") */
} ppn_ledger_replica_config;

typedef struct ppn_ledger_replica_member {
    const char *name;    /* 1..PPN_LEDGER_TEXT_MAX bytes: for the caller's messages */
    const char *address; /* its mesh address, "10.8.0.2" or "10.8.0.2/24" (the prefix ignored) */
    uint64_t reserved[2];
} ppn_ledger_replica_member;

/* Why a pull is due (the first that applies, in this order). */
typedef enum ppn_ledger_replica_reason {
    PPN_LEDGER_REPLICA_NUDGED = 1,   /* the member nudged (nudges meanwhile merged into it) */
    PPN_LEDGER_REPLICA_FORCED = 2,   /* ppn_ledger_replica_force */
    PPN_LEDGER_REPLICA_RETRY = 3,    /* the last pull of this member failed */
    PPN_LEDGER_REPLICA_PERIODIC = 4, /* the periodic round */
} ppn_ledger_replica_reason;

typedef struct ppn_ledger_replica_pull {
    uint64_t ticket;  /* for ppn_ledger_replica_done: this member, as long as it stays one */
    uint32_t reason;  /* a ppn_ledger_replica_reason */
    uint32_t failures; /* pulls of this member that failed in a row before this one */
    char name[PPN_LEDGER_TEXT_MAX + 1];
    char address[PPN_LEDGER_REPLICA_ADDRESS_MAX + 1]; /* without the prefix */
    uint64_t reserved[2];
} ppn_ledger_replica_pull;

/* Changes ppn_ledger_replica_check reports (bits). */
typedef enum ppn_ledger_replica_change {
    PPN_LEDGER_REPLICA_CHECKPOINT = 1U << 0,   /* '<dir>/checkpoint' changed */
    PPN_LEDGER_REPLICA_COSIGNATURES = 1U << 1, /* '<dir>/cosignatures' changed */
} ppn_ledger_replica_change;

typedef struct ppn_ledger_replica_stats {
    uint64_t nudges;         /* nudges taken from members */
    uint64_t merged;         /* of those, merged into a pull already due */
    uint64_t over_budget;    /* datagrams dropped unread: over nudge_rate */
    uint64_t malformed;      /* not a nudge (length, magic) */
    uint64_t strangers;      /* a nudge not from a member's address */
    uint64_t pulls;          /* pulls handed out */
    uint64_t failed;         /* pulls reported failed or past pull_bound_ms */
    uint64_t reserved[4];
} ppn_ledger_replica_stats;

/* A replica service whose first periodic round is due at now_ms, with no members yet; cfg's
 * files, when given, are looked at now (what they are now is no change).  -EINVAL NULL, a
 * reserved field not zero, nudge_rate above 100000, pull_ms above 86400000, retry_min_ms above
 * pull_ms, a dir longer than 4000 bytes; -ENOMEM. */
PPN_EXPORT int ppn_ledger_replica_new(const ppn_ledger_replica_config *cfg, uint64_t now_ms,
                                      ppn_ledger_replica **ret_replica);
/* Frees.  NULL is fine. */
PPN_EXPORT void ppn_ledger_replica_free(ppn_ledger_replica *r);
/* The members to pull from (not this node), replacing the previous set: a member whose
 * address was there keeps its ticket and state (a nudge pending, a pull in flight, its
 * failures), a new one waits for the next round.  Every member is checked before anything
 * changes: -EINVAL NULL (with n > 0), a name that is empty or too long, an address that is
 * not numeric IPv4 or IPv6 (or too long), an address twice; -E2BIG more than
 * PPN_LEDGER_REPLICA_MEMBERS_MAX; -ENOMEM (the old set kept). */
PPN_EXPORT int ppn_ledger_replica_set_members(ppn_ledger_replica *r,
                                              const ppn_ledger_replica_member *members,
                                              size_t n, uint64_t now_ms);
/* Takes a datagram received at now_ms from 'from' (a struct sockaddr_in or sockaddr_in6 of
 * 'fromlen' bytes), cheapest check first: the budget of nudge_rate a second (-EAGAIN, its
 * bytes not looked at), the length and magic (-EBADMSG), the source address a member's
 * (-EADDRNOTAVAIL; the port does not matter, an IPv4-mapped IPv6 address is its IPv4 one).
 * 0: that member's pull is due, at the earliest nudge_min_ms after its last nudged one, merged
 * with any nudge pending.  -EINVAL NULL r, NULL buf with len > 0, NULL from. */
PPN_EXPORT int ppn_ledger_replica_datagram(ppn_ledger_replica *r, const uint8_t *buf, size_t len,
                                           const struct sockaddr *from, size_t fromlen,
                                           uint64_t now_ms);
/* Makes a pull of the member at 'address' (NULL: of every member) due now.  -EINVAL NULL r;
 * -ENOENT no such member. */
PPN_EXPORT int ppn_ledger_replica_force(ppn_ledger_replica *r, const char *address,
                                        uint64_t now_ms);
/* Looks at the directory's 'checkpoint' and 'cosignatures' (device, inode, size,
 * modification time) — at every call when cfg.watched, else when a second has passed — and
 * returns the ppn_ledger_replica_change bits of what changed since the last look (0:
 * nothing).  -EINVAL NULL. */
PPN_EXPORT int ppn_ledger_replica_check(ppn_ledger_replica *r, uint64_t now_ms);
/* The next pull due at now_ms: returns 1 with *ret_pull filled (the member is then in flight
 * until ppn_ledger_replica_done, or pull_bound_ms), 0 when none is due.  A member is never
 * handed out twice at once; a pull covers every reason it was due for, except a nudge that
 * arrives while it is in flight.  -EINVAL NULL. */
PPN_EXPORT int ppn_ledger_replica_next(ppn_ledger_replica *r, uint64_t now_ms,
                                       ppn_ledger_replica_pull *ret_pull);
/* The result of the pull with 'ticket': 'result' 0 up to date, > 0 it learned something (the
 * entries appended), < 0 it failed (the pull's negative errno): the member is retried after
 * retry_min_ms, doubled after each further failure up to pull_ms (a nudge from it is taken
 * at once).  -EINVAL NULL; -ENOENT not a pull in flight (the member left, or it passed
 * pull_bound_ms). */
PPN_EXPORT int ppn_ledger_replica_done(ppn_ledger_replica *r, uint64_t ticket, int result,
                                       uint64_t now_ms);
/* Milliseconds from now_ms until something is due (a pull, a round, a retry, the end of a
 * pull's bound, a look at the directory); 0: call ppn_ledger_replica_next now.  At most
 * pull_ms.  -EINVAL NULL. */
PPN_EXPORT int ppn_ledger_replica_timeout(const ppn_ledger_replica *r, uint64_t now_ms);
/* Counters since ppn_ledger_replica_new.  -EINVAL NULL. */
PPN_EXPORT int ppn_ledger_replica_stats_get(const ppn_ledger_replica *r,
                                            ppn_ledger_replica_stats *ret_stats);

/* ---- Text and JSON forms, for people and scripts (PPN_LEDGER_1.4) ---------------------- */

/* What `ppn-ledger` prints, so that any program prints the same.  Every formatter returns 0
 * with *ret (malloc'd, NUL-terminated; free it with free()): text is whole lines, each ending
 * in '\n'; JSON is one compact ASCII value without a newline.  -EINVAL for NULL arguments or
 * an unknown flag, -ENOMEM; the errors of the reads named.  Nothing is set on failure. */
enum ppn_ledger_format_flags {
    PPN_LEDGER_FORMAT_JSON = 1U << 0, /* JSON instead of text */
};

/* The name of a file of a ledger directory, as ppn_ledger_report.error_file and
 * ppn_ledger_import_report.error_file number them: "entries", "tree", "checkpoint",
 * "nodes.jsonl"; "?" for another number.  Static storage. */
PPN_EXPORT const char *ppn_ledger_file_name(uint32_t file);

/* Entry 'entry' for people: "<index>  <type>  by <author>" then one indented line per field
 * group of its type (a supersede first says what it replaces with what).  -EINVAL NULL. */
PPN_EXPORT int ppn_ledger_entry_describe(const struct ppn_ledger_entry *entry, char **ret_text);

/* Entry 'index' as ppn_ledger_entry_to_json, with its Merkle "leaf_hash" (hex) last.
 * -ENOENT index >= size, -EIO/-EUCLEAN a read failed. */
PPN_EXPORT int ppn_ledger_get_json(ppn_ledger *ledger, uint64_t index, char **ret_json);

/* The current views. */
enum ppn_ledger_view {
    PPN_LEDGER_VIEW_MEMBERS = 1,
    PPN_LEDGER_VIEW_GRANTS = 2,
    PPN_LEDGER_VIEW_ASSIGNMENTS = 3,
};
/* "members", "grants", "assignments" to its enum ppn_ledger_view; -EINVAL another name. */
PPN_EXPORT int ppn_ledger_view_from_name(const char *name, uint32_t *ret_view);
/* One view: text, one line per record ("<hostname> <mesh> <identity>  <endpoint|-> (entry N)",
 * "<capability> <subject>[ scope <scope>] (entry N)", "<vm> on <node> (entry N)"); JSON, one
 * array of objects (members: hostname, mesh, endpoint, identity, wg_key, entry; grants:
 * capability, subject, scope, entry; assignments: vm, node, entry).  -EINVAL unknown view. */
PPN_EXPORT int ppn_ledger_view_format(const ppn_ledger *ledger, uint32_t view, uint32_t flags,
                                      char **ret);
/* The ledger for people: its directory, origin, mesh range, size and root, then each view
 * under a heading with its count ("members (N):"), its lines indented by two spaces. */
PPN_EXPORT int ppn_ledger_describe(ppn_ledger *ledger, char **ret_text);
/* What ppn_ledger_verify vouched for, to print after it returned 0 (this does not verify):
 * text "<dir>: N entries verified"; JSON {"dir", "origin", "entries", "root" (hex),
 * "verified": true}. */
PPN_EXPORT int ppn_ledger_verify_summary(ppn_ledger *ledger, uint32_t flags, char **ret);

/* The body of a checkpoint note, read without verifying any signature (for that:
 * ppn_ledger_checkpoint_verify). */
struct ppn_ledger_checkpoint_info {
    uint64_t size;
    uint8_t root[PPN_LEDGER_HASH_BYTES];
    char origin[PPN_LEDGER_TEXT_MAX + 1];
    uint64_t reserved[4]; /* zero: room for later fields (doc/API.md, "Structs") */
};
/* -EBADMSG unless 'note' is a well-formed C2SP signed note whose text is a checkpoint (origin
 * line, size below 2^63, base64 root, extension lines) with 1..100 signature lines. */
PPN_EXPORT int ppn_ledger_checkpoint_parse(const char *note, size_t len,
                                           struct ppn_ledger_checkpoint_info *ret_info);
/* The note as JSON {"origin", "size", "root" (base64, as in the note), "note" (all of it)}.
 * -EBADMSG as ppn_ledger_checkpoint_parse. */
PPN_EXPORT int ppn_ledger_checkpoint_to_json(const char *note, size_t len, char **ret_json);

/* An RFC 9162 proof, made and verified against the ledger's own roots first, with what it
 * proves: inclusion of entry 'index' in the tree of 'size' entries (text "index", "size",
 * "leaf hash", "root", then "proof (N hashes):" and a hash a line; JSON {"index", "size",
 * "leaf_hash", "root", "proof": [hex, ...]}), or consistency of sizes old_size <= new_size
 * (text "old size", "old root", "new size", "new root", the proof; JSON {"old_size",
 * "new_size", "old_root", "new_root", "proof"}).  -EINVAL also for index >= size, old_size >
 * new_size or a size beyond the ledger's (as ppn_ledger_prove_inclusion); -EBADMSG a proof that does not verify (damaged tree cache);
 * -EIO a read failed. */
PPN_EXPORT int ppn_ledger_inclusion_format(ppn_ledger *ledger, uint64_t index, uint64_t size,
                                           uint32_t flags, char **ret);
PPN_EXPORT int ppn_ledger_consistency_format(ppn_ledger *ledger, uint64_t old_size,
                                             uint64_t new_size, uint32_t flags, char **ret);

/* The reports of ppn_ledger_open_full/_progress and ppn_ledger_verify, ppn_ledger_import and
 * ppn_ledger_sync_apply as sentences, without the program's name (a tool puts it before each
 * line).  Text is whole lines, each ending in '\n'.
 *
 * ppn_ledger_report_format: 'error' the function's result.  Below 0, one line locating it:
 * "Failed to open 'DIR': <strerror> at entry N, byte offset M of '<file>'" or "... in '<file>'
 * (byte offset M)", -ENOENT when the report locates nothing (say the errno as for any other
 * call); 0, the warnings of an open ('open_flags' as given to it): a torn tail "cut back" or
 * "ignored", tree-cache hashes rebuilt, entries lost (doc/ledger.md), "" when none.  -EINVAL
 * NULL dir, report or ret_text, error above 0. */
PPN_EXPORT int ppn_ledger_report_format(const char *dir, int error,
                                        const struct ppn_ledger_report *report,
                                        uint32_t open_flags, char **ret_text);
/* A failed import (error < 0) from 'src_dir', 'reason' its ppn_ledger_last_error (NULL: none).
 * A fork: text "Failed to import 'SRC': fork at tree size N: our root <hex>, theirs <hex>;
 * nothing imported", JSON {"error": "fork", "source", "fork_size", "our_root", "their_root"};
 * a located error: text naming the entry, byte offset and file in the source and the reason,
 * JSON {"error" (strerror), "source", "errno", "file", "reason"[, "index"][, "offset"]}.
 * -ENOENT neither (say the errno as for any other call); -EINVAL NULL src_dir, report or ret,
 * error >= 0, an unknown flag. */
PPN_EXPORT int ppn_ledger_import_report_format(const char *src_dir, int error,
                                               const struct ppn_ledger_import_report *report,
                                               const char *reason, uint32_t flags, char **ret);
/* A refused sync answer (error < 0) in one line: a fork with its evidence, "fork at size N,
 * ours <hex> theirs <hex>: <why> (error <strerror>)"; otherwise "<why> (error <strerror>)", or
 * the strerror alone when why is empty.  -EINVAL NULL report or ret_text, error >= 0. */
PPN_EXPORT int ppn_ledger_sync_report_format(int error, const struct ppn_ledger_sync_report *report,
                                             char **ret_text);

/* An Ed25519 secret key from the bytes of a key file (doc/ledger.md, "Key files"): 64 or 128
 * hex digits (a seed or the whole secret key), base64 of the 32-byte seed (the form of
 * `wg genkey`) or of the 64-byte key, or exactly 64 raw bytes; trailing newlines, carriage
 * returns and spaces are ignored.  -EBADMSG none of these, -EKEYREJECTED a 64-byte key whose
 * public half is not its seed's, -EIO sodium_init failed.  ret_sk is untouched on failure;
 * the caller wipes it (and 'data') after use. */
PPN_EXPORT int ppn_ledger_secret_key_parse(const uint8_t *data, size_t len,
                                           uint8_t ret_sk[PPN_LEDGER_SECRET_KEY_BYTES]);

#ifdef __cplusplus
}
#endif

#endif
