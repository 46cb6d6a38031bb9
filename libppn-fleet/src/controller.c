/* SPDX-License-Identifier: ISC */
/* The controller's view of the fleet: membership, heartbeat ingestion,
 * liveness on the controller's own clock, claims and placement.
 *
 * Nodes live in one array in member order; a hash table (open addressing,
 * SipHash of the key with a per-fleet random key) maps a public key to its
 * index.  Only members have entries, so a flood of heartbeats from unknown
 * keys costs a lookup each and never allocates. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

#include "fleet-internal.h"
#include "ppn-common.h"

typedef struct claim {
    char name[PPN_FLEET_NAME_MAX + 1];
    uint64_t mem_bytes;
    uint64_t expires_ms;
} claim;

typedef struct node {
    uint8_t key[32];
    char name[PPN_FLEET_NAME_MAX + 1]; /* from the member record only */
    uint8_t state;           /* ppn_fleet_node_state as last set by ingest/tick */
    bool heard;
    bool seq_known;          /* seq holds a floor: heard, or resumed from storage */
    uint64_t last_heard_ms;
    uint64_t seq;
    uint64_t ram_total, ram_available, ledger_size, vm_mem;
    uint32_t cpus, load_milli;
    uint32_t n_vms, n_claims;
    ppn_fleet_vm *vms;       /* n_vms, malloc'd */
    claim *claims;           /* n_claims, malloc'd */
    struct sockaddr_storage addr; /* member record: where dispatch goes */
    socklen_t addr_len;
    uint8_t ip[16];          /* addr's IP, IPv4 as ::ffff:a.b.c.d */
    uint64_t tokens_milli;   /* datagrams allowed from ip, x 1000 (token bucket) */
    uint64_t tokens_ms;      /* when last refilled */
    bool tokens_set;
    struct sockaddr_storage src; /* last accepted heartbeat's source */
    socklen_t src_len;
} node;

struct ppn_fleet {
    uint64_t start_ms;
    uint64_t opt[7];
    node *nodes;
    size_t n_nodes;
    uint32_t *table;         /* index + 1; 0 is empty */
    size_t table_size;       /* power of two, >= 2 * n_nodes */
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
    uint32_t *atable;        /* member IPs -> index + 1, when every member has one */
    size_t atable_size;      /* 0: no source check */
    uint64_t refused[PPN_FLEET_REFUSED_COUNT];
    uint64_t accepted;
    ppn_fleet_heartbeat scratch_hb;
    uint8_t scratch_msg[FLEET_SIGNED_MAX];
};

static const uint64_t default_opts[7] = {
    [PPN_FLEET_OPT_SILENCE_MS] = 30000,
    [PPN_FLEET_OPT_GRACE_MS] = 30000,
    [PPN_FLEET_OPT_GUARD_PERCENT] = 50,
    [PPN_FLEET_OPT_GUARD_MIN_NODES] = 2,
    [PPN_FLEET_OPT_CLAIM_TTL_MS] = 60000,
    [PPN_FLEET_OPT_SAFETY_MARGIN] = 512ULL << 20,
    [PPN_FLEET_OPT_MEMBER_RATE] = 20,
};

PPN_EXPORT int ppn_fleet_new(uint64_t now_ms, ppn_fleet **ret_fleet)
{
    if (!ret_fleet)
        return -EINVAL;
    if (fleet_sodium_init() < 0)
        return -EIO;
    ppn_fleet *f = calloc(1, sizeof(*f));
    if (!f)
        return -ENOMEM;
    f->start_ms = now_ms;
    memcpy(f->opt, default_opts, sizeof(f->opt));
    randombytes_buf(f->hash_key, sizeof(f->hash_key));
    *ret_fleet = f;
    return 0;
}

static void node_release(node *n)
{
    free(n->vms);
    free(n->claims);
    n->vms = NULL;
    n->claims = NULL;
}

PPN_EXPORT void ppn_fleet_free(ppn_fleet *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_nodes; i++)
        node_release(&f->nodes[i]);
    free(f->nodes);
    free(f->table);
    free(f->atable);
    sodium_memzero(f->scratch_msg, sizeof(f->scratch_msg));
    free(f);
}

PPN_EXPORT int ppn_fleet_set_option(ppn_fleet *f, ppn_fleet_option opt, uint64_t value)
{
    if (!f || (unsigned)opt > PPN_FLEET_OPT_MEMBER_RATE)
        return -EINVAL;
    if (opt == PPN_FLEET_OPT_SILENCE_MS && value == 0)
        return -EINVAL;
    if (opt == PPN_FLEET_OPT_GUARD_PERCENT && value > 100)
        return -EINVAL;
    if (opt == PPN_FLEET_OPT_MEMBER_RATE && value > 1000000)
        return -EINVAL;
    f->opt[opt] = value;
    return 0;
}

PPN_EXPORT int ppn_fleet_get_option(const ppn_fleet *f, ppn_fleet_option opt, uint64_t *ret_value)
{
    if (!f || !ret_value || (unsigned)opt > PPN_FLEET_OPT_MEMBER_RATE)
        return -EINVAL;
    *ret_value = f->opt[opt];
    return 0;
}

/* ---- the key -> index table ------------------------------------------- */

static uint64_t key_hash(const uint8_t hash_key[16], const uint8_t key[32])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, 32, hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

/* Index of 'key' among nodes/n_nodes through table, or -1. */
static long table_find(const uint32_t *table, size_t table_size, const node *nodes,
                       const uint8_t hash_key[16], const uint8_t key[32])
{
    if (!table_size)
        return -1;
    size_t mask = table_size - 1;
    for (size_t i = key_hash(hash_key, key) & mask;; i = (i + 1) & mask) {
        uint32_t slot = table[i];
        if (!slot)
            return -1;
        if (memcmp(nodes[slot - 1].key, key, 32) == 0)
            return (long)(slot - 1);
    }
}

static void table_insert(uint32_t *table, size_t table_size, const uint8_t hash_key[16],
                         const uint8_t key[32], uint32_t index)
{
    size_t mask = table_size - 1;
    size_t i = key_hash(hash_key, key) & mask;
    while (table[i])
        i = (i + 1) & mask;
    table[i] = index + 1;
}

static long find(const ppn_fleet *f, const uint8_t key[32])
{
    return table_find(f->table, f->table_size, f->nodes, f->hash_key, key);
}

/* The IP of an AF_INET/AF_INET6 address as 16 bytes; false for anything else. */
static bool addr_ip(const struct sockaddr *a, socklen_t len, uint8_t ip[16])
{
    if (!a)
        return false;
    if (a->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)a;
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &v4->sin_addr, 4);
        return true;
    }
    if (a->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        memcpy(ip, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
        return true;
    }
    return false;
}

static uint64_t ip_hash(const uint8_t hash_key[16], const uint8_t ip[16])
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, ip, 16, hash_key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return v;
}

/* Index of a member whose IP is 'ip', or -1. */
static long atable_find(const ppn_fleet *f, const uint8_t ip[16])
{
    if (!f->atable_size)
        return -1;
    size_t mask = f->atable_size - 1;
    for (size_t i = ip_hash(f->hash_key, ip) & mask;; i = (i + 1) & mask) {
        uint32_t slot = f->atable[i];
        if (!slot)
            return -1;
        if (memcmp(f->nodes[slot - 1].ip, ip, 16) == 0)
            return (long)(slot - 1);
    }
}

static bool record_valid(const ppn_fleet_member *m)
{
    size_t l = strnlen(m->name, sizeof(m->name));
    if (l == sizeof(m->name) || (l && !fleet_name_valid(m->name, l)))
        return false;
    if (!m->addr_len)
        return true;
    if (m->addr.ss_family == AF_INET)
        return m->addr_len == sizeof(struct sockaddr_in);
    if (m->addr.ss_family == AF_INET6)
        return m->addr_len == sizeof(struct sockaddr_in6);
    return false;
}

/* keys (32 each) or records: one of them. */
static int set_members(ppn_fleet *f, const uint8_t *keys, const ppn_fleet_member *recs,
                       size_t n_keys)
{
    if (!f || (!keys && !recs && n_keys) || n_keys > UINT32_MAX / 4)
        return -EINVAL;
    for (size_t i = 0; recs && i < n_keys; i++)
        if (!record_valid(&recs[i]))
            return -EINVAL;
    size_t table_size = 16;
    while (table_size < 2 * n_keys)
        table_size *= 2;
    node *nodes = calloc(n_keys ? n_keys : 1, sizeof(*nodes));
    uint32_t *table = calloc(table_size, sizeof(*table));
    uint32_t *atable = recs ? calloc(table_size, sizeof(*atable)) : NULL;
    if (!nodes || !table || (recs && !atable)) {
        free(nodes);
        free(table);
        free(atable);
        return -ENOMEM;
    }
    size_t n = 0;
    bool all_addressed = recs && n_keys > 0;
    for (size_t i = 0; i < n_keys; i++) {
        const uint8_t *k = recs ? recs[i].key : keys + 32 * i;
        if (table_find(table, table_size, nodes, f->hash_key, k) >= 0)
            continue; /* duplicate */
        long old = find(f, k);
        if (old >= 0) {
            nodes[n] = f->nodes[old]; /* moves vms and claims */
            f->nodes[old].vms = NULL;
            f->nodes[old].claims = NULL;
        } else {
            memcpy(nodes[n].key, k, 32);
            nodes[n].state = PPN_FLEET_NODE_UNKNOWN;
        }
        memset(nodes[n].name, 0, sizeof(nodes[n].name));
        nodes[n].addr_len = 0;
        memset(nodes[n].ip, 0, 16);
        if (recs) {
            memcpy(nodes[n].name, recs[i].name, strnlen(recs[i].name, PPN_FLEET_NAME_MAX));
            if (recs[i].addr_len) {
                memcpy(&nodes[n].addr, &recs[i].addr, recs[i].addr_len);
                nodes[n].addr_len = (socklen_t)recs[i].addr_len;
                addr_ip((const struct sockaddr *)&nodes[n].addr, nodes[n].addr_len, nodes[n].ip);
            } else {
                all_addressed = false;
            }
        }
        table_insert(table, table_size, f->hash_key, k, (uint32_t)n);
        n++;
    }
    if (all_addressed) {
        size_t mask = table_size - 1;
        for (size_t i = 0; i < n; i++) {
            size_t j = ip_hash(f->hash_key, nodes[i].ip) & mask;
            while (atable[j] && memcmp(nodes[atable[j] - 1].ip, nodes[i].ip, 16) != 0)
                j = (j + 1) & mask;
            if (!atable[j])
                atable[j] = (uint32_t)i + 1;
        }
    } else {
        free(atable);
        atable = NULL;
    }
    for (size_t i = 0; i < f->n_nodes; i++)
        node_release(&f->nodes[i]);
    free(f->nodes);
    free(f->table);
    free(f->atable);
    f->nodes = nodes;
    f->n_nodes = n;
    f->table = table;
    f->table_size = table_size;
    f->atable = atable;
    f->atable_size = atable ? table_size : 0;
    return (int)n;
}

PPN_EXPORT int ppn_fleet_set_members(ppn_fleet *f, const uint8_t *keys, size_t n_keys)
{
    return set_members(f, keys, NULL, n_keys);
}

PPN_EXPORT int ppn_fleet_set_member_records(ppn_fleet *f, const ppn_fleet_member *m, size_t n)
{
    return set_members(f, NULL, m, n);
}

/* ---- ingestion -------------------------------------------------------- */

static const char *const refusal_names[PPN_FLEET_REFUSED_COUNT] = {
    [PPN_FLEET_REFUSED_MALFORMED] = "malformed",
    [PPN_FLEET_REFUSED_VERSION] = "wrong version",
    [PPN_FLEET_REFUSED_TOO_BIG] = "too big",
    [PPN_FLEET_REFUSED_NON_MEMBER] = "non-member",
    [PPN_FLEET_REFUSED_SIGNATURE] = "bad signature",
    [PPN_FLEET_REFUSED_REPLAY] = "replay or old sequence",
    [PPN_FLEET_REFUSED_SOURCE] = "wrong source address",
    [PPN_FLEET_REFUSED_RATE] = "over the member's rate",
};

PPN_EXPORT const char *ppn_fleet_refusal_name(ppn_fleet_refusal reason)
{
    return (unsigned)reason < PPN_FLEET_REFUSED_COUNT ? refusal_names[reason] : NULL;
}

PPN_EXPORT uint64_t ppn_fleet_refusals(const ppn_fleet *f, ppn_fleet_refusal reason)
{
    if (!f || (unsigned)reason >= PPN_FLEET_REFUSED_COUNT)
        return 0;
    return f->refused[reason];
}

PPN_EXPORT uint64_t ppn_fleet_accepted(const ppn_fleet *f)
{
    return f ? f->accepted : 0;
}

static int refuse(ppn_fleet *f, int err)
{
    ppn_fleet_refusal reason;
    switch (err) {
    case -EMSGSIZE: reason = PPN_FLEET_REFUSED_TOO_BIG; break;
    case -EPROTO: reason = PPN_FLEET_REFUSED_VERSION; break;
    case -EPERM: reason = PPN_FLEET_REFUSED_NON_MEMBER; break;
    case -EKEYREJECTED: reason = PPN_FLEET_REFUSED_SIGNATURE; break;
    case -ESTALE: reason = PPN_FLEET_REFUSED_REPLAY; break;
    case -EBADMSG: reason = PPN_FLEET_REFUSED_MALFORMED; break;
    case -EADDRNOTAVAIL: reason = PPN_FLEET_REFUSED_SOURCE; break;
    case -EAGAIN: reason = PPN_FLEET_REFUSED_RATE; break;
    default: return err; /* -ENOMEM: our problem, not the sender's */
    }
    f->refused[reason]++;
    return err;
}

/* Drops the claims this heartbeat reflects (the VM is listed). */
static void reconcile_claims(node *n, const ppn_fleet_heartbeat *hb)
{
    uint32_t out = 0;
    for (uint32_t i = 0; i < n->n_claims; i++) {
        bool seen = false;
        for (uint32_t j = 0; j < hb->n_vms && !seen; j++)
            seen = strcmp(n->claims[i].name, hb->vms[j].name) == 0;
        if (!seen)
            n->claims[out++] = n->claims[i];
    }
    n->n_claims = out;
}

/* One token from the bucket of the member at n->ip: false when it is empty. */
static bool take_token(const ppn_fleet *f, node *n, uint64_t now_ms)
{
    uint64_t rate = f->opt[PPN_FLEET_OPT_MEMBER_RATE], cap = 2 * rate * 1000;
    if (!rate)
        return true;
    if (!n->tokens_set) {
        n->tokens_set = true;
        n->tokens_milli = cap;
        n->tokens_ms = now_ms;
    } else if (now_ms > n->tokens_ms) {
        /* rate per second is rate milli-tokens per millisecond */
        uint64_t dt = now_ms - n->tokens_ms;
        uint64_t add = dt > cap ? cap : dt * rate;
        n->tokens_milli = cap - n->tokens_milli < add ? cap : n->tokens_milli + add;
        n->tokens_ms = now_ms;
    }
    if (n->tokens_milli > cap)
        n->tokens_milli = cap; /* the rate was lowered */
    if (n->tokens_milli < 1000)
        return false;
    n->tokens_milli -= 1000;
    return true;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    uint64_t s = a + b;
    return s < a || s > PPN_FLEET_BYTES_MAX ? PPN_FLEET_BYTES_MAX : s;
}

int fleet_ingest(ppn_fleet *f, const void *buf, size_t len, const struct sockaddr *from,
                 socklen_t fromlen, uint64_t now_ms, long *ret_index)
{
    if (!f || !buf || (from && fromlen > sizeof(struct sockaddr_storage)))
        return -EINVAL;
    if (len > PPN_FLEET_MESSAGE_MAX)
        return refuse(f, -EMSGSIZE);
    /* The mesh authenticates source addresses: a datagram from an IP that is
     * no member's costs one hash lookup, not a decode. */
    uint8_t ip[16];
    bool have_ip = addr_ip(from, fromlen, ip);
    if (f->atable_size) {
        long at = have_ip ? atable_find(f, ip) : -1;
        if (at < 0)
            return refuse(f, -EADDRNOTAVAIL);
        /* Before any parsing: a flood from one member's address (its mesh
         * key stolen, or a local sender) costs the others nothing. */
        if (!take_token(f, &f->nodes[at], now_ms))
            return refuse(f, -EAGAIN);
    }
    ppn_fleet_heartbeat *hb = &f->scratch_hb;
    uint8_t sig[64];
    size_t msg_len;
    int r = fleet_heartbeat_parse(buf, len, hb, f->scratch_msg, &msg_len, sig);
    if (r < 0)
        return refuse(f, r);
    long idx = find(f, hb->node_key);
    if (idx < 0)
        return refuse(f, -EPERM);
    node *n = &f->nodes[idx];
    if (f->atable_size && memcmp(n->ip, ip, 16) != 0)
        return refuse(f, -EADDRNOTAVAIL);
    /* The sequence before the signature: a replay costs no verification. */
    if (n->seq_known && hb->seq <= n->seq)
        return refuse(f, -ESTALE);
    if (crypto_sign_verify_detached(sig, f->scratch_msg, msg_len, hb->node_key) != 0)
        return refuse(f, -EKEYREJECTED);

    if (hb->n_vms != n->n_vms || !n->vms) {
        ppn_fleet_vm *vms = realloc(n->vms, (hb->n_vms ? hb->n_vms : 1) * sizeof(*vms));
        if (!vms)
            return -ENOMEM;
        n->vms = vms;
    }
    memcpy(n->vms, hb->vms, hb->n_vms * sizeof(*hb->vms));
    n->n_vms = hb->n_vms;
    n->vm_mem = 0;
    for (uint32_t i = 0; i < hb->n_vms; i++)
        n->vm_mem = sat_add(n->vm_mem, hb->vms[i].mem_bytes);
    n->heard = true;
    n->seq_known = true;
    n->state = PPN_FLEET_NODE_ALIVE;
    n->last_heard_ms = now_ms;
    n->seq = hb->seq;
    n->ram_total = hb->ram_total_bytes;
    n->ram_available = hb->ram_available_bytes;
    n->ledger_size = hb->ledger_size;
    n->cpus = hb->cpu_count;
    n->load_milli = hb->load_milli;
    if (from && fromlen) {
        memcpy(&n->src, from, fromlen);
        n->src_len = fromlen;
    }
    reconcile_claims(n, hb);
    f->accepted++;
    if (ret_index)
        *ret_index = idx;
    return 0;
}

PPN_EXPORT int ppn_fleet_ingest(ppn_fleet *f, const void *buf, size_t len,
                                const struct sockaddr *from, socklen_t fromlen, uint64_t now_ms)
{
    return fleet_ingest(f, buf, len, from, fromlen, now_ms, NULL);
}

void fleet_node_resume_seq(ppn_fleet *f, size_t index, uint64_t seq)
{
    node *n = &f->nodes[index];
    if (!n->seq_known || seq > n->seq) {
        n->seq = seq;
        n->seq_known = true;
    }
}

const uint8_t *fleet_node_key(const ppn_fleet *f, size_t index)
{
    return f->nodes[index].key;
}

uint64_t fleet_node_seq(const ppn_fleet *f, size_t index, bool *ret_known)
{
    *ret_known = f->nodes[index].seq_known;
    return f->nodes[index].seq;
}

uint64_t fleet_start_ms(const ppn_fleet *f)
{
    return f->start_ms;
}

/* ---- liveness --------------------------------------------------------- */

static bool is_silent(const ppn_fleet *f, const node *n, uint64_t now_ms)
{
    return n->heard && now_ms > n->last_heard_ms &&
           now_ms - n->last_heard_ms > f->opt[PPN_FLEET_OPT_SILENCE_MS];
}

static ppn_fleet_node_state state_at(const ppn_fleet *f, const node *n, uint64_t now_ms)
{
    if (!n->heard)
        return PPN_FLEET_NODE_UNKNOWN;
    if (n->state == PPN_FLEET_NODE_EVICTED)
        return PPN_FLEET_NODE_EVICTED;
    return is_silent(f, n, now_ms) ? PPN_FLEET_NODE_SILENT : PPN_FLEET_NODE_ALIVE;
}

static void expire_claims(const ppn_fleet *f, node *n, uint64_t now_ms)
{
    uint32_t out = 0;
    for (uint32_t i = 0; i < n->n_claims; i++)
        if (now_ms < n->claims[i].expires_ms)
            n->claims[out++] = n->claims[i];
    n->n_claims = out;
}

PPN_EXPORT int ppn_fleet_tick(ppn_fleet *f, uint64_t now_ms, ppn_fleet_tick_result *ret)
{
    if (!f || !ret || now_ms < f->start_ms)
        return -EINVAL;
    size_t live = 0, silent = 0;
    for (size_t i = 0; i < f->n_nodes; i++) {
        node *n = &f->nodes[i];
        expire_claims(f, n, now_ms);
        if (!n->heard || n->state == PPN_FLEET_NODE_EVICTED)
            continue;
        live++; /* alive or silent-but-held: not yet evicted */
        if (is_silent(f, n, now_ms))
            silent++;
    }
    ppn_fleet_tick_result res = {0};
    bool hold = false;
    if (silent && now_ms - f->start_ms < f->opt[PPN_FLEET_OPT_GRACE_MS]) {
        res.in_grace = true;
        hold = true;
    } else if (silent && live >= f->opt[PPN_FLEET_OPT_GUARD_MIN_NODES] &&
               silent * 100 > live * f->opt[PPN_FLEET_OPT_GUARD_PERCENT]) {
        res.guard_tripped = true;
        hold = true;
    }
    for (size_t i = 0; i < f->n_nodes; i++) {
        node *n = &f->nodes[i];
        if (!n->heard || n->state == PPN_FLEET_NODE_EVICTED || !is_silent(f, n, now_ms))
            continue;
        if (hold) {
            n->state = PPN_FLEET_NODE_SILENT;
            res.held++;
        } else {
            n->state = PPN_FLEET_NODE_EVICTED;
            n->n_claims = 0;
            res.evicted++;
        }
    }
    *ret = res;
    return (int)res.evicted;
}

PPN_EXPORT size_t ppn_fleet_node_count(const ppn_fleet *f)
{
    return f ? f->n_nodes : 0;
}

static uint64_t claimed(const node *n, uint64_t now_ms)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n->n_claims; i++)
        if (now_ms < n->claims[i].expires_ms)
            sum = sat_add(sum, n->claims[i].mem_bytes);
    return sum;
}

PPN_EXPORT int ppn_fleet_node_get(const ppn_fleet *f, size_t index, uint64_t now_ms,
                                  ppn_fleet_node_info *ret)
{
    if (!f || !ret)
        return -EINVAL;
    if (index >= f->n_nodes)
        return -ENOENT;
    const node *n = &f->nodes[index];
    ppn_fleet_node_info info;
    memset(&info, 0, sizeof(info));
    memcpy(info.node_key, n->key, 32);
    memcpy(info.node_name, n->name, sizeof(info.node_name));
    info.state = state_at(f, n, now_ms);
    info.last_heard_ms = n->heard ? n->last_heard_ms : 0;
    info.seq = n->seq;
    info.ram_total_bytes = n->ram_total;
    info.ram_available_bytes = n->ram_available;
    info.claimed_bytes = claimed(n, now_ms);
    info.cpu_count = n->cpus;
    info.load_milli = n->load_milli;
    info.ledger_size = n->ledger_size;
    info.n_vms = n->n_vms;
    for (uint32_t i = 0; i < n->n_claims; i++)
        info.n_claims += now_ms < n->claims[i].expires_ms;
    info.vm_mem_bytes = n->vm_mem;
    info.addr = n->addr;
    info.addr_len = n->addr_len;
    info.src_addr = n->src;
    info.src_addr_len = n->src_len;
    *ret = info;
    return 0;
}

PPN_EXPORT int ppn_fleet_node_find(const ppn_fleet *f, const uint8_t key[32])
{
    if (!f || !key)
        return -EINVAL;
    long i = find(f, key);
    return i < 0 ? -ENOENT : (int)i;
}

PPN_EXPORT int ppn_fleet_node_vm(const ppn_fleet *f, size_t index, size_t vm_index,
                                 ppn_fleet_vm *ret)
{
    if (!f || !ret)
        return -EINVAL;
    if (index >= f->n_nodes || vm_index >= f->nodes[index].n_vms)
        return -ENOENT;
    *ret = f->nodes[index].vms[vm_index];
    return 0;
}

PPN_EXPORT const char *ppn_fleet_node_state_name(ppn_fleet_node_state s)
{
    static const char *const names[] = {"unknown", "alive", "silent", "evicted"};
    return (unsigned)s < PPNC_ARRAY_SIZE(names) ? names[s] : NULL;
}

/* ---- claims and placement --------------------------------------------- */

PPN_EXPORT int ppn_fleet_claim(ppn_fleet *f, const uint8_t key[32], const char *vm_name,
                               uint64_t mem_bytes, uint64_t now_ms)
{
    if (!f || !key || !vm_name || mem_bytes == 0 || mem_bytes > PPN_FLEET_BYTES_MAX ||
        !fleet_name_valid(vm_name, strlen(vm_name)))
        return -EINVAL;
    long idx = find(f, key);
    if (idx < 0)
        return -ENOENT;
    node *n = &f->nodes[idx];
    expire_claims(f, n, now_ms);
    claim *c = NULL;
    for (uint32_t i = 0; i < n->n_claims && !c; i++)
        if (strcmp(n->claims[i].name, vm_name) == 0)
            c = &n->claims[i];
    if (!c) {
        claim *cl = realloc(n->claims, (n->n_claims + 1) * sizeof(*cl));
        if (!cl)
            return -ENOMEM;
        n->claims = cl;
        c = &cl[n->n_claims++];
    }
    memset(c, 0, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", vm_name);
    c->mem_bytes = mem_bytes;
    c->expires_ms = now_ms + f->opt[PPN_FLEET_OPT_CLAIM_TTL_MS];
    return 0;
}

PPN_EXPORT int ppn_fleet_vm_where(const ppn_fleet *f, const char *vm_name, uint64_t now_ms)
{
    if (!f || !vm_name || !fleet_name_valid(vm_name, strnlen(vm_name, PPN_FLEET_NAME_MAX + 1)))
        return -EINVAL;
    /* An evicted node keeps its VMs: they stay where they are. */
    for (size_t i = 0; i < f->n_nodes; i++) {
        const node *n = &f->nodes[i];
        for (uint32_t j = 0; j < n->n_vms; j++)
            if (strcmp(n->vms[j].name, vm_name) == 0)
                return (int)i;
        for (uint32_t j = 0; j < n->n_claims; j++)
            if (now_ms < n->claims[j].expires_ms && strcmp(n->claims[j].name, vm_name) == 0)
                return (int)i;
    }
    return -ENOENT;
}

static const char *const reason_names[PPN_FLEET_REASON_COUNT] = {
    [PPN_FLEET_FITS] = "fits",
    [PPN_FLEET_NOT_ALIVE] = "not alive",
    [PPN_FLEET_NOT_HEARD] = "not heard",
    [PPN_FLEET_NOT_NAMED] = "not the named node",
    [PPN_FLEET_INSUFFICIENT_CPU] = "insufficient cpu",
    [PPN_FLEET_INSUFFICIENT_MEMORY] = "insufficient memory",
};

PPN_EXPORT const char *ppn_fleet_reason_name(ppn_fleet_reason r)
{
    return (unsigned)r < PPN_FLEET_REASON_COUNT ? reason_names[r] : NULL;
}

PPN_EXPORT int ppn_fleet_place(const ppn_fleet *f, const ppn_fleet_place_query *q,
                               uint64_t now_ms, ppn_fleet_reason_cb cb, void *userdata,
                               ppn_fleet_placement *ret)
{
    if (!f || !q || !ret || q->mem_bytes == 0 || q->mem_bytes > PPN_FLEET_BYTES_MAX ||
        q->vcpus == 0 || q->kind > PPN_FLEET_VM_TOTEBOX || !fleet_reserved_zero(q->reserved))
        return -EINVAL;
    if (q->kind == PPN_FLEET_VM_TOTEBOX && !q->has_node)
        return -EDESTADDRREQ;
    ppn_fleet_placement p;
    memset(&p, 0, sizeof(p));
    uint64_t margin = f->opt[PPN_FLEET_OPT_SAFETY_MARGIN];
    const node *best = NULL;
    uint64_t best_left = 0;
    for (size_t i = 0; i < f->n_nodes; i++) {
        const node *n = &f->nodes[i];
        ppn_fleet_reason why = PPN_FLEET_FITS;
        uint64_t left = 0;
        if (!n->heard)
            why = PPN_FLEET_NOT_HEARD;
        else if (n->state == PPN_FLEET_NODE_EVICTED || is_silent(f, n, now_ms))
            why = PPN_FLEET_NOT_ALIVE;
        else if (q->has_node && memcmp(n->key, q->node_key, 32) != 0)
            why = PPN_FLEET_NOT_NAMED;
        else if (q->vcpus > n->cpus)
            why = PPN_FLEET_INSUFFICIENT_CPU;
        else {
            uint64_t c = claimed(n, now_ms), need = q->mem_bytes + margin;
            if (need < q->mem_bytes || c > n->ram_available || n->ram_available - c < need)
                why = PPN_FLEET_INSUFFICIENT_MEMORY;
            else
                left = n->ram_available - c - q->mem_bytes;
        }
        p.reasons[why]++;
        if (why == PPN_FLEET_FITS &&
            (!best || left > best_left ||
             (left == best_left && memcmp(n->key, best->key, 32) < 0))) {
            best = n;
            best_left = left;
        }
        if (cb)
            cb(i, why, userdata);
    }
    p.n_nodes = (uint32_t)f->n_nodes;
    p.n_fit = p.reasons[PPN_FLEET_FITS];
    if (best) {
        p.placed = true;
        p.node_index = (size_t)(best - f->nodes);
        memcpy(p.node_key, best->key, 32);
        p.ram_left_bytes = best_left;
    }
    *ret = p;
    return (int)p.n_fit;
}

PPN_EXPORT int ppn_fleet_placement_explain(const ppn_fleet_placement *p, char *buf, size_t size)
{
    if (!p || (!buf && size))
        return -EINVAL;
    char tmp[256];
    int len = snprintf(tmp, sizeof(tmp), "%u/%u nodes are available", p->n_fit, p->n_nodes);
    bool done[PPN_FLEET_REASON_COUNT] = {true};
    bool first = true;
    for (;;) {
        int pick = -1;
        for (int r = 1; r < PPN_FLEET_REASON_COUNT; r++)
            if (!done[r] && p->reasons[r] && (pick < 0 || p->reasons[r] > p->reasons[pick]))
                pick = r;
        if (pick < 0)
            break;
        done[pick] = true;
        len += snprintf(tmp + len, sizeof(tmp) - (size_t)len, "%s%u %s", first ? ": " : ", ",
                        p->reasons[pick], reason_names[pick]);
        first = false;
    }
    if (size)
        snprintf(buf, size, "%s", tmp);
    return len;
}
