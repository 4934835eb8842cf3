/* The optimizers that servers apply to pushed gradients, one row at a time. */
#ifndef GRAFT_OPTIM_H
#define GRAFT_OPTIM_H

#include "wire.h"

#include <stddef.h>
#include <stdint.h>

#define GRAFT_ADAGRAD_EPS 1e-8f

/* How many floats of optimizer state a row of `width` needs (0 for SGD, width for AdaGrad). */
uint32_t graft_optim_state_width(graft_optim_kind kind, uint32_t width);

/* Applies gradient g to row w (and its state). With weight decay l2 the gradient is g + l2 * w.
 *   SGD:     w -= lr * g
 *   AdaGrad: s += g^2;  w -= lr * g / (sqrt(s) + eps)
 *   Sum:     w += g (lr and l2 unused): accumulators, not models
 * Returns 1 when applied; 0, with the row and state unchanged, when a value or the state would
 * become NaN or infinite (two finite pushes of 3e38 to a Sum row, say): nothing poisons a row. */
int graft_optim_apply(graft_optim_kind kind, float lr, float l2, uint32_t width, float *w,
                      float *state, const float *g);
/* 1 when none of g[0..n) is a NaN or an infinity. */
int graft_optim_finite(const float *g, size_t n);

#endif
