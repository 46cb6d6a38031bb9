/* TCP with deadlines for the tools (tool-util.h): the one copy 'ppn-pair' serve, sync and the
 * ceremony use. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ppn-common.h"
#include "tool-util.h"

int tool_left_ms(uint64_t deadline)
{
    uint64_t now = ppnc_now_mono_ms();
    return now >= deadline ? 0 : (int)(deadline - now > INT32_MAX ? INT32_MAX : deadline - now);
}

static int resolve(const char *addr, bool listening, struct addrinfo **ret)
{
    char host[256], port[8], why[TOOL_WHY_MAX];
    uint16_t p;
    if (!addr || tool_parse_hostport(addr, listening, host, sizeof(host), &p, why) < 0)
        return -EINVAL;
    snprintf(port, sizeof(port), "%u", p);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | (listening ? AI_PASSIVE : 0)};
    return getaddrinfo(host[0] ? host : NULL, port, &hints, ret) == 0 ? 0 : -EHOSTUNREACH;
}

/* Listening (with 'backlog') or connected before 'deadline' (blocking after, with 'blocking'). */
static int tcp_open(const char *addr, bool listening, int backlog, uint64_t deadline, bool blocking, int *ret_fd)
{
    struct addrinfo *res;
    int r = resolve(addr, listening, &res);
    if (r < 0)
        return r;
    r = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            r = -errno;
            continue;
        }
        if (listening) {
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            r = bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0 ? 0 : -errno;
        } else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            int pr, err = 0;
            socklen_t el = sizeof(err);
            do
                pr = poll(&pf, 1, tool_left_ms(deadline));
            while (pr < 0 && errno == EINTR);
            if (pr == 0)
                r = -ETIMEDOUT;
            else if (pr < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                r = -errno;
            else
                r = -err;
        } else {
            r = -errno;
        }
        if (r == 0) {
            if (blocking)
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            *ret_fd = fd;
            break;
        }
        close(fd);
        if (r == -ETIMEDOUT)
            break;
    }
    freeaddrinfo(res);
    return r;
}

int tool_tcp_listen(const char *addr, int backlog, int *ret_fd)
{
    return tcp_open(addr, true, backlog, 0, false, ret_fd);
}

int tool_tcp_connect(const char *addr, uint64_t deadline, bool blocking, int *ret_fd)
{
    return tcp_open(addr, false, 0, deadline, blocking, ret_fd);
}

int tool_io_all(int fd, bool out, void *buf, size_t len, uint64_t deadline)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        struct pollfd pf = {.fd = fd, .events = out ? POLLOUT : POLLIN};
        int pr = poll(&pf, 1, tool_left_ms(deadline));
        if (pr == 0)
            return -ETIMEDOUT;
        if (pr < 0 && errno != EINTR)
            return -errno;
    }
    return 0;
}
