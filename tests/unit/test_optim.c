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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_closed_form),
        cmocka_unit_test(test_adagrad_closed_form),
        cmocka_unit_test(test_finite_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
