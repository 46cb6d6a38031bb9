/* The ledger directory: open (lock, files, stale temporaries, checkpoint), free, create. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"

int ledger_path_in(const ppn_ledger *l, const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/%s", l->dir, name);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

void ledger_report_init(struct ppn_ledger_report *r)
{
    memset(r, 0, sizeof(*r));
    r->error_index = r->error_offset = r->torn_offset = r->lost_index = UINT64_MAX;
}


static int read_checkpoint(ppn_ledger *l)
{
    char p[4096];
    int r = ledger_path_in(l, "checkpoint", p, sizeof(p));
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
    if ((r = ledger_path_in(l, "entries", p, sizeof(p))) < 0)
        return r;
    l->efd = open(p, fl | O_CLOEXEC, 0600);
    if (l->efd < 0)
        return -errno;
    if ((r = ledger_path_in(l, "tree", p, sizeof(p))) < 0)
        return r;
    l->tfd = open(p, (l->writer ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0600);
    if (l->tfd < 0 && errno == ENOENT && !l->writer)
        l->tfd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* a lost cache: rebuilt in memory */
    if (l->tfd < 0)
        return -errno;
    return 0;
}

/* The writer lock held by another handle (or process) is waited for up to 'wait_ms': woken
 * when a holder closes the lock file (inotify), else tried every LOCK_RETRY_MS; -EBUSY at the
 * deadline.  Never a blocking flock: a wait always has its deadline. */
#define LOCK_RETRY_MS 20
static int lock_wait(int fd, const char *path, uint32_t wait_ms)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno != EWOULDBLOCK)
        return -errno;
    if (!wait_ms)
        return -EBUSY;
    uint64_t deadline = ppnc_now_mono_ms() + wait_ms;
    int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ifd >= 0 && inotify_add_watch(ifd, path, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE) < 0) {
        close(ifd);
        ifd = -1;
    }
    int r;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            r = 0;
            break;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            r = -errno;
            break;
        }
        uint64_t now = ppnc_now_mono_ms();
        if (now >= deadline) {
            r = -EBUSY;
            break;
        }
        int t = deadline - now < LOCK_RETRY_MS ? (int)(deadline - now) : LOCK_RETRY_MS;
        if (ifd >= 0) {
            struct pollfd pf = {.fd = ifd, .events = POLLIN};
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            if (poll(&pf, 1, t) > 0)
                while (read(ifd, buf, sizeof(buf)) > 0)
                    ;
        } else {
            struct timespec ts = {0, (long)t * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (ifd >= 0)
        close(ifd);
    return r;
}

static int take_lock(ppn_ledger *l, uint32_t wait_ms)
{
    char p[4096];
    int r = ledger_path_in(l, "lock", p, sizeof(p));
    if (r < 0)
        return r;
    l->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (l->lockfd < 0)
        return -errno;
    return lock_wait(l->lockfd, p, wait_ms);
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

static int open_waiting(const char *dir, uint32_t flags, uint32_t wait_ms, bool verify_all, bool use_state,
                        unsigned threads, ppn_ledger_progress_fn progress, void *progress_ud,
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
    if (l->writer && (r = take_lock(l, wait_ms)) < 0)
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
        ledger_fail_at(rep, r, UINT64_MAX, 0, 2);
        goto fail;
    }
    if ((r = ledger_scan(l, rep, verify_all, use_state && !verify_all, threads)) < 0)
        goto fail;
    if (l->writer && (r = ledger_repair_tail(l, rep)) < 0)
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

int ledger_open_internal(const char *dir, uint32_t flags, bool verify_all, bool use_state,
                         unsigned threads,
                         ppn_ledger_progress_fn progress, void *progress_ud,
                         struct ppn_ledger_report *rep, ppn_ledger **ret)
{
    return open_waiting(dir, flags, 0, verify_all, use_state, threads, progress, progress_ud, rep, ret);
}

PPN_EXPORT int ppn_ledger_open_wait(const char *dir, uint32_t flags, uint32_t timeout_ms, ppn_ledger **ret_ledger)
{
    if (!dir || !ret_ledger || (flags & ~(uint32_t)PPN_LEDGER_OPEN_WRITE) || timeout_ms > PPN_LEDGER_OPEN_WAIT_MAX_MS)
        return -EINVAL;
    struct ppn_ledger_report rep;
    ledger_report_init(&rep);
    return open_waiting(dir, flags, timeout_ms, false, true, 0, NULL, NULL, &rep, ret_ledger);
}

PPN_EXPORT int ppn_ledger_open_progress(const char *dir, uint32_t flags,
                                        struct ppn_ledger_report *report,
                                        ppn_ledger_progress_fn fn, void *userdata,
                                        ppn_ledger **ret_ledger)
{
    struct ppn_ledger_report rep;
    ledger_report_init(&rep);
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
    return ppn_ledger_open_progress(dir, flags, report, NULL, NULL, ret_ledger);
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
    if ((r = take_lock(l, 0)) < 0 || (r = open_files(l, true)) < 0)
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
