/* Fuzz harness for the wg(8) configuration parser (ppn_wg_config_parse):
 * any text in; a refusal must name a line of the input and a printable field;
 * otherwise the parsed device is formatted and parsed again, which
 * must give the same text. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/wg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ppn_wg_device *d, *again;
    unsigned line;
    /* Host names would be resolved: keep the fuzzer off the network by
     * only feeding inputs whose endpoints are numeric (a letter in an
     * Endpoint line is skipped). */
    const char *ep = size > 8 ? memmem(data, size, "ndpoint", 7) : NULL;
    if (ep) {
        for (const char *c = ep + 7; c < (const char *)data + size && *c != '\n'; c++)
            if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))
                return 0;
    }
    ppn_wg_config_error e;
    int r = ppn_wg_config_parse_report((const char *)data, size, &d, &e);
    if (r < 0) {
        /* a refusal names a line of the input and a printable field, with a reason */
        size_t lines = 1;
        for (size_t i = 0; i + 1 < size; i++)
            lines += data[i] == '\n';
        if (r == -ENOMEM)
            return 0;
        if (r != -EBADMSG)
            abort();
        if (e.line < 1 || e.line > lines || !memchr(e.field, '\0', sizeof(e.field)) ||
            !memchr(e.reason, '\0', sizeof(e.reason)) || !e.reason[0])
            abort();
        for (const char *c = e.field; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
                abort();
        return 0;
    }
    char *text, *text2;
    if (ppn_wg_config_format(d, &text) == 0) {
        if (ppn_wg_config_parse(text, strlen(text), &again, &line) != 0)
            abort(); /* what we print must parse */
        if (ppn_wg_config_format(again, &text2) == 0) {
            if (strcmp(text, text2) != 0)
                abort(); /* and print the same again */
            free(text2);
        }
        ppn_wg_device_free(again);
        free(text);
    }
    ppn_wg_device_free(d);
    return 0;
}
