/* The hosts block of a mesh from its ledger's members (hosts.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts.h"
#include "ppn-common.h"

int glue_hosts_merge(const char *old, size_t old_len, const char *origin, const struct ppn_ledger_member *members,
                     size_t count, char **ret, size_t *ret_len)
{
    if (!origin || !ret || !ret_len || (!members && count) || (!old && old_len))
        return -EINVAL;
    char prefix[300], end[300];
    snprintf(prefix, sizeof(prefix), "# BEGIN ppn %s ", origin);
    snprintf(end, sizeof(end), "# END ppn %s", origin);
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    if (!mem)
        return -ENOMEM;
    bool inside = false;
    for (size_t i = 0; i < old_len;) { /* line by line, the last one maybe without its newline */
        const char *line = old + i, *nl = memchr(line, '\n', old_len - i);
        size_t n = nl ? (size_t)(nl - line) : old_len - i;
        i += n + (nl != NULL);
        if (!inside && n >= strlen(prefix) && !memcmp(line, prefix, strlen(prefix)))
            inside = true;
        else if (inside && n == strlen(end) && !memcmp(line, end, n))
            inside = false;
        else if (!inside) {
            fwrite(line, 1, n, mem);
            fputc('\n', mem);
        }
    }
    fprintf(mem, "%s(kept by ppn-pair serve from the ledger; edits are lost)\n", prefix);
    for (size_t i = 0; i < count; i++)
        fprintf(mem, "%.*s\t%s\n", (int)strcspn(members[i].mesh, "/"), members[i].mesh, members[i].hostname);
    fprintf(mem, "%s\n", end);
    if (fclose(mem) != 0 || !out) {
        free(out);
        return -ENOMEM;
    }
    *ret = out;
    *ret_len = len;
    return 0;
}

int glue_hosts_write(const char *path, const ppn_ledger *l)
{
    if (!path || !l)
        return -EINVAL;
    size_t count = ppn_ledger_member_count(l), k = 0;
    struct ppn_ledger_member *ms = calloc(count ? count : 1, sizeof(*ms));
    if (!ms)
        return -ENOMEM;
    for (size_t i = 0; i < count; i++)
        if (ppn_ledger_member_get(l, i, &ms[k]) == 0)
            k++;
    uint8_t *old = NULL;
    size_t old_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        free(ms);
        return -errno;
    }
    int r = fd < 0 ? 0 : ppnc_read_fd(fd, 16U << 20, &old, &old_len);
    if (fd >= 0)
        close(fd);
    char *text = NULL;
    size_t len = 0;
    if (r == 0)
        r = glue_hosts_merge((const char *)old, old_len, ppn_ledger_origin(l), ms, k, &text, &len);
    free(old);
    free(ms);
    if (r < 0)
        return r;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.ppn-tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
        free(text);
        return -ENAMETOOLONG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    r = fd < 0 ? -errno : ppnc_write_all(fd, text, len);
    free(text);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (fd >= 0 && close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    return r;
}
