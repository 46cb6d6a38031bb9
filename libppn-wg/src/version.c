#include "ppn/wg.h"

PPN_EXPORT const char *ppn_wg_version(void)
{
    return PPN_VERSION;
}
