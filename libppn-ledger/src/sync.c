/* The network sync, sans-I/O (doc/sync.md): a request (origin, size, root), an answer (the
 * entries after that size, the answering member's signed checkpoint, a consistency proof, and
 * on a divergence its leaf hashes), and applying an answer: everything verified before anything
 * is appended; a fork refused with evidence. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cosign.h"
#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"
#include "sync.h"

static void report_init(struct ppn_ledger_sync_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    rep->error_index = rep->error_offset = UINT64_MAX;
}

__attribute__((format(printf, 4, 5))) static int fail(struct ppn_ledger_sync_report *rep, int r, uint64_t off,
                                                      const char *fmt, ...)
{
    rep->error_offset = off;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
    va_end(ap);
    return r;
}

/* ---- request ---- */

PPN_EXPORT int ppn_ledger_sync_request(ppn_ledger *l, uint8_t *buf, size_t size, size_t *ret_len)
{
    if (!l || !buf || !ret_len)
        return -EINVAL;
    size_t ol = strlen(l->origin);
    size_t len = SYNC_REQ_HEAD + ol;
    if (size < len)
        return -ENOBUFS;
    memcpy(buf, SYNC_REQ_MAGIC2, 8);
    ppnc_put_be(buf + 8, l->n, 8);
    frontier_root(&l->fr, buf + 16);
    buf[48] = (uint8_t)ol;
    memcpy(buf + 49, l->origin, ol);
    *ret_len = len;
    return 0;
}

PPN_EXPORT int ppn_ledger_sync_request_decode(const uint8_t *buf, size_t len,
                                              struct ppn_ledger_sync_request *ret)
{
    if ((!buf && len) || !ret)
        return -EINVAL;
    if (len > PPN_LEDGER_SYNC_REQUEST_MAX)
        return -E2BIG;
    if (len < SYNC_REQ_HEAD + 1 || (memcmp(buf, SYNC_REQ_MAGIC, 8) != 0 && memcmp(buf, SYNC_REQ_MAGIC2, 8) != 0))
        return -EBADMSG;
    size_t ol = buf[48];
    if (ol == 0 || len != SYNC_REQ_HEAD + ol || !utf8_valid((const char *)buf + 49, ol))
        return -EBADMSG;
    uint64_t size = ppnc_get_be(buf + 8, 8);
    if (size > (UINT64_C(1) << 62))
        return -EBADMSG;
    ret->size = size;
    memcpy(ret->root, buf + 16, 32);
    memcpy(ret->origin, buf + 49, ol);
    ret->origin[ol] = 0;
    return 0;
}

/* ---- answer: decoding ---- */

int sync_answer_decode(const uint8_t *buf, size_t len, size_t max, struct sync_answer *a,
                       struct ppn_ledger_sync_report *rep)
{
    memset(a, 0, sizeof(*a));
    if (len > max || len > PPN_LEDGER_SYNC_ANSWER_MAX)
        return fail(rep, -E2BIG, max, "the answer of %zu bytes is larger than the bound of %zu", len, max);
    size_t pos = 0;
#define NEED(n, what)                                                                                   \
    do {                                                                                                \
        if (len - pos < (size_t)(n))                                                                    \
            return fail(rep, -EBADMSG, pos, "the answer is truncated in %s", what);                    \
    } while (0)
    NEED(8 + 8 + 8, "its head");
    if (memcmp(buf, SYNC_ANS_MAGIC, 8) == 0)
        a->version = 1;
    else if (memcmp(buf, SYNC_ANS_MAGIC2, 8) == 0)
        a->version = 2;
    else
        return fail(rep, -EBADMSG, 0, "not a sync answer (no PPNSYNA1 or PPNSYNA2 magic)");
    a->from = ppnc_get_be(buf + 8, 8);
    a->leaves = ppnc_get_be(buf + 16, 8);
    pos = 24;
    if (a->from > (UINT64_C(1) << 62) || a->leaves > a->from)
        return fail(rep, -EBADMSG, a->leaves > a->from ? 16 : 8, "the answer's sizes are out of range");
    if (a->leaves > (len - pos) / 32)
        return fail(rep, -EBADMSG, 16, "the answer is truncated in its leaf hashes");
    a->leaf = buf + pos;
    pos += (size_t)a->leaves * 32;
    NEED(4, "its entry count");
    a->count = (uint32_t)ppnc_get_be(buf + pos, 4);
    if (a->count && a->leaves)
        return fail(rep, -EBADMSG, pos, "an answer with leaf hashes carries no entries");
    /* Each entry takes at least 3 bytes: a count the bytes cannot hold is refused at once. */
    if (a->count > (len - pos - 4) / 3)
        return fail(rep, -EBADMSG, pos, "the answer is truncated in its entries");
    pos += 4;
    a->entry_off = pos;
    for (uint32_t i = 0; i < a->count; i++) {
        NEED(2, "an entry's length");
        size_t el = (size_t)ppnc_get_be(buf + pos, 2);
        if (el == 0 || el > PPN_LEDGER_ENTRY_MAX)
            return fail(rep, -EBADMSG, pos, "entry %llu's length is not 1 to 4096",
                        (unsigned long long)(a->from + i));
        pos += 2;
        NEED(el, "an entry");
        pos += el;
    }
    NEED(2, "its checkpoint's length");
    size_t nl = (size_t)ppnc_get_be(buf + pos, 2);
    if (nl == 0 || nl > PPN_LEDGER_CHECKPOINT_MAX)
        return fail(rep, -EBADMSG, pos, "the checkpoint's length is not 1 to 16384");
    pos += 2;
    NEED(nl, "its checkpoint");
    a->note = (const char *)buf + pos;
    a->note_len = nl;
    a->note_off = pos;
    pos += nl;
    NEED(1, "its proof");
    a->proof_count = buf[pos++];
    if (a->proof_count > PPN_LEDGER_PROOF_MAX)
        return fail(rep, -EBADMSG, pos - 1, "the proof has more than 128 hashes");
    NEED((size_t)a->proof_count * 32, "its proof");
    a->proof = buf + pos;
    pos += (size_t)a->proof_count * 32;
    if (a->version == 2) {
        NEED(1, "its cosignature count");
        a->cosig_count = buf[pos++];
        if (a->cosig_count > PPN_LEDGER_COSIGNATURES_MAX)
            return fail(rep, -EBADMSG, pos - 1, "more than %d cosignatures", PPN_LEDGER_COSIGNATURES_MAX);
        a->cosig_off = pos;
        NEED((size_t)a->cosig_count * COSIG_RECORD, "its cosignatures");
        a->cosig = buf + pos;
        for (unsigned i = 0; i < a->cosig_count; i++) {
            struct cosig c;
            if (cosig_decode(a->cosig + (size_t)i * COSIG_RECORD, &c) < 0)
                return fail(rep, -EBADMSG, pos + (size_t)i * COSIG_RECORD + 32, "cosignature %u's size is out of range", i);
        }
        pos += (size_t)a->cosig_count * COSIG_RECORD;
    }
    if (pos != len)
        return fail(rep, -EBADMSG, pos, a->version == 2 ? "bytes follow the answer's cosignatures"
                                                        : "bytes follow the answer's proof");
#undef NEED
    /* The checkpoint's text: cheap, and it says what the rest must add up to. */
    size_t tl, ns;
    struct note_sig sig[1];
    if (note_parse(a->note, nl, &tl, sig, 1, &ns, NULL) < 0 || checkpoint_parse_text(a->note, tl, &a->cp) < 0)
        return fail(rep, -EBADMSG, a->note_off, "the checkpoint is not a signed checkpoint note");
    if (a->count && a->from + a->count > a->cp.size)
        return fail(rep, -EBADMSG, a->note_off, "the answer carries entries its checkpoint does not cover");
    if (a->leaves && a->leaves != (a->from < a->cp.size ? a->from : a->cp.size))
        return fail(rep, -EBADMSG, 16, "the leaf hashes are not those up to the smaller of the two sizes");
    return 0;
}

/* Entry i of a decoded answer. */
static void answer_entry(const uint8_t *buf, const struct sync_answer *a, size_t *pos, const uint8_t **ret,
                         size_t *ret_len)
{
    size_t el = (size_t)ppnc_get_be(buf + *pos, 2);
    *ret = buf + *pos + 2;
    *ret_len = el;
    *pos += 2 + el;
}

/* ---- answer: building ---- */

PPN_EXPORT int ppn_ledger_sync_answer(ppn_ledger *l, const uint8_t *req, size_t req_len, size_t max,
                                      uint8_t **ret_buf, size_t *ret_len)
{
    if (!l || !req || !ret_buf || !ret_len)
        return -EINVAL;
    struct ppn_ledger_sync_request q;
    int r = ppn_ledger_sync_request_decode(req, req_len, &q);
    if (r < 0)
        return r == -E2BIG ? -EBADMSG : r;
    if (strcmp(q.origin, l->origin) != 0)
        return -EPROTO;
    if (!l->has_cp)
        return -ENOENT;
    if (max > PPN_LEDGER_SYNC_ANSWER_MAX)
        max = PPN_LEDGER_SYNC_ANSWER_MAX;
    /* A version 2 asker gets the cosignatures this ledger keeps (a damaged file: none). */
    bool v2 = memcmp(req, SYNC_REQ_MAGIC2, 8) == 0;
    struct cosig kept[COSIG_KEEP];
    size_t nk = 0;
    if (v2 && cosig_load(l, kept, &nk) < 0)
        nk = 0;
    uint64_t C = l->cp.size, m = q.size;
    /* A consistency proof into a tree of C leaves has at most 2 * ceil(log2 C) + 1 hashes. */
    size_t proof_max = 1;
    for (uint64_t c = C; c; c >>= 1)
        proof_max += 2;
    if (proof_max > PPN_LEDGER_PROOF_MAX)
        proof_max = PPN_LEDGER_PROOF_MAX;
    size_t fixed = 24 + 4 + 2 + l->cp_len + 1 + proof_max * 32 + (v2 ? 1 + nk * COSIG_RECORD : 0);
    if (max < fixed)
        return -E2BIG;
    uint8_t here[32];
    bool agree = m <= C && ppn_ledger_root(l, m, here) == 0 && ppnc_memeq_ct(here, q.root, 32);
    uint64_t leaves = 0, count = 0;
    size_t room = max - fixed, need = 0;
    if (agree) {
        /* As many entries as fit, in order. */
        for (uint64_t i = m; i < C; i++) {
            uint64_t rec = (i + 1 < l->n ? l->locs[i + 1].off : l->end) - l->locs[i].off;
            size_t el = (size_t)(rec - REC_OVERHEAD);
            if (need + 2 + el > room)
                break;
            need += 2 + el;
            count++;
        }
    } else {
        /* Diverged (or behind us): our leaf hashes up to the smaller size, when they fit, so that
         * the other side can find the first entry where we differ. */
        uint64_t L = m < C ? m : C;
        if (L <= room / 32) {
            leaves = L;
            need = (size_t)L * 32;
        }
    }
    uint8_t *b = malloc(fixed + need);
    if (!b)
        return -ENOMEM;
    memcpy(b, v2 ? SYNC_ANS_MAGIC2 : SYNC_ANS_MAGIC, 8);
    ppnc_put_be(b + 8, m, 8);
    ppnc_put_be(b + 16, leaves, 8);
    size_t pos = 24;
    for (uint64_t i = 0; i < leaves; i++, pos += 32)
        if ((r = ppn_ledger_leaf_hash(l, i, b + pos)) < 0)
            goto fail;
    ppnc_put_be(b + pos, count, 4);
    pos += 4;
    for (uint64_t i = m; i < m + count; i++) {
        size_t el;
        if ((r = ppn_ledger_get_raw(l, i, b + pos + 2, PPN_LEDGER_ENTRY_MAX, &el)) < 0)
            goto fail;
        ppnc_put_be(b + pos, el, 2);
        pos += 2 + el;
    }
    ppnc_put_be(b + pos, l->cp_len, 2);
    memcpy(b + pos + 2, l->cp_note, l->cp_len);
    pos += 2 + l->cp_len;
    uint64_t P = m + count < C ? m + count : C;
    size_t pc = 0;
    if (P < C) {
        if ((r = ppn_ledger_prove_consistency(l, P, C, b + pos + 1, proof_max, &pc)) < 0)
            goto fail;
    }
    b[pos] = (uint8_t)pc;
    pos += 1 + pc * 32;
    if (v2) {
        b[pos++] = (uint8_t)nk;
        for (size_t i = 0; i < nk; i++, pos += COSIG_RECORD)
            cosig_encode(&kept[i], b + pos);
    }
    *ret_buf = b;
    *ret_len = pos;
    return 0;
fail:
    free(b);
    return r;
}

/* ---- applying ---- */

/* The root of the first n of the answer's leaf hashes. */
static void leaves_root(const uint8_t *leaf, uint64_t n, uint8_t out[32])
{
    struct frontier f;
    uint8_t tmp[64][32];
    memset(&f, 0, sizeof(f));
    for (uint64_t i = 0; i < n; i++)
        frontier_append(&f, leaf + i * 32, tmp);
    frontier_root(&f, out);
}

/* Does the tree of 'size' leaves with root 'root' lead to the answer's checkpoint? */
static bool leads_to(const struct sync_answer *a, uint64_t size, const uint8_t root[32])
{
    if (size == a->cp.size)
        return sodium_memcmp(root, a->cp.root, 32) == 0;
    return size < a->cp.size &&
           ppn_ledger_merkle_verify_consistency(size, a->cp.size, root, a->cp.root, a->proof, a->proof_count) == 0;
}

PPN_EXPORT int ppn_ledger_sync_apply(ppn_ledger *l, const uint8_t *buf, size_t len, size_t max,
                                     struct ppn_ledger_sync_report *report)
{
    struct ppn_ledger_sync_report rep;
    report_init(&rep);
    struct sync_answer a;
    const uint8_t **pp = NULL;
    size_t *lens = NULL;
    uint8_t (*keys)[32] = NULL;
    struct cosig kept[COSIG_KEEP], fresh[PPN_LEDGER_COSIGNATURES_MAX];
    size_t nk = 0, nf = 0;
    int r;
    if (!l || (!buf && len)) {
        r = -EINVAL;
        goto out;
    }
    if (!l->writer) {
        r = -EBADF;
        goto out;
    }
    /* 1. Bounds and framing (no hashing, no signatures). */
    if ((r = sync_answer_decode(buf, len, max, &a, &rep)) < 0)
        goto out;
    rep.their_size = a.cp.size;
    uint64_t m = l->n;
    if (strcmp(a.cp.origin, l->origin) != 0) {
        r = fail(&rep, -EPROTO, a.note_off, "the answer is for the ledger '%s', not '%s'", a.cp.origin, l->origin);
        goto out;
    }
    if (a.from != m) {
        r = fail(&rep, -EPROTO, 8, "the answer follows size %llu; this ledger has %llu entries",
                 (unsigned long long)a.from, (unsigned long long)m);
        goto out;
    }
    /* 2. The entries' leaves and the tree they make with ours must lead to the checkpoint. */
    pp = calloc(a.count ? a.count : 1, sizeof(*pp));
    lens = calloc(a.count ? a.count : 1, sizeof(*lens));
    keys = malloc((l->v.nadm + a.count + 1) * 32);
    if (!pp || !lens || !keys) {
        r = -ENOMEM;
        goto out;
    }
    memcpy(keys, l->v.admins, l->v.nadm * 32);
    size_t nkeys = l->v.nadm;
    struct frontier f = l->fr;
    uint8_t tmp[64][32];
    size_t pos = a.entry_off;
    for (uint32_t i = 0; i < a.count; i++) {
        size_t at = pos;
        answer_entry(buf, &a, &pos, &pp[i], &lens[i]);
        struct ppn_ledger_entry e;
        if (entry_decode_unverified(pp[i], lens[i], &e, NULL, NULL, NULL) < 0 || e.index != m + i) {
            rep.error_index = m + i;
            r = fail(&rep, -EBADMSG, at, "entry %llu is not one canonical signed entry for its index",
                     (unsigned long long)(m + i));
            goto out;
        }
        /* A key this batch makes an administrator may sign its checkpoint (the batch's
         * authority is checked before anything is appended). */
        if (e.type == PPN_LEDGER_ENTRY_CAP_GRANT && !strcmp(e.capability, PPN_LEDGER_CAP_ADMIN) && !e.scope[0])
            memcpy(keys[nkeys++], e.subject, 32);
        uint8_t leaf[32];
        ppn_ledger_merkle_leaf_hash(pp[i], lens[i], leaf);
        frontier_append(&f, leaf, tmp);
    }
    /* 3. One signature: the checkpoint's, by a key the ledger authorises. */
    struct checkpoint cp;
    if (checkpoint_verify_any(a.note, a.note_len, l->origin, (const uint8_t (*)[32])keys, nkeys, &cp) < 0) {
        r = fail(&rep, -EKEYREJECTED, a.note_off, "the checkpoint is not signed by an administrator of this ledger");
        goto out;
    }
    uint64_t P = m + a.count;
    uint8_t ours[32], newroot[32];
    if (a.count) {
        frontier_root(&f, ours);
        memcpy(newroot, ours, 32);
        if (!leads_to(&a, P, ours)) {
            rep.error_index = m;
            r = fail(&rep, -EBADMSG, a.entry_off,
                     "the entries after %llu and the proof do not lead to the signed checkpoint of size %llu",
                     (unsigned long long)m, (unsigned long long)a.cp.size);
            goto out;
        }
    } else {
        /* Nothing new: our tree at the smaller size must be theirs. */
        uint64_t L = m < a.cp.size ? m : a.cp.size;
        if ((r = ppn_ledger_root(l, L, ours)) < 0)
            goto out;
        bool same = L == a.cp.size ? sodium_memcmp(ours, a.cp.root, 32) == 0 : leads_to(&a, L, ours);
        if (!same) {
            /* A fork.  With their leaf hashes (which must lead to the checkpoint themselves),
             * the first size at which the two differ; without, the size known to differ. */
            rep.fork = 1;
            rep.fork_size = L;
            memcpy(rep.ours, ours, 32);
            if (L == a.cp.size)
                memcpy(rep.theirs, a.cp.root, 32);
            if (a.leaves) {
                uint8_t theirs[32];
                leaves_root(a.leaf, a.leaves, theirs);
                if (!leads_to(&a, a.leaves, theirs)) {
                    rep.fork = 0;
                    r = fail(&rep, -EBADMSG, 16, "the leaf hashes do not lead to the signed checkpoint");
                    goto out;
                }
                uint64_t i = 0;
                for (; i < a.leaves; i++) {
                    uint8_t mine[32];
                    if ((r = ppn_ledger_leaf_hash(l, i, mine)) < 0)
                        goto out;
                    if (memcmp(mine, a.leaf + i * 32, 32) != 0)
                        break;
                }
                if (i == a.leaves) {
                    rep.fork = 0;
                    r = fail(&rep, -EBADMSG, 16, "the leaf hashes are ours, yet the roots differ");
                    goto out;
                }
                rep.fork_exact = 1;
                rep.fork_size = i + 1;
                rep.error_index = i;
                rep.error_offset = 24 + i * 32;
                if ((r = ppn_ledger_root(l, i + 1, rep.ours)) < 0)
                    goto out;
                leaves_root(a.leaf, i + 1, rep.theirs);
            }
            r = fail(&rep, -EPROTO, rep.error_offset,
                     "a fork: the answering member's signed history differs from ours at size %llu%s",
                     (unsigned long long)rep.fork_size, rep.fork_exact ? "" : " (or before)");
            goto out;
        }
    }
    /* 3b. Cosignatures (version 2): those of current members whose signature verifies are
     * kept; one, received now or kept from before, on a checkpoint of a size we hold (or are
     * about to hold) with another root than ours is a fork. */
    if ((r = cosig_load(l, kept, &nk)) < 0)
        nk = 0;
    for (unsigned i = 0; i < a.cosig_count; i++) {
        struct cosig c;
        struct ppn_ledger_member mem;
        const uint8_t *rec = a.cosig + (size_t)i * COSIG_RECORD;
        (void)cosig_decode(rec, &c);
        bool known = false;
        for (size_t k = 0; k < nk && !known; k++) {
            uint8_t mine[COSIG_RECORD];
            cosig_encode(&kept[k], mine);
            known = !memcmp(mine, rec, COSIG_RECORD);
        }
        if (known || ppn_ledger_member_find(l, c.pk, &mem) < 0 || !cosig_verify(l->origin, &c))
            continue; /* kept already; not a member's; forged: ignored */
        fresh[nf++] = c;
    }
    for (size_t i = 0; i < nk + nf; i++) {
        const struct cosig *c = i < nk ? &kept[i] : &fresh[i - nk];
        uint8_t at[32];
        if (c->size <= m) {
            if ((r = ppn_ledger_root(l, c->size, at)) < 0)
                goto out;
        } else if (a.count && c->size == P) {
            memcpy(at, newroot, 32);
        } else {
            continue; /* beyond what we hold: looked at again when we hold it */
        }
        if (sodium_memcmp(at, c->root, 32) != 0) {
            struct ppn_ledger_member mem;
            bool named = ppn_ledger_member_find(l, c->pk, &mem) == 0;
            rep.fork = 1;
            rep.fork_exact = 0;
            rep.fork_size = c->size;
            memcpy(rep.ours, at, 32);
            memcpy(rep.theirs, c->root, 32);
            r = fail(&rep, -EPROTO, i < nk ? UINT64_MAX : a.cosig_off + (i - nk) * COSIG_RECORD,
                     "a fork: member %s (%02x%02x%02x%02x) cosigned a checkpoint of size %llu with another root than ours",
                     named ? mem.hostname : "?", c->pk[0], c->pk[1], c->pk[2], c->pk[3],
                     (unsigned long long)c->size);
            goto out;
        }
    }
    /* 4. Every entry's signature and authority, then one durable batch. */
    if (a.count) {
        r = ppn_ledger_append_signed(l, pp, lens, a.count, NULL);
        if (r < 0) {
            rep.error_index = l->err_index;
            if (l->err_index >= m && l->err_index < P) {
                size_t p2 = a.entry_off;
                for (uint64_t i = m; i < l->err_index; i++)
                    p2 += 2 + (size_t)ppnc_get_be(buf + p2, 2);
                rep.error_offset = p2;
            }
            fail(&rep, r, rep.error_offset, "entry %llu refused: %s", (unsigned long long)l->err_index,
                 l->err[0] ? l->err : strerror(-r));
            goto out;
        }
        rep.appended = a.count;
    }
    /* 5. Their checkpoint, once it covers only what we hold. */
    r = ledger_adopt_checkpoint(l, a.note, a.note_len);
    if (r == -EIO)
        goto out;
    /* 6. The cosignatures learnt, kept (and passed on); a failure to store them loses nothing
     * signed by the ledger's administrators. */
    bool changed = false;
    for (size_t i = 0; i < nf; i++)
        changed |= cosig_merge(kept, &nk, &fresh[i]);
    if (changed)
        (void)cosig_store(l, kept, nk);
    r = 0;
out:
    free(pp);
    free(lens);
    free(keys);
    if (r < 0 && !rep.why[0])
        snprintf(rep.why, sizeof(rep.why), "%s", strerror(-r));
    if (report)
        *report = rep;
    return r;
}
