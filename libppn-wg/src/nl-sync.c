/* ppn_wg_sync_device: read, diff, write only the difference. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/wireguard.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ppn-common.h"
#include "nl-internal.h"

/* Allowed IPs of a peer, normalized, sorted and deduplicated; up to
 * IPLIST_STACK of them without an allocation. */
#define IPLIST_STACK 8
struct iplist {
    ppn_wg_allowedip *v;
    size_t n;
    ppn_wg_allowedip stack[IPLIST_STACK];
};

static int ipcmp_qsort(const void *a, const void *b)
{
    return wg_allowedip_cmp(a, b);
}

static int iplist_make(struct iplist *l, const ppn_wg_peer *p)
{
    l->v = l->stack;
    if (p->n_ips > IPLIST_STACK && !(l->v = malloc(p->n_ips * sizeof(*l->v))))
        return -ENOMEM;
    for (size_t i = 0; i < p->n_ips; i++) {
        l->v[i] = p->ips[i];
        wg_allowedip_normalize(&l->v[i]);
    }
    if (p->n_ips <= IPLIST_STACK) {
        for (size_t i = 1; i < p->n_ips; i++) /* insertion sort */
            for (size_t j = i; j > 0 && wg_allowedip_cmp(&l->v[j - 1], &l->v[j]) > 0; j--) {
                ppn_wg_allowedip t = l->v[j];
                l->v[j] = l->v[j - 1];
                l->v[j - 1] = t;
            }
    } else {
        qsort(l->v, p->n_ips, sizeof(*l->v), ipcmp_qsort);
    }
    size_t n = 0;
    for (size_t i = 0; i < p->n_ips; i++)
        if (n == 0 || wg_allowedip_cmp(&l->v[n - 1], &l->v[i]) != 0)
            l->v[n++] = l->v[i];
    l->n = n;
    return 0;
}

static void iplist_free(struct iplist *l)
{
    if (l->v != l->stack)
        free(l->v);
}

/* The same IPs in the same order (after masking host bits): the common case
 * of a desired state built from an earlier read, decided without sorting. */
static bool ips_same_order(const ppn_wg_peer *want, const ppn_wg_peer *cur)
{
    if (want->n_ips != cur->n_ips)
        return false;
    for (size_t i = 0; i < want->n_ips; i++) {
        ppn_wg_allowedip a = want->ips[i], b = cur->ips[i];
        wg_allowedip_normalize(&a);
        wg_allowedip_normalize(&b);
        if (wg_allowedip_cmp(&a, &b) != 0)
            return false;
    }
    return true;
}

static bool endpoint_equal(const ppn_wg_peer *a, const ppn_wg_peer *b)
{
    if (a->ep.sa.sa_family != b->ep.sa.sa_family)
        return false;
    if (a->ep.sa.sa_family == AF_INET)
        return a->ep.sin.sin_port == b->ep.sin.sin_port &&
               a->ep.sin.sin_addr.s_addr == b->ep.sin.sin_addr.s_addr;
    return a->ep.sin6.sin6_port == b->ep.sin6.sin6_port &&
           memcmp(&a->ep.sin6.sin6_addr, &b->ep.sin6.sin6_addr, 16) == 0 &&
           a->ep.sin6.sin6_scope_id == b->ep.sin6.sin6_scope_id;
}

/* A new peer: everything of 'w', its allowed IPs replacing any. */
static int plan_add(ppn_wg_device *out, const ppn_wg_peer *w)
{
    ppn_wg_peer *p;
    int r = wg_device_append_peer(out, w->pub, &p);
    if (r < 0)
        return r;
    p->flags = (w->flags & (PPN_WG_PEER_HAS_PRESHARED_KEY | PPN_WG_PEER_HAS_ENDPOINT | PPN_WG_PEER_HAS_KEEPALIVE)) |
               PPN_WG_PEER_REPLACE_ALLOWEDIPS;
    memcpy(p->psk, w->psk, sizeof(p->psk));
    p->ep = w->ep;
    p->keepalive = w->keepalive;
    for (size_t k = 0; k < w->n_ips && r >= 0; k++)
        r = ppn_wg_peer_add_allowedip(p, &w->ips[k]);
    return r;
}

/* Appends to 'out' what changes 'cur' into 'want', if anything: 1 when a
 * peer was appended, 0 when they agree (nothing allocated), -ENOMEM. */
static int plan_diff(ppn_wg_device *out, const ppn_wg_peer *want, const ppn_wg_peer *cur)
{
    static const uint8_t zero[PPN_WG_KEY_BYTES];
    const uint8_t *wpsk = (want->flags & PPN_WG_PEER_HAS_PRESHARED_KEY) ? want->psk : zero;
    const uint8_t *cpsk = (cur->flags & PPN_WG_PEER_HAS_PRESHARED_KEY) ? cur->psk : zero;
    bool psk = !ppnc_memeq_ct(wpsk, cpsk, PPN_WG_KEY_BYTES);
    uint16_t wka = (want->flags & PPN_WG_PEER_HAS_KEEPALIVE) ? want->keepalive : 0;
    bool ka = wka != cur->keepalive;
    /* An absent endpoint never clears the kernel's (it may have roamed). */
    bool ep = (want->flags & PPN_WG_PEER_HAS_ENDPOINT) &&
              (!(cur->flags & PPN_WG_PEER_HAS_ENDPOINT) || !endpoint_equal(want, cur));
    struct iplist w = {.n = 0}, c = {.n = 0};
    size_t added = 0;
    bool removed = false, sorted = false;
    int r = 0;
    if (!ips_same_order(want, cur)) {
        if ((r = iplist_make(&w, want)) < 0)
            return r;
        if ((r = iplist_make(&c, cur)) < 0) {
            iplist_free(&w);
            return r;
        }
        sorted = true;
        /* Walk both sorted lists: IPs only in 'want' are added; any only in
         * 'cur' forces a replace (the 6.1 kernel cannot remove one IP). */
        for (size_t i = 0, j = 0; i < w.n || j < c.n;) {
            int cmp = i >= w.n ? 1 : j >= c.n ? -1 : wg_allowedip_cmp(&w.v[i], &c.v[j]);
            if (cmp == 0) {
                i++;
                j++;
            } else if (cmp < 0) {
                added++;
                i++;
            } else {
                removed = true;
                j++;
            }
        }
    }
    if (!psk && !ka && !ep && !added && !removed) {
        if (sorted) {
            iplist_free(&w);
            iplist_free(&c);
        }
        return 0;
    }
    ppn_wg_peer *p;
    r = wg_device_append_peer(out, want->pub, &p);
    if (r >= 0 && psk)
        ppn_wg_peer_set_preshared_key(p, wpsk);
    if (r >= 0 && ka)
        ppn_wg_peer_set_keepalive(p, wka);
    if (r >= 0 && ep) {
        p->ep = want->ep;
        p->flags |= PPN_WG_PEER_HAS_ENDPOINT;
    }
    if (r >= 0 && removed) {
        p->flags |= PPN_WG_PEER_REPLACE_ALLOWEDIPS;
        for (size_t i = 0; i < want->n_ips && r >= 0; i++)
            r = ppn_wg_peer_add_allowedip(p, &want->ips[i]);
    } else if (r >= 0 && added) {
        for (size_t i = 0, j = 0; i < w.n && r >= 0;) {
            int cmp = j >= c.n ? -1 : wg_allowedip_cmp(&w.v[i], &c.v[j]);
            if (cmp == 0) {
                i++;
                j++;
            } else if (cmp < 0) {
                r = ppn_wg_peer_add_allowedip(p, &w.v[i++]);
            } else {
                j++;
            }
        }
    }
    if (sorted) {
        iplist_free(&w);
        iplist_free(&c);
    }
    return r < 0 ? r : 1;
}

#define NO_MATCH SIZE_MAX

/* One lookup per desired peer (by public key, in the hash index of 'cur'),
 * then one pass over each side: O(n) for n peers, and for an unchanged
 * device no allocation per peer. */
int wg_sync_plan(const ppn_wg_device *want, const ppn_wg_device *cur, ppn_wg_device **ret_out)
{
    ppn_wg_device *out = NULL;
    size_t *match = NULL;
    uint8_t *seen = NULL;
    int r = ppn_wg_device_new(&out);
    if (r < 0)
        return r;
    match = malloc((want->n_peers ? want->n_peers : 1) * sizeof(*match));
    seen = calloc(cur->n_peers ? cur->n_peers : 1, 1);
    if (!match || !seen) {
        r = -ENOMEM;
        goto fail;
    }
    memcpy(out->name, want->name, sizeof(out->name));
    if ((want->flags & PPN_WG_DEVICE_HAS_PRIVATE_KEY) &&
        (!(cur->flags & PPN_WG_DEVICE_HAS_PRIVATE_KEY) ||
         !ppnc_memeq_ct(want->priv, cur->priv, PPN_WG_KEY_BYTES)))
        ppn_wg_device_set_private_key(out, want->priv);
    if ((want->flags & PPN_WG_DEVICE_HAS_LISTEN_PORT) && want->port && want->port != cur->port)
        ppn_wg_device_set_listen_port(out, want->port);
    if ((want->flags & PPN_WG_DEVICE_HAS_FWMARK) && want->fwmark != cur->fwmark)
        ppn_wg_device_set_fwmark(out, want->fwmark);

    for (size_t i = 0; i < want->n_peers; i++) {
        ssize_t j = wg_device_index_find(cur, want->peers[i]->pub);
        match[i] = j < 0 ? NO_MATCH : (size_t)j;
        /* A desired peer marked REMOVE_ME is removed like one not listed. */
        if (j >= 0 && !(want->peers[i]->flags & PPN_WG_PEER_REMOVE_ME))
            seen[j] = 1;
    }
    int count = 0;
    /* Removals first, so that their prefixes are free for the others. */
    for (size_t j = 0; j < cur->n_peers; j++) {
        if (seen[j])
            continue;
        ppn_wg_peer *p;
        if ((r = wg_device_append_peer(out, cur->peers[j]->pub, &p)) < 0)
            goto fail;
        p->flags = PPN_WG_PEER_REMOVE_ME;
        count++;
    }
    for (size_t i = 0; i < want->n_peers; i++) {
        const ppn_wg_peer *w = want->peers[i];
        if (w->flags & PPN_WG_PEER_REMOVE_ME)
            continue;
        r = match[i] == NO_MATCH ? plan_add(out, w) : plan_diff(out, w, cur->peers[match[i]]);
        if (r < 0)
            goto fail;
        if (match[i] == NO_MATCH || r > 0)
            count++;
    }
    free(match);
    free(seen);
    *ret_out = out;
    return count;
fail:
    free(match);
    free(seen);
    ppn_wg_device_free(out);
    return r;
}

PPN_EXPORT int ppn_wg_sync_device(const ppn_wg_device *want)
{
    if (!want || !want->name[0])
        return -EINVAL;
    struct wg_nl nl;
    int r = wg_nl_open(&nl);
    if (r < 0)
        return r;
    ppn_wg_device *cur = NULL, *out = NULL;
    r = wg_nl_get(&nl, want->name, &cur);
    if (r >= 0)
        r = wg_sync_plan(want, cur, &out);
    if (r >= 0 && (out->n_peers || (out->flags & (PPN_WG_DEVICE_HAS_PRIVATE_KEY | PPN_WG_DEVICE_HAS_LISTEN_PORT |
                                                  PPN_WG_DEVICE_HAS_FWMARK)))) {
        int w = wg_nl_set(&nl, out);
        if (w < 0)
            r = w;
    }
    wg_nl_close(&nl);
    ppn_wg_device_free(cur);
    ppn_wg_device_free(out);
    return r;
}
