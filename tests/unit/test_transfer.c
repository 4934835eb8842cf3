#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "hash.h"
#include "rng.h"
#include "table.h"
#include "dataset.h"
#include "map.h"
#include "transfer.h"
#include "cohort.h"

static void
test_ridge_recovers_a_planted_map(void **state)
{
    (void)state;
    enum { N = 400, D = 6, E = 4 };
    graft_rng rng;
    graft_rng_seed(&rng, 11);
    double m[(D + 1) * E];
    for (int i = 0; i < (D + 1) * E; i++)
        m[i] = graft_rng_normal(&rng);
    double xtx[(D + 1) * (D + 1)] = {0}, xty[(D + 1) * E] = {0};
    for (int n = 0; n < N; n++) {
        double x[D + 1], y[E];
        for (int j = 0; j < D; j++)
            x[j] = graft_rng_normal(&rng);
        x[D] = 1;
        for (int o = 0; o < E; o++) {
            y[o] = 0.001 * graft_rng_normal(&rng);
            for (int j = 0; j <= D; j++)
                y[o] += x[j] * m[j * E + o];
        }
        for (int a = 0; a <= D; a++) {
            for (int b = 0; b <= D; b++)
                xtx[a * (D + 1) + b] += x[a] * x[b];
            for (int o = 0; o < E; o++)
                xty[a * E + o] += x[a] * y[o];
        }
    }
    assert_int_equal(graft_map_ridge_solve(xtx, xty, D, E, 1e-6), GRAFT_OK);
    for (int i = 0; i < (D + 1) * E; i++)
        if (fabs(xty[i] - m[i]) > 1e-3)
            fail_msg("coefficient %d: %g, planted %g", i, xty[i], m[i]);
}

static void
test_ridge_shrinks_and_refuses_singular(void **state)
{
    (void)state;
    /* One input that always equals 1 duplicates the intercept: singular without a penalty on
     * it... the penalty makes it solvable, and large penalties shrink the slope towards 0. */
    double xtx[4] = {10, 10, 10, 10}, xty[2] = {20, 20};
    assert_int_equal(graft_map_ridge_solve(xtx, xty, 1, 1, 1e6), GRAFT_OK);
    assert_true(fabs(xty[0]) < 1e-3);
    assert_true(fabs(xty[1] - 2) < 1e-2);
    double z[4] = {0, 0, 0, 0}, zy[2] = {0, 0};
    assert_int_equal(graft_map_ridge_solve(z, zy, 1, 1, 0), GRAFT_ERR_INVALID);
}

static void
test_cold_pick_is_exact_and_seeded(void **state)
{
    (void)state;
    uint64_t overlap[1000];
    for (int i = 0; i < 1000; i++)
        overlap[i] = (uint64_t)i * 7 + 3;
    uint64_t *a, *b, *c;
    size_t na, nb, nc;
    assert_int_equal(graft_cohort_pick_cold(overlap, 1000, 0.2, 1, &a, &na), GRAFT_OK);
    assert_int_equal(graft_cohort_pick_cold(overlap, 1000, 0.2, 1, &b, &nb), GRAFT_OK);
    assert_int_equal(graft_cohort_pick_cold(overlap, 1000, 0.2, 2, &c, &nc), GRAFT_OK);
    assert_int_equal(na, 200);
    assert_memory_equal(a, b, na * 8);
    assert_true(memcmp(a, c, na * 8) != 0);
    for (size_t i = 0; i < na; i++) {
        assert_true(a[i] % 7 == 3 && a[i] < 7000);
        if (i)
            assert_true(a[i - 1] < a[i]);
    }
    graft_free(a);
    graft_free(b);
    graft_free(c);
    for (double f = 0.5; f <= 0.8; f += 0.3) {
        assert_int_equal(graft_cohort_pick_cold(overlap, 1000, f, 3, &a, &na), GRAFT_OK);
        assert_int_equal(na, (size_t)(1000 * f + 0.5));
        graft_free(a);
    }
}

static int
in(const uint64_t *v, size_t n, uint64_t k)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == k)
            return 1;
    return 0;
}

static void
test_partition_leaks_no_cold_rating(void **state)
{
    (void)state;
    graft_ratings all = {0}, half1 = {0}, half2 = {0};
    for (uint64_t u = 0; u < 100; u++)
        for (uint64_t i = 0; i < 30; i++) {
            graft_ratings_push(&all, u, i, 3);
            graft_ratings_push(u % 2 ? &half1 : &half2, u, i, 3);
        }
    uint64_t cold[10];
    for (int j = 0; j < 10; j++)
        cold[j] = (uint64_t)j * 10;
    graft_ratings warm = {0}, cr = {0};
    assert_int_equal(graft_cohort_partition(&all, &warm, &cr, cold, 10, 0.1, 0, 5), GRAFT_OK);
    assert_int_equal(cr.n, 10 * 30);
    assert_int_equal(all.n + warm.n + cr.n, 3000);
    for (size_t j = 0; j < all.n; j++)
        assert_false(in(cold, 10, all.v[j].user));
    for (size_t j = 0; j < warm.n; j++)
        assert_false(in(cold, 10, warm.v[j].user));
    for (size_t j = 0; j < cr.n; j++)
        assert_true(in(cold, 10, cr.v[j].user));
    assert_true(warm.n > 200 && warm.n < 340);
    /* The choice depends on (seed, user, item) alone: splitting the data differently (as other
     * worker counts do) gives the same warm set. */
    graft_ratings w1 = {0}, w2 = {0}, c1 = {0}, c2 = {0};
    graft_cohort_partition(&half1, &w1, &c1, cold, 10, 0.1, 0, 5);
    graft_cohort_partition(&half2, &w2, &c2, cold, 10, 0.1, 0, 5);
    assert_int_equal(w1.n + w2.n, warm.n);
    assert_int_equal(half1.n + half2.n, all.n);
    /* With a target test file, the warm set is that file's, less the cold users' ratings. */
    graft_ratings t = {0}, given = {0}, c3 = {0};
    graft_ratings_push(&t, 0, 1, 4);
    graft_ratings_push(&t, 1, 1, 4);
    graft_ratings_push(&given, 10, 2, 5);
    graft_ratings_push(&given, 11, 2, 5);
    graft_cohort_partition(&t, &given, &c3, cold, 10, 0.1, 1, 5);
    assert_int_equal(t.n, 1);
    assert_int_equal(given.n, 1);
    assert_int_equal(given.v[0].user, 11);
    assert_int_equal(c3.n, 2);
    graft_ratings *frees[] = {&all, &half1, &half2, &warm, &cr,    &w1,
                              &w2,  &c1,    &c2,    &t,    &given, &c3};
    for (size_t j = 0; j < sizeof frees / sizeof *frees; j++)
        graft_ratings_free(frees[j]);
}

static void
test_seeding_copies_rows_bit_for_bit_on_any_server_count(void **state)
{
    (void)state;
    /* Servers hold source and target user tables; a user's rows of both live where their shared
     * key maps, so a copy inside each server reproduces every source row exactly. */
    graft_table_spec ss = {.width = 9,
                           .seed = 1,
                           .init_scale = 0.3f,
                           .optimizer = GRAFT_OPTIM_ADAGRAD,
                           .lr = 0.1f,
                           .init_width = 8};
    graft_table_spec ts = ss;
    ts.seed = 2;
    for (uint32_t nserv = 1; nserv <= 5; nserv++) {
        graft_table *src[5], *dst[5];
        for (uint32_t s = 0; s < nserv; s++) {
            graft_table_create(&ss, &src[s]);
            graft_table_create(&ts, &dst[s]);
        }
        enum { U = 300 };
        uint64_t keys[U];
        float g[9];
        uint32_t refused;
        for (int u = 0; u < U; u++) {
            char id[16];
            int len = snprintf(id, sizeof id, "user%d", u);
            keys[u] = graft_hash_id(id, (size_t)len);
            uint32_t s = graft_shard_of_key(keys[u], nserv);
            for (int j = 0; j < 9; j++)
                g[j] = (float)((u * 31 + j) % 17) - 8;
            graft_table_push(src[s], &keys[u], NULL, 1, g, &refused); /* trained source rows */
            if (u % 3 == 0)
                graft_table_push(dst[s], &keys[u], NULL, 1, g, &refused); /* target rows exist */
        }
        uint64_t copied_total = 0;
        for (uint32_t s = 0; s < nserv; s++) {
            uint64_t mine[U], copied;
            uint32_t m = 0;
            for (int u = 0; u < U; u++)
                if (graft_shard_of_key(keys[u], nserv) == s)
                    mine[m++] = keys[u];
            assert_int_equal(graft_table_copy(dst[s], src[s], mine, NULL, m, &copied), GRAFT_OK);
            copied_total += copied;
        }
        assert_int_equal(copied_total, U);
        for (int u = 0; u < U; u++) {
            uint32_t s = graft_shard_of_key(keys[u], nserv);
            const float *a = graft_table_find(src[s], keys[u]),
                        *b = graft_table_find(dst[s], keys[u]);
            assert_non_null(a);
            assert_non_null(b);
            assert_memory_equal(a, b, 9 * sizeof(float));
        }
        for (uint32_t s = 0; s < nserv; s++) {
            graft_table_destroy(&src[s]);
            graft_table_destroy(&dst[s]);
        }
    }
}

static void
test_user_map_rewrites_source_keys(void **state)
{
    (void)state;
    char path[] = "/tmp/graft-usermap-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# source,target\nbook-alice,movie-alice\nbook-bob\tmovie-bob\n\n");
    fclose(f);
    graft_ratings r = {0};
    graft_ratings_push(&r, graft_hash_id("book-alice", 10), 1, 4);
    graft_ratings_push(&r, graft_hash_id("book-bob", 8), 1, 4);
    graft_ratings_push(&r, graft_hash_id("carol", 5), 1, 4);
    char err[256];
    assert_int_equal(graft_dataset_apply_user_map(path, &r, err, sizeof err), GRAFT_OK);
    assert_true(r.v[0].user == graft_hash_id("movie-alice", 11));
    assert_true(r.v[1].user == graft_hash_id("movie-bob", 9));
    assert_true(r.v[2].user == graft_hash_id("carol", 5));
    f = fopen(path, "w");
    fprintf(f, "a,b\nonly-one\n");
    fclose(f);
    assert_int_equal(graft_dataset_apply_user_map(path, &r, err, sizeof err), GRAFT_ERR_PARSE);
    assert_non_null(strstr(err, ":2: expected two ids"));
    remove(path);
    assert_int_equal(graft_dataset_apply_user_map(path, &r, err, sizeof err), GRAFT_ERR_IO);
    graft_ratings_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ridge_recovers_a_planted_map),
        cmocka_unit_test(test_ridge_shrinks_and_refuses_singular),
        cmocka_unit_test(test_cold_pick_is_exact_and_seeded),
        cmocka_unit_test(test_partition_leaks_no_cold_rating),
        cmocka_unit_test(test_seeding_copies_rows_bit_for_bit_on_any_server_count),
        cmocka_unit_test(test_user_map_rewrites_source_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
