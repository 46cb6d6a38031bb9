#pragma once
#include <stdbool.h>
#include <sys/types.h>

#include "ppn/ledger.h"

struct view {
    struct ppn_ledger_member *members;
    size_t nm, cm;
    struct ppn_ledger_grant *grants;
    size_t ng, cg;
    struct ppn_ledger_assignment *asg;
    size_t na, ca;
    uint8_t (*admins)[32]; /* every key that ever held unscoped "admin" (checkpoint signers) */
    size_t nadm, cadm;
    bool genesis_done;
};

void view_free(struct view *v);
int view_copy(struct view *dst, const struct view *src);
/* 0, -EPERM (author lacks the capability), -EPROTO (rule broken), -ENOMEM. */
int view_apply(struct view *v, const struct ppn_ledger_entry *e);
int view_has_cap(const struct view *v, const uint8_t key[32], const char *cap, const char *scope);
ssize_t view_member_find(const struct view *v, const uint8_t key[32]);
ssize_t view_asg_find(const struct view *v, const char *vm);
