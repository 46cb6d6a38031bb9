/* ppn-wg — WireGuard configuration with the options and file format of
 * wg(8), on libppn-wg.  See doc/wg.md. */
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ppn/wg.h"
#include "tool-util.h"

static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n); /* glibc: memset the compiler keeps */
}

/* One sentence per documented error of the library. */
static const char *reason(int err)
{
    switch (err) {
    case -ENODEV: return "No such WireGuard interface";
    case -EPERM: return "Operation not permitted (CAP_NET_ADMIN is needed)";
    case -ENOTSUP: return "The kernel has no WireGuard support (module not loaded or not built)";
    case -EBADMSG: return "Malformed input";
    default: return strerror(err < 0 ? -err : err);
    }
}

static int fail(const char *verb, const char *what, int err)
{
    fprintf(stderr, "ppn-wg: Failed to %s '%s': %s\n", verb, what, reason(err));
    return 1;
}

/* One usage-error style: one line naming the problem, the usage line of
 * the command, exit status 1. */
static int usage_error(const char *usage, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fputs("ppn-wg: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(usage, stderr);
    return 1;
}

/* Interface names are checked the same way by every command, before
 * anything else is done, by the library's rule (never cut to fit). */
static bool ifname_ok(const char *name)
{
    return ppn_wg_ifname_check(name) == 0;
}

static int ifname_error(const char *usage, const char *name)
{
    return usage_error(usage, "interface name '%s' is not valid (1 to %d characters, no '/', ':' or whitespace)",
                       name, PPN_WG_IFNAME_MAX);
}

static int read_whole_f(FILE *f, char **ret, size_t *ret_len);

static int read_whole(const char *path, char **ret, size_t *ret_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "re");
    if (!f)
        return -errno;
    return read_whole_f(f, ret, ret_len);
}

/* Reads 'f' to its end and closes it (unless it is stdin). */
static int read_whole_f(FILE *f, char **ret, size_t *ret_len)
{
    size_t cap = 4096, len = 0;
    struct stat st;
    /* A regular file is read into one buffer of its size (no copies, each
     * of which would leave a key to wipe). */
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uintmax_t)st.st_size < SIZE_MAX / 2)
        cap = (size_t)st.st_size + 2;
    char *buf = malloc(cap);
    int r = 0;
    if (!buf)
        r = -ENOMEM;
    while (!r) {
        if (len + 1 >= cap) {
            char *nb = malloc(cap * 2);
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            memcpy(nb, buf, len);
            wipe(buf, cap);
            free(buf);
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                r = -EIO;
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    if (r < 0) {
        if (buf) {
            wipe(buf, cap);
            free(buf);
        }
        return r;
    }
    buf[len] = '\0';
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* A key file as `wg set ... private-key FILE` reads it: base64 with
 * optional surrounding whitespace; an empty file means "remove".  Unlike
 * wg(8), a regular file that others can access, or that another user owns,
 * is refused (tool_check_key_fd, the rule of every ppn tool): 1, the
 * refusal printed.  0, or a negative errno. */
static int read_key_file(const char *path, uint8_t key[PPN_WG_KEY_BYTES])
{
    char *buf;
    size_t len;
    FILE *f = stdin;
    if (strcmp(path, "-")) {
        int fd;
        int k = tool_open_key_file(path, &fd);
        if (k != 0)
            return k;
        if (!(f = fdopen(fd, "r"))) {
            k = -errno;
            close(fd);
            return k;
        }
    }
    int r = read_whole_f(f, &buf, &len);
    if (r < 0)
        return r;
    char *s = buf;
    while (len && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len == 0)
        memset(key, 0, PPN_WG_KEY_BYTES);
    else
        r = ppn_wg_key_from_base64(s, len, key);
    wipe(buf, strlen(buf));
    free(buf);
    return r;
}

static void b64(const uint8_t *k, char out[PPN_WG_KEY_B64_LEN + 1])
{
    ppn_wg_key_to_base64(k, out);
}

static void endpoint_str(const ppn_wg_peer *p, char *out, size_t size)
{
    struct sockaddr_in6 sa;
    socklen_t len;
    if (ppn_wg_peer_get_endpoint(p, &sa, &len) < 0 ||
        ppn_wg_endpoint_format((struct sockaddr *)&sa, len, out, size) < 0)
        snprintf(out, size, "(none)");
}

static void print_allowedips(const ppn_wg_peer *p, const char *sep, FILE *f)
{
    size_t n = ppn_wg_peer_allowedip_count(p);
    if (n == 0) {
        fputs("(none)", f);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        ppn_wg_allowedip ip;
        char buf[64];
        ppn_wg_peer_allowedip_at(p, i, &ip);
        ppn_wg_allowedip_format(&ip, buf, sizeof(buf));
        fprintf(f, "%s%s", i ? sep : "", buf);
    }
}

static void print_ago(int64_t sec)
{
    int64_t ago = (int64_t)time(NULL) - sec;
    if (ago < 0)
        ago = 0;
    static const struct { const char *name; int64_t s; } units[] = {
        {"year", 365 * 86400}, {"day", 86400}, {"hour", 3600}, {"minute", 60}, {"second", 1}};
    bool any = false;
    for (size_t i = 0; i < 5; i++) {
        int64_t v = ago / units[i].s;
        ago %= units[i].s;
        if (!v)
            continue;
        printf("%s%" PRId64 " %s%s", any ? ", " : "", v, units[i].name, v == 1 ? "" : "s");
        any = true;
    }
    printf("%s ago", any ? "" : "Now");
}

static void print_bytes(uint64_t b)
{
    if (b < 1024)
        printf("%" PRIu64 " B", b);
    else if (b < 1024ULL * 1024)
        printf("%.2f KiB", (double)b / 1024);
    else if (b < 1024ULL * 1024 * 1024)
        printf("%.2f MiB", (double)b / (1024 * 1024));
    else
        printf("%.2f GiB", (double)b / (1024 * 1024 * 1024));
}

static void show_pretty(const ppn_wg_device *d)
{
    char k[PPN_WG_KEY_B64_LEN + 1];
    uint8_t key[PPN_WG_KEY_BYTES];
    printf("interface: %s\n", ppn_wg_device_get_name(d));
    if (ppn_wg_device_get_public_key(d, key) == 0) {
        b64(key, k);
        printf("  public key: %s\n", k);
    }
    if (ppn_wg_device_get_private_key(d, key) == 0)
        printf("  private key: (hidden)\n");
    if (ppn_wg_device_get_listen_port(d))
        printf("  listening port: %u\n", ppn_wg_device_get_listen_port(d));
    if (ppn_wg_device_get_fwmark(d))
        printf("  fwmark: 0x%x\n", ppn_wg_device_get_fwmark(d));
    for (size_t i = 0; i < ppn_wg_device_peer_count(d); i++) {
        const ppn_wg_peer *p = ppn_wg_device_peer_at(d, i);
        char ep[128];
        int64_t hs, ns;
        ppn_wg_peer_get_public_key(p, key);
        b64(key, k);
        printf("\npeer: %s\n", k);
        if (ppn_wg_peer_get_flags(p) & PPN_WG_PEER_HAS_PRESHARED_KEY)
            printf("  preshared key: (hidden)\n");
        if (ppn_wg_peer_get_flags(p) & PPN_WG_PEER_HAS_ENDPOINT) {
            endpoint_str(p, ep, sizeof(ep));
            printf("  endpoint: %s\n", ep);
        }
        printf("  allowed ips: ");
        print_allowedips(p, ", ", stdout);
        printf("\n");
        ppn_wg_peer_get_last_handshake(p, &hs, &ns);
        if (hs) {
            printf("  latest handshake: ");
            print_ago(hs);
            printf("\n");
        }
        if (ppn_wg_peer_get_rx_bytes(p) || ppn_wg_peer_get_tx_bytes(p)) {
            printf("  transfer: ");
            print_bytes(ppn_wg_peer_get_rx_bytes(p));
            printf(" received, ");
            print_bytes(ppn_wg_peer_get_tx_bytes(p));
            printf(" sent\n");
        }
        if (ppn_wg_peer_get_keepalive(p))
            printf("  persistent keepalive: every %u seconds\n", ppn_wg_peer_get_keepalive(p));
    }
    wipe(key, sizeof(key));
}

/* `wg show <if> <field>` and `dump`: tab-separated, one line per item. */
static int show_field(const ppn_wg_device *d, const char *field, bool prefix)
{
    char k[PPN_WG_KEY_B64_LEN + 1], ep[128];
    uint8_t key[PPN_WG_KEY_BYTES];
    const char *name = ppn_wg_device_get_name(d);
    bool dump = strcmp(field, "dump") == 0;
#define PFX() (prefix ? printf("%s\t", name) : 0)
    if (dump) {
        PFX();
        if (ppn_wg_device_get_private_key(d, key) == 0) b64(key, k); else strcpy(k, "(none)");
        printf("%s\t", k);
        if (ppn_wg_device_get_public_key(d, key) == 0) b64(key, k); else strcpy(k, "(none)");
        printf("%s\t%u\t", k, ppn_wg_device_get_listen_port(d));
        if (ppn_wg_device_get_fwmark(d)) printf("0x%x\n", ppn_wg_device_get_fwmark(d)); else printf("off\n");
    } else if (!strcmp(field, "public-key") || !strcmp(field, "private-key")) {
        int r = field[1] == 'u' ? ppn_wg_device_get_public_key(d, key) : ppn_wg_device_get_private_key(d, key);
        if (r == 0) b64(key, k); else strcpy(k, "(none)");
        PFX();
        printf("%s\n", k);
    } else if (!strcmp(field, "listen-port")) {
        PFX();
        printf("%u\n", ppn_wg_device_get_listen_port(d));
    } else if (!strcmp(field, "fwmark")) {
        PFX();
        if (ppn_wg_device_get_fwmark(d)) printf("0x%x\n", ppn_wg_device_get_fwmark(d)); else printf("off\n");
    } else if (!strcmp(field, "peers") || !strcmp(field, "preshared-keys") || !strcmp(field, "endpoints") ||
               !strcmp(field, "allowed-ips") || !strcmp(field, "latest-handshakes") ||
               !strcmp(field, "transfer") || !strcmp(field, "persistent-keepalive")) {
        /* handled below */
    } else {
        wipe(key, sizeof(key));
        return -EINVAL;
    }
    bool per_peer = dump || (strcmp(field, "public-key") && strcmp(field, "private-key") &&
                             strcmp(field, "listen-port") && strcmp(field, "fwmark"));
    for (size_t i = 0; per_peer && i < ppn_wg_device_peer_count(d); i++) {
        const ppn_wg_peer *p = ppn_wg_device_peer_at(d, i);
        int64_t hs, ns;
        ppn_wg_peer_get_public_key(p, key);
        b64(key, k);
        PFX();
        printf("%s", k);
        ppn_wg_peer_get_last_handshake(p, &hs, &ns);
        if (dump || !strcmp(field, "preshared-keys")) {
            if (ppn_wg_peer_get_preshared_key(p, key) == 0) b64(key, k); else strcpy(k, "(none)");
            printf("\t%s", k);
        }
        if (dump || !strcmp(field, "endpoints")) {
            endpoint_str(p, ep, sizeof(ep));
            printf("\t%s", ep);
        }
        if (dump || !strcmp(field, "allowed-ips")) {
            printf("\t");
            print_allowedips(p, dump ? "," : " ", stdout);
        }
        if (dump || !strcmp(field, "latest-handshakes"))
            printf("\t%" PRId64, hs);
        if (dump || !strcmp(field, "transfer"))
            printf("\t%" PRIu64 "\t%" PRIu64, ppn_wg_peer_get_rx_bytes(p), ppn_wg_peer_get_tx_bytes(p));
        if (dump || !strcmp(field, "persistent-keepalive")) {
            if (ppn_wg_peer_get_keepalive(p)) printf("\t%u", ppn_wg_peer_get_keepalive(p)); else printf("\toff");
        }
        printf("\n");
    }
#undef PFX
    wipe(key, sizeof(key));
    return 0;
}

struct names {
    char (*v)[PPN_WG_IFNAME_MAX + 1];
    size_t n;
};

static int collect(const char *ifname, uint32_t ifindex, void *userdata)
{
    struct names *ns = userdata;
    void *nv = realloc(ns->v, (ns->n + 1) * sizeof(*ns->v));
    if (!nv)
        return -ENOMEM;
    ns->v = nv;
    snprintf(ns->v[ns->n++], PPN_WG_IFNAME_MAX + 1, "%s", ifname);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

static const char show_usage[] =
    "Usage: ppn-wg show { <interface> | all | interfaces } [public-key | private-key | listen-port |"
    " fwmark | peers | preshared-keys | endpoints | allowed-ips | latest-handshakes | transfer |"
    " persistent-keepalive | dump]\n";

static int cmd_show(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(show_usage, stdout);
        return 0;
    }
    if (argc > 3)
        return usage_error(show_usage, "show takes at most two arguments");
    const char *what = argc > 1 ? argv[1] : "all";
    const char *field = argc > 2 ? argv[2] : NULL;
    if (strcmp(what, "all") && strcmp(what, "interfaces") && !ifname_ok(what))
        return ifname_error(show_usage, what);
    if (field && !strcmp(what, "interfaces"))
        return usage_error(show_usage, "show interfaces takes no field");
    struct names ns = {0};
    int r;
    if (!strcmp(what, "all") || !strcmp(what, "interfaces")) {
        r = ppn_wg_link_list(collect, &ns);
        if (r < 0) {
            free(ns.v);
            return fail("list", "interfaces", r);
        }
        if (ns.n)
            qsort(ns.v, ns.n, sizeof(*ns.v), cmp_names);
        if (!strcmp(what, "interfaces")) {
            for (size_t i = 0; i < ns.n; i++)
                printf("%s%s", i ? " " : "", ns.v[i]);
            if (ns.n)
                printf("\n");
            free(ns.v);
            return 0;
        }
    } else {
        if (collect(what, 0, &ns) < 0)
            return fail("show", what, -ENOMEM);
    }
    int rc = 0;
    for (size_t i = 0; i < ns.n; i++) {
        ppn_wg_device *d;
        r = ppn_wg_get_device(ns.v[i], &d);
        if (r < 0) {
            rc = fail("show", ns.v[i], r);
            continue;
        }
        if (field) {
            if (show_field(d, field, ns.n > 1 || !strcmp(what, "all")) < 0) {
                ppn_wg_device_free(d);
                free(ns.v);
                return usage_error(show_usage, "unknown field '%s'", field);
            }
        } else {
            if (i)
                printf("\n");
            show_pretty(d);
        }
        ppn_wg_device_free(d);
    }
    free(ns.v);
    return rc;
}

static const char showconf_usage[] = "Usage: ppn-wg showconf <interface>\n";

static int cmd_showconf(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(showconf_usage, stdout);
        return 0;
    }
    if (argc != 2)
        return usage_error(showconf_usage, "showconf takes one interface");
    if (!ifname_ok(argv[1]))
        return ifname_error(showconf_usage, argv[1]);
    ppn_wg_device *d;
    int r = ppn_wg_get_device(argv[1], &d);
    if (r < 0)
        return fail("show the configuration of", argv[1], r);
    char *text;
    r = ppn_wg_config_format(d, &text);
    ppn_wg_device_free(d);
    if (r < 0)
        return fail("format the configuration of", argv[1], r);
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0;
    wipe(text, len);
    free(text);
    return ok ? 0 : fail("write", "stdout", -EIO);
}

static const char set_usage[] =
    "Usage: ppn-wg set <interface> [listen-port <port>] [fwmark <mark>] [private-key <file path>]"
    " [peer <base64 public key> [remove] [preshared-key <file path>] [endpoint <ip>:<port>]"
    " [persistent-keepalive <interval seconds>] [allowed-ips <ip1>/<cidr1>[,<ip2>/<cidr2>]...] ]...\n";

/* The numbers of `set`, checked by the kit with their range: decimal, as wg(8) reads a port
 * and a keepalive interval; a fwmark also in hexadecimal after "0x", as wg(8) reads it. */
static int parse_num(const char *s, uint64_t max, bool hex, uint64_t *ret)
{
    char why[TOOL_WHY_MAX];
    return hex ? tool_parse_uint_hex(s, 0, max, ret, why) : tool_parse_uint(s, 0, max, ret, why);
}

/* Builds the device for `set` by writing a one-peer config line by line is
 * not possible (keys come from files), so the arguments map to setters. */
static int cmd_set(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(set_usage, stdout);
        return 0;
    }
    if (argc < 3)
        return usage_error(set_usage, "set needs an interface and at least one setting");
    const char *ifname = argv[1];
    if (!ifname_ok(ifname))
        return ifname_error(set_usage, ifname);
    ppn_wg_device *d;
    ppn_wg_peer *peer = NULL;
    uint8_t key[PPN_WG_KEY_BYTES];
    int r = ppn_wg_device_new(&d);
    if (r < 0)
        return fail("configure", ifname, r);
    if (ppn_wg_device_set_name(d, ifname) < 0) {
        ppn_wg_device_free(d);
        return ifname_error(set_usage, ifname);
    }
    uint64_t u;
    const char *range = "";
    int i;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!peer && !strcmp(a, "listen-port") && v) {
            range = "a port, 0 to 65535";
            if (parse_num(v, 65535, false, &u) < 0)
                goto bad_value;
            ppn_wg_device_set_listen_port(d, (uint16_t)u);
            i++;
        } else if (!peer && !strcmp(a, "fwmark") && v) {
            range = "off or 0 to 4294967295";
            if (!strcmp(v, "off"))
                u = 0;
            else if (parse_num(v, 0xffffffffUL, true, &u) < 0)
                goto bad_value;
            ppn_wg_device_set_fwmark(d, (uint32_t)u);
            i++;
        } else if (!peer && !strcmp(a, "private-key") && v) {
            r = read_key_file(v, key);
            if (r != 0)
                goto bad_key;
            ppn_wg_device_set_private_key(d, key);
            i++;
        } else if (!strcmp(a, "peer") && v) {
            r = ppn_wg_key_from_base64(v, strlen(v), key);
            if (r < 0)
                goto bad_key;
            peer = ppn_wg_device_find_peer(d, key);
            if (!peer && (r = ppn_wg_device_add_peer(d, key, &peer)) < 0)
                goto fail;
            i++;
        } else if (peer && !strcmp(a, "remove")) {
            ppn_wg_peer_set_flags(peer, ppn_wg_peer_get_flags(peer) | PPN_WG_PEER_REMOVE_ME);
        } else if (peer && !strcmp(a, "preshared-key") && v) {
            r = read_key_file(v, key);
            if (r != 0)
                goto bad_key;
            ppn_wg_peer_set_preshared_key(peer, key);
            i++;
        } else if (peer && !strcmp(a, "endpoint") && v) {
            struct sockaddr_in6 sa;
            socklen_t sl;
            range = "<ip>:<port> or [<ipv6>]:<port> or <host>:<port>, port 0 to 65535";
            if (ppn_wg_endpoint_parse(v, &sa, &sl) < 0)
                goto bad_value;
            ppn_wg_peer_set_endpoint(peer, (struct sockaddr *)&sa, sl);
            i++;
        } else if (peer && !strcmp(a, "persistent-keepalive") && v) {
            range = "off or 0 to 65535 seconds";
            if (!strcmp(v, "off"))
                u = 0;
            else if (parse_num(v, 65535, false, &u) < 0)
                goto bad_value;
            ppn_wg_peer_set_keepalive(peer, (uint16_t)u);
            i++;
        } else if (peer && !strcmp(a, "allowed-ips") && v) {
            char *copy = strdup(v), *save = NULL;
            if (!copy) {
                r = -ENOMEM;
                goto fail;
            }
            ppn_wg_peer_clear_allowedips(peer);
            ppn_wg_peer_set_flags(peer, ppn_wg_peer_get_flags(peer) | PPN_WG_PEER_REPLACE_ALLOWEDIPS);
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                ppn_wg_allowedip ip;
                while (*t == ' ')
                    t++;
                if (!*t)
                    continue;
                range = "<ip>/<cidr>[,...], cidr 0 to 32 or 128";
                if (ppn_wg_allowedip_parse(t, &ip) < 0 || ppn_wg_peer_add_allowedip(peer, &ip) < 0) {
                    free(copy);
                    goto bad_value;
                }
            }
            free(copy);
            i++;
        } else {
            wipe(key, sizeof(key));
            ppn_wg_device_free(d);
            return usage_error(set_usage, "invalid argument '%s'%s", a, v ? "" : " (or its value is missing)");
        }
    }
    wipe(key, sizeof(key));
    r = ppn_wg_set_device(d);
    ppn_wg_device_free(d);
    return r < 0 ? fail("configure", ifname, r) : 0;
bad_value:
    wipe(key, sizeof(key));
    ppn_wg_device_free(d);
    return usage_error(set_usage, "invalid value '%s' for '%s' (%s)", argv[i + 1], argv[i], range);
bad_key:
    wipe(key, sizeof(key));
    ppn_wg_device_free(d);
    if (r > 0)
        ; /* refused, said so */
    else if (r == -EINVAL)
        fprintf(stderr, "ppn-wg: Failed to read the key for '%s': a key is 44 characters of base64 (32 bytes)\n",
                argv[i]);
    else
        fprintf(stderr, "ppn-wg: Failed to read the key file '%s': %s\n", argv[i + 1], strerror(-r));
    return 1;
fail:
    wipe(key, sizeof(key));
    ppn_wg_device_free(d);
    return fail("configure", ifname, r);
}

enum conf_mode { SETCONF, ADDCONF, SYNCCONF };

static int conf_cmd(int argc, char **argv, enum conf_mode mode)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("Usage: ppn-wg %s <interface> <configuration filename>\n", argv[0]);
        return 0;
    }
    char usage[96];
    snprintf(usage, sizeof(usage), "Usage: ppn-wg %s <interface> <configuration filename>\n", argv[0]);
    if (argc != 3)
        return usage_error(usage, "%s takes an interface and a file", argv[0]);
    if (!ifname_ok(argv[1]))
        return ifname_error(usage, argv[1]);
    char *text;
    size_t len;
    int r = read_whole(argv[2], &text, &len);
    if (r < 0)
        return fail("read", argv[2], r);
    ppn_wg_device *d;
    ppn_wg_config_error e;
    r = ppn_wg_config_parse_report(text, len, &d, &e);
    wipe(text, len);
    free(text);
    if (r < 0) {
        if (e.field[0])
            fprintf(stderr, "ppn-wg: Failed to parse '%s' line %u: %s: %s\n", argv[2], e.line, e.field, e.reason);
        else
            fprintf(stderr, "ppn-wg: Failed to parse '%s' line %u: %s\n", argv[2], e.line, e.reason);
        return 1;
    }
    if (ppn_wg_device_set_name(d, argv[1]) < 0) {
        ppn_wg_device_free(d);
        return ifname_error(usage, argv[1]);
    }
    if (mode == SETCONF)
        ppn_wg_device_set_flags(d, PPN_WG_DEVICE_REPLACE_PEERS);
    if (mode == SYNCCONF)
        r = ppn_wg_sync_device(d);
    else
        r = ppn_wg_set_device(d);
    ppn_wg_device_free(d);
    return r < 0 ? fail("configure", argv[1], r) : 0;
}

/* ---- keys: genkey, genpsk, pubkey (wg(8)'s forms) ---- */

static int key_cmd_usage(int argc, char **argv, const char *usage)
{
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc != 1)
        return usage_error(usage, "%s takes no arguments", argv[0]);
    return -1;
}

/* Prints a key as base64 and a newline, then wipes both. */
static int print_key(uint8_t key[PPN_WG_KEY_BYTES])
{
    char text[PPN_WG_KEY_B64_LEN + 2];
    ppn_wg_key_to_base64(key, text);
    wipe(key, PPN_WG_KEY_BYTES);
    text[PPN_WG_KEY_B64_LEN] = '\n';
    text[PPN_WG_KEY_B64_LEN + 1] = '\0';
    int r = tool_write_all(STDOUT_FILENO, text, PPN_WG_KEY_B64_LEN + 1);
    wipe(text, sizeof(text));
    return r < 0 ? fail("write", "stdout", r) : 0;
}

/* Like wg(8): a secret written to a regular file that others may read
 * gets a warning (the key is still written: the caller chose the file). */
static void warn_if_world_readable(void)
{
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0077))
        fprintf(stderr, "ppn-wg: Warning: writing a secret key to a file others can read (mode %04o); "
                        "use umask 077\n", (unsigned)(st.st_mode & 07777));
}

static int gen_cmd(int argc, char **argv, bool preshared)
{
    char usage[40];
    snprintf(usage, sizeof(usage), "Usage: ppn-wg %s\n", preshared ? "genpsk" : "genkey");
    int r = key_cmd_usage(argc, argv, usage);
    if (r >= 0)
        return r;
    uint8_t key[PPN_WG_KEY_BYTES];
    r = preshared ? ppn_wg_key_generate_preshared(key) : ppn_wg_key_generate(key);
    if (r < 0)
        return fail("generate", preshared ? "a preshared key" : "a private key", r);
    warn_if_world_readable();
    return print_key(key);
}

static int cmd_genkey(int argc, char **argv) { return gen_cmd(argc, argv, false); }
static int cmd_genpsk(int argc, char **argv) { return gen_cmd(argc, argv, true); }

/* The private key comes on stdin (never in argv): base64 with optional
 * surrounding whitespace, at most 1 KiB read. */
static int cmd_pubkey(int argc, char **argv)
{
    static const char usage[] = "Usage: ppn-wg pubkey < <private key file>\n";
    int r = key_cmd_usage(argc, argv, usage);
    if (r >= 0)
        return r;
    char buf[1025];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            wipe(buf, sizeof(buf));
            return fail("read a private key from", "stdin", r);
        }
        if (n == 0 || (len += (size_t)n) == sizeof(buf) - 1)
            break;
    }
    char *p = buf;
    while (len && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\n' || p[len - 1] == '\r'))
        len--;
    uint8_t priv[PPN_WG_KEY_BYTES], pub[PPN_WG_KEY_BYTES];
    r = ppn_wg_key_from_base64(p, len, priv);
    wipe(buf, sizeof(buf));
    if (r < 0) {
        fprintf(stderr, "ppn-wg: Failed to read a private key from 'stdin': a key is 44 characters of base64 "
                        "(32 bytes)\n");
        return 1;
    }
    r = ppn_wg_key_public(priv, pub);
    wipe(priv, sizeof(priv));
    if (r < 0)
        return fail("compute", "the public key", r);
    return print_key(pub);
}

static int cmd_setconf(int argc, char **argv) { return conf_cmd(argc, argv, SETCONF); }
static int cmd_addconf(int argc, char **argv) { return conf_cmd(argc, argv, ADDCONF); }
static int cmd_syncconf(int argc, char **argv) { return conf_cmd(argc, argv, SYNCCONF); }

static const struct tool_cmd cmds[] = {
    {"show", cmd_show, "Shows the current configuration and device information"},
    {"showconf", cmd_showconf, "Shows the current configuration of an interface in wg(8) file format"},
    {"set", cmd_set, "Changes the current configuration, adds peers, removes peers, or changes peers"},
    {"setconf", cmd_setconf, "Applies a configuration file, replacing all peers"},
    {"addconf", cmd_addconf, "Appends a configuration file to the current configuration"},
    {"syncconf", cmd_syncconf, "Applies only the difference between a configuration file and the device"},
    {"genkey", cmd_genkey, "Generates a new private key and writes it to stdout"},
    {"genpsk", cmd_genpsk, "Generates a new preshared key and writes it to stdout"},
    {"pubkey", cmd_pubkey, "Reads a private key from stdin and writes a public key to stdout"},
    {NULL, NULL, NULL},
};

/* stdout's buffer is ours, so that the private keys `showconf` and `show
 * dump` print through it can be wiped before exit. */
static char out_buf[1 << 16];

int main(int argc, char **argv)
{
    setvbuf(stdout, out_buf, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, sizeof(out_buf));
    int rc;
    /* As wg(8): no command means `show` (every interface). */
    if (argc == 1) {
        static char show[] = "show";
        char *args[] = {show, NULL};
        tool_set_name("ppn-wg");
        rc = cmd_show(1, args);
    } else {
        rc = tool_dispatch("ppn-wg", ppn_wg_version(), cmds, argc, argv);
    }
    if (fflush(stdout) != 0 && rc == 0)
        rc = fail("write", "stdout", -EIO);
    wipe(out_buf, sizeof(out_buf));
    return rc;
}
