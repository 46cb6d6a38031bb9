/* ppn-pair serve's glue: the hosts block (tools/glue/hosts.h), from members of a real ledger
 * on disk merged into a real file, the administrator's lines around it kept and the block
 * replaced; a pull worker's result lines (tools/glue/pullres.h), what one writes the other
 * reads back, one record a line whatever the text holds, malformed lines refused; the sync
 * rounds (tools/glue/syncloop.h) between real ledgers, a writer racing the service's pull. */
#include <check.h>
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hosts.h"
#include "pullres.h"
#include "syncloop.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    ck_assert_ptr_nonnull(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* A new ledger at 'dir' (origin 'origin', range 10.8.0.0/24) by a fresh administrator key
 * (*ask), and a node's keys (*npk, its WireGuard key *wg) for entries about it. */
static ppn_ledger *new_ledger(const char *dir, const char *origin, uint8_t ask[64], uint8_t npk[32], uint8_t wg[32])
{
    uint8_t apk[32], nsk[64];
    crypto_sign_keypair(apk, ask);
    crypto_sign_keypair(npk, nsk);
    randombytes_buf(wg, 32);
    ppn_ledger *l;
    ck_assert_int_eq(ppn_ledger_create(dir, origin, "10.8.0.0/24", ask, &l), 0);
    return l;
}

#define HEAD "# BEGIN ppn h.example/l (kept by ppn-pair serve from the ledger; edits are lost)\n"
#define TAIL "# END ppn h.example/l\n"

START_TEST(test_hosts_from_ledger)
{
    char dir[] = "/tmp/ppn-hosts-XXXXXX", ld[64], path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(ld, sizeof(ld), "%s/ledger", dir);
    snprintf(path, sizeof(path), "%s/hosts", dir);
    uint8_t ask[64], npk[32], wg[32];
    ppn_ledger *l = new_ledger(ld, "h.example/l", ask, npk, wg);
    ck_assert_int_eq(ppn_ledger_node_join(l, npk, wg, "10.8.0.2/24", "", "node-b", ask, NULL), 0);
    struct ppn_ledger_member ms[1];
    ck_assert_uint_eq(ppn_ledger_member_count(l), 1);
    ck_assert_int_eq(ppn_ledger_member_get(l, 0, &ms[0]), 0);

    /* no file yet: only the block */
    ck_assert_int_eq(glue_hosts_write(path, l), 0);
    ck_assert_str_eq(slurp(path), HEAD "10.8.0.2\tnode-b\n" TAIL);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);

    /* the administrator's lines stay (one without its newline), another mesh's block too;
     * our block is replaced wherever it was, and so is a second copy of it */
    FILE *f = fopen(path, "we");
    ck_assert_ptr_nonnull(f);
    fputs("127.0.0.1\tlocalhost\n" HEAD "10.8.0.9\tstale\n" TAIL
          "# BEGIN ppn other/l (x)\n10.9.0.1\tother\n# END ppn other/l\n" HEAD "10.8.0.7\tstale2\n" TAIL
          "::1\tip6-localhost", f);
    fclose(f);
    ck_assert_int_eq(glue_hosts_write(path, l), 0);
    ck_assert_str_eq(slurp(path), "127.0.0.1\tlocalhost\n# BEGIN ppn other/l (x)\n10.9.0.1\tother\n"
                                  "# END ppn other/l\n::1\tip6-localhost\n" HEAD "10.8.0.2\tnode-b\n" TAIL);
    /* no members: an empty block */
    char *t = NULL;
    size_t tl = 0;
    ck_assert_int_eq(glue_hosts_merge("a\n", 2, "h.example/l", NULL, 0, &t, &tl), 0);
    ck_assert_str_eq(t, "a\n" HEAD TAIL);
    ck_assert_uint_eq(tl, strlen(t));
    free(t);
    t = NULL;

    /* refused before anything is written; an unreadable path is an error, not an empty file */
    ck_assert_int_eq(glue_hosts_write(NULL, l), -EINVAL);
    ck_assert_int_eq(glue_hosts_write(path, NULL), -EINVAL);
    ck_assert_int_eq(glue_hosts_merge("", 0, "o", NULL, 1, &t, &tl), -EINVAL);
    ck_assert_int_eq(glue_hosts_write(dir, l), -EISDIR);
    char nodir[96];
    snprintf(nodir, sizeof(nodir), "%s/none/hosts", dir);
    ck_assert_int_eq(glue_hosts_write(nodir, l), -ENOENT);
    ck_assert_int_eq(glue_hosts_merge(NULL, 3, "o", ms, 1, &t, &tl), -EINVAL);
    ck_assert_ptr_null(t);

    ppn_ledger_free(l);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_round_trip)
{
    char line[GLUE_PULL_LINE_MAX];
    uint64_t ticket = 0;
    int result = 0;
    const char *text = NULL;
    size_t n = glue_pull_line(line, 18446744073709551615ULL, -71, "node-b (10.8.0.2:7000): refused:\ta\nb");
    ck_assert_str_eq(line, "18446744073709551615\t-71\tnode-b (10.8.0.2:7000): refused: a b\n");
    ck_assert_uint_eq(n, strlen(line));
    line[n - 1] = 0;
    ck_assert_int_eq(glue_pull_parse(line, &ticket, &result, &text), 0);
    ck_assert_uint_eq(ticket, UINT64_MAX);
    ck_assert_int_eq(result, -71);
    ck_assert_str_eq(text, "node-b (10.8.0.2:7000): refused: a b");
    n = glue_pull_line(line, 3, 1, NULL);
    ck_assert_str_eq(line, "3\t1\t\n");
    line[n - 1] = 0;
    ck_assert_int_eq(glue_pull_parse(line, &ticket, &result, &text), 0);
    ck_assert_uint_eq(ticket, 3);
    ck_assert_int_eq(result, 1);
    ck_assert_str_eq(text, "");
    /* a text too long for a line is cut, the line still ends in its newline */
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    n = glue_pull_line(line, 5, -110, big);
    ck_assert_uint_eq(n, GLUE_PULL_LINE_MAX - 1);
    ck_assert_uint_eq(strlen(line), n);
    ck_assert_int_eq(line[n - 1], '\n');
    ck_assert_ptr_eq(strchr(line, '\n'), line + n - 1);
}
END_TEST

START_TEST(test_malformed)
{
    static const char *bad[] = {"", "x\t1\t", "1", "1\t", "1\t2", "1\tx\t", "-1\t0\t", "1 \t0\t",
                                "99999999999999999999\t0\t", "1\t99999999999\t", "1\t\t"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char l[64];
        strcpy(l, bad[i]);
        uint64_t ticket = 7;
        int result = 7;
        const char *text = "unset";
        ck_assert_msg(glue_pull_parse(l, &ticket, &result, &text) == -EBADMSG, "accepted '%s'", bad[i]);
        ck_assert_uint_eq(ticket, 7);
        ck_assert_int_eq(result, 7);
        ck_assert_str_eq(text, "unset");
    }
    ck_assert_int_eq(glue_pull_parse(NULL, NULL, NULL, NULL), -EBADMSG);
}
END_TEST

/* ---- the sync rounds (syncloop.h) against real ledgers, the transport a function call ---- */

struct link {
    ppn_ledger *from;  /* the answering member */
    const char *race;  /* a directory another writer syncs on the first call (NULL: none) */
    unsigned calls;
    int fail;          /* <0: the transport fails with it */
};

static int answer(ppn_ledger *from, const uint8_t *req, size_t len, size_t max, uint8_t **ans, size_t *al)
{
    return ppn_ledger_sync_answer(from, req, len, max, ans, al);
}

static int fetch(void *ud, const uint8_t *req, size_t req_len, uint64_t deadline, size_t max, uint8_t **ret_ans,
                 size_t *ret_len, char *err, size_t errsize)
{
    struct link *k = ud;
    (void)deadline;
    if (k->calls++ == 0 && k->race) { /* someone else appends meanwhile: this answer is stale */
        ppn_ledger *w;
        ck_assert_int_eq(ppn_ledger_open(k->race, PPN_LEDGER_OPEN_WRITE, &w), 0);
        uint8_t q[PPN_LEDGER_SYNC_REQUEST_MAX], *a;
        size_t ql, al;
        struct ppn_ledger_sync_report rep;
        ck_assert_int_eq(ppn_ledger_sync_request(w, q, sizeof(q), &ql), 0);
        ck_assert_int_eq(answer(k->from, q, ql, max, &a, &al), 0);
        ck_assert_int_eq(ppn_ledger_sync_apply(w, a, al, max, &rep), 0);
        ck_assert_uint_gt(rep.appended, 0);
        free(a);
        ppn_ledger_free(w);
    }
    if (k->fail < 0) {
        snprintf(err, errsize, "connect: %s", strerror(-k->fail));
        return k->fail;
    }
    return answer(k->from, req, req_len, max, ret_ans, ret_len);
}

static void same(ppn_ledger *x, const char *dir)
{
    ppn_ledger *y;
    ck_assert_int_eq(ppn_ledger_open(dir, 0, &y), 0);
    ck_assert_uint_eq(ppn_ledger_size(x), ppn_ledger_size(y));
    uint8_t r1[32], r2[32];
    ck_assert_int_eq(ppn_ledger_root(x, ppn_ledger_size(x), r1), 0);
    ck_assert_int_eq(ppn_ledger_root(y, ppn_ledger_size(y), r2), 0);
    ck_assert_mem_eq(r1, r2, 32);
    ppn_ledger_free(y);
}

START_TEST(test_sync_rounds)
{
    char dir[] = "/tmp/ppn-syncloop-XXXXXX", a[40], b[40], c[40], d[40], cmd[400];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(a, sizeof(a), "%s/a", dir);
    snprintf(b, sizeof(b), "%s/b", dir);
    snprintf(c, sizeof(c), "%s/c", dir);
    snprintf(d, sizeof(d), "%s/d", dir);
    uint8_t ask[64], npk[32], wg[32];
    ppn_ledger *l = new_ledger(a, "s.example/l", ask, npk, wg);
    char note[PPN_LEDGER_CHECKPOINT_MAX];
    size_t nl;
    ck_assert_int_eq(ppn_ledger_checkpoint(l, ask, note, sizeof(note), &nl), 0);
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s' && cp -a '%s' '%s' && cp -a '%s' '%s'", a, b, a, c, a, d);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(ppn_ledger_node_join(l, npk, wg, "10.8.0.2", "", "node-b", ask, NULL), 0);
    for (unsigned i = 0; i < 60; i++) {
        char vm[32];
        snprintf(vm, sizeof(vm), "vm-%u", i);
        ck_assert_int_eq(ppn_ledger_vm_assign(l, vm, npk, ask, NULL), 0);
    }
    ck_assert_int_eq(ppn_ledger_checkpoint(l, ask, note, sizeof(note), &nl), 0);
    const size_t max = 4096; /* a few entries an answer: several rounds */
    char err[256];
    struct ppn_ledger_sync_report rep;

    /* the writer handle's rounds: all of it, in more than one round */
    ppn_ledger *w;
    ck_assert_int_eq(ppn_ledger_open(b, PPN_LEDGER_OPEN_WRITE, &w), 0);
    struct link k = {.from = l};
    uint64_t app = 0, rounds = 0;
    ck_assert_int_eq(glue_sync_rounds(w, fetch, &k, UINT64_MAX, max, &app, &rounds, &rep, err, sizeof(err)), 0);
    ck_assert_uint_eq(app, 61);
    ck_assert_uint_gt(rounds, 1);
    ck_assert_uint_eq(k.calls, rounds);
    ck_assert_str_eq(err, "");
    same(w, a);
    /* up to date: one round, nothing */
    ck_assert_int_eq(glue_sync_rounds(w, fetch, &k, UINT64_MAX, max, &app, &rounds, &rep, err, sizeof(err)), 0);
    ck_assert_uint_eq(app, 0);
    ck_assert_uint_eq(rounds, 1);
    ppn_ledger_free(w);

    /* the service's pull: another writer appended between the request and the answer, so the
     * answer is asked again, and the replica ends as the member's */
    struct link kr = {.from = l, .race = c};
    ck_assert_int_eq(glue_sync_pull(c, fetch, &kr, UINT64_MAX, max, &app, &rep, err, sizeof(err)), 0);
    ck_assert_uint_gt(kr.calls, 2);
    ck_assert_uint_lt(app, 61); /* what the other writer applied is not ours */
    same(l, c);
    char nodes[80];
    snprintf(nodes, sizeof(nodes), "%s/nodes.jsonl", c);
    ck_assert_int_eq(access(nodes, F_OK), 0);

    /* the transport's failure, said by it; nothing applied */
    struct link kf = {.from = l, .fail = -ECONNREFUSED};
    ck_assert_int_eq(glue_sync_pull(d, fetch, &kf, UINT64_MAX, max, &app, &rep, err, sizeof(err)), -ECONNREFUSED);
    ck_assert_uint_eq(app, 0);
    ck_assert_ptr_nonnull(strstr(err, "connect: "));
    ck_assert_int_eq(ppn_ledger_open(d, PPN_LEDGER_OPEN_WRITE, &w), 0);
    ck_assert_uint_eq(ppn_ledger_size(w), 1);
    ck_assert_int_eq(glue_sync_rounds(w, fetch, &kf, UINT64_MAX, max, &app, &rounds, &rep, err, sizeof(err)),
                     -ECONNREFUSED);
    ck_assert_uint_eq(rounds, 0);
    ppn_ledger_free(w);
    /* a ledger that is not there */
    ck_assert_int_eq(glue_sync_pull("/nonexistent/ppn", fetch, &k, UINT64_MAX, max, &app, &rep, err, sizeof(err)),
                     -ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "open the ledger"));

    ppn_ledger_free(l);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

#include "ppn-check.h"

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("serve-glue");
    TCase *tc = tcase_create("serve-glue");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hosts_from_ledger);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_sync_rounds);
    suite_add_tcase(s, tc);
    return ppn_check_run(s);
}
