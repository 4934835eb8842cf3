#include "optim.h"

#include <math.h>
#include <string.h>

uint32_t
graft_optim_state_width(graft_optim_kind kind, uint32_t width)
{
    return kind == GRAFT_OPTIM_ADAGRAD ? width : 0;
}

/* Each rule first looks, without writing, whether the update keeps the row finite, then
 * writes: the row is in cache for the second pass. Rows are finite to begin with (every value
 * that enters a table is checked), which keeps the first pass cheap for AdaGrad: its step is
 * lr * g / (sqrt(s + g^2) + eps), at most lr in size, so only the new state s + g^2 can
 * overflow, and the first pass needs no square root. */
int
graft_optim_apply(graft_optim_kind kind, float lr, float l2, uint32_t width, float *w, float *state,
                  const float *g)
{
    uint32_t bad = 0;
    if (kind == GRAFT_OPTIM_ADAGRAD) {
        for (uint32_t j = 0; j < width; j++) {
            float gj = g[j] + l2 * w[j];
            bad |= !isfinite(state[j] + gj * gj);
        }
        if (bad)
            return 0;
        for (uint32_t j = 0; j < width; j++) {
            float gj = g[j] + l2 * w[j];
            state[j] += gj * gj;
            w[j] -= lr * gj / (sqrtf(state[j]) + GRAFT_ADAGRAD_EPS);
        }
    } else if (kind == GRAFT_OPTIM_SUM) {
        for (uint32_t j = 0; j < width; j++)
            bad |= !isfinite(w[j] + g[j]);
        if (bad)
            return 0;
        for (uint32_t j = 0; j < width; j++)
            w[j] += g[j];
    } else {
        for (uint32_t j = 0; j < width; j++)
            bad |= !isfinite(w[j] - lr * (g[j] + l2 * w[j]));
        if (bad)
            return 0;
        for (uint32_t j = 0; j < width; j++)
            w[j] -= lr * (g[j] + l2 * w[j]);
    }
    return 1;
}

int
graft_optim_finite(const float *g, size_t n)
{
    /* On the bits, with no early exit, so that the loop is vectorised: a push's values are
     * scanned at memory speed. */
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &g[i], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}
