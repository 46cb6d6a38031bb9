#include "ppn-common.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ppnc_write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t ppnc_read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int ppnc_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return r;
}

int ppnc_fsync_parent(const char *path)
{
    char copy[PATH_MAX];
    if (strlen(path) >= sizeof(copy))
        return -ENAMETOOLONG;
    strcpy(copy, path);
    return ppnc_fsync_dir(dirname(copy));
}

int ppnc_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;

    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 && errno == EEXIST) {
        /* Left over by a process of ours that died; it was never renamed. */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    }
    if (fd < 0)
        return -errno;

    int r = ppnc_write_all(fd, data, len);
    if (r == 0 && fchmod(fd, mode) < 0) /* umask must not widen or narrow it */
        r = -errno;
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    return ppnc_fsync_parent(path);
}

int ppnc_open_stat(const char *path, int flags, struct stat *ret_st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0)
        return -errno;
    if (fstat(fd, ret_st) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    return fd;
}

int ppnc_read_file(const char *path, size_t max, uint8_t **ret_data, size_t *ret_len)
{
    struct stat st;
    int fd = ppnc_open_stat(path, 0, &st);
    if (fd < 0)
        return fd;
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return -EFBIG;
    }

    size_t cap = (size_t)st.st_size + 1;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    /* The size may change under us; read until EOF but never past max. */
    size_t len = 0;
    for (;;) {
        if (len + 1 == cap) {
            if (cap - 1 >= max) {
                uint8_t probe;
                ssize_t n = ppnc_read_full(fd, &probe, 1);
                if (n != 0) {
                    free(buf);
                    close(fd);
                    return n < 0 ? (int)n : -EFBIG;
                }
                break;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = ppnc_read_full(fd, buf + len, cap - 1 - len);
        if (n < 0) {
            free(buf);
            close(fd);
            return (int)n;
        }
        len += (size_t)n;
        if (len + 1 < cap)
            break;
    }
    close(fd);
    buf[len] = 0;
    *ret_data = buf;
    *ret_len = len;
    return 0;
}

int ppnc_read_fd(int fd, size_t max, uint8_t **ret_data, size_t *ret_len)
{
    size_t cap = max < 4096 ? max : 4096, len = 0;
    uint8_t *buf = malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap >= max) {
                uint8_t probe;
                ssize_t n = ppnc_read_full(fd, &probe, 1);
                if (n != 0) {
                    ppnc_wipe(buf, cap);
                    free(buf);
                    return n < 0 ? (int)n : -EFBIG;
                }
                break;
            }
            size_t ncap = cap * 2 > max ? max : cap * 2;
            uint8_t *nb = malloc(ncap + 1);
            if (!nb) {
                ppnc_wipe(buf, cap);
                free(buf);
                return -ENOMEM;
            }
            memcpy(nb, buf, len); /* not realloc: the old copy is wiped (it may hold a key) */
            ppnc_wipe(buf, cap);
            free(buf);
            buf = nb;
            cap = ncap;
        }
        ssize_t n = ppnc_read_full(fd, buf + len, cap - len);
        if (n < 0) {
            ppnc_wipe(buf, cap);
            free(buf);
            return (int)n;
        }
        len += (size_t)n;
        if (len < cap)
            break;
    }
    buf[len] = 0;
    *ret_data = buf;
    *ret_len = len;
    return 0;
}
