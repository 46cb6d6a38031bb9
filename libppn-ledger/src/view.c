/* The current views derived from the entry sequence, and the authority rules. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, nc * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

void view_free(struct view *v)
{
    free(v->members);
    free(v->grants);
    free(v->asg);
    free(v->admins);
    memset(v, 0, sizeof(*v));
}

static void *dup(const void *p, size_t n, size_t elem)
{
    if (!n)
        return NULL;
    void *q = malloc(n * elem);
    if (q)
        memcpy(q, p, n * elem);
    return q;
}

int view_copy(struct view *dst, const struct view *s)
{
    struct view v = *s;
    v.members = dup(s->members, s->nm, sizeof(*s->members));
    v.grants = dup(s->grants, s->ng, sizeof(*s->grants));
    v.asg = dup(s->asg, s->na, sizeof(*s->asg));
    v.admins = dup(s->admins, s->nadm, sizeof(*s->admins));
    v.cm = s->nm; v.cg = s->ng; v.ca = s->na; v.cadm = s->nadm;
    if ((s->nm && !v.members) || (s->ng && !v.grants) || (s->na && !v.asg) ||
        (s->nadm && !v.admins)) {
        view_free(&v);
        return -ENOMEM;
    }
    *dst = v;
    return 0;
}

ssize_t view_member_find(const struct view *v, const uint8_t key[32])
{
    for (size_t i = 0; i < v->nm; i++)
        if (!memcmp(v->members[i].identity, key, 32))
            return (ssize_t)i;
    return -1;
}

int view_has_cap(const struct view *v, const uint8_t key[32], const char *cap, const char *scope)
{
    if (!scope)
        scope = "";
    for (size_t i = 0; i < v->ng; i++) {
        const struct ppn_ledger_grant *g = &v->grants[i];
        if (memcmp(g->subject, key, 32))
            continue;
        if (!strcmp(g->capability, PPN_LEDGER_CAP_ADMIN) && !g->scope[0])
            return 1;
        if (!strcmp(g->capability, cap) && (!g->scope[0] || !strcmp(g->scope, scope)))
            return 1;
    }
    return 0;
}

static ssize_t grant_find(const struct view *v, const uint8_t key[32], const char *cap,
                          const char *scope)
{
    for (size_t i = 0; i < v->ng; i++)
        if (!memcmp(v->grants[i].subject, key, 32) && !strcmp(v->grants[i].capability, cap) &&
            !strcmp(v->grants[i].scope, scope))
            return (ssize_t)i;
    return -1;
}

ssize_t view_asg_find(const struct view *v, const char *vm)
{
    for (size_t i = 0; i < v->na; i++)
        if (!strcmp(v->asg[i].vm, vm))
            return (ssize_t)i;
    return -1;
}

#define REMOVE(arr, n, i) do { memmove(&(arr)[i], &(arr)[(i) + 1], ((n) - (size_t)(i) - 1) * sizeof(*(arr))); (n)--; } while (0)

static int add_admin(struct view *v, const uint8_t key[32])
{
    for (size_t i = 0; i < v->nadm; i++)
        if (!memcmp(v->admins[i], key, 32))
            return 0;
    int r = grow((void **)&v->admins, &v->cadm, v->nadm, sizeof(*v->admins));
    if (r < 0)
        return r;
    memcpy(v->admins[v->nadm++], key, 32);
    return 0;
}

/* Apply the state-changing part of type 't' with fields from 'e', recorded as 'origin'. */
static int apply_body(struct view *v, uint32_t t, const struct ppn_ledger_entry *e, uint64_t origin)
{
    int r;
    ssize_t i;
    switch (t) {
    case PPN_LEDGER_ENTRY_NODE_JOIN: {
        if (view_member_find(v, e->subject) >= 0)
            return -EPROTO;
        if ((r = grow((void **)&v->members, &v->cm, v->nm, sizeof(*v->members))) < 0)
            return r;
        struct ppn_ledger_member *m = &v->members[v->nm++];
        memset(m, 0, sizeof(*m));
        m->index = origin;
        memcpy(m->identity, e->subject, 32);
        memcpy(m->wg_key, e->wg_key, 32);
        strcpy(m->mesh, e->mesh);
        strcpy(m->endpoint, e->endpoint);
        strcpy(m->hostname, e->hostname);
        return 0;
    }
    case PPN_LEDGER_ENTRY_CAP_GRANT: {
        if (grant_find(v, e->subject, e->capability, e->scope) >= 0)
            return -EPROTO;
        if ((r = grow((void **)&v->grants, &v->cg, v->ng, sizeof(*v->grants))) < 0)
            return r;
        struct ppn_ledger_grant *g = &v->grants[v->ng++];
        memset(g, 0, sizeof(*g));
        g->index = origin;
        memcpy(g->subject, e->subject, 32);
        strcpy(g->capability, e->capability);
        strcpy(g->scope, e->scope);
        if (!strcmp(e->capability, PPN_LEDGER_CAP_ADMIN) && !e->scope[0])
            return add_admin(v, e->subject);
        return 0;
    }
    case PPN_LEDGER_ENTRY_VM_ASSIGN: {
        if (view_member_find(v, e->subject) < 0)
            return -EPROTO;
        if ((i = view_asg_find(v, e->text)) >= 0)
            REMOVE(v->asg, v->na, i);
        if ((r = grow((void **)&v->asg, &v->ca, v->na, sizeof(*v->asg))) < 0)
            return r;
        struct ppn_ledger_assignment *a = &v->asg[v->na++];
        memset(a, 0, sizeof(*a));
        a->index = origin;
        strcpy(a->vm, e->text);
        memcpy(a->node, e->subject, 32);
        return 0;
    }
    default:
        return -EPROTO;
    }
}

static const char *needed_cap(uint32_t t)
{
    switch (t) {
    case PPN_LEDGER_ENTRY_NODE_JOIN:
    case PPN_LEDGER_ENTRY_NODE_REVOKE: return PPN_LEDGER_CAP_NODE_ADMIT;
    case PPN_LEDGER_ENTRY_VM_ASSIGN: return PPN_LEDGER_CAP_VM_ASSIGN;
    default: return PPN_LEDGER_CAP_ADMIN;
    }
}

int view_apply(struct view *v, const struct ppn_ledger_entry *e)
{
    ssize_t i;
    if (e->index == 0 || e->type == PPN_LEDGER_ENTRY_GENESIS) {
        if (e->index != 0 || e->type != PPN_LEDGER_ENTRY_GENESIS || v->genesis_done)
            return -EPROTO;
        if (memcmp(e->author, e->subject, 32))
            return -EPERM;
        struct ppn_ledger_entry g;
        memset(&g, 0, sizeof(g));
        memcpy(g.subject, e->subject, 32);
        strcpy(g.capability, PPN_LEDGER_CAP_ADMIN);
        int r = apply_body(v, PPN_LEDGER_ENTRY_CAP_GRANT, &g, 0);
        if (r < 0)
            return r;
        v->genesis_done = true;
        return 0;
    }
    switch (e->type) {
    case PPN_LEDGER_ENTRY_NODE_JOIN:
    case PPN_LEDGER_ENTRY_CAP_GRANT:
    case PPN_LEDGER_ENTRY_VM_ASSIGN:
        if (!view_has_cap(v, e->author, needed_cap(e->type), ""))
            return -EPERM;
        return apply_body(v, e->type, e, e->index);
    case PPN_LEDGER_ENTRY_NODE_REVOKE:
        if (!view_has_cap(v, e->author, needed_cap(e->type), ""))
            return -EPERM;
        if ((i = view_member_find(v, e->subject)) < 0)
            return -EPROTO;
        REMOVE(v->members, v->nm, i);
        /* A revoked identity keeps no capability. */
        for (size_t k = v->ng; k-- > 0;)
            if (!memcmp(v->grants[k].subject, e->subject, 32))
                REMOVE(v->grants, v->ng, k);
        return 0;
    case PPN_LEDGER_ENTRY_CAP_REVOKE:
        if (!view_has_cap(v, e->author, PPN_LEDGER_CAP_ADMIN, ""))
            return -EPERM;
        if ((i = grant_find(v, e->subject, e->capability, e->scope)) < 0)
            return -EPROTO;
        REMOVE(v->grants, v->ng, i);
        return 0;
    case PPN_LEDGER_ENTRY_SUPERSEDE: {
        uint32_t t = 0;
        ssize_t k = -1;
        for (size_t j = 0; j < v->nm && k < 0; j++)
            if (v->members[j].index == e->target)
                k = (ssize_t)j, t = PPN_LEDGER_ENTRY_NODE_JOIN;
        for (size_t j = 0; j < v->ng && k < 0; j++)
            if (v->grants[j].index == e->target)
                k = (ssize_t)j, t = PPN_LEDGER_ENTRY_CAP_GRANT;
        for (size_t j = 0; j < v->na && k < 0; j++)
            if (v->asg[j].index == e->target)
                k = (ssize_t)j, t = PPN_LEDGER_ENTRY_VM_ASSIGN;
        if (k < 0 || e->target == 0)
            return -EPROTO; /* nothing in effect from that entry (genesis stays) */
        if (!view_has_cap(v, e->author, needed_cap(t), ""))
            return -EPERM;
        if (e->replacement_type && e->replacement_type != t)
            return -EPROTO;
        if (t == PPN_LEDGER_ENTRY_NODE_JOIN)
            REMOVE(v->members, v->nm, k);
        else if (t == PPN_LEDGER_ENTRY_CAP_GRANT)
            REMOVE(v->grants, v->ng, k);
        else
            REMOVE(v->asg, v->na, k);
        if (!e->replacement_type)
            return 0;
        return apply_body(v, t, e, e->index);
    }
    default:
        return -EPROTO;
    }
}
