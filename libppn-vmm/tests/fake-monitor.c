#include "fake-monitor.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char greeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"fake\"}, "
    "\"capabilities\": [\"oob\"]}}\r\n";

static char last_id[64] = "null";

static void send_text(int fd, const char *t)
{
    char buf[4096];
    size_t o = 0;
    for (const char *p = t; *p && o < sizeof(buf) - 64;) {
        if (!strncmp(p, "%ID%", 4)) {
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s", last_id);
            p += 4;
        } else {
            buf[o++] = *p++;
        }
    }
    ssize_t w = write(fd, buf, o);
    (void)w;
}

static int recv_line(int fd)
{
    char line[65536];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t r = read(fd, line + n, 1);
        if (r <= 0)
            return -1;
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    json_t *o = json_loads(line, 0, NULL);
    json_t *id = json_object_get(o, "id");
    char *s = id ? json_dumps(id, JSON_ENCODE_ANY) : NULL;
    snprintf(last_id, sizeof(last_id), "%s", s ? s : "null");
    free(s);
    json_decref(o);
    return 0;
}

pid_t fake_monitor_start(const char *path, const struct fm_step *steps)
{
    unlink(path);
    int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 4) < 0)
        abort();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid > 0) {
        close(ls);
        return pid;
    }
    /* a stand-in for QEMU: signals do what they do to QEMU, not what the
     * test runner's handlers (inherited over fork) would do */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    int fd = accept(ls, NULL, NULL);
    if (fd < 0)
        _exit(1);
    for (const struct fm_step *s = steps; s->op != FM_END; s++) {
        switch (s->op) {
        case FM_SEND:
            send_text(fd, s->text);
            break;
        case FM_RECV:
            if (recv_line(fd) < 0)
                _exit(2);
            break;
        case FM_SLEEP: {
            struct timespec ts = {.tv_sec = s->ms / 1000, .tv_nsec = (long)(s->ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            break;
        }
        case FM_CLOSE:
            close(fd);
            _exit(0);
        case FM_HANDSHAKE:
            send_text(fd, greeting);
            if (recv_line(fd) < 0)
                _exit(2);
            send_text(fd, "{\"return\": {}, \"id\": %ID%}\r\n");
            break;
        case FM_END:
            break;
        }
    }
    char b[4096];
    while (read(fd, b, sizeof(b)) > 0)
        ;
    _exit(0);
}

void fake_monitor_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}
