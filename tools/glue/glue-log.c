/* One formatted log line: see glue-log.h. */
#include "glue-log.h"

#include <stdarg.h>
#include <stdio.h>

void glue_logf(glue_log_fn log, void *userdata, const char *fmt, ...)
{
    if (!log)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log(line, userdata);
}
