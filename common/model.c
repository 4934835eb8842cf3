#include "model.h"

float
graft_model_grad(float mu, const float *u, const float *v, int k, float r, float reg_f, float reg_b,
                 float *gu, float *gi)
{
    float e = graft_model_predict(mu, u, v, k) - r;
    for (int j = 0; j < k; j++) {
        gu[j] += e * v[j] + reg_f * u[j];
        gi[j] += e * u[j] + reg_f * v[j];
    }
    gu[k] += e + reg_b * u[k];
    gi[k] += e + reg_b * v[k];
    return e;
}

double
graft_model_loss(float mu, const float *u, const float *v, int k, float r, float reg_f, float reg_b)
{
    double e = (double)graft_model_predict(mu, u, v, k) - r;
    double nf = 0;
    for (int j = 0; j < k; j++)
        nf += (double)u[j] * u[j] + (double)v[j] * v[j];
    double nb = (double)u[k] * u[k] + (double)v[k] * v[k];
    return 0.5 * e * e + 0.5 * reg_f * nf + 0.5 * reg_b * nb;
}
