/* The pairing session: commitment, CPace (initiator-responder), explicit key
 * confirmation, SAS, encrypted node records, operator confirmations.  Wire
 * format and rationale in doc/crypto.md. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "cpace.h"
#include "msg.h"
#include "ppn-common.h"
#include "ppn/crypto.h"

#define LABEL "ppn-pair v1"
#define AD_LEN (1 + (sizeof(LABEL) - 1) + 1 + 1 + 1 + 32)
#define NONCE_RECORD 0
#define NONCE_ACCEPT 1

enum expect {
    EXPECT_COMMIT,  /* responder, first */
    EXPECT_SHARE,   /* initiator, after COMMIT */
    EXPECT_REVEAL,  /* responder, after SHARE */
    EXPECT_CONFIRM, /* initiator, after REVEAL */
    EXPECT_RECORD,  /* both, after key confirmation */
    EXPECT_ACCEPT,  /* both, after the record */
    EXPECT_NOTHING, /* done or failed */
};

struct ppn_crypto_session {
    ppn_crypto_role role;
    ppn_crypto_session_state state;
    enum expect expect;
    int error;

    char code[PPN_CRYPTO_CODE_CANONICAL_SIZE];
    size_t code_len;
    uint8_t sid[MSG_SID_BYTES];
    uint8_t g[32];
    uint8_t scalar[32];
    uint8_t own_y[32], peer_y[32];
    uint8_t own_ad[AD_LEN], peer_ad[AD_LEN];
    uint8_t commit[MSG_COMMIT_BYTES];
    uint8_t sid_out[64];
    uint8_t k_mac_own[32], k_mac_peer[32], k_send[32], k_recv[32];
    char sas[PPN_CRYPTO_SAS_STRING_SIZE];

    ppn_crypto_node_record local, peer;
    bool have_peer_record, peer_accepted, local_decided;

    cbuf out;
    size_t out_off;
    uint8_t in[MSG_FRAME_HDR + MSG_MAX];
    size_t in_len;
    bool io_started;

    ppn_crypto_clock_fn clock;
    void *clock_userdata;
    uint64_t deadline, timeout_ms;

    /* The application-data channel after DONE (doc/crypto.md). */
    uint8_t k_ch_send[32], k_ch_recv[32];
    uint64_t ch_send_n, ch_recv_n;     /* records sealed / opened so far */
    int in_mode;                       /* IN_FRAME, IN_CHDR, IN_CBODY */
    uint8_t ch_hdr[4];
    size_t ch_hdr_len;
    uint8_t *ch_in;                    /* one record's ciphertext as it arrives */
    size_t ch_in_len, ch_in_need;
    struct chrec *rq_head, *rq_tail;   /* opened records not yet taken */
    uint64_t ch_total, ch_limit;       /* plaintext bytes received, and the bound */
    bool peer_aborted;                 /* ended by the peer's (unauthenticated) ABORT */
};

struct chrec {
    struct chrec *next;
    size_t len;
    uint8_t data[];
};

enum { IN_FRAME, IN_CHDR, IN_CBODY };
#define CH_TYPE 8 /* the channel's type byte in the AEAD associated data */

/* ---- single use of a code in this process --------------------------- */

#define USED_MAX 1024
static uint8_t used_key[crypto_generichash_KEYBYTES];
static uint8_t used[USED_MAX][16];
static size_t used_n, used_next;
static bool used_init;
static volatile int used_lock;

/* 0 if (role, code) was not used before (and is now recorded), -ESTALE. */
static int code_use(ppn_crypto_role role, const char *code, size_t len)
{
    while (__atomic_test_and_set(&used_lock, __ATOMIC_ACQUIRE))
        ;
    if (!used_init) {
        randombytes_buf(used_key, sizeof(used_key));
        used_init = true;
    }
    uint8_t h[16], r = (uint8_t)role;
    crypto_generichash_state st;
    crypto_generichash_init(&st, used_key, sizeof(used_key), sizeof(h));
    crypto_generichash_update(&st, &r, 1);
    crypto_generichash_update(&st, (const uint8_t *)code, len);
    crypto_generichash_final(&st, h, sizeof(h));
    /* The entries are keyed hashes: a variable-time comparison reveals
     * nothing useful about a code, and keeps the scan cheap. */
    int ret = 0;
    for (size_t i = 0; i < used_n; i++)
        if (memcmp(used[i], h, sizeof(h)) == 0)
            ret = -ESTALE;
    if (ret == 0) {
        /* A ring: after USED_MAX newer codes an old one is forgotten. */
        memcpy(used[used_next], h, sizeof(h));
        used_next = (used_next + 1) % USED_MAX;
        if (used_n < USED_MAX)
            used_n++;
    }
    __atomic_clear(&used_lock, __ATOMIC_RELEASE);
    return ret;
}

/* ---- helpers ---------------------------------------------------------- */

static uint64_t now_ms(const ppn_crypto_session *s)
{
    return s->clock ? s->clock(s->clock_userdata) : ppnc_now_mono_ms();
}

static void wipe_secrets(ppn_crypto_session *s)
{
    sodium_memzero(s->code, sizeof(s->code));
    sodium_memzero(s->scalar, sizeof(s->scalar));
    sodium_memzero(s->g, sizeof(s->g));
    sodium_memzero(s->k_mac_own, sizeof(s->k_mac_own));
    sodium_memzero(s->k_mac_peer, sizeof(s->k_mac_peer));
    sodium_memzero(s->k_send, sizeof(s->k_send));
    sodium_memzero(s->k_recv, sizeof(s->k_recv));
    sodium_memzero(s->sid_out, sizeof(s->sid_out));
    sodium_memzero(s->in, sizeof(s->in));
}

static void channel_wipe(ppn_crypto_session *s)
{
    sodium_memzero(s->k_ch_send, sizeof(s->k_ch_send));
    sodium_memzero(s->k_ch_recv, sizeof(s->k_ch_recv));
    if (s->ch_in) {
        sodium_memzero(s->ch_in, s->ch_in_need);
        free(s->ch_in);
        s->ch_in = NULL;
    }
    while (s->rq_head) {
        struct chrec *r = s->rq_head;
        s->rq_head = r->next;
        sodium_memzero(r->data, r->len);
        free(r);
    }
    s->rq_tail = NULL;
}

static int queue(ppn_crypto_session *s, const msg *m)
{
    int r = msg_encode(m, &s->out);
    return r;
}

/* End the session for good.  'tell_peer': queue an ABORT with the reason. */
static int fail_full(ppn_crypto_session *s, int err, bool tell_peer)
{
    if (s->state == PPN_CRYPTO_SESSION_FAILED)
        return s->error;
    s->state = PPN_CRYPTO_SESSION_FAILED;
    s->expect = EXPECT_NOTHING;
    s->error = err;
    wipe_secrets(s);
    channel_wipe(s);
    sodium_memzero(&s->peer, sizeof(s->peer));
    s->have_peer_record = false;
    sodium_memzero(s->sas, sizeof(s->sas));
    if (tell_peer) {
        msg m;
        memset(&m, 0, sizeof(m));
        m.version = PPN_CRYPTO_PROTOCOL_VERSION;
        m.type = PM_ABORT;
        m.reason = (uint64_t)-err;
        (void)queue(s, &m);
    }
    return err;
}

static int fail(ppn_crypto_session *s, int err)
{
    return fail_full(s, err, true);
}

/* Dead, or the deadline passed: the error; else 0. */
static int alive(ppn_crypto_session *s)
{
    if (s->state == PPN_CRYPTO_SESSION_FAILED)
        return s->error;
    if (s->state != PPN_CRYPTO_SESSION_DONE && now_ms(s) >= s->deadline)
        return fail(s, -ETIMEDOUT);
    return 0;
}

/* 64 bytes of key material: SHA-512(lv_cat(label, ISK)).  ISK is a uniformly
 * random 64-byte secret, so one hash per label serves as the KDF. */
static void kdf64(uint8_t out[64], const uint8_t isk[64], const char *label)
{
    uint8_t in[1 + 32 + 1 + 64];
    size_t n = strlen(label); /* our labels: < 32 bytes, one LEB128 byte */
    in[0] = (uint8_t)n;
    memcpy(in + 1, label, n);
    in[1 + n] = 64;
    memcpy(in + 2 + n, isk, 64);
    crypto_hash_sha512(out, in, 2 + n + 64);
    sodium_memzero(in, sizeof(in));
}

/* Key confirmation tag: BLAKE2b-256 keyed with the direction's key over the
 * CPace session id output (which hashes the whole transcript). */
static void kc_tag(uint8_t tag[MSG_MAC_BYTES], const uint8_t key[32], const uint8_t sid_out[64])
{
    crypto_generichash(tag, MSG_MAC_BYTES, sid_out, 64, key, 32);
}

static void make_ad(uint8_t ad[AD_LEN], ppn_crypto_role role, const uint8_t identity[32])
{
    cbuf b;
    cbuf_init(&b);
    const char *who = role == PPN_CRYPTO_ROLE_INITIATOR ? "A" : "B";
    cpace_prepend_len(&b, (const uint8_t *)LABEL, sizeof(LABEL) - 1);
    cpace_prepend_len(&b, (const uint8_t *)who, 1);
    cpace_prepend_len(&b, identity, 32);
    if (!b.failed && b.len == AD_LEN)
        memcpy(ad, b.data, AD_LEN);
    else
        memset(ad, 0, AD_LEN); /* cannot happen with a 128-byte first block */
    cbuf_wipe_free(&b);
}

/* The peer's AD must be exactly make_ad(peer role, some identity). */
static int check_peer_ad(const ppn_crypto_session *s, const uint8_t *ad, size_t len)
{
    if (len != AD_LEN)
        return -EBADMSG;
    uint8_t expect[AD_LEN];
    ppn_crypto_role peer = s->role == PPN_CRYPTO_ROLE_INITIATOR ? PPN_CRYPTO_ROLE_RESPONDER
                                                                 : PPN_CRYPTO_ROLE_INITIATOR;
    make_ad(expect, peer, ad + AD_LEN - 32);
    return memcmp(expect, ad, AD_LEN) == 0 ? 0 : -EBADMSG;
}

static const uint8_t ci[] = {8, 'p', 'p', 'n', '-', 'p', 'a', 'i', 'r', 2, 'v', '1'};

static int make_commit(uint8_t out[MSG_COMMIT_BYTES], const uint8_t sid[MSG_SID_BYTES],
                       const uint8_t y[32], const uint8_t ad[AD_LEN])
{
    static const char label[] = LABEL " commit";
    cbuf b;
    cbuf_init(&b);
    cpace_prepend_len(&b, (const uint8_t *)label, sizeof(label) - 1);
    cpace_prepend_len(&b, sid, MSG_SID_BYTES);
    cpace_prepend_len(&b, y, 32);
    cpace_prepend_len(&b, ad, AD_LEN);
    if (b.failed) {
        cbuf_wipe_free(&b);
        return -ENOMEM;
    }
    uint8_t h[crypto_hash_sha512_BYTES];
    crypto_hash_sha512(h, b.data, b.len);
    memcpy(out, h, MSG_COMMIT_BYTES);
    cbuf_wipe_free(&b);
    return 0;
}

static void aead_ad(uint8_t ad[sizeof(LABEL) - 1 + 1 + MSG_SID_BYTES], uint8_t type,
                    const uint8_t sid[MSG_SID_BYTES])
{
    memcpy(ad, LABEL, sizeof(LABEL) - 1);
    ad[sizeof(LABEL) - 1] = type;
    memcpy(ad + sizeof(LABEL), sid, MSG_SID_BYTES);
}

static int seal(ppn_crypto_session *s, uint8_t type, uint8_t nonce_n,
                const uint8_t *pt, size_t pt_len, msg *m)
{
    uint8_t ad[sizeof(LABEL) + MSG_SID_BYTES];
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {nonce_n};
    unsigned long long clen;
    if (pt_len + crypto_aead_chacha20poly1305_ietf_ABYTES > sizeof(m->ct))
        return -EINVAL;
    aead_ad(ad, type, s->sid);
    crypto_aead_chacha20poly1305_ietf_encrypt(m->ct, &clen, pt, pt_len, ad, sizeof(ad), NULL,
                                              nonce, s->k_send);
    m->ct_len = (size_t)clen;
    m->type = type;
    return 0;
}

static int open_ct(ppn_crypto_session *s, uint8_t type, uint8_t nonce_n, const msg *m,
                   uint8_t *pt, size_t *pt_len)
{
    uint8_t ad[sizeof(LABEL) + MSG_SID_BYTES];
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {nonce_n};
    unsigned long long plen;
    aead_ad(ad, type, s->sid);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, &plen, NULL, m->ct, m->ct_len, ad,
                                                  sizeof(ad), nonce, s->k_recv) != 0)
        return -EACCES;
    *pt_len = (size_t)plen;
    return 0;
}

static void init_msg(msg *m, uint8_t type)
{
    memset(m, 0, sizeof(*m));
    m->version = PPN_CRYPTO_PROTOCOL_VERSION;
    m->type = type;
}

/* After K: ISK, the session keys, the SAS; wipes ISK and the scalar. */
static int derive(ppn_crypto_session *s, const uint8_t k[32])
{
    const bool a = s->role == PPN_CRYPTO_ROLE_INITIATOR;
    const uint8_t *ya = a ? s->own_y : s->peer_y, *yb = a ? s->peer_y : s->own_y;
    const uint8_t *ada = a ? s->own_ad : s->peer_ad, *adb = a ? s->peer_ad : s->own_ad;
    uint8_t isk[PPN_CRYPTO_CPACE_ISK_BYTES];
    int r = ppn_crypto_cpace_isk(PPN_CRYPTO_CPACE_INITIATOR_RESPONDER, s->sid, sizeof(s->sid), k,
                                 ya, ada, AD_LEN, yb, adb, AD_LEN, isk);
    if (r == 0)
        r = ppn_crypto_cpace_sid_output(PPN_CRYPTO_CPACE_INITIATOR_RESPONDER, ya, ada, AD_LEN, yb,
                                        adb, AD_LEN, s->sid_out);
    if (r < 0) {
        sodium_memzero(isk, sizeof(isk));
        return r;
    }
    uint8_t km[64], sas[64];
    kdf64(km, isk, LABEL " confirm");
    memcpy(s->k_mac_own, a ? km : km + 32, 32);
    memcpy(s->k_mac_peer, a ? km + 32 : km, 32);
    kdf64(km, isk, LABEL " record");
    memcpy(s->k_send, a ? km : km + 32, 32);
    memcpy(s->k_recv, a ? km + 32 : km, 32);
    kdf64(km, isk, LABEL " channel");
    memcpy(s->k_ch_send, a ? km : km + 32, 32);
    memcpy(s->k_ch_recv, a ? km + 32 : km, 32);
    sodium_memzero(km, sizeof(km));
    kdf64(sas, isk, LABEL " sas");
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | sas[i];
    unsigned n = (unsigned)(v % 100000000u);
    snprintf(s->sas, sizeof(s->sas), "%04u %04u", n / 10000, n % 10000);
    sodium_memzero(sas, sizeof(sas));
    sodium_memzero(isk, sizeof(isk));
    sodium_memzero(s->scalar, sizeof(s->scalar));
    return 0;
}

/* Key confirmation is done: show the SAS and send our record. */
static int enter_sas_ready(ppn_crypto_session *s)
{
    cbuf pt;
    cbuf_init(&pt);
    int r = record_encode(&s->local, &pt);
    msg m;
    init_msg(&m, PM_RECORD);
    if (r == 0)
        r = seal(s, PM_RECORD, NONCE_RECORD, pt.data, pt.len, &m);
    cbuf_wipe_free(&pt);
    if (r == 0)
        r = queue(s, &m);
    if (r < 0)
        return r;
    s->state = PPN_CRYPTO_SESSION_SAS_READY;
    s->expect = EXPECT_RECORD;
    return 0;
}

static void maybe_done(ppn_crypto_session *s)
{
    if (s->state == PPN_CRYPTO_SESSION_SAS_READY && s->local_decided && s->peer_accepted) {
        s->state = PPN_CRYPTO_SESSION_DONE;
        s->expect = EXPECT_NOTHING;
        wipe_secrets(s);
    }
}

/* ---- message handlers (return 0 or the error to end with) ------------- */

/* Once sid is known: the generator from the code (which is wiped), the scalar, our share. */
static int make_own_share(ppn_crypto_session *s)
{
    int r = ppn_crypto_cpace_generator((const uint8_t *)s->code, s->code_len, ci, sizeof(ci),
                                       s->sid, sizeof(s->sid), s->g);
    sodium_memzero(s->code, sizeof(s->code));
    if (r == 0)
        r = ppn_crypto_cpace_share_random(s->g, s->scalar, s->own_y);
    return r;
}

/* Our share and AD in a SHARE or REVEAL. */
static void put_own_share(const ppn_crypto_session *s, msg *out)
{
    memcpy(out->y, s->own_y, 32);
    memcpy(out->ad, s->own_ad, AD_LEN);
    out->ad_len = AD_LEN;
}

/* The peer's share and AD (checked against the commitment by the caller where there is
 * one): K, then every key (derive). */
static int take_peer_share(ppn_crypto_session *s, const msg *m)
{
    memcpy(s->peer_y, m->y, 32);
    memcpy(s->peer_ad, m->ad, AD_LEN);
    uint8_t k[32];
    int r = ppn_crypto_cpace_secret(s->scalar, s->peer_y, k); /* -EBADMSG: the abort */
    if (r == 0)
        r = derive(s, k);
    sodium_memzero(k, sizeof(k));
    return r;
}

static int on_commit(ppn_crypto_session *s, const msg *m)
{
    memcpy(s->sid, m->sid, sizeof(s->sid));
    memcpy(s->commit, m->commit, sizeof(s->commit));
    int r = make_own_share(s);
    if (r < 0)
        return r;
    msg out;
    init_msg(&out, PM_SHARE);
    put_own_share(s, &out);
    r = queue(s, &out);
    if (r < 0)
        return r;
    s->expect = EXPECT_REVEAL;
    return 0;
}

static int on_share(ppn_crypto_session *s, const msg *m)
{
    int r = check_peer_ad(s, m->ad, m->ad_len);
    if (r < 0)
        return r;
    r = take_peer_share(s, m);
    if (r < 0)
        return r;
    msg out;
    init_msg(&out, PM_REVEAL);
    put_own_share(s, &out);
    kc_tag(out.mac, s->k_mac_own, s->sid_out);
    r = queue(s, &out);
    if (r < 0)
        return r;
    s->expect = EXPECT_CONFIRM;
    return 0;
}

static int on_reveal(ppn_crypto_session *s, const msg *m)
{
    int r = check_peer_ad(s, m->ad, m->ad_len);
    if (r < 0)
        return r;
    uint8_t c[MSG_COMMIT_BYTES];
    r = make_commit(c, s->sid, m->y, m->ad);
    if (r < 0)
        return r;
    if (sodium_memcmp(c, s->commit, sizeof(c)) != 0)
        return -EACCES; /* the share is not the one committed to */
    r = take_peer_share(s, m);
    if (r < 0)
        return r;
    uint8_t tag[MSG_MAC_BYTES];
    kc_tag(tag, s->k_mac_peer, s->sid_out);
    int bad = sodium_memcmp(tag, m->mac, sizeof(tag)) != 0;
    sodium_memzero(tag, sizeof(tag));
    if (bad)
        return -EACCES; /* wrong code (or an attacker guessing it) */
    msg out;
    init_msg(&out, PM_CONFIRM);
    kc_tag(out.mac, s->k_mac_own, s->sid_out);
    r = queue(s, &out);
    if (r < 0)
        return r;
    return enter_sas_ready(s);
}

static int on_confirm(ppn_crypto_session *s, const msg *m)
{
    uint8_t tag[MSG_MAC_BYTES];
    kc_tag(tag, s->k_mac_peer, s->sid_out);
    int bad = sodium_memcmp(tag, m->mac, sizeof(tag)) != 0;
    sodium_memzero(tag, sizeof(tag));
    if (bad)
        return -EACCES;
    return enter_sas_ready(s);
}

static int on_record(ppn_crypto_session *s, const msg *m)
{
    uint8_t pt[MSG_CT_MAX];
    size_t len;
    int r = open_ct(s, PM_RECORD, NONCE_RECORD, m, pt, &len);
    ppn_crypto_node_record rec;
    if (r == 0)
        r = record_decode(pt, len, &rec);
    sodium_memzero(pt, sizeof(pt));
    if (r < 0)
        return r;
    if (memcmp(rec.identity_public, s->peer_ad + AD_LEN - 32, 32) != 0)
        return -EPROTO; /* not the identity bound into CPace */
    s->peer = rec;
    s->have_peer_record = true;
    s->expect = EXPECT_ACCEPT;
    return 0;
}

static int on_accept(ppn_crypto_session *s, const msg *m)
{
    uint8_t pt[MSG_CT_MAX];
    size_t len;
    int r = open_ct(s, PM_ACCEPT, NONCE_ACCEPT, m, pt, &len);
    if (r < 0)
        return r;
    if (len != 0)
        return -EBADMSG;
    s->peer_accepted = true;
    s->expect = EXPECT_NOTHING;
    maybe_done(s);
    return 0;
}

static int peer_abort_error(uint64_t reason)
{
    if (reason == EACCES)
        return -EACCES;
    if (reason == ECANCELED)
        return -ECANCELED;
    if (reason == ETIMEDOUT)
        return -ETIMEDOUT;
    return -ECONNABORTED;
}

static int handle(ppn_crypto_session *s, const uint8_t *data, size_t len)
{
    msg m;
    int r = msg_decode(data, len, &m);
    if (r < 0)
        return fail(s, r);
    if (m.type == PM_ABORT) {
        s->peer_aborted = true;
        return fail_full(s, peer_abort_error(m.reason), false);
    }
    if (s->state == PPN_CRYPTO_SESSION_DONE)
        return fail(s, -EPROTO); /* nothing may follow the last ACCEPT */

    static const uint8_t wanted[] = {
        [EXPECT_COMMIT] = PM_COMMIT, [EXPECT_SHARE] = PM_SHARE,
        [EXPECT_REVEAL] = PM_REVEAL, [EXPECT_CONFIRM] = PM_CONFIRM,
        [EXPECT_RECORD] = PM_RECORD, [EXPECT_ACCEPT] = PM_ACCEPT,
        [EXPECT_NOTHING] = 0,
    };
    if (m.type != wanted[s->expect])
        return fail(s, -EPROTO);
    switch (m.type) {
    case PM_COMMIT: r = on_commit(s, &m); break;
    case PM_SHARE: r = on_share(s, &m); break;
    case PM_REVEAL: r = on_reveal(s, &m); break;
    case PM_CONFIRM: r = on_confirm(s, &m); break;
    case PM_RECORD: r = on_record(s, &m); break;
    case PM_ACCEPT: r = on_accept(s, &m); break;
    default: r = -EPROTO;
    }
    sodium_memzero(&m, sizeof(m));
    return r < 0 ? fail(s, r) : 0;
}

/* ---- public API ------------------------------------------------------- */

PPN_EXPORT int ppn_crypto_session_new(ppn_crypto_session **ret, ppn_crypto_role role,
                                      const char *code, uint32_t code_flags,
                                      const ppn_crypto_node_record *local, uint64_t timeout_ms)
{
    if (!ret || !code || !local ||
        (role != PPN_CRYPTO_ROLE_INITIATOR && role != PPN_CRYPTO_ROLE_RESPONDER))
        return -EINVAL;
    if (ppn_crypto_node_record_validate(local) < 0)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    char canon[PPN_CRYPTO_CODE_CANONICAL_SIZE];
    int n = ppn_crypto_code_parse(code, strlen(code), code_flags, canon, NULL);
    if (n < 0)
        return n;

    ppn_crypto_session *s = calloc(1, sizeof(*s));
    if (!s) {
        sodium_memzero(canon, sizeof(canon));
        return -ENOMEM;
    }
    s->role = role;
    s->state = PPN_CRYPTO_SESSION_HANDSHAKE;
    memcpy(s->code, canon, (size_t)n + 1);
    s->code_len = (size_t)n;
    sodium_memzero(canon, sizeof(canon));
    s->local = *local;
    cbuf_init(&s->out);
    s->timeout_ms = timeout_ms ? timeout_ms : PPN_CRYPTO_DEFAULT_TIMEOUT_MS;
    if (s->timeout_ms > UINT64_MAX / 4)
        s->timeout_ms = UINT64_MAX / 4; /* "forever", without overflow */
    s->deadline = now_ms(s) + s->timeout_ms;
    s->ch_limit = PPN_CRYPTO_SESSION_RECV_DEFAULT_MAX;
    make_ad(s->own_ad, role, local->identity_public);

    int r = code_use(role, s->code, s->code_len);
    if (r < 0) {
        ppn_crypto_session_free(s);
        return r;
    }

    if (role == PPN_CRYPTO_ROLE_INITIATOR) {
        randombytes_buf(s->sid, sizeof(s->sid)); /* fresh per ceremony */
        r = make_own_share(s);
        msg m;
        init_msg(&m, PM_COMMIT);
        memcpy(m.sid, s->sid, sizeof(s->sid));
        if (r == 0)
            r = make_commit(m.commit, s->sid, s->own_y, s->own_ad);
        if (r == 0)
            r = queue(s, &m);
        if (r < 0) {
            ppn_crypto_session_free(s);
            return r;
        }
        s->expect = EXPECT_SHARE;
    } else {
        s->expect = EXPECT_COMMIT;
    }
    *ret = s;
    return 0;
}

PPN_EXPORT void ppn_crypto_session_free(ppn_crypto_session *s)
{
    if (!s)
        return;
    cbuf_wipe_free(&s->out);
    channel_wipe(s);
    sodium_memzero(s, sizeof(*s));
    free(s);
}

PPN_EXPORT int ppn_crypto_session_set_clock(ppn_crypto_session *s, ppn_crypto_clock_fn clock,
                                            void *userdata)
{
    if (!s || !clock)
        return -EINVAL;
    if (s->io_started)
        return -EBUSY;
    s->clock = clock;
    s->clock_userdata = userdata;
    s->deadline = now_ms(s) + s->timeout_ms;
    return 0;
}

/* The channel record number n's AEAD parameters, the same both ways: the nonce is 4 zero
 * bytes then n, big-endian; the associated data "ppn-pair v1", the channel type byte, sid. */
#define CH_HDR 6 /* 00 00, then the 4-byte ciphertext length */
struct ch_aead {
    uint8_t ad[sizeof(LABEL) + MSG_SID_BYTES];
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
};

static void ch_aead_init(struct ch_aead *a, const ppn_crypto_session *s, uint64_t n)
{
    aead_ad(a->ad, CH_TYPE, s->sid);
    memset(a->nonce, 0, 4);
    ppnc_put_be(a->nonce + 4, n, 8);
}

/* A complete channel record is in s->ch_in: open it with the next counter, queue the
 * plaintext.  0 or the error to end the session with. */
static int channel_open(ppn_crypto_session *s)
{
    size_t clen = s->ch_in_need, plen = clen - crypto_aead_chacha20poly1305_ietf_ABYTES;
    if (s->ch_total + plen > s->ch_limit)
        return -EMSGSIZE;
    struct chrec *rec = malloc(sizeof(*rec) + (plen ? plen : 1));
    if (!rec)
        return -ENOMEM;
    struct ch_aead a;
    ch_aead_init(&a, s, s->ch_recv_n);
    unsigned long long got;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(rec->data, &got, NULL, s->ch_in, clen, a.ad,
                                                  sizeof(a.ad), a.nonce, s->k_ch_recv) != 0) {
        free(rec);
        return -EACCES; /* forged, replayed, reordered or from another session */
    }
    s->ch_recv_n++;
    s->ch_total += plen;
    rec->len = (size_t)got;
    rec->next = NULL;
    if (s->rq_tail)
        s->rq_tail->next = rec;
    else
        s->rq_head = rec;
    s->rq_tail = rec;
    sodium_memzero(s->ch_in, clen);
    free(s->ch_in);
    s->ch_in = NULL;
    s->ch_in_len = s->ch_in_need = 0;
    return 0;
}

PPN_EXPORT int ppn_crypto_session_feed(ppn_crypto_session *s, const void *data, size_t len)
{
    if (!s || (!data && len))
        return -EINVAL;
    s->io_started = true;
    int r = alive(s);
    if (r < 0)
        return r;
    const uint8_t *p = data;
    while (len > 0) {
        if (s->in_mode == IN_CHDR) {
            size_t take = 4 - s->ch_hdr_len < len ? 4 - s->ch_hdr_len : len;
            memcpy(s->ch_hdr + s->ch_hdr_len, p, take);
            s->ch_hdr_len += take;
            p += take;
            len -= take;
            if (s->ch_hdr_len < 4)
                continue;
            uint64_t clen = ppnc_get_be(s->ch_hdr, 4);
            /* Cheap checks before reading on: the bound of one record and of the total. */
            if (clen < crypto_aead_chacha20poly1305_ietf_ABYTES)
                return fail(s, -EBADMSG);
            if (clen > PPN_CRYPTO_SESSION_RECORD_MAX + crypto_aead_chacha20poly1305_ietf_ABYTES ||
                s->ch_total + clen - crypto_aead_chacha20poly1305_ietf_ABYTES > s->ch_limit)
                return fail(s, -EMSGSIZE);
            s->ch_in = malloc((size_t)clen);
            if (!s->ch_in)
                return fail(s, -ENOMEM);
            s->ch_in_need = (size_t)clen;
            s->ch_in_len = 0;
            s->in_mode = IN_CBODY;
            continue;
        }
        if (s->in_mode == IN_CBODY) {
            size_t take = s->ch_in_need - s->ch_in_len < len ? s->ch_in_need - s->ch_in_len : len;
            memcpy(s->ch_in + s->ch_in_len, p, take);
            s->ch_in_len += take;
            p += take;
            len -= take;
            if (s->ch_in_len < s->ch_in_need)
                continue;
            if ((r = channel_open(s)) < 0)
                return fail(s, r);
            s->in_mode = IN_FRAME;
            continue;
        }
        size_t want;
        if (s->in_len < MSG_FRAME_HDR) {
            want = MSG_FRAME_HDR - s->in_len;
        } else {
            size_t body = ((size_t)s->in[0] << 8) | s->in[1];
            want = MSG_FRAME_HDR + body - s->in_len;
        }
        size_t take = want < len ? want : len;
        memcpy(s->in + s->in_len, p, take);
        s->in_len += take;
        p += take;
        len -= take;
        if (s->in_len == MSG_FRAME_HDR) {
            size_t body = ((size_t)s->in[0] << 8) | s->in[1];
            if (body == 0 && s->state == PPN_CRYPTO_SESSION_DONE) {
                /* A channel record: the bytes after the last handshake message are the
                 * channel's, never an error. */
                s->in_len = 0;
                s->ch_hdr_len = 0;
                s->in_mode = IN_CHDR;
                continue;
            }
            if (body == 0 || body > MSG_MAX)
                return fail(s, -EBADMSG);
            continue;
        }
        if (s->in_len > MSG_FRAME_HDR &&
            s->in_len == MSG_FRAME_HDR + (((size_t)s->in[0] << 8) | s->in[1])) {
            r = handle(s, s->in + MSG_FRAME_HDR, s->in_len - MSG_FRAME_HDR);
            sodium_memzero(s->in, s->in_len);
            s->in_len = 0;
            if (r < 0)
                return r;
        }
    }
    return 0;
}

PPN_EXPORT int ppn_crypto_session_send(ppn_crypto_session *s, const void *data, size_t len)
{
    if (!s || (!data && len))
        return -EINVAL;
    if (s->state == PPN_CRYPTO_SESSION_FAILED)
        return s->error;
    if (s->state != PPN_CRYPTO_SESSION_DONE)
        return -EAGAIN;
    if (len > PPN_CRYPTO_SESSION_RECORD_MAX)
        return -EMSGSIZE;
    size_t clen = len + crypto_aead_chacha20poly1305_ietf_ABYTES;
    uint8_t *frame = malloc(CH_HDR + clen);
    if (!frame)
        return -ENOMEM;
    frame[0] = frame[1] = 0;
    ppnc_put_be(frame + 2, clen, 4);
    struct ch_aead a;
    ch_aead_init(&a, s, s->ch_send_n);
    unsigned long long out;
    crypto_aead_chacha20poly1305_ietf_encrypt(frame + CH_HDR, &out, data, len, a.ad, sizeof(a.ad),
                                              NULL, a.nonce, s->k_ch_send);
    cbuf_append(&s->out, frame, CH_HDR + clen);
    sodium_memzero(frame, CH_HDR + clen);
    free(frame);
    if (s->out.failed)
        return fail_full(s, -ENOMEM, false);
    s->ch_send_n++;
    return 0;
}

PPN_EXPORT int ppn_crypto_session_recv(ppn_crypto_session *s, uint8_t **ret_data, size_t *ret_len)
{
    if (!s || !ret_data || !ret_len)
        return -EINVAL;
    if (s->state == PPN_CRYPTO_SESSION_FAILED)
        return s->error;
    struct chrec *r = s->rq_head;
    if (!r)
        return -EAGAIN;
    uint8_t *buf = malloc(r->len ? r->len : 1);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, r->data, r->len);
    s->rq_head = r->next;
    if (!s->rq_head)
        s->rq_tail = NULL;
    *ret_data = buf;
    *ret_len = r->len;
    sodium_memzero(r->data, r->len);
    free(r);
    return 0;
}

PPN_EXPORT int ppn_crypto_session_set_recv_limit(ppn_crypto_session *s, uint64_t max_bytes)
{
    if (!s || max_bytes == 0)
        return -EINVAL;
    s->ch_limit = max_bytes;
    return 0;
}

PPN_EXPORT const char *ppn_crypto_session_error_text(int err)
{
    switch (err) {
    case -EACCES: return "the code was wrong or a message was forged; this code is now used up";
    case -ECANCELED: return "an operator declined the SAS";
    case -ETIMEDOUT: return "the ceremony window expired";
    case -EBADMSG: return "the peer sent a malformed message";
    case -EPROTO: return "the peer broke the protocol";
    case -ECONNRESET: return "the peer closed the connection";
    case -EMSGSIZE: return "the peer sent a record over its bound";
    default: return NULL;
    }
}

PPN_EXPORT bool ppn_crypto_session_peer_aborted(const ppn_crypto_session *s)
{
    return s && s->state == PPN_CRYPTO_SESSION_FAILED && s->peer_aborted;
}

PPN_EXPORT ssize_t ppn_crypto_session_take_output(ppn_crypto_session *s, void *buf, size_t size)
{
    if (!s || (!buf && size))
        return -EINVAL;
    s->io_started = true;
    (void)alive(s); /* a passed deadline queues the ABORT */
    size_t avail = s->out.len - s->out_off;
    size_t n = avail < size ? avail : size;
    if (n)
        memcpy(buf, s->out.data + s->out_off, n);
    s->out_off += n;
    if (s->out_off == s->out.len) {
        if (s->out.data)
            sodium_memzero(s->out.data, s->out.len);
        s->out.len = 0;
        s->out_off = 0;
    }
    if (n > SSIZE_MAX)
        return -EINVAL;
    return (ssize_t)n;
}

PPN_EXPORT size_t ppn_crypto_session_output_pending(const ppn_crypto_session *s)
{
    return s ? s->out.len - s->out_off : 0;
}

PPN_EXPORT int ppn_crypto_session_check_deadline(ppn_crypto_session *s)
{
    if (!s)
        return -EINVAL;
    return alive(s);
}

PPN_EXPORT uint64_t ppn_crypto_session_remaining_ms(ppn_crypto_session *s)
{
    if (!s)
        return 0;
    uint64_t now = now_ms(s);
    return now >= s->deadline ? 0 : s->deadline - now;
}

PPN_EXPORT ppn_crypto_session_state ppn_crypto_session_get_state(const ppn_crypto_session *s)
{
    return s ? s->state : PPN_CRYPTO_SESSION_FAILED;
}

PPN_EXPORT int ppn_crypto_session_error(const ppn_crypto_session *s)
{
    if (!s)
        return -EINVAL;
    return s->state == PPN_CRYPTO_SESSION_FAILED ? s->error : 0;
}

PPN_EXPORT int ppn_crypto_session_sas(const ppn_crypto_session *s,
                                      char ret_sas[PPN_CRYPTO_SAS_STRING_SIZE])
{
    if (!s || !ret_sas)
        return -EINVAL;
    if (s->state == PPN_CRYPTO_SESSION_FAILED)
        return s->error;
    if (s->state == PPN_CRYPTO_SESSION_HANDSHAKE)
        return -EAGAIN;
    memcpy(ret_sas, s->sas, sizeof(s->sas));
    return 0;
}

PPN_EXPORT int ppn_crypto_session_confirm(ppn_crypto_session *s, bool accept)
{
    if (!s)
        return -EINVAL;
    int r = alive(s);
    if (r < 0)
        return r;
    if (s->state == PPN_CRYPTO_SESSION_HANDSHAKE)
        return -EAGAIN;
    if (s->local_decided || s->state == PPN_CRYPTO_SESSION_DONE)
        return -EALREADY;
    s->io_started = true;
    if (!accept)
        return fail(s, -ECANCELED);
    msg m;
    init_msg(&m, PM_ACCEPT);
    r = seal(s, PM_ACCEPT, NONCE_ACCEPT, NULL, 0, &m);
    if (r == 0)
        r = queue(s, &m);
    if (r < 0)
        return fail(s, r);
    s->local_decided = true;
    maybe_done(s);
    return 0;
}

PPN_EXPORT int ppn_crypto_session_peer_record(const ppn_crypto_session *s,
                                              ppn_crypto_node_record *ret_record)
{
    if (!s || !ret_record)
        return -EINVAL;
    if (s->state == PPN_CRYPTO_SESSION_FAILED)
        return s->error;
    if (s->state != PPN_CRYPTO_SESSION_DONE)
        return -EAGAIN;
    *ret_record = s->peer;
    return 0;
}

/* ---- the drivers over a stream socket --------------------------------- */

/* Until fd is ready for 'events' (0), or the deadline on the session's clock passes
 * (-ETIMEDOUT), or poll fails (-errno). */
static int wait_fd(ppn_crypto_session *s, int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms(s);
        if (now >= deadline)
            return -ETIMEDOUT;
        uint64_t left = deadline - now;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, left > 1000 ? 1000 : (int)left); /* the caller's clock may be fake */
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n > 0)
            return 0;
    }
}

/* How a write that would block waits: 0 to try again, or the error to stop with. */
typedef int (*wait_out_fn)(ppn_crypto_session *s, int fd, uint64_t deadline);

/* The handshake driver's way: up to a second at a time while the session's deadline holds
 * (then the session fails with -ETIMEDOUT); once it is DONE or FAILED, one more second for
 * each write that would block. */
static int wait_out_handshake(ppn_crypto_session *s, int fd, uint64_t unused)
{
    (void)unused;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    uint64_t rem = ppn_crypto_session_remaining_ms(s);
    int t = rem > 1000 ? 1000 : (int)rem;
    if (s->state == PPN_CRYPTO_SESSION_FAILED || s->state == PPN_CRYPTO_SESSION_DONE)
        t = 1000;
    if (poll(&pfd, 1, t) < 0 && errno != EINTR)
        return -errno;
    if (s->state != PPN_CRYPTO_SESSION_FAILED && s->state != PPN_CRYPTO_SESSION_DONE)
        return alive(s);
    return pfd.revents == 0 ? -ETIMEDOUT : 0;
}

/* The channel drivers' way: until the caller's deadline. */
static int wait_out_until(ppn_crypto_session *s, int fd, uint64_t deadline)
{
    return wait_fd(s, fd, POLLOUT, deadline);
}

/* Writes all the queued output to fd; 0, or the error (-ECONNRESET: the peer is gone). */
static int write_out(ppn_crypto_session *s, int fd, wait_out_fn wait, uint64_t deadline)
{
    while (ppn_crypto_session_output_pending(s) > 0) {
        const uint8_t *p = s->out.data + s->out_off;
        size_t n = s->out.len - s->out_off;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == ENOTSOCK)
            w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int r = wait(s, fd, deadline);
                if (r < 0)
                    return r;
                continue;
            }
            return errno == EPIPE ? -ECONNRESET : -errno;
        }
        s->out_off += (size_t)w;
        if (s->out_off == s->out.len) {
            sodium_memzero(s->out.data, s->out.len);
            s->out.len = s->out_off = 0;
        }
    }
    return 0;
}

static int flush_handshake(ppn_crypto_session *s, int fd)
{
    return write_out(s, fd, wait_out_handshake, 0);
}

static int flush_until(ppn_crypto_session *s, int fd, uint64_t deadline)
{
    return write_out(s, fd, wait_out_until, deadline);
}

/* One read from fd (once poll said it is readable), fed to the session.  0 (also when the
 * read was interrupted or would block); the read's error, -ECONNRESET at end of file, with
 * the session untouched; or, when the bytes ended the session, its error (state FAILED,
 * an ABORT for the peer queued). */
static int read_feed(ppn_crypto_session *s, int fd)
{
    uint8_t buf[16384];
    ssize_t got = read(fd, buf, sizeof(buf));
    if (got < 0)
        return errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    if (got == 0)
        return -ECONNRESET;
    int r = ppn_crypto_session_feed(s, buf, (size_t)got);
    sodium_memzero(buf, sizeof(buf));
    return r;
}

PPN_EXPORT int ppn_crypto_session_run_fd(ppn_crypto_session *s, int fd,
                                         ppn_crypto_session_state until)
{
    if (!s || fd < 0 ||
        (until != PPN_CRYPTO_SESSION_SAS_READY && until != PPN_CRYPTO_SESSION_DONE))
        return -EINVAL;
    s->io_started = true;
    for (;;) {
        int r = alive(s);
        if (r < 0) {
            (void)flush_handshake(s, fd); /* best effort: the ABORT */
            return r;
        }
        r = flush_handshake(s, fd);
        if (r < 0) {
            if (s->state == PPN_CRYPTO_SESSION_DONE)
                return 0;
            return fail_full(s, r, false);
        }
        if (s->state >= until)
            return 0;
        r = wait_fd(s, fd, POLLIN, s->deadline);
        if (r == -ETIMEDOUT)
            continue; /* alive() ends the session */
        if (r < 0)
            return fail(s, r);
        r = read_feed(s, fd);
        if (r < 0 && s->state == PPN_CRYPTO_SESSION_FAILED) {
            (void)flush_handshake(s, fd); /* best effort: the ABORT */
            return r;
        }
        if (r < 0)
            return fail_full(s, r, false);
    }
}

/* ---- the channel, each call bounded by its own timeout ------------------ */

PPN_EXPORT int ppn_crypto_session_flush_fd(ppn_crypto_session *s, int fd, uint64_t timeout_ms)
{
    if (!s || fd < 0)
        return -EINVAL;
    s->io_started = true;
    return flush_until(s, fd, now_ms(s) + timeout_ms);
}

PPN_EXPORT int ppn_crypto_session_recv_fd(ppn_crypto_session *s, int fd, uint64_t timeout_ms,
                                          uint8_t **ret_data, size_t *ret_len)
{
    if (!s || fd < 0 || !ret_data || !ret_len)
        return -EINVAL;
    s->io_started = true;
    uint64_t deadline = now_ms(s) + timeout_ms;
    int r = flush_until(s, fd, deadline);
    if (r < 0)
        return r;
    for (;;) {
        r = ppn_crypto_session_recv(s, ret_data, ret_len);
        if (r != -EAGAIN)
            break;
        if (s->state != PPN_CRYPTO_SESSION_DONE)
            return -EAGAIN; /* not DONE: run_fd first */
        if ((r = wait_fd(s, fd, POLLIN, deadline)) < 0)
            return r;
        r = read_feed(s, fd);
        if (r < 0 && s->state == PPN_CRYPTO_SESSION_FAILED)
            (void)flush_until(s, fd, now_ms(s) + 1000); /* best effort: the ABORT */
        if (r < 0)
            return r;
    }
    return r;
}

PPN_EXPORT int ppn_crypto_session_probe(const void *data, size_t len, size_t *ret_len)
{
    if ((!data && len) || !ret_len)
        return -EINVAL;
    const uint8_t *p = data;
    if (len < MSG_FRAME_HDR)
        return -EAGAIN;
    size_t body = ((size_t)p[0] << 8) | p[1];
    if (body == 0 || body > MSG_MAX)
        return -EBADMSG;
    if (len < MSG_FRAME_HDR + body)
        return -EAGAIN;
    msg m;
    int r = msg_decode(p + MSG_FRAME_HDR, body, &m);
    bool commit = r == 0 && m.type == PM_COMMIT;
    sodium_memzero(&m, sizeof(m));
    if (r < 0)
        return r;
    if (!commit)
        return -EPROTO;
    *ret_len = MSG_FRAME_HDR + body;
    return 0;
}
