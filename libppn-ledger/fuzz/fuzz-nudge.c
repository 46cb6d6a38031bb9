/* The nudge datagram (what the replica service takes from the network before anything else):
 * the parser, then the engine's datagram path with the first bytes as the source address. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "ppn/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t cp = 0;
    int r = ppn_ledger_nudge_parse(data, size, &cp);
    if (r != 0 && r != -EBADMSG)
        __builtin_trap();
    if (r == 0) {
        /* only exactly 16 bytes with the magic; encoding gives back the same bytes */
        uint8_t again[PPN_LEDGER_NUDGE_BYTES];
        size_t len = 0;
        if (size != PPN_LEDGER_NUDGE_BYTES || memcmp(data, "PPNNUDG1", 8) != 0 ||
            ppn_ledger_nudge_encode(cp, again, sizeof(again), &len) != 0 || len != size ||
            memcmp(again, data, size) != 0)
            __builtin_trap();
    } else if (size == PPN_LEDGER_NUDGE_BYTES && memcmp(data, "PPNNUDG1", 8) == 0) {
        __builtin_trap();
    }
    /* The engine: 4 bytes of the input are the IPv4 source, the rest the datagram. */
    static const ppn_ledger_replica_member m[] = {{.name = "b", .address = "10.8.0.2"},
                                                  {.name = "c", .address = "fd00::3"}};
    static const ppn_ledger_replica_config cfg = {0};
    ppn_ledger_replica *e = NULL;
    if (ppn_ledger_replica_new(&cfg, 1000, &e) != 0 || ppn_ledger_replica_set_members(e, m, 2, 1000) != 0)
        __builtin_trap();
    if (size >= 4) {
        struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(7411)};
        memcpy(&from.sin_addr, data, 4);
        r = ppn_ledger_replica_datagram(e, data + 4, size - 4, (struct sockaddr *)&from, sizeof(from), 1000);
        bool member = !memcmp(data, "\x0a\x08\x00\x02", 4);
        bool nudge = ppn_ledger_nudge_parse(data + 4, size - 4, NULL) == 0;
        if (r != (!nudge ? -EBADMSG : member ? 0 : -EADDRNOTAVAIL))
            __builtin_trap();
        ppn_ledger_replica_pull p;
        if (ppn_ledger_replica_next(e, 1000, &p) != 1) /* the first round */
            __builtin_trap();
    }
    ppn_ledger_replica_free(e);
    return 0;
}
