#include "ppn/vmm.h"

PPN_EXPORT const char *ppn_vmm_version(void)
{
    return PPN_VERSION;
}
