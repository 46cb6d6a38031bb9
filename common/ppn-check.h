/* Test-only (never included by a library or a tool): the tail every Check
 * test program's main() ends with.  CK_FORK, CK_RUN_SUITE and CK_RUN_CASE
 * from the environment apply as Check reads them. */
#ifndef PPN_CHECK_H
#define PPN_CHECK_H

#include <check.h>

/* Runs every suite of 'sr' printing as 'mode' says, frees it and returns the
 * exit status: 0 when every check passed, else 1 (never the failure count,
 * which as an exit status could wrap to 0 or read as 77, "skipped"). */
static inline int ppn_check_runner(SRunner *sr, enum print_output mode)
{
    srunner_run_all(sr, mode);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

/* ppn_check_runner for one suite, CK_NORMAL. */
static inline int ppn_check_run(Suite *s)
{
    return ppn_check_runner(srunner_create(s), CK_NORMAL);
}

#endif
