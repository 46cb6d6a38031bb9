/* The JSON entry parser (ppn-ledger append reads it from files and stdin) and the meaning
 * check it feeds: never crash, always a message on refusal, a parsed entry re-prints. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ppn_ledger_entry e;
    char msg[512];
    int r = ppn_ledger_entry_parse_json((const char *)data, size, &e, msg, sizeof(msg));
    if (r < 0) {
        if (!msg[0] || !memchr(msg, 0, sizeof(msg)))
            __builtin_trap();
        return 0;
    }
    msg[0] = 0;
    if (ppn_ledger_entry_check(&e, msg, sizeof(msg)) < 0 && !msg[0])
        __builtin_trap();
    char *json;
    if (ppn_ledger_entry_to_json(&e, &json) == 0) {
        struct ppn_ledger_entry back;
        if (ppn_ledger_entry_parse_json(json, strlen(json), &back, NULL, 0) != 0 ||
            memcmp(&back, &e, sizeof(e)) != 0)
            __builtin_trap();
        free(json);
    }
    return 0;
}
