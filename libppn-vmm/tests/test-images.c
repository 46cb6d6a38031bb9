/* libppn-vmm guest images: the format read from the image (against images
 * made by the real qemu-img), qcow2 overlays on a shared base (held to
 * qemu-img check/info, written through qemu-io, read back by qemu-img
 * convert), the header parser's refusals, cloud-init settings, and the
 * NoCloud seed (held to blkid, fsck.fat and mtools). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ppn-common.h"
#include "ppn/vmm.h"

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ppn-vmm-images-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *tpath(const char *name)
{
    static char buf[64][512]; /* enough for every path one test holds */
    static int k;
    k = (k + 1) % 64;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", tmpdir, name);
    return buf[k];
}

/* Runs a shell command; returns its exit status and (if out) its stdout. */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static int run(char **out, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "popen %s", cmd);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(m);
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const void *data, size_t len)
{
    ck_assert_int_eq(ppnc_write_file_atomic(path, data, len, 0644), 0);
}

/* a raw base of 'size' bytes, "PPN-BASE" at 0 and 0x5a from 512 on */
static void make_base(const char *path, size_t size)
{
    uint8_t *d = malloc(size);
    memset(d, 0x5a, size);
    memcpy(d, "PPN-BASE", 8);
    write_file(path, d, size);
    free(d);
}

static bool exists(const char *p)
{
    return access(p, F_OK) == 0;
}

static int count_entries(const char *dir)
{
    char *out;
    ck_assert_int_eq(run(&out, "ls -A '%s' | wc -l", dir), 0);
    int n = atoi(out);
    free(out);
    return n;
}

/* ---- formats from the image, not the name ---- */

START_TEST(test_probe_real_images)
{
    /* the Ubuntu cloud image case: a qcow2 named .img */
    char *q = tpath("cloud.img");
    ck_assert_int_eq(run(NULL, "qemu-img create -q -f qcow2 '%s' 3G", q), 0);
    ppn_vm_image_info info;
    const char *why = NULL;
    ck_assert_int_eq(ppn_vm_image_probe(q, &info, &why), 0);
    ck_assert_int_eq(info.format, PPN_VM_DISK_FORMAT_QCOW2);
    ck_assert_uint_eq(info.qcow2_version, 3);
    ck_assert_uint_eq(info.cluster_bits, 16);
    ck_assert(info.virtual_size == 3ULL << 30);
    ck_assert_str_eq(info.backing_file, "");

    /* compat=0.10 is qcow2 version 2 */
    char *q2 = tpath("old.img");
    ck_assert_int_eq(run(NULL, "qemu-img create -q -f qcow2 -o compat=0.10 '%s' 1G", q2), 0);
    ck_assert_int_eq(ppn_vm_image_probe(q2, &info, &why), 0);
    ck_assert_int_eq(info.format, PPN_VM_DISK_FORMAT_QCOW2);
    ck_assert_uint_eq(info.qcow2_version, 2);

    /* a qemu-img overlay with its backing format */
    char *ov = tpath("ov.qcow2");
    ck_assert_int_eq(run(NULL, "qemu-img create -q -f qcow2 -b '%s' -F qcow2 '%s'", q, ov), 0);
    ck_assert_int_eq(ppn_vm_image_probe(ov, &info, &why), 0);
    ck_assert_str_eq(info.backing_file, q);
    ck_assert_int_eq(info.backing_format, PPN_VM_DISK_FORMAT_QCOW2);

    /* a raw image named .qcow2 is raw */
    char *r = tpath("raw.qcow2");
    make_base(r, 65536 + 512);
    ck_assert_int_eq(ppn_vm_image_probe(r, &info, &why), 0);
    ck_assert_int_eq(info.format, PPN_VM_DISK_FORMAT_RAW);
    ck_assert(info.virtual_size == 65536 + 512);
    /* an empty file is a raw image of 0 bytes */
    char *e = tpath("empty.raw");
    write_file(e, "", 0);
    ck_assert_int_eq(ppn_vm_image_probe(e, &info, &why), 0);
    ck_assert_int_eq(info.format, PPN_VM_DISK_FORMAT_RAW);
    ck_assert(info.virtual_size == 0);

    /* other formats QEMU knows are refused, not taken for raw */
    static const char *const others[] = {"vmdk", "vdi", "vhdx", "qed", "vpc", "parallels"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "x.%s", others[i]);
        char *p = tpath(name);
        ck_assert_int_eq(run(NULL, "qemu-img create -q -f %s '%s' 64M", others[i], p), 0);
        why = NULL;
        ck_assert_msg(ppn_vm_image_probe(p, &info, &why) == -EMEDIUMTYPE, "%s not refused", others[i]);
        ck_assert_ptr_nonnull(why);
    }

    /* not an image */
    ck_assert_int_eq(ppn_vm_image_probe(tpath("missing"), &info, &why), -ENOENT);
    ck_assert_int_eq(ppn_vm_image_probe(tmpdir, &info, &why), -EISDIR);
    char *fifo = tpath("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_vm_image_probe(fifo, &info, &why), -ENODEV); /* and does not block */
    ck_assert_uint_lt(ppnc_now_mono_ms() - t0, 1000);
    ck_assert_int_eq(ppn_vm_image_probe("", &info, &why), -EINVAL);
}
END_TEST

/* The QEMU argv takes the format from the image (the defect: a qcow2 named
 * .img was given format=raw), or the one pinned in the spec. */
START_TEST(test_argv_format_from_image)
{
    char *img = tpath("ubuntu-24.04-server-cloudimg-amd64.img");
    ck_assert_int_eq(run(NULL, "qemu-img create -q -f qcow2 '%s' 1G", img), 0);
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new("mk", PPN_VM_TYPE_MEDIAKIT, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, img, 0), 0);
    char **argv;
    ck_assert_int_eq(ppn_vm_qemu_argv(s, tmpdir, NULL, PPN_VM_ACCEL_TCG, &argv), 0);
    char want[1024];
    snprintf(want, sizeof(want), "file=%s,if=virtio,format=qcow2,cache=none,aio=threads", img);
    bool found = false;
    for (size_t i = 0; argv[i]; i++)
        found |= !strcmp(argv[i], want);
    ck_assert_msg(found, "no -drive %s", want);
    ppn_vmm_strv_free(argv);

    /* pinned raw wins over what the image says now */
    ck_assert_int_eq(ppn_vm_spec_set_disk_format(s, PPN_VM_DISK_FORMAT_RAW), 0);
    ck_assert_int_eq(ppn_vm_qemu_argv(s, tmpdir, NULL, PPN_VM_ACCEL_TCG, &argv), 0);
    snprintf(want, sizeof(want), "file=%s,if=virtio,format=raw,cache=none,aio=threads", img);
    found = false;
    for (size_t i = 0; argv[i]; i++)
        found |= !strcmp(argv[i], want);
    ck_assert(found);
    ppn_vmm_strv_free(argv);
    ck_assert_int_eq(ppn_vm_spec_set_disk_format(s, (ppn_vm_disk_format)7), -EINVAL);

    /* AUTO and no image: the argv cannot be made */
    ck_assert_int_eq(ppn_vm_spec_set_disk_format(s, PPN_VM_DISK_FORMAT_AUTO), 0);
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, tpath("none.img"), 0), 0);
    ck_assert_int_eq(ppn_vm_qemu_argv(s, tmpdir, NULL, PPN_VM_ACCEL_TCG, &argv), -ENOENT);
    ppn_vm_spec_free(s);

    ck_assert_str_eq(ppn_vm_disk_format_to_string(PPN_VM_DISK_FORMAT_QCOW2), "qcow2");
    ppn_vm_disk_format f;
    ck_assert_int_eq(ppn_vm_disk_format_from_string("raw", &f), 0);
    ck_assert_int_eq(f, PPN_VM_DISK_FORMAT_RAW);
    ck_assert_int_eq(ppn_vm_disk_format_from_string("QCOW2", &f), -EINVAL);
}
END_TEST

/* ---- overlays ---- */

START_TEST(test_overlay_on_shared_base)
{
    char *base = tpath("base.raw"), *a = tpath("a.qcow2"), *b = tpath("b.img");
    make_base(base, 4u << 20);
    char *sum0;
    ck_assert_int_eq(run(&sum0, "sha256sum < '%s'", base), 0);
    const char *why = NULL;
    ck_assert_int_eq(ppn_vm_image_create(a, base, 0, &why), 0);
    ck_assert_int_eq(ppn_vm_image_create(b, base, 8u << 20, &why), 0);

    ppn_vm_image_info info;
    ck_assert_int_eq(ppn_vm_image_probe(a, &info, &why), 0);
    ck_assert_int_eq(info.format, PPN_VM_DISK_FORMAT_QCOW2);
    ck_assert_uint_eq(info.qcow2_version, 3);
    ck_assert(info.virtual_size == 4u << 20);
    ck_assert_str_eq(info.backing_file, base);
    ck_assert_int_eq(info.backing_format, PPN_VM_DISK_FORMAT_RAW);

    /* QEMU's own tools agree */
    char *out;
    ck_assert_int_eq(run(&out, "qemu-img check '%s' 2>&1", a), 0);
    ck_assert_ptr_nonnull(strstr(out, "No errors were found"));
    free(out);
    ck_assert_int_eq(run(&out, "qemu-img info --output=json '%s'", b), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"virtual-size\": 8388608"));
    ck_assert_ptr_nonnull(strstr(out, "\"backing-filename-format\": \"raw\""));
    ck_assert_ptr_nonnull(strstr(out, "\"format\": \"qcow2\""));
    free(out);

    /* writes go to the overlay; the base and the other overlay do not see them */
    ck_assert_int_eq(run(NULL, "qemu-io -f qcow2 -c 'write -q -P 0xab 0 512' '%s'", a), 0);
    ck_assert_int_eq(run(&out, "qemu-img check '%s' 2>&1", a), 0);
    free(out);
    ck_assert_int_eq(run(NULL, "qemu-img convert -O raw '%s' '%s'", a, tpath("a.out")), 0);
    ck_assert_int_eq(run(NULL, "qemu-img convert -O raw '%s' '%s'", b, tpath("b.out")), 0);
    ck_assert_int_eq(run(NULL, "cmp -s -n 4194304 '%s' '%s'", tpath("b.out"), base), 0);
    ck_assert_int_eq(run(NULL, "cmp -s -i 512 '%s' '%s'", tpath("a.out"), base), 0);
    ck_assert_int_eq(run(&out, "head -c 512 '%s' | tr -d '\\253' | wc -c", tpath("a.out")), 0);
    ck_assert_int_eq(atoi(out), 0);
    free(out);
    char *sum1;
    ck_assert_int_eq(run(&sum1, "sha256sum < '%s'", base), 0);
    ck_assert_str_eq(sum0, sum1);
    free(sum0);
    free(sum1);

    /* an overlay on an overlay: backing format qcow2, the chain checks */
    char *c = tpath("c.qcow2");
    ck_assert_int_eq(ppn_vm_image_create(c, a, 0, &why), 0);
    ck_assert_int_eq(ppn_vm_image_probe(c, &info, &why), 0);
    ck_assert_int_eq(info.backing_format, PPN_VM_DISK_FORMAT_QCOW2);
    ck_assert_int_eq(run(&out, "qemu-img info --backing-chain '%s' 2>&1", c), 0);
    ck_assert_ptr_nonnull(strstr(out, base));
    free(out);

    /* an empty qcow2 of its own, 20 GiB in 4 clusters */
    char *d = tpath("d.qcow2");
    ck_assert_int_eq(ppn_vm_image_create(d, NULL, 20ULL << 30, &why), 0);
    ck_assert_int_eq(run(&out, "qemu-img check '%s' 2>&1", d), 0);
    free(out);
    ck_assert_int_eq(ppn_vm_image_probe(d, &info, &why), 0);
    ck_assert(info.virtual_size == 20ULL << 30);
    struct stat st;
    ck_assert_int_eq(stat(d, &st), 0);
    ck_assert_int_eq(st.st_size, 4 * 65536);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* a size not a multiple of 512 is rounded up */
    char *e2 = tpath("e.qcow2");
    ck_assert_int_eq(ppn_vm_image_create(e2, NULL, 1000, &why), 0);
    ck_assert_int_eq(ppn_vm_image_probe(e2, &info, &why), 0);
    ck_assert(info.virtual_size == 1024);
}
END_TEST

START_TEST(test_overlay_refusals)
{
    char *base = tpath("base.raw"), *a = tpath("a.qcow2");
    make_base(base, 1u << 20);
    const char *why;
    int before = count_entries(tmpdir);
#define REFUSED(call, code, text)                                                                  \
    do {                                                                                           \
        why = NULL;                                                                                \
        ck_assert_int_eq((call), (code));                                                          \
        ck_assert_msg(why && strstr(why, (text)), "reason '%s' lacks '%s'", why ? why : "(null)", (text)); \
        ck_assert_int_eq(count_entries(tmpdir), before);                                           \
    } while (0)
    REFUSED(ppn_vm_image_create(a, base, 512 * 1024, &why), -EINVAL, "smaller than the base");
    REFUSED(ppn_vm_image_create("rel.qcow2", base, 0, &why), -EINVAL, "absolute");
    REFUSED(ppn_vm_image_create(a, "base.raw", 0, &why), -EINVAL, "absolute");
    REFUSED(ppn_vm_image_create(a, a, 0, &why), -EINVAL, "same file");
    REFUSED(ppn_vm_image_create(a, tpath("nobase"), 0, &why), -ENOENT, "cannot open");
    REFUSED(ppn_vm_image_create(a, NULL, 0, &why), -EINVAL, "size is 0");
    REFUSED(ppn_vm_image_create(a, NULL, (64ULL << 40) + 1, &why), -EINVAL, "64 TiB");
    char longp[1100];
    memset(longp, 'b', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    REFUSED(ppn_vm_image_create(a, longp, 0, &why), -EINVAL, "1023");
    char vmdk[600];
    snprintf(vmdk, sizeof(vmdk), "%s", tpath("x.vmdk"));
    ck_assert_int_eq(run(NULL, "qemu-img create -q -f vmdk '%s' 1M", vmdk), 0);
    before++;
    REFUSED(ppn_vm_image_create(a, vmdk, 0, &why), -EMEDIUMTYPE, "not raw or qcow2");
    /* never over an existing file */
    write_file(a, "keep", 4);
    before++;
    REFUSED(ppn_vm_image_create(a, base, 0, &why), -EEXIST, "exists");
    char *out;
    ck_assert_int_eq(run(&out, "cat '%s'", a), 0);
    ck_assert_str_eq(out, "keep");
    free(out);
    /* a directory that does not exist: refused, nothing made */
    char nodir[600];
    snprintf(nodir, sizeof(nodir), "%s/no/such/dir/x.qcow2", tmpdir);
    REFUSED(ppn_vm_image_create(nodir, base, 0, &why), -ENOENT, "cannot create");
    /* the new image's directory is a file */
    snprintf(nodir, sizeof(nodir), "%s/x.qcow2", a);
    REFUSED(ppn_vm_image_create(nodir, base, 0, &why), -ENOTDIR, "cannot create");
#undef REFUSED
}
END_TEST

/* ---- the header parser: one field at a time ---- */

static size_t own_header(uint8_t *buf, size_t cap, const char *base)
{
    char *p = tpath("h.qcow2");
    unlink(p);
    const char *why;
    ck_assert_int_eq(ppn_vm_image_create(p, base, 1u << 20, &why), 0);
    int fd = open(p, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ssize_t n = read(fd, buf, cap);
    close(fd);
    ck_assert_int_eq(n, (ssize_t)cap);
    return (size_t)n;
}

static void put32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64be(uint8_t *p, uint64_t v)
{
    put32be(p, (uint32_t)(v >> 32));
    put32be(p + 4, (uint32_t)v);
}

START_TEST(test_parse_fields)
{
    char *base = tpath("base.raw");
    make_base(base, 1u << 20);
    static uint8_t good[65536], h[65536];
    size_t n = own_header(good, sizeof(good), base);
    const uint64_t fsize = 4 * 65536;
    ppn_vm_image_info info;
    const char *why;
    memset(&info, 0xa5, sizeof(info)); /* the reserved tail comes back zero (doc/API.md) */
    ck_assert_int_eq(ppn_vm_image_parse(good, n, fsize, &info, &why), 0);
    ck_assert_str_eq(info.backing_file, base);
    for (size_t i = 0; i < 4; i++)
        ck_assert_uint_eq(info.reserved[i], 0);
    /* backing name offset: after header (104) + format ext (8+8) + end (8) */
    uint64_t boff = 128;
    ck_assert_uint_eq(good[8 + 7], boff);

    struct {
        size_t off;
        int width; /* 4 or 8; 1 for one byte */
        uint64_t value;
        int want;
        const char *what;
    } cases[] = {
        {4, 4, 1, -EMEDIUMTYPE, "version 1"},
        {4, 4, 4, -EBADMSG, "version 4"},
        {20, 4, 8, -EBADMSG, "cluster bits 8"},
        {20, 4, 22, -EBADMSG, "cluster bits 22"},
        {24, 8, (64ULL << 40) + 1, -EFBIG, "size over 64 TiB"},
        {32, 4, 1, -EMEDIUMTYPE, "encrypted"},
        {36, 4, 0, -EBADMSG, "L1 too small"},
        {36, 4, 5u << 20, -EBADMSG, "L1 too large"},
        {40, 8, 3 * 65536 + 8, -EBADMSG, "L1 unaligned"},
        {48, 8, 0, -EBADMSG, "no refcount table"},
        {56, 4, 0, -EBADMSG, "refcount table of 0 clusters"},
        {60, 4, 70000, -EBADMSG, "too many snapshots"},
        {72, 8, 1u << 1, -EMEDIUMTYPE, "corrupt bit"},
        {72, 8, 1u << 2, -EMEDIUMTYPE, "external data file bit"},
        {72, 8, 1u << 5, -EMEDIUMTYPE, "unknown incompatible bit"},
        {96, 4, 7, -EBADMSG, "refcount order 7"},
        {100, 4, 100, -EBADMSG, "header length not a multiple of 8"},
        {100, 4, 96, -EBADMSG, "header length under 104"},
        {16, 4, 0, -EBADMSG, "backing name empty"},
        {16, 4, 1024, -EBADMSG, "backing name over 1023"},
        {8, 8, 65536 - 4, -EBADMSG, "backing name past the cluster"},
        {8, 8, 40, -EBADMSG, "backing name inside the header"},
        {108, 4, 0xfffffff0u, -EBADMSG, "extension length huge"},
        {112, 1, 'v', -EMEDIUMTYPE, "backing format not raw/qcow2"},
        {104, 4, 0x44415441u, -EMEDIUMTYPE, "external data file extension"},
        {104, 4, 0x0537be77u, -EMEDIUMTYPE, "crypto extension"},
        {128 + 3, 1, 0, -EBADMSG, "NUL in backing name"},
        {128 + 3, 1, '\n', -EBADMSG, "newline in backing name"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(h, good, n);
        uint8_t *p = h + cases[i].off;
        if (cases[i].width == 8)
            put64be(p, cases[i].value);
        else if (cases[i].width == 4)
            put32be(p, (uint32_t)cases[i].value);
        else
            *p = (uint8_t)cases[i].value;
        why = NULL;
        int r = ppn_vm_image_parse(h, n, fsize, &info, &why);
        ck_assert_msg(r == cases[i].want, "%s: got %d, wanted %d", cases[i].what, r, cases[i].want);
        ck_assert_msg(why != NULL, "%s: no reason", cases[i].what);
    }
    /* truncations: any prefix shorter than the backing name's end is refused */
    for (size_t len = 4; len < boff + strlen(base); len += 7) {
        int r = ppn_vm_image_parse(good, len, fsize, &info, &why);
        ck_assert_msg(r == -EBADMSG, "prefix of %zu bytes: %d", len, r);
    }
    /* the parser never looks past what it is given, nor past 64 KiB */
    ck_assert_int_eq(ppn_vm_image_parse(good, n, n - 1, &info, &why), -EINVAL);
    ck_assert_int_eq(ppn_vm_image_parse(NULL, 0, 0, &info, &why), 0);
    ck_assert_int_eq(info.format, PPN_VM_DISK_FORMAT_RAW);
    ck_assert_int_eq(ppn_vm_image_parse(good, n, fsize, NULL, &why), -EINVAL);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_IMAGE_HEADER_MAX), 65536);
}
END_TEST

/* ---- cloud-init settings ---- */

static const char *const KEY =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl foundry@laptop-a";

START_TEST(test_cloud_init_settings)
{
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new("mk", PPN_VM_TYPE_MEDIAKIT, &s), 0);
    ppn_vm_cloud_init got;
    ck_assert_int_eq(ppn_vm_spec_cloud_init(s, &got), 0);
    const char *keys[9] = {KEY, KEY, KEY, KEY, KEY, KEY, KEY, KEY, KEY};
    const char *why;
    struct {
        ppn_vm_cloud_init ci;
        const char *reason;
    } bad[] = {
        {{.hostname = "VM-MediaKit"}, "hostname:"},
        {{.hostname = "-vm"}, "hostname:"},
        {{.hostname = "vm-"}, "hostname:"},
        {{.hostname = "a..b"}, "hostname:"},
        {{.hostname = "a_b"}, "hostname:"},
        {{.hostname = "a234567890123456789012345678901234567890123456789012345678901234"}, "hostname:"},
        {{.user = "Foundry"}, "user:"},
        {{.user = "1user"}, "user:"},
        {{.user = "a23456789012345678901234567890123"}, "user:"},
        {{.user = "foundry;rm"}, "user:"},
        {{.ssh_keys = keys, .n_ssh_keys = 9}, "at most 8"},
        {{.n_ssh_keys = 1}, "ssh key: missing"},
        {{.ssh_keys = (const char *[]){"-----BEGIN OPENSSH PRIVATE KEY-----"}, .n_ssh_keys = 1}, "private key"},
        {{.ssh_keys = (const char *[]){"ssh-dss AAAAB3NzaC1kc3MAAACBAP"}, .n_ssh_keys = 1}, "not an OpenSSH public key"},
        {{.ssh_keys = (const char *[]){"ssh-ed25519 AAAA\nssh-rsa AAAA"}, .n_ssh_keys = 1}, "one line"},
        {{.ssh_keys = (const char *[]){"ssh-ed25519 not*base64*at*all*!!"}, .n_ssh_keys = 1}, "base64"},
        {{.ssh_keys = (const char *[]){"ssh-ed25519 "}, .n_ssh_keys = 1}, "missing after"},
        {{.user_data = "packages: [nginx]\n"}, "user-data: must start"},
        {{.user_data = "#cloud-config\n\x01"}, "user-data: over 64 KiB"},
        {{.user_data = "#cloud-config\n\xc3("}, "user-data: over 64 KiB"},
        {{.user_data = "Content-Type: multipart/mixed; boundary=x\n", .user = "foundry"}, "put them in it"},
        {{.user_data = "# not a cloud-init marker\n", .ssh_keys = keys, .n_ssh_keys = 1}, "put them in it"},
        {{.network_config = "ethernets: {}\n"}, "network-config: not"},
        {{.network_config = "version: 2\n\x1b[31m"}, "network-config: over"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        ck_assert_msg(ppn_vm_spec_set_cloud_init(s, &bad[i].ci, &why) == -EINVAL, "case %zu accepted", i);
        ck_assert_msg(why && strstr(why, bad[i].reason), "case %zu: '%s' lacks '%s'", i, why ? why : "", bad[i].reason);
        ck_assert_int_eq(ppn_vm_spec_cloud_init(s, &got), 0); /* unchanged */
    }
    /* bounds: 64 KiB of user-data is fine, one byte more is not */
    char *ud = malloc(PPN_VM_USER_DATA_MAX + 2);
    memset(ud, 'x', PPN_VM_USER_DATA_MAX + 1);
    memcpy(ud, "#cloud-config\n#", 15);
    ud[PPN_VM_USER_DATA_MAX] = '\0';
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, &(ppn_vm_cloud_init){.user_data = ud}, &why), 0);
    ud[PPN_VM_USER_DATA_MAX] = 'x';
    ud[PPN_VM_USER_DATA_MAX + 1] = '\0';
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, &(ppn_vm_cloud_init){.user_data = ud}, &why), -EINVAL);
    free(ud);
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, &(ppn_vm_cloud_init){.hostname = "a.b-c.d9"}, &why), 0);
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, &(ppn_vm_cloud_init){.user_data = "#!/bin/sh\necho \xc3\xa9t\xc3\xa9\n"}, &why), 0);

    /* the seeds' VM-MediaKit, stored and loaded back */
    ppn_vm_cloud_init ci = {.hostname = "vm-mediakit", .user = "foundry", .ssh_keys = keys, .n_ssh_keys = 2,
                            .network_config = "version: 2\nethernets:\n  id0:\n    match: {name: \"en*\"}\n    dhcp4: true\n"};
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, &ci, &why), 0);
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, tpath("mk.qcow2"), 0), 0);
    ck_assert_int_eq(ppn_vm_spec_set_base(s, tpath("base.img")), 0);
    ck_assert_int_eq(ppn_vm_spec_set_disk_format(s, PPN_VM_DISK_FORMAT_QCOW2), 0);
    ck_assert_int_eq(ppn_vm_spec_save(s, tmpdir, true), 0);
    ppn_vm_spec *l;
    ck_assert_int_eq(ppn_vm_spec_load(tmpdir, "mk", &l, &why), 0);
    ck_assert_int_eq(ppn_vm_spec_cloud_init(l, &got), 1);
    ck_assert_str_eq(got.hostname, "vm-mediakit");
    ck_assert_str_eq(got.user, "foundry");
    ck_assert_uint_eq(got.n_ssh_keys, 2);
    ck_assert_str_eq(got.ssh_keys[1], KEY);
    ck_assert_ptr_null(got.ssh_keys[2]);
    ck_assert_str_eq(got.user_data, "");
    ck_assert_str_eq(got.network_config, ci.network_config);
    ck_assert_str_eq(ppn_vm_spec_base(l), tpath("base.img"));
    ck_assert_int_eq(ppn_vm_spec_disk_format(l), PPN_VM_DISK_FORMAT_QCOW2);
    char *j1, *j2;
    ck_assert_int_eq(ppn_vm_spec_to_json(s, &j1), 0);
    ck_assert_int_eq(ppn_vm_spec_to_json(l, &j2), 0);
    ck_assert_str_eq(j1, j2);
    free(j1);
    free(j2);
    ppn_vm_spec *d;
    ck_assert_int_eq(ppn_vm_spec_dup(l, &d), 0);
    ck_assert_int_eq(ppn_vm_spec_cloud_init(d, &got), 1);
    ck_assert_str_eq(got.ssh_keys[0], KEY);
    ppn_vm_spec_free(d);
    ppn_vm_spec_free(l);

    /* a base without a disk, or equal to it */
    ck_assert_int_eq(ppn_vm_spec_set_base(s, "rel.img"), -EINVAL);
    ck_assert_int_eq(ppn_vm_spec_set_base(s, tpath("mk.qcow2")), 0);
    ck_assert_int_eq(ppn_vm_spec_validate(s, &why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "same file"));
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, NULL, 0), 0);
    ck_assert_int_eq(ppn_vm_spec_set_kernel(s, "/boot/vmlinuz", NULL, NULL), 0);
    ck_assert_int_eq(ppn_vm_spec_validate(s, &why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "needs a disk"));
    /* NULL clears */
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, NULL, &why), 0);
    ck_assert_int_eq(ppn_vm_spec_cloud_init(s, &got), 0);
    ppn_vm_spec_free(s);
}
END_TEST

START_TEST(test_cloud_init_json_reject)
{
    static const char head[] =
        "{\"format\":1,\"name\":\"x\",\"type\":\"VM-MediaKit\",\"memory_mib\":256,\"vcpus\":1,\"disk\":\"/d\","
        "\"disk_size_bytes\":0,\"node\":\"\",\"kernel\":\"\",\"initrd\":\"\",\"append\":\"\",\"network\":true,"
        "\"port_forwards\":[]";
    static const char *const tails[] = {
        ",\"cloud_init\":{}}",
        ",\"cloud_init\":[]}",
        ",\"cloud_init\":{\"hostname\":\"\",\"user\":\"\",\"ssh_keys\":[],\"user_data\":\"\",\"network_config\":\"\"}}",
        ",\"cloud_init\":{\"hostname\":\"Bad\",\"user\":\"\",\"ssh_keys\":[],\"user_data\":\"\",\"network_config\":\"\"}}",
        ",\"cloud_init\":{\"hostname\":\"h\",\"user\":\"\",\"ssh_keys\":[1],\"user_data\":\"\",\"network_config\":\"\"}}",
        ",\"cloud_init\":{\"hostname\":\"h\",\"user\":\"\",\"ssh_keys\":[],\"user_data\":\"\",\"network_config\":\"\",\"x\":1}}",
        ",\"cloud_init\":{\"hostname\":\"h\",\"user\":\"\",\"ssh_keys\":[],\"user_data\":\"#\\u0001\",\"network_config\":\"\"}}",
        ",\"disk_format\":\"auto\"}",
        ",\"disk_format\":\"vmdk\"}",
        ",\"base\":\"\"}",
        ",\"base\":\"rel\"}",
        ",\"base\":\"/d\"}",
    };
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        char j[1024];
        snprintf(j, sizeof(j), "%s%s", head, tails[i]);
        ppn_vm_spec *s;
        const char *why = NULL;
        ck_assert_msg(ppn_vm_spec_from_json(j, strlen(j), &s, &why) == -EUCLEAN, "accepted: %s", tails[i]);
        ck_assert_ptr_nonnull(why);
    }
    char j[1024];
    snprintf(j, sizeof(j), "%s%s", head,
             ",\"disk_format\":\"raw\",\"base\":\"/b\",\"cloud_init\":{\"hostname\":\"h\",\"user\":\"u\","
             "\"ssh_keys\":[],\"user_data\":\"\",\"network_config\":\"\"}}");
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_from_json(j, strlen(j), &s, NULL), 0);
    ck_assert_int_eq(ppn_vm_spec_disk_format(s), PPN_VM_DISK_FORMAT_RAW);
    ppn_vm_spec_free(s);
}
END_TEST

/* ---- the seed ---- */

static ppn_vm_spec *seed_spec(const char *hostname, const char *net)
{
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new("mk", PPN_VM_TYPE_MEDIAKIT, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, "/var/lib/ppn/mk.qcow2", 0), 0);
    const char *keys[] = {KEY, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 with \"quotes\" and \\"};
    ppn_vm_cloud_init ci = {.hostname = hostname, .user = "foundry", .ssh_keys = keys, .n_ssh_keys = 2,
                            .network_config = net};
    const char *why;
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, &ci, &why), 0);
    return s;
}

static char *mtype(const char *img, const char *file)
{
    char *out;
    int st = run(&out, "MTOOLS_SKIP_CHECK=1 mtype -i '%s' '::%s' 2>&1", img, file);
    ck_assert_msg(st == 0, "mtype %s: %s", file, out);
    return out;
}

START_TEST(test_seed_image)
{
    const char *net = "version: 2\nethernets:\n  id0:\n    match: {name: \"en*\"}\n    dhcp4: true\n";
    ppn_vm_spec *s = seed_spec("vm-mediakit", net);
    ck_assert_int_eq(ppn_vm_spec_save(s, tmpdir, true), 0);
    ck_assert_int_eq(ppn_vm_seed_write(s, tmpdir), 0);
    char img[512];
    ck_assert_int_eq(ppn_vm_path(tmpdir, "mk", "seed", img, sizeof(img)), 0);
    struct stat st;
    ck_assert_int_eq(stat(img, &st), 0);
    ck_assert_int_eq(st.st_size, PPN_VM_SEED_BYTES);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_SEED_BYTES), PPN_VM_SEED_BYTES);

    /* what cloud-init looks for: blkid LABEL=cidata TYPE=vfat */
    char *out;
    ck_assert_int_eq(run(&out, "blkid -p -o export '%s'", img), 0);
    ck_assert_msg(strstr(out, "LABEL=cidata\n") && strstr(out, "TYPE=vfat\n") && strstr(out, "VERSION=FAT12\n"),
                  "blkid: %s", out);
    free(out);
    /* a clean file system */
    int fst = run(&out, "fsck.fat -n -v '%s' 2>&1", img);
    ck_assert_msg(fst == 0 && !strstr(out, "differ") && !strstr(out, "nvalid"), "fsck.fat (%d): %s", fst, out);
    free(out);
    ck_assert_int_eq(run(&out, "MTOOLS_SKIP_CHECK=1 mdir -b -i '%s' ::", img), 0);
    ck_assert_msg(strstr(out, "meta-data") && strstr(out, "user-data") && strstr(out, "network-config"), "mdir: %s", out);
    free(out);

    char *meta = mtype(img, "meta-data");
    ck_assert_ptr_nonnull(strstr(meta, "local-hostname: \"vm-mediakit\"\n"));
    ck_assert_ptr_nonnull(strstr(meta, "instance-id: \"ppn-mk-"));
    char *user = mtype(img, "user-data");
    ck_assert_msg(!strncmp(user, "#cloud-config\n", 14), "user-data: %s", user);
    ck_assert_ptr_nonnull(strstr(user, "users:\n  - name: \"foundry\"\n"));
    ck_assert_ptr_nonnull(strstr(user, "    lock_passwd: true\n"));
    char want[512];
    snprintf(want, sizeof(want), "    ssh_authorized_keys:\n      - \"%s\"\n", KEY);
    ck_assert_ptr_nonnull(strstr(user, want));
    ck_assert_ptr_nonnull(strstr(user, "with \\\"quotes\\\" and \\\\\"\n"));
    free(user);
    char *n = mtype(img, "network-config");
    ck_assert_str_eq(n, net);
    free(n);

    /* the same settings give the same bytes; other settings, another instance */
    uint8_t *a, *b;
    size_t la, lb;
    ck_assert_int_eq(ppn_vm_seed_build(s, &a, &la), 0);
    ck_assert_int_eq(ppn_vm_seed_build(s, &b, &lb), 0);
    ck_assert(la == lb && !memcmp(a, b, la));
    free(b);
    ppn_vm_spec *s2 = seed_spec("vm-mediakit-2", NULL);
    ck_assert_int_eq(ppn_vm_seed_build(s2, &b, &lb), 0);
    ck_assert(memcmp(a, b, la) != 0);
    free(a);
    ck_assert_int_eq(ppn_vm_seed_write(s2, tmpdir), 0);
    char *meta2 = mtype(img, "meta-data");
    ck_assert_str_ne(meta, meta2);
    ck_assert_int_eq(run(&out, "MTOOLS_SKIP_CHECK=1 mdir -b -i '%s' ::", img), 0);
    ck_assert_ptr_null(strstr(out, "network-config"));
    free(out);
    free(meta);
    free(meta2);
    free(b);

    /* user-data with the user and keys: one MIME message, ours first */
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s2, &(ppn_vm_cloud_init){.hostname = "vm-mediakit", .user = "foundry",
                     .ssh_keys = &KEY, .n_ssh_keys = 1, .user_data = "#cloud-config\npackages: [nginx, build-essential]"}, NULL), 0);
    ck_assert_int_eq(ppn_vm_seed_write(s2, tmpdir), 0);
    char *mm = mtype(img, "user-data");
    ck_assert_msg(!strncmp(mm, "Content-Type: multipart/mixed; boundary=\"==ppn-", 46), "user-data: %s", mm);
    char bnd[64];
    ck_assert_int_eq(sscanf(mm, "Content-Type: multipart/mixed; boundary=\"%63[^\"]\"", bnd), 1);
    char *p1 = strstr(mm, "Content-Type: text/cloud-config; charset=\"utf-8\"");
    ck_assert_ptr_nonnull(p1);
    char *u1 = strstr(p1, "users:\n  - name: \"foundry\"\n");
    ck_assert_ptr_nonnull(u1);
    char *p2 = strstr(u1, "filename=\"user-data\"\n\n#cloud-config\npackages: [nginx, build-essential]\n\n--");
    ck_assert_ptr_nonnull(p2);
    char closing[80];
    snprintf(closing, sizeof(closing), "--%s--\n", bnd);
    ck_assert_str_eq(mm + strlen(mm) - strlen(closing), closing);
    free(mm);
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s2, &(ppn_vm_cloud_init){.user = "foundry", .user_data = "#!/bin/sh\necho hi\n"}, NULL), 0);
    ck_assert_int_eq(ppn_vm_seed_write(s2, tmpdir), 0);
    mm = mtype(img, "user-data");
    ck_assert_ptr_nonnull(strstr(mm, "Content-Type: text/x-shellscript; charset=\"utf-8\""));
    ck_assert_ptr_nonnull(strstr(mm, "filename=\"user-data\"\n\n#!/bin/sh\necho hi\n\n--==ppn-"));
    free(mm);

    /* given user-data alone goes as is */
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s2, &(ppn_vm_cloud_init){.hostname = "h", .user_data = "#!/bin/sh\necho hi\n"}, NULL), 0);
    ck_assert_int_eq(ppn_vm_seed_write(s2, tmpdir), 0);
    char *ud = mtype(img, "user-data");
    ck_assert_str_eq(ud, "#!/bin/sh\necho hi\n");
    free(ud);

    /* the largest settings still fit, and fsck stays clean */
    char *big = malloc(PPN_VM_USER_DATA_MAX + 1);
    memset(big, 'y', PPN_VM_USER_DATA_MAX);
    big[0] = '#';
    big[PPN_VM_USER_DATA_MAX] = '\0';
    char *bignet = malloc(PPN_VM_NETWORK_CONFIG_MAX + 1);
    memset(bignet, 'z', PPN_VM_NETWORK_CONFIG_MAX);
    memcpy(bignet, "version: 2\n#", 12);
    bignet[PPN_VM_NETWORK_CONFIG_MAX] = '\0';
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s2, &(ppn_vm_cloud_init){.hostname = "h", .user_data = big, .network_config = bignet}, NULL), 0);
    ck_assert_int_eq(ppn_vm_seed_write(s2, tmpdir), 0);
    ck_assert_int_eq(run(&out, "fsck.fat -n '%s' 2>&1", img), 0);
    free(out);
    ck_assert_int_eq(run(&out, "MTOOLS_SKIP_CHECK=1 mtype -i '%s' ::user-data | wc -c", img), 0);
    ck_assert_int_eq(atoi(out), PPN_VM_USER_DATA_MAX);
    free(out);
    free(big);
    free(bignet);

    /* no settings: no seed (a stale one is removed), and remove cleans it */
    ck_assert_int_eq(ppn_vm_spec_set_cloud_init(s, NULL, NULL), 0);
    ck_assert_int_eq(ppn_vm_seed_build(s, &a, &la), -ENODATA);
    ck_assert_int_eq(ppn_vm_seed_write(s2, tmpdir), 0);
    ck_assert(exists(img));
    ck_assert_int_eq(ppn_vm_remove(tmpdir, "mk"), 0);
    ck_assert(!exists(img));
    ppn_vm_spec_free(s);
    ppn_vm_spec_free(s2);
}
END_TEST

START_TEST(test_seed_in_argv)
{
    ppn_vm_spec *s = seed_spec("vm-mediakit", NULL);
    ck_assert_int_eq(ppn_vm_spec_set_disk_format(s, PPN_VM_DISK_FORMAT_QCOW2), 0);
    char **argv;
    ck_assert_int_eq(ppn_vm_qemu_argv(s, "/var/lib/ppn,x", NULL, PPN_VM_ACCEL_TCG, &argv), 0);
    int drives = 0;
    const char *last = NULL;
    for (size_t i = 0; argv[i]; i++)
        if (!strcmp(argv[i], "-drive")) {
            drives++;
            last = argv[i + 1];
        }
    ck_assert_int_eq(drives, 2);
    ck_assert_str_eq(last, "file=/var/lib/ppn,,x/mk/cidata.img,if=virtio,format=raw,readonly=on");
    ppn_vmm_strv_free(argv);
    ppn_vm_spec_free(s);
}
END_TEST

/* The seeds' eight MediaKit services are forwarded (9096 and 9100 were
 * missing). */
START_TEST(test_mediakit_forwards)
{
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new("mk", PPN_VM_TYPE_MEDIAKIT, &s), 0);
    static const uint16_t want[] = {9090, 9092, 9093, 9095, 9096, 9100, 9101, 9102};
    ck_assert_uint_eq(ppn_vm_spec_port_forward_count(s), 8);
    for (size_t i = 0; i < 8; i++) {
        ppn_vm_port_forward f;
        ck_assert_int_eq(ppn_vm_spec_port_forward(s, i, &f), 0);
        ck_assert_uint_eq(f.guest_port, want[i]);
        ck_assert_uint_eq(f.host_port, 10000 + want[i]);
        ck_assert_int_eq(f.proto, PPN_VM_PROTO_TCP);
    }
    ppn_vm_spec_free(s);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    Suite *s = suite_create("vmm-images");
    TCase *tc = tcase_create("image");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_probe_real_images);
    tcase_add_test(tc, test_argv_format_from_image);
    tcase_add_test(tc, test_overlay_on_shared_base);
    tcase_add_test(tc, test_overlay_refusals);
    tcase_add_test(tc, test_parse_fields);
    suite_add_tcase(s, tc);
    tc = tcase_create("cloud-init");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_cloud_init_settings);
    tcase_add_test(tc, test_cloud_init_json_reject);
    tcase_add_test(tc, test_seed_image);
    tcase_add_test(tc, test_seed_in_argv);
    tcase_add_test(tc, test_mediakit_forwards);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
