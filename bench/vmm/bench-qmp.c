/* QMP round trips (query-status) per second through libppn-vmm, against the
 * floor of a bare write/read of the same bytes on the same socket, to the
 * same responder, in the same run.
 *
 *   bench-qmp [SECONDS_PER_PHASE] [QMP_SOCKET]     (default 3 s, own responder)
 *
 * With QMP_SOCKET the other end is a real QEMU monitor instead (e.g. a
 * ppn-vm guest's <state>/<name>/qmp.sock; nobody else may be connected).
 *
 * The responder is a child process on the other end of a UNIX socket that
 * speaks QMP: greeting, capabilities, then for every line it reads it
 * answers {"return": {"status": "running", ...}, "id": <the request's id>}.
 * It does exactly the same work in both phases. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ppn/vmm.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void responder(int ls)
{
    int fd = accept(ls, NULL, NULL);
    if (fd < 0)
        _exit(1);
    static const char greeting[] =
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, \"package\": \"bench\"}, "
        "\"capabilities\": [\"oob\"]}}\r\n";
    if (write(fd, greeting, sizeof(greeting) - 1) < 0)
        _exit(1);
    char buf[65536];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n <= 0)
            _exit(0);
        len += (size_t)n;
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
            *nl = '\0';
            const char *id = strstr(start, "\"id\":");
            long long v = id ? strtoll(id + 5, NULL, 10) : 0;
            char out[256];
            int m;
            if (strstr(start, "qmp_capabilities"))
                m = snprintf(out, sizeof(out), "{\"return\": {}, \"id\": %lld}\r\n", v);
            else
                m = snprintf(out, sizeof(out),
                             "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
                             "\"id\": %lld}\r\n", v);
            if (write(fd, out, (size_t)m) != m)
                _exit(1);
            start = nl + 1;
        }
        len -= (size_t)(start - buf);
        memmove(buf, start, len);
    }
}

/* The floor: the same request bytes out, the same reply bytes back. */
static int bare_round_trip(int fd, long long id, char *rbuf, size_t rsize)
{
    char req[128];
    int n = snprintf(req, sizeof(req), "{\"execute\":\"query-status\",\"id\":%lld}\n", id);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return -1;
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, rbuf + got, rsize - got, MSG_DONTWAIT);
        if (r > 0) {
            got += (size_t)r;
            if (memchr(rbuf, '\n', got))
                return 0;
            continue;
        }
        if (r == 0)
            return -1;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 5000);
    }
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    if (!(secs > 0)) {
        fprintf(stderr, "usage: bench-qmp [SECONDS_PER_PHASE]\n");
        return 1;
    }
    char path[108];
    pid_t child = -1;
    if (argc > 2) {
        snprintf(path, sizeof(path), "%s", argv[2]);
        printf("against the QEMU monitor %s\n", path);
    } else {
        snprintf(path, sizeof(path), "/tmp/ppn-bench-qmp-%d.sock", (int)getpid());
        unlink(path);
        int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0) {
            perror("socket");
            return 1;
        }
        child = fork();
        if (child == 0)
            responder(ls);
        close(ls);
        printf("against a QMP responder process\n");
    }
    ppn_qmp *q;
    int r = ppn_qmp_connect(path, 5000, &q);
    if (child > 0)
        unlink(path);
    if (r < 0) {
        fprintf(stderr, "connect: %s\n", strerror(-r));
        return 1;
    }
    int fd = ppn_qmp_fd(q);
    char rbuf[4096];
    long long id = 1000000;

    /* warm up both paths */
    ppn_qmp_status st;
    for (int i = 0; i < 2000; i++) {
        if (ppn_qmp_query_status(q, 5000, &st) < 0 || bare_round_trip(fd, id++, rbuf, sizeof(rbuf)) < 0)
            return 1;
    }
    /* Alternate short phases so that drift in the machine's load hits both
     * alike; report the totals and the best phase of each (the least
     * disturbed one, for a loaded machine). */
    enum { ROUNDS = 20 };
    double t_lib = 0, t_bare = 0, best_lib = 0, best_bare = 0;
    long n_lib = 0, n_bare = 0;
    for (int round = 0; round < ROUNDS; round++) {
        long n = 0;
        double t0 = now_s(), end = t0 + secs / ROUNDS;
        while (now_s() < end)
            for (int i = 0; i < 50; i++, n++)
                if (ppn_qmp_query_status(q, 5000, &st) < 0)
                    return 1;
        double dt = now_s() - t0;
        t_lib += dt;
        n_lib += n;
        if (n / dt > best_lib)
            best_lib = n / dt;
        n = 0;
        t0 = now_s();
        end = t0 + secs / ROUNDS;
        while (now_s() < end)
            for (int i = 0; i < 50; i++, n++)
                if (bare_round_trip(fd, id++, rbuf, sizeof(rbuf)) < 0)
                    return 1;
        dt = now_s() - t0;
        t_bare += dt;
        n_bare += n;
        if (n / dt > best_bare)
            best_bare = n / dt;
    }
    double lib_rate = n_lib / t_lib, bare_rate = n_bare / t_bare;
    printf("query-status via libppn-vmm: %8.0f round trips/s overall (%.2f us), best phase %8.0f/s (%.2f us)\n",
           lib_rate, 1e6 / lib_rate, best_lib, 1e6 / best_lib);
    printf("bare write/read, same bytes: %8.0f round trips/s overall (%.2f us), best phase %8.0f/s (%.2f us)\n",
           bare_rate, 1e6 / bare_rate, best_bare, 1e6 / best_bare);
    printf("ratio (time per round trip, library / floor): overall %.3fx, best phases %.3fx (aim <= 1.2x)\n",
           bare_rate / lib_rate, best_bare / best_lib);
    ppn_qmp_free(q);
    if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
    }
    return 0;
}
