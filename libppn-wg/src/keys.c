/* WireGuard keys: generation and the public key of a private key (X25519
 * through libsodium), as `wg genkey`, `wg genpsk` and `wg pubkey` make them. */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "wg-internal.h"

PPN_EXPORT int ppn_wg_key_generate(uint8_t ret_key[PPN_WG_KEY_BYTES])
{
    if (!ret_key)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    randombytes_buf(ret_key, PPN_WG_KEY_BYTES);
    /* Clamped the way X25519 uses it (and `wg genkey` prints it). */
    ret_key[0] &= 248;
    ret_key[31] = (uint8_t)((ret_key[31] & 127) | 64);
    return 0;
}

PPN_EXPORT int ppn_wg_key_generate_preshared(uint8_t ret_key[PPN_WG_KEY_BYTES])
{
    if (!ret_key)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    randombytes_buf(ret_key, PPN_WG_KEY_BYTES);
    return 0;
}

PPN_EXPORT int ppn_wg_key_public(const uint8_t private_key[PPN_WG_KEY_BYTES], uint8_t ret_public[PPN_WG_KEY_BYTES])
{
    if (!private_key || !ret_public)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    uint8_t pub[PPN_WG_KEY_BYTES];
    /* libsodium clamps a copy of the scalar, as the kernel does. */
    if (crypto_scalarmult_curve25519_base(pub, private_key) != 0) {
        sodium_memzero(pub, sizeof(pub));
        return -EINVAL;
    }
    memcpy(ret_public, pub, sizeof(pub));
    sodium_memzero(pub, sizeof(pub));
    return 0;
}
