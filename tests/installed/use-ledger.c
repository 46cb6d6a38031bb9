/* Built against the installed tree with only pkg-config's flags. */
#include <ppn/ledger.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *v = ppn_ledger_version();
    if (argc < 2 || strcmp(v, argv[1]) != 0) {
        printf("version '%s', expected '%s'\n", v, argc > 1 ? argv[1] : "?");
        return 1;
    }
    /* RFC 6962: the leaf hash of the empty entry is SHA-256(0x00). */
    static const uint8_t want[32] = {
        0x6e, 0x34, 0x0b, 0x9c, 0xff, 0xb3, 0x7a, 0x98, 0x9c, 0xa5, 0x44, 0xe6, 0xbb, 0x78, 0x0a, 0x2c,
        0x78, 0x90, 0x1d, 0x3f, 0xb3, 0x37, 0x38, 0x76, 0x85, 0x11, 0xa3, 0x06, 0x17, 0xaf, 0xa0, 0x1d};
    uint8_t h[PPN_LEDGER_HASH_BYTES];
    ppn_ledger_merkle_leaf_hash((const uint8_t *)"", 0, h);
    if (memcmp(h, want, sizeof(want)) != 0) {
        printf("leaf hash of the empty entry is wrong\n");
        return 1;
    }
    /* the one constant function of the library (doc/API.md) */
    if (ppn_ledger_constant(PPN_LEDGER_CONSTANT_ENTRY_MAX) != (int64_t)PPN_LEDGER_ENTRY_MAX) {
        printf("ppn_ledger_constant(ENTRY_MAX) is not PPN_LEDGER_ENTRY_MAX\n");
        return 1;
    }
    printf("libppn-ledger %s: RFC 6962 empty leaf hash\n", v);
    return 0;
}
