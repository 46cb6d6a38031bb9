/* Record framing and a whole 'entries' file as the scanner sees it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    for (uint64_t idx = 0; off < size; idx++) {
        size_t len;
        enum rec_status s = record_check(data + off, size - off, idx, &len);
        if (s != REC_OK)
            break;
        if (len > PPN_LEDGER_ENTRY_MAX || off + len + REC_OVERHEAD > size)
            __builtin_trap();
        struct ppn_ledger_entry e;
        (void)entry_decode_unverified(data + off + REC_HEAD, len, &e, NULL, NULL, NULL);
        off += len + REC_OVERHEAD;
    }
    return 0;
}
