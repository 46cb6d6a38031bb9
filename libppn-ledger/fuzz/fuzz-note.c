/* The signed-note and checkpoint parsers. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t pk[32] = {1, 2, 3};
    struct note_sig sigs[8];
    size_t tl, ns;
    const char *note = (const char *)data;
    if (note_parse(note, size, &tl, sigs, 8, &ns, NULL) == 0) {
        if (tl > size || ns > 8)
            __builtin_trap();
        struct checkpoint cp;
        if (checkpoint_parse_text(note, tl, &cp) == 0 && strlen(cp.origin) > PPN_LEDGER_TEXT_MAX)
            __builtin_trap();
    }
    uint64_t s;
    uint8_t root[32];
    (void)ppn_ledger_checkpoint_verify(note, size, "example.com/ledger", pk, &s, root);
    /* the forms for people and scripts read the same untrusted notes */
    struct ppn_ledger_checkpoint_info ci;
    char *js;
    int pr = ppn_ledger_checkpoint_parse(note, size, &ci);
    if (pr == 0 && (strlen(ci.origin) > PPN_LEDGER_TEXT_MAX || ci.size > INT64_MAX))
        __builtin_trap();
    if (ppn_ledger_checkpoint_to_json(note, size, &js) == 0) {
        if (pr != 0)
            __builtin_trap();
        free(js);
    }
    return 0;
}
