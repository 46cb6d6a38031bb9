/* mem-hog MIB [SECONDS]: real memory pressure for the pool tests.  Maps MIB
 * MiB of anonymous memory and writes every page (so the kernel charges them
 * to this process's memory cgroup), prints "held MIB MiB" on stdout, and
 * holds them until SIGTERM/SIGINT or SECONDS (default 600) have passed, so
 * that a forgotten hog never outlives its test.  Its oom_score_adj is 1000:
 * if the cgroup runs out, the kernel kills the hog, not a guest. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv)
{
    char *end;
    unsigned long mib = argc >= 2 ? strtoul(argv[1], &end, 10) : 0;
    if (argc < 2 || argc > 3 || *end || mib == 0 || mib > (1UL << 20)) {
        fprintf(stderr, "usage: mem-hog MIB [SECONDS]\n");
        return 2;
    }
    unsigned long secs = argc == 3 ? strtoul(argv[2], &end, 10) : 600;
    if (argc == 3 && (*end || secs == 0 || secs > 86400)) {
        fprintf(stderr, "mem-hog: bad SECONDS '%s'\n", argv[2]);
        return 2;
    }
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "1000", 4) != 4)
            fprintf(stderr, "mem-hog: oom_score_adj: %s\n", strerror(errno));
        close(fd);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    size_t len = (size_t)mib << 20;
    volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "mem-hog: mmap %lu MiB: %s\n", mib, strerror(errno));
        return 1;
    }
    long page = sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < len; i += (size_t)page)
        p[i] = (char)(i | 1); /* non-zero: no zero-page or same-page merging */
    printf("held %lu MiB\n", mib);
    fflush(stdout);
    alarm((unsigned)secs);
    while (!stop)
        pause();
    return 0;
}
