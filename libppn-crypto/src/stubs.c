/* Placeholders for functions not implemented yet: -ENOSYS. */
#include <errno.h>
#include "ppn/crypto.h"

PPN_EXPORT long ppn_crypto_size(ppn_crypto_size_id id)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_key_to_base64(const uint8_t key[PPN_CRYPTO_KEY_BYTES], char ret_b64[PPN_CRYPTO_KEY_B64_LEN + 1])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_key_from_base64(const char *s, size_t len, uint8_t ret_key[PPN_CRYPTO_KEY_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_identity_generate(uint8_t ret_public[PPN_CRYPTO_KEY_BYTES], uint8_t ret_secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_identity_save(const char *path, const uint8_t secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES], bool overwrite)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_identity_load(const char *path, uint8_t ret_public[PPN_CRYPTO_KEY_BYTES], uint8_t ret_secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_identity_public(const uint8_t secret[PPN_CRYPTO_IDENTITY_SECRET_BYTES], uint8_t ret_public[PPN_CRYPTO_KEY_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_wg_generate(uint8_t ret_private[PPN_CRYPTO_KEY_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_wg_public(const uint8_t private_key[PPN_CRYPTO_KEY_BYTES], uint8_t ret_public[PPN_CRYPTO_KEY_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_wg_save(const char *path, const uint8_t private_key[PPN_CRYPTO_KEY_BYTES], bool overwrite)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_wg_load(const char *path, uint8_t ret_private[PPN_CRYPTO_KEY_BYTES], uint8_t ret_public[PPN_CRYPTO_KEY_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_cpace_generator(const uint8_t *prs, size_t prs_len, const uint8_t *ci, size_t ci_len, const uint8_t *sid, size_t sid_len, uint8_t ret_g[PPN_CRYPTO_CPACE_POINT_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_cpace_share(const uint8_t g[PPN_CRYPTO_CPACE_POINT_BYTES], const uint8_t scalar[PPN_CRYPTO_CPACE_SCALAR_BYTES], uint8_t ret_y[PPN_CRYPTO_CPACE_POINT_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_cpace_share_random(const uint8_t g[PPN_CRYPTO_CPACE_POINT_BYTES], uint8_t ret_scalar[PPN_CRYPTO_CPACE_SCALAR_BYTES], uint8_t ret_y[PPN_CRYPTO_CPACE_POINT_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_cpace_secret(const uint8_t scalar[PPN_CRYPTO_CPACE_SCALAR_BYTES], const uint8_t peer_y[PPN_CRYPTO_CPACE_POINT_BYTES], uint8_t ret_k[PPN_CRYPTO_CPACE_POINT_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_cpace_isk(ppn_crypto_cpace_mode mode, const uint8_t *sid, size_t sid_len, const uint8_t k[PPN_CRYPTO_CPACE_POINT_BYTES], const uint8_t ya[PPN_CRYPTO_CPACE_POINT_BYTES], const uint8_t *ada, size_t ada_len, const uint8_t yb[PPN_CRYPTO_CPACE_POINT_BYTES], const uint8_t *adb, size_t adb_len, uint8_t ret_isk[PPN_CRYPTO_CPACE_ISK_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_cpace_sid_output(ppn_crypto_cpace_mode mode, const uint8_t ya[PPN_CRYPTO_CPACE_POINT_BYTES], const uint8_t *ada, size_t ada_len, const uint8_t yb[PPN_CRYPTO_CPACE_POINT_BYTES], const uint8_t *adb, size_t adb_len, uint8_t ret_out[PPN_CRYPTO_CPACE_SID_OUTPUT_BYTES])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_code_generate(unsigned symbols, uint32_t flags, char *ret_code, size_t size)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_code_parse(const char *text, size_t len, uint32_t flags, char ret_canonical[PPN_CRYPTO_CODE_CANONICAL_SIZE], size_t *ret_error_pos)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_node_record_validate(const ppn_crypto_node_record *rec)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_session_new(ppn_crypto_session **ret, ppn_crypto_role role, const char *code, uint32_t code_flags, const ppn_crypto_node_record *local, uint64_t timeout_ms)
{
    return -ENOSYS;
}

PPN_EXPORT void ppn_crypto_session_free(ppn_crypto_session *s)
{
    
}

PPN_EXPORT int ppn_crypto_session_set_clock(ppn_crypto_session *s, ppn_crypto_clock_fn clock, void *userdata)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_session_feed(ppn_crypto_session *s, const void *data, size_t len)
{
    return -ENOSYS;
}

PPN_EXPORT ssize_t ppn_crypto_session_take_output(ppn_crypto_session *s, void *buf, size_t size)
{
    return -ENOSYS;
}

PPN_EXPORT size_t ppn_crypto_session_output_pending(const ppn_crypto_session *s)
{
    return 0;
}

PPN_EXPORT int ppn_crypto_session_check_deadline(ppn_crypto_session *s)
{
    return -ENOSYS;
}

PPN_EXPORT uint64_t ppn_crypto_session_remaining_ms(ppn_crypto_session *s)
{
    return 0;
}

PPN_EXPORT ppn_crypto_session_state ppn_crypto_session_get_state(const ppn_crypto_session *s)
{
    return PPN_CRYPTO_SESSION_FAILED;
}

PPN_EXPORT int ppn_crypto_session_error(const ppn_crypto_session *s)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_session_sas(const ppn_crypto_session *s, char ret_sas[PPN_CRYPTO_SAS_STRING_SIZE])
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_session_confirm(ppn_crypto_session *s, bool accept)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_session_peer_record(const ppn_crypto_session *s, ppn_crypto_node_record *ret_record)
{
    return -ENOSYS;
}

PPN_EXPORT int ppn_crypto_session_run_fd(ppn_crypto_session *s, int fd, ppn_crypto_session_state until)
{
    return -ENOSYS;
}
