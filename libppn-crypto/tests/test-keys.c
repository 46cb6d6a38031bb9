/* Node keys: generation, files (0600, atomic, refusal), base64 against the
 * real `wg` binary. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "ppn/crypto.h"
#include "tests.h"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/ppn-crypto-keys-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void path_in(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* Run a shell pipeline and return its first line of output. */
static void run_line(const char *cmd, char *out, size_t size)
{
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(out, (int)size, f));
    ck_assert_int_eq(pclose(f), 0);
    out[strcspn(out, "\n")] = '\0';
}

START_TEST(test_base64)
{
    uint8_t k[32], back[32];
    char b64[PPN_CRYPTO_KEY_B64_LEN + 1];
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(ppn_crypto_key_to_base64(k, b64), 0);
    ck_assert_uint_eq(strlen(b64), 44);
    ck_assert_int_eq(b64[43], '=');
    ck_assert_int_eq(ppn_crypto_key_from_base64(b64, 44, back), 0);
    ck_assert_mem_eq(k, back, 32);
    ck_assert_int_eq(ppn_crypto_key_from_base64(b64, 43, back), -EBADMSG);
    b64[10] = '!';
    ck_assert_int_eq(ppn_crypto_key_from_base64(b64, 44, back), -EBADMSG);
    ck_assert_int_eq(ppn_crypto_key_from_base64(NULL, 44, back), -EINVAL);
    ck_assert_int_eq(ppn_crypto_key_to_base64(NULL, b64), -EINVAL);
}
END_TEST

/* Our public key of a `wg genkey` key equals `wg pubkey`; a key file we
 * write is read by `wg pubkey` to the same public key. */
START_TEST(test_wg_compat)
{
    char priv_b64[128], pub_b64[128], ours[PPN_CRYPTO_KEY_B64_LEN + 1], path[128], cmd[256];
    uint8_t priv[32], pub[32], priv2[32], pub2[32];
    for (int i = 0; i < 5; i++) {
        run_line("wg genkey", priv_b64, sizeof(priv_b64));
        snprintf(cmd, sizeof(cmd), "echo '%s' | wg pubkey", priv_b64);
        run_line(cmd, pub_b64, sizeof(pub_b64));
        ck_assert_int_eq(ppn_crypto_key_from_base64(priv_b64, strlen(priv_b64), priv), 0);
        ck_assert_int_eq(ppn_crypto_wg_public(priv, pub), 0);
        ck_assert_int_eq(ppn_crypto_key_to_base64(pub, ours), 0);
        ck_assert_str_eq(ours, pub_b64);
    }
    ck_assert_int_eq(ppn_crypto_wg_generate(priv), 0);
    ck_assert_int_eq(priv[0] & 7, 0);
    ck_assert_int_eq(priv[31] & 0xc0, 0x40);
    path_in(path, sizeof(path), "wg.key");
    ck_assert_int_eq(ppn_crypto_wg_save(path, priv, false), 0);
    snprintf(cmd, sizeof(cmd), "wg pubkey < '%s'", path);
    run_line(cmd, pub_b64, sizeof(pub_b64));
    ck_assert_int_eq(ppn_crypto_wg_public(priv, pub), 0);
    ck_assert_int_eq(ppn_crypto_key_to_base64(pub, ours), 0);
    ck_assert_str_eq(ours, pub_b64);
    ck_assert_int_eq(ppn_crypto_wg_load(path, priv2, pub2), 0);
    ck_assert_mem_eq(priv, priv2, 32);
    ck_assert_mem_eq(pub, pub2, 32);
    /* a file written by `wg genkey` loads */
    path_in(path, sizeof(path), "wg2.key");
    snprintf(cmd, sizeof(cmd), "umask 077; wg genkey > '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(ppn_crypto_wg_load(path, priv2, NULL), 0);
}
END_TEST

START_TEST(test_file_mode_and_refusal)
{
    char path[128];
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    struct stat st;
    ck_assert_int_eq(ppn_crypto_identity_generate(pk, sk), 0);
    path_in(path, sizeof(path), "id.key");
    ck_assert_int_eq(ppn_crypto_identity_save(path, sk, false), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(st.st_size, 45);
    ck_assert_int_eq(ppn_crypto_identity_load(path, pk2, sk2), 0);
    ck_assert_mem_eq(pk, pk2, 32);
    ck_assert_mem_eq(sk, sk2, 64);
    ck_assert_int_eq(ppn_crypto_identity_public(sk, pk2), 0);
    ck_assert_mem_eq(pk, pk2, 32);
    /* no overwrite unless asked; overwrite replaces atomically */
    ck_assert_int_eq(ppn_crypto_identity_save(path, sk, false), -EEXIST);
    uint8_t pk3[32], sk3[64];
    ck_assert_int_eq(ppn_crypto_identity_generate(pk3, sk3), 0);
    ck_assert_int_eq(ppn_crypto_identity_save(path, sk3, true), 0);
    ck_assert_int_eq(ppn_crypto_identity_load(path, pk2, sk2), 0);
    ck_assert_mem_eq(pk3, pk2, 32);
    /* the keys sign and verify with libsodium */
    uint8_t sig[64];
    ck_assert_int_eq(crypto_sign_detached(sig, NULL, (const uint8_t *)"m", 1, sk2), 0);
    ck_assert_int_eq(crypto_sign_verify_detached(sig, (const uint8_t *)"m", 1, pk3), 0);

    /* readable by group or others: refused, nothing returned */
    memset(sk2, 0x5a, 64);
    const mode_t bad[] = {0640, 0604, 0660, 0644, 0601, 0610};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(chmod(path, bad[i]), 0);
        ck_assert_int_eq(ppn_crypto_identity_load(path, pk2, sk2), -EPERM);
        ck_assert_int_eq(ppn_crypto_wg_load(path, pk2, NULL), -EPERM);
    }
    ck_assert_int_eq(sk2[0], 0x5a);
    ck_assert_int_eq(chmod(path, 0400), 0);
    ck_assert_int_eq(ppn_crypto_identity_load(path, NULL, sk2), 0);

    /* missing, wrong content, not a regular file */
    path_in(path, sizeof(path), "missing.key");
    ck_assert_int_eq(ppn_crypto_identity_load(path, pk2, sk2), -ENOENT);
    path_in(path, sizeof(path), "bad.key");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "not a key\n", 10), 10);
    close(fd);
    ck_assert_int_eq(ppn_crypto_identity_load(path, pk2, sk2), -EBADMSG);
    ck_assert_int_eq(chmod(dir, 0700), 0);
    ck_assert_int_eq(ppn_crypto_wg_load(dir, pk2, NULL), -EBADMSG);
    /* two trailing newlines are not one key line */
    path_in(path, sizeof(path), "two.key");
    char b64[PPN_CRYPTO_KEY_B64_LEN + 1], line[64];
    ck_assert_int_eq(ppn_crypto_key_to_base64(pk, b64), 0);
    snprintf(line, sizeof(line), "%s\n\n", b64);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
    ck_assert_int_eq(ppn_crypto_wg_load(path, pk2, NULL), -EBADMSG);

    /* a secret whose public half does not match is refused */
    sk[40] ^= 1;
    path_in(path, sizeof(path), "mismatch.key");
    ck_assert_int_eq(ppn_crypto_identity_save(path, sk, false), -EINVAL);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(ppn_crypto_identity_save(NULL, sk, false), -EINVAL);
    path_in(path, sizeof(path), "nodir/x.key");
    ck_assert_int_eq(ppn_crypto_wg_save(path, pk, false), -ENOENT);
}
END_TEST

Suite *keys_suite(void)
{
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("keys");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_base64);
    tcase_add_test(tc, test_wg_compat);
    tcase_add_test(tc, test_file_mode_and_refusal);
    suite_add_tcase(s, tc);
    return s;
}
