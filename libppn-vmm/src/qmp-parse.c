/* The QMP line parser: one JSON object per line, classified as greeting,
 * reply (return / error, with or without id) or event. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qmp-internal.h"

void qmp_msg_clear(struct qmp_msg *msg)
{
    if (!msg)
        return;
    json_decref(msg->root);
    memset(msg, 0, sizeof(*msg));
}

bool qmp_json_u64(const json_t *v, uint64_t *ret)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i == -1) {
            *ret = UINT64_MAX;
            return true;
        }
        if (i < 0)
            return false;
        *ret = (uint64_t)i;
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0.0) || d != floor(d))
            return false;
        if (d >= 18446744073709551615.0) {
            *ret = UINT64_MAX;
            return true;
        }
        *ret = (uint64_t)d;
        return true;
    }
    return false;
}

static bool json_i64(const json_t *v, int64_t *ret)
{
    if (json_is_integer(v)) {
        *ret = (int64_t)json_integer_value(v);
        return true;
    }
    return false;
}

int qmp_parse_line(const char *line, size_t len, struct qmp_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
    size_t i;
    for (i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
            break;
    if (i == len) {
        msg->kind = QMP_MSG_BLANK;
        return 0;
    }

    /* No JSON_REJECT_DUPLICATES: QEMU never repeats a key, the check costs
     * a tenth of the parse on every round trip, and a repeated key from a
     * broken monitor only means the last value wins. */
    json_error_t jerr;
    json_t *root = json_loadb(line, len, 0, &jerr);
    if (!root && json_error_code(&jerr) == json_error_numeric_overflow)
        /* QEMU prints uint64 values above INT64_MAX (e.g. -1 for "not
         * reported" in guest stats); read numbers as doubles then. */
        root = json_loadb(line, len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!root)
        return -EBADMSG;
    if (!json_is_object(root)) {
        json_decref(root);
        return -EPROTO;
    }
    msg->root = root;

    json_t *id = json_object_get(root, "id");
    if (id) {
        msg->has_id = true;
        if (json_is_integer(id)) {
            msg->id_is_int = true;
            msg->id = (int64_t)json_integer_value(id);
        }
    }

    json_t *v;
    if ((v = json_object_get(root, "QMP"))) {
        if (!json_is_object(v))
            goto proto;
        json_t *ver = json_object_get(v, "version");
        json_t *q = ver ? json_object_get(ver, "qemu") : NULL;
        int64_t ma, mi, mc;
        if (!json_is_object(q) || !json_i64(json_object_get(q, "major"), &ma) ||
            !json_i64(json_object_get(q, "minor"), &mi) || !json_i64(json_object_get(q, "micro"), &mc))
            goto proto;
        if (!json_is_array(json_object_get(v, "capabilities")))
            goto proto;
        snprintf(msg->vbuf, sizeof(msg->vbuf), "%lld.%lld.%lld", (long long)ma, (long long)mi,
                 (long long)mc);
        msg->version = msg->vbuf;
        msg->kind = QMP_MSG_GREETING;
        return 0;
    }
    if ((v = json_object_get(root, "return"))) {
        msg->ret = v;
        msg->kind = QMP_MSG_RETURN;
        return 0;
    }
    if ((v = json_object_get(root, "error"))) {
        json_t *cl = json_object_get(v, "class");
        json_t *desc = json_object_get(v, "desc");
        if (!json_is_object(v) || !json_is_string(cl) || (desc && !json_is_string(desc)))
            goto proto;
        msg->err_class = json_string_value(cl);
        msg->err_desc = desc ? json_string_value(desc) : "";
        msg->kind = QMP_MSG_ERROR;
        return 0;
    }
    if ((v = json_object_get(root, "event"))) {
        if (!json_is_string(v))
            goto proto;
        msg->event = json_string_value(v);
        if (msg->event[0] == '\0')
            goto proto;
        json_t *data = json_object_get(root, "data");
        if (data && !json_is_object(data))
            goto proto;
        msg->data = data;
        json_t *ts = json_object_get(root, "timestamp");
        if (json_is_object(ts)) {
            json_i64(json_object_get(ts, "seconds"), &msg->ts_sec);
            json_i64(json_object_get(ts, "microseconds"), &msg->ts_usec);
        }
        msg->kind = QMP_MSG_EVENT;
        return 0;
    }
proto:
    qmp_msg_clear(msg);
    return -EPROTO;
}
