/* libppn-vmm unit suites: the QMP client against a scripted fake monitor on a
 * real UNIX socket, the parser, VM specifications and their storage, the
 * QEMU command line and the systemd unit (verified by systemd-analyze). */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-monitor.h"
#include "ppn-common.h"
#include "vmm-internal.h"
#include "ppn-common.h"
#include "ppn/vmm.h"
#include "vmm-test.h"
#include "qmp-internal.h"

static char tmpdir[256];
static char sock[300];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ppn-vmm-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(sock, sizeof(sock), "%s/qmp.sock", tmpdir);
}

static void teardown(void)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static ppn_qmp *connect_fake(const struct fm_step *steps, pid_t *pid)
{
    *pid = fake_monitor_start(sock, steps);
    ppn_qmp *q = NULL;
    int r = ppn_qmp_connect(sock, 2000, &q);
    ck_assert_int_eq(r, 0);
    return q;
}

/* Every id of ppn_vmm_constant is its macro; one past the last is -EINVAL. */
static void check_constants_vmm(void)
{
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_QMP_LINE_MAX), (int64_t)PPN_QMP_LINE_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_QMP_EVENT_QUEUE_MAX), (int64_t)PPN_QMP_EVENT_QUEUE_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_QMP_STATUS_MAX), (int64_t)PPN_QMP_STATUS_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_NAME_MAX), (int64_t)PPN_VM_NAME_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_PORT_FORWARDS_MAX), (int64_t)PPN_VM_PORT_FORWARDS_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_MEMORY_MIN_MIB), (int64_t)PPN_VM_MEMORY_MIN_MIB);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_MEMORY_MAX_MIB), (int64_t)PPN_VM_MEMORY_MAX_MIB);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_VCPUS_MAX), (int64_t)PPN_VM_VCPUS_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_SSH_KEYS_MAX), (int64_t)PPN_VM_SSH_KEYS_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_SSH_KEY_MAX), (int64_t)PPN_VM_SSH_KEY_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_USER_DATA_MAX), (int64_t)PPN_VM_USER_DATA_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_NETWORK_CONFIG_MAX), (int64_t)PPN_VM_NETWORK_CONFIG_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_IMAGE_HEADER_MAX), (int64_t)PPN_VM_IMAGE_HEADER_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_BACKING_FILE_MAX), (int64_t)PPN_VM_BACKING_FILE_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_IMAGE_SIZE_MAX), (int64_t)PPN_VM_IMAGE_SIZE_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_SEED_BYTES), (int64_t)PPN_VM_SEED_BYTES);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VMM_KVM_PROBE_TIMEOUT_MS), (int64_t)PPN_VMM_KVM_PROBE_TIMEOUT_MS);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_RUN_AS_MAX), (int64_t)PPN_VM_RUN_AS_MAX);
    ck_assert_int_eq(ppn_vmm_constant(PPN_VMM_CONSTANT_VM_RUN_AS_MAX + 1), -EINVAL);
    ck_assert_int_eq(ppn_vmm_constant(UINT32_MAX), -EINVAL);
}

/* The text form of a port forward, one parser for every tool (ppn-vm create and request each had
 * a copy; create's cut its input at 31 bytes, so "2222:<24 zeros>22junk" passed as 2222 -> 22). */
START_TEST(test_port_forward_parse)
{
    ppn_vm_port_forward f;
    ck_assert_int_eq(ppn_vm_port_forward_parse("2222:22", &f), 0);
    ck_assert_uint_eq(f.proto, PPN_VM_PROTO_TCP);
    ck_assert_uint_eq(f.host_port, 2222);
    ck_assert_uint_eq(f.guest_port, 22);
    ck_assert_int_eq(ppn_vm_port_forward_parse("udp:65535:1", &f), 0);
    ck_assert_uint_eq(f.proto, PPN_VM_PROTO_UDP);
    ck_assert_uint_eq(f.host_port, 65535);
    ck_assert_uint_eq(f.guest_port, 1);
    ck_assert_int_eq(ppn_vm_port_forward_parse("tcp:80:8080", &f), 0);
    ck_assert_uint_eq(f.guest_port, 8080);
    static const char *bad[] = {"", "22", ":22", "22:", "0:22", "22:0", "65536:22", "22:65536",
                                "-1:22", "+1:22", " 1:22", "1:22 ", "1:2:3", "sctp:1:2", "TCP:1:2",
                                "2222:00000000000000000000000022junk", "1:22x", "tcp:", "0x10:22"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f.host_port = 7;
        ck_assert_msg(ppn_vm_port_forward_parse(bad[i], &f) == -EINVAL, "%s", bad[i]);
        ck_assert_uint_eq(f.host_port, 7); /* untouched */
    }
    ck_assert_int_eq(ppn_vm_port_forward_parse(NULL, &f), -EINVAL);
    ck_assert_int_eq(ppn_vm_port_forward_parse("1:2", NULL), -EINVAL);
}
END_TEST

START_TEST(test_version)
{
    ck_assert_str_eq(ppn_vmm_version(), PPN_VERSION);
    check_constants_vmm();
    ck_assert_int_eq(ppn_vmm_constant(3), 63); /* VM_NAME_MAX: the ids are fixed numbers */
}
END_TEST

/* ---- parser ---- */

START_TEST(test_parse_kinds)
{
    struct qmp_msg m;
    const char *g = "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
                    "\"package\": \"x\"}, \"capabilities\": [\"oob\"]}}\r";
    ck_assert_int_eq(qmp_parse_line(g, strlen(g), &m), 0);
    ck_assert_int_eq(m.kind, QMP_MSG_GREETING);
    ck_assert_str_eq(m.version, "7.2.22");
    qmp_msg_clear(&m);

    const char *r = "{\"return\": {\"actual\": 268435456}, \"id\": 7}";
    ck_assert_int_eq(qmp_parse_line(r, strlen(r), &m), 0);
    ck_assert_int_eq(m.kind, QMP_MSG_RETURN);
    ck_assert(m.has_id && m.id_is_int);
    ck_assert_int_eq(m.id, 7);
    qmp_msg_clear(&m);

    const char *e = "{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon\"}, \"id\": \"x\"}";
    ck_assert_int_eq(qmp_parse_line(e, strlen(e), &m), 0);
    ck_assert_int_eq(m.kind, QMP_MSG_ERROR);
    ck_assert(m.has_id && !m.id_is_int);
    ck_assert_str_eq(m.err_class, "DeviceNotActive");
    qmp_msg_clear(&m);

    const char *ev = "{\"timestamp\": {\"seconds\": 1795328207, \"microseconds\": 750154}, \"event\": "
                     "\"BALLOON_CHANGE\", \"data\": {\"actual\": 267386880}}";
    ck_assert_int_eq(qmp_parse_line(ev, strlen(ev), &m), 0);
    ck_assert_int_eq(m.kind, QMP_MSG_EVENT);
    ck_assert_str_eq(m.event, "BALLOON_CHANGE");
    ck_assert_int_eq(m.ts_sec, 1795328207);
    ck_assert_int_eq(m.ts_usec, 750154);
    qmp_msg_clear(&m);

    ck_assert_int_eq(qmp_parse_line("  \r", 3, &m), 0);
    ck_assert_int_eq(m.kind, QMP_MSG_BLANK);
}
END_TEST

START_TEST(test_parse_bad)
{
    struct qmp_msg m;
    static const struct {
        const char *line;
        int err;
    } t[] = {
        {"garbage", -EBADMSG},
        {"{\"return\": {}", -EBADMSG},
        {"{\"a\":1,\"a\":2}", -EPROTO},
        {"[1,2]", -EPROTO},
        {"42", -EBADMSG},
        {"{\"foo\": 1}", -EPROTO},
        {"{\"event\": 5}", -EPROTO},
        {"{\"event\": \"\"}", -EPROTO},
        {"{\"event\": \"X\", \"data\": [1]}", -EPROTO},
        {"{\"error\": \"x\"}", -EPROTO},
        {"{\"error\": {\"desc\": \"no class\"}}", -EPROTO},
        {"{\"QMP\": {\"version\": {}}}", -EPROTO},
        {"{\"QMP\": 1}", -EPROTO},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int r = qmp_parse_line(t[i].line, strlen(t[i].line), &m);
        ck_assert_msg(r == t[i].err, "%s: %d", t[i].line, r);
    }
    /* a NUL inside the line is not JSON */
    ck_assert_int_eq(qmp_parse_line("{\"return\": {}}\0x", 16, &m), -EBADMSG);
}
END_TEST

START_TEST(test_parse_u64_overflow)
{
    /* QEMU prints uint64 -1 for stats the guest did not report */
    struct qmp_msg m;
    const char *l = "{\"return\": {\"stats\": {\"stat-swap-in\": 18446744073709551615, \"stat-free-memory\": 1024}, "
                    "\"last-update\": 5}, \"id\": 3}";
    ck_assert_int_eq(qmp_parse_line(l, strlen(l), &m), 0);
    ck_assert_int_eq(m.kind, QMP_MSG_RETURN);
    uint64_t v;
    ck_assert(qmp_json_u64(json_object_get(json_object_get(m.ret, "stats"), "stat-swap-in"), &v));
    ck_assert(v == UINT64_MAX);
    ck_assert(qmp_json_u64(json_object_get(json_object_get(m.ret, "stats"), "stat-free-memory"), &v));
    ck_assert(v == 1024);
    qmp_msg_clear(&m);
}
END_TEST

/* ---- client against the fake monitor ---- */

struct evlog {
    int n;
    char names[8][32];
    int returned; /* set by the test after execute returned */
    int before_return;
};

static void on_event(const char *name, const char *data, int64_t s, int64_t us, void *ud)
{
    struct evlog *l = ud;
    (void)data;
    (void)s;
    (void)us;
    if (l->n < 8)
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
    l->n++;
    if (!l->returned)
        l->before_return++;
}

START_TEST(test_event_before_reply)
{
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n", 0},
        {FM_SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0},
        {FM_END, 0, 0},
    };
    pid_t pid;
    ppn_qmp *q = connect_fake(steps, &pid);
    ck_assert_str_eq(ppn_qmp_qemu_version(q), "7.2.0");
    struct evlog log = {0};
    ppn_qmp_set_event_callback(q, on_event, &log);
    ck_assert_int_eq(ppn_qmp_stop(q, 2000), 0);
    log.returned = 1;
    ck_assert_int_eq(log.n, 1);
    ck_assert_int_eq(log.before_return, 1);
    ck_assert_str_eq(log.names[0], "STOP");
    /* the event is also queued, and wait_event finds it though it came first */
    char *data = NULL;
    ck_assert_int_eq(ppn_qmp_wait_event(q, "STOP", NULL, NULL, 0, &data), 0);
    ck_assert_str_eq(data, "{}");
    free(data);
    ck_assert_int_eq(ppn_qmp_wait_event(q, "STOP", NULL, NULL, 50, NULL), -ETIMEDOUT);
    ppn_qmp_free(q);
    fake_monitor_stop(pid);
}
END_TEST

START_TEST(test_garbage_mid_command)
{
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"return\": {\"sta\x01garbage\r\n", 0},
        {FM_END, 0, 0},
    };
    pid_t pid;
    ppn_qmp *q = connect_fake(steps, &pid);
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 5000, NULL), -EBADMSG);
    ck_assert_uint_lt(ppnc_now_mono_ms() - t0, 2000);
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 5000, NULL), -ENOTCONN);
    ck_assert_int_eq(ppn_qmp_poll(q, 10), -ENOTCONN);
    ppn_qmp_free(q);
    fake_monitor_stop(pid);
}
END_TEST

START_TEST(test_silence_timeout_then_late_reply)
{
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SLEEP, 0, 1500},
        {FM_SEND, "{\"return\": {\"which\": \"late\"}, \"id\": %ID%}\r\n", 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"return\": {\"which\": \"second\"}, \"id\": %ID%}\r\n", 0},
        {FM_END, 0, 0},
    };
    pid_t pid;
    ppn_qmp *q = connect_fake(steps, &pid);
    uint64_t t0 = ppnc_now_mono_ms();
    char *out = NULL;
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 300, &out), -ETIMEDOUT);
    uint64_t el = ppnc_now_mono_ms() - t0;
    ck_assert_uint_ge(el, 290);
    ck_assert_uint_lt(el, 1200); /* did not wait for the late reply */
    ck_assert_ptr_null(out);
    /* the connection stays usable; the late reply is not taken for this one */
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 3000, &out), 0);
    ck_assert_str_eq(out, "{\"which\":\"second\"}");
    free(out);
    ppn_qmp_free(q);
    fake_monitor_stop(pid);
}
END_TEST

START_TEST(test_eof_mid_reply)
{
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"return\": {\"sta", 0},
        {FM_SLEEP, 0, 100},
        {FM_CLOSE, 0, 0},
    };
    pid_t pid;
    ppn_qmp *q = connect_fake(steps, &pid);
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 5000, NULL), -ECONNRESET);
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 5000, NULL), -ENOTCONN);
    ck_assert_int_eq(ppn_qmp_wait_event(q, "X", NULL, NULL, 10, NULL), -ECONNRESET);
    ppn_qmp_free(q);
    fake_monitor_stop(pid);
}
END_TEST

START_TEST(test_error_replies)
{
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"error\": {\"class\": \"DeviceNotActive\", \"desc\": \"No balloon device has been activated\"}, \"id\": %ID%}\r\n", 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been found\"}, \"id\": %ID%}\r\n", 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\r\n", 0},
        {FM_END, 0, 0},
    };
    pid_t pid;
    ppn_qmp *q = connect_fake(steps, &pid);
    uint64_t actual = 42;
    ck_assert_int_eq(ppn_qmp_balloon_query(q, 2000, &actual), -ENODEV);
    ck_assert(actual == 42); /* untouched on failure */
    ck_assert_int_eq(ppn_qmp_execute(q, "nope", "{\"a\": [1, 2]}", 2000, NULL), -EREMOTEIO);
    ck_assert_str_eq(ppn_qmp_last_error_class(q), "CommandNotFound");
    ck_assert_str_eq(ppn_qmp_last_error_desc(q), "The command nope has not been found");
    /* an error without id cannot belong to a command: protocol error */
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 2000, NULL), -EPROTO);
    ppn_qmp_free(q);
    fake_monitor_stop(pid);
}
END_TEST

START_TEST(test_execute_bad_args)
{
    const struct fm_step steps[] = {{FM_HANDSHAKE, 0, 0}, {FM_END, 0, 0}};
    pid_t pid;
    ppn_qmp *q = connect_fake(steps, &pid);
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", "[1]", 1000, NULL), -EINVAL);
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", "{bad", 1000, NULL), -EINVAL);
    ck_assert_int_eq(ppn_qmp_execute(q, "a\"b", NULL, 1000, NULL), -EINVAL);
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 0, NULL), -EINVAL);
    ck_assert_int_eq(ppn_qmp_execute(NULL, "query-status", NULL, 10, NULL), -EINVAL);
    ck_assert_int_eq(ppn_qmp_balloon_set(q, 0, 100), -EINVAL);
    ppn_qmp_free(q);
    fake_monitor_stop(pid);
}
END_TEST

static int actual_is(const char *name, const char *data, void *ud)
{
    (void)name;
    json_t *o = json_loads(data, 0, NULL);
    int m = json_integer_value(json_object_get(o, "actual")) == *(const long long *)ud;
    json_decref(o);
    return m;
}

START_TEST(test_wait_event_predicate_order)
{
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_SEND, "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 1}}\r\n"
                  "{\"event\": \"RESUME\"}\r\n"
                  "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 2}}\r\n", 0},
        {FM_SLEEP, 0, 200},
        {FM_SEND, "{\"event\": \"BALLOON_CHANGE\", \"data\": {\"actual\": 3}}\r\n", 0},
        {FM_END, 0, 0},
    };
    pid_t pid;
    ppn_qmp *q = connect_fake(steps, &pid);
    long long want = 3;
    char *data = NULL;
    uint64_t t0 = ppnc_now_mono_ms();
    ck_assert_int_eq(ppn_qmp_wait_event(q, "BALLOON_CHANGE", actual_is, &want, 3000, &data), 0);
    ck_assert_uint_ge(ppnc_now_mono_ms() - t0, 150);
    ck_assert_str_eq(data, "{\"actual\":3}");
    free(data);
    want = 2;
    ck_assert_int_eq(ppn_qmp_wait_event(q, "BALLOON_CHANGE", actual_is, &want, 0, &data), 0);
    free(data);
    char *name;
    ck_assert_int_eq(ppn_qmp_next_event(q, &name, &data), 0);
    ck_assert_str_eq(name, "BALLOON_CHANGE");
    ck_assert_str_eq(data, "{\"actual\":1}");
    free(name);
    free(data);
    ck_assert_int_eq(ppn_qmp_next_event(q, &name, &data), 0);
    ck_assert_str_eq(name, "RESUME");
    free(name);
    free(data);
    ck_assert_int_eq(ppn_qmp_next_event(q, &name, &data), -EAGAIN);
    ck_assert_int_eq(ppn_qmp_poll(q, 0), 0);
    ppn_qmp_free(q);
    fake_monitor_stop(pid);
}
END_TEST

START_TEST(test_event_queue_bound)
{
    static char burst[(PPN_QMP_EVENT_QUEUE_MAX + 10) * 40];
    size_t o = 0;
    for (unsigned i = 0; i < PPN_QMP_EVENT_QUEUE_MAX + 10; i++)
        o += (size_t)snprintf(burst + o, sizeof(burst) - o, "{\"event\": \"E\", \"data\": {\"n\": %u}}\n", i);
    const struct fm_step steps[] = {{FM_HANDSHAKE, 0, 0}, {FM_SEND, burst, 0}, {FM_END, 0, 0}};
    /* FM_SEND works on a 4 KiB buffer: send in the child by repeating */
    (void)steps;
    struct fm_step many[PPN_QMP_EVENT_QUEUE_MAX + 20];
    size_t k = 0;
    many[k++] = (struct fm_step){FM_HANDSHAKE, 0, 0};
    for (unsigned i = 0; i < PPN_QMP_EVENT_QUEUE_MAX + 10; i++)
        many[k++] = (struct fm_step){FM_SEND, "{\"event\": \"E\"}\n", 0};
    many[k++] = (struct fm_step){FM_SEND, "{\"event\": \"LAST\"}\n", 0};
    many[k] = (struct fm_step){FM_END, 0, 0};
    pid_t pid;
    ppn_qmp *q = connect_fake(many, &pid);
    ck_assert_int_eq(ppn_qmp_wait_event(q, "LAST", NULL, NULL, 5000, NULL), 0);
    ck_assert_uint_eq(ppn_qmp_events_dropped(q), 11);
    ppn_qmp_free(q);
    fake_monitor_stop(pid);
}
END_TEST

START_TEST(test_long_line)
{
    /* 1.1 MiB without a newline */
    static struct fm_step steps[300];
    static char chunk[4001];
    memset(chunk, 'x', 4000);
    size_t k = 0;
    steps[k++] = (struct fm_step){FM_HANDSHAKE, 0, 0};
    steps[k++] = (struct fm_step){FM_RECV, 0, 0};
    steps[k++] = (struct fm_step){FM_SEND, "{\"return\": \"", 0};
    for (int i = 0; i < 290; i++)
        steps[k++] = (struct fm_step){FM_SEND, chunk, 0};
    steps[k] = (struct fm_step){FM_END, 0, 0};
    pid_t pid;
    ppn_qmp *q = connect_fake(steps, &pid);
    ck_assert_int_eq(ppn_qmp_execute(q, "query-status", NULL, 5000, NULL), -EMSGSIZE);
    ppn_qmp_free(q);
    fake_monitor_stop(pid);
}
END_TEST

START_TEST(test_connect_errors)
{
    ppn_qmp *q = NULL;
    ck_assert_int_eq(ppn_qmp_connect(sock, 500, &q), -ENOENT);
    ck_assert_int_eq(ppn_qmp_connect(sock, 0, &q), -EINVAL);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    ck_assert_int_eq(ppn_qmp_connect(longp, 500, &q), -EINVAL);

    static const struct {
        const char *greeting;
        int err;
    } t[] = {
        {"hello there\n", -EBADMSG},
        {"{\"return\": {}}\n", -EPROTO},
        {"", -ETIMEDOUT},
        {"{\"QMP\": {\"version\"", -ECONNRESET},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct fm_step steps[] = {
            {FM_SEND, t[i].greeting, 0},
            {t[i].err == -ECONNRESET ? FM_CLOSE : FM_SLEEP, 0, 2000},
            {FM_END, 0, 0},
        };
        pid_t pid = fake_monitor_start(sock, steps);
        uint64_t t0 = ppnc_now_mono_ms();
        int r = ppn_qmp_connect(sock, 400, &q);
        ck_assert_msg(r == t[i].err, "case %zu: %d", i, r);
        ck_assert_uint_lt(ppnc_now_mono_ms() - t0, 1500);
        fake_monitor_stop(pid);
    }
    /* capabilities refused */
    const struct fm_step refuse[] = {
        {FM_SEND, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\n", 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": %ID%}\n", 0},
        {FM_END, 0, 0},
    };
    pid_t pid = fake_monitor_start(sock, refuse);
    ck_assert_int_eq(ppn_qmp_connect(sock, 1000, &q), -EPROTO);
    fake_monitor_stop(pid);
    /* a socket nobody listens on */
    pid = fake_monitor_start(sock, refuse);
    fake_monitor_stop(pid);
    ck_assert_int_eq(ppn_qmp_connect(sock, 500, &q), -ECONNREFUSED);
}
END_TEST

START_TEST(test_shutdown_fake_graceful)
{
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"event\": \"POWERDOWN\"}\r\n{\"return\": {}, \"id\": %ID%}\r\n", 0},
        {FM_SLEEP, 0, 300},
        {FM_SEND, "{\"event\": \"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}\r\n", 0},
        {FM_CLOSE, 0, 0},
    };
    pid_t pid = fake_monitor_start(sock, steps);
    ppn_vm_shutdown_opts o = vmm_test_shutdown_opts(sock, 0, 3000);
    o.step_timeout_ms = 1000;
    ppn_vm_shutdown_result res;
    ck_assert_int_eq(ppn_vm_shutdown(&o, NULL, NULL, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_GRACEFUL);
    ck_assert_uint_eq(res.presses, 1);
    ck_assert_uint_lt(res.elapsed_ms, 2000);
    fake_monitor_stop(pid);
    /* nothing there any more */
    ck_assert_int_eq(ppn_vm_shutdown(&o, NULL, NULL, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_NOT_RUNNING);
    o.monitor_path = NULL;
    ck_assert_int_eq(ppn_vm_shutdown(&o, NULL, NULL, &res), -EINVAL);
}
END_TEST

START_TEST(test_shutdown_fake_deaf_quit)
{
    /* the button is ignored; re-pressed; after the deadline quit closes it */
    const struct fm_step steps[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0},
        {FM_RECV, 0, 0}, /* quit */
        {FM_CLOSE, 0, 0},
    };
    pid_t pid = fake_monitor_start(sock, steps);
    ppn_vm_shutdown_opts o = vmm_test_shutdown_opts(sock, 0, 1000);
    o.repress_interval_ms = 400;
    o.step_timeout_ms = 1000;
    ppn_vm_shutdown_result res;
    ck_assert_int_eq(ppn_vm_shutdown(&o, NULL, NULL, &res), 0);
    ck_assert_int_eq(res.outcome, PPN_VM_SHUTDOWN_OUTCOME_QUIT);
    ck_assert_uint_eq(res.presses, 3);
    ck_assert_uint_ge(res.elapsed_ms, 1000);
    ck_assert_uint_lt(res.elapsed_ms, 2500);
    fake_monitor_stop(pid);
}
END_TEST

/* ppn_vm_reboot against scripted monitors: a QEMU without set-action, a
 * paused VM, a guest that resets itself on the button. */
#define FM_RUNNING "{\"return\": {\"status\": \"running\", \"running\": true, \"singlestep\": false}, \"id\": %ID%}\r\n"
START_TEST(test_reboot_fake)
{
    const struct fm_step old_qemu[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, FM_RUNNING, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command set-action has not been found\"}, \"id\": %ID%}\r\n", 0},
        {FM_RECV, 0, 0}, /* the restore attempt */
        {FM_SEND, "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no\"}, \"id\": %ID%}\r\n", 0},
    };
    ppn_vm_reboot_outcome out;
    unsigned presses = 9;
    pid_t pid = fake_monitor_start(sock, old_qemu);
    ck_assert_int_eq(ppn_vm_reboot(sock, 2000, 0, 1000, 0, &out, &presses), -ENOTSUP);
    ck_assert_int_eq(out, PPN_VM_REBOOT_OUTCOME_NONE);
    ck_assert_uint_eq(presses, 0);
    fake_monitor_stop(pid);
    const struct fm_step paused[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, "{\"return\": {\"status\": \"paused\", \"running\": false, \"singlestep\": false}, \"id\": %ID%}\r\n", 0},
    };
    pid = fake_monitor_start(sock, paused);
    ck_assert_int_eq(ppn_vm_reboot(sock, 2000, 0, 1000, 0, &out, &presses), -EBUSY);
    fake_monitor_stop(pid);
    const struct fm_step self_reset[] = {
        {FM_HANDSHAKE, 0, 0},
        {FM_RECV, 0, 0},
        {FM_SEND, FM_RUNNING, 0},
        {FM_RECV, 0, 0}, /* set-action pause */
        {FM_SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0},
        {FM_RECV, 0, 0}, /* system_powerdown */
        {FM_SEND, "{\"event\": \"POWERDOWN\"}\r\n{\"return\": {}, \"id\": %ID%}\r\n", 0},
        {FM_SLEEP, 0, 300},
        {FM_SEND, "{\"event\": \"RESET\", \"data\": {\"guest\": true, \"reason\": \"guest-reset\"}}\r\n", 0},
        {FM_RECV, 0, 0}, /* set-action poweroff */
        {FM_SEND, "{\"return\": {}, \"id\": %ID%}\r\n", 0},
    };
    pid = fake_monitor_start(sock, self_reset);
    ck_assert_int_eq(ppn_vm_reboot(sock, 3000, 0, 1000, 0, &out, &presses), 0);
    ck_assert_int_eq(out, PPN_VM_REBOOT_OUTCOME_GRACEFUL);
    ck_assert_uint_eq(presses, 1);
    fake_monitor_stop(pid);
    /* QEMU gone at once */
    const struct fm_step gone[] = {{FM_HANDSHAKE, 0, 0}, {FM_RECV, 0, 0}, {FM_CLOSE, 0, 0}};
    pid = fake_monitor_start(sock, gone);
    ck_assert_int_eq(ppn_vm_reboot(sock, 2000, 0, 1000, 0, &out, &presses), -ECONNRESET);
    fake_monitor_stop(pid);
    ck_assert_int_eq(ppn_vm_reboot(NULL, 1, 0, 1000, 0, &out, NULL), -EINVAL);
    ck_assert_int_eq(ppn_vm_reboot(sock, 1, 0, 0, 0, &out, NULL), -EINVAL);
    ck_assert_int_eq(ppn_vm_reboot(sock, 1, 0, 1000, 2, &out, NULL), -EINVAL);
    ck_assert_int_eq(ppn_vm_reboot(sock, 1, 0, 1000, 0, NULL, NULL), -EINVAL);
}
END_TEST

/* ---- specifications ---- */

START_TEST(test_spec_defaults)
{
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new("media1", PPN_VM_TYPE_MEDIAKIT, &s), 0);
    ck_assert_uint_eq(ppn_vm_spec_memory_mib(s), 6144);
    ck_assert_uint_eq(ppn_vm_spec_port_forward_count(s), 8);
    ppn_vm_port_forward f;
    ck_assert_int_eq(ppn_vm_spec_port_forward(s, 0, &f), 0);
    ck_assert_uint_eq(f.host_port, 19090);
    ck_assert_uint_eq(f.guest_port, 9090);
    ck_assert_int_eq(ppn_vm_spec_port_forward(s, 8, &f), -ERANGE);
    ck_assert(ppn_vm_spec_disk_size_bytes(s) == 20ULL << 30);
    const char *why = NULL;
    /* nothing to boot yet */
    ck_assert_int_eq(ppn_vm_spec_validate(s, &why), -EINVAL);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, "/var/lib/x.qcow2", 0), 0);
    ck_assert_int_eq(ppn_vm_spec_validate(s, NULL), 0);
    ck_assert_int_eq(ppn_vm_spec_add_port_forward(s, &(ppn_vm_port_forward){PPN_VM_PROTO_TCP, 19090, 1}), -EEXIST);
    ck_assert_int_eq(ppn_vm_spec_add_port_forward(s, &(ppn_vm_port_forward){PPN_VM_PROTO_UDP, 19090, 1}), 0);
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, "relative.img", 0), -EINVAL);
    ck_assert_int_eq(ppn_vm_spec_set_memory_mib(s, 63), -EINVAL);
    ck_assert_int_eq(ppn_vm_spec_set_vcpus(s, 0), -EINVAL);
    ck_assert_int_eq(ppn_vm_spec_set_vcpus(s, 257), -EINVAL);
    ppn_vm_spec_free(s);

    ck_assert_int_eq(ppn_vm_spec_new("box", PPN_VM_TYPE_TOTEBOX, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_disk(s, "/d.img", 0), 0);
    ck_assert_int_eq(ppn_vm_spec_validate(s, &why), -EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "pinned node"));
    ck_assert_int_eq(ppn_vm_spec_set_node(s, "laptop-a"), 0);
    ck_assert_int_eq(ppn_vm_spec_validate(s, NULL), 0);
    ppn_vm_spec_free(s);

    ck_assert_int_eq(ppn_vm_spec_new("Bad", PPN_VM_TYPE_TOTEBOX, &s), -EINVAL);
    ck_assert_int_eq(ppn_vm_spec_new("-x", PPN_VM_TYPE_TOTEBOX, &s), -EINVAL);
    ck_assert_int_eq(ppn_vm_spec_new("x", (ppn_vm_type)9, &s), -EINVAL);
    ck_assert(ppn_vm_name_valid("a23456789012345678901234567890123456789012345678901234567890123"));
    ck_assert(!ppn_vm_name_valid("a234567890123456789012345678901234567890123456789012345678901234"));
    ppn_vm_type t;
    ck_assert_int_eq(ppn_vm_type_from_string("vm-privategit", &t), 0);
    ck_assert_int_eq(t, PPN_VM_TYPE_PRIVATEGIT);
    ck_assert_int_eq(ppn_vm_type_from_string("orchestration", &t), 0);
    ck_assert_int_eq(t, PPN_VM_TYPE_ORCHESTRATION);
    ck_assert_int_eq(ppn_vm_type_from_string("VM-Infrastructure", &t), -EINVAL);
    ck_assert_str_eq(ppn_vm_type_to_string(PPN_VM_TYPE_MEDIAKIT), "VM-MediaKit");
}
END_TEST

static ppn_vm_spec *test_spec(const char *name)
{
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_new(name, PPN_VM_TYPE_ORCHESTRATION, &s), 0);
    ck_assert_int_eq(ppn_vm_spec_set_memory_mib(s, 256), 0);
    ck_assert_int_eq(ppn_vm_spec_set_kernel(s, "/boot/vmlinuz", "/tmp/i,r.gz", "console=ttyS0"), 0);
    return s;
}

START_TEST(test_spec_store)
{
    ppn_vm_spec *s = test_spec("orch1"), *l = NULL;
    ck_assert_int_eq(ppn_vm_spec_save(s, tmpdir, true), 0);
    ck_assert_int_eq(ppn_vm_spec_save(s, tmpdir, true), -EEXIST);
    ck_assert_int_eq(ppn_vm_spec_save(s, tmpdir, false), 0);
    const char *why = NULL;
    ck_assert_int_eq(ppn_vm_spec_load(tmpdir, "orch1", &l, &why), 0);
    char *a, *b;
    ck_assert_int_eq(ppn_vm_spec_to_json(s, &a), 0);
    ck_assert_int_eq(ppn_vm_spec_to_json(l, &b), 0);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    ppn_vm_spec_free(l);
    ck_assert_int_eq(ppn_vm_spec_load(tmpdir, "nope", &l, &why), -ENOENT);

    ppn_vm_spec *s2 = test_spec("alpha");
    ck_assert_int_eq(ppn_vm_spec_save(s2, tmpdir, true), 0);
    char **names;
    ck_assert_int_eq(ppn_vm_list(tmpdir, &names), 2);
    ck_assert_str_eq(names[0], "alpha");
    ck_assert_str_eq(names[1], "orch1");
    ck_assert_ptr_null(names[2]);
    ppn_vmm_strv_free(names);

    /* corrupt, renamed, and wrongly typed files are refused with a reason */
    char p[512];
    ck_assert_int_eq(ppn_vm_path(tmpdir, "alpha", "spec", p, sizeof(p)), 0);
    ck_assert_int_eq(ppnc_write_file_atomic(p, "{\"format\": 1", 12, 0600), 0);
    ck_assert_int_eq(ppn_vm_spec_load(tmpdir, "alpha", &l, &why), -EUCLEAN);
    ck_assert_str_eq(why, "not JSON");
    ck_assert_int_eq(ppn_vm_spec_to_json(s, &a), 0);
    ck_assert_int_eq(ppnc_write_file_atomic(p, a, strlen(a), 0600), 0);
    free(a);
    ck_assert_int_eq(ppn_vm_spec_load(tmpdir, "alpha", &l, &why), -EUCLEAN);
    ck_assert_ptr_nonnull(strstr(why, "name differs"));
    const char *bad = "{\"format\":1,\"name\":\"alpha\",\"type\":\"VM-Orchestration\",\"memory_mib\":\"256\"}";
    ck_assert_int_eq(ppnc_write_file_atomic(p, bad, strlen(bad), 0600), 0);
    ck_assert_int_eq(ppn_vm_spec_load(tmpdir, "alpha", &l, &why), -EUCLEAN);
    ck_assert_ptr_nonnull(strstr(why, "memory_mib"));

    ck_assert_int_eq(ppn_vm_remove(tmpdir, "alpha"), 0);
    ck_assert_int_eq(ppn_vm_remove(tmpdir, "alpha"), -ENOENT);
    ck_assert_int_eq(ppn_vm_list(tmpdir, &names), 1);
    ppn_vmm_strv_free(names);
    ppn_vm_spec_free(s);
    ppn_vm_spec_free(s2);
}
END_TEST

START_TEST(test_spec_json_reject)
{
    static const char *const bad[] = {
        "{}",
        "[]",
        "{\"format\":2}",
        "{\"format\":1,\"name\":\"x\",\"type\":\"VM-Totebox\",\"memory_mib\":256,\"vcpus\":1,\"disk\":\"/d\","
        "\"disk_size_bytes\":0,\"node\":\"\",\"kernel\":\"\",\"initrd\":\"\",\"append\":\"\",\"network\":true,"
        "\"port_forwards\":[]}",
        "{\"format\":1,\"name\":\"x\",\"type\":\"VM-MediaKit\",\"memory_mib\":256,\"vcpus\":1,\"disk\":\"/d\","
        "\"disk_size_bytes\":0,\"node\":\"\",\"kernel\":\"\",\"initrd\":\"\",\"append\":\"\",\"network\":true,"
        "\"port_forwards\":[{\"proto\":\"sctp\",\"host\":1,\"guest\":2}]}",
        "{\"format\":1,\"name\":\"x\",\"type\":\"VM-MediaKit\",\"memory_mib\":256,\"vcpus\":1,\"disk\":\"/d\","
        "\"disk_size_bytes\":0,\"node\":\"\",\"kernel\":\"\",\"initrd\":\"\",\"append\":\"\",\"network\":true,"
        "\"port_forwards\":[],\"extra\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ppn_vm_spec *s;
        const char *why = NULL;
        ck_assert_int_eq(ppn_vm_spec_from_json(bad[i], strlen(bad[i]), &s, &why), -EUCLEAN);
        ck_assert_ptr_nonnull(why);
    }
    const char *good = "{\"format\":1,\"name\":\"x\",\"type\":\"VM-Totebox\",\"memory_mib\":256,\"vcpus\":1,"
                       "\"disk\":\"/d\",\"disk_size_bytes\":0,\"node\":\"laptop-a\",\"kernel\":\"\",\"initrd\":\"\","
                       "\"append\":\"\",\"network\":true,\"port_forwards\":[{\"proto\":\"udp\",\"host\":1,\"guest\":2}]}";
    ppn_vm_spec *s;
    ck_assert_int_eq(ppn_vm_spec_from_json(good, strlen(good), &s, NULL), 0);
    ck_assert_str_eq(ppn_vm_spec_node(s), "laptop-a");
    ppn_vm_spec_free(s);
}
END_TEST

static int argv_has(char **argv, const char *a, const char *b)
{
    for (size_t i = 0; argv[i]; i++)
        if (!strcmp(argv[i], a) && (!b || (argv[i + 1] && !strcmp(argv[i + 1], b))))
            return 1;
    return 0;
}

START_TEST(test_qemu_argv)
{
    ppn_vm_spec *s = test_spec("orch1");
    char **argv;
    ck_assert_int_eq(ppn_vm_qemu_argv(s, "/var/lib/ppn", NULL, PPN_VM_ACCEL_TCG, &argv), 0);
    ck_assert_str_eq(argv[0], "qemu-system-x86_64");
    ck_assert(argv_has(argv, "-accel", "tcg"));
    ck_assert(argv_has(argv, "-m", "256"));
    ck_assert(argv_has(argv, "-device", "virtio-balloon-pci,id=ppn-balloon0"));
    ck_assert(argv_has(argv, "-chardev", "socket,id=ppn-qmp,path=/var/lib/ppn/orch1/qmp.sock,server=on,wait=off"));
    ck_assert(argv_has(argv, "-initrd", "/tmp/i,r.gz"));
    ck_assert(argv_has(argv, "-nic", "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:19180-:9180"));
    ck_assert(!argv_has(argv, "-S", NULL));
    ppn_vmm_strv_free(argv);
    ck_assert_int_eq(ppn_vm_qemu_argv(s, "/var/lib/ppn", "/usr/bin/qemu", PPN_VM_ACCEL_KVM | PPN_VM_START_PAUSED, &argv), 0);
    ck_assert(argv_has(argv, "-accel", "kvm"));
    ck_assert(argv_has(argv, "-S", NULL));
    ppn_vmm_strv_free(argv);
    ck_assert_int_eq(ppn_vm_qemu_argv(s, "/x", NULL, PPN_VM_ACCEL_KVM | PPN_VM_ACCEL_TCG, &argv), -EINVAL);
    /* AUTO follows the probe (KVM fails on the build machines) */
    ck_assert_int_eq(ppn_vm_qemu_argv(s, "/x", NULL, PPN_VM_ACCEL_AUTO, &argv), 0);
    ck_assert(argv_has(argv, "-accel", ppn_vmm_kvm_usable() ? "kvm" : "tcg"));
    ppn_vmm_strv_free(argv);
    char longdir[120];
    memset(longdir, 'd', sizeof(longdir) - 1);
    longdir[0] = '/';
    longdir[sizeof(longdir) - 1] = '\0';
    ck_assert_int_eq(ppn_vm_qemu_argv(s, longdir, NULL, 0, &argv), -ENAMETOOLONG);
    ck_assert_int_eq(ppn_vm_spec_set_network(s, false), 0);
    ppn_vm_spec_clear_port_forwards(s);
    ck_assert_int_eq(ppn_vm_qemu_argv(s, "/x", NULL, PPN_VM_ACCEL_TCG, &argv), 0);
    ck_assert(argv_has(argv, "-nic", "none"));
    ppn_vmm_strv_free(argv);
    ppn_vm_spec_free(s);
}
END_TEST

static int argv_has_prefix(char **argv, const char *a, const char *prefix)
{
    for (size_t i = 0; argv[i]; i++)
        if (!strcmp(argv[i], a) && argv[i + 1] && !strncmp(argv[i + 1], prefix, strlen(prefix)))
            return 1;
    return 0;
}

START_TEST(test_spec_run_as)
{
    ppn_vm_spec *s = test_spec("orch1");
    ck_assert_str_eq(ppn_vm_spec_run_as(s), "");
    static const char *const bad[] = {"Nobody", "1user", "a b", "a:b", "-x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(ppn_vm_spec_set_run_as(s, bad[i]) == -EINVAL, "accepted %s", bad[i]);
    ck_assert_int_eq(ppn_vm_spec_set_run_as(NULL, "x"), -EINVAL);
    char **argv;
    ck_assert_int_eq(ppn_vm_qemu_argv(s, "/x", NULL, PPN_VM_ACCEL_TCG, &argv), 0);
    ck_assert(!argv_has(argv, "-runas", NULL));
    ck_assert(argv_has(argv, "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"));
    ppn_vmm_strv_free(argv);
    ck_assert_int_eq(ppn_vm_spec_set_run_as(s, "ppn-vm"), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(s), "ppn-vm");
    ck_assert_int_eq(ppn_vm_qemu_argv(s, "/x", NULL, PPN_VM_ACCEL_TCG, &argv), 0);
    ck_assert(argv_has(argv, "-runas", "ppn-vm"));
    /* QEMU 7.2 calls setuid after its filter is in: set*id allowed, the rest denied */
    ck_assert(argv_has(argv, "-sandbox", "on,obsolete=deny,spawn=deny,resourcecontrol=deny"));
    ppn_vmm_strv_free(argv);
    /* stored, loaded, copied */
    char *txt;
    ck_assert_int_eq(ppn_vm_spec_to_json(s, &txt), 0);
    ck_assert_ptr_nonnull(strstr(txt, "\"run_as\": \"ppn-vm\""));
    ppn_vm_spec *t, *u;
    ck_assert_int_eq(ppn_vm_spec_from_json(txt, strlen(txt), &t, NULL), 0);
    ck_assert_str_eq(ppn_vm_spec_run_as(t), "ppn-vm");
    ck_assert_int_eq(ppn_vm_spec_dup(t, &u), 0);
    ppn_vm_spec_free(t);
    ck_assert_str_eq(ppn_vm_spec_run_as(u), "ppn-vm");
    ppn_vm_spec_free(u);
    /* a bad stored value is refused with its reason */
    char *p = strstr(txt, "\"ppn-vm\"");
    memcpy(p, "\"PPN!vm\"", 8);
    const char *why = NULL;
    ck_assert_int_eq(ppn_vm_spec_from_json(txt, strlen(txt), &t, &why), -EUCLEAN);
    ck_assert_ptr_nonnull(why);
    ck_assert_ptr_nonnull(strstr(why, "run_as"));
    free(txt);
    /* root: no -runas, the full filter */
    ck_assert_int_eq(ppn_vm_spec_set_run_as(s, "root"), 0);
    ck_assert_int_eq(ppn_vm_qemu_argv(s, "/x", NULL, PPN_VM_ACCEL_TCG, &argv), 0);
    ck_assert(!argv_has(argv, "-runas", NULL));
    ck_assert(argv_has_prefix(argv, "-sandbox", "on,obsolete=deny,elevateprivileges=deny"));
    ppn_vmm_strv_free(argv);
    /* cleared: absent from the file (older files round-trip) */
    ck_assert_int_eq(ppn_vm_spec_set_run_as(s, ""), 0);
    ck_assert_int_eq(ppn_vm_spec_to_json(s, &txt), 0);
    ck_assert_ptr_null(strstr(txt, "run_as"));
    free(txt);
    ppn_vm_spec_free(s);
}
END_TEST

START_TEST(test_unit_verify)
{
    ppn_vm_spec *s = test_spec("orch1");
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    ck_assert_int_gt(n, 0);
    self[n] = '\0';
    ppn_vm_unit_opts o = {.ppn_vm_binary = self, .state_dir = "/var/lib/ppn/vm $HOME 100%", .shutdown_deadline_ms = 30000};
    char *text;
    ck_assert_int_eq(ppn_vm_unit(s, &o, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "ExecStop="));
    ck_assert_ptr_nonnull(strstr(text, "\"--deadline\" \"30\" \"--pid\" ${MAINPID}"));
    ck_assert_ptr_nonnull(strstr(text, "$$HOME 100%%"));
    /* TimeoutStopSec longer than the graceful wait */
    const char *t = strstr(text, "TimeoutStopSec=");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_gt(atoi(t + 15), 30);
    char name[128], path[512];
    ck_assert_int_eq(ppn_vm_unit_name(s, name, sizeof(name)), 0);
    ck_assert_str_eq(name, "ppn-vm-orch1.service");
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    ck_assert_int_eq(ppnc_write_file_atomic(path, text, strlen(text), 0644), 0);
    free(text);
    char cmd[2048], errp[600];
    snprintf(errp, sizeof(errp), "%s/verify.err", tmpdir);
    snprintf(cmd, sizeof(cmd), "SYSTEMD_LOG_LEVEL=info systemd-analyze verify '%s' 2>'%s' >/dev/null", path, errp);
    int st = system(cmd);
    uint8_t *err;
    size_t elen;
    ck_assert_int_eq(ppnc_read_file(errp, 1 << 20, &err, &elen), 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && elen == 0, "systemd-analyze: status %d: %s", st, err);
    free(err);
    o.state_dir = "relative";
    ck_assert_int_eq(ppn_vm_unit(s, &o, &text), -EINVAL);

    /* the accelerator on ppn-vm's own ExecStart */
    o.state_dir = "/var/lib/ppn/vms";
    o.accel = PPN_VM_ACCEL_TCG;
    ck_assert_int_eq(ppn_vm_unit(s, &o, &text), 0);
    ck_assert_ptr_nonnull(strstr(text, "\"run\" \"--state-dir\" \"/var/lib/ppn/vms\" \"--accel\" \"tcg\" \"orch1\"\n"));
    free(text);
    o.accel = PPN_VM_ACCEL_TCG | PPN_VM_ACCEL_KVM;
    ck_assert_int_eq(ppn_vm_unit(s, &o, &text), -EINVAL);
    o.accel = 0;
    /* an input struct's reserved tail is zero (doc/API.md, "Structs") */
    o.reserved[3] = 1;
    ck_assert_int_eq(ppn_vm_unit(s, &o, &text), -EINVAL);
    o.reserved[3] = 0;

    /* another program's own command lines */
    const char *start[] = {self, "exec", "orch1", NULL};
    const char *stop[] = {self, "stop", "--pid", "$MAINPID", "50%", NULL};
    ppn_vm_unit_opts own = {.exec_start = start, .exec_stop = stop, .shutdown_deadline_ms = 20000};
    ck_assert_int_eq(ppn_vm_unit(s, &own, &text), 0);
    char want[PATH_MAX + 100];
    snprintf(want, sizeof(want), "ExecStart=\"%s\" \"exec\" \"orch1\"\n", self);
    ck_assert_ptr_nonnull(strstr(text, want));
    snprintf(want, sizeof(want), "ExecStop=\"%s\" \"stop\" \"--pid\" ${MAINPID} \"50%%%%\"\n", self);
    ck_assert_ptr_nonnull(strstr(text, want));
    ck_assert_ptr_null(strstr(text, "\"shutdown\""));
    ck_assert_ptr_null(strstr(text, "\"run\""));
    ck_assert_int_eq(ppnc_write_file_atomic(path, text, strlen(text), 0644), 0);
    free(text);
    st = system(cmd);
    ck_assert_int_eq(ppnc_read_file(errp, 1 << 20, &err, &elen), 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0 && elen == 0, "systemd-analyze (own lines): %d: %s", st, err);
    free(err);
    own.exec_stop = NULL; /* no ExecStop at all */
    ck_assert_int_eq(ppn_vm_unit(s, &own, &text), 0);
    ck_assert_ptr_null(strstr(text, "ExecStop="));
    free(text);
    const char *rel[] = {"other-vmm", NULL};
    own.exec_start = rel;
    ck_assert_int_eq(ppn_vm_unit(s, &own, &text), -EINVAL);
    const char *ctl[] = {"/bin/x", "a\nExecStartPre=/bin/evil", NULL};
    own.exec_start = ctl;
    ck_assert_int_eq(ppn_vm_unit(s, &own, &text), -EINVAL);
    ppn_vm_spec_free(s);
}
END_TEST

/* A stored VM's monitor by name: not there, stored but not running (also
 * with a stale qemu.pid naming a process that is not QEMU), bad arguments. */
START_TEST(test_vm_qmp_connect_not_running)
{
    char dir[] = "/tmp/ppn-vmconn-XXXXXX", pidf[PATH_MAX], cmd[128];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ppn_qmp *q = NULL;
    ck_assert_int_eq(ppn_vm_qmp_connect(dir, "nope", 1000, &q), -ENOENT);
    ppn_vm_spec *s = test_spec("c1");
    ck_assert_int_eq(ppn_vm_spec_save(s, dir, true), 0);
    ppn_vm_spec_free(s);
    ck_assert_int_eq(ppn_vm_qmp_connect(dir, "c1", 1000, &q), -ESRCH);
    ck_assert_int_eq(ppn_vm_path(dir, "c1", "pid", pidf, sizeof(pidf)), 0);
    FILE *f = fopen(pidf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d\n", (int)getpid()); /* alive, but not QEMU */
    fclose(f);
    ck_assert_int_eq(ppn_vm_qmp_connect(dir, "c1", 1000, &q), -ESRCH);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(ppn_vm_qmp_connect(NULL, "c1", 1000, &q), -EINVAL);
    ck_assert_int_eq(ppn_vm_qmp_connect(dir, "c1", -1, &q), -EINVAL);
    ck_assert_int_eq(ppn_vm_qmp_connect(dir, "../c1", 1000, &q), -EINVAL);
    ck_assert_int_eq(ppn_vm_qmp_connect(dir, "c1", 1000, NULL), -EINVAL);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* The probe guest's bytes are what accel-payload.S assembles to. */
START_TEST(test_accel_payload_source)
{
    char dir[] = "/tmp/ppn-accel-XXXXXX", cmd[2048], bin[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cmd, sizeof(cmd),
             "as --64 -o %s/p.o '%s' && ld -e 0x100000 -m elf_x86_64 -Ttext=0x100000 --oformat binary "
             "-o %s/p.bin %s/p.o",
             dir, PPN_ACCEL_PAYLOAD_S, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(bin, sizeof(bin), "%s/p.bin", dir);
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(ppnc_read_file(bin, 1 << 16, &d, &n), 0);
    ck_assert_uint_eq(n, vmm_accel_payload_len);
    ck_assert(memcmp(d, vmm_accel_payload, n) == 0);
    free(d);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_kvm_probe_stable)
{
    int a = ppn_vmm_kvm_usable();
    ck_assert(a == 0 || a == 1);
    ck_assert_int_eq(ppn_vmm_kvm_usable(), a);
}
END_TEST

static Suite *vmm_suite(void)
{
    Suite *s = suite_create("vmm");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_port_forward_parse);
    suite_add_tcase(s, tc);

    tc = tcase_create("parser");
    tcase_add_test(tc, test_parse_kinds);
    tcase_add_test(tc, test_parse_bad);
    tcase_add_test(tc, test_parse_u64_overflow);
    suite_add_tcase(s, tc);

    tc = tcase_create("qmp-fake-monitor");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_event_before_reply);
    tcase_add_test(tc, test_garbage_mid_command);
    tcase_add_test(tc, test_silence_timeout_then_late_reply);
    tcase_add_test(tc, test_eof_mid_reply);
    tcase_add_test(tc, test_error_replies);
    tcase_add_test(tc, test_execute_bad_args);
    tcase_add_test(tc, test_wait_event_predicate_order);
    tcase_add_test(tc, test_event_queue_bound);
    tcase_add_test(tc, test_long_line);
    tcase_add_test(tc, test_connect_errors);
    tcase_add_test(tc, test_shutdown_fake_graceful);
    tcase_add_test(tc, test_shutdown_fake_deaf_quit);
    tcase_add_test(tc, test_reboot_fake);
    suite_add_tcase(s, tc);

    tc = tcase_create("spec");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_spec_defaults);
    tcase_add_test(tc, test_spec_store);
    tcase_add_test(tc, test_spec_json_reject);
    tcase_add_test(tc, test_qemu_argv);
    tcase_add_test(tc, test_spec_run_as);
    tcase_add_test(tc, test_vm_qmp_connect_not_running);
    tcase_add_test(tc, test_kvm_probe_stable);
    tcase_add_test(tc, test_accel_payload_source);
    suite_add_tcase(s, tc);

    tc = tcase_create("unit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_unit_verify);
    suite_add_tcase(s, tc);
    return s;
}

#include "ppn-check.h"

int main(void)
{
    return ppn_check_run(vmm_suite());
}
