#include "ppn-common.h"

#include <time.h>

static uint64_t now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t ppnc_now_mono_ns(void) { return now_ns(CLOCK_MONOTONIC); }
uint64_t ppnc_now_mono_ms(void) { return now_ns(CLOCK_MONOTONIC) / 1000000ULL; }
uint64_t ppnc_now_real_ns(void) { return now_ns(CLOCK_REALTIME); }
