/* The engine's model selection (docs/selection.md): the validation share scored after every
 * epoch, and --early-stopping's best epoch, kept on the servers (worker/select.h) and put back
 * when the phase ends. Part of the engine: it sees engine_internal.h. */
#include "engine_internal.h"
#include "alloc.h"
#include "log.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void
graft_engine_set_validation(graft_engine *e, const graft_ratings *valid, uint64_t g_valid)
{
    e->valid = valid;
    e->g_valid = g_valid;
}

void
graft_engine_set_validation_cold(graft_engine *e, const graft_ratings *vcold, uint64_t g_vcold,
                                 int selects, graft_engine_cold_prep prep, void *ctx)
{
    e->vcold = vcold;
    e->g_vcold = g_vcold;
    e->vcold_selects = selects;
    e->vcold_prep = prep;
    e->vcold_ctx = ctx;
}

static int
ranking(const graft_engine *e)
{
    return e->obj->ranking;
}

/* Whether the phase validates: a held-out share, validation cold users, or both. */
static int
validating(const graft_engine *e)
{
    return e->g_valid || e->g_vcold;
}

/* Collective: the score of one held-out set against the target domain's rows. */
static graft_err
score_set(graft_engine *e, graft_client *c, graft_rankeval *rank, const graft_ratings *set,
          double *score, double *recall)
{
    const graft_domain *d = &e->dom[GRAFT_DOM_TARGET];
    if (ranking(e)) {
        graft_rankeval_model m = {d->utab, d->uwidth, d->itab, e->k};
        uint64_t users;
        return graft_rankeval_run(rank, e->job, c, &m, score, recall, &users);
    }
    if (!e->blk || set != e->valid)
        return graft_engine_set_rmse(e, c, set, d, score);
    double l[2] = {0, 0}, g[2];
    graft_err rc =
        graft_job_agree_ok(e->job->role_comm, graft_blocks_evaluate(e->blk, 1, &l[0], &l[1]));
    graft_job_allreduce(e->job->role_comm, l, g, 2, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    *score = graft_engine_ratio(g[0], e->g_valid, 1);
    return rc;
}

graft_err
graft_engine_validate(graft_engine *e, graft_client *c, graft_engine_scores *s)
{
    s->score = s->recall = s->cold_score = s->cold_recall = NAN;
    graft_err rc = GRAFT_OK;
    if (e->g_valid)
        rc = score_set(e, c, e->rank_valid, e->valid, &s->score, &s->recall);
    if (rc == GRAFT_OK && e->g_vcold && e->vcold_prep)
        rc = e->vcold_prep(e->vcold_ctx, e, c);
    if (rc == GRAFT_OK && e->g_vcold)
        rc = score_set(e, c, e->rank_vcold, e->vcold, &s->cold_score, &s->cold_recall);
    s->select = e->g_vcold && (e->vcold_selects || !e->g_valid) ? s->cold_score : s->score;
    return rc;
}

/* This worker's keys of the target's user and item tables: its stream's, or its blocks'. A joint
 * phase's user table is both domains' (users of the source only are in it too). */
static graft_err
table_keys(graft_engine *e, const graft_ratings *stream, int items, int joint, uint64_t **keys,
           size_t *n)
{
    if (e->blk)
        return graft_blocks_keys(e->blk, items, keys, n);
    if (!joint || items)
        return graft_best_keys(stream, GRAFT_DOM_TARGET, items, keys, n);
    uint64_t *k[2] = {NULL, NULL};
    size_t m[2] = {0, 0};
    graft_err rc = graft_best_keys(stream, GRAFT_DOM_TARGET, 0, &k[0], &m[0]);
    if (rc == GRAFT_OK)
        rc = graft_best_keys(stream, GRAFT_DOM_SOURCE, 0, &k[1], &m[1]);
    uint64_t *all = rc == GRAFT_OK ? graft_realloc_array(k[0], m[0] + m[1] + 1, sizeof *all) : NULL;
    if (all) {
        k[0] = NULL;
        memcpy(all + m[0], k[1], m[1] * sizeof *all);
    } else if (rc == GRAFT_OK) {
        rc = GRAFT_ERR_NOMEM;
    }
    graft_free(k[0]);
    graft_free(k[1]);
    *keys = all;
    *n = all ? m[0] + m[1] : 0; /* a row in both domains is kept twice: the same bytes */
    return rc;
}

/* --resume (collective): worker 0 loads the checkpoint's shadow tables, the best epoch's rows,
 * into the phase's new shadows. */
static graft_err
load_shadows(graft_engine *e, graft_client *c)
{
    int code = GRAFT_OK;
    if (e->lead) {
        char path[4096], err[8192];
        graft_manifest m;
        graft_saved_table tabs[8];
        int n = graft_best_tables(e->best, tabs, 8);
        graft_store_checkpoint_dir(path, sizeof path, e->cfg->checkpoint_dir,
                                   (uint64_t)e->first_epoch);
        graft_err rc = graft_manifest_read(path, &m, err, sizeof err);
        if (rc == GRAFT_OK) {
            rc = graft_checkpoint_load(c, e->first_epoch, &m, tabs, n, 1, err, sizeof err);
            graft_manifest_free(&m);
        }
        if (rc != GRAFT_OK)
            GRAFT_LOG_ERROR("GRAFT-RESUME-FAILED", "%s", err);
        code = (int)rc;
    }
    graft_job_bcast_int(e->job->role_comm, &code, 0);
    return (graft_err)code;
}

/* The best epoch's shadow tables of the phase's rows (collective): the target's user and item
 * rows that the stream trains, and joint's source items. */
static graft_err
keep_best(graft_engine *e, graft_client *c, const char *phase, const graft_ratings *stream)
{
    graft_err rc = GRAFT_OK;
    /* joint trains the source's items too: the best epoch is theirs as well. */
    int joint = phase && strcmp(phase, "joint") == 0;
    const graft_domain *d = &e->dom[GRAFT_DOM_TARGET], *s = &e->dom[GRAFT_DOM_SOURCE];
    uint32_t wide = e->blk ? (uint32_t)GRAFT_BLOCKS_WIDTH(e->k) : 0;
    graft_best_table t[3] = {{"user", d->utab, wide ? wide : d->uwidth, NULL, 0},
                             {"item", d->itab, wide ? wide : (uint32_t)e->k + 1, NULL, 0},
                             {"source.item", s->itab, (uint32_t)e->k + 1, NULL, 0}};
    int n = joint ? 3 : 2;
    for (int i = 0; i < 2 && rc == GRAFT_OK; i++)
        rc = table_keys(e, stream, i, joint, &t[i].keys, &t[i].nkeys);
    if (rc == GRAFT_OK && joint)
        rc = graft_best_keys(stream, GRAFT_DOM_SOURCE, 1, &t[2].keys, &t[2].nkeys);
    if (rc == GRAFT_OK)
        rc = graft_best_create(c, t, n, &e->best);
    else
        for (int i = 0; i < n; i++)
            graft_free(t[i].keys);
    rc = graft_job_agree_ok(e->job->role_comm, rc);
    if (rc == GRAFT_OK && !phase && e->first_epoch > 0 && e->resumed_select && e->best_epoch > 0)
        rc = load_shadows(e, c);
    return rc;
}

/* How validation ranks: the target's items, --rank-k, --eval-users' seeded sample. */
static graft_rankeval_opts
rank_opts(const graft_engine *e)
{
    const graft_config *cfg = e->cfg;
    return (graft_rankeval_opts){
        .domain = GRAFT_DOM_TARGET,
        .min_rating = (float)cfg->min_rating,
        .k = (int)cfg->rank_k,
        .max_users = (size_t)cfg->eval_users,
        .seed = (uint64_t)cfg->seed ^ 0x56414c44ULL,
    };
}

graft_err
graft_engine_valid_paired(graft_engine *e, graft_client *c, const graft_ratings *valid,
                          const graft_ratings *stream, const graft_domain *a, const graft_domain *b,
                          double *mean, double *se)
{
    graft_rankeval_opts o = rank_opts(e);
    graft_rankeval *r;
    graft_err rc = graft_rankeval_create(e->job, valid, stream, NULL, &o, &r);
    if (rc != GRAFT_OK)
        return rc;
    graft_rankeval_model ma = {a->utab, a->uwidth, a->itab, e->k};
    graft_rankeval_model mb = {b->utab, b->uwidth, b->itab, e->k};
    uint64_t users;
    rc = graft_rankeval_paired(r, e->job, c, &ma, &mb, mean, se, &users);
    graft_rankeval_destroy(&r);
    return rc;
}

graft_err
graft_engine_select_begin(graft_engine *e, graft_client *c, const char *phase,
                          const graft_ratings *stream)
{
    const graft_config *cfg = e->cfg;
    /* A phase without validation (--refit's) leaves the last selection's facts alone. */
    if (!validating(e))
        return GRAFT_OK;
    e->best_epoch = 0;
    e->best_score = NAN;
    e->stopped_early = 0;
    if (!phase && e->first_epoch > 0 && e->resumed_select) {
        e->best_epoch = e->resumed_best_epoch;
        e->best_score = e->resumed_best_score;
    }
    graft_err rc = GRAFT_OK;
    if (ranking(e)) {
        graft_rankeval_opts o = rank_opts(e);
        if (e->g_valid)
            rc = graft_rankeval_create(e->job, e->valid, stream, NULL, &o, &e->rank_valid);
        /* Cold: nothing of theirs is in the stream, so nothing is left out of their ranking. */
        if (rc == GRAFT_OK && e->g_vcold)
            rc = graft_rankeval_create(e->job, e->vcold, stream, NULL, &o, &e->rank_vcold);
    }
    if (rc == GRAFT_OK && cfg->early_stopping > 0)
        rc = keep_best(e, c, phase, stream);
    return rc;
}

graft_err
graft_engine_select_epoch(graft_engine *e, graft_client *c, int epoch, double score, int *stop)
{
    const graft_config *cfg = e->cfg;
    *stop = 0;
    int better = !isnan(score) && (isnan(e->best_score) ||
                                   (ranking(e) ? score > e->best_score : score < e->best_score));
    if (better) {
        e->best_epoch = epoch;
        e->best_score = score;
        if (!e->best)
            return GRAFT_OK;
        /* The block plane's user rows live in the workers: onto the servers first. */
        graft_err rc = e->blk ? graft_blocks_store_users(e->blk) : GRAFT_OK;
        if (rc == GRAFT_OK)
            rc = graft_best_keep(e->best, c);
        if (rc == GRAFT_OK)
            rc = graft_client_sync(c);
        rc = graft_job_agree_ok(e->job->role_comm, rc);
        return rc == GRAFT_OK ? graft_engine_barrier(e, c) : rc;
    }
    if (e->best && epoch - e->best_epoch >= cfg->early_stopping) {
        *stop = 1;
        e->stopped_early = 1;
    }
    return GRAFT_OK;
}

graft_err
graft_engine_select_end(graft_engine *e, graft_client *c, int last_epoch)
{
    graft_err rc = GRAFT_OK;
    if (!validating(e))
        return GRAFT_OK;
    if (e->best && e->best_epoch > 0 && e->best_epoch < last_epoch) {
        rc = graft_best_restore(e->best, c);
        if (rc == GRAFT_OK)
            rc = graft_client_sync(c);
        rc = graft_job_agree_ok(e->job->role_comm, rc);
        if (rc == GRAFT_OK)
            rc = graft_engine_barrier(e, c);
        if (rc == GRAFT_OK && e->blk)
            rc = graft_job_agree_ok(e->job->role_comm, graft_blocks_load_users(e->blk));
        if (rc == GRAFT_OK && e->lead && !e->cfg->quiet)
            printf("graft: kept epoch %d, the best on validation%s (%s %.4f)\n", e->best_epoch,
                   e->g_vcold && (e->vcold_selects || !e->g_valid) ? " cold users" : "",
                   ranking(e) ? "ndcg" : "rmse", e->best_score);
    }
    int kept = e->best != NULL;
    graft_best_destroy(&e->best);
    /* Scored again, so that the summary says what the kept rows do, not what was remembered. */
    graft_engine_scores sc;
    if (rc == GRAFT_OK && (rc = graft_engine_validate(e, c, &sc)) == GRAFT_OK) {
        e->final_score = sc.score;
        e->final_recall = sc.recall;
        e->final_cold = sc.cold_score;
        e->final_cold_recall = sc.cold_recall;
    }
    if (rc == GRAFT_OK && !kept)
        e->best_epoch = last_epoch; /* --early-stopping 0: the last epoch's rows */
    return rc;
}

void
graft_engine_select_free(graft_engine *e)
{
    graft_best_destroy(&e->best);
    graft_rankeval_destroy(&e->rank_valid);
    graft_rankeval_destroy(&e->rank_vcold);
}

int
graft_engine_best_epoch(const graft_engine *e)
{
    return e->best_epoch;
}

int
graft_engine_stopped_early(const graft_engine *e)
{
    return e->stopped_early;
}

double
graft_engine_valid_score(const graft_engine *e, double *recall)
{
    *recall = e->final_recall;
    return e->final_score;
}

double
graft_engine_valid_cold_score(const graft_engine *e, double *recall)
{
    *recall = e->final_cold_recall;
    return e->final_cold;
}

int
graft_engine_epochs_run(const graft_engine *e)
{
    return e->epochs_run;
}

int
graft_engine_select_tables(const graft_engine *e, int *best_epoch, double *best_score,
                           graft_saved_table *out, int max)
{
    *best_epoch = e->best_epoch;
    *best_score = e->best_score;
    return graft_best_tables(e->best, out, max);
}

void
graft_engine_resume_select(graft_engine *e, int best_epoch, double best_score)
{
    e->resumed_select = 1;
    e->resumed_best_epoch = best_epoch;
    e->resumed_best_score = best_score;
}
