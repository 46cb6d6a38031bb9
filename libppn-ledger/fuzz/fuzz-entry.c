/* The canonical CBOR entry decoder: whatever decodes must re-encode to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ppn_ledger_entry e;
    const uint8_t *body, *sig;
    size_t bl;
    if (entry_decode_unverified(data, size, &e, &body, &bl, &sig) < 0)
        return 0;
    if (body < data || body + bl > data + size || sig + 64 != data + size)
        __builtin_trap();
    (void)ppn_ledger_entry_decode(data, size, &e);
    char *js;
    if (ppn_ledger_entry_to_json(&e, &js) == 0) {
        struct ppn_ledger_entry j;
        if (ppn_ledger_entry_from_json(js, strlen(js), &j) != 0)
            __builtin_trap();
        free(js);
    }
    return 0;
}
