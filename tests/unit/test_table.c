#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"
#include "table.h"

static graft_table_spec
spec(graft_optim_kind opt, uint32_t width)
{
    graft_table_spec s = {
        .width = width, .seed = 11, .init_scale = 0.1f, .optimizer = opt, .lr = 0.1f};
    snprintf(s.name, sizeof s.name, "t");
    return s;
}

static void
test_growth_and_seeded_init(void **state)
{
    (void)state;
    graft_table_spec s = spec(GRAFT_OPTIM_ADAGRAD, 5);
    graft_table *a, *b;
    assert_int_equal(graft_table_create(&s, &a), GRAFT_OK);
    assert_int_equal(graft_table_create(&s, &b), GRAFT_OK);
    enum { N = 20000 };
    uint64_t *keys = malloc(N * sizeof *keys);
    for (int i = 0; i < N; i++)
        keys[i] = (uint64_t)i * 2654435761u;
    float *ra = malloc(N * 5 * sizeof(float)), *rb = malloc(N * 5 * sizeof(float));
    /* a sees the keys forwards in one request, b backwards one at a time: same rows. */
    assert_int_equal(graft_table_pull(a, keys, NULL, N, 1, ra), GRAFT_OK);
    for (int i = N - 1; i >= 0; i--)
        assert_int_equal(graft_table_pull(b, &keys[i], NULL, 1, 1, rb + (size_t)i * 5), GRAFT_OK);
    assert_memory_equal(ra, rb, N * 5 * sizeof(float));
    assert_int_equal(graft_table_rows(a), N);
    /* Rows equal the documented initialiser and have about the asked scale. */
    float want[5];
    graft_table_init_row(11, keys[123], 0.1f, 5, 0, want);
    assert_memory_equal(ra + 123 * 5, want, sizeof want);
    double ss = 0;
    for (int i = 0; i < N * 5; i++)
        ss += (double)ra[i] * ra[i];
    assert_true(fabs(sqrt(ss / (N * 5)) - 0.1) < 0.005);
    /* Rows are stable in memory while the table grows. */
    float *row = graft_table_find(a, keys[0]);
    uint64_t more[1];
    float tmp[5];
    for (int i = 0; i < 10000; i++) {
        more[0] = 0xabcdef00ULL + (uint64_t)i;
        graft_table_pull(a, more, NULL, 1, 1, tmp);
    }
    assert_ptr_equal(row, graft_table_find(a, keys[0]));
    assert_memory_equal(row, ra, 5 * sizeof(float));
    /* Bytes: rows plus AdaGrad state, with bounded overhead. */
    uint64_t payload = graft_table_rows(a) * 5 * 4 * 2;
    assert_true(graft_table_bytes(a) >= payload);
    assert_true(graft_table_bytes(a) < payload * 2);
    graft_table_destroy(&a);
    graft_table_destroy(&b);
    free(keys);
    free(ra);
    free(rb);
}

static void
test_pull_without_create(void **state)
{
    (void)state;
    graft_table_spec s = spec(GRAFT_OPTIM_SGD, 3);
    graft_table *t;
    graft_table_create(&s, &t);
    uint64_t k[2] = {5, 6};
    float out[6];
    memset(out, 0x7f, sizeof out);
    assert_int_equal(graft_table_pull(t, k, NULL, 2, 0, out), GRAFT_OK);
    for (int i = 0; i < 6; i++)
        assert_float_equal(out[i], 0, 0);
    assert_int_equal(graft_table_rows(t), 0);
    assert_null(graft_table_find(t, 5));
    graft_table_destroy(&t);
}

static void
test_push_applies_optimizer_in_order(void **state)
{
    (void)state;
    uint32_t refused = 0;
    graft_table_spec s = spec(GRAFT_OPTIM_SGD, 2);
    graft_table *t;
    graft_table_create(&s, &t);
    uint64_t k[3] = {9, 9, 4};
    float g[6] = {1, 2, 1, 2, -1, 0};
    float init9[2], init4[2];
    graft_table_init_row(11, 9, 0.1f, 2, 0, init9);
    graft_table_init_row(11, 4, 0.1f, 2, 0, init4);
    assert_int_equal(graft_table_push(t, k, NULL, 3, g, &refused), GRAFT_OK);
    assert_int_equal(refused, 0);
    float *r9 = graft_table_find(t, 9), *r4 = graft_table_find(t, 4);
    assert_float_equal(r9[0], init9[0] - 0.2f, 1e-6);
    assert_float_equal(r9[1], init9[1] - 0.4f, 1e-6);
    assert_float_equal(r4[0], init4[0] + 0.1f, 1e-6);
    assert_float_equal(r4[1], init4[1], 1e-6);
    graft_table_destroy(&t);
}

/* A long request (rows looked up ahead of their use) gives what one key at a time gives, repeated
 * keys near and far apart included, and a pull without create mixes found rows and zeros. */
static void
test_batches_match_single_keys(void **state)
{
    (void)state;
    uint32_t refused = 0;
    enum { N = 1000, W = 5 };
    graft_table_spec s = spec(GRAFT_OPTIM_ADAGRAD, W);
    graft_table *batch, *single;
    graft_table_create(&s, &batch);
    graft_table_create(&s, &single);
    static uint64_t k[N];
    static float g[N * W], a[N * W], b[N * W];
    for (int i = 0; i < N; i++) {
        k[i] = (uint64_t)(i % 7 == 0 ? i / 7 : i % 13 == 0 ? 3 : 1000 + i);
        for (int j = 0; j < W; j++)
            g[i * W + j] = (float)((i * 31 + j * 7) % 17) / 17.0f - 0.5f;
    }
    assert_int_equal(graft_table_push(batch, k, NULL, N, g, &refused), GRAFT_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(graft_table_push(single, &k[i], NULL, 1, &g[i * W], &refused), GRAFT_OK);
    assert_int_equal(graft_table_rows(batch), graft_table_rows(single));
    for (int i = 0; i < N; i++)
        k[i] = (uint64_t)(i % 2 ? 1000 + i : 5000000 + i); /* odd: present, even: missing */
    assert_int_equal(graft_table_pull(batch, k, NULL, N, 0, a), GRAFT_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(graft_table_pull(single, &k[i], NULL, 1, 0, &b[i * W]), GRAFT_OK);
    assert_memory_equal(a, b, sizeof a);
    for (int i = 0; i < N; i += 2)
        for (int j = 0; j < W; j++)
            assert_true(a[i * W + j] == 0.0f);
    graft_table_destroy(&batch);
    graft_table_destroy(&single);
}

/* Work split by positions (as a server's lanes split it) over two tables gives, position for
 * position, what one table gives, and a call touches no position it was not given. */
static void
test_positions_split_like_lanes(void **state)
{
    (void)state;
    uint32_t refused = 0;
    enum { N = 600, W = 3 };
    graft_table_spec s = spec(GRAFT_OPTIM_ADAGRAD, W);
    graft_table *whole, *part[2];
    graft_table_create(&s, &whole);
    graft_table_create(&s, &part[0]);
    graft_table_create(&s, &part[1]);
    static uint64_t k[N];
    static uint32_t sel[2][N];
    static float g[N * W], a[N * W], b[N * W];
    uint32_t n[2] = {0, 0};
    for (uint32_t i = 0; i < N; i++) {
        k[i] = i % 5 == 0 ? 77 : 1000 + i; /* key 77 repeats across the request */
        uint32_t p = (uint32_t)(k[i] % 2);
        sel[p][n[p]++] = i;
        for (int j = 0; j < W; j++)
            g[i * W + j] = (float)((i + (uint32_t)j) % 7) - 3.0f;
    }
    assert_int_equal(graft_table_push(whole, k, NULL, N, g, &refused), GRAFT_OK);
    for (int p = 0; p < 2; p++)
        assert_int_equal(graft_table_push(part[p], k, sel[p], n[p], g, &refused), GRAFT_OK);
    assert_int_equal(graft_table_rows(whole),
                     graft_table_rows(part[0]) + graft_table_rows(part[1]));
    assert_int_equal(graft_table_pull(whole, k, NULL, N, 0, a), GRAFT_OK);
    for (int i = 0; i < N * W; i++)
        b[i] = -99.0f;
    assert_int_equal(graft_table_pull(part[0], k, sel[0], n[0], 0, b), GRAFT_OK);
    for (uint32_t i = 0; i < n[1]; i++)
        assert_true(b[sel[1][i] * W] == -99.0f); /* the other part's positions untouched */
    assert_int_equal(graft_table_pull(part[1], k, sel[1], n[1], 0, b), GRAFT_OK);
    assert_memory_equal(a, b, sizeof a);
    uint64_t copied = 0;
    graft_table *dst;
    graft_table_create(&s, &dst);
    assert_int_equal(graft_table_copy(dst, part[1], k, sel[1], n[1], &copied), GRAFT_OK);
    assert_int_equal(copied, n[1]);
    graft_table_destroy(&dst);
    graft_table_destroy(&whole);
    graft_table_destroy(&part[0]);
    graft_table_destroy(&part[1]);
}

static void
test_out_of_memory_leaves_table_consistent(void **state)
{
    (void)state;
    graft_table_spec s = spec(GRAFT_OPTIM_SGD, 2);
    graft_table *t;
    graft_table_create(&s, &t);
    uint64_t k[1] = {1};
    float out[2];
    graft_alloc_fail_after(1);
    assert_int_equal(graft_table_pull(t, k, NULL, 1, 1, out), GRAFT_ERR_NOMEM);
    graft_alloc_fail_after(0);
    assert_int_equal(graft_table_rows(t), 0);
    assert_int_equal(graft_table_pull(t, k, NULL, 1, 1, out), GRAFT_OK);
    assert_int_equal(graft_table_rows(t), 1);
    graft_table_destroy(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_and_seeded_init),
        cmocka_unit_test(test_pull_without_create),
        cmocka_unit_test(test_push_applies_optimizer_in_order),
        cmocka_unit_test(test_batches_match_single_keys),
        cmocka_unit_test(test_positions_split_like_lanes),
        cmocka_unit_test(test_out_of_memory_leaves_table_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
