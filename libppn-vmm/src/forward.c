/* A port forward from its text form, as the tools take it on the command line. */
#include <errno.h>
#include <string.h>

#include "ppn/vmm.h"

/* 1..65535 in decimal digits only, no sign, no spaces. */
static int port(const char *s, size_t n, uint16_t *ret)
{
    if (n == 0 || n > 5)
        return -EINVAL;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -EINVAL;
    *ret = (uint16_t)v;
    return 0;
}

PPN_EXPORT int ppn_vm_port_forward_parse(const char *text, ppn_vm_port_forward *ret)
{
    if (!text || !ret)
        return -EINVAL;
    ppn_vm_port_forward f = {.proto = PPN_VM_PROTO_TCP};
    const char *s = text;
    if (!strncmp(s, "tcp:", 4)) {
        s += 4;
    } else if (!strncmp(s, "udp:", 4)) {
        f.proto = PPN_VM_PROTO_UDP;
        s += 4;
    }
    const char *colon = strchr(s, ':');
    if (!colon || port(s, (size_t)(colon - s), &f.host_port) < 0 ||
        port(colon + 1, strlen(colon + 1), &f.guest_port) < 0)
        return -EINVAL;
    *ret = f;
    return 0;
}
