#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/crypto.h"
#include "tests.h"

START_TEST(test_version)
{
    ck_assert_str_eq(ppn_crypto_version(), PPN_VERSION);
}
END_TEST

START_TEST(test_sizes)
{
    ck_assert_int_eq(ppn_crypto_size(PPN_CRYPTO_SIZE_KEY_B64_LEN), 44);
    ck_assert_int_eq(ppn_crypto_size(PPN_CRYPTO_SIZE_SAS_STRING_SIZE), PPN_CRYPTO_SAS_STRING_SIZE);
    ck_assert_int_eq(ppn_crypto_size(PPN_CRYPTO_SIZE_DEFAULT_TIMEOUT_MS), 600000);
    ck_assert_int_eq(ppn_crypto_size(PPN_CRYPTO_SIZE_PROTOCOL_VERSION), 1);
    for (int i = 0; i <= PPN_CRYPTO_SIZE_PROTOCOL_VERSION; i++)
        ck_assert_int_gt(ppn_crypto_size((ppn_crypto_size_id)i), 0);
    ck_assert_int_lt(ppn_crypto_size((ppn_crypto_size_id)999), 0);
}
END_TEST

static Suite *version_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_sizes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(version_suite());
    srunner_add_suite(sr, cpace_suite());
    srunner_add_suite(sr, code_suite());
    srunner_add_suite(sr, keys_suite());
    srunner_add_suite(sr, record_suite());
    srunner_add_suite(sr, session_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}
