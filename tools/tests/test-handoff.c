/* The pairing hand-off (tools/glue/handoff.h) between two real sides: libppn-crypto sessions
 * (the ceremony run in memory, the hand-off over a socketpair, the administrator in a
 * thread), real ledger directories on disk.  Each cut leaves the node pending; it completes
 * from a sync answer, or rolls back when the administrator's ledger has another entry at its
 * index, or past its bound.  A garbled or forged channel record is refused with nothing
 * stored.  The state text 'ppn-pair status' prints is checked for each. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"
#include "ppn-common.h"

struct side {
    char dir[PATH_MAX - 32], ledger[PATH_MAX];
    uint8_t id_pk[32], id_sk[64], wg_pk[32], wg_sk[32];
    struct glue_node g;
    ppn_crypto_node_record rec;
    ppn_crypto_session *s;
    int fd;
};

static char root[64];
static struct side A, N; /* the administrator, the new node */

#define ORIGIN "handoff.example/test"

static void side_init(struct side *x, const char *name, const char *address)
{
    memset(x, 0, sizeof(*x));
    snprintf(x->dir, sizeof(x->dir), "%s/%s", root, name);
    ck_assert_int_eq(mkdir(x->dir, 0700), 0);
    snprintf(x->ledger, sizeof(x->ledger), "%s/ledger", x->dir);
    crypto_sign_keypair(x->id_pk, x->id_sk);
    randombytes_buf(x->wg_sk, 32);
    crypto_scalarmult_base(x->wg_pk, x->wg_sk);
    x->g = (struct glue_node){.dir = x->dir, .ledger_dir = x->ledger, .id_pk = x->id_pk, .id_sk = x->id_sk,
                              .wg_pk = x->wg_pk};
    memcpy(x->rec.identity_public, x->id_pk, 32);
    memcpy(x->rec.wg_public, x->wg_pk, 32);
    snprintf(x->rec.hostname, sizeof(x->rec.hostname), "%s", name);
    snprintf(x->rec.address, sizeof(x->rec.address), "%s", address);
}

/* Moves the ceremony's bytes both ways in memory until nothing moves. */
static void pump(void)
{
    for (int round = 0; round < 100; round++) {
        bool moved = false;
        for (int dir = 0; dir < 2; dir++) {
            ppn_crypto_session *from = dir ? N.s : A.s, *to = dir ? A.s : N.s;
            uint8_t buf[8192];
            ssize_t k = ppn_crypto_session_take_output(from, buf, sizeof(buf));
            ck_assert_int_ge(k, 0);
            if (k > 0) {
                ck_assert_int_eq(ppn_crypto_session_feed(to, buf, (size_t)k), 0);
                moved = true;
            }
        }
        if (!moved)
            return;
    }
    ck_abort_msg("the ceremony did not settle");
}

/* The genesis administrator with a ledger (itself a member at 10.8.0.1), a new node, and a
 * session between them that reached DONE; the hand-off then runs over a socketpair. */
static void setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    snprintf(root, sizeof(root), "/tmp/ppn-handoff-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    side_init(&A, "admin", "10.8.0.1/24");
    side_init(&N, "node", "10.8.0.7/24");
    ppn_ledger *l = NULL;
    ck_assert_int_eq(ppn_ledger_create(A.ledger, ORIGIN, "10.8.0.0/24", A.id_sk, &l), 0);
    ck_assert_int_eq(ppn_ledger_node_join(l, A.id_pk, A.wg_pk, "10.8.0.1/24", "", "admin", A.id_sk, NULL), 0);
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    ck_assert_int_eq(ppn_ledger_checkpoint(l, A.id_sk, note, sizeof(note), &len), 0);
    ppn_ledger_free(l);

    char code[PPN_CRYPTO_CODE_STRING_SIZE];
    ck_assert_int_gt(ppn_crypto_code_generate(8, PPN_CRYPTO_CODE_CHECK, code, sizeof(code)), 0);
    ck_assert_int_eq(ppn_crypto_session_new(&A.s, PPN_CRYPTO_ROLE_INITIATOR, code, PPN_CRYPTO_CODE_CHECK, &A.rec,
                                            0), 0);
    ck_assert_int_eq(ppn_crypto_session_new(&N.s, PPN_CRYPTO_ROLE_RESPONDER, code, PPN_CRYPTO_CODE_CHECK, &N.rec,
                                            0), 0);
    pump();
    ck_assert_int_eq(ppn_crypto_session_confirm(A.s, true), 0);
    ck_assert_int_eq(ppn_crypto_session_confirm(N.s, true), 0);
    pump();
    ck_assert_int_eq(ppn_crypto_session_get_state(A.s), PPN_CRYPTO_SESSION_DONE);
    ck_assert_int_eq(ppn_crypto_session_get_state(N.s), PPN_CRYPTO_SESSION_DONE);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    A.fd = sv[0], N.fd = sv[1];
}

static void teardown(void)
{
    ppn_crypto_session_free(A.s);
    ppn_crypto_session_free(N.s);
    if (A.fd >= 0)
        close(A.fd);
    if (N.fd >= 0)
        close(N.fd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- one side's run: hooks that log progress and cut at a step ---- */

struct run {
    const char *cut; /* the step to stop at, or NULL */
    char log[2048];  /* progress lines, each ended by '\n' */
    int r;
    char why[GLUE_HANDOFF_WHY_MAX];
    struct glue_pending p;
};

static void on_progress(void *ud, const char *line)
{
    struct run *x = ud;
    size_t used = strlen(x->log);
    snprintf(x->log + used, sizeof(x->log) - used, "%s\n", line);
}

static int on_step(void *ud, const char *step)
{
    struct run *x = ud;
    on_progress(ud, step);
    return x->cut && !strcmp(x->cut, step) ? -ECANCELED : 0;
}

static struct glue_handoff_hooks hooks_for(struct run *x)
{
    return (struct glue_handoff_hooks){.progress = on_progress, .step = on_step, .userdata = x};
}

static uint64_t deadline(void)
{
    return ppnc_now_mono_ms() + 20000;
}

static uint64_t wall_ms(void)
{
    return ppnc_now_real_ns() / 1000000;
}

/* The administrator's side in a thread, as ppn-pair admit runs it; its end closes its socket
 * (a process that stopped there). */
static void *admin_main(void *arg)
{
    struct run *x = arg;
    ppn_ledger *l = NULL;
    x->r = glue_ledger_open_write_wait(A.ledger, &l);
    if (x->r == 0) {
        struct glue_handoff_hooks h = hooks_for(x);
        x->r = glue_handoff_admin(A.s, A.fd, &A.g, l, &N.rec, deadline(), &h, x->why);
    }
    ppn_ledger_free(l);
    close(A.fd);
    A.fd = -1;
    return NULL;
}

/* Runs both sides: 'acut' / 'ncut' the steps at which each stops (NULL: none). */
static void run_both(struct run *ar, const char *acut, struct run *nr, const char *ncut)
{
    memset(ar, 0, sizeof(*ar));
    memset(nr, 0, sizeof(*nr));
    ar->cut = acut, nr->cut = ncut;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, admin_main, ar), 0);
    struct glue_handoff_hooks h = hooks_for(nr);
    nr->r = glue_handoff_node(N.s, N.fd, &N.g, &A.rec, deadline(), 1, &h, &nr->p, nr->why);
    close(N.fd); /* the node's process ends */
    N.fd = -1;
    ck_assert_int_eq(pthread_join(t, NULL), 0);
}

/* ---- what the tests look at ---- */

static void state_is(const struct side *x, const char *state, const char *text_prefix)
{
    char st[32], text[1024];
    glue_pairing_state(&x->g, st, sizeof(st), text, sizeof(text));
    ck_assert_str_eq(st, state);
    ck_assert_msg(!strncmp(text, text_prefix, strlen(text_prefix)), "state text '%s', expected '%s...'", text,
                  text_prefix);
}

static uint64_t ledger_size(const char *dir)
{
    ppn_ledger *l = NULL;
    ck_assert_int_eq(ppn_ledger_open(dir, 0, &l), 0);
    uint64_t n = ppn_ledger_size(l);
    ppn_ledger_free(l);
    return n;
}

static bool exists(const char *dir, const char *name)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static void collect(void *ud, const char *line)
{
    char *buf = ud;
    size_t used = strlen(buf);
    snprintf(buf + used, 2048 - used, "%s\n", line);
}

/* The administrator's hand-off records as status lists them. */
static void admin_list(char buf[2048])
{
    buf[0] = 0;
    glue_handoff_list(&A.g, collect, buf);
}

/* One sync of the node's pending replica from 'from' (what ppn-pair sync does), judged at
 * wall-clock 'now'. */
static int sync_pending_from(const char *from, uint64_t now, char *why, size_t why_size)
{
    struct glue_pending p;
    ck_assert_int_eq(glue_pending_load(&N.g, &p), 0);
    ppn_ledger *l = NULL, *src = NULL;
    ck_assert_int_eq(ppn_ledger_open(p.ledger_dir, PPN_LEDGER_OPEN_WRITE, &l), 0);
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX], *ans = NULL;
    size_t ql = 0, alen = 0;
    ck_assert_int_eq(ppn_ledger_sync_request(l, q, sizeof(q), &ql), 0);
    ck_assert_int_eq(ppn_ledger_open(from, 0, &src), 0);
    ck_assert_int_eq(ppn_ledger_sync_answer(src, q, ql, PPN_LEDGER_SYNC_ANSWER_MAX, &ans, &alen), 0);
    ppn_ledger_free(src);
    struct ppn_ledger_sync_report rep;
    memset(&rep, 0, sizeof(rep));
    int r = ppn_ledger_sync_apply(l, ans, alen, PPN_LEDGER_SYNC_ANSWER_MAX, &rep);
    free(ans);
    return glue_pending_judge(&N.g, &p, l, r, &rep, now, why, why_size);
}

/* The administrator pulls from the node's ledger (its cosignature comes with the answer). */
static void admin_pull_from_node(void)
{
    ppn_ledger *al = NULL, *nl = NULL;
    ck_assert_int_eq(ppn_ledger_open(A.ledger, PPN_LEDGER_OPEN_WRITE, &al), 0);
    ck_assert_int_eq(ppn_ledger_open(N.ledger, 0, &nl), 0);
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX], *ans = NULL;
    size_t ql = 0, alen = 0;
    ck_assert_int_eq(ppn_ledger_sync_request(al, q, sizeof(q), &ql), 0);
    ck_assert_int_eq(ppn_ledger_sync_answer(nl, q, ql, PPN_LEDGER_SYNC_ANSWER_MAX, &ans, &alen), 0);
    struct ppn_ledger_sync_report rep;
    ck_assert_int_eq(ppn_ledger_sync_apply(al, ans, alen, PPN_LEDGER_SYNC_ANSWER_MAX, &rep), 0);
    free(ans);
    ppn_ledger_free(nl);
    ppn_ledger_free(al);
}

static void admin_seal(void)
{
    ppn_ledger *l = NULL;
    ck_assert_int_eq(ppn_ledger_open(A.ledger, PPN_LEDGER_OPEN_WRITE, &l), 0);
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    ck_assert_int_eq(ppn_ledger_checkpoint(l, A.id_sk, note, sizeof(note), &len), 0);
    ppn_ledger_free(l);
}

/* What the next admit does first: this administrator's record, the ledger sealed. */
static void admin_ready_ok(void)
{
    ppn_ledger *l = NULL;
    ppn_crypto_node_record local;
    char why[GLUE_HANDOFF_WHY_MAX];
    ck_assert_int_eq(ppn_ledger_open(A.ledger, PPN_LEDGER_OPEN_WRITE, &l), 0);
    ck_assert_msg(glue_handoff_admin_ready(&A.g, l, &local, why) == 0, "%s", why);
    ck_assert(!memcmp(&local, &A.rec, sizeof(local))); /* the record the ceremony sent */
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    uint64_t size = 0;
    uint8_t r[32];
    ck_assert_int_eq(ppn_ledger_checkpoint_get(l, note, sizeof(note), &len), 0);
    ck_assert_int_eq(ppn_ledger_checkpoint_verify(note, len, ORIGIN, A.id_pk, &size, r), 0);
    ck_assert_uint_eq(size, ppn_ledger_size(l));
    ppn_ledger_free(l);
}

/* Only an administrator may admit; its record is what its ledger says of it. */
START_TEST(test_admin_ready)
{
    admin_ready_ok();
    ppn_ledger *l = NULL;
    ppn_crypto_node_record local;
    char why[GLUE_HANDOFF_WHY_MAX], want[PATH_MAX + 100];
    ck_assert_int_eq(ppn_ledger_open(A.ledger, PPN_LEDGER_OPEN_WRITE, &l), 0);
    ck_assert_int_eq(glue_handoff_admin_ready(&N.g, l, &local, why), -EPERM); /* not even a member */
    snprintf(want, sizeof(want), "this node is not an administrator of the mesh in '%s'", N.ledger);
    ck_assert_str_eq(why, want);
    /* a member without node.admit */
    ck_assert_int_eq(ppn_ledger_node_join(l, N.id_pk, N.wg_pk, "10.8.0.9/24", "", "node", A.id_sk, NULL), 0);
    ppn_ledger_free(l);
    admin_ready_ok(); /* sealed by the administrator */
    ck_assert_int_eq(ppn_ledger_open(A.ledger, PPN_LEDGER_OPEN_WRITE, &l), 0);
    why[0] = 0;
    ck_assert_int_eq(glue_handoff_admin_ready(&N.g, l, &local, why), -EPERM);
    ck_assert_str_eq(why, want);
    ppn_ledger_free(l);
}
END_TEST

/* The node is a member of the administrator's mesh, with its record at entry 2. */
static void node_is_member(void)
{
    state_is(&N, "member", "member: this node holds the ledger");
    ck_assert(!exists(N.dir, "pending"));
    ck_assert(!exists(N.dir, "not-admitted"));
    ppn_ledger *l = NULL;
    ck_assert_int_eq(ppn_ledger_open(N.ledger, 0, &l), 0);
    struct ppn_ledger_member m;
    ck_assert_int_eq(ppn_ledger_member_find(l, N.id_pk, &m), 0);
    ck_assert_str_eq(m.mesh, "10.8.0.7/24"); /* its proposal, free in the range */
    ck_assert_uint_eq(m.index, 2);
    /* its word that it holds the replica, for the administrator */
    struct ppn_ledger_cosignature cs[PPN_LEDGER_COSIGNATURES_MAX];
    size_t count = 0;
    ck_assert_int_eq(ppn_ledger_cosignatures(l, cs, PPN_LEDGER_COSIGNATURES_MAX, &count), 0);
    bool mine = false;
    for (size_t i = 0; i < count; i++)
        mine |= !memcmp(cs[i].cosigner, N.id_pk, 32) && cs[i].size == 3;
    ck_assert_msg(mine, "the node did not cosign the checkpoint covering its entry");
    ppn_ledger_free(l);
}

/* The administrator settles the hand-off once it holds the node's cosignature. */
static void admin_settles(void)
{
    char buf[2048] = "";
    ppn_ledger *l = NULL;
    ck_assert_int_eq(ppn_ledger_open(A.ledger, 0, &l), 0);
    glue_handoff_settle(&A.g, l, collect, buf);
    ppn_ledger_free(l);
    ck_assert_str_eq(buf, ""); /* nothing yet: the node's cosignature is not here */
    admin_pull_from_node();
    ck_assert_int_eq(ppn_ledger_open(A.ledger, 0, &l), 0);
    glue_handoff_settle(&A.g, l, collect, buf);
    ppn_ledger_free(l);
    ck_assert_str_eq(buf, "handoff: node completed at entry 2: its cosignature of the checkpoint of size 3 reached "
                          "this node\n");
    admin_list(buf);
    ck_assert_str_eq(buf, "");
}

#define PENDING_TEXT "pending: admitted by admin at entry 2, completing through sync from 10.8.0.1 (ppn-pair sync); " \
                     "rolls back at "

/* Nothing stored on the node: no pending state, no ledger, status says not paired. */
static void node_holds_nothing(void)
{
    ck_assert(!exists(N.dir, "pending"));
    ck_assert(!exists(N.dir, "ledger"));
    state_is(&N, "none", "not paired");
}

/* The administrator stops at 'step': the node is left pending, the administrator's ledger
 * holds 'size' entries. */
static void admin_cut_at(const char *step, uint64_t size)
{
    struct run ar, nr;
    run_both(&ar, step, &nr, NULL);
    ck_assert_int_eq(ar.r, -ECANCELED);
    ck_assert_int_eq(nr.r, 1);
    ck_assert_str_eq(nr.why, "Failed to complete the hand-off (the peer closed the connection): this node is "
                             "pending; it completes through 'ppn-pair sync' from 10.8.0.1, or rolls back by itself");
    ck_assert_str_eq(nr.p.admin_hostname, "admin");
    ck_assert_uint_eq(ledger_size(A.ledger), size);
    state_is(&N, "pending", PENDING_TEXT);
}

/* ---- the tests ---- */

START_TEST(test_success)
{
    state_is(&N, "none", "not paired");
    struct run ar, nr;
    run_both(&ar, NULL, &nr, NULL);
    ck_assert_msg(ar.r == 0, "admin: %s", ar.why);
    ck_assert_msg(nr.r == 0, "node: %s", nr.why);
    ck_assert_str_eq(ar.log, "sent\treplica of 2 entries and the prepared entry 2\nbefore-append\n"
                             "admitted\tnode\t10.8.0.7/24\tentry 2\nbefore-seal\nbefore-final\nconfirmed\tnode\n");
    ck_assert_str_eq(nr.log, "pending\tadmitted by admin at entry 2, verified and stored\nbefore-ack\n"
                             "joined\t" ORIGIN "\t10.8.0.7/24\n");
    node_is_member();
    ck_assert_uint_eq(ledger_size(A.ledger), 3);
    char buf[2048];
    admin_list(buf);
    ck_assert_str_eq(buf, ""); /* confirmed: no record left */
    state_is(&A, "member", "member: this node holds the ledger");
}
END_TEST

/* Admitting a member again is refused on both sides, nothing recorded. */
START_TEST(test_already_member)
{
    ppn_ledger *l = NULL;
    ck_assert_int_eq(ppn_ledger_open(A.ledger, PPN_LEDGER_OPEN_WRITE, &l), 0);
    ck_assert_int_eq(ppn_ledger_node_join(l, N.id_pk, N.wg_pk, "10.8.0.9/24", "", "node", A.id_sk, NULL), 0);
    ppn_ledger_free(l);
    struct run ar, nr;
    run_both(&ar, NULL, &nr, NULL);
    ck_assert_int_eq(ar.r, -EEXIST);
    ck_assert_str_eq(ar.why, "'node' is already a member (mesh address 10.8.0.9/24); nothing recorded");
    ck_assert_int_eq(nr.r, -EEXIST);
    ck_assert_str_eq(nr.why, "Failed to join: the administrator refused: 'node' is already a member (mesh address "
                             "10.8.0.9/24); nothing recorded");
    node_holds_nothing();
    ck_assert_uint_eq(ledger_size(A.ledger), 3);
}
END_TEST

/* Cut before the node's acknowledgement: the administrator records nothing; the node is
 * pending, a sync shows the administrator's ledger ends before its entry, and past the
 * bound it rolls back. */
START_TEST(test_cut_before_ack)
{
    struct run ar, nr;
    run_both(&ar, NULL, &nr, "before-ack");
    ck_assert_int_eq(nr.r, -ECANCELED);
    ck_assert_int_lt(ar.r, 0);
    ck_assert_str_eq(ar.why, "Failed to admit 'node': it did not confirm the replica (the peer closed the "
                             "connection); nothing recorded, the node rolls back by itself");
    ck_assert_uint_eq(ledger_size(A.ledger), 2);
    ck_assert(!exists(A.dir, "handoff"));
    state_is(&N, "pending", PENDING_TEXT);
    ck_assert(!exists(N.dir, "ledger"));

    /* the bound: the administrator's deadline (about 20 s) and 5 s of margin */
    struct glue_pending p;
    ck_assert_int_eq(glue_pending_load(&N.g, &p), 0);
    uint64_t now = wall_ms();
    ck_assert_uint_ge(p.rollback_at_ms, now + 20000);
    ck_assert_uint_le(p.rollback_at_ms, now + 26000);
    ck_assert_int_eq(glue_pending_expire(&N.g, now), 0);
    char why[1024];
    ck_assert_int_eq(sync_pending_from(A.ledger, now, why, sizeof(why)), 0);
    ck_assert_str_eq(why, "the administrator's signed ledger ends at 2, before this node's entry 2");
    state_is(&N, "pending", PENDING_TEXT);
    ck_assert_int_eq(sync_pending_from(A.ledger, p.rollback_at_ms, why, sizeof(why)), -ENOENT);
    ck_assert_str_eq(why, "the administrator admin did not record this node (the administrator's signed ledger "
                          "ends at 2, before this node's entry 2); pair again");
    state_is(&N, "not-admitted", "not admitted: the administrator admin did not record this node (the "
                                 "administrator's signed ledger ends at 2, before this node's entry 2); pair again");
    ck_assert(!exists(N.dir, "pending"));
    ck_assert(!exists(N.dir, "ledger"));
}
END_TEST

/* A node may pair when it is neither a member nor pending; a pending state past its bound
 * rolls back first. */
START_TEST(test_node_ready)
{
    char why[GLUE_HANDOFF_WHY_MAX], want[PATH_MAX + 200];
    ck_assert_int_eq(glue_handoff_node_ready(&N.g, wall_ms(), why), 0);
    struct run ar, nr;
    run_both(&ar, NULL, &nr, "before-ack");
    ck_assert_int_eq(glue_handoff_node_ready(&N.g, wall_ms(), why), -EBUSY);
    ck_assert_str_eq(why, "this node is pending (admitted by admin at entry 2): it completes through 'ppn-pair "
                          "sync' or rolls back by itself; see 'ppn-pair status'");
    struct glue_pending p;
    ck_assert_int_eq(glue_pending_load(&N.g, &p), 0);
    ck_assert_int_eq(glue_handoff_node_ready(&N.g, p.rollback_at_ms, why), 0); /* rolled back */
    state_is(&N, "not-admitted", "not admitted: ");
    ck_assert_int_eq(glue_handoff_node_ready(&A.g, wall_ms(), why), -EEXIST);
    snprintf(want, sizeof(want), "this node already holds a ledger in '%s': it is a member; use 'ppn-pair mesh'",
             A.ledger);
    ck_assert_str_eq(why, want);
}
END_TEST

/* The same cut, and nothing heard at all: past the bound the state rolls back by itself. */
START_TEST(test_expire_past_bound)
{
    struct run ar, nr;
    run_both(&ar, NULL, &nr, "before-ack");
    ck_assert_int_eq(nr.r, -ECANCELED);
    struct glue_pending p;
    ck_assert_int_eq(glue_pending_load(&N.g, &p), 0);
    ck_assert_int_eq(glue_pending_expire(&N.g, p.rollback_at_ms - 1), 0);
    state_is(&N, "pending", PENDING_TEXT);
    ck_assert_int_eq(glue_pending_expire(&N.g, p.rollback_at_ms), 1);
    state_is(&N, "not-admitted", "not admitted: the administrator admin did not record this node: nothing "
                                 "completed the hand-off of entry 2 before its bound; pair again");
    ck_assert(!exists(N.dir, "pending"));
}
END_TEST

/* Cut before the append: nothing recorded; the administrator's ledger then gets another entry
 * at that index, and the node's sync rolls back at once (no waiting for the bound). */
START_TEST(test_cut_before_append_rollback)
{
    admin_cut_at("before-append", 2);
    ck_assert(!exists(A.dir, "handoff"));

    ppn_ledger *l = NULL;
    uint8_t other_id[32], other_sk[64], other_wg[32];
    crypto_sign_keypair(other_id, other_sk);
    randombytes_buf(other_wg, 32);
    ck_assert_int_eq(ppn_ledger_open(A.ledger, PPN_LEDGER_OPEN_WRITE, &l), 0);
    ck_assert_int_eq(ppn_ledger_node_join(l, other_id, other_wg, "10.8.0.20/24", "", "other", A.id_sk, NULL), 0);
    ppn_ledger_free(l);
    admin_seal();
    char why[1024];
    ck_assert_int_eq(sync_pending_from(A.ledger, wall_ms(), why, sizeof(why)), -EPROTO);
    ck_assert_str_eq(why, "the administrator's signed ledger holds another entry at 2; this node was not recorded, "
                          "pair again");
    state_is(&N, "not-admitted", "not admitted: the administrator's signed ledger holds another entry at 2");
    ck_assert(!exists(N.dir, "pending"));
}
END_TEST

/* Cut between the append and its checkpoint: recorded but not sealed; the sync serves only
 * what a checkpoint covers, so the node stays pending until the administrator seals. */
START_TEST(test_cut_before_seal)
{
    admin_cut_at("before-seal", 3);
    char buf[2048];
    admin_list(buf);
    ck_assert_str_eq(buf, "handoff: node being recorded at entry 2 (10.8.0.7/24), not confirmed by the node; unless "
                          "the ledger lacks it, the node completes through sync from this node once a checkpoint "
                          "covers it (the next admit signs one)\n");
    state_is(&N, "pending", PENDING_TEXT);
    char why[1024];
    ck_assert_int_eq(sync_pending_from(A.ledger, wall_ms(), why, sizeof(why)), 0);
    ck_assert_str_eq(why, "the administrator's signed ledger ends at 2, before this node's entry 2");
    state_is(&N, "pending", PENDING_TEXT);
    /* the node's cosignature of the checkpoint before its entry (size 2) settles nothing */
    ppn_ledger *l = NULL;
    ck_assert_int_eq(ppn_ledger_open(A.ledger, PPN_LEDGER_OPEN_WRITE, &l), 0);
    ck_assert_int_eq(ppn_ledger_cosign(l, N.id_sk, (uint64_t)time(NULL)), 0);
    glue_handoff_settle(&A.g, l, collect, buf);
    ppn_ledger_free(l);
    admin_list(buf);
    ck_assert_msg(strstr(buf, "being recorded at entry 2"), "%s", buf);
    /* the next admit seals first */
    admin_ready_ok();
    ck_assert_int_eq(sync_pending_from(A.ledger, wall_ms(), why, sizeof(why)), 1);
    ck_assert_str_eq(why, "");
    node_is_member();
    admin_settles();
}
END_TEST

/* Cut before the final part: recorded and sealed; the node completes from a sync answer, and
 * the administrator settles once it pulls the node's cosignature. */
START_TEST(test_cut_before_final)
{
    admin_cut_at("before-final", 3);
    char buf[2048];
    admin_list(buf);
    ck_assert_str_eq(buf, "handoff: node admitted at entry 2 (10.8.0.7/24) has not confirmed the final part; it "
                          "completes through sync from this node\n");
    state_is(&N, "pending", PENDING_TEXT);
    char why[1024];
    ck_assert_int_eq(sync_pending_from(A.ledger, wall_ms(), why, sizeof(why)), 1);
    node_is_member();
    admin_settles();
}
END_TEST

/* The node takes 'R', then acknowledges with 'payload' instead of its sync request. */
static void ack_with(const uint8_t *payload, size_t len)
{
    struct run ar;
    memset(&ar, 0, sizeof(ar));
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, admin_main, &ar), 0);
    uint8_t *m = NULL;
    size_t mlen = 0;
    ck_assert_int_eq(ppn_crypto_session_recv_fd(N.s, N.fd, 20000, &m, &mlen), 0);
    ck_assert_uint_ge(mlen, 1);
    ck_assert_int_eq(m[0], 'R');
    free(m);
    ck_assert_int_eq(glue_handoff_send(N.s, N.fd, 'K', payload, len, NULL, 0, deadline()), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(ar.r, -EPROTO);
    ck_assert_str_eq(ar.why, "Failed to admit 'node': its acknowledgement is not one (nothing recorded)");
    ck_assert_str_eq(ar.log, "sent\treplica of 2 entries and the prepared entry 2\n");
    ck_assert_uint_eq(ledger_size(A.ledger), 2);
    ck_assert(!exists(A.dir, "handoff"));
}

/* An authenticated acknowledgement that is not one: the administrator appends nothing. */
START_TEST(test_garbled_ack)
{
    static const uint8_t junk[] = {'P', 'P', 'N', 'S', 'Y', 'N', 'Q', '1', 0xff};
    ack_with(junk, sizeof(junk));
}
END_TEST

/* A well-formed sync request, but not from a replica holding the prepared entry (the size the
 * administrator's own ledger has): not an acknowledgement of it. */
START_TEST(test_ack_wrong_size)
{
    ppn_ledger *l = NULL;
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX];
    size_t ql = 0;
    ck_assert_int_eq(ppn_ledger_open(A.ledger, 0, &l), 0);
    ck_assert_int_eq(ppn_ledger_sync_request(l, q, sizeof(q), &ql), 0);
    ppn_ledger_free(l);
    ack_with(q, ql);
}
END_TEST

/* The administrator prepares an entry for another node than the one in the ceremony: the node
 * refuses it (nothing stored) and the administrator records nothing. */
START_TEST(test_entry_for_another_node)
{
    ppn_crypto_node_record real = N.rec;
    uint8_t sk[64];
    crypto_sign_keypair(N.rec.identity_public, sk); /* what the administrator admits */
    struct run ar, nr;
    run_both(&ar, NULL, &nr, NULL);
    N.rec = real;
    ck_assert_int_eq(nr.r, -EPROTO);
    ck_assert_str_eq(nr.why, "Failed to accept the administrator's ledger: the prepared entry does not admit this "
                             "node with its WireGuard key by the ceremony's administrator");
    node_holds_nothing();
    ck_assert_int_eq(ar.r, -EPROTO);
    ck_assert_str_eq(ar.why, "Failed to admit 'node': the joining node refused the replica: the prepared entry does "
                             "not admit this node with its WireGuard key by the ceremony's administrator (Protocol "
                             "error); nothing recorded");
    ck_assert_uint_eq(ledger_size(A.ledger), 2);
    ck_assert(!exists(A.dir, "handoff"));
}
END_TEST

/* An authenticated record that is not a replica: refused with the reason, nothing stored;
 * the administrator reads the refusal. */
START_TEST(test_garbled_record)
{
    static const uint8_t junk[] = {'R', 0, 0, 0x27, 0x10, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    uint64_t dl = deadline();
    ck_assert_int_eq(glue_handoff_send(A.s, A.fd, junk[0], junk + 1, sizeof(junk) - 1, NULL, 0, dl), 0);
    struct run nr;
    memset(&nr, 0, sizeof(nr));
    struct glue_handoff_hooks h = hooks_for(&nr);
    nr.r = glue_handoff_node(N.s, N.fd, &N.g, &A.rec, dl, 1, &h, &nr.p, nr.why);
    ck_assert_int_eq(nr.r, -EBADMSG);
    ck_assert_str_eq(nr.why, "Failed to accept the administrator's ledger: the administrator's message is not a "
                             "replica");
    ck_assert_str_eq(nr.log, "");
    node_holds_nothing();
    uint8_t *m = NULL;
    size_t mlen = 0;
    ck_assert_int_eq(ppn_crypto_session_recv_fd(A.s, A.fd, 5000, &m, &mlen), 0);
    ck_assert_uint_gt(mlen, 5);
    ck_assert_int_eq(m[0], 'E');
    ck_assert_uint_eq(ppnc_get_be(m + 1, 4), EBADMSG);
    ck_assert(!memcmp(m + 5, "the administrator's message is not a replica", mlen - 5));
    free(m);
}
END_TEST

/* A record whose bytes were changed on the wire (a forgery): the session refuses it, nothing
 * is stored. */
START_TEST(test_forged_record)
{
    /* a real 'R' from the administrator, one byte of its ciphertext flipped */
    pthread_t t;
    struct run ar;
    memset(&ar, 0, sizeof(ar));
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int real_node_fd = N.fd;
    N.fd = sv[1]; /* the administrator writes to the tamperer, which writes to the node */
    int tamper = A.fd;
    A.fd = sv[0];
    ck_assert_int_eq(pthread_create(&t, NULL, admin_main, &ar), 0);
    static uint8_t buf[1 << 20];
    size_t got = 0;
    for (;;) { /* all the administrator sends before it waits for the acknowledgement */
        struct pollfd pf = {.fd = N.fd, .events = POLLIN};
        if (poll(&pf, 1, got ? 500 : 20000) <= 0)
            break;
        ssize_t k = read(N.fd, buf + got, sizeof(buf) - got);
        ck_assert_int_gt(k, 0);
        got += (size_t)k;
    }
    ck_assert_uint_gt(got, 100);
    buf[got / 2] ^= 0x01; /* inside the record's ciphertext */
    ck_assert_int_eq(ppnc_write_all(tamper, buf, got), 0);
    close(tamper);
    close(N.fd);
    N.fd = real_node_fd;
    struct run nr;
    memset(&nr, 0, sizeof(nr));
    struct glue_handoff_hooks h = hooks_for(&nr);
    nr.r = glue_handoff_node(N.s, N.fd, &N.g, &A.rec, deadline(), 1, &h, &nr.p, nr.why);
    ck_assert_int_eq(nr.r, -EACCES);
    ck_assert_str_eq(nr.why, "Failed to receive the administrator's replica: a record of the session did not "
                             "authenticate (forged or replayed); nothing stored");
    node_holds_nothing();
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_uint_eq(ledger_size(A.ledger), 2);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("handoff");
    TCase *tc = tcase_create("handoff");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_success);
    tcase_add_test(tc, test_admin_ready);
    tcase_add_test(tc, test_already_member);
    tcase_add_test(tc, test_cut_before_ack);
    tcase_add_test(tc, test_expire_past_bound);
    tcase_add_test(tc, test_node_ready);
    tcase_add_test(tc, test_cut_before_append_rollback);
    tcase_add_test(tc, test_cut_before_seal);
    tcase_add_test(tc, test_cut_before_final);
    tcase_add_test(tc, test_garbled_ack);
    tcase_add_test(tc, test_ack_wrong_size);
    tcase_add_test(tc, test_entry_for_another_node);
    tcase_add_test(tc, test_garbled_record);
    tcase_add_test(tc, test_forged_record);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
