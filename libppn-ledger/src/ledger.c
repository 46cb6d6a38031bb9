/* The ledger handle once open: errors, reading, proofs, views, checkpoints, constants. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "ledger-private.h"
#include "ppn-common.h"

/* ---- stored hashes ---- */
int ledger_read_hash(void *ud, uint64_t idx, uint8_t out[32])
{
    ppn_ledger *l = ud;
    /* The right edge of the tree (popcount(n) subtrees) is in memory: no read. */
    for (unsigned lvl = 0; lvl < 64 && (l->n >> lvl); lvl++)
        if ((l->n >> lvl & 1) && idx == merkle_stored_index(lvl, (l->n >> lvl) - 1)) {
            memcpy(out, l->fr.h[lvl], 32);
            return 0;
        }
    l->hash_reads++;
    if (l->mem && idx >= l->mem_from) {
        if (idx - l->mem_base >= l->mem_n)
            return -EUCLEAN;
        memcpy(out, l->mem[idx - l->mem_base], 32);
        return 0;
    }
    ssize_t n = pread(l->tfd, out, 32, (off_t)(idx * 32));
    if (n < 0)
        return -EIO;
    if (n != 32)
        return -EUCLEAN;
    return 0;
}

PPN_EXPORT void ppn_ledger_set_progress(ppn_ledger *l, ppn_ledger_progress_fn fn, void *userdata)
{
    if (!l)
        return;
    l->progress = fn;
    l->progress_ud = userdata;
}

PPN_EXPORT const char *ppn_ledger_last_error(const ppn_ledger *l)
{
    return l ? l->err : "";
}

PPN_EXPORT uint64_t ppn_ledger_last_error_index(const ppn_ledger *l)
{
    return l ? l->err_index : UINT64_MAX;
}

/* ---- reading ---- */
PPN_EXPORT uint64_t ppn_ledger_size(const ppn_ledger *l) { return l ? l->n : 0; }
PPN_EXPORT const char *ppn_ledger_origin(const ppn_ledger *l) { return l ? l->origin : ""; }
PPN_EXPORT const char *ppn_ledger_mesh_range(const ppn_ledger *l) { return l ? l->mesh : ""; }
PPN_EXPORT const char *ppn_ledger_dir(const ppn_ledger *l) { return l ? l->dir : ""; }

PPN_EXPORT int ppn_ledger_get_raw(ppn_ledger *l, uint64_t index, uint8_t *buf, size_t size,
                                  size_t *ret_len)
{
    if (!l || !buf || !ret_len)
        return -EINVAL;
    if (index >= l->n)
        return -ENOENT;
    uint8_t rec[PPN_LEDGER_ENTRY_MAX + REC_OVERHEAD];
    uint64_t off = l->locs[index].off;
    uint64_t next = index + 1 < l->n ? l->locs[index + 1].off : l->end;
    size_t want = (size_t)(next - off);
    if (want > sizeof(rec))
        return -EUCLEAN;
    if (pread(l->efd, rec, want, (off_t)off) != (ssize_t)want)
        return -EIO;
    size_t len;
    if (record_check(rec, want, index, &len) != REC_OK)
        return -EUCLEAN;
    if (len > size)
        return -ENOBUFS;
    memcpy(buf, rec + REC_HEAD, len);
    *ret_len = len;
    return 0;
}

PPN_EXPORT int ppn_ledger_get(ppn_ledger *l, uint64_t index, struct ppn_ledger_entry *ret_entry)
{
    if (!l || !ret_entry)
        return -EINVAL;
    uint8_t b[PPN_LEDGER_ENTRY_MAX];
    size_t len;
    int r = ppn_ledger_get_raw(l, index, b, sizeof(b), &len);
    if (r < 0)
        return r;
    if (entry_decode_unverified(b, len, ret_entry, NULL, NULL, NULL) < 0)
        return -EUCLEAN;
    return 0;
}

PPN_EXPORT int ppn_ledger_leaf_hash(ppn_ledger *l, uint64_t index, uint8_t ret_hash[32])
{
    if (!l || !ret_hash)
        return -EINVAL;
    if (index >= l->n)
        return -ENOENT;
    return ledger_read_hash(l, merkle_stored_index(0, index), ret_hash);
}

PPN_EXPORT int ppn_ledger_root(ppn_ledger *l, uint64_t size, uint8_t ret_root[32])
{
    if (!l || !ret_root || size > l->n)
        return -EINVAL;
    if (size == 0) {
        merkle_empty_root(ret_root);
        return 0;
    }
    if (size == l->n) {
        frontier_root(&l->fr, ret_root);
        return 0;
    }
    return merkle_subtree_hash(ledger_read_hash, l, 0, size, ret_root);
}

PPN_EXPORT int ppn_ledger_prove_inclusion(ppn_ledger *l, uint64_t index, uint64_t size,
                                          uint8_t *proof, size_t max, size_t *ret_count)
{
    if (!l || !ret_count || (max && !proof) || size > l->n || index >= size)
        return -EINVAL;
    return merkle_inclusion_proof(ledger_read_hash, l, index, size, proof, max, ret_count);
}

PPN_EXPORT int ppn_ledger_prove_consistency(ppn_ledger *l, uint64_t old_size, uint64_t new_size,
                                            uint8_t *proof, size_t max, size_t *ret_count)
{
    if (!l || !ret_count || (max && !proof) || new_size > l->n || old_size > new_size)
        return -EINVAL;
    return merkle_consistency_proof(ledger_read_hash, l, old_size, new_size, proof, max, ret_count);
}

/* ---- views ---- */
PPN_EXPORT size_t ppn_ledger_member_count(const ppn_ledger *l) { return l ? l->v.nm : 0; }
PPN_EXPORT int ppn_ledger_member_get(const ppn_ledger *l, size_t i, struct ppn_ledger_member *ret)
{
    if (!l || !ret)
        return -EINVAL;
    if (i >= l->v.nm)
        return -ENOENT;
    *ret = l->v.members[i];
    return 0;
}
PPN_EXPORT int ppn_ledger_member_find(const ppn_ledger *l, const uint8_t key[32],
                                      struct ppn_ledger_member *ret)
{
    if (!l || !key || !ret)
        return -EINVAL;
    ssize_t i = view_member_find(&l->v, key);
    if (i < 0)
        return -ENOENT;
    *ret = l->v.members[i];
    return 0;
}
PPN_EXPORT size_t ppn_ledger_grant_count(const ppn_ledger *l) { return l ? l->v.ng : 0; }
PPN_EXPORT int ppn_ledger_grant_get(const ppn_ledger *l, size_t i, struct ppn_ledger_grant *ret)
{
    if (!l || !ret)
        return -EINVAL;
    if (i >= l->v.ng)
        return -ENOENT;
    *ret = l->v.grants[i];
    return 0;
}
PPN_EXPORT int ppn_ledger_has_capability(const ppn_ledger *l, const uint8_t key[32],
                                         const char *capability, const char *scope)
{
    if (!l || !key || !capability)
        return -EINVAL;
    return view_has_cap(&l->v, key, capability, scope);
}
PPN_EXPORT size_t ppn_ledger_assignment_count(const ppn_ledger *l) { return l ? l->v.na : 0; }
PPN_EXPORT int ppn_ledger_assignment_get(const ppn_ledger *l, size_t i,
                                         struct ppn_ledger_assignment *ret)
{
    if (!l || !ret)
        return -EINVAL;
    if (i >= l->v.na)
        return -ENOENT;
    *ret = l->v.asg[i];
    return 0;
}
PPN_EXPORT int ppn_ledger_assignment_find(const ppn_ledger *l, const char *vm,
                                          struct ppn_ledger_assignment *ret)
{
    if (!l || !vm || !ret)
        return -EINVAL;
    ssize_t i = view_asg_find(&l->v, vm);
    if (i < 0)
        return -ENOENT;
    *ret = l->v.asg[i];
    return 0;
}

/* ---- checkpoints ---- */
PPN_EXPORT int ppn_ledger_checkpoint(ppn_ledger *l, const uint8_t signer_sk[64], char *buf,
                                     size_t size, size_t *ret_len)
{
    if (!l || !signer_sk || !buf || !ret_len)
        return -EINVAL;
    if (!l->writer)
        return -EBADF;
    if (l->poisoned)
        return -EIO;
    if (!view_has_cap(&l->v, signer_sk + 32, PPN_LEDGER_CAP_ADMIN, ""))
        return -EPERM;
    struct checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    snprintf(cp.origin, sizeof(cp.origin), "%s", l->origin);
    cp.size = l->n;
    frontier_root(&l->fr, cp.root);
    char note[1024]; /* origin <= 255 bytes: text <= 322, signature line <= 353 */
    size_t len;
    int r = checkpoint_sign(&cp, signer_sk, note, sizeof(note), &len);
    if (r < 0)
        return r;
    if (len > size)
        return -ENOBUFS;
    /* The tree cache up to here becomes durable before a checkpoint vouches for it. */
    if (fdatasync(l->tfd) < 0) {
        l->poisoned = true;
        return -EIO;
    }
    char p[4096];
    if ((r = ledger_path_in(l, "checkpoint", p, sizeof(p))) < 0)
        return r;
    r = ppnc_write_file_atomic(p, note, len, 0600);
    if (r < 0) {
        l->poisoned = true;
        return -EIO;
    }
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, note, len + 1);
        free(l->cp_note);
        l->cp_note = copy;
        l->cp_len = len;
        l->cp = cp;
        l->has_cp = true;
    }
    memcpy(buf, note, len);
    if (len < size)
        buf[len] = 0;
    *ret_len = len;
    return 0;
}

PPN_EXPORT int ppn_ledger_checkpoint_get(ppn_ledger *l, char *buf, size_t size, size_t *ret_len)
{
    if (!l || !buf || !ret_len)
        return -EINVAL;
    if (!l->has_cp)
        return -ENOENT;
    if (l->cp_len > size)
        return -ENOBUFS;
    memcpy(buf, l->cp_note, l->cp_len);
    if (l->cp_len < size)
        buf[l->cp_len] = 0;
    *ret_len = l->cp_len;
    return 0;
}
