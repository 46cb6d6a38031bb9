/* Fuzzes the VM specification parser (spec.json in the state directory):
 * whatever it accepts must serialise and parse back to the same text, and
 * its cloud-init settings must make a seed image of the published size. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ppn_vm_spec *s;
    const char *why;
    if (ppn_vm_spec_from_json((const char *)data, size, &s, &why) != 0)
        return 0;
    char *a, *b;
    if (ppn_vm_spec_validate(s, NULL) != 0 || ppn_vm_spec_to_json(s, &a) != 0)
        abort();
    ppn_vm_spec *t;
    if (ppn_vm_spec_from_json(a, strlen(a), &t, &why) != 0 || ppn_vm_spec_to_json(t, &b) != 0)
        abort();
    if (strcmp(a, b) != 0)
        abort();
    ppn_vm_cloud_init ci;
    uint8_t *img;
    size_t n;
    int has = ppn_vm_spec_cloud_init(s, &ci);
    int r = ppn_vm_seed_build(s, &img, &n);
    if (has == 1) {
        if (r != 0 || n != PPN_VM_SEED_BYTES)
            abort();
        free(img);
    } else if (has != 0 || r != -ENODATA) {
        abort();
    }
    free(a);
    free(b);
    ppn_vm_spec_free(s);
    ppn_vm_spec_free(t);
    return 0;
}
