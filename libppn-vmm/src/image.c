/* Disk images: the format is read from the image's first bytes (never
 * guessed from a file name), and qcow2 overlays on a shared base image are
 * written here, header and all.
 *
 * Why the library writes the qcow2 itself instead of running qemu-img: an
 * empty overlay is four clusters of fixed structure (header, refcount table,
 * refcount block, L1 table), about 100 lines; writing it needs no qemu-utils
 * on the node, no child process to bound and reap, and it can be made
 * atomic (temporary file, fsync, link into place, fsync the directory),
 * which "qemu-img create" is not.  The tests hold it to qemu-img check,
 * qemu-img info, qemu-io and a booted guest. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ppn-common.h"
#include "ppn/vmm.h"
#include "vmm-internal.h"

#define QCOW2_MAGIC "QFI\xfb"
#define EXT_END 0x00000000u
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_CRYPTO 0x0537be77u
#define EXT_DATA_FILE 0x44415441u

/* incompatible feature bits */
#define INCOMPAT_DIRTY (1ULL << 0)
#define INCOMPAT_CORRUPT (1ULL << 1)
#define INCOMPAT_DATA_FILE (1ULL << 2)
#define INCOMPAT_COMPRESSION (1ULL << 3)
#define INCOMPAT_EXTL2 (1ULL << 4)


PPN_EXPORT const char *ppn_vm_disk_format_to_string(ppn_vm_disk_format f)
{
    switch (f) {
    case PPN_VM_DISK_FORMAT_AUTO: return "auto";
    case PPN_VM_DISK_FORMAT_RAW: return "raw";
    case PPN_VM_DISK_FORMAT_QCOW2: return "qcow2";
    }
    return NULL;
}

PPN_EXPORT int ppn_vm_disk_format_from_string(const char *s, ppn_vm_disk_format *ret)
{
    if (!s || !ret)
        return -EINVAL;
    for (int f = PPN_VM_DISK_FORMAT_AUTO; f <= PPN_VM_DISK_FORMAT_QCOW2; f++)
        if (!strcmp(s, ppn_vm_disk_format_to_string((ppn_vm_disk_format)f))) {
            *ret = (ppn_vm_disk_format)f;
            return 0;
        }
    return -EINVAL;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* Magic numbers of the other formats QEMU would probe: refused, not taken
 * for raw, so that an image is never opened as something it is not. */
static const char *other_format(const uint8_t *d, size_t len)
{
    static const struct {
        size_t off;
        const char *magic;
        size_t n;
        const char *name;
    } m[] = {
        {0, "QED\0", 4, "QED"},
        {0, "KDMV", 4, "VMDK"},
        {0, "COWD", 4, "VMDK (ESX)"},
        {0, "# Disk DescriptorFile", 21, "VMDK descriptor"},
        {0x40, "\x7f\x10\xda\xbe", 4, "VDI"},
        {0, "vhdxfile", 8, "VHDX"},
        {0, "conectix", 8, "VPC"},
        {0, "LUKS\xba\xbe", 6, "LUKS"},
        {0, "WithoutFreeSpace", 16, "Parallels"},
        {0, "WithouFreSpacExt", 16, "Parallels"},
        {0, "Bochs Virtual HD Image", 22, "Bochs"},
        {0, "#!/bin/sh\n#V2.0 Format\n", 23, "cloop"},
    };
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(m); i++)
        if (len >= m[i].off + m[i].n && !memcmp(d + m[i].off, m[i].magic, m[i].n))
            return m[i].name;
    return NULL;
}

#define FAIL(code, why)                                                                            \
    do {                                                                                           \
        if (ret_reason)                                                                            \
            *ret_reason = (why);                                                                   \
        return (code);                                                                             \
    } while (0)

PPN_EXPORT int ppn_vm_image_parse(const void *data, size_t len, uint64_t file_size,
                                  ppn_vm_image_info *ret_info, const char **ret_reason)
{
    if ((!data && len) || !ret_info)
        FAIL(-EINVAL, "no data");
    const uint8_t *d = data;
    if (len > PPN_VM_IMAGE_HEADER_MAX)
        len = PPN_VM_IMAGE_HEADER_MAX;
    if (len > file_size)
        FAIL(-EINVAL, "more header bytes than the file has");
    ppn_vm_image_info info;
    memset(&info, 0, sizeof(info));

    if (len < 4 || memcmp(d, QCOW2_MAGIC, 4) != 0) {
        const char *other = other_format(d, len);
        if (other)
            FAIL(-EMEDIUMTYPE, "the image is not raw or qcow2 (its magic says another format)");
        if (file_size > PPN_VM_IMAGE_SIZE_MAX)
            FAIL(-EFBIG, "raw image larger than 64 TiB");
        info.format = PPN_VM_DISK_FORMAT_RAW;
        info.virtual_size = file_size;
        *ret_info = info;
        return 0;
    }

    /* qcow2: every field is checked before it is used as an offset. */
    if (len < 72)
        FAIL(-EBADMSG, "qcow2 header truncated");
    uint32_t version = be32(d + 4);
    if (version != 2 && version != 3)
        FAIL(version == 1 ? -EMEDIUMTYPE : -EBADMSG, "qcow2 version is not 2 or 3");
    uint64_t backing_off = be64(d + 8);
    uint32_t backing_len = be32(d + 16);
    uint32_t cluster_bits = be32(d + 20);
    uint64_t size = be64(d + 24);
    uint32_t crypt = be32(d + 32);
    uint32_t l1_size = be32(d + 36);
    uint64_t l1_off = be64(d + 40);
    uint64_t rt_off = be64(d + 48);
    uint32_t rt_clusters = be32(d + 56);
    uint32_t nb_snapshots = be32(d + 60);
    uint64_t snap_off = be64(d + 64);
    if (cluster_bits < 9 || cluster_bits > 21)
        FAIL(-EBADMSG, "qcow2 cluster size is not 512 B .. 2 MiB");
    uint64_t csize = 1ULL << cluster_bits;
    uint64_t cmask = csize - 1;
    if (size > PPN_VM_IMAGE_SIZE_MAX)
        FAIL(-EFBIG, "qcow2 virtual size over 64 TiB");
    if (crypt != 0)
        FAIL(-EMEDIUMTYPE, "qcow2 image is encrypted");
    uint32_t header_len = 72;
    uint64_t incompat = 0;
    if (version == 3) {
        if (len < 104)
            FAIL(-EBADMSG, "qcow2 v3 header truncated");
        incompat = be64(d + 72);
        uint32_t refcount_order = be32(d + 96);
        header_len = be32(d + 100);
        if (refcount_order > 6)
            FAIL(-EBADMSG, "qcow2 refcount order over 6");
        if (header_len < 104 || header_len % 8 || header_len > csize)
            FAIL(-EBADMSG, "qcow2 header length invalid");
        if (header_len > len)
            FAIL(-EBADMSG, "qcow2 header longer than the bytes read");
        if (incompat & INCOMPAT_CORRUPT)
            FAIL(-EMEDIUMTYPE, "qcow2 image is marked corrupt");
        if (incompat & INCOMPAT_DATA_FILE)
            FAIL(-EMEDIUMTYPE, "qcow2 image keeps its data in an external file");
        if (incompat & ~(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2))
            FAIL(-EMEDIUMTYPE, "qcow2 image has an unknown incompatible feature");
        if ((incompat & INCOMPAT_COMPRESSION) && (header_len < 105 || d[104] > 1))
            FAIL(-EBADMSG, "qcow2 compression type invalid");
    }
    if (l1_off & cmask || rt_off & cmask || (nb_snapshots && snap_off & cmask))
        FAIL(-EBADMSG, "qcow2 table offset not cluster aligned");
    if (!rt_off || rt_clusters == 0 || rt_clusters > (8u << 20) / csize + 1)
        FAIL(-EBADMSG, "qcow2 refcount table missing or too large");
    if (l1_size > (32u << 20) / 8)
        FAIL(-EBADMSG, "qcow2 L1 table too large");
    /* each L2 table maps csize/8 (or csize/16 with extended L2) clusters */
    uint64_t l2_bits = cluster_bits - 3 - ((incompat & INCOMPAT_EXTL2) ? 1 : 0);
    uint64_t per_l1 = 1ULL << (cluster_bits + l2_bits);
    uint64_t need = (size + per_l1 - 1) / per_l1;
    if (need > l1_size)
        FAIL(-EBADMSG, "qcow2 L1 table too small for the virtual size");
    if (l1_size && !l1_off)
        FAIL(-EBADMSG, "qcow2 L1 table offset missing");
    if (nb_snapshots > 65536)
        FAIL(-EBADMSG, "qcow2 snapshot count over 65536");
    if (l1_off > INT64_MAX / 2 || rt_off > INT64_MAX / 2 || snap_off > INT64_MAX / 2)
        FAIL(-EBADMSG, "qcow2 table offset out of range");

    /* header extensions: from the end of the header to the end marker, the
     * backing file name or the end of the first cluster (as QEMU reads
     * them), never past the bytes read */
    uint64_t limit = csize < len ? csize : len;
    uint64_t ext_end = backing_off && backing_off < limit ? backing_off : limit;
    for (uint64_t p = header_len; p < ext_end;) {
        if (ext_end - p < 8)
            FAIL(-EBADMSG, "qcow2 header extension truncated");
        uint32_t type = be32(d + p), elen = be32(d + p + 4);
        p += 8;
        if (type == EXT_END)
            break;
        if (elen > ext_end - p)
            FAIL(-EBADMSG, "qcow2 header extension runs past its space");
        const uint8_t *e = d + p;
        if (type == EXT_BACKING_FORMAT) {
            if (elen == 3 && !memcmp(e, "raw", 3))
                info.backing_format = PPN_VM_DISK_FORMAT_RAW;
            else if (elen == 5 && !memcmp(e, "qcow2", 5))
                info.backing_format = PPN_VM_DISK_FORMAT_QCOW2;
            else
                FAIL(-EMEDIUMTYPE, "qcow2 backing file is neither raw nor qcow2");
        } else if (type == EXT_DATA_FILE) {
            FAIL(-EMEDIUMTYPE, "qcow2 image names an external data file");
        } else if (type == EXT_CRYPTO) {
            FAIL(-EMEDIUMTYPE, "qcow2 image is encrypted");
        }
        p += ((uint64_t)elen + 7) & ~7ULL;
    }

    if (backing_off) {
        if (backing_len == 0 || backing_len > PPN_VM_BACKING_FILE_MAX)
            FAIL(-EBADMSG, "qcow2 backing file name is empty or over 1023 bytes");
        if (backing_off < header_len || backing_off > limit || backing_len > limit - backing_off)
            FAIL(-EBADMSG, "qcow2 backing file name outside the header cluster");
        const uint8_t *b = d + backing_off;
        for (uint32_t i = 0; i < backing_len; i++)
            if (b[i] < 0x20 || b[i] == 0x7f)
                FAIL(-EBADMSG, "qcow2 backing file name has NUL or control characters");
        memcpy(info.backing_file, b, backing_len);
        info.backing_file[backing_len] = '\0';
    } else if (info.backing_format != PPN_VM_DISK_FORMAT_AUTO) {
        FAIL(-EBADMSG, "qcow2 backing format without a backing file");
    }
    info.format = PPN_VM_DISK_FORMAT_QCOW2;
    info.qcow2_version = version;
    info.cluster_bits = cluster_bits;
    info.virtual_size = size;
    *ret_info = info;
    return 0;
}

PPN_EXPORT int ppn_vm_image_probe(const char *path, ppn_vm_image_info *ret_info, const char **ret_reason)
{
    if (!path || !*path || !ret_info)
        FAIL(-EINVAL, "no path");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = -errno;
        FAIL(e, "cannot open the image");
    }
    struct stat st;
    uint64_t fsize = 0;
    int r = 0;
    if (fstat(fd, &st) < 0) {
        r = -errno;
    } else if (S_ISDIR(st.st_mode)) {
        r = -EISDIR;
    } else if (S_ISREG(st.st_mode)) {
        fsize = (uint64_t)st.st_size;
    } else if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0)
            r = -errno;
        else
            fsize = (uint64_t)end;
    } else {
        r = -ENODEV;
    }
    if (r < 0) {
        close(fd);
        FAIL(r, r == -ENODEV ? "the image is not a regular file or block device" : "cannot stat the image");
    }
    uint8_t *buf = malloc(PPN_VM_IMAGE_HEADER_MAX);
    if (!buf) {
        close(fd);
        FAIL(-ENOMEM, "out of memory");
    }
    size_t want = fsize < PPN_VM_IMAGE_HEADER_MAX ? (size_t)fsize : PPN_VM_IMAGE_HEADER_MAX, got = 0;
    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : 0;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (r < 0) {
        free(buf);
        FAIL(r == -EAGAIN ? -EIO : r, "cannot read the image");
    }
    r = ppn_vm_image_parse(buf, got, fsize < got ? got : fsize, ret_info, ret_reason);
    free(buf);
    return r;
}

/* ---- writing a qcow2 ---- */

#define NEW_CLUSTER_BITS 16u
#define NEW_CLUSTER (1u << NEW_CLUSTER_BITS)
#define NEW_HEADER_LEN 104u

static int write_at(int fd, const void *buf, size_t len, off_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* Header cluster: header (v3, 104 bytes), the backing format extension,
 * the end extension, the backing file name.  Then the refcount table
 * (cluster 1), one refcount block (cluster 2, 16-bit refcounts), the L1
 * table (clusters 3..), all zero but the refcounts of these clusters. */
static int write_qcow2(int fd, uint64_t size, const char *backing, const char *backing_fmt)
{
    const uint64_t c = NEW_CLUSTER;
    uint64_t per_l1 = c * (c / 8);
    uint64_t l1_size = (size + per_l1 - 1) / per_l1;
    uint64_t l1_clusters = (l1_size * 8 + c - 1) / c;
    if (l1_clusters == 0)
        l1_clusters = 1;
    uint64_t nclusters = 3 + l1_clusters;
    uint8_t *h = calloc(1, c);
    if (!h)
        return -ENOMEM;
    memcpy(h, QCOW2_MAGIC, 4);
    put32(h + 4, 3);
    uint32_t p = NEW_HEADER_LEN;
    if (backing) {
        size_t fl = strlen(backing_fmt), bl = strlen(backing);
        put32(h + p, EXT_BACKING_FORMAT);
        put32(h + p + 4, (uint32_t)fl);
        memcpy(h + p + 8, backing_fmt, fl);
        p += 8 + (uint32_t)((fl + 7) & ~7u);
        p += 8; /* end extension: zeros */
        put64(h + 8, p);
        put32(h + 16, (uint32_t)bl);
        memcpy(h + p, backing, bl);
    } else {
        p += 8;
    }
    put32(h + 20, NEW_CLUSTER_BITS);
    put64(h + 24, size);
    put32(h + 32, 0);               /* no encryption */
    put32(h + 36, (uint32_t)l1_size);
    put64(h + 40, 3 * c);           /* L1 table */
    put64(h + 48, 1 * c);           /* refcount table */
    put32(h + 56, 1);
    put32(h + 60, 0);               /* snapshots */
    put64(h + 64, 0);
    put64(h + 72, 0);               /* incompatible features */
    put64(h + 80, 0);               /* compatible */
    put64(h + 88, 0);               /* autoclear */
    put32(h + 96, 4);               /* refcount order: 16-bit */
    put32(h + 100, NEW_HEADER_LEN);
    int r = write_at(fd, h, c, 0);
    if (r == 0) {
        memset(h, 0, c);
        put64(h, 2 * c); /* refcount table entry 0 -> block at cluster 2 */
        r = write_at(fd, h, c, (off_t)c);
    }
    if (r == 0) {
        memset(h, 0, c);
        for (uint64_t i = 0; i < nclusters; i++) {
            h[2 * i] = 0;
            h[2 * i + 1] = 1;
        }
        r = write_at(fd, h, c, (off_t)(2 * c));
    }
    free(h);
    /* the L1 table is zero: extend the file over it */
    if (r == 0 && ftruncate(fd, (off_t)(nclusters * c)) < 0)
        r = -errno;
    return r;
}

static bool path_ok(const char *p, size_t max)
{
    if (!p || p[0] != '/')
        return false;
    size_t n = strlen(p);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return false;
    return true;
}

PPN_EXPORT int ppn_vm_image_create(const char *path, const char *base, uint64_t size_bytes,
                                   const char **ret_reason)
{
    if (!path_ok(path, PATH_MAX - 32))
        FAIL(-EINVAL, "the image path must be absolute, without control characters");
    if (base && !path_ok(base, PPN_VM_BACKING_FILE_MAX))
        FAIL(-EINVAL, "the base image path must be absolute, at most 1023 bytes, without control characters");
    if (base && !strcmp(base, path))
        FAIL(-EINVAL, "the base image and the new image are the same file");
    if (size_bytes > PPN_VM_IMAGE_SIZE_MAX)
        FAIL(-EINVAL, "the image size is over 64 TiB");
    const char *fmt = NULL;
    uint64_t size = size_bytes;
    if (base) {
        ppn_vm_image_info bi;
        int r = ppn_vm_image_probe(base, &bi, ret_reason);
        if (r < 0)
            return r;
        fmt = bi.format == PPN_VM_DISK_FORMAT_QCOW2 ? "qcow2" : "raw";
        if (size == 0)
            size = bi.virtual_size;
        if (size < bi.virtual_size)
            FAIL(-EINVAL, "the image size is smaller than the base image");
        struct stat sb, sp;
        if (stat(base, &sb) == 0 && stat(path, &sp) == 0 && sb.st_dev == sp.st_dev && sb.st_ino == sp.st_ino)
            FAIL(-EINVAL, "the base image and the new image are the same file");
    }
    if (size == 0)
        FAIL(-EINVAL, "the image size is 0");
    size = (size + 511) & ~511ULL;
    if (access(path, F_OK) == 0)
        FAIL(-EEXIST, "the image exists already");

    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp))
        FAIL(-ENAMETOOLONG, "the image path is too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int e = -errno;
        FAIL(e, "cannot create the image file");
    }
    int r = write_qcow2(fd, size, base, fmt);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    /* link, unlike rename, never replaces a file that appeared meanwhile */
    if (r == 0 && link(tmp, path) < 0)
        r = -errno;
    unlink(tmp);
    if (r < 0) {
        if (ret_reason)
            *ret_reason = r == -EEXIST ? "the image exists already" : "cannot write the image";
        return r;
    }
    ppnc_fsync_parent(path);
    return 0;
}

/* ---- -drive values for ppn_vm_qemu_argv ---- */

/* "file=<path>,if=virtio,format=<format><rest>", the path's commas doubled
 * (QEMU's option syntax). */
static char *qemu_value(const char *path, const char *format, const char *rest)
{
    size_t n = strlen(path), extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += path[i] == ',';
    char *e = malloc(n + extra + 1), *p = e;
    if (!e)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        *p++ = path[i];
        if (path[i] == ',')
            *p++ = ',';
    }
    *p = '\0';
    char *out;
    if (asprintf(&out, "file=%s,if=virtio,format=%s%s", e, format, rest) < 0)
        out = NULL;
    free(e);
    return out;
}

int vmm_drive_args(const ppn_vm_spec *spec, const char *state_dir, char **ret_disk, char **ret_seed)
{
    char *disk = NULL, *seed = NULL;
    const char *path = ppn_vm_spec_disk(spec);
    if (*path) {
        ppn_vm_disk_format f = ppn_vm_spec_disk_format(spec);
        if (f == PPN_VM_DISK_FORMAT_AUTO) {
            ppn_vm_image_info info;
            int r = ppn_vm_image_probe(path, &info, NULL);
            if (r < 0)
                return r;
            f = info.format;
        }
        disk = qemu_value(path, ppn_vm_disk_format_to_string(f), ",cache=none,aio=threads");
        if (!disk)
            return -ENOMEM;
    }
    ppn_vm_cloud_init ci;
    if (ppn_vm_spec_cloud_init(spec, &ci) > 0) {
        char p[4096];
        int r = ppn_vm_path(state_dir, ppn_vm_spec_name(spec), "seed", p, sizeof(p));
        if (r == 0 && !(seed = qemu_value(p, "raw", ",readonly=on")))
            r = -ENOMEM;
        if (r < 0) {
            free(disk);
            return r;
        }
    }
    *ret_disk = disk;
    *ret_seed = seed;
    return 0;
}
