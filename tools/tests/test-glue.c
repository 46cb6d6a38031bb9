/* The tools' cross-library glue against real ledgers on disk: mesh address
 * allocation (never reusing a revoked node's address) and the WireGuard
 * device a node derives from its ledger. */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glue.h"

static char dir[64];
static uint8_t admin_pk[32], admin_sk[64];

static ppn_ledger *fresh(const char *range)
{
    snprintf(dir, sizeof(dir), "/tmp/ppn-glue-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ld[128];
    snprintf(ld, sizeof(ld), "%s/ledger", dir);
    crypto_sign_keypair(admin_pk, admin_sk);
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_create(ld, "glue.example/test", range, admin_sk, &l), 0);
    return l;
}

static void done(ppn_ledger *l)
{
    ppn_ledger_free(l);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void join(ppn_ledger *l, uint8_t id[32], uint8_t wg[32], const char *mesh, const char *endpoint,
                 const char *host)
{
    uint8_t sk[64];
    crypto_sign_keypair(id, sk);
    randombytes_buf(wg, 32);
    wg[0] |= 1; /* never all zero */
    int r = ppn_ledger_node_join(l, id, wg, mesh, endpoint, host, admin_sk, NULL);
    ck_assert_msg(r == 0, "join %s: %s (%s)", mesh, strerror(-r), ppn_ledger_last_error(l));
}

START_TEST(test_range)
{
    struct glue_mesh_range mr;
    ck_assert_int_eq(glue_mesh_range_parse("10.8.0.0/24", &mr), 0);
    ck_assert_uint_eq(mr.prefix, 24);
    char b[32];
    glue_mesh_range_host(&mr, 7, b, sizeof(b));
    ck_assert_str_eq(b, "10.8.0.7/24");
    ck_assert_uint_eq(glue_mesh_host_in_range(&mr, "10.8.0.7/24"), 7);
    ck_assert_uint_eq(glue_mesh_host_in_range(&mr, "10.8.0.7"), 7);
    ck_assert_uint_eq(glue_mesh_host_in_range(&mr, "10.8.0.0"), 0);   /* network */
    ck_assert_uint_eq(glue_mesh_host_in_range(&mr, "10.8.0.255"), 0); /* broadcast */
    ck_assert_uint_eq(glue_mesh_host_in_range(&mr, "10.9.0.7"), 0);
    static const char *const bad[] = {"10.8.0.0", "10.8.0.0/", "10.8.0.0/7", "10.8.0.0/31", "10.8.0.0/24x",
                                      "10.8.0.0/-1", "garbage/24", "10.8.0.0/99999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(glue_mesh_range_parse(bad[i], &mr) == -EINVAL, "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_allocation_never_reuses)
{
    ppn_ledger *l = fresh("10.9.0.0/29"); /* hosts .1 .. .6 */
    uint8_t id[6][32], wg[6][32];
    char a[32];
    ck_assert_int_eq(glue_mesh_allocate(l, NULL, a, sizeof(a)), 0);
    ck_assert_str_eq(a, "10.9.0.1/29");
    join(l, id[0], wg[0], a, "", "n1");
    ck_assert_int_eq(glue_mesh_allocate(l, "10.9.0.5", a, sizeof(a)), 0); /* a free proposal is honoured */
    ck_assert_str_eq(a, "10.9.0.5/29");
    join(l, id[1], wg[1], a, "", "n5");
    ck_assert_int_eq(glue_mesh_allocate(l, "10.9.0.5", a, sizeof(a)), 0); /* a taken one is not */
    ck_assert_str_eq(a, "10.9.0.2/29");
    join(l, id[2], wg[2], a, "", "n2");
    /* revoked: its address stays taken */
    ck_assert_int_eq(ppn_ledger_node_revoke(l, id[2], "lost", admin_sk, NULL), 0);
    ck_assert_int_eq(glue_mesh_allocate(l, "10.9.0.2", a, sizeof(a)), 0);
    ck_assert_str_eq(a, "10.9.0.3/29");
    join(l, id[3], wg[3], a, "", "n3");
    ck_assert_int_eq(glue_mesh_allocate(l, NULL, a, sizeof(a)), 0);
    ck_assert_str_eq(a, "10.9.0.4/29");
    join(l, id[4], wg[4], a, "", "n4");
    ck_assert_int_eq(glue_mesh_allocate(l, NULL, a, sizeof(a)), 0);
    ck_assert_str_eq(a, "10.9.0.6/29");
    join(l, id[5], wg[5], a, "", "n6");
    ck_assert_int_eq(glue_mesh_allocate(l, NULL, a, sizeof(a)), -ENOSPC); /* .2 was revoked, still not free */
    done(l);
}
END_TEST

static int warned;
static void on_warn(const char *member, const char *what, void *ud)
{
    (void)what;
    (void)ud;
    ck_assert_str_eq(member, "far");
    warned++;
}

START_TEST(test_device_from_ledger)
{
    ppn_ledger *l = fresh("10.8.0.0/24");
    uint8_t me[32], mewg[32], b[32], bwg[32], c[32], cwg[32], far[32], farwg[32];
    join(l, me, mewg, "10.8.0.1/24", "192.0.2.1:51820", "me");
    join(l, b, bwg, "10.8.0.2/24", "192.0.2.2:51820", "b");
    join(l, c, cwg, "10.8.0.3", "", "c");
    join(l, far, farwg, "10.8.0.4/24", "no-such-host.invalid:51820", "far");
    ck_assert_int_eq(ppn_ledger_node_revoke(l, c, "gone", admin_sk, NULL), 0);
    uint8_t sk[32];
    randombytes_buf(sk, sizeof(sk));
    ppn_wg_device *d;
    struct ppn_ledger_member self;
    unsigned peers = 0;
    warned = 0;
    /* the ledger must record this node's WireGuard key */
    ck_assert_int_eq(glue_wg_device_from_ledger(l, me, bwg, sk, "wg7", 51821, on_warn, NULL, &d, &self, &peers, NULL),
                     -EKEYREJECTED);
    uint8_t stranger[32] = {9};
    ck_assert_int_eq(glue_wg_device_from_ledger(l, stranger, mewg, sk, "wg7", 51821, on_warn, NULL, &d, &self, &peers,
                                                NULL),
                     -ENOENT);
    ck_assert_int_eq(glue_wg_device_from_ledger(l, me, mewg, sk, "wg7", 51821, on_warn, NULL, &d, &self, &peers, NULL),
                     0);
    ck_assert_uint_eq(peers, 2); /* b and far; c is revoked, me is me */
    ck_assert_int_eq(warned, 1);
    ck_assert_str_eq(self.mesh, "10.8.0.1/24");
    char *text;
    ck_assert_int_eq(ppn_wg_config_format(d, &text), 0);
    char bk[45], fk[45], ck[45];
    ppn_wg_key_to_base64(bwg, bk);
    ppn_wg_key_to_base64(farwg, fk);
    ppn_wg_key_to_base64(cwg, ck);
    ck_assert_ptr_nonnull(strstr(text, "ListenPort = 51821"));
    const char *pb = strstr(text, bk), *pf = strstr(text, fk);
    ck_assert_ptr_nonnull(pb);
    ck_assert_ptr_nonnull(pf);
    ck_assert_ptr_null(strstr(text, ck));
    ck_assert_ptr_nonnull(strstr(text, "AllowedIPs = 10.8.0.2/32"));
    ck_assert_ptr_nonnull(strstr(text, "Endpoint = 192.0.2.2:51820"));
    ck_assert_ptr_nonnull(strstr(text, "AllowedIPs = 10.8.0.4/32"));
    ck_assert_ptr_nonnull(strstr(text, "PersistentKeepalive = 25"));
    sodium_memzero(text, strlen(text));
    free(text);
    ppn_wg_device_free(d);
    done(l);
}
END_TEST

/* The topology: full mesh, then a hub (a cap-grant of mesh.hub, validated: a current member,
 * unscoped, one at a time), spokes with one peer for the whole range and the hub with all,
 * the hub moved in one batch, back to a full mesh; a revoked hub leaves a full mesh. */
static char *config_of(ppn_ledger *l, const uint8_t id[32], const uint8_t wg[32], unsigned *peers)
{
    uint8_t sk[32];
    randombytes_buf(sk, sizeof(sk));
    ppn_wg_device *d;
    struct ppn_ledger_member self;
    ck_assert_int_eq(glue_wg_device_from_ledger(l, id, wg, sk, "wg7", 51821, NULL, NULL, &d, &self, peers, NULL), 0);
    char *text;
    ck_assert_int_eq(ppn_wg_config_format(d, &text), 0);
    ppn_wg_device_free(d);
    return text;
}

static int hub_grant(ppn_ledger *l, const uint8_t who[32], const char *scope)
{
    return ppn_ledger_cap_grant(l, who, PPN_LEDGER_CAP_MESH_HUB, scope, admin_sk, NULL);
}

START_TEST(test_topology)
{
    ppn_ledger *l = fresh("10.8.0.0/24");
    uint8_t a[32], awg[32], b[32], bwg[32], c[32], cwg[32], d[32], dwg[32];
    join(l, a, awg, "10.8.0.1/24", "192.0.2.1:51820", "a");
    join(l, b, bwg, "10.8.0.2/24", "192.0.2.2:51820", "b");
    join(l, c, cwg, "10.8.0.3/24", "192.0.2.3:51820", "c");
    join(l, d, dwg, "10.8.0.4/24", "", "d"); /* behind NAT: no endpoint */
    char bk[45];
    ppn_wg_key_to_base64(bwg, bk);
    unsigned peers;
    ck_assert_int_eq(ppn_ledger_hub(l, NULL), -ENOENT);
    ck_assert_int_eq(glue_role(l, a), GLUE_FULL_MESH);
    char *t = config_of(l, d, dwg, &peers);
    ck_assert_uint_eq(peers, 3);
    free(t);

    /* refused: not a member, scoped */
    uint8_t stranger[32];
    randombytes_buf(stranger, 32);
    ck_assert_int_eq(hub_grant(l, stranger, ""), -EPROTO);
    ck_assert_ptr_nonnull(strstr(ppn_ledger_last_error(l), "must be a current member"));
    ck_assert_int_eq(hub_grant(l, b, "lan"), -EPROTO);
    ck_assert_ptr_nonnull(strstr(ppn_ledger_last_error(l), "not scoped"));
    uint64_t size = ppn_ledger_size(l);

    /* b is the hub */
    ck_assert_int_eq(hub_grant(l, b, ""), 0);
    struct ppn_ledger_member h;
    ck_assert_int_eq(ppn_ledger_hub(l, &h), 0);
    ck_assert_str_eq(h.hostname, "b");
    ck_assert_int_eq(glue_role(l, b), GLUE_HUB);
    ck_assert_int_eq(glue_role(l, d), GLUE_SPOKE);
    t = config_of(l, d, dwg, &peers); /* a spoke: the hub only, for the whole range */
    ck_assert_uint_eq(peers, 1);
    ck_assert_ptr_nonnull(strstr(t, bk));
    ck_assert_ptr_nonnull(strstr(t, "AllowedIPs = 10.8.0.0/24"));
    ck_assert_ptr_nonnull(strstr(t, "Endpoint = 192.0.2.2:51820"));
    ck_assert_ptr_nonnull(strstr(t, "PersistentKeepalive = 25"));
    ck_assert_ptr_null(strstr(t, "/32"));
    free(t);
    t = config_of(l, b, bwg, &peers); /* the hub: every member, each a /32 */
    ck_assert_uint_eq(peers, 3);
    ck_assert_ptr_nonnull(strstr(t, "AllowedIPs = 10.8.0.1/32"));
    ck_assert_ptr_nonnull(strstr(t, "AllowedIPs = 10.8.0.3/32"));
    ck_assert_ptr_nonnull(strstr(t, "AllowedIPs = 10.8.0.4/32"));
    ck_assert_ptr_null(strstr(t, "10.8.0.0/24"));
    free(t);

    /* one hub at a time; moved to c by revoking b's grant in the same batch */
    ck_assert_int_eq(hub_grant(l, c, ""), -EPROTO);
    ck_assert_ptr_nonnull(strstr(ppn_ledger_last_error(l), "one hub at a time"));
    struct ppn_ledger_entry mv[2];
    memset(mv, 0, sizeof(mv));
    mv[0].type = PPN_LEDGER_ENTRY_CAP_REVOKE;
    memcpy(mv[0].subject, b, 32);
    strcpy(mv[0].capability, PPN_LEDGER_CAP_MESH_HUB);
    mv[1].type = PPN_LEDGER_ENTRY_CAP_GRANT;
    memcpy(mv[1].subject, c, 32);
    strcpy(mv[1].capability, PPN_LEDGER_CAP_MESH_HUB);
    ck_assert_int_eq(ppn_ledger_append(l, mv, 2, admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_hub(l, &h), 0);
    ck_assert_str_eq(h.hostname, "c");
    ck_assert_int_eq(glue_role(l, b), GLUE_SPOKE);

    /* the hub revoked: a full mesh again */
    ck_assert_int_eq(ppn_ledger_node_revoke(l, c, "gone", admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_hub(l, NULL), -ENOENT);
    ck_assert_int_eq(glue_role(l, d), GLUE_FULL_MESH);
    t = config_of(l, d, dwg, &peers);
    ck_assert_uint_eq(peers, 2);
    free(t);
    ck_assert_uint_eq(ppn_ledger_size(l), size + 4);
    done(l);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("tool-glue");
    TCase *tc = tcase_create("glue");
    tcase_add_test(tc, test_range);
    tcase_add_test(tc, test_allocation_never_reuses);
    tcase_add_test(tc, test_device_from_ledger);
    tcase_add_test(tc, test_topology);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
