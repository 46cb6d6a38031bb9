/* The text and JSON forms of ledger data (PPN_LEDGER_1.4, src/format.c), on real ledgers in
 * temporary directories: every formatter's output read back (JSON parsed with jansson, proofs
 * verified again, keys decoded) and its refusals. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "ledger-test.h"

static void b64(char out[45], const uint8_t k[32])
{
    sodium_bin2base64(out, 45, k, 32, sodium_base64_VARIANT_ORIGINAL);
}

static json_t *parse(const char *t)
{
    json_error_t e;
    json_t *j = json_loads(t, 0, &e);
    ck_assert_msg(j, "not JSON (%s): %s", e.text, t);
    return j;
}

/* A ledger with a member, a scoped grant and an assignment. */
struct fx {
    char *dir;
    ppn_ledger *l;
    uint8_t ask[64], apk[32], npk[32], wg[32];
};

static void fx_open(struct fx *f)
{
    uint8_t nsk[64];
    ledger_test_key(f->ask, f->apk, 1);
    ledger_test_key(nsk, f->npk, 2);
    memset(f->wg, 7, 32);
    f->dir = ledger_test_tmpdir("format");
    char path[512];
    snprintf(path, sizeof(path), "%s/L", f->dir);
    ck_assert_int_eq(ppn_ledger_create(path, "fmt.example/ledger", "10.8.0.0/24", f->ask, &f->l), 0);
    ck_assert_int_eq(ppn_ledger_node_join(f->l, f->npk, f->wg, "10.8.0.2", "", "node-b", f->ask, NULL), 0);
    ck_assert_int_eq(ppn_ledger_cap_grant(f->l, f->npk, "vm.create", "tenant-a", f->ask, NULL), 0);
    ck_assert_int_eq(ppn_ledger_vm_assign(f->l, "totebox-1", f->npk, f->ask, NULL), 0);
}

static void fx_close(struct fx *f)
{
    ppn_ledger_free(f->l);
    ledger_test_rmrf(f->dir);
    free(f->dir);
}

START_TEST(test_entry_describe)
{
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    uint8_t sk[64], a[32], s[32];
    ledger_test_key(sk, a, 3);
    ledger_test_key(sk, s, 4);
    char ab[45], sb[45], want[1024], *t;
    b64(ab, a);
    b64(sb, s);
    memcpy(e.author, a, 32);
    memcpy(e.subject, s, 32);
    e.index = 12;
    e.type = PPN_LEDGER_ENTRY_CAP_GRANT;
    strcpy(e.capability, "vm.create");
    strcpy(e.scope, "tenant-a");
    ck_assert_int_eq(ppn_ledger_entry_describe(&e, &t), 0);
    snprintf(want, sizeof(want), "    12  cap-grant    by %s\n        vm.create to %s scope tenant-a\n", ab, sb);
    ck_assert_str_eq(t, want);
    free(t);
    /* a supersede says what it replaces, then the replacement's fields */
    e.type = PPN_LEDGER_ENTRY_SUPERSEDE;
    e.replacement_type = PPN_LEDGER_ENTRY_VM_ASSIGN;
    e.target = 5;
    strcpy(e.text, "vm-1");
    ck_assert_int_eq(ppn_ledger_entry_describe(&e, &t), 0);
    snprintf(want, sizeof(want), "    12  supersede    by %s\n        replaces 5 with vm-assign\n"
             "        VM vm-1 on node %s\n", ab, sb);
    ck_assert_str_eq(t, want);
    free(t);
    e.replacement_type = 0;
    ck_assert_int_eq(ppn_ledger_entry_describe(&e, &t), 0);
    ck_assert_ptr_nonnull(strstr(t, "replaces 5 with nothing\n"));
    free(t);
    e.type = PPN_LEDGER_ENTRY_NODE_REVOKE;
    strcpy(e.text, "retired");
    ck_assert_int_eq(ppn_ledger_entry_describe(&e, &t), 0);
    snprintf(want, sizeof(want), "\n        node %s, reason: retired\n", sb);
    ck_assert_ptr_nonnull(strstr(t, want));
    free(t);
    e.type = PPN_LEDGER_ENTRY_NODE_JOIN;
    strcpy(e.hostname, "h");
    strcpy(e.mesh, "10.8.0.9");
    ck_assert_int_eq(ppn_ledger_entry_describe(&e, &t), 0);
    ck_assert_ptr_nonnull(strstr(t, " mesh 10.8.0.9 endpoint (none)\n"));
    free(t);
    t = (char *)"untouched";
    ck_assert_int_eq(ppn_ledger_entry_describe(NULL, &t), -EINVAL);
    ck_assert_str_eq(t, "untouched");
    ck_assert_int_eq(ppn_ledger_entry_describe(&e, NULL), -EINVAL);
}
END_TEST

START_TEST(test_views_and_summary)
{
    struct fx f;
    fx_open(&f);
    char *t, nb[45], wb[45], hx[65];
    b64(nb, f.npk);
    b64(wb, f.wg);
    /* members as JSON: every field, and the entry that holds the record */
    ck_assert_int_eq(ppn_ledger_view_format(f.l, PPN_LEDGER_VIEW_MEMBERS, PPN_LEDGER_FORMAT_JSON, &t), 0);
    json_t *j = parse(t);
    free(t);
    ck_assert_int_eq(json_array_size(j), 1);
    json_t *m = json_array_get(j, 0);
    ck_assert_str_eq(json_string_value(json_object_get(m, "hostname")), "node-b");
    ck_assert_str_eq(json_string_value(json_object_get(m, "mesh")), "10.8.0.2");
    ck_assert_str_eq(json_string_value(json_object_get(m, "endpoint")), "");
    ck_assert_str_eq(json_string_value(json_object_get(m, "identity")), nb);
    ck_assert_str_eq(json_string_value(json_object_get(m, "wg_key")), wb);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "entry")), 1);
    json_decref(j);
    /* grants: admin (genesis) and the scoped one */
    ck_assert_int_eq(ppn_ledger_view_format(f.l, PPN_LEDGER_VIEW_GRANTS, PPN_LEDGER_FORMAT_JSON, &t), 0);
    j = parse(t);
    free(t);
    ck_assert_int_eq(json_array_size(j), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(j, 1), "scope")), "tenant-a");
    json_decref(j);
    ck_assert_int_eq(ppn_ledger_view_format(f.l, PPN_LEDGER_VIEW_ASSIGNMENTS, 0, &t), 0);
    char want[256];
    snprintf(want, sizeof(want), "%-16s on %s (entry 3)\n", "totebox-1", nb);
    ck_assert_str_eq(t, want);
    free(t);
    ck_assert_int_eq(ppn_ledger_view_format(f.l, PPN_LEDGER_VIEW_MEMBERS, 0, &t), 0);
    snprintf(want, sizeof(want), "%-16s %-15s %s  - (entry 1)\n", "node-b", "10.8.0.2", nb);
    ck_assert_str_eq(t, want);
    free(t);
    ck_assert_int_eq(ppn_ledger_view_format(f.l, 0, 0, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_view_format(f.l, 4, 0, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_view_format(f.l, PPN_LEDGER_VIEW_MEMBERS, 2, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_view_format(NULL, PPN_LEDGER_VIEW_MEMBERS, 0, &t), -EINVAL);
    /* the summary: directory, size, root, and each view indented under its count */
    uint8_t root[32];
    ck_assert_int_eq(ppn_ledger_root(f.l, 4, root), 0);
    sodium_bin2hex(hx, sizeof(hx), root, 32);
    ck_assert_int_eq(ppn_ledger_describe(f.l, &t), 0);
    snprintf(want, sizeof(want), "ledger %s\n  origin fmt.example/ledger\n  mesh   10.8.0.0/24\n  size   4\n"
             "  root   %s\nmembers (1):\n  node-b", ppn_ledger_dir(f.l), hx);
    ck_assert_msg(!strncmp(t, want, strlen(want)), "summary: %s", t);
    ck_assert_ptr_nonnull(strstr(t, "\ngrants (2):\n  admin "));
    ck_assert_ptr_nonnull(strstr(t, "\nassignments (1):\n  totebox-1 "));
    ck_assert_int_eq(t[strlen(t) - 1], '\n');
    free(t);
    /* the verification summary */
    struct ppn_ledger_report rep;
    ck_assert_int_eq(ppn_ledger_verify(f.l, 1, &rep), 0);
    ck_assert_int_eq(ppn_ledger_verify_summary(f.l, PPN_LEDGER_FORMAT_JSON, &t), 0);
    j = parse(t);
    free(t);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "entries")), 4);
    ck_assert_str_eq(json_string_value(json_object_get(j, "root")), hx);
    ck_assert_str_eq(json_string_value(json_object_get(j, "origin")), "fmt.example/ledger");
    ck_assert(json_is_true(json_object_get(j, "verified")));
    json_decref(j);
    ck_assert_int_eq(ppn_ledger_verify_summary(f.l, 0, &t), 0);
    snprintf(want, sizeof(want), "%s: 4 entries verified\n", ppn_ledger_dir(f.l));
    ck_assert_str_eq(t, want);
    free(t);
    ck_assert_int_eq(ppn_ledger_verify_summary(f.l, 8, &t), -EINVAL);
    fx_close(&f);
}
END_TEST

START_TEST(test_get_json)
{
    struct fx f;
    fx_open(&f);
    for (uint64_t i = 0; i < 4; i++) {
        char *t, *plain, hx[65];
        struct ppn_ledger_entry e;
        uint8_t leaf[32];
        ck_assert_int_eq(ppn_ledger_get_json(f.l, i, &t), 0);
        ck_assert_int_eq(ppn_ledger_get(f.l, i, &e), 0);
        ck_assert_int_eq(ppn_ledger_entry_to_json(&e, &plain), 0);
        ck_assert_int_eq(ppn_ledger_leaf_hash(f.l, i, leaf), 0);
        sodium_bin2hex(hx, sizeof(hx), leaf, 32);
        json_t *a = parse(t), *b = parse(plain);
        ck_assert_str_eq(json_string_value(json_object_get(a, "leaf_hash")), hx);
        json_object_del(a, "leaf_hash");
        ck_assert(json_equal(a, b));
        json_decref(a);
        json_decref(b);
        free(t);
        free(plain);
    }
    char *t;
    ck_assert_int_eq(ppn_ledger_get_json(f.l, 4, &t), -ENOENT);
    ck_assert_int_eq(ppn_ledger_get_json(f.l, 0, NULL), -EINVAL);
    fx_close(&f);
}
END_TEST

START_TEST(test_checkpoint_forms)
{
    struct fx f;
    fx_open(&f);
    char note[PPN_LEDGER_CHECKPOINT_MAX], *t;
    size_t len;
    ck_assert_int_eq(ppn_ledger_checkpoint(f.l, f.ask, note, sizeof(note), &len), 0);
    struct ppn_ledger_checkpoint_info ci;
    memset(&ci, 0xa5, sizeof(ci));
    ck_assert_int_eq(ppn_ledger_checkpoint_parse(note, len, &ci), 0);
    uint8_t root[32];
    ck_assert_int_eq(ppn_ledger_root(f.l, 4, root), 0);
    ck_assert_uint_eq(ci.size, 4);
    ck_assert_mem_eq(ci.root, root, 32);
    ck_assert_str_eq(ci.origin, "fmt.example/ledger");
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(ci.reserved[i], 0);
    ck_assert_int_eq(ppn_ledger_checkpoint_to_json(note, len, &t), 0);
    json_t *j = parse(t);
    free(t);
    char rb[45];
    b64(rb, root);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "size")), 4);
    ck_assert_str_eq(json_string_value(json_object_get(j, "root")), rb);
    ck_assert_str_eq(json_string_value(json_object_get(j, "origin")), "fmt.example/ledger");
    ck_assert_uint_eq(json_string_length(json_object_get(j, "note")), len);
    ck_assert_mem_eq(json_string_value(json_object_get(j, "note")), note, len);
    json_decref(j);
    /* malformed: a size that is not a number, no signature, cut short, NULL */
    char bad[PPN_LEDGER_CHECKPOINT_MAX];
    memcpy(bad, note, len);
    char *nl = memchr(bad, '\n', len);
    nl[1] = 'x';
    ck_assert_int_eq(ppn_ledger_checkpoint_parse(bad, len, &ci), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_checkpoint_to_json(bad, len, &t), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_checkpoint_parse(note, len - 10, &ci), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_checkpoint_parse(note, 0, &ci), -EBADMSG);
    const char *nosig = "fmt.example/ledger\n4\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    ck_assert_int_eq(ppn_ledger_checkpoint_parse(nosig, strlen(nosig), &ci), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_checkpoint_parse(NULL, len, &ci), -EINVAL);
    ck_assert_int_eq(ppn_ledger_checkpoint_parse(note, len, NULL), -EINVAL);
    fx_close(&f);
}
END_TEST

static size_t proof_hashes(json_t *p, uint8_t *out)
{
    size_t n = json_array_size(p);
    for (size_t i = 0; i < n; i++) {
        const char *h = json_string_value(json_array_get(p, i));
        ck_assert_uint_eq(strlen(h), 64);
        ck_assert_int_eq(sodium_hex2bin(out + 32 * i, 32, h, 64, NULL, NULL, NULL), 0);
    }
    return n;
}

START_TEST(test_proof_forms)
{
    struct fx f;
    fx_open(&f);
    for (int i = 0; i < 9; i++) {
        struct ppn_ledger_entry e = ledger_test_vm_entry((uint64_t)i, f.npk);
        ck_assert_int_eq(ppn_ledger_append(f.l, &e, 1, f.ask, NULL), 0);
    }
    uint64_t n = ppn_ledger_size(f.l);
    uint8_t proof[PPN_LEDGER_PROOF_MAX * 32], leaf[32], root[32], r2[32];
    char *t;
    for (uint64_t size = 1; size <= n; size++)
        for (uint64_t i = 0; i < size; i++) {
            ck_assert_int_eq(ppn_ledger_inclusion_format(f.l, i, size, PPN_LEDGER_FORMAT_JSON, &t), 0);
            json_t *j = parse(t);
            free(t);
            ck_assert_uint_eq(json_integer_value(json_object_get(j, "index")), i);
            ck_assert_uint_eq(json_integer_value(json_object_get(j, "size")), size);
            size_t c = proof_hashes(json_object_get(j, "proof"), proof);
            ck_assert_int_eq(sodium_hex2bin(leaf, 32, json_string_value(json_object_get(j, "leaf_hash")), 64, NULL,
                                            NULL, NULL), 0);
            ck_assert_int_eq(sodium_hex2bin(root, 32, json_string_value(json_object_get(j, "root")), 64, NULL,
                                            NULL, NULL), 0);
            ck_assert_int_eq(ppn_ledger_root(f.l, size, r2), 0);
            ck_assert_mem_eq(root, r2, 32);
            ck_assert_int_eq(ppn_ledger_merkle_verify_inclusion(leaf, i, size, proof, c, r2), 0);
            json_decref(j);
            ck_assert_int_eq(ppn_ledger_inclusion_format(f.l, i, size, 0, &t), 0);
            char head[128];
            snprintf(head, sizeof(head), "index     %" PRIu64 "\nsize      %" PRIu64 "\nleaf hash ", i, size);
            ck_assert(!strncmp(t, head, strlen(head)));
            snprintf(head, sizeof(head), "proof (%zu hashes):\n", c);
            ck_assert_ptr_nonnull(strstr(t, head));
            free(t);
        }
    for (uint64_t b = 0; b <= n; b++)
        for (uint64_t a = 0; a <= b; a++) {
            ck_assert_int_eq(ppn_ledger_consistency_format(f.l, a, b, PPN_LEDGER_FORMAT_JSON, &t), 0);
            json_t *j = parse(t);
            free(t);
            size_t c = proof_hashes(json_object_get(j, "proof"), proof);
            ck_assert_int_eq(ppn_ledger_root(f.l, a, root), 0);
            ck_assert_int_eq(ppn_ledger_root(f.l, b, r2), 0);
            ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(a, b, root, r2, proof, c), 0);
            ck_assert_uint_eq(json_integer_value(json_object_get(j, "old_size")), a);
            ck_assert_uint_eq(json_integer_value(json_object_get(j, "new_size")), b);
            json_decref(j);
        }
    ck_assert_int_eq(ppn_ledger_inclusion_format(f.l, n, n, 0, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_inclusion_format(f.l, 0, n + 1, 0, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_consistency_format(f.l, 3, 2, 0, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_consistency_format(f.l, 0, n + 1, 0, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_inclusion_format(f.l, 0, 1, 4, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_consistency_format(NULL, 0, 1, 0, &t), -EINVAL);
    fx_close(&f);
}
END_TEST

START_TEST(test_secret_key_forms)
{
    uint8_t sk[64], pk[32], got[64];
    ledger_test_key(sk, pk, 5);
    char b[256];
    size_t n;
    /* base64 of the seed (wg genkey), with a newline */
    sodium_bin2base64(b, sizeof(b), sk, 32, sodium_base64_VARIANT_ORIGINAL);
    strcat(b, "\n");
    memset(got, 0, 64);
    ck_assert_int_eq(ppn_ledger_secret_key_parse((uint8_t *)b, strlen(b), got), 0);
    ck_assert_mem_eq(got, sk, 64);
    /* hex of the seed and of the whole key, base64 of the whole key, 64 raw bytes */
    sodium_bin2hex(b, sizeof(b), sk, 32);
    memset(got, 0, 64);
    ck_assert_int_eq(ppn_ledger_secret_key_parse((uint8_t *)b, strlen(b), got), 0);
    ck_assert_mem_eq(got, sk, 64);
    sodium_bin2hex(b, sizeof(b), sk, 64);
    strcat(b, "\r\n");
    memset(got, 0, 64);
    ck_assert_int_eq(ppn_ledger_secret_key_parse((uint8_t *)b, strlen(b), got), 0);
    ck_assert_mem_eq(got, sk, 64);
    sodium_bin2base64(b, sizeof(b), sk, 64, sodium_base64_VARIANT_ORIGINAL);
    memset(got, 0, 64);
    ck_assert_int_eq(ppn_ledger_secret_key_parse((uint8_t *)b, strlen(b), got), 0);
    ck_assert_mem_eq(got, sk, 64);
    memset(got, 0, 64);
    ck_assert_int_eq(ppn_ledger_secret_key_parse(sk, 64, got), 0);
    ck_assert_mem_eq(got, sk, 64);
    /* a public half that is not the seed's; garbage; a short key: nothing written */
    uint8_t wrong[64];
    memcpy(wrong, sk, 64);
    wrong[40] ^= 1;
    memset(got, 0x5a, 64);
    uint8_t untouched[64];
    memset(untouched, 0x5a, 64);
    ck_assert_int_eq(ppn_ledger_secret_key_parse(wrong, 64, got), -EKEYREJECTED);
    ck_assert_mem_eq(got, untouched, 64);
    ck_assert_int_eq(ppn_ledger_secret_key_parse((const uint8_t *)"not a key\n", 10, got), -EBADMSG);
    sodium_bin2base64(b, sizeof(b), sk, 16, sodium_base64_VARIANT_ORIGINAL);
    n = strlen(b);
    ck_assert_int_eq(ppn_ledger_secret_key_parse((uint8_t *)b, n, got), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_secret_key_parse((const uint8_t *)"", 0, got), -EBADMSG);
    ck_assert_mem_eq(got, untouched, 64);
    ck_assert_int_eq(ppn_ledger_secret_key_parse(NULL, 0, got), -EINVAL);
    ck_assert_int_eq(ppn_ledger_secret_key_parse(sk, 64, NULL), -EINVAL);
}
END_TEST

START_TEST(test_names)
{
    uint32_t v = 99;
    ck_assert_int_eq(ppn_ledger_view_from_name("members", &v), 0);
    ck_assert_uint_eq(v, PPN_LEDGER_VIEW_MEMBERS);
    ck_assert_int_eq(ppn_ledger_view_from_name("grants", &v), 0);
    ck_assert_uint_eq(v, PPN_LEDGER_VIEW_GRANTS);
    ck_assert_int_eq(ppn_ledger_view_from_name("assignments", &v), 0);
    ck_assert_uint_eq(v, PPN_LEDGER_VIEW_ASSIGNMENTS);
    ck_assert_int_eq(ppn_ledger_view_from_name("member", &v), -EINVAL);
    ck_assert_int_eq(ppn_ledger_view_from_name("", &v), -EINVAL);
    ck_assert_int_eq(ppn_ledger_view_from_name(NULL, &v), -EINVAL);
    ck_assert_uint_eq(v, PPN_LEDGER_VIEW_ASSIGNMENTS);
    ck_assert_str_eq(ppn_ledger_file_name(0), "entries");
    ck_assert_str_eq(ppn_ledger_file_name(1), "tree");
    ck_assert_str_eq(ppn_ledger_file_name(2), "checkpoint");
    ck_assert_str_eq(ppn_ledger_file_name(3), "nodes.jsonl");
    ck_assert_str_eq(ppn_ledger_file_name(4), "?");
    ck_assert_str_eq(ppn_ledger_file_name(UINT32_MAX), "?");
}
END_TEST

/* The reports as sentences: a real torn tail and a real damaged entry, then the import and
 * sync reports as the library fills them. */
START_TEST(test_report_forms)
{
    struct fx f;
    fx_open(&f);
    ppn_ledger_free(f.l);
    f.l = NULL;
    char path[512], ent[600], want[1200];
    snprintf(path, sizeof(path), "%s/L", f.dir);
    snprintf(ent, sizeof(ent), "%s/entries", path);
    FILE *fp = fopen(ent, "ab");
    ck_assert_ptr_nonnull(fp);
    fwrite("\x01\x02\x03\x04\x05", 1, 5, fp);
    fclose(fp);
    struct ppn_ledger_report rep;
    char *t = NULL;
    ck_assert_int_eq(ppn_ledger_open_full(path, 0, &rep, &f.l), 0);
    ck_assert_uint_eq(rep.torn_bytes, 5);
    ck_assert_int_eq(ppn_ledger_report_format(path, 0, &rep, 0, &t), 0);
    snprintf(want, sizeof(want), "'%s': torn tail of 5 bytes at offset %" PRIu64 " ignored\n", path, rep.torn_offset);
    ck_assert_str_eq(t, want);
    free(t);
    ppn_ledger_free(f.l);
    ck_assert_int_eq(ppn_ledger_open_full(path, PPN_LEDGER_OPEN_WRITE, &rep, &f.l), 0);
    ck_assert_int_eq(ppn_ledger_report_format(path, 0, &rep, PPN_LEDGER_OPEN_WRITE, &t), 0);
    snprintf(want, sizeof(want), "'%s': torn tail of 5 bytes at offset %" PRIu64 " cut back\n", path, rep.torn_offset);
    ck_assert_str_eq(t, want);
    free(t);
    ppn_ledger_free(f.l);
    f.l = NULL;
    /* cut back: a clean open warns of nothing */
    ck_assert_int_eq(ppn_ledger_open_full(path, 0, &rep, &f.l), 0);
    ck_assert_int_eq(ppn_ledger_report_format(path, 0, &rep, 0, &t), 0);
    ck_assert_str_eq(t, "");
    free(t);
    ppn_ledger_free(f.l);
    f.l = NULL;
    /* a damaged record: located by entry, offset and file */
    fp = fopen(ent, "r+b");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, -20, SEEK_END);
    int c = fgetc(fp);
    fseek(fp, -20, SEEK_END);
    fputc(c ^ 0x40, fp);
    fclose(fp);
    int r = ppn_ledger_open_full(path, 0, &rep, &f.l);
    ck_assert_int_lt(r, 0);
    ck_assert_uint_ne(rep.error_offset, UINT64_MAX);
    ck_assert_int_eq(ppn_ledger_report_format(path, r, &rep, 0, &t), 0);
    if (rep.error_index != UINT64_MAX)
        snprintf(want, sizeof(want), "Failed to open '%s': %s at entry %" PRIu64 ", byte offset %" PRIu64 " of '%s'\n",
                 path, strerror(-r), rep.error_index, rep.error_offset, ppn_ledger_file_name(rep.error_file));
    else
        snprintf(want, sizeof(want), "Failed to open '%s': %s in '%s' (byte offset %" PRIu64 ")\n", path, strerror(-r),
                 ppn_ledger_file_name(rep.error_file), rep.error_offset);
    ck_assert_str_eq(t, want);
    free(t);
    /* lost entries, a writer's wording; nothing located; bad arguments */
    struct ppn_ledger_report lost = {.error_index = UINT64_MAX, .error_offset = UINT64_MAX,
                                     .torn_offset = UINT64_MAX, .lost_index = 7, .lost_count = 3, .tree_rebuilt = 2};
    ck_assert_int_eq(ppn_ledger_report_format("D", 0, &lost, PPN_LEDGER_OPEN_WRITE, &t), 0);
    ck_assert_str_eq(t, "'D': 2 hashes of the tree cache rebuilt\n'D': warning: entries 7..9 are lost: the tree cache "
                        "holds their hashes but 'entries' ends before them (never acknowledged if power failed while "
                        "they were written; otherwise 'entries' was cut: restore them from a replica); new entries "
                        "are appended from there\n");
    free(t);
    t = NULL;
    ck_assert_int_eq(ppn_ledger_report_format("D", -EBUSY, &lost, 0, &t), -ENOENT);
    ck_assert_int_eq(ppn_ledger_report_format(NULL, 0, &lost, 0, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_report_format("D", 0, NULL, 0, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_report_format("D", 1, &lost, 0, &t), -EINVAL);
    ck_assert_ptr_null(t);

    /* import: a fork, a located refusal, neither */
    struct ppn_ledger_import_report ir = {.fork = 1, .fork_size = 4, .error_index = UINT64_MAX,
                                          .error_offset = UINT64_MAX};
    memset(ir.ours, 0xab, 32);
    memset(ir.theirs, 0x01, 32);
    char ab[65], o1[65];
    for (int i = 0; i < 64; i++)
        ab[i] = "ab"[i & 1], o1[i] = "01"[i & 1];
    ab[64] = o1[64] = 0;
    ck_assert_int_eq(ppn_ledger_import_report_format("S", -EPROTO, &ir, NULL, 0, &t), 0);
    snprintf(want, sizeof(want), "Failed to import 'S': fork at tree size 4: our root %s, theirs %s; nothing imported\n",
             ab, o1);
    ck_assert_str_eq(t, want);
    free(t);
    ck_assert_int_eq(ppn_ledger_import_report_format("S", -EPROTO, &ir, NULL, PPN_LEDGER_FORMAT_JSON, &t), 0);
    snprintf(want, sizeof(want), "{\"error\":\"fork\",\"source\":\"S\",\"fork_size\":4,\"our_root\":\"%s\","
             "\"their_root\":\"%s\"}", ab, o1);
    ck_assert_str_eq(t, want);
    free(t);
    ir.fork = 0, ir.error_index = 2, ir.error_offset = 300, ir.error_file = 0;
    ck_assert_int_eq(ppn_ledger_import_report_format("S", -EKEYREJECTED, &ir, "bad signature", 0, &t), 0);
    snprintf(want, sizeof(want), "Failed to import 'S': %s at entry 2, byte offset 300 of 'S/entries': bad signature; "
             "nothing imported\n", strerror(EKEYREJECTED));
    ck_assert_str_eq(t, want);
    free(t);
    ck_assert_int_eq(ppn_ledger_import_report_format("S", -EKEYREJECTED, &ir, "bad signature", PPN_LEDGER_FORMAT_JSON, &t), 0);
    snprintf(want, sizeof(want), "{\"error\":\"%s\",\"source\":\"S\",\"errno\":%d,\"file\":\"entries\",\"reason\":"
             "\"bad signature\",\"index\":2,\"offset\":300}", strerror(EKEYREJECTED), EKEYREJECTED);
    ck_assert_str_eq(t, want);
    free(t);
    ir.error_index = UINT64_MAX, ir.error_file = 2, ir.error_offset = 9;
    ck_assert_int_eq(ppn_ledger_import_report_format("S", -EBADMSG, &ir, NULL, 0, &t), 0);
    snprintf(want, sizeof(want), "Failed to import 'S': %s in 'S/checkpoint' (byte offset 9); nothing imported\n",
             strerror(EBADMSG));
    ck_assert_str_eq(t, want);
    free(t);
    t = NULL;
    ir.error_offset = UINT64_MAX;
    ck_assert_int_eq(ppn_ledger_import_report_format("S", -EIO, &ir, NULL, 0, &t), -ENOENT);
    ck_assert_int_eq(ppn_ledger_import_report_format("S", 0, &ir, NULL, 0, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_import_report_format("S", -EIO, &ir, NULL, 2, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_import_report_format(NULL, -EIO, &ir, NULL, 0, &t), -EINVAL);
    ck_assert_ptr_null(t);

    /* sync: a fork with its evidence, a refusal, no sentence */
    struct ppn_ledger_sync_report sr = {.fork = 1, .fork_exact = 1, .fork_size = 6};
    memcpy(sr.ours, ir.ours, 32);
    memcpy(sr.theirs, ir.theirs, 32);
    snprintf(sr.why, sizeof(sr.why), "the histories differ");
    ck_assert_int_eq(ppn_ledger_sync_report_format(-EPROTO, &sr, &t), 0);
    snprintf(want, sizeof(want), "fork at size 6, ours %s theirs %s: the histories differ (error %s)\n", ab, o1,
             strerror(EPROTO));
    ck_assert_str_eq(t, want);
    free(t);
    sr.fork = 0;
    memset(sr.why, 'w', sizeof(sr.why)); /* not terminated: bounded all the same */
    ck_assert_int_eq(ppn_ledger_sync_report_format(-EPERM, &sr, &t), 0);
    ck_assert_uint_eq(strlen(t), sizeof(sr.why) + strlen(" (error )\n") + strlen(strerror(EPERM)));
    free(t);
    sr.why[0] = 0;
    ck_assert_int_eq(ppn_ledger_sync_report_format(-EPERM, &sr, &t), 0);
    snprintf(want, sizeof(want), "%s\n", strerror(EPERM));
    ck_assert_str_eq(t, want);
    free(t);
    t = NULL;
    ck_assert_int_eq(ppn_ledger_sync_report_format(0, &sr, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_sync_report_format(-EPERM, NULL, &t), -EINVAL);
    ck_assert_int_eq(ppn_ledger_sync_report_format(-EPERM, &sr, NULL), -EINVAL);
    ck_assert_ptr_null(t);
    fx_close(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ledger-format");
    TCase *tc = tcase_create("format");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_entry_describe);
    tcase_add_test(tc, test_views_and_summary);
    tcase_add_test(tc, test_get_json);
    tcase_add_test(tc, test_checkpoint_forms);
    tcase_add_test(tc, test_proof_forms);
    tcase_add_test(tc, test_secret_key_forms);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_report_forms);
    suite_add_tcase(s, tc);
    return ledger_test_main(s);
}
