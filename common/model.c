#include "model.h"

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
