/* CPace against draft-irtf-cfrg-cpace-21, Appendix A.1, A.3 and B.3. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cpace.h"
#include "ppn/crypto.h"
#include "test-util.h"
#include "tests.h"

/* B.3 inputs */
static const char *PRS = "Password";
static const char *CI_HEX = "0b415f696e69746961746f720b425f726573706f6e646572";
static const char *SID_HEX = "7e4b4791d6a8ef019b936c79fb7f2c57";
static const char *GEN_STRING_HEX =
    "11435061636552697374726574746f3235350850617373776f726464"
    "00000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000180b415f696e69746961746f"
    "720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f"
    "2c57";
static const char *GEN_HASH_HEX =
    "da6d3ddc8802fca9058755ffd3ebde08a9c2c74945901a258482a288"
    "b6663af06bf645c93cd1c51512307199c80e84908916d983b34af772"
    "05f90851a657ee27";
static const char *G_HEX = "222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56";
static const char *YA_SCALAR_HEX = "da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08";
static const char *YA_HEX = "d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157";
static const char *YB_SCALAR_HEX = "d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d";
static const char *YB_HEX = "3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258";
static const char *K_HEX = "80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f";
static const char *TRANSCRIPT_IR_HEX =
    "20d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0e"
    "ec482b915703414461203ea7e0b19560d7c0b0f5734f63b955286dfa"
    "8232b5ebe63324e2d9e7433f725803414462";
static const char *ISK_IR_HEX =
    "b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dc"
    "ae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c"
    "3fa2068af7900447";
static const char *TRANSCRIPT_OC_HEX =
    "6f6320d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f"
    "8d0eec482b915703414461203ea7e0b19560d7c0b0f5734f63b95528"
    "6dfa8232b5ebe63324e2d9e7433f725803414462";
static const char *ISK_SY_HEX =
    "544199d71f62f8d9a1fee55727e24fe4a45844593c2b6013c4fa3969"
    "d0e5debb2244675c0b43397cbb68d342b01fc0f98fc961469a25134d"
    "e9f0f813c1a57476";
static const char *SID_OUT_IR_HEX =
    "bb1c449b35f0ea79a65c209f329a693d475e0ce2387bed9fe4b78f60"
    "b2a27c219813fb2cfe175ef40d2222d9261e66da7d78f7c55a303b1b"
    "8611dcdfab880c47";
static const char *SID_OUT_OC_HEX =
    "10d5941d4933497fe31b9188d690b84465e2a2d158332a7267284a07"
    "1a8d0876fc5c8c329dc735d59a9f8ef6623ee23924704a2f929dd631"
    "ca981227ee82fff2";
static const char *LV_ISK_IR_HEX =
    "15435061636552697374726574746f3235355f49534b107e4b4791d6"
    "a8ef019b936c79fb7f2c572080b69a8a76457ab6a4d7f887a4bf6b55"
    "a2f80ac19c333f917a05fc9887c8b40f20d6bac480f2c386c394efc7"
    "c47adb9925dcd2630b64f240c50f8d0eec482b915703414461203ea7"
    "e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f"
    "725803414462";
/* B.3.10 / B.3.11 */
static const char *S_HEX = "7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05";
static const char *X_HEX = "2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c";
static const char *SX_HEX = "7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e";
static const char *YI1_HEX = "2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c";

static uint8_t ci[64], sid[16];
static size_t ci_len, sid_len;

static void setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    ci_len = unhex(ci, sizeof(ci), CI_HEX);
    sid_len = unhex(sid, sizeof(sid), SID_HEX);
    ck_assert_uint_eq(ci_len, 24);
    ck_assert_uint_eq(sid_len, 16);
}

#define ck_assert_hex(buf, len, hex)                                          \
    do {                                                                      \
        uint8_t exp_[512];                                                    \
        size_t n_ = unhex(exp_, sizeof(exp_), hex);                           \
        ck_assert_uint_eq((len), n_);                                         \
        ck_assert_mem_eq((buf), exp_, n_);                                    \
    } while (0)

START_TEST(test_prepend_len)
{
    cbuf b;
    uint8_t data[200];
    for (int i = 0; i < 200; i++)
        data[i] = (uint8_t)i;
    cbuf_init(&b);
    cpace_prepend_len(&b, NULL, 0);
    ck_assert_hex(b.data, b.len, "00");
    cbuf_wipe_free(&b);
    cpace_prepend_len(&b, (const uint8_t *)"1234", 4);
    ck_assert_hex(b.data, b.len, "0431323334");
    cbuf_wipe_free(&b);
    cpace_prepend_len(&b, data, 127);
    ck_assert_uint_eq(b.len, 128);
    ck_assert_uint_eq(b.data[0], 0x7f);
    ck_assert_mem_eq(b.data + 1, data, 127);
    cbuf_wipe_free(&b);
    cpace_prepend_len(&b, data, 128);
    ck_assert_uint_eq(b.len, 130);
    ck_assert_uint_eq(b.data[0], 0x80);
    ck_assert_uint_eq(b.data[1], 0x01);
    ck_assert_mem_eq(b.data + 2, data, 128);
    cbuf_wipe_free(&b);
}
END_TEST

START_TEST(test_leb128_edges)
{
    uint8_t o[10];
    ck_assert_uint_eq(cpace_leb128(o, 0), 1);
    ck_assert_uint_eq(o[0], 0);
    ck_assert_uint_eq(cpace_leb128(o, 127), 1);
    ck_assert_uint_eq(o[0], 0x7f);
    ck_assert_uint_eq(cpace_leb128(o, 128), 2);
    ck_assert_mem_eq(o, "\x80\x01", 2);
    ck_assert_uint_eq(cpace_leb128(o, 16383), 2);
    ck_assert_mem_eq(o, "\xff\x7f", 2);
    ck_assert_uint_eq(cpace_leb128(o, 16384), 3);
    ck_assert_mem_eq(o, "\x80\x80\x01", 3);
    ck_assert_uint_eq(cpace_leb128(o, 624485), 3);
    ck_assert_mem_eq(o, "\xe5\x8e\x26", 3);
    ck_assert_uint_eq(cpace_leb128(o, UINT64_MAX), 10);
    ck_assert_uint_eq(o[9], 0x01);
}
END_TEST

START_TEST(test_lv_cat)
{
    cbuf b;
    cbuf_init(&b);
    cpace_prepend_len(&b, (const uint8_t *)"1234", 4);
    cpace_prepend_len(&b, (const uint8_t *)"5", 1);
    cpace_prepend_len(&b, (const uint8_t *)"", 0);
    cpace_prepend_len(&b, (const uint8_t *)"678", 3);
    ck_assert_hex(b.data, b.len, "043132333401350003363738");
    cbuf_wipe_free(&b);
}
END_TEST

START_TEST(test_o_cat)
{
    ck_assert_int_eq(cpace_lexi_larger((const uint8_t *)"\0", 1, (const uint8_t *)"\0\0", 2), 0);
    ck_assert_int_eq(cpace_lexi_larger((const uint8_t *)"\1", 1, (const uint8_t *)"\0\0", 2), 1);
    ck_assert_int_eq(cpace_lexi_larger((const uint8_t *)"\0\0", 2, (const uint8_t *)"\0", 1), 1);
    ck_assert_int_eq(cpace_lexi_larger((const uint8_t *)"\0\0", 2, (const uint8_t *)"\1", 1), 0);
    ck_assert_int_eq(cpace_lexi_larger((const uint8_t *)"\0\1", 2, (const uint8_t *)"\1", 1), 0);
    ck_assert_int_eq(cpace_lexi_larger((const uint8_t *)"ABCD", 4, (const uint8_t *)"BCD", 3), 0);
    /* equal strings are not larger; empty is the smallest */
    ck_assert_int_eq(cpace_lexi_larger((const uint8_t *)"AB", 2, (const uint8_t *)"AB", 2), 0);
    ck_assert_int_eq(cpace_lexi_larger((const uint8_t *)"", 0, (const uint8_t *)"A", 1), 0);
    ck_assert_int_eq(cpace_lexi_larger((const uint8_t *)"A", 1, (const uint8_t *)"", 0), 1);

    cbuf b;
    cbuf_init(&b);
    cpace_o_cat(&b, (const uint8_t *)"ABCD", 4, (const uint8_t *)"BCD", 3);
    ck_assert_hex(b.data, b.len, "6f6342434441424344");
    cbuf_wipe_free(&b);
    cpace_o_cat(&b, (const uint8_t *)"BCD", 3, (const uint8_t *)"ABCDE", 5);
    ck_assert_hex(b.data, b.len, "6f634243444142434445");
    cbuf_wipe_free(&b);
    /* o_cat is symmetric */
    cpace_o_cat(&b, (const uint8_t *)"ABCDE", 5, (const uint8_t *)"BCD", 3);
    ck_assert_hex(b.data, b.len, "6f634243444142434445");
    cbuf_wipe_free(&b);
}
END_TEST

/* A.3.5 / A.3.7 use 3- and 4-byte "points"; our transcript helper takes
 * 32-byte points, so build those cases directly with prepend_len/o_cat. */
START_TEST(test_transcripts_a3)
{
    static const struct { const char *ya, *yb, *ir, *oc; } v[] = {
        {"123", "234", "03313233065061727479410332333406506172747942",
         "6f6303323334065061727479420331323306506172747941"},
        {"3456", "2345", "043334353606506172747941043233343506506172747942",
         "6f63043334353606506172747941043233343506506172747942"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        cbuf a, c, b;
        cbuf_init(&a);
        cbuf_init(&c);
        cbuf_init(&b);
        cpace_prepend_len(&a, (const uint8_t *)v[i].ya, strlen(v[i].ya));
        cpace_prepend_len(&a, (const uint8_t *)"PartyA", 6);
        cpace_prepend_len(&c, (const uint8_t *)v[i].yb, strlen(v[i].yb));
        cpace_prepend_len(&c, (const uint8_t *)"PartyB", 6);
        cbuf_append(&b, a.data, a.len);
        cbuf_append(&b, c.data, c.len);
        ck_assert_hex(b.data, b.len, v[i].ir);
        cbuf_wipe_free(&b);
        cpace_o_cat(&b, a.data, a.len, c.data, c.len);
        ck_assert_hex(b.data, b.len, v[i].oc);
        cbuf_wipe_free(&a);
        cbuf_wipe_free(&c);
        cbuf_wipe_free(&b);
    }
}
END_TEST

START_TEST(test_generator)
{
    cbuf b;
    cbuf_init(&b);
    cpace_generator_string(&b, (const uint8_t *)PRS, 8, ci, ci_len, sid, sid_len);
    ck_assert_uint_eq(b.len, 170);
    ck_assert_hex(b.data, b.len, GEN_STRING_HEX);
    uint8_t h[64];
    crypto_hash_sha512(h, b.data, b.len);
    ck_assert_hex(h, 64, GEN_HASH_HEX);
    cbuf_wipe_free(&b);

    uint8_t g[32];
    ck_assert_int_eq(ppn_crypto_cpace_generator((const uint8_t *)PRS, 8, ci, ci_len, sid, sid_len, g), 0);
    ck_assert_hex(g, 32, G_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_generator(NULL, 1, ci, ci_len, sid, sid_len, g), -EINVAL);
    ck_assert_int_eq(ppn_crypto_cpace_generator((const uint8_t *)PRS, 8, ci, ci_len, sid, sid_len, NULL), -EINVAL);
}
END_TEST

/* A PRS long enough that no zero padding is left (len_zpad = max(0, ...)). */
START_TEST(test_generator_no_padding)
{
    uint8_t prs[200];
    memset(prs, 'x', sizeof(prs));
    cbuf b;
    cbuf_init(&b);
    cpace_generator_string(&b, prs, sizeof(prs), NULL, 0, NULL, 0);
    /* 18 (DSI) + 2 + 200 (PRS) + 1 (empty zpad) + 1 + 1 */
    ck_assert_uint_eq(b.len, 18 + 202 + 1 + 1 + 1);
    ck_assert_uint_eq(b.data[18 + 202], 0);
    cbuf_wipe_free(&b);
    /* exactly one byte of padding left: 128 - 1 - 18 - (1 + 108) = 0 */
    cpace_generator_string(&b, prs, 108, NULL, 0, NULL, 0);
    ck_assert_uint_eq(b.data[18 + 109], 0);
    cbuf_wipe_free(&b);
    cpace_generator_string(&b, prs, 107, NULL, 0, NULL, 0);
    ck_assert_uint_eq(b.data[18 + 108], 1);
    ck_assert_uint_eq(b.data[18 + 109], 0);
    cbuf_wipe_free(&b);
}
END_TEST

START_TEST(test_shares_k_isk)
{
    uint8_t g[32], ya[32], yb[32], Ya[32], Yb[32], k1[32], k2[32], isk[64], out[64];
    unhex(g, 32, G_HEX);
    unhex(ya, 32, YA_SCALAR_HEX);
    unhex(yb, 32, YB_SCALAR_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_share(g, ya, Ya), 0);
    ck_assert_hex(Ya, 32, YA_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_share(g, yb, Yb), 0);
    ck_assert_hex(Yb, 32, YB_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_secret(ya, Yb, k1), 0);
    ck_assert_int_eq(ppn_crypto_cpace_secret(yb, Ya, k2), 0);
    ck_assert_hex(k1, 32, K_HEX);
    ck_assert_hex(k2, 32, K_HEX);

    cbuf b;
    cbuf_init(&b);
    cpace_transcript(&b, 0, Ya, (const uint8_t *)"ADa", 3, Yb, (const uint8_t *)"ADb", 3);
    ck_assert_hex(b.data, b.len, TRANSCRIPT_IR_HEX);
    cbuf_wipe_free(&b);
    cpace_transcript(&b, 1, Ya, (const uint8_t *)"ADa", 3, Yb, (const uint8_t *)"ADb", 3);
    ck_assert_hex(b.data, b.len, TRANSCRIPT_OC_HEX);
    cbuf_wipe_free(&b);
    /* the full ISK hash input of B.3.5 */
    cpace_prepend_len(&b, (const uint8_t *)"CPaceRistretto255_ISK", 21);
    cpace_prepend_len(&b, sid, 16);
    cpace_prepend_len(&b, k1, 32);
    cpace_transcript(&b, 0, Ya, (const uint8_t *)"ADa", 3, Yb, (const uint8_t *)"ADb", 3);
    ck_assert_hex(b.data, b.len, LV_ISK_IR_HEX);
    cbuf_wipe_free(&b);

    ck_assert_int_eq(ppn_crypto_cpace_isk(PPN_CRYPTO_CPACE_INITIATOR_RESPONDER, sid, 16, k1, Ya,
                                          (const uint8_t *)"ADa", 3, Yb, (const uint8_t *)"ADb", 3, isk), 0);
    ck_assert_hex(isk, 64, ISK_IR_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_isk(PPN_CRYPTO_CPACE_SYMMETRIC, sid, 16, k1, Ya,
                                          (const uint8_t *)"ADa", 3, Yb, (const uint8_t *)"ADb", 3, isk), 0);
    ck_assert_hex(isk, 64, ISK_SY_HEX);
    /* symmetric mode: both orders give the same ISK */
    ck_assert_int_eq(ppn_crypto_cpace_isk(PPN_CRYPTO_CPACE_SYMMETRIC, sid, 16, k1, Yb,
                                          (const uint8_t *)"ADb", 3, Ya, (const uint8_t *)"ADa", 3, isk), 0);
    ck_assert_hex(isk, 64, ISK_SY_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_sid_output(PPN_CRYPTO_CPACE_INITIATOR_RESPONDER, Ya,
                                                 (const uint8_t *)"ADa", 3, Yb, (const uint8_t *)"ADb", 3, out), 0);
    ck_assert_hex(out, 64, SID_OUT_IR_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_sid_output(PPN_CRYPTO_CPACE_SYMMETRIC, Ya,
                                                 (const uint8_t *)"ADa", 3, Yb, (const uint8_t *)"ADb", 3, out), 0);
    ck_assert_hex(out, 64, SID_OUT_OC_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_isk((ppn_crypto_cpace_mode)7, sid, 16, k1, Ya, NULL, 0, Yb, NULL, 0, isk), -EINVAL);
    ck_assert_int_eq(ppn_crypto_cpace_sid_output(PPN_CRYPTO_CPACE_SYMMETRIC, Ya, NULL, 3, Yb, NULL, 0, out), -EINVAL);
}
END_TEST

START_TEST(test_scalar_mult_valid)
{
    uint8_t s[32], x[32], k[32];
    unhex(s, 32, S_HEX);
    unhex(x, 32, X_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_secret(s, x, k), 0);
    ck_assert_hex(k, 32, SX_HEX);
}
END_TEST

START_TEST(test_invalid_points)
{
    uint8_t s[32], y1[32], id[32] = {0}, k[32], keep[32];
    unhex(s, 32, S_HEX);
    unhex(y1, 32, YI1_HEX);
    memset(k, 0xaa, 32);
    memcpy(keep, k, 32);
    ck_assert_int_eq(ppn_crypto_cpace_secret(s, y1, k), -EBADMSG);
    ck_assert_int_eq(ppn_crypto_cpace_secret(s, id, k), -EBADMSG);
    ck_assert_mem_eq(k, keep, 32); /* untouched on failure */
    /* non-canonical: the field prime p = 2^255-19 encoded */
    uint8_t p[32];
    memset(p, 0xff, 32);
    p[0] = 0xed;
    p[31] = 0x7f;
    ck_assert_int_eq(ppn_crypto_cpace_secret(s, p, k), -EBADMSG);
    /* a zero scalar or invalid generator cannot make a share */
    uint8_t g[32], y[32], zero[32] = {0};
    unhex(g, 32, G_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_share(g, zero, y), -EINVAL);
    ck_assert_int_eq(ppn_crypto_cpace_share(id, s, y), -EINVAL);
    /* the group order L itself is zero too */
    static const char *L_HEX = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
    uint8_t l[32];
    unhex(l, 32, L_HEX);
    ck_assert_int_eq(ppn_crypto_cpace_share(g, l, y), -EINVAL);
}
END_TEST

START_TEST(test_random_shares_agree)
{
    uint8_t g[32], sa[32], sb[32], ya[32], yb[32], k1[32], k2[32];
    ck_assert_int_eq(ppn_crypto_cpace_generator((const uint8_t *)"code", 4, NULL, 0, sid, 16, g), 0);
    ck_assert_int_eq(ppn_crypto_cpace_share_random(g, sa, ya), 0);
    ck_assert_int_eq(ppn_crypto_cpace_share_random(g, sb, yb), 0);
    ck_assert_mem_ne(ya, yb, 32);
    ck_assert_int_eq(ppn_crypto_cpace_secret(sa, yb, k1), 0);
    ck_assert_int_eq(ppn_crypto_cpace_secret(sb, ya, k2), 0);
    ck_assert_mem_eq(k1, k2, 32);
}
END_TEST

Suite *cpace_suite(void)
{
    Suite *s = suite_create("cpace");
    TCase *tc = tcase_create("strings");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_prepend_len);
    tcase_add_test(tc, test_leb128_edges);
    tcase_add_test(tc, test_lv_cat);
    tcase_add_test(tc, test_o_cat);
    tcase_add_test(tc, test_transcripts_a3);
    suite_add_tcase(s, tc);
    tc = tcase_create("draft-21-B.3");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_generator);
    tcase_add_test(tc, test_generator_no_padding);
    tcase_add_test(tc, test_shares_k_isk);
    tcase_add_test(tc, test_scalar_mult_valid);
    tcase_add_test(tc, test_invalid_points);
    tcase_add_test(tc, test_random_shares_agree);
    suite_add_tcase(s, tc);
    return s;
}
