#include "plain.h"
#include "alloc.h"
#include "checkpoint.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "save.h"
#include "select.h"
#include "store.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const graft_config *cfg;
    const graft_job *job;
    const graft_dataset *d;
} plain_ctx;

/* Every worker's state onto the servers, then worker 0 has them write checkpoint `epoch`. A
 * failure (disk full, say) ends the job; the previous checkpoint stays the newest complete one. */
static graft_err
checkpoint(void *arg, graft_engine *e, graft_client *c, int epoch)
{
    const plain_ctx *p = arg;
    const graft_config *cfg = p->cfg;
    if (cfg->checkpoint_every <= 0 || epoch % cfg->checkpoint_every != 0)
        return GRAFT_OK;
    graft_blocks *blk = graft_engine_blocks(e);
    graft_err rc = blk ? graft_blocks_store_users(blk) : GRAFT_OK;
    int code = GRAFT_OK;
    if ((rc = graft_job_agree_ok(p->job->role_comm, rc)) != GRAFT_OK)
        return rc;
    if (p->job->index == 0) {
        char err[8192];
        graft_manifest m;
        graft_save_manifest_head(e, p->d, p->job, NULL, &m);
        /* The model's tables and, with early stopping, the best epoch's shadows and how good
         * it was, so that a resumed job selects as this one would have. */
        int n, nb;
        const graft_saved_table *ck = graft_engine_checkpointed(e, &n);
        graft_saved_table tabs[16];
        memcpy(tabs, ck, (size_t)n * sizeof *tabs);
        nb = graft_engine_select_tables(e, &m.best_epoch, &m.best_score, tabs + n, 16 - n);
        m.has_select = cfg->validation_fraction > 0;
        m.valid_fraction = cfg->validation_fraction;
        rc = graft_checkpoint_write(c, cfg->checkpoint_dir, epoch, tabs, n + nb, &m, err,
                                    sizeof err);
        graft_manifest_free(&m);
        if (rc != GRAFT_OK)
            GRAFT_LOG_ERROR("GRAFT-CHECKPOINT-FAILED", "%s", err);
        else
            GRAFT_LOG_INFO("GRAFT-CHECKPOINT", "epoch %d checkpointed in %s/ckpt-%d", epoch,
                           cfg->checkpoint_dir, epoch);
        code = (int)rc;
    }
    graft_job_bcast_int(p->job->role_comm, &code, 0);
    return (graft_err)code;
}

/* --resume: worker 0 loads the checkpoint of the engine's first epoch (found and verified at
 * start) into the servers' tables. */
static graft_err
resume(const graft_config *cfg, const graft_job *job, graft_engine *e, graft_client *c)
{
    int code = GRAFT_OK, first = graft_engine_first_epoch(e), sel = 0, best = 0;
    double score = 0, gscore;
    if (job->index == 0) {
        char path[4096], err[8192];
        graft_manifest m;
        graft_store_checkpoint_dir(path, sizeof path, cfg->checkpoint_dir, (uint64_t)first);
        graft_err rc = graft_manifest_read(path, &m, err, sizeof err);
        if (rc == GRAFT_OK) {
            int n;
            const graft_saved_table *tabs = graft_engine_checkpointed(e, &n);
            rc = graft_checkpoint_load(c, first, &m, tabs, n, 0, err, sizeof err);
            sel = m.has_select && cfg->validation_fraction > 0;
            best = m.best_epoch;
            score = sel ? m.best_score : 0;
            graft_manifest_free(&m);
        }
        if (rc != GRAFT_OK)
            GRAFT_LOG_ERROR("GRAFT-RESUME-FAILED", "%s", err);
        else
            GRAFT_LOG_INFO("GRAFT-RESUME", "resumed from %s: training goes on at epoch %d", path,
                           first + 1);
        code = (int)rc;
    }
    graft_job_bcast_int(job->role_comm, &code, 0);
    graft_job_bcast_int(job->role_comm, &sel, 0);
    graft_job_bcast_int(job->role_comm, &best, 0);
    /* The score bit for bit: the others add zeros. */
    graft_job_allreduce(job->role_comm, &score, &gscore, 1, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    if (sel)
        graft_engine_resume_select(e, best, gscore);
    return (graft_err)code;
}

/* The block plane's tables: user rows (written back by the workers), item rows and their
 * row-wise AdaGrad accumulators as Sum tables (workers push differences); then the workers
 * exchange their ratings and build their blocks. */
static graft_err
create_block_tables(const graft_config *cfg, const graft_job *job, graft_engine *e,
                    graft_dataset *d, graft_client *c, graft_domain *dom, graft_ratings *valid,
                    const char *const names[2])
{
    uint32_t k = (uint32_t)graft_engine_dim(e);
    graft_blocks_tables tabs = {.mu = dom->mu, .rmin = dom->rmin, .rmax = dom->rmax};
    /* Sum tables (workers write user rows whole and push item differences), each row with its
     * AdaGrad accumulator as a last column that starts at zero and that --save leaves out. */
    uint32_t w = GRAFT_BLOCKS_WIDTH(k);
    graft_err rc =
        graft_engine_create_table(e, c, names[0], w, k, k + 1, GRAFT_OPTIM_SUM, 0, 1, &dom->utab);
    if (rc == GRAFT_OK)
        rc = graft_engine_create_table(e, c, names[1], w, k, k + 1, GRAFT_OPTIM_SUM,
                                       0x9e3779b97f4a7c15ULL, 1, &dom->itab);
    tabs.utab = dom->utab;
    tabs.itab = dom->itab;
    if (rc == GRAFT_OK && graft_engine_first_epoch(e))
        rc = resume(cfg, job, e, c);
    /* Every worker builds, also after a failure above, so that none waits in the exchange. */
    if ((rc = graft_job_agree_ok(job->role_comm, rc)) != GRAFT_OK)
        return rc;
    int owned = (d->tgt_owned ? 1 : 0) | (d->warm_owned || !cfg->test ? 2 : 0);
    graft_blocks *blk = NULL;
    rc = graft_blocks_create(cfg, job, c, graft_engine_prefetch_client(e),
                             graft_engine_consistency_bound(e), &tabs, &d->tgt, &d->warm, valid,
                             owned, &blk);
    if (rc != GRAFT_OK)
        GRAFT_LOG_ERROR("GRAFT-BLOCKS", "worker %d cannot build its blocks: %s", job->index,
                        graft_errname(rc));
    else
        graft_engine_set_blocks(e, blk, (uint64_t)graft_blocks_count(cfg, job->nworkers));
    return rc;
}

/* Worker 0: the summary record and line, with what the servers report. */
static graft_err
summary(const graft_config *cfg, const graft_job *job, graft_engine *e, const graft_dataset *d,
        graft_client *c, const uint64_t g[4], const double te[4], double seconds)
{
    uint64_t moved = 0, sbytes = 0, srows = 0, srss = 0, shm = 0;
    for (int s = 0; s < job->nservers; s++) {
        graft_server_stats st;
        graft_err rc = graft_client_stats(c, s, &st);
        if (rc != GRAFT_OK)
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
    graft_summary_metrics sm = {
        .plane = graft_engine_blocks(e) ? "block" : "batch",
        .bytes_moved = moved,
        .server_bytes = sbytes,
        .server_rows = srows,
        .server_peak_rss = srss,
        .shm_bytes = shm,
        .test_rmse = graft_engine_ratio(te[0], g[1], 1),
        .test_mae = graft_engine_ratio(te[1], g[1], 0),
        .epochs = graft_engine_epochs_run(e),
        .seconds = seconds,
        /* NaN when this run trained nothing (resumed after early stopping had ended it). */
        .updates_per_s = graft_engine_train_seconds(e) > 0
                             ? graft_engine_updates(e) / graft_engine_train_seconds(e)
                             : NAN,
        .servers = job->nservers,
        .workers = job->nworkers,
        .bad_lines = g[2],
        .train_ratings = g[0],
        .test_ratings = g[1],
        .train_rmse = graft_engine_last_train_rmse(e),
        .train_loss = graft_engine_last_train_loss(e),
        .valid_ratings = g[3],
        .best_epoch = graft_engine_best_epoch(e),
        .stopped_early = graft_engine_stopped_early(e),
        .refit = cfg->refit && g[3] > 0 && graft_engine_best_epoch(e) > 0,
        .rank_k = (int)cfg->rank_k,
        .duplicate_pairs = d->dups.pairs,
        .duplicate_ratings = d->dups.extra,
        .duplicates = graft_dataset_dup_names[cfg->duplicates],
    };
    double vrec, vs = graft_engine_valid_score(e, &vrec);
    int ranked = cfg->loss != GRAFT_LOSS_SQUARED;
    sm.valid_rmse = ranked ? NAN : vs;
    sm.valid_ndcg = ranked ? vs : NAN;
    sm.valid_recall = vrec;
    graft_metrics_summary(graft_engine_metrics(e), &sm);
    /* Without a test file there is no test figure to print (the metrics file has null). */
    printf("summary: ");
    if (g[1])
        printf("test_rmse %.4f  test_mae %.4f  ", sm.test_rmse, sm.test_mae);
    if (!isnan(sm.train_loss))
        printf("train_loss %.4f  ", sm.train_loss);
    else
        printf("train_rmse %.4f  ", sm.train_rmse);
    printf("epochs %d  seconds %.2f  updates/s %.3g  servers %d  workers %d  "
           "bad_lines %llu",
           sm.epochs, sm.seconds, sm.updates_per_s, sm.servers, sm.workers,
           (unsigned long long)sm.bad_lines);
    if (g[3] && ranked)
        printf("  valid_ndcg@%d %.4f  best_epoch %d", sm.rank_k, sm.valid_ndcg, sm.best_epoch);
    else if (g[3])
        printf("  valid_rmse %.4f  best_epoch %d", sm.valid_rmse, sm.best_epoch);
    printf("\n");
    fflush(stdout);
    return GRAFT_OK;
}

static graft_err train(const graft_config *cfg, const graft_job *job, graft_engine *e,
                       graft_dataset *d, graft_client *c, const uint64_t g[4], graft_ratings *full,
                       graft_ratings *test, double t0);

/* Copies of every training rating (the validation share too) and of the test set. */
static graft_err
keep_for_refit(const graft_dataset *d, const graft_ratings *valid, graft_ratings *full,
               graft_ratings *test)
{
    graft_err rc = GRAFT_OK;
    const graft_ratings *from[3] = {&d->tgt, valid, &d->warm};
    for (int s = 0; s < 3 && rc == GRAFT_OK; s++)
        for (size_t j = 0; j < from[s]->n && rc == GRAFT_OK; j++)
            rc = graft_ratings_append(s < 2 ? full : test, from[s]->v[j]);
    return rc;
}

/* --refit: fresh tables (seeded as the first ones were), trained on every training rating for
 * the best epoch's number of epochs, replace the selected model in --save. */
static graft_err
refit(const graft_config *cfg, const graft_job *job, graft_engine *e, graft_dataset *d,
      graft_client *c, graft_ratings *full, graft_ratings *test, uint64_t *g_tgt)
{
    graft_domain *dom = graft_engine_domain(e, GRAFT_DOM_TARGET);
    int k = graft_engine_dim(e), epochs = graft_engine_best_epoch(e);
    graft_engine_set_validation(e, NULL, 0);
    graft_engine_set_refit(e, 1);
    graft_engine_set_first_epoch(e, 0);
    graft_ratings_free(&d->tgt);
    graft_ratings_free(&d->warm);
    d->tgt = *full;
    d->warm = *test;
    *full = *test = (graft_ratings){0};
    uint64_t n = d->tgt.n;
    graft_job_allreduce(job->role_comm, &n, g_tgt, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    graft_engine_domain_stats(e, &d->tgt, dom, g_tgt);
    static const char *const names[2] = {"user", "item"};
    graft_err rc = graft_engine_blocks(e)
                       ? create_block_tables(cfg, job, e, d, c, dom, NULL, names)
                       : graft_engine_create_domain(e, c, dom, names[0], names[1], 0);
    if (rc != GRAFT_OK)
        return rc;
    graft_engine_bind(e, 0, dom->utab, dom->uwidth);
    graft_engine_bind(e, 1, dom->itab, (uint32_t)k + 1);
    uint64_t nw = d->warm.n, g_warm;
    graft_job_allreduce(job->role_comm, &nw, &g_warm, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    graft_engine_set_eval(e, &d->warm, dom, g_warm, NULL, 0);
    if (job->index == 0 && !cfg->quiet)
        printf("graft: refit on all %llu training ratings for %d epochs\n",
               (unsigned long long)*g_tgt, epochs);
    return graft_engine_run_phase(e, c, NULL, &d->tgt, *g_tgt, epochs, g_warm > 0);
}

graft_err
graft_plain_run(const graft_config *cfg, const graft_job *job, graft_engine *e, graft_dataset *d,
                graft_client *c)
{
    double t0 = graft_clock_now();
    graft_domain *dom = graft_engine_domain(e, GRAFT_DOM_TARGET);
    graft_ratings valid = {0};
    graft_err rc = GRAFT_OK;
    if (cfg->validation_fraction > 0)
        rc = graft_holdout(&d->tgt, cfg->validation_fraction, (uint64_t)cfg->seed ^ 0x76616c6964ULL,
                           &valid);
    rc = graft_job_agree_ok(job->role_comm, rc);
    uint64_t counts[4] = {d->tgt.n, d->warm.n, d->bad_lines, valid.n}, g[4];
    graft_job_allreduce(job->role_comm, counts, g, 4, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    uint64_t g_tgt = g[0], g_warm = g[1], g_valid = g[3];
    if (rc == GRAFT_OK && (g_tgt == 0 || (cfg->validation_fraction > 0 && g_valid == 0))) {
        if (job->index == 0 && g_tgt + g_valid == 0)
            GRAFT_LOG_ERROR("GRAFT-NO-DATA", "%s holds no ratings", cfg->train);
        else if (job->index == 0)
            GRAFT_LOG_ERROR("GRAFT-VALIDATION",
                            "%s: --validation-fraction %g leaves %llu training and %llu "
                            "validation ratings: both need some",
                            cfg->train, cfg->validation_fraction, (unsigned long long)g_tgt,
                            (unsigned long long)g_valid);
        rc = GRAFT_ERR_PARSE;
    }
    if (rc != GRAFT_OK) {
        graft_ratings_free(&valid);
        return rc;
    }
    graft_engine_domain_stats(e, &d->tgt, dom, &g_tgt);
    int k = graft_engine_dim(e);
    dom->uwidth = (uint32_t)k + 1;
    dom->ubias = k;
    dom->weight = 1;
    dom->uslot = 0;
    dom->islot = 1;
    *graft_engine_domain(e, GRAFT_DOM_SOURCE) = *dom;
    int block = cfg->plane == GRAFT_PLANE_BLOCK;
    graft_engine_set_validation(e, &valid, g_valid);
    /* --refit trains again on everything: keep what the block plane is about to consume. */
    graft_ratings full = {0}, test = {0};
    int refit = cfg->refit && g_valid > 0;
    if (refit)
        rc = graft_job_agree_ok(job->role_comm, keep_for_refit(d, &valid, &full, &test));
    /* With a refit to come, the selection run's tables are not the model: the refit's, named
     * user and item, are (and seeded alike, so they start where these did). */
    static const char *const model[2] = {"user", "item"}, *const select[2] = {"select.user",
                                                                              "select.item"};
    const char *const *names = refit ? select : model;
    if (rc == GRAFT_OK)
        rc = block ? create_block_tables(cfg, job, e, d, c, dom, &valid, names)
                   : graft_engine_create_domain(e, c, dom, names[0], names[1], 0);
    for (int i = 0; i < 2 && refit; i++)
        graft_engine_unsave(e, names[i]);
    if (rc == GRAFT_OK && !block && graft_engine_first_epoch(e))
        rc = resume(cfg, job, e, c);
    if (rc == GRAFT_OK)
        rc = graft_engine_open_metrics(e);
    if (rc == GRAFT_OK)
        rc = train(cfg, job, e, d, c, (const uint64_t[4]){g_tgt, g_warm, g[2], g_valid},
                   refit ? &full : NULL, &test, t0);
    graft_engine_set_validation(e, NULL, 0);
    graft_ratings_free(&valid);
    graft_ratings_free(&full);
    graft_ratings_free(&test);
    return rc;
}

/* After the tables: the epochs, the final evaluation, the summary and --save. */
static graft_err
train(const graft_config *cfg, const graft_job *job, graft_engine *e, graft_dataset *d,
      graft_client *c, const uint64_t g[4], graft_ratings *full, graft_ratings *test, double t0)
{
    uint64_t g_tgt = g[0], g_warm = g[1];
    graft_domain *dom = graft_engine_domain(e, GRAFT_DOM_TARGET);
    int k = graft_engine_dim(e);
    graft_err rc;
    graft_engine_bind(e, 0, dom->utab, dom->uwidth);
    graft_engine_bind(e, 1, dom->itab, (uint32_t)k + 1);
    graft_engine_set_eval(e, &d->warm, dom, g_warm, NULL, 0);
    plain_ctx ctx = {cfg, job, d};
    graft_engine_set_epoch_hook(e, checkpoint, &ctx);
    if (job->index == 0 && !cfg->quiet)
        printf("graft: %llu training ratings, %llu test ratings, mean %.4f, %d servers x %d "
               "workers, dim %d\n",
               (unsigned long long)g_tgt, (unsigned long long)g_warm, dom->mu, job->nservers,
               job->nworkers, k);
    rc = graft_engine_run_phase(e, c, NULL, &d->tgt, g_tgt, (int)cfg->epochs, g_warm > 0);
    graft_engine_set_epoch_hook(e, NULL, NULL);
    uint64_t gr[4] = {g[0], g[1], g[2], g[3]};
    if (rc == GRAFT_OK && full && graft_engine_best_epoch(e) > 0)
        rc = refit(cfg, job, e, d, c, full, test, &gr[0]);
    /* The servers hold the whole model once training ends. */
    if (rc == GRAFT_OK && graft_engine_blocks(e))
        rc = graft_blocks_store_users(graft_engine_blocks(e));
    if (rc != GRAFT_OK)
        return rc;
    double te[4] = {0, 0, 0, 0};
    if (g_warm && (rc = graft_engine_evaluate_target(e, c, te)) != GRAFT_OK)
        return rc;
    if (job->index == 0) {
        if ((rc = summary(cfg, job, e, d, c, gr, te, graft_clock_now() - t0)) != GRAFT_OK)
            return rc;
    }
    return graft_save_model(cfg, job, e, d, c, NULL);
}
