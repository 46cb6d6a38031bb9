/* Base64 of 32-byte keys in the form `wg genkey` prints: 44 characters,
 * standard alphabet, one '=' of padding.  Decoding runs in constant time
 * with respect to the key's value (private keys pass through here). */
#include "ppn-common.h"

#include <errno.h>

static char enc6(unsigned v)
{
    /* 'A'..'Z' 0..25, 'a'..'z' 26..51, '0'..'9' 52..61, '+' 62, '/' 63 — branch-free */
    int x = (int)v;
    int c = x + 'A';
    c += ((25 - x) >> 8) & (('a' - 26) - 'A');
    c += ((51 - x) >> 8) & (('0' - 52) - ('a' - 26));
    c += ((61 - x) >> 8) & (('+' - 62) - ('0' - 52));
    c += ((62 - x) >> 8) & (('/' - 63) - ('+' - 62));
    return (char)c;
}

/* Returns 0..63, or a negative value for a character outside the alphabet. */
static int dec6(unsigned char ch)
{
    int c = ch, r = -1;
    r += (((('A' - 1) - c) & (c - ('Z' + 1))) >> 8) & (c - 'A' + 1);
    r += (((('a' - 1) - c) & (c - ('z' + 1))) >> 8) & (c - 'a' + 27);
    r += (((('0' - 1) - c) & (c - ('9' + 1))) >> 8) & (c - '0' + 53);
    r += ((('+' - 1 - c) & (c - ('+' + 1))) >> 8) & 63;
    r += ((('/' - 1 - c) & (c - ('/' + 1))) >> 8) & 64;
    return r;
}

void ppnc_key_to_base64(char out[PPNC_KEY_B64_LEN + 1], const uint8_t key[32])
{
    unsigned i, o = 0;
    for (i = 0; i + 3 <= 30; i += 3) {
        unsigned v = (unsigned)key[i] << 16 | (unsigned)key[i + 1] << 8 | key[i + 2];
        out[o++] = enc6(v >> 18 & 63);
        out[o++] = enc6(v >> 12 & 63);
        out[o++] = enc6(v >> 6 & 63);
        out[o++] = enc6(v & 63);
    }
    unsigned v = (unsigned)key[30] << 16 | (unsigned)key[31] << 8;
    out[o++] = enc6(v >> 18 & 63);
    out[o++] = enc6(v >> 12 & 63);
    out[o++] = enc6(v >> 6 & 63);
    out[o++] = '=';
    out[o] = 0;
}

int ppnc_key_from_base64(uint8_t key[32], const char *s, size_t len)
{
    if (!s)
        return -EINVAL;
    if (len != PPNC_KEY_B64_LEN || s[PPNC_KEY_B64_LEN - 1] != '=')
        return -EBADMSG;
    uint8_t out[32];
    int bad = 0;
    unsigned i, o = 0;
    for (i = 0; i < 40; i += 4) {
        int a = dec6((unsigned char)s[i]), b = dec6((unsigned char)s[i + 1]);
        int c = dec6((unsigned char)s[i + 2]), d = dec6((unsigned char)s[i + 3]);
        bad |= (a | b | c | d) & ~63; /* negative → high bits set */
        unsigned v = (unsigned)(a & 63) << 18 | (unsigned)(b & 63) << 12 |
                     (unsigned)(c & 63) << 6 | (unsigned)(d & 63);
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    int a = dec6((unsigned char)s[40]), b = dec6((unsigned char)s[41]), c = dec6((unsigned char)s[42]);
    bad |= (a | b | c) & ~63;
    bad |= c & 3; /* the two unused low bits must be zero (canonical form) */
    unsigned v = (unsigned)(a & 63) << 18 | (unsigned)(b & 63) << 12 | (unsigned)(c & 63) << 6;
    out[o++] = (uint8_t)(v >> 16);
    out[o++] = (uint8_t)(v >> 8);
    if (bad) {
        ppnc_wipe(out, sizeof(out));
        return -EBADMSG;
    }
    for (i = 0; i < 32; i++)
        key[i] = out[i];
    ppnc_wipe(out, sizeof(out));
    return 0;
}

void ppnc_wipe(void *p, size_t len)
{
    /* libppn-wg and libppn-vmm do not link libsodium; this is its
     * sodium_memzero for them: a volatile store loop the compiler keeps. */
    volatile uint8_t *v = p;
    while (len--)
        *v++ = 0;
}

int ppnc_memeq_ct(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t d = 0;
    for (size_t i = 0; i < len; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}
