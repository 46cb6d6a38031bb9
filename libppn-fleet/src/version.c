#include "ppn/fleet.h"

PPN_EXPORT const char *ppn_fleet_version(void)
{
    return PPN_VERSION;
}
