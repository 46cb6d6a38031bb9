#include "ppn/ledger.h"

PPN_EXPORT const char *ppn_ledger_version(void)
{
    return PPN_VERSION;
}
