/* A real child memory cgroup for the tools' tests that need one (as root):
 * test-hostmem and test-measure.  The child is made under the test's own
 * memory cgroup (v2 when that has the memory controller, else v1) with a
 * limit; a forked process joins it with cgroup_setup_join. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The memory cgroup directory of this process (v2 when it has the memory
 * controller, else v1), from the same files the reader uses. */
static int own_memory_cgroup(char *dir, size_t size, int *version)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f)
        return -1;
    char line[1024], v1[512] = "", v2[512] = "";
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = 0;
        if (strcmp(line, "0::") == 0 || (line[0] == '0' && c1 == line + 1 && c2 == c1 + 1))
            snprintf(v2, sizeof(v2), "%s", c2 + 1);
        else if (strstr(c1 + 1, "memory"))
            snprintf(v1, sizeof(v1), "%s", c2 + 1);
    }
    fclose(f);
    char probe[700];
    snprintf(probe, sizeof(probe), "/sys/fs/cgroup%s/memory.max", strcmp(v2, "/") ? v2 : "");
    if (*v2 && access(probe, F_OK) == 0) {
        snprintf(dir, size, "/sys/fs/cgroup%s", strcmp(v2, "/") ? v2 : "");
        *version = 2;
        return 0;
    }
    if (*v1) {
        snprintf(dir, size, "/sys/fs/cgroup/memory%s", strcmp(v1, "/") ? v1 : "");
        *version = 1;
        return 0;
    }
    return -1;
}

/* Makes child 'tag'-PID of this process's memory cgroup with a limit of
 * 'limit' bytes; its directory in child[size], its version in *version.
 * NULL, or the step that failed (errno tells why). */
static const char *cgroup_setup_child(const char *tag, uint64_t limit, char *child, size_t size, int *version)
{
    char own[600], path[800];
    if (own_memory_cgroup(own, sizeof(own), version) < 0)
        return "no memory cgroup found";
    snprintf(child, size, "%s/%s-%d", own, tag, (int)getpid());
    if (mkdir(child, 0755) < 0)
        return "mkdir of the child cgroup";
    if (*version == 2) {
        /* the parent must delegate the memory controller */
        snprintf(path, sizeof(path), "%s/cgroup.subtree_control", own);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs("+memory", f);
            fclose(f);
        }
    }
    snprintf(path, sizeof(path), "%s/%s", child, *version == 2 ? "memory.max" : "memory.limit_in_bytes");
    FILE *f = fopen(path, "w");
    if (!f)
        return "open of the child's limit";
    fprintf(f, "%llu\n", (unsigned long long)limit);
    return fclose(f) == 0 ? NULL : "write of the child's limit";
}

/* The calling process joins 'child'.  0 or -1. */
static int cgroup_setup_join(const char *child)
{
    char path[800];
    snprintf(path, sizeof(path), "%s/cgroup.procs", child);
    FILE *p = fopen(path, "w");
    if (!p)
        return -1;
    int bad = fprintf(p, "%d\n", (int)getpid()) < 0;
    return fclose(p) != 0 || bad ? -1 : 0;
}

/* Runs fn in a child process that joined 'child': the child exits with
 * fn's status (2 when it could not join) after sending out[size] back, and
 * the caller gets those bytes in out.  The child's exit status, or -1 when
 * fork, pipe or the read back failed. */
static int cgroup_setup_run(const char *child, int (*fn)(void *out, size_t size), void *out, size_t size)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(pfd[0]);
        if (cgroup_setup_join(child) < 0)
            _exit(2);
        int st = fn(out, size);
        _exit(write(pfd[1], out, size) == (ssize_t)size ? st : 5);
    }
    close(pfd[1]);
    ssize_t n = read(pfd[0], out, size);
    close(pfd[0]);
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return n == (ssize_t)size ? WEXITSTATUS(st) : -1;
}
