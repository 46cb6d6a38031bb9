/* C2SP signed-note and tlog-checkpoint. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "internal.h"

#define EMDASH "\xe2\x80\x94"

PPN_EXPORT uint32_t ppn_ledger_note_key_id(const char *name,
                                           const uint8_t pk[PPN_LEDGER_PUBLIC_KEY_BYTES])
{
    if (!name || !pk)
        return 0;
    crypto_hash_sha256_state st;
    uint8_t h[32];
    static const uint8_t alg = 0x01; /* Ed25519 */
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
    crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_hash_sha256_update(&st, &alg, 1);
    crypto_hash_sha256_update(&st, pk, 32);
    crypto_hash_sha256_final(&st, h);
    return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* Strict standard base64 with padding: decodes and re-encodes to the same text. */
static int b64_strict(const char *s, size_t len, uint8_t *out, size_t want)
{
    size_t got;
    char re[256];
    if (len == 0 || len >= sizeof(re) || sodium_base642bin(out, want, s, len, NULL, &got, NULL,
                                                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        got != want)
        return -EBADMSG;
    sodium_bin2base64(re, sizeof(re), out, want, sodium_base64_VARIANT_ORIGINAL);
    if (strlen(re) != len || memcmp(re, s, len) != 0)
        return -EBADMSG;
    return 0;
}

/* U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000: the
 * Unicode spaces beyond ASCII (White_Space=yes), in UTF-8. */
static bool unicode_space_at(const unsigned char *p, size_t left)
{
    if (left >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
        return true;
    if (left >= 3 && p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80)
        return true;
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x80 &&
        (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
        return true;
    if (left >= 3 && p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f)
        return true;
    return left >= 3 && p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80;
}

/* A C2SP signed-note key name: non-empty UTF-8 without Unicode spaces or '+'.  Its length is
 * bounded only by the note's. */
/* Length of what standard padded base64 of any length decodes to, or -1 if it is not. */
static long b64_decoded_len(const char *s, size_t n)
{
    if (n == 0 || n % 4)
        return -1;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < n - pad; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return -1;
    }
    return (long)(n / 4 * 3 - pad);
}

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || !utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == '+' || c == 0x7f || unicode_space_at((const unsigned char *)s + i, n - i))
            return false;
    }
    return true;
}

int note_parse(const char *note, size_t len, size_t *ret_text_len, struct note_sig *sigs,
               size_t max, size_t *ret_nsigs, const char *want_name)
{
    /* The whole note is bounded (PPN_LEDGER_CHECKPOINT_MAX), not each line: the field limit
     * of entries has nothing to do with notes. */
    if (!note || len > PPN_LEDGER_CHECKPOINT_MAX || len < 2)
        return -EBADMSG;
    if (!utf8_valid(note, len))
        return -EBADMSG;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)note[i] < 0x20 && note[i] != '\n')
            return -EBADMSG;
    /* The text is everything up to and including the newline before the last blank line. */
    size_t split = SIZE_MAX;
    for (size_t i = len - 1; i > 0; i--)
        if (note[i] == '\n' && note[i - 1] == '\n') {
            split = i;
            break;
        }
    if (split == SIZE_MAX || split < 1 || note[len - 1] != '\n')
        return -EBADMSG;
    size_t text_len = split; /* ends with '\n' at split-1 */
    size_t pos = split + 1, n = 0, lines = 0;
    while (pos < len) {
        const char *line = note + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = (size_t)(nl - line);
        pos += ll + 1;
        lines++;
        if (ll < 4 || memcmp(line, EMDASH " ", 4) != 0)
            return -EBADMSG;
        const char *name = line + 4;
        const char *sp = memchr(name, ' ', ll - 4);
        if (!sp)
            return -EBADMSG;
        size_t nl_len = (size_t)(sp - name);
        if (!name_ok(name, nl_len))
            return -EBADMSG;
        const char *b64 = sp + 1;
        size_t bl = ll - 4 - nl_len - 1;
        uint8_t raw[68];
        /* Signatures of other algorithms or sizes are allowed by the spec: skip them. */
        if (b64_decoded_len(b64, bl) < 5)
            return -EBADMSG; /* not base64 of a key ID and a signature */
        if (bl != 92 || b64_strict(b64, bl, raw, 68) < 0)
            continue; /* another algorithm or a cosignature (e.g. tlog-cosignature/v1) */
        if (want_name && (strlen(want_name) != nl_len || memcmp(want_name, name, nl_len) != 0))
            continue;
        if (n < max) {
            sigs[n].key_id = (uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
                             (uint32_t)raw[2] << 8 | raw[3];
            memcpy(sigs[n].sig, raw + 4, 64);
            n++;
        }
    }
    if (lines == 0 || lines > 100)
        return -EBADMSG;
    *ret_text_len = text_len;
    *ret_nsigs = n;
    return 0;
}

int checkpoint_parse_text(const char *text, size_t len, struct checkpoint *ret)
{
    struct checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    const char *p = text, *end = text + len;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    /* An origin longer than an entry's text field cannot be any ledger's own. */
    if (!nl || (size_t)(nl - p) > PPN_LEDGER_TEXT_MAX || !name_ok(p, (size_t)(nl - p)))
        return -EBADMSG;
    memcpy(cp.origin, p, (size_t)(nl - p));
    p = nl + 1;
    nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || nl == p || nl - p > 20 || (p[0] == '0' && nl - p > 1))
        return -EBADMSG;
    uint64_t v = 0;
    for (const char *q = p; q < nl; q++) {
        if (*q < '0' || *q > '9')
            return -EBADMSG;
        unsigned d = (unsigned)(*q - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
    }
    cp.size = v;
    p = nl + 1;
    nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || b64_strict(p, (size_t)(nl - p), cp.root, 32) < 0)
        return -EBADMSG;
    /* Extension lines may follow; they must be non-empty. */
    for (p = nl + 1; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl == p)
            return -EBADMSG;
    }
    *ret = cp;
    return 0;
}

int note_sign(const char *text, size_t tl, const char *name, const uint8_t sk[64], char *buf,
              size_t size, size_t *ret_len)
{
    char sigb[128];
    uint8_t raw[68];
    uint32_t id = ppn_ledger_note_key_id(name, sk + 32);
    raw[0] = (uint8_t)(id >> 24);
    raw[1] = (uint8_t)(id >> 16);
    raw[2] = (uint8_t)(id >> 8);
    raw[3] = (uint8_t)id;
    crypto_sign_detached(raw + 4, NULL, (const uint8_t *)text, tl, sk);
    sodium_bin2base64(sigb, sizeof(sigb), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(buf, size, "%.*s\n" EMDASH " %s %s\n", (int)tl, text, name, sigb);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n >= size)
        return -ENOBUFS;
    *ret_len = (size_t)n;
    return 0;
}

int checkpoint_sign(const struct checkpoint *cp, const uint8_t sk[64], char *buf, size_t size,
                    size_t *ret_len)
{
    char text[PPN_LEDGER_TEXT_MAX + 128], rootb[64];
    sodium_bin2base64(rootb, sizeof(rootb), cp->root, 32, sodium_base64_VARIANT_ORIGINAL);
    int tl = snprintf(text, sizeof(text), "%s\n%llu\n%s\n", cp->origin,
                      (unsigned long long)cp->size, rootb);
    if (tl < 0 || (size_t)tl >= sizeof(text))
        return -EINVAL;
    return note_sign(text, (size_t)tl, cp->origin, sk, buf, size, ret_len);
}

int checkpoint_verify_any(const char *note, size_t len, const char *origin,
                          const uint8_t (*pks)[32], size_t npks, struct checkpoint *ret)
{
    struct note_sig sigs[16];
    size_t tl, ns;
    int r = note_parse(note, len, &tl, sigs, 16, &ns, origin);
    if (r < 0)
        return r;
    struct checkpoint cp;
    r = checkpoint_parse_text(note, tl, &cp);
    if (r < 0)
        return r;
    if (strcmp(cp.origin, origin) != 0)
        return -EBADMSG;
    for (size_t i = 0; i < ns; i++)
        for (size_t k = 0; k < npks; k++)
            if (sigs[i].key_id == ppn_ledger_note_key_id(origin, pks[k]) &&
                crypto_sign_verify_detached(sigs[i].sig, (const uint8_t *)note, tl, pks[k]) == 0) {
                *ret = cp;
                return 0;
            }
    return -EKEYREJECTED;
}

PPN_EXPORT int ppn_ledger_checkpoint_verify(const char *note, size_t len, const char *origin,
                                            const uint8_t pk[PPN_LEDGER_PUBLIC_KEY_BYTES],
                                            uint64_t *ret_size,
                                            uint8_t ret_root[PPN_LEDGER_HASH_BYTES])
{
    if (!note || !origin || !pk || !ret_size || !ret_root)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    struct checkpoint cp;
    const uint8_t (*pks)[32] = (const uint8_t (*)[32])pk;
    int r = checkpoint_verify_any(note, len, origin, pks, 1, &cp);
    if (r < 0)
        return r;
    *ret_size = cp.size;
    memcpy(ret_root, cp.root, 32);
    return 0;
}
