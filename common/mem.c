/* Heap buffers that may hold secrets. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppn-common.h"

void *ppnc_grow_wiped(void *old, size_t len, size_t *cap, size_t need, size_t initial)
{
    if (need <= *cap)
        return old;
    if (need > SIZE_MAX / 2)
        return NULL;
    size_t c = *cap ? *cap : initial;
    while (c < need)
        c *= 2;
    /* Not realloc: the old copy may hold secrets and must be wiped. */
    uint8_t *n = malloc(c);
    if (!n)
        return NULL;
    if (old) {
        memcpy(n, old, len);
        ppnc_wipe(old, *cap);
        free(old);
    }
    *cap = c;
    return n;
}
