/* Device and peer objects, keys, allowed IPs. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ppn-common.h"
#include "wg-internal.h"

PPN_EXPORT const char *ppn_wg_version(void)
{
    return PPN_VERSION;
}


PPN_EXPORT int ppn_wg_key_to_base64(const uint8_t key[PPN_WG_KEY_BYTES], char *out)
{
    if (!key || !out)
        return -EINVAL;
    ppnc_key_to_base64(out, key);
    return 0;
}

PPN_EXPORT int ppn_wg_key_from_base64(const char *s, size_t len, uint8_t ret_key[PPN_WG_KEY_BYTES])
{
    if (!s || !ret_key)
        return -EINVAL;
    return ppnc_key_from_base64(ret_key, s, len);
}

/* ---- allowed IPs ---- */

void wg_allowedip_normalize(ppn_wg_allowedip *ip)
{
    unsigned bytes = ip->family == AF_INET ? 4 : 16;
    for (unsigned i = 0; i < bytes; i++) {
        unsigned bit = i * 8;
        if (bit >= ip->cidr)
            ip->addr[i] = 0;
        else if (ip->cidr - bit < 8)
            ip->addr[i] &= (uint8_t)(0xff00 >> (ip->cidr - bit));
    }
    if (ip->family == AF_INET)
        memset(ip->addr + 4, 0, 12);
}

int wg_allowedip_cmp(const ppn_wg_allowedip *a, const ppn_wg_allowedip *b)
{
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    if (a->cidr != b->cidr)
        return a->cidr < b->cidr ? -1 : 1;
    return memcmp(a->addr, b->addr, 16);
}

static bool allowedip_valid(const ppn_wg_allowedip *ip)
{
    return (ip->family == AF_INET && ip->cidr <= 32) || (ip->family == AF_INET6 && ip->cidr <= 128);
}

PPN_EXPORT int ppn_wg_allowedip_parse(const char *s, ppn_wg_allowedip *ret)
{
    char buf[INET6_ADDRSTRLEN + 8];
    ppn_wg_allowedip ip;
    if (!s || !ret)
        return -EINVAL;
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(&ip, 0, sizeof(ip));
    if (inet_pton(AF_INET, buf, ip.addr) == 1) {
        ip.family = AF_INET;
        ip.cidr = 32;
    } else if (inet_pton(AF_INET6, buf, ip.addr) == 1) {
        ip.family = AF_INET6;
        ip.cidr = 128;
    } else {
        return -EINVAL;
    }
    if (slash) {
        unsigned long v;
        if (wg_parse_decimal(slash + 1, ip.cidr, &v) < 0)
            return -EINVAL;
        ip.cidr = (uint8_t)v;
    }
    *ret = ip;
    return 0;
}

PPN_EXPORT int ppn_wg_allowedip_format(const ppn_wg_allowedip *ip, char *buf, size_t size)
{
    char a[INET6_ADDRSTRLEN];
    if (!ip || !buf || !allowedip_valid(ip))
        return -EINVAL;
    if (ip->family == AF_INET) {
        /* by hand: glibc's inet_ntop goes through sprintf */
        char *o = a;
        for (int i = 0; i < 4; i++) {
            unsigned v = ip->addr[i];
            if (v >= 100)
                *o++ = (char)('0' + v / 100);
            if (v >= 10)
                *o++ = (char)('0' + (v / 10) % 10);
            *o++ = (char)('0' + v % 10);
            *o++ = i < 3 ? '.' : '\0';
        }
    } else if (!inet_ntop(ip->family, ip->addr, a, sizeof(a))) {
        return -EINVAL;
    }
    size_t need = strlen(a) + 5;
    if (size < need)
        return -ENOSPC;
    size_t al = strlen(a);
    memcpy(buf, a, al);
    buf[al] = '/';
    unsigned c = ip->cidr, pos = (unsigned)al + 1;
    if (c >= 100)
        buf[pos++] = (char)('0' + c / 100);
    if (c >= 10)
        buf[pos++] = (char)('0' + (c / 10) % 10);
    buf[pos++] = (char)('0' + c % 10);
    buf[pos] = '\0';
    return 0;
}

/* ---- device ---- */

PPN_EXPORT int ppn_wg_device_new(ppn_wg_device **ret)
{
    if (!ret)
        return -EINVAL;
    ppn_wg_device *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    *ret = d;
    return 0;
}

static void peer_free(ppn_wg_peer *p)
{
    if (!p)
        return;
    free(p->ips);
    ppnc_wipe(p->psk, sizeof(p->psk)); /* the only secret of a peer */
    free(p);
}

PPN_EXPORT void ppn_wg_device_free(ppn_wg_device *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_peers; i++)
        peer_free(d->peers[i]);
    free(d->peers);
    free(d->index);
    ppnc_wipe(d->priv, sizeof(d->priv));
    free(d);
}

bool wg_ifname_valid(const char *name)
{
    if (!name || !name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    size_t n = 0;
    for (; name[n]; n++) {
        unsigned char c = (unsigned char)name[n];
        if (n >= PPN_WG_IFNAME_MAX || c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r'))
            return false;
    }
    return true;
}

PPN_EXPORT int ppn_wg_ifname_check(const char *name)
{
    return wg_ifname_valid(name) ? 0 : -EINVAL;
}

PPN_EXPORT int ppn_wg_device_set_name(ppn_wg_device *d, const char *name)
{
    if (!d || !wg_ifname_valid(name))
        return -EINVAL;
    memcpy(d->name, name, strlen(name) + 1);
    return 0;
}

PPN_EXPORT const char *ppn_wg_device_get_name(const ppn_wg_device *d)
{
    return d ? d->name : "";
}

PPN_EXPORT uint32_t ppn_wg_device_get_ifindex(const ppn_wg_device *d)
{
    return d ? d->ifindex : 0;
}

PPN_EXPORT uint32_t ppn_wg_device_get_flags(const ppn_wg_device *d)
{
    return d ? d->flags : 0;
}

PPN_EXPORT int ppn_wg_device_set_flags(ppn_wg_device *d, uint32_t flags)
{
    if (!d || (flags & ~(uint32_t)PPN_WG_DEVICE_REPLACE_PEERS))
        return -EINVAL;
    d->flags = (d->flags & ~(uint32_t)PPN_WG_DEVICE_REPLACE_PEERS) | flags;
    return 0;
}

PPN_EXPORT int ppn_wg_device_set_private_key(ppn_wg_device *d, const uint8_t *key)
{
    if (!d)
        return -EINVAL;
    if (!key) {
        ppnc_wipe(d->priv, sizeof(d->priv));
        d->flags &= ~(uint32_t)PPN_WG_DEVICE_HAS_PRIVATE_KEY;
        return 0;
    }
    memcpy(d->priv, key, PPN_WG_KEY_BYTES);
    d->flags |= PPN_WG_DEVICE_HAS_PRIVATE_KEY;
    return 0;
}

PPN_EXPORT int ppn_wg_device_get_private_key(const ppn_wg_device *d, uint8_t ret_key[PPN_WG_KEY_BYTES])
{
    if (!d || !ret_key)
        return -EINVAL;
    if (!(d->flags & PPN_WG_DEVICE_HAS_PRIVATE_KEY))
        return -ENOENT;
    memcpy(ret_key, d->priv, PPN_WG_KEY_BYTES);
    return 0;
}

PPN_EXPORT int ppn_wg_device_get_public_key(const ppn_wg_device *d, uint8_t ret_key[PPN_WG_KEY_BYTES])
{
    if (!d || !ret_key)
        return -EINVAL;
    if (!(d->flags & PPN_WG_DEVICE_HAS_PUBLIC_KEY))
        return -ENOENT;
    memcpy(ret_key, d->pub, PPN_WG_KEY_BYTES);
    return 0;
}

PPN_EXPORT int ppn_wg_device_set_listen_port(ppn_wg_device *d, uint16_t port)
{
    if (!d)
        return -EINVAL;
    d->port = port;
    d->flags |= PPN_WG_DEVICE_HAS_LISTEN_PORT;
    return 0;
}

PPN_EXPORT uint16_t ppn_wg_device_get_listen_port(const ppn_wg_device *d)
{
    return d ? d->port : 0;
}

PPN_EXPORT int ppn_wg_device_set_fwmark(ppn_wg_device *d, uint32_t fwmark)
{
    if (!d)
        return -EINVAL;
    d->fwmark = fwmark;
    d->flags |= PPN_WG_DEVICE_HAS_FWMARK;
    return 0;
}

PPN_EXPORT uint32_t ppn_wg_device_get_fwmark(const ppn_wg_device *d)
{
    return d ? d->fwmark : 0;
}

PPN_EXPORT size_t ppn_wg_device_peer_count(const ppn_wg_device *d)
{
    return d ? d->n_peers : 0;
}

PPN_EXPORT ppn_wg_peer *ppn_wg_device_peer_at(const ppn_wg_device *d, size_t i)
{
    if (!d || i >= d->n_peers)
        return NULL;
    return d->peers[i];
}

static uint32_t key_hash(const uint8_t k[PPN_WG_KEY_BYTES])
{
    /* Public keys are not secret; mix all four words (a crafted set of keys
     * can only make lookups slower, never wrong). */
    uint64_t w[4];
    memcpy(w, k, sizeof(w));
    uint64_t h = (w[0] ^ (w[1] * 0x9e3779b97f4a7c15ULL)) ^ ((w[2] ^ (w[3] >> 7)) * 0xbf58476d1ce4e5b9ULL);
    h ^= h >> 31;
    h *= 0x94d049bb133111ebULL;
    return (uint32_t)(h ^ (h >> 29));
}

static void index_put(ppn_wg_device *d, uint32_t hash, size_t pos)
{
    size_t mask = d->index_size - 1, h = hash & mask;
    while (d->index[h].pos)
        h = (h + 1) & mask;
    d->index[h].pos = (uint32_t)pos + 1;
    d->index[h].hash = hash;
}

/* Rebuilds from the stored hashes: no peer is touched (with 100,000 peers
 * every peer touched is a cache miss). */
static int index_rebuild(ppn_wg_device *d, size_t want)
{
    size_t size = 64;
    while (size < want * 2)
        size *= 2;
    struct wg_index_slot *idx = calloc(size, sizeof(*idx)), *old = d->index;
    if (!idx)
        return -ENOMEM;
    size_t old_size = d->index_size;
    d->index = idx;
    d->index_size = size;
    if (old_size == 0) {
        for (size_t i = 0; i < d->n_peers; i++)
            index_put(d, key_hash(d->peers[i]->pub), i);
    } else {
        for (size_t i = 0; i < old_size; i++)
            if (old[i].pos)
                index_put(d, old[i].hash, old[i].pos - 1);
    }
    free(old);
    return 0;
}

ssize_t wg_device_index_find(const ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES])
{
    if (!d->index_size)
        return -1;
    uint32_t hash = key_hash(pub);
    size_t mask = d->index_size - 1, h = hash & mask;
    while (d->index[h].pos) {
        if (d->index[h].hash == hash) {
            size_t i = d->index[h].pos - 1;
            if (memcmp(d->peers[i]->pub, pub, PPN_WG_KEY_BYTES) == 0) /* public */
                return (ssize_t)i;
        }
        h = (h + 1) & mask;
    }
    return -1;
}

PPN_EXPORT ppn_wg_peer *ppn_wg_device_find_peer(const ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES])
{
    if (!d || !pub)
        return NULL;
    ssize_t i = wg_device_index_find(d, pub);
    return i < 0 ? NULL : d->peers[i];
}

int wg_device_append_peer(ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES], ppn_wg_peer **ret)
{
    if (d->n_peers >= UINT32_MAX - 1)
        return -ENOMEM; /* the index holds 32-bit positions */
    if (d->n_peers == d->cap_peers) {
        size_t cap = d->cap_peers ? d->cap_peers * 2 : 16;
        ppn_wg_peer **np = realloc(d->peers, cap * sizeof(*np));
        if (!np)
            return -ENOMEM;
        d->peers = np;
        d->cap_peers = cap;
    }
    if ((d->n_peers + 1) * 2 > d->index_size) {
        int r = index_rebuild(d, d->n_peers + 1 < 1024 ? 1024 : (d->n_peers + 1) * 2);
        if (r < 0)
            return r;
    }
    ppn_wg_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    memcpy(p->pub, pub, PPN_WG_KEY_BYTES);
    d->peers[d->n_peers] = p;
    index_put(d, key_hash(pub), d->n_peers);
    d->n_peers++;
    if (ret)
        *ret = p;
    return 0;
}

PPN_EXPORT int ppn_wg_device_add_peer(ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES], ppn_wg_peer **ret)
{
    if (!d || !pub)
        return -EINVAL;
    if (wg_device_index_find(d, pub) >= 0)
        return -EEXIST;
    return wg_device_append_peer(d, pub, ret);
}

PPN_EXPORT int ppn_wg_device_remove_peer(ppn_wg_device *d, const uint8_t pub[PPN_WG_KEY_BYTES])
{
    if (!d || !pub)
        return -EINVAL;
    ssize_t i = wg_device_index_find(d, pub);
    if (i < 0)
        return -ENOENT;
    peer_free(d->peers[i]);
    memmove(d->peers + i, d->peers + i + 1, (d->n_peers - (size_t)i - 1) * sizeof(*d->peers));
    d->n_peers--;
    free(d->index); /* positions moved: rehash from the peers */
    d->index = NULL;
    d->index_size = 0;
    return index_rebuild(d, d->n_peers < 512 ? 512 : d->n_peers);
}

/* ---- peer ---- */

PPN_EXPORT void ppn_wg_peer_get_public_key(const ppn_wg_peer *p, uint8_t ret_key[PPN_WG_KEY_BYTES])
{
    if (p && ret_key)
        memcpy(ret_key, p->pub, PPN_WG_KEY_BYTES);
}

PPN_EXPORT uint32_t ppn_wg_peer_get_flags(const ppn_wg_peer *p)
{
    return p ? p->flags : 0;
}

#define PEER_SETTABLE (PPN_WG_PEER_REPLACE_ALLOWEDIPS | PPN_WG_PEER_REMOVE_ME | PPN_WG_PEER_UPDATE_ONLY)

PPN_EXPORT int ppn_wg_peer_set_flags(ppn_wg_peer *p, uint32_t flags)
{
    if (!p || (flags & ~(uint32_t)PEER_SETTABLE))
        return -EINVAL;
    p->flags = (p->flags & ~(uint32_t)PEER_SETTABLE) | flags;
    return 0;
}

PPN_EXPORT int ppn_wg_peer_set_preshared_key(ppn_wg_peer *p, const uint8_t *key)
{
    if (!p)
        return -EINVAL;
    if (!key) {
        ppnc_wipe(p->psk, sizeof(p->psk));
        p->flags &= ~(uint32_t)PPN_WG_PEER_HAS_PRESHARED_KEY;
        return 0;
    }
    memcpy(p->psk, key, PPN_WG_KEY_BYTES);
    p->flags |= PPN_WG_PEER_HAS_PRESHARED_KEY;
    return 0;
}

PPN_EXPORT int ppn_wg_peer_get_preshared_key(const ppn_wg_peer *p, uint8_t ret_key[PPN_WG_KEY_BYTES])
{
    if (!p || !ret_key)
        return -EINVAL;
    if (!(p->flags & PPN_WG_PEER_HAS_PRESHARED_KEY))
        return -ENOENT;
    memcpy(ret_key, p->psk, PPN_WG_KEY_BYTES);
    return 0;
}

PPN_EXPORT int ppn_wg_peer_set_endpoint(ppn_wg_peer *p, const struct sockaddr *sa, socklen_t len)
{
    if (!p)
        return -EINVAL;
    if (!sa) {
        memset(&p->ep, 0, sizeof(p->ep));
        p->flags &= ~(uint32_t)PPN_WG_PEER_HAS_ENDPOINT;
        return 0;
    }
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        memset(&p->ep, 0, sizeof(p->ep));
        memcpy(&p->ep.sin, sa, sizeof(struct sockaddr_in));
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        memcpy(&p->ep.sin6, sa, sizeof(struct sockaddr_in6));
    } else {
        return -EINVAL;
    }
    p->flags |= PPN_WG_PEER_HAS_ENDPOINT;
    return 0;
}

PPN_EXPORT int ppn_wg_peer_get_endpoint(const ppn_wg_peer *p, struct sockaddr_in6 *ret, socklen_t *ret_len)
{
    if (!p || !ret || !ret_len)
        return -EINVAL;
    if (!(p->flags & PPN_WG_PEER_HAS_ENDPOINT))
        return -ENOENT;
    if (p->ep.sa.sa_family == AF_INET) {
        memcpy(ret, &p->ep.sin, sizeof(struct sockaddr_in));
        *ret_len = sizeof(struct sockaddr_in);
    } else {
        memcpy(ret, &p->ep.sin6, sizeof(struct sockaddr_in6));
        *ret_len = sizeof(struct sockaddr_in6);
    }
    return 0;
}

PPN_EXPORT int ppn_wg_peer_set_keepalive(ppn_wg_peer *p, uint16_t seconds)
{
    if (!p)
        return -EINVAL;
    p->keepalive = seconds;
    p->flags |= PPN_WG_PEER_HAS_KEEPALIVE;
    return 0;
}

PPN_EXPORT uint16_t ppn_wg_peer_get_keepalive(const ppn_wg_peer *p)
{
    return p ? p->keepalive : 0;
}

PPN_EXPORT void ppn_wg_peer_get_last_handshake(const ppn_wg_peer *p, int64_t *ret_sec, int64_t *ret_nsec)
{
    if (ret_sec)
        *ret_sec = p ? p->hs_sec : 0;
    if (ret_nsec)
        *ret_nsec = p ? p->hs_nsec : 0;
}

PPN_EXPORT uint64_t ppn_wg_peer_get_rx_bytes(const ppn_wg_peer *p)
{
    return p ? p->rx : 0;
}

PPN_EXPORT uint64_t ppn_wg_peer_get_tx_bytes(const ppn_wg_peer *p)
{
    return p ? p->tx : 0;
}

PPN_EXPORT int ppn_wg_peer_add_allowedip(ppn_wg_peer *p, const ppn_wg_allowedip *ip)
{
    if (!p || !ip || !allowedip_valid(ip))
        return -EINVAL;
    if (p->n_ips == p->cap_ips) {
        size_t cap = p->cap_ips ? p->cap_ips * 2 : 4;
        ppn_wg_allowedip *n = realloc(p->ips, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        p->ips = n;
        p->cap_ips = cap;
    }
    p->ips[p->n_ips] = *ip;
    if (ip->family == AF_INET)
        memset(p->ips[p->n_ips].addr + 4, 0, 12);
    p->n_ips++;
    return 0;
}

PPN_EXPORT void ppn_wg_peer_clear_allowedips(ppn_wg_peer *p)
{
    if (p)
        p->n_ips = 0;
}

PPN_EXPORT size_t ppn_wg_peer_allowedip_count(const ppn_wg_peer *p)
{
    return p ? p->n_ips : 0;
}

PPN_EXPORT int ppn_wg_peer_allowedip_at(const ppn_wg_peer *p, size_t i, ppn_wg_allowedip *ret)
{
    if (!p || !ret)
        return -EINVAL;
    if (i >= p->n_ips)
        return -ENOENT;
    *ret = p->ips[i];
    return 0;
}
