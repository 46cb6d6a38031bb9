/* Shared by the ppn-* tools (not by the libraries): the subcommand table,
 * the error sentence, reading secrets without argv. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct tool_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *help;                  /* one line */
};

/* Dispatch argv[1] through 'cmds' (terminated by a NULL name).  Handles
 * -h/--help/help (to stdout, exit 0) and --version; an unknown subcommand
 * gets one line on stderr plus the usage line, exit 1.  Returns the exit
 * status of the subcommand. */
int tool_dispatch(const char *tool, const char *version, const struct tool_cmd *cmds,
                  int argc, char **argv);
void tool_usage(FILE *f, const char *tool, const struct tool_cmd *cmds);

/* "Failed to <verb> '<what>': <strerror(-err)>" on stderr.  Returns 1. */
int tool_fail(const char *verb, const char *what, int err);
/* One line on stderr: "<tool>: <message>".  Returns 1. */
int tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tool_set_name(const char *name);

/* write() until all of 'buf' is written, retrying EINTR and short writes.
 * 0, or a negative errno (-EIO if the fd stops accepting bytes). */
int tool_write_all(int fd, const void *buf, size_t len);

/* Reads one line (a secret or a code) from 'fd' without echo when it is a
 * terminal; strips the newline.  Returns length or a negative errno. */
int tool_read_secret_line(int fd, const char *prompt, char *buf, size_t size);

/* Asks "<question> [y/N] " on the terminal; true only for y/yes. */
bool tool_confirm(const char *question);
