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

/* One domain's items: factors, biases, and a Zipf popularity over a random permutation. */
typedef struct {
    size_t n;
    float *q, *b;
    double *cdf;
    uint32_t *perm;
    graft_keymap *seen; /* the current user's items, so none repeats */
} items;

static void
items_free(items *it)
{
    graft_free(it->q);
    graft_free(it->b);
    graft_free(it->cdf);
    graft_free(it->perm);
    graft_keymap_destroy(&it->seen);
}

static graft_err
items_make(const graft_gen_opts *o, graft_rng *rng, size_t n, double s, size_t per_user, items *it)
{
    size_t R = (size_t)o->rank;
    memset(it, 0, sizeof *it);
    it->n = n;
    it->q = graft_malloc(n * R * sizeof(float));
    it->b = graft_malloc(n * sizeof(float));
    it->cdf = graft_malloc(n * sizeof(double));
    it->perm = graft_malloc(n * sizeof(uint32_t));
    if (!it->q || !it->b || !it->cdf || !it->perm ||
        graft_keymap_create(per_user, &it->seen) != GRAFT_OK)
        return GRAFT_ERR_NOMEM;
    for (size_t i = 0; i < n * R; i++)
        it->q[i] = (float)(s * graft_rng_normal(rng));
    for (size_t i = 0; i < n; i++)
        it->b[i] = (float)(o->item_bias_sd * graft_rng_normal(rng));
    for (size_t i = 0; i < n; i++)
        it->perm[i] = (uint32_t)i;
    graft_rng_shuffle(rng, it->perm, n, sizeof *it->perm);
    double acc = 0;
    for (size_t j = 0; j < n; j++) {
        acc += pow((double)(j + 1), -o->zipf);
        it->cdf[j] = acc;
    }
    return GRAFT_OK;
}

static uint32_t
items_draw(const items *it, graft_rng *rng)
{
    double x = graft_rng_uniform(rng) * it->cdf[it->n - 1];
    size_t lo = 0, hi = it->n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (it->cdf[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return it->perm[lo];
}

/* Writes `count` distinct ratings of user u (factors p, bias bu) to train, or with probability
 * test_fraction to test; adds each rating's Bayes variance to var[0] (train) or var[1] (test). */
static graft_err
rate_user(const graft_gen_opts *o, graft_rng *rng, size_t u, const float *p, float bu, items *it,
          int64_t count, FILE *train, FILE *test, double test_fraction, graft_gen_result *res,
          double var[2])
{
    size_t R = (size_t)o->rank;
    graft_keymap_clear(it->seen);
    for (int64_t c = 0; c < count;) {
        uint32_t item = items_draw(it, rng), slot;
        /* Taste: a drawn item is kept by how much the user likes it (no draw without, so that
         * taste 0 writes exactly the data of before). */
        if (o->taste > 0 && o->signal_sd > 0) {
            double dot = 0;
            for (size_t k = 0; k < R; k++)
                dot += (double)p[k] * it->q[(size_t)item * R + k];
            if (graft_rng_uniform(rng) >= 1 / (1 + exp(-o->taste * dot / o->signal_sd)))
                continue;
        }
        int inserted;
        if (graft_keymap_upsert(it->seen, item, 0, &slot, &inserted) != GRAFT_OK)
            return GRAFT_ERR_NOMEM;
        if (!inserted)
            continue;
        c++;
        double z = o->mean + bu + it->b[item];
        for (size_t k = 0; k < R; k++)
            z += (double)p[k] * it->q[(size_t)item * R + k];
        double r = z + o->noise * graft_rng_normal(rng);
        if (o->round) {
            r = floor(r + 0.5);
            r = r < 1 ? 1 : r > 5 ? 5 : r;
        }
        double v = graft_gen_rating_variance(z, o->noise, o->round);
        int to_test = test && graft_rng_uniform(rng) < test_fraction;
        FILE *f = to_test ? test : train;
        if (o->round)
            fprintf(f, "%zu,%u,%d\n", u + 1, item + 1, (int)r);
        else
            fprintf(f, "%zu,%u,%.4f\n", u + 1, item + 1, r);
        if (to_test) {
            res->test_ratings++;
            var[1] += v;
        } else {
            res->train_ratings++;
            var[0] += v;
        }
    }
    return GRAFT_OK;
}

/* Scale of a factor entry so that p.q over `rank` dimensions has sd signal_sd. */
static double
factor_scale(const graft_gen_opts *o)
{
    return pow(o->signal_sd * o->signal_sd / (double)o->rank, 0.25);
}

graft_err
graft_gen_run(const graft_gen_opts *o, FILE *train, FILE *test, graft_gen_result *res)
{
    memset(res, 0, sizeof *res);
    if (o->ratings_per_user > o->items)
        return GRAFT_ERR_INVALID;
    size_t U = (size_t)o->users, R = (size_t)o->rank;
    double s = factor_scale(o), var[2] = {0, 0};
    graft_rng rng;
    graft_rng_seed(&rng, (uint64_t)o->seed);
    items it = {0};
    float *p = graft_malloc(U * R * sizeof(float)), *bu = graft_malloc(U * sizeof(float));
    graft_err rc = items_make(o, &rng, (size_t)o->items, s, (size_t)o->ratings_per_user, &it);
    if (!p || !bu)
        rc = GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK) {
        for (size_t i = 0; i < U * R; i++)
            p[i] = (float)(s * graft_rng_normal(&rng));
        for (size_t i = 0; i < U; i++)
            bu[i] = (float)(o->user_bias_sd * graft_rng_normal(&rng));
    }
    for (size_t u = 0; u < U && rc == GRAFT_OK; u++)
        rc = rate_user(o, &rng, u, p + u * R, bu[u], &it, o->ratings_per_user, train, test,
                       o->test_fraction, res, var);
    if (rc == GRAFT_OK) {
        res->best_rmse_train = sqrt(var[0] / (double)(res->train_ratings ? res->train_ratings : 1));
        res->best_rmse =
            res->test_ratings ? sqrt(var[1] / (double)res->test_ratings) : res->best_rmse_train;
        rc = (ferror(train) || (test && ferror(test))) ? GRAFT_ERR_IO : GRAFT_OK;
    }
    graft_free(p);
    graft_free(bu);
    items_free(&it);
    return rc;
}

graft_err
graft_gen_run_domains(const graft_gen_opts *o, FILE *source, FILE *target, graft_gen_result *res)
{
    memset(res, 0, sizeof *res);
    int64_t ti = o->target_items ? o->target_items : o->items;
    if (o->ratings_per_user > o->items || o->target_ratings_per_user > ti)
        return GRAFT_ERR_INVALID;
    size_t U = (size_t)o->users, R = (size_t)o->rank;
    double s = factor_scale(o), rho = o->correlation, rest = sqrt(1 - rho * rho);
    graft_rng rng;
    graft_rng_seed(&rng, (uint64_t)o->seed);
    items si = {0}, tj = {0};
    float *ps = graft_malloc(U * R * sizeof(float)), *pt = graft_malloc(U * R * sizeof(float));
    float *bs = graft_malloc(U * sizeof(float)), *bt = graft_malloc(U * sizeof(float));
    graft_err rc = items_make(o, &rng, (size_t)o->items, s, (size_t)o->ratings_per_user, &si);
    if (rc == GRAFT_OK)
        rc = items_make(o, &rng, (size_t)ti, s, (size_t)o->target_ratings_per_user, &tj);
    if (!ps || !pt || !bs || !bt)
        rc = GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK) {
        for (size_t i = 0; i < U * R; i++) {
            ps[i] = (float)(s * graft_rng_normal(&rng));
            pt[i] = (float)(rho * ps[i] + rest * s * graft_rng_normal(&rng));
        }
        for (size_t i = 0; i < U; i++) {
            bs[i] = (float)(o->user_bias_sd * graft_rng_normal(&rng));
            bt[i] = (float)(rho * bs[i] + rest * o->user_bias_sd * graft_rng_normal(&rng));
        }
    }
    /* Source ratings count as "train", target ratings as "test" in res. */
    double var[2] = {0, 0};
    for (size_t u = 0; u < U && rc == GRAFT_OK; u++) {
        if (graft_rng_uniform(&rng) < o->overlap)
            rc = rate_user(o, &rng, u, ps + u * R, bs[u], &si, o->ratings_per_user, source, NULL, 0,
                           res, var);
        if (rc == GRAFT_OK)
            rc = rate_user(o, &rng, u, pt + u * R, bt[u], &tj, o->target_ratings_per_user, target,
                           target, 1.0, res, var);
    }
    if (rc == GRAFT_OK) {
        res->best_rmse = sqrt(var[1] / (double)(res->test_ratings ? res->test_ratings : 1));
        res->best_rmse_train = sqrt(var[0] / (double)(res->train_ratings ? res->train_ratings : 1));
        rc = (ferror(source) || ferror(target)) ? GRAFT_ERR_IO : GRAFT_OK;
    }
    graft_free(ps);
    graft_free(pt);
    graft_free(bs);
    graft_free(bt);
    items_free(&si);
    items_free(&tj);
    return rc;
}
