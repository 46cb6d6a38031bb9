/* bundle.c internals (also used by the fuzz harness). */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "ppn/ledger.h"

#define BUNDLE_MAGIC "PPNLEDG1"
#define BUNDLE_HEAD 12 /* magic, u32 file count */
#define BUNDLE_NAME_MAX 64

struct bundle_part {
    char name[BUNDLE_NAME_MAX + 1];
    uint64_t header; /* offset of the file's header in the bundle */
    uint64_t data;   /* offset of its bytes */
    uint64_t size;
};

void bundle_report_init(struct ppn_ledger_bundle_report *rep);
/* The headers of buf[0..len): 0 with the parts (room for PPN_LEDGER_BUNDLE_FILES_MAX) and
 * *ret_total = the whole length once every header is there; -EAGAIN with *ret_total = a length
 * needed at least; -EBADMSG / -EFBIG with *rep filled. */
int bundle_scan(const uint8_t *buf, size_t len, struct bundle_part *parts, size_t *ret_n,
                uint64_t *ret_total, struct ppn_ledger_bundle_report *rep);
