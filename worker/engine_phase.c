/* The engine's phases: a phase's set-up (its objective, ranking evaluation and early
 * stopping), its epochs, and what each epoch writes to the metrics file and prints. */
#include "alloc.h"
#include "clock.h"
#include "engine_internal.h"
#include "job.h"
#include "log.h"
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void
trace_stream(graft_engine *e, const char *phase, const graft_ratings *r)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-worker%d.txt", e->cfg->trace_dir, phase, e->job->index);
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

static graft_err run_epochs(graft_engine *e, graft_client *c, const char *phase,
                            graft_ratings *stream, uint64_t global_n, int epochs, int eval);

/* A ranking objective's evaluation sets for a phase that trains the target (collective): the
 * warm (or plain test) and cold sets, each user's training items of the stream left out. */
static graft_err
rank_begin(graft_engine *e, const char *phase, const graft_ratings *stream, int eval)
{
    const graft_config *cfg = e->cfg;
    if (!e->obj->ranking || !eval || (phase && strcmp(phase, "source") == 0))
        return GRAFT_OK;
    graft_rankeval_opts o = {
        .domain = GRAFT_DOM_TARGET, /* a plain job's ratings are the target's too */
        .min_rating = (float)cfg->min_rating,
        .k = (int)cfg->rank_k,
        .max_users = (size_t)cfg->eval_users,
        .seed = (uint64_t)cfg->seed ^ 0x52414e4bULL,
    };
    /* Validation ratings are the users' too: left out of their test rankings, as graft eval
     * --seen TRAIN leaves out every training rating. */
    graft_err rc = graft_rankeval_create(e->job, e->warm, stream, e->valid, &o, &e->rank[0]);
    if (rc == GRAFT_OK && e->cold)
        rc = graft_rankeval_create(e->job, e->cold, stream, e->valid, &o, &e->rank[1]);
    return rc;
}

/* NDCG and Recall of the phase's sets on the servers' rows now: [warm ndcg, recall, cold ...]. */
static graft_err
rank_epoch(graft_engine *e, graft_client *c, double out[4])
{
    for (int j = 0; j < 4; j++)
        out[j] = NAN;
    for (int s = 0; s < 2; s++) {
        if (!e->rank[s])
            continue;
        const graft_domain *d = s == 0 && e->warm_dom ? e->warm_dom : &e->dom[GRAFT_DOM_TARGET];
        graft_rankeval_model m = {d->utab, d->uwidth, d->itab, e->k};
        uint64_t users;
        graft_err rc =
            graft_rankeval_run(e->rank[s], e->job, c, &m, &out[2 * s], &out[2 * s + 1], &users);
        if (rc != GRAFT_OK)
            return rc;
    }
    return GRAFT_OK;
}

graft_err
graft_engine_run_phase(graft_engine *e, graft_client *c, const char *phase, graft_ratings *stream,
                       uint64_t global_n, int epochs, int eval)
{
    const graft_config *cfg = e->cfg;
    if (cfg->trace_dir && phase)
        trace_stream(e, phase, stream);
    if (!e->blk) { /* the batch plane: every worker ticks as often as the busiest needs */
        uint64_t mine = (stream->n + (uint64_t)cfg->batch - 1) / (uint64_t)cfg->batch, most;
        graft_job_allreduce(e->job->role_comm, &mine, &most, 1, GRAFT_JOB_U64, GRAFT_JOB_MAX);
        e->clocks_per_epoch = (most + GRAFT_ENGINE_CLOCK_BATCHES - 1) / GRAFT_ENGINE_CLOCK_BATCHES;
    }
    if (e->obj->begin) {
        graft_err rc = e->obj->begin(e, c, stream);
        if (rc != GRAFT_OK)
            return rc;
    }
    graft_err rc = rank_begin(e, phase, stream, eval);
    if (rc == GRAFT_OK)
        rc = graft_engine_select_begin(e, c, phase, stream);
    if (rc == GRAFT_OK)
        rc = run_epochs(e, c, phase, stream, global_n, epochs, eval);
    if (rc == GRAFT_OK)
        rc = graft_engine_select_end(e, c, e->epochs_run);
    graft_engine_select_free(e);
    for (int s = 0; s < 2; s++)
        graft_rankeval_destroy(&e->rank[s]);
    if (e->obj->end)
        e->obj->end(e);
    return rc;
}

/* The epoch's line on stdout: the phase, the training loss, the phase's test scores and the
 * validation score. */
static void
print_epoch(const char *phase, int refit, int eval, int epochs, const graft_epoch_metrics *em)
{
    if (phase || refit)
        printf("%-6s ", phase ? phase : "refit");
    if (isnan(em->train_loss))
        printf("epoch %3d/%d  train_rmse %.4f", em->epoch, epochs, em->train_rmse);
    else
        printf("epoch %3d/%d  train_loss %.4f", em->epoch, epochs, em->train_loss);
    if (em->rank_k && phase)
        printf("  warm_ndcg@%d %.4f  cold_ndcg@%d %.4f", em->rank_k, em->warm_ndcg, em->rank_k,
               em->cold_ndcg);
    else if (em->rank_k)
        printf("  test_ndcg@%d %.4f  test_recall@%d %.4f", em->rank_k, em->test_ndcg, em->rank_k,
               em->test_recall);
    else if (phase && eval)
        printf("  warm_rmse %.4f  cold_rmse %.4f", em->warm_rmse, em->cold_rmse);
    else if (eval)
        printf("  test_rmse %.4f  test_mae %.4f", em->test_rmse, em->test_mae);
    if (!isnan(em->valid_rmse))
        printf("  valid_rmse %.4f", em->valid_rmse);
    else if (!isnan(em->valid_ndcg))
        printf("  valid_ndcg@%d %.4f", em->rank_k, em->valid_ndcg);
    if (!isnan(em->valid_cold_rmse))
        printf("  valid_cold_rmse %.4f", em->valid_cold_rmse);
    else if (!isnan(em->valid_cold_ndcg))
        printf("  valid_cold_ndcg@%d %.4f", em->rank_k, em->valid_cold_ndcg);
    printf("  %6.2f s  %.3g updates/s\n", em->seconds, em->updates_per_s);
    fflush(stdout);
}

static graft_err
run_epochs(graft_engine *e, graft_client *c, const char *phase, graft_ratings *stream,
           uint64_t global_n, int epochs, int eval)
{
    const graft_config *cfg = e->cfg;
    int first = phase ? 1 : e->first_epoch + 1;
    e->epochs_run = first - 1;
    /* Resumed after early stopping's patience ran out (the checkpoint of the epoch it stopped
     * at): nothing is left to train. */
    if (e->best && e->best_epoch > 0 && first - 1 - e->best_epoch >= cfg->early_stopping) {
        e->stopped_early = 1;
        if (e->lead && !cfg->quiet)
            printf("graft: early stopping had ended the checkpointed run after epoch %d: no "
                   "epoch is left to train\n",
                   first - 1);
        first = epochs + 1;
    }
    for (int epoch = first; epoch <= epochs; epoch++) {
        double e0 = graft_clock_now(), sse;
        int shuffle = phase ? (strcmp(phase, "fallback") == 0 ? 't' : phase[0]) : 0;
        graft_epoch_args a = {
            .seed = (uint64_t)cfg->seed * 1000003u + (uint64_t)epoch * 7919u +
                    (uint64_t)e->job->index + ((uint64_t)shuffle << 32),
            .phase = phase,
            .epoch = epoch,
        };
        graft_blocks_times tm = {0, 0, 0}, gtm;
        e->epoch_loss = 0;
        e->epoch_loss_n = 0;
        graft_err rc = e->obj->epoch(e, c, stream, &a, &sse, &tm);
        /* Every push of the epoch is applied before anyone evaluates. */
        if (rc == GRAFT_OK)
            rc = graft_engine_barrier(e, c);
        if (rc != GRAFT_OK)
            return rc;
        double e1 = graft_clock_now();
        double gsse, te[4] = {0, 0, 0, 0}, wait_s;
        uint64_t stale;
        graft_job_allreduce(e->job->role_comm, &sse, &gsse, 1, GRAFT_JOB_F64, GRAFT_JOB_SUM);
        graft_job_allreduce(e->job->role_comm, &e->cs.wait_s, &wait_s, 1, GRAFT_JOB_F64,
                            GRAFT_JOB_MAX);
        graft_job_allreduce(e->job->role_comm, &tm, &gtm, 3, GRAFT_JOB_F64, GRAFT_JOB_MAX);
        graft_job_allreduce(e->job->role_comm, &e->cs.staleness, &stale, 1, GRAFT_JOB_U64,
                            GRAFT_JOB_MAX);
        double gloss;
        uint64_t gloss_n;
        graft_job_allreduce(e->job->role_comm, &e->epoch_loss, &gloss, 1, GRAFT_JOB_F64,
                            GRAFT_JOB_SUM);
        graft_job_allreduce(e->job->role_comm, &e->epoch_loss_n, &gloss_n, 1, GRAFT_JOB_U64,
                            GRAFT_JOB_SUM);
        e->cs.wait_s = 0;
        e->cs.staleness = 0;
        if (eval && (rc = graft_engine_evaluate_target(e, c, te)) != GRAFT_OK)
            return rc;
        double rk[4];
        if ((rc = rank_epoch(e, c, rk)) != GRAFT_OK)
            return rc;
        int stop = 0;
        graft_engine_scores vs = {NAN, NAN, NAN, NAN, NAN};
        if ((e->g_valid || e->g_vcold) &&
            ((rc = graft_engine_validate(e, c, &vs)) != GRAFT_OK ||
             (rc = graft_engine_select_epoch(e, c, epoch, vs.select, &stop)) != GRAFT_OK))
            return rc;
        e->epochs_run = epoch;
        double e2 = graft_clock_now();
        e->updates += (double)global_n;
        e->train_seconds += e1 - e0;
        graft_epoch_metrics em = {
            .epoch = epoch,
            .train_rmse = graft_engine_ratio(gsse, global_n, 1),
            .test_rmse = eval ? graft_engine_ratio(te[0] + te[2], e->g_warm + e->g_cold, 1) : NAN,
            .test_mae = eval ? graft_engine_ratio(te[1] + te[3], e->g_warm + e->g_cold, 0) : NAN,
            .seconds = e2 - e0,
            .updates_per_s = (double)global_n / (e1 - e0),
            .phase = phase,
            .warm_rmse = eval ? graft_engine_ratio(te[0], e->g_warm, 1) : NAN,
            .cold_rmse = eval ? graft_engine_ratio(te[2], e->g_cold, 1) : NAN,
            .staleness = e->clocks_per_epoch ? (int64_t)stale : -1,
            .wait_seconds = wait_s,
            .pull_seconds = gtm.pull_s,
            .compute_seconds = e->blk || e->obj->times ? gtm.compute_s : NAN,
            .push_seconds = gtm.push_s,
            .train_loss = graft_engine_ratio(gloss, gloss_n, 0),
            .rank_k =
                e->rank[0] || e->rank[1] || e->rank_valid || e->rank_vcold ? (int)cfg->rank_k : 0,
            .valid_rmse = e->obj->ranking ? NAN : vs.score,
            .valid_ndcg = e->obj->ranking ? vs.score : NAN,
            .valid_recall = vs.recall,
            .valid_cold_rmse = e->obj->ranking ? NAN : vs.cold_score,
            .valid_cold_ndcg = e->obj->ranking ? vs.cold_score : NAN,
            .valid_cold_recall = vs.cold_recall,
            .refit = e->refit,
            .test_ndcg = phase ? NAN : rk[0],
            .test_recall = phase ? NAN : rk[1],
            .warm_ndcg = phase ? rk[0] : NAN,
            .warm_recall = phase ? rk[1] : NAN,
            .cold_ndcg = rk[2],
            .cold_recall = rk[3],
        };
        if (!phase || strcmp(phase, "target") == 0 || strcmp(phase, "joint") == 0) {
            e->last_train_rmse = em.train_rmse;
            e->last_train_loss = em.train_loss;
        }
        if (e->lead) {
            graft_metrics_epoch(e->mf, &em);
            if (!cfg->quiet)
                print_epoch(phase, e->refit, eval, epochs, &em);
        }
        if (!phase && e->hook && (rc = e->hook(e->hook_ctx, e, c, epoch)) != GRAFT_OK)
            return rc;
        if (stop) {
            if (e->lead && !cfg->quiet)
                printf("graft: early stopping after epoch %d: no better validation score for %lld "
                       "epochs\n",
                       epoch, (long long)cfg->early_stopping);
            break;
        }
    }
    return GRAFT_OK;
}
