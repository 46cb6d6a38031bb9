#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/crypto.h"

START_TEST(test_version)
{
    ck_assert_str_eq(ppn_crypto_version(), PPN_VERSION);
}
END_TEST

static Suite *version_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, test_version);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(version_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
