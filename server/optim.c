#include "optim.h"

#include <math.h>
#include <string.h>

uint32_t
graft_optim_state_width(graft_optim_kind kind, uint32_t width)
{
    return kind == GRAFT_OPTIM_ADAGRAD ? width : 0;
}

void
graft_optim_apply(graft_optim_kind kind, float lr, float l2, uint32_t width, float *w, float *state,
                  const float *g)
{
    if (kind == GRAFT_OPTIM_ADAGRAD) {
        for (uint32_t j = 0; j < width; j++) {
            float gj = g[j] + l2 * w[j];
            state[j] += gj * gj;
            w[j] -= lr * gj / (sqrtf(state[j]) + GRAFT_ADAGRAD_EPS);
        }
    } else if (kind == GRAFT_OPTIM_SUM) {
        for (uint32_t j = 0; j < width; j++)
            w[j] += g[j];
    } else {
        for (uint32_t j = 0; j < width; j++)
            w[j] -= lr * (g[j] + l2 * w[j]);
    }
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
