/* Fuzz the pairing session as a peer would: the first byte selects
 *   0: the bytes are fed to a fresh responder,
 *   1: the bytes are fed to a fresh initiator,
 *   2: a real ceremony runs between two sessions and the bytes are a list of
 *      (frame index, byte offset, xor value) edits applied in flight.
 * Whatever happens, a session never releases a record unless it is DONE,
 * and a failed session stays failed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t counter;

/* A code never used before in this process (codes are single use). */
static void next_code(char out[16])
{
    static const char a[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint64_t c = counter++;
    for (int i = 9; i >= 0; i--) {
        out[i] = a[c & 31];
        c >>= 5;
    }
    out[10] = '\0';
}

static void record(ppn_crypto_node_record *r, uint8_t id)
{
    memset(r, 0, sizeof(*r));
    memset(r->identity_public, id, 32);
    memset(r->wg_public, id + 1, 32);
    strcpy(r->endpoint, "192.0.2.1:51820");
    strcpy(r->hostname, id == 1 ? "alpha" : "beta");
    strcpy(r->address, "10.8.0.2/24");
}

static void check_invariants(ppn_crypto_session *s)
{
    ppn_crypto_node_record r;
    ppn_crypto_session_state st = ppn_crypto_session_get_state(s);
    int pr = ppn_crypto_session_peer_record(s, &r);
    if ((pr == 0) != (st == PPN_CRYPTO_SESSION_DONE))
        abort();
    if (st == PPN_CRYPTO_SESSION_FAILED && ppn_crypto_session_error(s) >= 0)
        abort();
}

static void drain(ppn_crypto_session *s)
{
    uint8_t buf[4096];
    while (ppn_crypto_session_take_output(s, buf, sizeof(buf)) > 0)
        ;
}

/* A fresh session with a code never used before: record 1 for the initiator (and in
 * feed_single/probe), 2 for the responder of a pair. */
static ppn_crypto_session *fresh(ppn_crypto_role role, uint8_t id, const char *code)
{
    ppn_crypto_session *s;
    ppn_crypto_node_record r;
    record(&r, id);
    if (ppn_crypto_session_new(&s, role, code, 0, &r, 0) < 0)
        abort();
    return s;
}

static ppn_crypto_session *fresh_one(ppn_crypto_role role)
{
    char code[16];
    next_code(code);
    return fresh(role, 1, code);
}

static void fresh_pair(ppn_crypto_session *s[2])
{
    char code[16];
    next_code(code);
    s[0] = fresh(PPN_CRYPTO_ROLE_INITIATOR, 1, code);
    s[1] = fresh(PPN_CRYPTO_ROLE_RESPONDER, 2, code);
}

/* 'rounds' rounds of taking each side's output and feeding it to the other; the initiator
 * accepts in round 3, the responder in round 4.  The edits (triples: frame index mod 16,
 * byte offset, xor value) are applied in flight; true if any was. */
static bool pump(ppn_crypto_session *s[2], int rounds, const uint8_t *edits, size_t n_edits)
{
    int frame = 0;
    bool edited = false;
    for (int round = 0; round < rounds; round++) {
        if (round == 3)
            (void)ppn_crypto_session_confirm(s[0], true);
        if (round == 4)
            (void)ppn_crypto_session_confirm(s[1], true);
        for (int dir = 0; dir < 2; dir++) {
            uint8_t buf[4096];
            ssize_t n = ppn_crypto_session_take_output(s[dir], buf, sizeof(buf));
            if (n <= 0)
                continue;
            for (size_t e = 0; e + 3 <= n_edits; e += 3) {
                if (edits[e] % 16 == frame && edits[e + 2]) {
                    buf[edits[e + 1] % (size_t)n] ^= edits[e + 2];
                    edited = true;
                }
            }
            frame++;
            (void)ppn_crypto_session_feed(s[!dir], buf, (size_t)n);
        }
    }
    return edited;
}

static bool both_done(ppn_crypto_session *s[2])
{
    return ppn_crypto_session_get_state(s[0]) == PPN_CRYPTO_SESSION_DONE &&
           ppn_crypto_session_get_state(s[1]) == PPN_CRYPTO_SESSION_DONE;
}

static void feed_single(ppn_crypto_role role, const uint8_t *data, size_t size)
{
    ppn_crypto_session *s = fresh_one(role);
    /* in two chunks, to exercise the framing across calls */
    size_t half = size / 2;
    (void)ppn_crypto_session_feed(s, data, half);
    check_invariants(s);
    (void)ppn_crypto_session_feed(s, data + half, size - half);
    check_invariants(s);
    drain(s);
    ppn_crypto_session_free(s);
}

static void ceremony(const uint8_t *edits, size_t n_edits)
{
    ppn_crypto_session *s[2];
    fresh_pair(s);
    bool edited = pump(s, 20, edits, n_edits);
    for (int i = 0; i < 2; i++)
        check_invariants(s[i]);
    /* without edits the ceremony must succeed */
    if (!edited && !both_done(s))
        abort();
    ppn_crypto_session_free(s[0]);
    ppn_crypto_session_free(s[1]);
}

/* Two sessions brought to DONE without edits. */
static void done_pair(ppn_crypto_session *s[2])
{
    fresh_pair(s);
    (void)pump(s, 12, NULL, 0);
    if (!both_done(s))
        abort();
}

/* The channel after DONE: bytes fed as channel input never yield a record (nobody but the
 * peer can seal one); a real record with edits yields it only unedited. */
static void channel(const uint8_t *data, size_t size, bool framed, bool real)
{
    ppn_crypto_session *s[2];
    done_pair(s);
    uint8_t *d;
    size_t n;
    if (real) {
        static const uint8_t msg[] = "a record inside the session";
        if (ppn_crypto_session_send(s[0], msg, sizeof(msg)) < 0)
            abort();
        uint8_t buf[256], orig[256];
        ssize_t w = ppn_crypto_session_take_output(s[0], buf, sizeof(buf));
        if (w <= 0)
            abort();
        memcpy(orig, buf, (size_t)w);
        for (size_t e = 0; e + 2 <= size; e += 2)
            buf[data[e] % (size_t)w] ^= data[e + 1];
        bool edited = memcmp(orig, buf, (size_t)w) != 0; /* edits may cancel out */
        (void)ppn_crypto_session_feed(s[1], buf, (size_t)w);
        int r = ppn_crypto_session_recv(s[1], &d, &n);
        if (r == 0) {
            if (edited || n != sizeof(msg) || memcmp(d, msg, n) != 0)
                abort();
            free(d);
        } else if (!edited) {
            abort();
        }
    } else {
        if (framed) {
            uint8_t hdr[6] = {0, 0, (uint8_t)(size >> 24), (uint8_t)(size >> 16), (uint8_t)(size >> 8),
                              (uint8_t)size};
            (void)ppn_crypto_session_feed(s[1], hdr, sizeof(hdr));
        }
        size_t half = size / 2;
        (void)ppn_crypto_session_feed(s[1], data, half);
        (void)ppn_crypto_session_feed(s[1], data + half, size - half);
        if (ppn_crypto_session_recv(s[1], &d, &n) == 0)
            abort(); /* a forged record was handed out */
    }
    ppn_crypto_session_free(s[0]);
    ppn_crypto_session_free(s[1]);
}

/* What the probe accepts as a first message, a fresh responder takes without a framing,
 * decoding or ordering error. */
static void probe(const uint8_t *data, size_t size)
{
    size_t fl;
    if (ppn_crypto_session_probe(data, size, &fl) != 0)
        return;
    if (fl > size)
        abort();
    ppn_crypto_session *s = fresh_one(PPN_CRYPTO_ROLE_RESPONDER);
    int e = ppn_crypto_session_feed(s, data, fl);
    if (e == -EBADMSG || e == -EPROTO)
        abort();
    ppn_crypto_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* 0xF0..0xF3: the channel and the probe (the older modes keep their bytes' meaning) */
    if (data[0] >= 0xF0 && data[0] <= 0xF3) {
        if (data[0] == 0xF3)
            probe(data + 1, size - 1);
        else
            channel(data + 1, size - 1 > 4096 ? 4096 : size - 1, data[0] == 0xF1, data[0] == 0xF2);
        return 0;
    }
    switch (data[0] % 3) {
    case 0: feed_single(PPN_CRYPTO_ROLE_RESPONDER, data + 1, size - 1); break;
    case 1: feed_single(PPN_CRYPTO_ROLE_INITIATOR, data + 1, size - 1); break;
    case 2: ceremony(data + 1, size - 1 > 30 ? 30 : size - 1); break;
    }
    return 0;
}
