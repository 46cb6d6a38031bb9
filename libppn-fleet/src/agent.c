/* SPDX-License-Identifier: ISC */
/* The agent engine: signed heartbeats on a jittered timer, with sequences
 * epoch << 32 | counter, and creation requests checked cheap-first before the
 * caller carries them out.  No clock is read here. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "fleet-internal.h"
#include "ppn-common.h"

#define AGENT_DRAIN_MAX 256
#define RCVBUF_AGENT (1 << 20)

struct ppn_fleet_agent {
    uint8_t sk[64], pk[32];
    int fd;
    struct sockaddr_storage ctl;
    socklen_t ctl_len;
    uint32_t epoch, counter;
    uint64_t interval_ms, next_ms, last_seq;
    fleet_keyset operators;
    fleet_nonces nonces;
    fleet_ratelimit log;
    ppn_fleet_agent_callbacks cb;
    void *userdata;
    ppn_fleet_heartbeat hb;
    uint8_t buf[PPN_FLEET_MESSAGE_MAX + 1];
};

static bool sockaddr_ok(const struct sockaddr *a, socklen_t len)
{
    return a && ((a->sa_family == AF_INET && len == sizeof(struct sockaddr_in)) ||
                 (a->sa_family == AF_INET6 && len == sizeof(struct sockaddr_in6)));
}

PPN_EXPORT int ppn_fleet_agent_new(const ppn_fleet_agent_config *cfg,
                                   const ppn_fleet_agent_callbacks *cb, void *userdata,
                                   uint64_t now_ms, ppn_fleet_agent **ret)
{
    if (!cfg || !ret || !cfg->secret_key || !fleet_reserved_zero(cfg->reserved) || !sockaddr_ok(cfg->listen, cfg->listen_len) ||
        !sockaddr_ok(cfg->controller, cfg->controller_len) || cfg->epoch == 0 ||
        cfg->epoch == UINT32_MAX || (cfg->interval_ms && cfg->interval_ms < 100) ||
        cfg->interval_ms > UINT32_MAX)
        return -EINVAL;
    if (fleet_sodium_init() < 0)
        return -EIO;
    ppn_fleet_agent *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    memcpy(a->sk, cfg->secret_key, 64);
    crypto_sign_ed25519_sk_to_pk(a->pk, a->sk);
    memcpy(&a->ctl, cfg->controller, cfg->controller_len);
    a->ctl_len = cfg->controller_len;
    a->epoch = cfg->epoch;
    a->interval_ms = cfg->interval_ms ? cfg->interval_ms : 10000;
    a->next_ms = now_ms;
    if (cb)
        a->cb = *cb;
    a->userdata = userdata;
    int r = fleet_udp_socket(cfg->listen, cfg->listen_len, RCVBUF_AGENT, NULL);
    if (r < 0) {
        sodium_memzero(a->sk, sizeof(a->sk));
        free(a);
        return r;
    }
    a->fd = r;
    *ret = a;
    return 0;
}

PPN_EXPORT void ppn_fleet_agent_free(ppn_fleet_agent *a)
{
    if (!a)
        return;
    close(a->fd);
    fleet_keyset_clear(&a->operators);
    sodium_memzero(a->sk, sizeof(a->sk));
    free(a);
}

PPN_EXPORT int ppn_fleet_agent_fd(const ppn_fleet_agent *a)
{
    return a ? a->fd : -EINVAL;
}

PPN_EXPORT int ppn_fleet_agent_set_operators(ppn_fleet_agent *a, const uint8_t *keys, size_t n)
{
    if (!a)
        return -EINVAL;
    return fleet_keyset_set(&a->operators, keys, n);
}

PPN_EXPORT int ppn_fleet_agent_timeout(const ppn_fleet_agent *a, uint64_t now_ms)
{
    if (!a)
        return -EINVAL;
    if (now_ms >= a->next_ms)
        return 0;
    uint64_t d = a->next_ms - now_ms;
    return d > INT32_MAX ? INT32_MAX : (int)d;
}

PPN_EXPORT void ppn_fleet_agent_heartbeat_now(ppn_fleet_agent *a)
{
    if (a)
        a->next_ms = 0;
}

PPN_EXPORT uint64_t ppn_fleet_agent_seq(const ppn_fleet_agent *a)
{
    return a ? a->last_seq : 0;
}

static void report(ppn_fleet_agent *a, int err, const char *vm, const struct sockaddr *from,
                   socklen_t fromlen, uint64_t now_ms)
{
    uint64_t suppressed;
    if (fleet_ratelimit_allow(&a->log, now_ms, &suppressed) && a->cb.refused)
        a->cb.refused(a, err, vm, from, fromlen, suppressed, a->userdata);
}

/* The checks, cheapest first; 0 and *rq filled when the caller may act. */
static int check_request(ppn_fleet_agent *a, const uint8_t *buf, size_t len,
                         const struct sockaddr *from, socklen_t fromlen, uint64_t now_unix,
                         ppn_fleet_request *rq)
{
    if (len > PPN_FLEET_MESSAGE_MAX)
        return -EMSGSIZE;
    if (!fleet_same_ip(from, fromlen, (const struct sockaddr *)&a->ctl, a->ctl_len))
        return -EADDRNOTAVAIL; /* requests come from the controller only */
    uint8_t *msg = NULL, sig[64];
    size_t msg_len;
    int r = fleet_request_parse(buf, len, rq, &msg, &msg_len, sig);
    if (r < 0)
        return r;
    r = -EDESTADDRREQ; /* not for this node */
    if (!rq->has_node || memcmp(rq->node_key, a->pk, 32) != 0)
        goto out;
    r = -ECANCELED; /* the operator did not confirm a placement */
    if (!rq->confirmed)
        goto out;
    r = -EPERM;
    if (!fleet_keyset_has(&a->operators, rq->operator_key))
        goto out;
    r = fleet_nonces_check(&a->nonces, rq, now_unix);
    if (r < 0)
        goto out;
    r = fleet_request_verify(rq, msg, msg_len, sig);
    if (r < 0)
        goto out;
    r = fleet_nonces_commit(&a->nonces, rq, now_unix);
out:
    free(msg);
    return r;
}

static int send_heartbeat(ppn_fleet_agent *a)
{
    if (a->counter == UINT32_MAX)
        return -EOVERFLOW;
    ppn_fleet_heartbeat *hb = &a->hb;
    memset(hb, 0, sizeof(*hb));
    hb->cpu_count = 1;
    if (a->cb.heartbeat) {
        int r = a->cb.heartbeat(a, hb, a->userdata);
        if (r < 0)
            return r;
    }
    memcpy(hb->node_key, a->pk, 32);
    uint64_t seq = (uint64_t)a->epoch << 32 | (uint64_t)(a->counter + 1);
    hb->seq = seq;
    int n = ppn_fleet_heartbeat_sign(hb, a->sk, a->buf, sizeof(a->buf));
    if (n < 0)
        return n;
    a->counter++; /* used even if the send fails: never sign one seq twice */
    a->last_seq = seq;
    if (sendto(a->fd, a->buf, (size_t)n, 0, (const struct sockaddr *)&a->ctl, a->ctl_len) < 0)
        return -errno;
    return 1;
}

PPN_EXPORT int ppn_fleet_agent_process(ppn_fleet_agent *a, uint64_t now_ms, uint64_t now_unix)
{
    if (!a)
        return -EINVAL;
    for (int k = 0; k < AGENT_DRAIN_MAX; k++) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(a->fd, a->buf, sizeof(a->buf), MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&from, &fl);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break; /* EAGAIN, or an ICMP error of an earlier send */
        }
        ppn_fleet_request rq;
        memset(&rq, 0, sizeof(rq));
        int r = check_request(a, a->buf, (size_t)n, (struct sockaddr *)&from, fl, now_unix, &rq);
        if (r < 0)
            report(a, r, rq.vm_name, (struct sockaddr *)&from, fl, now_ms);
        else if (a->cb.request && a->cb.request(a, &rq, a->userdata) == 0)
            a->next_ms = 0; /* tell the controller at once */
    }
    uint64_t suppressed;
    if (fleet_ratelimit_summary(&a->log, now_ms, &suppressed) && a->cb.refused)
        a->cb.refused(a, 0, "", NULL, 0, suppressed, a->userdata);
    if (now_ms < a->next_ms)
        return 0;
    /* +-10 % so that a fleet started together does not stay in step. */
    uint64_t span = a->interval_ms / 5;
    a->next_ms = now_ms + a->interval_ms - a->interval_ms / 10 +
                 (span ? randombytes_uniform((uint32_t)span) : 0);
    return send_heartbeat(a);
}
