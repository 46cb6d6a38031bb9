/* Which accelerator runs guests here.
 *
 * /dev/kvm opening, or even QEMU bringing up a paused KVM vCPU, proves
 * nothing: on nested cloud machines QEMU starts under -accel kvm and the
 * guest then never gets anywhere (Linux stops after its real-mode setup,
 * each guest page-table write costing a trip through two hypervisors).  So
 * the probe runs guest code the way a kernel does: QEMU boots a 278-byte
 * multiboot image (below) that enters long mode, rewrites a live page table
 * 512 times, touches every page it maps, checks what it wrote and reports
 * through the isa-debug-exit port.  KVM is usable when that completes within
 * a deadline under -accel kvm -cpu host, the CPU model guests get.
 *
 * The image is handed to QEMU as a memfd (no file is written), QEMU's output
 * goes to /dev/null and no pipe is written, so SIGPIPE cannot arise; the
 * process is started with posix_spawn and reaped here, bounded by the
 * deadline (SIGKILL after it). */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ppn-common.h"
#include "ppn/vmm.h"
#include "vmm-internal.h"

extern char **environ;

/* ---- step 1, in this process: a vCPU that runs HLT (cheap, no QEMU) ---- */

static int kvm_hlt_runs(void)
{
    int ok = 0, kvm = -1, vm = -1, vcpu = -1;
    void *mem = MAP_FAILED, *run = MAP_FAILED;
    long runsz = 0;
    kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        return 0;
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        goto out;
    vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
    if (vm < 0)
        goto out;
    mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        goto out;
    ((unsigned char *)mem)[0] = 0xf4; /* hlt */
    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0x1000, .memory_size = 0x1000,
        .userspace_addr = (uint64_t)(uintptr_t)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        goto out;
    vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
    if (vcpu < 0)
        goto out;
    runsz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (runsz <= 0)
        goto out;
    run = mmap(NULL, (size_t)runsz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        goto out;
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        goto out;
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        goto out;
    struct kvm_regs regs = {.rip = 0x1000, .rflags = 0x2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        goto out;
    for (int i = 0; i < 4; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        ok = ((struct kvm_run *)run)->exit_reason == KVM_EXIT_HLT;
        break;
    }
out:
    if (run != MAP_FAILED)
        munmap(run, (size_t)runsz);
    if (mem != MAP_FAILED)
        munmap(mem, 0x1000);
    if (vcpu >= 0)
        close(vcpu);
    if (vm >= 0)
        close(vm);
    close(kvm);
    return ok;
}

/* ---- step 2: QEMU runs the payload ----
 *
 * Assembled from accel-payload.S (GNU as, loaded at 1 MiB by QEMU's multiboot loader, which
 * enters it in 32-bit protected mode with paging off):
 *
 *   header: 0x1BADB002, flags 0x00010000 (addresses below), checksum,
 *           header_addr = load_addr = 0x100000, load_end = bss_end = 0
 *           (the whole file), entry = 0x100020
 *   start:  cli; zero 0x102000..0x105fff (PML4, PDPT, PD, PT)
 *           PML4[0] = 0x103003; PDPT[0] = 0x104003
 *           PD[0] = 0x83 (2 MiB page at 0); PD[1] = 0x105003 (PT: 2..4 MiB)
 *           CR4.PAE; CR3 = 0x102000; EFER.LME (wrmsr 0xC0000080)
 *           CR0 |= PG|PE; lgdt; ljmp 0x08:long64
 *   long64: r8 = 512
 *     3:    PT[i] = 0x200003 + i * 0x1000 for i < 512   (the live table)
 *           reload CR3 (flush)
 *           add r8d to the first dword of each of the 512 pages
 *           dec r8; jnz 3b
 *           every page must hold 512 * 513 / 2 = 131328, else hlt forever
 *           out 0x2a -> port 0xf4 (QEMU exits with status 0x2a * 2 + 1)
 *     2:    hlt; jmp 2b
 *   gdt:    null, 64-bit code (0x00209A0000000000); gdtr = {15, gdt}
 */
const unsigned char vmm_accel_payload[] = {
    0x02, 0xb0, 0xad, 0x1b, 0x00, 0x00, 0x01, 0x00, 0xfe, 0x4f, 0x51, 0xe4, 0x00, 0x00, 0x10, 0x00,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x10, 0x00,
    0xfa, 0xbf, 0x00, 0x20, 0x10, 0x00, 0x31, 0xc0, 0xb9, 0x00, 0x10, 0x00, 0x00, 0xf3, 0xab, 0xc7,
    0x05, 0x00, 0x20, 0x10, 0x00, 0x03, 0x30, 0x10, 0x00, 0xc7, 0x05, 0x00, 0x30, 0x10, 0x00, 0x03,
    0x40, 0x10, 0x00, 0xc7, 0x05, 0x00, 0x40, 0x10, 0x00, 0x83, 0x00, 0x00, 0x00, 0xc7, 0x05, 0x08,
    0x40, 0x10, 0x00, 0x03, 0x50, 0x10, 0x00, 0x0f, 0x20, 0xe0, 0x83, 0xc8, 0x20, 0x0f, 0x22, 0xe0,
    0xb8, 0x00, 0x20, 0x10, 0x00, 0x0f, 0x22, 0xd8, 0xb9, 0x80, 0x00, 0x00, 0xc0, 0x0f, 0x32, 0x0d,
    0x00, 0x01, 0x00, 0x00, 0x0f, 0x30, 0x0f, 0x20, 0xc0, 0x0d, 0x01, 0x00, 0x00, 0x80, 0x0f, 0x22,
    0xc0, 0x0f, 0x01, 0x15, 0x10, 0x01, 0x10, 0x00, 0xea, 0x8f, 0x00, 0x10, 0x00, 0x08, 0x00, 0x41,
    0xb8, 0x00, 0x02, 0x00, 0x00, 0x48, 0xc7, 0xc7, 0x00, 0x50, 0x10, 0x00, 0xb8, 0x03, 0x00, 0x20,
    0x00, 0xb9, 0x00, 0x02, 0x00, 0x00, 0x48, 0x89, 0x07, 0x48, 0x83, 0xc7, 0x08, 0x05, 0x00, 0x10,
    0x00, 0x00, 0xe2, 0xf2, 0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8, 0x48, 0xc7, 0xc7, 0x00, 0x00, 0x20,
    0x00, 0xb9, 0x00, 0x02, 0x00, 0x00, 0x44, 0x01, 0x07, 0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00,
    0xe2, 0xf4, 0x41, 0xff, 0xc8, 0x75, 0xbe, 0x48, 0xc7, 0xc7, 0x00, 0x00, 0x20, 0x00, 0xb9, 0x00,
    0x02, 0x00, 0x00, 0x81, 0x3f, 0x00, 0x01, 0x02, 0x00, 0x75, 0x10, 0x48, 0x81, 0xc7, 0x00, 0x10,
    0x00, 0x00, 0xe2, 0xef, 0x66, 0xba, 0xf4, 0x00, 0xb0, 0x2a, 0xee, 0xf4, 0xeb, 0xfd, 0x66, 0x90,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9a, 0x20, 0x00,
    0x0f, 0x00, 0x00, 0x01, 0x10, 0x00,
};
const size_t vmm_accel_payload_len = sizeof(vmm_accel_payload);
#define PAYLOAD_EXIT_STATUS (0x2a * 2 + 1)

/* poll() on a pidfd wakes when the child exits; without pidfd_open (before
 * Linux 5.3) the wait falls back to 5 ms steps. */
static int pidfd_open_(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

/* 1: the child exited, *st set; 0: still running at 'deadline'. */
static int wait_until(pid_t pid, uint64_t deadline, int *st)
{
    int pfd = pidfd_open_(pid);
    for (;;) {
        pid_t w = waitpid(pid, st, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR)) {
            if (pfd >= 0)
                close(pfd);
            if (w < 0)
                *st = -1;
            return 1;
        }
        uint64_t now = ppnc_now_mono_ms();
        if (now >= deadline)
            break;
        int step = deadline - now > 1000 ? 1000 : (int)(deadline - now);
        if (pfd >= 0) {
            struct pollfd p = {.fd = pfd, .events = POLLIN};
            poll(&p, 1, step);
        } else {
            struct timespec ts = {0, (step < 5 ? step : 5) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (pfd >= 0)
        close(pfd);
    return 0;
}

PPN_EXPORT int ppn_vmm_accel_probe(const char *qemu_binary, unsigned accel, int timeout_ms,
                                   uint32_t *ret_elapsed_ms)
{
    if ((accel != PPN_VM_ACCEL_KVM && accel != PPN_VM_ACCEL_TCG) || timeout_ms <= 0)
        return -EINVAL;
    const char *bin = qemu_binary && *qemu_binary ? qemu_binary : "qemu-system-x86_64";
    uint64_t t0 = ppnc_now_mono_ms();
    if (accel == PPN_VM_ACCEL_KVM && !kvm_hlt_runs()) {
        if (ret_elapsed_ms)
            *ret_elapsed_ms = (uint32_t)(ppnc_now_mono_ms() - t0);
        return 0;
    }

    /* The image as a memfd, seen by QEMU as /dev/fd/3. */
    int mfd = memfd_create("ppn-accel-probe", MFD_CLOEXEC);
    if (mfd < 0)
        return -errno;
    int r = ppnc_write_all(mfd, vmm_accel_payload, sizeof(vmm_accel_payload));
    if (r < 0) {
        close(mfd);
        return r;
    }
    if (mfd == 3) { /* dup2(3, 3) would keep O_CLOEXEC */
        int m = fcntl(mfd, F_DUPFD_CLOEXEC, 4);
        close(mfd);
        if (m < 0)
            return -errno;
        mfd = m;
    }
    char *const argv[] = {
        (char *)bin, "-accel", accel == PPN_VM_ACCEL_KVM ? "kvm" : "tcg",
        "-cpu", accel == PPN_VM_ACCEL_KVM ? "host" : "max",
        "-m", "16", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        "-kernel", "/dev/fd/3", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    if ((r = posix_spawn_file_actions_init(&fa)) != 0) {
        close(mfd);
        return -r;
    }
    if ((r = posix_spawnattr_init(&at)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        close(mfd);
        return -r;
    }
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGINT);
    r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!r)
        r = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (!r)
        r = posix_spawn_file_actions_adddup2(&fa, mfd, 3);
    if (!r)
        r = posix_spawnattr_setsigmask(&at, &none);
    if (!r)
        r = posix_spawnattr_setsigdefault(&at, &dfl);
    if (!r)
        r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    if (!r)
        r = posix_spawnp(&pid, bin, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(mfd);
    if (r != 0)
        return -r;

    int st = 0;
    if (!wait_until(pid, t0 + (uint64_t)timeout_ms, &st)) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        st = -1;
    }
    if (ret_elapsed_ms)
        *ret_elapsed_ms = (uint32_t)(ppnc_now_mono_ms() - t0);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 127)
        return -ENOENT; /* posix_spawnp's child could not exec the binary */
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == PAYLOAD_EXIT_STATUS;
}

PPN_EXPORT int ppn_vmm_kvm_probe(const char *qemu_binary)
{
    return ppn_vmm_accel_probe(qemu_binary, PPN_VM_ACCEL_KVM, (int)PPN_VMM_KVM_PROBE_TIMEOUT_MS, NULL);
}

/* One answer per QEMU binary per process. */
struct probe_cache {
    struct probe_cache *next;
    int usable;
    char binary[];
};
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct probe_cache *cache;

static int kvm_usable_for(const char *qemu_binary)
{
    const char *bin = qemu_binary && *qemu_binary ? qemu_binary : "qemu-system-x86_64";
    pthread_mutex_lock(&cache_lock); /* held across the probe: one probe per binary */
    struct probe_cache *c;
    for (c = cache; c; c = c->next)
        if (!strcmp(c->binary, bin))
            break;
    int usable;
    if (c) {
        usable = c->usable;
    } else {
        usable = ppn_vmm_kvm_probe(bin) == 1;
        size_t n = strlen(bin) + 1;
        c = malloc(sizeof(*c) + n);
        if (c) { /* without memory the next call probes again */
            c->usable = usable;
            memcpy(c->binary, bin, n);
            c->next = cache;
            cache = c;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return usable;
}

PPN_EXPORT int ppn_vmm_kvm_usable(void)
{
    return kvm_usable_for(NULL);
}

PPN_EXPORT int ppn_vm_accel_resolve(const char *qemu_binary, unsigned flags)
{
    if ((flags & PPN_VM_ACCEL_KVM) && (flags & PPN_VM_ACCEL_TCG))
        return -EINVAL;
    if (flags & PPN_VM_ACCEL_KVM)
        return (int)PPN_VM_ACCEL_KVM;
    if (flags & PPN_VM_ACCEL_TCG)
        return (int)PPN_VM_ACCEL_TCG;
    return (int)(kvm_usable_for(qemu_binary) ? PPN_VM_ACCEL_KVM : PPN_VM_ACCEL_TCG);
}

PPN_EXPORT const char *ppn_vm_accel_name(unsigned accel)
{
    return accel == PPN_VM_ACCEL_KVM ? "kvm" : accel == PPN_VM_ACCEL_TCG ? "tcg" : NULL;
}
