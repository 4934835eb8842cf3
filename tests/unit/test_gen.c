#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gen.h"

static graft_gen_opts
opts(void)
{
    graft_gen_opts o = {.users = 200,
                        .items = 100,
                        .ratings_per_user = 30,
                        .rank = 3,
                        .mean = 3.6,
                        .user_bias_sd = 0.3,
                        .item_bias_sd = 0.5,
                        .signal_sd = 0.8,
                        .noise = 0.5,
                        .zipf = 1,
                        .test_fraction = 0.2,
                        .round = 1,
                        .seed = 5};
    return o;
}

static char *
run(const graft_gen_opts *o, graft_gen_result *res, char **test_out)
{
    char *tb = NULL, *sb = NULL;
    size_t tl = 0, sl = 0;
    FILE *tr = open_memstream(&tb, &tl), *te = open_memstream(&sb, &sl);
    assert_int_equal(graft_gen_run(o, tr, te, res), GRAFT_OK);
    fclose(tr);
    fclose(te);
    *test_out = sb;
    return tb;
}

static void
test_variance_of_a_rating(void **state)
{
    (void)state;
    /* Without rounding the Bayes error is the noise itself. */
    assert_float_equal(graft_gen_rating_variance(3.2, 0.5, 0), 0.25, 1e-12);
    /* Rounding a value far from a half-star with tiny noise leaves almost nothing. */
    assert_true(graft_gen_rating_variance(3.0, 0.05, 1) < 1e-6);
    /* Exactly on a half-star edge: 3 or 4 with equal odds, variance 1/4. */
    assert_float_equal(graft_gen_rating_variance(3.5, 1e-4, 1), 0.25, 1e-6);
    /* Clipping at the top shrinks the spread. */
    assert_true(graft_gen_rating_variance(7.0, 0.5, 1) < 1e-6);
    /* Monte Carlo agrees in the middle of the range. */
    srand(3);
    double s1 = 0, s2 = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = rand() / (RAND_MAX + 1.0);
        double e = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
        double r = floor(3.3 + 0.7 * e + 0.5);
        r = r < 1 ? 1 : r > 5 ? 5 : r;
        s1 += r;
        s2 += r * r;
    }
    double var = s2 / n - (s1 / n) * (s1 / n);
    assert_true(fabs(var - graft_gen_rating_variance(3.3, 0.7, 1)) < 0.01);
}

static void
test_counts_distinct_pairs_and_determinism(void **state)
{
    (void)state;
    graft_gen_opts o = opts();
    graft_gen_result r1, r2;
    char *s1, *s2;
    char *t1 = run(&o, &r1, &s1), *t2 = run(&o, &r2, &s2);
    assert_string_equal(t1, t2);
    assert_string_equal(s1, s2);
    assert_int_equal(r1.train_ratings + r1.test_ratings, 200 * 30);
    assert_true(r1.test_ratings > 900 && r1.test_ratings < 1500);
    /* Rounded to stars, the floor sits above the noise's sd. */
    assert_true(r1.best_rmse > 0.5 && r1.best_rmse < 0.6);
    /* No user rates an item twice, across both files. */
    static unsigned char seen[201][101];
    memset(seen, 0, sizeof seen);
    const char *files[2] = {t1, s1};
    for (int f = 0; f < 2; f++) {
        const char *p = files[f];
        int u, i, r, n;
        while (sscanf(p, "%d,%d,%d\n%n", &u, &i, &r, &n) == 3) {
            assert_true(u >= 1 && u <= 200 && i >= 1 && i <= 100 && r >= 1 && r <= 5);
            assert_int_equal(seen[u][i], 0);
            seen[u][i] = 1;
            p += n;
        }
    }
    /* Another seed, another data set. */
    o.seed = 6;
    char *s3, *t3 = run(&o, &r2, &s3);
    assert_true(strcmp(t3, t1) != 0);
    free(t1);
    free(t2);
    free(t3);
    free(s1);
    free(s2);
    free(s3);
}

static void
test_zipf_popularity(void **state)
{
    (void)state;
    graft_gen_opts o = opts();
    o.users = 2000;
    o.ratings_per_user = 5;
    o.items = 1000;
    o.test_fraction = 0;
    graft_gen_result r;
    char *s, *t = run(&o, &r, &s);
    static int count[1001];
    memset(count, 0, sizeof count);
    const char *p = t;
    int u, i, x, n;
    while (sscanf(p, "%d,%d,%d\n%n", &u, &i, &x, &n) == 3) {
        count[i]++;
        p += n;
    }
    int max = 0, zero = 0;
    for (int k = 1; k <= 1000; k++) {
        max = count[k] > max ? count[k] : max;
        zero += count[k] == 0;
    }
    /* Zipf(1) over 1000 items: the top item takes about 1/H(1000) = 13% of draws. */
    assert_true(max > 0.07 * 10000);
    assert_true(zero > 40); /* the tail is rarely drawn */
    free(t);
    free(s);
}

/* The mean of the ratings written (the test file is empty). */
static double
mean_rating(const graft_gen_opts *o)
{
    graft_gen_result r;
    char *s, *t = run(o, &r, &s);
    const char *p = t;
    int u, i, x, n;
    double sum = 0;
    long cnt = 0;
    while (sscanf(p, "%d,%d,%d\n%n", &u, &i, &x, &n) == 3) {
        sum += x;
        cnt++;
        p += n;
    }
    free(t);
    free(s);
    return sum / (double)cnt;
}

/* With --taste, users rate the items they like: p_u.q_i of the chosen items is shifted up, so
 * the mean rating rises by a good share of signal_sd (without, it is centred on the mean). */
static void
test_taste_chooses_liked_items(void **state)
{
    (void)state;
    graft_gen_opts o = opts();
    o.test_fraction = 0;
    o.zipf = 0;
    o.round = 1;
    double plain = mean_rating(&o);
    o.taste = 4;
    double liked = mean_rating(&o);
    assert_true(liked > plain + 0.3);
    o.taste = 0; /* taste 0 again draws the same data (test_golden holds it to that of before) */
    assert_true(fabs(mean_rating(&o) - plain) < 1e-12);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variance_of_a_rating),
        cmocka_unit_test(test_counts_distinct_pairs_and_determinism),
        cmocka_unit_test(test_zipf_popularity),
        cmocka_unit_test(test_taste_chooses_liked_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
