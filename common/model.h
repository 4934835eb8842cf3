/* The biased matrix factorisation model. A user row holds k factors followed by the user's bias
 * (one per domain in joint training, at column ub); an item row holds k factors and the item bias
 * at column k. The prediction is
 *     r_hat = mu + b_u + b_i + p_u . q_i
 * and the loss of one rating, whose gradient graft_model_grad_at accumulates, is
 *     l = w [ 1/2 (r_hat - r)^2 + 1/2 reg_f (|p_u|^2 + |q_i|^2) + 1/2 reg_b (b_u^2 + b_i^2) ]
 * with w the weight of the rating's domain (lambda for the target in joint training, else 1).
 * L2 is applied per rating, as in LIBMF, so frequent users and items are held back more. */
#ifndef GRAFT_MODEL_H
#define GRAFT_MODEL_H

#include <stddef.h>
#include <stdint.h>

/* Hot loops (the block plane's SGD step, iALS's CG product) are built for AVX2+FMA where the
 * CPU has them and for baseline x86-64 otherwise (resolved once at load), so one binary runs on
 * any x86-64 host; `omp simd` pragmas (-fopenmp-simd) let the compiler vectorise their
 * reductions without -ffast-math. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                             \
    !defined(__SANITIZE_ADDRESS__)
#define GRAFT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GRAFT_CLONES
#endif

static inline float
graft_model_predict_at(float mu, const float *u, int ub, const float *v, int k)
{
    float s = mu + u[ub] + v[k];
    for (int j = 0; j < k; j++)
        s += u[j] * v[j];
    return s;
}

/* A prediction clipped to the rating range [lo, hi] (the one place that clips). */
static inline float
graft_model_clip(float p, float lo, float hi)
{
    return p < lo ? lo : p > hi ? hi : p;
}

static inline float
graft_model_predict(float mu, const float *u, const float *v, int k)
{
    return graft_model_predict_at(mu, u, k, v, k);
}

/* Adds the gradient of l with respect to the user row into gu and to the item row into gi.
 * Returns r_hat - r (unweighted). */
float graft_model_grad_at(float mu, const float *u, int ub, const float *v, int k, float r,
                          float reg_f, float reg_b, float w, float *gu, float *gi);

static inline float
graft_model_grad(float mu, const float *u, const float *v, int k, float r, float reg_f, float reg_b,
                 float *gu, float *gi)
{
    return graft_model_grad_at(mu, u, k, v, k, r, reg_f, reg_b, 1.0f, gu, gi);
}

/* BPR (worker/bpr.c): for user row u (k factors), positive item row i and negative item row j
 * (k factors, then the item bias at column k), the loss of one triple is
 *     l = w [ -ln sigma(x) + 1/2 reg_f (|u - prior|^2 + |v_i|^2 + |v_j|^2)
 *             + 1/2 reg_b (b_i^2 + b_j^2) ],     x = u.(v_i - v_j) + b_i - b_j
 * (prior NULL reads as 0). graft_model_bpr_grad adds its gradient into gu (k values), gi and gj
 * (k + 1) and returns -ln sigma(x) (unweighted); graft_model_bpr_loss is l itself. */
float graft_model_bpr_grad(const float *u, const float *prior, const float *vi, const float *vj,
                           int k, float reg_f, float reg_b, float w, float *gu, float *gi,
                           float *gj);
double graft_model_bpr_loss(const float *u, const float *prior, const float *vi, const float *vj,
                            int k, float reg_f, float reg_b, float w);

/* A rating of the block data plane: indices into the worker's user rows and the block's item
 * rows. */
typedef struct {
    uint32_t u, i;
    float r;
} graft_entry;

/* In-place SGD over n entries, in order, as LIBMF does it: each rating moves its user row and
 * item row against the gradient of l (weight 1). A row is `stride` floats (at least k + 2): k
 * factors, the bias at k, and at k + 1 the row's G, the sum of the mean squared gradient of its
 * past steps; the step is lr / sqrt(1 + G) when adagrad is set (row-wise AdaGrad), else plain lr.
 * Returns the sum of squared errors seen before each step. */
double graft_model_sgd_block(const graft_entry *e, size_t n, float *urows, float *irows, int k,
                             int stride, float mu, float lr, float reg_f, float reg_b, int adagrad);

/* The loss l of one rating (for tests and reporting). */
double graft_model_loss_at(float mu, const float *u, int ub, const float *v, int k, float r,
                           float reg_f, float reg_b, float w);

static inline double
graft_model_loss(float mu, const float *u, const float *v, int k, float r, float reg_f, float reg_b)
{
    return graft_model_loss_at(mu, u, k, v, k, r, reg_f, reg_b, 1.0f);
}

#endif
