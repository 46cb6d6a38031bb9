/* Small helpers shared by the libppn-crypto test files. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Decode hex (whitespace ignored) into out; returns the byte count. */
static inline size_t unhex(uint8_t *out, size_t max, const char *hex)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            if (n < max)
                out[n] = (uint8_t)(hi << 4 | v);
            n++;
            hi = -1;
        }
    }
    return n;
}
