/* Short codes: generation, lenient parsing, positioned errors, check symbol. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "code.h"
#include "ppn/crypto.h"
#include "tests.h"

static const char alpha[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static int parse(const char *t, uint32_t flags, char canon[PPN_CRYPTO_CODE_CANONICAL_SIZE], size_t *pos)
{
    return ppn_crypto_code_parse(t, strlen(t), flags, canon, pos);
}

START_TEST(test_generate_shapes)
{
    char buf[PPN_CRYPTO_CODE_STRING_SIZE], canon[PPN_CRYPTO_CODE_CANONICAL_SIZE];
    for (unsigned n = 6; n <= 10; n++) {
        for (int check = 0; check < 2; check++) {
            uint32_t f = check ? PPN_CRYPTO_CODE_CHECK : 0;
            int len = ppn_crypto_code_generate(n, f, buf, sizeof(buf));
            unsigned total = n + (unsigned)check;
            ck_assert_int_eq(len, (int)(total + (total - 1) / 4));
            ck_assert_uint_eq(strlen(buf), (size_t)len);
            for (int i = 0; i < len; i++) {
                if (i % 5 == 4)
                    ck_assert_int_eq(buf[i], '-');
                else if (!(check && i == len - 1))
                    ck_assert_ptr_nonnull(strchr(alpha, buf[i]));
            }
            ck_assert_int_eq(parse(buf, f, canon, NULL), (int)n);
        }
    }
    ck_assert_int_eq(ppn_crypto_code_generate(0, 0, buf, sizeof(buf)), 9); /* default 8 */
    ck_assert_int_eq(ppn_crypto_code_generate(5, 0, buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(ppn_crypto_code_generate(11, 0, buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(ppn_crypto_code_generate(8, 2, buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(ppn_crypto_code_generate(8, 0, buf, 9), -ENOBUFS);
    ck_assert_int_eq(ppn_crypto_code_generate(8, 0, buf, 10), 9);
}
END_TEST

START_TEST(test_generate_random)
{
    /* 200 codes of 8 symbols: no repeats, every symbol seen. */
    static char seen[200][PPN_CRYPTO_CODE_STRING_SIZE];
    int counts[32] = {0};
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(ppn_crypto_code_generate(8, 0, seen[i], sizeof(seen[i])), 9);
        for (int j = 0; j < i; j++)
            ck_assert_str_ne(seen[i], seen[j]);
        for (const char *p = seen[i]; *p; p++)
            if (*p != '-')
                counts[strchr(alpha, *p) - alpha]++;
    }
    for (int i = 0; i < 32; i++)
        ck_assert_int_gt(counts[i], 0);
}
END_TEST

START_TEST(test_parse_lenient)
{
    char canon[PPN_CRYPTO_CODE_CANONICAL_SIZE];
    ck_assert_int_eq(parse("7kq2-m9xd", 0, canon, NULL), 8);
    ck_assert_str_eq(canon, "7KQ2M9XD");
    ck_assert_int_eq(parse(" 7KQ2 M9XD ", 0, canon, NULL), 8);
    ck_assert_str_eq(canon, "7KQ2M9XD");
    ck_assert_int_eq(parse("oOiIlL", 0, canon, NULL), 6);
    ck_assert_str_eq(canon, "001111");
    ck_assert_int_eq(parse("--abc-def--", 0, canon, NULL), 6);
    ck_assert_str_eq(canon, "ABCDEF");
    ck_assert_int_eq(parse("0123456789", 0, canon, NULL), 10);
}
END_TEST

START_TEST(test_parse_errors)
{
    char canon[PPN_CRYPTO_CODE_CANONICAL_SIZE] = "untouched";
    size_t pos = 999;
    ck_assert_int_eq(parse("7KQ2-M9XU", 0, canon, &pos), -EBADMSG);
    ck_assert_uint_eq(pos, 8);
    ck_assert_int_eq(parse("7KQ2_M9XD", 0, canon, &pos), -EBADMSG);
    ck_assert_uint_eq(pos, 4);
    ck_assert_int_eq(parse("!KQ2M9XD", 0, canon, &pos), -EBADMSG);
    ck_assert_uint_eq(pos, 0);
    ck_assert_int_eq(parse("7KQ2M9X\xc3\xa9", 0, canon, &pos), -EBADMSG);
    ck_assert_uint_eq(pos, 7);
    ck_assert_int_eq(parse("7KQ*M9XD", PPN_CRYPTO_CODE_CHECK, canon, &pos), -EBADMSG);
    ck_assert_uint_eq(pos, 3);
    ck_assert_int_eq(parse("ABCDE", 0, canon, &pos), -EMSGSIZE);
    ck_assert_uint_eq(pos, 5);
    ck_assert_int_eq(parse("ABCDEFGHJKM", 0, canon, &pos), -EMSGSIZE);
    ck_assert_uint_eq(pos, 11);
    ck_assert_int_eq(parse("", 0, canon, &pos), -EMSGSIZE);
    ck_assert_uint_eq(pos, 0);
    ck_assert_int_eq(parse("---", PPN_CRYPTO_CODE_CHECK, canon, &pos), -EMSGSIZE);
    ck_assert_str_eq(canon, "untouched");
    /* an embedded NUL is a bad character at its offset */
    ck_assert_int_eq(ppn_crypto_code_parse("ABC\0DEFG", 8, 0, canon, &pos), -EBADMSG);
    ck_assert_uint_eq(pos, 3);
    ck_assert_int_eq(ppn_crypto_code_parse(NULL, 0, 0, canon, &pos), -EINVAL);
    ck_assert_int_eq(ppn_crypto_code_parse("ABCDEF", 6, 4, canon, &pos), -EINVAL);
    /* NULL position pointer is allowed */
    ck_assert_int_eq(parse("ABCDE", 0, canon, NULL), -EMSGSIZE);
}
END_TEST

START_TEST(test_check_symbol)
{
    char canon[PPN_CRYPTO_CODE_CANONICAL_SIZE];
    size_t pos = 0;
    /* "0000000" is 0 -> check '0'; 37 = 1*32 + 5 -> "15" mod 37 = 0 */
    ck_assert_int_eq(code_check_symbol("000000", 6), '0');
    ck_assert_int_eq(code_check_symbol("000015", 6), '0');
    ck_assert_int_eq(code_check_symbol("000014", 6), 'U');  /* 36 */
    ck_assert_int_eq(code_check_symbol("000010", 6), '*');  /* 32 */
    ck_assert_int_eq(code_check_symbol("000011", 6), '~');
    ck_assert_int_eq(code_check_symbol("000012", 6), '$');
    ck_assert_int_eq(code_check_symbol("000013", 6), '=');
    ck_assert_int_eq(parse("000014u", PPN_CRYPTO_CODE_CHECK, canon, &pos), 6);
    ck_assert_str_eq(canon, "000014");
    ck_assert_int_eq(parse("0000-14=", PPN_CRYPTO_CODE_CHECK, canon, &pos), -EILSEQ);
    ck_assert_uint_eq(pos, 7);
    /* check symbol absent from the code without the flag: '$' is bad */
    ck_assert_int_eq(parse("000012$", 0, canon, &pos), -EBADMSG);
    ck_assert_uint_eq(pos, 6);

    /* Every single substitution and every adjacent swap of a generated code
     * is caught by the check symbol. */
    for (int round = 0; round < 20; round++) {
        char code[PPN_CRYPTO_CODE_STRING_SIZE], c[PPN_CRYPTO_CODE_STRING_SIZE];
        ck_assert_int_eq(ppn_crypto_code_generate(8, PPN_CRYPTO_CODE_CHECK, code, sizeof(code)), 11);
        char sym[10];
        size_t n = 0;
        for (const char *p = code; *p; p++)
            if (*p != '-')
                sym[n++] = *p;
        sym[n] = '\0';
        ck_assert_uint_eq(n, 9);
        for (size_t i = 0; i < 8; i++) {
            for (int a = 0; a < 32; a++) {
                if (alpha[a] == sym[i])
                    continue;
                strcpy(c, sym);
                c[i] = alpha[a];
                ck_assert_int_eq(parse(c, PPN_CRYPTO_CODE_CHECK, canon, &pos), -EILSEQ);
                ck_assert_uint_eq(pos, 8);
            }
            if (i + 1 < 8 && sym[i] != sym[i + 1]) {
                strcpy(c, sym);
                c[i] = sym[i + 1];
                c[i + 1] = sym[i];
                ck_assert_int_eq(parse(c, PPN_CRYPTO_CODE_CHECK, canon, &pos), -EILSEQ);
            }
        }
    }
}
END_TEST

Suite *code_suite(void)
{
    Suite *s = suite_create("code");
    TCase *tc = tcase_create("code");
    tcase_add_test(tc, test_generate_shapes);
    tcase_add_test(tc, test_generate_random);
    tcase_add_test(tc, test_parse_lenient);
    tcase_add_test(tc, test_parse_errors);
    tcase_add_test(tc, test_check_symbol);
    suite_add_tcase(s, tc);
    return s;
}
