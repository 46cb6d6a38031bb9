/* The pairing hand-off across libppn-crypto and libppn-ledger (handoff.h). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "glue.h"
#include "handoff.h"
#include "ppn-common.h"

/* ---- small helpers ---- */

static uint64_t wall_ms(void)
{
    return ppnc_now_real_ns() / 1000000;
}

uint64_t glue_handoff_left_ms(uint64_t deadline)
{
    uint64_t now = ppnc_now_mono_ms();
    return now >= deadline ? 0 : deadline - now;
}

int glue_ledger_open_write_wait(const char *dir, ppn_ledger **ret)
{
    /* 'ppn-pair serve' holds the writer only while it applies an answer (milliseconds) */
    return ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, 2000, ret);
}

/* Fills 'why' and returns 'r' (negative). */
__attribute__((format(printf, 3, 4))) static int fail(char *why, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, GLUE_HANDOFF_WHY_MAX, fmt, ap);
    va_end(ap);
    return r;
}

/* "Failed to <verb> '<what>': <strerror>", as the tools' tool_fail says it. */
static int fail_op(char *why, const char *verb, const char *what, int r)
{
    return fail(why, r, "Failed to %s '%s': %s", verb, what, strerror(-r));
}

static void progress(const struct glue_handoff_hooks *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const struct glue_handoff_hooks *h, const char *fmt, ...)
{
    if (!h || !h->progress)
        return;
    char line[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    h->progress(h->userdata, line);
}

static int step(const struct glue_handoff_hooks *h, const char *name, char *why)
{
    int r = h && h->step ? h->step(h->userdata, name) : 0;
    return r < 0 ? fail(why, r, "stopped %s", name) : 0;
}

static int write_text(const char *path, const char *text)
{
    return ppnc_write_file_atomic(path, text, strlen(text), 0600);
}

static bool has_secret(const struct glue_node *n)
{
    return n->id_sk && !sodium_is_zero(n->id_sk, 64);
}

/* Removes a ledger-like directory (files only, one level) and then the directory. */
static int remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *e;
    char p[PATH_MAX + 300];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(dir) < 0 ? -errno : 0;
}

/* ---- the node's pending state: STATE/pending/{info,ledger/} ---- */

static void pending_paths(const struct glue_node *n, char *dir, char *info, char *ledger)
{
    snprintf(dir, PATH_MAX, "%s/pending", n->dir);
    snprintf(info, PATH_MAX, "%s/pending/info", n->dir);
    snprintf(ledger, PATH_MAX, "%s/pending/ledger", n->dir);
}

int glue_pending_load(const struct glue_node *n, struct glue_pending *p)
{
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    memset(p, 0, sizeof(*p));
    json_error_t je;
    json_t *o = json_load_file(info, 0, &je);
    if (!o)
        return access(info, F_OK) == 0 ? -EBADMSG : -ENOENT;
    const char *admin = NULL, *host = NULL, *mesh = NULL, *origin = NULL;
    json_int_t index = 0, deadline = 0, window = 0;
    int r = json_unpack(o, "{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "admin", &admin, "admin_hostname", &host, "admin_mesh",
                        &mesh, "origin", &origin, "index", &index, "rollback_at_ms", &deadline, "window_s", &window);
    if (r == 0) {
        snprintf(p->admin_b64, sizeof(p->admin_b64), "%s", admin);
        snprintf(p->admin_hostname, sizeof(p->admin_hostname), "%s", host);
        snprintf(p->admin_mesh, sizeof(p->admin_mesh), "%s", mesh);
        snprintf(p->origin, sizeof(p->origin), "%s", origin);
        p->index = (uint64_t)index;
        p->rollback_at_ms = (uint64_t)deadline;
        p->window_s = (unsigned)window;
        snprintf(p->ledger_dir, sizeof(p->ledger_dir), "%s", ledger);
    }
    json_decref(o);
    return r == 0 ? 0 : -EBADMSG;
}

static int pending_save(const struct glue_node *n, const struct glue_pending *p)
{
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}", "admin", p->admin_b64, "admin_hostname",
                          p->admin_hostname, "admin_mesh", p->admin_mesh, "origin", p->origin, "index",
                          (json_int_t)p->index, "rollback_at_ms", (json_int_t)p->rollback_at_ms, "window_s",
                          (json_int_t)p->window_s);
    char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!t)
        return -ENOMEM;
    size_t len = strlen(t);
    char *line = realloc(t, len + 2);
    if (!line) {
        free(t);
        return -ENOMEM;
    }
    line[len] = '\n', line[len + 1] = 0;
    int r = write_text(info, line);
    free(line);
    return r;
}

int glue_pending_rollback(const struct glue_node *n, const char *why)
{
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX], note[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    snprintf(note, sizeof(note), "%s/not-admitted", n->dir);
    char text[600];
    snprintf(text, sizeof(text), "%s\n", why);
    (void)write_text(note, text);
    unlink(info); /* first: without it, the rest is leftover */
    (void)ppnc_fsync_dir(dir);
    int r = remove_flat_dir(ledger);
    if (r == 0)
        r = remove_flat_dir(dir);
    (void)ppnc_fsync_dir(n->dir);
    return r;
}

/* The pending ledger holds a checkpoint covering this node's entry: it becomes the ledger.
 * 'warn' gets a sentence if the cosignature failed (the move did not). */
static int pending_finish(const struct glue_node *n, char *warn, size_t warn_size)
{
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX], note[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    if (rename(ledger, n->ledger_dir) < 0)
        return -errno;
    (void)ppnc_fsync_dir(n->dir);
    unlink(info);
    remove_flat_dir(dir);
    snprintf(note, sizeof(note), "%s/not-admitted", n->dir);
    unlink(note);
    (void)ppnc_fsync_dir(n->dir);
    ppn_ledger *l = NULL;
    if (glue_ledger_open_write_wait(n->ledger_dir, &l) == 0) {
        (void)ppn_ledger_export_nodes(l, NULL);
        /* The node's word that it holds the replica: its cosignature of the checkpoint that
         * covers its entry, which the sync passes on to the administrator (handoff_settle).
         * Without the secret (wiped), serve cosigns at its first round. */
        if (has_secret(n)) {
            int r = ppn_ledger_cosign(l, n->id_sk, (uint64_t)time(NULL));
            if (r < 0)
                snprintf(warn, warn_size, "cannot cosign the checkpoint: %s", strerror(-r));
        }
        ppn_ledger_free(l);
    }
    return 0;
}

/* Does the pending ledger hold a checkpoint by an administrator covering our entry? */
static bool pending_covered(ppn_ledger *l, const struct glue_pending *p)
{
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    uint8_t admin[32], root[32];
    uint64_t size;
    if (ppn_crypto_key_from_base64(p->admin_b64, strlen(p->admin_b64), admin) < 0 ||
        ppn_ledger_checkpoint_get(l, note, sizeof(note), &len) < 0)
        return false;
    /* any administrator of the ledger may have sealed it since (the sync checked the signer) */
    if (ppn_ledger_checkpoint_verify(note, len, ppn_ledger_origin(l), admin, &size, root) < 0) {
        size = 0;
        for (size_t i = 0; i < ppn_ledger_grant_count(l) && !size; i++) {
            struct ppn_ledger_grant g;
            if (ppn_ledger_grant_get(l, i, &g) < 0 || strcmp(g.capability, PPN_LEDGER_CAP_ADMIN) != 0 ||
                ppn_ledger_checkpoint_verify(note, len, ppn_ledger_origin(l), g.subject, &size, root) < 0)
                size = 0;
        }
    }
    return size > p->index;
}

int glue_pending_judge(const struct glue_node *n, const struct glue_pending *p, ppn_ledger *l, int r,
                       const struct ppn_ledger_sync_report *rep, uint64_t now_ms, char *why, size_t why_size)
{
    why[0] = 0;
    if (r == -EPROTO && rep->fork && rep->fork_size <= p->index + 1) {
        ppn_ledger_free(l);
        snprintf(why, why_size, "the administrator's signed ledger holds another entry at %llu; this node was not "
                 "recorded, pair again", (unsigned long long)p->index);
        glue_pending_rollback(n, why);
        return -EPROTO;
    }
    if (r < 0) {
        snprintf(why, why_size, "%s", rep->why[0] ? rep->why : strerror(-r));
        ppn_ledger_free(l);
        return 0;
    }
    bool done = pending_covered(l, p);
    ppn_ledger_free(l);
    if (done) {
        if (pending_finish(n, why, why_size) == 0)
            return 1;
        snprintf(why, why_size, "cannot move the pending ledger into place");
        return 0;
    }
    if (rep->their_size <= p->index) {
        snprintf(why, why_size, "the administrator's signed ledger ends at %llu, before this node's entry %llu",
                 (unsigned long long)rep->their_size, (unsigned long long)p->index);
        if (now_ms >= p->rollback_at_ms) {
            char text[600];
            snprintf(text, sizeof(text), "the administrator %s did not record this node (%s); pair again",
                     p->admin_hostname, why);
            snprintf(why, why_size, "%s", text);
            glue_pending_rollback(n, why);
            return -ENOENT;
        }
    } else {
        snprintf(why, why_size, "not yet covered by a checkpoint");
    }
    return 0;
}

int glue_pending_apply_answer(const struct glue_node *n, const struct glue_pending *p, const uint8_t *ans,
                              size_t len, uint64_t now_ms, char *why, size_t why_size)
{
    ppn_ledger *l = NULL;
    int r = glue_ledger_open_write_wait(p->ledger_dir, &l);
    if (r < 0) {
        snprintf(why, why_size, "cannot open the pending ledger: %s", strerror(-r));
        return 0;
    }
    struct ppn_ledger_sync_report rep;
    r = ppn_ledger_sync_apply(l, ans, len, PPN_LEDGER_SYNC_ANSWER_MAX, &rep);
    return glue_pending_judge(n, p, l, r, &rep, now_ms, why, why_size);
}

int glue_pending_expire(const struct glue_node *n, uint64_t now_ms)
{
    struct glue_pending p;
    int r = glue_pending_load(n, &p);
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    if (r == -ENOENT) {
        /* a pending directory without its info: left by a crash before the acknowledgement
         * (older than any window, so that a ceremony writing it right now is left alone) */
        struct stat st;
        if (stat(dir, &st) == 0 && (uint64_t)st.st_mtime * 1000 + 3600ull * 1000 < now_ms) {
            remove_flat_dir(ledger);
            remove_flat_dir(dir);
        }
        return 0;
    }
    if (r < 0 || now_ms < p.rollback_at_ms)
        return 0;
    char why[512];
    snprintf(why, sizeof(why),
             "the administrator %s did not record this node: nothing completed the hand-off of entry %llu before "
             "its bound; pair again",
             p.admin_hostname, (unsigned long long)p.index);
    glue_pending_rollback(n, why);
    return 1;
}

void glue_pairing_state(const struct glue_node *n, char *state, size_t ssize, char *text, size_t tsize)
{
    struct glue_pending p;
    char note[PATH_MAX];
    snprintf(note, sizeof(note), "%s/not-admitted", n->dir);
    if (access(n->ledger_dir, F_OK) == 0) {
        snprintf(state, ssize, "member");
        snprintf(text, tsize, "member: this node holds the ledger");
    } else if (glue_pending_load(n, &p) == 0) {
        time_t t = (time_t)(p.rollback_at_ms / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(state, ssize, "pending");
        snprintf(text, tsize,
                 "pending: admitted by %s at entry %llu, completing through sync from %s (ppn-pair sync); "
                 "rolls back at %s unless the administrator's ledger has it",
                 p.admin_hostname, (unsigned long long)p.index, p.admin_mesh, when);
    } else {
        FILE *f = fopen(note, "r");
        char line[512] = "";
        if (f) {
            if (!fgets(line, sizeof(line), f))
                line[0] = 0;
            fclose(f);
            line[strcspn(line, "\n")] = 0;
            snprintf(state, ssize, "not-admitted");
            snprintf(text, tsize, "not admitted: %s", line);
        } else {
            snprintf(state, ssize, "none");
            snprintf(text, tsize, "not paired");
        }
    }
}

/* ---- the administrator's record of hand-offs not confirmed: STATE/handoff/<id> ---- */

static void handoff_path(const struct glue_node *n, const uint8_t id[32], char *buf, size_t size)
{
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), id, 16);
    if (snprintf(buf, size, "%s/handoff/%s", n->dir, hex) >= (int)size)
        buf[0] = 0;
}

/* The line 'status' shows, then "entry <index> <identity key, base64>": what handoff_settle
 * looks for in the cosignatures. */
static int handoff_record(const struct glue_node *n, const uint8_t id[32], uint64_t index, const char *text)
{
    char dir[PATH_MAX], path[PATH_MAX], b64[PPN_CRYPTO_KEY_B64_LEN + 1], rec[1000];
    snprintf(dir, sizeof(dir), "%s/handoff", n->dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    handoff_path(n, id, path, sizeof(path));
    ppn_crypto_key_to_base64(id, b64);
    snprintf(rec, sizeof(rec), "%.*s\nentry %llu %s\n", (int)strcspn(text, "\n"), text, (unsigned long long)index,
             b64);
    return write_text(path, rec);
}

static void handoff_done(const struct glue_node *n, const uint8_t id[32])
{
    char path[PATH_MAX];
    handoff_path(n, id, path, sizeof(path));
    unlink(path);
}

/* Does the ledger hold a cosignature by 'id' on a checkpoint whose tree contains entry
 * 'index' (size > index) and that is this ledger's own history (the root at that size)?
 * Then the node holds a replica with its entry: the hand-off is complete.  The size cosigned,
 * or 0. */
static uint64_t handoff_cosigned(ppn_ledger *l, const uint8_t id[32], uint64_t index)
{
    struct ppn_ledger_cosignature cs[PPN_LEDGER_COSIGNATURES_MAX];
    size_t count = 0;
    if (ppn_ledger_cosignatures(l, cs, PPN_LEDGER_COSIGNATURES_MAX, &count) < 0)
        return 0;
    for (size_t i = 0; i < count && i < PPN_LEDGER_COSIGNATURES_MAX; i++) {
        uint8_t root[32];
        if (sodium_memcmp(cs[i].cosigner, id, 32) != 0 || cs[i].size <= index || cs[i].size > ppn_ledger_size(l) ||
            ppn_ledger_root(l, cs[i].size, root) < 0 || sodium_memcmp(root, cs[i].root, 32) != 0)
            continue;
        return cs[i].size;
    }
    return 0;
}

/* Each record of STATE/handoff: fn(ud, path, first line, second line). */
static void handoff_each(const struct glue_node *n, void (*fn)(void *ud, const char *path, const char *name,
                                                               const char *line, const char *rec),
                         void *ud)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/handoff", n->dir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp"))
            continue;
        char p[PATH_MAX + 300], line[600] = "", rec[200] = "";
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        if (!fgets(line, sizeof(line), f))
            line[0] = 0;
        else if (!fgets(rec, sizeof(rec), f))
            rec[0] = 0;
        fclose(f);
        line[strcspn(line, "\n")] = 0;
        fn(ud, p, e->d_name, line, rec);
    }
    closedir(d);
}

struct settle_ctx {
    const struct glue_node *n;
    ppn_ledger *l;
    void (*fn)(void *ud, const char *line);
    void *ud;
};

static void settle_one(void *ud, const char *path, const char *name, const char *line, const char *rec)
{
    const struct settle_ctx *c = ud;
    unsigned long long index;
    char b64[64] = "";
    uint8_t id[32];
    struct ppn_ledger_member m;
    (void)line;
    if (sscanf(rec, "entry %llu %63s", &index, b64) != 2 || ppn_crypto_key_from_base64(b64, strlen(b64), id) < 0) {
        /* a record of an older ppn-pair: the member whose key the file is named after */
        bool found = false;
        for (size_t i = 0; !found && i < ppn_ledger_member_count(c->l); i++) {
            char hex[65];
            if (ppn_ledger_member_get(c->l, i, &m) < 0)
                continue;
            sodium_bin2hex(hex, sizeof(hex), m.identity, 16);
            if ((found = strcmp(hex, name) == 0)) {
                memcpy(id, m.identity, 32);
                index = m.index;
            }
        }
        if (!found)
            return;
    }
    uint64_t size = handoff_cosigned(c->l, id, index);
    if (!size)
        return;
    const char *who = "the node";
    if (ppn_ledger_member_find(c->l, id, &m) == 0)
        who = m.hostname;
    char text[700];
    snprintf(text, sizeof(text),
             "handoff: %.250s completed at entry %llu: its cosignature of the checkpoint of size %llu reached "
             "this node",
             who, index, (unsigned long long)size);
    if (unlink(path) == 0) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/handoff", c->n->dir);
        (void)ppnc_fsync_dir(dir);
        c->fn(c->ud, text);
    }
}

void glue_handoff_settle(const struct glue_node *n, ppn_ledger *l, void (*fn)(void *ud, const char *line), void *ud)
{
    struct settle_ctx c = {n, l, fn, ud};
    handoff_each(n, settle_one, &c);
}

struct list_ctx {
    void (*fn)(void *ud, const char *line);
    void *ud;
};

static void list_one(void *ud, const char *path, const char *name, const char *line, const char *rec)
{
    const struct list_ctx *c = ud;
    (void)path, (void)name, (void)rec;
    if (line[0])
        c->fn(c->ud, line);
}

void glue_handoff_list(const struct glue_node *n, void (*fn)(void *ud, const char *line), void *ud)
{
    struct list_ctx c = {fn, ud};
    handoff_each(n, list_one, &c);
}

/* ---- messages inside the channel ---- */

int glue_handoff_send(ppn_crypto_session *s, int fd, uint8_t type, const void *a, size_t alen, const void *b,
                      size_t blen, uint64_t deadline)
{
    size_t len = 1 + alen + blen;
    uint8_t *m = malloc(len);
    if (!m)
        return -ENOMEM;
    m[0] = type;
    if (alen)
        memcpy(m + 1, a, alen);
    if (blen)
        memcpy(m + 1 + alen, b, blen);
    int r = ppn_crypto_session_send(s, m, len);
    free(m);
    if (r == 0)
        r = ppn_crypto_session_flush_fd(s, fd, glue_handoff_left_ms(deadline));
    return r;
}

/* An authenticated refusal: 'E', errno (4 bytes), a sentence. */
static int send_refusal(ppn_crypto_session *s, int fd, int err, const char *why, uint64_t deadline)
{
    uint8_t e[4];
    ppnc_put_be(e, (uint32_t)-err, 4);
    return glue_handoff_send(s, fd, 'E', e, 4, why, strlen(why), deadline);
}

void glue_handoff_parse_refusal(const uint8_t *m, size_t len, char *buf, size_t size, int *ret_err)
{
    uint64_t e = len >= 5 ? ppnc_get_be(m + 1, 4) : 0;
    *ret_err = e > 0 && e < 4096 ? -(int)e : -EPROTO;
    size_t tl = len > 5 ? len - 5 : 0;
    if (tl >= size)
        tl = size - 1;
    for (size_t i = 0; i < tl; i++)
        buf[i] = (m[5 + i] >= 0x20 && m[5 + i] < 0x7f) ? (char)m[5 + i] : '?';
    buf[tl] = 0;
}

int glue_handoff_parse_replica(const uint8_t *m, size_t len, struct glue_handoff_replica *ret)
{
    size_t clen = len >= 9 ? (size_t)ppnc_get_be(m + 5, 4) : 0;
    if (len < 9 || m[0] != 'R' || clen == 0 || clen > PPN_LEDGER_ENTRY_MAX || 9 + clen > len)
        return -EBADMSG;
    ret->admin_left_ms = ppnc_get_be(m + 1, 4);
    ret->entry = m + 9, ret->entry_len = clen;
    ret->bundle = m + 9 + clen, ret->bundle_len = len - 9 - clen;
    return 0;
}

const char *glue_handoff_io_reason(int r)
{
    switch (-r) {
    case ETIMEDOUT: return "no answer within the window";
    case ECONNRESET: return "the peer closed the connection";
    case EACCES: return "a record of the session did not authenticate (forged or replayed)";
    case EMSGSIZE: return "the peer sent more than the bound";
    case EPIPE: return "the peer closed the connection";
    default: return strerror(-r);
    }
}

/* ---- the administrator ---- */

/* The node-join entry for 'peer', prepared (signed for the next index, not appended); a
 * refusal the ledger states is sent to the node. */
static int admin_prepare(ppn_crypto_session *s, int fd, const struct glue_node *n, ppn_ledger *l,
                         const ppn_crypto_node_record *peer, uint64_t deadline, char *addr, size_t addr_size,
                         uint8_t cand[PPN_LEDGER_ENTRY_MAX], size_t *clen, char *why)
{
    int r = glue_mesh_allocate(l, peer->address, addr, addr_size);
    if (r < 0)
        return fail_op(why, "allocate a mesh address in", ppn_ledger_mesh_range(l), r);
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_NODE_JOIN;
    memcpy(e.subject, peer->identity_public, 32);
    memcpy(e.wg_key, peer->wg_public, 32);
    snprintf(e.mesh, sizeof(e.mesh), "%s", addr);
    snprintf(e.endpoint, sizeof(e.endpoint), "%.255s", peer->endpoint);
    snprintf(e.hostname, sizeof(e.hostname), "%s", peer->hostname);
    r = ppn_ledger_prepare(l, &e, n->id_sk, cand, PPN_LEDGER_ENTRY_MAX, clen);
    if (r < 0) {
        const char *lw = ppn_ledger_last_error(l);
        (void)send_refusal(s, fd, r, lw[0] ? lw : strerror(-r), deadline);
        return lw[0] ? fail(why, r, "Failed to admit '%s': %s", peer->hostname, lw)
                     : fail_op(why, "prepare the node-join entry in", n->ledger_dir, r);
    }
    return 0;
}

/* Sends 'R': how long this side may still append, the prepared entry, the replica. */
static int admin_send_replica(ppn_crypto_session *s, int fd, ppn_ledger *l, const struct glue_node *n,
                              const ppn_crypto_node_record *peer, const uint8_t *cand, size_t clen,
                              uint64_t deadline, char *why)
{
    uint8_t *bundle = NULL;
    size_t blen = 0;
    int r = ppn_ledger_bundle_build(l, &bundle, &blen);
    if (r < 0)
        return fail_op(why, "build the replica of", n->ledger_dir, r);
    if (1 + 4 + clen + blen > PPN_CRYPTO_SESSION_RECORD_MAX) {
        free(bundle);
        (void)send_refusal(s, fd, -E2BIG, "the replica is larger than one record of the session", deadline);
        return fail(why, -E2BIG, "Failed to send the replica: %zu bytes, more than one record of the session (%u)",
                    blen, PPN_CRYPTO_SESSION_RECORD_MAX);
    }
    uint8_t *head = malloc(8 + clen);
    if (!head) {
        free(bundle);
        return fail_op(why, "send", "the replica", -ENOMEM);
    }
    /* how long this side may still append: the node's roll-back bound starts from it */
    uint64_t left = glue_handoff_left_ms(deadline);
    ppnc_put_be(head, left > UINT32_MAX ? UINT32_MAX : left, 4);
    ppnc_put_be(head + 4, clen, 4);
    memcpy(head + 8, cand, clen);
    r = glue_handoff_send(s, fd, 'R', head, 8 + clen, bundle, blen, deadline);
    free(head);
    free(bundle);
    if (r < 0)
        return fail(why, r, "Failed to send the replica to '%s': %s; nothing recorded", peer->hostname,
                    glue_handoff_io_reason(r));
    return 0;
}

/* Receives 'K' with the node's sync request for size index + 1 (or its refusal 'E'). */
static int admin_recv_ack(ppn_crypto_session *s, int fd, const ppn_crypto_node_record *peer, uint64_t index,
                          uint64_t deadline, uint8_t request[PPN_LEDGER_SYNC_REQUEST_MAX], size_t *qlen, char *why)
{
    uint8_t *m = NULL;
    size_t mlen = 0;
    int r = ppn_crypto_session_recv_fd(s, fd, glue_handoff_left_ms(deadline), &m, &mlen);
    if (r < 0)
        return fail(why, r,
                    "Failed to admit '%s': it did not confirm the replica (%s); nothing recorded, the node rolls "
                    "back by itself",
                    peer->hostname, glue_handoff_io_reason(r));
    if (mlen >= 1 && m[0] == 'E') {
        char text[300];
        int err;
        glue_handoff_parse_refusal(m, mlen, text, sizeof(text), &err);
        free(m);
        return fail(why, err,
                    "Failed to admit '%s': the joining node refused the replica: %s (%s); nothing recorded",
                    peer->hostname, text, strerror(-err));
    }
    struct ppn_ledger_sync_request q;
    if (mlen < 1 || mlen - 1 > PPN_LEDGER_SYNC_REQUEST_MAX || m[0] != 'K' ||
        ppn_ledger_sync_request_decode(m + 1, mlen - 1, &q) < 0 || q.size != index + 1) {
        free(m);
        return fail(why, -EPROTO, "Failed to admit '%s': its acknowledgement is not one (nothing recorded)",
                    peer->hostname);
    }
    *qlen = mlen - 1;
    memcpy(request, m + 1, *qlen);
    free(m);
    return 0;
}

/* Seals: a checkpoint signed by this administrator, and nodes.jsonl. */
static int admin_seal(ppn_ledger *l, const struct glue_node *n, char *why)
{
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    int r = ppn_ledger_checkpoint(l, n->id_sk, note, sizeof(note), &len);
    if (r < 0)
        return fail_op(why, "sign a checkpoint of", n->ledger_dir, r);
    r = ppn_ledger_export_nodes(l, NULL);
    return r < 0 ? fail_op(why, "export nodes.jsonl of", n->ledger_dir, r) : 0;
}

static int copy_field(char *dst, size_t size, const char *src)
{
    return snprintf(dst, size, "%s", src) >= (int)size ? -ENAMETOOLONG : 0;
}

int glue_handoff_admin_ready(const struct glue_node *n, ppn_ledger *l, ppn_crypto_node_record *ret_local,
                             char why[GLUE_HANDOFF_WHY_MAX])
{
    why[0] = 0;
    struct ppn_ledger_member self;
    if (ppn_ledger_member_find(l, n->id_pk, &self) < 0 ||
        ppn_ledger_has_capability(l, n->id_pk, PPN_LEDGER_CAP_NODE_ADMIT, NULL) <= 0)
        return fail(why, -EPERM, "this node is not an administrator of the mesh in '%s'", n->ledger_dir);
    if (!has_secret(n))
        return fail(why, -EINVAL, "no identity key to sign with");
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t nl;
    uint64_t cs = 0;
    uint8_t root[32];
    if (ppn_ledger_checkpoint_get(l, note, sizeof(note), &nl) < 0 ||
        ppn_ledger_checkpoint_verify(note, nl, ppn_ledger_origin(l), n->id_pk, &cs, root) < 0)
        cs = 0;
    int r;
    if (cs < ppn_ledger_size(l) && (r = admin_seal(l, n, why)) < 0)
        return r;
    memset(ret_local, 0, sizeof(*ret_local));
    memcpy(ret_local->identity_public, n->id_pk, 32);
    memcpy(ret_local->wg_public, n->wg_pk, 32);
    if (copy_field(ret_local->endpoint, sizeof(ret_local->endpoint), self.endpoint) < 0 ||
        copy_field(ret_local->hostname, sizeof(ret_local->hostname), self.hostname) < 0 ||
        copy_field(ret_local->address, sizeof(ret_local->address), self.mesh) < 0)
        return fail(why, -ENAMETOOLONG, "this node's ledger record does not fit a pairing record");
    return 0;
}

int glue_handoff_admin(ppn_crypto_session *s, int fd, const struct glue_node *n, ppn_ledger *l,
                       const ppn_crypto_node_record *peer, uint64_t deadline, const struct glue_handoff_hooks *h,
                       char why[GLUE_HANDOFF_WHY_MAX])
{
    why[0] = 0;
    if (!has_secret(n))
        return fail(why, -EINVAL, "Failed to admit '%s': no identity key to sign with", peer->hostname);
    struct ppn_ledger_member existing;
    if (ppn_ledger_member_find(l, peer->identity_public, &existing) == 0) {
        fail(why, -EEXIST, "'%s' is already a member (mesh address %s); nothing recorded", existing.hostname,
             existing.mesh);
        (void)send_refusal(s, fd, -EEXIST, why, deadline);
        return -EEXIST;
    }
    char addr[64];
    uint8_t cand[PPN_LEDGER_ENTRY_MAX];
    size_t clen;
    int r = admin_prepare(s, fd, n, l, peer, deadline, addr, sizeof(addr), cand, &clen, why);
    if (r < 0)
        return r;
    uint64_t index = ppn_ledger_size(l);
    if ((r = admin_send_replica(s, fd, l, n, peer, cand, clen, deadline, why)) < 0)
        return r;
    progress(h, "sent\treplica of %llu entries and the prepared entry %llu", (unsigned long long)index,
             (unsigned long long)index);

    uint8_t request[PPN_LEDGER_SYNC_REQUEST_MAX];
    size_t qlen = 0;
    if ((r = admin_recv_ack(s, fd, peer, index, deadline, request, &qlen, why)) < 0)
        return r;

    if ((r = step(h, "before-append", why)) < 0)
        return r;
    char line[600];
    snprintf(line, sizeof(line),
             "handoff: %s being recorded at entry %llu (%s), not confirmed by the node; unless the ledger lacks "
             "it, the node completes through sync from this node once a checkpoint covers it (the next admit "
             "signs one)\n",
             peer->hostname, (unsigned long long)index, addr);
    if ((r = handoff_record(n, peer->identity_public, index, line)) < 0) {
        (void)send_refusal(s, fd, r, "the administrator cannot record the hand-off", deadline);
        return fail_op(why, "record the hand-off in", n->dir, r);
    }
    const uint8_t *pp[1] = {cand};
    uint64_t got;
    r = ppn_ledger_append_signed(l, pp, &clen, 1, &got);
    if (r < 0) {
        const char *lw = ppn_ledger_last_error(l);
        handoff_done(n, peer->identity_public);
        fail(why, r, "Failed to record '%s': %s; nothing recorded, the node rolls back", peer->hostname,
             lw[0] ? lw : strerror(-r));
        (void)send_refusal(s, fd, r, lw[0] ? lw : strerror(-r), deadline);
        return r;
    }
    progress(h, "admitted\t%s\t%s\tentry %llu", peer->hostname, addr, (unsigned long long)got);
    if ((r = step(h, "before-seal", why)) < 0 || (r = admin_seal(l, n, why)) < 0)
        return r;
    snprintf(line, sizeof(line),
             "handoff: %s admitted at entry %llu (%s) has not confirmed the final part; it completes through sync "
             "from this node\n",
             peer->hostname, (unsigned long long)got, addr);
    if ((r = handoff_record(n, peer->identity_public, got, line)) < 0)
        return fail_op(why, "record the hand-off in", n->dir, r);

    if ((r = step(h, "before-final", why)) < 0)
        return r;
    uint8_t *ans = NULL, *m = NULL;
    size_t alen = 0, mlen = 0;
    r = ppn_ledger_sync_answer(l, request, qlen, PPN_CRYPTO_SESSION_RECORD_MAX - 1, &ans, &alen);
    if (r == 0) {
        r = glue_handoff_send(s, fd, 'F', ans, alen, NULL, 0, deadline);
        free(ans);
    }
    if (r == 0)
        r = ppn_crypto_session_recv_fd(s, fd, glue_handoff_left_ms(deadline), &m, &mlen);
    if (r == 0) {
        if (mlen != 1 || m[0] != 'D')
            r = -EPROTO;
        free(m);
    }
    if (r < 0) {
        fail(why, -ENOTCONN,
             "'%s' is recorded at entry %llu but did not confirm the final part (%s): it completes through sync "
             "from this node's mesh address",
             peer->hostname, (unsigned long long)got, glue_handoff_io_reason(r));
        return -ENOTCONN;
    }
    handoff_done(n, peer->identity_public);
    progress(h, "confirmed\t%s", peer->hostname);
    return 0;
}

/* ---- the new node ---- */

static int accept_replica(void *userdata, ppn_ledger *l, char *why, size_t why_size)
{
    const ppn_crypto_node_record *admin = userdata;
    struct ppn_ledger_member m;
    if (ppn_ledger_member_find(l, admin->identity_public, &m) < 0 || memcmp(m.wg_key, admin->wg_public, 32) != 0) {
        snprintf(why, why_size, "it does not hold the administrator as the member the ceremony showed");
        return -EPROTO;
    }
    if (ppn_ledger_has_capability(l, admin->identity_public, PPN_LEDGER_CAP_NODE_ADMIT, NULL) <= 0) {
        snprintf(why, why_size, "the ceremony's administrator may not admit nodes in it");
        return -EPERM;
    }
    return 0;
}

/* Checks the prepared entry on the installed replica 'l' and appends it there. */
static int node_check_entry(const struct glue_node *n, const ppn_crypto_node_record *admin, ppn_ledger *l,
                            const uint8_t *cand, size_t clen, struct ppn_ledger_entry *e, char *why, size_t why_size)
{
    int r = ppn_ledger_entry_decode(cand, clen, e);
    if (r < 0) {
        snprintf(why, why_size, "the prepared entry is not a signed entry");
        return r;
    }
    if (e->type != PPN_LEDGER_ENTRY_NODE_JOIN || memcmp(e->author, admin->identity_public, 32) ||
        memcmp(e->subject, n->id_pk, 32) || memcmp(e->wg_key, n->wg_pk, 32)) {
        snprintf(why, why_size,
                 "the prepared entry does not admit this node with its WireGuard key by the ceremony's "
                 "administrator");
        return -EPROTO;
    }
    if ((r = ppn_ledger_check_signed(l, cand, clen)) < 0) {
        snprintf(why, why_size, "the prepared entry does not apply on the replica: %s", ppn_ledger_last_error(l));
        return r;
    }
    const uint8_t *pp[1] = {cand};
    r = ppn_ledger_append_signed(l, pp, &clen, 1, NULL); /* durable before the acknowledgement */
    if (r < 0)
        snprintf(why, why_size, "storing the prepared entry failed: %s", ppn_ledger_last_error(l));
    return r;
}

/* Verifies 'R' and stores the pending state.  0, or a negative errno with 'why'. */
static int node_verify_store(const struct glue_node *n, const ppn_crypto_node_record *admin, const uint8_t *m,
                             size_t mlen, unsigned window_s, struct glue_pending *p, char *why, size_t why_size)
{
    struct glue_handoff_replica rp;
    if (glue_handoff_parse_replica(m, mlen, &rp) < 0) {
        snprintf(why, why_size, "the administrator's message is not a replica");
        return -EBADMSG;
    }
    uint64_t admin_left_ms = rp.admin_left_ms;
    const uint8_t *cand = rp.entry, *bundle = rp.bundle;
    size_t clen = rp.entry_len, blen = rp.bundle_len;
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int r = -errno;
        snprintf(why, why_size, "cannot create '%.200s': %s", dir, strerror(-r));
        return r;
    }
    struct ppn_ledger_bundle_report rep;
    int r = ppn_ledger_bundle_install(bundle, blen, ledger, admin->identity_public, accept_replica, (void *)admin,
                                      &rep);
    if (r < 0) {
        snprintf(why, why_size, "%s", rep.why);
        remove_flat_dir(dir);
        return r;
    }
    ppn_ledger *l = NULL;
    struct ppn_ledger_entry e;
    r = glue_ledger_open_write_wait(ledger, &l);
    if (r < 0)
        snprintf(why, why_size, "cannot open the replica: %s", strerror(-r));
    else
        r = node_check_entry(n, admin, l, cand, clen, &e, why, why_size);
    if (r == 0) {
        memset(p, 0, sizeof(*p));
        ppn_crypto_key_to_base64(admin->identity_public, p->admin_b64);
        snprintf(p->admin_hostname, sizeof(p->admin_hostname), "%s", admin->hostname);
        struct ppn_ledger_member am;
        if (ppn_ledger_member_find(l, admin->identity_public, &am) == 0)
            snprintf(p->admin_mesh, sizeof(p->admin_mesh), "%.*s", (int)strcspn(am.mesh, "/"), am.mesh);
        snprintf(p->origin, sizeof(p->origin), "%s", ppn_ledger_origin(l));
        p->index = e.index;
        p->window_s = window_s;
        /* The administrator appends only before its own deadline (it said how far that is):
         * past it, and a margin of this node's window, nothing can complete any more but a
         * sync with an administrator that did append; without one, the state rolls back. */
        p->rollback_at_ms = wall_ms() + admin_left_ms + (uint64_t)(window_s < 5 ? 5 : window_s) * 1000;
        snprintf(p->ledger_dir, sizeof(p->ledger_dir), "%s", ledger);
        r = pending_save(n, p);
        if (r < 0)
            snprintf(why, why_size, "cannot store the pending state: %s", strerror(-r));
    }
    ppn_ledger_free(l);
    if (r < 0) {
        remove_flat_dir(ledger);
        remove_flat_dir(dir);
    }
    return r;
}

int glue_handoff_node_ready(const struct glue_node *n, uint64_t now_ms, char why[GLUE_HANDOFF_WHY_MAX])
{
    why[0] = 0;
    (void)glue_pending_expire(n, now_ms);
    struct glue_pending p;
    if (access(n->ledger_dir, F_OK) == 0)
        return fail(why, -EEXIST, "this node already holds a ledger in '%s': it is a member; use 'ppn-pair mesh'",
                    n->ledger_dir);
    if (glue_pending_load(n, &p) == 0)
        return fail(why, -EBUSY,
                    "this node is pending (admitted by %s at entry %llu): it completes through 'ppn-pair sync' or "
                    "rolls back by itself; see 'ppn-pair status'",
                    p.admin_hostname, (unsigned long long)p.index);
    return 0;
}

/* Receives 'R' and stores it as pending; refuses anything else (nothing stored). */
static int node_receive(ppn_crypto_session *s, int fd, const struct glue_node *n, const ppn_crypto_node_record *admin,
                        uint64_t deadline, unsigned window_s, struct glue_pending *p, char *why)
{
    uint8_t *m = NULL;
    size_t mlen = 0;
    int r = ppn_crypto_session_recv_fd(s, fd, glue_handoff_left_ms(deadline), &m, &mlen);
    if (r < 0)
        return fail(why, r, "Failed to receive the administrator's replica: %s; nothing stored",
                    glue_handoff_io_reason(r));
    if (mlen >= 1 && m[0] == 'E') {
        char text[300];
        int err;
        glue_handoff_parse_refusal(m, mlen, text, sizeof(text), &err);
        free(m);
        return fail(why, err, "Failed to join: the administrator refused: %s", text);
    }
    char text[400] = "";
    r = mlen >= 1 && m[0] == 'R' ? node_verify_store(n, admin, m, mlen, window_s, p, text, sizeof(text))
                                 : (snprintf(text, sizeof(text), "the administrator's message is not a replica"),
                                    -EBADMSG);
    free(m);
    if (r < 0) {
        (void)send_refusal(s, fd, r, text, deadline);
        return fail(why, r, "Failed to accept the administrator's ledger: %s", text);
    }
    return 0;
}

int glue_handoff_node(ppn_crypto_session *s, int fd, const struct glue_node *n, const ppn_crypto_node_record *admin,
                      uint64_t deadline, unsigned window_s, const struct glue_handoff_hooks *h,
                      struct glue_pending *ret_p, char why[GLUE_HANDOFF_WHY_MAX])
{
    struct glue_pending *p = ret_p;
    why[0] = 0;
    int r = node_receive(s, fd, n, admin, deadline, window_s, p, why);
    if (r < 0)
        return r;
    progress(h, "pending\tadmitted by %s at entry %llu, verified and stored", p->admin_hostname,
             (unsigned long long)p->index);

    if ((r = step(h, "before-ack", why)) < 0)
        return r;
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX], *m = NULL;
    size_t ql = 0, mlen = 0;
    ppn_ledger *l = NULL;
    r = ppn_ledger_open(p->ledger_dir, 0, &l);
    if (r == 0)
        r = ppn_ledger_sync_request(l, q, sizeof(q), &ql);
    ppn_ledger_free(l);
    if (r == 0)
        r = glue_handoff_send(s, fd, 'K', q, ql, NULL, 0, deadline);
    if (r == 0)
        r = ppn_crypto_session_recv_fd(s, fd, glue_handoff_left_ms(deadline), &m, &mlen);
    int done = 0;
    char text[GLUE_HANDOFF_WHY_MAX / 2] = "";
    if (r == 0 && mlen >= 1 && m[0] == 'E') {
        char refusal[300];
        int err;
        glue_handoff_parse_refusal(m, mlen, refusal, sizeof(refusal), &err);
        free(m);
        snprintf(text, sizeof(text), "the administrator did not record this node (%s); pair again", refusal);
        glue_pending_rollback(n, text);
        return fail(why, err, "Failed to join: %s", text);
    }
    if (r == 0 && mlen >= 1 && m[0] == 'F') {
        done = glue_pending_apply_answer(n, p, m + 1, mlen - 1, wall_ms(), text, sizeof(text));
        free(m);
        if (done < 0)
            return fail(why, done, "Failed to join: %s; rolled back, pair again", text);
        if (done == 1) {
            if (text[0] && h && h->warn) /* completed; the cosignature failed */
                h->warn(h->userdata, text);
            (void)glue_handoff_send(s, fd, 'D', NULL, 0, NULL, 0, deadline);
        }
    } else if (r == 0) {
        free(m);
        snprintf(text, sizeof(text), "the final part is not one");
    } else {
        snprintf(text, sizeof(text), "%s", glue_handoff_io_reason(r));
    }
    if (done != 1) {
        fail(why, 1,
             "Failed to complete the hand-off (%s): this node is pending; it completes through 'ppn-pair sync' "
             "from %s, or rolls back by itself",
             text, p->admin_mesh);
        return 1;
    }
    ppn_ledger *ml = NULL;
    struct ppn_ledger_member me;
    if (ppn_ledger_open(n->ledger_dir, 0, &ml) == 0 && ppn_ledger_member_find(ml, n->id_pk, &me) == 0)
        progress(h, "joined\t%s\t%s", ppn_ledger_origin(ml), me.mesh);
    ppn_ledger_free(ml);
    return 0;
}
