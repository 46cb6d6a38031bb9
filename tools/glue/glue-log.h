/* One formatted log line handed to the caller's callback (internal glue,
 * not installed): the pool and the creation worker print nothing
 * themselves. */
#pragma once

/* The caller's log callback: one line, no newline. */
typedef void (*glue_log_fn)(const char *line, void *userdata);

/* Formats at most 1023 bytes and calls 'log' with them; nothing when 'log'
 * is NULL. */
void glue_logf(glue_log_fn log, void *userdata, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
