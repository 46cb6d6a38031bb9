/* Built against the installed tree with only pkg-config's flags. */
#include <ppn/vmm.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *v = ppn_vmm_version();
    if (argc < 2 || strcmp(v, argv[1]) != 0) {
        printf("version '%s', expected '%s'\n", v, argc > 1 ? argv[1] : "?");
        return 1;
    }
    ppn_vm_type t;
    ppn_vm_spec *spec = NULL;
    if (ppn_vm_type_from_string("VM-MediaKit", &t) < 0 || ppn_vm_spec_new("mediakit-1", t, &spec) < 0 ||
        ppn_vm_spec_memory_mib(spec) != 6144) {
        printf("VM-MediaKit specification default is wrong\n");
        ppn_vm_spec_free(spec);
        return 1;
    }
    ppn_vm_spec_free(spec);
    /* the one constant function of the library (doc/API.md) */
    if (ppn_vmm_constant(PPN_VMM_CONSTANT_VM_NAME_MAX) != (int64_t)PPN_VM_NAME_MAX) {
        printf("ppn_vmm_constant(VM_NAME_MAX) is not PPN_VM_NAME_MAX\n");
        return 1;
    }
    printf("libppn-vmm %s: VM-MediaKit default 6 GiB\n", v);
    return 0;
}
