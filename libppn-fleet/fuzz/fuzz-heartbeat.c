/* Fuzz the heartbeat decoder: the strict parser alone (so that mutations
 * reach the body without a valid signature), the public open, and the
 * controller's ingestion with the corpus' signing keys as members — once by
 * keys only, once as member records with mesh addresses, the source picked by
 * the input's length (one of the four members' IPs or a stranger's). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ppn_fleet *fleet, *recs;
static const char *const names[4] = {"n-1", "n-2", "n-3", "n-4"};

static void setup(void)
{
    if (fleet)
        return;
    if (ppn_fleet_new(0, &fleet) < 0)
        abort();
    /* The corpus is signed by keys from seeds {i, 0, ..., 0x5a}, i = 1..4. */
    uint8_t keys[4 * 32], sk[64], seed[32];
    for (unsigned i = 0; i < 4; i++) {
        memset(seed, 0, sizeof(seed));
        seed[0] = (uint8_t)(i + 1);
        seed[31] = 0x5a;
        ppn_fleet_keypair_from_seed(seed, keys + 32 * i, sk);
    }
    if (ppn_fleet_set_members(fleet, keys, 4) != 4)
        abort();
    ppn_fleet_member m[4];
    memset(m, 0, sizeof(m));
    for (unsigned i = 0; i < 4; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(51901),
                                .sin_addr.s_addr = htonl(0x0a080001 + i)};
        memcpy(m[i].key, keys + 32 * i, 32);
        strcpy(m[i].name, names[i]);
        memcpy(&m[i].addr, &a, sizeof(a));
        m[i].addr_len = sizeof(a);
    }
    if (ppn_fleet_new(0, &recs) < 0 || ppn_fleet_set_member_records(recs, m, 4) != 4 ||
        ppn_fleet_set_option(recs, PPN_FLEET_OPT_MEMBER_RATE, 0) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint64_t now;
    static uint8_t msg[FLEET_SIGNED_MAX];
    ppn_fleet_heartbeat hb;
    uint8_t sig[64];
    size_t msg_len;
    setup();
    if (fleet_heartbeat_parse(data, size, &hb, msg, &msg_len, sig) == 0) {
        if (hb.n_vms > PPN_FLEET_MAX_VMS || msg_len > sizeof(msg) ||
            strlen(hb.node_name) > PPN_FLEET_NAME_MAX)
            abort();
        for (uint32_t i = 0; i < hb.n_vms; i++)
            if (!fleet_name_valid(hb.vms[i].name, strlen(hb.vms[i].name)))
                abort();
    }
    if (ppn_fleet_heartbeat_open(data, size, &hb) == 0 &&
        (hb.n_vms > PPN_FLEET_MAX_VMS || hb.version != PPN_FLEET_HEARTBEAT_VERSION))
        abort();
    now += 1000;
    ppn_fleet_ingest(fleet, data, size, NULL, 0, now);
    ppn_fleet_tick_result res;
    ppn_fleet_tick(fleet, now, &res);
    ppn_fleet_place_query q = {.mem_bytes = 1ULL << 20, .vcpus = 1};
    ppn_fleet_placement p;
    ppn_fleet_place(fleet, &q, now, NULL, NULL, &p);

    struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(40000),
                               .sin_addr.s_addr = htonl(0x0a080001 + (uint32_t)(size % 5))};
    ppn_fleet_ingest(recs, data, size, (struct sockaddr *)&from, sizeof(from), now);
    ppn_fleet_claim(recs, hb.node_key, "claim", PPN_FLEET_BYTES_MAX, now);
    for (size_t i = 0; i < 4; i++) {
        ppn_fleet_node_info info;
        if (ppn_fleet_node_get(recs, i, now, &info) < 0 || strcmp(info.node_name, names[i]) != 0 ||
            info.ram_total_bytes > PPN_FLEET_BYTES_MAX || info.vm_mem_bytes > PPN_FLEET_BYTES_MAX ||
            info.claimed_bytes > PPN_FLEET_BYTES_MAX)
            abort(); /* names only from records; byte figures bounded */
    }
    return 0;
}
