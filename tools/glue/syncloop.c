/* The rounds of a ledger sync over the caller's transport (syncloop.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ppn-common.h"
#include "syncloop.h"

static uint32_t left_ms(uint64_t deadline)
{
    uint64_t now = ppnc_now_mono_ms();
    uint64_t left = now >= deadline ? 0 : deadline - now;
    return left > PPN_LEDGER_OPEN_WAIT_MAX_MS ? PPN_LEDGER_OPEN_WAIT_MAX_MS : (uint32_t)left;
}

/* One request of 'l' through 'fetch'. */
static int ask(ppn_ledger *l, glue_sync_fetch_fn fetch, void *ud, uint64_t deadline, size_t max, uint8_t **ret_ans,
               size_t *ret_len, char *err, size_t errsize)
{
    uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX];
    size_t ql;
    int r = ppn_ledger_sync_request(l, q, sizeof(q), &ql);
    if (r < 0) {
        snprintf(err, errsize, "make the request: %s", strerror(-r));
        return r;
    }
    return fetch(ud, q, ql, deadline, max, ret_ans, ret_len, err, errsize);
}

int glue_sync_rounds(ppn_ledger *l, glue_sync_fetch_fn fetch, void *userdata, uint64_t deadline, size_t max,
                     uint64_t *ret_appended, uint64_t *ret_rounds, struct ppn_ledger_sync_report *ret_rep,
                     char *err, size_t errsize)
{
    uint64_t total = 0, rounds = 0;
    struct ppn_ledger_sync_report rep = {0};
    int r;
    err[0] = '\0';
    for (;;) {
        uint8_t *ans = NULL;
        size_t al = 0;
        if ((r = ask(l, fetch, userdata, deadline, max, &ans, &al, err, errsize)) < 0)
            break;
        r = ppn_ledger_sync_apply(l, ans, al, max, &rep);
        free(ans);
        rounds++;
        if (r < 0)
            break;
        total += rep.appended;
        if (rep.appended == 0 || ppn_ledger_size(l) >= rep.their_size)
            break;
    }
    *ret_appended = total;
    *ret_rounds = rounds;
    *ret_rep = rep;
    return r;
}

int glue_sync_pull(const char *dir, glue_sync_fetch_fn fetch, void *userdata, uint64_t deadline, size_t max,
                   uint64_t *ret_appended, struct ppn_ledger_sync_report *ret_rep, char *err, size_t errsize)
{
    uint64_t total = 0;
    struct ppn_ledger_sync_report rep = {0};
    int r = 0;
    err[0] = '\0';
    for (unsigned round = 0; round < 64; round++) {
        ppn_ledger *l = NULL;
        uint8_t *ans = NULL;
        size_t al = 0;
        if ((r = ppn_ledger_open(dir, 0, &l)) < 0) {
            snprintf(err, errsize, "open the ledger: %s", strerror(-r));
            break;
        }
        uint64_t asked = ppn_ledger_size(l);
        r = ask(l, fetch, userdata, deadline, max, &ans, &al, err, errsize);
        ppn_ledger_free(l);
        l = NULL;
        if (r < 0)
            break;
        if ((r = ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, left_ms(deadline), &l)) < 0) {
            free(ans);
            snprintf(err, errsize, "open the ledger for writing: %s", strerror(-r));
            break;
        }
        if (ppn_ledger_size(l) != asked) { /* appended meanwhile: ask again */
            ppn_ledger_free(l);
            free(ans);
            continue;
        }
        r = ppn_ledger_sync_apply(l, ans, al, max, &rep);
        free(ans);
        if (r == 0 && rep.appended)
            (void)ppn_ledger_export_nodes(l, NULL);
        uint64_t size = ppn_ledger_size(l);
        ppn_ledger_free(l);
        if (r < 0)
            break;
        total += rep.appended;
        if (rep.appended == 0 || size >= rep.their_size)
            break;
    }
    *ret_appended = total;
    *ret_rep = rep;
    return r;
}
