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
    printf("libppn-wg %s\n", v);
    return 0;
}
