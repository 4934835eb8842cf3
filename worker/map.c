#include "map.h"
#include "alloc.h"
#include "cohort.h"
#include "log.h"
#include "rng.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 4096

graft_err
graft_map_ridge_solve(double *xtx, double *xty, int d, int e, double reg)
{
    int n = d + 1;
    /* The intercept (last row) is not penalised. */
    for (int i = 0; i < d; i++)
        xtx[i * n + i] += reg;
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', n, e, xtx, n, xty, e);
    if (info != 0) {
        GRAFT_LOG_ERROR("GRAFT-MAP-SOLVE", "the ridge system is not positive definite (%d)",
                        (int)info);
        return GRAFT_ERR_INVALID;
    }
    return GRAFT_OK;
}

/* The share of list (sorted, the same everywhere) that this worker handles: every W-th. */
size_t
graft_map_my_share(const uint64_t *list, size_t n, const graft_job *job, const uint64_t *skip,
                   size_t nskip, uint64_t *out)
{
    size_t m = 0;
    for (size_t i = (size_t)job->index; i < n; i += (size_t)job->nworkers)
        if (!graft_cohort_contains(skip, nskip, list[i]))
            out[m++] = list[i];
    return m;
}

/* Pulls the rows of keys (n of them) from table in chunks into out (n x width). */
static graft_err
pull_all(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
         float *out)
{
    for (size_t b = 0; b < n; b += CHUNK) {
        size_t m = n - b < CHUNK ? n - b : CHUNK;
        graft_err rc = graft_client_pull(c, table, width, keys + b, m, 0, out + b * width);
        if (rc != GRAFT_OK)
            return rc;
    }
    return GRAFT_OK;
}

static int
all_zero(const float *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (x[i] != 0)
            return 0;
    return 1;
}

/* A residual network on top of the ridge map: y = [x, 1] M + W2 tanh(W1 x + b1), W2 starting at
 * zero, trained by full-batch Adam on all pairs (gathered on every worker, which then all compute
 * the same network from the same seed). */
typedef struct {
    int d, h;
    float *w1, *b1, *w2; /* h x d, h, e x h (e = d) */
} mlp;

static void
mlp_apply(const mlp *net, const double *ridge, const float *x, size_t n, float *y, float *hid)
{
    int d = net->d, h = net->h;
    for (size_t i = 0; i < n; i++) {
        for (int o = 0; o < d; o++) {
            double s = ridge[(size_t)d * d + (size_t)o];
            for (int j = 0; j < d; j++)
                s += (double)x[i * d + j] * ridge[(size_t)j * d + (size_t)o];
            y[i * d + o] = (float)s;
        }
    }
    /* hid = tanh(x W1^T + b1); y += hid W2^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, h, d, 1.0f, x, d, net->w1, d, 0.0f,
                hid, h);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < h; j++)
            hid[i * h + j] = tanhf(hid[i * h + j] + net->b1[j]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, d, h, 1.0f, hid, h, net->w2, h,
                1.0f, y, d);
}

static graft_err
mlp_train(mlp *net, const double *ridge, const float *x, const float *y, size_t n, int epochs,
          float l2, uint64_t seed)
{
    int d = net->d, h = net->h;
    size_t np = (size_t)h * d * 2 + (size_t)h;
    float *params = graft_calloc(np, sizeof(float)), *grad = graft_calloc(np, sizeof(float));
    float *m1 = graft_calloc(np, sizeof(float)), *m2 = graft_calloc(np, sizeof(float));
    float *pred = graft_malloc(n * d * sizeof(float)), *hid = graft_malloc(n * h * sizeof(float));
    float *dh = graft_malloc(n * h * sizeof(float));
    graft_err rc = GRAFT_OK;
    if (!params || !grad || !m1 || !m2 || !pred || !hid || !dh) {
        graft_free(params);
        params = NULL;
        rc = GRAFT_ERR_NOMEM;
        goto done;
    }
    net->w1 = params;
    net->w2 = params + (size_t)h * d;
    net->b1 = params + (size_t)h * d * 2;
    graft_rng rng;
    graft_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)h * d; i++)
        net->w1[i] = (float)(graft_rng_normal(&rng) / sqrt((double)d));
    const float lr = 1e-3f, b1m = 0.9f, b2m = 0.999f;
    for (int ep = 1; ep <= epochs; ep++) {
        mlp_apply(net, ridge, x, n, pred, hid);
        /* pred := d loss / d pred for loss = 1/(2n) sum |pred - y|^2 */
        for (size_t i = 0; i < n * d; i++)
            pred[i] = (pred[i] - y[i]) / (float)n;
        float *gw1 = grad, *gw2 = grad + (size_t)h * d, *gb1 = grad + (size_t)h * d * 2;
        /* gW2 = pred^T hid;  dh = pred W2 .* (1 - hid^2);  gW1 = dh^T x;  gb1 = sum dh */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, h, (int)n, 1.0f, pred, d, hid, h,
                    0.0f, gw2, h);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, h, d, 1.0f, pred, d, net->w2,
                    h, 0.0f, dh, h);
        memset(gb1, 0, (size_t)h * sizeof(float));
        for (size_t i = 0; i < n; i++)
            for (int j = 0; j < h; j++) {
                float a = hid[i * h + j];
                dh[i * h + j] *= 1 - a * a;
                gb1[j] += dh[i * h + j];
            }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, h, d, (int)n, 1.0f, dh, h, x, d, 0.0f,
                    gw1, d);
        float c1 = 1 - powf(b1m, (float)ep), c2 = 1 - powf(b2m, (float)ep);
        for (size_t i = 0; i < np; i++) {
            float g = grad[i] + l2 * params[i];
            m1[i] = b1m * m1[i] + (1 - b1m) * g;
            m2[i] = b2m * m2[i] + (1 - b2m) * g * g;
            params[i] -= lr * (m1[i] / c1) / (sqrtf(m2[i] / c2) + 1e-8f);
        }
    }
done:
    /* params stays with net (the caller frees net->w1); the working buffers go. */
    graft_free(grad);
    graft_free(m1);
    graft_free(m2);
    graft_free(pred);
    graft_free(hid);
    graft_free(dh);
    return rc;
}

/* Every worker gets all workers' rows (n x width each), in worker order. */
static graft_err
allgather_rows(MPI_Comm comm, const float *mine, size_t n, uint32_t width, float **all,
               size_t *total)
{
    void *buf;
    size_t bytes;
    graft_err rc = graft_job_allgather_bytes(comm, mine, n * width * sizeof(float), &buf, &bytes);
    *all = buf;
    *total = rc == GRAFT_OK ? bytes / (width * sizeof(float)) : 0;
    return rc;
}

/* map: fit source user rows -> target user rows on the overlap users that trained in both
 * domains, then write the mapped row of every mapped user into the target table. */
graft_err
graft_map_cold_users(const graft_config *cfg, const graft_job *job, graft_engine *e,
                     graft_client *c, const graft_map_users *u)
{
    const graft_domain *sd = graft_engine_domain_const(e, GRAFT_DOM_SOURCE),
                       *td = graft_engine_domain_const(e, GRAFT_DOM_TARGET);
    uint32_t su = sd->utab, tu = td->utab, w = td->uwidth;
    int d = (int)w, n1 = d + 1;
    size_t cap = u->n_overlap + 1;
    uint64_t *keys = graft_malloc(cap * sizeof *keys);
    float *xs = graft_malloc(cap * w * sizeof(float)), *ys = graft_malloc(cap * w * sizeof(float));
    double *xtx = graft_calloc((size_t)n1 * n1, sizeof(double));
    double *xty = graft_calloc((size_t)n1 * d, sizeof(double));
    graft_err rc = GRAFT_ERR_NOMEM;
    float *allx = NULL, *ally = NULL;
    mlp net = {0};
    if (!keys || !xs || !ys || !xtx || !xty)
        goto done;
    size_t m = graft_map_my_share(u->overlap, u->n_overlap, job, u->skip, u->n_skip, keys);
    if ((rc = pull_all(c, su, w, keys, m, xs)) != GRAFT_OK ||
        (rc = pull_all(c, tu, w, keys, m, ys)) != GRAFT_OK)
        goto done;
    /* Keep the pairs whose target row exists (the user trained there). */
    size_t p = 0;
    for (size_t i = 0; i < m; i++) {
        if (all_zero(ys + i * w, w) || all_zero(xs + i * w, w))
            continue;
        memmove(xs + p * w, xs + i * w, w * sizeof(float));
        memmove(ys + p * w, ys + i * w, w * sizeof(float));
        p++;
    }
    for (size_t i = 0; i < p; i++) {
        const float *x = xs + i * w, *y = ys + i * w;
        for (int a = 0; a < n1; a++) {
            double xa = a < d ? x[a] : 1.0;
            for (int b = 0; b < n1; b++)
                xtx[a * n1 + b] += xa * (b < d ? x[b] : 1.0);
            for (int b = 0; b < d; b++)
                xty[a * d + b] += xa * y[b];
        }
    }
    graft_job_allreduce(job->role_comm, xtx, xtx, n1 * n1, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    graft_job_allreduce(job->role_comm, xty, xty, n1 * d, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    uint64_t pairs = p, gpairs;
    graft_job_allreduce(job->role_comm, &pairs, &gpairs, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    if ((rc = graft_map_ridge_solve(xtx, xty, d, d, cfg->map_reg)) != GRAFT_OK)
        goto done;
    net = (mlp){.d = d, .h = (int)cfg->map_hidden};
    int use_mlp = cfg->map_model == GRAFT_MAP_MLP;
    if (use_mlp) {
        size_t nx, ny;
        if ((rc = allgather_rows(job->role_comm, xs, p, w, &allx, &nx)) != GRAFT_OK ||
            (rc = allgather_rows(job->role_comm, ys, p, w, &ally, &ny)) != GRAFT_OK)
            goto done;
        rc = mlp_train(&net, xty, allx, ally, nx, (int)cfg->map_epochs, (float)cfg->map_reg * 1e-3f,
                       (uint64_t)cfg->seed);
        if (rc != GRAFT_OK)
            goto done;
    }
    if (job->index == 0)
        GRAFT_LOG_INFO("GRAFT-MAP-FIT", "%s map fitted on %llu users in both domains",
                       use_mlp ? "mlp" : "linear", (unsigned long long)gpairs);
    /* The mapped users' rows. */
    size_t mc = graft_map_my_share(u->mapped, u->n_mapped, job, NULL, 0, keys);
    if ((rc = pull_all(c, su, w, keys, mc, xs)) != GRAFT_OK)
        goto done;
    if (use_mlp) {
        float *hid = graft_malloc((mc ? mc : 1) * (size_t)net.h * sizeof(float));
        if (!hid) {
            rc = GRAFT_ERR_NOMEM;
            goto done;
        }
        mlp_apply(&net, xty, xs, mc, ys, hid);
        graft_free(hid);
    } else {
        for (size_t i = 0; i < mc; i++)
            for (int o = 0; o < d; o++) {
                double s = xty[(size_t)d * d + (size_t)o];
                for (int a = 0; a < d; a++)
                    s += (double)xs[i * w + (size_t)a] * xty[(size_t)a * d + (size_t)o];
                ys[i * w + (size_t)o] = (float)s;
            }
    }
    for (size_t b = 0; b < mc && rc == GRAFT_OK; b += CHUNK) {
        size_t k = mc - b < CHUNK ? mc - b : CHUNK;
        rc = graft_client_assign(c, tu, w, keys + b, k, ys + b * w);
    }
    if (rc == GRAFT_OK)
        rc = graft_engine_barrier(e, c);
done:
    /* The network's weights (mlp_train's), on every path. */
    graft_free(net.w1);
    graft_free(keys);
    graft_free(xs);
    graft_free(ys);
    graft_free(xtx);
    graft_free(xty);
    graft_free(allx);
    graft_free(ally);
    return rc;
}
