/* Guest commands over libppn-vmm: create, start, run, status, list,
 * balloon, shutdown, stop, cont, kill, unit, qmp. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pwd.h>

#include "ppn/vmm.h"
#include "ppn-common.h"
#include "ppn-vm.h"
#include "tool-util.h"
#include "vmopts.h"
#include "vmreq.h"

/* not in ppn-vm.h, which fleet.c shares; main.c declares it too */
int cmd_cont(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_reboot(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_console(int argc, char **argv);

#define DEFAULT_STATE_DIR "/var/lib/ppn/vms"
#define QMP_TIMEOUT_MS 5000

/* The system user QEMU runs as by default when it exists (create --run-as). */
#define DEFAULT_RUN_AS GLUE_VM_RUN_AS_DEFAULT

struct common {
    const char *state_dir;
    bool json;
    bool help;
};

enum { OPT_STATE_DIR = 1000, OPT_JSON, OPT_HELP };

#define COMMON_LONGOPTS                                                                            \
    {"state-dir", required_argument, NULL, OPT_STATE_DIR}, {"json", no_argument, NULL, OPT_JSON},   \
        {"help", no_argument, NULL, 'h'}

static void common_init(struct common *c)
{
    const char *e = getenv("PPN_VM_STATE_DIR");
    c->state_dir = e && *e ? e : DEFAULT_STATE_DIR;
    c->json = false;
    c->help = false;
}

/* Handles the common options; 1 if handled. */
static int common_opt(struct common *c, int opt)
{
    switch (opt) {
    case OPT_STATE_DIR:
        c->state_dir = optarg;
        return 1;
    case OPT_JSON:
        c->json = true;
        tool_set_json_errors(true); /* errors as JSON on stderr too */
        return 1;
    case 'h':
        c->help = true;
        return 1;
    }
    return 0;
}

static int usage_error(const char *usage, const char *msg)
{
    return tool_usage_error(usage, "%s", msg);
}

static int help(const char *usage, const char *text)
{
    printf("Usage: ppn-vm %s\n\n%s\nCommon options:\n"
           "  --state-dir DIR  VM state directory (default $PPN_VM_STATE_DIR or " DEFAULT_STATE_DIR ")\n"
           "  --json           machine-readable output\n"
           "  -h, --help       this help\n",
           usage, text);
    return 0;
}

/* Seconds, possibly fractional ("1.5"), at most a week, into milliseconds
 * (tool_parse_seconds_ms). */
static int parse_seconds_ms(const char *s, uint32_t *ret)
{
    uint64_t ms;
    char why[TOOL_WHY_MAX];
    if (tool_parse_seconds_ms(s, 0, 7 * 86400 * 1000ULL, &ms, why) < 0)
        return -EINVAL;
    *ret = (uint32_t)ms;
    return 0;
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
}

static const char *load_reason_or(const char *why, int r)
{
    return why ? why : strerror(-r);
}

/* ------------------------------------------------------------ create */

/* Creates a missing disk image with qemu-img (qcow2 for *.qcow2, else raw). */
static int create_disk(const char *path, uint64_t size)
{
    if (access(path, F_OK) == 0)
        return 0;
    size_t n = strlen(path);
    const char *fmt = n > 6 && !strcmp(path + n - 6, ".qcow2") ? "qcow2" : "raw";
    char sz[32];
    snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0)
            dup2(nul, 1);
        execlp("qemu-img", "qemu-img", "create", "-q", "-f", fmt, path, sz, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* The text of a --user-data/--network-config/--ssh-key file, at most 'max'
 * bytes; a one-line error naming the option and file on failure. */
char *vm_read_option_file(const char *opt, const char *path, size_t max)
{
    uint8_t *d;
    size_t n;
    int r = ppnc_read_file(path, max, &d, &n);
    if (r < 0) {
        if (r == -EFBIG)
            tool_error("Failed to read %s '%s': over %zu bytes", opt, path, max);
        else
            tool_error("Failed to read %s '%s': %s", opt, path, strerror(-r));
        return NULL;
    }
    if (strlen((char *)d) != n) {
        tool_error("Failed to read %s '%s': it holds a NUL byte", opt, path);
        free(d);
        return NULL;
    }
    return (char *)d;
}

/* --ssh-key: a public key itself, or a file of them (one per line, '#'
 * comments and blank lines skipped, like authorized_keys).  Adds to keys[]
 * (owned strings); -1 after printing the error. */
static int add_ssh_keys(const char *arg, char **keys, size_t *n)
{
    static const char *const starts[] = {"ssh-", "ecdsa-", "sk-"};
    bool literal = false;
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(starts); i++)
        literal |= !strncmp(arg, starts[i], strlen(starts[i]));
    char *text = literal ? strdup(arg) : vm_read_option_file("--ssh-key", arg, 64 * 1024);
    if (!text) {
        if (literal)
            tool_error("Failed to add --ssh-key: out of memory");
        return -1;
    }
    int r = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (!l || line[0] == '#')
            continue;
        if (*n == PPN_VM_SSH_KEYS_MAX) {
            tool_error("Failed to add --ssh-key '%s': more than %u keys", arg, PPN_VM_SSH_KEYS_MAX);
            r = -1;
            break;
        }
        if (!(keys[(*n)++] = strdup(line))) {
            r = -1;
            break;
        }
    }
    free(text);
    return r;
}

/* The reason an image was refused: the parser's words, or for a file
 * system error those and the errno's. */
static const char *image_reason(const char *why, int r, char *buf, size_t size)
{
    if (r == -EBADMSG || r == -EMEDIUMTYPE || r == -EFBIG || r == -EINVAL || r == -EEXIST)
        return why ? why : strerror(-r);
    snprintf(buf, size, "%s: %s", why ? why : "cannot read it", strerror(-r));
    return buf;
}

/* --base and the cloud-init options into the spec, all checked (files read,
 * base image probed) before anything is written.  -1 after one error line. */
static int images_prepare(ppn_vm_spec *s, const char *name, const char *base, bool size_given,
                          const char *hostname, const char *user, const char *const *keyargs,
                          size_t nkeyargs, const char *user_data_file, const char *netconf_file)
{
    const char *why = NULL;
    if (base) {
        if (base[0] != '/')
            return tool_error("Failed to create '%s': --base must be an absolute path", name), -1;
        if (!*ppn_vm_spec_disk(s))
            return tool_error("Failed to create '%s': --base needs --disk (the new overlay's path)", name), -1;
        if (access(ppn_vm_spec_disk(s), F_OK) == 0)
            return tool_error("Failed to create '%s': --disk '%s' exists; an overlay on --base is a new file",
                              name, ppn_vm_spec_disk(s)), -1;
        ppn_vm_image_info bi;
        int r = ppn_vm_image_probe(base, &bi, &why);
        if (r < 0) {
            char rb[256];
            tool_error("Failed to read --base '%s': %s", base, image_reason(why, r, rb, sizeof(rb)));
            return -1;
        }
        uint64_t size = ppn_vm_spec_disk_size_bytes(s);
        if (size_given && size < bi.virtual_size)
            return tool_error("Failed to create '%s': --disk-size is smaller than --base (%llu bytes)", name,
                              (unsigned long long)bi.virtual_size), -1;
        if (!size_given && size < bi.virtual_size)
            size = bi.virtual_size;
        if (ppn_vm_spec_set_base(s, base) < 0 || ppn_vm_spec_set_disk(s, ppn_vm_spec_disk(s), size) < 0)
            return tool_error("Failed to create '%s': --base is at most 1023 bytes", name), -1;
    }
    char *keys[PPN_VM_SSH_KEYS_MAX] = {NULL};
    size_t nkeys = 0;
    char *ud = NULL, *nc = NULL;
    int ret = -1;
    for (size_t i = 0; i < nkeyargs; i++)
        if (add_ssh_keys(keyargs[i], keys, &nkeys) < 0)
            goto out;
    if (user_data_file && !(ud = vm_read_option_file("--user-data", user_data_file, PPN_VM_USER_DATA_MAX)))
        goto out;
    if (netconf_file && !(nc = vm_read_option_file("--network-config", netconf_file, PPN_VM_NETWORK_CONFIG_MAX)))
        goto out;
    ppn_vm_cloud_init ci = {hostname, user, (const char *const *)keys, nkeys, ud, nc};
    if (ppn_vm_spec_set_cloud_init(s, &ci, &why) < 0) {
        tool_error("Failed to create '%s': %s", name, why);
        goto out;
    }
    ret = 0;
out:
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(ud);
    free(nc);
    return ret;
}

/* create's numbers (vm_spec_apply): decimal, --disk-size 1..2^20 GiB. */
static int create_number(int code, const char *arg, uint64_t *ret, const char **ret_why, void *userdata)
{
    (void)userdata;
    uint64_t v;
    char why[TOOL_WHY_MAX];
    if (code == VM_OPT_DISK_SIZE) {
        if (tool_parse_uint(arg, 1, 1ULL << 20, &v, why) < 0)
            return *ret_why = "--disk-size must be a number of GiB", -EINVAL;
    } else if (tool_parse_uint(arg, 0, UINT32_MAX, &v, why) < 0) {
        *ret_why = code == VM_OPT_MEMORY ? "--memory must be 64..1048576 MiB" : "--vcpus must be 1..256";
        return -EINVAL;
    }
    *ret = v;
    return 0;
}

struct create_steps {
    const char *node;
};

static const char *create_node(ppn_vm_spec *s, void *userdata)
{
    const struct create_steps *cs = userdata;
    if (cs->node && ppn_vm_spec_set_node(s, cs->node) < 0)
        return "--node is at most 63 characters";
    return NULL;
}

int cmd_create(int argc, char **argv)
{
    static const char usage[] = "create NAME --type TYPE [options]";
    static const struct option lo[] = {
        COMMON_LONGOPTS,
        VM_SPEC_LONGOPTS,
        {"force", no_argument, NULL, 'o'},
        {"run-as", required_argument, NULL, 'R'},
        {0},
    };
    struct common c;
    common_init(&c);
    const char *run_as = NULL;
    bool force = false;
    struct vm_spec_opts so = {0};
    const char *why = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (common_opt(&c, opt))
            continue;
        int k = vm_spec_opt(&so, opt, optarg, &why);
        if (k < 0)
            return usage_error(usage, why);
        if (k > 0)
            continue;
        switch (opt) {
        case 'o': force = true; break;
        case 'R': run_as = optarg; break;
        default:
            fprintf(stderr, "Usage: ppn-vm %s\n", usage);
            return 1;
        }
    }
    if (c.help)
        return help(usage,
                    "Writes a VM specification into the state directory.\n\n"
                    "  --type TYPE           VM-Totebox, VM-MediaKit, VM-Orchestration, VM-PrivateGit\n"
                    "                        (or totebox, mediakit, ...); sets the type's defaults\n"
                    "  --memory MIB          RAM in MiB          --vcpus N   virtual CPUs\n"
                    "  --disk PATH           disk image (absolute); its format is read from it\n"
                    "  --disk-size GIB       size to create it with when missing (qcow2 if named\n"
                    "                        .qcow2, else raw), or of the overlay on --base\n"
                    "  --node NODE           node the VM is pinned to (required for VM-Totebox)\n"
                    "  --kernel K --initrd I --append A   direct kernel boot (absolute paths)\n"
                    "  --forward [tcp:|udp:]HOST:GUEST    add a host port forward (repeatable)\n"
                    "  --no-default-forwards drop the type's default forwards\n"
                    "  --no-network          no network card (-nic none)\n"
                    "  --force               replace an existing specification\n"
                    "  --base IMAGE          make --disk a new qcow2 overlay on this shared base image\n"
                    "                        (raw or qcow2, read from the image; never written)\n"
                    "cloud-init (a NoCloud seed labelled cidata, attached to the VM):\n"
                    "  --hostname NAME       the guest's hostname\n"
                    "  --user NAME           a user with sudo, password locked\n"
                    "  --ssh-key KEY|FILE    an SSH public key, or a file of them (repeatable)\n"
                    "  --user-data FILE      cloud-init user-data (with --user/--ssh-key, both go as\n"
                    "                        parts of one MIME message, this one last)\n"
                    "  --network-config FILE cloud-init network configuration (version 1 or 2)\n"
                    "  --run-as USER         the user QEMU drops to once it has opened the VM's files\n"
                    "                        (QEMU -runas; default the system user " DEFAULT_RUN_AS " if it\n"
                    "                        exists, else root; \"root\" keeps root)\n"
                    "The disk format is read from the image, whatever its name.\n");
    if (optind + 1 != argc)
        return usage_error(usage, "one VM name is needed");
    const char *name = argv[optind];
    if (!so.type)
        return usage_error(usage, "--type is needed");
    ppn_vm_type t;
    if (ppn_vm_type_from_string(so.type, &t) < 0)
        return usage_error(usage, "unknown --type (VM-Totebox, VM-MediaKit, VM-Orchestration, VM-PrivateGit)");
    if (!ppn_vm_name_valid(name))
        return usage_error(usage, "a VM name is 1..63 of a-z, 0-9 and '-'");
    ppn_vm_spec *s;
    int r = ppn_vm_spec_new(name, t, &s);
    if (r < 0)
        return tool_fail("create", name, r);
    size_t bad_fwd = 0;
    struct create_steps cs = {so.node};
    const struct vm_spec_steps steps = {create_number, create_node, &cs};
    r = vm_spec_apply(s, &so, &steps, &why, &bad_fwd);
    if (r < 0) {
        ppn_vm_spec_free(s);
        if (why)
            return usage_error(usage, why);
        return tool_fail("add port forward", so.forwards[bad_fwd], r);
    }
    /* QEMU's user: the option, else the ppn-vm system user where there is one (as the agent) */
    r = glue_vm_set_run_as(s, run_as, GLUE_VM_RUN_AS_DEFAULT, &why);
    if (r < 0) {
        ppn_vm_spec_free(s);
        if (r == -EINVAL)
            return usage_error(usage, why);
        tool_error("Failed to create '%s': --run-as %s: %s", name, run_as, why);
        return 1;
    }
    if (images_prepare(s, name, so.base, so.disk_size != NULL, so.hostname, so.user, so.ssh_keys,
                       so.n_ssh_keys, so.user_data, so.network_config) < 0) {
        ppn_vm_spec_free(s);
        return 1;
    }
    if (ppn_vm_spec_validate(s, &why) < 0) {
        ppn_vm_spec_free(s);
        tool_error("Failed to create '%s': %s", name, why);
        return 1;
    }
    const char *field = NULL;
    r = ppn_vm_spec_check_files(s, &field);
    if (r < 0) {
        const char *path = !strcmp(field, "kernel") ? ppn_vm_spec_kernel(s)
                           : !strcmp(field, "initrd") ? ppn_vm_spec_initrd(s)
                           : !strcmp(field, "base")   ? ppn_vm_spec_base(s) : ppn_vm_spec_disk(s);
        tool_error("Failed to create '%s': --%s %s: %s", name, field, path,
                   r == -ENOENT && !strcmp(field, "disk") ? "does not exist (--disk-size creates it)"
                                                          : strerror(-r));
        ppn_vm_spec_free(s);
        return 1;
    }
    /* everything is checked; nothing is written before this point */
    char specp[4096];
    if (!force && ppn_vm_path(c.state_dir, name, "spec", specp, sizeof(specp)) == 0 && access(specp, F_OK) == 0) {
        ppn_vm_spec_free(s);
        tool_error("Failed to create '%s': it exists already (--force replaces it)", name);
        return 1;
    }
    bool made_disk = false;
    if (*ppn_vm_spec_base(s)) {
        r = ppn_vm_image_create(ppn_vm_spec_disk(s), ppn_vm_spec_base(s), ppn_vm_spec_disk_size_bytes(s), &why);
        if (r < 0) {
            char rb[256];
            tool_error("Failed to create the overlay '%s': %s", ppn_vm_spec_disk(s), image_reason(why, r, rb, sizeof(rb)));
            ppn_vm_spec_free(s);
            return 1;
        }
        made_disk = true;
    } else if (*ppn_vm_spec_disk(s)) {
        made_disk = access(ppn_vm_spec_disk(s), F_OK) != 0;
        r = create_disk(ppn_vm_spec_disk(s), ppn_vm_spec_disk_size_bytes(s));
        if (r < 0) {
            tool_fail("create the disk image", ppn_vm_spec_disk(s), r);
            ppn_vm_spec_free(s);
            return 1;
        }
    }
    if (*ppn_vm_spec_disk(s)) {
        /* the format is what the image says, pinned in the spec */
        ppn_vm_image_info info;
        r = ppn_vm_image_probe(ppn_vm_spec_disk(s), &info, &why);
        if (r < 0) {
            char rb[256];
            tool_error("Failed to read the disk image '%s': %s", ppn_vm_spec_disk(s), image_reason(why, r, rb, sizeof(rb)));
            if (made_disk)
                unlink(ppn_vm_spec_disk(s));
            ppn_vm_spec_free(s);
            return 1;
        }
        ppn_vm_spec_set_disk_format(s, info.format);
    }
    r = ppn_vm_spec_save(s, c.state_dir, !force);
    if (r == 0) {
        r = ppn_vm_seed_write(s, c.state_dir);
        if (r < 0 && !force)
            ppn_vm_remove(c.state_dir, name);
    }
    if (r < 0 && made_disk)
        unlink(ppn_vm_spec_disk(s));
    if (r < 0) {
        ppn_vm_spec_free(s);
        if (r == -EEXIST) {
            tool_error("Failed to create '%s': it exists already (--force replaces it)", name);
            return 1;
        }
        return tool_fail("create", name, r);
    }
    if (c.json) {
        char *txt;
        if (ppn_vm_spec_to_json(s, &txt) == 0) {
            puts(txt);
            free(txt);
        }
    } else {
        printf("Created %s %s: %u MiB, %u vCPU(s), %zu port forward(s)\n", ppn_vm_type_to_string(t), name,
               ppn_vm_spec_memory_mib(s), ppn_vm_spec_vcpus(s), ppn_vm_spec_port_forward_count(s));
        if (*ppn_vm_spec_run_as(s) && strcmp(ppn_vm_spec_run_as(s), "root") != 0)
            printf("  QEMU runs as user %s\n", ppn_vm_spec_run_as(s));
        else
            printf("  QEMU runs as root%s\n", *ppn_vm_spec_run_as(s) ? "" : " (no '" DEFAULT_RUN_AS "' user here: "
                   "--run-as USER, or create that system user, makes it drop privileges)");
        if (*ppn_vm_spec_disk(s))
            printf("  disk %s (%s%s%s)\n", ppn_vm_spec_disk(s), ppn_vm_disk_format_to_string(ppn_vm_spec_disk_format(s)),
                   *ppn_vm_spec_base(s) ? ", overlay on " : "", ppn_vm_spec_base(s));
        ppn_vm_cloud_init ci;
        if (ppn_vm_spec_cloud_init(s, &ci) > 0)
            printf("  cloud-init seed: hostname %s, user %s, %zu SSH key(s)%s%s\n", *ci.hostname ? ci.hostname : "-",
                   *ci.user ? ci.user : "-", ci.n_ssh_keys, *ci.user_data ? ", user-data" : "",
                   *ci.network_config ? ", network-config" : "");
    }
    ppn_vm_spec_free(s);
    return 0;
}

/* ------------------------------------------------------------ start / run */

static int parse_accel(const char *s, unsigned *flags)
{
    if (!strcmp(s, "auto"))
        *flags = PPN_VM_ACCEL_AUTO;
    else if (!strcmp(s, "kvm"))
        *flags = PPN_VM_ACCEL_KVM;
    else if (!strcmp(s, "tcg"))
        *flags = PPN_VM_ACCEL_TCG;
    else
        return -EINVAL;
    return 0;
}

/* The options of the commands that act on one stored VM (start, run, reboot,
 * unit): one table, one parser.  Each command names the options it takes
 * (only those go into its getopt table, so abbreviations stay what they
 * were) and sets its defaults before parsing. */
enum {
    VA_ACCEL = 1u << 0,
    VA_TIMEOUT = 1u << 1,
    VA_FOREGROUND = 1u << 2,
    VA_QEMU = 1u << 3,
    VA_NODE = 1u << 4,
    VA_DEADLINE = 1u << 5,
    VA_REPRESS = 1u << 6,
    VA_NO_RESET = 1u << 7,
    VA_INSTALL = 1u << 8,
    VA_UNIT_DIR = 1u << 9,
    VA_PPN_VM = 1u << 10,
    VA_PID = 1u << 11,
    VA_WAIT = 1u << 12,
    VA_FOLLOW = 1u << 13,
};

struct vm_args {
    struct common c;
    const char *name;              /* the first operand, a valid VM name */
    char **more;                   /* the operands after it (vm_args_parse_n) */
    int n_more;
    const char *node, *qemu, *unit_dir, *ppn_vm;
    unsigned accel;                /* PPN_VM_ACCEL_* */
    uint32_t timeout_ms, deadline_ms, repress_ms, wait_ms;
    pid_t pid;                     /* --pid; 0 when not given (or given empty) */
    bool foreground, no_reset, install, follow;
};

static const struct vm_arg {
    unsigned bit;
    const char *name;
    int has_arg;
    const char *bad; /* the refusal of a bad value */
    char short_opt;  /* or 0 */
} vm_arg_table[] = {
    {VA_ACCEL, "accel", required_argument, "--accel is auto, kvm or tcg", 0},
    {VA_TIMEOUT, "timeout", required_argument, "--timeout is a positive number of seconds", 0},
    {VA_FOREGROUND, "foreground", no_argument, NULL, 0},
    {VA_QEMU, "qemu", required_argument, NULL, 0},
    {VA_NODE, "node", required_argument, NULL, 0},
    {VA_DEADLINE, "deadline", required_argument, "--deadline is a number of seconds", 0},
    {VA_REPRESS, "repress", required_argument, "--repress is a number of seconds (0: never)", 0},
    {VA_NO_RESET, "no-reset", no_argument, NULL, 0},
    {VA_INSTALL, "install", no_argument, NULL, 0},
    {VA_UNIT_DIR, "unit-dir", required_argument, NULL, 0},
    {VA_PPN_VM, "ppn-vm", required_argument, NULL, 0},
    {VA_PID, "pid", required_argument, "--pid is a process id", 0},
    {VA_WAIT, "wait", required_argument, "--wait is a number of seconds", 0},
    {VA_FOLLOW, "follow", no_argument, NULL, 'f'},
};

/* One option of the table into 'a'; 0 or -EINVAL (a bad value). */
static int vm_arg_set(struct vm_args *a, unsigned bit, const char *arg)
{
    switch (bit) {
    case VA_ACCEL: return parse_accel(arg, &a->accel);
    case VA_TIMEOUT: return parse_seconds_ms(arg, &a->timeout_ms) < 0 || a->timeout_ms == 0 ? -EINVAL : 0;
    case VA_FOREGROUND: a->foreground = true; return 0;
    case VA_QEMU: a->qemu = arg; return 0;
    case VA_NODE: a->node = arg; return 0;
    case VA_DEADLINE: return parse_seconds_ms(arg, &a->deadline_ms);
    case VA_REPRESS: return parse_seconds_ms(arg, &a->repress_ms);
    case VA_NO_RESET: a->no_reset = true; return 0;
    case VA_INSTALL: a->install = true; return 0;
    case VA_UNIT_DIR: a->unit_dir = arg; return 0;
    case VA_PPN_VM: a->ppn_vm = arg; return 0;
    case VA_PID: {
        uint64_t v = 0;
        char why[TOOL_WHY_MAX];
        if (*arg && tool_parse_uint(arg, 1, INT32_MAX, &v, why) < 0) /* "": none (an unset $MAINPID) */
            return -EINVAL;
        a->pid = (pid_t)v;
        return 0;
    }
    case VA_WAIT: return parse_seconds_ms(arg, &a->wait_ms);
    case VA_FOLLOW: a->follow = true; return 0;
    }
    return -EINVAL;
}

/* The common options, the ones of 'accepted', a valid VM name and from
 * 'min_more' to 'max_more' operands after it ('operands' is the refusal of
 * another count; max_more < 0: no operand at all, not even a name).  The
 * caller has set its defaults in *a (vm_args_init first).  0 to go on; 1
 * after a usage error; -1 after the help (exit 0). */
static int vm_args_parse_n(int argc, char **argv, unsigned accepted, int min_more, int max_more,
                           const char *operands, const char *usage, const char *text, struct vm_args *a)
{
    struct option lo[PPNC_ARRAY_SIZE(vm_arg_table) + 4] = {COMMON_LONGOPTS};
    char shorts[8] = "h";
    size_t n = 3, ns = 1;
    for (size_t i = 0; i < PPNC_ARRAY_SIZE(vm_arg_table); i++)
        if (accepted & vm_arg_table[i].bit) {
            lo[n++] = (struct option){vm_arg_table[i].name, vm_arg_table[i].has_arg, NULL, (int)i + 1};
            if (vm_arg_table[i].short_opt && ns + 1 < sizeof(shorts))
                shorts[ns++] = vm_arg_table[i].short_opt;
        }
    lo[n] = (struct option){0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        if (common_opt(&a->c, opt))
            continue;
        for (size_t i = 0; opt > (int)PPNC_ARRAY_SIZE(vm_arg_table) && i < PPNC_ARRAY_SIZE(vm_arg_table); i++)
            if (vm_arg_table[i].short_opt == opt)
                opt = (int)i + 1;
        if (opt < 1 || (size_t)opt > PPNC_ARRAY_SIZE(vm_arg_table)) {
            fprintf(stderr, "Usage: ppn-vm %s\n", usage);
            return 1;
        }
        const struct vm_arg *e = &vm_arg_table[opt - 1];
        if (vm_arg_set(a, e->bit, optarg) < 0)
            return usage_error(usage, e->bad);
    }
    if (a->c.help) {
        help(usage, text);
        return -1;
    }
    if (argc - optind < 1 + min_more || argc - optind > 1 + max_more)
        return usage_error(usage, operands);
    if (max_more < 0)
        return 0; /* no VM name (list) */
    a->name = argv[optind];
    a->more = argv + optind + 1;
    a->n_more = argc - optind - 1;
    if (!ppn_vm_name_valid(a->name))
        return usage_error(usage, "not a valid VM name");
    return 0;
}

/* vm_args_parse_n for the commands that take one VM name and no other operand. */
static int vm_args_parse(int argc, char **argv, unsigned accepted, const char *usage, const char *text,
                         struct vm_args *a)
{
    return vm_args_parse_n(argc, argv, accepted, 0, 0, "one VM name is needed", usage, text, a);
}

static void vm_args_init(struct vm_args *a)
{
    memset(a, 0, sizeof(*a));
    common_init(&a->c);
    a->accel = PPN_VM_ACCEL_AUTO;
}

/* A VM-Totebox starts only on the node it is pinned to (the seeds: pinned,
 * no migration).  'node' is this node's name (--node), else its host name,
 * which is what ppn-pair records by default.  Returns 1 (after saying why)
 * when it is pinned elsewhere, 0 otherwise. */
static int pinned_elsewhere(const char *state_dir, const char *name, const char *node)
{
    ppn_vm_spec *s;
    if (ppn_vm_spec_load(state_dir, name, &s, NULL) < 0)
        return 0; /* the start reports it */
    char here[256] = "";
    if (node)
        snprintf(here, sizeof(here), "%s", node);
    else if (gethostname(here, sizeof(here) - 1) < 0)
        here[0] = '\0';
    int r = 0;
    /* the agent's rule (glue), for the one type the seeds pin */
    const char *pin = ppn_vm_spec_type(s) == PPN_VM_TYPE_TOTEBOX ? glue_vm_pinned_elsewhere(s, here, NULL) : NULL;
    if (pin) {
        tool_error("Failed to start '%s': VM-Totebox is pinned to node '%s' and starts nowhere else (this is "
                   "'%s'; --node names this node)", name, pin, here);
        r = 1;
    }
    ppn_vm_spec_free(s);
    return r;
}

/* A start failure in words, with QEMU's own last line where it left one. */
static int start_fail(const char *state_dir, const char *name, int r, uint32_t timeout_ms)
{
    char line[512];
    bool have = ppn_vm_log_last_line(state_dir, name, line, sizeof(line)) > 0;
    if (r == -ECHILD)
        tool_error("Failed to start '%s': QEMU exited: %s", name, have ? line : "(nothing in qemu.log)");
    else if (r == -EIO)
        tool_error("Failed to start '%s': the guest stopped before it ran%s%s", name, have ? ": " : "",
                   have ? line : "");
    else if (r == -ETIMEDOUT)
        tool_error("Failed to start '%s': the guest did not come up within %.0f s%s%s", name, timeout_ms / 1000.0,
                   have ? "; qemu.log: " : "", have ? line : "");
    else if (r == -EALREADY)
        tool_error("Failed to start '%s': it is already running", name);
    else
        tool_fail("start", name, r);
    return 1;
}

static volatile sig_atomic_t got_term;
static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

/* The supervisor's end, in the foreground's words. */
static void on_state(ppn_vm_supervisor_state state, bool known, int st, void *userdata)
{
    const char *name = userdata;
    if (state != PPN_VM_SUPERVISOR_EXITED || !known)
        return;
    if (WIFEXITED(st))
        printf("%s: QEMU exited with status %d\n", name, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        printf("%s: QEMU killed by signal %d\n", name, WTERMSIG(st));
}

int cmd_start(int argc, char **argv)
{
    static const char usage[] = "start NAME [--accel auto|kvm|tcg] [--timeout SECONDS] [--foreground] [--node NAME]";
    struct vm_args va;
    vm_args_init(&va);
    va.timeout_ms = 30000;
    int pr = vm_args_parse(argc, argv, VA_ACCEL | VA_TIMEOUT | VA_FOREGROUND | VA_QEMU | VA_NODE, usage,
                    "Starts the VM's QEMU under a small supervisor (for hosts where systemd is not\n"
                    "PID 1) and returns once the guest runs (QMP says running and the guest wrote\n"
                    "to its serial console).  The supervisor reaps QEMU,\n"
                    "cleans up, and turns SIGTERM into a graceful shutdown.\n\n"
                    "  --accel A      auto (KVM if a probe guest really runs under it, else TCG),\n"
                    "                 kvm, tcg\n"
                    "  --timeout S    how long to wait for the guest to run and write to its\n"
                    "                 console (default 30)\n"
                    "  --foreground   supervise in this process instead of detaching\n"
                    "  --qemu PATH    QEMU binary (default qemu-system-x86_64)\n"
                    "  --node NAME    this node's name, for a VM-Totebox's pin (default: host name)\n",
                    &va);
    if (pr)
        return pr < 0 ? 0 : pr;
    const struct common c = va.c;
    const char *name = va.name;
    const bool fg = va.foreground;
    if (pinned_elsewhere(c.state_dir, name, va.node))
        return 1;

    /* Detached: the supervisor is a child in its own session that reports
     * the start (result, QEMU's pid, the accelerator) over a pipe. */
    int pfd[2] = {-1, -1};
    if (!fg) {
        if (pipe2(pfd, O_CLOEXEC) < 0)
            return tool_fail("start", name, -errno);
        fflush(stdout);
        pid_t sup = fork();
        if (sup < 0)
            return tool_fail("start", name, -errno);
        if (sup > 0) {
            close(pfd[1]);
            int msg[3] = {0, 0, 0};
            ssize_t n;
            do
                n = read(pfd[0], msg, sizeof(msg));
            while (n < 0 && errno == EINTR);
            close(pfd[0]);
            if (n != (ssize_t)sizeof(msg))
                return tool_fail("start", name, -EPIPE);
            if (msg[0] < 0) {
                waitpid(sup, NULL, 0);
                return start_fail(c.state_dir, name, msg[0], va.timeout_ms);
            }
            const char *an = ppn_vm_accel_name((unsigned)msg[2]);
            if (c.json)
                printf("{\"name\": \"%s\", \"pid\": %d, \"supervisor\": %d, \"accel\": \"%s\"}\n", name,
                       msg[1], (int)sup, an ? an : "");
            else
                printf("Started %s: QEMU pid %d, supervisor pid %d, accelerator %s\n", name, msg[1], (int)sup,
                       an ? an : "?");
            return 0;
        }
        close(pfd[0]);
        setsid();
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* SIGTERM/SIGINT stay blocked except inside ppoll() below, so one that
     * arrives during the start or between two checks is never missed */
    sigset_t term, unblocked;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGINT);
    sigprocmask(SIG_BLOCK, &term, &unblocked);
    sigdelset(&unblocked, SIGTERM);
    sigdelset(&unblocked, SIGINT);
    ppn_vm_supervisor *sup = NULL;
    int r = ppn_vm_supervisor_start(c.state_dir, name, va.qemu, va.accel, (int)va.timeout_ms,
                                    fg && !c.json ? on_state : NULL, (void *)name, &sup);
    if (!fg) {
        int msg[3] = {r, (int)ppn_vm_supervisor_pid(sup), (int)ppn_vm_supervisor_accel(sup)};
        ssize_t w = write(pfd[1], msg, sizeof(msg));
        (void)w;
        close(pfd[1]);
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            dup2(nul, 2);
            if (nul > 2)
                close(nul);
        }
    }
    if (r < 0) {
        if (fg)
            return start_fail(c.state_dir, name, r, va.timeout_ms);
        _exit(1);
    }
    if (fg && !c.json)
        printf("Started %s: QEMU pid %d, accelerator %s (supervising; Ctrl-C shuts it down)\n", name,
               (int)ppn_vm_supervisor_pid(sup), ppn_vm_accel_name(ppn_vm_supervisor_accel(sup)));
    fflush(stdout);
    bool stopped = false;
    while (ppn_vm_supervisor_process(sup, ppnc_now_mono_ms()) != PPN_VM_SUPERVISOR_EXITED) {
        if (got_term) {
            stopped = true;
            ppn_vm_supervisor_stop(sup, NULL, NULL, NULL, NULL);
            break;
        }
        /* QEMU's exit or a signal, the signals unblocked atomically */
        struct pollfd pw = {.fd = ppn_vm_supervisor_fd(sup), .events = POLLIN};
        int t = ppn_vm_supervisor_timeout(sup, ppnc_now_mono_ms());
        struct timespec ts = {t / 1000, (long)(t % 1000) * 1000000L};
        ppoll(&pw, pw.fd >= 0 ? 1 : 0, t >= 0 ? &ts : NULL, &unblocked);
    }
    int st = 0;
    r = ppn_vm_supervisor_wait_status(sup, &st);
    ppn_vm_supervisor_free(sup);
    if (r == -ECHILD && stopped)
        return 0; /* the shutdown sequence reaped QEMU; the files are gone */
    if (r < 0)
        return fg ? tool_fail("supervise", name, r) : 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int cmd_run(int argc, char **argv)
{
    static const char usage[] = "run NAME [--accel auto|kvm|tcg] [--qemu PATH] [--node NAME]";
    struct vm_args va;
    vm_args_init(&va);
    int r = vm_args_parse(argc, argv, VA_ACCEL | VA_NODE | VA_QEMU, usage,
                          "Replaces this process with the VM's QEMU (what the systemd unit's ExecStart runs).\n"
                          "  --node NAME    this node's name, for a VM-Totebox's pin (default: host name)\n",
                          &va);
    if (r)
        return r < 0 ? 0 : r;
    if (pinned_elsewhere(va.c.state_dir, va.name, va.node))
        return 1;
    r = ppn_vm_exec(va.c.state_dir, va.name, va.qemu, va.accel);
    return tool_fail("run", va.name, r);
}

/* ------------------------------------------------------------ status / list */

static json_t *info_json(const ppn_vm_info *i)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(i->name));
    json_object_set_new(o, "type", json_string(ppn_vm_type_to_string(i->type)));
    json_object_set_new(o, "node", json_string(i->node));
    json_object_set_new(o, "memory_mib", json_integer(i->memory_mib));
    json_object_set_new(o, "vcpus", json_integer(i->vcpus));
    json_object_set_new(o, "running", json_boolean(i->running));
    json_object_set_new(o, "pid", json_integer(i->pid));
    json_object_set_new(o, "status", json_string(i->status));
    json_object_set_new(o, "accel", i->accel[0] ? json_string(i->accel) : json_null());
    json_object_set_new(o, "balloon_actual_bytes", json_integer((json_int_t)i->balloon_actual));
    json_object_set_new(o, "qmp_error", i->qmp_error ? json_string(strerror(-i->qmp_error)) : json_null());
    return o;
}

/* The commands taking NAME (or, without ret_name, nothing) and only the
 * common options. */
static int simple_args(int argc, char **argv, const char *usage, const char *text, struct common *c,
                       const char **ret_name)
{
    struct vm_args va;
    vm_args_init(&va);
    int r = ret_name ? vm_args_parse(argc, argv, 0, usage, text, &va)
                     : vm_args_parse_n(argc, argv, 0, -1, -1, "no arguments expected", usage, text, &va);
    *c = va.c;
    if (r == 0 && ret_name)
        *ret_name = va.name;
    return r;
}

int cmd_status(int argc, char **argv)
{
    static const char usage[] = "status NAME [--json]";
    struct common c;
    const char *name;
    int r = simple_args(argc, argv, usage, "Shows a VM's specification, process, run state and balloon.\n", &c, &name);
    if (r)
        return r < 0 ? 0 : r;
    ppn_vm_info i;
    r = ppn_vm_info_get(c.state_dir, name, QMP_TIMEOUT_MS, &i);
    if (r < 0)
        return tool_fail("get status of", name, r);
    int rc = i.running && i.qmp_error ? 1 : 0; /* it runs, but its monitor does not answer */
    if (c.json) {
        print_json(info_json(&i));
        return rc;
    }
    printf("vm:      %s (%s)\n", i.name, ppn_vm_type_to_string(i.type));
    if (i.node[0])
        printf("node:    %s\n", i.node);
    printf("memory:  %u MiB, %u vCPU(s)\n", i.memory_mib, i.vcpus);
    if (!i.running) {
        printf("state:   stopped\n");
        return 0;
    }
    printf("state:   %s (QEMU pid %d)\n", i.status[0] ? i.status : "running, monitor unreachable", (int)i.pid);
    if (i.accel[0])
        printf("accel:   %s\n", i.accel);
    if (i.qmp_error)
        printf("monitor: %s\n", strerror(-i.qmp_error));
    else
        printf("balloon: %llu MiB actual\n", (unsigned long long)(i.balloon_actual >> 20));
    return rc;
}

int cmd_list(int argc, char **argv)
{
    static const char usage[] = "list [--json]";
    struct common c;
    int r = simple_args(argc, argv, usage,
                        "Lists the VMs of the state directory with their state and memory; a VM whose\n"
                        "specification does not load is listed with the reason.\n", &c, NULL);
    if (r)
        return r < 0 ? 0 : r;
    char **names;
    int n = ppn_vm_list(c.state_dir, &names);
    if (n < 0)
        return tool_fail("list", c.state_dir, n);
    json_t *a = c.json ? json_array() : NULL;
    if (!c.json)
        printf("%-20s %-17s %-9s %8s %10s %10s\n", "NAME", "TYPE", "STATE", "PID", "MEMORY", "ACTUAL");
    int broken = 0;
    for (int k = 0; k < n; k++) {
        ppn_vm_info i;
        r = ppn_vm_info_get(c.state_dir, names[k], 2000, &i);
        if (r < 0) {
            ppn_vm_spec *sp = NULL;
            const char *why = NULL;
            int lr = ppn_vm_spec_load(c.state_dir, names[k], &sp, &why);
            ppn_vm_spec_free(sp);
            const char *reason = load_reason_or(why, lr < 0 ? lr : r);
            broken++;
            if (c.json)
                json_array_append_new(a, json_pack("{s:s,s:s}", "name", names[k], "error", reason));
            else
                printf("%-20s %-17s %-9s %8s %10s %10s  (%s)\n", names[k], "?", "broken", "-", "-", "-", reason);
            continue;
        }
        if (c.json) {
            json_array_append_new(a, info_json(&i));
            continue;
        }
        char actual[32] = "-";
        if (i.running && !i.qmp_error)
            snprintf(actual, sizeof(actual), "%lluM", (unsigned long long)(i.balloon_actual >> 20));
        printf("%-20s %-17s %-9s %8d %9uM %10s\n", i.name, ppn_vm_type_to_string(i.type),
               i.running ? (i.status[0] ? i.status : "running") : "stopped", (int)i.pid, i.memory_mib, actual);
    }
    ppn_vmm_strv_free(names);
    if (c.json)
        print_json(a);
    return broken ? 1 : 0;
}

/* ------------------------------------------------------------ QMP commands */

/* The VM's monitor (ppn_vm_qmp_connect); 1 after saying why not. */
static int connect_vm(const struct common *c, const char *name, ppn_qmp **q)
{
    int r = ppn_vm_qmp_connect(c->state_dir, name, QMP_TIMEOUT_MS, q);
    if (r == 0)
        return 0;
    if (r == -ESRCH)
        tool_error("Failed to reach '%s': it is not running", name);
    else if (r == -ETIMEDOUT)
        tool_error("Failed to connect to the monitor of '%s': %s (another client may hold it)", name,
                   strerror(ETIMEDOUT));
    else if (r == -ENOENT || r == -EUCLEAN || r == -EBADMSG)
        tool_fail("find", name, r);
    else
        tool_fail("connect to the monitor of", name, r);
    return 1;
}

static int qmp_fail(ppn_qmp *q, const char *verb, const char *name, int r)
{
    if (r == -EREMOTEIO)
        tool_error("Failed to %s '%s': %s: %s", verb, name, ppn_qmp_last_error_class(q), ppn_qmp_last_error_desc(q));
    else
        tool_fail(verb, name, r);
    ppn_qmp_free(q);
    return 1;
}

static int simple_qmp(int argc, char **argv, const char *usage, const char *text, const char *verb,
                      int (*fn)(ppn_qmp *, int), const char *done)
{
    struct common c;
    const char *name;
    int r = simple_args(argc, argv, usage, text, &c, &name);
    if (r)
        return r < 0 ? 0 : r;
    ppn_qmp *q;
    if (connect_vm(&c, name, &q))
        return 1;
    r = fn(q, QMP_TIMEOUT_MS);
    if (r < 0)
        return qmp_fail(q, verb, name, r);
    ppn_qmp_free(q);
    if (c.json)
        printf("{\"name\": \"%s\", \"result\": \"%s\"}\n", name, done);
    else
        printf("%s: %s\n", name, done);
    return 0;
}

int cmd_reset(int argc, char **argv)
{
    return simple_qmp(argc, argv, "reset NAME",
                      "Resets the VM at once, like the reset button (QMP system_reset): the guest is\n"
                      "not asked and loses what it has not written.\n",
                      "reset", ppn_qmp_system_reset, "reset");
}

int cmd_reboot(int argc, char **argv)
{
    static const char usage[] = "reboot NAME [--deadline SECONDS] [--repress SECONDS] [--no-reset]";
    struct vm_args va;
    vm_args_init(&va);
    va.deadline_ms = 60000;
    va.repress_ms = 10000;
    int pr = vm_args_parse(argc, argv, VA_DEADLINE | VA_REPRESS | VA_NO_RESET, usage,
                    "Graceful reboot: QEMU is told to pause instead of exiting when the guest\n"
                    "powers off (QMP set-action), the ACPI power button is pressed (again every\n"
                    "--repress seconds, default 10), and once the guest has shut down the machine\n"
                    "is reset and resumed, so it boots again after its own clean shutdown.  A guest\n"
                    "that does not go down within --deadline seconds (default 60) is reset at once\n"
                    "(QMP system_reset, what 'reset' does), and the output says so; --no-reset\n"
                    "leaves it running instead and exits 1.\n",
                    &va);
    if (pr)
        return pr < 0 ? 0 : pr;
    const struct common c = va.c;
    const char *name = va.name;
    const uint32_t deadline_ms = va.deadline_ms, repress_ms = va.repress_ms;
    const unsigned flags = va.no_reset ? PPN_VM_REBOOT_NO_RESET : 0;
    pid_t pid = 0;
    int r = ppn_vm_pid(c.state_dir, name, &pid);
    if (r < 0)
        return tool_fail("find", name, r);
    if (pid == 0) {
        tool_error("Failed to reboot '%s': it is not running", name);
        return 1;
    }
    char mon[PATH_MAX];
    if ((r = ppn_vm_path(c.state_dir, name, "monitor", mon, sizeof(mon))) < 0)
        return tool_fail("reboot", name, r);
    uint64_t t0 = ppnc_now_mono_ms();
    ppn_vm_reboot_outcome out = PPN_VM_REBOOT_OUTCOME_NONE;
    unsigned presses = 0;
    r = ppn_vm_reboot(mon, deadline_ms, repress_ms, QMP_TIMEOUT_MS, flags, &out, &presses);
    double secs = (double)(ppnc_now_mono_ms() - t0) / 1000.0;
    const char *how = out == PPN_VM_REBOOT_OUTCOME_GRACEFUL ? "graceful"
                      : out == PPN_VM_REBOOT_OUTCOME_RESET  ? "reset" : "none";
    if (c.json && (r == 0 || out != PPN_VM_REBOOT_OUTCOME_NONE))
        print_json(json_pack("{s:s,s:s,s:i,s:f}", "name", name, "outcome", how, "presses", (int)presses,
                             "elapsed_s", secs));
    else if (out == PPN_VM_REBOOT_OUTCOME_GRACEFUL)
        printf("%s: rebooted gracefully after %.1f s (the guest shut down on the power button; %u press%s)\n",
               name, secs, presses, presses == 1 ? "" : "es");
    else if (out == PPN_VM_REBOOT_OUTCOME_RESET)
        printf("%s: the guest did not shut down within %.0f s (%u press%s): reset it (system_reset, not graceful)\n",
               name, deadline_ms / 1000.0, presses, presses == 1 ? "" : "es");
    if (r == -ETIMEDOUT && (flags & PPN_VM_REBOOT_NO_RESET)) {
        tool_error("Failed to reboot '%s': the guest did not shut down within %.0f s (%u press%s); left running "
                   "(--no-reset)", name, deadline_ms / 1000.0, presses, presses == 1 ? "" : "es");
        return 1;
    }
    if (r == -EBUSY) {
        tool_error("Failed to reboot '%s': it is not running (paused or shut down)", name);
        return 1;
    }
    if (r == -ETIMEDOUT && presses == 0) {
        tool_error("Failed to reboot '%s': %s (another client may hold the monitor)", name, strerror(ETIMEDOUT));
        return 1;
    }
    if (r < 0 && out != PPN_VM_REBOOT_OUTCOME_NONE) {
        tool_error("'%s' rebooted, but its shutdown action could not be set back to poweroff: %s (a poweroff "
                   "of the guest will pause QEMU)", name, strerror(-r));
        return 1;
    }
    if (r < 0)
        return tool_fail("reboot", name, r);
    return 0;
}

int cmd_remove(int argc, char **argv)
{
    static const char usage[] = "remove NAME";
    struct common c;
    const char *name;
    int r = simple_args(argc, argv, usage,
                        "Removes a stopped VM's specification and state directory (not its disk\n"
                        "image).  A running VM is refused: shut it down first.\n", &c, &name);
    if (r)
        return r < 0 ? 0 : r;
    r = ppn_vm_remove(c.state_dir, name);
    if (r == -EBUSY) {
        tool_error("Failed to remove '%s': it is running (ppn-vm shutdown %s)", name, name);
        return 1;
    }
    if (r < 0)
        return tool_fail("remove", name, r);
    if (!c.json)
        printf("Removed %s\n", name);
    return 0;
}

int cmd_console(int argc, char **argv)
{
    static const char usage[] = "console NAME [--follow]";
    struct vm_args va;
    vm_args_init(&va);
    int pr = vm_args_parse(argc, argv, VA_FOLLOW, usage,
                           "Prints the guest's serial console (console.log), with --follow goes on\n"
                           "printing while the VM runs (Ctrl-C ends it; the VM runs on).  Bytes that\n"
                           "are not printable text or line breaks are shown as '?'.\n",
                           &va);
    if (pr)
        return pr < 0 ? 0 : pr;
    const struct common c = va.c;
    const char *name = va.name;
    const bool follow = va.follow;
    char p[PATH_MAX];
    int r = ppn_vm_path(c.state_dir, name, "console", p, sizeof(p));
    if (r < 0)
        return tool_fail("find the console of", name, r);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tool_fail("open the console of", name, -errno);
    char buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            r = -errno;
            close(fd);
            return tool_fail("read the console of", name, r);
        }
        if (n == 0) {
            pid_t pid = 0;
            if (!follow || ppn_vm_pid(c.state_dir, name, &pid) < 0 || pid == 0)
                break;
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        /* the guest's bytes, defused for the terminal */
        for (ssize_t k = 0; k < n; k++) {
            unsigned char ch = (unsigned char)buf[k];
            if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
                buf[k] = '?';
        }
        if (tool_write_all(1, buf, (size_t)n) < 0)
            break;
    }
    close(fd);
    return 0;
}

int cmd_stop(int argc, char **argv)
{
    return simple_qmp(argc, argv, "stop NAME", "Pauses the VM's vCPUs (QMP stop); 'cont' resumes them.\n",
                      "stop", ppn_qmp_stop, "paused");
}

int cmd_cont(int argc, char **argv)
{
    return simple_qmp(argc, argv, "cont NAME", "Resumes the VM's vCPUs (QMP cont).\n", "resume", ppn_qmp_cont,
                      "running");
}

int cmd_balloon(int argc, char **argv)
{
    static const char usage[] = "balloon NAME [TARGET_MIB] [--wait SECONDS]";
    struct vm_args va;
    vm_args_init(&va);
    int pr = vm_args_parse_n(argc, argv, VA_WAIT, 0, 1, "a VM name and an optional target are needed", usage,
                             "Without a target: shows the balloon's actual size (guest RAM minus balloon).\n"
                             "With one: sets the guest RAM target in MiB; --wait waits until the guest\n"
                             "driver reached it (BALLOON_CHANGE).\n",
                             &va);
    if (pr)
        return pr < 0 ? 0 : pr;
    const struct common c = va.c;
    const char *name = va.name;
    const uint32_t wait_ms = va.wait_ms;
    uint64_t mib = 0;
    char why[TOOL_WHY_MAX];
    bool set = va.n_more == 1;
    if (set && tool_parse_uint(va.more[0], 1, 1ULL << 22, &mib, why) < 0)
        return usage_error(usage, "TARGET_MIB is a positive number of MiB");
    if (set) {
        ppn_vm_spec *s;
        int lr = ppn_vm_spec_load(c.state_dir, name, &s, NULL);
        if (lr < 0)
            return tool_fail("find", name, lr);
        uint32_t mem = ppn_vm_spec_memory_mib(s);
        ppn_vm_spec_free(s);
        if (mib > mem) {
            tool_error("Failed to set the balloon of '%s': target %llu MiB is above the VM's memory (%u MiB)", name,
                       (unsigned long long)mib, mem);
            return 1;
        }
    }
    ppn_qmp *q;
    if (connect_vm(&c, name, &q))
        return 1;
    uint64_t actual;
    int r = set ? ppn_qmp_balloon_set_wait(q, mib << 20, (int)wait_ms, QMP_TIMEOUT_MS, &actual)
                : ppn_qmp_balloon_query(q, QMP_TIMEOUT_MS, &actual);
    if (r == -ETIMEDOUT && set && wait_ms) {
        tool_error("Failed to reach %llu MiB in '%s' within %.1f s", (unsigned long long)mib, name, wait_ms / 1000.0);
        ppn_qmp_free(q);
        return 1;
    }
    if (r < 0)
        return qmp_fail(q, set ? "set the balloon of" : "query the balloon of", name, r);
    ppn_qmp_free(q);
    if (c.json) {
        json_t *o = json_pack("{s:s,s:I}", "name", name, "actual_bytes", (json_int_t)actual);
        if (set)
            json_object_set_new(o, "target_bytes", json_integer((json_int_t)(mib << 20)));
        print_json(o);
    } else if (set) {
        printf("%s: balloon target %llu MiB, actual %llu MiB\n", name, (unsigned long long)mib, (unsigned long long)(actual >> 20));
    } else {
        printf("%s: actual %llu MiB\n", name, (unsigned long long)(actual >> 20));
    }
    return 0;
}

/* ------------------------------------------------------------ shutdown / kill */

static const char *step_name(ppn_vm_shutdown_step s)
{
    switch (s) {
    case PPN_VM_SHUTDOWN_CONNECT: return "connect to monitor";
    case PPN_VM_SHUTDOWN_PRESS: return "press power button";
    case PPN_VM_SHUTDOWN_GUEST_DOWN: return "guest went down";
    case PPN_VM_SHUTDOWN_DEADLINE: return "deadline passed";
    case PPN_VM_SHUTDOWN_QUIT: return "QMP quit";
    case PPN_VM_SHUTDOWN_SIGTERM: return "SIGTERM";
    case PPN_VM_SHUTDOWN_SIGKILL: return "SIGKILL";
    case PPN_VM_SHUTDOWN_EXITED: return "QEMU exited";
    }
    return "?";
}

static const char *outcome_name(ppn_vm_shutdown_outcome o)
{
    switch (o) {
    case PPN_VM_SHUTDOWN_OUTCOME_NONE: return "still-running";
    case PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL: return "graceful";
    case PPN_VM_SHUTDOWN_OUTCOME_QUIT: return "quit";
    case PPN_VM_SHUTDOWN_OUTCOME_SIGTERM: return "sigterm";
    case PPN_VM_SHUTDOWN_OUTCOME_SIGKILL: return "sigkill";
    case PPN_VM_SHUTDOWN_OUTCOME_NOT_RUNNING: return "not-running";
    case PPN_VM_SHUTDOWN_OUTCOME_EXITED: return "exited";
    }
    return "?";
}

struct progress {
    bool json;
    json_t *steps;
};

static void on_progress(ppn_vm_shutdown_step step, int result, uint64_t ms, void *ud)
{
    struct progress *p = ud;
    if (p->json) {
        json_array_append_new(p->steps, json_pack("{s:s,s:s?,s:I}", "step", step_name(step), "error",
                                                  result ? strerror(-result) : NULL, "elapsed_ms", (json_int_t)ms));
        return;
    }
    printf("%6.1f s  %-20s %s\n", ms / 1000.0, step_name(step), result ? strerror(-result) : "ok");
    fflush(stdout);
}

int cmd_shutdown(int argc, char **argv)
{
    static const char usage[] = "shutdown NAME [--deadline SECONDS] [--repress SECONDS] [--pid PID]";
    ppn_vm_shutdown_opts o;
    ppn_vm_shutdown_opts_init(&o);
    struct vm_args va;
    vm_args_init(&va);
    va.deadline_ms = o.deadline_ms;
    va.repress_ms = o.repress_interval_ms;
    int pr = vm_args_parse(argc, argv, VA_DEADLINE | VA_REPRESS | VA_PID, usage,
                    "Graceful shutdown: presses the ACPI power button, presses it again every\n"
                    "--repress seconds (default 10), waits up to --deadline seconds (default 60)\n"
                    "for the guest to power off, then QMP quit, then SIGTERM, then SIGKILL.  Each\n"
                    "step is printed as it completes.  Exit 0 once QEMU is gone.\n"
                    "  --pid PID   the QEMU process (default: from the state directory; the unit's\n"
                    "              ExecStop passes $MAINPID)\n",
                    &va);
    if (pr)
        return pr < 0 ? 0 : pr;
    const struct common c = va.c;
    const char *name = va.name;
    o.deadline_ms = va.deadline_ms;
    o.repress_interval_ms = va.repress_ms;
    int r;
    if (va.pid) {
        r = ppn_vm_pid_check(c.state_dir, name, va.pid);
        if (r == -EPERM) {
            pid_t rec = 0;
            ppn_vm_pid(c.state_dir, name, &rec);
            tool_error("Failed to shut down '%s': pid %d is not its QEMU (that is pid %d); nothing signalled", name,
                       (int)va.pid, (int)rec);
            return 1;
        }
        if (r < 0 && r != -ESRCH)
            return tool_fail("find", name, r);
        o.pid = r == 0 ? va.pid : 0; /* not running: the monitor alone decides, nobody is signalled */
    } else {
        r = ppn_vm_pid(c.state_dir, name, &o.pid);
        if (r < 0)
            return tool_fail("find", name, r);
    }
    char mon[PATH_MAX];
    r = ppn_vm_path(c.state_dir, name, "monitor", mon, sizeof(mon));
    if (r < 0)
        return tool_fail("shut down", name, r);
    o.monitor_path = mon;
    struct progress p = {.json = c.json, .steps = c.json ? json_array() : NULL};
    ppn_vm_shutdown_result res;
    r = ppn_vm_shutdown(&o, on_progress, &p, &res);
    if (c.json) {
        print_json(json_pack("{s:s,s:s,s:i,s:I,s:o}", "name", name, "outcome", outcome_name(res.outcome),
                             "presses", (int)res.presses, "elapsed_ms", (json_int_t)res.elapsed_ms, "steps",
                             p.steps));
    } else {
        printf("%s: %s after %.1f s (%u press%s)\n", name, outcome_name(res.outcome), res.elapsed_ms / 1000.0,
               res.presses, res.presses == 1 ? "" : "es");
    }
    if (r < 0)
        return tool_fail("shut down", name, r);
    return 0;
}

int cmd_kill(int argc, char **argv)
{
    static const char usage[] = "kill NAME";
    struct common c;
    const char *name;
    int r = simple_args(argc, argv, usage, "Ends the VM's QEMU at once (SIGKILL), without asking the guest.\n", &c, &name);
    if (r)
        return r < 0 ? 0 : r;
    ppn_vm_shutdown_opts o;
    ppn_vm_shutdown_opts_init(&o);
    r = ppn_vm_pid(c.state_dir, name, &o.pid);
    if (r < 0)
        return tool_fail("find", name, r);
    if (o.pid == 0) {
        tool_error("Failed to kill '%s': it is not running", name);
        return 1;
    }
    if (kill(o.pid, SIGKILL) < 0)
        return tool_fail("kill", name, -errno);
    /* wait for it to be gone (signals only; no monitor) */
    o.term_wait_ms = 0;
    o.kill_wait_ms = 5000;
    ppn_vm_shutdown_result res;
    r = ppn_vm_shutdown(&o, NULL, NULL, &res);
    if (r < 0)
        return tool_fail("kill", name, r);
    if (c.json)
        printf("{\"name\": \"%s\", \"killed\": %d}\n", name, (int)o.pid);
    else
        printf("%s: killed QEMU pid %d\n", name, (int)o.pid);
    return 0;
}

/* ------------------------------------------------------------ unit */

/* Units are world-readable, like those systemd ships. */
static int write_unit_file(const char *path, const char *text)
{
    return ppnc_write_file_atomic(path, text, strlen(text), 0644);
}

int cmd_unit(int argc, char **argv)
{
    static const char usage[] =
        "unit NAME [--install] [--unit-dir DIR] [--ppn-vm PATH] [--deadline SECONDS] [--accel auto|kvm|tcg]";
    struct vm_args va;
    vm_args_init(&va);
    va.unit_dir = "/etc/systemd/system";
    int pr = vm_args_parse(argc, argv, VA_INSTALL | VA_UNIT_DIR | VA_PPN_VM | VA_DEADLINE | VA_ACCEL, usage,
                    "Prints the VM's systemd service, or with --install writes it to\n"
                    "--unit-dir (default /etc/systemd/system) as ppn-vm-NAME.service.\n"
                    "ExecStart runs 'ppn-vm run' (QEMU becomes the main process), ExecStop runs\n"
                    "'ppn-vm shutdown --deadline S --pid $MAINPID', and TimeoutStopSec exceeds the\n"
                    "whole shutdown sequence.  --accel puts the accelerator on ExecStart\n"
                    "(default auto: 'ppn-vm run' probes at each start).\n",
                    &va);
    if (pr)
        return pr < 0 ? 0 : pr;
    const struct common c = va.c;
    const char *name = va.name, *unit_dir = va.unit_dir, *self = va.ppn_vm;
    const unsigned accel = va.accel;
    const uint32_t deadline = va.deadline_ms;
    const bool install = va.install;
    char selfbuf[PATH_MAX], sdir[PATH_MAX];
    if (!self) {
        ssize_t n = readlink("/proc/self/exe", selfbuf, sizeof(selfbuf) - 1);
        if (n <= 0)
            return tool_fail("find", "/proc/self/exe", -errno);
        selfbuf[n] = '\0';
        self = selfbuf;
    }
    if (!realpath(c.state_dir, sdir))
        return tool_fail("resolve", c.state_dir, -errno);
    ppn_vm_spec *s;
    const char *why = NULL;
    int r = ppn_vm_spec_load(sdir, name, &s, &why);
    if (r < 0) {
        tool_error("Failed to load '%s': %s", name, load_reason_or(why, r));
        return 1;
    }
    ppn_vm_unit_opts uo = {.ppn_vm_binary = self, .state_dir = sdir, .shutdown_deadline_ms = deadline, .accel = accel};
    char *text;
    r = ppn_vm_unit(s, &uo, &text);
    char uname[128];
    if (r == 0)
        r = ppn_vm_unit_name(s, uname, sizeof(uname));
    ppn_vm_spec_free(s);
    if (r < 0)
        return tool_fail("generate the unit of", name, r);
    if (!install) {
        if (c.json)
            print_json(json_pack("{s:s,s:s}", "unit", uname, "text", text));
        else
            fputs(text, stdout);
        free(text);
        return 0;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", unit_dir, uname);
    r = write_unit_file(path, text);
    free(text);
    if (r < 0)
        return tool_fail("install", path, r);
    if (c.json)
        printf("{\"name\": \"%s\", \"unit\": \"%s\"}\n", name, path);
    else
        printf("Installed %s (run 'systemctl daemon-reload' and 'systemctl enable --now %s')\n", path, uname);
    return 0;
}

/* ------------------------------------------------------------ qmp */

int cmd_qmp(int argc, char **argv)
{
    static const char usage[] = "qmp NAME COMMAND [ARGUMENTS_JSON] [--timeout SECONDS]";
    struct vm_args va;
    vm_args_init(&va);
    va.timeout_ms = QMP_TIMEOUT_MS;
    int pr = vm_args_parse_n(argc, argv, VA_TIMEOUT, 1, 2, "a VM name and a command are needed", usage,
                             "Executes one QMP command on the VM's monitor and prints its \"return\" value.\n"
                             "Example: ppn-vm qmp web1 query-balloon\n"
                             "         ppn-vm qmp web1 balloon '{\"value\": 1073741824}'\n",
                             &va);
    if (pr)
        return pr < 0 ? 0 : pr;
    const struct common c = va.c;
    const char *name = va.name, *cmd = va.more[0], *args = va.n_more == 2 ? va.more[1] : NULL;
    const uint32_t timeout_ms = va.timeout_ms;
    if (args) {
        json_t *a = json_loads(args, 0, NULL);
        bool ok = json_is_object(a);
        json_decref(a);
        if (!ok)
            return usage_error(usage, "ARGUMENTS_JSON must be a JSON object");
    }
    ppn_qmp *q;
    if (connect_vm(&c, name, &q))
        return 1;
    char *out = NULL;
    int r = ppn_qmp_execute(q, cmd, args, (int)timeout_ms, &out);
    if (r == -EINVAL) {
        ppn_qmp_free(q);
        return usage_error(usage, "COMMAND must be a QMP command name");
    }
    if (r < 0)
        return qmp_fail(q, cmd, name, r);
    ppn_qmp_free(q);
    json_t *o = json_loads(out, JSON_DECODE_ANY, NULL);
    free(out);
    if (c.json) {
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_ENCODE_ANY);
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    }
    return 0;
}
