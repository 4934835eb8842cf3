#include "transfer.h"
#include "alloc.h"
#include "hash.h"
#include "keymap.h"
#include "log.h"
#include "manifest.h"
#include "rng.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 4096

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t
sort_unique(uint64_t *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_u64);
    size_t m = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[m - 1])
            v[m++] = v[i];
    return m;
}

static int
contains(const uint64_t *sorted, size_t n, uint64_t key)
{
    return n && bsearch(&key, sorted, n, sizeof key, cmp_u64) != NULL;
}

graft_err
graft_transfer_apply_user_map(const char *path, graft_ratings *src, char *err, size_t errlen)
{
    uint64_t *from, *to;
    size_t n;
    graft_err rc = graft_pairs_load(path, &from, &to, &n, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    graft_keymap *m = NULL;
    rc = graft_keymap_create(n, &m);
    for (size_t i = 0; i < n && rc == GRAFT_OK; i++) {
        uint32_t slot;
        int ins;
        rc = graft_keymap_upsert(m, from[i], (uint32_t)i, &slot, &ins);
    }
    if (rc == GRAFT_OK) {
        /* A source user named in the map trains under its target id's key, so that both rows of
         * the person share a key, and so a server. */
        for (size_t j = 0; j < src->n; j++) {
            uint32_t slot;
            if (graft_keymap_get(m, src->v[j].user, &slot))
                src->v[j].user = to[slot];
        }
    } else {
        snprintf(err, errlen, "%s: out of memory", path);
    }
    graft_keymap_destroy(&m);
    graft_free(from);
    graft_free(to);
    return rc;
}

/* The distinct users of r on all workers, sorted; the same array on every worker. */
static graft_err
global_users(const graft_ratings *r, MPI_Comm comm, uint64_t **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    uint64_t *mine = graft_malloc((r->n ? r->n : 1) * sizeof *mine);
    size_t n = 0;
    if (mine) {
        for (size_t j = 0; j < r->n; j++)
            mine[j] = r->v[j].user;
        n = sort_unique(mine, r->n);
    }
    /* Every worker joins the collective, also one that lacks memory (it sends nothing). */
    void *all;
    size_t bytes;
    graft_err rc = graft_job_allgather_bytes(comm, mine, n * sizeof *mine, &all, &bytes);
    graft_free(mine);
    if (rc == GRAFT_OK && !mine)
        rc = GRAFT_ERR_NOMEM;
    if (rc != GRAFT_OK) {
        graft_free(all);
        return rc;
    }
    *out = all;
    *nout = sort_unique(*out, bytes / sizeof **out);
    return GRAFT_OK;
}

graft_err
graft_transfer_pick_cold(const uint64_t *overlap, size_t n, double fraction, uint64_t seed,
                         uint64_t **cold, size_t *ncold)
{
    *cold = graft_malloc((n ? n : 1) * sizeof **cold);
    if (!*cold)
        return GRAFT_ERR_NOMEM;
    memcpy(*cold, overlap, n * sizeof *overlap);
    graft_rng rng;
    graft_rng_seed(&rng, seed ^ 0xc01d57a27ULL);
    graft_rng_shuffle(&rng, *cold, n, sizeof **cold);
    *ncold = (size_t)((double)n * fraction + 0.5);
    qsort(*cold, *ncold, sizeof **cold, cmp_u64);
    return GRAFT_OK;
}

static double
rating_draw(uint64_t seed, uint64_t user, uint64_t item)
{
    uint64_t h = graft_hash_mix64(seed ^ graft_hash_mix64(user) ^
                                  graft_hash_mix64(item * 0x9e3779b97f4a7c15ULL));
    return (double)(h >> 11) * 0x1.0p-53;
}

graft_err
graft_transfer_partition(graft_ratings *tgt, graft_ratings *warm, graft_ratings *cold,
                         const uint64_t *cold_users, size_t ncold, double warm_fraction,
                         int keep_warm, uint64_t seed)
{
    graft_err rc = GRAFT_OK;
    size_t keep = 0;
    for (size_t j = 0; j < tgt->n && rc == GRAFT_OK; j++) {
        graft_rating r = tgt->v[j];
        graft_ratings *to = NULL;
        if (contains(cold_users, ncold, r.user))
            to = cold;
        else if (!keep_warm && rating_draw(seed, r.user, r.item) < warm_fraction)
            to = warm;
        if (to)
            rc = graft_ratings_append(to, r);
        else
            tgt->v[keep++] = r;
    }
    tgt->n = keep;
    if (keep_warm) {
        size_t w = 0;
        for (size_t j = 0; j < warm->n && rc == GRAFT_OK; j++) {
            graft_rating r = warm->v[j];
            if (contains(cold_users, ncold, r.user))
                rc = graft_ratings_append(cold, r);
            else
                warm->v[w++] = r;
        }
        warm->n = w;
    }
    return rc;
}

graft_err
graft_transfer_ridge_solve(double *xtx, double *xty, int d, int e, double reg)
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
static size_t
my_share(const uint64_t *list, size_t n, const graft_job *job, const uint64_t *skip, size_t nskip,
         uint64_t *out)
{
    size_t m = 0;
    for (size_t i = (size_t)job->index; i < n; i += (size_t)job->nworkers)
        if (!contains(skip, nskip, list[i]))
            out[m++] = list[i];
    return m;
}

/* seed: every target user's row starts as its source row, copied inside each server. */
static graft_err
seed_target(graft_trainer *t, graft_client *c, graft_trainer_view *v)
{
    uint32_t su, si, tu, ti, w;
    float mu;
    graft_trainer_tables(t, 0, &su, &si, &w, &mu);
    graft_trainer_tables(t, 1, &tu, &ti, &w, &mu);
    uint64_t *keys = graft_malloc((*v->n_tgt_users + 1) * sizeof *keys);
    if (!keys)
        return GRAFT_ERR_NOMEM;
    size_t m = my_share(*v->tgt_users, *v->n_tgt_users, v->job, NULL, 0, keys);
    uint64_t copied = 0, total;
    graft_err rc = graft_client_copy(c, tu, su, w, keys, m, &copied);
    graft_free(keys);
    if (rc != GRAFT_OK)
        return rc;
    MPI_Allreduce(&copied, &total, 1, MPI_UINT64_T, MPI_SUM, v->job->role_comm);
    if (v->job->index == 0)
        GRAFT_LOG_INFO("GRAFT-SEED", "seeded %llu of %zu target user rows from the source",
                       (unsigned long long)total, *v->n_tgt_users);
    return graft_trainer_barrier(t, c);
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
 * domains, then write the mapped row of every cold user into the target table. */
static graft_err
map_cold_users(graft_trainer *t, graft_client *c, graft_trainer_view *v)
{
    const graft_config *cfg = v->cfg;
    uint32_t su, si, tu, ti, w;
    float mu;
    graft_trainer_tables(t, 0, &su, &si, &w, &mu);
    graft_trainer_tables(t, 1, &tu, &ti, &w, &mu);
    int d = (int)w, n1 = d + 1;
    size_t cap = *v->n_overlap + 1;
    uint64_t *keys = graft_malloc(cap * sizeof *keys);
    float *xs = graft_malloc(cap * w * sizeof(float)), *ys = graft_malloc(cap * w * sizeof(float));
    double *xtx = graft_calloc((size_t)n1 * n1, sizeof(double));
    double *xty = graft_calloc((size_t)n1 * d, sizeof(double));
    graft_err rc = GRAFT_ERR_NOMEM;
    float *allx = NULL, *ally = NULL;
    if (!keys || !xs || !ys || !xtx || !xty)
        goto done;
    size_t m = my_share(*v->overlap, *v->n_overlap, v->job, *v->cold_users, *v->n_cold, keys);
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
    MPI_Allreduce(MPI_IN_PLACE, xtx, n1 * n1, MPI_DOUBLE, MPI_SUM, v->job->role_comm);
    MPI_Allreduce(MPI_IN_PLACE, xty, n1 * d, MPI_DOUBLE, MPI_SUM, v->job->role_comm);
    uint64_t pairs = p, gpairs;
    MPI_Allreduce(&pairs, &gpairs, 1, MPI_UINT64_T, MPI_SUM, v->job->role_comm);
    if ((rc = graft_transfer_ridge_solve(xtx, xty, d, d, cfg->map_reg)) != GRAFT_OK)
        goto done;
    mlp net = {.d = d, .h = (int)cfg->map_hidden};
    int use_mlp = cfg->map_model == GRAFT_MAP_MLP;
    if (use_mlp) {
        size_t nx, ny;
        if ((rc = allgather_rows(v->job->role_comm, xs, p, w, &allx, &nx)) != GRAFT_OK ||
            (rc = allgather_rows(v->job->role_comm, ys, p, w, &ally, &ny)) != GRAFT_OK)
            goto done;
        rc = mlp_train(&net, xty, allx, ally, nx, (int)cfg->map_epochs, (float)cfg->map_reg * 1e-3f,
                       (uint64_t)cfg->seed);
        if (rc != GRAFT_OK)
            goto done;
    }
    if (v->job->index == 0)
        GRAFT_LOG_INFO("GRAFT-MAP-FIT", "%s map fitted on %llu users in both domains",
                       use_mlp ? "mlp" : "linear", (unsigned long long)gpairs);
    /* The cold users' mapped rows. */
    size_t mc = my_share(*v->cold_users, *v->n_cold, v->job, NULL, 0, keys);
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
        rc = graft_trainer_barrier(t, c);
    graft_free(net.w1);
done:
    graft_free(keys);
    graft_free(xs);
    graft_free(ys);
    graft_free(xtx);
    graft_free(xty);
    graft_free(allx);
    graft_free(ally);
    return rc;
}

graft_err
graft_transfer_check_source_model(const char *dir, int dim, char *err, size_t errlen)
{
    graft_manifest m;
    graft_err rc = graft_manifest_read(dir, &m, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    const char *want[2][2] = {{"source.user", "user"}, {"source.item", "item"}};
    for (int i = 0; i < 2 && rc == GRAFT_OK; i++) {
        const graft_manifest_table *tb = graft_manifest_find(&m, want[i][0]);
        if (!tb)
            tb = graft_manifest_find(&m, want[i][1]);
        if (!tb) {
            snprintf(err, errlen, "%s/manifest.json: no %s (or %s) table", dir, want[i][0],
                     want[i][1]);
            rc = GRAFT_ERR_PARSE;
        } else if (tb->width != (uint32_t)dim + 1) {
            snprintf(err, errlen,
                     "%s/manifest.json: table %s has width %u (dim %u), but this job has --dim %d",
                     dir, tb->name, tb->width, tb->width - 1, dim);
            rc = GRAFT_ERR_PARSE;
        }
    }
    if (rc == GRAFT_OK)
        rc = graft_manifest_verify(dir, &m, err, errlen);
    graft_manifest_free(&m);
    return rc;
}

/* Loads the saved source model into this job's source tables: every server reads every shard
 * file and keeps its own keys, so the saving job's server count does not matter. */
static graft_err
load_source(graft_trainer *t, graft_client *c)
{
    graft_trainer_view v = graft_trainer_view_of(t);
    const char *dir = v.cfg->source_model;
    char err[4608];
    graft_manifest m;
    graft_err rc = graft_manifest_read(dir, &m, err, sizeof err);
    if (rc != GRAFT_OK) {
        GRAFT_LOG_ERROR("GRAFT-MODEL-LOAD", "%s", err);
        return rc;
    }
    uint32_t su, si, w;
    float mu;
    graft_trainer_tables(t, 0, &su, &si, &w, &mu);
    const char *names[2][2] = {{"source.user", "user"}, {"source.item", "item"}};
    uint32_t ids[2] = {su, si};
    for (int i = 0; i < 2 && rc == GRAFT_OK; i++) {
        const graft_manifest_table *tb = graft_manifest_find(&m, names[i][0]);
        if (!tb)
            tb = graft_manifest_find(&m, names[i][1]);
        /* Every worker asks for a share of the shard files; each server reads each file once. */
        for (int s = v.job->index; tb && s < tb->nshards && rc == GRAFT_OK; s += v.job->nworkers) {
            uint64_t kept;
            rc = graft_client_load(c, ids[i], 0, tb->shards[s].file, tb->shards[s].checksum, &kept);
        }
    }
    graft_manifest_free(&m);
    if (rc == GRAFT_OK)
        rc = graft_trainer_barrier(t, c);
    if (rc == GRAFT_OK && v.job->index == 0)
        GRAFT_LOG_INFO("GRAFT-MODEL-LOADED", "source model loaded from %s", dir);
    return rc;
}

static void
trace_cold(const graft_trainer_view *v)
{
    if (!v->cfg->trace_dir || v->job->index != 0)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/cold-users.txt", v->cfg->trace_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    for (size_t i = 0; i < *v->n_cold; i++)
        fprintf(f, "%016llx\n", (unsigned long long)(*v->cold_users)[i]);
    fclose(f);
}

graft_err
graft_transfer_run(graft_trainer *t, graft_client *c)
{
    graft_trainer_view v = graft_trainer_view_of(t);
    const graft_config *cfg = v.cfg;
    MPI_Comm comm = v.job->role_comm;
    double t0 = now();
    /* The cold-start protocol, from global facts every worker computes alike. */
    uint64_t *src_users = NULL;
    size_t n_src = 0;
    graft_err rc = global_users(v.src, comm, &src_users, &n_src);
    if (rc == GRAFT_OK)
        rc = global_users(v.tgt, comm, v.tgt_users, v.n_tgt_users);
    if (rc == GRAFT_OK) {
        *v.overlap = graft_malloc((n_src < *v.n_tgt_users ? n_src : *v.n_tgt_users) * 8 + 8);
        if (!*v.overlap)
            rc = GRAFT_ERR_NOMEM;
    }
    if (rc == GRAFT_OK) {
        size_t a = 0, b = 0, m = 0;
        while (a < n_src && b < *v.n_tgt_users) {
            uint64_t x = src_users[a], y = (*v.tgt_users)[b];
            if (x == y) {
                (*v.overlap)[m++] = x;
                a++;
                b++;
            } else if (x < y) {
                a++;
            } else {
                b++;
            }
        }
        *v.n_overlap = m;
        rc = graft_transfer_pick_cold(*v.overlap, m, cfg->cold_start_users, (uint64_t)cfg->seed,
                                      v.cold_users, v.n_cold);
    }
    graft_free(src_users);
    if (rc == GRAFT_OK)
        rc = graft_transfer_partition(v.tgt, v.warm, v.cold, *v.cold_users, *v.n_cold,
                                      cfg->warm_test_fraction, cfg->target_test != NULL,
                                      (uint64_t)cfg->seed);
    if (rc != GRAFT_OK)
        return rc;
    trace_cold(&v);
    /* seed and joint put source knowledge into warm users' rows too: hold out some of their
     * target ratings to check, after training, that this helps (the gate). */
    graft_ratings valid = {0}, full = {0};
    int gated = cfg->transfer_gate &&
                (cfg->transfer == GRAFT_TRANSFER_SEED || cfg->transfer == GRAFT_TRANSFER_JOINT);
    if (gated) {
        graft_ratings unused = {0};
        full.v = graft_malloc((v.tgt->n ? v.tgt->n : 1) * sizeof *full.v);
        if (!full.v)
            return GRAFT_ERR_NOMEM;
        memcpy(full.v, v.tgt->v, v.tgt->n * sizeof *full.v);
        full.n = full.cap = v.tgt->n;
        rc = graft_transfer_partition(v.tgt, &valid, &unused, NULL, 0, cfg->gate_fraction, 0,
                                      (uint64_t)cfg->seed ^ 0x6a7e5a1dULL);
        graft_ratings_free(&unused);
        if (rc != GRAFT_OK) {
            graft_ratings_free(&valid);
            graft_ratings_free(&full);
            return rc;
        }
    }
    int mode = cfg->transfer;
    static const char *const names[] = {"none", "seed", "map", "joint"};
    rc = graft_trainer_setup_domains(t, c, mode == GRAFT_TRANSFER_JOINT, (float)cfg->lambda);
    if (rc != GRAFT_OK)
        return rc;
    if (v.job->index == 0 && !cfg->quiet)
        printf("graft: transfer %s; %zu source users, %zu target users, %zu in both, %zu of them "
               "cold; %d servers x %d workers, dim %d\n",
               names[mode], n_src, *v.n_tgt_users, *v.n_overlap, *v.n_cold, v.job->nservers,
               v.job->nworkers, v.k);
    double base[4];
    rc = graft_trainer_bias_baselines(t, c, base);
    if (rc != GRAFT_OK)
        return rc;
    int src_epochs = cfg->source_epochs ? (int)cfg->source_epochs : (int)cfg->epochs;
    int epochs = (int)cfg->epochs;
    switch (mode) {
    case GRAFT_TRANSFER_NONE:
        rc = graft_trainer_train(t, c, GRAFT_PHASE_TARGET, epochs);
        break;
    case GRAFT_TRANSFER_SEED:
        rc = cfg->source_model ? load_source(t, c)
                               : graft_trainer_train(t, c, GRAFT_PHASE_SOURCE, src_epochs);
        if (rc == GRAFT_OK)
            rc = seed_target(t, c, &v);
        if (rc == GRAFT_OK)
            rc = graft_trainer_train(t, c, GRAFT_PHASE_TARGET, epochs);
        break;
    case GRAFT_TRANSFER_MAP:
        rc = cfg->source_model ? load_source(t, c)
                               : graft_trainer_train(t, c, GRAFT_PHASE_SOURCE, src_epochs);
        if (rc == GRAFT_OK)
            rc = graft_trainer_train(t, c, GRAFT_PHASE_TARGET, epochs);
        if (rc == GRAFT_OK)
            rc = map_cold_users(t, c, &v);
        break;
    case GRAFT_TRANSFER_JOINT:
        rc = graft_trainer_train(t, c, GRAFT_PHASE_JOINT, epochs);
        break;
    }
    if (rc == GRAFT_OK && gated)
        rc = graft_trainer_gate(t, c, &valid, &full, epochs);
    if (rc == GRAFT_OK && gated && strcmp(graft_trainer_gate_choice(t), "transfer") == 0) {
        /* Validated, so refit on all the target training ratings (the held-out ones too). */
        int joint = mode == GRAFT_TRANSFER_JOINT;
        rc = graft_trainer_refit(t, c, &full, joint);
        if (rc == GRAFT_OK && !joint)
            rc = seed_target(t, c, &v);
        if (rc == GRAFT_OK)
            rc = graft_trainer_train(t, c, joint ? GRAFT_PHASE_JOINT : GRAFT_PHASE_TARGET, epochs);
    }
    graft_ratings_free(&valid);
    graft_ratings_free(&full);
    if (rc == GRAFT_OK)
        rc = graft_trainer_finish(t, c, names[mode], epochs, base, now() - t0);
    if (rc == GRAFT_OK)
        rc = graft_trainer_save(t, c);
    return rc;
}
