/* cloud-init NoCloud seeds: meta-data, user-data and network-config in a
 * FAT12 file system labelled "cidata", written here byte by byte (no
 * mkfs.vfat, genisoimage or mtools on the node).  cloud-init finds it by
 * its label (blkid LABEL=cidata, TYPE=vfat).
 *
 * Layout of the 1 MiB image (512-byte sectors, one sector per cluster):
 *   sector 0        boot sector with the BIOS parameter block
 *   sectors 1..12   two copies of the FAT (6 sectors each)
 *   sectors 13..44  root directory, 512 entries: the volume label, then
 *                   each file as its long-name entries and an 8.3 entry
 *   sectors 45..    data: each file in consecutive clusters
 * 2003 clusters (< 4085), so FAT12 by the cluster count rule every FAT
 * driver applies. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ppn-common.h"
#include "ppn/vmm.h"
#include "vmm-internal.h"


/* ---- validation ---- */

static bool utf8_text_ok(const char *s, size_t max, size_t *ret_len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (p[n]) {
        if (n >= max)
            return false;
        unsigned char c = p[n];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
                return false;
            n++;
            continue;
        }
        size_t k;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= k; i++) {
            if ((p[n + i] & 0xc0) != 0x80)
                return false; /* also stops at the NUL */
            cp = cp << 6 | (p[n + i] & 0x3f);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        n += k + 1;
    }
    if (n > max)
        return false;
    *ret_len = n;
    return true;
}

static bool hostname_ok(const char *h)
{
    size_t n = strlen(h), label = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i <= n; i++) {
        char c = h[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63 || h[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0);
        if (!ok)
            return false;
        label++;
    }
    return true;
}

static bool user_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = u[i];
        bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && ((c >= '0' && c <= '9') || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

static const char *ssh_key_problem(const char *k)
{
    static const char *const types[] = {
        "ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-nistp256 ", "ecdsa-sha2-nistp384 ",
        "ecdsa-sha2-nistp521 ", "sk-ssh-ed25519@openssh.com ", "sk-ecdsa-sha2-nistp256@openssh.com ",
    };
    if (!k)
        return "ssh key: missing";
    size_t n = strlen(k);
    if (n == 0 || n > PPN_VM_SSH_KEY_MAX)
        return "ssh key: empty or over 8192 bytes";
    if (!strncmp(k, "-----BEGIN", 10) || strstr(k, "PRIVATE KEY"))
        return "ssh key: this is a private key; give the public one (.pub)";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)k[i] < 0x20 || (unsigned char)k[i] > 0x7e)
            return "ssh key: not one line of printable ASCII";
    for (size_t t = 0; t < PPNC_ARRAY_SIZE(types); t++) {
        size_t tl = strlen(types[t]);
        if (strncmp(k, types[t], tl))
            continue;
        size_t b = 0;
        for (const char *p = k + tl; *p && *p != ' '; p++, b++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                  *p == '+' || *p == '/' || *p == '='))
                return "ssh key: the key is not base64";
        return b >= 16 ? NULL : "ssh key: the key is missing after its type";
    }
    return "ssh key: not an OpenSSH public key (ssh-ed25519, ssh-rsa, ecdsa-sha2-*, sk-*)";
}

static bool set(const char *s)
{
    return s && *s;
}

/* The MIME type cloud-init gives user-data by its first characters (its
 * INCLUSION_TYPES_MAP), longest prefix first; NULL for others (MIME itself). */
static const char *part_type(const char *ud)
{
    static const char *const map[][2] = {
        {"#cloud-config-archive", "text/cloud-config-archive"},
        {"#cloud-config-jsonp", "text/cloud-config-jsonp"},
        {"## template: jinja", "text/jinja2"},
        {"#cloud-boothook", "text/cloud-boothook"},
        {"#include-once", "text/x-include-once-url"},
        {"#cloud-config", "text/cloud-config"},
        {"#part-handler", "text/part-handler"},
        {"#include", "text/x-include-url"},
        {"#!", "text/x-shellscript"},
    };
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(map); i++)
        if (!strncmp(ud, map[i][0], strlen(map[i][0])))
            return map[i][1];
    return NULL;
}

int vmm_cloud_init_check(const ppn_vm_cloud_init *ci, const char **ret_reason)
{
    const char *why = NULL;
    size_t len;
    if (!ci)
        why = "no cloud-init settings";
    else if (set(ci->hostname) && !hostname_ok(ci->hostname))
        why = "hostname: lower-case labels of a-z, 0-9 and '-' (1..63 each, not starting or ending "
              "with '-') joined by '.', at most 253";
    else if (set(ci->user) && !user_ok(ci->user))
        why = "user: 1..32 of a-z, 0-9, '_' and '-', starting with a letter or '_'";
    else if (ci->n_ssh_keys > PPN_VM_SSH_KEYS_MAX)
        why = "ssh key: at most 8";
    else if (ci->n_ssh_keys && !ci->ssh_keys)
        why = "ssh key: missing";
    else if (set(ci->user_data) && !utf8_text_ok(ci->user_data, PPN_VM_USER_DATA_MAX, &len))
        why = "user-data: over 64 KiB, not UTF-8, or control characters other than tab and newline";
    else if (set(ci->user_data) && ci->user_data[0] != '#' && strncmp(ci->user_data, "Content-Type:", 13))
        why = "user-data: must start with '#cloud-config', '#!' or another cloud-init marker";
    else if (set(ci->user_data) && (set(ci->user) || ci->n_ssh_keys) && !part_type(ci->user_data))
        why = "user-data: MIME or of unknown type, so it cannot be combined with user and ssh keys: "
              "put them in it";
    else if (set(ci->network_config) &&
             !utf8_text_ok(ci->network_config, PPN_VM_NETWORK_CONFIG_MAX, &len))
        why = "network-config: over 16 KiB, not UTF-8, or control characters other than tab and newline";
    else if (set(ci->network_config) && !strstr(ci->network_config, "version:"))
        why = "network-config: not a cloud-init network configuration (no \"version:\")";
    for (size_t i = 0; !why && ci && i < ci->n_ssh_keys; i++)
        why = ssh_key_problem(ci->ssh_keys[i]);
    if (why) {
        if (ret_reason)
            *ret_reason = why;
        return -EINVAL;
    }
    return 0;
}

/* ---- the files ---- */

/* FNV-1a: a stable, non-cryptographic digest for the instance-id and the
 * volume serial (nothing depends on it being hard to collide). */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (h ^ 0xff) * 0x100000001b3ULL; /* field separator */
}

static void yaml_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

struct seed_files {
    char *meta, *user;
    size_t meta_len, user_len;
    const char *net;
    uint64_t digest;
};

static int make_files(const ppn_vm_spec *spec, struct seed_files *sf)
{
    ppn_vm_cloud_init ci;
    int has = ppn_vm_spec_cloud_init(spec, &ci);
    if (has < 0)
        return has;
    if (!has)
        return -ENODATA;
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, ppn_vm_spec_name(spec));
    h = fnv(h, ci.hostname);
    h = fnv(h, ci.user);
    for (size_t i = 0; i < ci.n_ssh_keys; i++)
        h = fnv(h, ci.ssh_keys[i]);
    h = fnv(h, ci.user_data);
    h = fnv(h, ci.network_config);
    sf->digest = h;

    FILE *f = open_memstream(&sf->meta, &sf->meta_len);
    if (!f)
        return -ENOMEM;
    fprintf(f, "instance-id: \"ppn-%s-%016llx\"\n", ppn_vm_spec_name(spec), (unsigned long long)h);
    if (*ci.hostname) {
        fputs("local-hostname: ", f);
        yaml_quoted(f, ci.hostname);
        fputc('\n', f);
    }
    if (fclose(f) != 0)
        return -ENOMEM;

    bool generated = *ci.user || ci.n_ssh_keys || !*ci.user_data;
    if (*ci.user_data && !generated) {
        sf->user = strdup(ci.user_data);
        if (!sf->user)
            return -ENOMEM;
        sf->user_len = strlen(sf->user);
    } else {
        /* the user and keys as cloud-config; with given user-data, the two
         * as parts of one MIME message, the given one last so that its keys
         * win where both set the same (cloud-init's default merge) */
        char boundary[64];
        uint64_t b = h;
        for (int tries = 0;; tries++) {
            snprintf(boundary, sizeof(boundary), "==ppn-%016llx==", (unsigned long long)b);
            if (!*ci.user_data || !strstr(ci.user_data, boundary))
                break;
            if (tries == 16)
                return -EINVAL;
            b = b * 0x100000001b3ULL + 1;
        }
        f = open_memstream(&sf->user, &sf->user_len);
        if (!f)
            return -ENOMEM;
        if (*ci.user_data)
            fprintf(f,
                    "Content-Type: multipart/mixed; boundary=\"%s\"\nMIME-Version: 1.0\n\n"
                    "--%s\nContent-Type: text/cloud-config; charset=\"utf-8\"\nMIME-Version: 1.0\n"
                    "Content-Disposition: attachment; filename=\"ppn-vmm.cfg\"\n\n",
                    boundary, boundary);
        fputs("#cloud-config\n# written by libppn-vmm\n", f);
        const char *indent = "";
        if (*ci.user) {
            fputs("users:\n  - name: ", f);
            yaml_quoted(f, ci.user);
            fputs("\n    shell: /bin/bash\n    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n    lock_passwd: true\n", f);
            indent = "    ";
        }
        if (ci.n_ssh_keys) {
            fprintf(f, "%sssh_authorized_keys:\n", indent);
            for (size_t i = 0; i < ci.n_ssh_keys; i++) {
                fprintf(f, "%s  - ", indent);
                yaml_quoted(f, ci.ssh_keys[i]);
                fputc('\n', f);
            }
        }
        if (!*ci.user && !ci.n_ssh_keys)
            fputs("{}\n", f);
        if (*ci.user_data) {
            size_t ul = strlen(ci.user_data);
            fprintf(f,
                    "\n--%s\nContent-Type: %s; charset=\"utf-8\"\nMIME-Version: 1.0\n"
                    "Content-Disposition: attachment; filename=\"user-data\"\n\n%s%s--%s--\n",
                    boundary, part_type(ci.user_data), ci.user_data,
                    ul && ci.user_data[ul - 1] == '\n' ? "\n" : "\n\n", boundary);
        }
        if (fclose(f) != 0)
            return -ENOMEM;
    }
    sf->net = *ci.network_config ? ci.network_config : NULL;
    return 0;
}

/* ---- FAT12 ---- */

#define SECTOR 512u
#define TOTAL_SECTORS (PPN_VM_SEED_BYTES / SECTOR)
#define FAT_SECTORS 6u
#define ROOT_ENTRIES 512u
#define ROOT_SECTORS (ROOT_ENTRIES * 32u / SECTOR)
#define FIRST_DATA_SECTOR (1u + 2u * FAT_SECTORS + ROOT_SECTORS)
#define CLUSTERS (TOTAL_SECTORS - FIRST_DATA_SECTOR)
/* 1 Jan 2026 00:00: fixed, so the same settings give the same bytes */
#define DOS_DATE ((uint16_t)(((2026 - 1980) << 9) | (1 << 5) | 1))

_Static_assert(CLUSTERS < 4085, "FAT12 needs fewer than 4085 clusters");
_Static_assert((CLUSTERS + 2) * 3 / 2 + 1 <= FAT_SECTORS * SECTOR, "FAT too small");

static void le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
    le16(p, (uint16_t)v);
    le16(p + 2, (uint16_t)(v >> 16));
}

static void fat12_set(uint8_t *fat, uint32_t n, uint16_t v)
{
    uint32_t off = n + n / 2;
    if (n & 1) {
        fat[off] = (uint8_t)((fat[off] & 0x0f) | ((v & 0x0f) << 4));
        fat[off + 1] = (uint8_t)(v >> 4);
    } else {
        fat[off] = (uint8_t)v;
        fat[off + 1] = (uint8_t)((fat[off + 1] & 0xf0) | ((v >> 8) & 0x0f));
    }
}

static uint8_t lfn_checksum(const uint8_t sfn[11])
{
    uint8_t sum = 0;
    for (int i = 0; i < 11; i++)
        sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + sfn[i]);
    return sum;
}

struct fat {
    uint8_t *img;
    uint32_t next_cluster; /* next free */
    uint32_t next_entry;   /* in the root directory */
};

static uint8_t *dirent_at(struct fat *fs)
{
    return fs->img + (1 + 2 * FAT_SECTORS) * SECTOR + fs->next_entry++ * 32u;
}

/* Adds file 'name' (ASCII, at most 26 characters) with short name 'sfn'
 * (11 bytes, unique) and 'len' bytes of 'data'. */
static int fat_add(struct fat *fs, const char *name, const char *sfn, const void *data, size_t len)
{
    uint32_t need = (uint32_t)((len + SECTOR - 1) / SECTOR);
    size_t nl = strlen(name);
    uint32_t nlfn = (uint32_t)((nl + 12) / 13);
    if (need > CLUSTERS + 2 - fs->next_cluster)
        return -EFBIG;
    if (fs->next_entry + nlfn + 1 > ROOT_ENTRIES || nlfn > 2)
        return -E2BIG;
    uint8_t sum = lfn_checksum((const uint8_t *)sfn);
    /* long-name entries, last part first */
    for (uint32_t k = nlfn; k >= 1; k--) {
        uint8_t *e = dirent_at(fs);
        e[0] = (uint8_t)(k | (k == nlfn ? 0x40 : 0));
        e[11] = 0x0f;
        e[13] = sum;
        static const int pos[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
        for (int j = 0; j < 13; j++) {
            size_t ci = (k - 1) * 13 + (size_t)j;
            uint16_t ch = ci < nl ? (uint8_t)name[ci] : ci == nl ? 0x0000 : 0xffff;
            le16(e + pos[j], ch);
        }
    }
    uint8_t *e = dirent_at(fs);
    memcpy(e, sfn, 11);
    e[11] = 0x20; /* archive */
    le16(e + 16, DOS_DATE);
    le16(e + 18, DOS_DATE);
    le16(e + 24, DOS_DATE);
    uint32_t first = need ? fs->next_cluster : 0;
    le16(e + 26, (uint16_t)first);
    le32(e + 28, (uint32_t)len);
    uint8_t *fat1 = fs->img + SECTOR;
    for (uint32_t i = 0; i < need; i++) {
        uint32_t c = first + i;
        fat12_set(fat1, c, i + 1 == need ? 0xfff : (uint16_t)(c + 1));
    }
    memcpy(fs->img + (FIRST_DATA_SECTOR + (first ? first - 2 : 0)) * SECTOR, data, need ? len : 0);
    fs->next_cluster += need;
    return 0;
}

static int build_fat(const struct seed_files *sf, uint8_t *img)
{
    /* boot sector */
    static const uint8_t jump[3] = {0xeb, 0x3c, 0x90};
    memcpy(img, jump, 3);
    memcpy(img + 3, "PPNVMM  ", 8);
    le16(img + 11, SECTOR);
    img[13] = 1;                     /* sectors per cluster */
    le16(img + 14, 1);               /* reserved sectors */
    img[16] = 2;                     /* FATs */
    le16(img + 17, ROOT_ENTRIES);
    le16(img + 19, TOTAL_SECTORS);
    img[21] = 0xf8;                  /* media: fixed disk */
    le16(img + 22, FAT_SECTORS);
    le16(img + 24, 32);              /* sectors per track */
    le16(img + 26, 64);              /* heads */
    img[36] = 0x80;                  /* drive number */
    img[38] = 0x29;                  /* extended boot signature */
    le32(img + 39, (uint32_t)(sf->digest ^ (sf->digest >> 32)));
    memcpy(img + 43, "cidata     ", 11);
    memcpy(img + 54, "FAT12   ", 8);
    /* boot code: print nothing, halt (the seed is not bootable) */
    img[62] = 0xf4;
    img[63] = 0xeb;
    img[64] = 0xfd;
    img[510] = 0x55;
    img[511] = 0xaa;

    struct fat fs = {img, 2, 0};
    uint8_t *fat1 = img + SECTOR;
    fat12_set(fat1, 0, 0xff8);
    fat12_set(fat1, 1, 0xfff);
    uint8_t *label = dirent_at(&fs);
    memcpy(label, "cidata     ", 11);
    label[11] = 0x08;
    le16(label + 24, DOS_DATE);
    int r = fat_add(&fs, "meta-data", "META-D~1   ", sf->meta, sf->meta_len);
    if (r == 0)
        r = fat_add(&fs, "user-data", "USER-D~1   ", sf->user, sf->user_len);
    if (r == 0 && sf->net)
        r = fat_add(&fs, "network-config", "NETWOR~1   ", sf->net, strlen(sf->net));
    if (r < 0)
        return r;
    memcpy(img + (1 + FAT_SECTORS) * SECTOR, fat1, FAT_SECTORS * SECTOR);
    return 0;
}

PPN_EXPORT int ppn_vm_seed_build(const ppn_vm_spec *spec, uint8_t **ret_image, size_t *ret_size)
{
    if (!spec || !ret_image || !ret_size)
        return -EINVAL;
    struct seed_files sf;
    memset(&sf, 0, sizeof(sf));
    int r = make_files(spec, &sf);
    uint8_t *img = NULL;
    if (r == 0 && !(img = calloc(1, PPN_VM_SEED_BYTES)))
        r = -ENOMEM;
    if (r == 0)
        r = build_fat(&sf, img);
    free(sf.meta);
    free(sf.user);
    if (r < 0) {
        free(img);
        return r;
    }
    *ret_image = img;
    *ret_size = PPN_VM_SEED_BYTES;
    return 0;
}

PPN_EXPORT int ppn_vm_seed_write(const ppn_vm_spec *spec, const char *state_dir)
{
    if (!spec || !state_dir || !*state_dir)
        return -EINVAL;
    char path[4096];
    int r = ppn_vm_path(state_dir, ppn_vm_spec_name(spec), "seed", path, sizeof(path));
    if (r < 0)
        return r;
    uint8_t *img;
    size_t n;
    r = ppn_vm_seed_build(spec, &img, &n);
    if (r == -ENODATA) {
        if (unlink(path) < 0 && errno != ENOENT)
            return -errno;
        return 0;
    }
    if (r < 0)
        return r;
    r = ppnc_write_file_atomic(path, img, n, 0600);
    free(img);
    return r;
}
