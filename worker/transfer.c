#include "transfer.h"
#include "alloc.h"
#include "baselines.h"
#include "clock.h"
#include "cohort.h"
#include "log.h"
#include "manifest.h"
#include "map.h"
#include "metrics.h"
#include "save.h"
#include "select.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PHASE_SOURCE = 0, PHASE_TARGET = 1, PHASE_JOINT = 2 };

/* A transfer job's state: the driver's own facts, and what it drives. */
typedef struct {
    const graft_config *cfg;
    const graft_job *job;
    graft_engine *e;
    graft_dataset *d;
    graft_client *c;
    /* Global facts, the same on every worker. */
    graft_cohort co;
    uint64_t g_src, g_tgt, g_warm, g_cold;
    /* The gate's outcome (seed and joint): the model that answers warm users when it kept
     * target-only. */
    graft_domain only;
    int warm_fallback;
    const char *gate;
    double valid_transfer, valid_target;
    double gate_gain, gate_se; /* ranking: the paired NDCG difference, transfer - target-only */
    /* The validation share (--validation-fraction, else the gate's --gate-fraction): held out
     * of the target's training ratings and scored by the engine after every target epoch. */
    graft_ratings *valid;
    uint64_t g_valid;
    /* --validation-cold-users: their target training ratings, held out like cold users' and
     * scored by the engine after every epoch of the transfer model; map writes their mapped rows
     * first (mvu). */
    graft_ratings vcold;
    uint64_t g_vcold;
    graft_map_users mvu;
    int best_epoch, refitted, stopped_early;
    double valid_score, valid_recall; /* the kept model's, as the engine scored it */
    double valid_cold, valid_cold_recall;
} xfer;

/* seed: every target user's row starts as its source row, copied inside each server. */
static graft_err
seed_target(xfer *x)
{
    const graft_domain *s = graft_engine_domain_const(x->e, GRAFT_DOM_SOURCE),
                       *t = graft_engine_domain_const(x->e, GRAFT_DOM_TARGET);
    uint64_t *keys = graft_malloc((x->co.n_tgt_users + 1) * sizeof *keys);
    uint64_t copied = 0, total;
    graft_err rc = keys ? GRAFT_OK : GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK) {
        size_t m = graft_map_my_share(x->co.tgt_users, x->co.n_tgt_users, x->job, NULL, 0, keys);
        rc = graft_client_copy(x->c, t->utab, s->utab, t->uwidth, keys, m, &copied);
    }
    graft_free(keys);
    /* Every worker joins, also one whose copy failed: then all stop. */
    rc = graft_job_agree_ok(x->job->role_comm, rc);
    if (rc == GRAFT_OK) {
        graft_job_allreduce(x->job->role_comm, &copied, &total, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
        if (x->job->index == 0)
            GRAFT_LOG_INFO("GRAFT-SEED", "seeded %llu of %zu target user rows from the source",
                           (unsigned long long)total, x->co.n_tgt_users);
        rc = graft_engine_barrier(x->e, x->c);
    }
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
        const graft_manifest_table *tb = graft_manifest_find_domain(&m, "source", want[i][1], 1);
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
load_source(xfer *x)
{
    const char *dir = x->cfg->source_model;
    char err[4608];
    graft_manifest m;
    graft_err rc = graft_manifest_read(dir, &m, err, sizeof err);
    if (rc != GRAFT_OK) {
        GRAFT_LOG_ERROR("GRAFT-MODEL-LOAD", "%s", err);
        return rc;
    }
    const graft_domain *s = graft_engine_domain_const(x->e, GRAFT_DOM_SOURCE);
    const char *names[2][2] = {{"source.user", "user"}, {"source.item", "item"}};
    uint32_t ids[2] = {s->utab, s->itab};
    for (int i = 0; i < 2 && rc == GRAFT_OK; i++) {
        const graft_manifest_table *tb = graft_manifest_find_domain(&m, "source", names[i][1], 1);
        /* Every worker asks for a share of the shard files; each server reads each file once. */
        for (int sh = x->job->index; tb && sh < tb->nshards && rc == GRAFT_OK;
             sh += x->job->nworkers) {
            uint64_t kept;
            rc = graft_client_load(x->c, ids[i], 0, tb->shards[sh].file, tb->shards[sh].checksum,
                                   &kept);
        }
    }
    graft_manifest_free(&m);
    if (rc == GRAFT_OK)
        rc = graft_engine_barrier(x->e, x->c);
    if (rc == GRAFT_OK && x->job->index == 0)
        GRAFT_LOG_INFO("GRAFT-MODEL-LOADED", "source model loaded from %s", dir);
    return rc;
}

static void
trace_cold(const xfer *x)
{
    if (!x->cfg->trace_dir || x->job->index != 0)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/cold-users.txt", x->cfg->trace_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    for (size_t i = 0; i < x->co.n_cold; i++)
        fprintf(f, "%016llx\n", (unsigned long long)x->co.cold_users[i]);
    fclose(f);
}

/* Declares the tables of both domains (one shared user table when joint), opens the metrics and
 * sets what the engine evaluates. */
static graft_err
setup_domains(xfer *x, int joint, float lambda)
{
    graft_dataset *d = x->d;
    uint64_t counts[4] = {d->src.n, d->tgt.n, d->warm.n, d->cold.n}, g[4];
    graft_job_allreduce(x->job->role_comm, counts, g, 4, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    x->g_warm = g[2];
    x->g_cold = g[3];
    graft_domain *s = graft_engine_domain(x->e, GRAFT_DOM_SOURCE),
                 *t = graft_engine_domain(x->e, GRAFT_DOM_TARGET);
    graft_engine_domain_stats(x->e, &d->src, s, &x->g_src);
    graft_engine_domain_stats(x->e, &d->tgt, t, &x->g_tgt);
    if (x->g_src == 0 || x->g_tgt == 0) {
        if (x->job->index == 0)
            GRAFT_LOG_ERROR("GRAFT-NO-DATA", "the %s file holds no training ratings",
                            x->g_src == 0 ? "source" : "target");
        return GRAFT_ERR_PARSE;
    }
    int k = graft_engine_dim(x->e);
    uint32_t k1 = (uint32_t)k + 1;
    graft_err rc;
    s->uwidth = t->uwidth = k1;
    s->ubias = t->ubias = k;
    if (joint) {
        /* One user table for both domains, factors and bias: a cold user then brings both from
         * the source. Items, their biases and the mean are per domain. */
        s->weight = 1;
        t->weight = lambda;
        rc = graft_engine_create_model_table(x->e, x->c, "user", k1, (uint32_t)k,
                                             (graft_optim_kind)x->cfg->optimizer, 0, &s->utab);
        t->utab = s->utab;
        if (rc == GRAFT_OK)
            rc = graft_engine_create_domain(x->e, x->c, s, NULL, "source.item", 1);
        if (rc == GRAFT_OK)
            rc = graft_engine_create_domain(x->e, x->c, t, NULL, "target.item", 2);
        s->uslot = t->uslot = 0;
        s->islot = 1;
        t->islot = 2;
        graft_engine_bind(x->e, 0, s->utab, k1);
        graft_engine_bind(x->e, 1, s->itab, k1);
        graft_engine_bind(x->e, 2, t->itab, k1);
    } else {
        s->weight = t->weight = 1;
        rc = graft_engine_create_domain(x->e, x->c, s, "source.user", "source.item", 1);
        if (rc == GRAFT_OK)
            rc = graft_engine_create_domain(x->e, x->c, t, "target.user", "target.item", 2);
    }
    graft_engine_set_eval(x->e, &d->warm, t, x->g_warm, &d->cold, x->g_cold);
    if (rc == GRAFT_OK)
        rc = graft_engine_open_metrics(x->e);
    return rc;
}

static graft_err train_phase(xfer *x, int which, int epochs);

/* map with validation cold users: their rows from the map fitted on the rows of now. */
static graft_err
map_valid_cold(void *ctx, graft_engine *e, graft_client *c)
{
    xfer *x = ctx;
    return graft_map_cold_users(x->cfg, x->job, e, c, &x->mvu);
}

/* Trains one phase: the source, the target, or both at once (joint). The target's validation
 * share is scored (and early stopping picks its best epoch) in the phases that train the target,
 * until a refit trains on it too. */
static graft_err
train(xfer *x, int which, int epochs)
{
    int validate = which != PHASE_SOURCE && (x->g_valid || x->g_vcold) && !x->refitted;
    int mode = x->cfg->transfer;
    graft_engine_set_validation(x->e, validate ? x->valid : NULL, validate ? x->g_valid : 0);
    /* none answers cold users by popularity whatever the epoch: its epochs are the share's. */
    if (validate)
        graft_engine_set_validation_cold(x->e, &x->vcold, x->g_vcold, mode != GRAFT_TRANSFER_NONE,
                                         mode == GRAFT_TRANSFER_MAP ? map_valid_cold : NULL, x);
    graft_err rc = train_phase(x, which, epochs);
    graft_engine_set_validation(x->e, NULL, 0);
    graft_engine_set_validation_cold(x->e, NULL, 0, 0, NULL, NULL);
    if (rc == GRAFT_OK && validate) {
        x->best_epoch = graft_engine_best_epoch(x->e);
        x->valid_score = graft_engine_valid_score(x->e, &x->valid_recall);
        x->valid_cold = graft_engine_valid_cold_score(x->e, &x->valid_cold_recall);
        x->stopped_early = graft_engine_stopped_early(x->e);
    }
    return rc;
}

static graft_err
train_phase(xfer *x, int which, int epochs)
{
    graft_dataset *d = x->d;
    if (which == PHASE_JOINT) {
        /* Both streams in one: each batch mixes the worker's source and target ratings. */
        graft_ratings mixed = {0};
        graft_err rc = GRAFT_OK;
        for (size_t j = 0; j < d->src.n && rc == GRAFT_OK; j++)
            rc = graft_ratings_append(&mixed, d->src.v[j]);
        for (size_t j = 0; j < d->tgt.n && rc == GRAFT_OK; j++)
            rc = graft_ratings_append(&mixed, d->tgt.v[j]);
        if (rc == GRAFT_OK)
            rc =
                graft_engine_run_phase(x->e, x->c, "joint", &mixed, x->g_src + x->g_tgt, epochs, 1);
        graft_ratings_free(&mixed);
        return rc;
    }
    graft_domain *dom =
        graft_engine_domain(x->e, which == PHASE_SOURCE ? GRAFT_DOM_SOURCE : GRAFT_DOM_TARGET);
    dom->uslot = 0;
    dom->islot = 1;
    graft_engine_bind(x->e, 0, dom->utab, dom->uwidth);
    graft_engine_bind(x->e, 1, dom->itab, (uint32_t)graft_engine_dim(x->e) + 1);
    return graft_engine_run_phase(x->e, x->c, which == PHASE_SOURCE ? "source" : "target",
                                  which == PHASE_SOURCE ? &d->src : &d->tgt,
                                  which == PHASE_SOURCE ? x->g_src : x->g_tgt, epochs,
                                  which == PHASE_TARGET);
}

/* The validation score of the model the engine last trained, lower is better: RMSE, or minus
 * NDCG@--rank-k of the held-out positives for a ranking loss. */
static double
selected_score(const xfer *x)
{
    double recall, v = graft_engine_valid_score(x->e, &recall);
    return x->cfg->loss != GRAFT_LOSS_SQUARED ? -v : v;
}

/* The transfer gate, on the validation share: the transfer model's score (its best epoch's)
 * against a target-only model's, trained with the same validation and early stopping on the same
 * ratings. When the target-only model wins, warm users are answered by it: refitted on every
 * target training rating for its best epoch's number of epochs (--refit), or as selected. */
static graft_err
gate(xfer *x, graft_ratings *full, int epochs)
{
    graft_engine *e = x->e;
    graft_domain *t = graft_engine_domain(e, GRAFT_DOM_TARGET);
    x->valid_transfer = selected_score(x);
    int transfer_epoch = x->best_epoch;
    /* A target-only model on the same training ratings. While it trains it is the target
     * domain, so that the engine evaluates it. */
    graft_domain kept = *t, fb = *t;
    uint32_t k1 = (uint32_t)graft_engine_dim(e) + 1;
    fb.uwidth = k1;
    fb.ubias = (int)k1 - 1;
    fb.weight = 1;
    fb.uslot = 0;
    fb.islot = 1;
    fb.has_prior = 0; /* target-only: no pull toward source rows (seed's iALS prior) */
    /* The same initial rows and shuffles as a none job's target model, so that the fallback is
     * that model but for the held-out ratings. */
    graft_err rc = graft_engine_create_domain(e, x->c, &fb, "fallback.user", "fallback.item", 2);
    if (rc != GRAFT_OK)
        return rc;
    *t = fb;
    graft_engine_bind(e, 0, fb.utab, fb.uwidth);
    graft_engine_bind(e, 1, fb.itab, k1);
    graft_engine_set_validation(e, x->valid, x->g_valid);
    rc = graft_engine_run_phase(e, x->c, "fallback", &x->d->tgt, x->g_tgt, epochs, 1);
    graft_engine_set_validation(e, NULL, 0);
    if (rc != GRAFT_OK)
        return rc;
    x->valid_target = selected_score(x);
    int fallback_epoch = graft_engine_best_epoch(e);
    *t = kept;
    if (x->cfg->loss != GRAFT_LOSS_SQUARED) {
        /* A few held-out positives per user make NDCG a noisy judge: the summary says how sure
         * the gate was, as the paired gain and its standard error. Requiring the gain to clear
         * one standard error lost more on related domains than it saved on unrelated ones
         * (docs/ranking.md), so the rule stays the plain comparison. */
        rc = graft_engine_valid_paired(e, x->c, x->valid, &x->d->tgt, &kept, &fb, &x->gate_gain,
                                       &x->gate_se);
        if (rc != GRAFT_OK)
            return rc;
    }
    if (x->valid_transfer <= x->valid_target) {
        x->gate = "transfer";
        x->best_epoch = transfer_epoch;
        graft_engine_unsave(e, "fallback.user");
        graft_engine_unsave(e, "fallback.item");
    } else if (!x->cfg->refit) {
        /* Transfer did worse on held-out ratings of warm users: they are answered by the
         * target-only model as selected. Cold users, who have no target ratings, keep the
         * transfer model's rows: nothing else knows them. */
        x->gate = "target-only";
        x->best_epoch = fallback_epoch;
        x->valid_score = graft_engine_valid_score(e, &x->valid_recall);
        x->stopped_early = graft_engine_stopped_early(e);
        x->only = fb;
        graft_engine_rename_saved(e, "fallback.user", "target-only.user");
        graft_engine_rename_saved(e, "fallback.item", "target-only.item");
    } else {
        /* ... or by a target-only model trained on all their ratings, held-out ones included,
         * from the same start and order as a none job: that model is the none job's. */
        x->gate = "target-only";
        x->best_epoch = fallback_epoch;
        x->valid_score = graft_engine_valid_score(e, &x->valid_recall);
        x->stopped_early = graft_engine_stopped_early(e);
        graft_engine_unsave(e, "fallback.user");
        graft_engine_unsave(e, "fallback.item");
        x->only = fb;
        rc = graft_engine_create_domain(e, x->c, &x->only, "target-only.user", "target-only.item",
                                        2);
        if (rc != GRAFT_OK)
            return rc;
        *t = x->only;
        graft_engine_bind(e, 0, x->only.utab, x->only.uwidth);
        graft_engine_bind(e, 1, x->only.itab, k1);
        uint64_t n = full->n, gn;
        graft_job_allreduce(x->job->role_comm, &n, &gn, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
        graft_engine_set_refit(e, 1);
        rc = graft_engine_run_phase(e, x->c, "fallback", full, gn, fallback_epoch, 1);
        graft_engine_set_refit(e, 0);
        *t = kept;
        if (rc != GRAFT_OK)
            return rc;
        x->refitted = 1;
    }
    if (strcmp(x->gate, "target-only") == 0) {
        x->warm_fallback = 1;
        graft_engine_set_eval(e, &x->d->warm, &x->only, x->g_warm, &x->d->cold, x->g_cold);
    }
    if (x->job->index == 0)
        GRAFT_LOG_INFO("GRAFT-TRANSFER-GATE",
                       "held-out target %s %.4f with transfer (epoch %d), %.4f target-only "
                       "(epoch %d): keeping %s",
                       x->cfg->loss != GRAFT_LOSS_SQUARED ? "NDCG" : "RMSE",
                       fabs(x->valid_transfer), transfer_epoch, fabs(x->valid_target),
                       fallback_epoch, x->gate);
    return GRAFT_OK;
}

/* After the gate kept transfer: fresh tables for what target ratings train (the target tables of
 * seed, all tables of joint), named refit.* on the servers and saved under the usual names, and
 * the target stream becomes `full` (all its training ratings; full gets the held-out stream
 * back). The caller then re-seeds (seed) and trains again. */
static graft_err
refit(xfer *x, graft_ratings *full, int joint)
{
    graft_engine *e = x->e;
    graft_domain *s = graft_engine_domain(e, GRAFT_DOM_SOURCE),
                 *t = graft_engine_domain(e, GRAFT_DOM_TARGET);
    int k = graft_engine_dim(e);
    uint32_t k1 = (uint32_t)k + 1;
    graft_err rc;
    if (joint) {
        rc = graft_engine_create_model_table(e, x->c, "refit.user", k1, (uint32_t)k,
                                             (graft_optim_kind)x->cfg->optimizer, 0, &s->utab);
        t->utab = s->utab;
        if (rc == GRAFT_OK)
            rc = graft_engine_create_domain(e, x->c, s, NULL, "refit.source.item", 1);
        if (rc == GRAFT_OK)
            rc = graft_engine_create_domain(e, x->c, t, NULL, "refit.target.item", 2);
        graft_engine_bind(e, 0, s->utab, k1);
        graft_engine_bind(e, 1, s->itab, k1);
        graft_engine_bind(e, 2, t->itab, k1);
    } else {
        rc = graft_engine_create_domain(e, x->c, t, "refit.target.user", "refit.target.item", 2);
    }
    if (rc != GRAFT_OK)
        return rc;
    static const char *const joint_names[3] = {"user", "source.item", "target.item"};
    static const char *const seed_names[2] = {"target.user", "target.item"};
    for (int i = 0; i < (joint ? 3 : 2); i++) {
        const char *name = joint ? joint_names[i] : seed_names[i];
        char refit[GRAFT_TABLE_NAME_MAX];
        snprintf(refit, sizeof refit, "refit.%s", name);
        graft_engine_unsave(e, name);
        graft_engine_rename_saved(e, refit, name);
    }
    /* From here on the target trains on all its ratings. */
    graft_ratings tmp = x->d->tgt;
    x->d->tgt = *full;
    *full = tmp;
    uint64_t n = x->d->tgt.n;
    graft_job_allreduce(x->job->role_comm, &n, &x->g_tgt, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    return GRAFT_OK;
}

/* Final evaluation, summary record and summary lines. */
static graft_err
finish(xfer *x, const char *mode, int epochs, const double base[4], double seconds)
{
    double te[4];
    graft_err rc = graft_engine_evaluate_target(x->e, x->c, te);
    if (rc != GRAFT_OK)
        return rc;
    uint64_t bad = x->d->bad_lines, gbad;
    graft_job_allreduce(x->job->role_comm, &bad, &gbad, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    if (x->job->index != 0)
        return GRAFT_OK;
    uint64_t gw = x->g_warm, gc = x->g_cold;
    graft_summary_metrics sm = {
        .test_rmse = graft_engine_ratio(te[0] + te[2], gw + gc, 1),
        .test_mae = graft_engine_ratio(te[1] + te[3], gw + gc, 0),
        .epochs = epochs,
        .seconds = seconds,
        .updates_per_s = graft_engine_updates(x->e) / graft_engine_train_seconds(x->e),
        .servers = x->job->nservers,
        .workers = x->job->nworkers,
        .bad_lines = gbad,
        .train_ratings = x->g_src + x->g_tgt,
        .test_ratings = gw + gc,
        .train_rmse = graft_engine_last_train_rmse(x->e),
        .train_loss = graft_engine_last_train_loss(x->e),
        .duplicate_pairs = x->d->dups.pairs,
        .duplicate_ratings = x->d->dups.extra,
        .duplicates = graft_dataset_dup_names[x->cfg->duplicates],
        .transfer = mode,
        .warm_rmse = graft_engine_ratio(te[0], gw, 1),
        .warm_mae = graft_engine_ratio(te[1], gw, 0),
        .cold_rmse = graft_engine_ratio(te[2], gc, 1),
        .cold_mae = graft_engine_ratio(te[3], gc, 0),
        .cold_users = x->co.n_cold,
        .cold_ratings = gc,
        .warm_ratings = gw,
        .overlap_users = x->co.n_overlap,
        .base_item_warm_rmse = graft_engine_ratio(base[0], gw, 1),
        .base_item_cold_rmse = graft_engine_ratio(base[1], gc, 1),
        .base_item_user_warm_rmse = graft_engine_ratio(base[2], gw, 1),
        .base_item_user_cold_rmse = graft_engine_ratio(base[3], gc, 1),
        .gate = x->gate,
        .gate_ranked = x->cfg->loss != GRAFT_LOSS_SQUARED,
        .valid_transfer = fabs(x->valid_transfer),
        .valid_target = fabs(x->valid_target),
        .gate_gain = x->gate_gain,
        .gate_se = x->gate_se,
        .valid_ratings = x->g_valid,
        .best_epoch = x->best_epoch,
        .stopped_early = x->stopped_early,
        .refit = x->refitted,
        .rank_k = (int)x->cfg->rank_k,
    };
    int ranked = x->cfg->loss != GRAFT_LOSS_SQUARED;
    sm.valid_rmse = x->g_valid && !ranked ? x->valid_score : NAN;
    sm.valid_ndcg = x->g_valid && ranked ? x->valid_score : NAN;
    sm.valid_recall = x->g_valid ? x->valid_recall : NAN;
    sm.valid_cold_users = x->co.n_valid_cold;
    sm.valid_cold_ratings = x->g_vcold;
    sm.valid_cold_rmse = x->g_vcold && !ranked ? x->valid_cold : NAN;
    sm.valid_cold_ndcg = x->g_vcold && ranked ? x->valid_cold : NAN;
    sm.valid_cold_recall = x->g_vcold && ranked ? x->valid_cold_recall : NAN;
    sm.selected_on_cold = x->g_vcold && x->cfg->transfer != GRAFT_TRANSFER_NONE;
    graft_metrics_summary(graft_engine_metrics(x->e), &sm);
    if (x->gate && sm.gate_ranked)
        printf("gate: held-out target NDCG %.4f with transfer, %.4f target-only, paired gain "
               "%+.4f (se %.4f): kept %s\n",
               sm.valid_transfer, sm.valid_target, sm.gate_gain, sm.gate_se, x->gate);
    else if (x->gate)
        printf("gate: held-out target RMSE %.4f with transfer, %.4f target-only: kept %s\n",
               sm.valid_transfer, sm.valid_target, x->gate);
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

/* The cold-start protocol, from global facts every worker computes alike: the users of both
 * domains, the cold ones, and the target's training, warm and cold sets. */
static graft_err
protocol(xfer *x)
{
    const graft_config *cfg = x->cfg;
    graft_err rc = graft_cohort_build(&x->co, &x->d->src, &x->d->tgt, x->job->role_comm,
                                      cfg->cold_start_users, (uint64_t)cfg->seed);
    if (rc == GRAFT_OK)
        rc = graft_cohort_partition(&x->d->tgt, &x->d->warm, &x->d->cold, x->co.cold_users,
                                    x->co.n_cold, cfg->warm_test_fraction, cfg->target_test != NULL,
                                    (uint64_t)cfg->seed);
    /* Validation cold users: a draw among the other overlap users, held out like cold ones. */
    if (rc == GRAFT_OK && cfg->validation_cold_users > 0) {
        rc = graft_cohort_pick_valid(&x->co, cfg->validation_cold_users, (uint64_t)cfg->seed);
        if (rc == GRAFT_OK)
            rc = graft_cohort_move_users(&x->d->tgt, x->co.valid_cold, x->co.n_valid_cold,
                                         &x->vcold);
        rc = graft_job_agree_ok(x->job->role_comm, rc);
        uint64_t n = x->vcold.n;
        graft_job_allreduce(x->job->role_comm, &n, &x->g_vcold, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
        if (rc == GRAFT_OK && x->g_vcold == 0) {
            if (x->job->index == 0)
                GRAFT_LOG_ERROR("GRAFT-VALIDATION",
                                "%s: --validation-cold-users %g leaves no validation cold user "
                                "(%zu users in both domains, %zu of them cold)",
                                cfg->target, cfg->validation_cold_users, x->co.n_overlap,
                                x->co.n_cold);
            rc = GRAFT_ERR_PARSE;
        }
        if (rc == GRAFT_OK && x->job->index == 0 && !cfg->quiet)
            printf("graft: %zu validation cold users (%llu target ratings held out) choose the "
                   "epochs\n",
                   x->co.n_valid_cold, (unsigned long long)x->g_vcold);
    }
    if (rc == GRAFT_OK)
        trace_cold(x);
    return rc;
}

/* The validation share (a seeded fraction of the target's training ratings) into valid, and
 * full = every target training rating, the validation cold users' too, for the refit
 * (collective). */
static graft_err
hold_out(xfer *x, double fraction, graft_ratings *valid, graft_ratings *full)
{
    const graft_config *cfg = x->cfg;
    if (fraction <= 0 && !x->g_vcold)
        return GRAFT_OK;
    graft_ratings *tgt = &x->d->tgt;
    graft_err rc = GRAFT_OK;
    if (fraction > 0)
        rc = graft_holdout(tgt, fraction, (uint64_t)cfg->seed ^ 0x76616c6964ULL, valid);
    /* In the file's order: the refit's stream. */
    for (size_t j = 0; j < tgt->n && rc == GRAFT_OK; j++)
        rc = graft_ratings_append(full, tgt->v[j]);
    for (size_t j = 0; j < valid->n && rc == GRAFT_OK; j++)
        rc = graft_ratings_append(full, valid->v[j]);
    for (size_t j = 0; j < x->vcold.n && rc == GRAFT_OK; j++)
        rc = graft_ratings_append(full, x->vcold.v[j]);
    rc = graft_job_agree_ok(x->job->role_comm, rc);
    uint64_t n = valid->n;
    graft_job_allreduce(x->job->role_comm, &n, &x->g_valid, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    if (rc == GRAFT_OK && fraction > 0 && x->g_valid == 0) {
        if (x->job->index == 0)
            GRAFT_LOG_ERROR("GRAFT-VALIDATION",
                            "%s: a validation fraction of %g leaves no validation rating",
                            cfg->target, fraction);
        rc = GRAFT_ERR_PARSE;
    }
    x->valid = valid;
    return rc;
}

/* The modes on the engine's phases, the gate and its refit. */
static graft_err
run(xfer *x)
{
    const graft_config *cfg = x->cfg;
    double t0 = graft_clock_now();
    graft_err rc = protocol(x);
    if (rc != GRAFT_OK)
        return rc;
    /* The validation share: --validation-fraction of the target's training ratings (of warm
     * users: cold users have none; by default --gate-fraction's), held out the way a plain job
     * holds them out. Every mode picks its epochs on it; seed and joint, which put source
     * knowledge into warm users' rows too, also gate on it. */
    graft_ratings valid = {0}, full = {0};
    int mode = cfg->transfer;
    int ranking = cfg->loss != GRAFT_LOSS_SQUARED;
    int gated = cfg->transfer_gate && (mode == GRAFT_TRANSFER_SEED || mode == GRAFT_TRANSFER_JOINT);
    double fraction = graft_config_given(cfg, "validation-fraction") ? cfg->validation_fraction
                                                                     : cfg->gate_fraction;
    gated = gated && fraction > 0;
    rc = hold_out(x, fraction, &valid, &full);
    static const char *const names[] = {"none", "seed", "map", "joint"};
    if (rc == GRAFT_OK)
        rc = setup_domains(x, mode == GRAFT_TRANSFER_JOINT, (float)cfg->lambda);
    if (rc == GRAFT_OK && x->job->index == 0 && !cfg->quiet)
        printf("graft: transfer %s; %zu source users, %zu target users, %zu in both, %zu of them "
               "cold; %d servers x %d workers, dim %d\n",
               names[mode], x->co.n_src_users, x->co.n_tgt_users, x->co.n_overlap, x->co.n_cold,
               x->job->nservers, x->job->nworkers, graft_engine_dim(x->e));
    double base[4];
    if (rc == GRAFT_OK)
        rc = graft_baselines_run(cfg, x->job, x->e, x->d, x->c, base);
    int src_epochs = cfg->source_epochs ? (int)cfg->source_epochs : (int)cfg->epochs;
    int epochs = (int)cfg->epochs;
    /* map: the cold users' rows, and those of validation cold users (who train only in a
     * refit: until then they are fitted on by nobody and mapped like cold users). */
    uint64_t *held = NULL;
    size_t nheld = 0;
    if (rc == GRAFT_OK)
        rc = graft_cohort_union(x->co.cold_users, x->co.n_cold, x->co.valid_cold,
                                x->co.n_valid_cold, &held, &nheld);
    rc = graft_job_agree_ok(x->job->role_comm, rc);
    graft_map_users mu = {x->co.overlap, x->co.n_overlap, held, nheld, held, nheld};
    x->mvu = (graft_map_users){x->co.overlap, x->co.n_overlap,  held,
                               nheld,         x->co.valid_cold, x->co.n_valid_cold};
    int validated = x->g_valid || x->g_vcold;
    if (rc == GRAFT_OK) {
        switch (mode) {
        case GRAFT_TRANSFER_NONE:
            rc = train(x, PHASE_TARGET, epochs);
            break;
        case GRAFT_TRANSFER_SEED:
            rc = cfg->source_model ? load_source(x) : train(x, PHASE_SOURCE, src_epochs);
            if (rc == GRAFT_OK)
                rc = seed_target(x);
            if (ranking) {
                /* iALS solves a row exactly, so a start alone is forgotten: warm users are
                 * regularised toward their source rows instead. */
                graft_domain *t = graft_engine_domain(x->e, GRAFT_DOM_TARGET);
                t->has_prior = 1;
                t->prior_utab = graft_engine_domain(x->e, GRAFT_DOM_SOURCE)->utab;
            }
            if (rc == GRAFT_OK)
                rc = train(x, PHASE_TARGET, epochs);
            break;
        case GRAFT_TRANSFER_MAP:
            rc = cfg->source_model ? load_source(x) : train(x, PHASE_SOURCE, src_epochs);
            if (rc == GRAFT_OK)
                rc = train(x, PHASE_TARGET, epochs);
            /* A refit to come replaces the target rows the map is fitted on. */
            if (rc == GRAFT_OK && !(validated && cfg->refit))
                rc = graft_map_cold_users(cfg, x->job, x->e, x->c, &mu);
            break;
        case GRAFT_TRANSFER_JOINT:
            rc = train(x, PHASE_JOINT, epochs);
            break;
        }
    }
    if (rc == GRAFT_OK && gated)
        rc = gate(x, &full, epochs);
    /* Validated, so (--refit) train again on every target training rating, the held-out ones
     * too, for the best epoch's number of epochs; map fits its map again on the new rows. */
    if (rc == GRAFT_OK && validated && cfg->refit && !x->refitted && x->best_epoch > 0) {
        int joint = mode == GRAFT_TRANSFER_JOINT;
        if (x->job->index == 0 && !cfg->quiet)
            printf("graft: refit on every target training rating for %d epochs\n", x->best_epoch);
        rc = refit(x, &full, joint);
        x->refitted = 1;
        graft_engine_set_refit(x->e, 1);
        if (rc == GRAFT_OK && mode == GRAFT_TRANSFER_SEED)
            rc = seed_target(x);
        if (rc == GRAFT_OK)
            rc = train(x, joint ? PHASE_JOINT : PHASE_TARGET, x->best_epoch);
        /* The validation cold users trained now: fitted on, not mapped. */
        mu = (graft_map_users){x->co.overlap, x->co.n_overlap,  x->co.cold_users,
                               x->co.n_cold,  x->co.cold_users, x->co.n_cold};
        if (rc == GRAFT_OK && mode == GRAFT_TRANSFER_MAP)
            rc = graft_map_cold_users(cfg, x->job, x->e, x->c, &mu);
        graft_engine_set_refit(x->e, 0);
    }
    graft_free(held);
    graft_ratings_free(&valid);
    graft_ratings_free(&full);
    if (rc == GRAFT_OK)
        rc = finish(x, names[mode], epochs, base, graft_clock_now() - t0);
    graft_save_transfer st = {x->co.cold_users, x->co.n_cold, x->warm_fallback, x->co.valid_cold,
                              x->co.n_valid_cold};
    if (rc == GRAFT_OK)
        rc = graft_save_model(cfg, x->job, x->e, x->d, x->c, &st);
    return rc;
}

graft_err
graft_transfer_run(const graft_config *cfg, const graft_job *job, graft_engine *e, graft_dataset *d,
                   graft_client *c)
{
    xfer x = {.cfg = cfg, .job = job, .e = e, .d = d, .c = c};
    graft_err rc = run(&x);
    graft_cohort_free(&x.co);
    graft_ratings_free(&x.vcold);
    return rc;
}
