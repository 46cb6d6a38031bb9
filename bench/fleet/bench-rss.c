/* Resident memory of a controller tracking 10,000 nodes, and of an idle
 * agent loop (read /proc, sign, send), each against the floor: the RSS of
 * the same process before it did anything. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

#define NODES 10000

/* Heartbeats of NODES nodes, written by a child so that producing them does
 * not count in the controller's RSS. */
static int make_heartbeats(const char *path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *out = fopen(path, "wb");
        uint8_t pk[32], sk[64], buf[1024];
        ppn_fleet_heartbeat hb;
        if (!out)
            _exit(1);
        for (unsigned i = 0; i < NODES; i++) {
            bench_key(i, pk, sk);
            bench_hb(&hb, pk, i, 1);
            int n = ppn_fleet_heartbeat_sign(&hb, sk, buf, sizeof(buf));
            uint16_t l = (uint16_t)n;
            if (n < 0 || fwrite(pk, 32, 1, out) != 1 || fwrite(&l, 2, 1, out) != 1 ||
                fwrite(buf, l, 1, out) != 1)
                _exit(1);
        }
        _exit(fclose(out) == 0 ? 0 : 1);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int controller(const char *path)
{
    long floor_kib = bench_rss_kib();
    FILE *in = fopen(path, "rb");
    if (!in)
        return 1;
    uint8_t *pks = malloc(32 * NODES), buf[1024];
    uint16_t l;
    ppn_fleet *f;
    for (unsigned i = 0; i < NODES; i++)
        if (fread(pks + 32 * i, 32, 1, in) != 1 || fread(&l, 2, 1, in) != 1 ||
            fseek(in, l, SEEK_CUR) != 0)
            return 1;
    if (ppn_fleet_new(0, &f) < 0 || ppn_fleet_set_members(f, pks, NODES) != NODES)
        return 1;
    free(pks);
    rewind(in);
    for (unsigned i = 0; i < NODES; i++) {
        uint8_t pk[32];
        if (fread(pk, 32, 1, in) != 1 || fread(&l, 2, 1, in) != 1 || l > sizeof(buf) ||
            fread(buf, l, 1, in) != 1 || ppn_fleet_ingest(f, buf, l, NULL, 0, 1) != 0)
            return 1;
    }
    fclose(in);
    long kib = bench_rss_kib();
    printf("controller, %d nodes:  RSS %.2f MiB (floor %.2f MiB, +%.2f MiB; aim < 16 MiB)\n",
           NODES, kib / 1024.0, floor_kib / 1024.0, (kib - floor_kib) / 1024.0);
    ppn_fleet_free(f);
    return 0;
}

static long meminfo_kib(const char *buf, const char *field)
{
    const char *p = strstr(buf, field);
    return p ? strtol(p + strlen(field), NULL, 10) : 0;
}

/* What the agent does every 10 s, in a loop without the sleep. */
static int agent(void)
{
    long floor_kib = bench_rss_kib();
    uint8_t pk[32], sk[64], buf[PPN_FLEET_MESSAGE_MAX];
    bench_key(1, pk, sk);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ppn_fleet_heartbeat hb;
    for (unsigned s = 1; s <= 100; s++) {
        char text[4096];
        int mfd = open("/proc/meminfo", O_RDONLY);
        ssize_t n = read(mfd, text, sizeof(text) - 1);
        close(mfd);
        if (n <= 0)
            return 1;
        text[n] = '\0';
        memset(&hb, 0, sizeof(hb));
        memcpy(hb.node_key, pk, 32);
        hb.seq = s;
        hb.ram_total_bytes = (uint64_t)meminfo_kib(text, "MemTotal:") << 10;
        hb.ram_available_bytes = (uint64_t)meminfo_kib(text, "MemAvailable:") << 10;
        hb.cpu_count = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
        int len = ppn_fleet_heartbeat_sign(&hb, sk, buf, sizeof(buf));
        if (len < 0)
            return 1;
        sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to));
    }
    long kib = bench_rss_kib();
    printf("agent loop, idle:      RSS %.2f MiB (floor %.2f MiB, +%.2f MiB; aim < 2 MiB)\n",
           kib / 1024.0, floor_kib / 1024.0, (kib - floor_kib) / 1024.0);
    close(fd);
    return 0;
}

/* RSS, PSS and private memory of a running process (e.g. a real `ppn-vm agent`). */
static int other_process(const char *pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%s/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    long rss = 0, pss = 0, pc = 0, pd = 0, v;
    if (!f)
        return 1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "Rss: %ld kB", &v) == 1)
            rss = v;
        else if (sscanf(line, "Pss: %ld kB", &v) == 1)
            pss = v;
        else if (sscanf(line, "Private_Clean: %ld kB", &v) == 1)
            pc = v;
        else if (sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
            pd = v;
    }
    fclose(f);
    long floor_kib = bench_rss_kib();
    printf("process %s:  RSS %.2f MiB, PSS %.2f MiB, private %.2f MiB "
           "(floor: this bench's own RSS %.2f MiB)\n",
           pid, rss / 1024.0, pss / 1024.0, (pc + pd) / 1024.0, floor_kib / 1024.0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--pid") == 0)
        return other_process(argv[2]);
    if (argc == 2 && strcmp(argv[1], "agent") == 0)
        return agent();
    if (argc == 3 && strcmp(argv[1], "controller") == 0)
        return controller(argv[2]);
    char path[] = "/tmp/ppn-fleet-bench-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    int r = make_heartbeats(path);
    /* Each measurement in a fresh process. */
    if (r == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "controller", path, (char *)NULL);
            _exit(127);
        }
        int st;
        waitpid(pid, &st, 0);
        r = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
        pid = fork();
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "agent", (char *)NULL);
            _exit(127);
        }
        waitpid(pid, &st, 0);
        r |= WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    }
    unlink(path);
    return r;
}
