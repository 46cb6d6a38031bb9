/* Nudges: how a change reaches every member well within a second (doc/sync.md, "Nudges").
 *
 * The format, the budget, the check of the sender and the schedule of pulls are
 * libppn-ledger's replica service engine (ppn_ledger_replica_*); this file holds what the
 * tool owns: the UDP socket on the listening (mesh) address, the inotify watch of the ledger
 * directory, and the member list read from the ledger, given to the engine and nudged when
 * this node's checkpoint or cosignatures change. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "nudge.h"

static int addr_parse(const char *host, uint16_t port, struct sockaddr_storage *sa, socklen_t *len)
{
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *res;
    if (getaddrinfo(host[0] ? host : NULL, ps, &hints, &res) != 0)
        return -EINVAL;
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* The current members (mesh address, port) into the engine, and our checkpoint size, from a
 * fresh read-only handle.  On failure the old list is kept. */
static void members_refresh(struct nudge *nd, uint64_t now)
{
    ppn_ledger *l = NULL;
    if (ppn_ledger_open(nd->ledger_dir, 0, &l) < 0)
        return;
    size_t count = ppn_ledger_member_count(l);
    if (count > PPN_LEDGER_REPLICA_MEMBERS_MAX)
        count = PPN_LEDGER_REPLICA_MEMBERS_MAX;
    struct ppn_ledger_member *pm = calloc(count ? count : 1, sizeof(*pm));
    ppn_ledger_replica_member *rm = calloc(count ? count : 1, sizeof(*rm));
    struct nudge_peer *peers = calloc(count ? count : 1, sizeof(*peers));
    size_t k = 0;
    for (size_t i = 0; pm && rm && peers && i < count; i++) {
        if (ppn_ledger_member_get(l, i, &pm[k]) < 0 || !memcmp(pm[k].identity, nd->self_id, 32))
            continue;
        char ip[64];
        snprintf(ip, sizeof(ip), "%.*s", (int)strcspn(pm[k].mesh, "/"), pm[k].mesh);
        if (addr_parse(ip, nd->port, &peers[k].sa, &peers[k].salen) < 0)
            continue;
        rm[k].name = pm[k].hostname[0] ? pm[k].hostname : pm[k].mesh;
        rm[k].address = pm[k].mesh;
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
    if (pm && rm && peers && ppn_ledger_replica_set_members(nd->engine, rm, k, now) == 0) {
        free(nd->peers);
        nd->peers = peers;
        nd->count = k;
        peers = NULL;
    }
    free(pm);
    free(rm);
    free(peers);
}

int nudge_open(struct nudge *nd, const char *listen_host, uint16_t listen_port, const char *ledger_dir,
               const uint8_t self_id[32], uint16_t peer_port, uint64_t pull_ms, uint64_t now)
{
    memset(nd, 0, sizeof(*nd));
    nd->ufd = nd->ifd = -1;
    nd->ledger_dir = ledger_dir;
    nd->port = peer_port;
    memcpy(nd->self_id, self_id, 32);
    struct sockaddr_storage sa;
    socklen_t len;
    int r = addr_parse(listen_host, listen_port, &sa, &len);
    if (r < 0)
        return r;
    nd->ufd = socket(sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (nd->ufd < 0)
        return -errno;
    if (bind(nd->ufd, (struct sockaddr *)&sa, len) < 0) {
        r = -errno;
        nudge_close(nd);
        return r;
    }
    /* Without inotify the engine looks at the checkpoint every second. */
    nd->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (nd->ifd >= 0 && inotify_add_watch(nd->ifd, ledger_dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE) < 0) {
        close(nd->ifd);
        nd->ifd = -1;
    }
    ppn_ledger_replica_config cfg = {.dir = ledger_dir, .watched = nd->ifd >= 0, .pull_ms = pull_ms};
    if ((r = ppn_ledger_replica_new(&cfg, now, &nd->engine)) < 0) {
        nudge_close(nd);
        return r;
    }
    members_refresh(nd, now);
    return 0;
}

void nudge_close(struct nudge *nd)
{
    if (nd->ufd >= 0)
        close(nd->ufd);
    if (nd->ifd >= 0)
        close(nd->ifd);
    ppn_ledger_replica_free(nd->engine);
    free(nd->peers);
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
    uint8_t d[PPN_LEDGER_NUDGE_BYTES];
    size_t len;
    if (ppn_ledger_nudge_encode(nd->cp_size, d, sizeof(d), &len) < 0)
        return;
    for (size_t i = 0; i < nd->count; i++)
        if (sendto(nd->ufd, d, len, MSG_DONTWAIT, (struct sockaddr *)&nd->peers[i].sa, nd->peers[i].salen) ==
            (ssize_t)len)
            nd->sent++;
}

int nudge_process(struct nudge *nd, uint64_t now)
{
    if (nd->ifd >= 0) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        while (read(nd->ifd, buf, sizeof(buf)) > 0)
            ; /* what changed is looked at below, once */
    }
    int changed = ppn_ledger_replica_check(nd->engine, now);
    if (changed < 0)
        changed = 0;
    if (changed & PPN_LEDGER_REPLICA_CHECKPOINT)
        members_refresh(nd, now);
    /* A cosignature learnt or made (the checkpoint unchanged) is news too: an administrator
     * learns that a node completed its hand-off from the node's cosignature. */
    if (changed)
        nudge_send_all(nd);
    for (int k = 0; k < 4096; k++) { /* a flood leaves the rest to the next call */
        uint8_t d[PPN_LEDGER_NUDGE_BYTES + 1];
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(nd->ufd, d, sizeof(d), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            break;
        /* the engine: the budget, the length and magic, a member's address, the merge */
        (void)ppn_ledger_replica_datagram(nd->engine, d, (size_t)n, (struct sockaddr *)&from, fl, now);
    }
    return changed;
}
