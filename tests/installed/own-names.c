/* Names a program may well use itself, which the libraries use internally:
 * linking them beside a static libppn-*.a must work. */
#include <stddef.h>
#include <string.h>

void ppnc_wipe(void *p, size_t n);
int ppnc_read_file(const char *path);
long ppnc_now_mono_ms(void);

void ppnc_wipe(void *p, size_t n) { memset(p, 0, n); }
int ppnc_read_file(const char *path) { return path ? 0 : -1; }
long ppnc_now_mono_ms(void) { return 42; }
