/* Replica bundles: a whole ledger in one byte string (PPNLEDG1, doc/ledger-bundle.md), built
 * from a handle and installed into a new directory only once it verifies. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"

void bundle_report_init(struct ppn_ledger_bundle_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    rep->part = UINT32_MAX;
    rep->offset = rep->error_index = rep->error_offset = UINT64_MAX;
}

__attribute__((format(printf, 2, 3))) static void set_why(struct ppn_ledger_bundle_report *rep,
                                                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 5, 6))) static int refuse(struct ppn_ledger_bundle_report *rep, int r,
                                                        uint32_t part, uint64_t off, const char *fmt, ...)
{
    rep->part = part;
    rep->offset = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
    va_end(ap);
    return r;
}

/* The files a bundle may hold; "verified" (a node's own record of what it checked, sent by
 * older senders) is accepted and never installed. */
static bool name_known(const char *name)
{
    return !strcmp(name, "entries") || !strcmp(name, "tree") || !strcmp(name, "checkpoint") ||
           !strcmp(name, "verified");
}

int bundle_scan(const uint8_t *buf, size_t len, struct bundle_part *parts, size_t *ret_n,
                uint64_t *ret_total, struct ppn_ledger_bundle_report *rep)
{
    uint64_t need = BUNDLE_HEAD;
    if (len < need) {
        /* A wrong magic is refused as soon as its first wrong byte is there. */
        if (len && memcmp(buf, BUNDLE_MAGIC, len < 8 ? len : 8) != 0)
            return refuse(rep, -EBADMSG, UINT32_MAX, 0, "not a ledger bundle (no PPNLEDG1 magic)");
        *ret_total = need;
        return -EAGAIN;
    }
    if (memcmp(buf, BUNDLE_MAGIC, 8) != 0)
        return refuse(rep, -EBADMSG, UINT32_MAX, 0, "not a ledger bundle (no PPNLEDG1 magic)");
    uint64_t count = ppnc_get_be(buf + 8, 4);
    if (count == 0 || count > PPN_LEDGER_BUNDLE_FILES_MAX)
        return refuse(rep, -EBADMSG, UINT32_MAX, 8, "the file count is not 1 to 16");
    uint64_t pos = BUNDLE_HEAD;
    for (uint32_t i = 0; i < count; i++) {
        if (len < pos + 2) {
            *ret_total = pos + 2;
            return -EAGAIN;
        }
        uint64_t nl = ppnc_get_be(buf + pos, 2);
        if (nl == 0 || nl > BUNDLE_NAME_MAX)
            return refuse(rep, -EBADMSG, i, pos, "a file name length is not 1 to 64");
        if (len < pos + 2 + nl) {
            *ret_total = pos + 2 + nl;
            return -EAGAIN;
        }
        char name[BUNDLE_NAME_MAX + 1];
        memcpy(name, buf + pos + 2, nl);
        name[nl] = 0;
        if (strlen(name) != nl || !name_known(name))
            return refuse(rep, -EBADMSG, i, pos + 2,
                          "file '%s' is not one of entries, tree, checkpoint",
                          strlen(name) == nl ? name : "?");
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(parts[j].name, name))
                return refuse(rep, -EBADMSG, i, pos + 2, "file '%s' appears twice", name);
        if (len < pos + 2 + nl + 8) {
            *ret_total = pos + 2 + nl + 8;
            return -EAGAIN;
        }
        uint64_t size = ppnc_get_be(buf + pos + 2 + nl, 8);
        uint64_t data = pos + 2 + nl + 8;
        if (size > PPN_LEDGER_BUNDLE_MAX || data + size > PPN_LEDGER_BUNDLE_MAX)
            return refuse(rep, -E2BIG, i, pos + 2 + nl, "file '%s' would make the bundle larger than 256 MiB",
                          name);
        memcpy(parts[i].name, name, nl + 1);
        parts[i].header = pos;
        parts[i].data = data;
        parts[i].size = size;
        pos = data + size;
    }
    *ret_n = (size_t)count;
    *ret_total = pos;
    return 0;
}

PPN_EXPORT int ppn_ledger_bundle_need(const uint8_t *buf, size_t len, uint64_t *ret_total,
                                      struct ppn_ledger_bundle_report *report)
{
    struct ppn_ledger_bundle_report rep;
    bundle_report_init(&rep);
    struct bundle_part parts[PPN_LEDGER_BUNDLE_FILES_MAX];
    size_t n;
    uint64_t total;
    int r = (!buf && len) || !ret_total ? -EINVAL : bundle_scan(buf, len, parts, &n, &total, &rep);
    if (r == 0 || r == -EAGAIN)
        *ret_total = total;
    if (report)
        *report = rep;
    return r;
}

PPN_EXPORT int ppn_ledger_bundle_build(ppn_ledger *l, uint8_t **ret_buf, size_t *ret_len)
{
    if (!l || !ret_buf || !ret_len)
        return -EINVAL;
    uint64_t tree_bytes = merkle_stored_count(l->n) * 32;
    uint64_t total = BUNDLE_HEAD + (2 + 7 + 8) + l->end + (2 + 4 + 8) + tree_bytes;
    if (l->has_cp)
        total += 2 + 10 + 8 + l->cp_len;
    if (total > PPN_LEDGER_BUNDLE_MAX)
        return -E2BIG;
    uint8_t *b = malloc((size_t)total);
    if (!b)
        return -ENOMEM;
    memcpy(b, BUNDLE_MAGIC, 8);
    ppnc_put_be(b + 8, l->has_cp ? 3 : 2, 4);
    size_t pos = BUNDLE_HEAD;
    int r = 0;
    /* In name order: checkpoint, entries, tree. */
    if (l->has_cp) {
        ppnc_put_be(b + pos, 10, 2);
        memcpy(b + pos + 2, "checkpoint", 10);
        ppnc_put_be(b + pos + 12, l->cp_len, 8);
        memcpy(b + pos + 20, l->cp_note, l->cp_len);
        pos += 20 + l->cp_len;
    }
    ppnc_put_be(b + pos, 7, 2);
    memcpy(b + pos + 2, "entries", 7);
    ppnc_put_be(b + pos + 9, l->end, 8);
    pos += 17;
    for (uint64_t done = 0; done < l->end;) {
        ssize_t got = pread(l->efd, b + pos, (size_t)(l->end - done), (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            r = -EIO;
            goto fail;
        }
        done += (uint64_t)got;
        pos += (size_t)got;
    }
    ppnc_put_be(b + pos, 4, 2);
    memcpy(b + pos + 2, "tree", 4);
    ppnc_put_be(b + pos + 6, tree_bytes, 8);
    pos += 14;
    /* The hashes as this handle holds them (the right edge and any rebuilt ones in memory). */
    for (uint64_t i = 0; i < tree_bytes / 32; i++, pos += 32)
        if ((r = ledger_read_hash(l, i, b + pos)) < 0) {
            r = -EIO;
            goto fail;
        }
    *ret_buf = b;
    *ret_len = pos;
    return 0;
fail:
    free(b);
    return r;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[4096];
            if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) < (int)sizeof(p))
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int write_file(const char *dir, const char *name, const uint8_t *data, size_t len)
{
    char p[4096];
    if (snprintf(p, sizeof(p), "%s/%s", dir, name) >= (int)sizeof(p))
        return -ENAMETOOLONG;
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = ppnc_write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -EIO;
    close(fd);
    return r < 0 ? -EIO : 0;
}

static const char *file_name(uint32_t f)
{
    switch (f) {
    case 0: return "entries";
    case 1: return "tree";
    case 2: return "checkpoint";
    default: return "nodes.jsonl";
    }
}

PPN_EXPORT int ppn_ledger_bundle_install(const uint8_t *buf, size_t len, const char *dir,
                                         const uint8_t signer_pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                         ppn_ledger_bundle_accept_fn accept, void *userdata,
                                         struct ppn_ledger_bundle_report *report)
{
    struct ppn_ledger_bundle_report rep;
    bundle_report_init(&rep);
    struct bundle_part parts[PPN_LEDGER_BUNDLE_FILES_MAX];
    size_t n = 0;
    uint64_t total = 0;
    char tmp[4096];
    bool made = false;
    ppn_ledger *l = NULL;
    int r;
    if (!buf || !dir || !*dir) {
        r = -EINVAL;
        goto out;
    }
    /* Cheap checks first: the framing, then the directory, then the signatures. */
    r = bundle_scan(buf, len, parts, &n, &total, &rep);
    if (r == -EAGAIN || (r == 0 && total > len)) {
        r = refuse(&rep, -EBADMSG, UINT32_MAX, len, "the bundle is truncated");
        goto out;
    }
    if (r < 0)
        goto out;
    if (total < len) {
        r = refuse(&rep, -EBADMSG, UINT32_MAX, total, "bytes follow the bundle's last file");
        goto out;
    }
    bool have_entries = false, have_cp = false;
    for (size_t i = 0; i < n; i++) {
        have_entries |= !strcmp(parts[i].name, "entries");
        have_cp |= !strcmp(parts[i].name, "checkpoint");
    }
    if (!have_entries || !have_cp) {
        r = refuse(&rep, -EBADMSG, UINT32_MAX, UINT64_MAX, "the bundle has no '%s' file",
                   have_entries ? "checkpoint" : "entries");
        goto out;
    }
    struct stat st;
    if (lstat(dir, &st) == 0 || errno != ENOENT) {
        r = lstat(dir, &st) == 0 ? -EEXIST : -errno;
        set_why(&rep, "'%s': %s", dir, r == -EEXIST ? "already exists" : strerror(-r));
        goto out;
    }
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", dir, (long)getpid()) >= (int)sizeof(tmp)) {
        r = -ENAMETOOLONG;
        goto out;
    }
    remove_dir(tmp); /* a previous attempt of this pid that crashed */
    if (mkdir(tmp, 0700) < 0) {
        r = -errno;
        set_why(&rep, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    made = true;
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(parts[i].name, "verified"))
            continue;
        if ((r = write_file(tmp, parts[i].name, buf + parts[i].data, (size_t)parts[i].size)) < 0) {
            set_why(&rep, "cannot write '%s': %s", parts[i].name, strerror(-r));
            goto out;
        }
    }
    if (ppnc_fsync_dir(tmp) < 0) {
        r = -EIO;
        goto out;
    }
    /* Everything, as ppn_ledger_verify does (no trusted state: it is another node's replica). */
    struct ppn_ledger_report lrep;
    memset(&lrep, 0, sizeof(lrep));
    lrep.error_index = lrep.error_offset = lrep.torn_offset = lrep.lost_index = UINT64_MAX;
    r = ledger_open_internal(tmp, 0, true, false, 0, NULL, NULL, &lrep, &l);
    if (r == 0 && (lrep.torn_bytes || lrep.lost_count)) {
        /* A replica handed over whole has no torn tail and loses nothing. */
        r = -EUCLEAN;
        lrep.error_file = lrep.torn_bytes ? 0 : 1;
        lrep.error_offset = lrep.torn_bytes ? lrep.torn_offset : UINT64_MAX;
        lrep.error_index = lrep.torn_bytes ? lrep.entries : lrep.lost_index;
    }
    if (r < 0) {
        rep.error_file = lrep.error_file;
        rep.error_index = lrep.error_index;
        rep.error_offset = lrep.error_offset;
        snprintf(rep.file, sizeof(rep.file), "%s", file_name(lrep.error_file));
        for (size_t i = 0; i < n; i++)
            if (!strcmp(parts[i].name, rep.file)) {
                rep.part = (uint32_t)i;
                if (lrep.error_offset != UINT64_MAX && lrep.error_offset <= parts[i].size)
                    rep.offset = parts[i].data + lrep.error_offset;
            }
        const char *what = r == -EKEYREJECTED ? "a signature does not verify"
                           : r == -EPERM      ? "an entry's author lacks the capability it needs"
                           : r == -EUCLEAN    ? "it is damaged"
                                              : strerror(-r);
        if (lrep.error_index != UINT64_MAX)
            set_why(&rep, "the replica does not verify: %s ('%s', entry %llu, byte %llu)",
                     what, rep.file, (unsigned long long)lrep.error_index,
                     (unsigned long long)lrep.error_offset);
        else
            set_why(&rep, "the replica does not verify: %s ('%s')", what, rep.file);
        goto out;
    }
    struct checkpoint cp;
    const uint8_t (*keys)[32] = signer_pk ? (const uint8_t (*)[32])signer_pk : (const uint8_t (*)[32])l->v.admins;
    size_t nkeys = signer_pk ? 1 : l->v.nadm;
    if (!l->has_cp || checkpoint_verify_any(l->cp_note, l->cp_len, l->origin, keys, nkeys, &cp) < 0) {
        r = -EKEYREJECTED;
        snprintf(rep.file, sizeof(rep.file), "checkpoint");
        set_why(&rep, "its checkpoint is not signed by %s",
                 signer_pk ? "the expected key" : "an administrator of the replica");
        goto out;
    }
    if (cp.size != l->n) {
        r = -EPROTO;
        snprintf(rep.file, sizeof(rep.file), "checkpoint");
        set_why(&rep, "its checkpoint covers %llu of its %llu entries",
                 (unsigned long long)cp.size, (unsigned long long)l->n);
        goto out;
    }
    if (accept && (r = accept(userdata, l, rep.why, sizeof(rep.why))) < 0) {
        if (!rep.why[0])
            set_why(&rep, "refused: %s", strerror(-r));
        goto out;
    }
    ppn_ledger_free(l);
    l = NULL;
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_NOREPLACE) < 0) {
        r = -errno;
        set_why(&rep, "cannot install it as '%s': %s", dir, strerror(errno));
        goto out;
    }
    made = false;
    r = ppnc_fsync_parent(dir) < 0 ? -EIO : 0;
out:
    ppn_ledger_free(l);
    if (made)
        remove_dir(tmp);
    if (r < 0 && !rep.why[0])
        set_why(&rep, "%s", strerror(-r));
    if (report)
        *report = rep;
    return r;
}
