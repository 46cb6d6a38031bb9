#pragma once
#include <stdbool.h>

#include <sodium.h>

#include "internal.h"
#include "view.h"

struct entry_loc {
    uint64_t off;      /* record offset in 'entries' */
    uint64_t body;     /* body offset within the file (during scans) */
    uint64_t sig;
    uint32_t body_len;
    uint8_t author[32];
};

struct ppn_ledger {
    char *dir;
    int efd, tfd, lockfd;
    bool writer, poisoned;
    uint64_t n, end;
    struct entry_loc *locs;
    struct frontier fr;
    uint64_t tree_count;      /* hashes valid in the tree file */
    uint8_t (*mem)[32];       /* hashes computed on open beyond the checkpoint */
    uint64_t mem_base, mem_n, mem_from;
    struct view v;
    char origin[PPN_LEDGER_TEXT_MAX + 1], mesh[PPN_LEDGER_TEXT_MAX + 1];
    char *cp_note;
    size_t cp_len;
    struct checkpoint cp;
    bool has_cp;
    uint64_t hash_reads; /* stored hashes read from the tree file (benchmarks) */
    uint64_t err_index;  /* entry refused by the last failed append, UINT64_MAX if none */
    char err[512];       /* why, naming the field and the rule ("" if none) */
    uint64_t state_n;    /* entries taken from the verified state on opening (0: none) */
    bool opened;         /* opened (or created) successfully: its state may be recorded */
    bool hashing;        /* eh/th cover entries[0, end) and the tree's hashes of n entries */
    crypto_generichash_state eh, th; /* BLAKE2b-256 so far of those bytes (the verified state) */
    ppn_ledger_progress_fn progress;
    void *progress_ud;
    /* Keys of revoked nodes (identity and WireGuard key), with the revoking
     * entry: a node-join may not bring them back.  Built by one scan the
     * first time a node-join is appended through this handle, then kept
     * current by the appends. */
    struct burned_key {
        uint8_t key[32];
        uint64_t index;
    } *burned;
    size_t nburned, cburned;
    bool burned_ready;
};

/* check.c: the meaning of an entry (write time), with a message naming field and rule. */
bool check_ipv4(const char *s, uint32_t *ret);
int entry_check_meaning(const struct ppn_ledger_entry *e, char *msg, size_t size);
int view_check_write(const struct view *v, const char *mesh_range, const struct ppn_ledger_entry *e,
                     char *msg, size_t size);

int ledger_read_hash(void *ud, uint64_t idx, uint8_t out[32]);

/* open.c: "<dir>/<name>" into buf (-ENAMETOOLONG); a report with nothing found. */
int ledger_path_in(const ppn_ledger *l, const char *name, char *buf, size_t size);
void ledger_report_init(struct ppn_ledger_report *r);
/* scan.c: note where the error is (file 0 entries, 1 tree, 2 checkpoint); returns err. */
int ledger_fail_at(struct ppn_ledger_report *rep, int err, uint64_t idx, uint64_t off,
                   uint32_t file);
/* scan.c: read and check the files of an open handle into it (see the function). */
int ledger_scan(ppn_ledger *l, struct ppn_ledger_report *rep, bool all_sigs, bool use_state,
                unsigned threads);
/* scan.c, writer: cut a torn tail, bring the tree cache up to date. */
int ledger_repair_tail(ppn_ledger *l, struct ppn_ledger_report *rep);
/* replicate.c: store 'note' as the checkpoint if it verifies (a key that held "admin", its root
 * ours at its size) and is newer than ours: 1 stored, 0 not newer, -EKEYREJECTED does not
 * verify, -EIO (handle poisoned). */
int ledger_adopt_checkpoint(ppn_ledger *l, const char *note, size_t len);
/* use_state: trust this directory's own 'verified' state (not for another replica's). */
int ledger_open_internal(const char *dir, uint32_t flags, bool verify_all, bool use_state,
                         unsigned threads,
                         ppn_ledger_progress_fn progress, void *progress_ud,
                         struct ppn_ledger_report *rep, ppn_ledger **ret);

/* state.c: the last state this node verified (the 'verified' file). */
struct state_loaded {
    uint64_t n, end, tree_hashes;
    crypto_generichash_state eh, th; /* the prefixes' hashes, to go on with */
    struct entry_loc *locs; /* n, offsets only */
    struct view v;
    struct frontier fr;
    char origin[PPN_LEDGER_TEXT_MAX + 1], mesh[PPN_LEDGER_TEXT_MAX + 1];
};
/* 0 and *ret filled if the state file matches the first bytes of 'entries' (of fsize) and
 * 'tree' (tcount hashes), read in chunks; -ENOENT / -EUCLEAN (ignore it) / -ENOMEM otherwise. */
int state_load(ppn_ledger *l, uint64_t fsize, uint64_t tcount, struct state_loaded *ret);
/* Bytes read at a time while hashing the prefixes (tests make it tiny). */
extern size_t state_chunk_bytes;
/* Writer: record the state this handle holds.  0 or a negative errno (never fatal). */
int state_save(ppn_ledger *l);
