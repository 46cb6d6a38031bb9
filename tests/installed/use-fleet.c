/* Built against the installed tree with only pkg-config's flags. */
#include <ppn/fleet.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *v = ppn_fleet_version();
    if (argc < 2 || strcmp(v, argv[1]) != 0) {
        printf("version '%s', expected '%s'\n", v, argc > 1 ? argv[1] : "?");
        return 1;
    }
    ppn_fleet *f = NULL;
    if (ppn_fleet_new(0, &f) < 0 || ppn_fleet_node_count(f) != 0) {
        printf("an empty fleet is not empty\n");
        ppn_fleet_free(f);
        return 1;
    }
    ppn_fleet_free(f);
    /* the one constant function of the library (doc/API.md) */
    if (ppn_fleet_constant(PPN_FLEET_CONSTANT_MESSAGE_MAX) != (int64_t)PPN_FLEET_MESSAGE_MAX) {
        printf("ppn_fleet_constant(MESSAGE_MAX) is not PPN_FLEET_MESSAGE_MAX\n");
        return 1;
    }
    printf("libppn-fleet %s: empty fleet\n", v);
    return 0;
}
