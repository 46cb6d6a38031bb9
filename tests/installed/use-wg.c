/* Built against the installed tree with only pkg-config's flags. */
#include <ppn/wg.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *v = ppn_wg_version();
    if (argc < 2 || strcmp(v, argv[1]) != 0) {
        printf("version '%s', expected '%s'\n", v, argc > 1 ? argv[1] : "?");
        return 1;
    }
    ppn_wg_allowedip ip;
    char buf[64];
    if (ppn_wg_allowedip_parse("10.8.0.0/24", &ip) < 0 || ppn_wg_allowedip_format(&ip, buf, sizeof(buf)) < 0 ||
        strcmp(buf, "10.8.0.0/24") != 0) {
        printf("allowed IP round trip failed\n");
        return 1;
    }
    /* the one constant function of the library (doc/API.md) */
    if (ppn_wg_constant(PPN_WG_CONSTANT_IFNAME_MAX) != (int64_t)PPN_WG_IFNAME_MAX) {
        printf("ppn_wg_constant(IFNAME_MAX) is not PPN_WG_IFNAME_MAX\n");
        return 1;
    }
    printf("libppn-wg %s: allowed IP round trip\n", v);
    return 0;
}
