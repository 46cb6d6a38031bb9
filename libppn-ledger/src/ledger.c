/* The ledger directory: open/scan, append with group commit, proofs, checkpoints, views. */
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

static int path_in(const ppn_ledger *l, const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", l->dir, name);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static void report_init(struct ppn_ledger_report *r)
{
    memset(r, 0, sizeof(*r));
    r->error_index = r->error_offset = r->torn_offset = r->lost_index = UINT64_MAX;
}

/* ---- stored hashes ---- */
int ledger_read_hash(void *ud, uint64_t idx, uint8_t out[32])
{
    ppn_ledger *l = ud;
    /* The right edge of the tree (popcount(n) subtrees) is in memory: no read. */
    for (unsigned lvl = 0; lvl < 64 && (l->n >> lvl); lvl++)
        if ((l->n >> lvl & 1) && idx == merkle_stored_index(lvl, (l->n >> lvl) - 1)) {
            memcpy(out, l->fr.h[lvl], 32);
            return 0;
        }
    l->hash_reads++;
    if (l->mem && idx >= l->mem_from) {
        if (idx - l->mem_base >= l->mem_n)
            return -EUCLEAN;
        memcpy(out, l->mem[idx - l->mem_base], 32);
        return 0;
    }
    ssize_t n = pread(l->tfd, out, 32, (off_t)(idx * 32));
    if (n < 0)
        return -EIO;
    if (n != 32)
        return -EUCLEAN;
    return 0;
}

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
static int fail_at(struct ppn_ledger_report *rep, int err, uint64_t idx, uint64_t off,
                   uint32_t file)
{
    rep->error_index = idx;
    rep->error_offset = off;
    rep->error_file = file;
    return err;
}

static int read_checkpoint(ppn_ledger *l)
{
    char p[4096];
    int r = path_in(l, "checkpoint", p, sizeof(p));
    if (r < 0)
        return r;
    uint8_t *data;
    size_t len;
    r = ppnc_read_file(p, PPN_LEDGER_CHECKPOINT_MAX, &data, &len);
    if (r == -ENOENT)
        return 0;
    if (r == -EFBIG)
        return -EUCLEAN;
    if (r < 0)
        return r;
    struct note_sig sigs[1];
    size_t tl, ns;
    struct checkpoint cp;
    if (note_parse((const char *)data, len, &tl, sigs, 0, &ns, NULL) < 0 ||
        checkpoint_parse_text((const char *)data, tl, &cp) < 0) {
        free(data);
        return -EUCLEAN;
    }
    l->cp_note = (char *)data;
    l->cp_len = len;
    l->cp = cp;
    l->has_cp = true;
    return 0;
}

static int open_files(ppn_ledger *l, bool create)
{
    char p[4096];
    int r, fl = l->writer ? O_RDWR : O_RDONLY;
    if (create)
        fl |= O_CREAT | O_EXCL;
    if ((r = path_in(l, "entries", p, sizeof(p))) < 0)
        return r;
    l->efd = open(p, fl | O_CLOEXEC, 0600);
    if (l->efd < 0)
        return -errno;
    if ((r = path_in(l, "tree", p, sizeof(p))) < 0)
        return r;
    l->tfd = open(p, (l->writer ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0600);
    if (l->tfd < 0 && errno == ENOENT && !l->writer)
        l->tfd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* a lost cache: rebuilt in memory */
    if (l->tfd < 0)
        return -errno;
    return 0;
}

static int take_lock(ppn_ledger *l)
{
    char p[4096];
    int r = path_in(l, "lock", p, sizeof(p));
    if (r < 0)
        return r;
    l->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (l->lockfd < 0)
        return -errno;
    if (flock(l->lockfd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? -EBUSY : -errno;
    return 0;
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

/* Reads and checks everything.  all_sigs: verify every signature and ignore the verified state
 * (ppn_ledger_verify); else only those after the checkpoint and the state.  The tree cache is
 * judged the same way in both cases (after a crash, hashes beyond the checkpoint may be
 * missing or stale: they are rebuilt). */
static int scan(ppn_ledger *l, struct ppn_ledger_report *rep, bool all_sigs, bool use_state,
                unsigned threads)
{
    struct stat st;
    int r;
    if (fstat(l->efd, &st) < 0)
        return -errno;
    /* Read with pread, never mmap: a writer may cut a torn tail (or shorten the tree cache)
     * while this runs, and touching a mapping past the new end of file is SIGBUS.  A file
     * found shorter than fstat said simply ends there.  With a verified state only what
     * follows it is held in memory: data[0] is byte 'base' of the file, tree[0] hash 'tbase'. */
    uint64_t fsize = (uint64_t)st.st_size, tcount = 0, base = 0, tbase = 0;
    uint8_t *data = NULL, *tree = NULL;
    struct stat tst;
    if (fstat(l->tfd, &tst) == 0 && S_ISREG(tst.st_mode))
        tcount = (uint64_t)tst.st_size / 32;
    struct state_loaded sl;
    bool from_state = use_state && fsize && state_load(l, fsize, tcount, &sl) == 0;
    if (from_state) {
        base = sl.end;
        tbase = sl.tree_hashes;
    }
    uint64_t got;
    if ((r = read_range(l->efd, base, fsize - base, &data, &got)) < 0) {
        if (from_state) {
            free(sl.locs);
            view_free(&sl.v);
        }
        return r;
    }
    fsize = base + got;
    if (tcount > tbase) {
        if ((r = read_range(l->tfd, tbase * 32, (tcount - tbase) * 32, &tree, &got)) < 0) {
            if (from_state) {
                free(sl.locs);
                view_free(&sl.v);
            }
            goto out;
        }
        tcount = tbase + got / 32;
    }
    uint64_t cp_size = l->has_cp ? l->cp.size : 0;
    uint64_t sig_from = all_sigs ? 0 : cp_size;
    /* Hashes kept in memory while scanning: those the checkpoint does not vouch for, and any
     * the cache lacks (a short or lost cache is rebuilt; a differing hash within the
     * checkpoint is corruption). */
    uint64_t keep_from = merkle_stored_count(cp_size);
    if (tcount < keep_from)
        keep_from = tcount;
    uint64_t first_bad = UINT64_MAX;
    uint8_t cp_root[32];
    bool cp_root_set = false;
    uint64_t off = 0, idx = 0;
    size_t loccap = 0;
    uint64_t err_idx = UINT64_MAX;
    int err = 0;
    /* The last state this node verified, if the files still hold exactly what it covers:
     * then only the records after it are read (see state.c).  Full verification never. */
    crypto_generichash_init(&l->eh, NULL, 0, 32);
    crypto_generichash_init(&l->th, NULL, 0, 32);
    if (from_state) {
        l->eh = sl.eh;
        l->th = sl.th;
        free(l->locs);
        l->locs = sl.locs;
        loccap = (size_t)sl.n;
        view_free(&l->v);
        l->v = sl.v;
        l->fr = sl.fr;
        memcpy(l->origin, sl.origin, sizeof(l->origin));
        memcpy(l->mesh, sl.mesh, sizeof(l->mesh));
        off = sl.end;
        idx = sl.n;
        l->state_n = sl.n;
        if (sig_from < idx)
            sig_from = idx;
        /* The checkpoint within the state: its root from the (verified) cache prefix. */
        if (cp_size && cp_size <= idx && merkle_subtree_hash(tfd_read, &l->tfd, 0, cp_size, cp_root) == 0)
            cp_root_set = true;
    }
    while (off < fsize) {
        size_t len;
        if (l->progress && idx % 4096 == 0)
            l->progress(l->progress_ud, "reading", off, fsize);
        enum rec_status s = record_check(data + (off - base), (size_t)(fsize - off), idx, &len);
        if (s == REC_TORN) {
            rep->torn_offset = off;
            rep->torn_bytes = fsize - off;
            break;
        }
        if (s == REC_CORRUPT) {
            err = fail_at(rep, -EUCLEAN, idx, off, 0);
            break;
        }
        struct ppn_ledger_entry e;
        const uint8_t *body, *sig;
        size_t bl;
        const uint8_t *payload = data + (off - base) + REC_HEAD;
        if (entry_decode_unverified(payload, len, &e, &body, &bl, &sig) < 0 || e.index != idx) {
            err = fail_at(rep, -EUCLEAN, idx, off, 0);
            break;
        }
        if (idx >= loccap) {
            size_t nc = loccap ? loccap * 2 : 1024;
            struct entry_loc *nl = realloc(l->locs, nc * sizeof(*nl));
            if (!nl) {
                err = -ENOMEM;
                break;
            }
            l->locs = nl;
            loccap = nc;
        }
        struct entry_loc *loc = &l->locs[idx];
        loc->off = off;
        loc->body = (uint64_t)(body - data);
        loc->body_len = (uint32_t)bl;
        loc->sig = (uint64_t)(sig - data);
        memcpy(loc->author, e.author, 32);
        /* authority (signatures come in the second pass) */
        r = view_apply(&l->v, &e);
        if (r < 0) {
            err = fail_at(rep, r == -EPERM ? -EPERM : r == -ENOMEM ? r : -EUCLEAN, idx, off, 0);
            err_idx = idx;
            break;
        }
        if (idx == 0) {
            snprintf(l->origin, sizeof(l->origin), "%s", e.text);
            snprintf(l->mesh, sizeof(l->mesh), "%s", e.mesh);
        }
        /* tree */
        uint8_t leaf[32], hs[64][32];
        ppn_ledger_merkle_leaf_hash(payload, len, leaf);
        uint64_t pos = merkle_stored_count(idx);
        unsigned k = frontier_append(&l->fr, leaf, hs);
        crypto_generichash_update(&l->eh, data + (off - base), len + REC_OVERHEAD);
        crypto_generichash_update(&l->th, hs[0], (unsigned long long)k * 32);
        for (unsigned i = 0; i < k; i++, pos++) {
            if (pos < tcount && first_bad == UINT64_MAX && memcmp(tree + (pos - tbase) * 32, hs[i], 32)) {
                if (pos < keep_from) {
                    err = fail_at(rep, -EUCLEAN, idx, pos * 32, 1);
                    break;
                }
                first_bad = pos;
            }
            if (pos >= keep_from) {
                if (l->mem_n % 4096 == 0) {
                    void *nm = realloc(l->mem, (l->mem_n + 4096) * 32);
                    if (!nm) {
                        err = -ENOMEM;
                        break;
                    }
                    l->mem = nm;
                }
                if (l->mem_n == 0)
                    l->mem_base = pos;
                memcpy(l->mem[l->mem_n++], hs[i], 32);
            }
        }
        if (err)
            break;
        idx++;
        off += len + REC_OVERHEAD;
        if (idx == cp_size) {
            frontier_root(&l->fr, cp_root);
            cp_root_set = true;
        }
    }
    l->n = idx;
    l->end = off;
    rep->entries = idx;
    /* Second pass: signatures, up to and including an entry that failed authority. */
    uint64_t to = err_idx != UINT64_MAX ? err_idx + 1 : (err ? idx : idx);
    if (l->progress)
        l->progress(l->progress_ud, "reading", off, fsize);
    uint64_t bad = verify_sigs(l, data, l->locs, sig_from, to, threads);
    if (bad != UINT64_MAX && (!err || bad <= err_idx || err_idx == UINT64_MAX)) {
        if (!err || bad < rep->error_index) {
            report_init(rep);
            rep->entries = idx;
            err = fail_at(rep, -EKEYREJECTED, bad, l->locs[bad].off, 0);
        }
    }
    if (err) {
        r = err;
        goto out;
    }
    if (l->n == 0) {
        r = fail_at(rep, -EUCLEAN, 0, 0, 0); /* no genesis */
        goto out;
    }
    /* The checkpoint: signed by a key that held "admin", and not beyond the ledger. */
    if (l->has_cp) {
        struct checkpoint cp;
        if (checkpoint_verify_any(l->cp_note, l->cp_len, l->origin,
                                  (const uint8_t (*)[32])l->v.admins, l->v.nadm, &cp) < 0) {
            r = fail_at(rep, -EUCLEAN, UINT64_MAX, 0, 2);
            goto out;
        }
        if (cp.size > l->n) {
            r = fail_at(rep, -EUCLEAN, l->n, l->end, 0);
            goto out;
        }
        if (!cp_root_set || memcmp(cp_root, cp.root, 32)) {
            r = fail_at(rep, -EUCLEAN, cp.size ? cp.size - 1 : 0,
                        cp.size ? l->locs[cp.size - 1].off : 0, 2);
            goto out;
        }
    }
    uint64_t want = merkle_stored_count(l->n);
    if (tcount > want) {
        /* The cache goes further than the entries: the largest m with stored_count(m) <= tcount
         * leaves were hashed, so entries n..m-1 were written once and are gone. */
        uint64_t lo = l->n, hi = tcount;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo + 1) / 2;
            if (merkle_stored_count(mid) <= tcount)
                lo = mid;
            else
                hi = mid - 1;
        }
        if (lo > l->n) {
            rep->lost_index = l->n;
            rep->lost_count = lo - l->n;
        }
    }
    l->tree_count = tcount < want ? tcount : want;
    if (first_bad != UINT64_MAX && first_bad < l->tree_count)
        l->tree_count = first_bad;
    l->mem_from = l->tree_count;
    rep->tree_rebuilt = (uint32_t)(want - l->tree_count);
    l->hashing = true;
    r = 0;
out:
    free(data);
    free(tree);
    return r;
}

/* Writer: cut a torn tail, bring the tree cache up to date. */
static int repair_tail(ppn_ledger *l, struct ppn_ledger_report *rep)
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

static int ledger_alloc(const char *dir, bool writer, ppn_ledger **ret)
{
    ppn_ledger *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->dir = strdup(dir);
    if (!l->dir) {
        free(l);
        return -ENOMEM;
    }
    l->efd = l->tfd = l->lockfd = -1;
    l->writer = writer;
    l->err_index = UINT64_MAX;
    *ret = l;
    return 0;
}

/* Writer, under the lock: remove what killed processes left of write-temp-rename.  Only a
 * writer writes 'checkpoint', so every checkpoint.tmp.<pid> is stale now; nodes.jsonl may be
 * exported by any process, so its temporary file goes only when that process is gone. */
static void remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *pid = NULL;
        bool always = false;
        if (!strncmp(de->d_name, "checkpoint.tmp.", 15)) {
            pid = de->d_name + 15;
            always = true;
        } else if (!strncmp(de->d_name, "verified.tmp.", 13)) {
            pid = de->d_name + 13;
            always = true;
        } else if (!strncmp(de->d_name, "nodes.jsonl.tmp.", 16)) {
            pid = de->d_name + 16;
        }
        if (!pid || !*pid || strspn(pid, "0123456789") != strlen(pid) || strlen(pid) > 9)
            continue;
        if (always || (kill((pid_t)atol(pid), 0) < 0 && errno == ESRCH))
            (void)unlinkat(dfd, de->d_name, 0);
    }
    closedir(d);
}

int ledger_open_internal(const char *dir, uint32_t flags, bool verify_all, bool use_state,
                         unsigned threads,
                         ppn_ledger_progress_fn progress, void *progress_ud,
                         struct ppn_ledger_report *rep, ppn_ledger **ret)
{
    if (sodium_init() < 0)
        return -EIO;
    ppn_ledger *l;
    int r = ledger_alloc(dir, flags & PPN_LEDGER_OPEN_WRITE, &l);
    if (r < 0)
        return r;
    l->progress = progress;
    l->progress_ud = progress_ud;
    if (l->writer && (r = take_lock(l)) < 0)
        goto fail;
    if ((r = open_files(l, false)) < 0)
        goto fail;
    if (l->writer)
        remove_stale_temps(dir);
    /* A writer may have created 'lock' or 'tree' (or removed temporary files): make the
     * names durable. */
    if (l->writer && ppnc_fsync_dir(dir) < 0) {
        r = -EIO;
        goto fail;
    }
    if ((r = read_checkpoint(l)) < 0) {
        fail_at(rep, r, UINT64_MAX, 0, 2);
        goto fail;
    }
    if ((r = scan(l, rep, verify_all, use_state && !verify_all, threads)) < 0)
        goto fail;
    if (l->writer && (r = repair_tail(l, rep)) < 0)
        goto fail;
    if (!l->writer && l->mem && l->mem_from >= merkle_stored_count(l->n)) {
        free(l->mem);
        l->mem = NULL;
        l->mem_n = 0;
    }
    l->opened = true;
    *ret = l;
    return 0;
fail:
    ppn_ledger_free(l);
    return r;
}

PPN_EXPORT int ppn_ledger_open_progress(const char *dir, uint32_t flags,
                                        struct ppn_ledger_report *report,
                                        ppn_ledger_progress_fn fn, void *userdata,
                                        ppn_ledger **ret_ledger)
{
    struct ppn_ledger_report rep;
    report_init(&rep);
    int r;
    if (!dir || !ret_ledger || (flags & ~(uint32_t)PPN_LEDGER_OPEN_WRITE))
        r = -EINVAL;
    else
        r = ledger_open_internal(dir, flags, false, true, 0, fn, userdata, &rep, ret_ledger);
    if (report)
        *report = rep;
    return r;
}

PPN_EXPORT int ppn_ledger_open_full(const char *dir, uint32_t flags,
                                    struct ppn_ledger_report *report, ppn_ledger **ret_ledger)
{
    struct ppn_ledger_report rep;
    report_init(&rep);
    int r;
    if (!dir || !ret_ledger || (flags & ~(uint32_t)PPN_LEDGER_OPEN_WRITE))
        r = -EINVAL;
    else
        r = ledger_open_internal(dir, flags, false, true, 0, NULL, NULL, &rep, ret_ledger);
    if (report)
        *report = rep;
    return r;
}

PPN_EXPORT int ppn_ledger_open(const char *dir, uint32_t flags, ppn_ledger **ret_ledger)
{
    return ppn_ledger_open_full(dir, flags, NULL, ret_ledger);
}

PPN_EXPORT void ppn_ledger_free(ppn_ledger *l)
{
    if (!l)
        return;
    if (l->writer && l->tfd >= 0 && !l->poisoned && fdatasync(l->tfd) == 0)
        (void)state_save(l); /* the state this node verified, for the next opening */
    if (l->efd >= 0)
        close(l->efd);
    if (l->tfd >= 0)
        close(l->tfd);
    if (l->lockfd >= 0)
        close(l->lockfd); /* releases the flock */
    view_free(&l->v);
    free(l->locs);
    free(l->mem);
    free(l->cp_note);
    free(l->burned);
    free(l->dir);
    free(l);
}

/* ---- create ---- */
PPN_EXPORT int ppn_ledger_create(const char *dir, const char *origin, const char *mesh_range,
                                 const uint8_t admin_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                 ppn_ledger **ret_ledger)
{
    if (!dir || !origin || !mesh_range || !admin_sk)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    struct ppn_ledger_entry g;
    memset(&g, 0, sizeof(g));
    g.type = PPN_LEDGER_ENTRY_GENESIS;
    memcpy(g.subject, admin_sk + 32, 32);
    memcpy(g.author, admin_sk + 32, 32);
    if (strlen(origin) > PPN_LEDGER_TEXT_MAX || strlen(mesh_range) > PPN_LEDGER_TEXT_MAX)
        return -EINVAL;
    strcpy(g.text, origin);
    strcpy(g.mesh, mesh_range);
    /* Nothing is created for a genesis entry that would not make sense forever. */
    if (ppn_ledger_entry_check(&g, NULL, 0) < 0)
        return -EINVAL;
    if (mkdir(dir, 0700) < 0) {
        if (errno != EEXIST)
            return -errno;
        char p[4096];
        snprintf(p, sizeof(p), "%s/.", dir);
        struct stat st;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            return -EEXIST;
        /* An existing directory must be empty. */
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        DIR *d = fdopendir(fd);
        if (!d) {
            close(fd);
            return -errno;
        }
        struct dirent *de;
        int nonempty = 0;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                nonempty = 1;
        closedir(d);
        if (nonempty)
            return -EEXIST;
    } else {
        int r = ppnc_fsync_parent(dir);
        if (r < 0)
            return -EIO;
    }
    ppn_ledger *l;
    int r = ledger_alloc(dir, true, &l);
    if (r < 0)
        return r;
    if ((r = take_lock(l)) < 0 || (r = open_files(l, true)) < 0)
        goto fail;
    crypto_generichash_init(&l->eh, NULL, 0, 32);
    crypto_generichash_init(&l->th, NULL, 0, 32);
    l->hashing = true;
    if (ppnc_fsync_dir(dir) < 0) {
        r = -EIO;
        goto fail;
    }
    r = ppn_ledger_append(l, &g, 1, admin_sk, NULL);
    if (r < 0)
        goto fail;
    snprintf(l->origin, sizeof(l->origin), "%s", origin);
    snprintf(l->mesh, sizeof(l->mesh), "%s", mesh_range);
    l->opened = true;
    if (ret_ledger)
        *ret_ledger = l;
    else
        ppn_ledger_free(l);
    return 0;
fail:
    ppn_ledger_free(l);
    return r;
}

/* ---- append ---- */
/* ---- revoked keys stay out ---- */

static int burn(ppn_ledger *l, const uint8_t key[32], uint64_t index)
{
    if (l->nburned == l->cburned) {
        size_t nc = l->cburned ? l->cburned * 2 : 16;
        struct burned_key *nb = realloc(l->burned, nc * sizeof(*nb));
        if (!nb)
            return -ENOMEM;
        l->burned = nb;
        l->cburned = nc;
    }
    memcpy(l->burned[l->nburned].key, key, 32);
    l->burned[l->nburned++].index = index;
    return 0;
}

static const struct burned_key *burned_find(const ppn_ledger *l, const uint8_t key[32])
{
    for (size_t i = 0; i < l->nburned; i++)
        if (!memcmp(l->burned[i].key, key, 32))
            return &l->burned[i];
    return NULL;
}

/* The identities and WireGuard keys of every node revoked so far, from one
 * pass over the entries (a node-join's keys, burned by a later revoke). */
static int burned_build(ppn_ledger *l)
{
    struct join_keys {
        uint8_t id[32], wg[32];
    } *joins = NULL;
    size_t nj = 0, cj = 0;
    int r = 0;
    for (uint64_t i = 0; i < l->n && r == 0; i++) {
        struct ppn_ledger_entry e;
        if ((r = ppn_ledger_get(l, i, &e)) < 0)
            break;
        if (e.type == PPN_LEDGER_ENTRY_NODE_JOIN) {
            if (nj == cj) {
                size_t nc = cj ? cj * 2 : 64;
                struct join_keys *nb = realloc(joins, nc * sizeof(*nb));
                if (!nb) {
                    r = -ENOMEM;
                    break;
                }
                joins = nb;
                cj = nc;
            }
            memcpy(joins[nj].id, e.subject, 32);
            memcpy(joins[nj++].wg, e.wg_key, 32);
        } else if (e.type == PPN_LEDGER_ENTRY_NODE_REVOKE) {
            r = burn(l, e.subject, i);
            for (size_t k = 0; r == 0 && k < nj; k++)
                if (!memcmp(joins[k].id, e.subject, 32))
                    r = burn(l, joins[k].wg, i);
        }
    }
    free(joins);
    if (r == 0)
        l->burned_ready = true;
    else
        l->nburned = 0;
    return r;
}

static int check_not_burned(ppn_ledger *l, const struct ppn_ledger_entry *e)
{
    /* an author without the right is refused as such by view_apply */
    if (e->type != PPN_LEDGER_ENTRY_NODE_JOIN || !view_has_cap(&l->v, e->author, PPN_LEDGER_CAP_NODE_ADMIT, ""))
        return 0;
    const struct burned_key *b = burned_find(l, e->subject);
    const char *field = "subject", *what = "identity";
    if (!b) {
        b = burned_find(l, e->wg_key);
        field = "wg_key";
        what = "WireGuard key";
    }
    if (!b)
        return 0;
    snprintf(l->err, sizeof(l->err),
             "node-join: \"%s\": that %s belongs to a node revoked at entry %llu; a removed node joins again "
             "only with new keys", field, what, (unsigned long long)b->index);
    return -EPROTO;
}

static void explain_view_error(ppn_ledger *l, const struct ppn_ledger_entry *e, int r)
{
    const char *tn = ppn_ledger_entry_type_name(e->type), *rule = "breaks a ledger rule";
    if (r == -EPERM) {
        char a[PPNC_KEY_B64_LEN + 1];
        ppnc_key_to_base64(a, e->author);
        const char *cap = e->type == PPN_LEDGER_ENTRY_NODE_JOIN || e->type == PPN_LEDGER_ENTRY_NODE_REVOKE
                              ? PPN_LEDGER_CAP_NODE_ADMIT
                              : e->type == PPN_LEDGER_ENTRY_VM_ASSIGN ? PPN_LEDGER_CAP_VM_ASSIGN
                              : e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? "that its target needed"
                                                                      : PPN_LEDGER_CAP_ADMIN;
        snprintf(l->err, sizeof(l->err), "%s: the author %s lacks the capability %s%s%s", tn, a,
                 e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? "" : "\"", cap,
                 e->type == PPN_LEDGER_ENTRY_SUPERSEDE ? "" : "\"");
        return;
    }
    if (r == -ENOMEM) {
        snprintf(l->err, sizeof(l->err), "out of memory");
        return;
    }
    switch (e->type) {
    case PPN_LEDGER_ENTRY_GENESIS: rule = "a genesis entry only at index 0, once, self-signed"; break;
    case PPN_LEDGER_ENTRY_NODE_JOIN: rule = "\"subject\": that identity key is already a member"; break;
    case PPN_LEDGER_ENTRY_NODE_REVOKE: rule = "\"subject\": that identity key is not a current member"; break;
    case PPN_LEDGER_ENTRY_CAP_GRANT: rule = "the same grant (subject, capability, scope) is already in effect"; break;
    case PPN_LEDGER_ENTRY_CAP_REVOKE: rule = "no grant of that subject, capability and scope is in effect"; break;
    case PPN_LEDGER_ENTRY_VM_ASSIGN: rule = "\"node\": that identity key is not a current member"; break;
    case PPN_LEDGER_ENTRY_SUPERSEDE:
        rule = "\"target\" is not a node-join, cap-grant or vm-assign still in effect (or the "
               "replacement's identity key is already a member), or \"replacement_type\" is not the "
               "target's type";
        break;
    }
    snprintf(l->err, sizeof(l->err), "%s: %s", tn, rule);
}

/* Append n decoded entries whose signed bytes are payloads[i]: authority, framing, tree, one
 * fdatasync.  The caller has checked the signatures. */
static int append_core(ppn_ledger *l, const struct ppn_ledger_entry *es,
                       const uint8_t *const *payloads, const size_t *lens, size_t n)
{
    if (!l->writer)
        return -EBADF;
    if (l->poisoned)
        return -EIO;
    if (n == 0)
        return 0;
    struct view snap;
    size_t burned_before = l->nburned; /* restored with the view on undo */
    int r = view_copy(&snap, &l->v);
    if (r < 0)
        return r;
    struct frontier *fr = malloc(sizeof(*fr));
    size_t rec_total = 0;
    for (size_t i = 0; i < n; i++)
        rec_total += lens[i] + REC_OVERHEAD;
    uint8_t *rec = malloc(rec_total);
    uint8_t (*hs)[32] = malloc((2 * n + 64) * 32);
    struct entry_loc *nl = realloc(l->locs, (l->n + n) * sizeof(*nl));
    if (!fr || !rec || !hs || !nl) {
        r = -ENOMEM;
        goto undo;
    }
    l->locs = nl;
    *fr = l->fr;
    size_t roff = 0, nh = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ppn_ledger_entry *e = &es[i];
        /* before the first join or revoke of the batch: what is revoked so far */
        if ((e->type == PPN_LEDGER_ENTRY_NODE_JOIN || e->type == PPN_LEDGER_ENTRY_NODE_REVOKE) &&
            !l->burned_ready && (r = burned_build(l)) < 0)
            goto undo;
        const char *tn = ppn_ledger_entry_type_name(e->type);
        l->err_index = l->n + i;
        if (e->index != l->n + i) {
            snprintf(l->err, sizeof(l->err), "%s: \"index\": signed for index %llu, not %llu",
                     tn, (unsigned long long)e->index, (unsigned long long)(l->n + i));
            r = -EPROTO;
            goto undo;
        }
        /* The meaning, then the rules that need the ledger, then authority and the view. */
        if ((r = entry_check_meaning(e, l->err, sizeof(l->err))) < 0 ||
            (r = view_check_write(&l->v, l->mesh, e, l->err, sizeof(l->err))) < 0 ||
            (r = check_not_burned(l, e)) < 0)
            goto undo;
        struct ppn_ledger_member gone;
        bool revoking = e->type == PPN_LEDGER_ENTRY_NODE_REVOKE && ppn_ledger_member_find(l, e->subject, &gone) == 0;
        if ((r = view_apply(&l->v, e)) < 0) {
            explain_view_error(l, e, r);
            goto undo;
        }
        if (revoking && ((r = burn(l, gone.identity, l->n + i)) < 0 || (r = burn(l, gone.wg_key, l->n + i)) < 0))
            goto undo;
        record_frame(rec + roff, l->n + i, payloads[i], lens[i]);
        uint8_t leaf[32];
        ppn_ledger_merkle_leaf_hash(payloads[i], lens[i], leaf);
        nh += frontier_append(fr, leaf, hs + nh);
        struct entry_loc *c = &l->locs[l->n + i];
        c->off = l->end + roff;
        roff += lens[i] + REC_OVERHEAD;
    }
    /* One write for the records, one for the tree cache, one fdatasync: the group commit. */
    if (pwrite(l->efd, rec, rec_total, (off_t)l->end) != (ssize_t)rec_total ||
        pwrite(l->tfd, hs, nh * 32, (off_t)(l->tree_count * 32)) != (ssize_t)(nh * 32) ||
        fdatasync(l->efd) < 0) {
        l->poisoned = true; /* never retry a failed write or fsync */
        r = -EIO;
        goto undo;
    }
    l->fr = *fr;
    l->n += n;
    l->end += rec_total;
    crypto_generichash_update(&l->eh, rec, rec_total);
    crypto_generichash_update(&l->th, hs[0], (unsigned long long)nh * 32);
    l->err_index = UINT64_MAX;
    l->err[0] = 0;
    l->tree_count += nh;
    view_free(&snap);
    free(fr);
    free(rec);
    free(hs);
    return 0;
undo:
    view_free(&l->v);
    l->v = snap;
    if (l->burned_ready)
        l->nburned = burned_before;
    free(fr);
    free(rec);
    free(hs);
    return r;
}

PPN_EXPORT int ppn_ledger_append(ppn_ledger *l, const struct ppn_ledger_entry *entries,
                                 size_t n, const uint8_t author_sk[PPN_LEDGER_SECRET_KEY_BYTES],
                                 uint64_t *ret_first_index)
{
    if (!l || (!entries && n) || !author_sk)
        return -EINVAL;
    if (!l->writer)
        return -EBADF;
    struct ppn_ledger_entry *es = malloc((n ? n : 1) * sizeof(*es));
    uint8_t *buf = malloc((n ? n : 1) * PPN_LEDGER_ENTRY_MAX);
    const uint8_t **pp = malloc((n ? n : 1) * sizeof(*pp));
    size_t *lens = malloc((n ? n : 1) * sizeof(*lens));
    int r = -ENOMEM;
    if (!es || !buf || !pp || !lens)
        goto out;
    for (size_t i = 0; i < n; i++) {
        uint8_t *b = buf + i * PPN_LEDGER_ENTRY_MAX;
        r = ppn_ledger_entry_sign(&entries[i], l->n + i, author_sk, b, PPN_LEDGER_ENTRY_MAX, &lens[i]);
        if (r < 0) {
            struct ppn_ledger_entry e = entries[i];
            e.index = l->n + i;
            memcpy(e.author, author_sk + 32, 32);
            l->err_index = l->n + i;
            if (ppn_ledger_entry_check(&e, l->err, sizeof(l->err)) == 0)
                snprintf(l->err, sizeof(l->err), "%s: cannot be signed with this key (%s)",
                         ppn_ledger_entry_type_name(e.type), strerror(-r));
            goto out;
        }
        if (entry_decode_unverified(b, lens[i], &es[i], NULL, NULL, NULL) < 0) {
            r = -EINVAL;
            goto out;
        }
        pp[i] = b;
    }
    uint64_t first = l->n;
    r = append_core(l, es, pp, lens, n);
    if (r == 0 && ret_first_index)
        *ret_first_index = first;
out:
    free(es);
    free(buf);
    free(pp);
    free(lens);
    return r;
}

PPN_EXPORT int ppn_ledger_append_signed(ppn_ledger *l, const uint8_t *const *entries,
                                        const size_t *lens, size_t n, uint64_t *ret_first_index)
{
    if (!l || (n && (!entries || !lens)))
        return -EINVAL;
    if (!l->writer)
        return -EBADF;
    struct ppn_ledger_entry *es = calloc(n ? n : 1, sizeof(*es));
    if (!es)
        return -ENOMEM;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        if (l->progress && i % 2048 == 0)
            l->progress(l->progress_ud, "appending", i, n);
        if (!entries[i])
            r = -EINVAL;
        else
            r = ppn_ledger_entry_decode(entries[i], lens[i], &es[i]);
        if (r < 0) {
            l->err_index = l->n + i;
            snprintf(l->err, sizeof(l->err), "entry %llu of the batch: %s",
                     (unsigned long long)i, r == -EKEYREJECTED ? "the signature does not verify"
                     : "not one canonical signed entry (CBOR [body, signature] with the fields of its type)");
        }
    }
    uint64_t first = l->n;
    if (r == 0)
        r = append_core(l, es, entries, lens, n);
    if (r == 0 && l->progress && n >= 2048)
        l->progress(l->progress_ud, "appending", n, n);
    if (r == 0 && ret_first_index)
        *ret_first_index = first;
    free(es);
    return r;
}

static bool str_ok(const char *s)
{
    return s && strlen(s) <= PPN_LEDGER_TEXT_MAX;
}

PPN_EXPORT int ppn_ledger_node_join(ppn_ledger *l, const uint8_t identity_pk[32],
                                    const uint8_t wg_pk[32], const char *mesh_address,
                                    const char *endpoint, const char *hostname,
                                    const uint8_t author_sk[64], uint64_t *ret_index)
{
    if (!identity_pk || !wg_pk || !str_ok(mesh_address) || !str_ok(endpoint) || !str_ok(hostname))
        return -EINVAL;
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_NODE_JOIN;
    memcpy(e.subject, identity_pk, 32);
    memcpy(e.wg_key, wg_pk, 32);
    strcpy(e.mesh, mesh_address);
    strcpy(e.endpoint, endpoint);
    strcpy(e.hostname, hostname);
    return ppn_ledger_append(l, &e, 1, author_sk, ret_index);
}

PPN_EXPORT int ppn_ledger_node_revoke(ppn_ledger *l, const uint8_t identity_pk[32],
                                      const char *reason, const uint8_t author_sk[64],
                                      uint64_t *ret_index)
{
    if (!identity_pk || !str_ok(reason))
        return -EINVAL;
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_NODE_REVOKE;
    memcpy(e.subject, identity_pk, 32);
    strcpy(e.text, reason);
    return ppn_ledger_append(l, &e, 1, author_sk, ret_index);
}

static int cap_entry(ppn_ledger *l, uint32_t type, const uint8_t subject[32], const char *cap,
                     const char *scope, const uint8_t sk[64], uint64_t *ret)
{
    if (!subject || !str_ok(cap) || (scope && !str_ok(scope)))
        return -EINVAL;
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = type;
    memcpy(e.subject, subject, 32);
    strcpy(e.capability, cap);
    strcpy(e.scope, scope ? scope : "");
    return ppn_ledger_append(l, &e, 1, sk, ret);
}

PPN_EXPORT int ppn_ledger_cap_grant(ppn_ledger *l, const uint8_t subject_pk[32],
                                    const char *capability, const char *scope,
                                    const uint8_t author_sk[64], uint64_t *ret_index)
{
    return cap_entry(l, PPN_LEDGER_ENTRY_CAP_GRANT, subject_pk, capability, scope, author_sk, ret_index);
}

PPN_EXPORT int ppn_ledger_cap_revoke(ppn_ledger *l, const uint8_t subject_pk[32],
                                     const char *capability, const char *scope,
                                     const uint8_t author_sk[64], uint64_t *ret_index)
{
    return cap_entry(l, PPN_LEDGER_ENTRY_CAP_REVOKE, subject_pk, capability, scope, author_sk, ret_index);
}

PPN_EXPORT int ppn_ledger_vm_assign(ppn_ledger *l, const char *vm_name, const uint8_t node_pk[32],
                                    const uint8_t author_sk[64], uint64_t *ret_index)
{
    if (!str_ok(vm_name) || !node_pk)
        return -EINVAL;
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_VM_ASSIGN;
    strcpy(e.text, vm_name);
    memcpy(e.subject, node_pk, 32);
    return ppn_ledger_append(l, &e, 1, author_sk, ret_index);
}

PPN_EXPORT int ppn_ledger_supersede(ppn_ledger *l, uint64_t target,
                                    const struct ppn_ledger_entry *replacement,
                                    const uint8_t author_sk[64], uint64_t *ret_index)
{
    struct ppn_ledger_entry e;
    if (replacement) {
        e = *replacement;
        e.replacement_type = replacement->type;
    } else {
        memset(&e, 0, sizeof(e));
    }
    e.type = PPN_LEDGER_ENTRY_SUPERSEDE;
    e.target = target;
    return ppn_ledger_append(l, &e, 1, author_sk, ret_index);
}

PPN_EXPORT void ppn_ledger_set_progress(ppn_ledger *l, ppn_ledger_progress_fn fn, void *userdata)
{
    if (!l)
        return;
    l->progress = fn;
    l->progress_ud = userdata;
}

PPN_EXPORT const char *ppn_ledger_last_error(const ppn_ledger *l)
{
    return l ? l->err : "";
}

PPN_EXPORT uint64_t ppn_ledger_last_error_index(const ppn_ledger *l)
{
    return l ? l->err_index : UINT64_MAX;
}

/* ---- reading ---- */
PPN_EXPORT uint64_t ppn_ledger_size(const ppn_ledger *l) { return l ? l->n : 0; }
PPN_EXPORT const char *ppn_ledger_origin(const ppn_ledger *l) { return l ? l->origin : ""; }
PPN_EXPORT const char *ppn_ledger_mesh_range(const ppn_ledger *l) { return l ? l->mesh : ""; }
PPN_EXPORT const char *ppn_ledger_dir(const ppn_ledger *l) { return l ? l->dir : ""; }

PPN_EXPORT int ppn_ledger_get_raw(ppn_ledger *l, uint64_t index, uint8_t *buf, size_t size,
                                  size_t *ret_len)
{
    if (!l || !buf || !ret_len)
        return -EINVAL;
    if (index >= l->n)
        return -ENOENT;
    uint8_t rec[PPN_LEDGER_ENTRY_MAX + REC_OVERHEAD];
    uint64_t off = l->locs[index].off;
    uint64_t next = index + 1 < l->n ? l->locs[index + 1].off : l->end;
    size_t want = (size_t)(next - off);
    if (want > sizeof(rec))
        return -EUCLEAN;
    if (pread(l->efd, rec, want, (off_t)off) != (ssize_t)want)
        return -EIO;
    size_t len;
    if (record_check(rec, want, index, &len) != REC_OK)
        return -EUCLEAN;
    if (len > size)
        return -ENOBUFS;
    memcpy(buf, rec + REC_HEAD, len);
    *ret_len = len;
    return 0;
}

PPN_EXPORT int ppn_ledger_get(ppn_ledger *l, uint64_t index, struct ppn_ledger_entry *ret_entry)
{
    if (!l || !ret_entry)
        return -EINVAL;
    uint8_t b[PPN_LEDGER_ENTRY_MAX];
    size_t len;
    int r = ppn_ledger_get_raw(l, index, b, sizeof(b), &len);
    if (r < 0)
        return r;
    if (entry_decode_unverified(b, len, ret_entry, NULL, NULL, NULL) < 0)
        return -EUCLEAN;
    return 0;
}

PPN_EXPORT int ppn_ledger_leaf_hash(ppn_ledger *l, uint64_t index, uint8_t ret_hash[32])
{
    if (!l || !ret_hash)
        return -EINVAL;
    if (index >= l->n)
        return -ENOENT;
    return ledger_read_hash(l, merkle_stored_index(0, index), ret_hash);
}

PPN_EXPORT int ppn_ledger_root(ppn_ledger *l, uint64_t size, uint8_t ret_root[32])
{
    if (!l || !ret_root || size > l->n)
        return -EINVAL;
    if (size == 0) {
        merkle_empty_root(ret_root);
        return 0;
    }
    if (size == l->n) {
        frontier_root(&l->fr, ret_root);
        return 0;
    }
    return merkle_subtree_hash(ledger_read_hash, l, 0, size, ret_root);
}

PPN_EXPORT int ppn_ledger_prove_inclusion(ppn_ledger *l, uint64_t index, uint64_t size,
                                          uint8_t *proof, size_t max, size_t *ret_count)
{
    if (!l || !ret_count || (max && !proof) || size > l->n || index >= size)
        return -EINVAL;
    return merkle_inclusion_proof(ledger_read_hash, l, index, size, proof, max, ret_count);
}

PPN_EXPORT int ppn_ledger_prove_consistency(ppn_ledger *l, uint64_t old_size, uint64_t new_size,
                                            uint8_t *proof, size_t max, size_t *ret_count)
{
    if (!l || !ret_count || (max && !proof) || new_size > l->n || old_size > new_size)
        return -EINVAL;
    return merkle_consistency_proof(ledger_read_hash, l, old_size, new_size, proof, max, ret_count);
}

/* ---- views ---- */
PPN_EXPORT size_t ppn_ledger_member_count(const ppn_ledger *l) { return l ? l->v.nm : 0; }
PPN_EXPORT int ppn_ledger_member_get(const ppn_ledger *l, size_t i, struct ppn_ledger_member *ret)
{
    if (!l || !ret)
        return -EINVAL;
    if (i >= l->v.nm)
        return -ENOENT;
    *ret = l->v.members[i];
    return 0;
}
PPN_EXPORT int ppn_ledger_member_find(const ppn_ledger *l, const uint8_t key[32],
                                      struct ppn_ledger_member *ret)
{
    if (!l || !key || !ret)
        return -EINVAL;
    ssize_t i = view_member_find(&l->v, key);
    if (i < 0)
        return -ENOENT;
    *ret = l->v.members[i];
    return 0;
}
PPN_EXPORT size_t ppn_ledger_grant_count(const ppn_ledger *l) { return l ? l->v.ng : 0; }
PPN_EXPORT int ppn_ledger_grant_get(const ppn_ledger *l, size_t i, struct ppn_ledger_grant *ret)
{
    if (!l || !ret)
        return -EINVAL;
    if (i >= l->v.ng)
        return -ENOENT;
    *ret = l->v.grants[i];
    return 0;
}
PPN_EXPORT int ppn_ledger_has_capability(const ppn_ledger *l, const uint8_t key[32],
                                         const char *capability, const char *scope)
{
    if (!l || !key || !capability)
        return -EINVAL;
    return view_has_cap(&l->v, key, capability, scope);
}
PPN_EXPORT size_t ppn_ledger_assignment_count(const ppn_ledger *l) { return l ? l->v.na : 0; }
PPN_EXPORT int ppn_ledger_assignment_get(const ppn_ledger *l, size_t i,
                                         struct ppn_ledger_assignment *ret)
{
    if (!l || !ret)
        return -EINVAL;
    if (i >= l->v.na)
        return -ENOENT;
    *ret = l->v.asg[i];
    return 0;
}
PPN_EXPORT int ppn_ledger_assignment_find(const ppn_ledger *l, const char *vm,
                                          struct ppn_ledger_assignment *ret)
{
    if (!l || !vm || !ret)
        return -EINVAL;
    ssize_t i = view_asg_find(&l->v, vm);
    if (i < 0)
        return -ENOENT;
    *ret = l->v.asg[i];
    return 0;
}

/* ---- checkpoints ---- */
PPN_EXPORT int ppn_ledger_checkpoint(ppn_ledger *l, const uint8_t signer_sk[64], char *buf,
                                     size_t size, size_t *ret_len)
{
    if (!l || !signer_sk || !buf || !ret_len)
        return -EINVAL;
    if (!l->writer)
        return -EBADF;
    if (l->poisoned)
        return -EIO;
    if (!view_has_cap(&l->v, signer_sk + 32, PPN_LEDGER_CAP_ADMIN, ""))
        return -EPERM;
    struct checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    snprintf(cp.origin, sizeof(cp.origin), "%s", l->origin);
    cp.size = l->n;
    frontier_root(&l->fr, cp.root);
    char note[1024]; /* origin <= 255 bytes: text <= 322, signature line <= 353 */
    size_t len;
    int r = checkpoint_sign(&cp, signer_sk, note, sizeof(note), &len);
    if (r < 0)
        return r;
    if (len > size)
        return -ENOBUFS;
    /* The tree cache up to here becomes durable before a checkpoint vouches for it. */
    if (fdatasync(l->tfd) < 0) {
        l->poisoned = true;
        return -EIO;
    }
    char p[4096];
    if ((r = path_in(l, "checkpoint", p, sizeof(p))) < 0)
        return r;
    r = ppnc_write_file_atomic(p, note, len, 0600);
    if (r < 0) {
        l->poisoned = true;
        return -EIO;
    }
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, note, len + 1);
        free(l->cp_note);
        l->cp_note = copy;
        l->cp_len = len;
        l->cp = cp;
        l->has_cp = true;
    }
    memcpy(buf, note, len);
    if (len < size)
        buf[len] = 0;
    *ret_len = len;
    return 0;
}

PPN_EXPORT int ppn_ledger_checkpoint_get(ppn_ledger *l, char *buf, size_t size, size_t *ret_len)
{
    if (!l || !buf || !ret_len)
        return -EINVAL;
    if (!l->has_cp)
        return -ENOENT;
    if (l->cp_len > size)
        return -ENOBUFS;
    memcpy(buf, l->cp_note, l->cp_len);
    if (l->cp_len < size)
        buf[l->cp_len] = 0;
    *ret_len = l->cp_len;
    return 0;
}

/* ---- constants ---- */
PPN_EXPORT size_t ppn_ledger_constant(const char *which)
{
    static const struct { const char *n; size_t v; } t[] = {
        {"PUBLIC_KEY_BYTES", PPN_LEDGER_PUBLIC_KEY_BYTES},
        {"SECRET_KEY_BYTES", PPN_LEDGER_SECRET_KEY_BYTES},
        {"SIGNATURE_BYTES", PPN_LEDGER_SIGNATURE_BYTES},
        {"HASH_BYTES", PPN_LEDGER_HASH_BYTES},
        {"TEXT_MAX", PPN_LEDGER_TEXT_MAX},
        {"ENTRY_MAX", PPN_LEDGER_ENTRY_MAX},
        {"PROOF_MAX", PPN_LEDGER_PROOF_MAX},
        {"CHECKPOINT_MAX", PPN_LEDGER_CHECKPOINT_MAX},
        {"BUNDLE_MAX", PPN_LEDGER_BUNDLE_MAX},
        {"BUNDLE_FILES_MAX", PPN_LEDGER_BUNDLE_FILES_MAX},
        {"SYNC_REQUEST_MAX", PPN_LEDGER_SYNC_REQUEST_MAX},
        {"SYNC_ANSWER_MAX", PPN_LEDGER_SYNC_ANSWER_MAX},
    };
    if (!which)
        return 0;
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(t); i++)
        if (!strcmp(t[i].n, which))
            return t[i].v;
    return 0;
}
