/* Shared by the ppn-* tools (not by the libraries): the subcommand table,
 * the error sentence, reading secrets without argv. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct tool_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    const char *help;                  /* one line */
};

/* Dispatch argv[1] through 'cmds' (terminated by a NULL name).  Handles
 * -h/--help/help (to stdout, exit 0), --version and the hidden
 * TOOL_LIST_COMMANDS (the command names, one a line, exit 0: what the bash
 * completion in completions/ asks for); an unknown subcommand gets one line
 * on stderr plus the usage line, exit 1.  Returns the exit status of the
 * subcommand. */
#define TOOL_LIST_COMMANDS "--list-commands"
int tool_dispatch(const char *tool, const char *version, const struct tool_cmd *cmds,
                  int argc, char **argv);
void tool_usage(FILE *f, const char *tool, const struct tool_cmd *cmds);

/* "Failed to <verb> '<what>': <strerror(-err)>" on stderr.  Returns 1. */
int tool_fail(const char *verb, const char *what, int err);
/* With --json: tool_fail and tool_error write one JSON object on stderr,
 * {"tool", "error"[, "errno", "code"]}, instead of a sentence. */
void tool_set_json_errors(bool on);
bool tool_json_errors(void);
/* One line on stderr: "<tool>: <message>".  Returns 1. */
int tool_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tool_set_name(const char *name);
/* The text of a library's formatter (whole lines, e.g. ppn_ledger_report_format) on stderr,
 * each line after the tool's name as tool_error puts it; frees 'text' (NULL: nothing). */
void tool_print_lines(char *text);
/* A library's compact JSON object of an error on stderr, the tool's name first
 * ({"tool":"<name>",...}), and a newline; frees 'json' (NULL: nothing). */
void tool_print_json_error(char *json);

/* write() until all of 'buf' is written, retrying EINTR and short writes.
 * 0, or a negative errno (-EIO if the fd stops accepting bytes). */
int tool_write_all(int fd, const void *buf, size_t len);

/* Reads one line (a secret or a code) from 'fd' without echo when it is a
 * terminal; strips the newline.  Returns length or a negative errno. */
int tool_read_secret_line(int fd, const char *prompt, char *buf, size_t size);

/* Asks "<question> [y/N] " on the terminal; true only for y/yes. */
bool tool_confirm(const char *question);

/* ---- the command-line kit: one way to check options ----
 * Every checker prints nothing; on failure it fills 'why' (a sentence
 * without the option name) and returns -EINVAL, so that the caller reports
 * it with tool_usage_error(usage, "--opt: %s", why) and exits 1. */
#define TOOL_WHY_MAX 160

/* A whole decimal number in [min, max] (no sign, no spaces, no suffix). */
int tool_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret, char why[TOOL_WHY_MAX]);
/* As tool_parse_uint, and hexadecimal after "0x" (still no sign, no spaces, no suffix; a
 * leading 0 is decimal), as wg(8) reads a fwmark. */
int tool_parse_uint_hex(const char *s, uint64_t min, uint64_t max, uint64_t *ret, char why[TOOL_WHY_MAX]);
/* Seconds in [min_ms, max_ms] as milliseconds; "1.5" allowed. */
int tool_parse_seconds_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *ret_ms,
                          char why[TOOL_WHY_MAX]);
/* A network interface name the kernel accepts: 1..15 bytes, no '/', ':',
 * whitespace, not "." or "..". */
int tool_check_ifname(const char *s, char why[TOOL_WHY_MAX]);
/* HOST:PORT or [V6]:PORT with a port in 1..65535 (0 too when 'allow_zero':
 * "any free port").  'host' receives the host part without brackets. */
int tool_parse_hostport(const char *s, bool allow_zero, char *host, size_t host_size, uint16_t *ret_port,
                        char why[TOOL_WHY_MAX]);

/* "<tool>: <message>" then "Usage: <tool> <usage>" on stderr.  Returns 1. */
int tool_usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Refuses positional arguments at argv[first..argc): tool_usage_error
 * naming the first one.  Returns 0 when there are none, else 1. */
int tool_no_operands(int argc, char **argv, int first, const char *usage);

/* ---- secret key files: one policy for every tool ----
 * A secret key file (an identity key, a WireGuard private or preshared key)
 * is read only when it is a regular file that
 *   - gives its group and others no access at all (mode & 077 == 0), and
 *   - is owned by the caller's effective uid, or by root.
 * Root is held to the same rule: a key owned by another user is refused
 * even when root could read it, because that user can replace it.  A file
 * that is not a regular file (a pipe such as <(cmd), /dev/stdin) holds no
 * key at rest, so the rule does not apply to it; the library that reads the
 * key may still refuse it.
 * A refusal is one line on stderr, e.g.
 *   ppn-ledger: Refusing key file 'a.key': mode 0644 lets others read it; chmod 600 it
 * and nothing else happens. */

/* Checks the open 'fd' of key file 'path'.  0 if it may be read; else the
 * refusal is printed and 1 returned (also when fstat fails). */
int tool_check_key_fd(int fd, const char *path);
/* Opens 'path' read-only and checks it.  0 with *ret_fd; 1 after a refusal
 * (printed); or a negative errno from open(2), nothing printed, for the
 * caller to report as it reports other read failures. */
int tool_open_key_file(const char *path, int *ret_fd);
/* For a key that a library opens itself (ppn_crypto_identity_load): opens,
 * checks and closes.  0 if it may be read or cannot be opened (the library's
 * load then reports why); 1 after a refusal (printed). */
int tool_check_key_file(const char *path);

/* ---- TCP with deadlines (tool-net.c) ----
 * Deadlines are absolute, in milliseconds of the monotonic clock (ppnc_now_mono_ms). */

/* Milliseconds until 'deadline' (0 when past), at most INT32_MAX: a poll() timeout. */
int tool_left_ms(uint64_t deadline);
/* A non-blocking listening TCP socket on HOST:PORT or [V6]:PORT (port 0: any free one; an empty
 * host: every address), SO_REUSEADDR.  0 with *ret_fd; -EINVAL a malformed address;
 * -EHOSTUNREACH a host that does not resolve; the negative errno of socket/bind/listen. */
int tool_tcp_listen(const char *addr, int backlog, int *ret_fd);
/* A TCP connection to HOST:PORT made before 'deadline' (-ETIMEDOUT), non-blocking or, with
 * 'blocking', blocking once connected.  Errors as tool_tcp_listen, and the connection's own
 * (-ECONNREFUSED ...). */
int tool_tcp_connect(const char *addr, uint64_t deadline, bool blocking, int *ret_fd);
/* Moves exactly 'len' bytes out of (out) or into 'buf' on a non-blocking socket before
 * 'deadline': 0; -ETIMEDOUT; -ECONNRESET the peer closed first; another negative errno. */
int tool_io_all(int fd, bool out, void *buf, size_t len, uint64_t deadline);
