/* A pull worker's result lines (tools/glue/pullres.h): what one writes the other reads back,
 * one record a line whatever the text holds, and malformed lines refused. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "pullres.h"

START_TEST(test_round_trip)
{
    char line[GLUE_PULL_LINE_MAX];
    uint64_t ticket = 0;
    int result = 0;
    const char *text = NULL;
    size_t n = glue_pull_line(line, 18446744073709551615ULL, -71, "node-b (10.8.0.2:7000): refused:\ta\nb");
    ck_assert_str_eq(line, "18446744073709551615\t-71\tnode-b (10.8.0.2:7000): refused: a b\n");
    ck_assert_uint_eq(n, strlen(line));
    line[n - 1] = 0;
    ck_assert_int_eq(glue_pull_parse(line, &ticket, &result, &text), 0);
    ck_assert_uint_eq(ticket, UINT64_MAX);
    ck_assert_int_eq(result, -71);
    ck_assert_str_eq(text, "node-b (10.8.0.2:7000): refused: a b");
    n = glue_pull_line(line, 3, 1, NULL);
    ck_assert_str_eq(line, "3\t1\t\n");
    line[n - 1] = 0;
    ck_assert_int_eq(glue_pull_parse(line, &ticket, &result, &text), 0);
    ck_assert_uint_eq(ticket, 3);
    ck_assert_int_eq(result, 1);
    ck_assert_str_eq(text, "");
    /* a text too long for a line is cut, the line still ends in its newline */
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    n = glue_pull_line(line, 5, -110, big);
    ck_assert_uint_eq(n, GLUE_PULL_LINE_MAX - 1);
    ck_assert_uint_eq(strlen(line), n);
    ck_assert_int_eq(line[n - 1], '\n');
    ck_assert_ptr_eq(strchr(line, '\n'), line + n - 1);
}
END_TEST

START_TEST(test_malformed)
{
    static const char *bad[] = {"", "x\t1\t", "1", "1\t", "1\t2", "1\tx\t", "-1\t0\t", "1 \t0\t",
                                "99999999999999999999\t0\t", "1\t99999999999\t", "1\t\t"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char l[64];
        strcpy(l, bad[i]);
        uint64_t ticket = 7;
        int result = 7;
        const char *text = "unset";
        ck_assert_msg(glue_pull_parse(l, &ticket, &result, &text) == -EBADMSG, "accepted '%s'", bad[i]);
        ck_assert_uint_eq(ticket, 7);
        ck_assert_int_eq(result, 7);
        ck_assert_str_eq(text, "unset");
    }
    ck_assert_int_eq(glue_pull_parse(NULL, NULL, NULL, NULL), -EBADMSG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pullres");
    TCase *tc = tcase_create("pullres");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_malformed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
