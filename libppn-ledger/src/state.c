/* The last state this node verified ('verified' in the ledger directory): so that opening a
 * ledger to read an entry or a proof costs the work since then, not a full verification.
 *
 * A writer, when it closes, records what it holds: the size, the byte length of 'entries', a
 * BLAKE2b-256 of exactly those bytes and of the tree cache's hashes for that size, the right
 * edge of the tree and the derived views.  Opening (not ppn_ledger_verify, which always checks
 * everything) hashes the two files' prefixes — at memory speed, no decoding, no signatures —
 * and, if both hashes match, takes the views and tree edge from the state and scans only the
 * records after it.  Any mismatch (a damaged or shortened prefix, a stale or damaged state, a
 * build with other struct layouts) and the state is ignored: the full scan finds what is wrong.
 *
 * Trust: the state is as trustworthy as the rest of the directory, which a reader already
 * trusts (opening pins no key: whoever can rewrite the directory can replace the ledger); it
 * records only what a writer of this node checked, and its own checksum catches damage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"

#define STATE_MAGIC "PPNLVER1"

struct state_head {
    char magic[8];
    uint32_t endian; /* 0x01020304 as written */
    uint32_t layout; /* sizes of the structures stored, mixed */
    uint64_t n, end, tree_hashes;
    uint8_t entries_hash[32], tree_hash[32];
    uint64_t nm, ng, na, nadm;
    uint64_t genesis_done;
    char origin[PPN_LEDGER_TEXT_MAX + 1], mesh[PPN_LEDGER_TEXT_MAX + 1];
    struct frontier fr;
};

static uint32_t layout(void)
{
    return (uint32_t)(sizeof(struct state_head) * 31u + sizeof(struct ppn_ledger_member) * 7u +
                      sizeof(struct ppn_ledger_grant) * 5u + sizeof(struct ppn_ledger_assignment) * 3u);
}

static void hash(uint8_t out[32], const uint8_t *p, uint64_t n)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    while (n) {
        size_t k = n > (1u << 30) ? 1u << 30 : (size_t)n;
        crypto_generichash_update(&st, p, k);
        p += k;
        n -= k;
    }
    crypto_generichash_final(&st, out, 32);
}

static ssize_t pread_full(int fd, uint8_t *buf, size_t len, off_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t k = pread(fd, buf + got, len - got, off + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -1 : (ssize_t)got;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

static int state_path(const ppn_ledger *l, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/verified", l->dir);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* BLAKE2b-256 of fd's bytes [0, len) read in chunks; with 'heads' (n entries), also walk the
 * record heads from offset 0, writing each record's offset; the walk must end exactly at len. */
size_t state_chunk_bytes = 1u << 20;

static int hash_file(int fd, uint64_t len, crypto_generichash_state *ret_st, uint8_t out[32],
                     struct entry_loc *heads, uint64_t n)
{
    const size_t CHUNK = state_chunk_bytes;
    uint8_t *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    uint64_t pos = 0, next = 0, i = 0;
    int r = 0;
    while (pos < len) {
        size_t k = len - pos > CHUNK ? CHUNK : (size_t)(len - pos);
        if (pread_full(fd, buf, k, (off_t)pos) != (ssize_t)k) {
            r = -EIO;
            break;
        }
        crypto_generichash_update(&st, buf, k);
        while (heads && i < n && next + 8 <= pos + k) {
            uint8_t b4[4];
            const uint8_t *q = b4;
            if (next + 4 >= pos)
                q = buf + (next + 4 - pos);
            else if (pread_full(fd, b4, 4, (off_t)(next + 4)) != 4) /* straddles two chunks */
                r = -EIO;
            uint32_t rl = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                          (uint32_t)q[3] << 24;
            heads[i++].off = next;
            next += (uint64_t)rl + REC_OVERHEAD;
        }
        if (r < 0)
            break;
        pos += k;
    }
    free(buf);
    *ret_st = st; /* to go on hashing what follows */
    crypto_generichash_final(&st, out, 32);
    if (r == 0 && heads && (i != n || next != len))
        r = -EUCLEAN;
    return r;
}

int state_load(ppn_ledger *l, uint64_t fsize, uint64_t tcount, struct state_loaded *ret)
{
    char p[4096];
    uint8_t *b = NULL;
    size_t len;
    int r = state_path(l, p, sizeof(p));
    if (r < 0 || ppnc_read_file(p, 1u << 30, &b, &len) < 0)
        return -ENOENT;
    r = -EUCLEAN;
    struct state_head h;
    uint8_t sum[32];
    struct entry_loc *locs = NULL;
    if (len < sizeof(h) + 32)
        goto out;
    hash(sum, b, len - 32);
    if (sodium_memcmp(sum, b + len - 32, 32) != 0)
        goto out;
    memcpy(&h, b, sizeof(h));
    if (memcmp(h.magic, STATE_MAGIC, 8) || h.endian != 0x01020304u || h.layout != layout() ||
        h.n == 0 || h.end > fsize || h.tree_hashes != merkle_stored_count(h.n) ||
        h.tree_hashes > tcount || h.nm > len || h.ng > len || h.na > len || h.nadm > len ||
        h.n > h.end / REC_OVERHEAD || h.fr.size != h.n || !memchr(h.origin, 0, sizeof(h.origin)) ||
        !memchr(h.mesh, 0, sizeof(h.mesh)))
        goto out;
    size_t want = sizeof(h) + h.nm * sizeof(struct ppn_ledger_member) +
                  h.ng * sizeof(struct ppn_ledger_grant) + h.na * sizeof(struct ppn_ledger_assignment) +
                  h.nadm * 32 + 32;
    if (want != len)
        goto out;
    /* The prefixes must be byte for byte what was verified: hashed in chunks, never held. */
    locs = calloc((size_t)h.n, sizeof(*locs));
    if (!locs) {
        r = -ENOMEM;
        goto out;
    }
    if ((r = hash_file(l->efd, h.end, &ret->eh, sum, locs, h.n)) < 0 ||
        sodium_memcmp(sum, h.entries_hash, 32) != 0 ||
        (r = hash_file(l->tfd, h.tree_hashes * 32, &ret->th, sum, NULL, 0)) < 0 ||
        sodium_memcmp(sum, h.tree_hash, 32) != 0) {
        r = r == -ENOMEM ? r : -EUCLEAN;
        goto out;
    }
    struct view v;
    memset(&v, 0, sizeof(v));
    const uint8_t *q = b + sizeof(h);
    v.nm = v.cm = (size_t)h.nm;
    v.ng = v.cg = (size_t)h.ng;
    v.na = v.ca = (size_t)h.na;
    v.nadm = v.cadm = (size_t)h.nadm;
    v.genesis_done = h.genesis_done != 0;
    v.members = h.nm ? malloc((size_t)h.nm * sizeof(*v.members)) : NULL;
    v.grants = h.ng ? malloc((size_t)h.ng * sizeof(*v.grants)) : NULL;
    v.asg = h.na ? malloc((size_t)h.na * sizeof(*v.asg)) : NULL;
    v.admins = h.nadm ? malloc((size_t)h.nadm * 32) : NULL;
    if ((h.nm && !v.members) || (h.ng && !v.grants) || (h.na && !v.asg) || (h.nadm && !v.admins)) {
        view_free(&v);
        r = -ENOMEM;
        goto out;
    }
    if (h.nm)
        memcpy(v.members, q, (size_t)h.nm * sizeof(*v.members));
    q += h.nm * sizeof(*v.members);
    if (h.ng)
        memcpy(v.grants, q, (size_t)h.ng * sizeof(*v.grants));
    q += h.ng * sizeof(*v.grants);
    if (h.na)
        memcpy(v.asg, q, (size_t)h.na * sizeof(*v.asg));
    q += h.na * sizeof(*v.asg);
    if (h.nadm)
        memcpy(v.admins, q, (size_t)h.nadm * 32);
    ret->n = h.n;
    ret->end = h.end;
    ret->tree_hashes = h.tree_hashes;
    ret->locs = locs;
    locs = NULL;
    ret->v = v;
    ret->fr = h.fr;
    memcpy(ret->origin, h.origin, sizeof(ret->origin));
    memcpy(ret->mesh, h.mesh, sizeof(ret->mesh));
    r = 0;
out:
    free(locs);
    free(b);
    return r;
}

int state_save(ppn_ledger *l)
{
    if (!l->writer || !l->opened || !l->hashing || l->poisoned || l->n == 0 || l->tree_count != merkle_stored_count(l->n))
        return 0;
    struct state_head h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, STATE_MAGIC, 8);
    h.endian = 0x01020304u;
    h.layout = layout();
    h.n = l->n;
    h.end = l->end;
    h.tree_hashes = merkle_stored_count(l->n);
    h.nm = l->v.nm;
    h.ng = l->v.ng;
    h.na = l->v.na;
    h.nadm = l->v.nadm;
    h.genesis_done = l->v.genesis_done;
    memcpy(h.origin, l->origin, sizeof(h.origin));
    memcpy(h.mesh, l->mesh, sizeof(h.mesh));
    h.fr = l->fr;
    /* The running hashes of what this handle verified or wrote, byte for byte what the files
     * hold (this writer holds the lock). */
    crypto_generichash_state e = l->eh, t = l->th;
    crypto_generichash_final(&e, h.entries_hash, 32);
    crypto_generichash_final(&t, h.tree_hash, 32);
    int r;
    size_t len = sizeof(h) + l->v.nm * sizeof(*l->v.members) + l->v.ng * sizeof(*l->v.grants) +
                 l->v.na * sizeof(*l->v.asg) + l->v.nadm * 32 + 32;
    uint8_t *out = malloc(len), *q = out;
    if (!out)
        return -ENOMEM;
    memcpy(q, &h, sizeof(h));
    q += sizeof(h);
    if (l->v.nm)
        memcpy(q, l->v.members, l->v.nm * sizeof(*l->v.members));
    q += l->v.nm * sizeof(*l->v.members);
    if (l->v.ng)
        memcpy(q, l->v.grants, l->v.ng * sizeof(*l->v.grants));
    q += l->v.ng * sizeof(*l->v.grants);
    if (l->v.na)
        memcpy(q, l->v.asg, l->v.na * sizeof(*l->v.asg));
    q += l->v.na * sizeof(*l->v.asg);
    if (l->v.nadm)
        memcpy(q, l->v.admins, l->v.nadm * 32);
    q += l->v.nadm * 32;
    hash(q, out, len - 32);
    char p[4096];
    r = state_path(l, p, sizeof(p));
    if (r == 0)
        r = ppnc_write_file_atomic(p, out, len, 0600);
    free(out);
    return r;
}
