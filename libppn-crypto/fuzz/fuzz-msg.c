/* Fuzz the message and node-record decoders (CBOR from the network). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpace.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msg m;
    if (msg_decode(data, size, &m) == 0) {
        /* what decodes re-encodes and decodes to the same fields */
        cbuf b;
        cbuf_init(&b);
        if (msg_encode(&m, &b) == 0) {
            msg m2;
            if (msg_decode(b.data + 2, b.len - 2, &m2) != 0 || m2.type != m.type ||
                m2.ad_len != m.ad_len || m2.ct_len != m.ct_len)
                abort();
        }
        cbuf_wipe_free(&b);
    }
    ppn_crypto_node_record r;
    if (record_decode(data, size, &r) == 0 && ppn_crypto_node_record_validate(&r) != 0)
        abort();
    return 0;
}
