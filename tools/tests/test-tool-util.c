/* The command-line kit of tool-util: every checker against its edges; TCP with deadlines. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "ppn-common.h"
#include "tool-util.h"

START_TEST(test_uint)
{
    char why[TOOL_WHY_MAX];
    uint64_t v = 7;
    ck_assert_int_eq(tool_parse_uint("0", 0, 10, &v, why), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(tool_parse_uint("65535", 1, 65535, &v, why), 0);
    ck_assert_uint_eq(v, 65535);
    ck_assert_int_eq(tool_parse_uint("18446744073709551615", 0, UINT64_MAX, &v, why), 0);
    ck_assert(v == UINT64_MAX);
    v = 7;
    static const char *const bad[] = {"", "abc", "-1", "+1", " 1", "1 ", "0x10", "1e3", "12a", "65536",
                                      "18446744073709551616", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        ck_assert_msg(tool_parse_uint(bad[i], 1, 65535, &v, why) == -EINVAL, "accepted '%s'", bad[i]);
        ck_assert_msg(why[0], "no reason for '%s'", bad[i]);
        ck_assert_uint_eq(v, 7); /* untouched */
    }
    ck_assert_int_eq(tool_parse_uint("0", 1, 10, &v, why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "1..10"));
    ck_assert_int_eq(tool_parse_uint(NULL, 1, 10, &v, why), -EINVAL);
}
END_TEST

START_TEST(test_uint_hex)
{
    uint64_t v = 1;
    char why[TOOL_WHY_MAX];
    ck_assert_int_eq(tool_parse_uint_hex("0", 0, 10, &v, why), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(tool_parse_uint_hex("0x10", 0, 100, &v, why), 0);
    ck_assert_uint_eq(v, 16);
    ck_assert_int_eq(tool_parse_uint_hex("0xfF", 0, 1000, &v, why), 0);
    ck_assert_uint_eq(v, 255);
    ck_assert_int_eq(tool_parse_uint_hex("010", 0, 100, &v, why), 0);
    ck_assert_uint_eq(v, 10);
    ck_assert_int_eq(tool_parse_uint_hex("08", 0, 100, &v, why), 0);
    ck_assert_uint_eq(v, 8);
    ck_assert_int_eq(tool_parse_uint_hex("4294967295", 0, 0xffffffff, &v, why), 0);
    ck_assert_uint_eq(v, 4294967295u);
    ck_assert_int_eq(tool_parse_uint_hex("0xffffffffffffffff", 0, UINT64_MAX, &v, why), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    v = 7;
    const char *bad[] = {"", "abc", "-1", "+1", " 1", "1 ", "0x", "0X10", "0x1g", "1x", "0x-1", "0x10000000000000000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(tool_parse_uint_hex(bad[i], 0, UINT64_MAX, &v, why) == -EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(tool_parse_uint_hex(NULL, 0, 1, &v, why), -EINVAL);
    ck_assert_int_eq(tool_parse_uint_hex("0x100000000", 0, 0xffffffff, &v, why), -EINVAL);
    ck_assert_str_eq(why, "4294967296 is out of range 0..4294967295");
    ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(test_seconds)
{
    char why[TOOL_WHY_MAX];
    uint64_t ms = 1;
    ck_assert_int_eq(tool_parse_seconds_ms("1.5", 0, 60000, &ms, why), 0);
    ck_assert_uint_eq(ms, 1500);
    ck_assert_int_eq(tool_parse_seconds_ms("600", 1000, 3600000, &ms, why), 0);
    ck_assert_uint_eq(ms, 600000);
    ck_assert_int_eq(tool_parse_seconds_ms(".25", 0, 1000, &ms, why), 0);
    ck_assert_uint_eq(ms, 250);
    ms = 9;
    static const char *const bad[] = {"", "abc", "-1", "1s", ".", "1.2.3", "3601", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(tool_parse_seconds_ms(bad[i], 1000, 3600000, &ms, why) == -EINVAL, "accepted '%s'", bad[i]);
        ck_assert_uint_eq(ms, 9);
    }
    ck_assert_int_eq(tool_parse_seconds_ms("0", 1000, 3600000, &ms, why), -EINVAL);
}
END_TEST

START_TEST(test_ifname)
{
    char why[TOOL_WHY_MAX];
    ck_assert_int_eq(tool_check_ifname("wg0", why), 0);
    ck_assert_int_eq(tool_check_ifname("abcdefghijklmno", why), 0); /* 15 */
    ck_assert_int_eq(tool_check_ifname("abcdefghijklmnop", why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "at most 15"));
    static const char *const bad[] = {"", ".", "..", "a/b", "a:b", "a b", "a\tb", "\x7f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(tool_check_ifname(bad[i], why) == -EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(tool_check_ifname(NULL, why), -EINVAL);
}
END_TEST

START_TEST(test_hostport)
{
    char why[TOOL_WHY_MAX], host[64];
    uint16_t port = 1;
    ck_assert_int_eq(tool_parse_hostport("127.0.0.1:51820", false, host, sizeof(host), &port, why), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_uint_eq(port, 51820);
    ck_assert_int_eq(tool_parse_hostport("[fd00::1]:7", false, host, sizeof(host), &port, why), 0);
    ck_assert_str_eq(host, "fd00::1");
    ck_assert_uint_eq(port, 7);
    ck_assert_int_eq(tool_parse_hostport("node-a.example:0", true, host, sizeof(host), &port, why), 0);
    ck_assert_uint_eq(port, 0);
    port = 3;
    static const char *const bad[] = {"127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:", "127.0.0.1", ":80",
                                      "fd00::1:80", "[fd00::1]80", "[fd00::1]", "h:abc", "h:-1", "h:65536"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(tool_parse_hostport(bad[i], false, host, sizeof(host), &port, why) == -EINVAL,
                      "accepted '%s'", bad[i]);
        ck_assert_uint_eq(port, 3);
    }
    char small[4];
    ck_assert_int_eq(tool_parse_hostport("abcd:1", false, small, sizeof(small), &port, why), -EINVAL);
}
END_TEST

/* What fn(arg) printed on stderr into out, and what it returned. */
static int on_stderr(int (*fn)(const void *arg), const void *arg, char *out, size_t size)
{
    char errf[] = "/tmp/test-tool-util-err-XXXXXX";
    int efd = mkstemp(errf);
    ck_assert_int_ge(efd, 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(efd, STDERR_FILENO);
    int r = fn(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(efd, out, size - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(efd);
    unlink(errf);
    return r;
}

static int check_key(const void *path)
{
    return tool_check_key_file(path);
}

/* What tool_check_key_file printed on stderr, and what it returned. */
static int key_check(const char *path, char *out, size_t size)
{
    return on_stderr(check_key, path, out, size);
}

static int print_lines(const void *text)
{
    tool_print_lines(text ? strdup(text) : NULL);
    return 0;
}

static int print_json(const void *text)
{
    tool_print_json_error(text ? strdup(text) : NULL);
    return 0;
}

/* What tool_print_lines (json false) or tool_print_json_error printed on stderr for a copy of 'in'. */
static void printed(bool json, const char *in, char *out, size_t size)
{
    (void)on_stderr(json ? print_json : print_lines, in, out, size);
}

START_TEST(test_print_lines)
{
    char msg[256];
    tool_set_name("t");
    printed(false, "one\ntwo\n", msg, sizeof(msg));
    ck_assert_str_eq(msg, "t: one\nt: two\n");
    printed(false, "no newline", msg, sizeof(msg));
    ck_assert_str_eq(msg, "t: no newline\n");
    printed(false, "", msg, sizeof(msg));
    ck_assert_str_eq(msg, "");
    printed(false, NULL, msg, sizeof(msg));
    ck_assert_str_eq(msg, "");
    printed(true, "{\"error\":\"fork\",\"n\":1}", msg, sizeof(msg));
    ck_assert_str_eq(msg, "{\"tool\":\"t\",\"error\":\"fork\",\"n\":1}\n");
    printed(true, "{}", msg, sizeof(msg));
    ck_assert_str_eq(msg, "{\"tool\":\"t\"}\n");
    printed(true, NULL, msg, sizeof(msg));
    ck_assert_str_eq(msg, "");
}
END_TEST

START_TEST(test_key_file)
{
    char dir[] = "/tmp/test-tool-util-XXXXXX", path[64], msg[512], want[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/a.key", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "k\n", 2), 2);
    close(fd);
    tool_set_name("t");
    ck_assert_int_eq(key_check(path, msg, sizeof(msg)), 0);
    ck_assert_str_eq(msg, "");
    static const struct { unsigned mode; const char *what; } bad[] = {
        {0644, "lets others read it"}, {0640, "lets others read it"}, {0604, "lets others read it"},
        {0620, "lets others write it"}, {0602, "lets others write it"},
        {0610, "gives others access to it"}, {0601, "gives others access to it"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(chmod(path, bad[i].mode), 0);
        ck_assert_int_eq(key_check(path, msg, sizeof(msg)), 1);
        snprintf(want, sizeof(want), "t: Refusing key file '%s': mode %04o %s; chmod 600 it\n", path,
                 bad[i].mode, bad[i].what);
        ck_assert_str_eq(msg, want);
    }
    ck_assert_int_eq(chmod(path, 0400), 0);
    ck_assert_int_eq(key_check(path, msg, sizeof(msg)), 0);
    /* another user's key, even 0600, even for root */
    if (geteuid() == 0) {
        ck_assert_int_eq(chmod(path, 0600), 0);
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        ck_assert_int_eq(key_check(path, msg, sizeof(msg)), 1);
        snprintf(want, sizeof(want), "t: Refusing key file '%s': owned by uid 65534, not by uid 0 "
                 "(this user) or root; chown it\n", path);
        ck_assert_str_eq(msg, want);
    }
    /* a file that cannot be opened is left to the loader to report */
    snprintf(path, sizeof(path), "%s/missing.key", dir);
    ck_assert_int_eq(key_check(path, msg, sizeof(msg)), 0);
    ck_assert_str_eq(msg, "");
    int ofd;
    ck_assert_int_eq(tool_open_key_file(path, &ofd), -ENOENT);
    /* not a regular file: no key at rest, the rule does not apply */
    ck_assert_int_eq(key_check("/dev/null", msg, sizeof(msg)), 0);
    snprintf(path, sizeof(path), "%s/a.key", dir);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* TCP with deadlines (tool-net.c) on the loopback: listen, connect, exact transfers, the
 * deadline, a peer that closes, refusals. */
START_TEST(test_tcp)
{
    ck_assert_int_eq(tool_left_ms(0), 0);
    ck_assert_int_eq(tool_left_ms(UINT64_MAX), INT32_MAX);
    int lfd = -1, cfd = -1, bfd = -1;
    ck_assert_int_eq(tool_tcp_listen("nonsense", 4, &lfd), -EINVAL);
    ck_assert_int_eq(tool_tcp_listen("127.0.0.1:70000", 4, &lfd), -EINVAL);
    ck_assert_int_eq(tool_tcp_listen("127.0.0.1:0", 4, &lfd), 0);
    ck_assert(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sa.sin_port));
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(tool_tcp_connect(addr, t0 + 2000, false, &cfd), 0);
    ck_assert(fcntl(cfd, F_GETFL) & O_NONBLOCK);
    ck_assert_int_eq(tool_tcp_connect(addr, t0 + 2000, true, &bfd), 0);
    ck_assert(!(fcntl(bfd, F_GETFL) & O_NONBLOCK));
    close(bfd);
    int afd = -1;
    for (int i = 0; i < 200 && afd < 0; i++) {
        afd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (afd < 0)
            usleep(10000);
    }
    ck_assert_int_ge(afd, 0);
    /* 1 MiB each way, more than the socket buffers hold: the loop with poll */
    size_t big = 1u << 20;
    uint8_t *out = malloc(big), *in = calloc(1, big);
    for (size_t i = 0; i < big; i++)
        out[i] = (uint8_t)(i * 7);
    pid_t pid = fork();
    if (pid == 0) {
        int r = tool_io_all(afd, true, out, big, ppnc_now_mono_ms() + 10000);
        _exit(r == 0 ? 0 : 1);
    }
    ck_assert_int_eq(tool_io_all(cfd, false, in, big, ppnc_now_mono_ms() + 10000), 0);
    ck_assert_mem_eq(in, out, big);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* nothing more comes: the deadline, not before */
    t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(tool_io_all(cfd, false, in, 1, t0 + 150), -ETIMEDOUT);
    ck_assert_uint_ge(ppnc_now_mono_ms() - t0, 150);
    /* the peer closes after 3 of 4 bytes */
    ck_assert_int_eq(tool_io_all(afd, true, out, 3, t0 + 2000), 0);
    close(afd);
    ck_assert_int_eq(tool_io_all(cfd, false, in, 4, ppnc_now_mono_ms() + 2000), -ECONNRESET);
    close(cfd);
    close(lfd);
    /* nobody listens there any more */
    ck_assert_int_eq(tool_tcp_connect(addr, ppnc_now_mono_ms() + 2000, false, &cfd), -ECONNREFUSED);
    ck_assert_int_eq(tool_tcp_connect("127.0.0.1", ppnc_now_mono_ms() + 2000, false, &cfd), -EINVAL);
    ck_assert_int_eq(tool_tcp_connect("127.0.0.1:0", ppnc_now_mono_ms() + 2000, false, &cfd), -EINVAL);
    free(out);
    free(in);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("tool-util");
    TCase *tc = tcase_create("kit");
    tcase_add_test(tc, test_uint);
    tcase_add_test(tc, test_uint_hex);
    tcase_add_test(tc, test_seconds);
    tcase_add_test(tc, test_ifname);
    tcase_add_test(tc, test_hostport);
    tcase_add_test(tc, test_key_file);
    tcase_add_test(tc, test_print_lines);
    tcase_add_test(tc, test_tcp);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
