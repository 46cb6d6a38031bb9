/* A pull worker's result lines (pullres.h). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pullres.h"

size_t glue_pull_line(char buf[GLUE_PULL_LINE_MAX], uint64_t ticket, int result, const char *text)
{
    int n = snprintf(buf, GLUE_PULL_LINE_MAX, "%" PRIu64 "\t%d\t", ticket, result);
    size_t len = (size_t)n;
    for (const char *p = text ? text : ""; *p && len + 2 < GLUE_PULL_LINE_MAX; p++)
        buf[len++] = (*p == '\t' || *p == '\n' || *p == '\r') ? ' ' : *p;
    buf[len++] = '\n';
    buf[len] = '\0';
    return len;
}

int glue_pull_parse(char *line, uint64_t *ret_ticket, int *ret_result, const char **ret_text)
{
    if (!line || !ret_ticket || !ret_result || !ret_text || line[0] < '0' || line[0] > '9')
        return -EBADMSG;
    char *end;
    errno = 0;
    unsigned long long ticket = strtoull(line, &end, 10);
    if (errno || *end != '\t')
        return -EBADMSG;
    char *r = end + 1;
    if (!(*r == '-' || (*r >= '0' && *r <= '9')))
        return -EBADMSG;
    long result = strtol(r, &end, 10);
    if (errno || *end != '\t' || result < INT_MIN || result > INT_MAX)
        return -EBADMSG;
    *ret_ticket = ticket;
    *ret_result = (int)result;
    *ret_text = end + 1;
    return 0;
}
