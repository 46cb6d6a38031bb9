/* The QMP client and the shutdown sequence against hostile monitors on
 * real UNIX sockets: an event flood, a full backlog, a monitor that breaks
 * the protocol, a QEMU killed by someone else, control characters in error
 * text.  Every call must return by its deadline. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-monitor.h"
#include "ppn-common.h"
#include "ppn/vmm.h"
#include "vmm-test.h"

static char dir[48], sock[100];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ppn-qmp-hostile-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
}

static void teardown(void)
{
    unlink(sock);
    rmdir(dir);
}

static int listen_on(const char *path, int backlog)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    return fd;
}

static void write_all_or_exit(int fd, const char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w <= 0)
            _exit(0);
        b += w;
        n -= (size_t)w;
    }
}

/* A monitor that completes the handshake, then writes events as fast as
 * it can and never answers. */
static pid_t flood_monitor(void)
{
    int lfd = listen_on(sock, 4);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0) {
        close(lfd);
        return pid;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    int c = accept(lfd, NULL, NULL);
    const char *greet = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
                        "\"package\": \"\"}, \"capabilities\": []}}\r\n";
    write_all_or_exit(c, greet, strlen(greet));
    char line[512];
    size_t k = 0;
    while (k < sizeof(line) - 1 && read(c, line + k, 1) == 1 && line[k] != '\n')
        k++;
    const char *ok = "{\"return\": {}, \"id\": 1}\r\n";
    write_all_or_exit(c, ok, strlen(ok));
    static char burst[65536];
    const char *ev = "{\"event\": \"RTC_CHANGE\", \"data\": {\"offset\": 0}, "
                     "\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n";
    size_t el = strlen(ev), n = 0;
    while (n + el <= sizeof(burst)) {
        memcpy(burst + n, ev, el);
        n += el;
    }
    for (;;)
        write_all_or_exit(c, burst, n);
}

START_TEST(test_event_flood_cannot_hold_a_call)
{
    pid_t mon = flood_monitor();
    ppn_qmp *q;
    ck_assert_int_eq(ppn_qmp_connect(sock, 5000, &q), 0);
    ppn_qmp_status st;
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_qmp_query_status(q, 500, &st), -ETIMEDOUT);
    uint64_t took = ppnc_now_mono_ms() - t0;
    ck_assert_msg(took < 5000, "query-status under a flood took %llu ms (deadline 500)", (unsigned long long)took);
    t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_qmp_wait_event(q, "NEVER", NULL, NULL, 300, NULL), -ETIMEDOUT);
    ck_assert_uint_lt(ppnc_now_mono_ms() - t0, 5000);
    /* a poll without waiting handles at most one queue's worth */
    t0 = ppnc_now_mono_ms();
    int n = ppn_qmp_poll(q, 0);
    ck_assert_int_ge(n, 0);
    ck_assert_int_le(n, (int)ppn_vmm_constant(PPN_VMM_CONSTANT_QMP_EVENT_QUEUE_MAX));
    ck_assert_uint_lt(ppnc_now_mono_ms() - t0, 5000);
    ck_assert_uint_gt(ppn_qmp_events_dropped(q), 0);
    ppn_qmp_free(q);
    kill(mon, SIGKILL);
    waitpid(mon, NULL, 0);
}
END_TEST

/* Fills a listening socket's backlog (nobody accepts); returns the count of
 * pending clients, their fds in 'fds'. */
static int fill_backlog(int *fds, int max)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
    int n = 0;
    while (n < max) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            close(fd);
            break;
        }
        fds[n++] = fd;
    }
    return n;
}

START_TEST(test_full_backlog_times_out)
{
    int lfd = listen_on(sock, 0), fds[64];
    int n = fill_backlog(fds, 64);
    ck_assert_int_lt(n, 64);
    ppn_qmp *q;
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_qmp_connect(sock, 300, &q), -ETIMEDOUT);
    uint64_t took = ppnc_now_mono_ms() - t0;
    ck_assert_uint_ge(took, 300);
    ck_assert_uint_lt(took, 5000);

    /* the shutdown sequence keeps trying through the guest's deadline
     * before it signals anyone */
    pid_t qemu = fork();
    ck_assert_int_ge(qemu, 0);
    if (qemu == 0) {
        signal(SIGTERM, SIG_DFL); /* not the test runner's handler */
        for (;;)
            pause();
    }
    ppn_vm_shutdown_opts o = vmm_test_shutdown_opts(sock, qemu, 1000);
    o.step_timeout_ms = 200;
    o.term_wait_ms = 3000;
    ppn_vm_shutdown_result res;
    ck_assert_int_eq(ppn_vm_shutdown(&o, NULL, NULL, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_SIGTERM);
    ck_assert_uint_eq(res.presses, 0);
    ck_assert_uint_ge(res.elapsed_ms, 1000);
    ck_assert_int_eq(res.last_error, -ETIMEDOUT);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    close(lfd);
}
END_TEST

struct seen {
    int down_ok; /* GUEST_DOWN reported as success */
    int sigterm;
};

static void on_step(ppn_vm_shutdown_step step, int result, uint64_t ms, void *ud)
{
    (void)ms;
    struct seen *s = ud;
    if (step == PPN_VM_SHUTDOWN_GUEST_DOWN && result == 0)
        s->down_ok++;
    if (step == PPN_VM_SHUTDOWN_SIGTERM)
        s->sigterm++;
}

START_TEST(test_protocol_error_is_not_a_guest_going_down)
{
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "this is not JSON\r\n", 0},
        {FM_SLEEP, 0, 20000},
        {FM_END, 0, 0},
    };
    /* with the process: the guest keeps its deadline, then SIGTERM */
    pid_t mon = fake_monitor_start(sock, steps);
    ppn_vm_shutdown_opts o = vmm_test_shutdown_opts(sock, mon, 800);
    o.step_timeout_ms = 1000;
    o.term_wait_ms = 3000;
    struct seen s = {0};
    ppn_vm_shutdown_result res;
    ck_assert_int_eq(ppn_vm_shutdown(&o, on_step, &s, &res), 0);
    ck_assert_int_eq(s.down_ok, 0);
    ck_assert_int_eq(s.sigterm, 1);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_SIGTERM);
    ck_assert_uint_ge(res.elapsed_ms, 800);
    fake_monitor_stop(mon);

    /* without it: nothing is known to be down */
    mon = fake_monitor_start(sock, steps);
    o.pid = 0;
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(ppn_vm_shutdown(&o, on_step, &s, &res), -ETIMEDOUT);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_NONE);
    ck_assert_int_eq(s.down_ok, 0);
    fake_monitor_stop(mon);
}
END_TEST

START_TEST(test_killed_by_someone_else_is_not_graceful)
{
    /* the button is acknowledged, then QEMU dies: no guest SHUTDOWN */
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0},
        {FM_SLEEP, 0, 200},
        {FM_CLOSE, 0, 0},
    };
    pid_t mon = fake_monitor_start(sock, steps);
    ppn_vm_shutdown_opts o = vmm_test_shutdown_opts(sock, mon, 3000);
    o.step_timeout_ms = 1000;
    ppn_vm_shutdown_result res;
    ck_assert_int_eq(ppn_vm_shutdown(&o, NULL, NULL, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_EXITED);
    fake_monitor_stop(mon);

    /* the same with a SHUTDOWN that QEMU sent on a signal */
    const struct fm_step signalled[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0},
        {FM_SLEEP, 0, 200},
        {FM_SEND, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-signal\"}}\r\n", 0},
        {FM_CLOSE, 0, 0},
    };
    mon = fake_monitor_start(sock, signalled);
    o.pid = 0;
    ck_assert_int_eq(ppn_vm_shutdown(&o, NULL, NULL, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_EXITED);
    fake_monitor_stop(mon);
}
END_TEST

START_TEST(test_error_text_neutralised)
{
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND,
         "{\"error\": {\"class\": \"Generic\\u001bError\", \"desc\": \"bad\\u001b[2J\\nline two\\r\"}, "
         "\"id\": %ID%}\r\n",
         0},
        {FM_END, 0, 0},
    };
    pid_t mon = fake_monitor_start(sock, steps);
    ppn_qmp *q;
    ck_assert_int_eq(ppn_qmp_connect(sock, 2000, &q), 0);
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 2000, NULL), -EREMOTEIO);
    ck_assert_str_eq(ppn_qmp_last_error_class(q), "Generic?Error");
    ck_assert_str_eq(ppn_qmp_last_error_desc(q), "bad?[2J?line two?");
    ppn_qmp_free(q);
    fake_monitor_stop(mon);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("qmp-hostile");
    TCase *tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_event_flood_cannot_hold_a_call);
    tcase_add_test(tc, test_full_backlog_times_out);
    tcase_add_test(tc, test_protocol_error_is_not_a_guest_going_down);
    tcase_add_test(tc, test_killed_by_someone_else_is_not_graceful);
    tcase_add_test(tc, test_error_text_neutralised);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
