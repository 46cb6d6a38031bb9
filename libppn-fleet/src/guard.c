/* SPDX-License-Identifier: ISC */
/* What both engines need to hold under attack: rate-limited reports,
 * creation-request freshness (age window and nonces), the operator key set,
 * and the persistent sequence epoch of an agent. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fleet-internal.h"
#include "ppn-common.h"

bool fleet_ratelimit_allow(fleet_ratelimit *rl, uint64_t now_ms, uint64_t *ret_suppressed)
{
    if (rl->used && now_ms - rl->last_ms < FLEET_LOG_INTERVAL_MS && now_ms >= rl->last_ms) {
        rl->suppressed++;
        return false;
    }
    *ret_suppressed = rl->suppressed;
    rl->suppressed = 0;
    rl->used = true;
    rl->last_ms = now_ms;
    return true;
}

bool fleet_ratelimit_summary(fleet_ratelimit *rl, uint64_t now_ms, uint64_t *ret_suppressed)
{
    if (!rl->suppressed || (now_ms - rl->last_ms < FLEET_LOG_INTERVAL_MS && now_ms >= rl->last_ms))
        return false;
    *ret_suppressed = rl->suppressed;
    rl->suppressed = 0;
    rl->last_ms = now_ms;
    return true;
}

int fleet_nonces_check(const fleet_nonces *n, const ppn_fleet_request *rq, uint64_t now_unix)
{
    if (rq->created_unix > now_unix + FLEET_REQUEST_WINDOW_S ||
        (now_unix > FLEET_REQUEST_WINDOW_S && rq->created_unix < now_unix - FLEET_REQUEST_WINDOW_S))
        return -ESTALE;
    for (size_t i = 0; i < FLEET_NONCES; i++)
        if (n->expires[i] > now_unix &&
            memcmp(n->nonce[i], rq->nonce, PPN_FLEET_NONCE_BYTES) == 0)
            return -ESTALE;
    return 0;
}

int fleet_nonces_commit(fleet_nonces *n, const ppn_fleet_request *rq, uint64_t now_unix)
{
    /* Kept until the request could no longer pass the window. */
    uint64_t expires = rq->created_unix + FLEET_REQUEST_WINDOW_S + 1;
    if (expires <= now_unix)
        expires = now_unix + 1;
    for (size_t i = 0; i < FLEET_NONCES; i++)
        if (n->expires[i] <= now_unix) {
            memcpy(n->nonce[i], rq->nonce, PPN_FLEET_NONCE_BYTES);
            n->expires[i] = expires;
            return 0;
        }
    return -EBUSY;
}

int fleet_keyset_set(fleet_keyset *ks, const uint8_t *keys, size_t n)
{
    if ((!keys && n) || n > SIZE_MAX / 32)
        return -EINVAL;
    uint8_t *copy = malloc(n ? 32 * n : 1);
    if (!copy)
        return -ENOMEM;
    if (n)
        memcpy(copy, keys, 32 * n);
    free(ks->keys);
    ks->keys = copy;
    ks->n = n;
    return (int)(n > INT32_MAX ? INT32_MAX : n);
}

bool fleet_keyset_has(const fleet_keyset *ks, const uint8_t key[32])
{
    /* Keys are public; a plain comparison is fine and the sets are small. */
    for (size_t i = 0; i < ks->n; i++)
        if (memcmp(ks->keys + 32 * i, key, 32) == 0)
            return true;
    return false;
}

void fleet_keyset_clear(fleet_keyset *ks)
{
    free(ks->keys);
    ks->keys = NULL;
    ks->n = 0;
}

bool fleet_same_ip(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b,
                   socklen_t blen)
{
    if (!a || !b || a->sa_family != b->sa_family)
        return false;
    if (a->sa_family == AF_INET && alen >= sizeof(struct sockaddr_in) &&
        blen >= sizeof(struct sockaddr_in))
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->sa_family == AF_INET6 && alen >= sizeof(struct sockaddr_in6) &&
        blen >= sizeof(struct sockaddr_in6))
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return false;
}

/* ---- the agent's epoch ------------------------------------------------ */

#define EPOCH_MAX (UINT32_MAX - 1)

PPN_EXPORT int ppn_fleet_epoch_next(const char *path, uint64_t seed, uint32_t *ret_epoch)
{
    if (!path || !ret_epoch)
        return -EINVAL;
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t epoch;
    int r = ppnc_read_file(path, 64, &data, &len);
    if (r == -ENOENT) {
        epoch = seed < 1 ? 1 : seed > EPOCH_MAX ? EPOCH_MAX : seed;
    } else if (r == -EFBIG) {
        return -EUCLEAN;
    } else if (r < 0) {
        return r;
    } else {
        /* "<decimal>\n", nothing else. */
        uint64_t v = 0;
        size_t i = 0;
        bool ok = len >= 2 && data[len - 1] == '\n' && data[0] != '0';
        for (; ok && i + 1 < len; i++) {
            if (data[i] < '0' || data[i] > '9' || v > EPOCH_MAX) {
                ok = false;
                break;
            }
            v = v * 10 + (uint64_t)(data[i] - '0');
        }
        free(data);
        if (!ok || v == 0 || v > UINT32_MAX)
            return -EUCLEAN;
        if (v >= EPOCH_MAX)
            return -EOVERFLOW;
        epoch = v + 1;
    }
    char text[16];
    int n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)epoch);
    r = ppnc_write_file_atomic(path, text, (size_t)n, 0600);
    if (r < 0)
        return r;
    *ret_epoch = (uint32_t)epoch;
    return 0;
}
