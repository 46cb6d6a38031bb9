/* tool_notify against real AF_UNIX datagram sockets, named by a path and
 * by an abstract "@name", as systemd sets $NOTIFY_SOCKET. */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

/* Binds a datagram socket at 'name' ("/path" or "@abstract"). */
static int listener(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
    return fd;
}

static void expect(int fd, const char *want)
{
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, want);
}

static void expect_none(int fd)
{
    char buf[64];
    ck_assert_int_lt(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0);
    ck_assert_int_eq(errno, EAGAIN);
}

START_TEST(test_path)
{
    char dir[] = "/tmp/ppn-notify-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify", dir);
    int fd = listener(path);
    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert_int_eq(tool_notify_ready("serving"), 1);
    expect(fd, "READY=1\nSTATUS=serving");
    ck_assert_int_eq(tool_notify_ready("again"), 0); /* once */
    expect_none(fd);
    ck_assert_int_eq(tool_notify_stopping(), 1);
    expect(fd, "STOPPING=1");
    close(fd);
    unlink(path);
    rmdir(dir);
    /* nobody listens any more: an error, not a hang */
    ck_assert_int_lt(tool_notify("READY=1"), 0);
}
END_TEST

START_TEST(test_abstract)
{
    char name[64];
    snprintf(name, sizeof(name), "@ppn-notify-test-%d", (int)getpid());
    int fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    ck_assert_int_eq(tool_notify_ready(NULL), 1);
    expect(fd, "READY=1");
    close(fd);
}
END_TEST

START_TEST(test_absent_and_bad)
{
    unsetenv("NOTIFY_SOCKET");
    ck_assert_int_eq(tool_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    ck_assert_int_eq(tool_notify("READY=1"), 0);
    static const char *const bad[] = {"relative/path", "@", "x", "/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("NOTIFY_SOCKET", bad[i], 1);
        ck_assert_msg(tool_notify("READY=1") == -EINVAL, "accepted '%s'", bad[i]);
    }
    char longname[200];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    ck_assert_int_eq(tool_notify("READY=1"), -EINVAL);
    setenv("NOTIFY_SOCKET", "@x", 1);
    ck_assert_int_eq(tool_notify(NULL), -EINVAL);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("notify");
    tcase_add_test(tc, test_path);
    tcase_add_test(tc, test_abstract);
    tcase_add_test(tc, test_absent_and_bad);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
