/* Fuzz harness for the wg(8) configuration parser (ppn_wg_config_parse):
 * any text in, then the parsed device is formatted and parsed again, which
 * must give the same text. */
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
    if (ppn_wg_config_parse((const char *)data, size, &d, &line) < 0)
        return 0;
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
