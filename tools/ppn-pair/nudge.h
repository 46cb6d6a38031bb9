/* Nudges between 'ppn-pair serve' instances: the sockets and the directory watch around
 * libppn-ledger's replica service engine (ppn_ledger_replica, doc/sync.md "Nudges"). */
#pragma once

#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ppn/ledger.h"

struct nudge_peer {
    struct sockaddr_storage sa;
    socklen_t salen;
};

struct nudge {
    int ufd, ifd;
    const char *ledger_dir;
    uint16_t port;
    uint8_t self_id[32];
    uint64_t cp_size;
    struct nudge_peer *peers; /* the other current members, at the peer port */
    size_t count;
    ppn_ledger_replica *engine; /* which member to pull when (the schedule) */
    uint64_t sent;
};

/* Binds the UDP socket at the listening address, watches the ledger directory and starts the
 * engine (its first round due now, a pull every 'pull_ms'). */
int nudge_open(struct nudge *nd, const char *listen_host, uint16_t listen_port, const char *ledger_dir,
               const uint8_t self_id[32], uint16_t peer_port, uint64_t pull_ms, uint64_t now);
void nudge_close(struct nudge *nd);
/* The fds to poll (at most 2). */
size_t nudge_pollfds(const struct nudge *nd, struct pollfd *pf);
/* Drains both fds into the engine; when the checkpoint or the cosignatures changed, the
 * members are read again and every other member nudged.  Returns the engine's
 * PPN_LEDGER_REPLICA_* change bits. */
int nudge_process(struct nudge *nd, uint64_t now);
void nudge_send_all(struct nudge *nd);
