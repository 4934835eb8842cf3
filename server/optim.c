#include "optim.h"

#include <math.h>

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
