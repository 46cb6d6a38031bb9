/* Readiness notification for the ppn-* services run by systemd (Type=notify),
 * written from the protocol (sd_notify(3)): one datagram of "KEY=VALUE"
 * lines to the AF_UNIX socket named by $NOTIFY_SOCKET — a path, or an
 * abstract name written "@name".  No libsystemd. */
#pragma once

/* Sends 'state' (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET.
 * Returns 1 when sent, 0 when there is no $NOTIFY_SOCKET (not run by
 * systemd: nothing to do), or a negative errno: -EINVAL for a name that is
 * neither an absolute path nor "@name" or too long for sun_path, or a
 * send error.  Never blocks (MSG_DONTWAIT). */
int tool_notify(const char *state);
/* tool_notify("READY=1\nSTATUS=<status>") (status may be NULL), at most
 * once per process: later calls return 0. */
int tool_notify_ready(const char *status);
/* tool_notify("STOPPING=1"). */
int tool_notify_stopping(void);
