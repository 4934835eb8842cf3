#include "model.h"

#include <math.h>

float
graft_model_grad_at(float mu, const float *u, int ub, const float *v, int k, float r, float reg_f,
                    float reg_b, float w, float *gu, float *gi)
{
    float e = graft_model_predict_at(mu, u, ub, v, k) - r;
    float we = w * e, wf = w * reg_f, wb = w * reg_b;
    for (int j = 0; j < k; j++) {
        gu[j] += we * v[j] + wf * u[j];
        gi[j] += we * u[j] + wf * v[j];
    }
    gu[ub] += we + wb * u[ub];
    gi[k] += we + wb * v[k];
    return e;
}

double
graft_model_loss_at(float mu, const float *u, int ub, const float *v, int k, float r, float reg_f,
                    float reg_b, float w)
{
    double e = (double)graft_model_predict_at(mu, u, ub, v, k) - r;
    double nf = 0;
    for (int j = 0; j < k; j++)
        nf += (double)u[j] * u[j] + (double)v[j] * v[j];
    double nb = (double)u[ub] * u[ub] + (double)v[k] * v[k];
    return w * (0.5 * e * e + 0.5 * reg_f * nf + 0.5 * reg_b * nb);
}

GRAFT_CLONES double
graft_model_sgd_block(const graft_entry *e, size_t n, float *urows, float *irows, int k, int stride,
                      float mu, float lr, float reg_f, float reg_b, int adagrad)
{
    const size_t w = (size_t)stride;
    double sse = 0;
    for (size_t j = 0; j < n; j++) {
        if (j + 4 < n) { /* the rows four ratings ahead: they are likely cache misses */
            __builtin_prefetch(urows + e[j + 4].u * w);
            __builtin_prefetch(irows + e[j + 4].i * w);
            __builtin_prefetch(irows + e[j + 4].i * w + 32);
        }
        float *restrict p = urows + e[j].u * w;
        float *restrict q = irows + e[j].i * w;
        float dot = mu + p[k] + q[k];
#pragma omp simd reduction(+ : dot)
        for (int d = 0; d < k; d++)
            dot += p[d] * q[d];
        float err = e[j].r - dot;
        sse += (double)err * err;
        float sp = adagrad ? lr / sqrtf(1.0f + p[k + 1]) : lr;
        float sq = adagrad ? lr / sqrtf(1.0f + q[k + 1]) : lr;
        float gp2 = 0, gq2 = 0;
#pragma omp simd reduction(+ : gp2, gq2)
        for (int d = 0; d < k; d++) {
            float a = p[d], b = q[d];
            float ga = reg_f * a - err * b, gb = reg_f * b - err * a;
            p[d] = a - sp * ga;
            q[d] = b - sq * gb;
            gp2 += ga * ga;
            gq2 += gb * gb;
        }
        float ga = reg_b * p[k] - err, gb = reg_b * q[k] - err;
        p[k] -= sp * ga;
        q[k] -= sq * gb;
        if (adagrad) {
            p[k + 1] += (gp2 + ga * ga) / (float)(k + 1);
            q[k + 1] += (gq2 + gb * gb) / (float)(k + 1);
        }
    }
    return sse;
}

/* -ln sigma(x), without overflow. */
static double
neg_log_sigmoid(double x)
{
    return x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));
}

float
graft_model_bpr_grad(const float *u, const float *prior, const float *vi, const float *vj, int k,
                     float reg_f, float reg_b, float w, float *gu, float *gi, float *gj)
{
    float x = vi[k] - vj[k];
    for (int f = 0; f < k; f++)
        x += u[f] * (vi[f] - vj[f]);
    /* dl/dx = -w sigma(-x) */
    float g = -w / (1.0f + expf(x)), wr = w * reg_f;
    for (int f = 0; f < k; f++) {
        float uf = u[f];
        gu[f] += g * (vi[f] - vj[f]) + wr * (uf - (prior ? prior[f] : 0));
        gi[f] += g * uf + wr * vi[f];
        gj[f] += -g * uf + wr * vj[f];
    }
    gi[k] += g + w * reg_b * vi[k];
    gj[k] += -g + w * reg_b * vj[k];
    return (float)neg_log_sigmoid(x);
}

double
graft_model_bpr_loss(const float *u, const float *prior, const float *vi, const float *vj, int k,
                     float reg_f, float reg_b, float w)
{
    double x = (double)vi[k] - vj[k], nf = 0;
    for (int f = 0; f < k; f++) {
        double du = (double)u[f] - (prior ? prior[f] : 0);
        x += (double)u[f] * ((double)vi[f] - vj[f]);
        nf += du * du + (double)vi[f] * vi[f] + (double)vj[f] * vj[f];
    }
    double nb = (double)vi[k] * vi[k] + (double)vj[k] * vj[k];
    return w * (neg_log_sigmoid(x) + 0.5 * reg_f * nf + 0.5 * reg_b * nb);
}
