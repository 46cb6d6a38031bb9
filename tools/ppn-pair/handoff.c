/* The hand-off at the end of a ceremony, inside the session's encrypted channel
 * (libppn-crypto ppn_crypto_session_send/recv), and the states it leaves on disk.
 *
 *   administrator                                   new node
 *   prepares the node-join entry (not appended)
 *   'R' candidate entry + replica bundle  ------>   verifies the bundle, the candidate on top of
 *                                                   it (names this node with its WireGuard key,
 *                                                   signed by the ceremony's peer); stores
 *                                                   STATE/pending/ (fsync): PENDING
 *                                      <------  'K' + its sync request (or 'E' errno why)
 *   appends exactly the prepared bytes, seals,
 *   STATE/handoff/<id> (until confirmed)
 *   'F' + the sync answer (the final part) ----->   applies it: a checkpoint covering its entry;
 *                                                   STATE/pending/ledger becomes STATE/ledger
 *                                      <------  'D'
 *
 * Every step has a deadline.  A node left PENDING completes through the network sync from the
 * administrator (ppn-pair sync: the same answer), or rolls back by itself when a sync shows
 * the administrator's signed history lacks the entry, or past its bound (the window twice
 * after the acknowledgement) when it never heard. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ppn/crypto.h"
#include "ppn/ledger.h"
#include "pair.h"
#include "tool-util.h"

/* ---- small helpers ---- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t handoff_left_ms(uint64_t deadline)
{
    uint64_t now = mono_ms();
    return now >= deadline ? 0 : deadline - now;
}

/* Fault injection for the tests: PPN_PAIR_TEST_STOP=<step> stops this process (SIGSTOP) at
 * that step, so that a test can freeze or kill a peer at an exact point. */
static void test_stop(const char *step)
{
    const char *e = getenv("PPN_PAIR_TEST_STOP");
    if (e && strcmp(e, step) == 0) {
        printf("stopping\t%s\n", step);
        fflush(stdout);
        raise(SIGSTOP);
    }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int write_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int r = tool_write_all(fd, text, strlen(text));
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    close(fd);
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    int d = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
        fsync(d);
        close(d);
    }
    return 0;
}

static void fsync_dir(const char *dir)
{
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
        fsync(d);
        close(d);
    }
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

static void pending_paths(const struct node *n, char *dir, char *info, char *ledger)
{
    snprintf(dir, PATH_MAX, "%s/pending", n->dir);
    snprintf(info, PATH_MAX, "%s/pending/info", n->dir);
    snprintf(ledger, PATH_MAX, "%s/pending/ledger", n->dir);
}

int pending_load(const struct node *n, struct pending *p)
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

static int pending_save(const struct node *n, const struct pending *p)
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
    int r = write_atomic(info, line);
    free(line);
    return r;
}

/* Ends a pending state for good: the reason is kept in STATE/not-admitted for status. */
int pending_rollback(const struct node *n, const char *why)
{
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX], note[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    snprintf(note, sizeof(note), "%s/not-admitted", n->dir);
    char text[600];
    snprintf(text, sizeof(text), "%s\n", why);
    (void)write_atomic(note, text);
    unlink(info); /* first: without it, the rest is leftover */
    fsync_dir(dir);
    int r = remove_flat_dir(ledger);
    if (r == 0)
        r = remove_flat_dir(dir);
    fsync_dir(n->dir);
    return r;
}

/* The pending ledger holds a checkpoint covering this node's entry: it becomes the ledger. */
static int pending_finish(const struct node *n)
{
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX], note[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    if (rename(ledger, n->ledger_dir) < 0)
        return -errno;
    fsync_dir(n->dir);
    unlink(info);
    remove_flat_dir(dir);
    snprintf(note, sizeof(note), "%s/not-admitted", n->dir);
    unlink(note);
    fsync_dir(n->dir);
    ppn_ledger *l = NULL;
    if (ledger_open_write_wait(n->ledger_dir, &l) == 0) {
        (void)ppn_ledger_export_nodes(l, NULL);
        /* The node's word that it holds the replica: its cosignature of the checkpoint that
         * covers its entry, which the sync passes on to the administrator (handoff_settle).
         * Without the secret (wiped), serve cosigns at its first round. */
        if (!sodium_is_zero(n->id_sk, sizeof(n->id_sk))) {
            int r = ppn_ledger_cosign(l, n->id_sk, (uint64_t)time(NULL));
            if (r < 0)
                fprintf(stderr, "ppn-pair: cannot cosign the checkpoint: %s\n", strerror(-r));
        }
        ppn_ledger_free(l);
    }
    return 0;
}

/* Does the pending ledger hold a checkpoint by the administrator covering our entry? */
static bool pending_covered(ppn_ledger *l, const struct pending *p)
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

/* After a sync of the pending ledger 'l' (result r, report rep): 1 completed (this node is a
 * member; 'l' is freed), 0 still pending, <0 rolled back; 'why' says. */
int pending_judge(const struct node *n, const struct pending *p, ppn_ledger *l, int r,
                  const struct ppn_ledger_sync_report *rep, char *why, size_t why_size)
{
    if (r == -EPROTO && rep->fork && rep->fork_size <= p->index + 1) {
        ppn_ledger_free(l);
        snprintf(why, why_size, "the administrator's signed ledger holds another entry at %llu; this node was not "
                 "recorded, pair again", (unsigned long long)p->index);
        pending_rollback(n, why);
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
        if (pending_finish(n) == 0)
            return 1;
        snprintf(why, why_size, "cannot move the pending ledger into place");
        return 0;
    }
    if (rep->their_size <= p->index) {
        snprintf(why, why_size, "the administrator's signed ledger ends at %llu, before this node's entry %llu",
                 (unsigned long long)rep->their_size, (unsigned long long)p->index);
        if (wall_ms() >= p->rollback_at_ms) {
            char text[600];
            snprintf(text, sizeof(text), "the administrator %s did not record this node (%s); pair again",
                     p->admin_hostname, why);
            snprintf(why, why_size, "%s", text);
            pending_rollback(n, why);
            return -ENOENT;
        }
    } else {
        snprintf(why, why_size, "not yet covered by a checkpoint");
    }
    return 0;
}

/* Applies a sync answer (the final part) to the pending ledger, then as pending_judge. */
int pending_apply_answer(const struct node *n, const struct pending *p, const uint8_t *ans, size_t len,
                         char *why, size_t why_size)
{
    ppn_ledger *l = NULL;
    int r = ledger_open_write_wait(p->ledger_dir, &l);
    if (r < 0) {
        snprintf(why, why_size, "cannot open the pending ledger: %s", strerror(-r));
        return 0;
    }
    struct ppn_ledger_sync_report rep;
    r = ppn_ledger_sync_apply(l, ans, len, PPN_LEDGER_SYNC_ANSWER_MAX, &rep);
    return pending_judge(n, p, l, r, &rep, why, why_size);
}

/* Past its bound, a pending state rolls back (called by status, join, sync). 1 rolled back. */
int pending_expire(const struct node *n)
{
    struct pending p;
    int r = pending_load(n, &p);
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    if (r == -ENOENT) {
        /* a pending directory without its info: left by a crash before the acknowledgement
         * (older than any window, so that a ceremony writing it right now is left alone) */
        struct stat st;
        if (stat(dir, &st) == 0 && (uint64_t)st.st_mtime * 1000 + 3600ull * 1000 < wall_ms()) {
            remove_flat_dir(ledger);
            remove_flat_dir(dir);
        }
        return 0;
    }
    if (r < 0 || wall_ms() < p.rollback_at_ms)
        return 0;
    char why[512];
    snprintf(why, sizeof(why),
             "the administrator %s did not record this node: nothing completed the hand-off of entry %llu before "
             "its bound; pair again",
             p.admin_hostname, (unsigned long long)p.index);
    pending_rollback(n, why);
    return 1;
}

/* One line for 'status': the pairing state of this node (never NULL). */
void pairing_state(const struct node *n, char *state, size_t ssize, char *text, size_t tsize)
{
    struct pending p;
    char note[PATH_MAX];
    snprintf(note, sizeof(note), "%s/not-admitted", n->dir);
    if (access(n->ledger_dir, F_OK) == 0) {
        snprintf(state, ssize, "member");
        snprintf(text, tsize, "member: this node holds the ledger");
    } else if (pending_load(n, &p) == 0) {
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

static void handoff_path(const struct node *n, const uint8_t id[32], char *buf, size_t size)
{
    char hex[65];
    sodium_bin2hex(hex, sizeof(hex), id, 16);
    if (snprintf(buf, size, "%s/handoff/%s", n->dir, hex) >= (int)size)
        buf[0] = 0;
}

/* The line 'status' shows, then "entry <index> <identity key, base64>": what handoff_settle
 * looks for in the cosignatures. */
static int handoff_record(const struct node *n, const uint8_t id[32], uint64_t index, const char *text)
{
    char dir[PATH_MAX], path[PATH_MAX], b64[PPN_CRYPTO_KEY_B64_LEN + 1], rec[1000];
    snprintf(dir, sizeof(dir), "%s/handoff", n->dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -errno;
    handoff_path(n, id, path, sizeof(path));
    ppn_crypto_key_to_base64(id, b64);
    snprintf(rec, sizeof(rec), "%.*s\nentry %llu %s\n", (int)strcspn(text, "\n"), text, (unsigned long long)index,
             b64);
    return write_atomic(path, rec);
}

static void handoff_done(const struct node *n, const uint8_t id[32])
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

/* The administrator's signal that a hand-off left unconfirmed completed later (through the
 * network sync): the node's cosignature of a checkpoint covering its entry, passed on by the
 * sync.  Each such record is removed, and fn is called with a line saying so. */
void handoff_settle(const struct node *n, ppn_ledger *l, void (*fn)(void *ud, const char *line), void *ud)
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
        char p[PATH_MAX + 300], line[600], rec[200] = "", b64[64] = "";
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        if (!fgets(line, sizeof(line), f) || !fgets(rec, sizeof(rec), f))
            rec[0] = 0;
        fclose(f);
        unsigned long long index;
        uint8_t id[32];
        struct ppn_ledger_member m;
        if (sscanf(rec, "entry %llu %63s", &index, b64) != 2 ||
            ppn_crypto_key_from_base64(b64, strlen(b64), id) < 0) {
            /* a record of an older ppn-pair: the member whose key the file is named after */
            bool found = false;
            for (size_t i = 0; !found && i < ppn_ledger_member_count(l); i++) {
                char hex[65];
                if (ppn_ledger_member_get(l, i, &m) < 0)
                    continue;
                sodium_bin2hex(hex, sizeof(hex), m.identity, 16);
                if ((found = strcmp(hex, e->d_name) == 0)) {
                    memcpy(id, m.identity, 32);
                    index = m.index;
                }
            }
            if (!found)
                continue;
        }
        uint64_t size = handoff_cosigned(l, id, index);
        if (!size)
            continue;
        const char *name = "the node";
        if (ppn_ledger_member_find(l, id, &m) == 0)
            name = m.hostname;
        char text[700];
        snprintf(text, sizeof(text),
                 "handoff: %.250s completed at entry %llu: its cosignature of the checkpoint of size %llu reached "
                 "this node",
                 name, index, (unsigned long long)size);
        if (unlink(p) == 0) {
            fsync_dir(dir);
            fn(ud, text);
        }
    }
    closedir(d);
}

/* Calls fn for each hand-off line (status). */
void handoff_list(const struct node *n, void (*fn)(void *ud, const char *line), void *ud)
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
        char p[PATH_MAX + 300], line[600];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        if (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = 0;
            fn(ud, line);
        }
        fclose(f);
    }
    closedir(d);
}

/* ---- messages inside the channel ---- */

static int send_msg(ppn_crypto_session *s, int fd, uint8_t type, const void *a, size_t alen, const void *b,
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
        r = ppn_crypto_session_flush_fd(s, fd, handoff_left_ms(deadline));
    return r;
}

/* An authenticated refusal: 'E', errno (4 bytes), a sentence. */
static int send_refusal(ppn_crypto_session *s, int fd, int err, const char *why, uint64_t deadline)
{
    uint8_t e[4];
    put_be32(e, (uint32_t)-err);
    return send_msg(s, fd, 'E', e, 4, why, strlen(why), deadline);
}

static void refusal_text(const uint8_t *m, size_t len, char *buf, size_t size, int *err)
{
    *err = len >= 5 ? -(int)get_be32(m + 1) : -EPROTO;
    size_t tl = len > 5 ? len - 5 : 0;
    if (tl >= size)
        tl = size - 1;
    for (size_t i = 0; i < tl; i++)
        buf[i] = (m[5 + i] >= 0x20 && m[5 + i] < 0x7f) ? (char)m[5 + i] : '?';
    buf[tl] = 0;
}

static const char *io_reason(int r)
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

int handoff_admin(ppn_crypto_session *s, int fd, const struct node *n, ppn_ledger *l,
                  const ppn_crypto_node_record *peer, uint64_t deadline, const char *ifname, unsigned port)
{
    struct ppn_ledger_member existing;
    if (ppn_ledger_member_find(l, peer->identity_public, &existing) == 0) {
        char why[700];
        snprintf(why, sizeof(why), "'%s' is already a member (mesh address %s); nothing recorded", existing.hostname,
                 existing.mesh);
        (void)send_refusal(s, fd, -EEXIST, why, deadline);
        return tool_error("%s", why);
    }
    char addr[64];
    int r = mesh_allocate(l, peer->address, addr, sizeof(addr));
    if (r < 0)
        return tool_fail("allocate a mesh address in", ppn_ledger_mesh_range(l), r);
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_NODE_JOIN;
    memcpy(e.subject, peer->identity_public, 32);
    memcpy(e.wg_key, peer->wg_public, 32);
    snprintf(e.mesh, sizeof(e.mesh), "%s", addr);
    snprintf(e.endpoint, sizeof(e.endpoint), "%.255s", peer->endpoint);
    snprintf(e.hostname, sizeof(e.hostname), "%s", peer->hostname);
    uint8_t cand[PPN_LEDGER_ENTRY_MAX];
    size_t clen;
    r = ppn_ledger_prepare(l, &e, n->id_sk, cand, sizeof(cand), &clen);
    if (r < 0) {
        const char *why = ppn_ledger_last_error(l);
        (void)send_refusal(s, fd, r, why[0] ? why : strerror(-r), deadline);
        return why[0] ? tool_error("Failed to admit '%s': %s", peer->hostname, why)
                      : tool_fail("prepare the node-join entry in", n->ledger_dir, r);
    }
    uint64_t index = ppn_ledger_size(l);
    uint8_t *bundle = NULL;
    size_t blen = 0;
    r = ppn_ledger_bundle_build(l, &bundle, &blen);
    if (r < 0)
        return tool_fail("build the replica of", n->ledger_dir, r);
    if (1 + 4 + clen + blen > PPN_CRYPTO_SESSION_RECORD_MAX) {
        free(bundle);
        (void)send_refusal(s, fd, -E2BIG, "the replica is larger than one record of the session", deadline);
        return tool_error("Failed to send the replica: %zu bytes, more than one record of the session (%u)", blen,
                          PPN_CRYPTO_SESSION_RECORD_MAX);
    }
    uint8_t *head = malloc(8 + clen);
    if (!head) {
        free(bundle);
        return tool_fail("send", "the replica", -ENOMEM);
    }
    /* how long this side may still append: the node's roll-back bound starts from it */
    uint64_t left = handoff_left_ms(deadline);
    put_be32(head, (uint32_t)(left > UINT32_MAX ? UINT32_MAX : left));
    put_be32(head + 4, (uint32_t)clen);
    memcpy(head + 8, cand, clen);
    r = send_msg(s, fd, 'R', head, 8 + clen, bundle, blen, deadline);
    free(head);
    free(bundle);
    if (r < 0)
        return tool_error("Failed to send the replica to '%s': %s; nothing recorded", peer->hostname, io_reason(r));
    printf("sent\treplica of %llu entries and the prepared entry %llu\n", (unsigned long long)index,
           (unsigned long long)index);
    fflush(stdout);

    uint8_t *m = NULL;
    size_t mlen = 0;
    r = ppn_crypto_session_recv_fd(s, fd, handoff_left_ms(deadline), &m, &mlen);
    if (r < 0)
        return tool_error("Failed to admit '%s': it did not confirm the replica (%s); nothing recorded, the node "
                          "rolls back by itself",
                          peer->hostname, io_reason(r));
    if (mlen >= 1 && m[0] == 'E') {
        char why[300];
        int err;
        refusal_text(m, mlen, why, sizeof(why), &err);
        free(m);
        return tool_error("Failed to admit '%s': the joining node refused the replica: %s (%s); nothing recorded",
                          peer->hostname, why, strerror(-err));
    }
    struct ppn_ledger_sync_request q;
    if (mlen < 1 || m[0] != 'K' || ppn_ledger_sync_request_decode(m + 1, mlen - 1, &q) < 0 || q.size != index + 1) {
        free(m);
        return tool_error("Failed to admit '%s': its acknowledgement is not one (nothing recorded)", peer->hostname);
    }
    uint8_t request[PPN_LEDGER_SYNC_REQUEST_MAX];
    size_t qlen = mlen - 1;
    memcpy(request, m + 1, qlen);
    free(m);

    test_stop("before-append");
    char line[600];
    snprintf(line, sizeof(line),
             "handoff: %s being recorded at entry %llu (%s), not confirmed by the node; unless the ledger lacks "
             "it, the node completes through sync from this node once a checkpoint covers it (the next admit "
             "signs one)\n",
             peer->hostname, (unsigned long long)index, addr);
    if ((r = handoff_record(n, peer->identity_public, index, line)) < 0) {
        (void)send_refusal(s, fd, r, "the administrator cannot record the hand-off", deadline);
        return tool_fail("record the hand-off in", n->dir, r);
    }
    const uint8_t *pp[1] = {cand};
    uint64_t got;
    r = ppn_ledger_append_signed(l, pp, &clen, 1, &got);
    if (r < 0) {
        const char *why = ppn_ledger_last_error(l);
        handoff_done(n, peer->identity_public);
        (void)send_refusal(s, fd, r, why[0] ? why : strerror(-r), deadline);
        return tool_error("Failed to record '%s': %s; nothing recorded, the node rolls back", peer->hostname,
                          why[0] ? why : strerror(-r));
    }
    printf("admitted\t%s\t%s\tentry %llu\n", peer->hostname, addr, (unsigned long long)got);
    fflush(stdout);
    test_stop("before-seal");
    if ((r = ledger_seal(l, n)))
        return 1;
    snprintf(line, sizeof(line),
             "handoff: %s admitted at entry %llu (%s) has not confirmed the final part; it completes through sync "
             "from this node\n",
             peer->hostname, (unsigned long long)got, addr);
    if ((r = handoff_record(n, peer->identity_public, got, line)) < 0)
        return tool_fail("record the hand-off in", n->dir, r);

    test_stop("before-final");
    uint8_t *ans = NULL;
    size_t alen = 0;
    r = ppn_ledger_sync_answer(l, request, qlen, PPN_CRYPTO_SESSION_RECORD_MAX - 1, &ans, &alen);
    if (r == 0) {
        r = send_msg(s, fd, 'F', ans, alen, NULL, 0, deadline);
        free(ans);
    }
    if (r == 0)
        r = ppn_crypto_session_recv_fd(s, fd, handoff_left_ms(deadline), &m, &mlen);
    if (r == 0 && (mlen != 1 || m[0] != 'D')) {
        r = -EPROTO;
    }
    if (r == 0)
        free(m);
    if (r < 0)
        return tool_error("'%s' is recorded at entry %llu but did not confirm the final part (%s): it completes "
                          "through sync from this node's mesh address",
                          peer->hostname, (unsigned long long)got, io_reason(r));
    handoff_done(n, peer->identity_public);
    printf("confirmed\t%s\n", peer->hostname);
    fflush(stdout);
    (void)ifname;
    (void)port;
    return 0;
}

/* ---- the new node ---- */

struct accept_ctx {
    const ppn_crypto_node_record *admin;
    char why[256];
};

static int accept_replica(void *userdata, ppn_ledger *l, char *why, size_t why_size)
{
    const struct accept_ctx *c = userdata;
    struct ppn_ledger_member m;
    if (ppn_ledger_member_find(l, c->admin->identity_public, &m) < 0 ||
        memcmp(m.wg_key, c->admin->wg_public, 32) != 0) {
        snprintf(why, why_size, "it does not hold the administrator as the member the ceremony showed");
        return -EPROTO;
    }
    if (ppn_ledger_has_capability(l, c->admin->identity_public, PPN_LEDGER_CAP_NODE_ADMIT, NULL) <= 0) {
        snprintf(why, why_size, "the ceremony's administrator may not admit nodes in it");
        return -EPERM;
    }
    return 0;
}

/* Verifies 'R' and stores the pending state.  0, or a negative errno with 'why'. */
static int node_verify_store(const struct node *n, const ppn_crypto_node_record *admin, const uint8_t *m,
                             size_t mlen, unsigned window_s, struct pending *p, char *why, size_t why_size)
{
    if (mlen < 9 || get_be32(m + 5) == 0 || get_be32(m + 5) > PPN_LEDGER_ENTRY_MAX ||
        9 + (size_t)get_be32(m + 5) > mlen) {
        snprintf(why, why_size, "the administrator's message is not a replica");
        return -EBADMSG;
    }
    uint64_t admin_left_ms = get_be32(m + 1);
    size_t clen = get_be32(m + 5);
    const uint8_t *cand = m + 9, *bundle = m + 9 + clen;
    size_t blen = mlen - 9 - clen;
    char dir[PATH_MAX], info[PATH_MAX], ledger[PATH_MAX];
    pending_paths(n, dir, info, ledger);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        snprintf(why, why_size, "cannot create '%.200s': %s", dir, strerror(errno));
        return -errno;
    }
    struct accept_ctx ctx = {.admin = admin};
    struct ppn_ledger_bundle_report rep;
    int r = ppn_ledger_bundle_install(bundle, blen, ledger, admin->identity_public, accept_replica, &ctx, &rep);
    if (r < 0) {
        snprintf(why, why_size, "%s", rep.why);
        remove_flat_dir(dir);
        return r;
    }
    ppn_ledger *l = NULL;
    r = ledger_open_write_wait(ledger, &l);
    struct ppn_ledger_entry e;
    if (r == 0 && (r = ppn_ledger_entry_decode(cand, clen, &e)) < 0)
        snprintf(why, why_size, "the prepared entry is not a signed entry");
    else if (r == 0 && (e.type != PPN_LEDGER_ENTRY_NODE_JOIN || memcmp(e.author, admin->identity_public, 32) ||
                        memcmp(e.subject, n->id_pk, 32) || memcmp(e.wg_key, n->wg_pk, 32))) {
        snprintf(why, why_size,
                 "the prepared entry does not admit this node with its WireGuard key by the ceremony's "
                 "administrator");
        r = -EPROTO;
    } else if (r == 0 && (r = ppn_ledger_check_signed(l, cand, clen)) < 0)
        snprintf(why, why_size, "the prepared entry does not apply on the replica: %s", ppn_ledger_last_error(l));
    else if (r == 0) {
        const uint8_t *pp[1] = {cand};
        r = ppn_ledger_append_signed(l, pp, &clen, 1, NULL); /* durable before the acknowledgement */
        if (r < 0)
            snprintf(why, why_size, "storing the prepared entry failed: %s", ppn_ledger_last_error(l));
    } else if (why[0] == 0)
        snprintf(why, why_size, "cannot open the replica: %s", strerror(-r));
    if (r == 0) {
        char b64[PPN_CRYPTO_KEY_B64_LEN + 1];
        ppn_crypto_key_to_base64(admin->identity_public, b64);
        memset(p, 0, sizeof(*p));
        snprintf(p->admin_b64, sizeof(p->admin_b64), "%s", b64);
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

int handoff_node(ppn_crypto_session *s, int fd, const struct node *n, const ppn_crypto_node_record *admin,
                 uint64_t deadline, unsigned window_s, const char *ifname, unsigned port)
{
    uint8_t *m = NULL;
    size_t mlen = 0;
    int r = ppn_crypto_session_recv_fd(s, fd, handoff_left_ms(deadline), &m, &mlen);
    if (r < 0)
        return tool_error("Failed to receive the administrator's replica: %s; nothing stored", io_reason(r));
    if (mlen >= 1 && m[0] == 'E') {
        char why[300];
        int err;
        refusal_text(m, mlen, why, sizeof(why), &err);
        free(m);
        return tool_error("Failed to join: the administrator refused: %s", why);
    }
    struct pending p;
    char why[400] = "";
    r = mlen >= 1 && m[0] == 'R' ? node_verify_store(n, admin, m, mlen, window_s, &p, why, sizeof(why))
                                 : (snprintf(why, sizeof(why), "the administrator's message is not a replica"),
                                    -EBADMSG);
    free(m);
    if (r < 0) {
        (void)send_refusal(s, fd, r, why, deadline);
        return tool_error("Failed to accept the administrator's ledger: %s", why);
    }
    printf("pending\tadmitted by %s at entry %llu, verified and stored\n", p.admin_hostname,
           (unsigned long long)p.index);
    fflush(stdout);

    test_stop("before-ack");
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX];
    size_t ql = 0;
    ppn_ledger *l = NULL;
    r = ppn_ledger_open(p.ledger_dir, 0, &l);
    if (r == 0)
        r = ppn_ledger_sync_request(l, q, sizeof(q), &ql);
    ppn_ledger_free(l);
    if (r == 0)
        r = send_msg(s, fd, 'K', q, ql, NULL, 0, deadline);
    if (r == 0)
        r = ppn_crypto_session_recv_fd(s, fd, handoff_left_ms(deadline), &m, &mlen);
    int done = 0;
    if (r == 0 && mlen >= 1 && m[0] == 'E') {
        int err;
        refusal_text(m, mlen, why, sizeof(why), &err);
        free(m);
        char text[500];
        snprintf(text, sizeof(text), "the administrator did not record this node (%s); pair again", why);
        pending_rollback(n, text);
        return tool_error("Failed to join: %s", text);
    }
    if (r == 0 && mlen >= 1 && m[0] == 'F') {
        done = pending_apply_answer(n, &p, m + 1, mlen - 1, why, sizeof(why));
        free(m);
        if (done < 0)
            return tool_error("Failed to join: %s; rolled back, pair again", why);
        if (done == 1)
            (void)send_msg(s, fd, 'D', NULL, 0, NULL, 0, deadline);
    } else if (r == 0) {
        free(m);
        snprintf(why, sizeof(why), "the final part is not one");
    } else {
        snprintf(why, sizeof(why), "%s", io_reason(r));
    }
    if (done != 1) {
        if (ifname) { /* the tunnel to the administrator, so that the sync can complete */
            struct node pn = *n;
            snprintf(pn.ledger_dir, sizeof(pn.ledger_dir), "%s", p.ledger_dir);
            (void)mesh_apply(&pn, ifname, port, false);
        }
        return tool_error("Failed to complete the hand-off (%s): this node is pending; it completes through "
                          "'ppn-pair sync' from %s, or rolls back by itself",
                          why, p.admin_mesh);
    }
    ppn_ledger *ml = NULL;
    struct ppn_ledger_member me;
    if (ppn_ledger_open(n->ledger_dir, 0, &ml) == 0 && ppn_ledger_member_find(ml, n->id_pk, &me) == 0)
        printf("joined\t%s\t%s\n", ppn_ledger_origin(ml), me.mesh);
    ppn_ledger_free(ml);
    return 0;
}
