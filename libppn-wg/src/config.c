/* The wg(8) configuration format: parse (setconf) and format (showconf). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ppn-common.h"
#include "wg-internal.h"

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* trim() of a string of known length: no strlen. */
static char *trim_n(char *s, size_t *len)
{
    size_t n = *len;
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    s[n] = '\0';
    *len = n;
    return s;
}

/* A decimal number as wg(8) reads one (strtoul base 10 after a digit):
 * digits only, leading zeros allowed ("0032"), no sign, no space, no "0x";
 * at most 'max'.  -EINVAL otherwise, without overflow on any length. */
int wg_parse_decimal(const char *s, unsigned long max, unsigned long *ret)
{
    unsigned long v = 0;
    if (!*s)
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

/* FwMark as wg(8): "off", "0x" and hexadecimal digits, or decimal; at most
 * 0xffffffff. */
static int parse_fwmark(const char *s, unsigned long *ret)
{
    if (strcasecmp(s, "off") == 0) {
        *ret = 0;
        return 0;
    }
    if (s[0] != '0' || s[1] != 'x' || !s[2])
        return wg_parse_decimal(s, 0xffffffffUL, ret);
    unsigned long v = 0;
    for (s += 2; *s; s++) {
        if (!isxdigit((unsigned char)*s) || v > 0xfffffffUL)
            return -EINVAL;
        v = v << 4 | (unsigned long)(isdigit((unsigned char)*s) ? *s - '0' : (tolower((unsigned char)*s) - 'a' + 10));
    }
    *ret = v;
    return 0;
}

/* PersistentKeepalive as wg(8): "off" or 0..65535 seconds in decimal. */
static int parse_keepalive(const char *s, unsigned long *ret)
{
    if (strcasecmp(s, "off") == 0) {
        *ret = 0;
        return 0;
    }
    return wg_parse_decimal(s, 65535, ret);
}

/* "host:port", "[v6]:port" → sockaddr (numeric first, then getaddrinfo). */
PPN_EXPORT int ppn_wg_endpoint_parse(const char *s, struct sockaddr_in6 *ret, socklen_t *ret_len)
{
    if (!s || !ret || !ret_len)
        return -EINVAL;
    char buf[1100];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(buf))
        return -EINVAL;
    memcpy(buf, s, n + 1);
    char *host = buf, *port;
    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        *close = '\0';
        host = buf + 1;
        port = close + 2;
    } else {
        port = strrchr(buf, ':');
        if (!port)
            return -EINVAL;
        *port++ = '\0';
    }
    unsigned long pv;
    if (!*host || wg_parse_decimal(port, 65535, &pv) < 0)
        return -EINVAL;
    /* Numeric addresses without getaddrinfo (which costs milliseconds per
     * call; a configuration may hold 100,000 endpoints). */
    uint16_t pnum = (uint16_t)pv;
    memset(ret, 0, sizeof(*ret));
    struct sockaddr_in *s4 = (struct sockaddr_in *)ret;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(pnum);
        *ret_len = sizeof(*s4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &ret->sin6_addr) == 1) {
        ret->sin6_family = AF_INET6;
        ret->sin6_port = htons(pnum);
        *ret_len = sizeof(*ret);
        return 0;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_protocol = IPPROTO_UDP;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV;
        r = getaddrinfo(host, port, &hints, &res);
    }
    if (r != 0 || !res)
        return -EINVAL;
    if ((res->ai_family != AF_INET && res->ai_family != AF_INET6) || res->ai_addrlen > sizeof(*ret)) {
        freeaddrinfo(res);
        return -EINVAL;
    }
    memset(ret, 0, sizeof(*ret));
    memcpy(ret, res->ai_addr, res->ai_addrlen);
    *ret_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int parse_endpoint(ppn_wg_peer *p, const char *s)
{
    struct sockaddr_in6 sa;
    socklen_t len;
    int r = ppn_wg_endpoint_parse(s, &sa, &len);
    if (r < 0)
        return r;
    return ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&sa, len);
}

static int parse_key(const char *v, uint8_t out[PPN_WG_KEY_BYTES])
{
    return ppnc_key_from_base64(out, v, strlen(v)) < 0 ? -EBADMSG : 0;
}

/* Public keys are not secret: a table decoder, accepting exactly what
 * ppnc_key_from_base64 accepts (44 characters, the last '=', the two unused
 * bits zero); a configuration may hold 100,000 of them. */
int wg_pubkey_from_base64(const char *v, size_t len, uint8_t out[PPN_WG_KEY_BYTES])
{
    /* The base64 alphabet: 0..63, -1 outside it. */
    static const int8_t t[256] = {
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
        -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
        -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    };
    if (len != PPN_WG_KEY_B64_LEN || v[PPN_WG_KEY_B64_LEN - 1] != '=')
        return -EBADMSG; /* as ppn_wg_key_from_base64 */
    uint8_t k[PPN_WG_KEY_BYTES];
    int bad = 0;
    unsigned o = 0;
    for (unsigned i = 0; i < 40; i += 4) {
        int a = t[(unsigned char)v[i]], b = t[(unsigned char)v[i + 1]], c = t[(unsigned char)v[i + 2]],
            d = t[(unsigned char)v[i + 3]];
        bad |= a | b | c | d;
        unsigned x = (unsigned)(a & 63) << 18 | (unsigned)(b & 63) << 12 | (unsigned)(c & 63) << 6 | (unsigned)(d & 63);
        k[o++] = (uint8_t)(x >> 16);
        k[o++] = (uint8_t)(x >> 8);
        k[o++] = (uint8_t)x;
    }
    int a = t[(unsigned char)v[40]], b = t[(unsigned char)v[41]], c = t[(unsigned char)v[42]];
    bad |= a | b | c;
    if (bad < 0 || (c & 3))
        return -EBADMSG;
    unsigned x = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6;
    k[o++] = (uint8_t)(x >> 16);
    k[o++] = (uint8_t)(x >> 8);
    memcpy(out, k, sizeof(k));
    return 0;
}

/* Records why a line was refused: the field (the key as written, or what the line was meant to
 * be) and a reason that never quotes the value (it may be a key). */
static int refuse(ppn_wg_config_error *e, const char *field, const char *reason, int r)
{
    snprintf(e->field, sizeof(e->field), "%s", field);
    for (char *c = e->field; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?'; /* the key as written, made safe to print */
    snprintf(e->reason, sizeof(e->reason), "%s", reason);
    return r;
}

#define KEY_REASON "not 44 characters of base64 of 32 bytes"

PPN_EXPORT int ppn_wg_config_parse_report(const char *text, size_t len, ppn_wg_device **ret,
                                          ppn_wg_config_error *ret_error)
{
    ppn_wg_config_error scratch;
    ppn_wg_config_error *err = ret_error ? ret_error : &scratch;
    memset(err, 0, sizeof(*err));
    if (!text || !ret)
        return -EINVAL;
    ppn_wg_device *d;
    int r = ppn_wg_device_new(&d);
    if (r < 0)
        return refuse(err, "", "out of memory", r);
    enum { NONE, IFACE, PEER } sec = NONE;
    ppn_wg_peer *peer = NULL;
    unsigned line = 0;
    size_t pos = 0;
    char *buf = NULL;
    size_t bufcap = 0;
    r = 0;
    while (pos < len) {
        line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t e = nl ? (size_t)(nl - text) : len;
        size_t l = e - pos;
        if (l + 1 > bufcap) {
            /* Not realloc: the old buffer may hold a private key line. */
            size_t cap = l + 1 > 2 * bufcap ? l + 1 : 2 * bufcap;
            char *nb = malloc(cap);
            if (!nb) {
                r = refuse(err, "", "out of memory", -ENOMEM);
                break;
            }
            if (buf) {
                ppnc_wipe(buf, bufcap);
                free(buf);
            }
            buf = nb;
            bufcap = cap;
        }
        memcpy(buf, text + pos, l);
        buf[l] = '\0';
        pos = e + 1;
        if (memchr(buf, '\0', l)) {
            r = refuse(err, "", "a NUL byte in the line", -EBADMSG);
            break;
        }
        char *hash = memchr(buf, '#', l);
        if (hash) {
            *hash = '\0';
            l = (size_t)(hash - buf);
        }
        char *s = trim_n(buf, &l);
        if (!l)
            continue;
        if (s[0] == '[') {
            if (strcasecmp(s, "[Interface]") == 0) {
                sec = IFACE;
                peer = NULL;
            } else if (strcasecmp(s, "[Peer]") == 0) {
                sec = PEER;
                peer = NULL;
            } else {
                r = refuse(err, "section", "not [Interface] or [Peer]", -EBADMSG);
                break;
            }
            continue;
        }
        char *eq = memchr(s, '=', l);
        if (!eq) {
            r = refuse(err, "", "not 'Key = Value'", -EBADMSG);
            break;
        }
        *eq = '\0';
        size_t kl = (size_t)(eq - s), vl = l - kl - 1;
        char *k = trim_n(s, &kl), *v = trim_n(eq + 1, &vl);
        unsigned long u;
        uint8_t key[PPN_WG_KEY_BYTES];
        if (sec == IFACE && strcasecmp(k, "PrivateKey") == 0) {
            if ((r = parse_key(v, key)) < 0) {
                refuse(err, k, KEY_REASON, r);
                break;
            }
            ppn_wg_device_set_private_key(d, key);
            ppnc_wipe(key, sizeof(key));
        } else if (sec == IFACE && strcasecmp(k, "ListenPort") == 0) {
            if (wg_parse_decimal(v, 65535, &u) < 0) {
                r = refuse(err, k, "not a decimal port 0..65535", -EBADMSG);
                break;
            }
            ppn_wg_device_set_listen_port(d, (uint16_t)u);
        } else if (sec == IFACE && strcasecmp(k, "FwMark") == 0) {
            if (parse_fwmark(v, &u) < 0) {
                r = refuse(err, k, "not 0..4294967295 (decimal or 0x hexadecimal) or off", -EBADMSG);
                break;
            }
            ppn_wg_device_set_fwmark(d, (uint32_t)u);
        } else if (sec == PEER && strcasecmp(k, "PublicKey") == 0) {
            if (peer) {
                r = refuse(err, k, "a second PublicKey in one [Peer] section", -EBADMSG);
                break;
            }
            if ((r = wg_pubkey_from_base64(v, vl, key)) < 0) {
                refuse(err, k, KEY_REASON, r);
                break;
            }
            peer = ppn_wg_device_find_peer(d, key);
            if (!peer && (r = wg_device_append_peer(d, key, &peer)) < 0) {
                refuse(err, k, "the peer could not be added", r);
                break;
            }
            peer->flags |= PPN_WG_PEER_REPLACE_ALLOWEDIPS;
        } else if (sec == PEER && peer && strcasecmp(k, "PresharedKey") == 0) {
            if ((r = parse_key(v, key)) < 0) {
                refuse(err, k, KEY_REASON, r);
                break;
            }
            ppn_wg_peer_set_preshared_key(peer, key);
            ppnc_wipe(key, sizeof(key));
        } else if (sec == PEER && peer && strcasecmp(k, "AllowedIPs") == 0) {
            char *save = NULL;
            for (char *tok = strtok_r(v, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                ppn_wg_allowedip ip;
                tok = trim(tok);
                if (!*tok)
                    continue;
                if (ppn_wg_allowedip_parse(tok, &ip) < 0) {
                    r = refuse(err, k, "not ADDRESS/PREFIX (prefix 0..32 for IPv4, 0..128 for IPv6)", -EBADMSG);
                    break;
                }
                if ((r = ppn_wg_peer_add_allowedip(peer, &ip)) < 0) {
                    refuse(err, k, "the address could not be added", r);
                    break;
                }
            }
            if (r < 0)
                break;
        } else if (sec == PEER && peer && strcasecmp(k, "Endpoint") == 0) {
            if (parse_endpoint(peer, v) < 0) {
                r = refuse(err, k, "not HOST:PORT with a decimal port 0..65535 and a host that resolves", -EBADMSG);
                break;
            }
        } else if (sec == PEER && peer && strcasecmp(k, "PersistentKeepalive") == 0) {
            if (parse_keepalive(v, &u) < 0) {
                r = refuse(err, k, "not 0..65535 seconds or off", -EBADMSG);
                break;
            }
            ppn_wg_peer_set_keepalive(peer, (uint16_t)u);
        } else {
            r = refuse(err, k, sec == NONE ? "a key before any [Interface] or [Peer] section"
                             : sec == PEER && !peer && (strcasecmp(k, "PresharedKey") == 0 ||
                                                        strcasecmp(k, "AllowedIPs") == 0 ||
                                                        strcasecmp(k, "Endpoint") == 0 ||
                                                        strcasecmp(k, "PersistentKeepalive") == 0)
                                 ? "before the peer's PublicKey"
                             : sec == IFACE ? "not a key of [Interface] (PrivateKey, ListenPort, FwMark)"
                                            : "not a key of [Peer] (PublicKey, PresharedKey, AllowedIPs, "
                                              "Endpoint, PersistentKeepalive)",
                       -EBADMSG);
            break;
        }
    }
    if (buf) {
        ppnc_wipe(buf, bufcap);
        free(buf);
    }
    err->line = r < 0 ? line : 0;
    if (r < 0) {
        ppn_wg_device_free(d);
        return r;
    }
    *ret = d;
    return 0;
}

PPN_EXPORT int ppn_wg_config_parse(const char *text, size_t len, ppn_wg_device **ret, unsigned *ret_line)
{
    ppn_wg_config_error e;
    int r = ppn_wg_config_parse_report(text, len, ret, &e);
    if (ret_line)
        *ret_line = e.line;
    return r;
}

/* Public keys are not secret: a table encoder (ppnc_key_to_base64 is
 * constant time, for private and preshared keys). */
static void pub_to_base64(char *out, const uint8_t k[PPN_WG_KEY_BYTES])
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned i, o = 0;
    for (i = 0; i < 30; i += 3) {
        unsigned v = (unsigned)k[i] << 16 | (unsigned)k[i + 1] << 8 | k[i + 2];
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = t[v >> 6 & 63];
        out[o++] = t[v & 63];
    }
    unsigned v = (unsigned)k[30] << 16 | (unsigned)k[31] << 8;
    out[o++] = t[v >> 18 & 63];
    out[o++] = t[v >> 12 & 63];
    out[o++] = t[v >> 6 & 63];
    out[o++] = '=';
    out[o] = '\0';
}

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    char *np = ppnc_grow_wiped(b->p, b->len, &b->cap, b->len + n + 1, 4096);
    if (!np) {
        b->oom = true;
        return;
    }
    b->p = np;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static void fmt_port(char *out, unsigned v)
{
    char t[8];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *out++ = t[--n];
    *out = '\0';
}

/* "1.2.3.4:5" or "[v6]:5" the way `wg` prints endpoints. */
PPN_EXPORT int ppn_wg_endpoint_format(const struct sockaddr *sa, socklen_t len, char *out, size_t size)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (!sa || !out || !((sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
                         (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))))
        return -EINVAL;
    socklen_t l = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    if (sa->sa_family == AF_INET6 && s6->sin6_scope_id == 0) {
        /* inet_ntop gives what getnameinfo would, much faster */
        if (!inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host)))
            return -EINVAL;
        fmt_port(serv, ntohs(s6->sin6_port));
    } else if (sa->sa_family == AF_INET) {
        if (!inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host)))
            return -EINVAL;
        fmt_port(serv, ntohs(s4->sin_port));
    } else if (getnameinfo(sa, l, host, sizeof(host), serv, sizeof(serv),
                           NI_DGRAM | NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        return -EINVAL;
    }
    bool br = sa->sa_family == AF_INET6 && strchr(host, ':');
    size_t hl = strlen(host), sl = strlen(serv);
    if (hl + sl + 4 > size)
        return -ENOSPC;
    size_t o = 0;
    if (br)
        out[o++] = '[';
    memcpy(out + o, host, hl);
    o += hl;
    if (br)
        out[o++] = ']';
    out[o++] = ':';
    memcpy(out + o, serv, sl + 1);
    return 0;
}

PPN_EXPORT int ppn_wg_config_format(const ppn_wg_device *d, char **ret)
{
    if (!d || !ret)
        return -EINVAL;
    struct sbuf b = {0};
    char tmp[160], k[PPN_WG_KEY_B64_LEN + 1];
    /* One allocation of the right order of size: growing would copy (and
     * wipe) the text holding keys several times. */
    size_t est = 256;
    for (size_t i = 0; i < d->n_peers; i++)
        est += 256 + d->peers[i]->n_ips * 48;
    b.p = malloc(est);
    if (b.p) {
        b.cap = est;
        b.p[0] = '\0';
    }
    sb_add(&b, "[Interface]\n");
    if (d->port) {
        snprintf(tmp, sizeof(tmp), "ListenPort = %u\n", d->port);
        sb_add(&b, tmp);
    }
    if (d->fwmark) {
        snprintf(tmp, sizeof(tmp), "FwMark = 0x%x\n", d->fwmark);
        sb_add(&b, tmp);
    }
    if (d->flags & PPN_WG_DEVICE_HAS_PRIVATE_KEY) {
        ppnc_key_to_base64(k, d->priv);
        sb_add(&b, "PrivateKey = ");
        sb_add(&b, k);
        sb_add(&b, "\n");
    }
    sb_add(&b, "\n");
    for (size_t i = 0; i < d->n_peers; i++) {
        const ppn_wg_peer *p = d->peers[i];
        char line[19 + PPN_WG_KEY_B64_LEN + 1] = "[Peer]\nPublicKey = ";
        pub_to_base64(line + 19, p->pub);
        line[19 + PPN_WG_KEY_B64_LEN] = '\n';
        sb_addn(&b, line, 19 + PPN_WG_KEY_B64_LEN + 1);
        if (p->flags & PPN_WG_PEER_HAS_PRESHARED_KEY) {
            ppnc_key_to_base64(k, p->psk);
            sb_add(&b, "PresharedKey = ");
            sb_add(&b, k);
            sb_add(&b, "\n");
        }
        if (p->n_ips) {
            sb_add(&b, "AllowedIPs = ");
            for (size_t j = 0; j < p->n_ips; j++) {
                if (ppn_wg_allowedip_format(&p->ips[j], tmp, sizeof(tmp) - 2) < 0)
                    strcpy(tmp, "?");
                size_t tl = strlen(tmp);
                if (j + 1 < p->n_ips) {
                    tmp[tl++] = ',';
                    tmp[tl++] = ' ';
                } else {
                    tmp[tl++] = '\n';
                }
                sb_addn(&b, tmp, tl);
            }
        }
        if ((p->flags & PPN_WG_PEER_HAS_ENDPOINT) && ppn_wg_endpoint_format(&p->ep.sa, sizeof(p->ep), tmp, sizeof(tmp)) == 0) {
            sb_add(&b, "Endpoint = ");
            sb_add(&b, tmp);
            sb_add(&b, "\n");
        }
        if (p->keepalive) {
            snprintf(tmp, sizeof(tmp), "PersistentKeepalive = %u\n", p->keepalive);
            sb_add(&b, tmp);
        }
        if (i + 1 < d->n_peers)
            sb_add(&b, "\n");
    }
    ppnc_wipe(k, sizeof(k));
    if (b.oom) {
        if (b.p) {
            ppnc_wipe(b.p, b.cap);
            free(b.p);
        }
        return -ENOMEM;
    }
    *ret = b.p;
    return 0;
}
