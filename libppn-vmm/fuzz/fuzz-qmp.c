/* Fuzzes the QMP reply/event parser and the client's stream handling: the
 * input is what a (hostile or broken) QEMU writes on the monitor socket,
 * replayed through a real socketpair to a client that connects, executes
 * commands, waits for events and drains the queue.  Every line also goes
 * through qmp_parse_line directly. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ppn/vmm.h"
#include "qmp-internal.h"
#include "vmm-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int any_event(const char *name, const char *data_json, void *ud)
{
    (void)name;
    (void)ud;
    return data_json[0] == '{';
}

static void on_event(const char *name, const char *data, int64_t s, int64_t us, void *ud)
{
    (void)s;
    (void)us;
    *(size_t *)ud += strlen(name) + strlen(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 60000)
        return 0;
    /* line by line through the parser */
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\n') {
            struct qmp_msg m;
            if (qmp_parse_line((const char *)data + start, i - start, &m) == 0)
                qmp_msg_clear(&m);
            start = i + 1;
        }
    }

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 0;
    int sz = 1 << 18;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(sv[0], data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    shutdown(sv[0], SHUT_WR); /* EOF after the input: nothing waits for a timeout */
    fcntl(sv[1], F_SETFL, O_NONBLOCK);

    ppn_qmp *q;
    if (qmp_connect_fd(sv[1], 50, &q) == 0) {
        size_t seen = 0;
        ppn_qmp_set_event_callback(q, on_event, &seen);
        char *out = NULL;
        if (ppn_qmp_execute(q, "query-status", NULL, 50, &out) == 0)
            free(out);
        ppn_qmp_status st;
        ppn_qmp_query_status(q, 50, &st);
        uint64_t actual;
        ppn_qmp_balloon_query(q, 50, &actual);
        ppn_vmm_guest_stats gs;
        ppn_qmp_guest_stats(q, NULL, 50, &gs);
        char *ev = NULL;
        if (ppn_qmp_wait_event(q, "BALLOON_CHANGE", any_event, NULL, 10, &ev) == 0)
            free(ev);
        ppn_qmp_poll(q, 0);
        char *name, *d;
        while (ppn_qmp_next_event(q, &name, &d) == 0) {
            free(name);
            free(d);
        }
        ppn_qmp_free(q); /* closes sv[1] */
    } else {
        close(sv[1]);
    }
    close(sv[0]);
    return 0;
}
