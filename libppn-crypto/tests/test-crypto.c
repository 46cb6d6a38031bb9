#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/crypto.h"
#include "tests.h"

START_TEST(test_version)
{
    ck_assert_str_eq(ppn_crypto_version(), PPN_VERSION);
}
END_TEST

/* Every id of ppn_crypto_constant is its macro; one past the last is -EINVAL. */
static void check_constants_crypto(void)
{
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_KEY_BYTES), (int64_t)PPN_CRYPTO_KEY_BYTES);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_IDENTITY_SECRET_BYTES), (int64_t)PPN_CRYPTO_IDENTITY_SECRET_BYTES);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_KEY_B64_LEN), (int64_t)PPN_CRYPTO_KEY_B64_LEN);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_CPACE_SCALAR_BYTES), (int64_t)PPN_CRYPTO_CPACE_SCALAR_BYTES);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_CPACE_POINT_BYTES), (int64_t)PPN_CRYPTO_CPACE_POINT_BYTES);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_CPACE_ISK_BYTES), (int64_t)PPN_CRYPTO_CPACE_ISK_BYTES);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_CPACE_SID_OUTPUT_BYTES), (int64_t)PPN_CRYPTO_CPACE_SID_OUTPUT_BYTES);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_CODE_MIN_SYMBOLS), (int64_t)PPN_CRYPTO_CODE_MIN_SYMBOLS);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_CODE_MAX_SYMBOLS), (int64_t)PPN_CRYPTO_CODE_MAX_SYMBOLS);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_CODE_DEFAULT_SYMBOLS), (int64_t)PPN_CRYPTO_CODE_DEFAULT_SYMBOLS);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_CODE_STRING_SIZE), (int64_t)PPN_CRYPTO_CODE_STRING_SIZE);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_CODE_CANONICAL_SIZE), (int64_t)PPN_CRYPTO_CODE_CANONICAL_SIZE);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_SAS_STRING_SIZE), (int64_t)PPN_CRYPTO_SAS_STRING_SIZE);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_ENDPOINT_MAX), (int64_t)PPN_CRYPTO_ENDPOINT_MAX);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_HOSTNAME_MAX), (int64_t)PPN_CRYPTO_HOSTNAME_MAX);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_ADDRESS_MAX), (int64_t)PPN_CRYPTO_ADDRESS_MAX);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_DEFAULT_TIMEOUT_MS), (int64_t)PPN_CRYPTO_DEFAULT_TIMEOUT_MS);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_PROTOCOL_VERSION), (int64_t)PPN_CRYPTO_PROTOCOL_VERSION);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_SAS_DIGITS), (int64_t)PPN_CRYPTO_SAS_DIGITS);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_SESSION_RECV_DEFAULT_MAX + 1), -EINVAL);
    ck_assert_int_eq(ppn_crypto_constant(UINT32_MAX), -EINVAL);
}

START_TEST(test_sizes)
{
    check_constants_crypto();
    /* the ids are the ABI: fixed numbers */
    ck_assert_int_eq(ppn_crypto_constant(2), 44); /* KEY_B64_LEN */
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_DEFAULT_TIMEOUT_MS), 600000);
    ck_assert_int_eq(ppn_crypto_constant(17), 1); /* PROTOCOL_VERSION */
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_SESSION_RECORD_MAX), (int64_t)PPN_CRYPTO_SESSION_RECORD_MAX);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_SESSION_RECV_DEFAULT_MAX), (int64_t)PPN_CRYPTO_SESSION_RECV_DEFAULT_MAX);
    ck_assert_int_eq(ppn_crypto_constant(PPN_CRYPTO_CONSTANT_SESSION_RECV_DEFAULT_MAX + 1), -EINVAL);
    for (uint32_t i = 0; i <= PPN_CRYPTO_CONSTANT_SESSION_RECV_DEFAULT_MAX; i++)
        ck_assert_int_gt(ppn_crypto_constant(i), 0);
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

#include "ppn-check.h"

int main(void)
{
    SRunner *sr = srunner_create(version_suite());
    srunner_add_suite(sr, cpace_suite());
    srunner_add_suite(sr, code_suite());
    srunner_add_suite(sr, keys_suite());
    srunner_add_suite(sr, record_suite());
    srunner_add_suite(sr, session_suite());
    return ppn_check_runner(sr, CK_NORMAL);
}
