/* The pairing session: success in memory, over a socketpair and over TCP
 * loopback; every failure path ends both sides with an error and releases
 * nothing. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "cpace.h"
#include "msg.h"
#include "ppn/crypto.h"
#include "tests.h"

static void make_record(ppn_crypto_node_record *r, const char *host, const char *addr)
{
    uint8_t sk[64];
    memset(r, 0, sizeof(*r));
    ck_assert_int_eq(ppn_crypto_identity_generate(r->identity_public, sk), 0);
    uint8_t wg[32];
    ck_assert_int_eq(ppn_crypto_wg_generate(wg), 0);
    ck_assert_int_eq(ppn_crypto_wg_public(wg, r->wg_public), 0);
    snprintf(r->endpoint, sizeof(r->endpoint), "%s.example.org:51820", host);
    snprintf(r->hostname, sizeof(r->hostname), "%s", host);
    snprintf(r->address, sizeof(r->address), "%s", addr);
}

typedef struct pair {
    ppn_crypto_session *a, *b;
    ppn_crypto_node_record ra, rb;
    char code[PPN_CRYPTO_CODE_STRING_SIZE];
} pair;

static uint64_t fake_now_a, fake_now_b;
static uint64_t clock_a(void *u) { (void)u; return fake_now_a; }
static uint64_t clock_b(void *u) { (void)u; return fake_now_b; }

/* New pair; 'code_b' NULL: same code as A. */
static void pair_new(pair *p, const char *code_b, bool fake_clock)
{
    make_record(&p->ra, "alpha", "10.8.0.1/24");
    make_record(&p->rb, "beta", "10.8.0.2/24");
    ck_assert_int_eq(ppn_crypto_code_generate(8, PPN_CRYPTO_CODE_CHECK, p->code, sizeof(p->code)), 11);
    ck_assert_int_eq(ppn_crypto_session_new(&p->a, PPN_CRYPTO_ROLE_INITIATOR, p->code,
                                            PPN_CRYPTO_CODE_CHECK, &p->ra, 0), 0);
    ck_assert_int_eq(ppn_crypto_session_new(&p->b, PPN_CRYPTO_ROLE_RESPONDER,
                                            code_b ? code_b : p->code,
                                            code_b ? 0 : PPN_CRYPTO_CODE_CHECK, &p->rb, 0), 0);
    if (fake_clock) {
        fake_now_a = fake_now_b = 1000;
        ck_assert_int_eq(ppn_crypto_session_set_clock(p->a, clock_a, NULL), 0);
        ck_assert_int_eq(ppn_crypto_session_set_clock(p->b, clock_b, NULL), 0);
    }
}

static void pair_free(pair *p)
{
    ppn_crypto_session_free(p->a);
    ppn_crypto_session_free(p->b);
}

/* A frame filter: may change the frame (body at frame+2) or drop it
 * (return 1).  'dir' 0: A to B, 1: B to A; 'index': frames so far. */
typedef int (*filter_fn)(int dir, int index, uint8_t *frame, size_t *len, void *ud);

static int frames_seen;

/* Move bytes both ways until nothing moves. */
static void pump(pair *p, filter_fn f, void *ud)
{
    for (int round = 0; round < 100; round++) {
        bool moved = false;
        for (int dir = 0; dir < 2; dir++) {
            ppn_crypto_session *from = dir ? p->b : p->a, *to = dir ? p->a : p->b;
            uint8_t buf[8192];
            ssize_t n = ppn_crypto_session_take_output(from, buf, sizeof(buf));
            ck_assert_int_ge(n, 0);
            size_t off = 0;
            while (off < (size_t)n) {
                ck_assert_uint_ge((size_t)n - off, 2);
                size_t len = 2 + (((size_t)buf[off] << 8) | buf[off + 1]);
                ck_assert_uint_le(off + len, (size_t)n);
                uint8_t frame[8192];
                memcpy(frame, buf + off, len);
                off += len;
                int drop = f ? f(dir, frames_seen, frame, &len, ud) : 0;
                frames_seen++;
                moved = true;
                if (!drop)
                    (void)ppn_crypto_session_feed(to, frame, len);
            }
        }
        if (!moved)
            return;
    }
    ck_abort_msg("pump did not settle");
}

static void assert_nothing_released(ppn_crypto_session *s)
{
    ppn_crypto_node_record r;
    char sas[PPN_CRYPTO_SAS_STRING_SIZE];
    ck_assert_int_eq(ppn_crypto_session_get_state(s), PPN_CRYPTO_SESSION_FAILED);
    ck_assert_int_lt(ppn_crypto_session_error(s), 0);
    ck_assert_int_eq(ppn_crypto_session_peer_record(s, &r), ppn_crypto_session_error(s));
    ck_assert_int_eq(ppn_crypto_session_sas(s, sas), ppn_crypto_session_error(s));
    /* for good: feeding or confirming again gives the same error */
    ck_assert_int_eq(ppn_crypto_session_feed(s, "\x00\x01\x00", 3), ppn_crypto_session_error(s));
    ck_assert_int_eq(ppn_crypto_session_confirm(s, true), ppn_crypto_session_error(s));
}

static void assert_both_failed(pair *p, int err_a, int err_b)
{
    if (err_a)
        ck_assert_int_eq(ppn_crypto_session_error(p->a), err_a);
    if (err_b)
        ck_assert_int_eq(ppn_crypto_session_error(p->b), err_b);
    assert_nothing_released(p->a);
    assert_nothing_released(p->b);
}

/* Run to SAS, confirm A, pump, confirm B, pump; filter throughout. */
static void run_all(pair *p, filter_fn f, void *ud)
{
    frames_seen = 0;
    pump(p, f, ud);
    (void)ppn_crypto_session_confirm(p->a, true);
    pump(p, f, ud);
    (void)ppn_crypto_session_confirm(p->b, true);
    pump(p, f, ud);
}

/* Every error a session ends with has its sentence; anything else is NULL (strerror's). */
START_TEST(test_error_text)
{
    static const int known[] = {-EACCES, -ECANCELED, -ETIMEDOUT, -EBADMSG, -EPROTO, -ECONNRESET, -EMSGSIZE};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        const char *t = ppn_crypto_session_error_text(known[i]);
        ck_assert_msg(t && *t, "no text for %d", known[i]);
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(t, ppn_crypto_session_error_text(known[j]));
    }
    ck_assert_str_eq(ppn_crypto_session_error_text(-EACCES),
                     "the code was wrong or a message was forged; this code is now used up");
    ck_assert_ptr_null(ppn_crypto_session_error_text(0));
    ck_assert_ptr_null(ppn_crypto_session_error_text(-ENOMEM));
    ck_assert_ptr_null(ppn_crypto_session_error_text(EACCES)); /* positive: not an error code */
}
END_TEST

START_TEST(test_success_memory)
{
    pair p;
    pair_new(&p, NULL, false);
    ppn_crypto_node_record r;
    char sa[PPN_CRYPTO_SAS_STRING_SIZE], sb[PPN_CRYPTO_SAS_STRING_SIZE];
    ck_assert_int_eq(ppn_crypto_session_sas(p.a, sa), -EAGAIN);
    ck_assert_int_eq(ppn_crypto_session_confirm(p.a, true), -EAGAIN);
    frames_seen = 0;
    pump(&p, NULL, NULL);
    ck_assert_int_eq(ppn_crypto_session_get_state(p.a), PPN_CRYPTO_SESSION_SAS_READY);
    ck_assert_int_eq(ppn_crypto_session_get_state(p.b), PPN_CRYPTO_SESSION_SAS_READY);
    ck_assert_int_eq(ppn_crypto_session_sas(p.a, sa), 0);
    ck_assert_int_eq(ppn_crypto_session_sas(p.b, sb), 0);
    ck_assert_str_eq(sa, sb);
    ck_assert_uint_eq(strlen(sa), 9);
    ck_assert_int_eq(sa[4], ' ');
    /* records have arrived but are not released before both confirmations */
    ck_assert_int_eq(ppn_crypto_session_peer_record(p.a, &r), -EAGAIN);
    ck_assert_int_eq(ppn_crypto_session_confirm(p.a, true), 0);
    ck_assert_int_eq(ppn_crypto_session_confirm(p.a, true), -EALREADY);
    pump(&p, NULL, NULL);
    ck_assert_int_eq(ppn_crypto_session_peer_record(p.a, &r), -EAGAIN);
    ck_assert_int_eq(ppn_crypto_session_peer_record(p.b, &r), -EAGAIN);
    ck_assert_int_eq(ppn_crypto_session_get_state(p.b), PPN_CRYPTO_SESSION_SAS_READY);
    ck_assert_int_eq(ppn_crypto_session_confirm(p.b, true), 0);
    /* B has A's accept and its own: done */
    ck_assert_int_eq(ppn_crypto_session_get_state(p.b), PPN_CRYPTO_SESSION_DONE);
    ck_assert_int_eq(ppn_crypto_session_peer_record(p.a, &r), -EAGAIN);
    pump(&p, NULL, NULL);
    ck_assert_int_eq(ppn_crypto_session_get_state(p.a), PPN_CRYPTO_SESSION_DONE);
    ck_assert_int_eq(ppn_crypto_session_peer_record(p.a, &r), 0);
    ck_assert_mem_eq(&r, &p.rb, sizeof(r));
    ck_assert_int_eq(ppn_crypto_session_peer_record(p.b, &r), 0);
    ck_assert_mem_eq(&r, &p.ra, sizeof(r));
    ck_assert_int_eq(ppn_crypto_session_error(p.a), 0);
    /* the SAS stays readable when done */
    ck_assert_int_eq(ppn_crypto_session_sas(p.a, sa), 0);
    ck_assert_str_eq(sa, sb);
    pair_free(&p);
}
END_TEST

/* Collects every byte on the wire. */
typedef struct wire {
    uint8_t bytes[16384];
    size_t len;
} wire;

static int record_wire(int dir, int index, uint8_t *frame, size_t *len, void *ud)
{
    wire *w = ud;
    ck_assert_uint_le(w->len + *len, sizeof(w->bytes));
    memcpy(w->bytes + w->len, frame, *len);
    w->len += *len;
    return 0;
}

START_TEST(test_nothing_in_clear)
{
    static wire w;
    pair p;
    pair_new(&p, NULL, false);
    run_all(&p, record_wire, &w);
    ck_assert_int_eq(ppn_crypto_session_get_state(p.a), PPN_CRYPTO_SESSION_DONE);
    char canon[PPN_CRYPTO_CODE_CANONICAL_SIZE];
    ck_assert_int_eq(ppn_crypto_code_parse(p.code, strlen(p.code), PPN_CRYPTO_CODE_CHECK, canon, NULL), 8);
    ck_assert_ptr_null(memmem(w.bytes, w.len, canon, strlen(canon)));
    ck_assert_ptr_null(memmem(w.bytes, w.len, p.code, strlen(p.code)));
    /* the records travel encrypted: no hostname, endpoint, WireGuard key */
    ck_assert_ptr_null(memmem(w.bytes, w.len, "alpha.example.org", 17));
    ck_assert_ptr_null(memmem(w.bytes, w.len, "beta.example.org", 16));
    ck_assert_ptr_null(memmem(w.bytes, w.len, p.ra.wg_public, 32));
    ck_assert_ptr_null(memmem(w.bytes, w.len, p.rb.wg_public, 32));
    ck_assert_ptr_null(memmem(w.bytes, w.len, "10.8.0.2/24", 11));
    pair_free(&p);
}
END_TEST

START_TEST(test_message_after_done)
{
    pair p;
    pair_new(&p, NULL, false);
    run_all(&p, NULL, NULL);
    ck_assert_int_eq(ppn_crypto_session_get_state(p.a), PPN_CRYPTO_SESSION_DONE);
    ck_assert_int_eq(ppn_crypto_session_get_state(p.b), PPN_CRYPTO_SESSION_DONE);
    /* the peer reports a failure after we finished: we do not keep the record */
    msg m;
    memset(&m, 0, sizeof(m));
    m.version = 1;
    m.type = PM_ABORT;
    m.reason = ETIMEDOUT;
    cbuf b;
    cbuf_init(&b);
    ck_assert_int_eq(msg_encode(&m, &b), 0);
    ck_assert_int_eq(ppn_crypto_session_feed(p.a, b.data, b.len), -ETIMEDOUT);
    assert_nothing_released(p.a);
    /* any other message after DONE is a protocol error */
    m.type = PM_CONFIRM;
    cbuf_wipe_free(&b);
    ck_assert_int_eq(msg_encode(&m, &b), 0);
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, b.data, b.len), -EPROTO);
    assert_nothing_released(p.b);
    cbuf_wipe_free(&b);
    pair_free(&p);
}
END_TEST

START_TEST(test_sas_differs_per_ceremony)
{
    char s1[PPN_CRYPTO_SAS_STRING_SIZE], s2[PPN_CRYPTO_SAS_STRING_SIZE];
    int same = 0;
    for (int i = 0; i < 3; i++) {
        pair p, q;
        pair_new(&p, NULL, false);
        pair_new(&q, NULL, false);
        pump(&p, NULL, NULL);
        pump(&q, NULL, NULL);
        ck_assert_int_eq(ppn_crypto_session_sas(p.a, s1), 0);
        ck_assert_int_eq(ppn_crypto_session_sas(q.a, s2), 0);
        same += strcmp(s1, s2) == 0;
        pair_free(&p);
        pair_free(&q);
    }
    ck_assert_int_lt(same, 3);
}
END_TEST

START_TEST(test_wrong_code)
{
    pair p;
    char other[PPN_CRYPTO_CODE_STRING_SIZE];
    ck_assert_int_eq(ppn_crypto_code_generate(8, 0, other, sizeof(other)), 9);
    pair_new(&p, other, false);
    run_all(&p, NULL, NULL);
    assert_both_failed(&p, -EACCES, -EACCES);
    pair_free(&p);
}
END_TEST

/* Flip one bit in the body of frame number 'target'. */
static int flip_frame(int dir, int index, uint8_t *frame, size_t *len, void *ud)
{
    int target = *(int *)ud;
    if (index == target) {
        size_t body = *len - 2;
        frame[2 + (size_t)(index * 7919) % body] ^= (uint8_t)(1u << (index % 8));
    }
    return 0;
}

START_TEST(test_tamper_each_message)
{
    /* Frames in order: COMMIT, SHARE, REVEAL, CONFIRM, RECORD(B), RECORD(A),
     * ACCEPT(A), and then ACCEPT(B) would follow. */
    for (int target = 0; target < 7; target++) {
        pair p;
        pair_new(&p, NULL, false);
        run_all(&p, flip_frame, &target);
        ck_assert_msg(ppn_crypto_session_error(p.a) < 0 && ppn_crypto_session_error(p.b) < 0,
                      "target %d: a %d b %d", target, ppn_crypto_session_error(p.a),
                      ppn_crypto_session_error(p.b));
        assert_both_failed(&p, 0, 0);
        pair_free(&p);
    }
}
END_TEST

static int drop_all_after(int dir, int index, uint8_t *frame, size_t *len, void *ud)
{
    return index >= *(int *)ud;
}

START_TEST(test_deadline)
{
    /* For each point where the peer stops answering, the deadline ends
     * both sides (no sleeping: a fake clock). */
    for (int cut = 0; cut < 8; cut++) {
        pair p;
        pair_new(&p, NULL, true);
        run_all(&p, drop_all_after, &cut);
        if (ppn_crypto_session_get_state(p.a) == PPN_CRYPTO_SESSION_DONE &&
            ppn_crypto_session_get_state(p.b) == PPN_CRYPTO_SESSION_DONE) {
            pair_free(&p);
            continue;
        }
        fake_now_a += PPN_CRYPTO_DEFAULT_TIMEOUT_MS - 1000; /* not yet */
        ck_assert_int_eq(ppn_crypto_session_check_deadline(p.a), 0);
        ck_assert_uint_eq(ppn_crypto_session_remaining_ms(p.a), 1000);
        fake_now_a += 1000;
        fake_now_b += PPN_CRYPTO_DEFAULT_TIMEOUT_MS;
        int ra = ppn_crypto_session_check_deadline(p.a);
        int rb = ppn_crypto_session_check_deadline(p.b);
        /* a side that is done keeps its result: only the other one fails */
        if (ppn_crypto_session_get_state(p.a) != PPN_CRYPTO_SESSION_DONE) {
            ck_assert_int_eq(ra, -ETIMEDOUT);
            assert_nothing_released(p.a);
        }
        if (ppn_crypto_session_get_state(p.b) != PPN_CRYPTO_SESSION_DONE) {
            ck_assert_int_eq(rb, -ETIMEDOUT);
            assert_nothing_released(p.b);
        }
        ck_assert_uint_eq(ppn_crypto_session_remaining_ms(p.a), 0);
        pair_free(&p);
    }
}
END_TEST

START_TEST(test_late_message)
{
    /* Only A's clock passes the deadline: B's next message is late; A ends
     * with -ETIMEDOUT and its ABORT makes B end with -ETIMEDOUT too. */
    pair p;
    pair_new(&p, NULL, true);
    uint8_t buf[4096];
    ssize_t n = ppn_crypto_session_take_output(p.a, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, buf, (size_t)n), 0);
    n = ppn_crypto_session_take_output(p.b, buf, sizeof(buf));
    ck_assert_int_gt(n, 0);
    fake_now_a += PPN_CRYPTO_DEFAULT_TIMEOUT_MS;
    ck_assert_int_eq(ppn_crypto_session_feed(p.a, buf, (size_t)n), -ETIMEDOUT);
    pump(&p, NULL, NULL);
    assert_both_failed(&p, -ETIMEDOUT, -ETIMEDOUT);
    pair_free(&p);
}
END_TEST

START_TEST(test_decline)
{
    for (int who = 0; who < 2; who++) {
        pair p;
        pair_new(&p, NULL, false);
        pump(&p, NULL, NULL);
        ppn_crypto_session *s = who ? p.b : p.a, *o = who ? p.a : p.b;
        /* the other operator may have accepted already */
        ck_assert_int_eq(ppn_crypto_session_confirm(o, true), 0);
        ck_assert_int_eq(ppn_crypto_session_confirm(s, false), -ECANCELED);
        pump(&p, NULL, NULL);
        assert_both_failed(&p, -ECANCELED, -ECANCELED);
        pair_free(&p);
    }
}
END_TEST

/* Replace frame 'target' with a re-encoded message changed by 'edit'. */
typedef struct rewrite {
    int target;
    void (*edit)(msg *m);
} rewrite;

static int rewrite_frame(int dir, int index, uint8_t *frame, size_t *len, void *ud)
{
    rewrite *rw = ud;
    if (index != rw->target)
        return 0;
    msg m;
    ck_assert_int_eq(msg_decode(frame + 2, *len - 2, &m), 0);
    rw->edit(&m);
    cbuf b;
    cbuf_init(&b);
    ck_assert_int_eq(msg_encode(&m, &b), 0);
    memcpy(frame, b.data, b.len);
    *len = b.len;
    cbuf_wipe_free(&b);
    return 0;
}

static void edit_identity_y(msg *m) { memset(m->y, 0, 32); }
static void edit_invalid_y(msg *m)
{
    static const uint8_t yi1[32] = {0x2b, 0x3c, 0x6b, 0x8c, 0x4f, 0x38, 0x00, 0xe7, 0xae, 0xf6, 0x86,
                                    0x40, 0x25, 0xb4, 0xed, 0x79, 0xbd, 0x59, 0x91, 0x17, 0xe4, 0x27,
                                    0xc4, 0x1b, 0xd4, 0x7d, 0x93, 0xd6, 0x54, 0xb4, 0xa5, 0x1c};
    memcpy(m->y, yi1, 32);
}
static void edit_other_point(msg *m)
{
    uint8_t s[32];
    crypto_core_ristretto255_scalar_random(s);
    ck_assert_int_eq(crypto_scalarmult_ristretto255_base(m->y, s), 0);
}
static void edit_version(msg *m) { m->version = 2; }
static void edit_type_abort_unknown(msg *m) { m->type = PM_ABORT; m->reason = EIO; }
static void edit_ad_role(msg *m) { m->ad[m->ad_len - 33] = 'A'; }
static void edit_sid(msg *m) { m->sid[0] ^= 1; }

START_TEST(test_invalid_points_in_protocol)
{
    void (*edits[])(msg *) = {edit_identity_y, edit_invalid_y};
    for (size_t i = 0; i < 2; i++) {
        /* in SHARE (B -> A): A aborts, B learns of it */
        pair p;
        pair_new(&p, NULL, false);
        rewrite rw = {1, edits[i]};
        run_all(&p, rewrite_frame, &rw);
        assert_both_failed(&p, -EBADMSG, -ECONNABORTED);
        pair_free(&p);
        /* in REVEAL (A -> B): the commitment no longer matches */
        pair_new(&p, NULL, false);
        rw.target = 2;
        run_all(&p, rewrite_frame, &rw);
        assert_both_failed(&p, -EACCES, -EACCES);
        pair_free(&p);
    }
}
END_TEST

START_TEST(test_commitment)
{
    /* A man in the middle who swaps A's revealed share for another valid
     * point is caught by the commitment. */
    pair p;
    pair_new(&p, NULL, false);
    rewrite rw = {2, edit_other_point};
    run_all(&p, rewrite_frame, &rw);
    assert_both_failed(&p, -EACCES, -EACCES);
    pair_free(&p);
    /* a changed sid: the two sides derive different keys */
    pair_new(&p, NULL, false);
    rw = (rewrite){0, edit_sid};
    run_all(&p, rewrite_frame, &rw);
    assert_both_failed(&p, -EACCES, -EACCES);
    pair_free(&p);
    /* a share whose AD claims the wrong role */
    pair_new(&p, NULL, false);
    rw = (rewrite){1, edit_ad_role};
    run_all(&p, rewrite_frame, &rw);
    assert_both_failed(&p, -EBADMSG, -ECONNABORTED);
    pair_free(&p);
}
END_TEST

START_TEST(test_protocol_errors)
{
    /* another version */
    pair p;
    pair_new(&p, NULL, false);
    rewrite rw = {0, edit_version};
    run_all(&p, rewrite_frame, &rw);
    assert_both_failed(&p, -ECONNABORTED, -EPROTO);
    pair_free(&p);
    /* a peer abort for another reason */
    pair_new(&p, NULL, false);
    rw = (rewrite){1, edit_type_abort_unknown};
    run_all(&p, rewrite_frame, &rw);
    ck_assert_int_eq(ppn_crypto_session_error(p.a), -ECONNABORTED);
    assert_nothing_released(p.a);
    pair_free(&p);
    /* a replayed COMMIT (out of order) */
    pair_new(&p, NULL, false);
    uint8_t commit[2048];
    ssize_t n = ppn_crypto_session_take_output(p.a, commit, sizeof(commit));
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, commit, (size_t)n), 0);
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, commit, (size_t)n), -EPROTO);
    pump(&p, NULL, NULL);
    assert_both_failed(&p, -ECONNABORTED, -EPROTO);
    pair_free(&p);
    /* two initiators */
    ppn_crypto_session *x, *y;
    ppn_crypto_node_record rx, ry;
    char code[PPN_CRYPTO_CODE_STRING_SIZE];
    make_record(&rx, "x", "");
    make_record(&ry, "y", "");
    ck_assert_int_eq(ppn_crypto_code_generate(8, 0, code, sizeof(code)), 9);
    ck_assert_int_eq(ppn_crypto_session_new(&x, PPN_CRYPTO_ROLE_INITIATOR, code, 0, &rx, 0), 0);
    /* the same code again for the same role: refused */
    ck_assert_int_eq(ppn_crypto_session_new(&y, PPN_CRYPTO_ROLE_INITIATOR, code, 0, &ry, 0), -ESTALE);
    char code2[PPN_CRYPTO_CODE_STRING_SIZE];
    ck_assert_int_eq(ppn_crypto_code_generate(8, 0, code2, sizeof(code2)), 9);
    ck_assert_int_eq(ppn_crypto_session_new(&y, PPN_CRYPTO_ROLE_INITIATOR, code2, 0, &ry, 0), 0);
    p.a = x;
    p.b = y;
    pump(&p, NULL, NULL);
    assert_both_failed(&p, -EPROTO, -EPROTO);
    pair_free(&p);
}
END_TEST

START_TEST(test_malformed_bytes)
{
    static const struct { const char *bytes; size_t len; } cases[] = {
        {"\x00\x00", 2},                 /* empty frame */
        {"\x04\x01", 2},                 /* frame over the limit */
        {"\x00\x02\xa0\xa0", 4},         /* trailing CBOR */
        {"\x00\x03\xff\xff\xff", 5},     /* not CBOR */
        {"\x00\x01\xa0", 3},             /* empty map */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pair p;
        pair_new(&p, NULL, false);
        ck_assert_int_eq(ppn_crypto_session_feed(p.b, cases[i].bytes, cases[i].len), -EBADMSG);
        ck_assert_int_eq(ppn_crypto_session_feed(p.a, cases[i].bytes, cases[i].len), -EBADMSG);
        assert_both_failed(&p, -EBADMSG, -EBADMSG);
        pair_free(&p);
    }
}
END_TEST

START_TEST(test_code_errors_before_traffic)
{
    ppn_crypto_session *s = NULL;
    ppn_crypto_node_record r;
    char code[PPN_CRYPTO_CODE_STRING_SIZE];
    make_record(&r, "x", "");
    ck_assert_int_eq(ppn_crypto_code_generate(8, PPN_CRYPTO_CODE_CHECK, code, sizeof(code)), 11);
    /* change the check symbol: a typing error, no session, no bytes */
    size_t last = strlen(code) - 1;
    code[last] = code[last] == '0' ? '1' : '0';
    ck_assert_int_eq(ppn_crypto_session_new(&s, PPN_CRYPTO_ROLE_INITIATOR, code,
                                            PPN_CRYPTO_CODE_CHECK, &r, 0), -EILSEQ);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(ppn_crypto_session_new(&s, PPN_CRYPTO_ROLE_INITIATOR, "ABC", 0, &r, 0), -EMSGSIZE);
    ck_assert_int_eq(ppn_crypto_session_new(&s, PPN_CRYPTO_ROLE_INITIATOR, "ABC!EFGH", 0, &r, 0), -EBADMSG);
    strcpy(r.hostname, "bad host");
    ck_assert_int_eq(ppn_crypto_session_new(&s, PPN_CRYPTO_ROLE_INITIATOR, "ABCDEFGH", 0, &r, 0), -EINVAL);
    ck_assert_int_eq(ppn_crypto_session_new(&s, (ppn_crypto_role)5, "ABCDEFGH", 0, &r, 0), -EINVAL);
    ck_assert_ptr_null(s);
}
END_TEST

/* ---- over real sockets ------------------------------------------------ */

typedef struct side {
    ppn_crypto_session *s;
    int fd;
    bool accept;
    int r1, r2;
    char sas[PPN_CRYPTO_SAS_STRING_SIZE];
} side;

static void *side_run(void *arg)
{
    side *d = arg;
    d->r1 = ppn_crypto_session_run_fd(d->s, d->fd, PPN_CRYPTO_SESSION_SAS_READY);
    if (d->r1 < 0)
        return NULL;
    ck_assert_int_eq(ppn_crypto_session_sas(d->s, d->sas), 0);
    d->r2 = ppn_crypto_session_confirm(d->s, d->accept);
    if (d->r2 < 0) {
        (void)ppn_crypto_session_run_fd(d->s, d->fd, PPN_CRYPTO_SESSION_DONE); /* flush ABORT */
        return NULL;
    }
    d->r2 = ppn_crypto_session_run_fd(d->s, d->fd, PPN_CRYPTO_SESSION_DONE);
    return NULL;
}

static void run_threads(pair *p, int fda, int fdb, bool accept_a, bool accept_b)
{
    side da = {p->a, fda, accept_a, 1, 1, ""}, db = {p->b, fdb, accept_b, 1, 1, ""};
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, side_run, &da), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, side_run, &db), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    if (accept_a && accept_b && da.r1 == 0 && db.r1 == 0) {
        ck_assert_int_eq(da.r2, 0);
        ck_assert_int_eq(db.r2, 0);
        ck_assert_str_eq(da.sas, db.sas);
    }
}

static void assert_success(pair *p)
{
    ppn_crypto_node_record r;
    ck_assert_int_eq(ppn_crypto_session_get_state(p->a), PPN_CRYPTO_SESSION_DONE);
    ck_assert_int_eq(ppn_crypto_session_get_state(p->b), PPN_CRYPTO_SESSION_DONE);
    ck_assert_int_eq(ppn_crypto_session_peer_record(p->a, &r), 0);
    ck_assert_mem_eq(&r, &p->rb, sizeof(r));
    ck_assert_int_eq(ppn_crypto_session_peer_record(p->b, &r), 0);
    ck_assert_mem_eq(&r, &p->ra, sizeof(r));
}

START_TEST(test_socketpair)
{
    int sv[2];
    pair p;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pair_new(&p, NULL, false);
    run_threads(&p, sv[0], sv[1], true, true);
    assert_success(&p);
    pair_free(&p);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

static void tcp_pair(int *client, int *server)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
    *server = accept(l, NULL, NULL);
    ck_assert_int_ge(*server, 0);
    close(l);
}

START_TEST(test_tcp_loopback)
{
    int c, s;
    pair p;
    tcp_pair(&c, &s);
    pair_new(&p, NULL, false);
    run_threads(&p, c, s, true, true);
    assert_success(&p);
    pair_free(&p);
    close(c);
    close(s);
}
END_TEST

START_TEST(test_tcp_wrong_code)
{
    int c, s;
    pair p;
    char other[PPN_CRYPTO_CODE_STRING_SIZE];
    ck_assert_int_eq(ppn_crypto_code_generate(8, 0, other, sizeof(other)), 9);
    tcp_pair(&c, &s);
    pair_new(&p, other, false);
    run_threads(&p, c, s, true, true);
    assert_both_failed(&p, -EACCES, -EACCES);
    pair_free(&p);
    close(c);
    close(s);
}
END_TEST

START_TEST(test_tcp_decline)
{
    int c, s;
    pair p;
    tcp_pair(&c, &s);
    pair_new(&p, NULL, false);
    run_threads(&p, c, s, true, false);
    assert_both_failed(&p, -ECANCELED, -ECANCELED);
    pair_free(&p);
    close(c);
    close(s);
}
END_TEST

START_TEST(test_peer_closes)
{
    int sv[2];
    pair p;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pair_new(&p, NULL, false);
    close(sv[1]);
    ck_assert_int_eq(ppn_crypto_session_run_fd(p.a, sv[0], PPN_CRYPTO_SESSION_DONE), -ECONNRESET);
    assert_nothing_released(p.a);
    ck_assert_int_eq(ppn_crypto_session_run_fd(p.a, -1, PPN_CRYPTO_SESSION_DONE), -EINVAL);
    ck_assert_int_eq(ppn_crypto_session_run_fd(p.b, sv[0], PPN_CRYPTO_SESSION_HANDSHAKE), -EINVAL);
    pair_free(&p);
    close(sv[0]);
}
END_TEST

/* ---- the application-data channel after DONE ---------------------------- */

/* Everything 'from' has queued, raw (channel frames included). */
static size_t take_all(ppn_crypto_session *from, uint8_t *buf, size_t size)
{
    ssize_t n = ppn_crypto_session_take_output(from, buf, size);
    ck_assert_int_ge(n, 0);
    ck_assert_uint_eq(ppn_crypto_session_output_pending(from), 0);
    return (size_t)n;
}

static void pair_done(pair *p)
{
    pair_new(p, NULL, false);
    run_all(p, NULL, NULL);
    ck_assert_int_eq(ppn_crypto_session_get_state(p->a), PPN_CRYPTO_SESSION_DONE);
    ck_assert_int_eq(ppn_crypto_session_get_state(p->b), PPN_CRYPTO_SESSION_DONE);
}

static uint8_t chan_buf[1 << 21];

START_TEST(test_channel_roundtrip)
{
    pair p;
    pair_new(&p, NULL, false);
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "x", 1), -EAGAIN); /* not before DONE */
    ck_assert_int_eq(ppn_crypto_session_recv(p.a, &d, &n), -EAGAIN);
    run_all(&p, NULL, NULL);
    static const char secret[] = "the replica travels inside the session";
    ck_assert_int_eq(ppn_crypto_session_send(p.a, secret, sizeof(secret)), 0);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, NULL, 0), 0);
    size_t w = take_all(p.a, chan_buf, sizeof(chan_buf));
    ck_assert_ptr_null(memmem(chan_buf, w, secret, sizeof(secret) - 1));
    ck_assert_ptr_null(memmem(chan_buf, w, "replica", 7));
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, chan_buf, w), 0);
    ck_assert_int_eq(ppn_crypto_session_recv(p.b, &d, &n), 0);
    ck_assert_uint_eq(n, sizeof(secret));
    ck_assert_mem_eq(d, secret, n);
    free(d);
    ck_assert_int_eq(ppn_crypto_session_recv(p.b, &d, &n), 0);
    ck_assert_uint_eq(n, 0);
    free(d);
    ck_assert_int_eq(ppn_crypto_session_recv(p.b, &d, &n), -EAGAIN);
    /* the other direction, a large record fed one byte at a time at first */
    static uint8_t big[1 << 20];
    randombytes_buf(big, sizeof(big));
    ck_assert_int_eq(ppn_crypto_session_send(p.b, big, sizeof(big)), 0);
    w = take_all(p.b, chan_buf, sizeof(chan_buf));
    for (size_t i = 0; i < 64; i++)
        ck_assert_int_eq(ppn_crypto_session_feed(p.a, chan_buf + i, 1), 0);
    ck_assert_int_eq(ppn_crypto_session_recv(p.a, &d, &n), -EAGAIN);
    ck_assert_int_eq(ppn_crypto_session_feed(p.a, chan_buf + 64, w - 64), 0);
    ck_assert_int_eq(ppn_crypto_session_recv(p.a, &d, &n), 0);
    ck_assert_uint_eq(n, sizeof(big));
    ck_assert_mem_eq(d, big, n);
    free(d);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, big, PPN_CRYPTO_SESSION_RECORD_MAX + 1), -EMSGSIZE);
    pair_free(&p);
}
END_TEST

/* The last handshake message and the first record in one read (defect: the session took
 * the record for a handshake frame, -EBADMSG on one side). */
START_TEST(test_channel_final_message_and_data_in_one_buffer)
{
    pair p;
    pair_new(&p, NULL, false);
    frames_seen = 0;
    pump(&p, NULL, NULL);
    ck_assert_int_eq(ppn_crypto_session_confirm(p.b, true), 0);
    pump(&p, NULL, NULL); /* B's ACCEPT reaches A */
    ck_assert_int_eq(ppn_crypto_session_confirm(p.a, true), 0);
    ck_assert_int_eq(ppn_crypto_session_get_state(p.a), PPN_CRYPTO_SESSION_DONE);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "PPNLEDG1...", 11), 0);
    size_t w = take_all(p.a, chan_buf, sizeof(chan_buf)); /* A's ACCEPT, then the record */
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, chan_buf, w), 0);
    ck_assert_int_eq(ppn_crypto_session_get_state(p.b), PPN_CRYPTO_SESSION_DONE);
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(ppn_crypto_session_recv(p.b, &d, &n), 0);
    ck_assert_uint_eq(n, 11);
    ck_assert_mem_eq(d, "PPNLEDG1...", 11);
    free(d);
    ppn_crypto_node_record r;
    ck_assert_int_eq(ppn_crypto_session_peer_record(p.b, &r), 0);
    pair_free(&p);
}
END_TEST

START_TEST(test_channel_forgery)
{
    /* every byte of a record flipped in turn: the session ends (-EACCES for the
     * ciphertext, -EBADMSG/-EMSGSIZE for the frame header), nothing is handed out */
    uint8_t rec[64];
    size_t w = 0;
    for (size_t i = 0; i == 0 || i < w; i++) {
        pair p;
        pair_done(&p);
        ck_assert_int_eq(ppn_crypto_session_send(p.a, "ack:ok", 6), 0);
        w = take_all(p.a, rec, sizeof(rec));
        ck_assert_uint_eq(w, 6 + 6 + 16);
        rec[i] ^= 0x01;
        int r = ppn_crypto_session_feed(p.b, rec, w);
        uint8_t *d;
        size_t n;
        if (i < 6 && r == 0) { /* a longer announced length: still waiting for bytes */
            ck_assert_int_eq(ppn_crypto_session_recv(p.b, &d, &n), -EAGAIN);
        } else {
            ck_assert_msg(r == -EACCES || r == -EBADMSG || r == -EMSGSIZE, "byte %zu: %d", i, r);
            if (i >= 6)
                ck_assert_int_eq(r, -EACCES);
            ck_assert_int_eq(ppn_crypto_session_recv(p.b, &d, &n), r);
            ck_assert_int_eq(ppn_crypto_session_get_state(p.b), PPN_CRYPTO_SESSION_FAILED);
        }
        pair_free(&p);
    }
}
END_TEST

START_TEST(test_channel_replay_reorder_reflect)
{
    pair p;
    uint8_t r1[64], r2[64], *d;
    size_t n1, n2, n;
    /* replay */
    pair_done(&p);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "one", 3), 0);
    n1 = take_all(p.a, r1, sizeof(r1));
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, r1, n1), 0);
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, r1, n1), -EACCES);
    ck_assert_int_eq(ppn_crypto_session_recv(p.b, &d, &n), -EACCES); /* the first is gone too */
    pair_free(&p);
    /* reorder */
    pair_done(&p);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "one", 3), 0);
    n1 = take_all(p.a, r1, sizeof(r1));
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "two", 3), 0);
    n2 = take_all(p.a, r2, sizeof(r2));
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, r2, n2), -EACCES);
    pair_free(&p);
    /* reflected back to its sender: the other direction's key */
    pair_done(&p);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "one", 3), 0);
    n1 = take_all(p.a, r1, sizeof(r1));
    ck_assert_int_eq(ppn_crypto_session_feed(p.a, r1, n1), -EACCES);
    pair_free(&p);
    /* from another ceremony (other keys, other sid) */
    pair q;
    pair_done(&p);
    pair_done(&q);
    ck_assert_int_eq(ppn_crypto_session_send(q.a, "one", 3), 0);
    n1 = take_all(q.a, r1, sizeof(r1));
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, r1, n1), -EACCES);
    pair_free(&p);
    pair_free(&q);
}
END_TEST

START_TEST(test_channel_truncation_and_bounds)
{
    pair p;
    uint8_t r1[64], *d;
    size_t n1, n;
    /* a record cut short is never handed out; the rest completes it */
    pair_done(&p);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "ack", 3), 0);
    n1 = take_all(p.a, r1, sizeof(r1));
    for (size_t cut = 0; cut < n1; cut++) {
        pair q;
        pair_done(&q);
        ck_assert_int_eq(ppn_crypto_session_send(q.a, "ack", 3), 0);
        n1 = take_all(q.a, r1, sizeof(r1));
        ck_assert_int_eq(ppn_crypto_session_feed(q.b, r1, cut), 0);
        ck_assert_int_eq(ppn_crypto_session_recv(q.b, &d, &n), -EAGAIN);
        ck_assert_int_eq(ppn_crypto_session_get_state(q.b), PPN_CRYPTO_SESSION_DONE);
        ck_assert_int_eq(ppn_crypto_session_feed(q.b, r1 + cut, n1 - cut), 0);
        ck_assert_int_eq(ppn_crypto_session_recv(q.b, &d, &n), 0);
        ck_assert_uint_eq(n, 3);
        free(d);
        pair_free(&q);
    }
    pair_free(&p);
    /* oversize: refused from the length alone */
    pair_done(&p);
    uint32_t big = PPN_CRYPTO_SESSION_RECORD_MAX + 17;
    uint8_t hdr[6] = {0, 0, (uint8_t)(big >> 24), (uint8_t)(big >> 16), (uint8_t)(big >> 8), (uint8_t)big};
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, hdr, sizeof(hdr)), -EMSGSIZE);
    pair_free(&p);
    /* shorter than a tag */
    pair_done(&p);
    uint8_t tiny[6] = {0, 0, 0, 0, 0, 15};
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, tiny, sizeof(tiny)), -EBADMSG);
    pair_free(&p);
    /* the total: the limit counts every record's plaintext */
    pair_done(&p);
    ck_assert_int_eq(ppn_crypto_session_set_recv_limit(p.b, 0), -EINVAL);
    ck_assert_int_eq(ppn_crypto_session_set_recv_limit(p.b, 10), 0);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "123456", 6), 0);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "7890", 4), 0);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "x", 1), 0);
    n1 = take_all(p.a, chan_buf, sizeof(chan_buf));
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, chan_buf, n1), -EMSGSIZE);
    pair_free(&p);
    /* a channel frame before DONE is malformed */
    pair_new(&p, NULL, false);
    frames_seen = 0;
    pump(&p, NULL, NULL);
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, hdr, sizeof(hdr)), -EBADMSG);
    pair_free(&p);
}
END_TEST

START_TEST(test_channel_abort_after_done_is_the_peers_word)
{
    pair p;
    pair_done(&p);
    msg m;
    memset(&m, 0, sizeof(m));
    m.version = 1;
    m.type = PM_ABORT;
    m.reason = EACCES;
    cbuf b;
    cbuf_init(&b);
    ck_assert_int_eq(msg_encode(&m, &b), 0);
    ck_assert(!ppn_crypto_session_peer_aborted(p.a));
    ck_assert_int_eq(ppn_crypto_session_feed(p.a, b.data, b.len), -EACCES);
    ck_assert(ppn_crypto_session_peer_aborted(p.a));
    cbuf_wipe_free(&b);
    pair_free(&p);
}
END_TEST

START_TEST(test_channel_fd)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pair p;
    pair_done(&p);
    ck_assert_int_eq(ppn_crypto_session_send(p.a, "bundle", 6), 0);
    ck_assert_int_eq(ppn_crypto_session_flush_fd(p.a, sv[0], 2000), 0);
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(ppn_crypto_session_recv_fd(p.b, sv[1], 2000, &d, &n), 0);
    ck_assert_uint_eq(n, 6);
    free(d);
    /* silence: bounded by the timeout */
    uint64_t t0 = ppn_crypto_session_remaining_ms(p.b);
    (void)t0;
    ck_assert_int_eq(ppn_crypto_session_recv_fd(p.b, sv[1], 300, &d, &n), -ETIMEDOUT);
    /* the peer closes */
    close(sv[0]);
    ck_assert_int_eq(ppn_crypto_session_recv_fd(p.b, sv[1], 2000, &d, &n), -ECONNRESET);
    close(sv[1]);
    pair_free(&p);
}
END_TEST


START_TEST(test_probe_first_message)
{
    pair p;
    pair_new(&p, NULL, false);
    uint8_t buf[2048];
    ssize_t n = ppn_crypto_session_take_output(p.a, buf, sizeof(buf));
    ck_assert_int_gt(n, 2);
    size_t fl = 0;
    for (ssize_t i = 0; i < n; i++)
        ck_assert_int_eq(ppn_crypto_session_probe(buf, (size_t)i, &fl), -EAGAIN);
    ck_assert_int_eq(ppn_crypto_session_probe(buf, (size_t)n, &fl), 0);
    ck_assert_uint_eq(fl, (size_t)n);
    /* the session accepts what the probe accepted */
    ck_assert_int_eq(ppn_crypto_session_feed(p.b, buf, fl), 0);
    /* not the protocol */
    ck_assert_int_eq(ppn_crypto_session_probe("GET / HTTP/1.0\r\n", 16, &fl), -EBADMSG);
    ck_assert_int_eq(ppn_crypto_session_probe("\0\0", 2, &fl), -EBADMSG);
    uint8_t junk[6] = {0, 4, 0xa1, 0, 0, 0};
    ck_assert_int_lt(ppn_crypto_session_probe(junk, sizeof(junk), &fl), 0);
    /* a well-formed message of another type is not a first message */
    pump(&p, NULL, NULL);
    ck_assert_int_eq(ppn_crypto_session_confirm(p.a, true), 0);
    n = ppn_crypto_session_take_output(p.a, buf, sizeof(buf));
    ck_assert_int_eq(ppn_crypto_session_probe(buf, (size_t)n, &fl), -EPROTO);
    pair_free(&p);
}
END_TEST

Suite *session_suite(void)
{
    Suite *s = suite_create("session");
    TCase *tc = tcase_create("memory");
    tcase_add_test(tc, test_success_memory);
    tcase_add_test(tc, test_error_text);
    tcase_add_test(tc, test_sas_differs_per_ceremony);
    tcase_add_test(tc, test_message_after_done);
    tcase_add_test(tc, test_nothing_in_clear);
    tcase_add_test(tc, test_code_errors_before_traffic);
    suite_add_tcase(s, tc);
    tc = tcase_create("failures");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wrong_code);
    tcase_add_test(tc, test_tamper_each_message);
    tcase_add_test(tc, test_deadline);
    tcase_add_test(tc, test_late_message);
    tcase_add_test(tc, test_decline);
    tcase_add_test(tc, test_invalid_points_in_protocol);
    tcase_add_test(tc, test_commitment);
    tcase_add_test(tc, test_protocol_errors);
    tcase_add_test(tc, test_malformed_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("sockets");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_socketpair);
    tcase_add_test(tc, test_tcp_loopback);
    tcase_add_test(tc, test_tcp_wrong_code);
    tcase_add_test(tc, test_tcp_decline);
    tcase_add_test(tc, test_peer_closes);
    suite_add_tcase(s, tc);
    tc = tcase_create("channel");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_channel_roundtrip);
    tcase_add_test(tc, test_channel_final_message_and_data_in_one_buffer);
    tcase_add_test(tc, test_channel_forgery);
    tcase_add_test(tc, test_channel_replay_reorder_reflect);
    tcase_add_test(tc, test_channel_truncation_and_bounds);
    tcase_add_test(tc, test_channel_abort_after_done_is_the_peers_word);
    tcase_add_test(tc, test_channel_fd);
    tcase_add_test(tc, test_probe_first_message);
    suite_add_tcase(s, tc);
    return s;
}
