/* Node keys: Ed25519 identity keys and WireGuard (X25519) private keys,
 * stored as one base64 line like `wg genkey` writes. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "ppn-common.h"
#include "ppn/crypto.h"

PPN_EXPORT int ppn_crypto_key_to_base64(const uint8_t key[PPN_CRYPTO_KEY_BYTES],
                                        char ret_b64[PPN_CRYPTO_KEY_B64_LEN + 1])
{
    if (!key || !ret_b64)
        return -EINVAL;
    ppnc_key_to_base64(ret_b64, key);
    return 0;
}

PPN_EXPORT int ppn_crypto_key_from_base64(const char *s, size_t len,
                                          uint8_t ret_key[PPN_CRYPTO_KEY_BYTES])
{
    if (!s || !ret_key)
        return -EINVAL;
    return ppnc_key_from_base64(ret_key, s, len) < 0 ? -EBADMSG : 0;
}

static int save_key(const char *path, const uint8_t key[32], bool overwrite)
{
    char line[PPN_CRYPTO_KEY_B64_LEN + 2];
    ppnc_key_to_base64(line, key);
    line[PPN_CRYPTO_KEY_B64_LEN] = '\n';
    line[PPN_CRYPTO_KEY_B64_LEN + 1] = '\0';
    if (!overwrite) {
        struct stat st;
        if (lstat(path, &st) == 0) {
            sodium_memzero(line, sizeof(line));
            return -EEXIST;
        }
    }
    int r = ppnc_write_file_atomic(path, line, PPN_CRYPTO_KEY_B64_LEN + 1, 0600);
    sodium_memzero(line, sizeof(line));
    return r;
}

static int load_key(const char *path, uint8_t key[32])
{
    struct stat st;
    int fd = ppnc_open_stat(path, O_NOCTTY, &st);
    if (fd < 0)
        return fd;
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EBADMSG;
    }
    if (st.st_mode & 077) {
        close(fd);
        return -EPERM;
    }
    char buf[PPN_CRYPTO_KEY_B64_LEN + 2];
    ssize_t n = ppnc_read_full(fd, buf, sizeof(buf));
    int r = n < 0 ? (int)n : 0;
    close(fd);
    if (r == 0) {
        size_t len = (size_t)n;
        if (len == PPN_CRYPTO_KEY_B64_LEN + 1 && buf[PPN_CRYPTO_KEY_B64_LEN] == '\n')
            len--;
        if (len != PPN_CRYPTO_KEY_B64_LEN || ppnc_key_from_base64(key, buf, len) < 0)
            r = -EBADMSG;
    }
    sodium_memzero(buf, sizeof(buf));
    return r;
}

PPN_EXPORT int ppn_crypto_identity_generate(uint8_t ret_public[PPN_CRYPTO_KEY_BYTES],
                                            uint8_t ret_secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES])
{
    if (!ret_public || !ret_secret)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    crypto_sign_keypair(ret_public, ret_secret);
    return 0;
}

/* The Ed25519 public key of a seed (the expanded secret key wiped). */
static void seed_public(uint8_t ret_pk[32], const uint8_t seed[32])
{
    uint8_t pk[32], sk[64];
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(sk, sizeof(sk));
    memcpy(ret_pk, pk, 32);
}

PPN_EXPORT int ppn_crypto_identity_public(const uint8_t secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES],
                                          uint8_t ret_public[PPN_CRYPTO_KEY_BYTES])
{
    if (!secret || !ret_public)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    seed_public(ret_public, secret);
    return 0;
}

PPN_EXPORT int ppn_crypto_identity_save(const char *path,
                                        const uint8_t secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES],
                                        bool overwrite)
{
    if (!path || !secret)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    uint8_t pk[32];
    seed_public(pk, secret);
    if (sodium_memcmp(pk, secret + 32, 32) != 0)
        return -EINVAL;
    return save_key(path, secret, overwrite); /* the first 32 bytes: the seed */
}

PPN_EXPORT int ppn_crypto_identity_load(const char *path,
                                        uint8_t ret_public[PPN_CRYPTO_KEY_BYTES],
                                        uint8_t ret_secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES])
{
    if (!path || !ret_secret)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    uint8_t seed[32], pk[32], sk[64];
    int r = load_key(path, seed);
    if (r < 0)
        return r;
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof(seed));
    memcpy(ret_secret, sk, 64);
    sodium_memzero(sk, sizeof(sk));
    if (ret_public)
        memcpy(ret_public, pk, 32);
    return 0;
}

PPN_EXPORT int ppn_crypto_wg_generate(uint8_t ret_private[PPN_CRYPTO_KEY_BYTES])
{
    if (!ret_private)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    uint8_t k[32];
    randombytes_buf(k, sizeof(k));
    /* RFC 7748 clamping, as `wg genkey` stores it. */
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    memcpy(ret_private, k, 32);
    sodium_memzero(k, sizeof(k));
    return 0;
}

PPN_EXPORT int ppn_crypto_wg_public(const uint8_t private_key[PPN_CRYPTO_KEY_BYTES],
                                    uint8_t ret_public[PPN_CRYPTO_KEY_BYTES])
{
    if (!private_key || !ret_public)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    uint8_t pub[32];
    /* crypto_scalarmult_base clamps internally, like wg pubkey. */
    if (crypto_scalarmult_curve25519_base(pub, private_key) != 0)
        return -EINVAL;
    memcpy(ret_public, pub, 32);
    return 0;
}

PPN_EXPORT int ppn_crypto_wg_save(const char *path,
                                  const uint8_t private_key[PPN_CRYPTO_KEY_BYTES],
                                  bool overwrite)
{
    if (!path || !private_key)
        return -EINVAL;
    return save_key(path, private_key, overwrite);
}

PPN_EXPORT int ppn_crypto_wg_load(const char *path,
                                  uint8_t ret_private[PPN_CRYPTO_KEY_BYTES],
                                  uint8_t ret_public[PPN_CRYPTO_KEY_BYTES])
{
    if (!path || !ret_private)
        return -EINVAL;
    uint8_t k[32], pub[32];
    int r = load_key(path, k);
    if (r < 0)
        return r;
    if (ret_public) {
        r = ppn_crypto_wg_public(k, pub);
        if (r < 0) {
            sodium_memzero(k, sizeof(k));
            return r;
        }
        memcpy(ret_public, pub, 32);
    }
    memcpy(ret_private, k, 32);
    sodium_memzero(k, sizeof(k));
    return 0;
}
