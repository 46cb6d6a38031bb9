/* Check suite for issue 14, "the ledger, hardened": each defect an independent verifier found
 * has its regression test here, on real files with real fsync, against the real library. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "internal.h"
#include "ppn-common.h"
#include "ledger-private.h"
#include "ledger-test.h"
#include "ppn/ledger.h"

static uint8_t admin_sk[64], admin_pk[32], node_sk[64], node_pk[32];

static void keys_setup(void)
{
    ledger_test_key(admin_sk, admin_pk, 0xa1);
    ledger_test_key(node_sk, node_pk, 0xb2);
}

static char *tmpdir(void) { return ledger_test_tmpdir("hard"); }

static void rmrf(const char *d) { ledger_test_rmrf(d); }

static void path(char *buf, size_t size, const char *dir, const char *name)
{
    ck_assert_int_lt(snprintf(buf, size, "%s/%s", dir, name), (int)size);
}

static off_t file_size(const char *dir, const char *name)
{
    char p[512];
    struct stat st;
    path(p, sizeof(p), dir, name);
    if (stat(p, &st) < 0)
        return -1;
    return st.st_size;
}

static struct ppn_ledger_entry vm_entry(uint64_t i) { return ledger_test_vm_entry(i, node_pk); }

/* Appends vm_entry(first) .. vm_entry(first + n - 1) to 'l', one append each. */
static void append_vms(ppn_ledger *l, uint64_t first, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct ppn_ledger_entry e = vm_entry(first + i);
        ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0);
    }
}

/* A ledger with the admin, one node and n entries in all; left open for writing if ret. */
static char *make_ledger_origin(const char *origin, unsigned n, ppn_ledger **ret)
{
    keys_setup();
    char *d = tmpdir();
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_create(d, origin, "10.8.0.0/24", admin_sk, &l), 0);
    uint8_t wg[32];
    memset(wg, 0x77, 32);
    ck_assert_int_eq(ppn_ledger_node_join(l, node_pk, wg, "10.8.0.2", "", "n", admin_sk, NULL), 0);
    while (ppn_ledger_size(l) < n) {
        struct ppn_ledger_entry es[64];
        size_t k = 0;
        for (; k < 64 && ppn_ledger_size(l) + k < n; k++)
            es[k] = vm_entry(ppn_ledger_size(l) + k);
        ck_assert_int_eq(ppn_ledger_append(l, es, k, admin_sk, NULL), 0);
    }
    if (ret)
        *ret = l;
    else
        ppn_ledger_free(l);
    return d;
}

static char *make_ledger(unsigned n, ppn_ledger **ret)
{
    return make_ledger_origin("hard.example/ledger", n, ret);
}

/* A copy of the ledger directory 'd' in a new temporary directory, opened for writing. */
static char *copy_ledger(const char *d, ppn_ledger **ret)
{
    char *copy = tmpdir();
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", d, copy);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(ppn_ledger_open(copy, PPN_LEDGER_OPEN_WRITE, ret), 0);
    return copy;
}

/* The end of a test: the handle freed, its directory removed. */
static void drop_ledger(ppn_ledger *l, char *d)
{
    ppn_ledger_free(l);
    rmrf(d);
    free(d);
}

static int checkpoint(ppn_ledger *l) { return ledger_test_checkpoint(l, admin_sk); }

/* ---- notes longer than 255 bytes ---- */

/* Append a C2SP tlog-cosignature/v1 line by a witness key to the stored checkpoint. */
static void add_cosignature(const char *dir, const char *witness, const uint8_t wsk[64])
{
    char p[512];
    path(p, sizeof(p), dir, "checkpoint");
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    static char note[65536];
    size_t len = fread(note, 1, sizeof(note) - 1, f);
    fclose(f);
    note[len] = 0;
    char *blank = strstr(note, "\n\n");
    ck_assert_ptr_nonnull(blank);
    size_t tl = (size_t)(blank - note) + 1;
    uint64_t ts = 1700000000;
    char msg[2048];
    int ml = snprintf(msg, sizeof(msg), "cosignature/v1\ntime %llu\n%.*s", (unsigned long long)ts,
                      (int)tl, note);
    uint8_t raw[4 + 8 + 64], h[32];
    crypto_hash_sha256_state st;
    static const uint8_t alg = 0x04;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const uint8_t *)witness, strlen(witness));
    crypto_hash_sha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_hash_sha256_update(&st, &alg, 1);
    crypto_hash_sha256_update(&st, wsk + 32, 32);
    crypto_hash_sha256_final(&st, h);
    memcpy(raw, h, 4);
    for (int i = 0; i < 8; i++)
        raw[4 + i] = (uint8_t)(ts >> (56 - 8 * i));
    crypto_sign_detached(raw + 12, NULL, (const uint8_t *)msg, (size_t)ml, wsk);
    char b64[128];
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    f = fopen(p, "ab");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "\xe2\x80\x94 %s %s\n", witness, b64);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_long_origin_checkpoints)
{
    char origin[201];
    memset(origin, 'o', 200);
    memcpy(origin, "long.example/", 13);
    origin[200] = 0;
    ppn_ledger *l;
    /* Size 1: the genesis entry alone. */
    char *g = tmpdir();
    keys_setup();
    ck_assert_int_eq(ppn_ledger_create(g, origin, "10.8.0.0/24", admin_sk, &l), 0);
    ck_assert_int_eq(checkpoint(l), 0);
    ppn_ledger_free(l);
    ck_assert_int_eq(ppn_ledger_open(g, PPN_LEDGER_OPEN_WRITE, &l), 0);
    drop_ledger(l, g);
    char *d = make_ledger_origin(origin, 2, &l);
    /* A replica with the same two entries, to import the cosigned checkpoint into. */
    char *rd = tmpdir();
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cp -a '%s/entries' '%s/tree' '%s/'", d, d, rd);
    ck_assert_int_eq(system(cmd), 0);
    uint8_t wsk[64], wpk[32];
    crypto_sign_keypair(wpk, wsk);
    char witness[201];
    memset(witness, 'w', 200);
    memcpy(witness, "witness.example/", 16);
    witness[200] = 0;
    /* A checkpoint at every size from 2 to 40, each reopened by a reader and a writer, and
     * each also cosigned by a witness. */
    for (unsigned size = 2; size <= 40; size++) {
        ck_assert_int_eq(checkpoint(l), 0);
        ppn_ledger_free(l);
        ppn_ledger *r;
        struct ppn_ledger_report rep;
        ck_assert_msg(ppn_ledger_open_full(d, 0, &rep, &r) == 0, "size %u: reader refused", size);
        char note[PPN_LEDGER_CHECKPOINT_MAX];
        size_t len;
        uint64_t cs;
        uint8_t root[32], want[32];
        ck_assert_int_eq(ppn_ledger_checkpoint_get(r, note, sizeof(note), &len), 0);
        ck_assert_uint_gt(len, 255);
        ck_assert_int_eq(ppn_ledger_checkpoint_verify(note, len, origin, admin_pk, &cs, root), 0);
        ck_assert_uint_eq(cs, size);
        ck_assert_int_eq(ppn_ledger_root(r, size, want), 0);
        ck_assert_mem_eq(root, want, 32);
        ppn_ledger_free(r);
        add_cosignature(d, witness, wsk);
        ck_assert_msg(ppn_ledger_open_full(d, PPN_LEDGER_OPEN_WRITE, &rep, &l) == 0,
                      "size %u: cosigned checkpoint refused", size);
        ck_assert_int_eq(ppn_ledger_checkpoint_get(l, note, sizeof(note), &len), 0);
        ck_assert_int_eq(ppn_ledger_checkpoint_verify(note, len, origin, admin_pk, &cs, root), 0);
        ck_assert_int_eq(ppn_ledger_verify(l, 1, NULL), 0);
        if (size == 40)
            break;
        struct ppn_ledger_entry e = vm_entry(size);
        ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0);
    }
    ppn_ledger_free(l);
    /* The replica imports the entries and keeps the cosigned checkpoint as it is. */
    ppn_ledger *r;
    struct ppn_ledger_import_report irep;
    ck_assert_int_eq(ppn_ledger_open(rd, PPN_LEDGER_OPEN_WRITE, &r), 0);
    ck_assert_int_eq(ppn_ledger_import(r, d, &irep), 0);
    ck_assert_uint_eq(irep.imported, 38);
    char a[PPN_LEDGER_CHECKPOINT_MAX], b[PPN_LEDGER_CHECKPOINT_MAX];
    size_t al, bl;
    ck_assert_int_eq(ppn_ledger_checkpoint_get(r, a, sizeof(a), &al), 0);
    ppn_ledger_free(r);
    ck_assert_int_eq(ppn_ledger_open(d, 0, &r), 0);
    ck_assert_int_eq(ppn_ledger_checkpoint_get(r, b, sizeof(b), &bl), 0);
    ppn_ledger_free(r);
    ck_assert_uint_eq(al, bl);
    ck_assert_mem_eq(a, b, al);
    ck_assert_ptr_nonnull(strstr(a, witness));
    ck_assert_int_eq(ppn_ledger_open(rd, 0, &r), 0);
    drop_ledger(r, rd);
    rmrf(d);
    free(d);
}
END_TEST

START_TEST(test_checkpoint_exact_buffer)
{
    ppn_ledger *l;
    char *d = make_ledger(3, &l);
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t len, len2;
    ck_assert_int_eq(ppn_ledger_checkpoint(l, admin_sk, note, sizeof(note), &len), 0);
    char *exact = malloc(len);
    ck_assert_int_eq(ppn_ledger_checkpoint(l, admin_sk, exact, len, &len2), 0);
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(exact, note, len);
    ck_assert_int_eq(ppn_ledger_checkpoint(l, admin_sk, exact, len - 1, &len2), -ENOBUFS);
    ck_assert_int_eq(ppn_ledger_checkpoint_get(l, exact, len, &len2), 0);
    ck_assert_mem_eq(exact, note, len);
    ck_assert_int_eq(ppn_ledger_checkpoint_get(l, exact, len - 1, &len2), -ENOBUFS);
    free(exact);
    drop_ledger(l, d);
}
END_TEST

/* ---- readers while a writer cuts a torn tail ---- */
START_TEST(test_reader_survives_tail_cut)
{
    char *d = make_ledger(4000, NULL);
    char p[512];
    path(p, sizeof(p), d, "entries");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The reader: open again and again for three seconds. */
        uint64_t end = ppnc_now_mono_ms() + 3000;
        unsigned opens = 0;
        while (ppnc_now_mono_ms() < end) {
            ppn_ledger *r;
            int rc = ppn_ledger_open(d, 0, &r);
            if (rc < 0 && rc != -EBUSY)
                _exit(10);
            if (rc == 0 && ppn_ledger_size(r) != 4000)
                _exit(11);
            ppn_ledger_free(r);
            opens++;
        }
        _exit(opens > 0 ? 0 : 12);
    }
    /* The writer: grow a torn tail (zeros, as after a crash) and have a writer cut it. */
    static uint8_t zeros[256 * 1024];
    unsigned cuts = 0;
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        int fd = open(p, O_WRONLY | O_APPEND);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
        close(fd);
        usleep(200);
        ppn_ledger *w;
        struct ppn_ledger_report rep;
        ck_assert_int_eq(ppn_ledger_open_full(d, PPN_LEDGER_OPEN_WRITE, &rep, &w), 0);
        ppn_ledger_free(w);
        cuts++;
    }
    ck_assert_msg(WIFEXITED(status), "reader killed by signal %d after %u cuts",
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0, cuts);
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    rmrf(d);
    free(d);
}
END_TEST

/* ---- verify after a crash: a short tree cache ---- */
START_TEST(test_verify_short_tree_cache)
{
    ppn_ledger *l;
    char *d = make_ledger(50, &l);
    ck_assert_int_eq(checkpoint(l), 0);
    append_vms(l, 50, 30);
    ppn_ledger_free(l);
    /* Power loss: the tree cache was not synced after the checkpoint. */
    char p[512];
    path(p, sizeof(p), d, "tree");
    ck_assert_int_eq(truncate(p, (off_t)(merkle_stored_count(60) * 32)), 0);
    struct ppn_ledger_report rep;
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
    ck_assert_uint_gt(rep.tree_rebuilt, 0);
    ck_assert_int_eq(ppn_ledger_verify(l, 1, &rep), 0);
    ck_assert_uint_eq(rep.entries, 80);
    ppn_ledger_free(l);
    /* A lost cache is derived data: rebuilt in memory by a reader, verified all the same. */
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
    ck_assert_int_eq(ppn_ledger_verify(l, 1, &rep), 0);
    ck_assert_uint_eq(rep.tree_rebuilt, merkle_stored_count(80));
    ppn_ledger_free(l);
    /* A stale hash after the checkpoint (an unsynced page) is rebuilt too; one within the
     * checkpoint is corruption. */
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &l), 0);
    ppn_ledger_free(l);
    ck_assert_int_eq(ppn_ledger_open(d, 0, &l), 0);
    ck_assert_uint_eq(l->state_n, 80); /* the rebuilt cache is what the state says */
    ppn_ledger_free(l);
    char vp[512];
    path(vp, sizeof(vp), d, "verified");
    ck_assert_int_eq(unlink(vp), 0); /* the stale hashes below must be found by a scan */
    int fd = open(p, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    uint8_t junk[32];
    memset(junk, 0xee, 32);
    ck_assert_int_eq(pwrite(fd, junk, 32, (off_t)(merkle_stored_count(70) * 32)), 32);
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
    ck_assert_int_eq(ppn_ledger_verify(l, 1, &rep), 0);
    ck_assert_uint_gt(rep.tree_rebuilt, 0);
    ppn_ledger_free(l);
    ck_assert_int_eq(pwrite(fd, junk, 32, (off_t)(merkle_stored_count(20) * 32)), 32);
    close(fd);
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), -EUCLEAN);
    ck_assert_uint_eq(rep.error_file, 1);
    rmrf(d);
    free(d);
}
END_TEST

/* ---- consistency from size 0 (RFC 9162 §2.1.4) ---- */
START_TEST(test_consistency_from_zero)
{
    uint8_t empty[32], any[32], root[32];
    crypto_hash_sha256(empty, (const uint8_t *)"", 0);
    memset(any, 0x5a, 32);
    ppn_ledger *l;
    char *d = make_ledger(5, &l);
    ck_assert_int_eq(ppn_ledger_root(l, 5, root), 0);
    uint8_t proof[PPN_LEDGER_PROOF_MAX * 32];
    size_t n;
    ck_assert_int_eq(ppn_ledger_prove_consistency(l, 0, 5, proof, PPN_LEDGER_PROOF_MAX, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(0, 5, empty, root, proof, 0), 0);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(0, 5, any, root, proof, 0), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(0, 5, root, root, proof, 0), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(0, 0, empty, empty, proof, 0), 0);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(0, 0, any, any, proof, 0), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(0, 0, root, root, proof, 0), -EBADMSG);
    ck_assert_int_eq(ppn_ledger_merkle_verify_consistency(5, 5, root, root, proof, 0), 0);
    drop_ledger(l, d);
}
END_TEST

/* ---- import: the first size at which replicas differ; nodes.jsonl divergence ---- */
START_TEST(test_fork_size_first_difference)
{
    ppn_ledger *a;
    char *d = make_ledger(6, &a);
    ppn_ledger *b;
    char *d2 = copy_ledger(d, &b);
    append_vms(a, 100, 6);
    append_vms(b, 200, 6);
    ppn_ledger_free(b);
    struct ppn_ledger_import_report rep;
    ck_assert_int_eq(ppn_ledger_import(a, d2, &rep), -EPROTO);
    ck_assert_uint_eq(rep.fork, 1);
    ck_assert_uint_eq(rep.fork_size, 7); /* entries 0..5 agree, entry 6 differs */
    uint8_t ours[32];
    ck_assert_int_eq(ppn_ledger_root(a, 7, ours), 0);
    ck_assert_mem_eq(rep.ours, ours, 32);
    ck_assert_mem_ne(rep.theirs, ours, 32);
    ck_assert_uint_eq(ppn_ledger_size(a), 12);
    ppn_ledger_free(a);
    rmrf(d);
    rmrf(d2);
    free(d);
    free(d2);
}
END_TEST

START_TEST(test_nodes_jsonl_divergence_offset)
{
    ppn_ledger *l;
    char *d = make_ledger(4, &l);
    ck_assert_int_eq(ppn_ledger_export_nodes(l, NULL), 0);
    off_t good = file_size(d, "nodes.jsonl");
    ck_assert_int_gt(good, 0);
    char p[512];
    path(p, sizeof(p), d, "nodes.jsonl");
    FILE *f = fopen(p, "ab");
    fputs("{\"index\":99}\n", f);
    fclose(f);
    struct ppn_ledger_report rep;
    ck_assert_int_eq(ppn_ledger_verify(l, 1, &rep), -EUCLEAN);
    ck_assert_uint_eq(rep.error_file, 3);
    ck_assert_uint_eq(rep.error_offset, (uint64_t)good);
    drop_ledger(l, d);
}
END_TEST

/* ---- killed writers leave checkpoint.tmp.<pid> behind ---- */
START_TEST(test_stale_checkpoint_tmp_removed)
{
    char *d = make_ledger(3, NULL);
    char p[512];
    path(p, sizeof(p), d, "checkpoint.tmp.999999");
    FILE *f = fopen(p, "wb");
    fputs("half a checkpoint", f);
    fclose(f);
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_open(d, 0, &l), 0);
    ppn_ledger_free(l);
    ck_assert_int_eq(access(p, F_OK), 0); /* a reader changes nothing */
    char v[512], nj[512], live[512];
    path(v, sizeof(v), d, "verified.tmp.999998");
    path(nj, sizeof(nj), d, "nodes.jsonl.tmp.999997"); /* no such process */
    snprintf(live, sizeof(live), "%s/nodes.jsonl.tmp.%d", d, (int)getpid()); /* an exporter at work */
    const char *made[] = {v, nj, live};
    for (int i = 0; i < 3; i++) {
        f = fopen(made[i], "wb");
        fputs("x", f);
        fclose(f);
    }
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &l), 0);
    ck_assert_int_eq(access(p, F_OK), -1);
    ck_assert_int_eq(access(v, F_OK), -1);
    ck_assert_int_eq(access(nj, F_OK), -1);
    ck_assert_int_eq(access(live, F_OK), 0);
    drop_ledger(l, d);
}
END_TEST


/* ---- entries cut at a record boundary past the checkpoint ---- */
START_TEST(test_lost_entries_reported)
{
    ppn_ledger *l;
    char *d = make_ledger(10, &l);
    ck_assert_int_eq(checkpoint(l), 0);
    append_vms(l, 10, 20);
    uint64_t off25 = l->locs[25].off, off27 = l->locs[27].off;
    ppn_ledger_free(l);
    char p[512];
    path(p, sizeof(p), d, "entries");
    /* Cut inside record 27 (a torn tail): 27, 28, 29 are gone, and said so. */
    ck_assert_int_eq(truncate(p, (off_t)off27 + 40), 0);
    struct ppn_ledger_report rep;
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
    ck_assert_uint_eq(ppn_ledger_size(l), 27);
    ck_assert_uint_eq(rep.torn_offset, off27);
    ck_assert_uint_eq(rep.lost_index, 27);
    ck_assert_uint_eq(rep.lost_count, 3);
    ck_assert_int_eq(ppn_ledger_verify(l, 1, &rep), 0);
    ck_assert_uint_eq(rep.lost_index, 27);
    ck_assert_uint_eq(rep.lost_count, 3);
    ppn_ledger_free(l);
    /* Cut at the record boundary before 25: no torn tail, but 25..29 are lost all the same. */
    ck_assert_int_eq(truncate(p, (off_t)off25), 0);
    ck_assert_int_eq(ppn_ledger_open_full(d, PPN_LEDGER_OPEN_WRITE, &rep, &l), 0);
    ck_assert_uint_eq(ppn_ledger_size(l), 25);
    ck_assert_uint_eq(rep.torn_bytes, 0);
    ck_assert_uint_eq(rep.lost_index, 25);
    ck_assert_uint_eq(rep.lost_count, 5);
    ppn_ledger_free(l);
    /* The writer truncated the cache to the entries: nothing more is reported, and the state
     * it recorded on closing matches the repaired files. */
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
    ck_assert_uint_eq(l->state_n, 25);
    ck_assert_uint_eq(rep.lost_count, 0);
    ck_assert_uint_eq(rep.lost_index, UINT64_MAX);
    drop_ledger(l, d);
}
END_TEST

/* ---- import errors name the source's file, index and offset ---- */
START_TEST(test_import_error_location)
{
    ppn_ledger *a;
    char *d = make_ledger(5, &a);
    ppn_ledger *s;
    char *src = copy_ledger(d, &s);
    append_vms(s, 50, 5);
    uint64_t off7 = s->locs[7].off;
    ppn_ledger_free(s);
    /* A damaged source: one byte of entry 7's payload. */
    char p[512];
    path(p, sizeof(p), src, "entries");
    int fd = open(p, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)off7 + 30), 1);
    b ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off7 + 30), 1);
    close(fd);
    struct ppn_ledger_import_report rep;
    ck_assert_int_eq(ppn_ledger_import(a, src, &rep), -EBADMSG);
    ck_assert_uint_eq(rep.error_file, 0);
    ck_assert_uint_eq(rep.error_index, 7);
    ck_assert_uint_eq(rep.error_offset, off7);
    ck_assert_uint_eq(rep.imported, 0);
    ck_assert_uint_eq(ppn_ledger_size(a), 5);
    ppn_ledger_free(a);
    rmrf(d);
    rmrf(src);
    free(d);
    free(src);
}
END_TEST

/* ---- nothing invalid is ever written ---- */
static void expect_refused(ppn_ledger *l, const char *dir, const struct ppn_ledger_entry *e,
                           int want, const char *field)
{
    uint64_t n = ppn_ledger_size(l);
    off_t es = file_size(dir, "entries"), ts = file_size(dir, "tree");
    int r = ppn_ledger_append(l, e, 1, admin_sk, NULL);
    ck_assert_msg(r == want, "%s: got %d, want %d (%s)", field, r, want, ppn_ledger_last_error(l));
    ck_assert_msg(strstr(ppn_ledger_last_error(l), field) != NULL, "message \"%s\" does not name %s",
                  ppn_ledger_last_error(l), field);
    ck_assert_uint_eq(ppn_ledger_last_error_index(l), n);
    ck_assert_uint_eq(ppn_ledger_size(l), n);
    ck_assert_int_eq(file_size(dir, "entries"), es);
    ck_assert_int_eq(file_size(dir, "tree"), ts);
}

static struct ppn_ledger_entry good_join(uint8_t b)
{
    struct ppn_ledger_entry e;
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_NODE_JOIN;
    memset(e.subject, b, 32);
    memset(e.wg_key, b ^ 0x55, 32);
    snprintf(e.mesh, sizeof(e.mesh), "10.8.0.%u", b);
    strcpy(e.endpoint, "node.example:51820");
    strcpy(e.hostname, "node-x");
    return e;
}

START_TEST(test_invalid_entries_refused)
{
    ppn_ledger *l;
    char *d = make_ledger(3, &l);
    struct ppn_ledger_entry e = good_join(9);
    memset(e.subject, 0, 32);
    expect_refused(l, d, &e, -EINVAL, "\"subject\"");
    e = good_join(9);
    memset(e.wg_key, 0, 32);
    expect_refused(l, d, &e, -EINVAL, "\"wg_key\"");
    static const char *bad_mesh[] = {"10.9.0.999", "10.8.0", "010.8.0.9", "10.8.0.9/33", "10.8.0.9/024",
                                     "10.8.0.9/", "", "::1"};
    for (size_t i = 0; i < sizeof(bad_mesh) / sizeof(*bad_mesh); i++) {
        e = good_join(9);
        strcpy(e.mesh, bad_mesh[i]);
        expect_refused(l, d, &e, -EINVAL, "\"mesh\"");
    }
    static const char *bad_ep[] = {"nohost", "h:0", "h:65536", "h:", ":51820", "bad_h:1",
                                   "10.9.0.999:1", "::1:51820", "[zz]:1", "h:051820"};
    for (size_t i = 0; i < sizeof(bad_ep) / sizeof(*bad_ep); i++) {
        e = good_join(9);
        strcpy(e.endpoint, bad_ep[i]);
        expect_refused(l, d, &e, -EINVAL, "\"endpoint\"");
    }
    static const char *bad_host[] = {"bad_h!", "", "-x", "x-", "a..b", "with space"};
    for (size_t i = 0; i < sizeof(bad_host) / sizeof(*bad_host); i++) {
        e = good_join(9);
        strcpy(e.hostname, bad_host[i]);
        expect_refused(l, d, &e, -EINVAL, "\"hostname\"");
    }
    /* Ledger rules: outside the mesh range, its network or broadcast address, taken. */
    static const char *bad_addr[] = {"10.9.0.5", "10.8.0.0", "10.8.0.255", "10.8.0.2",
                                     "10.8.0.2/24", "10.8.0.9/16"};
    for (size_t i = 0; i < sizeof(bad_addr) / sizeof(*bad_addr); i++) {
        e = good_join(9);
        strcpy(e.mesh, bad_addr[i]);
        expect_refused(l, d, &e, -EPROTO, "\"mesh\"");
    }
    /* A VM name, a capability, a replacement type. */
    e = vm_entry(3);
    strcpy(e.text, "Bad VM");
    expect_refused(l, d, &e, -EINVAL, "\"vm\"");
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_CAP_GRANT;
    memcpy(e.subject, node_pk, 32);
    strcpy(e.capability, "vm create");
    expect_refused(l, d, &e, -EINVAL, "\"capability\"");
    memset(&e, 0, sizeof(e));
    e.type = PPN_LEDGER_ENTRY_SUPERSEDE;
    e.target = 2;
    e.replacement_type = PPN_LEDGER_ENTRY_NODE_REVOKE;
    expect_refused(l, d, &e, -EINVAL, "\"replacement_type\"");
    /* Good entries still go in (the address alone, or with the range's prefix as ppn-pair
     * writes it), and the handle forgets the last refusal. */
    e = good_join(8);
    strcpy(e.mesh, "10.8.0.8/24");
    ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0);
    e = good_join(9);
    ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0);
    ck_assert_str_eq(ppn_ledger_last_error(l), "");
    e = good_join(10);
    strcpy(e.endpoint, "[2001:db8::1]:51820");
    ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0);
    e = good_join(11);
    strcpy(e.endpoint, "192.0.2.1:1");
    ck_assert_int_eq(ppn_ledger_append(l, &e, 1, admin_sk, NULL), 0);
    /* Signed elsewhere: refused the same way by append_signed. */
    e = good_join(12);
    strcpy(e.hostname, "bad_h!");
    uint8_t buf[PPN_LEDGER_ENTRY_MAX];
    size_t len;
    ck_assert_int_eq(ppn_ledger_entry_sign(&e, ppn_ledger_size(l), admin_sk, buf, sizeof(buf), &len), -EINVAL);
    drop_ledger(l, d);
}
END_TEST

/* A revoked node cannot come back with the same keys (identity or
 * WireGuard), through this handle, a fresh one, or inside one batch. */
START_TEST(test_revoked_keys_stay_out)
{
    ppn_ledger *l;
    char *d = make_ledger(3, &l);
    struct ppn_ledger_entry a = good_join(40), b = good_join(41);
    ck_assert_int_eq(ppn_ledger_append(l, &a, 1, admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_append(l, &b, 1, admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_node_revoke(l, a.subject, "stolen laptop", admin_sk, NULL), 0);
    uint64_t rev = ppn_ledger_size(l) - 1;
    struct ppn_ledger_entry again = good_join(40);
    snprintf(again.mesh, sizeof(again.mesh), "10.8.0.50");
    expect_refused(l, d, &again, -EPROTO, "\"subject\"");
    char want[64];
    snprintf(want, sizeof(want), "revoked at entry %llu", (unsigned long long)rev);
    ck_assert_ptr_nonnull(strstr(ppn_ledger_last_error(l), want));
    struct ppn_ledger_entry wg_only = good_join(42);
    memcpy(wg_only.wg_key, a.wg_key, 32); /* a new identity, the revoked node's WireGuard key */
    expect_refused(l, d, &wg_only, -EPROTO, "\"wg_key\"");
    /* a fresh handle scans the history */
    ppn_ledger_free(l);
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &l), 0);
    expect_refused(l, d, &again, -EPROTO, "\"subject\"");
    /* new keys are welcome */
    struct ppn_ledger_entry fresh_keys = good_join(43);
    ck_assert_int_eq(ppn_ledger_append(l, &fresh_keys, 1, admin_sk, NULL), 0);
    /* a revoke and a comeback in one batch: refused as a whole */
    struct ppn_ledger_entry batch[2];
    memset(&batch[0], 0, sizeof(batch[0]));
    batch[0].type = PPN_LEDGER_ENTRY_NODE_REVOKE;
    memcpy(batch[0].subject, b.subject, 32);
    batch[1] = good_join(41);
    snprintf(batch[1].mesh, sizeof(batch[1].mesh), "10.8.0.51");
    uint64_t n = ppn_ledger_size(l);
    ck_assert_int_eq(ppn_ledger_append(l, batch, 2, admin_sk, NULL), -EPROTO);
    ck_assert_uint_eq(ppn_ledger_size(l), n);
    /* and the refused batch burned nothing: b may still be revoked and a's
     * keys are still out */
    ck_assert_int_eq(ppn_ledger_node_revoke(l, b.subject, "", admin_sk, NULL), 0);
    ck_assert_int_eq(ppn_ledger_append(l, &fresh_keys, 1, admin_sk, NULL), -EPROTO); /* already a member */
    drop_ledger(l, d);
}
END_TEST

START_TEST(test_invalid_genesis_refused)
{
    keys_setup();
    static const char *bad[] = {"10.9.0.0/40", "garbage", "10.9.0.1/24", "/0", "10.9.0.0/0",
                                "10.9.0.0/31", "10.9.0.0/", "10.9.0.0/024", "10.9.0.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char *d = tmpdir();
        ck_assert_msg(ppn_ledger_create(d, "o.example", bad[i], admin_sk, NULL) == -EINVAL, "%s", bad[i]);
        DIR *dd = opendir(d);
        struct dirent *de;
        unsigned n = 0;
        while ((de = readdir(dd)))
            n += de->d_name[0] != '.';
        closedir(dd);
        ck_assert_msg(n == 0, "%s: something was written", bad[i]);
        struct ppn_ledger_entry g;
        memset(&g, 0, sizeof(g));
        g.type = PPN_LEDGER_ENTRY_GENESIS;
        memcpy(g.subject, admin_pk, 32);
        memcpy(g.author, admin_pk, 32);
        strcpy(g.text, "o.example");
        strcpy(g.mesh, bad[i]);
        char msg[256];
        ck_assert_int_eq(ppn_ledger_entry_check(&g, msg, sizeof(msg)), -EINVAL);
        ck_assert_msg(strstr(msg, "\"mesh\"") != NULL, "%s: %s", bad[i], msg);
        rmrf(d);
        free(d);
    }
    char *d = tmpdir();
    ck_assert_int_eq(ppn_ledger_create(d, "bad origin", "10.9.0.0/24", admin_sk, NULL), -EINVAL);
    ck_assert_int_eq(ppn_ledger_create(d, "o.example", "10.9.0.0/24", admin_sk, NULL), 0);
    rmrf(d);
    free(d);
}
END_TEST

static void expect_json_refused(const char *json, const char *says)
{
    struct ppn_ledger_entry e;
    char msg[512];
    ck_assert_msg(ppn_ledger_entry_parse_json(json, strlen(json), &e, msg, sizeof(msg)) == -EBADMSG,
                  "accepted: %s", json);
    ck_assert_msg(strstr(msg, says) != NULL, "%s: message \"%s\" does not say %s", json, msg, says);
    ck_assert_int_eq(ppn_ledger_entry_from_json(json, strlen(json), &e), -EBADMSG);
}

START_TEST(test_json_fields_checked)
{
    const char *K = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    char j[1024];
    expect_json_refused("{\"type\":\"node-join\",\"mesh\":\"10.8.0.9\"}", "\"subject\" is missing");
    snprintf(j, sizeof(j), "{\"type\":\"node-join\",\"subject\":\"%s\",\"mesh\":\"10.8.0.9\",\"hostname\":\"h\"}", K);
    expect_json_refused(j, "\"wg_key\" is missing");
    snprintf(j, sizeof(j), "{\"type\":\"node-join\",\"subject\":\"%s\",\"wg_key\":\"%s\",\"mesh\":\"10.8.0.9\",\"hostnmae\":\"h\"}", K, K);
    expect_json_refused(j, "\"hostnmae\" is not a field of node-join");
    snprintf(j, sizeof(j), "{\"type\":\"supersede\",\"target\":4,\"replacement_type\":\"vm-asign\",\"vm\":\"v\",\"node\":\"%s\"}", K);
    expect_json_refused(j, "\"replacement_type\": \"vm-asign\"");
    expect_json_refused("{\"type\":\"supersede\",\"target\":4}", "\"replacement_type\" is missing");
    snprintf(j, sizeof(j), "{\"type\":\"supersede\",\"target\":4,\"replacement_type\":\"none\",\"vm\":\"v\"}");
    expect_json_refused(j, "\"vm\" is not a field of supersede");
    snprintf(j, sizeof(j), "{\"type\":\"vm-assign\",\"vm\":\"v\",\"text\":\"w\",\"node\":\"%s\"}", K);
    expect_json_refused(j, "same field");
    expect_json_refused("{\"type\":\"vm-assign\",\"vm\":\"v\",\"node\":\"short\"}", "\"node\" must be a 32-byte key");
    expect_json_refused("{\"type\":\"nope\"}", "\"type\": \"nope\" is not an entry type");
    expect_json_refused("{\"type\":\"node-join\"", "not JSON");
    /* What is right still parses, with the optional fields left out. */
    struct ppn_ledger_entry e;
    snprintf(j, sizeof(j), "{\"type\":\"node-join\",\"subject\":\"%s\",\"wg_key\":\"%s\",\"mesh\":\"10.8.0.9\",\"hostname\":\"h\"}", K, K);
    ck_assert_int_eq(ppn_ledger_entry_parse_json(j, strlen(j), &e, NULL, 0), 0);
    ck_assert_str_eq(e.endpoint, "");
    snprintf(j, sizeof(j), "{\"type\":\"supersede\",\"target\":4,\"replacement_type\":\"vm-assign\",\"vm\":\"v\",\"node\":\"%s\"}", K);
    ck_assert_int_eq(ppn_ledger_entry_parse_json(j, strlen(j), &e, NULL, 0), 0);
    ck_assert_uint_eq(e.replacement_type, PPN_LEDGER_ENTRY_VM_ASSIGN);
    /* The JSON an entry prints parses back to the same entry. */
    struct ppn_ledger_entry g = good_join(7), back;
    g.index = 5;
    g.time_ms = 1234;
    char *out;
    ck_assert_int_eq(ppn_ledger_entry_to_json(&g, &out), 0);
    ck_assert_int_eq(ppn_ledger_entry_parse_json(out, strlen(out), &back, NULL, 0), 0);
    ck_assert_mem_eq(&back, &g, sizeof(g));
    free(out);
}
END_TEST

/* ---- opening costs the work since the last state this node verified ---- */
static void flip_byte(const char *dir, const char *name, off_t at)
{
    char p[512];
    path(p, sizeof(p), dir, name);
    int fd = open(p, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x04;
    ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void same_views(ppn_ledger *a, ppn_ledger *b)
{
    ck_assert_uint_eq(ppn_ledger_size(a), ppn_ledger_size(b));
    ck_assert_str_eq(ppn_ledger_origin(a), ppn_ledger_origin(b));
    ck_assert_str_eq(ppn_ledger_mesh_range(a), ppn_ledger_mesh_range(b));
    ck_assert_uint_eq(ppn_ledger_member_count(a), ppn_ledger_member_count(b));
    ck_assert_uint_eq(ppn_ledger_grant_count(a), ppn_ledger_grant_count(b));
    ck_assert_uint_eq(ppn_ledger_assignment_count(a), ppn_ledger_assignment_count(b));
    for (size_t i = 0; i < ppn_ledger_assignment_count(a); i++) {
        struct ppn_ledger_assignment x, y;
        ck_assert_int_eq(ppn_ledger_assignment_get(a, i, &x), 0);
        ck_assert_int_eq(ppn_ledger_assignment_get(b, i, &y), 0);
        ck_assert_mem_eq(&x, &y, sizeof(x));
    }
    for (uint64_t k = 0; k < ppn_ledger_size(a); k++) {
        uint8_t ea[PPN_LEDGER_ENTRY_MAX], eb[PPN_LEDGER_ENTRY_MAX];
        size_t la, lb;
        ck_assert_int_eq(ppn_ledger_get_raw(a, k, ea, sizeof(ea), &la), 0);
        ck_assert_int_eq(ppn_ledger_get_raw(b, k, eb, sizeof(eb), &lb), 0);
        ck_assert_uint_eq(la, lb);
        ck_assert_mem_eq(ea, eb, la);
    }
    uint8_t ra[32], rb[32];
    for (uint64_t k = 0; k <= ppn_ledger_size(a); k += 7) {
        ck_assert_int_eq(ppn_ledger_root(a, k, ra), 0);
        ck_assert_int_eq(ppn_ledger_root(b, k, rb), 0);
        ck_assert_mem_eq(ra, rb, 32);
    }
}

START_TEST(test_open_from_verified_state)
{
    ppn_ledger *w;
    char *d = make_ledger(300, &w);
    ck_assert_int_eq(checkpoint(w), 0);
    append_vms(w, 300, 20);
    ppn_ledger_free(w); /* records the state it verified */
    ck_assert_int_ge(file_size(d, "verified"), 1);
    ppn_ledger *l, *full;
    struct ppn_ledger_report rep;
    /* The prefixes are hashed in chunks: record heads across chunk edges, at every phase. */
    for (size_t chunk = 5; chunk <= 23; chunk++) {
        state_chunk_bytes = chunk;
        ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
        ck_assert_uint_eq(l->state_n, 320);
        ppn_ledger_free(l);
    }
    state_chunk_bytes = 1u << 20;
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
    ck_assert_uint_eq(l->state_n, 320);
    /* The same ledger as a full scan sees (the state file moved away). */
    char p[512], q[512];
    path(p, sizeof(p), d, "verified");
    path(q, sizeof(q), d, "verified.keep");
    ck_assert_int_eq(rename(p, q), 0);
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &full), 0);
    ck_assert_uint_eq(full->state_n, 0);
    same_views(l, full);
    ppn_ledger_free(full);
    ppn_ledger_free(l);
    ck_assert_int_eq(rename(q, p), 0);
    /* A writer that opened from the state and appends records the new state on closing. */
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &w), 0);
    ck_assert_uint_eq(w->state_n, 320);
    struct ppn_ledger_entry five[5];
    for (unsigned i = 0; i < 5; i++)
        five[i] = vm_entry(320 + i);
    ck_assert_int_eq(ppn_ledger_append(w, five, 5, admin_sk, NULL), 0);
    ppn_ledger_free(w);
    ck_assert_int_eq(ppn_ledger_open(d, 0, &l), 0);
    ck_assert_uint_eq(l->state_n, 325);
    uint64_t off320 = l->locs[320].off;
    ppn_ledger_free(l);
    /* Back to 320 entries: the state of 325 no longer fits and is ignored; the writer that
     * scans everything records the state of 320. */
    path(q, sizeof(q), d, "entries");
    ck_assert_int_eq(truncate(q, (off_t)off320), 0);
    path(q, sizeof(q), d, "tree");
    ck_assert_int_eq(truncate(q, (off_t)(merkle_stored_count(320) * 32)), 0);
    path(q, sizeof(q), d, "verified.keep");
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &w), 0);
    ck_assert_uint_eq(w->state_n, 0);
    ck_assert_uint_eq(ppn_ledger_size(w), 320);
    ppn_ledger_free(w);
    /* Entries after the state are scanned, signatures and all: one signed badly is refused. */
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &w), 0);
    ck_assert_uint_eq(w->state_n, 320);
    struct ppn_ledger_entry e = vm_entry(320);
    ck_assert_int_eq(ppn_ledger_append(w, &e, 1, admin_sk, NULL), 0);
    uint64_t off = w->locs[320].off, end = w->end;
    /* keep the state of 320: the writer's close would record 321 */
    ck_assert_int_eq(rename(p, q), 0);
    ppn_ledger_free(w);
    ck_assert_int_eq(rename(q, p), 0);
    uint8_t rec[PPN_LEDGER_ENTRY_MAX + REC_OVERHEAD];
    path(q, sizeof(q), d, "entries");
    int fd = open(q, O_RDWR);
    ck_assert_int_eq(pread(fd, rec, (size_t)(end - off), (off_t)off), (ssize_t)(end - off));
    size_t len = (size_t)(end - off) - REC_OVERHEAD;
    uint8_t payload[PPN_LEDGER_ENTRY_MAX];
    memcpy(payload, rec + REC_HEAD, len);
    payload[len - 1] ^= 1; /* the last signature byte */
    record_frame(rec, 320, payload, len);
    ck_assert_int_eq(pwrite(fd, rec, len + REC_OVERHEAD, (off_t)off), (ssize_t)(len + REC_OVERHEAD));
    close(fd);
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), -EKEYREJECTED);
    ck_assert_uint_eq(rep.error_index, 320);
    ck_assert_int_eq(truncate(q, (off_t)off), 0);
    /* A damaged prefix: the state no longer matches, the full scan finds the damage. */
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
    ck_assert_uint_eq(l->state_n, 320);
    uint64_t off100 = l->locs[100].off;
    ppn_ledger_free(l);
    flip_byte(d, "entries", (off_t)off100 + 40);
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), -EUCLEAN);
    ck_assert_uint_eq(rep.error_index, 100);
    flip_byte(d, "entries", (off_t)off100 + 40);
    /* A damaged tree cache within the state: the same. */
    flip_byte(d, "tree", 32 * 50 + 3);
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), -EUCLEAN);
    ck_assert_uint_eq(rep.error_file, 1);
    flip_byte(d, "tree", 32 * 50 + 3);
    /* A damaged state file is ignored. */
    flip_byte(d, "verified", 100);
    ck_assert_int_eq(ppn_ledger_open_full(d, 0, &rep, &l), 0);
    ck_assert_uint_eq(l->state_n, 0);
    ck_assert_uint_eq(ppn_ledger_size(l), 320);
    ck_assert_int_eq(ppn_ledger_verify(l, 1, &rep), 0);
    drop_ledger(l, d);
}
END_TEST

Suite *hardening_suite(void);
Suite *hardening_suite(void)
{
    Suite *s = suite_create("ledger-hardening");
    TCase *tc = tcase_create("defects");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_long_origin_checkpoints);
    tcase_add_test(tc, test_checkpoint_exact_buffer);
    tcase_add_test(tc, test_reader_survives_tail_cut);
    tcase_add_test(tc, test_verify_short_tree_cache);
    tcase_add_test(tc, test_consistency_from_zero);
    tcase_add_test(tc, test_fork_size_first_difference);
    tcase_add_test(tc, test_nodes_jsonl_divergence_offset);
    tcase_add_test(tc, test_stale_checkpoint_tmp_removed);
    tcase_add_test(tc, test_lost_entries_reported);
    tcase_add_test(tc, test_import_error_location);
    suite_add_tcase(s, tc);
    tc = tcase_create("validation");
    tcase_add_test(tc, test_invalid_entries_refused);
    tcase_add_test(tc, test_revoked_keys_stay_out);
    tcase_add_test(tc, test_invalid_genesis_refused);
    tcase_add_test(tc, test_json_fields_checked);
    suite_add_tcase(s, tc);
    tc = tcase_create("opening");
    tcase_add_test(tc, test_open_from_verified_state);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return ledger_test_main(hardening_suite());
}
