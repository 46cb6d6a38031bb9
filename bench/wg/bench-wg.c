/* ppn-wg against Debian's wg on the same kernel, in the same run:
 * setconf of N fresh peers into an empty device, then showconf, for
 * N = 10,000 and 100,000 peers and one peer with 100,000 allowed IPs
 * (given as -100000).  Run inside the microVM guest (root, kernel
 * WireGuard):  bench-wg PATH/TO/ppn-wg [WG] [N...]
 * Prints seconds for each and the ratio wg / ppn-wg (> 1: ppn-wg faster). */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ppn/wg.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void key(char out[45])
{
    uint8_t k[33];
    if (getrandom(k, 32, 0) != 32)
        exit(2);
    k[32] = 0;
    for (int i = 0, o = 0; i < 33; i += 3) {
        uint32_t v = (uint32_t)k[i] << 16 | (uint32_t)(i + 1 < 33 ? k[i + 1] : 0) << 8 |
                     (uint32_t)(i + 2 < 33 ? k[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = b64[v >> 6 & 63];
        out[o++] = b64[v & 63];
    }
    out[43] = '=';
    out[44] = 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The configuration: N peers, each an IPv4 /32 and an IPv6 /128, every
 * fourth an endpoint and a keepalive; or (one_peer) one peer with N IPv6
 * /128.  Returns 0 or -1. */
static int write_config(const char *path, long n, bool one_peer, int port)
{
    char k[45];
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    key(k);
    fprintf(f, "[Interface]\nPrivateKey = %s\nListenPort = %d\n", k, port);
    if (one_peer) {
        key(k);
        fprintf(f, "\n[Peer]\nPublicKey = %s\nAllowedIPs = ", k);
        for (long p = 0; p < n; p++)
            fprintf(f, "%sfd01::%lx:%lx/128", p ? ", " : "", (p >> 16) & 0xffff, p & 0xffff);
        fprintf(f, "\n");
    }
    for (long p = 0; !one_peer && p < n; p++) {
        key(k);
        fprintf(f, "\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.%ld.%ld.%ld/32, fd00::%lx:%lx/128\n", k,
                (p >> 16) & 255, (p >> 8) & 255, p & 255, (p >> 16) & 0xffff, p & 0xffff);
        if (p % 4 == 0)
            fprintf(f, "Endpoint = 192.0.2.%ld:%ld\nPersistentKeepalive = 25\n", p % 250 + 1, 1024 + p % 60000);
    }
    return fclose(f) == 0 ? 0 : -1;
}

/* Runs argv with stdout to /dev/null; returns seconds, exits on failure. */
static double timed(char *const argv[])
{
    double t = now();
    pid_t pid = fork();
    if (pid < 0)
        exit(2);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "bench-wg: '%s %s %s' failed\n", argv[0], argv[1], argv[2]);
        exit(1);
    }
    return now() - t;
}

static void sh(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "bench-wg: '%s' failed\n", cmd);
        exit(1);
    }
}

/* bench-wg sync PPN [WG [N [OTHER]]]: a device of N peers (20,000 by
 * default) set with setconf (not timed), its own showconf saved as the
 * configuration.  Then, interleaved, best of 5 each: the reads (showconf,
 * show dump) and syncconf of the unchanged configuration by ppn-wg (and by
 * OTHER, e.g. an older ppn-wg, when given) and by wg; syncconf with one
 * peer's endpoint changed (alternating with the original, so that each run
 * has one change to write); in the process, ppn_wg_get_device against
 * ppn_wg_sync_device of the state just read.  Ratio: time / the read of the
 * same device in the same run (1 = a sync costs one read). */
#define SYNC_RUNS 5
static double mins(double *best, double t)
{
    if (t < *best)
        *best = t;
    return t;
}

static int bench_sync(char *ppn, char *wg, long n, char *other)
{
    char path[] = "/tmp/bench-wg-sync.conf", conf[] = "/tmp/bench-wg-sync.cur",
         one[] = "/tmp/bench-wg-sync.one", dev[] = "bwgs0", cmd[512];
    if (write_config(path, n, false, 31000) < 0)
        return 2;
    snprintf(cmd, sizeof(cmd), "ip link add %s type wireguard && %s setconf %s %s && %s showconf %s > %s", dev,
             ppn, dev, path, ppn, dev, conf);
    sh(cmd);
    /* The first endpoint of the file moves to another port. */
    snprintf(cmd, sizeof(cmd), "sed '0,/^Endpoint = /s/^Endpoint = \\(.*\\):[0-9]*$/Endpoint = \\1:9/' %s > %s", conf,
             one);
    sh(cmd);
    char *bins[2] = {ppn, other};
    int nb = other ? 2 : 1;
    double show[2] = {1e9, 1e9}, dump[2] = {1e9, 1e9}, psync[2] = {1e9, 1e9}, pone[2] = {1e9, 1e9},
           start[2] = {1e9, 1e9};
    double wsync = 1e9, t_get = 1e9, t_lsync = 1e9;
    for (int r = 0; r < SYNC_RUNS; r++) {
        for (int b = 0; b < nb; b++) {
            int k = (r + b) % nb; /* alternate which binary goes first */
            char *a_start[] = {bins[k], "--version", NULL};
            char *a_show[] = {bins[k], "showconf", dev, NULL};
            char *a_dump[] = {bins[k], "show", dev, "dump", NULL};
            char *a_sync[] = {bins[k], "syncconf", dev, conf, NULL};
            char *a_one[] = {bins[k], "syncconf", dev, one, NULL};
            mins(&start[k], timed(a_start));
            mins(&show[k], timed(a_show));
            mins(&dump[k], timed(a_dump));
            mins(&psync[k], timed(a_sync));
            mins(&pone[k], timed(a_one)); /* one endpoint to write ... */
            char *a_back[] = {ppn, "syncconf", dev, conf, NULL};
            timed(a_back); /* ... and back, not timed */
        }
        char *a_wsync[] = {wg, "syncconf", dev, conf, NULL};
        mins(&wsync, timed(a_wsync));
        /* In the process, through the library. */
        ppn_wg_device *d;
        double t = now();
        if (ppn_wg_get_device(dev, &d) < 0) {
            fprintf(stderr, "bench-wg: ppn_wg_get_device failed\n");
            return 1;
        }
        mins(&t_get, now() - t);
        t = now();
        int w = ppn_wg_sync_device(d);
        mins(&t_lsync, now() - t);
        ppn_wg_device_free(d);
        if (w != 0) {
            fprintf(stderr, "bench-wg: ppn_wg_sync_device of the state just read wrote %d peers\n", w);
            return 1;
        }
    }
    printf("%ld peers, best of %d\n", n, SYNC_RUNS);
    for (int k = 0; k < nb; k++) {
        printf(" %s\n", bins[k]);
        printf("  %-40s %8.3f s\n", "--version (process start)", start[k]);
        printf("  %-40s %8.3f s\n", "showconf (the floor)", show[k]);
        printf("  %-40s %8.3f s %7.2fx\n", "show dump", dump[k], dump[k] / show[k]);
        printf("  %-40s %8.3f s %7.2fx\n", "syncconf, nothing changed", psync[k], psync[k] / show[k]);
        printf("  %-40s %8.3f s %7.2fx\n", "syncconf, one endpoint changed", pone[k], pone[k] / show[k]);
        printf("  %-40s %17.2fx\n", "syncconf unchanged, less process start", (psync[k] - start[k]) / (show[k] - start[k]));
    }
    printf(" %s\n", wg);
    printf("  %-40s %8.3f s %7.2fx\n", "syncconf, nothing changed (/ showconf)", wsync, wsync / show[0]);
    printf(" library (linked into bench-wg)\n");
    printf("  %-40s %8.3f s\n", "ppn_wg_get_device (the floor)", t_get);
    printf("  %-40s %8.3f s %7.2fx\n", "ppn_wg_sync_device, nothing changed", t_lsync, t_lsync / t_get);
    printf("ratio = time / the floor above it (the same program's read), same device, same run\n");
    unlink(path);
    unlink(conf);
    unlink(one);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "sync") == 0) {
        if (argc < 3) {
            fprintf(stderr, "usage: bench-wg sync PATH/TO/ppn-wg [WG [N [OTHER/ppn-wg]]]\n");
            return 1;
        }
        long n = argc > 4 ? atol(argv[4]) : 20000;
        return bench_sync(argv[2], argc > 3 ? argv[3] : "wg", n > 0 ? n : 20000, argc > 5 ? argv[5] : NULL);
    }
    if (argc < 2) {
        fprintf(stderr, "usage: bench-wg PATH/TO/ppn-wg [WG [N...]]\n");
        return 1;
    }
    char *ppn = argv[1], *wg = argc > 2 ? argv[2] : "wg";
    static const long dflt[] = {10000, 100000, -100000};
    int nn = argc > 3 ? argc - 3 : 3;
    printf("%-19s %-9s %10s %10s %8s\n", "size", "operation", "wg [s]", "ppn-wg [s]", "ratio");
    for (int i = 0; i < nn; i++) {
        long n = argc > 3 ? atol(argv[3 + i]) : dflt[i];
        bool one_peer = n < 0; /* -N: one peer with N allowed IPs */
        if (one_peer)
            n = -n;
        char path[] = "/tmp/bench-wg.conf";
        if (write_config(path, n, one_peer, 30000 + i) < 0)
            return 2;
        /* Fresh devices; not deleted afterwards (peer removal is the slow
         * path of the kernel and is not what is measured). */
        char a[32], b[32], cmd[128];
        snprintf(a, sizeof(a), "bwga%d", i);
        snprintf(b, sizeof(b), "bwgb%d", i);
        snprintf(cmd, sizeof(cmd), "ip link add %s type wireguard && ip link add %s type wireguard", a, b);
        sh(cmd);
        /* Alternate the order so that neither always runs on a warmer kernel. */
        double ws, ps, wr, pr;
        char *ws_argv[] = {wg, "setconf", b, path, NULL};
        char *ps_argv[] = {ppn, "setconf", a, path, NULL};
        char *wr_argv[] = {wg, "showconf", b, NULL};
        char *pr_argv[] = {ppn, "showconf", a, NULL};
        if (i % 2 == 0) {
            ws = timed(ws_argv);
            ps = timed(ps_argv);
        } else {
            ps = timed(ps_argv);
            ws = timed(ws_argv);
        }
        /* reads: best of 3 each, interleaved */
        wr = pr = 1e9;
        for (int r = 0; r < 3; r++) {
            double x = timed(wr_argv), y = timed(pr_argv);
            wr = x < wr ? x : wr;
            pr = y < pr ? y : pr;
        }
        const char *what = one_peer ? "IPs, 1 peer" : "peers";
        printf("%7ld %-11s %-9s %10.3f %10.3f %7.2fx\n", n, what, "setconf", ws, ps, ws / ps);
        printf("%7ld %-11s %-9s %10.3f %10.3f %7.2fx\n", n, what, "showconf", wr, pr, wr / pr);
        fflush(stdout);
        unlink(path);
    }
    printf("ratio = wg time / ppn-wg time (> 1 means ppn-wg is faster)\n");
    return 0;
}
