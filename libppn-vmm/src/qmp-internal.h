/* Internal: the QMP line parser (fuzzed) and helpers shared by the sources. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum qmp_msg_kind {
    QMP_MSG_BLANK = 0,    /* an empty or whitespace-only line: ignored */
    QMP_MSG_GREETING = 1,
    QMP_MSG_RETURN = 2,
    QMP_MSG_ERROR = 3,
    QMP_MSG_EVENT = 4,
};

struct qmp_msg {
    enum qmp_msg_kind kind;
    json_t *root;           /* owned; the others point into it */
    bool has_id;
    bool id_is_int;
    int64_t id;             /* when id_is_int */
    json_t *ret;            /* RETURN: the "return" member */
    const char *err_class;  /* ERROR */
    const char *err_desc;   /* ERROR ("" when absent) */
    const char *event;      /* EVENT: name */
    json_t *data;           /* EVENT: "data" or NULL */
    int64_t ts_sec, ts_usec;
    const char *version;    /* GREETING: "major.minor.micro" in vbuf */
    char vbuf[48];
};

/* Parses one line (without its newline; may end with "\r").  0 and *msg
 * filled (free with qmp_msg_clear), -EBADMSG not JSON, -EPROTO JSON but not
 * a QMP message. */
int qmp_parse_line(const char *line, size_t len, struct qmp_msg *msg);
void qmp_msg_clear(struct qmp_msg *msg);

/* A JSON number as uint64: integers, and reals for values jansson could not
 * hold as json_int_t (QEMU prints uint64 -1 for "not reported").  -1 as an
 * integer is UINT64_MAX.  false when not a number or negative otherwise. */
bool qmp_json_u64(const json_t *v, uint64_t *ret);

/* A ppn_qmp_wait_event filter: 1 for an event whose data says "guest": true (the guest asked
 * for it: a power-off or a reboot from inside), 0 otherwise (QEMU on a signal, a command). */
int vmm_event_from_guest(const char *name, const char *data, void *userdata);
