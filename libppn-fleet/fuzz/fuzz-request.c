/* Fuzz the VM creation request decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ppn_fleet_request rq;
    if (ppn_fleet_request_open(data, size, &rq) == 0) {
        if (!fleet_name_valid(rq.vm_name, strlen(rq.vm_name)) || rq.mem_bytes == 0 ||
            rq.vcpus == 0 || rq.kind > PPN_FLEET_VM_TOTEBOX ||
            (rq.kind == PPN_FLEET_VM_TOTEBOX && !rq.has_node) || rq.kernel[0] == '\0' ||
            strlen(rq.append) > PPN_FLEET_PATH_MAX)
            abort();
    }
    return 0;
}
