/* Fuzz the short-code parser with and without a check symbol. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char canon[PPN_CRYPTO_CODE_CANONICAL_SIZE];
    for (uint32_t flags = 0; flags <= PPN_CRYPTO_CODE_CHECK; flags++) {
        size_t pos = (size_t)-1;
        int r = ppn_crypto_code_parse((const char *)data, size, flags, canon, &pos);
        if (r >= 0) {
            /* a parsed code is canonical and parses to itself */
            if ((size_t)r != strlen(canon) || r < PPN_CRYPTO_CODE_MIN_SYMBOLS ||
                r > PPN_CRYPTO_CODE_MAX_SYMBOLS)
                abort();
            char again[PPN_CRYPTO_CODE_CANONICAL_SIZE];
            if (ppn_crypto_code_parse(canon, strlen(canon), 0, again, NULL) != r ||
                strcmp(again, canon) != 0)
                abort();
        } else if (pos > size) {
            abort(); /* the error position is inside the input (or its end) */
        }
    }
    return 0;
}
