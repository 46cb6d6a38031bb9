/* Short codes in Crockford base32 with an optional mod-37 check symbol. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "code.h"
#include "ppn/crypto.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

/* Value of a typed character as a data symbol, or -1. */
static int symbol_value(unsigned char c)
{
    if (c >= 'a' && c <= 'z')
        c = (unsigned char)(c - 'a' + 'A');
    if (c == 'O')
        return 0;
    if (c == 'I' || c == 'L')
        return 1;
    if (c == 'U')
        return -1;
    for (int i = 0; i < 32; i++)
        if (alphabet[i] == c)
            return i;
    return -1;
}

/* Value of a typed character as a check symbol (0..36), or -1. */
static int check_value(unsigned char c)
{
    int v = symbol_value(c);
    if (v >= 0)
        return v;
    if (c == 'u')
        c = 'U';
    for (int i = 32; i < 37; i++)
        if (alphabet[i] == c)
            return i;
    return -1;
}

int code_check_symbol(const char *canonical, size_t n)
{
    /* The code as a base-32 number modulo 37, digit by digit. */
    unsigned r = 0;
    for (size_t i = 0; i < n; i++)
        r = (r * 32 + (unsigned)symbol_value((unsigned char)canonical[i])) % 37;
    return alphabet[r];
}

PPN_EXPORT int ppn_crypto_code_generate(unsigned symbols, uint32_t flags,
                                        char *ret_code, size_t size)
{
    if (symbols == 0)
        symbols = PPN_CRYPTO_CODE_DEFAULT_SYMBOLS;
    if (!ret_code || symbols < PPN_CRYPTO_CODE_MIN_SYMBOLS ||
        symbols > PPN_CRYPTO_CODE_MAX_SYMBOLS || (flags & ~PPN_CRYPTO_CODE_CHECK))
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;

    char canon[PPN_CRYPTO_CODE_CANONICAL_SIZE + 1];
    size_t n = 0;
    for (unsigned i = 0; i < symbols; i++)
        canon[n++] = alphabet[randombytes_uniform(32)];
    if (flags & PPN_CRYPTO_CODE_CHECK)
        canon[n] = (char)code_check_symbol(canon, n), n++;

    char out[PPN_CRYPTO_CODE_STRING_SIZE];
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && i % 4 == 0)
            out[o++] = '-';
        out[o++] = canon[i];
    }
    out[o] = '\0';
    sodium_memzero(canon, sizeof(canon));
    if (o + 1 > size) {
        sodium_memzero(out, sizeof(out));
        return -ENOBUFS;
    }
    memcpy(ret_code, out, o + 1);
    sodium_memzero(out, sizeof(out));
    return (int)o;
}

PPN_EXPORT int ppn_crypto_code_parse(const char *text, size_t len, uint32_t flags,
                                     char ret_canonical[PPN_CRYPTO_CODE_CANONICAL_SIZE],
                                     size_t *ret_error_pos)
{
    if (!text || !ret_canonical || (flags & ~PPN_CRYPTO_CODE_CHECK))
        return -EINVAL;
    const int want_check = !!(flags & PPN_CRYPTO_CODE_CHECK);

    /* Position of the last symbol-bearing character: with a check symbol,
     * that one is the check and may use the five extra characters. */
    size_t last = len;
    for (size_t i = len; i-- > 0;)
        if (text[i] != '-' && text[i] != ' ') {
            last = i;
            break;
        }

    char canon[PPN_CRYPTO_CODE_MAX_SYMBOLS + 1];
    size_t n = 0, count = 0;
    int check = -1;
    size_t check_pos = 0;
    int r = 0;
    size_t pos = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '-' || c == ' ')
            continue;
        if (want_check && i == last) {
            check = check_value(c);
            check_pos = i;
            if (check < 0) {
                r = -EBADMSG, pos = i;
                goto fail;
            }
            continue;
        }
        int v = symbol_value(c);
        if (v < 0) {
            r = -EBADMSG, pos = i;
            goto fail;
        }
        if (n < PPN_CRYPTO_CODE_MAX_SYMBOLS)
            canon[n++] = alphabet[v];
        count++;
    }
    if (count < PPN_CRYPTO_CODE_MIN_SYMBOLS || count > PPN_CRYPTO_CODE_MAX_SYMBOLS ||
        (want_check && check < 0)) {
        r = -EMSGSIZE, pos = len;
        goto fail;
    }
    if (want_check && alphabet[check] != code_check_symbol(canon, n)) {
        r = -EILSEQ, pos = check_pos;
        goto fail;
    }
    canon[n] = '\0';
    memcpy(ret_canonical, canon, n + 1);
    sodium_memzero(canon, sizeof(canon));
    return (int)n;

fail:
    sodium_memzero(canon, sizeof(canon));
    if (ret_error_pos)
        *ret_error_pos = pos;
    return r;
}
