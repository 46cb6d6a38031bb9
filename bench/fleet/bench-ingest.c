/* Heartbeats ingested per second, with signature verification, against the
 * floor: bare Ed25519 verification of the same signed bytes, same run. */
#include <sodium.h>
#include <stdlib.h>

#include "bench-util.h"
#include "fleet-internal.h"

#define NODES 1000
#define ROUNDS 4

int main(void)
{
    size_t total = (size_t)NODES * ROUNDS;
    uint8_t *pks = malloc(32 * NODES), sk[64];
    uint8_t (*pkt)[512] = malloc(total * 512);
    size_t *len = malloc(total * sizeof(size_t));
    uint8_t (*msg)[1024] = malloc(total * 1024);
    size_t *msg_len = malloc(total * sizeof(size_t));
    uint8_t (*sig)[64] = malloc(total * 64);
    ppn_fleet_heartbeat hb;
    if (!pks || !pkt || !len || !msg || !msg_len || !sig)
        return 1;
    for (unsigned i = 0; i < NODES; i++) {
        bench_key(i, pks + 32 * i, sk);
        for (unsigned r = 0; r < ROUNDS; r++) {
            size_t k = (size_t)r * NODES + i;
            bench_hb(&hb, pks + 32 * i, i, r + 1);
            int n = ppn_fleet_heartbeat_sign(&hb, sk, pkt[k], 512);
            if (n < 0)
                return 1;
            len[k] = (size_t)n;
            ppn_fleet_heartbeat tmp;
            uint8_t m[FLEET_SIGNED_MAX];
            if (fleet_heartbeat_parse(pkt[k], len[k], &tmp, m, &msg_len[k], sig[k]) < 0 ||
                msg_len[k] > 1024)
                return 1;
            memcpy(msg[k], m, msg_len[k]);
        }
    }
    /* Alternate floor and ingestion five times and keep the best of each,
     * so that both see the same machine state. */
    double floor_s = 1e9, ingest_s = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t = bench_now();
        for (size_t k = 0; k < total; k++)
            if (crypto_sign_verify_detached(sig[k], msg[k], msg_len[k],
                                            pks + 32 * (k % NODES)) != 0)
                return 1;
        double d = bench_now() - t;
        if (d < floor_s)
            floor_s = d;

        ppn_fleet *f;
        if (ppn_fleet_new(0, &f) < 0 || ppn_fleet_set_members(f, pks, NODES) != NODES)
            return 1;
        t = bench_now();
        for (size_t k = 0; k < total; k++)
            if (ppn_fleet_ingest(f, pkt[k], len[k], NULL, 0, 1 + k / NODES) != 0)
                return 1;
        d = bench_now() - t;
        if (d < ingest_s)
            ingest_s = d;
        ppn_fleet_free(f);
    }

    printf("heartbeat size:        %zu bytes (3 VMs)\n", len[0]);
    printf("ed25519 verify floor:  %.0f verifications/s\n", (double)total / floor_s);
    printf("ingest (verified):     %.0f heartbeats/s\n", (double)total / ingest_s);
    printf("ratio to floor:        %.2fx the time of verification alone (aim <= 1.20)\n",
           ingest_s / floor_s);
    return 0;
}
