#include "tool-util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static const char *tool_name = "ppn";

void tool_set_name(const char *name) { tool_name = name; }

void tool_usage(FILE *f, const char *tool, const struct tool_cmd *cmds)
{
    fprintf(f, "Usage: %s <command> [options]\n\nCommands:\n", tool);
    for (const struct tool_cmd *c = cmds; c->name; c++)
        fprintf(f, "  %-12s %s\n", c->name, c->help);
    fprintf(f, "\n'%s <command> --help' describes a command.\n", tool);
}

int tool_dispatch(const char *tool, const char *version, const struct tool_cmd *cmds,
                  int argc, char **argv)
{
    tool_set_name(tool);
    if (argc < 2) {
        fprintf(stderr, "%s: a command is needed\n", tool);
        fprintf(stderr, "Usage: %s <command> [options]  (see '%s --help')\n", tool, tool);
        return 1;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        tool_usage(stdout, tool, cmds);
        return 0;
    }
    if (!strcmp(sub, "--version")) {
        printf("%s %s\n", tool, version);
        return 0;
    }
    for (const struct tool_cmd *c = cmds; c->name; c++)
        if (!strcmp(c->name, sub))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\n", tool, sub);
    fprintf(stderr, "Usage: %s <command> [options]  (see '%s --help')\n", tool, tool);
    return 1;
}

int tool_fail(const char *verb, const char *what, int err)
{
    if (err < 0)
        err = -err;
    fprintf(stderr, "%s: Failed to %s '%s': %s\n", tool_name, verb, what, strerror(err));
    return 1;
}

int tool_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", tool_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int tool_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int tool_read_secret_line(int fd, const char *prompt, char *buf, size_t size)
{
    if (size < 2)
        return -EINVAL;
    struct termios old, quiet;
    int tty = isatty(fd) && tcgetattr(fd, &old) == 0;
    if (tty) {
        if (prompt)
            fputs(prompt, stderr), fflush(stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    size_t n = 0;
    int r = 0;
    for (;;) {
        char c;
        ssize_t k = read(fd, &c, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            r = -errno;
            break;
        }
        if (k == 0 || c == '\n')
            break;
        if (n + 1 >= size) {
            r = -E2BIG;
            break;
        }
        buf[n++] = c;
    }
    if (tty) {
        tcsetattr(fd, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    return r < 0 ? r : (int)n;
}

bool tool_confirm(const char *question)
{
    char line[16];
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    if (!fgets(line, sizeof(line), stdin))
        return false;
    return !strcmp(line, "y\n") || !strcmp(line, "yes\n") || !strcmp(line, "Y\n");
}
