/* request-forge: signs creation requests the way ppn-vm request never does,
 * for the services tests: without the operator's confirmation, or confirmed
 * and then altered after signing.
 *   request-forge KEYFILE NODE_KEY_BASE64 VM_NAME MODE KERNEL
 * KEYFILE holds the base64 of a 32-byte seed (as the tests write them); MODE
 * is confirmed, unconfirmed or altered.  Prints the request as hex. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "ppn/fleet.h"

#define MIB (1ULL << 20)

static int b64(const char *in, uint8_t *out, size_t n)
{
    size_t got = 0;
    if (sodium_base642bin(out, n, in, strlen(in), " \n\r", &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 || got != n)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 6 || sodium_init() < 0) {
        fprintf(stderr, "usage: request-forge KEYFILE NODE_KEY VM MODE KERNEL\n");
        return 2;
    }
    char text[256] = "";
    FILE *f = fopen(argv[1], "r");
    if (!f || !fgets(text, sizeof(text), f)) {
        fprintf(stderr, "request-forge: cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    uint8_t seed[32], sk[64];
    static ppn_fleet_request rq;
    if (b64(text, seed, 32) < 0 || b64(argv[2], rq.node_key, 32) < 0 ||
        ppn_fleet_keypair_from_seed(seed, rq.operator_key, sk) < 0) {
        fprintf(stderr, "request-forge: bad key\n");
        return 1;
    }
    randombytes_buf(rq.nonce, sizeof(rq.nonce));
    rq.created_unix = (uint64_t)time(NULL);
    snprintf(rq.vm_name, sizeof(rq.vm_name), "%s", argv[3]);
    rq.mem_bytes = 128 * MIB;
    rq.vcpus = 1;
    rq.has_node = true;
    rq.confirmed = strcmp(argv[4], "unconfirmed") != 0;
    snprintf(rq.kernel, sizeof(rq.kernel), "%s", argv[5]);
    uint8_t buf[PPN_FLEET_MESSAGE_MAX];
    int n = ppn_fleet_request_sign(&rq, sk, buf, sizeof(buf));
    sodium_memzero(sk, sizeof(sk));
    if (n < 0) {
        fprintf(stderr, "request-forge: sign: %s\n", strerror(-n));
        return 1;
    }
    if (strcmp(argv[4], "altered") == 0) {
        /* the kernel path's last byte, after signing */
        uint8_t *p = memmem(buf, (size_t)n, argv[5], strlen(argv[5]));
        if (!p)
            return 1;
        p[strlen(argv[5]) - 1] ^= 1;
    }
    for (int i = 0; i < n; i++)
        printf("%02x", buf[i]);
    printf("\n");
    return 0;
}
