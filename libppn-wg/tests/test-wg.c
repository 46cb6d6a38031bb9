/* libppn-wg without a kernel: objects, keys, prefixes, endpoints, the wg(8)
 * configuration format.  The kernel paths are tested in test-wg-guest.c. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/wg.h"
#include "wg-internal.h"

/* Every id of ppn_wg_constant is its macro; one past the last is -EINVAL. */
static void check_constants_wg(void)
{
    ck_assert_int_eq(ppn_wg_constant(PPN_WG_CONSTANT_KEY_BYTES), (int64_t)PPN_WG_KEY_BYTES);
    ck_assert_int_eq(ppn_wg_constant(PPN_WG_CONSTANT_KEY_B64_LEN), (int64_t)PPN_WG_KEY_B64_LEN);
    ck_assert_int_eq(ppn_wg_constant(PPN_WG_CONSTANT_IFNAME_MAX), (int64_t)PPN_WG_IFNAME_MAX);
    ck_assert_int_eq(ppn_wg_constant(PPN_WG_CONSTANT_CONFIG_FIELD_MAX), (int64_t)PPN_WG_CONFIG_FIELD_MAX);
    ck_assert_int_eq(ppn_wg_constant(PPN_WG_CONSTANT_CONFIG_REASON_MAX), (int64_t)PPN_WG_CONFIG_REASON_MAX);
    ck_assert_int_eq(ppn_wg_constant(PPN_WG_CONSTANT_CONFIG_REASON_MAX + 1), -EINVAL);
    ck_assert_int_eq(ppn_wg_constant(UINT32_MAX), -EINVAL);
}

START_TEST(test_version)
{
    ck_assert_str_eq(ppn_wg_version(), PPN_VERSION);
    check_constants_wg();
    ck_assert_int_eq(ppn_wg_constant(2), 15); /* IFNAME_MAX: the ids are fixed numbers */
}
END_TEST

/* ---- keys ---- */

START_TEST(test_keys)
{
    uint8_t k[32], back[32];
    char b[45];
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)(i * 7 + 1);
    ck_assert_int_eq(ppn_wg_key_to_base64(k, b), 0);
    ck_assert_uint_eq(strlen(b), 44);
    ck_assert_int_eq(ppn_wg_key_from_base64(b, 44, back), 0);
    ck_assert_mem_eq(k, back, 32);
    /* `wg genkey` output decodes; the all-zero key is 43 'A' and '='. */
    ck_assert_int_eq(ppn_wg_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 44, back), 0);
    memset(k, 0, 32);
    ck_assert_mem_eq(k, back, 32);
    /* wrong length, wrong encoding, non-canonical, NULL */
    memset(back, 0x55, 32);
    ck_assert_int_eq(ppn_wg_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 43, back), -EBADMSG);
    ck_assert_int_eq(ppn_wg_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 44, back), -EBADMSG);
    ck_assert_int_eq(ppn_wg_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!=", 44, back), -EBADMSG);
    ck_assert_int_eq(ppn_wg_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", 44, back), -EBADMSG);
    ck_assert_int_eq(ppn_wg_key_from_base64(NULL, 44, back), -EINVAL);
    ck_assert_uint_eq(back[0], 0x55); /* untouched on failure */
    ck_assert_int_eq(ppn_wg_key_to_base64(NULL, b), -EINVAL);
}
END_TEST

/* The public-key decoder of the configuration parser agrees with the
 * constant-time one on every key and every one-character change of it. */
START_TEST(test_pubkey_decoder)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=*- \n\x80";
    uint8_t k[32], a[32], b[32];
    char s[45];
    for (int n = 0; n < 12; n++) {
        for (int i = 0; i < 32; i++)
            k[i] = (uint8_t)(n * 131 + i * 29 + (n * i) % 7);
        ppn_wg_key_to_base64(k, s);
        ck_assert_int_eq(wg_pubkey_from_base64(s, 44, a), 0);
        ck_assert_mem_eq(a, k, 32);
        for (int pos = 0; pos < 44; pos++) {
            char saved = s[pos];
            for (const char *c = alphabet; *c; c++) {
                s[pos] = *c;
                int r1 = ppn_wg_key_from_base64(s, 44, a), r2 = wg_pubkey_from_base64(s, 44, b);
                ck_assert_int_eq(r1, r2);
                if (r1 == 0)
                    ck_assert_mem_eq(a, b, 32);
            }
            s[pos] = saved;
        }
        ck_assert_int_eq(wg_pubkey_from_base64(s, 43, a), -EBADMSG);
    }
}
END_TEST

/* ---- prefixes and endpoints ---- */

START_TEST(test_allowedip)
{
    static const struct { const char *in, *out; } ok[] = {
        {"10.0.0.1/24", "10.0.0.1/24"}, {"10.0.0.1", "10.0.0.1/32"}, {"0.0.0.0/0", "0.0.0.0/0"},
        {"fd00::1/64", "fd00::1/64"},   {"::/0", "::/0"},            {"2001:db8::", "2001:db8::/128"},
        {"::ffff:1.2.3.4/120", "::ffff:1.2.3.4/120"},
        /* leading zeros, as wg(8) reads a prefix length (strtoul base 10) */
        {"10.0.0.1/0008", "10.0.0.1/8"}, {"10.0.0.1/0032", "10.0.0.1/32"}, {"fd00::/0128", "fd00::/128"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ppn_wg_allowedip ip;
        char buf[64];
        ck_assert_int_eq(ppn_wg_allowedip_parse(ok[i].in, &ip), 0);
        ck_assert_int_eq(ppn_wg_allowedip_format(&ip, buf, sizeof(buf)), 0);
        ck_assert_str_eq(buf, ok[i].out);
    }
    static const char *bad[] = {"", "10.0.0.1/33", "fd00::/129", "10.0.0.1/", "10.0.0.1/-1", "10.0.0/8",
                                "x", "10.0.0.1/2a", "10.0.0.1 /8",
                                "10.0.0.1/abc", "10.0.0.1/0x8", "10.0.0.1/+8", "10.0.0.1/00033",
                                "10.0.0.1/99999999999999999999999", "fd00::/-1", "fd00::/0129"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ppn_wg_allowedip ip;
        ck_assert_msg(ppn_wg_allowedip_parse(bad[i], &ip) == -EINVAL, "accepted '%s'", bad[i]);
    }
    ppn_wg_allowedip ip;
    char small[8];
    ck_assert_int_eq(ppn_wg_allowedip_parse("10.200.100.1/24", &ip), 0);
    ck_assert_int_eq(ppn_wg_allowedip_format(&ip, small, sizeof(small)), -ENOSPC);
    wg_allowedip_normalize(&ip);
    char buf[64];
    ppn_wg_allowedip_format(&ip, buf, sizeof(buf));
    ck_assert_str_eq(buf, "10.200.100.0/24");
    ck_assert_int_eq(ppn_wg_allowedip_parse("fd00::ffff/113", &ip), 0);
    wg_allowedip_normalize(&ip);
    ppn_wg_allowedip_format(&ip, buf, sizeof(buf));
    ck_assert_str_eq(buf, "fd00::8000/113");
    ip.family = 99;
    ck_assert_int_eq(ppn_wg_allowedip_format(&ip, buf, sizeof(buf)), -EINVAL);
}
END_TEST

START_TEST(test_endpoint)
{
    struct sockaddr_in6 sa;
    socklen_t len;
    char buf[128];
    ck_assert_int_eq(ppn_wg_endpoint_parse("192.0.2.1:51820", &sa, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(ppn_wg_endpoint_format((struct sockaddr *)&sa, len, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "192.0.2.1:51820");
    ck_assert_int_eq(ppn_wg_endpoint_parse("[2001:db8::1]:443", &sa, &len), 0);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
    ck_assert_int_eq(ppn_wg_endpoint_format((struct sockaddr *)&sa, len, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "[2001:db8::1]:443");
    ck_assert_int_eq(ppn_wg_endpoint_parse("localhost:1", &sa, &len), 0);
    /* The port as wg(8) reads it: decimal, leading zeros allowed, 0..65535. */
    ck_assert_int_eq(ppn_wg_endpoint_parse("192.0.2.1:000080", &sa, &len), 0);
    ck_assert_int_eq(ppn_wg_endpoint_format((struct sockaddr *)&sa, len, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "192.0.2.1:80");
    ck_assert_int_eq(ppn_wg_endpoint_parse("[::1]:65535", &sa, &len), 0);
    ck_assert_int_eq(ppn_wg_endpoint_parse("192.0.2.1:0", &sa, &len), 0);
    static const char *bad[] = {"", "1.2.3.4", "1.2.3.4:", "[::1]", "[::1:5", ":5", "1.2.3.4:99999", "[]:5",
                                "1.2.3.4:abc", "1.2.3.4:-1", "1.2.3.4:65536", "[::1]:65536", "1.2.3.4:+5",
                                "1.2.3.4:0x10", "1.2.3.4: 5", "1.2.3.4:99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(ppn_wg_endpoint_parse(bad[i], &sa, &len) == -EINVAL, "accepted '%s'", bad[i]);
    ck_assert_int_eq(ppn_wg_endpoint_format((struct sockaddr *)&sa, len, buf, 4), -ENOSPC);
}
END_TEST

/* ---- objects ---- */

START_TEST(test_device_object)
{
    ppn_wg_device *d;
    uint8_t k[32], out[32];
    ck_assert_int_eq(ppn_wg_device_new(&d), 0);
    ck_assert_str_eq(ppn_wg_device_get_name(d), "");
    ck_assert_int_eq(ppn_wg_device_set_name(d, "wg0"), 0);
    ck_assert_int_eq(ppn_wg_device_set_name(d, "0123456789abcdef"), -EINVAL);
    ck_assert_int_eq(ppn_wg_device_set_name(d, ""), -EINVAL);
    ck_assert_int_eq(ppn_wg_device_set_name(d, "a/b"), -EINVAL);
    ck_assert_str_eq(ppn_wg_device_get_name(d), "wg0");
    ck_assert_int_eq(ppn_wg_device_get_private_key(d, out), -ENOENT);
    ck_assert_int_eq(ppn_wg_device_get_public_key(d, out), -ENOENT);
    memset(k, 3, 32);
    ck_assert_int_eq(ppn_wg_device_set_private_key(d, k), 0);
    ck_assert_int_eq(ppn_wg_device_get_private_key(d, out), 0);
    ck_assert_mem_eq(k, out, 32);
    ck_assert_int_eq(ppn_wg_device_set_private_key(d, NULL), 0);
    ck_assert_int_eq(ppn_wg_device_get_private_key(d, out), -ENOENT);
    ck_assert_int_eq(ppn_wg_device_set_flags(d, PPN_WG_DEVICE_HAS_PRIVATE_KEY), -EINVAL);
    ck_assert_int_eq(ppn_wg_device_set_flags(d, PPN_WG_DEVICE_REPLACE_PEERS), 0);
    ck_assert_int_eq(ppn_wg_device_set_listen_port(d, 51820), 0);
    ck_assert_uint_eq(ppn_wg_device_get_flags(d),
                      PPN_WG_DEVICE_REPLACE_PEERS | PPN_WG_DEVICE_HAS_LISTEN_PORT);

    /* 5000 peers: lookup through the index, removal keeps the rest. */
    for (uint32_t i = 0; i < 5000; i++) {
        ppn_wg_peer *p;
        memset(k, 0, 32);
        memcpy(k, &i, sizeof(i));
        ck_assert_int_eq(ppn_wg_device_add_peer(d, k, &p), 0);
        ck_assert_int_eq(ppn_wg_device_add_peer(d, k, NULL), -EEXIST);
    }
    ck_assert_uint_eq(ppn_wg_device_peer_count(d), 5000);
    ck_assert_ptr_null(ppn_wg_device_peer_at(d, 5000));
    uint32_t x = 1234;
    memset(k, 0, 32);
    memcpy(k, &x, sizeof(x));
    ppn_wg_peer *p = ppn_wg_device_find_peer(d, k);
    ck_assert_ptr_eq(p, ppn_wg_device_peer_at(d, 1234));
    ppn_wg_peer *later = ppn_wg_device_peer_at(d, 4000);
    ck_assert_int_eq(ppn_wg_device_remove_peer(d, k), 0);
    ck_assert_int_eq(ppn_wg_device_remove_peer(d, k), -ENOENT);
    ck_assert_ptr_null(ppn_wg_device_find_peer(d, k));
    ck_assert_ptr_eq(ppn_wg_device_peer_at(d, 3999), later); /* pointers stay valid */
    x = 4999;
    memcpy(k, &x, sizeof(x));
    ck_assert_ptr_eq(ppn_wg_device_find_peer(d, k), ppn_wg_device_peer_at(d, 4998));

    /* peer fields */
    p = ppn_wg_device_peer_at(d, 0);
    ck_assert_int_eq(ppn_wg_peer_set_flags(p, PPN_WG_PEER_HAS_ENDPOINT), -EINVAL);
    ck_assert_int_eq(ppn_wg_peer_set_flags(p, PPN_WG_PEER_REMOVE_ME | PPN_WG_PEER_UPDATE_ONLY), 0);
    ck_assert_int_eq(ppn_wg_peer_get_preshared_key(p, out), -ENOENT);
    ck_assert_int_eq(ppn_wg_peer_set_preshared_key(p, k), 0);
    ck_assert_int_eq(ppn_wg_peer_get_preshared_key(p, out), 0);
    struct sockaddr_in6 sa;
    socklen_t sl;
    ck_assert_int_eq(ppn_wg_peer_get_endpoint(p, &sa, &sl), -ENOENT);
    struct sockaddr_un_like { sa_family_t f; char x[20]; } bad = {AF_UNIX, {0}};
    ck_assert_int_eq(ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&bad, sizeof(bad)), -EINVAL);
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(5)};
    ck_assert_int_eq(ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&s4, sizeof(s4) - 1), -EINVAL);
    ck_assert_int_eq(ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&s4, sizeof(s4)), 0);
    ck_assert_int_eq(ppn_wg_peer_get_endpoint(p, &sa, &sl), 0);
    ck_assert_uint_eq(sl, sizeof(s4));
    ppn_wg_allowedip ip = {.family = AF_INET, .cidr = 33};
    ck_assert_int_eq(ppn_wg_peer_add_allowedip(p, &ip), -EINVAL);
    ip.cidr = 8;
    ck_assert_int_eq(ppn_wg_peer_add_allowedip(p, &ip), 0);
    ck_assert_uint_eq(ppn_wg_peer_allowedip_count(p), 1);
    ck_assert_int_eq(ppn_wg_peer_allowedip_at(p, 1, &ip), -ENOENT);
    ppn_wg_peer_clear_allowedips(p);
    ck_assert_uint_eq(ppn_wg_peer_allowedip_count(p), 0);
    ppn_wg_device_free(d);
    ppn_wg_device_free(NULL);
    ck_assert_int_eq(ppn_wg_device_new(NULL), -EINVAL);
}
END_TEST

/* ---- configuration format: known answers ---- */

static const char conf_canonical[] =
    "[Interface]\n"
    "ListenPort = 51820\n"
    "FwMark = 0x1f\n"
    "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
    "\n"
    "[Peer]\n"
    "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
    "PresharedKey = FpCyhws9cxwWoV4xELtfJvjJN+zQVRPISllRWgeopVE=\n"
    "AllowedIPs = 10.192.122.3/32, 10.192.124.0/24\n"
    "Endpoint = 192.95.5.67:1234\n"
    "PersistentKeepalive = 25\n"
    "\n"
    "[Peer]\n"
    "PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\n"
    "AllowedIPs = 10.192.122.4/32, 192.168.0.0/16\n"
    "Endpoint = [2607:5300:60:6b0::c05f:543]:2468\n"
    "\n"
    "[Peer]\n"
    "PublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=\n";

START_TEST(test_config_roundtrip)
{
    ppn_wg_device *d;
    unsigned line = 99;
    ck_assert_int_eq(ppn_wg_config_parse(conf_canonical, strlen(conf_canonical), &d, &line), 0);
    ck_assert_uint_eq(line, 0);
    ck_assert_uint_eq(ppn_wg_device_peer_count(d), 3);
    ck_assert_uint_eq(ppn_wg_device_get_listen_port(d), 51820);
    ck_assert_uint_eq(ppn_wg_device_get_fwmark(d), 0x1f);
    ppn_wg_peer *p = ppn_wg_device_peer_at(d, 0);
    ck_assert_uint_eq(ppn_wg_peer_get_keepalive(p), 25);
    ck_assert_uint_eq(ppn_wg_peer_get_flags(p) & PPN_WG_PEER_REPLACE_ALLOWEDIPS, PPN_WG_PEER_REPLACE_ALLOWEDIPS);
    char *text;
    ck_assert_int_eq(ppn_wg_config_format(d, &text), 0);
    ck_assert_str_eq(text, conf_canonical);
    free(text);
    ppn_wg_device_free(d);
}
END_TEST

START_TEST(test_config_lenient)
{
    /* Comments, case, spacing, "off", repeated AllowedIPs as wg accepts. */
    static const char in[] =
        "# a comment\n"
        "[interface]\r\n"
        "  privatekey=yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=   # key\n"
        "FwMark = off\n"
        "\n"
        "[PEER]\n"
        "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
        "AllowedIPs = 10.0.0.1/32,fd00::/64\n"
        "AllowedIPs = 10.0.0.2\n"
        "PersistentKeepalive = off\n";
    static const char want[] =
        "[Interface]\n"
        "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"
        "\n"
        "[Peer]\n"
        "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
        "AllowedIPs = 10.0.0.1/32, fd00::/64, 10.0.0.2/32\n";
    ppn_wg_device *d;
    ck_assert_int_eq(ppn_wg_config_parse(in, strlen(in), &d, NULL), 0);
    char *text;
    ck_assert_int_eq(ppn_wg_config_format(d, &text), 0);
    ck_assert_str_eq(text, want);
    free(text);
    ppn_wg_device_free(d);
}
END_TEST

START_TEST(test_config_errors)
{
    static const struct { const char *text; int err; unsigned line; } bad[] = {
        {"[Interface]\nPrivateKey = abc\n", -EBADMSG, 2},
        {"[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk\n", -EBADMSG, 2},
        {"[Interface]\nListenPort = 65536\n", -EBADMSG, 2},
        {"[Interface]\nListenPort = -1\n", -EBADMSG, 2},
        {"[Interface]\nAddress = 10.0.0.1/24\n", -EBADMSG, 2},
        {"[Peer]\nAllowedIPs = 10.0.0.0/8\n", -EBADMSG, 2}, /* before PublicKey */
        {"[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nEndpoint = nope\n", -EBADMSG, 3},
        {"[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nAllowedIPs = 10.0.0.0/33\n",
         -EBADMSG, 3},
        {"[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nPersistentKeepalive = 70000\n",
         -EBADMSG, 3},
        {"[Bogus]\n", -EBADMSG, 1},
        {"ListenPort = 5\n", -EBADMSG, 1},
        {"[Interface]\nno equals sign\n", -EBADMSG, 2},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ppn_wg_device *d = (ppn_wg_device *)0x1;
        unsigned line = 0;
        int r = ppn_wg_config_parse(bad[i].text, strlen(bad[i].text), &d, &line);
        ck_assert_msg(r == bad[i].err, "case %zu: %d", i, r);
        ck_assert_msg(line == bad[i].line, "case %zu: line %u", i, line);
        ck_assert_ptr_eq(d, (ppn_wg_device *)0x1);
    }
    /* An embedded NUL is rejected, not truncated. */
    static const char nul[] = "[Interface]\nListenPort = 5\0 junk\n";
    ppn_wg_device *d;
    ck_assert_int_eq(ppn_wg_config_parse(nul, sizeof(nul) - 1, &d, NULL), -EBADMSG);
    ck_assert_int_eq(ppn_wg_config_parse(NULL, 0, &d, NULL), -EINVAL);
    /* Empty input is an empty device. */
    ck_assert_int_eq(ppn_wg_config_parse("", 0, &d, NULL), 0);
    ck_assert_uint_eq(ppn_wg_device_peer_count(d), 0);
    ppn_wg_device_free(d);
}
END_TEST

/* Every number the configuration text holds, as wg(8) reads it (checked
 * against `wg setconf` on a machine without a kernel module: its parser
 * runs first): abc, -1 and one past the maximum are a syntax error at their
 * line; the forms wg accepts give wg's value (decimal with leading zeros;
 * "0x" hexadecimal only for FwMark; "off" for FwMark and
 * PersistentKeepalive).  wg takes ListenPort 65536 as 0 (getaddrinfo wraps
 * the port) and service names: both refused here. */
#define PUB "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
/* The report of a refused text: its line, the field as written (made printable), a reason that
 * says what the value should be and never quotes it (a key may be in it). */
START_TEST(test_config_report)
{
    static const struct { const char *text; unsigned line; const char *field, *reason_part; } cases[] = {
        {"[Bogus]\n", 1, "section", "[Interface] or [Peer]"},
        {"ListenPort = 5\n", 1, "ListenPort", "before any"},
        {"[Interface]\nno equals sign\n", 2, "", "Key = Value"},
        {"[Interface]\nAddress = 10.0.0.1/24\n", 2, "Address", "not a key of [Interface]"},
        {"[Peer]\nAllowedIPs = 10.0.0.0/8\n", 2, "AllowedIPs", "before the peer's PublicKey"},
        {"[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\nBogus = 1\n", 3, "Bogus", "not a key of [Peer]"},
        {"[Interface]\nPrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk\n", 2, "PrivateKey", "base64"},
        {"[Peer]\nPublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n"
         "PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n", 3, "PublicKey", "second PublicKey"},
        {"[Interface]\nLis\x01ten\x7f = 1\n", 2, "Lis?ten?", "not a key"},
        {"[Interface]\nAVeryLongKeyNameThatDoesNotFitTheFieldAtAll = 1\n", 2,
         "AVeryLongKeyNameThatDoesNotFitT", "not a key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ppn_wg_device *d = (ppn_wg_device *)0x1;
        ppn_wg_config_error e;
        int r = ppn_wg_config_parse_report(cases[i].text, strlen(cases[i].text), &d, &e);
        ck_assert_msg(r == -EBADMSG && e.line == cases[i].line, "case %zu: %d line %u", i, r, e.line);
        ck_assert_msg(strcmp(e.field, cases[i].field) == 0, "case %zu: field '%s'", i, e.field);
        ck_assert_msg(strstr(e.reason, cases[i].reason_part) != NULL, "case %zu: reason '%s'", i, e.reason);
        ck_assert_msg(strstr(e.reason, "yAnz5") == NULL, "case %zu: the value quoted", i);
        ck_assert_ptr_eq(d, (ppn_wg_device *)0x1);
    }
    /* accepted: a zeroed report; NULL report is fine; NULL text -EINVAL with a zeroed report */
    ppn_wg_device *d;
    ppn_wg_config_error e;
    memset(&e, 0xa5, sizeof(e));
    ck_assert_int_eq(ppn_wg_config_parse_report("[Interface]\nListenPort = 5\n", 27, &d, &e), 0);
    ck_assert_uint_eq(e.line, 0);
    ck_assert_str_eq(e.field, "");
    ppn_wg_device_free(d);
    ck_assert_int_eq(ppn_wg_config_parse_report("[Bogus]\n", 8, &d, NULL), -EBADMSG);
    memset(&e, 0xa5, sizeof(e));
    ck_assert_int_eq(ppn_wg_config_parse_report(NULL, 0, &d, &e), -EINVAL);
    ck_assert_uint_eq(e.line, 0);
}
END_TEST

START_TEST(test_config_numbers)
{
    static const struct { const char *field, *text; } bad[] = {
        {"ListenPort", "[Interface]\nListenPort = abc\n"},
        {"ListenPort", "[Interface]\nListenPort = -1\n"},
        {"ListenPort", "[Interface]\nListenPort = 65536\n"},
        {"ListenPort", "[Interface]\nListenPort = 0x10\n"},
        {"ListenPort", "[Interface]\nListenPort = +5\n"},
        {"ListenPort", "[Interface]\nListenPort = 99999999999999999999999\n"},
        {"ListenPort", "[Interface]\nListenPort =\n"},
        {"FwMark", "[Interface]\nFwMark = abc\n"},
        {"FwMark", "[Interface]\nFwMark = -1\n"},
        {"FwMark", "[Interface]\nFwMark = 4294967296\n"},
        {"FwMark", "[Interface]\nFwMark = 0x100000000\n"},
        {"FwMark", "[Interface]\nFwMark = 0X10\n"},
        {"FwMark", "[Interface]\nFwMark = +5\n"},
        {"FwMark", "[Interface]\nFwMark = 0x\n"},
        {"FwMark", "[Interface]\nFwMark = 0xg\n"},
        {"FwMark", "[Interface]\nFwMark = 0x-1\n"},
        {"PersistentKeepalive", "[Peer]\n" PUB "PersistentKeepalive = abc\n"},
        {"PersistentKeepalive", "[Peer]\n" PUB "PersistentKeepalive = -1\n"},
        {"PersistentKeepalive", "[Peer]\n" PUB "PersistentKeepalive = 65536\n"},
        {"PersistentKeepalive", "[Peer]\n" PUB "PersistentKeepalive = 0x10\n"},
        {"PersistentKeepalive", "[Peer]\n" PUB "PersistentKeepalive = +5\n"},
        {"AllowedIPs", "[Peer]\n" PUB "AllowedIPs = 10.0.0.0/abc\n"},
        {"AllowedIPs", "[Peer]\n" PUB "AllowedIPs = 10.0.0.0/-1\n"},
        {"AllowedIPs", "[Peer]\n" PUB "AllowedIPs = 10.0.0.0/33\n"},
        {"AllowedIPs", "[Peer]\n" PUB "AllowedIPs = 10.0.0.1/32, fd00::/129\n"},
        {"AllowedIPs", "[Peer]\n" PUB "AllowedIPs = 10.0.0.0/0x8\n"},
        {"Endpoint", "[Peer]\n" PUB "Endpoint = 192.0.2.1:abc\n"},
        {"Endpoint", "[Peer]\n" PUB "Endpoint = 192.0.2.1:-1\n"},
        {"Endpoint", "[Peer]\n" PUB "Endpoint = 192.0.2.1:65536\n"},
        {"Endpoint", "[Peer]\n" PUB "Endpoint = [2001:db8::1]:65536\n"},
        {"Endpoint", "[Peer]\n" PUB "Endpoint = 192.0.2.1:0x10\n"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ppn_wg_device *d = (ppn_wg_device *)0x1;
        unsigned line = 0;
        unsigned want = strncmp(bad[i].text, "[Peer]", 6) == 0 ? 3 : 2;
        int r = ppn_wg_config_parse(bad[i].text, strlen(bad[i].text), &d, &line);
        ck_assert_msg(r == -EBADMSG && line == want, "%s: accepted or wrong line (%d, line %u): %s", bad[i].field,
                      r, line, bad[i].text);
        ck_assert_ptr_eq(d, (ppn_wg_device *)0x1);
        /* the report names the line and the field, and never quotes the value */
        ppn_wg_config_error e;
        memset(&e, 0xa5, sizeof(e));
        r = ppn_wg_config_parse_report(bad[i].text, strlen(bad[i].text), &d, &e);
        ck_assert_msg(r == -EBADMSG && e.line == want && strcmp(e.field, bad[i].field) == 0,
                      "%s: report %d line %u field '%s'", bad[i].field, r, e.line, e.field);
        ck_assert_msg(e.reason[0] && strlen(e.reason) < sizeof(e.reason), "%s: no reason", bad[i].field);
        ck_assert_int_eq(e.reserved[0] | e.reserved[1] | e.reserved[2] | e.reserved[3], 0);
        ck_assert_ptr_eq(d, (ppn_wg_device *)0x1);
    }
    static const struct { const char *text; uint32_t port, fwmark, keepalive; const char *out; } ok[] = {
        {"[Interface]\nListenPort = 010\n", 10, 0, 0, NULL},
        {"[Interface]\nListenPort = 65535\n", 65535, 0, 0, NULL},
        {"[Interface]\nListenPort = 0\n", 0, 0, 0, NULL},
        {"[Interface]\nFwMark = 010\n", 0, 10, 0, NULL},
        {"[Interface]\nFwMark = 0x10\n", 0, 16, 0, NULL},
        {"[Interface]\nFwMark = 0xDEADbeef\n", 0, 0xdeadbeef, 0, NULL},
        {"[Interface]\nFwMark = 4294967295\n", 0, 0xffffffff, 0, NULL},
        {"[Interface]\nFwMark = 0x00000000ffffffff\n", 0, 0xffffffff, 0, NULL},
        {"[Interface]\nFwMark = OFF\n", 0, 0, 0, NULL},
        {"[Peer]\n" PUB "PersistentKeepalive = 010\n", 0, 0, 10, NULL},
        {"[Peer]\n" PUB "PersistentKeepalive = 65535\n", 0, 0, 65535, NULL},
        {"[Peer]\n" PUB "PersistentKeepalive = Off\n", 0, 0, 0, NULL},
        {"[Peer]\n" PUB "AllowedIPs = 10.0.0.0/08, fd00::/0128\n", 0, 0, 0, "10.0.0.0/8, fd00::/128"},
        {"[Peer]\n" PUB "Endpoint = 192.0.2.1:000080\n", 0, 0, 0, "192.0.2.1:80"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ppn_wg_device *d;
        unsigned line = 99;
        ck_assert_msg(ppn_wg_config_parse(ok[i].text, strlen(ok[i].text), &d, &line) == 0, "refused: %s",
                      ok[i].text);
        ck_assert_msg(ppn_wg_device_get_listen_port(d) == ok[i].port, "ListenPort of %s", ok[i].text);
        ck_assert_msg(ppn_wg_device_get_fwmark(d) == ok[i].fwmark, "FwMark of %s", ok[i].text);
        if (ppn_wg_device_peer_count(d)) {
            ppn_wg_peer *p = ppn_wg_device_peer_at(d, 0);
            ck_assert_msg(ppn_wg_peer_get_keepalive(p) == ok[i].keepalive, "keepalive of %s", ok[i].text);
        }
        if (ok[i].out) {
            char *text;
            ck_assert_int_eq(ppn_wg_config_format(d, &text), 0);
            ck_assert_msg(strstr(text, ok[i].out) != NULL, "%s gave %s", ok[i].text, text);
            free(text);
        }
        ppn_wg_device_free(d);
    }
}
END_TEST
#undef PUB

START_TEST(test_ifname)
{
    static const char *ok[] = {"w", "wg0", "abcdefghijklmno", "wg-mesh_1.x"};
    static const char *bad[] = {"", "abcdefghijklmnop", ".", "..", "a/b", "a:b", "a b", "a\tb", "a\nb"};
    ppn_wg_device *d;
    ck_assert_int_eq(ppn_wg_device_new(&d), 0);
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_int_eq(ppn_wg_ifname_check(ok[i]), 0);
        ck_assert_int_eq(ppn_wg_device_set_name(d, ok[i]), 0);
        ck_assert_str_eq(ppn_wg_device_get_name(d), ok[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(ppn_wg_ifname_check(bad[i]), -EINVAL);
        ck_assert_int_eq(ppn_wg_device_set_name(d, bad[i]), -EINVAL);
        ck_assert_int_eq(ppn_wg_link_del(bad[i]), -EINVAL); /* refused before any socket */
        ppn_wg_device *g = NULL;
        ck_assert_int_eq(ppn_wg_get_device(bad[i], &g), -EINVAL);
    }
    ck_assert_int_eq(ppn_wg_ifname_check(NULL), -EINVAL);
    ck_assert_str_eq(ppn_wg_device_get_name(d), "wg-mesh_1.x");
    ppn_wg_device_free(d);
}
END_TEST

/* X25519 public keys: RFC 7748 section 6.1 (Alice), and generation. */
START_TEST(test_key_generate_public)
{
    static const uint8_t alice[32] = {0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1,
                                      0x72, 0x51, 0xb2, 0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0,
                                      0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a};
    static const uint8_t alice_pub[32] = {0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d,
                                          0xdc, 0xb4, 0x3e, 0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38,
                                          0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a};
    uint8_t pub[32], k[32], k2[32];
    ck_assert_int_eq(ppn_wg_key_public(alice, pub), 0);
    ck_assert_mem_eq(pub, alice_pub, 32);
    ck_assert_int_eq(ppn_wg_key_public(NULL, pub), -EINVAL);
    ck_assert_int_eq(ppn_wg_key_public(alice, NULL), -EINVAL);
    for (int i = 0; i < 64; i++) {
        ck_assert_int_eq(ppn_wg_key_generate(k), 0);
        ck_assert_uint_eq(k[0] & 7, 0); /* clamped */
        ck_assert_uint_eq(k[31] & 0xc0, 0x40);
        ck_assert_int_eq(ppn_wg_key_generate(k2), 0);
        ck_assert_int_ne(memcmp(k, k2, 32), 0);
        ck_assert_int_eq(ppn_wg_key_generate_preshared(k), 0);
        ck_assert_int_eq(ppn_wg_key_generate_preshared(k2), 0);
        ck_assert_int_ne(memcmp(k, k2, 32), 0);
    }
    ck_assert_int_eq(ppn_wg_key_generate(NULL), -EINVAL);
    ck_assert_int_eq(ppn_wg_key_generate_preshared(NULL), -EINVAL);
}
END_TEST

/* ---- the sync's diff (wg_sync_plan), no kernel ---- */

static ppn_wg_device *plan_device(size_t n)
{
    ppn_wg_device *d;
    ck_assert_int_eq(ppn_wg_device_new(&d), 0);
    ck_assert_int_eq(ppn_wg_device_set_name(d, "wg0"), 0);
    uint8_t k[32];
    memset(k, 0x11, 32);
    ppn_wg_device_set_private_key(d, k);
    ppn_wg_device_set_listen_port(d, 51820);
    for (size_t i = 0; i < n; i++) {
        ppn_wg_peer *p;
        char buf[64];
        ppn_wg_allowedip ip;
        memset(k, 0, 32);
        memcpy(k, &i, sizeof(i));
        ck_assert_int_eq(ppn_wg_device_add_peer(d, k, &p), 0);
        snprintf(buf, sizeof(buf), "10.%zu.%zu.%zu/32", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        ck_assert_int_eq(ppn_wg_allowedip_parse(buf, &ip), 0);
        ppn_wg_peer_add_allowedip(p, &ip);
        snprintf(buf, sizeof(buf), "fd00::%zx/128", i);
        ck_assert_int_eq(ppn_wg_allowedip_parse(buf, &ip), 0);
        ppn_wg_peer_add_allowedip(p, &ip);
        if (i % 2 == 0) {
            struct sockaddr_in6 sa;
            socklen_t sl;
            snprintf(buf, sizeof(buf), "192.0.2.%zu:%zu", i % 250 + 1, 1000 + i);
            ck_assert_int_eq(ppn_wg_endpoint_parse(buf, &sa, &sl), 0);
            ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&sa, sl);
            ppn_wg_peer_set_keepalive(p, 25);
        }
    }
    return d;
}

static ppn_wg_peer *peer_n(const ppn_wg_device *d, size_t i)
{
    uint8_t k[32];
    memset(k, 0, 32);
    memcpy(k, &i, sizeof(i));
    return ppn_wg_device_find_peer(d, k);
}

START_TEST(test_sync_plan)
{
    ppn_wg_device *cur = plan_device(5000), *want = plan_device(5000), *out;
    /* Unchanged: nothing to write, not even a device field. */
    ck_assert_int_eq(wg_sync_plan(want, cur, &out), 0);
    ck_assert_uint_eq(ppn_wg_device_peer_count(out), 0);
    ck_assert_uint_eq(ppn_wg_device_get_flags(out), 0);
    ck_assert_str_eq(ppn_wg_device_get_name(out), "wg0");
    ppn_wg_device_free(out);

    /* The same IPs in another order, with host bits set: unchanged.  A
     * desired peer without an endpoint leaves the kernel's alone. */
    ppn_wg_peer *p = peer_n(want, 10);
    ppn_wg_allowedip a, b;
    ppn_wg_peer_allowedip_at(p, 0, &a);
    ppn_wg_peer_allowedip_at(p, 1, &b);
    ppn_wg_peer_clear_allowedips(p);
    ppn_wg_peer_add_allowedip(p, &b);
    ppn_wg_peer_add_allowedip(p, &a);
    ppn_wg_peer_set_endpoint(p, NULL, 0);
    ppn_wg_allowedip_parse("10.99.0.7/16", &a);
    ppn_wg_peer_add_allowedip(peer_n(cur, 11), &(ppn_wg_allowedip){.family = AF_INET, .cidr = 16,
                                                                  .addr = {10, 99}});
    ppn_wg_peer_add_allowedip(peer_n(want, 11), &a);
    ck_assert_int_eq(wg_sync_plan(want, cur, &out), 0);
    ck_assert_uint_eq(ppn_wg_device_peer_count(out), 0);
    ppn_wg_device_free(out);

    /* One endpoint changed: one peer, with only its endpoint. */
    struct sockaddr_in6 sa, got;
    socklen_t sl;
    ck_assert_int_eq(ppn_wg_endpoint_parse("198.51.100.9:9", &sa, &sl), 0);
    ppn_wg_peer_set_endpoint(peer_n(want, 20), (struct sockaddr *)&sa, sl);
    ck_assert_int_eq(wg_sync_plan(want, cur, &out), 1);
    ck_assert_uint_eq(ppn_wg_device_peer_count(out), 1);
    ck_assert_uint_eq(ppn_wg_device_get_flags(out), 0);
    p = ppn_wg_device_peer_at(out, 0);
    ck_assert_ptr_eq(ppn_wg_device_find_peer(out, (uint8_t[32]){20}), p);
    ck_assert_uint_eq(ppn_wg_peer_get_flags(p), PPN_WG_PEER_HAS_ENDPOINT);
    ck_assert_uint_eq(ppn_wg_peer_allowedip_count(p), 0);
    ck_assert_int_eq(ppn_wg_peer_get_endpoint(p, &got, &sl), 0);
    ck_assert_mem_eq(&got, &sa, sizeof(struct sockaddr_in));
    ppn_wg_device_free(out);

    /* An added IP is sent alone; a removed one replaces the list; a new
     * keepalive; a listen port; a peer gone; a peer marked REMOVE_ME; a new
     * peer.  Removals come first. */
    ppn_wg_allowedip_parse("10.200.0.1/32", &a);
    ppn_wg_peer_add_allowedip(peer_n(want, 30), &a);
    p = peer_n(want, 31);
    ppn_wg_peer_allowedip_at(p, 0, &a);
    ppn_wg_peer_clear_allowedips(p);
    ppn_wg_peer_add_allowedip(p, &a);
    ppn_wg_peer_set_keepalive(peer_n(want, 32), 7);
    ppn_wg_device_set_listen_port(want, 51821);
    ck_assert_int_eq(ppn_wg_device_remove_peer(want, (uint8_t[32]){40}), 0);
    ppn_wg_peer_set_flags(peer_n(want, 41), PPN_WG_PEER_REMOVE_ME);
    uint8_t nk[32];
    memset(nk, 0xee, 32);
    ck_assert_int_eq(ppn_wg_device_add_peer(want, nk, &p), 0);
    ppn_wg_peer_add_allowedip(p, &a);
    ck_assert_int_eq(wg_sync_plan(want, cur, &out), 7);
    ck_assert_uint_eq(ppn_wg_device_peer_count(out), 7);
    ck_assert_uint_eq(ppn_wg_device_get_flags(out), PPN_WG_DEVICE_HAS_LISTEN_PORT);
    ck_assert_uint_eq(ppn_wg_device_get_listen_port(out), 51821);
    ck_assert_uint_eq(ppn_wg_peer_get_flags(ppn_wg_device_peer_at(out, 0)), PPN_WG_PEER_REMOVE_ME);
    ck_assert_uint_eq(ppn_wg_peer_get_flags(ppn_wg_device_peer_at(out, 1)), PPN_WG_PEER_REMOVE_ME);
    ck_assert_ptr_nonnull(ppn_wg_device_find_peer(out, (uint8_t[32]){40}));
    ck_assert_ptr_nonnull(ppn_wg_device_find_peer(out, (uint8_t[32]){41}));
    p = ppn_wg_device_find_peer(out, (uint8_t[32]){30});
    ck_assert_uint_eq(ppn_wg_peer_get_flags(p), 0);
    ck_assert_uint_eq(ppn_wg_peer_allowedip_count(p), 1);
    p = ppn_wg_device_find_peer(out, (uint8_t[32]){31});
    ck_assert_uint_eq(ppn_wg_peer_get_flags(p), PPN_WG_PEER_REPLACE_ALLOWEDIPS);
    ck_assert_uint_eq(ppn_wg_peer_allowedip_count(p), 1);
    p = ppn_wg_device_find_peer(out, (uint8_t[32]){32});
    ck_assert_uint_eq(ppn_wg_peer_get_flags(p), PPN_WG_PEER_HAS_KEEPALIVE);
    ck_assert_uint_eq(ppn_wg_peer_get_keepalive(p), 7);
    p = ppn_wg_device_find_peer(out, nk);
    ck_assert_uint_eq(ppn_wg_peer_get_flags(p), PPN_WG_PEER_REPLACE_ALLOWEDIPS);
    ppn_wg_device_free(out);
    ppn_wg_device_free(want);
    ppn_wg_device_free(cur);
}
END_TEST

/* The index after removals and many insertions still finds every peer. */
START_TEST(test_peer_index)
{
    ppn_wg_device *d = plan_device(3000);
    for (size_t i = 0; i < 3000; i += 3)
        ck_assert_int_eq(ppn_wg_device_remove_peer(d, (uint8_t[32]){(uint8_t)i, (uint8_t)(i >> 8)}), 0);
    ck_assert_uint_eq(ppn_wg_device_peer_count(d), 2000);
    for (size_t i = 0; i < 3000; i++)
        ck_assert_int_eq(peer_n(d, i) != NULL, i % 3 != 0);
    ppn_wg_device_free(d);
}
END_TEST

static Suite *wg_suite(void)
{
    Suite *s = suite_create("wg");
    TCase *tc = tcase_create("basics");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_keys);
    tcase_add_test(tc, test_pubkey_decoder);
    tcase_add_test(tc, test_allowedip);
    tcase_add_test(tc, test_endpoint);
    tcase_add_test(tc, test_device_object);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_add_test(tc, test_config_roundtrip);
    tcase_add_test(tc, test_config_lenient);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_config_numbers);
    tcase_add_test(tc, test_config_report);
    suite_add_tcase(s, tc);
    tc = tcase_create("keys-and-sync");
    tcase_add_test(tc, test_ifname);
    tcase_add_test(tc, test_key_generate_public);
    tcase_add_test(tc, test_sync_plan);
    tcase_add_test(tc, test_peer_index);
    suite_add_tcase(s, tc);
    return s;
}

#include "ppn-check.h"

int main(void)
{
    return ppn_check_run(wg_suite());
}
