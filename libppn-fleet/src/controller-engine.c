/* SPDX-License-Identifier: ISC */
/* The controller engine: a UDP socket drained in batches into a ppn_fleet,
 * the liveness timer, the replay state on disk, and dispatch of creation
 * requests to members' mesh addresses.  No clock is read here: every time is
 * the caller's. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "fleet-internal.h"
#include "ppn-common.h"

#define BATCH 64
#define DRAIN_MAX 16384
#define TICK_MS 1000
#define RCVBUF_WANTED (32 << 20)

/* ---- the replay state file ------------------------------------------------
 * "PPNFSEQ1", then records of 48 bytes: key (32), seq (8, little-endian),
 * check (8: BLAKE2b-64 of key || seq).  One record per key, rewritten in
 * place when its sequence grows; a torn record fails its check and is
 * skipped.  Compacted (atomic replace) at every open. */

static const uint8_t seq_magic[8] = {'P', 'P', 'N', 'F', 'S', 'E', 'Q', '1'};
#define REC_BYTES 48
#define STORE_MAX_BYTES (64u << 20)

typedef struct seq_entry {
    uint8_t key[32];
    uint64_t seq;
    uint32_t slot;
} seq_entry;

typedef struct seq_store {
    int fd;                  /* -1: memory only */
    seq_entry *e;
    size_t n, cap;
    uint32_t *table;         /* index + 1 */
    size_t table_size;
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    bool dirty;
    int error;               /* first write error, reported by process() */
} seq_store;

static void rec_encode(uint8_t out[REC_BYTES], const uint8_t key[32], uint64_t seq)
{
    memcpy(out, key, 32);
    for (int i = 0; i < 8; i++)
        out[32 + i] = (uint8_t)(seq >> (8 * i));
    crypto_generichash(out + 40, 8, out, 40, NULL, 0);
}

static bool rec_decode(const uint8_t in[REC_BYTES], uint8_t key[32], uint64_t *seq)
{
    uint8_t check[8];
    crypto_generichash(check, 8, in, 40, NULL, 0);
    if (memcmp(check, in + 40, 8) != 0)
        return false;
    memcpy(key, in, 32);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)in[32 + i] << (8 * i);
    *seq = v;
    return true;
}

static uint64_t store_hash(const seq_store *s, const uint8_t key[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, 32, s->hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

static seq_entry *store_find(const seq_store *s, const uint8_t key[32])
{
    if (!s->table_size)
        return NULL;
    size_t mask = s->table_size - 1;
    for (size_t i = store_hash(s, key) & mask;; i = (i + 1) & mask) {
        uint32_t slot = s->table[i];
        if (!slot)
            return NULL;
        if (memcmp(s->e[slot - 1].key, key, 32) == 0)
            return &s->e[slot - 1];
    }
}

static int store_rehash(seq_store *s, size_t want)
{
    size_t size = 16;
    while (size < 2 * want)
        size *= 2;
    if (size <= s->table_size)
        return 0;
    uint32_t *t = calloc(size, sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t k = 0; k < s->n; k++) {
        size_t i = store_hash(s, s->e[k].key) & (size - 1);
        while (t[i])
            i = (i + 1) & (size - 1);
        t[i] = (uint32_t)k + 1;
    }
    free(s->table);
    s->table = t;
    s->table_size = size;
    return 0;
}

/* Adds or raises key's entry in memory; ret: the entry. */
static int store_add(seq_store *s, const uint8_t key[32], uint64_t seq, seq_entry **ret)
{
    seq_entry *e = store_find(s, key);
    if (e) {
        if (seq > e->seq)
            e->seq = seq;
        *ret = e;
        return 0;
    }
    if (s->n >= UINT32_MAX / 2)
        return -ENOSPC;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        seq_entry *ne = realloc(s->e, cap * sizeof(*ne));
        if (!ne)
            return -ENOMEM;
        s->e = ne;
        s->cap = cap;
    }
    int r = store_rehash(s, s->n + 1);
    if (r < 0)
        return r;
    e = &s->e[s->n];
    memcpy(e->key, key, 32);
    e->seq = seq;
    e->slot = (uint32_t)s->n;
    size_t mask = s->table_size - 1, i = store_hash(s, key) & mask;
    while (s->table[i])
        i = (i + 1) & mask;
    s->table[i] = (uint32_t)++s->n;
    *ret = e;
    return 0;
}

static int store_open(seq_store *s, const char *path)
{
    s->fd = -1;
    randombytes_buf(s->hash_key, sizeof(s->hash_key));
    if (!path)
        return 0;
    uint8_t *data = NULL;
    size_t len = 0;
    int r = ppnc_read_file(path, STORE_MAX_BYTES, &data, &len);
    if (r == -EFBIG)
        return -EUCLEAN;
    if (r < 0 && r != -ENOENT)
        return r;
    if (r == 0) {
        if (len < sizeof(seq_magic) || memcmp(data, seq_magic, sizeof(seq_magic)) != 0) {
            free(data);
            return -EUCLEAN;
        }
        for (size_t off = sizeof(seq_magic); off + REC_BYTES <= len; off += REC_BYTES) {
            uint8_t key[32];
            uint64_t seq;
            seq_entry *e;
            if (!rec_decode(data + off, key, &seq))
                continue; /* torn by a crash: skipped */
            if ((r = store_add(s, key, seq, &e)) < 0) {
                free(data);
                return r;
            }
        }
        free(data);
    }
    /* Compact: one record per key, slots in entry order. */
    size_t out_len = sizeof(seq_magic) + s->n * REC_BYTES;
    uint8_t *out = malloc(out_len);
    if (!out)
        return -ENOMEM;
    memcpy(out, seq_magic, sizeof(seq_magic));
    for (size_t k = 0; k < s->n; k++) {
        s->e[k].slot = (uint32_t)k;
        rec_encode(out + sizeof(seq_magic) + k * REC_BYTES, s->e[k].key, s->e[k].seq);
    }
    r = ppnc_write_file_atomic(path, out, out_len, 0600);
    free(out);
    if (r < 0)
        return r;
    s->fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    return s->fd < 0 ? -errno : 0;
}

/* Records an accepted sequence: one pwrite into the page cache (survives the
 * process dying), made durable by store_sync() within a second. */
static void store_put(seq_store *s, const uint8_t key[32], uint64_t seq)
{
    seq_entry *e;
    if (store_add(s, key, seq, &e) < 0) {
        if (!s->error)
            s->error = -ENOMEM;
        return;
    }
    if (s->fd < 0)
        return;
    uint8_t rec[REC_BYTES];
    rec_encode(rec, key, e->seq);
    off_t off = (off_t)sizeof(seq_magic) + (off_t)e->slot * REC_BYTES;
    if (pwrite(s->fd, rec, sizeof(rec), off) != (ssize_t)sizeof(rec)) {
        if (!s->error)
            s->error = -errno ? -errno : -EIO;
        return;
    }
    s->dirty = true;
}

static void store_sync(seq_store *s)
{
    if (s->fd >= 0 && s->dirty) {
        if (fdatasync(s->fd) < 0 && !s->error)
            s->error = -errno;
        s->dirty = false;
    }
}

static void store_close(seq_store *s)
{
    store_sync(s);
    if (s->fd >= 0)
        close(s->fd);
    free(s->e);
    free(s->table);
}

/* ---- the engine ------------------------------------------------------------ */

struct ppn_fleet_controller {
    ppn_fleet *fleet;
    int fd;
    int rcvbuf;
    seq_store store;
    fleet_keyset operators;
    fleet_nonces nonces;
    fleet_ratelimit log;
    ppn_fleet_controller_callbacks cb;
    void *userdata;
    uint64_t next_tick;
    bool guard;
    uint8_t *prev_state;     /* per node, for naming evictions */
    size_t prev_n;
    /* recvmmsg batch */
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_storage from[BATCH];
    uint8_t (*bufs)[PPN_FLEET_MESSAGE_MAX + 1];
};

static bool sockaddr_ok(const struct sockaddr *a, socklen_t len)
{
    return a && ((a->sa_family == AF_INET && len == sizeof(struct sockaddr_in)) ||
                 (a->sa_family == AF_INET6 && len == sizeof(struct sockaddr_in6)));
}

int fleet_udp_socket(const struct sockaddr *listen, socklen_t len, int rcvbuf, int *ret_granted)
{
    int fd = socket(listen->sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (rcvbuf > 0) {
        /* FORCE past net.core.rmem_max where allowed (CAP_NET_ADMIN). */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
            (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    if (bind(fd, listen, len) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    if (ret_granted) {
        int v = 0;
        socklen_t l = sizeof(v);
        *ret_granted = getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &l) == 0 ? v : 0;
    }
    return fd;
}

PPN_EXPORT int ppn_fleet_controller_new(const struct sockaddr *listen, socklen_t listen_len,
                                        const char *state_path, uint64_t now_ms,
                                        ppn_fleet_controller **ret)
{
    if (!ret || !sockaddr_ok(listen, listen_len))
        return -EINVAL;
    ppn_fleet_controller *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->fd = -1;
    c->store.fd = -1;
    int r = ppn_fleet_new(now_ms, &c->fleet);
    if (r < 0)
        goto fail;
    r = -ENOMEM;
    c->bufs = malloc(BATCH * sizeof(*c->bufs));
    if (!c->bufs)
        goto fail;
    r = store_open(&c->store, state_path);
    if (r < 0)
        goto fail;
    r = fleet_udp_socket(listen, listen_len, RCVBUF_WANTED, &c->rcvbuf);
    if (r < 0)
        goto fail;
    c->fd = r;
    c->next_tick = now_ms + TICK_MS;
    *ret = c;
    return 0;
fail:
    ppn_fleet_controller_free(c);
    return r;
}

PPN_EXPORT void ppn_fleet_controller_free(ppn_fleet_controller *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    store_close(&c->store);
    fleet_keyset_clear(&c->operators);
    ppn_fleet_free(c->fleet);
    free(c->prev_state);
    free(c->bufs);
    free(c);
}

PPN_EXPORT int ppn_fleet_controller_set_callbacks(ppn_fleet_controller *c,
                                                  const ppn_fleet_controller_callbacks *cb,
                                                  void *userdata)
{
    if (!c)
        return -EINVAL;
    memset(&c->cb, 0, sizeof(c->cb));
    if (cb)
        c->cb = *cb;
    c->userdata = userdata;
    return 0;
}

PPN_EXPORT ppn_fleet *ppn_fleet_controller_fleet(ppn_fleet_controller *c)
{
    return c ? c->fleet : NULL;
}

PPN_EXPORT int ppn_fleet_controller_fd(const ppn_fleet_controller *c)
{
    return c ? c->fd : -EINVAL;
}

PPN_EXPORT int ppn_fleet_controller_rcvbuf(const ppn_fleet_controller *c)
{
    return c ? c->rcvbuf : -EINVAL;
}

PPN_EXPORT int ppn_fleet_controller_set_members(ppn_fleet_controller *c,
                                                const ppn_fleet_member *m, size_t n)
{
    if (!c)
        return -EINVAL;
    int r = ppn_fleet_set_member_records(c->fleet, m, n);
    if (r < 0)
        return r;
    size_t count = ppn_fleet_node_count(c->fleet);
    uint8_t *prev = calloc(count ? count : 1, 1);
    if (!prev)
        return -ENOMEM; /* the members are set; only eviction names degrade */
    for (size_t i = 0; i < count; i++) {
        seq_entry *e = store_find(&c->store, fleet_node_key(c->fleet, i));
        if (e)
            fleet_node_resume_seq(c->fleet, i, e->seq);
        ppn_fleet_node_info info;
        if (ppn_fleet_node_get(c->fleet, i, c->next_tick, &info) == 0)
            prev[i] = (uint8_t)info.state;
    }
    free(c->prev_state);
    c->prev_state = prev;
    c->prev_n = count;
    return r;
}

PPN_EXPORT int ppn_fleet_controller_set_operators(ppn_fleet_controller *c, const uint8_t *keys,
                                                  size_t n)
{
    if (!c)
        return -EINVAL;
    return fleet_keyset_set(&c->operators, keys, n);
}

static ppn_fleet_refusal reason_of(int err)
{
    switch (err) {
    case -EMSGSIZE: return PPN_FLEET_REFUSED_TOO_BIG;
    case -EPROTO: return PPN_FLEET_REFUSED_VERSION;
    case -EPERM: return PPN_FLEET_REFUSED_NON_MEMBER;
    case -EKEYREJECTED: return PPN_FLEET_REFUSED_SIGNATURE;
    case -ESTALE: return PPN_FLEET_REFUSED_REPLAY;
    case -EADDRNOTAVAIL: return PPN_FLEET_REFUSED_SOURCE;
    case -EAGAIN: return PPN_FLEET_REFUSED_RATE;
    default: return PPN_FLEET_REFUSED_MALFORMED;
    }
}

static void handle(ppn_fleet_controller *c, const uint8_t *buf, size_t len,
                   const struct sockaddr *from, socklen_t fromlen, uint64_t now_ms)
{
    long idx = -1;
    int r = fleet_ingest(c->fleet, buf, len, from, fromlen, now_ms, &idx);
    if (r == 0) {
        bool known;
        uint64_t seq = fleet_node_seq(c->fleet, (size_t)idx, &known);
        store_put(&c->store, fleet_node_key(c->fleet, (size_t)idx), seq);
        return;
    }
    if (r == -ENOMEM || r == -EINVAL)
        return;
    uint64_t suppressed;
    if (fleet_ratelimit_allow(&c->log, now_ms, &suppressed) && c->cb.refused)
        c->cb.refused(c, reason_of(r), from, fromlen, suppressed, c->userdata);
}

static void tick(ppn_fleet_controller *c, uint64_t now_ms)
{
    ppn_fleet_tick_result res;
    if (ppn_fleet_tick(c->fleet, now_ms, &res) >= 0) {
        size_t n = ppn_fleet_node_count(c->fleet);
        for (size_t i = 0; i < n && i < c->prev_n; i++) {
            ppn_fleet_node_info info;
            if (ppn_fleet_node_get(c->fleet, i, now_ms, &info) < 0)
                continue;
            if (info.state == PPN_FLEET_NODE_EVICTED && c->prev_state[i] != PPN_FLEET_NODE_EVICTED &&
                c->cb.evicted)
                c->cb.evicted(c, i, now_ms - info.last_heard_ms, c->userdata);
            c->prev_state[i] = (uint8_t)info.state;
        }
        if (res.guard_tripped != c->guard && c->cb.guard)
            c->cb.guard(c, res.guard_tripped, res.held, c->userdata);
        c->guard = res.guard_tripped;
    }
    store_sync(&c->store);
}

PPN_EXPORT int ppn_fleet_controller_process(ppn_fleet_controller *c, uint64_t now_ms)
{
    if (!c)
        return -EINVAL;
    int handled = 0, err = 0;
    while (handled < DRAIN_MAX) {
        for (int i = 0; i < BATCH; i++) {
            c->iov[i].iov_base = c->bufs[i];
            c->iov[i].iov_len = sizeof(c->bufs[i]);
            memset(&c->msgs[i].msg_hdr, 0, sizeof(c->msgs[i].msg_hdr));
            c->msgs[i].msg_hdr.msg_iov = &c->iov[i];
            c->msgs[i].msg_hdr.msg_iovlen = 1;
            c->msgs[i].msg_hdr.msg_name = &c->from[i];
            c->msgs[i].msg_hdr.msg_namelen = sizeof(c->from[i]);
        }
        int n = recvmmsg(c->fd, c->msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED)
                err = -errno;
            break;
        }
        for (int i = 0; i < n; i++) {
            size_t len = c->msgs[i].msg_len;
            if (c->msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
                len = PPN_FLEET_MESSAGE_MAX + 1;
            handle(c, c->bufs[i], len, (struct sockaddr *)&c->from[i],
                   c->msgs[i].msg_hdr.msg_namelen, now_ms);
        }
        handled += n;
        if (n < BATCH)
            break;
    }
    uint64_t suppressed;
    if (fleet_ratelimit_summary(&c->log, now_ms, &suppressed) && c->cb.refused)
        c->cb.refused(c, PPN_FLEET_REFUSED_MALFORMED, NULL, 0, suppressed, c->userdata);
    if (now_ms >= c->next_tick) {
        tick(c, now_ms);
        c->next_tick = now_ms + TICK_MS;
    }
    if (!err && c->store.error) {
        err = c->store.error;
        c->store.error = 0;
    }
    return err ? err : handled;
}

PPN_EXPORT int ppn_fleet_controller_timeout(const ppn_fleet_controller *c, uint64_t now_ms)
{
    if (!c)
        return -EINVAL;
    return now_ms >= c->next_tick ? 0 : (int)(c->next_tick - now_ms);
}

PPN_EXPORT int ppn_fleet_controller_dispatch(ppn_fleet_controller *c, const void *buf,
                                             size_t len, uint64_t now_ms, uint64_t now_unix,
                                             ppn_fleet_dispatch *ret)
{
    if (!c || !buf || !ret)
        return -EINVAL;
    if (len > PPN_FLEET_MESSAGE_MAX)
        return -EMSGSIZE;
    if (fleet_sodium_init() < 0)
        return -EIO;
    ppn_fleet_request *rq = malloc(sizeof(*rq));
    uint8_t *msg = NULL, sig[64];
    size_t msg_len;
    int r = -ENOMEM;
    if (!rq)
        goto out;
    r = fleet_request_parse(buf, len, rq, &msg, &msg_len, sig);
    if (r < 0)
        goto out;
    r = -EDESTADDRREQ;
    if (!rq->has_node)
        goto out;
    r = -ECANCELED; /* the operator's confirmation is part of what is signed */
    if (!rq->confirmed)
        goto out;
    int where = ppn_fleet_vm_where(c->fleet, rq->vm_name, now_ms);
    r = -EEXIST; /* a VM never moves: no live migration */
    if (where >= 0 && memcmp(fleet_node_key(c->fleet, (size_t)where), rq->node_key, 32) != 0)
        goto out;
    r = -EPERM;
    if (!fleet_keyset_has(&c->operators, rq->operator_key))
        goto out;
    r = fleet_nonces_check(&c->nonces, rq, now_unix);
    if (r < 0)
        goto out;
    r = fleet_request_verify(rq, msg, msg_len, sig);
    if (r < 0)
        goto out;
    ppn_fleet_place_query q = {.mem_bytes = rq->mem_bytes, .vcpus = rq->vcpus, .kind = rq->kind,
                               .has_node = true};
    memcpy(q.node_key, rq->node_key, 32);
    ppn_fleet_placement p;
    r = ppn_fleet_place(c->fleet, &q, now_ms, NULL, NULL, &p);
    if (r < 0)
        goto out;
    r = -ENOSPC;
    if (!p.placed)
        goto out;
    ppn_fleet_node_info info;
    r = ppn_fleet_node_get(c->fleet, p.node_index, now_ms, &info);
    if (r < 0)
        goto out;
    r = -EHOSTUNREACH;
    if (!info.addr_len)
        goto out;
    r = fleet_nonces_commit(&c->nonces, rq, now_unix);
    if (r < 0)
        goto out;
    if (sendto(c->fd, buf, len, 0, (const struct sockaddr *)&info.addr, info.addr_len) < 0) {
        r = -errno;
        goto out;
    }
    (void)ppn_fleet_claim(c->fleet, rq->node_key, rq->vm_name, rq->mem_bytes, now_ms);
    ret->node_index = p.node_index;
    ret->request = *rq;
    r = 0;
out:
    free(rq);
    free(msg);
    return r;
}
