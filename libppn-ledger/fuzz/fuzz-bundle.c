/* The replica bundle parser (PPNLEDG1): the header scan and the streaming length. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bundle_part parts[PPN_LEDGER_BUNDLE_FILES_MAX];
    struct ppn_ledger_bundle_report rep;
    size_t n = 0;
    uint64_t total = 0;
    bundle_report_init(&rep);
    int r = bundle_scan(data, size, parts, &n, &total, &rep);
    if (r == 0) {
        if (n == 0 || n > PPN_LEDGER_BUNDLE_FILES_MAX || total > PPN_LEDGER_BUNDLE_MAX)
            __builtin_trap();
        uint64_t end = BUNDLE_HEAD;
        for (size_t i = 0; i < n; i++) {
            /* Headers lie in the bytes given; files follow each other with no gap. */
            if (parts[i].header != end || parts[i].data > size || parts[i].data + parts[i].size != (i + 1 < n ? parts[i + 1].header : total))
                __builtin_trap();
            if (strlen(parts[i].name) == 0 || strlen(parts[i].name) > BUNDLE_NAME_MAX)
                __builtin_trap();
            for (size_t j = 0; j < i; j++)
                if (!strcmp(parts[i].name, parts[j].name))
                    __builtin_trap();
            end = parts[i].data + parts[i].size;
        }
    } else if (r == -EAGAIN) {
        if (total <= size)
            __builtin_trap();
    } else if (r != -EBADMSG && r != -E2BIG) {
        __builtin_trap();
    } else if (!rep.why[0]) {
        __builtin_trap();
    }
    /* Every prefix answers consistently: a prefix of a complete header set asks for more. */
    uint64_t need;
    int r2 = ppn_ledger_bundle_need(data, size / 2, &need, NULL);
    if (r == 0 && r2 != 0 && r2 != -EAGAIN)
        __builtin_trap();
    return 0;
}
