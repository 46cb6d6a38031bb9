#include "tool-util.h"
#include "ppn-common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    if (!strcmp(sub, TOOL_LIST_COMMANDS)) {
        for (const struct tool_cmd *c = cmds; c->name; c++)
            printf("%s\n", c->name);
        return 0;
    }
    for (const struct tool_cmd *c = cmds; c->name; c++)
        if (!strcmp(c->name, sub))
            return c->run(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown command '%s'\n", tool, sub);
    fprintf(stderr, "Usage: %s <command> [options]  (see '%s --help')\n", tool, tool);
    return 1;
}

static bool json_errors;

void tool_set_json_errors(bool on) { json_errors = on; }
bool tool_json_errors(void) { return json_errors; }

/* A JSON string on stderr: quotes, backslashes and control bytes escaped. */
static void json_str(const char *s)
{
    fputc('"', stderr);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(stderr, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(stderr, "\\u%04x", c);
        else
            fputc(c, stderr);
    }
    fputc('"', stderr);
}

/* {"tool": ..., "error": message[, "errno": n, "code": "ENOENT"]} */
static void json_error(const char *message, int err)
{
    fputs("{\"tool\": ", stderr);
    json_str(tool_name);
    fputs(", \"error\": ", stderr);
    json_str(message);
    if (err > 0) {
        fprintf(stderr, ", \"errno\": %d", err);
        const char *code = strerrorname_np(err);
        if (code) {
            fputs(", \"code\": ", stderr);
            json_str(code);
        }
    }
    fputs("}\n", stderr);
}

int tool_fail(const char *verb, const char *what, int err)
{
    if (err < 0)
        err = -err;
    if (json_errors) {
        char m[1024];
        snprintf(m, sizeof(m), "Failed to %s '%s': %s", verb, what, strerror(err));
        json_error(m, err);
        return 1;
    }
    fprintf(stderr, "%s: Failed to %s '%s': %s\n", tool_name, verb, what, strerror(err));
    return 1;
}

void tool_print_lines(char *text)
{
    for (const char *p = text; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        fprintf(stderr, "%s: %.*s\n", tool_name, (int)n, p);
        p += n + (e != NULL);
    }
    free(text);
}

void tool_print_json_error(char *json)
{
    if (!json)
        return;
    fputs("{\"tool\":", stderr);
    json_str(tool_name);
    fprintf(stderr, "%s%s\n", json[0] == '{' && json[1] && json[1] != '}' ? "," : "", json[0] == '{' ? json + 1 : "}");
    free(json);
}

int tool_error(const char *fmt, ...)
{
    va_list ap;
    if (json_errors) {
        char m[1024];
        va_start(ap, fmt);
        vsnprintf(m, sizeof(m), fmt, ap);
        va_end(ap);
        json_error(m, 0);
        return 1;
    }
    fprintf(stderr, "%s: ", tool_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int tool_write_all(int fd, const void *buf, size_t len)
{
    return ppnc_write_all(fd, buf, len); /* the one write loop, common/ */
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

/* ---- the command-line kit ---- */

static int why_set(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int why_set(char *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, TOOL_WHY_MAX, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* At most 40 bytes of an argument, non-printable bytes as '?'. */
static const char *shown(const char *s, char buf[48])
{
    size_t k = 0;
    for (; s[k] && k < 40; k++)
        buf[k] = s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?';
    if (s[k])
        buf[k - 1] = '~';
    buf[k] = '\0';
    return buf;
}

/* The number in 'p' (after any prefix of 's') in 'base' (10 or 16) within [min, max]. */
static int parse_uint_base(const char *s, const char *p, unsigned base, uint64_t min, uint64_t max, uint64_t *ret,
                           char why[TOOL_WHY_MAX])
{
    char b[48];
    uint64_t v = 0;
    for (const char *q = p; *q || q == p; q++) {
        unsigned d = *q >= '0' && *q <= '9' ? (unsigned)(*q - '0')
                     : base == 16 && *q >= 'a' && *q <= 'f' ? (unsigned)(*q - 'a' + 10)
                     : base == 16 && *q >= 'A' && *q <= 'F' ? (unsigned)(*q - 'A' + 10) : 99;
        if (d >= base)
            return why_set(why, "'%s' is not a whole number (%llu..%llu)", shown(s, b), (unsigned long long)min,
                           (unsigned long long)max);
        if (v > (UINT64_MAX - d) / base)
            return why_set(why, "'%s' is above the maximum %llu", shown(s, b), (unsigned long long)max);
        v = v * base + d;
    }
    if (v < min || v > max)
        return why_set(why, "%llu is out of range %llu..%llu", (unsigned long long)v, (unsigned long long)min,
                       (unsigned long long)max);
    *ret = v;
    return 0;
}

int tool_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret, char why[TOOL_WHY_MAX])
{
    if (!s || !*s)
        return why_set(why, "a number in %llu..%llu is needed", (unsigned long long)min,
                       (unsigned long long)max);
    return parse_uint_base(s, s, 10, min, max, ret, why);
}

int tool_parse_uint_hex(const char *s, uint64_t min, uint64_t max, uint64_t *ret, char why[TOOL_WHY_MAX])
{
    if (s && s[0] == '0' && s[1] == 'x')
        return parse_uint_base(s, s + 2, 16, min, max, ret, why);
    return tool_parse_uint(s, min, max, ret, why);
}

int tool_parse_seconds_ms(const char *s, uint64_t min_ms, uint64_t max_ms, uint64_t *ret_ms,
                          char why[TOOL_WHY_MAX])
{
    char b[48];
    uint64_t whole = 0, ms = 0;
    const char *p = s ? s : "";
    int digits = 0;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > UINT64_MAX / 10000)
            return why_set(why, "'%s' seconds is too long (at most %.3g)", shown(s, b), max_ms / 1000.0);
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        for (uint64_t scale = 100; *p >= '0' && *p <= '9'; p++, digits++, scale /= 10)
            ms += (uint64_t)(*p - '0') * scale;
    }
    if (*p || digits == 0)
        return why_set(why, "'%s' is not a number of seconds", shown(s ? s : "", b));
    uint64_t v = whole * 1000 + ms;
    if (v < min_ms || v > max_ms)
        return why_set(why, "%s s is out of range %.3g..%.3g s", shown(s, b), min_ms / 1000.0, max_ms / 1000.0);
    *ret_ms = v;
    return 0;
}

int tool_check_ifname(const char *s, char why[TOOL_WHY_MAX])
{
    char b[48];
    size_t n = s ? strlen(s) : 0;
    if (n == 0)
        return why_set(why, "an interface name is needed");
    if (n > 15)
        return why_set(why, "'%s' is %zu bytes; an interface name is at most 15", shown(s, b), n);
    if (!strcmp(s, ".") || !strcmp(s, ".."))
        return why_set(why, "'%s' is not an interface name", s);
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == ':' || s[i] <= ' ' || s[i] >= 0x7f)
            return why_set(why, "'%s' has a character an interface name cannot hold", shown(s, b));
    return 0;
}

int tool_parse_hostport(const char *s, bool allow_zero, char *host, size_t host_size, uint16_t *ret_port,
                        char why[TOOL_WHY_MAX])
{
    char b[48];
    const char *colon, *h = s ? s : "";
    size_t hl;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (!close || close[1] != ':')
            return why_set(why, "'%s' is not [ADDRESS]:PORT", shown(h, b));
        h++;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (!colon || strchr(h, ':') != colon)
            return why_set(why, "'%s' is not HOST:PORT", shown(h, b));
        hl = (size_t)(colon - h);
    }
    if (hl == 0)
        return why_set(why, "'%s' has no host", shown(s, b));
    if (hl >= host_size)
        return why_set(why, "the host of '%s' is too long", shown(s, b));
    uint64_t port;
    char pw[TOOL_WHY_MAX];
    if (tool_parse_uint(colon + 1, allow_zero ? 0 : 1, 65535, &port, pw) < 0)
        return why_set(why, "port of '%s': %s", shown(s, b), pw);
    memcpy(host, h, hl);
    host[hl] = '\0';
    *ret_port = (uint16_t)port;
    return 0;
}

int tool_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    char m[1024];
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    if (json_errors) {
        char u[1400];
        snprintf(u, sizeof(u), "%s (usage: %s %s)", m, tool_name, usage);
        json_error(u, 0);
        return 1;
    }
    fprintf(stderr, "%s: %s\nUsage: %s %s\n", tool_name, m, tool_name, usage);
    return 1;
}

int tool_no_operands(int argc, char **argv, int first, const char *usage)
{
    char b[48];
    if (first >= argc)
        return 0;
    return tool_usage_error(usage, "unexpected argument '%s'", shown(argv[first], b));
}

/* ---- secret key files ---- */

int tool_check_key_fd(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return tool_fail("check key file", path, -errno);
    if (!S_ISREG(st.st_mode))
        return 0;
    unsigned mode = (unsigned)(st.st_mode & 07777);
    if (st.st_mode & 077) {
        const char *what = st.st_mode & 044 ? "lets others read it"
                           : st.st_mode & 022 ? "lets others write it" : "gives others access to it";
        return tool_error("Refusing key file '%s': mode %04o %s; chmod 600 it", path, mode, what);
    }
    uid_t me = geteuid();
    if (st.st_uid != me && st.st_uid != 0)
        return tool_error("Refusing key file '%s': owned by uid %u, not by uid %u (this user) or root; "
                          "chown it", path, (unsigned)st.st_uid, (unsigned)me);
    return 0;
}

int tool_open_key_file(const char *path, int *ret_fd)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    if (tool_check_key_fd(fd, path)) {
        close(fd);
        return 1;
    }
    *ret_fd = fd;
    return 0;
}

int tool_check_key_file(const char *path)
{
    int fd;
    int r = tool_open_key_file(path, &fd);
    if (r != 0)
        return r > 0 ? 1 : 0;
    close(fd);
    return 0;
}
