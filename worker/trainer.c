#include "trainer.h"
#include "alloc.h"
#include "binfile.h"
#include "blocks.h"
#include "checkpoint.h"
#include "dedupe.h"
#include "hash.h"
#include "keymap.h"
#include "iddict.h"
#include "log.h"
#include "manifest.h"
#include "metrics.h"
#include "model.h"
#include "rng.h"
#include "store.h"
#include "transfer.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EVAL_BATCH 4096
/* Batch plane: about this many batches make one consistency clock. */
#define CLOCK_BATCHES 64
#define NSLOTS 6
/* Keyset slots: training binds 0..2 per phase, evaluation and the baselines use 4 and 5. */
#define EVAL_USERS 4
#define EVAL_ITEMS 5

enum { DOM_SOURCE = 0, DOM_TARGET = 1 };

/* The distinct keys of one batch for one table, their pulled rows and summed gradients. */
typedef struct {
    graft_keymap *map;
    uint64_t *keys;
    float *rows, *grads;
    uint32_t n, cap;
    uint32_t table, width; /* bound per phase */
    int active;
} keyset;

/* One domain's model: its tables and where its rows sit in the batch. */
typedef struct {
    float mu, rmin, rmax;
    uint32_t utab, itab;
    uint32_t uwidth; /* k + 1, or k + 2 for the shared user rows of joint training */
    int ubias;       /* column of this domain's user bias */
    int uslot, islot;
    float weight;
} domain;

struct graft_trainer {
    const graft_config *cfg;
    const graft_job *job;
    int transfer_job;
    /* Local parts. A plain job keeps its training set in tgt and its test set in warm. */
    graft_ratings src, tgt, warm, cold;
    uint64_t bad_lines;
    int k;
    domain dom[2];
    keyset ks[NSLOTS];
    uint32_t *uidx, *iidx;
    /* --prefetch: the next batch's keysets, filled by a thread while this one trains. */
    keyset ks2[NSLOTS];
    uint32_t *uidx2, *iidx2;
    size_t batch_cap;
    uint64_t clock;
    /* Global facts of a transfer job, the same on every worker. */
    uint64_t *tgt_users, *overlap, *cold_users;
    size_t n_tgt_users, n_overlap, n_cold;
    /* Totals over all workers. */
    uint64_t g_src, g_tgt, g_warm, g_cold;
    double updates, train_seconds;
    FILE *mf;
    int lead;
    /* The model's tables, in creation order, for --save. */
    int nsaved;
    graft_saved_table saved[8];
    /* Every table of a plain job, for checkpoints (accumulators included). */
    int nck;
    graft_saved_table ck[8];
    int first_epoch;             /* the epoch a resumed job starts from (0: a fresh job) */
    graft_iddict *users, *items; /* with --save: the ids behind the keys this worker read */
    /* The transfer gate's outcome (seed and joint): which model answers warm users. */
    domain warm_dom;
    int warm_fallback;
    double last_train_rmse;           /* the model's last epoch (plain, target or joint phase) */
    graft_dup_counts dups;            /* of the training files, global */
    uint64_t data_ratings, data_hash; /* the training data's identity (graft_trainer_prepare) */
    const char *gate;
    double valid_transfer, valid_target;
    /* Consistency: clocks per epoch and what the ticks saw. */
    graft_clockstate cs;
    uint64_t clocks_per_epoch;
    graft_blocks *blk;             /* the block plane of a plain job, else NULL */
    graft_client *prefetch_client; /* borrowed: the block plane's second connection */
    int tgt_owned, warm_owned;     /* read from binary files by owner (graft prep) */
};

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static graft_err
keyset_init(keyset *ks, uint32_t cap, uint32_t maxwidth)
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
keyset_free(keyset *ks)
{
    graft_keymap_destroy(&ks->map);
    graft_free(ks->keys);
    graft_free(ks->rows);
    graft_free(ks->grads);
}

static void
bind(keyset *ks, uint32_t table, uint32_t width)
{
    ks->table = table;
    ks->width = width;
}

/* The slot of key in the batch, adding it when new; cap bounds n, so it cannot overflow. */
static graft_err
keyset_add(keyset *ks, uint64_t key, uint32_t *slot)
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

static graft_err
load_part(const char *path, graft_trainer *t, graft_ratings *out, uint32_t dom, char *err,
          size_t errlen)
{
    const graft_config *cfg = t->cfg;
    graft_datafile *df = NULL;
    size_t first = out->n;
    double t0 = now();
    int binary = graft_binfile_is(path);
    graft_err rc;
    if (binary) { /* graft prep's output: no parsing */
        int owned = 0;
        rc = graft_binfile_load(path, t->job->index, t->job->nworkers, out, &owned, t->users,
                                t->items, err, errlen);
        if (out == &t->tgt)
            t->tgt_owned = owned;
        else if (out == &t->warm)
            t->warm_owned = owned;
    } else {
        rc = graft_datafile_open(path, (graft_format)cfg->format, &df, err, errlen);
        if (rc == GRAFT_OK)
            rc = graft_ratings_load(df, t->job->index, t->job->nworkers,
                                    cfg->bad_lines == GRAFT_BAD_LINES_SKIP, out, &t->bad_lines,
                                    t->users, t->items, err, errlen);
        graft_datafile_close(&df);
    }
    for (size_t i = first; i < out->n; i++)
        out->v[i].domain = dom;
    if (rc == GRAFT_OK)
        GRAFT_LOG_INFO("GRAFT-LOADED", "worker %d read %zu ratings of %s in %.2f s (%s)",
                       t->job->index, out->n - first, path, now() - t0, binary ? "binary" : "text");
    return rc;
}

void
graft_trainer_loaded(const graft_trainer *t, uint64_t *src, uint64_t *tgt)
{
    *src = t->src.n;
    *tgt = t->tgt.n;
}

static const char *const dup_names[] = {"keep", "last", "mean", "error"};

graft_err
graft_trainer_prepare(graft_trainer *t, uint64_t *ratings, uint64_t *hash, char *err, size_t errlen)
{
    const graft_config *cfg = t->cfg;
    MPI_Comm comm = t->job->role_comm;
    /* The identity of what was read, before any policy changes it. */
    uint64_t id[3] = {t->src.n + t->tgt.n, graft_dedupe_identity(&t->src),
                      graft_dedupe_identity(&t->tgt)},
             gid[3];
    MPI_Allreduce(id, gid, 3, MPI_UINT64_T, MPI_SUM, comm);
    t->data_ratings = *ratings = gid[0];
    t->data_hash = *hash = gid[1] * 31 + gid[2];
    graft_dup_policy pol = (graft_dup_policy)cfg->duplicates;
    int one = t->job->nworkers == 1;
    graft_dup_counts cs = {0, 0}, ct = {0, 0};
    graft_err rc = GRAFT_OK;
    if (t->transfer_job)
        rc = graft_dedupe(&t->src, pol, one, comm, &cs);
    graft_err rt = graft_dedupe(&t->tgt, pol, one || t->tgt_owned, comm, &ct);
    if (rc == GRAFT_OK)
        rc = rt;
    if (rc != GRAFT_OK) {
        snprintf(err, errlen, "out of memory while looking for duplicated ratings");
        return rc;
    }
    t->dups.pairs = cs.pairs + ct.pairs;
    t->dups.extra = cs.extra + ct.extra;
    if (pol == GRAFT_DUP_ERROR && (cs.pairs || ct.pairs)) {
        const graft_dup_counts *c = cs.pairs ? &cs : &ct;
        snprintf(err, errlen,
                 "%s: %llu (user, item) pairs are rated on more than one line (%llu extra "
                 "ratings); choose --duplicates keep, last or mean",
                 cs.pairs     ? cfg->source
                 : cfg->train ? cfg->train
                              : cfg->target,
                 (unsigned long long)c->pairs, (unsigned long long)c->extra);
        return GRAFT_ERR_PARSE;
    }
    if (t->lead && t->dups.pairs)
        GRAFT_LOG_WARN("GRAFT-DUPLICATES",
                       "%llu (user, item) pairs are rated on more than one line (%llu extra "
                       "ratings): --duplicates %s",
                       (unsigned long long)t->dups.pairs, (unsigned long long)t->dups.extra,
                       dup_names[pol]);
    return GRAFT_OK;
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
    t->last_train_rmse = NAN;
    t->cfg = cfg;
    t->job = job;
    t->k = (int)cfg->dim;
    t->lead = job->index == 0;
    t->transfer_job = cfg->source != NULL;
    /* A bound by default: under load one worker could otherwise run through its whole part
     * before the other starts, and the result would depend on the machine's mood. */
    int cons = cfg->consistency != GRAFT_AUTO                    ? cfg->consistency
               : cfg->plane == GRAFT_PLANE_BLOCK && !cfg->source ? GRAFT_BSP
                                                                 : GRAFT_SSP;
    t->cs.bound = cons == GRAFT_BSP ? 0 : cons == GRAFT_SSP ? (uint32_t)cfg->staleness : UINT32_MAX;
    graft_err rc = GRAFT_OK;
    /* A saved model keeps the id behind each key, so that its rows can be named again. */
    if (cfg->save && (graft_iddict_create(&t->users) != GRAFT_OK ||
                      graft_iddict_create(&t->items) != GRAFT_OK)) {
        snprintf(err, errlen, "out of memory");
        rc = GRAFT_ERR_NOMEM;
    } else if (t->transfer_job) {
        rc = load_part(cfg->source, t, &t->src, DOM_SOURCE, err, errlen);
        if (rc == GRAFT_OK)
            rc = load_part(cfg->target, t, &t->tgt, DOM_TARGET, err, errlen);
        if (rc == GRAFT_OK && cfg->target_test)
            rc = load_part(cfg->target_test, t, &t->warm, DOM_TARGET, err, errlen);
        if (rc == GRAFT_OK && cfg->user_map)
            rc = graft_transfer_apply_user_map(cfg->user_map, &t->src, err, errlen);
    } else {
        rc = load_part(cfg->train, t, &t->tgt, DOM_TARGET, err, errlen);
        if (rc == GRAFT_OK && cfg->test)
            rc = load_part(cfg->test, t, &t->warm, DOM_TARGET, err, errlen);
    }
    if (rc != GRAFT_OK) {
        graft_trainer_destroy(&t);
        return rc;
    }
    size_t cap = (size_t)cfg->batch > EVAL_BATCH ? (size_t)cfg->batch : EVAL_BATCH;
    t->batch_cap = cap;
    t->uidx = graft_malloc(cap * sizeof *t->uidx);
    t->iidx = graft_malloc(cap * sizeof *t->iidx);
    int ok = t->uidx && t->iidx;
    for (int s = 0; s < NSLOTS && ok; s++)
        ok = keyset_init(&t->ks[s], (uint32_t)cap, (uint32_t)t->k + 2) == GRAFT_OK;
    if (ok && cfg->prefetch) {
        t->uidx2 = graft_malloc(cap * sizeof *t->uidx2);
        t->iidx2 = graft_malloc(cap * sizeof *t->iidx2);
        ok = t->uidx2 && t->iidx2;
        for (int s = 0; s < NSLOTS && ok; s++)
            ok = keyset_init(&t->ks2[s], (uint32_t)cap, (uint32_t)t->k + 2) == GRAFT_OK;
    }
    if (!ok) {
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
    graft_trainer *x = *t;
    graft_ratings_free(&x->src);
    graft_ratings_free(&x->tgt);
    graft_ratings_free(&x->warm);
    graft_ratings_free(&x->cold);
    for (int s = 0; s < NSLOTS; s++)
        keyset_free(&x->ks[s]);
    for (int s = 0; s < NSLOTS; s++)
        keyset_free(&x->ks2[s]);
    graft_free(x->uidx2);
    graft_free(x->iidx2);
    graft_free(x->uidx);
    graft_free(x->iidx);
    graft_free(x->tgt_users);
    graft_free(x->overlap);
    graft_free(x->cold_users);
    graft_iddict_destroy(&x->users);
    graft_iddict_destroy(&x->items);
    graft_metrics_close(&x->mf);
    graft_blocks_destroy(&x->blk);
    graft_free(x);
    *t = NULL;
}

/* A batch's keysets and, per rating, where its user and item sit in them. */
typedef struct {
    keyset *ks;
    uint32_t *uidx, *iidx;
} bank;

/* Collects the distinct users and items of r[0..n) in the keysets their domains name (us[d],
 * is[d]) and pulls their rows. */
static graft_err
gather_bank(graft_client *c, bank b, const graft_rating *r, size_t n, int create, const int *us,
            const int *is)
{
    for (int s = 0; s < NSLOTS; s++)
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
    for (int s = 0; s < NSLOTS; s++) {
        keyset *ks = &b.ks[s];
        if (ks->active)
            q[nq++] = (graft_client_rows){ks->table, ks->width, ks->keys, ks->n, ks->rows};
    }
    return graft_client_pull_many(c, q, nq, create);
}

static graft_err
gather(graft_trainer *t, graft_client *c, const graft_rating *r, size_t n, int create,
       const int *us, const int *is)
{
    return gather_bank(c, (bank){t->ks, t->uidx, t->iidx}, r, n, create, us, is);
}

/* Pushes the summed gradients of every active keyset, without waiting. */
static graft_err
scatter_bank(graft_client *c, bank b)
{
    graft_client_rows q[GRAFT_CLIENT_MAX_MANY];
    int nq = 0;
    for (int s = 0; s < NSLOTS; s++) {
        keyset *ks = &b.ks[s];
        if (ks->active)
            q[nq++] = (graft_client_rows){ks->table, ks->width, ks->keys, ks->n, ks->grads};
    }
    return graft_client_push_many(c, q, nq);
}

static void
trace_stream(graft_trainer *t, const char *phase, const graft_ratings *r)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-worker%d.txt", t->cfg->trace_dir, phase, t->job->index);
    FILE *f = fopen(path, "w");
    if (!f) {
        GRAFT_LOG_WARN("GRAFT-TRACE", "cannot write %s", path);
        return;
    }
    for (size_t j = 0; j < r->n; j++)
        fprintf(f, "%u %016llx %016llx\n", r->v[j].domain, (unsigned long long)r->v[j].user,
                (unsigned long long)r->v[j].item);
    fclose(f);
}

/* One pass over a stream of ratings whose domains say which tables they train; sse gets the
 * squared errors seen before each batch's update. */
/* The live progress bar of worker 0 on a terminal: its own share of the epoch, the rate, and an
 * estimate of the time left, redrawn at most five times a second. */
static void
draw_bar(graft_trainer *t, const char *phase, int epoch, size_t done, size_t total, double t0)
{
    static double last;
    double now_s = now();
    if (!t->lead || t->cfg->progress != 1 || t->cfg->quiet || (done < total && now_s - last < 0.2))
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

/* --prefetch: a thread pulls the next batch's rows on the second connection. */
typedef struct {
    graft_client *c;
    bank b;
    const graft_rating *r;
    size_t n;
    const int *us, *is;
    graft_err rc;
} fetch_job;

static void *
fetch_main(void *arg)
{
    fetch_job *j = arg;
    j->rc = gather_bank(j->c, j->b, j->r, j->n, 1, j->us, j->is);
    return NULL;
}

static graft_err
train_epoch(graft_trainer *t, graft_client *c, graft_ratings *stream, uint64_t seed, double *sse,
            const char *phase, int epoch)
{
    double t0 = now();
    const graft_config *cfg = t->cfg;
    graft_rng rng;
    graft_rng_seed(&rng, seed);
    graft_rng_shuffle(&rng, stream->v, stream->n, sizeof *stream->v);
    int us[2] = {t->dom[0].uslot, t->dom[1].uslot}, is[2] = {t->dom[0].islot, t->dom[1].islot};
    *sse = 0;
    /* With --prefetch the next batch is pulled while this one trains: its rows may miss this
     * batch's updates (a staleness of one batch), and runs no longer repeat exactly. */
    int pre = cfg->prefetch && t->prefetch_client;
    bank cur = {t->ks, t->uidx, t->iidx}, nxt = {t->ks2, t->uidx2, t->iidx2};
    for (int s = 0; pre && s < NSLOTS; s++) {
        t->ks2[s].table = t->ks[s].table;
        t->ks2[s].width = t->ks[s].width;
    }
    pthread_t th;
    int live = 0;
    fetch_job fj;
    graft_err rc = GRAFT_OK;
    /* Every worker ticks clocks_per_epoch times an epoch, however long its stream: tick j comes
     * once a fraction j / clocks_per_epoch of the stream is done. */
    uint64_t ticked = 0, C = t->clocks_per_epoch;
    for (size_t b = 0; b < stream->n || ticked < C; b += (size_t)cfg->batch) {
        while (rc == GRAFT_OK && ticked < C &&
               (b >= stream->n || (double)b >= (double)ticked / C * stream->n)) {
            rc = graft_client_tick(c, &t->cs);
            ticked++;
        }
        if (rc != GRAFT_OK || b >= stream->n)
            break;
        size_t n = stream->n - b < (size_t)cfg->batch ? stream->n - b : (size_t)cfg->batch;
        const graft_rating *r = stream->v + b;
        if (live) { /* this batch was fetched during the last one */
            pthread_join(th, NULL);
            live = 0;
            bank x = cur;
            cur = nxt;
            nxt = x;
            rc = fj.rc;
        } else {
            rc = gather_bank(c, cur, r, n, 1, us, is);
        }
        if (rc != GRAFT_OK)
            break;
        size_t nb = b + n;
        if (pre && nb < stream->n) {
            fj = (fetch_job){t->prefetch_client,
                             nxt,
                             stream->v + nb,
                             stream->n - nb < (size_t)cfg->batch ? stream->n - nb
                                                                 : (size_t)cfg->batch,
                             us,
                             is,
                             GRAFT_OK};
            live = pthread_create(&th, NULL, fetch_main, &fj) == 0;
        }
        for (int s = 0; s < NSLOTS; s++)
            if (cur.ks[s].active)
                memset(cur.ks[s].grads, 0, (size_t)cur.ks[s].n * cur.ks[s].width * sizeof(float));
        for (size_t j = 0; j < n; j++) {
            const domain *d = &t->dom[r[j].domain];
            keyset *ku = &cur.ks[d->uslot], *ki = &cur.ks[d->islot];
            size_t u = (size_t)cur.uidx[j] * ku->width, i = (size_t)cur.iidx[j] * ki->width;
            float e = graft_model_grad_at(d->mu, ku->rows + u, d->ubias, ki->rows + i, t->k,
                                          r[j].rating, (float)cfg->reg, (float)cfg->reg_bias,
                                          d->weight, ku->grads + u, ki->grads + i);
            *sse += (double)e * e;
        }
        if ((rc = scatter_bank(c, cur)) != GRAFT_OK)
            break;
        draw_bar(t, phase, epoch, b + n, stream->n, t0);
    }
    if (live)
        pthread_join(th, NULL);
    return rc;
}

/* Squared and absolute errors of clipped predictions of domain d on a test set. Unknown users
 * and items are not created: their rows read as zeros, so they get mu plus the known biases. */
static graft_err
evaluate(graft_trainer *t, graft_client *c, const graft_ratings *test, const domain *d, double *sse,
         double *sae)
{
    bind(&t->ks[EVAL_USERS], d->utab, d->uwidth);
    bind(&t->ks[EVAL_ITEMS], d->itab, (uint32_t)t->k + 1);
    const int us[2] = {EVAL_USERS, EVAL_USERS}, is[2] = {EVAL_ITEMS, EVAL_ITEMS};
    *sse = *sae = 0;
    for (size_t b = 0; b < test->n; b += EVAL_BATCH) {
        size_t n = test->n - b < EVAL_BATCH ? test->n - b : EVAL_BATCH;
        const graft_rating *r = test->v + b;
        graft_err rc = gather(t, c, r, n, 0, us, is);
        if (rc != GRAFT_OK)
            return rc;
        const keyset *ku = &t->ks[EVAL_USERS], *ki = &t->ks[EVAL_ITEMS];
        for (size_t j = 0; j < n; j++) {
            float p =
                graft_model_predict_at(d->mu, ku->rows + (size_t)t->uidx[j] * ku->width, d->ubias,
                                       ki->rows + (size_t)t->iidx[j] * ki->width, t->k);
            p = p < d->rmin ? d->rmin : p > d->rmax ? d->rmax : p;
            double e = (double)p - r[j].rating;
            *sse += e * e;
            *sae += fabs(e);
        }
    }
    return GRAFT_OK;
}

/* Test errors of the target model, summed over the workers: [warm sse, sae, cold sse, sae]. */
static graft_err
evaluate_target(graft_trainer *t, graft_client *c, double g[4])
{
    double l[4] = {0, 0, 0, 0};
    const domain *warm = t->warm_fallback ? &t->warm_dom : &t->dom[DOM_TARGET];
    graft_err rc = t->blk ? graft_blocks_evaluate(t->blk, &l[0], &l[1])
                          : evaluate(t, c, &t->warm, warm, &l[0], &l[1]);
    if (rc == GRAFT_OK)
        rc = evaluate(t, c, &t->cold, &t->dom[DOM_TARGET], &l[2], &l[3]);
    if (rc != GRAFT_OK)
        return rc;
    MPI_Allreduce(l, g, 4, MPI_DOUBLE, MPI_SUM, t->job->role_comm);
    return GRAFT_OK;
}

static double
ratio(double num, uint64_t den, int root)
{
    if (den == 0)
        return NAN;
    return root ? sqrt(num / (double)den) : num / (double)den;
}

graft_err
graft_trainer_barrier(graft_trainer *t, graft_client *c)
{
    return graft_client_barrier(c, ++t->clock);
}

static void manifest_head(const graft_trainer *t, graft_manifest *m);

/* Every worker's state onto the servers, then worker 0 has them write checkpoint `epoch`. A
 * failure (disk full, say) ends the job; the previous checkpoint stays the newest complete one. */
static graft_err
checkpoint(graft_trainer *t, graft_client *c, int epoch)
{
    const graft_config *cfg = t->cfg;
    graft_err rc = t->blk ? graft_blocks_store_users(t->blk) : GRAFT_OK;
    int ok = rc == GRAFT_OK, all, code = GRAFT_OK;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, t->job->role_comm);
    if (!all)
        return rc != GRAFT_OK ? rc : GRAFT_ERR_REMOTE;
    if (t->lead) {
        char err[8192];
        graft_manifest m;
        manifest_head(t, &m);
        rc = graft_checkpoint_write(c, cfg->checkpoint_dir, epoch, t->ck, t->nck, &m, err,
                                    sizeof err);
        graft_manifest_free(&m);
        if (rc != GRAFT_OK)
            GRAFT_LOG_ERROR("GRAFT-CHECKPOINT-FAILED", "%s", err);
        else
            GRAFT_LOG_INFO("GRAFT-CHECKPOINT", "epoch %d checkpointed in %s/ckpt-%d", epoch,
                           cfg->checkpoint_dir, epoch);
        code = (int)rc;
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, t->job->role_comm);
    return (graft_err)code;
}

/* --resume: worker 0 loads checkpoint first_epoch (found and verified at start) into the
 * servers' tables. */
static graft_err
resume(graft_trainer *t, graft_client *c)
{
    int code = GRAFT_OK;
    if (t->lead) {
        char path[4096], err[8192];
        graft_manifest m;
        snprintf(path, sizeof path, "%s/ckpt-%d", t->cfg->checkpoint_dir, t->first_epoch);
        graft_err rc = graft_manifest_read(path, &m, err, sizeof err);
        if (rc == GRAFT_OK) {
            rc = graft_checkpoint_load(c, t->first_epoch, &m, t->ck, t->nck, err, sizeof err);
            graft_manifest_free(&m);
        }
        if (rc != GRAFT_OK)
            GRAFT_LOG_ERROR("GRAFT-RESUME-FAILED", "%s", err);
        else
            GRAFT_LOG_INFO("GRAFT-RESUME", "resumed from %s: training goes on at epoch %d", path,
                           t->first_epoch + 1);
        code = (int)rc;
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, t->job->role_comm);
    return (graft_err)code;
}

void
graft_trainer_set_resume(graft_trainer *t, int epoch)
{
    t->first_epoch = epoch;
}

/* Trains the stream for `epochs` epochs; epoch records are tagged with phase (NULL in a plain
 * job), and evaluate the target after each epoch when eval is set. */
static graft_err
run_phase(graft_trainer *t, graft_client *c, const char *phase, graft_ratings *stream,
          uint64_t global_n, int epochs, int eval)
{
    const graft_config *cfg = t->cfg;
    if (cfg->trace_dir && phase)
        trace_stream(t, phase, stream);
    if (!t->blk) { /* the batch plane: every worker ticks as often as the busiest needs */
        uint64_t mine = (stream->n + (uint64_t)cfg->batch - 1) / (uint64_t)cfg->batch, most;
        MPI_Allreduce(&mine, &most, 1, MPI_UINT64_T, MPI_MAX, t->job->role_comm);
        t->clocks_per_epoch = (most + CLOCK_BATCHES - 1) / CLOCK_BATCHES;
    }
    for (int epoch = phase ? 1 : t->first_epoch + 1; epoch <= epochs; epoch++) {
        double e0 = now(), sse;
        int shuffle = phase ? (strcmp(phase, "fallback") == 0 ? 't' : phase[0]) : 0;
        uint64_t seed = (uint64_t)cfg->seed * 1000003u + (uint64_t)epoch * 7919u +
                        (uint64_t)t->job->index + ((uint64_t)shuffle << 32);
        graft_blocks_times tm = {0, 0, 0}, gtm;
        graft_err rc = t->blk ? graft_blocks_epoch(t->blk, &t->cs, &sse, &tm)
                              : train_epoch(t, c, stream, seed, &sse, phase, epoch);
        /* Every push of the epoch is applied before anyone evaluates. */
        if (rc == GRAFT_OK)
            rc = graft_trainer_barrier(t, c);
        if (rc != GRAFT_OK)
            return rc;
        double e1 = now();
        double gsse, te[4] = {0, 0, 0, 0}, wait_s;
        uint64_t stale;
        MPI_Allreduce(&sse, &gsse, 1, MPI_DOUBLE, MPI_SUM, t->job->role_comm);
        MPI_Allreduce(&t->cs.wait_s, &wait_s, 1, MPI_DOUBLE, MPI_MAX, t->job->role_comm);
        MPI_Allreduce(&tm, &gtm, 3, MPI_DOUBLE, MPI_MAX, t->job->role_comm);
        MPI_Allreduce(&t->cs.staleness, &stale, 1, MPI_UINT64_T, MPI_MAX, t->job->role_comm);
        t->cs.wait_s = 0;
        t->cs.staleness = 0;
        if (eval && (rc = evaluate_target(t, c, te)) != GRAFT_OK)
            return rc;
        double e2 = now();
        t->updates += (double)global_n;
        t->train_seconds += e1 - e0;
        graft_epoch_metrics em = {
            .epoch = epoch,
            .train_rmse = ratio(gsse, global_n, 1),
            .test_rmse = eval ? ratio(te[0] + te[2], t->g_warm + t->g_cold, 1) : NAN,
            .test_mae = eval ? ratio(te[1] + te[3], t->g_warm + t->g_cold, 0) : NAN,
            .seconds = e2 - e0,
            .updates_per_s = (double)global_n / (e1 - e0),
            .phase = phase,
            .warm_rmse = eval ? ratio(te[0], t->g_warm, 1) : NAN,
            .cold_rmse = eval ? ratio(te[2], t->g_cold, 1) : NAN,
            .staleness = t->clocks_per_epoch ? (int64_t)stale : -1,
            .wait_seconds = wait_s,
            .pull_seconds = gtm.pull_s,
            .compute_seconds = t->blk ? gtm.compute_s : NAN,
            .push_seconds = gtm.push_s,
        };
        if (!phase || strcmp(phase, "target") == 0 || strcmp(phase, "joint") == 0)
            t->last_train_rmse = em.train_rmse;
        if (t->lead) {
            graft_metrics_epoch(t->mf, &em);
            if (!cfg->quiet) {
                if (phase)
                    printf("%-6s ", phase);
                printf("epoch %3d/%d  train_rmse %.4f", epoch, epochs, em.train_rmse);
                if (phase && eval)
                    printf("  warm_rmse %.4f  cold_rmse %.4f", em.warm_rmse, em.cold_rmse);
                else if (eval)
                    printf("  test_rmse %.4f  test_mae %.4f", em.test_rmse, em.test_mae);
                printf("  %6.2f s  %.3g updates/s\n", em.seconds, em.updates_per_s);
                fflush(stdout);
            }
        }
        if (!phase && cfg->checkpoint_every > 0 && epoch % cfg->checkpoint_every == 0 &&
            (rc = checkpoint(t, c, epoch)) != GRAFT_OK)
            return rc;
    }
    return GRAFT_OK;
}

/* The mean and range of a domain's training ratings over all workers. */
static void
domain_stats(graft_trainer *t, const graft_ratings *r, domain *d, uint64_t *global_n)
{
    double local[2] = {0, (double)r->n}, global[2];
    float lo = INFINITY, hi = -INFINITY, glo, ghi;
    for (size_t j = 0; j < r->n; j++) {
        local[0] += r->v[j].rating;
        lo = fminf(lo, r->v[j].rating);
        hi = fmaxf(hi, r->v[j].rating);
    }
    MPI_Comm comm = t->job->role_comm;
    MPI_Allreduce(local, global, 2, MPI_DOUBLE, MPI_SUM, comm);
    MPI_Allreduce(&lo, &glo, 1, MPI_FLOAT, MPI_MIN, comm);
    MPI_Allreduce(&hi, &ghi, 1, MPI_FLOAT, MPI_MAX, comm);
    d->mu = global[1] > 0 ? (float)(global[0] / global[1]) : 0;
    d->rmin = glo;
    d->rmax = ghi;
    *global_n = (uint64_t)global[1];
}

/* Declares a table; save says whether --save writes it. */
static graft_err
create_table_as(graft_trainer *t, graft_client *c, const char *name, uint32_t width,
                uint32_t init_width, uint32_t save_width, graft_optim_kind opt, uint64_t salt,
                int save, uint32_t *id)
{
    const graft_config *cfg = t->cfg;
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
    if (rc == GRAFT_OK && save && t->nsaved < 8)
        t->saved[t->nsaved++] = st;
    if (rc == GRAFT_OK && t->nck < 8)
        t->ck[t->nck++] = st;
    return rc;
}

/* A model table is saved; a Sum table holds accumulators and is not. */
static graft_err
create_table(graft_trainer *t, graft_client *c, const char *name, uint32_t width,
             uint32_t init_width, graft_optim_kind opt, uint64_t salt, uint32_t *id)
{
    return create_table_as(t, c, name, width, init_width, 0, opt, salt, opt != GRAFT_OPTIM_SUM, id);
}

/* Collective over the workers: worker 0's dictionary gets every worker's entries. */
static graft_err
gather_ids(graft_trainer *t, graft_iddict *d)
{
    char *mine = NULL;
    size_t len = 0;
    graft_err rc = graft_iddict_pack(d, &mine, &len);
    void *all = NULL;
    size_t total;
    /* Every worker joins, also one whose packing failed (it sends nothing). Worker 0 is the
     * only one that needs the result, but the dictionaries are small beside the ratings. */
    graft_err grc =
        graft_job_allgather_bytes(t->job->role_comm, mine, rc == GRAFT_OK ? len : 0, &all, &total);
    if (rc == GRAFT_OK)
        rc = grc;
    if (rc == GRAFT_OK && t->lead)
        rc = graft_iddict_merge(d, all, total);
    graft_free(mine);
    graft_free(all);
    return rc;
}

/* A manifest with the job's dimension, servers and domains, and no tables yet. */
static void
manifest_head(const graft_trainer *t, graft_manifest *m)
{
    memset(m, 0, sizeof *m);
    m->dim = t->k;
    m->servers = t->job->nservers;
    m->has_data = 1;
    m->data_ratings = t->data_ratings;
    m->data_hash = t->data_hash;
    static const char *const dnames[2] = {"source", "target"};
    for (int d = t->transfer_job ? 0 : 1; d < 2; d++) {
        graft_manifest_domain *md = &m->domains[m->ndomains++];
        snprintf(md->name, sizeof md->name, "%s", t->transfer_job ? dnames[d] : "main");
        md->mu = t->dom[d].mu;
        md->rmin = t->dom[d].rmin;
        md->rmax = t->dom[d].rmax;
        /* The gate kept the target-only model for warm users: the saved model answers them from
         * its target-only tables, as the job's own evaluation did. */
        if (d == 1 && t->warm_fallback)
            snprintf(md->warm, sizeof md->warm, "target-only");
    }
}

graft_err
graft_trainer_save(graft_trainer *t, graft_client *c)
{
    const graft_config *cfg = t->cfg;
    if (!cfg->save)
        return GRAFT_OK;
    graft_err grc = gather_ids(t, t->users);
    if (grc == GRAFT_OK)
        grc = gather_ids(t, t->items);
    if (grc != GRAFT_OK || !t->lead)
        return grc;
    graft_manifest m;
    manifest_head(t, &m);
    graft_err rc = graft_saved_write(c, 0, t->saved, t->nsaved, t->job->nservers, &m);
    char err[4608] = "the servers could not write the model (see their log)", path[4096];
    snprintf(path, sizeof path, "%s/users.ids", cfg->save);
    if (rc == GRAFT_OK && (rc = graft_iddict_write(t->users, path, err, sizeof err)) == GRAFT_OK) {
        snprintf(path, sizeof path, "%s/items.ids", cfg->save);
        rc = graft_iddict_write(t->items, path, err, sizeof err);
    }
    /* A transfer model names its cold-start users, so that they can be evaluated apart. */
    if (rc == GRAFT_OK && t->transfer_job) {
        size_t len = 0, cap = 4096;
        char *text = graft_malloc(cap);
        for (size_t i = 0; text && i < t->n_cold; i++) {
            const char *id = graft_iddict_get(t->users, t->cold_users[i]);
            size_t need = (id ? strlen(id) : 16) + 2;
            if (len + need > cap) {
                char *grown = graft_realloc_array(text, cap * 2 + need, 1);
                if (!grown) {
                    graft_free(text);
                    text = NULL;
                    break;
                }
                text = grown;
                cap = cap * 2 + need;
            }
            len += (size_t)(id ? snprintf(text + len, cap - len, "%s\n", id)
                               : snprintf(text + len, cap - len, "%016llx\n",
                                          (unsigned long long)t->cold_users[i]));
        }
        snprintf(path, sizeof path, "%s/cold-users.txt", cfg->save);
        rc = text ? graft_store_write_atomic(path, text, len, err, sizeof err) : GRAFT_ERR_NOMEM;
        m.has_cold = 1;
        m.cold_checksum = text ? graft_checksum64(text, len, 0) : 0;
        graft_free(text);
    }
    if (rc == GRAFT_OK)
        rc = graft_manifest_write(cfg->save, &m, err, sizeof err);
    if (rc != GRAFT_OK)
        GRAFT_LOG_ERROR("GRAFT-SAVE-FAILED", "%s", rc == GRAFT_ERR_NOMEM ? "out of memory" : err);
    if (rc == GRAFT_OK && !cfg->quiet)
        printf("saved %d tables to %s\n", m.ntables, cfg->save);
    graft_manifest_free(&m);
    return rc;
}

/* Declares a domain's tables. Factors start random and biases at zero. */
static graft_err
create_domain(graft_trainer *t, graft_client *c, domain *d, const char *uname, const char *iname,
              uint64_t salt)
{
    graft_optim_kind opt = (graft_optim_kind)t->cfg->optimizer;
    uint32_t k = (uint32_t)t->k;
    graft_err rc = GRAFT_OK;
    if (uname)
        rc = create_table(t, c, uname, d->uwidth, k, opt, salt, &d->utab);
    if (rc == GRAFT_OK)
        rc = create_table(t, c, iname, k + 1, k, opt, salt ^ 0x9e3779b97f4a7c15ULL, &d->itab);
    return rc;
}

static graft_err
open_metrics(graft_trainer *t)
{
    /* A resumed job adds to the metrics of the run it continues. */
    if (t->lead && graft_metrics_open(t->cfg->metrics, t->first_epoch > 0, &t->mf) != GRAFT_OK) {
        GRAFT_LOG_ERROR("GRAFT-METRICS-OPEN", "cannot write metrics file %s", t->cfg->metrics);
        return GRAFT_ERR_IO;
    }
    return GRAFT_OK;
}

/* The block plane's tables: user rows (written back by the workers), item rows and their
 * row-wise AdaGrad accumulators as Sum tables (workers push differences); then the workers
 * exchange their ratings and build their blocks. */
static graft_err
create_block_tables(graft_trainer *t, graft_client *c, domain *d)
{
    uint32_t k = (uint32_t)t->k;
    graft_blocks_tables tabs = {.mu = d->mu, .rmin = d->rmin, .rmax = d->rmax};
    /* Sum tables (workers write user rows whole and push item differences), each row with its
     * AdaGrad accumulator as a last column that starts at zero and that --save leaves out. */
    uint32_t w = GRAFT_BLOCKS_WIDTH(k);
    graft_err rc = create_table_as(t, c, "user", w, k, k + 1, GRAFT_OPTIM_SUM, 0, 1, &d->utab);
    if (rc == GRAFT_OK)
        rc = create_table_as(t, c, "item", w, k, k + 1, GRAFT_OPTIM_SUM, 0x9e3779b97f4a7c15ULL, 1,
                             &d->itab);
    tabs.utab = d->utab;
    tabs.itab = d->itab;
    if (rc == GRAFT_OK && t->first_epoch)
        rc = resume(t, c);
    /* Every worker builds, also after a failure above, so that none waits in the exchange. */
    int ok = rc == GRAFT_OK, all;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, t->job->role_comm);
    if (!all)
        return rc != GRAFT_OK ? rc : GRAFT_ERR_REMOTE;
    int owned = (t->tgt_owned ? 1 : 0) | (t->warm_owned || !t->cfg->test ? 2 : 0);
    rc = graft_blocks_create(t->cfg, t->job, c, t->prefetch_client, t->cs.bound, &tabs, &t->tgt,
                             &t->warm, owned, &t->blk);
    if (rc != GRAFT_OK)
        GRAFT_LOG_ERROR("GRAFT-BLOCKS", "worker %d cannot build its blocks: %s", t->job->index,
                        graft_errname(rc));
    return rc;
}

/* A plain job: one domain, a training file and an optional test file. */
static graft_err
run_plain(graft_trainer *t, graft_client *c)
{
    const graft_config *cfg = t->cfg;
    double t0 = now();
    domain *d = &t->dom[DOM_TARGET];
    uint64_t counts[3] = {t->tgt.n, t->warm.n, t->bad_lines}, g[3];
    MPI_Allreduce(counts, g, 3, MPI_UINT64_T, MPI_SUM, t->job->role_comm);
    t->g_tgt = g[0];
    t->g_warm = g[1];
    if (t->g_tgt == 0) {
        if (t->lead)
            GRAFT_LOG_ERROR("GRAFT-NO-DATA", "%s holds no ratings", cfg->train);
        return GRAFT_ERR_PARSE;
    }
    domain_stats(t, &t->tgt, d, &t->g_tgt);
    d->uwidth = (uint32_t)t->k + 1;
    d->ubias = t->k;
    d->weight = 1;
    d->uslot = 0;
    d->islot = 1;
    t->dom[DOM_SOURCE] = *d;
    int block = cfg->plane == GRAFT_PLANE_BLOCK;
    if (block)
        t->clocks_per_epoch = (uint64_t)graft_blocks_count(cfg, t->job->nworkers);
    graft_err rc = block ? create_block_tables(t, c, d) : create_domain(t, c, d, "user", "item", 0);
    if (rc == GRAFT_OK && !block && t->first_epoch)
        rc = resume(t, c);
    if (rc != GRAFT_OK || (rc = open_metrics(t)) != GRAFT_OK)
        return rc;
    bind(&t->ks[0], d->utab, d->uwidth);
    bind(&t->ks[1], d->itab, (uint32_t)t->k + 1);
    if (t->lead && !cfg->quiet)
        printf("graft: %llu training ratings, %llu test ratings, mean %.4f, %d servers x %d "
               "workers, dim %d\n",
               (unsigned long long)t->g_tgt, (unsigned long long)t->g_warm, d->mu, t->job->nservers,
               t->job->nworkers, t->k);
    rc = run_phase(t, c, NULL, &t->tgt, t->g_tgt, (int)cfg->epochs, t->g_warm > 0);
    /* The servers hold the whole model once training ends. */
    if (rc == GRAFT_OK && t->blk)
        rc = graft_blocks_store_users(t->blk);
    if (rc != GRAFT_OK)
        return rc;
    double te[4] = {0, 0, 0, 0}, last_train = NAN;
    if (t->g_warm && (rc = evaluate_target(t, c, te)) != GRAFT_OK)
        return rc;
    (void)last_train;
    uint64_t moved = 0, sbytes = 0, srows = 0, srss = 0, shm = 0;
    for (int s = 0; t->lead && s < t->job->nservers && rc == GRAFT_OK; s++) {
        graft_server_stats st;
        if ((rc = graft_client_stats(c, s, &st)) != GRAFT_OK)
            return rc;
        moved += st.bytes_in + st.bytes_out;
        srss += st.peak_rss;
        shm += st.arena_bytes;
        for (uint32_t i = 0; i < st.ntables; i++) {
            sbytes += st.tables[i].bytes;
            srows +=
                strcmp(st.tables[i].name, "user") == 0 || strcmp(st.tables[i].name, "item") == 0
                    ? st.tables[i].rows
                    : 0;
        }
    }
    if (t->lead) {
        graft_summary_metrics sm = {
            .plane = t->blk ? "block" : "batch",
            .bytes_moved = moved,
            .server_bytes = sbytes,
            .server_rows = srows,
            .server_peak_rss = srss,
            .shm_bytes = shm,
            .test_rmse = ratio(te[0], t->g_warm, 1),
            .test_mae = ratio(te[1], t->g_warm, 0),
            .epochs = (int)cfg->epochs,
            .seconds = now() - t0,
            .updates_per_s = t->updates / t->train_seconds,
            .servers = t->job->nservers,
            .workers = t->job->nworkers,
            .bad_lines = g[2],
            .train_ratings = t->g_tgt,
            .test_ratings = t->g_warm,
            .train_rmse = t->last_train_rmse,
            .duplicate_pairs = t->dups.pairs,
            .duplicate_ratings = t->dups.extra,
            .duplicates = dup_names[cfg->duplicates],
        };
        graft_metrics_summary(t->mf, &sm);
        /* Without a test file there is no test figure to print (the metrics file has null). */
        printf("summary: ");
        if (t->g_warm)
            printf("test_rmse %.4f  test_mae %.4f  ", sm.test_rmse, sm.test_mae);
        printf("train_rmse %.4f  epochs %d  seconds %.2f  updates/s %.3g  servers %d  workers %d  "
               "bad_lines %llu\n",
               sm.train_rmse, sm.epochs, sm.seconds, sm.updates_per_s, sm.servers, sm.workers,
               (unsigned long long)sm.bad_lines);
        fflush(stdout);
    }
    return graft_trainer_save(t, c);
}

void
graft_trainer_set_prefetch_client(graft_trainer *t, graft_client *pc)
{
    t->prefetch_client = pc;
}

graft_err
graft_trainer_run(graft_trainer *t, graft_client *c)
{
    if (!t->transfer_job)
        return run_plain(t, c);
    return graft_transfer_run(t, c);
}

/* ---- What the transfer module needs of the trainer (trainer_internal in transfer.h). ---- */

graft_trainer_view
graft_trainer_view_of(graft_trainer *t)
{
    graft_trainer_view v = {
        .cfg = t->cfg,
        .job = t->job,
        .src = &t->src,
        .tgt = &t->tgt,
        .warm = &t->warm,
        .cold = &t->cold,
        .k = t->k,
        .bad_lines = t->bad_lines,
        .tgt_users = &t->tgt_users,
        .n_tgt_users = &t->n_tgt_users,
        .overlap = &t->overlap,
        .n_overlap = &t->n_overlap,
        .cold_users = &t->cold_users,
        .n_cold = &t->n_cold,
    };
    return v;
}

graft_err
graft_trainer_setup_domains(graft_trainer *t, graft_client *c, int joint, float lambda)
{
    uint64_t counts[4] = {t->src.n, t->tgt.n, t->warm.n, t->cold.n}, g[4];
    MPI_Allreduce(counts, g, 4, MPI_UINT64_T, MPI_SUM, t->job->role_comm);
    t->g_warm = g[2];
    t->g_cold = g[3];
    domain *s = &t->dom[DOM_SOURCE], *d = &t->dom[DOM_TARGET];
    domain_stats(t, &t->src, s, &t->g_src);
    domain_stats(t, &t->tgt, d, &t->g_tgt);
    if (t->g_src == 0 || t->g_tgt == 0) {
        if (t->lead)
            GRAFT_LOG_ERROR("GRAFT-NO-DATA", "the %s file holds no training ratings",
                            t->g_src == 0 ? "source" : "target");
        return GRAFT_ERR_PARSE;
    }
    uint32_t k = (uint32_t)t->k;
    graft_err rc;
    if (joint) {
        /* One user table for both domains, factors and bias: a cold user then brings both from
         * the source. Items, their biases and the mean are per domain. */
        s->uwidth = d->uwidth = k + 1;
        s->ubias = d->ubias = t->k;
        s->weight = 1;
        d->weight = lambda;
        rc = create_table(t, c, "user", k + 1, k, (graft_optim_kind)t->cfg->optimizer, 0, &s->utab);
        d->utab = s->utab;
        if (rc == GRAFT_OK)
            rc = create_domain(t, c, s, NULL, "source.item", 1);
        if (rc == GRAFT_OK)
            rc = create_domain(t, c, d, NULL, "target.item", 2);
        s->uslot = d->uslot = 0;
        s->islot = 1;
        d->islot = 2;
        bind(&t->ks[0], s->utab, k + 1);
        bind(&t->ks[1], s->itab, k + 1);
        bind(&t->ks[2], d->itab, k + 1);
    } else {
        s->uwidth = d->uwidth = k + 1;
        s->ubias = d->ubias = t->k;
        s->weight = d->weight = 1;
        rc = create_domain(t, c, s, "source.user", "source.item", 1);
        if (rc == GRAFT_OK)
            rc = create_domain(t, c, d, "target.user", "target.item", 2);
    }
    if (rc == GRAFT_OK)
        rc = open_metrics(t);
    return rc;
}

graft_err
graft_trainer_train(graft_trainer *t, graft_client *c, int which, int epochs)
{
    const graft_config *cfg = t->cfg;
    uint32_t k = (uint32_t)t->k;
    domain *s = &t->dom[DOM_SOURCE], *d = &t->dom[DOM_TARGET];
    if (which == GRAFT_PHASE_JOINT) {
        /* Both streams in one: each batch mixes the worker's source and target ratings. */
        graft_ratings mixed = {0};
        graft_err rc = GRAFT_OK;
        for (size_t j = 0; j < t->src.n && rc == GRAFT_OK; j++)
            rc = graft_ratings_append(&mixed, t->src.v[j]);
        for (size_t j = 0; j < t->tgt.n && rc == GRAFT_OK; j++)
            rc = graft_ratings_append(&mixed, t->tgt.v[j]);
        if (rc == GRAFT_OK)
            rc = run_phase(t, c, "joint", &mixed, t->g_src + t->g_tgt, epochs, 1);
        graft_ratings_free(&mixed);
        return rc;
    }
    domain *x = which == GRAFT_PHASE_SOURCE ? s : d;
    x->uslot = 0;
    x->islot = 1;
    bind(&t->ks[0], x->utab, x->uwidth);
    bind(&t->ks[1], x->itab, k + 1);
    (void)cfg;
    return run_phase(t, c, which == GRAFT_PHASE_SOURCE ? "source" : "target",
                     which == GRAFT_PHASE_SOURCE ? &t->src : &t->tgt,
                     which == GRAFT_PHASE_SOURCE ? t->g_src : t->g_tgt, epochs,
                     which == GRAFT_PHASE_TARGET);
}

/* Forgets a saved table by its manifest name; returns its slot or -1. */
static int
saved_slot(graft_trainer *t, const char *name)
{
    for (int i = 0; i < t->nsaved; i++)
        if (strcmp(t->saved[i].name, name) == 0)
            return i;
    return -1;
}

static void
unsave(graft_trainer *t, const char *name)
{
    int i = saved_slot(t, name);
    if (i < 0)
        return;
    for (int j = i; j + 1 < t->nsaved; j++)
        t->saved[j] = t->saved[j + 1];
    t->nsaved--;
}

/* RMSE of the target model on a set, over all workers. */
static graft_err
set_rmse(graft_trainer *t, graft_client *c, const graft_ratings *set, double *rmse)
{
    double l[2], g[2];
    uint64_t n = set->n, gn;
    graft_err rc = evaluate(t, c, set, &t->dom[DOM_TARGET], &l[0], &l[1]);
    if (rc != GRAFT_OK)
        return rc;
    MPI_Allreduce(l, g, 2, MPI_DOUBLE, MPI_SUM, t->job->role_comm);
    MPI_Allreduce(&n, &gn, 1, MPI_UINT64_T, MPI_SUM, t->job->role_comm);
    *rmse = ratio(g[0], gn, 1);
    return GRAFT_OK;
}

graft_err
graft_trainer_gate(graft_trainer *t, graft_client *c, const graft_ratings *valid,
                   graft_ratings *full, int epochs)
{
    domain *d = &t->dom[DOM_TARGET];
    graft_err rc = set_rmse(t, c, valid, &t->valid_transfer);
    if (rc != GRAFT_OK)
        return rc;
    /* A target-only model on the same training ratings. */
    domain kept = *d, fb = *d;
    uint32_t k = (uint32_t)t->k;
    fb.uwidth = k + 1;
    fb.ubias = t->k;
    fb.weight = 1;
    fb.uslot = 0;
    fb.islot = 1;
    /* The same initial rows and shuffles as a none job's target model, so that the fallback is
     * that model but for the held-out ratings. */
    rc = create_domain(t, c, &fb, "fallback.user", "fallback.item", 2);
    if (rc != GRAFT_OK)
        return rc;
    *d = fb;
    bind(&t->ks[0], fb.utab, fb.uwidth);
    bind(&t->ks[1], fb.itab, k + 1);
    rc = run_phase(t, c, "fallback", &t->tgt, t->g_tgt, epochs, 1);
    if (rc == GRAFT_OK)
        rc = set_rmse(t, c, valid, &t->valid_target);
    if (rc != GRAFT_OK)
        return rc;
    *d = kept;
    unsave(t, "fallback.user");
    unsave(t, "fallback.item");
    if (t->valid_transfer <= t->valid_target) {
        t->gate = "transfer";
    } else {
        /* Transfer did worse on held-out ratings of warm users. They are answered by a
         * target-only model trained on all their ratings, held-out ones included, from the same
         * start and order as a none job: that model is the none job's. Cold users, who have no
         * target ratings, keep the transfer model's rows: nothing else knows them. */
        t->gate = "target-only";
        domain only = fb;
        rc = create_domain(t, c, &only, "target-only.user", "target-only.item", 2);
        if (rc != GRAFT_OK)
            return rc;
        *d = only;
        bind(&t->ks[0], only.utab, only.uwidth);
        bind(&t->ks[1], only.itab, k + 1);
        uint64_t n = full->n, gn;
        MPI_Allreduce(&n, &gn, 1, MPI_UINT64_T, MPI_SUM, t->job->role_comm);
        rc = run_phase(t, c, "fallback", full, gn, epochs, 1);
        *d = kept;
        if (rc != GRAFT_OK)
            return rc;
        t->warm_dom = only;
        t->warm_fallback = 1;
    }
    if (t->lead)
        GRAFT_LOG_INFO("GRAFT-TRANSFER-GATE",
                       "held-out target RMSE %.4f with transfer, %.4f target-only: keeping %s",
                       t->valid_transfer, t->valid_target, t->gate);
    return GRAFT_OK;
}

const char *
graft_trainer_gate_choice(const graft_trainer *t)
{
    return t->gate;
}

graft_err
graft_trainer_refit(graft_trainer *t, graft_client *c, graft_ratings *full, int joint)
{
    /* Fresh tables for what the target ratings train (everything in joint), named refit.* on
     * the servers and saved under the usual names. */
    domain *s = &t->dom[DOM_SOURCE], *d = &t->dom[DOM_TARGET];
    uint32_t k = (uint32_t)t->k;
    graft_err rc;
    if (joint) {
        rc = create_table(t, c, "refit.user", k + 1, k, (graft_optim_kind)t->cfg->optimizer, 0,
                          &s->utab);
        d->utab = s->utab;
        if (rc == GRAFT_OK)
            rc = create_domain(t, c, s, NULL, "refit.source.item", 1);
        if (rc == GRAFT_OK)
            rc = create_domain(t, c, d, NULL, "refit.target.item", 2);
        bind(&t->ks[0], s->utab, k + 1);
        bind(&t->ks[1], s->itab, k + 1);
        bind(&t->ks[2], d->itab, k + 1);
    } else {
        rc = create_domain(t, c, d, "refit.target.user", "refit.target.item", 2);
    }
    if (rc != GRAFT_OK)
        return rc;
    const char *old[3] = {"user", "source.item", "target.item"};
    const char *olds[2] = {"target.user", "target.item"};
    for (int i = 0; i < (joint ? 3 : 2); i++) {
        const char *name = joint ? old[i] : olds[i];
        char refit[GRAFT_TABLE_NAME_MAX];
        snprintf(refit, sizeof refit, "refit.%s", name);
        unsave(t, name);
        int slot = saved_slot(t, refit);
        if (slot >= 0)
            snprintf(t->saved[slot].name, GRAFT_TABLE_NAME_MAX, "%s", name);
    }
    /* From here on the target trains on all its ratings. */
    graft_ratings tmp = t->tgt;
    t->tgt = *full;
    *full = tmp;
    uint64_t n = t->tgt.n;
    MPI_Allreduce(&n, &t->g_tgt, 1, MPI_UINT64_T, MPI_SUM, t->job->role_comm);
    return GRAFT_OK;
}

graft_err
graft_trainer_tables(graft_trainer *t, int domain_index, uint32_t *utab, uint32_t *itab,
                     uint32_t *uwidth, float *mu)
{
    const domain *d = &t->dom[domain_index];
    *utab = d->utab;
    *itab = d->itab;
    *uwidth = d->uwidth;
    *mu = d->mu;
    return GRAFT_OK;
}

graft_err
graft_trainer_finish(graft_trainer *t, graft_client *c, const char *mode, int epochs,
                     const double base[4], double seconds)
{
    double te[4];
    graft_err rc = evaluate_target(t, c, te);
    if (rc != GRAFT_OK)
        return rc;
    uint64_t bad = t->bad_lines, gbad;
    MPI_Allreduce(&bad, &gbad, 1, MPI_UINT64_T, MPI_SUM, t->job->role_comm);
    if (!t->lead)
        return GRAFT_OK;
    graft_summary_metrics sm = {
        .test_rmse = ratio(te[0] + te[2], t->g_warm + t->g_cold, 1),
        .test_mae = ratio(te[1] + te[3], t->g_warm + t->g_cold, 0),
        .epochs = epochs,
        .seconds = seconds,
        .updates_per_s = t->updates / t->train_seconds,
        .servers = t->job->nservers,
        .workers = t->job->nworkers,
        .bad_lines = gbad,
        .train_ratings = t->g_src + t->g_tgt,
        .test_ratings = t->g_warm + t->g_cold,
        .train_rmse = t->last_train_rmse,
        .duplicate_pairs = t->dups.pairs,
        .duplicate_ratings = t->dups.extra,
        .duplicates = dup_names[t->cfg->duplicates],
        .transfer = mode,
        .warm_rmse = ratio(te[0], t->g_warm, 1),
        .warm_mae = ratio(te[1], t->g_warm, 0),
        .cold_rmse = ratio(te[2], t->g_cold, 1),
        .cold_mae = ratio(te[3], t->g_cold, 0),
        .cold_users = t->n_cold,
        .cold_ratings = t->g_cold,
        .warm_ratings = t->g_warm,
        .overlap_users = t->n_overlap,
        .base_item_warm_rmse = ratio(base[0], t->g_warm, 1),
        .base_item_cold_rmse = ratio(base[1], t->g_cold, 1),
        .base_item_user_warm_rmse = ratio(base[2], t->g_warm, 1),
        .base_item_user_cold_rmse = ratio(base[3], t->g_cold, 1),
        .gate = t->gate,
        .valid_transfer = t->valid_transfer,
        .valid_target = t->valid_target,
    };
    graft_metrics_summary(t->mf, &sm);
    if (t->gate)
        printf("gate: held-out target RMSE %.4f with transfer, %.4f target-only: kept %s\n",
               t->valid_transfer, t->valid_target, t->gate);
    printf("summary: transfer %s  cold_rmse %.4f  warm_rmse %.4f  cold_mae %.4f  warm_mae %.4f  "
           "cold_users %llu  cold_ratings %llu  seconds %.2f  servers %d  workers %d\n",
           mode, sm.cold_rmse, sm.warm_rmse, sm.cold_mae, sm.warm_mae,
           (unsigned long long)sm.cold_users, (unsigned long long)sm.cold_ratings, sm.seconds,
           sm.servers, sm.workers);
    printf("baselines: item bias cold %.4f warm %.4f; item bias + source user bias cold %.4f "
           "warm %.4f\n",
           sm.base_item_cold_rmse, sm.base_item_warm_rmse, sm.base_item_user_cold_rmse,
           sm.base_item_user_warm_rmse);
    fflush(stdout);
    return GRAFT_OK;
}

graft_err
graft_trainer_bias_baselines(graft_trainer *t, graft_client *c, double out[4])
{
    /* Classic shrunk bias estimators, accumulated on the servers in SUM tables:
     *   target b_i = sum(r - mu_t) / (n_i + shrink)
     *   source b_i = sum(r - mu_s) / (n_i + shrink),  b_u = sum(r - mu_s - b_i) / (n_u + shrink)
     * then predictions mu_t + b_i and mu_t + b_i + source b_u on the warm and cold sets. */
    const float shrink = (float)t->cfg->baseline_shrink;
    uint32_t tb, sb, ub;
    graft_err rc = create_table(t, c, "baseline.target.item", 2, 0, GRAFT_OPTIM_SUM, 0, &tb);
    if (rc == GRAFT_OK)
        rc = create_table(t, c, "baseline.source.item", 2, 0, GRAFT_OPTIM_SUM, 0, &sb);
    if (rc == GRAFT_OK)
        rc = create_table(t, c, "baseline.source.user", 2, 0, GRAFT_OPTIM_SUM, 0, &ub);
    if (rc != GRAFT_OK)
        return rc;
    const int us[2] = {EVAL_USERS, EVAL_USERS}, is[2] = {EVAL_ITEMS, EVAL_ITEMS};
    keyset *ku = &t->ks[EVAL_USERS], *ki = &t->ks[EVAL_ITEMS];
    /* Pass 1: item sums of both domains. */
    for (int dom = 0; dom < 2 && rc == GRAFT_OK; dom++) {
        const graft_ratings *r = dom == DOM_SOURCE ? &t->src : &t->tgt;
        float mu = t->dom[dom].mu;
        bind(ku, ub, 2);
        bind(ki, dom == DOM_SOURCE ? sb : tb, 2);
        for (size_t b = 0; b < r->n && rc == GRAFT_OK; b += EVAL_BATCH) {
            size_t n = r->n - b < EVAL_BATCH ? r->n - b : EVAL_BATCH;
            if ((rc = gather(t, c, r->v + b, n, 0, us, is)) != GRAFT_OK)
                break;
            memset(ki->grads, 0, (size_t)ki->n * 2 * sizeof(float));
            for (size_t j = 0; j < n; j++) {
                ki->grads[t->iidx[j] * 2] += r->v[b + j].rating - mu;
                ki->grads[t->iidx[j] * 2 + 1] += 1;
            }
            rc = graft_client_push(c, ki->table, 2, ki->keys, ki->n, ki->grads);
        }
    }
    if (rc == GRAFT_OK)
        rc = graft_trainer_barrier(t, c);
    /* Pass 2: source user sums of what the item biases leave. */
    bind(ku, ub, 2);
    bind(ki, sb, 2);
    float mus = t->dom[DOM_SOURCE].mu, mut = t->dom[DOM_TARGET].mu;
    for (size_t b = 0; b < t->src.n && rc == GRAFT_OK; b += EVAL_BATCH) {
        size_t n = t->src.n - b < EVAL_BATCH ? t->src.n - b : EVAL_BATCH;
        if ((rc = gather(t, c, t->src.v + b, n, 0, us, is)) != GRAFT_OK)
            break;
        memset(ku->grads, 0, (size_t)ku->n * 2 * sizeof(float));
        for (size_t j = 0; j < n; j++) {
            const float *it = ki->rows + t->iidx[j] * 2;
            float bi = it[0] / (it[1] + shrink);
            ku->grads[t->uidx[j] * 2] += t->src.v[b + j].rating - mus - bi;
            ku->grads[t->uidx[j] * 2 + 1] += 1;
        }
        rc = graft_client_push(c, ub, 2, ku->keys, ku->n, ku->grads);
    }
    if (rc == GRAFT_OK)
        rc = graft_trainer_barrier(t, c);
    /* Pass 3: the two baselines on the warm and the cold set. */
    double l[4] = {0, 0, 0, 0};
    const domain *d = &t->dom[DOM_TARGET];
    bind(ku, ub, 2);
    bind(ki, tb, 2);
    for (int set = 0; set < 2 && rc == GRAFT_OK; set++) {
        const graft_ratings *r = set ? &t->cold : &t->warm;
        for (size_t b = 0; b < r->n && rc == GRAFT_OK; b += EVAL_BATCH) {
            size_t n = r->n - b < EVAL_BATCH ? r->n - b : EVAL_BATCH;
            if ((rc = gather(t, c, r->v + b, n, 0, us, is)) != GRAFT_OK)
                break;
            for (size_t j = 0; j < n; j++) {
                const float *it = ki->rows + t->iidx[j] * 2, *u = ku->rows + t->uidx[j] * 2;
                float p1 = mut + it[0] / (it[1] + shrink);
                float p2 = p1 + u[0] / (u[1] + shrink);
                p1 = p1 < d->rmin ? d->rmin : p1 > d->rmax ? d->rmax : p1;
                p2 = p2 < d->rmin ? d->rmin : p2 > d->rmax ? d->rmax : p2;
                double e1 = (double)p1 - r->v[b + j].rating, e2 = (double)p2 - r->v[b + j].rating;
                l[set] += e1 * e1;
                l[2 + set] += e2 * e2;
            }
        }
    }
    if (rc == GRAFT_OK)
        MPI_Allreduce(l, out, 4, MPI_DOUBLE, MPI_SUM, t->job->role_comm);
    return rc;
}
