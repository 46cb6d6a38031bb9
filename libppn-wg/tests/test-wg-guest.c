/* libppn-wg against the real kernel WireGuard and Debian's `wg`, inside the
 * microVM guest (tests/microvm/run-in-guest.sh).  Needs root and the
 * wireguard module; the last suite unloads the module. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ppn/wg.h"
#include "wg-internal.h"

/* ---- helpers ---- */

static void rnd(void *p, size_t n)
{
    ck_assert_int_eq(getrandom(p, n, 0), (ssize_t)n);
}

static char *run_capture(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            ck_assert_ptr_nonnull(buf);
        }
    }
    buf[len] = 0;
    int st = pclose(f);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "command failed: %s", cmd);
    return buf;
}

static void sh(const char *cmd)
{
    int st = system(cmd);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "command failed: %s", cmd);
}

static void assert_same_text(const char *what, const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return;
    size_t line = 1, i = 0;
    while (a[i] && a[i] == b[i]) {
        if (a[i] == '\n')
            line++;
        i++;
    }
    const char *la = a + i, *lb = b + i;
    while (la > a && la[-1] != '\n')
        la--;
    while (lb > b && lb[-1] != '\n')
        lb--;
    ck_abort_msg("%s: differ at line %zu (%zu and %zu bytes):\n< %.120s\n> %.120s", what, line, strlen(a),
                 strlen(b), la, lb);
}

static char *format(const ppn_wg_device *d)
{
    char *t;
    ck_assert_int_eq(ppn_wg_config_format(d, &t), 0);
    return t;
}

static char *wg_showconf(const char *ifname)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "wg showconf %s", ifname);
    return run_capture(cmd);
}

static char *lib_showconf(const char *ifname)
{
    ppn_wg_device *d;
    ck_assert_int_eq(ppn_wg_get_device(ifname, &d), 0);
    char *t = format(d);
    ppn_wg_device_free(d);
    return t;
}

static void ip4(ppn_wg_allowedip *ip, uint32_t a, uint8_t cidr)
{
    memset(ip, 0, sizeof(*ip));
    ip->family = AF_INET;
    ip->cidr = cidr;
    ip->addr[0] = (uint8_t)(a >> 24);
    ip->addr[1] = (uint8_t)(a >> 16);
    ip->addr[2] = (uint8_t)(a >> 8);
    ip->addr[3] = (uint8_t)a;
}

static void ip6(ppn_wg_allowedip *ip, uint32_t a, uint8_t cidr)
{
    memset(ip, 0, sizeof(*ip));
    ip->family = AF_INET6;
    ip->cidr = cidr;
    ip->addr[0] = 0xfd;
    ip->addr[1] = 0x42;
    ip->addr[12] = (uint8_t)(a >> 24);
    ip->addr[13] = (uint8_t)(a >> 16);
    ip->addr[14] = (uint8_t)(a >> 8);
    ip->addr[15] = (uint8_t)a;
}

/* A device with 'npeers' random peers; peer i gets 'nips' prefixes
 * (IPv4 /32 and IPv6 /128 alternating, unique over the device), and every
 * third peer a preshared key, an endpoint and a keepalive. */
static ppn_wg_device *make_device(const char *name, size_t npeers, size_t nips, uint32_t base)
{
    ppn_wg_device *d;
    uint8_t k[32];
    ck_assert_int_eq(ppn_wg_device_new(&d), 0);
    ck_assert_int_eq(ppn_wg_device_set_name(d, name), 0);
    rnd(k, 32);
    k[0] &= 248; /* the kernel clamps private keys */
    k[31] = (uint8_t)((k[31] & 127) | 64);
    ck_assert_int_eq(ppn_wg_device_set_private_key(d, k), 0);
    ck_assert_int_eq(ppn_wg_device_set_listen_port(d, 40000 + (base & 0x3ff)), 0);
    ck_assert_int_eq(ppn_wg_device_set_flags(d, PPN_WG_DEVICE_REPLACE_PEERS), 0);
    uint32_t n = base;
    for (size_t i = 0; i < npeers; i++) {
        ppn_wg_peer *p;
        rnd(k, 32);
        ck_assert_int_eq(ppn_wg_device_add_peer(d, k, &p), 0);
        ck_assert_int_eq(ppn_wg_peer_set_flags(p, PPN_WG_PEER_REPLACE_ALLOWEDIPS), 0);
        for (size_t j = 0; j < nips; j++, n++) {
            ppn_wg_allowedip ip;
            if (j % 2 == 0)
                ip4(&ip, 0x0a000000u + n, 32);
            else
                ip6(&ip, n, 128);
            ck_assert_int_eq(ppn_wg_peer_add_allowedip(p, &ip), 0);
        }
        if (i % 3 == 0) {
            rnd(k, 32);
            ppn_wg_peer_set_preshared_key(p, k);
            ppn_wg_peer_set_keepalive(p, (uint16_t)(1 + i % 60));
            struct sockaddr_in6 sa;
            socklen_t sl;
            char ep[64];
            if (i % 2)
                snprintf(ep, sizeof(ep), "192.0.2.%zu:%zu", i % 250 + 1, 1000 + i % 50000);
            else
                snprintf(ep, sizeof(ep), "[2001:db8::%zx]:%zu", i + 1, 1000 + i % 50000);
            ck_assert_int_eq(ppn_wg_endpoint_parse(ep, &sa, &sl), 0);
            ck_assert_int_eq(ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&sa, sl), 0);
        }
    }
    return d;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

/* An empty device object named 'name' (a change, or what to compare with). */
static ppn_wg_device *named(const char *name)
{
    ppn_wg_device *d;
    ck_assert_int_eq(ppn_wg_device_new(&d), 0);
    ck_assert_int_eq(ppn_wg_device_set_name(d, name), 0);
    return d;
}

/* The kernel's device 'name' (wg showconf) is exactly 'd'. */
static void assert_kernel_is(const char *what, ppn_wg_device *d, const char *name)
{
    char *want = format(d), *got = wg_showconf(name);
    assert_same_text(what, want, got);
    free(want);
    free(got);
}

/* In the change 'ch', the peer of 'src' (its key also into ret_key) with 'flags'. */
static ppn_wg_peer *change_of(ppn_wg_device *ch, const ppn_wg_peer *src, uint32_t flags,
                              uint8_t ret_key[32])
{
    ppn_wg_peer *p;
    ppn_wg_peer_get_public_key(src, ret_key);
    ck_assert_int_eq(ppn_wg_device_add_peer(ch, ret_key, &p), 0);
    ck_assert_int_eq(ppn_wg_peer_set_flags(p, flags), 0);
    return p;
}

/* The end of a test: the object freed, the kernel's device 'name' deleted. */
static void device_gone(ppn_wg_device *d, const char *name)
{
    ppn_wg_device_free(d);
    ck_assert_int_eq(ppn_wg_link_del(name), 0);
}

/* Writes with libppn-wg, reads back with `wg showconf` and libppn-wg. */
static void roundtrip_lib_to_wg(const char *name, ppn_wg_device *d)
{
    ck_assert_int_eq(ppn_wg_link_ensure(name) >= 0, 1);
    ck_assert_int_eq(ppn_wg_set_device(d), 0);
    char *want = format(d), *got = wg_showconf(name), *mine = lib_showconf(name);
    assert_same_text("lib set, wg showconf", want, got);
    assert_same_text("lib set, lib get", want, mine);
    free(want);
    free(got);
    free(mine);
}

/* Writes with `wg setconf`, reads back with libppn-wg. */
static void roundtrip_wg_to_lib(const char *name, ppn_wg_device *d)
{
    char path[64];
    ck_assert_int_eq(ppn_wg_link_ensure(name) >= 0, 1);
    char *want = format(d);
    snprintf(path, sizeof(path), "/tmp/%s.conf", name);
    write_text(path, want);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "wg setconf %s %s", name, path);
    int st = system(cmd);
    ck_assert_int_eq(WIFEXITED(st) && WEXITSTATUS(st) == 0, 1);
    char *mine = lib_showconf(name);
    assert_same_text("wg setconf, lib get", want, mine);
    /* and the tool */
    const char *tool = getenv("PPN_WG_TOOL");
    if (tool && *tool) {
        snprintf(cmd, sizeof(cmd), "%s showconf %s", tool, name);
        char *t = run_capture(cmd);
        assert_same_text("wg setconf, ppn-wg showconf", want, t);
        free(t);
    }
    unlink(path);
    free(want);
    free(mine);
}

/* ---- round trips ---- */

START_TEST(t_small_lib_to_wg)
{
    ppn_wg_device *d = make_device("wgt0", 7, 3, 1);
    ppn_wg_device_set_fwmark(d, 0x1234);
    roundtrip_lib_to_wg("wgt0", d);
    device_gone(d, "wgt0");
}
END_TEST

START_TEST(t_small_wg_to_lib)
{
    ppn_wg_device *d = make_device("wgt1", 7, 3, 100);
    ppn_wg_device_set_fwmark(d, 7);
    roundtrip_wg_to_lib("wgt1", d);
    device_gone(d, "wgt1");
}
END_TEST

START_TEST(t_10k_peers_lib_to_wg)
{
    ppn_wg_device *d = make_device("wgt2", 10000, 2, 1000);
    roundtrip_lib_to_wg("wgt2", d);
    ppn_wg_device_free(d);
    /* Not deleted: the kernel removes peers one RCU grace period at a
     * time (minutes for 10,000 under TCG); the guest powers off instead. */
}
END_TEST

START_TEST(t_10k_peers_wg_to_lib)
{
    ppn_wg_device *d = make_device("wgt3", 10000, 2, 50000);
    roundtrip_wg_to_lib("wgt3", d);
    ppn_wg_device_free(d);
    /* Not deleted: the kernel removes peers one RCU grace period at a
     * time (minutes for 10,000 under TCG); the guest powers off instead. */
}
END_TEST

START_TEST(t_10k_ips_lib_to_wg)
{
    ppn_wg_device *d = make_device("wgt4", 1, 10000, 200000);
    roundtrip_lib_to_wg("wgt4", d);
    ppn_wg_device_free(d);
    /* Not deleted: the kernel removes peers one RCU grace period at a
     * time (minutes for 10,000 under TCG); the guest powers off instead. */
}
END_TEST

START_TEST(t_10k_ips_wg_to_lib)
{
    ppn_wg_device *d = make_device("wgt5", 1, 10000, 300000);
    roundtrip_wg_to_lib("wgt5", d);
    ppn_wg_device_free(d);
    /* Not deleted: the kernel removes peers one RCU grace period at a
     * time (minutes for 10,000 under TCG); the guest powers off instead. */
}
END_TEST

/* Small messages force every splitting path: peers moved whole to the next
 * message and one peer's allowed IPs continued over many messages. */
START_TEST(t_split_small_messages)
{
    wg_max_message = 1024;
    ppn_wg_device *d = make_device("wgt6", 300, 5, 400000);
    ppn_wg_peer *p;
    uint8_t k[32];
    rnd(k, 32);
    ck_assert_int_eq(ppn_wg_device_add_peer(d, k, &p), 0);
    ppn_wg_peer_set_flags(p, PPN_WG_PEER_REPLACE_ALLOWEDIPS);
    for (uint32_t i = 0; i < 3000; i++) {
        ppn_wg_allowedip ip;
        ip6(&ip, 0x800000 + i, 128);
        ck_assert_int_eq(ppn_wg_peer_add_allowedip(p, &ip), 0);
    }
    roundtrip_lib_to_wg("wgt6", d);
    /* Again: REPLACE_ALLOWEDIPS only in the first fragment keeps all IPs. */
    ck_assert_int_eq(ppn_wg_set_device(d), 0);
    assert_kernel_is("second split set", d, "wgt6");
    wg_max_message = 0;
    device_gone(d, "wgt6");
}
END_TEST

/* ---- removals ---- */

START_TEST(t_removals)
{
    ppn_wg_device *d = make_device("wgt7", 600, 2, 500000);
    roundtrip_wg_to_lib("wgt7", d);

    /* libppn-wg removes 100 peers in one batch and replaces IPs of 20. */
    ppn_wg_device *ch = named("wgt7");
    uint8_t keys[100][32];
    for (size_t i = 0; i < 100; i++) {
        (void)change_of(ch, ppn_wg_device_peer_at(d, i * 3 + 1), PPN_WG_PEER_REMOVE_ME, keys[i]);
    }
    for (size_t i = 0; i < 100; i++)
        ck_assert_int_eq(ppn_wg_device_remove_peer(d, keys[i]), 0);
    for (size_t i = 0; i < 20; i++) {
        ppn_wg_peer *src = ppn_wg_device_peer_at(d, 400 + i), *p;
        uint8_t k[32];
        ppn_wg_allowedip ip;
        p = change_of(ch, src, PPN_WG_PEER_REPLACE_ALLOWEDIPS, k);
        ip4(&ip, 0xac100000u + (uint32_t)i * 256, 24);
        ppn_wg_peer_add_allowedip(p, &ip);
        ppn_wg_peer_clear_allowedips(src);
        ppn_wg_peer_add_allowedip(src, &ip);
    }
    ck_assert_int_eq(ppn_wg_set_device(ch), 0);
    ppn_wg_device_free(ch);
    assert_kernel_is("lib removals, wg showconf", d, "wgt7");

    /* `wg set ... peer K remove` for 50 peers, read back with the library. */
    size_t cap = 50 * 64 + 64, len = 0;
    char *cmd = malloc(cap);
    len += (size_t)snprintf(cmd, cap, "wg set wgt7");
    for (size_t i = 0; i < 50; i++) {
        uint8_t k[32];
        char b[45];
        ppn_wg_peer_get_public_key(ppn_wg_device_peer_at(d, 10), k);
        ppn_wg_key_to_base64(k, b);
        len += (size_t)snprintf(cmd + len, cap - len, " peer %s remove", b);
        ck_assert_int_eq(ppn_wg_device_remove_peer(d, k), 0);
    }
    int st = system(cmd);
    free(cmd);
    ck_assert_int_eq(WIFEXITED(st) && WEXITSTATUS(st) == 0, 1);
    char *want = format(d), *got = lib_showconf("wgt7");
    assert_same_text("wg removals, lib get", want, got);
    free(want);
    free(got);
    device_gone(d, "wgt7");
}
END_TEST

/* ---- sync and single-peer update ---- */

START_TEST(t_sync)
{
    ppn_wg_device *d = make_device("wgt8", 200, 2, 600000);
    roundtrip_lib_to_wg("wgt8", d);
    ck_assert_int_eq(ppn_wg_sync_device(d), 0); /* nothing to do */

    /* desired: 20 removed, 20 added, 20 with an added IP, 20 with an IP
     * removed, 10 with another keepalive; every endpoint dropped from the
     * desired config, which must leave the kernel's endpoints alone. */
    ppn_wg_device *want = make_device("wgt8", 0, 0, 0);
    ppn_wg_device *expect;
    char *text = format(d);
    ck_assert_int_eq(ppn_wg_config_parse(text, strlen(text), &expect, NULL), 0);
    free(text);
    ppn_wg_device_set_name(expect, "wgt8");
    uint8_t priv[32];
    ppn_wg_device_get_private_key(d, priv);
    ppn_wg_device_set_private_key(want, priv);
    ppn_wg_device_set_listen_port(want, ppn_wg_device_get_listen_port(d));
    for (size_t i = 0; i < 200; i++) {
        ppn_wg_peer *src = ppn_wg_device_peer_at(d, i), *p;
        uint8_t k[32];
        ppn_wg_peer_get_public_key(src, k);
        ppn_wg_peer *ex = ppn_wg_device_find_peer(expect, k);
        if (i < 20) {
            ck_assert_int_eq(ppn_wg_device_remove_peer(expect, k), 0);
            continue;
        }
        ck_assert_int_eq(ppn_wg_device_add_peer(want, k, &p), 0);
        if (ppn_wg_peer_get_preshared_key(src, k) == 0)
            ppn_wg_peer_set_preshared_key(p, k);
        if (ppn_wg_peer_get_keepalive(src))
            ppn_wg_peer_set_keepalive(p, ppn_wg_peer_get_keepalive(src));
        size_t n = ppn_wg_peer_allowedip_count(src);
        for (size_t j = 0; j < n; j++) {
            ppn_wg_allowedip ip;
            ppn_wg_peer_allowedip_at(src, j, &ip);
            if (i >= 60 && i < 80 && j == 0) {
                /* removed IP */
                ppn_wg_peer_clear_allowedips(ex);
                continue;
            }
            ppn_wg_peer_add_allowedip(p, &ip);
            if (i >= 60 && i < 80)
                ppn_wg_peer_add_allowedip(ex, &ip);
        }
        if (i >= 40 && i < 60) {
            ppn_wg_allowedip ip;
            ip4(&ip, 0xc0a80000u + (uint32_t)i, 32);
            ppn_wg_peer_add_allowedip(p, &ip);
            ppn_wg_peer_add_allowedip(ex, &ip);
        }
        if (i >= 80 && i < 90) {
            ppn_wg_peer_set_keepalive(p, 99);
            ppn_wg_peer_set_keepalive(ex, 99);
        }
    }
    for (size_t i = 0; i < 20; i++) {
        ppn_wg_peer *p, *ex;
        uint8_t k[32];
        ppn_wg_allowedip ip;
        rnd(k, 32);
        ck_assert_int_eq(ppn_wg_device_add_peer(want, k, &p), 0);
        ck_assert_int_eq(ppn_wg_device_add_peer(expect, k, &ex), 0);
        ip4(&ip, 0xc6336400u + (uint32_t)i, 32);
        ppn_wg_peer_add_allowedip(p, &ip);
        ppn_wg_peer_add_allowedip(ex, &ip);
    }
    ck_assert_int_eq(ppn_wg_sync_device(want), 20 + 20 + 20 + 20 + 10);
    assert_kernel_is("sync", expect, "wgt8");
    ck_assert_int_eq(ppn_wg_sync_device(want), 0);
    ppn_wg_device_free(want);
    ppn_wg_device_free(expect);
    device_gone(d, "wgt8");
}
END_TEST

/* A sync with nothing to change sends no SET message; with one peer changed
 * it sends that peer alone; an endpoint the kernel learned (a roamed peer)
 * is not touched when the desired peer names none. */
START_TEST(t_sync_sends_only_changes)
{
    ppn_wg_device *d = make_device("wgt12", 2000, 2, 900000);
    ck_assert_int_eq(ppn_wg_link_ensure("wgt12") >= 0, 1);
    ck_assert_int_eq(ppn_wg_set_device(d), 0);
    unsigned long m = wg_set_messages;
    ck_assert_int_eq(ppn_wg_sync_device(d), 0);
    ck_assert_uint_eq(wg_set_messages - m, 0);

    /* One peer's keepalive: one message, one peer, and the device is
     * then exactly the desired state. */
    ppn_wg_peer *p5 = ppn_wg_device_peer_at(d, 5);
    ppn_wg_peer_set_keepalive(p5, 77);
    m = wg_set_messages;
    ck_assert_int_eq(ppn_wg_sync_device(d), 1);
    ck_assert_uint_eq(wg_set_messages - m, 1);
    assert_kernel_is("sync of one peer", d, "wgt12");

    /* Peer 3 roams (the kernel learns another endpoint); the desired peer
     * names none: nothing is sent and the roamed endpoint stays. */
    ppn_wg_peer *p3 = ppn_wg_device_peer_at(d, 3);
    ck_assert_uint_ne(ppn_wg_peer_get_flags(p3) & PPN_WG_PEER_HAS_ENDPOINT, 0);
    uint8_t k[32];
    char b64[45], cmd[256];
    ppn_wg_peer_get_public_key(p3, k);
    ppn_wg_key_to_base64(k, b64);
    snprintf(cmd, sizeof(cmd), "wg set wgt12 peer %s endpoint 198.51.100.7:7", b64);
    sh(cmd);
    ppn_wg_peer_set_endpoint(p3, NULL, 0);
    m = wg_set_messages;
    ck_assert_int_eq(ppn_wg_sync_device(d), 0);
    ck_assert_uint_eq(wg_set_messages - m, 0);
    snprintf(cmd, sizeof(cmd), "wg show wgt12 endpoints | grep -F '%s'", b64);
    char *got = run_capture(cmd);
    ck_assert_msg(strstr(got, "198.51.100.7:7") != NULL, "roamed endpoint lost: %s", got);
    free(got);

    /* The tool: syncconf of the device's own showconf changes nothing. */
    const char *tool = getenv("PPN_WG_TOOL");
    if (tool && *tool) {
        char *before = wg_showconf("wgt12");
        write_text("/tmp/wgt12.conf", before);
        snprintf(cmd, sizeof(cmd), "%s syncconf wgt12 /tmp/wgt12.conf", tool);
        sh(cmd);
        got = wg_showconf("wgt12");
        assert_same_text("ppn-wg syncconf of its own showconf", before, got);
        free(before);
        free(got);
        unlink("/tmp/wgt12.conf");
    }
    device_gone(d, "wgt12");
}
END_TEST

/* What a mesh daemon does: add or update one peer, leave the others. */
START_TEST(t_update_one_peer)
{
    ppn_wg_device *d = make_device("wgt9", 5, 2, 700000);
    roundtrip_lib_to_wg("wgt9", d);
    ppn_wg_device *one = named("wgt9");
    ppn_wg_peer *src = ppn_wg_device_peer_at(d, 2), *p;
    uint8_t k[32];
    p = change_of(one, src, PPN_WG_PEER_REPLACE_ALLOWEDIPS, k);
    ppn_wg_allowedip ip;
    ck_assert_int_eq(ppn_wg_allowedip_parse("10.99.0.7/32", &ip), 0);
    ppn_wg_peer_add_allowedip(p, &ip);
    ppn_wg_peer_clear_allowedips(src);
    ppn_wg_peer_add_allowedip(src, &ip);
    struct sockaddr_in6 sa;
    socklen_t sl;
    ck_assert_int_eq(ppn_wg_endpoint_parse("198.51.100.9:51820", &sa, &sl), 0);
    ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&sa, sl);
    ppn_wg_peer_set_endpoint(src, (struct sockaddr *)&sa, sl);
    ppn_wg_peer_set_keepalive(p, 25);
    ppn_wg_peer_set_keepalive(src, 25);
    ck_assert_int_eq(ppn_wg_set_device(one), 0);
    assert_kernel_is("update one peer", d, "wgt9");
    /* UPDATE_ONLY on an unknown peer adds nothing. */
    rnd(k, 32);
    ppn_wg_device_free(one);
    one = named("wgt9");
    ck_assert_int_eq(ppn_wg_device_add_peer(one, k, &p), 0);
    ppn_wg_peer_set_flags(p, PPN_WG_PEER_UPDATE_ONLY);
    ck_assert_int_eq(ppn_wg_set_device(one), 0);
    ppn_wg_device *back;
    ck_assert_int_eq(ppn_wg_get_device("wgt9", &back), 0);
    ck_assert_uint_eq(ppn_wg_device_peer_count(back), 5);
    ck_assert_ptr_null(ppn_wg_device_find_peer(back, k));
    ppn_wg_device_free(back);
    ppn_wg_device_free(one);
    device_gone(d, "wgt9");
}
END_TEST

/* Reads while another process keeps writing: every read is whole and
 * consistent (a dump interrupted by a SET is restarted). */
START_TEST(t_dump_interrupted)
{
    ppn_wg_device *d = make_device("wgt10", 3000, 2, 800000);
    roundtrip_lib_to_wg("wgt10", d);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ppn_wg_device *one;
        ppn_wg_peer *p;
        uint8_t k[32];
        if (ppn_wg_device_new(&one) < 0)
            _exit(1);
        ppn_wg_device_set_name(one, "wgt10");
        ppn_wg_peer_get_public_key(ppn_wg_device_peer_at(d, 0), k);
        ppn_wg_device_add_peer(one, k, &p);
        /* Bursts of writes with quiet gaps: reads during a burst restart,
         * reads in a gap complete. */
        for (uint16_t i = 0;; i++) {
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            do {
                ppn_wg_peer_set_keepalive(p, (uint16_t)(i++ % 100 + 1));
                if (ppn_wg_set_device(one) < 0)
                    _exit(2);
                clock_gettime(CLOCK_MONOTONIC, &b);
            } while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 100);
            usleep(400 * 1000);
        }
    }
    unsigned long before = wg_dump_restarts;
    int whole = 0;
    for (int i = 0; i < 15; i++) {
        ppn_wg_device *g;
        int r = ppn_wg_get_device("wgt10", &g);
        ck_assert_msg(r == 0 || r == -EAGAIN, "get: %d", r);
        if (r < 0)
            continue;
        whole++;
        ck_assert_uint_eq(ppn_wg_device_peer_count(g), 3000);
        for (size_t j = 0; j < 3000; j++)
            ck_assert_uint_eq(ppn_wg_peer_allowedip_count(ppn_wg_device_peer_at(g, j)), 2);
        ppn_wg_device_free(g);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "dump restarts seen: %lu, whole reads: %d of 15\n", wg_dump_restarts - before, whole);
    /* How many reads fell in a quiet gap depends on the guest's speed (TCG,
     * ASan, load); what must hold is above: every read that returned is
     * whole and consistent, the others say -EAGAIN.  Once the writer is
     * gone, a read is whole. */
    ppn_wg_device *g;
    ck_assert_int_eq(ppn_wg_get_device("wgt10", &g), 0);
    ck_assert_uint_eq(ppn_wg_device_peer_count(g), 3000);
    for (size_t j = 0; j < 3000; j++)
        ck_assert_uint_eq(ppn_wg_peer_allowedip_count(ppn_wg_device_peer_at(g, j)), 2);
    ppn_wg_device_free(g);
    ppn_wg_device_free(d);
    /* Not deleted: the kernel removes peers one RCU grace period at a
     * time (minutes for 10,000 under TCG); the guest powers off instead. */
}
END_TEST

/* ---- links ---- */

static int count_cb(const char *ifname, uint32_t ifindex, void *userdata)
{
    int *found = userdata;
    if (strcmp(ifname, "wgl0") == 0 && ifindex > 0)
        (*found)++;
    if (strcmp(ifname, "lo") == 0)
        *found += 100;
    return 0;
}

static char *read_sys(const char *ifname, const char *attr)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[64];
    ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
    fclose(f);
    buf[strcspn(buf, "\n")] = 0;
    return buf;
}

START_TEST(t_links)
{
    ck_assert_int_eq(ppn_wg_link_ensure("wgl0"), 1);
    ck_assert_int_eq(ppn_wg_link_ensure("wgl0"), 0);
    ck_assert_int_eq(ppn_wg_link_add("wgl0"), -EEXIST);
    ck_assert_int_eq(ppn_wg_link_set_mtu("wgl0", 1380), 0);
    ck_assert_str_eq(read_sys("wgl0", "mtu"), "1380");
    ck_assert_int_eq(ppn_wg_link_set_mtu("wgl0", 10), -EINVAL);
    ppn_wg_allowedip a4, a6;
    ck_assert_int_eq(ppn_wg_allowedip_parse("10.77.0.1/24", &a4), 0);
    ck_assert_int_eq(ppn_wg_allowedip_parse("fd77::1/64", &a6), 0);
    ck_assert_int_eq(ppn_wg_link_addr_add("wgl0", &a4), 0);
    ck_assert_int_eq(ppn_wg_link_addr_add("wgl0", &a6), 0);
    ck_assert_int_eq(ppn_wg_link_addr_add("wgl0", &a4), -EEXIST);
    char *out = run_capture("ip -o addr show dev wgl0");
    ck_assert_ptr_nonnull(strstr(out, "inet 10.77.0.1/24"));
    ck_assert_ptr_nonnull(strstr(out, "inet6 fd77::1/64"));
    free(out);
    ck_assert_int_eq(ppn_wg_link_set_up("wgl0", true), 0);
    unsigned long flags = strtoul(read_sys("wgl0", "flags"), NULL, 0);
    ck_assert_uint_eq(flags & 1, 1);
    ck_assert_int_eq(ppn_wg_link_set_up("wgl0", false), 0);
    flags = strtoul(read_sys("wgl0", "flags"), NULL, 0);
    ck_assert_uint_eq(flags & 1, 0);
    ck_assert_int_eq(ppn_wg_link_addr_del("wgl0", &a4), 0);
    ck_assert_int_eq(ppn_wg_link_addr_del("wgl0", &a4), -EADDRNOTAVAIL);
    out = run_capture("ip -o addr show dev wgl0");
    ck_assert_ptr_null(strstr(out, "10.77.0.1"));
    free(out);
    int found = 0;
    ck_assert_int_ge(ppn_wg_link_list(count_cb, &found), 1);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(ppn_wg_link_del("wgl0"), 0);
    ck_assert_int_eq(ppn_wg_link_del("wgl0"), -ENODEV);
    found = 0;
    ck_assert_int_ge(ppn_wg_link_list(count_cb, &found), 0);
    ck_assert_int_eq(found, 0);
}
END_TEST

/* ---- two namespaces joined by tunnels configured only with libppn-wg ---- */

static void enter_ns(const char *ns)
{
    char path[64];
    snprintf(path, sizeof(path), "/run/netns/%s", ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(setns(fd, CLONE_NEWNET), 0);
    close(fd);
}

static int ping(const char *ns, const char *addr)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "ip netns exec %s ping -c 1 -W 3 %s >/dev/null 2>&1", ns, addr);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Configures wg0 in namespace 'ns'; returns the device's public key. */
static void setup_node(const char *ns, const char *addr, uint16_t port, uint8_t pub[32])
{
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(self, 0);
    enter_ns(ns);
    ck_assert_int_eq(ppn_wg_link_ensure("wg0"), 1);
    ppn_wg_device *d;
    uint8_t k[32];
    d = named("wg0");
    rnd(k, 32);
    ppn_wg_device_set_private_key(d, k);
    ppn_wg_device_set_listen_port(d, port);
    ck_assert_int_eq(ppn_wg_set_device(d), 0);
    ppn_wg_device_free(d);
    ppn_wg_allowedip a;
    ck_assert_int_eq(ppn_wg_allowedip_parse(addr, &a), 0);
    ck_assert_int_eq(ppn_wg_link_addr_add("wg0", &a), 0);
    ck_assert_int_eq(ppn_wg_link_set_up("wg0", true), 0);
    ck_assert_int_eq(ppn_wg_get_device("wg0", &d), 0);
    ck_assert_int_eq(ppn_wg_device_get_public_key(d, pub), 0);
    ppn_wg_device_free(d);
    ck_assert_int_eq(setns(self, CLONE_NEWNET), 0);
    close(self);
}

static ppn_wg_device *peer_config(const uint8_t pub[32], const char *ep, const char *allowed)
{
    ppn_wg_device *d;
    ppn_wg_peer *p;
    d = named("wg0");
    ck_assert_int_eq(ppn_wg_device_add_peer(d, pub, &p), 0);
    struct sockaddr_in6 sa;
    socklen_t sl;
    ck_assert_int_eq(ppn_wg_endpoint_parse(ep, &sa, &sl), 0);
    ppn_wg_peer_set_endpoint(p, (struct sockaddr *)&sa, sl);
    ppn_wg_allowedip a;
    ck_assert_int_eq(ppn_wg_allowedip_parse(allowed, &a), 0);
    ppn_wg_peer_add_allowedip(p, &a);
    ppn_wg_peer_set_flags(p, PPN_WG_PEER_REPLACE_ALLOWEDIPS);
    return d;
}

static int in_ns_set(const char *ns, const ppn_wg_device *d, bool sync)
{
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(self, 0);
    enter_ns(ns);
    int r = sync ? ppn_wg_sync_device(d) : ppn_wg_set_device(d);
    ck_assert_int_eq(setns(self, CLONE_NEWNET), 0);
    close(self);
    return r;
}

START_TEST(t_netns_ping)
{
    sh("ip netns add wga");
    sh("ip netns add wgb");
    sh("ip link add veth-a netns wga type veth peer name veth-b netns wgb");
    sh("ip -n wga addr add 192.168.241.1/24 dev veth-a && ip -n wga link set veth-a up && ip -n wga link set lo up");
    sh("ip -n wgb addr add 192.168.241.2/24 dev veth-b && ip -n wgb link set veth-b up && ip -n wgb link set lo up");
    uint8_t pa[32], pb[32];
    setup_node("wga", "10.240.0.1/24", 51820, pa);
    setup_node("wgb", "10.240.0.2/24", 51821, pb);
    ppn_wg_device *ca = peer_config(pb, "192.168.241.2:51821", "10.240.0.2/32");
    ppn_wg_device *cb = peer_config(pa, "192.168.241.1:51820", "10.240.0.1/32");
    ck_assert_int_eq(in_ns_set("wga", ca, false), 0);
    ck_assert_int_eq(in_ns_set("wgb", cb, false), 0);
    ck_assert_int_eq(ping("wga", "10.240.0.2"), 0);
    ck_assert_int_eq(ping("wgb", "10.240.0.1"), 0);

    /* Remove b from a: no more traffic either way. */
    ppn_wg_device *rm;
    ppn_wg_peer *p;
    rm = named("wg0");
    ppn_wg_device_add_peer(rm, pb, &p);
    ppn_wg_peer_set_flags(p, PPN_WG_PEER_REMOVE_ME);
    ck_assert_int_eq(in_ns_set("wga", rm, false), 0);
    ppn_wg_device_free(rm);
    ck_assert_int_ne(ping("wga", "10.240.0.2"), 0);
    ck_assert_int_ne(ping("wgb", "10.240.0.1"), 0);

    /* Sync a back to its desired state: works again. */
    ck_assert_int_eq(in_ns_set("wga", ca, true), 1);
    ck_assert_int_eq(ping("wga", "10.240.0.2"), 0);
    ck_assert_int_eq(ping("wgb", "10.240.0.1"), 0);
    ck_assert_int_eq(in_ns_set("wga", ca, true), 0);
    ppn_wg_device_free(ca);
    ppn_wg_device_free(cb);
    sh("ip netns del wga");
    sh("ip netns del wgb");
}
END_TEST

/* ---- errors ---- */

START_TEST(t_errors)
{
    ppn_wg_device *d;
    ck_assert_int_eq(ppn_wg_get_device("nosuch0", &d), -ENODEV);
    ck_assert_int_eq(ppn_wg_get_device("lo", &d), -ENODEV);
    ck_assert_int_eq(ppn_wg_get_device("", &d), -EINVAL);
    ck_assert_int_eq(ppn_wg_get_device("0123456789abcdef", &d), -EINVAL);
    ck_assert_int_eq(ppn_wg_device_new(&d), 0);
    ck_assert_int_eq(ppn_wg_set_device(d), -EINVAL); /* no name */
    ck_assert_int_eq(ppn_wg_device_set_name(d, "0123456789abcdef"), -EINVAL);
    ck_assert_int_eq(ppn_wg_device_set_name(d, "nosuch0"), 0);
    ck_assert_int_eq(ppn_wg_set_device(d), -ENODEV);
    ck_assert_int_eq(ppn_wg_sync_device(d), -ENODEV);
    ck_assert_int_eq(ppn_wg_device_set_name(d, "lo"), 0);
    ck_assert_int_eq(ppn_wg_set_device(d), -ENODEV);
    ck_assert_int_eq(ppn_wg_link_ensure("lo"), -EEXIST);
    ck_assert_int_eq(ppn_wg_link_del("nosuch0"), -ENODEV);
    ck_assert_int_eq(ppn_wg_link_set_up("nosuch0", true), -ENODEV);
    ppn_wg_allowedip a;
    ppn_wg_allowedip_parse("10.1.1.1/32", &a);
    ck_assert_int_eq(ppn_wg_link_addr_add("nosuch0", &a), -ENODEV);

    /* Keys: wrong length, wrong encoding. */
    uint8_t k[32];
    ck_assert_int_eq(ppn_wg_key_from_base64("AAAA", 4, k), -EBADMSG);
    ck_assert_int_eq(ppn_wg_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", 48, k), -EBADMSG);
    ck_assert_int_eq(ppn_wg_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*=", 44, k), -EBADMSG);
    static const char bad[] = "[Peer]\nPublicKey = nope\n";
    ppn_wg_device *x;
    unsigned line = 0;
    ck_assert_int_eq(ppn_wg_config_parse(bad, strlen(bad), &x, &line), -EBADMSG);
    ck_assert_uint_eq(line, 2);

    /* Not permitted: the same calls as an unprivileged user. */
    ck_assert_int_eq(ppn_wg_link_add("wge0"), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(10);
        ppn_wg_device *g;
        if (ppn_wg_get_device("wge0", &g) != -EPERM)
            _exit(11);
        ppn_wg_device *s;
        if (ppn_wg_device_new(&s) < 0 || ppn_wg_device_set_name(s, "wge0") < 0)
            _exit(12);
        ppn_wg_device_set_listen_port(s, 1234);
        if (ppn_wg_set_device(s) != -EPERM)
            _exit(13);
        if (ppn_wg_link_add("wge1") != -EPERM)
            _exit(14);
        if (ppn_wg_link_set_up("wge0", true) != -EPERM)
            _exit(15);
        if (ppn_wg_link_del("wge0") != -EPERM)
            _exit(16);
        ppn_wg_device_free(s);
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unprivileged child: status %d", st);
    ck_assert_int_eq(ppn_wg_link_del("wge0"), 0);
    ppn_wg_device_free(d);

    /* The tool turns each into one sentence. */
    const char *tool = getenv("PPN_WG_TOOL");
    if (tool && *tool) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "%s show nosuch0 2>&1; true", tool);
        char *o = run_capture(cmd);
        ck_assert_str_eq(o, "ppn-wg: Failed to show 'nosuch0': No such WireGuard interface\n");
        free(o);
    }
}
END_TEST

/* Last: unload the module; every kernel call says "no WireGuard". */
START_TEST(t_no_wireguard)
{
    int st = system("for l in $(ip -o link show type wireguard | awk -F': ' '{print $2}'); do ip link del $l; done; rmmod wireguard");
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rmmod failed");
    ppn_wg_device *d;
    ck_assert_int_eq(ppn_wg_get_device("wg0", &d), -ENOTSUP);
    d = named("wg0");
    ck_assert_int_eq(ppn_wg_set_device(d), -ENOTSUP);
    ck_assert_int_eq(ppn_wg_sync_device(d), -ENOTSUP);
    ppn_wg_device_free(d);
    ck_assert_int_eq(ppn_wg_link_add("wg0"), -ENOTSUP);
    ck_assert_int_eq(ppn_wg_link_ensure("wg0"), -ENOTSUP);
    const char *tool = getenv("PPN_WG_TOOL");
    if (tool && *tool) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "%s showconf wg0 2>&1; true", tool);
        char *o = run_capture(cmd);
        ck_assert_str_eq(o, "ppn-wg: Failed to show the configuration of 'wg0': The kernel has no WireGuard "
                            "support (module not loaded or not built)\n");
        free(o);
    }
}
END_TEST

static struct timespec t0;
static const char *cur_name;

static void t_start(void)
{
    cur_name = tcase_name();
    clock_gettime(CLOCK_MONOTONIC, &t0);
}

static void t_stop(void)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "time: %s %.2f s\n", cur_name ? cur_name : "?",
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
}

static TCase *tc(const char *name, const TTest *t)
{
    TCase *c = tcase_create(name);
    tcase_add_checked_fixture(c, t_start, t_stop);
    tcase_set_timeout(c, 600);
    tcase_add_test(c, t);
    return c;
}

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("kernel");
    suite_add_tcase(s, tc("small_lib_to_wg", t_small_lib_to_wg));
    suite_add_tcase(s, tc("small_wg_to_lib", t_small_wg_to_lib));
    suite_add_tcase(s, tc("10k_peers_lib_to_wg", t_10k_peers_lib_to_wg));
    suite_add_tcase(s, tc("10k_peers_wg_to_lib", t_10k_peers_wg_to_lib));
    suite_add_tcase(s, tc("10k_ips_lib_to_wg", t_10k_ips_lib_to_wg));
    suite_add_tcase(s, tc("10k_ips_wg_to_lib", t_10k_ips_wg_to_lib));
    suite_add_tcase(s, tc("split_small_messages", t_split_small_messages));
    suite_add_tcase(s, tc("removals", t_removals));
    suite_add_tcase(s, tc("sync", t_sync));
    suite_add_tcase(s, tc("sync_sends_only_changes", t_sync_sends_only_changes));
    suite_add_tcase(s, tc("update_one_peer", t_update_one_peer));
    suite_add_tcase(s, tc("dump_interrupted", t_dump_interrupted));
    suite_add_tcase(s, tc("links", t_links));
    suite_add_tcase(s, tc("netns_ping", t_netns_ping));
    suite_add_tcase(s, tc("errors", t_errors));
    /* Run alone, in its own guest (CK_RUN_SUITE=no-wireguard): it has to
     * delete every WireGuard link before unloading the module. */
    Suite *last = suite_create("no-wireguard");
    suite_add_tcase(last, tc("no_wireguard", t_no_wireguard));
    SRunner *sr = srunner_create(s);
    srunner_add_suite(sr, last);
    return ppn_check_runner(sr, CK_VERBOSE);
}
