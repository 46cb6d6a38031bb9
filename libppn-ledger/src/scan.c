/* Reading a ledger from disk on opening: the scan (records, tree cache, signatures,
 * checkpoint) and the writer's repair of a torn tail. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"

/* ---- signature pass, spread over threads ---- */
struct sigjob {
    const uint8_t *data;
    const struct entry_loc *locs;
    uint64_t from, to;
    unsigned stride, id;
    uint64_t bad; /* lowest failing index or UINT64_MAX */
    ppn_ledger_progress_fn progress; /* job 0 only: it runs in the calling thread */
    void *progress_ud;
};

static void *sig_worker(void *arg)
{
    struct sigjob *j = arg;
    j->bad = UINT64_MAX;
    uint64_t k = 0;
    for (uint64_t i = j->from + j->id; i < j->to; i += j->stride) {
        const struct entry_loc *c = &j->locs[i];
        if (j->progress && ++k % 2048 == 0)
            j->progress(j->progress_ud, "signatures", i - j->from, j->to - j->from);
        if (entry_verify_sig(c->author, j->data + c->body, c->body_len, j->data + c->sig) < 0) {
            j->bad = i;
            break;
        }
    }
    return NULL;
}

static uint64_t verify_sigs(const ppn_ledger *l, const uint8_t *data, const struct entry_loc *locs,
                            uint64_t from, uint64_t to, unsigned threads)
{
    if (threads == 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        threads = c > 0 ? (unsigned)c : 1;
    }
    if (threads > 64)
        threads = 64;
    if (to <= from)
        return UINT64_MAX;
    if (to - from < 64)
        threads = 1;
    struct sigjob jobs[64];
    pthread_t tid[64];
    unsigned started = 0;
    for (unsigned t = 0; t < threads; t++) {
        jobs[t] = (struct sigjob){data, locs, from, to, threads, t, UINT64_MAX, NULL, NULL};
        if (t > 0 && pthread_create(&tid[t], NULL, sig_worker, &jobs[t]) == 0)
            started |= 0; /* joined below */
        else if (t > 0) {
            /* could not start: do its share here */
            sig_worker(&jobs[t]);
            jobs[t].id = UINT32_MAX;
        }
    }
    jobs[0].progress = l->progress;
    jobs[0].progress_ud = l->progress_ud;
    sig_worker(&jobs[0]);
    if (l->progress)
        l->progress(l->progress_ud, "signatures", to - from, to - from);
    uint64_t bad = jobs[0].bad;
    for (unsigned t = 1; t < threads; t++) {
        if (jobs[t].id != UINT32_MAX)
            pthread_join(tid[t], NULL);
        if (jobs[t].bad < bad)
            bad = jobs[t].bad;
    }
    (void)started;
    return bad;
}

/* ---- scan: the one place that reads a ledger from disk ---- */
int ledger_fail_at(struct ppn_ledger_report *rep, int err, uint64_t idx, uint64_t off,
                   uint32_t file)
{
    rep->error_index = idx;
    rep->error_offset = off;
    rep->error_file = file;
    return err;
}

/* Read up to 'size' bytes of fd from offset 'from' into a malloc'd buffer; *ret_len = what
 * was there (less if the file was cut meanwhile). */
static int read_range(int fd, uint64_t from, uint64_t size, uint8_t **ret, uint64_t *ret_len)
{
    if (size > SIZE_MAX / 2)
        return -EFBIG;
    uint8_t *b = malloc(size ? (size_t)size : 1);
    if (!b)
        return -ENOMEM;
    uint64_t got = 0;
    while (got < size) {
        ssize_t k = pread(fd, b + got, (size_t)(size - got > (1u << 30) ? 1u << 30 : size - got),
                          (off_t)(from + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            free(b);
            return -EIO;
        }
        if (k == 0)
            break;
        got += (uint64_t)k;
    }
    *ret = b;
    *ret_len = got;
    return 0;
}

static int tfd_read(void *ud, uint64_t idx, uint8_t out[32])
{
    int fd = *(const int *)ud;
    ssize_t n = pread(fd, out, 32, (off_t)(idx * 32));
    return n == 32 ? 0 : n < 0 ? -EIO : -EUCLEAN;
}

/* One scan in progress.  data[0] is byte 'base' of 'entries', tree[0] hash 'tbase' of 'tree'
 * (with a verified state only what follows it is held in memory). */
struct scan {
    ppn_ledger *l;
    struct ppn_ledger_report *rep;
    uint8_t *data, *tree;
    uint64_t fsize, tcount, base, tbase;
    uint64_t cp_size;    /* entries the checkpoint covers (0: none) */
    uint64_t sig_from;   /* first entry whose signature is verified */
    uint64_t keep_from;  /* stored hashes from here on are kept in memory */
    uint64_t first_bad;  /* first stale hash of the cache beyond the checkpoint */
    uint8_t cp_root[32]; /* the root at cp_size, once known */
    bool cp_root_set;
    uint64_t off, idx;   /* the next record */
    size_t loccap;
    uint64_t err_idx;    /* an entry that failed authority (its signature is still checked) */
    int err;
};

/* Read the files (what follows the verified state, if it holds) into memory.  Read with
 * pread, never mmap: a writer may cut a torn tail (or shorten the tree cache) while this
 * runs, and touching a mapping past the new end of file is SIGBUS.  A file found shorter
 * than fstat said simply ends there. */
static int scan_read(struct scan *s, bool use_state, struct state_loaded *sl, bool *from_state)
{
    ppn_ledger *l = s->l;
    struct stat st, tst;
    int r;
    if (fstat(l->efd, &st) < 0)
        return -errno;
    s->fsize = (uint64_t)st.st_size;
    if (fstat(l->tfd, &tst) == 0 && S_ISREG(tst.st_mode))
        s->tcount = (uint64_t)tst.st_size / 32;
    *from_state = use_state && s->fsize && state_load(l, s->fsize, s->tcount, sl) == 0;
    if (*from_state) {
        s->base = sl->end;
        s->tbase = sl->tree_hashes;
    }
    uint64_t got;
    if ((r = read_range(l->efd, s->base, s->fsize - s->base, &s->data, &got)) < 0)
        goto fail;
    s->fsize = s->base + got;
    if (s->tcount > s->tbase) {
        if ((r = read_range(l->tfd, s->tbase * 32, (s->tcount - s->tbase) * 32, &s->tree, &got)) < 0)
            goto fail;
        s->tcount = s->tbase + got / 32;
    }
    return 0;
fail:
    if (*from_state) {
        free(sl->locs);
        view_free(&sl->v);
    }
    return r;
}

/* The last state this node verified, if the files still hold exactly what it covers: then
 * only the records after it are read (see state.c).  Full verification never. */
static void scan_adopt_state(struct scan *s, struct state_loaded *sl)
{
    ppn_ledger *l = s->l;
    l->eh = sl->eh;
    l->th = sl->th;
    free(l->locs);
    l->locs = sl->locs;
    s->loccap = (size_t)sl->n;
    view_free(&l->v);
    l->v = sl->v;
    l->fr = sl->fr;
    memcpy(l->origin, sl->origin, sizeof(l->origin));
    memcpy(l->mesh, sl->mesh, sizeof(l->mesh));
    s->off = sl->end;
    s->idx = sl->n;
    l->state_n = sl->n;
    if (s->sig_from < s->idx)
        s->sig_from = s->idx;
    /* The checkpoint within the state: its root from the (verified) cache prefix. */
    if (s->cp_size && s->cp_size <= s->idx &&
        merkle_subtree_hash(tfd_read, &l->tfd, 0, s->cp_size, s->cp_root) == 0)
        s->cp_root_set = true;
}

/* The tree hashes one record adds: compared with the cache (a differing hash within the
 * checkpoint is corruption; beyond it the cache is stale from there), kept in memory from
 * keep_from on.  0 or the error (also in s->err). */
static int scan_tree(struct scan *s, const uint8_t *payload, size_t len)
{
    ppn_ledger *l = s->l;
    uint8_t leaf[32], hs[64][32];
    ppn_ledger_merkle_leaf_hash(payload, len, leaf);
    uint64_t pos = merkle_stored_count(s->idx);
    unsigned k = frontier_append(&l->fr, leaf, hs);
    crypto_generichash_update(&l->eh, s->data + (s->off - s->base), len + REC_OVERHEAD);
    crypto_generichash_update(&l->th, hs[0], (unsigned long long)k * 32);
    for (unsigned i = 0; i < k; i++, pos++) {
        if (pos < s->tcount && s->first_bad == UINT64_MAX &&
            memcmp(s->tree + (pos - s->tbase) * 32, hs[i], 32)) {
            if (pos < s->keep_from)
                return s->err = ledger_fail_at(s->rep, -EUCLEAN, s->idx, pos * 32, 1);
            s->first_bad = pos;
        }
        if (pos >= s->keep_from) {
            if (l->mem_n % 4096 == 0) {
                void *nm = realloc(l->mem, (l->mem_n + 4096) * 32);
                if (!nm)
                    return s->err = -ENOMEM;
                l->mem = nm;
            }
            if (l->mem_n == 0)
                l->mem_base = pos;
            memcpy(l->mem[l->mem_n++], hs[i], 32);
        }
    }
    return 0;
}

/* One record: framing, decoding, its location, authority (signatures come in the second
 * pass), the tree.  1: go on; 0: the end (a torn tail is noted in the report); negative:
 * the error (also in s->err). */
static int scan_record(struct scan *s)
{
    ppn_ledger *l = s->l;
    struct ppn_ledger_report *rep = s->rep;
    uint64_t off = s->off, idx = s->idx;
    size_t len;
    if (l->progress && idx % 4096 == 0)
        l->progress(l->progress_ud, "reading", off, s->fsize);
    enum rec_status st = record_check(s->data + (off - s->base), (size_t)(s->fsize - off), idx, &len);
    if (st == REC_TORN) {
        rep->torn_offset = off;
        rep->torn_bytes = s->fsize - off;
        return 0;
    }
    if (st == REC_CORRUPT)
        return s->err = ledger_fail_at(rep, -EUCLEAN, idx, off, 0);
    struct ppn_ledger_entry e;
    const uint8_t *body, *sig;
    size_t bl;
    const uint8_t *payload = s->data + (off - s->base) + REC_HEAD;
    if (entry_decode_unverified(payload, len, &e, &body, &bl, &sig) < 0 || e.index != idx)
        return s->err = ledger_fail_at(rep, -EUCLEAN, idx, off, 0);
    if (idx >= s->loccap) {
        size_t nc = s->loccap ? s->loccap * 2 : 1024;
        struct entry_loc *nl = realloc(l->locs, nc * sizeof(*nl));
        if (!nl)
            return s->err = -ENOMEM;
        l->locs = nl;
        s->loccap = nc;
    }
    struct entry_loc *loc = &l->locs[idx];
    loc->off = off;
    loc->body = (uint64_t)(body - s->data);
    loc->body_len = (uint32_t)bl;
    loc->sig = (uint64_t)(sig - s->data);
    memcpy(loc->author, e.author, 32);
    int r = view_apply(&l->v, &e);
    if (r < 0) {
        s->err_idx = idx;
        return s->err = ledger_fail_at(rep, r == -EPERM ? -EPERM : r == -ENOMEM ? r : -EUCLEAN,
                                       idx, off, 0);
    }
    if (idx == 0) {
        snprintf(l->origin, sizeof(l->origin), "%s", e.text);
        snprintf(l->mesh, sizeof(l->mesh), "%s", e.mesh);
    }
    if ((r = scan_tree(s, payload, len)) < 0)
        return r;
    s->idx = ++idx;
    s->off = off + len + REC_OVERHEAD;
    if (idx == s->cp_size) {
        frontier_root(&l->fr, s->cp_root);
        s->cp_root_set = true;
    }
    return 1;
}

/* Second pass: signatures, up to and including an entry that failed authority.  A bad
 * signature is the error unless an earlier record already failed. */
static void scan_signatures(struct scan *s, unsigned threads)
{
    ppn_ledger *l = s->l;
    struct ppn_ledger_report *rep = s->rep;
    uint64_t to = s->err_idx != UINT64_MAX ? s->err_idx + 1 : s->idx;
    if (l->progress)
        l->progress(l->progress_ud, "reading", s->off, s->fsize);
    uint64_t bad = verify_sigs(l, s->data, l->locs, s->sig_from, to, threads);
    if (bad != UINT64_MAX && (!s->err || bad <= s->err_idx || s->err_idx == UINT64_MAX)) {
        if (!s->err || bad < rep->error_index) {
            ledger_report_init(rep);
            rep->entries = s->idx;
            s->err = ledger_fail_at(rep, -EKEYREJECTED, bad, l->locs[bad].off, 0);
        }
    }
}

/* The checkpoint: signed by a key that held "admin", not beyond the ledger, its root ours. */
static int scan_checkpoint(struct scan *s)
{
    ppn_ledger *l = s->l;
    struct checkpoint cp;
    if (checkpoint_verify_any(l->cp_note, l->cp_len, l->origin,
                              (const uint8_t (*)[32])l->v.admins, l->v.nadm, &cp) < 0)
        return ledger_fail_at(s->rep, -EUCLEAN, UINT64_MAX, 0, 2);
    if (cp.size > l->n)
        return ledger_fail_at(s->rep, -EUCLEAN, l->n, l->end, 0);
    if (!s->cp_root_set || memcmp(s->cp_root, cp.root, 32))
        return ledger_fail_at(s->rep, -EUCLEAN, cp.size ? cp.size - 1 : 0,
                              cp.size ? l->locs[cp.size - 1].off : 0, 2);
    return 0;
}

/* How much of the tree cache is valid; entries lost if it goes further than the entries. */
static void scan_tree_tail(struct scan *s)
{
    ppn_ledger *l = s->l;
    uint64_t want = merkle_stored_count(l->n), tcount = s->tcount;
    if (tcount > want) {
        /* The largest m with stored_count(m) <= tcount leaves were hashed, so entries
         * n..m-1 were written once and are gone. */
        uint64_t lo = l->n, hi = tcount;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo + 1) / 2;
            if (merkle_stored_count(mid) <= tcount)
                lo = mid;
            else
                hi = mid - 1;
        }
        if (lo > l->n) {
            s->rep->lost_index = l->n;
            s->rep->lost_count = lo - l->n;
        }
    }
    l->tree_count = tcount < want ? tcount : want;
    if (s->first_bad != UINT64_MAX && s->first_bad < l->tree_count)
        l->tree_count = s->first_bad;
    l->mem_from = l->tree_count;
    s->rep->tree_rebuilt = (uint32_t)(want - l->tree_count);
}

/* Reads and checks everything.  all_sigs: verify every signature and ignore the verified state
 * (ppn_ledger_verify); else only those after the checkpoint and the state.  The tree cache is
 * judged the same way in both cases (after a crash, hashes beyond the checkpoint may be
 * missing or stale: they are rebuilt). */
int ledger_scan(ppn_ledger *l, struct ppn_ledger_report *rep, bool all_sigs, bool use_state,
                unsigned threads)
{
    struct scan s = {.l = l, .rep = rep, .first_bad = UINT64_MAX, .err_idx = UINT64_MAX};
    struct state_loaded sl;
    bool from_state = false;
    int r = scan_read(&s, use_state, &sl, &from_state);
    if (r < 0)
        goto out;
    s.cp_size = l->has_cp ? l->cp.size : 0;
    s.sig_from = all_sigs ? 0 : s.cp_size;
    /* Hashes kept in memory while scanning: those the checkpoint does not vouch for, and any
     * the cache lacks (a short or lost cache is rebuilt). */
    s.keep_from = merkle_stored_count(s.cp_size);
    if (s.tcount < s.keep_from)
        s.keep_from = s.tcount;
    crypto_generichash_init(&l->eh, NULL, 0, 32);
    crypto_generichash_init(&l->th, NULL, 0, 32);
    if (from_state)
        scan_adopt_state(&s, &sl);
    while (s.off < s.fsize && scan_record(&s) > 0)
        ;
    l->n = s.idx;
    l->end = s.off;
    rep->entries = s.idx;
    scan_signatures(&s, threads);
    if ((r = s.err) < 0)
        goto out;
    if (l->n == 0) {
        r = ledger_fail_at(rep, -EUCLEAN, 0, 0, 0); /* no genesis */
        goto out;
    }
    if (l->has_cp && (r = scan_checkpoint(&s)) < 0)
        goto out;
    scan_tree_tail(&s);
    l->hashing = true;
    r = 0;
out:
    free(s.data);
    free(s.tree);
    return r;
}

/* Writer: cut a torn tail, bring the tree cache up to date. */
int ledger_repair_tail(ppn_ledger *l, struct ppn_ledger_report *rep)
{
    if (rep->torn_offset != UINT64_MAX) {
        if (ftruncate(l->efd, (off_t)l->end) < 0 || fdatasync(l->efd) < 0)
            return -EIO;
    }
    uint64_t want = merkle_stored_count(l->n);
    if (l->tree_count < want) {
        uint64_t from = l->tree_count;
        if (from < l->mem_base)
            return -EUCLEAN;
        if (pwrite(l->tfd, l->mem[from - l->mem_base], (size_t)((want - from) * 32),
                   (off_t)(from * 32)) != (ssize_t)((want - from) * 32))
            return -EIO;
    }
    if (ftruncate(l->tfd, (off_t)(want * 32)) < 0 || fdatasync(l->tfd) < 0)
        return -EIO;
    l->tree_count = want;
    free(l->mem);
    l->mem = NULL;
    l->mem_n = 0;
    return 0;
}
