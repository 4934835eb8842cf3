#include "engine_internal.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static graft_err
keyset_init(graft_keyset *ks, uint32_t cap, uint32_t maxwidth)
{
    ks->cap = cap;
    if (graft_keymap_create(cap, &ks->map) != GRAFT_OK)
        return GRAFT_ERR_NOMEM;
    ks->keys = graft_malloc((size_t)cap * sizeof *ks->keys);
    ks->rows = graft_malloc((size_t)cap * maxwidth * sizeof(float));
    ks->grads = graft_malloc((size_t)cap * maxwidth * sizeof(float));
    return ks->keys && ks->rows && ks->grads ? GRAFT_OK : GRAFT_ERR_NOMEM;
}

static void
keyset_free(graft_keyset *ks)
{
    graft_keymap_destroy(&ks->map);
    graft_free(ks->keys);
    graft_free(ks->rows);
    graft_free(ks->grads);
}

/* The slot of key in the batch, adding it when new; cap bounds n, so it cannot overflow. */
static graft_err
keyset_add(graft_keyset *ks, uint64_t key, uint32_t *slot)
{
    if (!ks->active) {
        graft_keymap_clear(ks->map);
        ks->n = 0;
        ks->active = 1;
    }
    int inserted;
    graft_err rc = graft_keymap_upsert(ks->map, key, ks->n, slot, &inserted);
    if (rc == GRAFT_OK && inserted)
        ks->keys[ks->n++] = key;
    return rc;
}

graft_err
graft_engine_create(const graft_config *cfg, const graft_job *job, graft_engine **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    graft_engine *e = graft_calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return GRAFT_ERR_NOMEM;
    }
    e->cfg = cfg;
    e->job = job;
    e->k = (int)cfg->dim;
    e->lead = job->index == 0;
    e->obj = cfg->loss == GRAFT_LOSS_IALS  ? &graft_ials_ops
             : cfg->loss == GRAFT_LOSS_BPR ? &graft_bpr_ops
                                           : &graft_squared_ops;
    e->last_train_rmse = e->last_train_loss = NAN;
    e->best_score = e->final_score = e->final_recall = NAN;
    e->final_cold = e->final_cold_recall = NAN;
    /* A bound by default: under load one worker could otherwise run through its whole part
     * before the other starts, and the result would depend on the machine's mood. */
    int cons = cfg->consistency != GRAFT_AUTO                    ? cfg->consistency
               : cfg->plane == GRAFT_PLANE_BLOCK && !cfg->source ? GRAFT_BSP
                                                                 : GRAFT_SSP;
    e->cs.bound = cons == GRAFT_BSP ? 0 : cons == GRAFT_SSP ? (uint32_t)cfg->staleness : UINT32_MAX;
    size_t cap =
        (size_t)cfg->batch > GRAFT_ENGINE_EVAL_BATCH ? (size_t)cfg->batch : GRAFT_ENGINE_EVAL_BATCH;
    e->batch_cap = cap;
    e->uidx = graft_malloc(cap * sizeof *e->uidx);
    e->iidx = graft_malloc(cap * sizeof *e->iidx);
    int ok = e->uidx && e->iidx;
    for (int s = 0; s < GRAFT_ENGINE_SLOTS && ok; s++)
        ok = keyset_init(&e->ks[s], (uint32_t)cap, (uint32_t)e->k + 2) == GRAFT_OK;
    if (ok && cfg->prefetch) {
        e->uidx2 = graft_malloc(cap * sizeof *e->uidx2);
        e->iidx2 = graft_malloc(cap * sizeof *e->iidx2);
        ok = e->uidx2 && e->iidx2;
        for (int s = 0; s < GRAFT_ENGINE_SLOTS && ok; s++)
            ok = keyset_init(&e->ks2[s], (uint32_t)cap, (uint32_t)e->k + 2) == GRAFT_OK;
        ok = ok && graft_background_create(&e->background) == GRAFT_OK;
    }
    if (!ok) {
        snprintf(err, errlen, "out of memory for batches of %zu", cap);
        graft_engine_destroy(&e);
    }
    *out = e;
    return e ? GRAFT_OK : GRAFT_ERR_NOMEM;
}

void
graft_engine_destroy(graft_engine **e)
{
    if (!e || !*e)
        return;
    graft_engine *x = *e;
    for (int s = 0; s < GRAFT_ENGINE_SLOTS; s++) {
        keyset_free(&x->ks[s]);
        keyset_free(&x->ks2[s]);
    }
    graft_free(x->uidx2);
    graft_free(x->iidx2);
    graft_free(x->uidx);
    graft_free(x->iidx);
    graft_background_destroy(&x->background);
    graft_metrics_close(&x->mf);
    graft_blocks_destroy(&x->blk);
    graft_free(x);
    *e = NULL;
}

void
graft_engine_set_prefetch_client(graft_engine *e, graft_client *pc)
{
    e->prefetch_client = pc;
}

graft_client *
graft_engine_prefetch_client(const graft_engine *e)
{
    return e->prefetch_client;
}

const graft_config *
graft_engine_config(const graft_engine *e)
{
    return e->cfg;
}

graft_domain *
graft_engine_domain(graft_engine *e, int which)
{
    return &e->dom[which];
}

const graft_domain *
graft_engine_domain_const(const graft_engine *e, int which)
{
    return &e->dom[which];
}

int
graft_engine_dim(const graft_engine *e)
{
    return e->k;
}

void
graft_engine_domain_stats(graft_engine *e, const graft_ratings *r, graft_domain *d,
                          uint64_t *global_n)
{
    double local[2] = {0, (double)r->n}, global[2];
    float lo = INFINITY, hi = -INFINITY, glo, ghi;
    for (size_t j = 0; j < r->n; j++) {
        local[0] += r->v[j].rating;
        lo = fminf(lo, r->v[j].rating);
        hi = fmaxf(hi, r->v[j].rating);
    }
    MPI_Comm comm = e->job->role_comm;
    graft_job_allreduce(comm, local, global, 2, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    graft_job_allreduce(comm, &lo, &glo, 1, GRAFT_JOB_F32, GRAFT_JOB_MIN);
    graft_job_allreduce(comm, &hi, &ghi, 1, GRAFT_JOB_F32, GRAFT_JOB_MAX);
    d->mu = global[1] > 0 ? (float)(global[0] / global[1]) : 0;
    d->rmin = glo;
    d->rmax = ghi;
    *global_n = (uint64_t)global[1];
}

graft_err
graft_engine_create_table(graft_engine *e, graft_client *c, const char *name, uint32_t width,
                          uint32_t init_width, uint32_t save_width, graft_optim_kind opt,
                          uint64_t salt, int save, uint32_t *id)
{
    const graft_config *cfg = e->cfg;
    graft_table_spec spec = {
        .width = width,
        .seed = (uint64_t)cfg->seed ^ salt,
        /* A Sum table without random columns is an accumulator: zeros. */
        .init_scale = opt == GRAFT_OPTIM_SUM && init_width == 0 ? 0.0f : (float)cfg->init_scale,
        .optimizer = opt,
        .lr = (float)cfg->lr,
        .l2 = (float)cfg->l2,
        .init_width = init_width,
        .save_width = save_width};
    snprintf(spec.name, sizeof spec.name, "%s", name);
    graft_err rc = graft_client_create_table(c, &spec, id);
    graft_saved_table st = {.id = *id};
    snprintf(st.name, sizeof st.name, "%s", name);
    snprintf(st.file, sizeof st.file, "%s", name);
    if (rc == GRAFT_OK && save && e->nsaved < 8)
        e->saved[e->nsaved++] = st;
    if (rc == GRAFT_OK && e->nck < 8)
        e->ck[e->nck++] = st;
    return rc;
}

graft_err
graft_engine_create_model_table(graft_engine *e, graft_client *c, const char *name, uint32_t width,
                                uint32_t init_width, graft_optim_kind opt, uint64_t salt,
                                uint32_t *id)
{
    return graft_engine_create_table(e, c, name, width, init_width, 0, opt, salt,
                                     opt != GRAFT_OPTIM_SUM, id);
}

graft_err
graft_engine_create_domain(graft_engine *e, graft_client *c, graft_domain *d, const char *uname,
                           const char *iname, uint64_t salt)
{
    graft_optim_kind opt = (graft_optim_kind)e->cfg->optimizer;
    uint32_t k = (uint32_t)e->k;
    graft_err rc = GRAFT_OK;
    if (uname)
        rc = graft_engine_create_model_table(e, c, uname, d->uwidth, k, opt, salt, &d->utab);
    if (rc == GRAFT_OK)
        rc = graft_engine_create_model_table(e, c, iname, k + 1, k, opt,
                                             salt ^ 0x9e3779b97f4a7c15ULL, &d->itab);
    return rc;
}

const graft_saved_table *
graft_engine_saved(const graft_engine *e, int *n)
{
    *n = e->nsaved;
    return e->saved;
}

const graft_saved_table *
graft_engine_checkpointed(const graft_engine *e, int *n)
{
    *n = e->nck;
    return e->ck;
}

static int
saved_slot(const graft_engine *e, const char *name)
{
    for (int i = 0; i < e->nsaved; i++)
        if (strcmp(e->saved[i].name, name) == 0)
            return i;
    return -1;
}

void
graft_engine_unsave(graft_engine *e, const char *name)
{
    int i = saved_slot(e, name);
    if (i < 0)
        return;
    for (int j = i; j + 1 < e->nsaved; j++)
        e->saved[j] = e->saved[j + 1];
    e->nsaved--;
}

void
graft_engine_rename_saved(graft_engine *e, const char *from, const char *to)
{
    int i = saved_slot(e, from);
    if (i >= 0)
        snprintf(e->saved[i].name, GRAFT_TABLE_NAME_MAX, "%s", to);
}

void
graft_engine_bind(graft_engine *e, int slot, uint32_t table, uint32_t width)
{
    e->ks[slot].table = table;
    e->ks[slot].width = width;
}

void
graft_engine_set_eval(graft_engine *e, const graft_ratings *warm, const graft_domain *warm_dom,
                      uint64_t g_warm, const graft_ratings *cold, uint64_t g_cold)
{
    e->warm = warm;
    e->warm_dom = warm_dom;
    e->g_warm = g_warm;
    e->cold = cold;
    e->g_cold = g_cold;
}

void
graft_engine_set_epoch_hook(graft_engine *e, graft_engine_epoch_hook hook, void *ctx)
{
    e->hook = hook;
    e->hook_ctx = ctx;
}

void
graft_engine_set_first_epoch(graft_engine *e, int epoch)
{
    e->first_epoch = epoch;
}

int
graft_engine_first_epoch(const graft_engine *e)
{
    return e->first_epoch;
}

void
graft_engine_set_refit(graft_engine *e, int on)
{
    e->refit = on;
}

void
graft_engine_set_blocks(graft_engine *e, graft_blocks *blk, uint64_t clocks_per_epoch)
{
    if (e->blk != blk)
        graft_blocks_destroy(&e->blk);
    e->blk = blk;
    e->clocks_per_epoch = clocks_per_epoch;
}

graft_blocks *
graft_engine_blocks(const graft_engine *e)
{
    return e->blk;
}

uint32_t
graft_engine_consistency_bound(const graft_engine *e)
{
    return e->cs.bound;
}

graft_err
graft_engine_open_metrics(graft_engine *e)
{
    /* A resumed job adds to the metrics of the run it continues. */
    if (e->lead && graft_metrics_open(e->cfg->metrics, e->first_epoch > 0, &e->mf) != GRAFT_OK) {
        GRAFT_LOG_ERROR("GRAFT-METRICS-OPEN", "cannot write metrics file %s", e->cfg->metrics);
        return GRAFT_ERR_IO;
    }
    return GRAFT_OK;
}

FILE *
graft_engine_metrics(const graft_engine *e)
{
    return e->mf;
}

graft_err
graft_engine_gather(graft_client *c, graft_bank b, const graft_rating *r, size_t n, int create,
                    const int *us, const int *is)
{
    for (int s = 0; s < GRAFT_ENGINE_SLOTS; s++)
        b.ks[s].active = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t d = r[j].domain;
        if (keyset_add(&b.ks[us[d]], r[j].user, &b.uidx[j]) != GRAFT_OK ||
            keyset_add(&b.ks[is[d]], r[j].item, &b.iidx[j]) != GRAFT_OK)
            return GRAFT_ERR_NOMEM;
    }
    /* Every table's rows in one round trip. */
    graft_client_rows q[GRAFT_CLIENT_MAX_MANY];
    int nq = 0;
    for (int s = 0; s < GRAFT_ENGINE_SLOTS; s++) {
        graft_keyset *ks = &b.ks[s];
        if (ks->active)
            q[nq++] = (graft_client_rows){ks->table, ks->width, ks->keys, ks->n, ks->rows};
    }
    return graft_client_pull_many(c, q, nq, create);
}

graft_err
graft_engine_scatter(graft_client *c, graft_bank b)
{
    graft_client_rows q[GRAFT_CLIENT_MAX_MANY];
    int nq = 0;
    for (int s = 0; s < GRAFT_ENGINE_SLOTS; s++) {
        graft_keyset *ks = &b.ks[s];
        if (ks->active)
            q[nq++] = (graft_client_rows){ks->table, ks->width, ks->keys, ks->n, ks->grads};
    }
    return graft_client_push_many(c, q, nq);
}

graft_err
graft_engine_pass(graft_engine *e, graft_client *c, const graft_rating *r, size_t n, const int *us,
                  const int *is)
{
    return graft_engine_gather(c, (graft_bank){e->ks, e->uidx, e->iidx}, r, n, 0, us, is);
}

graft_slot_view
graft_engine_slot(graft_engine *e, int slot)
{
    graft_keyset *ks = &e->ks[slot];
    return (graft_slot_view){ks->keys, ks->n, ks->width, ks->table, ks->rows, ks->grads};
}

const uint32_t *
graft_engine_user_index(const graft_engine *e)
{
    return e->uidx;
}

const uint32_t *
graft_engine_item_index(const graft_engine *e)
{
    return e->iidx;
}

void
graft_engine_progress(graft_engine *e, const char *phase, int epoch, size_t done, size_t total,
                      double t0)
{
    static double last;
    double now_s = graft_clock_now();
    if (!e->lead || e->cfg->progress != 1 || e->cfg->quiet || (done < total && now_s - last < 0.2))
        return;
    last = now_s;
    double frac = total ? (double)done / (double)total : 1, rate = done / (now_s - t0 + 1e-9);
    int filled = (int)(frac * 30);
    char bar[31];
    for (int i = 0; i < 30; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[30] = 0;
    printf("\r%s%sepoch %3d [%s] %3.0f%%  %.3g ratings/s  ETA %4.0f s ", phase ? phase : "",
           phase ? " " : "", epoch, bar, 100 * frac, rate,
           rate > 0 ? (double)(total - done) / rate : 0.0);
    if (done >= total)
        printf("\r\033[K"); /* cleared: the epoch's line follows */
    fflush(stdout);
}

/* Squared and absolute errors of clipped predictions of domain d on a test set. Unknown users
 * and items are not created: their rows read as zeros, so they get mu plus the known biases. */
static graft_err
evaluate(graft_engine *e, graft_client *c, const graft_ratings *test, const graft_domain *d,
         double *sse, double *sae)
{
    graft_engine_bind(e, GRAFT_SLOT_EVAL_USERS, d->utab, d->uwidth);
    graft_engine_bind(e, GRAFT_SLOT_EVAL_ITEMS, d->itab, (uint32_t)e->k + 1);
    const int us[2] = {GRAFT_SLOT_EVAL_USERS, GRAFT_SLOT_EVAL_USERS},
              is[2] = {GRAFT_SLOT_EVAL_ITEMS, GRAFT_SLOT_EVAL_ITEMS};
    *sse = *sae = 0;
    for (size_t b = 0; test && b < test->n; b += GRAFT_ENGINE_EVAL_BATCH) {
        size_t n = test->n - b < GRAFT_ENGINE_EVAL_BATCH ? test->n - b : GRAFT_ENGINE_EVAL_BATCH;
        const graft_rating *r = test->v + b;
        graft_err rc = graft_engine_pass(e, c, r, n, us, is);
        if (rc != GRAFT_OK)
            return rc;
        const graft_keyset *ku = &e->ks[GRAFT_SLOT_EVAL_USERS], *ki = &e->ks[GRAFT_SLOT_EVAL_ITEMS];
        for (size_t j = 0; j < n; j++) {
            float p =
                graft_model_predict_at(d->mu, ku->rows + (size_t)e->uidx[j] * ku->width, d->ubias,
                                       ki->rows + (size_t)e->iidx[j] * ki->width, e->k);
            p = graft_model_clip(p, d->rmin, d->rmax);
            double err = (double)p - r[j].rating;
            *sse += err * err;
            *sae += fabs(err);
        }
    }
    return GRAFT_OK;
}

graft_err
graft_engine_evaluate_target(graft_engine *e, graft_client *c, double g[4])
{
    double l[4] = {0, 0, 0, 0};
    const graft_domain *warm = e->warm_dom ? e->warm_dom : &e->dom[GRAFT_DOM_TARGET];
    graft_err rc = e->blk ? graft_blocks_evaluate(e->blk, 0, &l[0], &l[1])
                          : evaluate(e, c, e->warm, warm, &l[0], &l[1]);
    if (rc == GRAFT_OK)
        rc = evaluate(e, c, e->cold, &e->dom[GRAFT_DOM_TARGET], &l[2], &l[3]);
    if (rc != GRAFT_OK)
        return rc;
    graft_job_allreduce(e->job->role_comm, l, g, 4, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    return GRAFT_OK;
}

graft_err
graft_engine_set_rmse(graft_engine *e, graft_client *c, const graft_ratings *set,
                      const graft_domain *d, double *rmse)
{
    double l[2], g[2];
    uint64_t n = set->n, gn;
    graft_err rc = evaluate(e, c, set, d, &l[0], &l[1]);
    if (rc != GRAFT_OK)
        return rc;
    graft_job_allreduce(e->job->role_comm, l, g, 2, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    graft_job_allreduce(e->job->role_comm, &n, &gn, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    *rmse = graft_engine_ratio(g[0], gn, 1);
    return GRAFT_OK;
}

double
graft_engine_ratio(double num, uint64_t den, int root)
{
    if (den == 0)
        return NAN;
    return root ? sqrt(num / (double)den) : num / (double)den;
}

graft_err
graft_engine_barrier(graft_engine *e, graft_client *c)
{
    return graft_client_barrier(c, ++e->clock);
}

double
graft_engine_updates(const graft_engine *e)
{
    return e->updates;
}

double
graft_engine_train_seconds(const graft_engine *e)
{
    return e->train_seconds;
}

double
graft_engine_last_train_rmse(const graft_engine *e)
{
    return e->last_train_rmse;
}

double
graft_engine_last_train_loss(const graft_engine *e)
{
    return e->last_train_loss;
}
