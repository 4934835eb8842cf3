#include "trainer.h"
#include "alloc.h"
#include "keymap.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define EVAL_BATCH 4096

/* The distinct keys of one batch, their pulled rows and their summed gradients. */
typedef struct {
    graft_keymap *map;
    uint64_t *keys;
    float *rows, *grads;
    uint32_t n, cap, width;
} keyset;

struct graft_trainer {
    const graft_config *cfg;
    const graft_job *job;
    graft_ratings train, test;
    uint64_t bad_lines;
    int k;
    uint32_t width;
    float mu, rmin, rmax;
    uint32_t user_table, item_table;
    keyset users, items;
    uint32_t *uidx, *iidx; /* per rating of the batch: its row in users / items */
    size_t batch_cap;
};

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static graft_err
keyset_init(keyset *ks, uint32_t cap, uint32_t width)
{
    ks->cap = cap;
    ks->width = width;
    ks->n = 0;
    if (graft_keymap_create(cap, &ks->map) != GRAFT_OK)
        return GRAFT_ERR_NOMEM;
    ks->keys = graft_malloc((size_t)cap * sizeof *ks->keys);
    ks->rows = graft_malloc((size_t)cap * width * sizeof(float));
    ks->grads = graft_malloc((size_t)cap * width * sizeof(float));
    return ks->keys && ks->rows && ks->grads ? GRAFT_OK : GRAFT_ERR_NOMEM;
}

static void
keyset_free(keyset *ks)
{
    graft_keymap_destroy(&ks->map);
    graft_free(ks->keys);
    graft_free(ks->rows);
    graft_free(ks->grads);
}

static void
keyset_reset(keyset *ks)
{
    graft_keymap_clear(ks->map);
    ks->n = 0;
}

/* The slot of key in the batch, adding it when new. cap bounds n, so this cannot overflow. */
static graft_err
keyset_add(keyset *ks, uint64_t key, uint32_t *slot)
{
    int inserted;
    graft_err rc = graft_keymap_upsert(ks->map, key, ks->n, slot, &inserted);
    if (rc == GRAFT_OK && inserted)
        ks->keys[ks->n++] = key;
    return rc;
}

static graft_err
load_part(const char *path, const graft_config *cfg, const graft_job *job, graft_ratings *out,
          uint64_t *bad, char *err, size_t errlen)
{
    graft_datafile *df = NULL;
    graft_err rc = graft_datafile_open(path, (graft_format)cfg->format, &df, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    rc = graft_ratings_load(df, job->index, job->nworkers, cfg->bad_lines == GRAFT_BAD_LINES_SKIP,
                            out, bad, err, errlen);
    graft_datafile_close(&df);
    return rc;
}

graft_err
graft_trainer_create(const graft_config *cfg, const graft_job *job, graft_trainer **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    graft_trainer *t = graft_calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return GRAFT_ERR_NOMEM;
    }
    t->cfg = cfg;
    t->job = job;
    t->k = (int)cfg->dim;
    t->width = (uint32_t)cfg->dim + 1;
    graft_err rc = load_part(cfg->train, cfg, job, &t->train, &t->bad_lines, err, errlen);
    if (rc == GRAFT_OK && cfg->test)
        rc = load_part(cfg->test, cfg, job, &t->test, &t->bad_lines, err, errlen);
    if (rc != GRAFT_OK) {
        graft_trainer_destroy(&t);
        return rc;
    }
    size_t cap = (size_t)cfg->batch > EVAL_BATCH ? (size_t)cfg->batch : EVAL_BATCH;
    t->batch_cap = cap;
    t->uidx = graft_malloc(cap * sizeof *t->uidx);
    t->iidx = graft_malloc(cap * sizeof *t->iidx);
    if (!t->uidx || !t->iidx || keyset_init(&t->users, (uint32_t)cap, t->width) != GRAFT_OK ||
        keyset_init(&t->items, (uint32_t)cap, t->width) != GRAFT_OK) {
        snprintf(err, errlen, "out of memory for batches of %zu", cap);
        graft_trainer_destroy(&t);
        return GRAFT_ERR_NOMEM;
    }
    *out = t;
    return GRAFT_OK;
}

void
graft_trainer_destroy(graft_trainer **t)
{
    if (!t || !*t)
        return;
    graft_ratings_free(&(*t)->train);
    graft_ratings_free(&(*t)->test);
    keyset_free(&(*t)->users);
    keyset_free(&(*t)->items);
    graft_free((*t)->uidx);
    graft_free((*t)->iidx);
    graft_free(*t);
    *t = NULL;
}

/* Collects the distinct users and items of r[0..n) and pulls their rows. */
static graft_err
gather(graft_trainer *t, graft_client *c, const graft_rating *r, size_t n, int create)
{
    keyset_reset(&t->users);
    keyset_reset(&t->items);
    for (size_t j = 0; j < n; j++) {
        if (keyset_add(&t->users, r[j].user, &t->uidx[j]) != GRAFT_OK ||
            keyset_add(&t->items, r[j].item, &t->iidx[j]) != GRAFT_OK)
            return GRAFT_ERR_NOMEM;
    }
    graft_err rc = graft_client_pull(c, t->user_table, t->width, t->users.keys, t->users.n, create,
                                     t->users.rows);
    if (rc == GRAFT_OK)
        rc = graft_client_pull(c, t->item_table, t->width, t->items.keys, t->items.n, create,
                               t->items.rows);
    return rc;
}

/* One pass over this worker's training ratings; sse gets the squared errors seen. */
static graft_err
train_epoch(graft_trainer *t, graft_client *c, int epoch, double *sse)
{
    const graft_config *cfg = t->cfg;
    graft_rng rng;
    graft_rng_seed(&rng, (uint64_t)cfg->seed * 1000003u + (uint64_t)epoch * 7919u +
                             (uint64_t)t->job->index);
    graft_rng_shuffle(&rng, t->train.v, t->train.n, sizeof *t->train.v);
    uint32_t w = t->width;
    *sse = 0;
    for (size_t b = 0; b < t->train.n; b += (size_t)cfg->batch) {
        size_t n = t->train.n - b < (size_t)cfg->batch ? t->train.n - b : (size_t)cfg->batch;
        const graft_rating *r = t->train.v + b;
        graft_err rc = gather(t, c, r, n, 1);
        if (rc != GRAFT_OK)
            return rc;
        memset(t->users.grads, 0, (size_t)t->users.n * w * sizeof(float));
        memset(t->items.grads, 0, (size_t)t->items.n * w * sizeof(float));
        for (size_t j = 0; j < n; j++) {
            size_t u = t->uidx[j], i = t->iidx[j];
            float e = graft_model_grad(t->mu, t->users.rows + u * w, t->items.rows + i * w, t->k,
                                       r[j].rating, (float)cfg->reg, (float)cfg->reg_bias,
                                       t->users.grads + u * w, t->items.grads + i * w);
            *sse += (double)e * e;
        }
        rc = graft_client_push(c, t->user_table, w, t->users.keys, t->users.n, t->users.grads);
        if (rc == GRAFT_OK)
            rc = graft_client_push(c, t->item_table, w, t->items.keys, t->items.n, t->items.grads);
        if (rc != GRAFT_OK)
            return rc;
    }
    return GRAFT_OK;
}

/* Squared and absolute errors of clipped predictions on this worker's test part. Unknown users
 * and items are not created: their rows read as zeros, so they get mu plus the known biases. */
static graft_err
evaluate(graft_trainer *t, graft_client *c, double *sse, double *sae)
{
    uint32_t w = t->width;
    *sse = *sae = 0;
    for (size_t b = 0; b < t->test.n; b += EVAL_BATCH) {
        size_t n = t->test.n - b < EVAL_BATCH ? t->test.n - b : EVAL_BATCH;
        const graft_rating *r = t->test.v + b;
        graft_err rc = gather(t, c, r, n, 0);
        if (rc != GRAFT_OK)
            return rc;
        for (size_t j = 0; j < n; j++) {
            float p = graft_model_predict(t->mu, t->users.rows + (size_t)t->uidx[j] * w,
                                          t->items.rows + (size_t)t->iidx[j] * w, t->k);
            p = p < t->rmin ? t->rmin : p > t->rmax ? t->rmax : p;
            double e = (double)p - r[j].rating;
            *sse += e * e;
            *sae += fabs(e);
        }
    }
    return GRAFT_OK;
}

graft_err
graft_trainer_run(graft_trainer *t, graft_client *c)
{
    const graft_config *cfg = t->cfg;
    MPI_Comm comm = t->job->role_comm;
    int lead = t->job->index == 0;
    double t0 = now();

    /* The global mean and range of the training ratings. */
    double local[2] = {0, (double)t->train.n}, global[2];
    float lo = INFINITY, hi = -INFINITY, glo, ghi;
    for (size_t j = 0; j < t->train.n; j++) {
        local[0] += t->train.v[j].rating;
        lo = fminf(lo, t->train.v[j].rating);
        hi = fmaxf(hi, t->train.v[j].rating);
    }
    MPI_Allreduce(local, global, 2, MPI_DOUBLE, MPI_SUM, comm);
    MPI_Allreduce(&lo, &glo, 1, MPI_FLOAT, MPI_MIN, comm);
    MPI_Allreduce(&hi, &ghi, 1, MPI_FLOAT, MPI_MAX, comm);
    uint64_t counts[3] = {t->train.n, t->test.n, t->bad_lines}, gcounts[3];
    MPI_Allreduce(counts, gcounts, 3, MPI_UINT64_T, MPI_SUM, comm);
    if (gcounts[0] == 0) {
        if (lead)
            GRAFT_LOG_ERROR("GRAFT-NO-DATA", "%s holds no ratings", cfg->train);
        return GRAFT_ERR_PARSE;
    }
    t->mu = (float)(global[0] / global[1]);
    t->rmin = glo;
    t->rmax = ghi;

    graft_table_spec spec = {.width = t->width,
                             .seed = (uint64_t)cfg->seed,
                             .init_scale = (float)cfg->init_scale,
                             .optimizer = (graft_optim_kind)cfg->optimizer,
                             .lr = (float)cfg->lr,
                             .l2 = (float)cfg->l2};
    snprintf(spec.name, sizeof spec.name, "user");
    graft_err rc = graft_client_create_table(c, &spec, &t->user_table);
    snprintf(spec.name, sizeof spec.name, "item");
    spec.seed = (uint64_t)cfg->seed ^ 0x9e3779b97f4a7c15ULL; /* items draw other numbers */
    if (rc == GRAFT_OK)
        rc = graft_client_create_table(c, &spec, &t->item_table);
    if (rc != GRAFT_OK)
        return rc;

    FILE *mf = NULL;
    if (lead && graft_metrics_open(cfg->metrics, &mf) != GRAFT_OK) {
        GRAFT_LOG_ERROR("GRAFT-METRICS-OPEN", "cannot write metrics file %s", cfg->metrics);
        return GRAFT_ERR_IO;
    }
    if (lead && !cfg->quiet)
        printf("graft: %llu training ratings, %llu test ratings, mean %.4f, %d servers x %d "
               "workers, dim %d\n",
               (unsigned long long)gcounts[0], (unsigned long long)gcounts[1], t->mu,
               t->job->nservers, t->job->nworkers, t->k);
    graft_epoch_metrics em = {0};
    double train_seconds = 0;
    for (int epoch = 1; epoch <= cfg->epochs && rc == GRAFT_OK; epoch++) {
        double e0 = now();
        double sse;
        rc = train_epoch(t, c, epoch, &sse);
        /* Every push of the epoch is applied before anyone evaluates. */
        if (rc == GRAFT_OK)
            rc = graft_client_barrier(c, (uint64_t)epoch);
        double e1 = now();
        double te[2] = {0, 0};
        if (rc == GRAFT_OK)
            rc = evaluate(t, c, &te[0], &te[1]);
        if (rc != GRAFT_OK)
            break;
        double sums[3] = {sse, te[0], te[1]}, g[3];
        MPI_Allreduce(sums, g, 3, MPI_DOUBLE, MPI_SUM, comm);
        double e2 = now();
        train_seconds += e1 - e0;
        em.epoch = epoch;
        em.train_rmse = sqrt(g[0] / (double)gcounts[0]);
        em.test_rmse = gcounts[1] ? sqrt(g[1] / (double)gcounts[1]) : NAN;
        em.test_mae = gcounts[1] ? g[2] / (double)gcounts[1] : NAN;
        em.seconds = e2 - e0;
        em.updates_per_s = (double)gcounts[0] / (e1 - e0);
        if (lead) {
            graft_metrics_epoch(mf, &em);
            if (!cfg->quiet) {
                printf("epoch %3d/%lld  train_rmse %.4f  test_rmse %.4f  test_mae %.4f  "
                       "%6.2f s  %.3g updates/s\n",
                       epoch, (long long)cfg->epochs, em.train_rmse, em.test_rmse, em.test_mae,
                       em.seconds, em.updates_per_s);
                fflush(stdout);
            }
        }
    }
    if (rc == GRAFT_OK && lead) {
        graft_summary_metrics sm = {
            .test_rmse = em.test_rmse,
            .test_mae = em.test_mae,
            .epochs = em.epoch,
            .seconds = now() - t0,
            .updates_per_s = (double)gcounts[0] * (double)em.epoch / train_seconds,
            .servers = t->job->nservers,
            .workers = t->job->nworkers,
            .bad_lines = gcounts[2],
            .train_ratings = gcounts[0],
            .test_ratings = gcounts[1],
            .train_rmse = em.train_rmse,
        };
        graft_metrics_summary(mf, &sm);
        printf("summary: test_rmse %.4f  test_mae %.4f  epochs %d  seconds %.2f  updates/s %.3g  "
               "servers %d  workers %d  bad_lines %llu\n",
               sm.test_rmse, sm.test_mae, sm.epochs, sm.seconds, sm.updates_per_s, sm.servers,
               sm.workers, (unsigned long long)sm.bad_lines);
        fflush(stdout);
    }
    graft_metrics_close(&mf);
    return rc;
}
