#include "notify.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int tool_notify(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !name[0])
        return 0;
    if (!state)
        return -EINVAL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len < 2 || len >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: the name has no terminating NUL */
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, salen);
    int r = n < 0 ? -errno : (size_t)n == strlen(state) ? 1 : -EIO;
    close(fd);
    return r;
}

int tool_notify_ready(const char *status)
{
    static bool sent;
    if (sent)
        return 0;
    sent = true;
    char buf[512];
    snprintf(buf, sizeof(buf), "READY=1%s%.400s", status ? "\nSTATUS=" : "", status ? status : "");
    return tool_notify(buf);
}

int tool_notify_stopping(void) { return tool_notify("STOPPING=1"); }
