/* The hand-off at the end of a ceremony and the states it leaves: the behaviour is in the
 * tools' glue (tools/glue/handoff.h); this is ppn-pair's composition of it: the node's
 * directories and keys, printing, the test stops, WireGuard for a node left pending. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "handoff.h"
#include "pair.h"
#include "ppn-common.h"
#include "tool-util.h"

static struct glue_node gnode(const struct node *n)
{
    return (struct glue_node){.dir = n->dir, .ledger_dir = n->ledger_dir, .id_pk = n->id_pk, .id_sk = n->id_sk,
                              .wg_pk = n->wg_pk};
}

static uint64_t now_real_ms(void)
{
    return ppnc_now_real_ns() / 1000000;
}

/* ---- hooks: stdout, stderr, and the tests' stops ---- */

static void on_progress(void *ud, const char *line)
{
    (void)ud;
    printf("%s\n", line);
    fflush(stdout);
}

/* Fault injection for the tests: PPN_PAIR_TEST_STOP=<step> stops this process (SIGSTOP) at
 * that step, so that a test can freeze or kill a peer at an exact point. */
static int on_step(void *ud, const char *step)
{
    (void)ud;
    const char *e = getenv("PPN_PAIR_TEST_STOP");
    if (e && strcmp(e, step) == 0) {
        printf("stopping\t%s\n", step);
        fflush(stdout);
        raise(SIGSTOP);
    }
    return 0;
}

static void on_warn(void *ud, const char *text)
{
    (void)ud;
    fprintf(stderr, "ppn-pair: %s\n", text);
}

static const struct glue_handoff_hooks hooks = {.progress = on_progress, .step = on_step, .warn = on_warn};

/* ---- what ppn-pair calls ---- */

int handoff_admin_ready(const struct node *n, ppn_ledger *l, ppn_crypto_node_record *ret_local)
{
    struct glue_node g = gnode(n);
    char why[GLUE_HANDOFF_WHY_MAX];
    return glue_handoff_admin_ready(&g, l, ret_local, why) < 0 ? tool_error("%s", why) : 0;
}

int handoff_admin(ppn_crypto_session *s, int fd, const struct node *n, ppn_ledger *l,
                  const ppn_crypto_node_record *peer, uint64_t deadline)
{
    struct glue_node g = gnode(n);
    char why[GLUE_HANDOFF_WHY_MAX];
    return glue_handoff_admin(s, fd, &g, l, peer, deadline, &hooks, why) < 0 ? tool_error("%s", why) : 0;
}

int handoff_node_ready(const struct node *n)
{
    struct glue_node g = gnode(n);
    char why[GLUE_HANDOFF_WHY_MAX];
    return glue_handoff_node_ready(&g, now_real_ms(), why) < 0 ? tool_error("%s", why) : 0;
}

int handoff_node(ppn_crypto_session *s, int fd, const struct node *n, const ppn_crypto_node_record *admin,
                 uint64_t deadline, unsigned window_s, const char *ifname, unsigned port)
{
    struct glue_node g = gnode(n);
    struct glue_pending p;
    char why[GLUE_HANDOFF_WHY_MAX];
    int r = glue_handoff_node(s, fd, &g, admin, deadline, window_s, &hooks, &p, why);
    if (r == 1 && ifname) { /* pending: the tunnel to the administrator, so that the sync can complete */
        struct node pn = *n;
        snprintf(pn.ledger_dir, sizeof(pn.ledger_dir), "%s", p.ledger_dir);
        (void)mesh_apply(&pn, ifname, port, false);
        sodium_memzero(&pn, sizeof(pn));
    }
    return r ? tool_error("%s", why) : 0;
}

int pending_load(const struct node *n, struct glue_pending *p)
{
    struct glue_node g = gnode(n);
    return glue_pending_load(&g, p);
}

int pending_judge(const struct node *n, const struct glue_pending *p, ppn_ledger *l, int r,
                  const struct ppn_ledger_sync_report *rep, char *why, size_t why_size)
{
    struct glue_node g = gnode(n);
    int k = glue_pending_judge(&g, p, l, r, rep, now_real_ms(), why, why_size);
    if (k == 1 && why[0])
        on_warn(NULL, why);
    return k;
}

int pending_expire(const struct node *n)
{
    struct glue_node g = gnode(n);
    return glue_pending_expire(&g, now_real_ms());
}

void pairing_state(const struct node *n, char *state, size_t ssize, char *text, size_t tsize)
{
    struct glue_node g = gnode(n);
    glue_pairing_state(&g, state, ssize, text, tsize);
}

void handoff_list(const struct node *n, void (*fn)(void *ud, const char *line), void *ud)
{
    struct glue_node g = gnode(n);
    glue_handoff_list(&g, fn, ud);
}

void handoff_settle(const struct node *n, ppn_ledger *l, void (*fn)(void *ud, const char *line), void *ud)
{
    struct glue_node g = gnode(n);
    glue_handoff_settle(&g, l, fn, ud);
}
