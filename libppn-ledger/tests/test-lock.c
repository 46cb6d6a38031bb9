/* ppn_ledger_open_wait (open.c): the writer lock waited for with a deadline, between real
 * processes contending for a real ledger directory's flock. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger-test.h"
#include "ppn-common.h"

static char *new_ledger(void)
{
    char *d = ledger_test_tmpdir("lock");
    uint8_t sk[64];
    ledger_test_key(sk, NULL, 7);
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/l", d);
    ppn_ledger *l = NULL;
    ck_assert_int_eq(ppn_ledger_create(dir, "lock.test/ledger", "10.8.0.0/24", sk, &l), 0);
    ppn_ledger_free(l);
    free(d);
    return strdup(dir);
}

/* A child process that takes the writer lock, says so on the pipe, holds it 'hold_ms', then
 * closes the ledger (or, with 'die', exits holding it: the kernel releases it). */
static pid_t holder(const char *dir, unsigned hold_ms, bool die)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        ppn_ledger *l = NULL;
        if (ppn_ledger_open(dir, PPN_LEDGER_OPEN_WRITE, &l) != 0)
            _exit(2);
        (void)!write(p[1], "x", 1);
        usleep(hold_ms * 1000);
        if (die)
            _exit(0);
        ppn_ledger_free(l);
        _exit(0);
    }
    close(p[1]);
    char c;
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    close(p[0]);
    return pid;
}

static void reap(pid_t pid)
{
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

START_TEST(test_wait_for_writer)
{
    char *dir = new_ledger();
    ppn_ledger *l = NULL;
    pid_t pid = holder(dir, 600, false);
    ck_assert_int_eq(ppn_ledger_open(dir, PPN_LEDGER_OPEN_WRITE, &l), -EBUSY);
    ck_assert_int_eq(ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, 0, &l), -EBUSY);
    /* too short: -EBUSY at the deadline, not before */
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, 100, &l), -EBUSY);
    uint64_t took = ppnc_now_mono_ms() - t0;
    ck_assert_uint_ge(took, 100);
    ck_assert_ptr_null(l);
    /* a reader does not wait */
    ck_assert_int_eq(ppn_ledger_open_wait(dir, 0, 5000, &l), 0);
    ppn_ledger_free(l);
    l = NULL;
    /* long enough: the lock, once the holder closed the ledger (well before the deadline) */
    t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, 20000, &l), 0);
    took = ppnc_now_mono_ms() - t0;
    ck_assert_uint_lt(took, 15000);
    reap(pid);
    /* and it is held: another process cannot write now */
    pid_t other = fork();
    if (other == 0) {
        ppn_ledger *o = NULL;
        _exit(ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, 50, &o) == -EBUSY ? 0 : 1);
    }
    reap(other);
    ppn_ledger_free(l);
    char *top = strdup(dir);
    *strrchr(top, '/') = '\0';
    ledger_test_rmrf(top);
    free(top);
    free(dir);
}
END_TEST

START_TEST(test_holder_dies)
{
    char *dir = new_ledger();
    ppn_ledger *l = NULL;
    pid_t pid = holder(dir, 300, true);
    ck_assert_int_eq(ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, 20000, &l), 0);
    reap(pid);
    /* the same process's second writer handle waits too, and gets -EBUSY at the deadline */
    ppn_ledger *l2 = NULL;
    ck_assert_int_eq(ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, 30, &l2), -EBUSY);
    ppn_ledger_free(l);
    ck_assert_int_eq(ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, 30, &l2), 0);
    ppn_ledger_free(l2);
    /* refusals */
    ck_assert_int_eq(ppn_ledger_open_wait(dir, PPN_LEDGER_OPEN_WRITE, PPN_LEDGER_OPEN_WAIT_MAX_MS + 1, &l2), -EINVAL);
    ck_assert_int_eq(ppn_ledger_open_wait(NULL, 0, 0, &l2), -EINVAL);
    ck_assert_int_eq(ppn_ledger_open_wait(dir, 0, 0, NULL), -EINVAL);
    ck_assert_int_eq(ppn_ledger_open_wait(dir, 1U << 5, 0, &l2), -EINVAL);
    ck_assert_int_eq(ppn_ledger_open_wait("/nonexistent/ledger", PPN_LEDGER_OPEN_WRITE, 10, &l2), -ENOENT);
    char *top = strdup(dir);
    *strrchr(top, '/') = '\0';
    ledger_test_rmrf(top);
    free(top);
    free(dir);
}
END_TEST

static Suite *lock_suite(void)
{
    Suite *s = suite_create("lock");
    TCase *tc = tcase_create("open-wait");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_wait_for_writer);
    tcase_add_test(tc, test_holder_dies);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ledger_test_main(lock_suite());
}
