/* Built against the installed tree with only pkg-config's flags. */
#include <ppn/crypto.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *v = ppn_crypto_version();
    if (argc < 2 || strcmp(v, argv[1]) != 0) {
        printf("version '%s', expected '%s'\n", v, argc > 1 ? argv[1] : "?");
        return 1;
    }
    char code[PPN_CRYPTO_CODE_STRING_SIZE], canon[PPN_CRYPTO_CODE_CANONICAL_SIZE];
    size_t pos = 0;
    int r = ppn_crypto_code_generate(PPN_CRYPTO_CODE_DEFAULT_SYMBOLS, PPN_CRYPTO_CODE_CHECK, code, sizeof(code));
    if (r < 0 || ppn_crypto_code_parse(code, strlen(code), PPN_CRYPTO_CODE_CHECK, canon, &pos) < 0) {
        printf("code round trip failed (%d)\n", r);
        return 1;
    }
    /* the one constant function of the library (doc/API.md) */
    if (ppn_crypto_constant(PPN_CRYPTO_CONSTANT_KEY_B64_LEN) != (int64_t)PPN_CRYPTO_KEY_B64_LEN) {
        printf("ppn_crypto_constant(KEY_B64_LEN) is not PPN_CRYPTO_KEY_B64_LEN\n");
        return 1;
    }
    printf("libppn-crypto %s: code round trip\n", v);
    return 0;
}
