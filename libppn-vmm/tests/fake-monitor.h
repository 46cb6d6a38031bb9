/* A scripted fake QMP monitor on a real UNIX socket, run in a child process:
 * the client under test talks to it exactly as to QEMU. */
#pragma once

#include <sys/types.h>

enum fm_op {
    FM_END = 0,
    FM_SEND,    /* write 'text' ("%ID%" becomes the id of the last request read) */
    FM_RECV,    /* read one request line, remember its id */
    FM_SLEEP,   /* sleep 'ms' */
    FM_CLOSE,   /* close the connection and exit */
    FM_HANDSHAKE, /* greeting, read qmp_capabilities, reply */
};

struct fm_step {
    enum fm_op op;
    const char *text;
    unsigned ms;
};

/* Listens on 'path' (replacing it) and forks a child that accepts one
 * connection and runs 'steps'; after FM_END it waits for the client to close.
 * Returns the child's pid. */
pid_t fake_monitor_start(const char *path, const struct fm_step *steps);
/* Kills and reaps the child. */
void fake_monitor_stop(pid_t pid);
