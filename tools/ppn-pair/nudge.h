/* Nudges between 'ppn-pair serve' instances (nudge.c, doc/sync.md "Nudges"). */
#pragma once

#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NUDGE_MAGIC "PPNNUDG1"
#define NUDGE_BYTES 16     /* magic, then the sender's checkpoint size (big-endian, a hint only) */
#define NUDGE_RATE 50      /* datagrams looked at per second, at most */
#define NUDGE_MIN_MS 200   /* at most one nudged pull from a member in this time */
#define NUDGE_STAT_MS 1000 /* without inotify, how often the checkpoint is looked at */

struct nudge_member {
    char ip[64];
    struct sockaddr_storage sa;
    socklen_t salen;
    bool pending;
    uint64_t next_ok;
};

struct nudge_stat {
    uint64_t dev, ino, size, mtime_ns;
};

struct nudge {
    int ufd, ifd;
    const char *ledger_dir;
    char cp_path[PATH_MAX], cs_path[PATH_MAX];
    uint16_t port;
    uint8_t self_id[32];
    struct nudge_stat last, last_cs;
    uint64_t cp_size, next_stat;
    struct nudge_member *m; /* the other current members */
    size_t count;
    double tokens;
    uint64_t tokens_t;
    uint64_t sent, received, dropped;
};

/* Binds the UDP socket at the listening address and watches the ledger directory. */
int nudge_open(struct nudge *nd, const char *listen_host, uint16_t listen_port, const char *ledger_dir,
               const uint8_t self_id[32], uint16_t peer_port);
void nudge_close(struct nudge *nd);
/* The fds to poll (at most 2). */
size_t nudge_pollfds(const struct nudge *nd, struct pollfd *pf);
/* Drains both fds: nudges received mark their member pending; a changed checkpoint nudges
 * every other member (returns true then). */
bool nudge_process(struct nudge *nd, uint64_t now);
void nudge_send_all(struct nudge *nd);
/* The members to pull from now (at most 'max'), no longer pending. */
size_t nudge_due(struct nudge *nd, uint64_t now, char (*ips)[64], size_t max);
/* Milliseconds until a pending member is due (-1: none). */
int nudge_wait_ms(const struct nudge *nd, uint64_t now);
/* Marks them pending again (a pull that could not run). */
void nudge_requeue(struct nudge *nd, char (*ips)[64], size_t n);
