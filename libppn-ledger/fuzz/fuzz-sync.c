/* The sync decoders: a request, and an answer's framing (versions 1 and 2, with cosignatures) (what a member reads from another
 * before anything is hashed or verified). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ppn_ledger_sync_request q;
    int r = ppn_ledger_sync_request_decode(data, size, &q);
    if (r == 0 && (strlen(q.origin) == 0 || strlen(q.origin) > PPN_LEDGER_TEXT_MAX))
        __builtin_trap();
    if (r != 0 && r != -EBADMSG && r != -E2BIG)
        __builtin_trap();
    struct sync_answer a;
    struct ppn_ledger_sync_report rep;
    memset(&rep, 0, sizeof(rep));
    r = sync_answer_decode(data, size, size, &a, &rep);
    if (r == 0) {
        /* Every part lies inside the bytes given, and in order. */
        const uint8_t *end = data + size;
        if (a.leaves > a.from || a.leaf + a.leaves * 32 > end || a.entry_off > size ||
            (const uint8_t *)a.note < data + a.entry_off || (const uint8_t *)a.note + a.note_len > end ||
            a.proof_count > PPN_LEDGER_PROOF_MAX ||
            (a.version == 1 && a.proof + a.proof_count * 32 != end) ||
            (a.version == 2 && (a.proof + a.proof_count * 32 + 1 != a.cosig || a.cosig != data + a.cosig_off ||
                                a.cosig_count > PPN_LEDGER_COSIGNATURES_MAX || a.cosig + a.cosig_count * 144 != end)) ||
            (a.count && a.leaves) || (a.count && a.from + a.count > a.cp.size))
            __builtin_trap();
    } else if ((r != -EBADMSG && r != -E2BIG) || !rep.why[0]) {
        __builtin_trap();
    }
    /* The bound is checked first: one byte under the length is refused as too big. */
    if (size && sync_answer_decode(data, size, size - 1, &a, &rep) != -E2BIG)
        __builtin_trap();
    return 0;
}
