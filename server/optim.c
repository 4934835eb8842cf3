#include "optim.h"

#include <math.h>
#include <string.h>

uint32_t
graft_optim_state_width(graft_optim_kind kind, uint32_t width)
{
    return kind == GRAFT_OPTIM_ADAGRAD ? width : 0;
}

/* Each rule runs twice over the row: once to see whether every new value (and new state) is
 * finite, without writing, then to write. The row is in cache for the second pass, so refusing
 * costs one more pass over a row rather than a copy of it. */
int
graft_optim_apply(graft_optim_kind kind, float lr, float l2, uint32_t width, float *w, float *state,
                  const float *g)
{
    uint32_t bad = 0;
    if (kind == GRAFT_OPTIM_ADAGRAD) {
        for (uint32_t j = 0; j < width; j++) {
            float gj = g[j] + l2 * w[j];
            float s = state[j] + gj * gj;
            float v = w[j] - lr * gj / (sqrtf(s) + GRAFT_ADAGRAD_EPS);
            bad |= !isfinite(s) | !isfinite(v);
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
