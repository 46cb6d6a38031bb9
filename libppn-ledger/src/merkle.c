/* RFC 9162 §2.1 Merkle tree: hashes, proofs, verification; Go sumdb stored-hash layout. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

PPN_EXPORT void ppn_ledger_merkle_leaf_hash(const uint8_t *data, size_t len,
                                            uint8_t ret_hash[PPN_LEDGER_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    static const uint8_t z = 0;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &z, 1);
    if (len)
        crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, ret_hash);
}

void merkle_node_hash(uint8_t out[32], const uint8_t left[32], const uint8_t right[32])
{
    uint8_t b[65];
    b[0] = 1;
    memcpy(b + 1, left, 32);
    memcpy(b + 33, right, 32);
    crypto_hash_sha256(out, b, sizeof(b));
}

void merkle_empty_root(uint8_t out[32])
{
    crypto_hash_sha256(out, (const uint8_t *)"", 0);
}

/* Level L's n-th hash follows level L+1's... : leaf n is at 2n - popcount(n); a node at level L
 * index n is stored right after the last leaf it covers. */
uint64_t merkle_stored_index(unsigned level, uint64_t n)
{
    for (unsigned l = level; l > 0; l--)
        n = 2 * n + 1;
    uint64_t i = 0;
    for (uint64_t m = n; m > 0; m >>= 1)
        i += m;
    return i + level;
}

uint64_t merkle_stored_count(uint64_t n)
{
    return 2 * n - (uint64_t)__builtin_popcountll(n);
}

unsigned frontier_append(struct frontier *f, const uint8_t leaf[32], uint8_t (*out)[32])
{
    uint8_t h[32];
    unsigned k = 0, l = 0;
    memcpy(h, leaf, 32);
    memcpy(out[k++], h, 32);
    while (f->size >> l & 1) {
        merkle_node_hash(h, f->h[l], h);
        memcpy(out[k++], h, 32);
        l++;
    }
    memcpy(f->h[l], h, 32);
    f->size++;
    return k;
}

void frontier_root(const struct frontier *f, uint8_t out[32])
{
    if (f->size == 0) {
        merkle_empty_root(out);
        return;
    }
    unsigned l = (unsigned)__builtin_ctzll(f->size);
    uint8_t h[32];
    memcpy(h, f->h[l], 32);
    for (l++; l < 64; l++)
        if (f->size >> l & 1)
            merkle_node_hash(h, f->h[l], h);
    memcpy(out, h, 32);
}

static uint64_t split(uint64_t n) /* largest power of two < n, n >= 2 */
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

/* MTH(D[lo:hi]) where lo is aligned so that every complete piece is a stored subtree. */
int merkle_subtree_hash(hash_reader_fn rd, void *ud, uint64_t lo, uint64_t hi, uint8_t out[32])
{
    uint64_t n = hi - lo;
    if (n == 0)
        return -EINVAL;
    if ((n & (n - 1)) == 0 && lo % n == 0) {
        unsigned level = (unsigned)__builtin_ctzll(n);
        return rd(ud, merkle_stored_index(level, lo >> level), out);
    }
    uint64_t k = split(n);
    uint8_t l[32], r[32];
    int e = merkle_subtree_hash(rd, ud, lo, lo + k, l);
    if (e < 0)
        return e;
    e = merkle_subtree_hash(rd, ud, lo + k, hi, r);
    if (e < 0)
        return e;
    merkle_node_hash(out, l, r);
    return 0;
}

struct pbuf {
    uint8_t *p;
    size_t max, n;
};
static int pb_add(struct pbuf *b, hash_reader_fn rd, void *ud, uint64_t lo, uint64_t hi)
{
    if (b->n >= b->max)
        return -ENOBUFS;
    int r = merkle_subtree_hash(rd, ud, lo, hi, b->p + 32 * b->n);
    if (r < 0)
        return r;
    b->n++;
    return 0;
}

/* RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]); emitted leaf-first. */
static int path(struct pbuf *b, hash_reader_fn rd, void *ud, uint64_t m, uint64_t lo, uint64_t hi)
{
    uint64_t n = hi - lo;
    if (n <= 1)
        return 0;
    uint64_t k = split(n);
    int r;
    if (m < k) {
        if ((r = path(b, rd, ud, m, lo, lo + k)) < 0)
            return r;
        return pb_add(b, rd, ud, lo + k, hi);
    }
    if ((r = path(b, rd, ud, m - k, lo + k, hi)) < 0)
        return r;
    return pb_add(b, rd, ud, lo, lo + k);
}

int merkle_inclusion_proof(hash_reader_fn rd, void *ud, uint64_t index, uint64_t size,
                           uint8_t *proof, size_t max, size_t *ret_count)
{
    if (index >= size)
        return -EINVAL;
    struct pbuf b = {proof, max, 0};
    int r = path(&b, rd, ud, index, 0, size);
    if (r < 0)
        return r;
    *ret_count = b.n;
    return 0;
}

/* RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b). */
static int subproof(struct pbuf *b, hash_reader_fn rd, void *ud, uint64_t m, uint64_t lo,
                    uint64_t hi, bool whole)
{
    uint64_t n = hi - lo;
    if (m == n)
        return whole ? 0 : pb_add(b, rd, ud, lo, hi);
    uint64_t k = split(n);
    int r;
    if (m <= k) {
        if ((r = subproof(b, rd, ud, m, lo, lo + k, whole)) < 0)
            return r;
        return pb_add(b, rd, ud, lo + k, hi);
    }
    if ((r = subproof(b, rd, ud, m - k, lo + k, hi, false)) < 0)
        return r;
    return pb_add(b, rd, ud, lo, lo + k);
}

int merkle_consistency_proof(hash_reader_fn rd, void *ud, uint64_t m, uint64_t n,
                             uint8_t *proof, size_t max, size_t *ret_count)
{
    if (m > n)
        return -EINVAL;
    struct pbuf b = {proof, max, 0};
    if (m > 0 && m < n) {
        int r = subproof(&b, rd, ud, m, 0, n, true);
        if (r < 0)
            return r;
    }
    *ret_count = b.n;
    return 0;
}

/* RFC 9162 §2.1.3.2 */
PPN_EXPORT int ppn_ledger_merkle_verify_inclusion(const uint8_t leaf_hash[PPN_LEDGER_HASH_BYTES],
                                                  uint64_t index, uint64_t size,
                                                  const uint8_t *proof, size_t count,
                                                  const uint8_t root[PPN_LEDGER_HASH_BYTES])
{
    if (!leaf_hash || !root || (count && !proof))
        return -EINVAL;
    if (index >= size)
        return -EBADMSG;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[32];
    memcpy(r, leaf_hash, 32);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *p = proof + 32 * i;
        if (sn == 0)
            return -EBADMSG;
        if ((fn & 1) || fn == sn) {
            merkle_node_hash(r, p, r);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else
            merkle_node_hash(r, r, p);
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || sodium_memcmp(r, root, 32) != 0)
        return -EBADMSG;
    return 0;
}

/* RFC 9162 §2.1.4.2 */
PPN_EXPORT int ppn_ledger_merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
                                                    const uint8_t old_root[PPN_LEDGER_HASH_BYTES],
                                                    const uint8_t new_root[PPN_LEDGER_HASH_BYTES],
                                                    const uint8_t *proof, size_t count)
{
    if (!old_root || !new_root || (count && !proof))
        return -EINVAL;
    if (old_size > new_size)
        return -EBADMSG;
    /* The tree of size 0 has one root, SHA-256("") (RFC 9162 §2.1.1): a proof from it holds
     * only for that root, whatever the new tree is. */
    uint8_t empty[32];
    merkle_empty_root(empty);
    if (old_size == 0 && sodium_memcmp(old_root, empty, 32) != 0)
        return -EBADMSG;
    if (old_size == new_size)
        return count == 0 && sodium_memcmp(old_root, new_root, 32) == 0 ? 0 : -EBADMSG;
    if (old_size == 0)
        return count == 0 ? 0 : -EBADMSG;
    if (count == 0)
        return -EBADMSG;
    const uint8_t *first;
    size_t i = 0;
    if ((old_size & (old_size - 1)) == 0)
        first = old_root; /* the proof omits the old root itself */
    else
        first = proof + 32 * i++;
    uint64_t fn = old_size - 1, sn = new_size - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[32], sr[32];
    memcpy(fr, first, 32);
    memcpy(sr, first, 32);
    for (; i < count; i++) {
        const uint8_t *c = proof + 32 * i;
        if (sn == 0)
            return -EBADMSG;
        if ((fn & 1) || fn == sn) {
            merkle_node_hash(fr, c, fr);
            merkle_node_hash(sr, c, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else
            merkle_node_hash(sr, sr, c);
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || sodium_memcmp(fr, old_root, 32) != 0 || sodium_memcmp(sr, new_root, 32) != 0)
        return -EBADMSG;
    return 0;
}
