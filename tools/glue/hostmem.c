/* The host's memory bounded by the process's memory cgroup: see hostmem.h. */
#include "hostmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOUNTINFO_MAX (1u << 20) /* bound on /proc/self/mountinfo */
#define SMALL_MAX (64u << 10)    /* cgroup files, meminfo, /proc/self/cgroup */
#define MAX_DEPTH 64             /* cgroup levels walked */

/* The whole file (up to cap bytes, NUL-terminated) in *ret; -EFBIG beyond. */
static int slurp(const char *path, size_t cap, char **ret)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    size_t size = 4096, len = 0;
    char *buf = malloc(size);
    int r = buf ? 0 : -ENOMEM;
    while (r == 0) {
        if (len + 1 >= size) {
            if (size >= cap) {
                r = -EFBIG;
                break;
            }
            size = size * 2 > cap ? cap : size * 2;
            char *nb = realloc(buf, size);
            if (!nb) {
                r = -ENOMEM;
                break;
            }
            buf = nb;
        }
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            r = -errno;
        else if (n == 0)
            break;
        else
            len += (size_t)n;
    }
    close(fd);
    if (r < 0) {
        free(buf);
        return r;
    }
    buf[len] = '\0';
    *ret = buf;
    return 0;
}

static int parse_u64(const char *s, const char **end, uint64_t *ret)
{
    if (*s < '0' || *s > '9')
        return -EBADMSG;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -EBADMSG;
        v = v * 10 + d;
    }
    *end = s;
    *ret = v;
    return 0;
}

int glue_hostmem_meminfo_field(const char *text, const char *field, uint64_t *ret)
{
    size_t fl = strlen(field);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, field, fl) != 0 || p[fl] != ':')
            continue;
        const char *s = p + fl + 1, *end;
        while (*s == ' ' || *s == '\t')
            s++;
        uint64_t kib;
        if (parse_u64(s, &end, &kib) < 0)
            return -EBADMSG;
        while (*end == ' ')
            end++;
        if (strncmp(end, "kB", 2) != 0 || (end[2] != '\n' && end[2] != '\0'))
            return -EBADMSG;
        *ret = kib > UINT64_MAX / 1024 ? UINT64_MAX : kib * 1024;
        return 0;
    }
    return -ENOENT;
}

int glue_hostmem_parse_value(const char *text, uint64_t *ret)
{
    const char *end;
    if (strcmp(text, "max\n") == 0 || strcmp(text, "max") == 0) {
        *ret = UINT64_MAX;
        return 0;
    }
    if (parse_u64(text, &end, ret) < 0 || (*end != '\0' && strcmp(end, "\n") != 0))
        return -EBADMSG;
    return 0;
}

/* One value file of a cgroup directory; false when absent or malformed. */
static bool read_value(const char *dir, const char *file, uint64_t *ret)
{
    char path[GLUE_HOSTMEM_PATH_MAX + 64], *text;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path) ||
        slurp(path, SMALL_MAX, &text) < 0)
        return false;
    bool ok = glue_hostmem_parse_value(text, ret) == 0;
    free(text);
    return ok;
}

/* "key N" of a cgroup's memory.stat; 0 when absent. */
static uint64_t read_stat(const char *dir, const char *key)
{
    char path[GLUE_HOSTMEM_PATH_MAX + 64], *text;
    if ((size_t)snprintf(path, sizeof(path), "%s/memory.stat", dir) >= sizeof(path) ||
        slurp(path, SMALL_MAX, &text) < 0)
        return 0;
    uint64_t v = 0;
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
            const char *end;
            if (parse_u64(p + kl + 1, &end, &v) < 0)
                v = 0;
            break;
        }
    free(text);
    return v;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
            s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

static bool has_token(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *p = list; p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == tl && strncmp(p, tok, tl) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

/* The mount of the v2 hierarchy (v1: the memory controller's): its root in
 * the hierarchy and its mount point. */
static bool find_mount(const char *mountinfo, int version, char *root, char *mp, size_t size)
{
    char *copy = strdup(mountinfo), *save = NULL;
    bool found = false;
    for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line && !found;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[32], *s2 = NULL;
        int n = 0;
        for (char *t = strtok_r(line, " ", &s2); t && n < 32; t = strtok_r(NULL, " ", &s2))
            f[n++] = t;
        int dash = -1;
        for (int i = 6; i < n; i++)
            if (strcmp(f[i], "-") == 0) {
                dash = i;
                break;
            }
        if (dash < 0 || dash + 1 >= n)
            continue;
        const char *fstype = f[dash + 1], *super = dash + 3 < n ? f[dash + 3] : "";
        bool match = version == 2 ? strcmp(fstype, "cgroup2") == 0
                                  : strcmp(fstype, "cgroup") == 0 && has_token(super, "memory");
        if (!match || strlen(f[3]) >= size || strlen(f[4]) >= size)
            continue;
        snprintf(root, size, "%s", f[3]);
        snprintf(mp, size, "%s", f[4]);
        unescape(root);
        unescape(mp);
        found = true;
    }
    free(copy);
    return found;
}

/* This process's path in the v2 hierarchy ("0::PATH") or the v1 memory one. */
static bool find_path(const char *cgroups, int version, char *path, size_t size)
{
    for (const char *p = cgroups; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *c1 = strchr(p, ':'), *nl = strchr(p, '\n');
        const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c1 || !c2 || (nl && c2 > nl))
            continue;
        size_t len = nl ? (size_t)(nl - c2 - 1) : strlen(c2 + 1);
        bool match;
        if (version == 2) {
            match = c1 - p == 1 && p[0] == '0' && c2 == c1 + 1;
        } else {
            char ctl[256];
            size_t cl = (size_t)(c2 - c1 - 1);
            if (cl >= sizeof(ctl))
                continue;
            memcpy(ctl, c1 + 1, cl);
            ctl[cl] = '\0';
            match = has_token(ctl, "memory");
        }
        if (!match || len == 0 || len >= size || c2[1] != '/')
            continue;
        memcpy(path, c2 + 1, len);
        path[len] = '\0';
        return true;
    }
    return false;
}

/* Walks the cgroup of one hierarchy and its ancestors, lowering *best
 * (available) and *total; records the deciding directory. */
static void walk(const char *root_prefix, const char *mountinfo, const char *cgroups, int version,
                 struct glue_hostmem *m)
{
    char mroot[GLUE_HOSTMEM_PATH_MAX], mp[GLUE_HOSTMEM_PATH_MAX], path[GLUE_HOSTMEM_PATH_MAX];
    if (!find_mount(mountinfo, version, mroot, mp, sizeof(mroot)) ||
        !find_path(cgroups, version, path, sizeof(path)))
        return;
    /* the path is relative to the hierarchy's root; the mount shows mroot */
    const char *rel = path;
    size_t rl = strlen(mroot);
    if (strcmp(mroot, "/") != 0) {
        if (strncmp(path, mroot, rl) != 0 || (path[rl] != '/' && path[rl] != '\0'))
            return; /* our cgroup is not under this mount */
        rel = path + rl;
    }
    char base[GLUE_HOSTMEM_PATH_MAX], dir[GLUE_HOSTMEM_PATH_MAX];
    if ((size_t)snprintf(base, sizeof(base), "%s%s", root_prefix, strcmp(mp, "/") == 0 ? "" : mp) >=
            sizeof(base) ||
        (size_t)snprintf(dir, sizeof(dir), "%s%s", base, strcmp(rel, "/") == 0 ? "" : rel) >= sizeof(dir))
        return;
    size_t baselen = strlen(base);
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        uint64_t limit = UINT64_MAX, usage = 0, v;
        bool have_usage;
        if (version == 2) {
            if (read_value(dir, "memory.max", &v) && v < limit)
                limit = v;
            if (read_value(dir, "memory.high", &v) && v < limit)
                limit = v;
            have_usage = read_value(dir, "memory.current", &usage);
        } else {
            if (read_value(dir, "memory.limit_in_bytes", &v) && v < limit)
                limit = v;
            have_usage = read_value(dir, "memory.usage_in_bytes", &usage);
        }
        if (limit != UINT64_MAX && have_usage) {
            uint64_t inactive = read_stat(dir, version == 2 ? "inactive_file" : "total_inactive_file");
            uint64_t ws = usage - (inactive < usage ? inactive : usage);
            uint64_t avail = limit > ws ? limit - ws : 0;
            if (limit < m->total_bytes)
                m->total_bytes = limit;
            if (avail < m->available_bytes) {
                m->available_bytes = avail;
                m->limit_bytes = limit;
                m->cgroup_version = version;
                snprintf(m->cgroup, sizeof(m->cgroup), "%s", dir);
            }
        }
        /* up one level, never above the mount point */
        size_t len = strlen(dir);
        if (len <= baselen)
            break;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < baselen)
            break;
        *slash = '\0';
        if (strlen(dir) < baselen)
            break;
    }
}

int glue_hostmem_read(const char *root, struct glue_hostmem *ret)
{
    if (!ret)
        return -EINVAL;
    if (!root)
        root = "";
    if (strlen(root) >= GLUE_HOSTMEM_PATH_MAX / 2)
        return -ENAMETOOLONG;
    memset(ret, 0, sizeof(*ret));
    char path[GLUE_HOSTMEM_PATH_MAX], *text = NULL;
    snprintf(path, sizeof(path), "%s/proc/meminfo", root);
    int r = slurp(path, SMALL_MAX, &text);
    if (r < 0)
        return r;
    uint64_t total, avail;
    if (glue_hostmem_meminfo_field(text, "MemTotal", &total) < 0 ||
        glue_hostmem_meminfo_field(text, "MemAvailable", &avail) < 0) {
        free(text);
        return -EBADMSG;
    }
    free(text);
    if (avail > total)
        avail = total;
    ret->host_total_bytes = ret->total_bytes = total;
    ret->host_available_bytes = ret->available_bytes = avail;
    char *mountinfo = NULL, *cgroups = NULL;
    snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
    if (slurp(path, MOUNTINFO_MAX, &mountinfo) == 0) {
        snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
        if (slurp(path, SMALL_MAX, &cgroups) == 0) {
            walk(root, mountinfo, cgroups, 2, ret);
            walk(root, mountinfo, cgroups, 1, ret);
        }
    }
    free(mountinfo);
    free(cgroups);
    return 0;
}
