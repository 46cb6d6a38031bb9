/* The replica service: when a member pulls from which other member (doc/sync.md, "Nudges" and
 * "The replica service").  Sans-I/O: the caller owns the sockets, the directory watch, the pulls
 * themselves and the clock; this file owns the nudge format, the bounds a nudge is taken
 * under, and the schedule.
 *
 * A nudge carries no authority: it can only make a pull happen sooner, and a pull verifies
 * everything it applies.  So an unauthenticated datagram costs at most a pull from a member
 * address, and that is bounded, cheapest check first: at most nudge_rate datagrams a second are
 * looked at (a token bucket; the rest are dropped before a byte is read), then the length and
 * the magic, then the source must be a current member's address; each member is pulled at
 * most once per nudge_min_ms because of nudges, and nudges in between are merged into one pull
 * after that time, so none is lost.
 *
 * Every member has at most one pull in flight.  A failed pull is retried after retry_min_ms,
 * doubled after each further failure up to pull_ms (the periodic round's interval, which
 * covers every member anyway); a member that comes up after a failure is thus learnt from
 * within retry_min_ms · 2^k instead of a whole round later. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ppn/ledger.h"
#include "ppn-common.h"

#define NUDGE_MAGIC "PPNNUDG1"
#define DEFAULT_RATE 50
#define DEFAULT_PULL_MS 10000
#define DEFAULT_NUDGE_MIN_MS 200
#define DEFAULT_RETRY_MIN_MS 250
#define DEFAULT_BOUND_MS 75000
#define STAT_MS 1000 /* without a watch, how often the directory is looked at */
#define DIR_MAX 4000

struct file_id {
    uint64_t dev, ino, size, mtime_ns;
};

struct member {
    uint8_t ip[16]; /* IPv4 as IPv4-mapped IPv6 */
    char name[PPN_LEDGER_TEXT_MAX + 1];
    char address[PPN_LEDGER_REPLICA_ADDRESS_MAX + 1];
    uint64_t ticket;
    bool nudged, forced, round, in_flight;
    uint64_t nudge_ok;  /* no nudged pull before this */
    uint64_t retry_at;  /* 0: no retry due */
    uint64_t flight_end; /* a pull in flight has failed at this time */
    uint32_t failures;
};

struct ppn_ledger_replica {
    char *cp_path, *cs_path;
    bool watched;
    uint32_t rate;
    uint64_t pull_ms, nudge_min_ms, retry_min_ms, bound_ms;
    uint64_t next_round, next_stat, next_ticket;
    uint64_t tokens, tokens_t; /* in thousandths of a datagram */
    struct file_id cp, cs;
    struct member *m;
    size_t count;
    ppn_ledger_replica_stats stats;
};

PPN_EXPORT int ppn_ledger_nudge_encode(uint64_t checkpoint_size, uint8_t *buf, size_t size, size_t *ret_len)
{
    if (!buf || !ret_len)
        return -EINVAL;
    if (size < PPN_LEDGER_NUDGE_BYTES)
        return -ENOBUFS;
    memcpy(buf, NUDGE_MAGIC, 8);
    ppnc_put_be(buf + 8, checkpoint_size, 8);
    *ret_len = PPN_LEDGER_NUDGE_BYTES;
    return 0;
}

PPN_EXPORT int ppn_ledger_nudge_parse(const uint8_t *buf, size_t len, uint64_t *ret_checkpoint_size)
{
    if (!buf && len)
        return -EINVAL;
    if (len != PPN_LEDGER_NUDGE_BYTES || memcmp(buf, NUDGE_MAGIC, 8) != 0)
        return -EBADMSG;
    if (ret_checkpoint_size)
        *ret_checkpoint_size = ppnc_get_be(buf + 8, 8);
    return 0;
}

static void file_look(const char *path, struct file_id *id)
{
    struct stat st;
    memset(id, 0, sizeof(*id));
    if (path && stat(path, &st) == 0) {
        id->dev = (uint64_t)st.st_dev;
        id->ino = (uint64_t)st.st_ino;
        id->size = (uint64_t)st.st_size;
        id->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
    }
}

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + 1, name, b + 1);
    }
    return p;
}

PPN_EXPORT int ppn_ledger_replica_new(const ppn_ledger_replica_config *cfg, uint64_t now_ms,
                                      ppn_ledger_replica **ret_replica)
{
    if (!cfg || !ret_replica)
        return -EINVAL;
    for (size_t i = 0; i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
        if (cfg->reserved[i])
            return -EINVAL;
    uint64_t pull_ms = cfg->pull_ms ? cfg->pull_ms : DEFAULT_PULL_MS;
    uint64_t retry = cfg->retry_min_ms ? cfg->retry_min_ms : DEFAULT_RETRY_MIN_MS;
    if (!cfg->retry_min_ms && retry > pull_ms) /* a round shorter than the default retry */
        retry = pull_ms;
    if (cfg->nudge_rate > 100000 || pull_ms > 86400000 || retry > pull_ms || cfg->watched > 1 ||
        (cfg->dir && (!cfg->dir[0] || strnlen(cfg->dir, DIR_MAX + 1) > DIR_MAX)))
        return -EINVAL;
    ppn_ledger_replica *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    if (cfg->dir && (!(r->cp_path = path_join(cfg->dir, "checkpoint")) ||
                     !(r->cs_path = path_join(cfg->dir, "cosignatures")))) {
        ppn_ledger_replica_free(r);
        return -ENOMEM;
    }
    r->watched = cfg->watched;
    r->rate = cfg->nudge_rate ? cfg->nudge_rate : DEFAULT_RATE;
    r->pull_ms = pull_ms;
    r->nudge_min_ms = cfg->nudge_min_ms ? cfg->nudge_min_ms : DEFAULT_NUDGE_MIN_MS;
    r->retry_min_ms = retry;
    r->bound_ms = cfg->pull_bound_ms ? cfg->pull_bound_ms : DEFAULT_BOUND_MS;
    r->next_round = now_ms;
    r->next_stat = now_ms + STAT_MS;
    r->next_ticket = 1;
    r->tokens = (uint64_t)r->rate * 1000;
    r->tokens_t = now_ms;
    file_look(r->cp_path, &r->cp);
    file_look(r->cs_path, &r->cs);
    *ret_replica = r;
    return 0;
}

PPN_EXPORT void ppn_ledger_replica_free(ppn_ledger_replica *r)
{
    if (!r)
        return;
    free(r->cp_path);
    free(r->cs_path);
    free(r->m);
    free(r);
}

/* A numeric address, "/prefix" ignored, as 16 bytes (IPv4 mapped); the text without the
 * prefix into 'text'. */
static int address_parse(const char *s, uint8_t ip[16], char text[PPN_LEDGER_REPLICA_ADDRESS_MAX + 1])
{
    size_t n = strcspn(s, "/");
    if (n == 0 || strnlen(s, PPN_LEDGER_REPLICA_ADDRESS_MAX + 1) > PPN_LEDGER_REPLICA_ADDRESS_MAX)
        return -EINVAL;
    memcpy(text, s, n);
    text[n] = '\0';
    struct in_addr a4;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &a4, 4);
        return 0;
    }
    return inet_pton(AF_INET6, text, ip) == 1 ? 0 : -EINVAL;
}

static struct member *member_at(ppn_ledger_replica *r, const uint8_t ip[16])
{
    for (size_t i = 0; i < r->count; i++)
        if (!memcmp(r->m[i].ip, ip, 16))
            return &r->m[i];
    return NULL;
}

PPN_EXPORT int ppn_ledger_replica_set_members(ppn_ledger_replica *r, const ppn_ledger_replica_member *members,
                                              size_t n, uint64_t now_ms)
{
    (void)now_ms;
    if (!r || (!members && n))
        return -EINVAL;
    if (n > PPN_LEDGER_REPLICA_MEMBERS_MAX)
        return -E2BIG;
    struct member *m = calloc(n ? n : 1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const ppn_ledger_replica_member *in = &members[i];
        size_t nl = in->name ? strnlen(in->name, PPN_LEDGER_TEXT_MAX + 1) : 0;
        bool bad = !in->address || nl == 0 || nl > PPN_LEDGER_TEXT_MAX || in->reserved[0] || in->reserved[1] ||
                   address_parse(in->address, m[i].ip, m[i].address) < 0;
        for (size_t j = 0; !bad && j < i; j++)
            bad = !memcmp(m[j].ip, m[i].ip, 16);
        if (bad) {
            free(m);
            return -EINVAL;
        }
        memcpy(m[i].name, in->name, nl);
        m[i].name[nl] = '\0';
        /* a member that stays keeps its state; a new one waits for the next round */
        const struct member *old = member_at(r, m[i].ip);
        if (old) {
            char name[sizeof(m[i].name)], address[sizeof(m[i].address)];
            memcpy(name, m[i].name, sizeof(name));
            memcpy(address, m[i].address, sizeof(address));
            m[i] = *old;
            memcpy(m[i].name, name, sizeof(name));
            memcpy(m[i].address, address, sizeof(address));
        } else {
            m[i].ticket = r->next_ticket++;
        }
    }
    free(r->m);
    r->m = m;
    r->count = n;
    return 0;
}

/* The datagram's source as 16 bytes (IPv4 mapped), or -1. */
static int source_ip(const struct sockaddr *from, size_t fromlen, uint8_t ip[16])
{
    sa_family_t family;
    if (fromlen < sizeof(family))
        return -1;
    memcpy(&family, (const uint8_t *)from + offsetof(struct sockaddr, sa_family), sizeof(family));
    if (family == AF_INET && fromlen >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in s;
        memcpy(&s, from, sizeof(s));
        memset(ip, 0, 10);
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &s.sin_addr, 4);
        return 0;
    }
    if (family == AF_INET6 && fromlen >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 s;
        memcpy(&s, from, sizeof(s));
        memcpy(ip, &s.sin6_addr, 16);
        return 0;
    }
    return -1;
}

PPN_EXPORT int ppn_ledger_replica_datagram(ppn_ledger_replica *r, const uint8_t *buf, size_t len,
                                           const struct sockaddr *from, size_t fromlen, uint64_t now_ms)
{
    if (!r || (!buf && len) || !from)
        return -EINVAL;
    /* the budget: nudge_rate a second, refilled continuously, at most one second's worth */
    if (now_ms > r->tokens_t) {
        uint64_t cap = (uint64_t)r->rate * 1000, dt = now_ms - r->tokens_t;
        r->tokens = dt >= 1000 ? cap : r->tokens + dt * r->rate;
        if (r->tokens > cap)
            r->tokens = cap;
        r->tokens_t = now_ms;
    }
    if (r->tokens < 1000) {
        r->stats.over_budget++;
        return -EAGAIN;
    }
    r->tokens -= 1000;
    if (ppn_ledger_nudge_parse(buf, len, NULL) < 0) {
        r->stats.malformed++;
        return -EBADMSG;
    }
    uint8_t ip[16];
    struct member *m = source_ip(from, fromlen, ip) == 0 ? member_at(r, ip) : NULL;
    if (!m) {
        r->stats.strangers++;
        return -EADDRNOTAVAIL;
    }
    r->stats.nudges++;
    if (m->nudged)
        r->stats.merged++;
    m->nudged = true;
    return 0;
}

PPN_EXPORT int ppn_ledger_replica_force(ppn_ledger_replica *r, const char *address, uint64_t now_ms)
{
    (void)now_ms;
    if (!r)
        return -EINVAL;
    if (!address) {
        for (size_t i = 0; i < r->count; i++)
            r->m[i].forced = true;
        return 0;
    }
    uint8_t ip[16];
    char text[PPN_LEDGER_REPLICA_ADDRESS_MAX + 1];
    struct member *m = address_parse(address, ip, text) == 0 ? member_at(r, ip) : NULL;
    if (!m)
        return -ENOENT;
    m->forced = true;
    return 0;
}

PPN_EXPORT int ppn_ledger_replica_check(ppn_ledger_replica *r, uint64_t now_ms)
{
    if (!r)
        return -EINVAL;
    if (!r->cp_path || (!r->watched && now_ms < r->next_stat))
        return 0;
    r->next_stat = now_ms + STAT_MS;
    struct file_id cp, cs;
    file_look(r->cp_path, &cp);
    file_look(r->cs_path, &cs);
    int changed = 0;
    if (memcmp(&cp, &r->cp, sizeof(cp)) != 0)
        changed |= PPN_LEDGER_REPLICA_CHECKPOINT;
    if (memcmp(&cs, &r->cs, sizeof(cs)) != 0)
        changed |= PPN_LEDGER_REPLICA_COSIGNATURES;
    r->cp = cp;
    r->cs = cs;
    return changed;
}

static void pull_failed(ppn_ledger_replica *r, struct member *m, uint64_t now_ms)
{
    r->stats.failed++;
    if (m->failures < UINT32_MAX)
        m->failures++;
    uint64_t wait = r->retry_min_ms;
    for (uint32_t k = 1; k < m->failures && wait < r->pull_ms; k++)
        wait *= 2;
    if (wait > r->pull_ms)
        wait = r->pull_ms;
    m->retry_at = now_ms + wait;
}

/* The end of pulls in flight past their bound, and the periodic round. */
static void tick(ppn_ledger_replica *r, uint64_t now_ms)
{
    for (size_t i = 0; i < r->count; i++)
        if (r->m[i].in_flight && now_ms >= r->m[i].flight_end) {
            r->m[i].in_flight = false;
            pull_failed(r, &r->m[i], now_ms);
        }
    if (now_ms >= r->next_round) {
        for (size_t i = 0; i < r->count; i++)
            r->m[i].round = true;
        r->next_round = now_ms + r->pull_ms;
    }
}

static uint32_t due_reason(const struct member *m, uint64_t now_ms)
{
    if (m->in_flight)
        return 0;
    if (m->nudged && now_ms >= m->nudge_ok)
        return PPN_LEDGER_REPLICA_NUDGED;
    if (m->forced)
        return PPN_LEDGER_REPLICA_FORCED;
    if (m->retry_at && now_ms >= m->retry_at)
        return PPN_LEDGER_REPLICA_RETRY;
    if (m->round)
        return PPN_LEDGER_REPLICA_PERIODIC;
    return 0;
}

PPN_EXPORT int ppn_ledger_replica_next(ppn_ledger_replica *r, uint64_t now_ms, ppn_ledger_replica_pull *ret_pull)
{
    if (!r || !ret_pull)
        return -EINVAL;
    tick(r, now_ms);
    for (size_t i = 0; i < r->count; i++) {
        struct member *m = &r->m[i];
        uint32_t why = due_reason(m, now_ms);
        if (!why)
            continue;
        memset(ret_pull, 0, sizeof(*ret_pull));
        ret_pull->ticket = m->ticket;
        ret_pull->reason = why;
        ret_pull->failures = m->failures;
        memcpy(ret_pull->name, m->name, sizeof(m->name));
        memcpy(ret_pull->address, m->address, sizeof(m->address));
        /* this pull covers every reason the member was due for */
        m->nudged = m->forced = m->round = false;
        m->retry_at = 0;
        m->in_flight = true;
        m->flight_end = now_ms + r->bound_ms;
        if (why == PPN_LEDGER_REPLICA_NUDGED) /* the bound is on pulls because of nudges */
            m->nudge_ok = now_ms + r->nudge_min_ms;
        r->stats.pulls++;
        return 1;
    }
    return 0;
}

PPN_EXPORT int ppn_ledger_replica_done(ppn_ledger_replica *r, uint64_t ticket, int result, uint64_t now_ms)
{
    if (!r)
        return -EINVAL;
    for (size_t i = 0; i < r->count; i++) {
        struct member *m = &r->m[i];
        if (m->ticket != ticket)
            continue;
        if (!m->in_flight)
            return -ENOENT;
        m->in_flight = false;
        if (result < 0) {
            pull_failed(r, m, now_ms);
        } else {
            m->failures = 0;
            m->retry_at = 0;
        }
        return 0;
    }
    return -ENOENT;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

PPN_EXPORT int ppn_ledger_replica_timeout(const ppn_ledger_replica *r, uint64_t now_ms)
{
    if (!r)
        return -EINVAL;
    uint64_t at = r->next_round;
    if (r->cp_path && !r->watched)
        at = min_u64(at, r->next_stat);
    for (size_t i = 0; i < r->count; i++) {
        const struct member *m = &r->m[i];
        if (m->in_flight) {
            at = min_u64(at, m->flight_end);
            continue;
        }
        if (m->forced || m->round)
            return 0;
        if (m->nudged)
            at = min_u64(at, m->nudge_ok);
        if (m->retry_at)
            at = min_u64(at, m->retry_at);
    }
    uint64_t w = at > now_ms ? at - now_ms : 0;
    w = min_u64(w, r->pull_ms);
    return w > INT_MAX ? INT_MAX : (int)w;
}

PPN_EXPORT int ppn_ledger_replica_stats_get(const ppn_ledger_replica *r, ppn_ledger_replica_stats *ret_stats)
{
    if (!r || !ret_stats)
        return -EINVAL;
    *ret_stats = r->stats;
    return 0;
}
