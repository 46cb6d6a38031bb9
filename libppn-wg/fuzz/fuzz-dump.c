/* Fuzz harness for the WG_CMD_GET_DEVICE dump parser: the input is what
 * recv() returned on the generic netlink socket (one or more netlink
 * messages).  The family id is taken from the first message, as the kernel
 * would have assigned it.  A parsed device is also formatted. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t family = 0x20;
    if (size >= 6)
        memcpy(&family, data + 4, sizeof(family));
    /* A copy with netlink's 4-byte alignment, as recv() would give. */
    uint32_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    ppn_wg_device *d;
    if (ppn_wg_device_new(&d) < 0) {
        free(buf);
        return 0;
    }
    bool interrupted = false;
    int r = wg_parse_dump(d, buf, size, 0, 0, family, &interrupted);
    if (r >= 0) {
        char *text;
        if (ppn_wg_config_format(d, &text) == 0)
            free(text);
        for (size_t i = 0; i < ppn_wg_device_peer_count(d); i++) {
            ppn_wg_peer *p = ppn_wg_device_peer_at(d, i);
            uint8_t k[32];
            ppn_wg_peer_get_public_key(p, k);
            if (ppn_wg_device_find_peer(d, k) != p)
                abort(); /* merged peers must be unique */
        }
    }
    ppn_wg_device_free(d);
    free(buf);
    return 0;
}
