/* The biased matrix factorisation model. A user row and an item row each hold k factors followed
 * by one bias: row = [f_0 .. f_{k-1}, b], width k + 1. The prediction is
 *     r_hat = mu + b_u + b_i + p_u . q_i
 * and the loss of one rating, whose gradient graft_model_grad accumulates, is
 *     l = 1/2 (r_hat - r)^2 + 1/2 reg_f (|p_u|^2 + |q_i|^2) + 1/2 reg_b (b_u^2 + b_i^2)
 * (L2 applied per rating, as in LIBMF, so frequent users and items are held back more). */
#ifndef GRAFT_MODEL_H
#define GRAFT_MODEL_H

#include <stdint.h>

static inline float
graft_model_predict(float mu, const float *u, const float *v, int k)
{
    float s = mu + u[k] + v[k];
    for (int j = 0; j < k; j++)
        s += u[j] * v[j];
    return s;
}

/* Adds the gradient of l with respect to the user row into gu and to the item row into gi (both
 * width k + 1). Returns r_hat - r. */
float graft_model_grad(float mu, const float *u, const float *v, int k, float r, float reg_f,
                       float reg_b, float *gu, float *gi);

/* The loss l of one rating (for tests and reporting). */
double graft_model_loss(float mu, const float *u, const float *v, int k, float r, float reg_f,
                        float reg_b);

#endif
