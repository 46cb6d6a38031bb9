/* Replays fuzz inputs without libFuzzer, so that every harness also runs in
 * the normal test suite (and under ASan/UBSan there).
 *
 *   fuzz-<name> [--mutations N] PATH...
 *
 * Each PATH is a file or a directory of files.  Each input is run as is, then
 * N times (default 500) after a deterministic mutation: bit flips, byte
 * overwrites with boundary values, truncation, duplication of a slice.  Exit 0
 * when every run returned; a crash is the failure. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long mutations = 500;
static unsigned long runs;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static void run(const uint8_t *data, size_t size)
{
    /* A copy of exactly 'size' bytes, so that ASan sees any overread. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
    runs++;
}

static void mutate_and_run(const uint8_t *data, size_t size)
{
    size_t cap = size * 2 + 16;
    uint8_t *buf = malloc(cap);
    if (!buf)
        abort();
    for (unsigned long i = 0; i < mutations; i++) {
        size_t n = size;
        memcpy(buf, data, size);
        unsigned steps = 1 + (unsigned)(rng() % 4);
        for (unsigned s = 0; s < steps; s++) {
            switch (rng() % 5) {
            case 0: /* flip a bit */
                if (n)
                    buf[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
                break;
            case 1: { /* boundary byte */
                static const uint8_t v[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x18, 0x19, 0x1a, 0x1b, 0x9f, 0xbf};
                if (n)
                    buf[rng() % n] = v[rng() % sizeof(v)];
                break;
            }
            case 2: /* truncate */
                if (n)
                    n = (size_t)(rng() % n);
                break;
            case 3: { /* duplicate a slice at the end */
                if (!n)
                    break;
                size_t off = (size_t)(rng() % n), len = (size_t)(rng() % (n - off) + 1);
                if (n + len <= cap) {
                    memmove(buf + n, buf + off, len);
                    n += len;
                }
                break;
            }
            case 4: /* random byte */
                if (n)
                    buf[rng() % n] = (uint8_t)rng();
                break;
            }
        }
        run(buf, n);
    }
    free(buf);
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open '%s': %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        abort();
    run(buf, n);
    mutate_and_run(buf, n);
    free(buf);
    return 0;
}

static int replay_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: cannot stat '%s': %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);

    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: cannot read '%s': %s\n", path, strerror(errno));
        return -1;
    }
    int r = 0, files = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.') {
            char p[4096];
            snprintf(p, sizeof(p), "%s/%s", path, names[i]->d_name);
            if (replay_path(p) < 0)
                r = -1;
            files++;
        }
        free(names[i]);
    }
    free(names);
    if (files == 0) {
        fprintf(stderr, "replay: '%s' holds no inputs\n", path);
        return -1;
    }
    return r;
}

int main(int argc, char **argv)
{
    int i = 1, r = 0;
    if (i + 1 < argc && strcmp(argv[i], "--mutations") == 0) {
        mutations = strtoul(argv[i + 1], NULL, 10);
        i += 2;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: %s [--mutations N] PATH...\n", argv[0]);
        return 2;
    }
    for (; i < argc; i++)
        if (replay_path(argv[i]) < 0)
            r = 1;
    printf("%lu inputs run\n", runs);
    return r;
}
