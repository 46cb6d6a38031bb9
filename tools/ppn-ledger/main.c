/* ppn-ledger — administer a libppn-ledger directory.  See doc/ledger.md. */
#include <errno.h>
#include <jansson.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ppn-common.h"
#include "ppn/ledger.h"
#include "tool-util.h"


/* One JSON object on stdout (taking the reference); numbers above 2^63 are
 * never put in one: sizes and indices of a ledger stay below. */
static void print_json(json_t *o)
{
    char *t = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    if (t)
        puts(t);
    free(t);
    json_decref(o);
}

/* The kit's usage error (tool_usage_error) under the name "ppn-ledger <cmd>": one line naming
 * the problem, the usage line, exit 1.  Under --json one JSON object under "ppn-ledger". */
static int usage_error(const char *cmd, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    char name[64], u[256], m[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof(m), fmt, ap);
    va_end(ap);
    snprintf(name, sizeof(name), "ppn-ledger %s", cmd);
    snprintf(u, sizeof(u), "%s %s", cmd, usage);
    if (!tool_json_errors())
        tool_set_name(name);
    tool_usage_error(tool_json_errors() ? u : usage, "%s", m);
    tool_set_name("ppn-ledger");
    return 1;
}

/* Stray positional arguments from argv[first] on: refused (tool_no_operands). */
static int no_operands(const char *cmd, const char *usage, int argc, char **argv, int first)
{
    char name[64], u[256];
    snprintf(name, sizeof(name), "ppn-ledger %s", cmd);
    snprintf(u, sizeof(u), "%s %s", cmd, usage);
    if (!tool_json_errors())
        tool_set_name(name);
    int r = tool_no_operands(argc, argv, first, tool_json_errors() ? u : usage);
    tool_set_name("ppn-ledger");
    return r;
}

/* A number operand or option value in [0, max], or the usage error naming it. */
static int parse_number(const char *cmd, const char *usage, const char *name, const char *s, uint64_t max,
                        uint64_t *ret)
{
    char why[TOOL_WHY_MAX];
    if (tool_parse_uint(s, 0, max, ret, why) < 0)
        return usage_error(cmd, usage, "%s: %s", name, why);
    return 0;
}

/* Indices and tree sizes of a ledger stay below 2^63 (PPN_LEDGER_PROOF_MAX). */
#define INDEX_MAX ((uint64_t)INT64_MAX)

/* A whole file, or stdin for "-", of at most 'max' bytes. */
static int read_all(const char *path, uint8_t **ret, size_t *ret_len, size_t max)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    if (fd < 0)
        return -errno;
    int r = ppnc_read_fd(fd, max, ret, ret_len);
    if (fd > 0)
        close(fd);
    return r;
}

/* A key file holds the 64-byte libsodium Ed25519 secret key, raw or in base64 or hex, or a
 * 32-byte seed in base64 (wg genkey form) or hex.  Never from argv.  The file is refused
 * (tool_check_key_fd: group or others have access, or another user owns it) with the
 * refusal printed: 1.  0, or a negative errno for the caller to report. */
static int load_key(const char *path, uint8_t sk[64])
{
    uint8_t *b;
    size_t n;
    int fd = 0;
    if (strcmp(path, "-")) {
        int k = tool_open_key_file(path, &fd);
        if (k != 0)
            return k;
    }
    int r = ppnc_read_fd(fd, 4096, &b, &n);
    if (fd > 0)
        close(fd);
    if (r < 0)
        return r;
    r = ppn_ledger_secret_key_parse(b, n, sk);
    sodium_memzero(b, n);
    free(b);
    return r;
}

/* The report of an open or a verification (ppn_ledger_report_format): a failure located in a
 * file, or the errno; after a success, its warnings. */
static int report_open(const char *dir, int r, const struct ppn_ledger_report *rep, uint32_t flags)
{
    char *t = NULL;
    int k = ppn_ledger_report_format(dir, r, rep, flags, &t);
    if (k == 0)
        tool_print_lines(t);
    else if (r < 0)
        return tool_fail("open", dir, r);
    return r < 0;
}

/* ---- progress on a terminal ---- */
struct progress {
    const char *label;
    uint64_t start_ms, delay_ms, last_ms;
    bool shown;
};

/* PPN_LEDGER_PROGRESS_DELAY_MS, checked in main() before any command runs. */
#define PROGRESS_DELAY_ENV "PPN_LEDGER_PROGRESS_DELAY_MS"
#define PROGRESS_DELAY_MAX_MS 3600000
static uint64_t progress_delay_ms = 1000;

/* Shown once an operation has run PPN_LEDGER_PROGRESS_DELAY_MS (default 1000: quick ones stay
 * silent), then every 200 ms. */
static void show_progress(void *ud, const char *what, uint64_t done, uint64_t total)
{
    struct progress *p = ud;
    uint64_t now = ppnc_now_mono_ms();
    if (!p->start_ms) {
        p->start_ms = now;
        p->delay_ms = progress_delay_ms;
    }
    if (now - p->start_ms < p->delay_ms)
        return;
    if (p->shown && now - p->last_ms < 200 && done < total)
        return;
    p->last_ms = now;
    p->shown = true;
    bool bytes = !strcmp(what, "reading");
    fprintf(stderr, "\r\033[K%s: %s %" PRIu64 "/%" PRIu64 "%s (%u%%)", p->label, what,
            bytes ? done >> 10 : done, bytes ? total >> 10 : total, bytes ? " KiB" : "",
            total ? (unsigned)(done * 100 / total) : 100);
    fflush(stderr);
}

static void progress_on(ppn_ledger *l, struct progress *p, const char *label)
{
    memset(p, 0, sizeof(*p));
    p->label = label;
    if (isatty(STDERR_FILENO))
        ppn_ledger_set_progress(l, show_progress, p);
}

static void progress_off(ppn_ledger *l, struct progress *p)
{
    ppn_ledger_set_progress(l, NULL, NULL);
    if (p->shown)
        fprintf(stderr, "\r\033[K");
}

static int open_ledger(const char *dir, uint32_t flags, ppn_ledger **l)
{
    struct ppn_ledger_report rep;
    static struct progress pr;
    memset(&pr, 0, sizeof(pr));
    pr.label = dir;
    int r;
    /* A writer that holds the lock for a moment ('ppn-pair serve' applying a sync answer) is
     * waited for, up to 2 s; a lock held longer is reported (-EBUSY). */
    for (int i = 0; (r = ppn_ledger_open_progress(dir, flags, &rep, isatty(STDERR_FILENO) ? show_progress : NULL,
                                                   &pr, l)) == -EBUSY && (flags & PPN_LEDGER_OPEN_WRITE) && i < 100;
         i++) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (pr.shown)
        fprintf(stderr, "\r\033[K");
    if (r == 0)
        ppn_ledger_set_progress(*l, NULL, NULL);
    report_open(dir, r, &rep, flags);
    return r < 0 ? r : 0;
}

static int help_if(int argc, char **argv, const char *cmd, const char *usage, const char *text)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("Usage: ppn-ledger %s %s\n\n%s\n", cmd, usage, text);
            return 1;
        }
    return 0;
}

/* ---- init ---- */
#define INIT_USAGE "DIR --origin NAME --mesh RANGE --key KEYFILE"
static int cmd_init(int argc, char **argv)
{
    if (help_if(argc, argv, "init", INIT_USAGE,
                "Creates the ledger directory with its genesis entry; the key file's key becomes the\n"
                "first administrator and signs the genesis entry."))
        return 0;
    const char *origin = NULL, *mesh = NULL, *keyf = NULL;
    static const struct option o[] = {{"origin", 1, 0, 'o'}, {"mesh", 1, 0, 'm'}, {"key", 1, 0, 'k'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:m:k:", o, NULL)) != -1) {
        if (c == 'o') origin = optarg;
        else if (c == 'm') mesh = optarg;
        else if (c == 'k') keyf = optarg;
        else return usage_error("init", INIT_USAGE, "unknown option");
    }
    if (optind >= argc || !origin || !mesh || !keyf)
        return usage_error("init", INIT_USAGE, "DIR, --origin, --mesh and --key are needed");
    if (no_operands("init", INIT_USAGE, argc, argv, optind + 1))
        return 1;
    struct ppn_ledger_entry g;
    memset(&g, 0, sizeof(g));
    g.type = PPN_LEDGER_ENTRY_GENESIS;
    if (strlen(origin) > PPN_LEDGER_TEXT_MAX || strlen(mesh) > PPN_LEDGER_TEXT_MAX)
        return usage_error("init", INIT_USAGE, "--origin and --mesh are at most 255 bytes");
    strcpy(g.text, origin);
    strcpy(g.mesh, mesh);
    memset(g.subject, 1, 32); /* the key is checked when it is read */
    memset(g.author, 1, 32);
    char msg[512];
    if (ppn_ledger_entry_check(&g, msg, sizeof(msg)) < 0) {
        fprintf(stderr, "ppn-ledger: Failed to create ledger '%s': %s; nothing written\n", argv[optind], msg);
        return 1;
    }
    uint8_t sk[64];
    int r = load_key(keyf, sk);
    if (r != 0)
        return r > 0 ? 1 : tool_fail("read key file", keyf, r);
    r = ppn_ledger_create(argv[optind], origin, mesh, sk, NULL);
    sodium_memzero(sk, sizeof(sk));
    if (r < 0)
        return tool_fail("create ledger", argv[optind], r);
    printf("created %s (origin %s, mesh %s)\n", argv[optind], origin, mesh);
    return 0;
}

/* ---- append ---- */
#define APPEND_USAGE "DIR (--key KEYFILE [FILE|-] | --signed FILE|-)"
static int cmd_append(int argc, char **argv)
{
    if (help_if(argc, argv, "append", APPEND_USAGE,
                "Appends entries described in JSON (one object per line; all lines form one batch with\n"
                "one fsync), signed with the key file's key; or one entry already signed (CBOR bytes).\n"
                "JSON: {\"type\":\"node-join\",\"subject\":B64,\"wg_key\":B64,\"mesh\":\"10.8.0.2\",\n"
                "\"endpoint\":\"h:p\",\"hostname\":\"n\"}; types genesis node-join node-revoke cap-grant\n"
                "cap-revoke vm-assign supersede (see doc/ledger.md)."))
        return 0;
    const char *keyf = NULL, *signedf = NULL;
    static const struct option o[] = {{"key", 1, 0, 'k'}, {"signed", 1, 0, 's'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "k:s:", o, NULL)) != -1) {
        if (c == 'k') keyf = optarg;
        else if (c == 's') signedf = optarg;
        else return usage_error("append", APPEND_USAGE, "unknown option");
    }
    if (optind >= argc || (!keyf == !signedf))
        return usage_error("append", APPEND_USAGE, "DIR and either --key or --signed are needed");
    if (no_operands("append", APPEND_USAGE, argc, argv, optind + (keyf ? 2 : 1)))
        return 1;
    const char *dir = argv[optind];
    const char *in = signedf ? signedf : (optind + 1 < argc ? argv[optind + 1] : "-");
    uint8_t *data;
    size_t len;
    int r = read_all(in, &data, &len, 64u << 20);
    if (r < 0)
        return tool_fail("read", in, r);
    ppn_ledger *l;
    if (open_ledger(dir, PPN_LEDGER_OPEN_WRITE, &l) < 0) {
        free(data);
        return 1;
    }
    uint64_t first = 0;
    size_t count = 0;
    if (signedf) {
        const uint8_t *p = data;
        r = ppn_ledger_append_signed(l, &p, &len, 1, &first);
        count = 1;
        if (r < 0)
            fprintf(stderr, "ppn-ledger: Failed to append signed entry from '%s': %s%s%s; nothing appended\n",
                    in, strerror(-r), ppn_ledger_last_error(l)[0] ? ": " : "", ppn_ledger_last_error(l));
    } else {
        uint8_t sk[64];
        r = load_key(keyf, sk);
        if (r != 0) {
            if (r < 0)
                tool_fail("read key file", keyf, r);
            r = r < 0 ? r : -EPERM;
        } else {
            struct ppn_ledger_entry *es = NULL;
            size_t *lines = NULL;
            size_t cap = 0, line = 0;
            char *save, *s = strtok_r((char *)data, "\n", &save);
            for (; s && r >= 0; s = strtok_r(NULL, "\n", &save)) {
                line++;
                if (!s[strspn(s, " \t\r")])
                    continue;
                if (count == cap) {
                    cap = cap ? cap * 2 : 16;
                    struct ppn_ledger_entry *ne = realloc(es, cap * sizeof(*es));
                    size_t *nl = realloc(lines, cap * sizeof(*lines));
                    if (nl)
                        lines = nl;
                    if (!ne || !nl) {
                        free(ne ? ne : es);
                        es = NULL;
                        r = -ENOMEM;
                        break;
                    }
                    es = ne;
                }
                char msg[512];
                r = ppn_ledger_entry_parse_json(s, strlen(s), &es[count], msg, sizeof(msg));
                if (r < 0) {
                    fprintf(stderr, "ppn-ledger: Failed to parse entry '%s line %zu': %s\n", in, line, msg);
                } else {
                    /* The entry's meaning too, before the ledger is touched. */
                    struct ppn_ledger_entry chk = es[count];
                    chk.index = ppn_ledger_size(l) + count;
                    memcpy(chk.author, sk + 32, 32);
                    if ((r = ppn_ledger_entry_check(&chk, msg, sizeof(msg))) < 0)
                        fprintf(stderr, "ppn-ledger: Failed to check entry '%s line %zu': %s\n", in, line, msg);
                    else
                        lines[count++] = line;
                }
            }
            if (r >= 0 && count == 0) {
                r = -ENODATA;
                tool_fail("read entries from", in, r);
            } else if (r >= 0) {
                r = ppn_ledger_append(l, es, count, sk, &first);
                if (r < 0) {
                    uint64_t bad = ppn_ledger_last_error_index(l), base = ppn_ledger_size(l);
                    if (bad != UINT64_MAX && bad >= base && bad - base < count)
                        fprintf(stderr, "ppn-ledger: Failed to append to '%s': %s line %zu (entry %" PRIu64
                                "): %s: %s; nothing appended\n", dir, in, lines[bad - base], bad,
                                strerror(-r), ppn_ledger_last_error(l));
                    else
                        fprintf(stderr, "ppn-ledger: Failed to append to '%s': %s%s%s; nothing appended\n",
                                dir, strerror(-r), ppn_ledger_last_error(l)[0] ? ": " : "",
                                ppn_ledger_last_error(l));
                }
            }
            free(es);
            free(lines);
        }
        sodium_memzero(sk, sizeof(sk));
    }
    free(data);
    ppn_ledger_free(l);
    if (r < 0)
        return 1;
    printf("appended %zu entr%s at index %" PRIu64 "\n", count, count == 1 ? "y" : "ies", first);
    return 0;
}

/* ---- show ---- */
/* Text from a libppn-ledger formatter on stdout (freed); 'nl' adds the newline a JSON value
 * lacks.  0, or the formatter's error. */
static int print_text(int r, char **t, bool nl)
{
    if (r < 0)
        return r;
    fputs(*t, stdout);
    if (nl)
        putchar('\n');
    free(*t);
    return 0;
}

/* One current view of the ledger: members, grants or assignments. */
static int show_view(const char *dir, uint32_t view, bool json)
{
    ppn_ledger *l;
    if (open_ledger(dir, 0, &l) < 0)
        return 1;
    char *t;
    int r = print_text(ppn_ledger_view_format(l, view, json ? PPN_LEDGER_FORMAT_JSON : 0, &t), &t, json);
    if (r < 0)
        tool_fail("format the view of", dir, r);
    ppn_ledger_free(l);
    return r < 0;
}

#define SHOW_USAGE "DIR [INDEX] [--json | --raw | --hex] [--view members|grants|assignments]"
static int cmd_show(int argc, char **argv)
{
    if (help_if(argc, argv, "show", SHOW_USAGE,
                "Prints the ledger: summary, current members, grants and assignments, then every entry\n"
                "(or only entry INDEX).  --json: one JSON object per entry with its leaf hash.\n"
                "--raw: the exact signed bytes of entry INDEX (canonical CBOR, the Merkle leaf is\n"
                "SHA-256(0x00 || bytes)); --hex: the same bytes in hex, one line.\n"
                "--view members|grants|assignments: only that current view (with --json, one\n"
                "JSON array: members with hostname, mesh, endpoint, identity, wg_key and entry)."))
        return 0;
    bool json = false, raw = false, hexout = false;
    const char *dir = NULL, *idxs = NULL, *view = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) { json = true; tool_set_json_errors(true); }
        else if (!strcmp(argv[i], "--view") && i + 1 < argc) view = argv[++i];
        else if (!strcmp(argv[i], "--raw")) raw = true;
        else if (!strcmp(argv[i], "--hex")) hexout = true;
        else if (argv[i][0] == '-' && argv[i][1] && (argv[i][1] < '0' || argv[i][1] > '9'))
            return usage_error("show", SHOW_USAGE, "unknown option");
        else if (!dir) dir = argv[i];
        else if (!idxs) idxs = argv[i];
        else return no_operands("show", SHOW_USAGE, argc, argv, i);
    }
    if (!dir)
        return usage_error("show", SHOW_USAGE, "DIR is needed");
    uint32_t v_id = 0;
    if (view && ppn_ledger_view_from_name(view, &v_id) < 0)
        return usage_error("show", SHOW_USAGE, "--view is members, grants or assignments");
    if (view && (idxs || raw || hexout))
        return usage_error("show", SHOW_USAGE, "--view goes without INDEX, --raw and --hex");
    if (view)
        return show_view(dir, v_id, json);
    uint64_t v = 0;
    if (idxs && parse_number("show", SHOW_USAGE, "INDEX", idxs, INDEX_MAX, &v))
        return 1;
    if ((raw || hexout) && (!idxs || json || (raw && hexout)))
        return usage_error("show", SHOW_USAGE, "--raw and --hex need one INDEX and go alone");
    ppn_ledger *l;
    if (open_ledger(dir, 0, &l) < 0)
        return 1;
    uint64_t from = 0, to = ppn_ledger_size(l);
    if (idxs) {
        if (v >= to) {
            ppn_ledger_free(l);
            return tool_fail("show entry", idxs, -ENOENT);
        }
        from = v;
        to = v + 1;
        if (raw || hexout) {
            uint8_t b[PPN_LEDGER_ENTRY_MAX];
            size_t bl;
            int r = ppn_ledger_get_raw(l, v, b, sizeof(b), &bl);
            if (r < 0) {
                ppn_ledger_free(l);
                return tool_fail("read entry", idxs, r);
            }
            if (raw) {
                r = fwrite(b, 1, bl, stdout) == bl ? 0 : -EIO;
            } else {
                char hb[2 * PPN_LEDGER_ENTRY_MAX + 1];
                sodium_bin2hex(hb, sizeof(hb), b, bl);
                r = printf("%s\n", hb) < 0 ? -EIO : 0;
            }
            ppn_ledger_free(l);
            return r < 0 ? tool_fail("write entry", idxs, r) : 0;
        }
    }
    int r = 0;
    char *t;
    if (!json && !idxs) {
        if ((r = print_text(ppn_ledger_describe(l, &t), &t, false)) < 0)
            tool_fail("describe", dir, r);
        else
            printf("entries:\n");
    }
    for (uint64_t i = from; i < to && r == 0; i++) {
        if (json) {
            if ((r = print_text(ppn_ledger_get_json(l, i, &t), &t, true)) < 0)
                tool_fail("format entry", dir, r);
            continue;
        }
        struct ppn_ledger_entry e;
        if ((r = ppn_ledger_get(l, i, &e)) < 0) {
            char what[64];
            snprintf(what, sizeof(what), "entry %" PRIu64, i);
            tool_fail("read", what, r);
        } else if ((r = print_text(ppn_ledger_entry_describe(&e, &t), &t, false)) < 0) {
            tool_fail("format entry", dir, r);
        }
    }
    ppn_ledger_free(l);
    return r < 0;
}

/* ---- verify ---- */
#define VERIFY_USAGE "DIR [--threads N] [--json]"
static int cmd_verify(int argc, char **argv)
{
    if (help_if(argc, argv, "verify", VERIFY_USAGE,
                "Checks every record checksum, canonical encoding, signature, authority, tree hash,\n"
                "the checkpoint and nodes.jsonl.  Exit 0 when all hold."))
        return 0;
    unsigned threads = 0;
    const char *dir = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
            tool_set_json_errors(true);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            uint64_t v;
            if (parse_number("verify", VERIFY_USAGE, "--threads (0: one per CPU)", argv[++i], 256, &v))
                return 1;
            threads = (unsigned)v;
        }
        else if (argv[i][0] == '-') return usage_error("verify", VERIFY_USAGE, "unknown option");
        else if (!dir) dir = argv[i];
        else return no_operands("verify", VERIFY_USAGE, argc, argv, i);
    }
    if (!dir)
        return usage_error("verify", VERIFY_USAGE, "DIR is needed");
    ppn_ledger *l;
    if (open_ledger(dir, 0, &l) < 0)
        return 1;
    struct ppn_ledger_report rep;
    struct progress pr;
    progress_on(l, &pr, dir);
    int r = ppn_ledger_verify(l, threads, &rep);
    progress_off(l, &pr);
    char *t;
    if (r < 0)
        report_open(dir, r, &rep, 0);
    else if ((r = print_text(ppn_ledger_verify_summary(l, json ? PPN_LEDGER_FORMAT_JSON : 0, &t), &t, json)) < 0)
        tool_fail("summarize the verification of", dir, r);
    ppn_ledger_free(l);
    return r < 0;
}

/* ---- checkpoint ---- */
#define CHECKPOINT_USAGE "DIR [--key KEYFILE] [--json]"
static int cmd_checkpoint(int argc, char **argv)
{
    if (help_if(argc, argv, "checkpoint", CHECKPOINT_USAGE,
                "With --key: signs a checkpoint of the whole ledger (the key must hold \"admin\"),\n"
                "stores it and prints it.  Without: prints the latest stored checkpoint."))
        return 0;
    const char *dir = NULL, *keyf = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--key") && i + 1 < argc) keyf = argv[++i];
        else if (!strcmp(argv[i], "--json")) { json = true; tool_set_json_errors(true); }
        else if (argv[i][0] == '-') return usage_error("checkpoint", CHECKPOINT_USAGE, "unknown option");
        else if (!dir) dir = argv[i];
        else return no_operands("checkpoint", CHECKPOINT_USAGE, argc, argv, i);
    }
    if (!dir)
        return usage_error("checkpoint", CHECKPOINT_USAGE, "DIR is needed");
    ppn_ledger *l;
    if (open_ledger(dir, keyf ? PPN_LEDGER_OPEN_WRITE : 0, &l) < 0)
        return 1;
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len;
    int r;
    if (keyf) {
        uint8_t sk[64];
        r = load_key(keyf, sk);
        if (r != 0) {
            if (r < 0)
                tool_fail("read key file", keyf, r);
            r = r < 0 ? r : -EPERM;
        } else if ((r = ppn_ledger_checkpoint(l, sk, note, sizeof(note), &len)) < 0)
            tool_fail("sign checkpoint of", dir, r);
        sodium_memzero(sk, sizeof(sk));
    } else if ((r = ppn_ledger_checkpoint_get(l, note, sizeof(note), &len)) < 0)
        tool_fail("read checkpoint of", dir, r);
    char *t;
    if (r == 0 && json) {
        if ((r = print_text(ppn_ledger_checkpoint_to_json(note, len, &t), &t, true)) < 0)
            tool_fail("read checkpoint of", dir, r);
    } else if (r == 0) {
        fwrite(note, 1, len, stdout);
    }
    ppn_ledger_free(l);
    return r < 0;
}

/* ---- proofs ---- */
#define PROVE_USAGE "DIR INDEX [SIZE] [--json]"
#define CONSISTENCY_USAGE "DIR OLD [NEW] [--json]"
/* "DIR N [M] [--json]", the arguments of prove and consistency: the directory and
 * one or two numbers named n_name and m_name.  *ret_has_m says whether M was given.  Returns 0,
 * or the exit status of a usage error (already reported). */
static int parse_dir_numbers(int argc, char **argv, const char *cmd, const char *usage,
                             const char *n_name, const char *m_name, bool *ret_json, const char **ret_dir,
                             uint64_t *ret_n, uint64_t *ret_m, bool *ret_has_m)
{
    const char *pos[3] = {0};
    int np = 0;
    *ret_json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) *ret_json = true;
        else if (argv[i][0] == '-' && argv[i][1] && (argv[i][1] < '0' || argv[i][1] > '9'))
            return usage_error(cmd, usage, "unknown option");
        else if (np < 3) pos[np++] = argv[i];
        else return no_operands(cmd, usage, argc, argv, i);
    }
    if (np < 2)
        return usage_error(cmd, usage, "DIR and a numeric %s are needed", n_name);
    if (parse_number(cmd, usage, n_name, pos[1], INDEX_MAX, ret_n) ||
        (np == 3 && parse_number(cmd, usage, m_name, pos[2], INDEX_MAX, ret_m)))
        return 1;
    *ret_dir = pos[0];
    *ret_has_m = np == 3;
    return 0;
}

/* prove and consistency: "DIR N [M] [--json]", the proof printed by libppn-ledger, which makes
 * and verifies it; M defaults to the ledger's size. */
static int run_proof(int argc, char **argv, bool consistency)
{
    const char *cmd = consistency ? "consistency" : "prove";
    const char *usage = consistency ? CONSISTENCY_USAGE : PROVE_USAGE;
    bool json = false, has_m = false;
    const char *dir = NULL;
    uint64_t a = 0, b = 0;
    int u = parse_dir_numbers(argc, argv, cmd, usage, consistency ? "OLD" : "INDEX", consistency ? "NEW" : "SIZE",
                              &json, &dir, &a, &b, &has_m);
    if (u)
        return u;
    ppn_ledger *l;
    if (open_ledger(dir, 0, &l) < 0)
        return 1;
    if (!has_m)
        b = ppn_ledger_size(l);
    char what[96], *t;
    uint32_t f = json ? PPN_LEDGER_FORMAT_JSON : 0;
    int r;
    if ((consistency ? a > b : a >= b) || b > ppn_ledger_size(l)) {
        snprintf(what, sizeof(what), consistency ? "sizes %" PRIu64 " to %" PRIu64 : "entry %" PRIu64 " in size %" PRIu64,
                 a, b);
        r = tool_fail(consistency ? "prove consistency of" : "prove", what, -ERANGE);
    } else if ((r = print_text(consistency ? ppn_ledger_consistency_format(l, a, b, f, &t)
                                           : ppn_ledger_inclusion_format(l, a, b, f, &t),
                               &t, json)) < 0) {
        tool_fail(consistency ? "prove consistency in" : "prove inclusion in", dir, r);
    }
    ppn_ledger_free(l);
    return r != 0;
}

static int cmd_prove(int argc, char **argv)
{
    if (help_if(argc, argv, "prove", PROVE_USAGE,
                "Prints an RFC 9162 inclusion proof of entry INDEX in the tree of SIZE entries\n"
                "(default: the whole ledger), with the leaf hash and the root; verifies it first."))
        return 0;
    return run_proof(argc, argv, false);
}

static int cmd_consistency(int argc, char **argv)
{
    if (help_if(argc, argv, "consistency", CONSISTENCY_USAGE,
                "Prints an RFC 9162 consistency proof between tree sizes OLD and NEW (default: the\n"
                "whole ledger), with both roots; verifies it first."))
        return 0;
    return run_proof(argc, argv, true);
}

/* ---- export, import ---- */
#define EXPORT_USAGE "DIR [--output PATH]"
static int cmd_export(int argc, char **argv)
{
    if (help_if(argc, argv, "export", EXPORT_USAGE,
                "Rebuilds nodes.jsonl (one line per node entry, with index and leaf hash) from the\n"
                "entries, atomically, in DIR or at PATH."))
        return 0;
    const char *dir = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--output") && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] == '-') return usage_error("export", EXPORT_USAGE, "unknown option");
        else if (!dir) dir = argv[i];
        else return no_operands("export", EXPORT_USAGE, argc, argv, i);
    }
    if (!dir)
        return usage_error("export", EXPORT_USAGE, "DIR is needed");
    ppn_ledger *l;
    if (open_ledger(dir, 0, &l) < 0)
        return 1;
    int r = ppn_ledger_export_nodes(l, out);
    if (r < 0)
        tool_fail("write nodes.jsonl of", out ? out : dir, r);
    ppn_ledger_free(l);
    return r < 0;
}

#define IMPORT_USAGE "DIR SOURCE-DIR [--json]"
static int cmd_import(int argc, char **argv)
{
    if (help_if(argc, argv, "import", IMPORT_USAGE,
                "Imports the entries of another replica after checking signatures, authority and\n"
                "consistency with the checkpoints; a fork imports nothing and exits 2.  --json:\n"
                "the result as JSON on stdout, a failure (with the fork's evidence) on stderr."))
        return 0;
    const char *pos[2] = {0};
    int np = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) { json = true; tool_set_json_errors(true); }
        else if (argv[i][0] == '-') return usage_error("import", IMPORT_USAGE, "unknown option");
        else if (np < 2) pos[np++] = argv[i];
        else return no_operands("import", IMPORT_USAGE, argc, argv, i);
    }
    if (np != 2)
        return usage_error("import", IMPORT_USAGE, "DIR and SOURCE-DIR are needed");
    const char *dir = pos[0], *src = pos[1];
    ppn_ledger *l;
    if (open_ledger(dir, PPN_LEDGER_OPEN_WRITE, &l) < 0)
        return 1;
    struct ppn_ledger_import_report rep;
    struct progress pr;
    progress_on(l, &pr, src);
    int r = ppn_ledger_import(l, src, &rep);
    progress_off(l, &pr);
    char why[512];
    snprintf(why, sizeof(why), "%s", ppn_ledger_last_error(l));
    uint64_t size = ppn_ledger_size(l);
    ppn_ledger_free(l);
    char *t = NULL;
    if (r < 0 && ppn_ledger_import_report_format(src, r, &rep, why, json ? PPN_LEDGER_FORMAT_JSON : 0, &t) == 0) {
        if (json)
            tool_print_json_error(t);
        else
            tool_print_lines(t);
        return rep.fork ? 2 : 1;
    }
    if (r < 0)
        return tool_fail("import", src, r);
    if (json)
        print_json(json_pack("{s:s,s:s,s:I,s:I}", "dir", dir, "source", src, "imported", (json_int_t)rep.imported,
                             "entries", (json_int_t)size));
    else
        printf("imported %" PRIu64 " entries from %s\n", rep.imported, src);
    return 0;
}

#define PUBKEY_USAGE "KEYFILE"
static int cmd_pubkey(int argc, char **argv)
{
    if (help_if(argc, argv, "pubkey", PUBKEY_USAGE,
                "Prints the Ed25519 public key (base64) of a key file, for use in entries."))
        return 0;
    if (argc < 2 || argv[1][0] == '-')
        return usage_error("pubkey", PUBKEY_USAGE, "KEYFILE is needed");
    if (no_operands("pubkey", PUBKEY_USAGE, argc, argv, 2))
        return 1;
    uint8_t sk[64];
    int r = load_key(argv[1], sk);
    if (r != 0)
        return r > 0 ? 1 : tool_fail("read key file", argv[1], r);
    char k[PPNC_KEY_B64_LEN + 1];
    ppnc_key_to_base64(k, sk + 32);
    sodium_memzero(sk, sizeof(sk));
    printf("%s\n", k);
    return 0;
}

static const struct tool_cmd cmds[] = {
    {"init", cmd_init, "create a ledger with its genesis entry"},
    {"append", cmd_append, "append entries (JSON, signed with a key file) or a signed entry"},
    {"show", cmd_show, "print the ledger, its current views and entries (--json)"},
    {"verify", cmd_verify, "verify checksums, signatures, authority, tree and checkpoint"},
    {"checkpoint", cmd_checkpoint, "sign a checkpoint (--key) or print the latest"},
    {"prove", cmd_prove, "inclusion proof of an entry"},
    {"consistency", cmd_consistency, "consistency proof between two tree sizes"},
    {"export", cmd_export, "rebuild nodes.jsonl"},
    {"import", cmd_import, "import entries from another replica (fork detection)"},
    {"pubkey", cmd_pubkey, "print the public key of a key file"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    tool_set_name("ppn-ledger");
    const char *d = getenv(PROGRESS_DELAY_ENV);
    char why[TOOL_WHY_MAX];
    if (d && tool_parse_uint(d, 0, PROGRESS_DELAY_MAX_MS, &progress_delay_ms, why) < 0)
        return tool_usage_error("<command> [options]  (" PROGRESS_DELAY_ENV ": milliseconds, default 1000)",
                                PROGRESS_DELAY_ENV ": %s", why);
    return tool_dispatch("ppn-ledger", ppn_ledger_version(), cmds, argc, argv);
}
