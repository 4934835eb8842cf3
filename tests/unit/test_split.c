#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "split.h"

static char *text;
static size_t text_len;

static int
setup(void **state)
{
    (void)state;
    FILE *f = open_memstream(&text, &text_len);
    fprintf(f, "userId,movieId,rating,timestamp\n");
    for (int u = 0; u < 50; u++)
        for (int i = 0; i < 20 + u; i++)
            fprintf(f, "%d,%d,%d,0\n", u, i, (u + i) % 5 + 1);
    fclose(f);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    free(text);
    return 0;
}

static void
do_split(const graft_split_opts *o, char **tr, char **te, graft_split_result *res)
{
    graft_datafile *df;
    char err[256];
    assert_int_equal(
        graft_datafile_open_mem("in.csv", text, text_len, GRAFT_FMT_AUTO, &df, err, sizeof err),
        GRAFT_OK);
    size_t a, b;
    FILE *ft = open_memstream(tr, &a), *fs = open_memstream(te, &b);
    assert_int_equal(graft_split_run(df, o, ft, fs, res, err, sizeof err), GRAFT_OK);
    fclose(ft);
    fclose(fs);
    graft_datafile_close(&df);
}

static int
lines_of_user(const char *s, int user)
{
    char pre[16];
    int n = snprintf(pre, sizeof pre, "\n%d,", user), c = 0;
    for (const char *p = s; (p = strstr(p, pre)); p += n)
        c++;
    return c;
}

static void
test_random_split(void **state)
{
    (void)state;
    graft_split_opts o = {.fraction = 0.1, .seed = 1};
    char *tr, *te, *tr2, *te2;
    graft_split_result r;
    do_split(&o, &tr, &te, &r);
    size_t total = 50 * 20 + 49 * 50 / 2;
    assert_int_equal(r.train + r.test, total);
    assert_true(r.test > total * 0.07 && r.test < total * 0.13);
    /* The header goes to both; lines are copied verbatim. */
    assert_memory_equal(tr, "userId,movieId,rating,timestamp\n", 32);
    assert_memory_equal(te, "userId,movieId,rating,timestamp\n", 32);
    assert_non_null(strstr(tr, "\n0,0,1,0\n") ? tr : strstr(te, "\n0,0,1,0\n"));
    /* Same seed, same split. */
    do_split(&o, &tr2, &te2, &r);
    assert_string_equal(tr, tr2);
    assert_string_equal(te, te2);
    free(tr);
    free(te);
    free(tr2);
    free(te2);
}

static void
test_per_user_split(void **state)
{
    (void)state;
    graft_split_opts o = {.fraction = 0.25, .per_user = 1, .seed = 3};
    char *tr, *te;
    graft_split_result r;
    do_split(&o, &tr, &te, &r);
    for (int u = 0; u < 50; u++) {
        int n = 20 + u;
        int want = (int)(n * 0.25 + 0.5);
        assert_int_equal(lines_of_user(te, u), want);
        assert_int_equal(lines_of_user(tr, u), n - want);
    }
    free(tr);
    free(te);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_split),
        cmocka_unit_test(test_per_user_split),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
