/* Node record validation. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/crypto.h"

/* Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF), no C0/C1
 * controls, no DEL, no spaces. */
static int utf8_ok(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c <= 0x20 || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += len;
    }
    return 1;
}

/* Length of a NUL-terminated string within 'max + 1' bytes, or -1. */
static long bounded_len(const char *s, size_t max)
{
    const char *z = memchr(s, '\0', max + 1);
    return z ? (long)(z - s) : -1;
}

static int hostname_ok(const char *s, size_t n)
{
    if (n == 0 || n > PPN_CRYPTO_HOSTNAME_MAX)
        return 0;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return 0;
        if (c == '-' && label == 0)
            return 0;
        if (++label > 63)
            return 0;
    }
    return s[n - 1] != '-';
}

static int port_ok(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v >= 1 && v <= 65535 && s[0] != '0';
}

static int endpoint_ok(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    if (!utf8_ok(s, n))
        return 0;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || (size_t)(close - s) + 1 >= n || close[1] != ':')
            return 0;
        size_t hl = (size_t)(close - s) - 1;
        char host[INET6_ADDRSTRLEN];
        struct in6_addr a6;
        if (hl == 0 || hl >= sizeof(host))
            return 0;
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return 0;
        const char *port = close + 2;
        return port_ok(port, n - (size_t)(port - s));
    }
    const char *colon = memrchr(s, ':', n);
    if (!colon || colon == s)
        return 0;
    if (memchr(s, ':', (size_t)(colon - s)))
        return 0; /* a bare IPv6 address needs brackets */
    size_t hl = (size_t)(colon - s);
    /* A DNS name (IDNs in their ASCII form) or an IPv4 address. */
    return hostname_ok(s, hl) && port_ok(colon + 1, n - hl - 1);
}

static int address_ok(const char *s, size_t n)
{
    if (n == 0)
        return 1;
    const char *slash = memchr(s, '/', n);
    if (!slash)
        return 0;
    size_t al = (size_t)(slash - s);
    char addr[INET6_ADDRSTRLEN];
    if (al == 0 || al >= sizeof(addr))
        return 0;
    memcpy(addr, s, al);
    addr[al] = '\0';
    unsigned char buf[sizeof(struct in6_addr)];
    unsigned max;
    if (inet_pton(AF_INET, addr, buf) == 1)
        max = 32;
    else if (inet_pton(AF_INET6, addr, buf) == 1)
        max = 128;
    else
        return 0;
    const char *p = slash + 1;
    size_t pl = n - al - 1;
    if (pl == 0 || pl > 3 || (pl > 1 && p[0] == '0'))
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < pl; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v <= max;
}

PPN_EXPORT int ppn_crypto_node_record_validate(const ppn_crypto_node_record *rec)
{
    if (!rec)
        return -EINVAL;
    long e = bounded_len(rec->endpoint, PPN_CRYPTO_ENDPOINT_MAX);
    long h = bounded_len(rec->hostname, PPN_CRYPTO_HOSTNAME_MAX);
    long a = bounded_len(rec->address, PPN_CRYPTO_ADDRESS_MAX);
    if (e < 0 || h < 0 || a < 0)
        return -EINVAL;
    if (!hostname_ok(rec->hostname, (size_t)h) || !endpoint_ok(rec->endpoint, (size_t)e) ||
        !address_ok(rec->address, (size_t)a))
        return -EINVAL;
    return 0;
}
