#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "rng.h"

#define K 6

static void
test_gradient_matches_finite_differences(void **state)
{
    (void)state;
    graft_rng rng;
    graft_rng_seed(&rng, 7);
    for (int trial = 0; trial < 20; trial++) {
        float u[K + 1], v[K + 1], gu[K + 1] = {0}, gi[K + 1] = {0};
        for (int j = 0; j <= K; j++) {
            u[j] = (float)graft_rng_normal(&rng) * 0.5f;
            v[j] = (float)graft_rng_normal(&rng) * 0.5f;
        }
        float mu = 3.5f, r = (float)(1 + graft_rng_below(&rng, 5));
        float reg_f = 0.05f, reg_b = 0.02f;
        graft_model_grad(mu, u, v, K, r, reg_f, reg_b, gu, gi);
        const double h = 1e-3;
        for (int side = 0; side < 2; side++) {
            float *x = side ? v : u;
            float *g = side ? gi : gu;
            for (int j = 0; j <= K; j++) {
                float keep = x[j];
                x[j] = keep + (float)h;
                double lp = graft_model_loss(mu, u, v, K, r, reg_f, reg_b);
                x[j] = keep - (float)h;
                double lm = graft_model_loss(mu, u, v, K, r, reg_f, reg_b);
                x[j] = keep;
                double fd = (lp - lm) / (2 * h);
                if (fabs(fd - g[j]) > 2e-3 * (1 + fabs(fd)))
                    fail_msg("trial %d side %d coord %d: analytic %g, finite difference %g", trial,
                             side, j, g[j], fd);
            }
        }
    }
}

static void
test_weighted_joint_row_matches_finite_differences(void **state)
{
    (void)state;
    /* A joint user row: k factors, then the source bias, then the target bias (column k + 1). */
    graft_rng rng;
    graft_rng_seed(&rng, 9);
    float u[K + 2], v[K + 1], gu[K + 2] = {0}, gi[K + 1] = {0};
    for (int j = 0; j < K + 2; j++)
        u[j] = (float)graft_rng_normal(&rng) * 0.5f;
    for (int j = 0; j <= K; j++)
        v[j] = (float)graft_rng_normal(&rng) * 0.5f;
    const int ub = K + 1;
    const float w = 0.3f, mu = 3.1f, r = 4, rf = 0.04f, rb = 0.01f;
    graft_model_grad_at(mu, u, ub, v, K, r, rf, rb, w, gu, gi);
    assert_float_equal(gu[K], 0, 0); /* the other domain's bias is untouched */
    const double h = 1e-3;
    for (int j = 0; j < K + 2; j++) {
        float keep = u[j];
        u[j] = keep + (float)h;
        double lp = graft_model_loss_at(mu, u, ub, v, K, r, rf, rb, w);
        u[j] = keep - (float)h;
        double lm = graft_model_loss_at(mu, u, ub, v, K, r, rf, rb, w);
        u[j] = keep;
        assert_true(fabs((lp - lm) / (2 * h) - gu[j]) < 2e-3);
    }
    for (int j = 0; j <= K; j++) {
        float keep = v[j];
        v[j] = keep + (float)h;
        double lp = graft_model_loss_at(mu, u, ub, v, K, r, rf, rb, w);
        v[j] = keep - (float)h;
        double lm = graft_model_loss_at(mu, u, ub, v, K, r, rf, rb, w);
        v[j] = keep;
        assert_true(fabs((lp - lm) / (2 * h) - gi[j]) < 2e-3);
    }
}

static void
test_prediction_and_accumulation(void **state)
{
    (void)state;
    float u[3] = {1, 2, 0.5f}, v[3] = {3, -1, 0.25f};
    /* mu + b_u + b_i + p.q = 3 + 0.5 + 0.25 + (3 - 2) */
    assert_float_equal(graft_model_predict(3, u, v, 2), 4.75f, 1e-6);
    float gu[3] = {1, 1, 1}, gi[3] = {0};
    float e = graft_model_grad(3, u, v, 2, 4.75f, 0, 0, gu, gi);
    assert_float_equal(e, 0, 1e-6);
    /* A zero error and no regularisation add nothing to what was there. */
    assert_float_equal(gu[0], 1, 1e-6);
    assert_float_equal(gi[2], 0, 1e-6);
}

/* The block plane's kernel against the same step written out by hand, from the loss's
 * gradient (graft_model_grad), for SGD and row-wise AdaGrad, over ratings that share rows. */
static void
test_sgd_block_matches_the_gradient(void **state)
{
    (void)state;
    enum { W = K + 2, NU = 3, NI = 2, NR = 5 };
    graft_rng rng;
    graft_rng_seed(&rng, 11);
    for (int adagrad = 0; adagrad < 2; adagrad++) {
        float users[NU * W], items[NI * W], ru[NU * W], ri[NI * W];
        for (int i = 0; i < NU * W; i++)
            users[i] = (float)(0.3 * graft_rng_normal(&rng));
        for (int i = 0; i < NI * W; i++)
            items[i] = (float)(0.3 * graft_rng_normal(&rng));
        for (int r = 0; r < NU; r++)
            users[r * W + K + 1] = adagrad ? 0.5f * (float)r : 0; /* some history */
        for (int r = 0; r < NI; r++)
            items[r * W + K + 1] = adagrad ? 0.25f : 0;
        memcpy(ru, users, sizeof users);
        memcpy(ri, items, sizeof items);
        const graft_entry e[NR] = {{0, 0, 4}, {1, 0, 2}, {0, 1, 5}, {2, 1, 1}, {0, 0, 3}};
        const float mu = 3.5f, lr = 0.1f, rf = 0.05f, rb = 0.01f;
        double sse = graft_model_sgd_block(e, NR, users, items, K, W, mu, lr, rf, rb, adagrad);
        double want_sse = 0;
        for (int j = 0; j < NR; j++) {
            float *p = ru + e[j].u * W, *q = ri + e[j].i * W;
            float gp[K + 1] = {0}, gq[K + 1] = {0};
            float err = graft_model_grad(mu, p, q, K, e[j].r, rf, rb, gp, gq);
            want_sse += (double)err * err;
            float sp = adagrad ? lr / sqrtf(1 + p[K + 1]) : lr;
            float sq = adagrad ? lr / sqrtf(1 + q[K + 1]) : lr;
            float np = 0, nq = 0;
            for (int d = 0; d <= K; d++) {
                p[d] -= sp * gp[d];
                q[d] -= sq * gq[d];
                np += gp[d] * gp[d];
                nq += gq[d] * gq[d];
            }
            if (adagrad) {
                p[K + 1] += np / (K + 1);
                q[K + 1] += nq / (K + 1);
            }
        }
        assert_true(fabs(sse - want_sse) < 1e-4 * (1 + want_sse));
        for (int i = 0; i < NU * W; i++)
            assert_float_equal(users[i], ru[i], 1e-5);
        for (int i = 0; i < NI * W; i++)
            assert_float_equal(items[i], ri[i], 1e-5);
        /* AdaGrad's accumulators grew; plain SGD leaves the column alone. */
        assert_true(adagrad ? users[K + 1] > 0 : users[K + 1] == 0);
    }
}

/* BPR's triple gradient against central finite differences of its loss, with and without a
 * prior row (seed transfer), at a domain weight other than 1. */
static void
test_bpr_gradient_matches_finite_differences(void **state)
{
    (void)state;
    graft_rng rng;
    graft_rng_seed(&rng, 11);
    for (int trial = 0; trial < 40; trial++) {
        float u[K], pr[K], vi[K + 1], vj[K + 1];
        float gu[K] = {0}, gi[K + 1] = {0}, gj[K + 1] = {0};
        for (int j = 0; j < K; j++) {
            u[j] = (float)graft_rng_normal(&rng) * 0.7f;
            pr[j] = (float)graft_rng_normal(&rng) * 0.3f;
        }
        for (int j = 0; j <= K; j++) {
            vi[j] = (float)graft_rng_normal(&rng) * 0.7f;
            vj[j] = (float)graft_rng_normal(&rng) * 0.7f;
        }
        const float *prior = trial % 2 ? pr : NULL;
        float reg_f = 0.03f, reg_b = 0.02f, w = trial % 3 ? 1.0f : 0.4f;
        float nl = graft_model_bpr_grad(u, prior, vi, vj, K, reg_f, reg_b, w, gu, gi, gj);
        double l0 = graft_model_bpr_loss(u, prior, vi, vj, K, 0, 0, 1);
        assert_true(fabs(nl - l0) < 1e-5 * (1 + l0)); /* -ln sigma(x), unweighted */
        const double h = 1e-3;
        float *xs[3] = {u, vi, vj}, *gs[3] = {gu, gi, gj};
        for (int side = 0; side < 3; side++) {
            int n = side ? K + 1 : K;
            for (int j = 0; j < n; j++) {
                float keep = xs[side][j];
                xs[side][j] = keep + (float)h;
                double lp = graft_model_bpr_loss(u, prior, vi, vj, K, reg_f, reg_b, w);
                xs[side][j] = keep - (float)h;
                double lm = graft_model_bpr_loss(u, prior, vi, vj, K, reg_f, reg_b, w);
                xs[side][j] = keep;
                double fd = (lp - lm) / (2 * h);
                if (fabs(fd - gs[side][j]) > 2e-3 * (1 + fabs(fd)))
                    fail_msg("trial %d side %d coord %d: analytic %g, finite difference %g", trial,
                             side, j, gs[side][j], fd);
            }
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_matches_finite_differences),
        cmocka_unit_test(test_weighted_joint_row_matches_finite_differences),
        cmocka_unit_test(test_prediction_and_accumulation),
        cmocka_unit_test(test_sgd_block_matches_the_gradient),
        cmocka_unit_test(test_bpr_gradient_matches_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
