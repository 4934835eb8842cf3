#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <cmocka.h>

#include "optim.h"

static void
test_sgd_closed_form(void **state)
{
    (void)state;
    float w[2] = {1, -2};
    const float g[2] = {0.5f, 1};
    /* With weight decay 0.1: w <- w - lr (g + 0.1 w), three times. */
    double e0 = 1, e1 = -2;
    for (int t = 0; t < 3; t++) {
        graft_optim_apply(GRAFT_OPTIM_SGD, 0.2f, 0.1f, 2, w, NULL, g);
        e0 -= 0.2 * (0.5 + 0.1 * e0);
        e1 -= 0.2 * (1 + 0.1 * e1);
    }
    assert_float_equal(w[0], e0, 1e-5);
    assert_float_equal(w[1], e1, 1e-5);
    assert_int_equal(graft_optim_state_width(GRAFT_OPTIM_SGD, 9), 0);
}

static void
test_adagrad_closed_form(void **state)
{
    (void)state;
    float w[1] = {0}, s[1] = {0};
    const float gs[3] = {1, 2, -1};
    double ew = 0, es = 0;
    for (int t = 0; t < 3; t++) {
        graft_optim_apply(GRAFT_OPTIM_ADAGRAD, 0.5f, 0, 1, w, s, &gs[t]);
        es += gs[t] * gs[t];
        ew -= 0.5 * gs[t] / (sqrt(es) + 1e-8);
    }
    assert_float_equal(s[0], 6, 1e-6);
    assert_float_equal(w[0], ew, 1e-6);
    /* The first step is lr * sign(g), whatever the gradient's size. */
    float w2[1] = {0}, s2[1] = {0};
    const float big[1] = {1000};
    graft_optim_apply(GRAFT_OPTIM_ADAGRAD, 0.5f, 0, 1, w2, s2, big);
    assert_float_equal(w2[0], -0.5f, 1e-6);
    assert_int_equal(graft_optim_state_width(GRAFT_OPTIM_ADAGRAD, 9), 9);
}

/* Every position of a vector lane and its tail: one NaN or infinity anywhere is found. */
static void
test_finite_scan(void **state)
{
    (void)state;
    float v[67];
    for (int i = 0; i < 67; i++)
        v[i] = (float)i * 1e30f - 3.0f;
    assert_true(graft_optim_finite(v, 67));
    assert_true(graft_optim_finite(v, 0));
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 67; i++) {
            float keep = v[i];
            v[i] = bad[b];
            assert_false(graft_optim_finite(v, 67));
            assert_true(graft_optim_finite(v, (size_t)i));
            v[i] = keep;
        }
}

/* An update that would make a row or its state non-finite is refused, and nothing changes:
 * two finite pushes of 3e38 into a Sum row, a huge AdaGrad gradient whose square overflows,
 * an SGD step past the float range. */
static void
test_refuses_non_finite_results(void **state)
{
    (void)state;
    float w[2] = {1, 2};
    const float g[2] = {3e38f, 0};
    assert_int_equal(graft_optim_apply(GRAFT_OPTIM_SUM, 0, 0, 2, w, NULL, g), 1);
    assert_float_equal(w[0], 3e38f, 1e32);
    assert_int_equal(graft_optim_apply(GRAFT_OPTIM_SUM, 0, 0, 2, w, NULL, g), 0);
    assert_float_equal(w[0], 3e38f, 1e32);
    assert_float_equal(w[1], 2, 0);
    float a[1] = {0.5f}, s[1] = {1};
    const float huge[1] = {2e38f};
    assert_int_equal(graft_optim_apply(GRAFT_OPTIM_ADAGRAD, 0.1f, 0, 1, a, s, huge), 0);
    assert_float_equal(a[0], 0.5f, 0);
    assert_float_equal(s[0], 1, 0);
    float v[1] = {-3e38f};
    const float up[1] = {3e38f};
    assert_int_equal(graft_optim_apply(GRAFT_OPTIM_SGD, 10, 0, 1, v, NULL, up), 0);
    assert_float_equal(v[0], -3e38f, 1e32);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_closed_form),
        cmocka_unit_test(test_adagrad_closed_form),
        cmocka_unit_test(test_finite_scan),
        cmocka_unit_test(test_refuses_non_finite_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
