/* Nudges: how a change reaches every member well within a second (doc/sync.md, "Nudges").
 *
 * 'ppn-pair serve' watches its own ledger directory with inotify.  When the stored
 * checkpoint or the cosignatures kept change — whoever wrote them: 'ppn-pair admit',
 * 'remove', 'ppn-ledger checkpoint', or serve's own pull that learned something — it sends
 * one 16-byte UDP datagram, "PPNNUDG1" and its checkpoint size, from its listening address
 * to every other member's mesh address at the peer port.  A member that receives one pulls from the
 * member whose mesh address the datagram came from, and from nobody else.
 *
 * A nudge carries no authority: it changes nothing by itself, it only makes a pull happen
 * sooner, and a pull verifies everything it applies.  So an unauthenticated nudge can cost
 * at most a pull from a member address, and that is bounded: datagrams are taken at most
 * NUDGE_RATE per second (the rest are dropped before they are looked at), only from a
 * current member's mesh address, and each member is pulled from at most once per
 * NUDGE_MIN_MS because of nudges (nudges in between are merged into one pull, so none is
 * lost). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netinet/in.h>

#include "ppn/ledger.h"
#include "nudge.h"
#include "tool-util.h"

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static int addr_parse(const char *host, uint16_t port, int socktype, struct sockaddr_storage *sa,
                      socklen_t *len)
{
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    struct addrinfo hints = {.ai_socktype = socktype, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *res;
    if (getaddrinfo(host[0] ? host : NULL, ps, &hints, &res) != 0)
        return -EINVAL;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Same host address (the port does not matter: a member sends from its listening port,
 * which need not be ours). */
static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr, 16);
    return false;
}

static void file_stat(const char *path, struct nudge_stat *st)
{
    struct stat s;
    memset(st, 0, sizeof(*st));
    if (stat(path, &s) == 0) {
        st->dev = (uint64_t)s.st_dev;
        st->ino = (uint64_t)s.st_ino;
        st->size = (uint64_t)s.st_size;
        st->mtime_ns = (uint64_t)s.st_mtim.tv_sec * 1000000000u + (uint64_t)s.st_mtim.tv_nsec;
    }
}

/* The current members (mesh address, port) and our checkpoint size, from a fresh read-only
 * handle.  On failure the old list is kept. */
static void members_refresh(struct nudge *nd)
{
    ppn_ledger *l = NULL;
    if (ppn_ledger_open(nd->ledger_dir, 0, &l) < 0)
        return;
    size_t count = ppn_ledger_member_count(l);
    struct nudge_member *m = calloc(count ? count : 1, sizeof(*m));
    size_t k = 0;
    for (size_t i = 0; m && i < count; i++) {
        struct ppn_ledger_member pm;
        if (ppn_ledger_member_get(l, i, &pm) < 0 || !memcmp(pm.identity, nd->self_id, 32))
            continue;
        snprintf(m[k].ip, sizeof(m[k].ip), "%.*s", (int)strcspn(pm.mesh, "/"), pm.mesh);
        if (addr_parse(m[k].ip, nd->port, SOCK_DGRAM, &m[k].sa, &m[k].salen) < 0)
            continue;
        /* keep what was pending for a member that stays */
        for (size_t j = 0; j < nd->count; j++)
            if (!strcmp(nd->m[j].ip, m[k].ip)) {
                m[k].pending = nd->m[j].pending;
                m[k].next_ok = nd->m[j].next_ok;
            }
        k++;
    }
    char note[PPN_LEDGER_CHECKPOINT_MAX + 1];
    size_t nl;
    if (ppn_ledger_checkpoint_get(l, note, sizeof(note), &nl) == 0) {
        /* "origin\nsize\n..." */
        const char *p = memchr(note, '\n', nl);
        nd->cp_size = p ? strtoull(p + 1, NULL, 10) : 0;
    }
    ppn_ledger_free(l);
    if (!m)
        return;
    free(nd->m);
    nd->m = m;
    nd->count = k;
}

int nudge_open(struct nudge *nd, const char *listen_host, uint16_t listen_port, const char *ledger_dir,
               const uint8_t self_id[32], uint16_t peer_port)
{
    memset(nd, 0, sizeof(*nd));
    nd->ufd = nd->ifd = -1;
    nd->ledger_dir = ledger_dir;
    nd->port = peer_port;
    memcpy(nd->self_id, self_id, 32);
    snprintf(nd->cp_path, sizeof(nd->cp_path), "%s/checkpoint", ledger_dir);
    snprintf(nd->cs_path, sizeof(nd->cs_path), "%s/cosignatures", ledger_dir);
    struct sockaddr_storage sa;
    socklen_t len;
    int r = addr_parse(listen_host, listen_port, SOCK_DGRAM, &sa, &len);
    if (r < 0)
        return r;
    nd->ufd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (nd->ufd < 0)
        return -errno;
    if (bind(nd->ufd, (struct sockaddr *)&sa, len) < 0) {
        r = -errno;
        close(nd->ufd);
        nd->ufd = -1;
        return r;
    }
    /* Without inotify the checkpoint is still looked at every NUDGE_STAT_MS. */
    nd->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (nd->ifd >= 0 && inotify_add_watch(nd->ifd, ledger_dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0) {
        close(nd->ifd);
        nd->ifd = -1;
    }
    file_stat(nd->cp_path, &nd->last);
    file_stat(nd->cs_path, &nd->last_cs);
    members_refresh(nd);
    nd->tokens = NUDGE_RATE;
    return 0;
}

void nudge_close(struct nudge *nd)
{
    if (nd->ufd >= 0)
        close(nd->ufd);
    if (nd->ifd >= 0)
        close(nd->ifd);
    free(nd->m);
    memset(nd, 0, sizeof(*nd));
    nd->ufd = nd->ifd = -1;
}

size_t nudge_pollfds(const struct nudge *nd, struct pollfd *pf)
{
    size_t n = 0;
    if (nd->ufd >= 0)
        pf[n].fd = nd->ufd, pf[n].events = POLLIN, pf[n++].revents = 0;
    if (nd->ifd >= 0)
        pf[n].fd = nd->ifd, pf[n].events = POLLIN, pf[n++].revents = 0;
    return n;
}

void nudge_send_all(struct nudge *nd)
{
    uint8_t d[NUDGE_BYTES];
    memcpy(d, NUDGE_MAGIC, 8);
    put_be64(d + 8, nd->cp_size);
    for (size_t i = 0; i < nd->count; i++)
        if (sendto(nd->ufd, d, sizeof(d), MSG_DONTWAIT, (struct sockaddr *)&nd->m[i].sa, nd->m[i].salen) ==
            (ssize_t)sizeof(d))
            nd->sent++;
}

bool nudge_process(struct nudge *nd, uint64_t now)
{
    bool changed = false;
    if (nd->ifd >= 0) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        while (read(nd->ifd, buf, sizeof(buf)) > 0)
            ; /* what changed is looked at below, once */
    }
    struct nudge_stat st;
    if (nd->ifd >= 0 || now >= nd->next_stat) {
        file_stat(nd->cp_path, &st);
        nd->next_stat = now + NUDGE_STAT_MS;
        if (memcmp(&st, &nd->last, sizeof(st)) != 0) {
            nd->last = st;
            members_refresh(nd);
            nudge_send_all(nd);
            changed = true;
        }
        /* A cosignature learnt or made (the checkpoint unchanged) is news too: an
         * administrator learns that a node completed its hand-off from the node's
         * cosignature.  The others pull; WireGuard has nothing to follow. */
        file_stat(nd->cs_path, &st);
        if (memcmp(&st, &nd->last_cs, sizeof(st)) != 0) {
            nd->last_cs = st;
            if (!changed)
                nudge_send_all(nd);
        }
    }
    /* refill: NUDGE_RATE datagrams a second at most */
    if (now > nd->tokens_t) {
        nd->tokens += (double)(now - nd->tokens_t) * NUDGE_RATE / 1000.0;
        if (nd->tokens > NUDGE_RATE)
            nd->tokens = NUDGE_RATE;
        nd->tokens_t = now;
    }
    for (;;) {
        uint8_t d[NUDGE_BYTES + 1];
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(nd->ufd, d, sizeof(d), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            break;
        if (nd->tokens < 1) {
            nd->dropped++;
            continue;
        }
        nd->tokens -= 1;
        /* cheapest first: the length and the magic, then who sent it */
        if (n != NUDGE_BYTES || memcmp(d, NUDGE_MAGIC, 8) != 0) {
            nd->dropped++;
            continue;
        }
        size_t i = 0;
        while (i < nd->count && !same_host(&from, &nd->m[i].sa))
            i++;
        if (i == nd->count) {
            nd->dropped++;
            continue;
        }
        nd->m[i].pending = true;
        nd->received++;
    }
    return changed;
}

size_t nudge_due(struct nudge *nd, uint64_t now, char (*ips)[64], size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < nd->count && n < max; i++)
        if (nd->m[i].pending && now >= nd->m[i].next_ok) {
            memcpy(ips[n++], nd->m[i].ip, 64);
            nd->m[i].pending = false;
            nd->m[i].next_ok = now + NUDGE_MIN_MS;
        }
    return n;
}

int nudge_wait_ms(const struct nudge *nd, uint64_t now)
{
    int t = nd->ifd >= 0 ? -1 : NUDGE_STAT_MS;
    for (size_t i = 0; i < nd->count; i++)
        if (nd->m[i].pending) {
            int w = now >= nd->m[i].next_ok ? 0 : (int)(nd->m[i].next_ok - now);
            if (t < 0 || w < t)
                t = w;
        }
    return t;
}

void nudge_requeue(struct nudge *nd, char (*ips)[64], size_t n)
{
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < nd->count; i++)
            if (!strcmp(nd->m[i].ip, ips[k]))
                nd->m[i].pending = true;
}
