#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hash.h"
#include "manifest.h"
#include "rng.h"
#include "seen.h"
#include "serve.h"
#include "store.h"

enum { K = 3, W = K + 1, NU = 40, NI = 300 };
static char dir[64];
static float urow[NU][W], irow[NI][W];

static uint64_t
key(const char *prefix, int i)
{
    char id[32];
    int n = snprintf(id, sizeof id, "%s%d", prefix, i);
    return graft_hash_id(id, (size_t)n);
}

static void
write_table(graft_manifest *m, const char *name, int rows, float (*v)[W], const char *prefix)
{
    graft_manifest_table *t = &m->tables[m->ntables++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->width = W;
    t->nshards = 2;
    t->shards = calloc(2, sizeof *t->shards);
    for (int s = 0; s < 2; s++) {
        char path[512], err[512];
        snprintf(t->shards[s].file, sizeof t->shards[s].file, "%s.%d-of-2.shard", name, s);
        snprintf(path, sizeof path, "%s/%s", dir, t->shards[s].file);
        graft_shard_writer *w;
        assert_int_equal(graft_shard_writer_open(path, W, &w, err, sizeof err), GRAFT_OK);
        for (int i = s; i < rows; i += 2)
            graft_shard_writer_add(w, key(prefix, i), v[i]);
        assert_int_equal(graft_shard_writer_commit(&w, &t->shards[s].rows, &t->shards[s].checksum,
                                                   err, sizeof err),
                         GRAFT_OK);
        t->rows += t->shards[s].rows;
    }
}

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/graft-serve-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    graft_rng rng;
    graft_rng_seed(&rng, 3);
    for (int u = 0; u < NU; u++)
        for (int j = 0; j < W; j++)
            urow[u][j] = (float)graft_rng_normal(&rng);
    for (int i = 0; i < NI; i++)
        for (int j = 0; j < W; j++)
            irow[i][j] = (float)graft_rng_normal(&rng);
    graft_manifest m = {.dim = K, .servers = 2, .ndomains = 1};
    snprintf(m.domains[0].name, sizeof m.domains[0].name, "main");
    m.domains[0].mu = 3;
    m.domains[0].rmin = 1;
    m.domains[0].rmax = 5;
    write_table(&m, "user", NU, urow, "u");
    write_table(&m, "item", NI, irow, "i");
    char err[4608];
    assert_int_equal(graft_manifest_write(dir, &m, err, sizeof err), GRAFT_OK);
    graft_manifest_free(&m);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static float
brute(int u, int i)
{
    float s = 3 + (u >= 0 ? urow[u][K] : 0) + irow[i][K];
    for (int j = 0; u >= 0 && j < K; j++)
        s += urow[u][j] * irow[i][j];
    return s;
}

/* The model's rows are in shard order: number_of[row] is the item number behind a row. */
static int number_of[NI];

static int
odd_items(void *ctx, size_t u, size_t item)
{
    (void)ctx;
    (void)u;
    return number_of[item] % 2 == 1;
}

static void
test_topk_equals_a_full_sort(void **state)
{
    (void)state;
    graft_served *s;
    char err[4608];
    assert_int_equal(graft_served_load(dir, NULL, &s, err, sizeof err), GRAFT_OK);
    assert_int_equal(graft_served_items(s), NI);
    int64_t rows[NU + 1];
    for (int u = 0; u < NU; u++)
        rows[u] = graft_served_user(s, key("u", u));
    rows[NU] = -1; /* an unknown user: biases alone */
    for (int i = 0; i < NI; i++)
        number_of[graft_served_item(s, key("i", i))] = i;
    enum { KK = 7 };
    int64_t top[(NU + 1) * KK];
    float sc[(NU + 1) * KK];
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(
            graft_served_topk(s, rows, NU + 1, KK, pass ? odd_items : NULL, NULL, top, sc),
            GRAFT_OK);
        for (int u = 0; u <= NU; u++) {
            int uu = u < NU ? u : -1;
            /* The brute-force ranking of the allowed items. */
            float best[KK];
            int have = 0;
            for (int i = 0; i < NI; i++) {
                if (pass && i % 2)
                    continue;
                float v = brute(uu, i);
                int p = have < KK ? have++ : KK;
                if (p == KK && v <= best[KK - 1])
                    continue;
                if (p == KK)
                    p = KK - 1;
                while (p > 0 && best[p - 1] < v) {
                    best[p] = best[p - 1];
                    p--;
                }
                best[p] = v;
            }
            for (int j = 0; j < KK; j++) {
                int64_t it = top[u * KK + j];
                assert_true(it >= 0);
                if (fabsf(sc[u * KK + j] - best[j]) >= 1e-4f)
                    fail_msg("pass %d user %d rank %d: %g, brute force %g (item %lld)", pass, u, j,
                             sc[u * KK + j], best[j], (long long)it);
                if (pass)
                    assert_int_equal(number_of[it] % 2, 0);
            }
        }
    }
    graft_served_destroy(&s);
}

static void
test_eval_metrics_by_hand(void **state)
{
    (void)state;
    graft_served *s;
    char err[4608];
    assert_int_equal(graft_served_load(dir, NULL, &s, err, sizeof err), GRAFT_OK);
    /* User u0's top two items, found by brute force; its test set: the best item (relevant), the
     * worst-ranked item (relevant) and one more at a rating below the threshold. */
    int first = 0, second = -1, worst = 0;
    for (int i = 1; i < NI; i++) {
        if (brute(0, i) > brute(0, first)) {
            second = first;
            first = i;
        } else if (second < 0 || brute(0, i) > brute(0, second))
            second = i;
        if (brute(0, i) < brute(0, worst))
            worst = i;
    }
    graft_pairs test = {.n = 3};
    test.v = calloc(3, sizeof *test.v);
    uint64_t u0 = key("u", 0);
    test.v[0] =
        (graft_pair){graft_served_user(s, u0), graft_served_item(s, key("i", first)), u0, 5};
    test.v[1] =
        (graft_pair){graft_served_user(s, u0), graft_served_item(s, key("i", worst)), u0, 4};
    test.v[2] =
        (graft_pair){graft_served_user(s, u0), graft_served_item(s, key("i", second)), u0, 2};
    /* graft_pairs keeps a user's pairs sorted by item */
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++)
            if (test.v[b].item < test.v[a].item) {
                graft_pair t = test.v[a];
                test.v[a] = test.v[b];
                test.v[b] = t;
            }
    graft_eval_opts o = {.nk = 2, .ks = {1, 2}, .min_rating = 4};
    graft_eval_result r;
    assert_int_equal(graft_eval_run(s, &test, NULL, &o, &r), GRAFT_OK);
    assert_int_equal(r.users, 1);
    /* @1: the best item is relevant: hit; recall 1/2; NDCG 1/1. @2: the second item is not
     * relevant (rating 2): recall 1/2, NDCG 1 / (1 + 1/log2(3)). */
    assert_float_equal(r.hr[0], 1, 1e-9);
    assert_float_equal(r.recall[0], 0.5, 1e-9);
    assert_float_equal(r.ndcg[0], 1, 1e-9);
    assert_float_equal(r.recall[1], 0.5, 1e-9);
    assert_float_equal(r.ndcg[1], 1 / (1 + 1 / log2(3)), 1e-9);
    /* RMSE of clipped predictions */
    double se = 0;
    for (int i = 0; i < 3; i++) {
        float p = graft_served_predict(s, test.v[i].user, test.v[i].item);
        assert_true(p >= 1 && p <= 5);
        se += (p - test.v[i].rating) * (p - test.v[i].rating);
    }
    assert_float_equal(r.rmse, sqrt(se / 3), 1e-6);
    free(test.v);
    graft_served_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_equals_a_full_sort),
        cmocka_unit_test(test_eval_metrics_by_hand),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
