#include "gen.h"
#include "alloc.h"
#include "keymap.h"
#include "rng.h"

#include <math.h>
#include <string.h>

static double
phi(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

double
graft_gen_rating_variance(double z, double noise, int round)
{
    if (!round)
        return noise * noise;
    /* r = clip(round(z + e), 1, 5): P(r = s) from the normal CDF at the half-star edges. */
    double m1 = 0, m2 = 0;
    for (int s = 1; s <= 5; s++) {
        double lo = s == 1 ? -INFINITY : (s - 0.5 - z) / noise;
        double hi = s == 5 ? INFINITY : (s + 0.5 - z) / noise;
        double p = (s == 5 ? 1.0 : phi(hi)) - (s == 1 ? 0.0 : phi(lo));
        m1 += p * s;
        m2 += p * s * s;
    }
    double v = m2 - m1 * m1;
    return v > 0 ? v : 0;
}

graft_err
graft_gen_run(const graft_gen_opts *o, FILE *train, FILE *test, graft_gen_result *res)
{
    memset(res, 0, sizeof *res);
    if (o->ratings_per_user > o->items)
        return GRAFT_ERR_INVALID;
    graft_err rc = GRAFT_ERR_NOMEM;
    size_t U = (size_t)o->users, I = (size_t)o->items, R = (size_t)o->rank;
    float *p = graft_malloc(U * R * sizeof(float));
    float *q = graft_malloc(I * R * sizeof(float));
    float *bu = graft_malloc(U * sizeof(float));
    float *bi = graft_malloc(I * sizeof(float));
    double *cdf = graft_malloc(I * sizeof(double));
    uint32_t *perm = graft_malloc(I * sizeof(uint32_t));
    graft_keymap *seen = NULL;
    if (!p || !q || !bu || !bi || !cdf || !perm ||
        graft_keymap_create((size_t)o->ratings_per_user, &seen) != GRAFT_OK)
        goto done;
    graft_rng rng;
    graft_rng_seed(&rng, (uint64_t)o->seed);
    /* Factor entries ~ N(0, s^2) give p.q a variance of rank * s^4. */
    double s = pow(o->signal_sd * o->signal_sd / (double)R, 0.25);
    for (size_t i = 0; i < U * R; i++)
        p[i] = (float)(s * graft_rng_normal(&rng));
    for (size_t i = 0; i < I * R; i++)
        q[i] = (float)(s * graft_rng_normal(&rng));
    for (size_t i = 0; i < U; i++)
        bu[i] = (float)(o->user_bias_sd * graft_rng_normal(&rng));
    for (size_t i = 0; i < I; i++)
        bi[i] = (float)(o->item_bias_sd * graft_rng_normal(&rng));
    for (size_t i = 0; i < I; i++)
        perm[i] = (uint32_t)i;
    graft_rng_shuffle(&rng, perm, I, sizeof *perm);
    double acc = 0;
    for (size_t j = 0; j < I; j++) {
        acc += pow((double)(j + 1), -o->zipf);
        cdf[j] = acc;
    }
    double var_test = 0, var_train = 0;
    for (size_t u = 0; u < U; u++) {
        graft_keymap_clear(seen);
        for (int64_t c = 0; c < o->ratings_per_user;) {
            double x = graft_rng_uniform(&rng) * acc;
            size_t lo = 0, hi = I - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cdf[mid] < x)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            uint32_t item = perm[lo], slot;
            int inserted;
            if (graft_keymap_upsert(seen, item, 0, &slot, &inserted) != GRAFT_OK)
                goto done;
            if (!inserted)
                continue;
            c++;
            double z = o->mean + bu[u] + bi[item];
            for (size_t k = 0; k < R; k++)
                z += (double)p[u * R + k] * q[(size_t)item * R + k];
            double r = z + o->noise * graft_rng_normal(&rng);
            if (o->round) {
                r = floor(r + 0.5);
                r = r < 1 ? 1 : r > 5 ? 5 : r;
            }
            double v = graft_gen_rating_variance(z, o->noise, o->round);
            int to_test = test && graft_rng_uniform(&rng) < o->test_fraction;
            FILE *f = to_test ? test : train;
            if (o->round)
                fprintf(f, "%zu,%u,%d\n", u + 1, item + 1, (int)r);
            else
                fprintf(f, "%zu,%u,%.4f\n", u + 1, item + 1, r);
            if (to_test) {
                res->test_ratings++;
                var_test += v;
            } else {
                res->train_ratings++;
                var_train += v;
            }
        }
    }
    res->best_rmse_train = sqrt(var_train / (double)(res->train_ratings ? res->train_ratings : 1));
    res->best_rmse =
        res->test_ratings ? sqrt(var_test / (double)res->test_ratings) : res->best_rmse_train;
    rc = (ferror(train) || (test && ferror(test))) ? GRAFT_ERR_IO : GRAFT_OK;
done:
    graft_free(p);
    graft_free(q);
    graft_free(bu);
    graft_free(bi);
    graft_free(cdf);
    graft_free(perm);
    graft_keymap_destroy(&seen);
    return rc;
}
