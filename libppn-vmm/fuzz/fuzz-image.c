/* Fuzzes the disk image header parser (the first bytes of an image file a
 * VM is given, untrusted): whatever it accepts must be a consistent
 * description — a known format, a bounded size, a NUL-terminated backing
 * name of at most 1023 printable bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ppn/vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, uint64_t file_size)
{
    ppn_vm_image_info info;
    const char *why = NULL;
    memset(&info, 0xa5, sizeof(info));
    int r = ppn_vm_image_parse(data, size, file_size, &info, &why);
    if (r < 0) {
        if (!why)
            abort();
        return;
    }
    if (info.format != PPN_VM_DISK_FORMAT_RAW && info.format != PPN_VM_DISK_FORMAT_QCOW2)
        abort();
    if (info.virtual_size > PPN_VM_IMAGE_SIZE_MAX)
        abort();
    size_t n = strnlen(info.backing_file, sizeof(info.backing_file));
    if (n > PPN_VM_BACKING_FILE_MAX)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)info.backing_file[i] < 0x20 || info.backing_file[i] == 0x7f)
            abort();
    if (info.format == PPN_VM_DISK_FORMAT_RAW && (n || info.virtual_size != file_size))
        abort();
    if (info.format == PPN_VM_DISK_FORMAT_QCOW2 && info.qcow2_version != 2 && info.qcow2_version != 3)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, size);
    /* the same bytes as the start of a larger file */
    check(data, size, (uint64_t)size + 65536);
    return 0;
}
