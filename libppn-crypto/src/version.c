#include "ppn/crypto.h"

PPN_EXPORT const char *ppn_crypto_version(void)
{
    return PPN_VERSION;
}
