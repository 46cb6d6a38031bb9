/* The real TCG guest of the tools' guest tests (test-pool, test-vmrun): the
 * tiny guest of tests/vmm-guest/build-guest.sh built (cached) into the
 * directory meson passes.  Usage of such a test: NAME BUILD-GUEST-SH GUEST-DIR */
#pragma once

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* Builds the guest and returns its directory (absolute), or NULL after a
 * message on stderr. */
static inline const char *guest_setup(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s BUILD-GUEST-SH GUEST-DIR\n", argv[0]);
        return NULL;
    }
    char cmd[2 * PATH_MAX + 8];
    snprintf(cmd, sizeof(cmd), "'%s' '%s'", argv[1], argv[2]);
    if (system(cmd) != 0) {
        fprintf(stderr, "build-guest.sh failed\n");
        return NULL;
    }
    const char *dir = realpath(argv[2], NULL);
    if (!dir)
        perror(argv[2]);
    return dir;
}
