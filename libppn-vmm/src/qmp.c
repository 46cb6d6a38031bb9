/* The QMP client: one connection, commands with numeric ids and deadlines,
 * events delivered to a callback and kept in a bounded queue in arrival
 * order, whatever their order relative to the replies. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ppn-common.h"
#include "ppn/vmm.h"
#include "qmp-internal.h"
#include "vmm-internal.h"

struct qmp_event {
    char *name;
    char *data;
};

struct ppn_qmp {
    int fd;
    int broken;           /* 0, or the error that broke the connection */
    char *rbuf;
    size_t rlen, rcap, rscan;
    int64_t next_id;
    char version[48];
    ppn_qmp_event_fn cb;
    void *cb_userdata;
    struct qmp_event *q; /* ring of PPN_QMP_EVENT_QUEUE_MAX */
    size_t qhead, qlen;
    uint64_t dropped;
    char err_class[64];
    char *err_desc;
};


PPN_EXPORT void ppn_vmm_strv_free(char **strv)
{
    if (!strv)
        return;
    for (char **p = strv; *p; p++)
        free(*p);
    free(strv);
}

static uint64_t deadline_after(int timeout_ms)
{
    return ppnc_now_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = ppnc_now_mono_ms();
    if (now >= deadline)
        return 0;
    uint64_t r = deadline - now;
    return r > 1000000000u ? 1000000000 : (int)r;
}

static int qmp_break(ppn_qmp *qmp, int err)
{
    if (!qmp->broken)
        qmp->broken = err;
    return err;
}

/* Waits for 'events' on the socket until 'deadline'.  1 ready, 0 timeout. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, remaining_ms(deadline));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        return r > 0;
    }
}

static int send_all(ppn_qmp *qmp, const char *buf, size_t len, uint64_t deadline)
{
    while (len > 0) {
        ssize_t n = send(qmp->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                int r = wait_fd(qmp->fd, POLLOUT, deadline);
                if (r < 0)
                    return r;
                if (r == 0)
                    return -ETIMEDOUT; /* QEMU does not read: the stream is now cut mid-line */
                continue;
            }
            if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
                return -ECONNRESET;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one line into ret_line and ret_len (valid until the next read;
 * newline excluded): 0, -ETIMEDOUT, -ECONNRESET, -EMSGSIZE.
 * rbuf[rscan..rlen) is what is not consumed yet: handing out a buffered
 * line only moves rscan, and the remainder (at most a partial line) is
 * moved to the front only before a recv, so a burst of lines costs linear
 * time.  A blocking read returns -ETIMEDOUT once 'deadline' has passed even
 * while lines keep arriving (a flood of events cannot hold a call). */
static int read_line(ppn_qmp *qmp, uint64_t deadline, bool block, const char **ret_line,
                     size_t *ret_len)
{
    if (block && ppnc_now_mono_ms() >= deadline)
        return -ETIMEDOUT;
    size_t searched = qmp->rscan;
    for (;;) {
        char *nl = qmp->rlen > searched ? memchr(qmp->rbuf + searched, '\n', qmp->rlen - searched) : NULL;
        if (nl) {
            *ret_line = qmp->rbuf + qmp->rscan;
            *ret_len = (size_t)(nl - *ret_line);
            qmp->rscan = (size_t)(nl - qmp->rbuf) + 1;
            return 0;
        }
        if (qmp->rlen - qmp->rscan > PPN_QMP_LINE_MAX)
            return -EMSGSIZE;
        if (qmp->rscan > 0) { /* keep only the partial line */
            memmove(qmp->rbuf, qmp->rbuf + qmp->rscan, qmp->rlen - qmp->rscan);
            qmp->rlen -= qmp->rscan;
            qmp->rscan = 0;
        }
        searched = qmp->rlen;
        if (qmp->rcap - qmp->rlen < 16384) {
            size_t ncap = qmp->rcap ? qmp->rcap * 2 : 65536;
            char *n = realloc(qmp->rbuf, ncap);
            if (!n)
                return -ENOMEM;
            qmp->rbuf = n;
            qmp->rcap = ncap;
        }
        ssize_t n = recv(qmp->fd, qmp->rbuf + qmp->rlen, qmp->rcap - qmp->rlen, MSG_DONTWAIT);
        if (n > 0) {
            qmp->rlen += (size_t)n;
            continue;
        }
        if (n == 0)
            return -ECONNRESET; /* EOF, possibly mid-line */
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET || errno == EPIPE)
            return -ECONNRESET;
        if (errno != EAGAIN)
            return -errno;
        if (!block)
            return -ETIMEDOUT;
        int r = wait_fd(qmp->fd, POLLIN, deadline);
        if (r < 0)
            return r;
        if (r == 0)
            return -ETIMEDOUT;
    }
}

static int queue_event(ppn_qmp *qmp, const struct qmp_msg *m)
{
    char *data = m->data ? json_dumps(m->data, JSON_COMPACT) : strdup("{}");
    if (!data)
        return -ENOMEM;
    if (qmp->cb)
        qmp->cb(m->event, data, m->ts_sec, m->ts_usec, qmp->cb_userdata);
    char *name = strdup(m->event);
    if (!name) {
        free(data);
        return -ENOMEM;
    }
    if (qmp->qlen == PPN_QMP_EVENT_QUEUE_MAX) {
        struct qmp_event *old = &qmp->q[qmp->qhead];
        free(old->name);
        free(old->data);
        qmp->qhead = (qmp->qhead + 1) % PPN_QMP_EVENT_QUEUE_MAX;
        qmp->qlen--;
        qmp->dropped++;
    }
    struct qmp_event *e = &qmp->q[(qmp->qhead + qmp->qlen) % PPN_QMP_EVENT_QUEUE_MAX];
    e->name = name;
    e->data = data;
    qmp->qlen++;
    return 0;
}

/* Reads and handles one message.  Events are queued; for a reply, *msg is
 * left filled for the caller (kind RETURN/ERROR).  For events and blank
 * lines msg->kind is EVENT/BLANK and msg is cleared. */
static int read_msg(ppn_qmp *qmp, uint64_t deadline, bool block, struct qmp_msg *msg)
{
    const char *line = NULL;
    size_t len = 0;
    int r = read_line(qmp, deadline, block, &line, &len);
    if (r == -ETIMEDOUT)
        return r;
    if (r < 0)
        return qmp_break(qmp, r);
    r = qmp_parse_line(line, len, msg);
    if (r < 0)
        return qmp_break(qmp, r);
    if (msg->kind == QMP_MSG_EVENT) {
        r = queue_event(qmp, msg);
        qmp_msg_clear(msg);
        msg->kind = QMP_MSG_EVENT;
        return r;
    }
    if (msg->kind == QMP_MSG_GREETING) {
        /* only valid right after connecting; handled there */
        return 0;
    }
    return 0;
}

static void set_error(ppn_qmp *qmp, const char *cls, const char *desc)
{
    if (!cls && !desc) { /* every command: keep it cheap */
        qmp->err_class[0] = '\0';
        if (qmp->err_desc) {
            free(qmp->err_desc);
            qmp->err_desc = NULL;
        }
        return;
    }
    snprintf(qmp->err_class, sizeof(qmp->err_class), "%s", cls ? cls : "");
    free(qmp->err_desc);
    qmp->err_desc = desc ? strdup(desc) : NULL;
    /* text from the monitor goes to terminals and logs: no escapes, no
     * line breaks */
    for (char *p = qmp->err_class; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    for (char *p = qmp->err_desc; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* {"execute":"<command>"[,"arguments":<args>],"id":<id>}\n without printf
 * (this is on every round trip).  -1 when it does not fit. */
static int format_request(char *buf, size_t size, const char *command, const char *args, int64_t id)
{
    size_t cl = strlen(command), al = args ? strlen(args) : 0, o = 0;
    if (cl + al + 64 > size)
        return -1;
    memcpy(buf + o, "{\"execute\":\"", 12);
    o += 12;
    memcpy(buf + o, command, cl);
    o += cl;
    buf[o++] = '"';
    if (args) {
        memcpy(buf + o, ",\"arguments\":", 13);
        o += 13;
        memcpy(buf + o, args, al);
        o += al;
    }
    memcpy(buf + o, ",\"id\":", 6);
    o += 6;
    char digits[24];
    int nd = 0;
    uint64_t v = (uint64_t)id; /* ids count up from 1 */
    do
        digits[nd++] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    while (nd > 0)
        buf[o++] = digits[--nd];
    buf[o++] = '}';
    buf[o++] = '\n';
    return (int)o;
}

static int execute_deadline(ppn_qmp *qmp, const char *command, const char *args, uint64_t deadline,
                            char **ret_return_json, json_t **ret_return)
{
    if (qmp->broken)
        return -ENOTCONN;
    set_error(qmp, NULL, NULL);

    int64_t id = qmp->next_id++;
    char small[256], *req = small;
    int n = format_request(small, sizeof(small), command, args, id);
    if (n < 0 && asprintf(&req, "{\"execute\":\"%s\",\"arguments\":%s,\"id\":%lld}\n", command,
                          args ? args : "{}", (long long)id) < 0)
        return -ENOMEM;
    if (n < 0)
        n = (int)strlen(req);
    int r = send_all(qmp, req, (size_t)n, deadline);
    if (req != small)
        free(req);
    if (r == -ETIMEDOUT)
        return qmp_break(qmp, r); /* a half-sent request cannot be resynchronised */
    if (r < 0)
        return qmp_break(qmp, r);

    for (;;) {
        struct qmp_msg m;
        r = read_msg(qmp, deadline, true, &m);
        if (r < 0)
            return r;
        if (m.kind == QMP_MSG_EVENT || m.kind == QMP_MSG_BLANK)
            continue;
        if (m.kind == QMP_MSG_GREETING) {
            qmp_msg_clear(&m);
            return qmp_break(qmp, -EPROTO);
        }
        if (!m.has_id) {
            /* QEMU could not parse a request: nothing to match it to */
            qmp_msg_clear(&m);
            return qmp_break(qmp, -EPROTO);
        }
        if (!m.id_is_int || m.id != id) {
            qmp_msg_clear(&m); /* late reply to a command that timed out */
            continue;
        }
        if (m.kind == QMP_MSG_ERROR) {
            set_error(qmp, m.err_class, m.err_desc);
            qmp_msg_clear(&m);
            return -EREMOTEIO;
        }
        if (ret_return)
            *ret_return = json_incref(m.ret);
        if (ret_return_json) {
            char *s = json_dumps(m.ret, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!s) {
                if (ret_return)
                    json_decref(*ret_return);
                qmp_msg_clear(&m);
                return -ENOMEM;
            }
            *ret_return_json = s;
        }
        qmp_msg_clear(&m);
        return 0;
    }
}

static bool command_name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

PPN_EXPORT int ppn_qmp_execute(ppn_qmp *qmp, const char *command, const char *arguments_json,
                               int timeout_ms, char **ret_return_json)
{
    if (!qmp || !command_name_ok(command) || timeout_ms <= 0)
        return -EINVAL;
    char *args = NULL;
    if (arguments_json) {
        json_error_t jerr;
        json_t *a = json_loads(arguments_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(a)) {
            json_decref(a);
            return -EINVAL;
        }
        args = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        if (!args)
            return -ENOMEM;
    }
    int r = execute_deadline(qmp, command, args, deadline_after(timeout_ms), ret_return_json, NULL);
    free(args);
    return r;
}

/* For the operations: arguments built by the library (already compact). */
int qmp_execute_internal(ppn_qmp *qmp, const char *command, const char *args, int timeout_ms,
                         char **ret_return_json)
{
    if (!qmp || timeout_ms <= 0)
        return -EINVAL;
    return execute_deadline(qmp, command, args, deadline_after(timeout_ms), ret_return_json, NULL);
}

int qmp_execute_json(ppn_qmp *qmp, const char *command, const char *args, int timeout_ms,
                     json_t **ret_return)
{
    if (!qmp || timeout_ms <= 0 || !ret_return)
        return -EINVAL;
    return execute_deadline(qmp, command, args, deadline_after(timeout_ms), NULL, ret_return);
}

/* Greeting and capabilities negotiation. */
static int handshake(ppn_qmp *qmp, uint64_t deadline)
{
    int r;
    for (;;) {
        struct qmp_msg m;
        r = read_msg(qmp, deadline, true, &m);
        if (r < 0)
            return r;
        if (m.kind == QMP_MSG_BLANK || m.kind == QMP_MSG_EVENT)
            continue;
        if (m.kind != QMP_MSG_GREETING) {
            qmp_msg_clear(&m);
            return -EPROTO;
        }
        snprintf(qmp->version, sizeof(qmp->version), "%s", m.version);
        qmp_msg_clear(&m);
        break;
    }
    r = execute_deadline(qmp, "qmp_capabilities", NULL, deadline, NULL, NULL);
    return r == -EREMOTEIO ? -EPROTO : r;
}

static ppn_qmp *qmp_alloc(void)
{
    ppn_qmp *qmp = calloc(1, sizeof(*qmp));
    if (!qmp)
        return NULL;
    qmp->fd = -1;
    qmp->next_id = 1;
    qmp->q = calloc(PPN_QMP_EVENT_QUEUE_MAX, sizeof(*qmp->q));
    if (!qmp->q) {
        free(qmp);
        return NULL;
    }
    return qmp;
}

int qmp_connect_fd(int fd, int timeout_ms, ppn_qmp **ret_qmp)
{
    ppn_qmp *qmp = qmp_alloc();
    if (!qmp)
        return -ENOMEM;
    qmp->fd = fd;
    int r = handshake(qmp, deadline_after(timeout_ms));
    if (r < 0) {
        qmp->fd = -1; /* the caller keeps its fd on failure */
        ppn_qmp_free(qmp);
        return r;
    }
    *ret_qmp = qmp;
    return 0;
}

PPN_EXPORT int ppn_qmp_connect(const char *socket_path, int timeout_ms, ppn_qmp **ret_qmp)
{
    if (!socket_path || !ret_qmp || timeout_ms <= 0)
        return -EINVAL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(socket_path);
    if (plen == 0 || plen >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, socket_path, plen);
    uint64_t deadline = deadline_after(timeout_ms);

    ppn_qmp *qmp = qmp_alloc();
    if (!qmp)
        return -ENOMEM;
    qmp->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int r;
    if (qmp->fd < 0) {
        r = -errno;
        goto fail;
    }
    /* A UNIX socket whose backlog is full (QEMU serves one monitor client
     * and another holds it) refuses a non-blocking connect with EAGAIN at
     * once; there is nothing to poll for, so try again until the deadline. */
    while (connect(qmp->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EINPROGRESS) {
            int left = remaining_ms(deadline);
            if (left == 0) {
                r = -ETIMEDOUT;
                goto fail;
            }
            struct timespec ts = {0, (left < 20 ? left : 20) * 1000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        r = -errno;
        goto fail;
    }

    r = handshake(qmp, deadline);
    if (r < 0)
        goto fail;
    *ret_qmp = qmp;
    return 0;
fail:
    ppn_qmp_free(qmp);
    return r;
}

PPN_EXPORT void ppn_qmp_free(ppn_qmp *qmp)
{
    if (!qmp)
        return;
    if (qmp->fd >= 0)
        close(qmp->fd);
    if (qmp->q)
        for (size_t i = 0; i < qmp->qlen; i++) {
            struct qmp_event *e = &qmp->q[(qmp->qhead + i) % PPN_QMP_EVENT_QUEUE_MAX];
            free(e->name);
            free(e->data);
        }
    free(qmp->q);
    free(qmp->rbuf);
    free(qmp->err_desc);
    free(qmp);
}

PPN_EXPORT const char *ppn_qmp_qemu_version(const ppn_qmp *qmp)
{
    return qmp ? qmp->version : "";
}

PPN_EXPORT void ppn_qmp_set_event_callback(ppn_qmp *qmp, ppn_qmp_event_fn fn, void *userdata)
{
    if (!qmp)
        return;
    qmp->cb = fn;
    qmp->cb_userdata = userdata;
}

PPN_EXPORT const char *ppn_qmp_last_error_class(const ppn_qmp *qmp)
{
    return qmp ? qmp->err_class : "";
}

PPN_EXPORT const char *ppn_qmp_last_error_desc(const ppn_qmp *qmp)
{
    return qmp && qmp->err_desc ? qmp->err_desc : "";
}

PPN_EXPORT uint64_t ppn_qmp_events_dropped(const ppn_qmp *qmp)
{
    return qmp ? qmp->dropped : 0;
}

PPN_EXPORT int ppn_qmp_fd(const ppn_qmp *qmp)
{
    return qmp ? qmp->fd : -EINVAL;
}

/* Reads until 'deadline' (or only what is buffered/readable if !block).
 * Returns the number of events read, stops early after 'stop_after' events
 * (0: no early stop). */
static int poll_until(ppn_qmp *qmp, uint64_t deadline, bool block, int stop_after)
{
    int events = 0;
    /* without blocking, at most one queue's worth: a monitor that writes
     * faster than this reads cannot hold the call */
    for (unsigned handled = 0; block || handled < PPN_QMP_EVENT_QUEUE_MAX; handled++) {
        struct qmp_msg m;
        int r = read_msg(qmp, deadline, block, &m);
        if (r == -ETIMEDOUT)
            return events;
        if (r < 0)
            return r;
        if (m.kind == QMP_MSG_EVENT) {
            events++;
            if (stop_after && events >= stop_after)
                return events;
        } else if (m.kind != QMP_MSG_BLANK) {
            /* a reply nobody waits for any more (its command timed out) */
            qmp_msg_clear(&m);
        }
    }
    return events;
}

PPN_EXPORT int ppn_qmp_poll(ppn_qmp *qmp, int timeout_ms)
{
    if (!qmp || timeout_ms < 0)
        return -EINVAL;
    if (qmp->broken)
        return -ENOTCONN;
    return poll_until(qmp, deadline_after(timeout_ms), timeout_ms > 0, 0);
}

PPN_EXPORT int ppn_qmp_next_event(ppn_qmp *qmp, char **ret_name, char **ret_data_json)
{
    if (!qmp || !ret_name || !ret_data_json)
        return -EINVAL;
    if (qmp->qlen == 0)
        return -EAGAIN;
    struct qmp_event *e = &qmp->q[qmp->qhead];
    *ret_name = e->name;
    *ret_data_json = e->data;
    e->name = e->data = NULL;
    qmp->qhead = (qmp->qhead + 1) % PPN_QMP_EVENT_QUEUE_MAX;
    qmp->qlen--;
    return 0;
}

/* Finds, removes and returns the first queued event matching from index
 * 'from' on.  1 found, 0 not. */
static int take_match(ppn_qmp *qmp, size_t from, const char *name, ppn_qmp_event_match_fn match,
                      void *userdata, char **ret_data)
{
    for (size_t i = from; i < qmp->qlen; i++) {
        struct qmp_event *e = &qmp->q[(qmp->qhead + i) % PPN_QMP_EVENT_QUEUE_MAX];
        if (strcmp(e->name, name) != 0)
            continue;
        if (match && !match(e->name, e->data, userdata))
            continue;
        if (ret_data)
            *ret_data = e->data;
        else
            free(e->data);
        free(e->name);
        /* close the gap, keeping order */
        for (size_t j = i; j + 1 < qmp->qlen; j++)
            qmp->q[(qmp->qhead + j) % PPN_QMP_EVENT_QUEUE_MAX] =
                qmp->q[(qmp->qhead + j + 1) % PPN_QMP_EVENT_QUEUE_MAX];
        qmp->qlen--;
        return 1;
    }
    return 0;
}

PPN_EXPORT int ppn_qmp_wait_event(ppn_qmp *qmp, const char *name, ppn_qmp_event_match_fn match,
                                  void *userdata, int timeout_ms, char **ret_data_json)
{
    if (!qmp || !name || !*name || timeout_ms < 0)
        return -EINVAL;
    uint64_t deadline = deadline_after(timeout_ms);
    if (take_match(qmp, 0, name, match, userdata, ret_data_json))
        return 0;
    if (qmp->broken)
        return qmp->broken == -ECONNRESET ? -ECONNRESET : -ENOTCONN;
    for (;;) {
        size_t before = qmp->qlen;
        uint64_t dropped = qmp->dropped;
        int r = poll_until(qmp, deadline, timeout_ms > 0, 1);
        if (r < 0)
            return r;
        if (r == 0)
            return -ETIMEDOUT;
        /* only the newly arrived event needs checking */
        size_t from = before - (size_t)(qmp->dropped - dropped);
        if (take_match(qmp, from, name, match, userdata, ret_data_json))
            return 0;
    }
}
