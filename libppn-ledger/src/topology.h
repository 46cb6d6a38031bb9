/* topology.c: the write-time rules of the routing hub. */
#pragma once
#include <stddef.h>

#include "ppn/ledger.h"
#include "view.h"

/* 0, or -EPROTO with a sentence naming the field and the rule. */
int topology_check_write(const struct view *v, const struct ppn_ledger_entry *e, char *msg, size_t size);
