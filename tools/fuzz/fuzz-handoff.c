/* The hand-off's channel messages as the new node and the administrator read them (tools/glue/
 * handoff.h): the administrator's 'R' framing and an 'E' refusal. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "handoff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct glue_handoff_replica rp;
    if (glue_handoff_parse_replica(data, size, &rp) == 0) {
        if (rp.entry != data + 9 || rp.entry_len == 0 || rp.entry_len > PPN_LEDGER_ENTRY_MAX ||
            rp.bundle != rp.entry + rp.entry_len || size < 9 || rp.entry_len > size - 9 ||
            rp.bundle_len != size - 9 - rp.entry_len ||
            rp.admin_left_ms > UINT32_MAX)
            __builtin_trap();
    }
    char buf[64];
    int err = 0;
    glue_handoff_parse_refusal(data, size, buf, sizeof(buf), &err);
    size_t n = strlen(buf);
    if (err >= 0 || err <= -4096 || n >= sizeof(buf))
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (buf[i] < 0x20 || buf[i] >= 0x7f)
            __builtin_trap();
    return 0;
}
