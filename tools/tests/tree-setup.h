/* A scratch tree of real files laid out as / is (proc/..., sys/fs/cgroup/...)
 * for the tools' tests that read the system's files through a root prefix
 * (test-hostmem, test-measure).  Check tests: failures are assertions. */
#pragma once

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static char tree[64];

/* A new tree /tmp/ppn-TAG-XXXXXX in 'tree'. */
static void tree_make(const char *tag)
{
    snprintf(tree, sizeof(tree), "/tmp/ppn-%s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(tree));
}

/* The file tree/REL (its directories made) with the text of fmt. */
static void put(const char *rel, const char *fmt, ...)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tree, rel);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
    ck_assert_int_eq(system(cmd), 0);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    ck_assert_int_eq(fclose(f), 0);
}

/* The tree removed. */
static void done(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tree);
    ck_assert_int_eq(system(cmd), 0);
}
