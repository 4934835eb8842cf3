/* The engine's state, shared with the objectives that plug into it (worker/objective.h) and
 * nothing else: drivers use worker/engine.h. */
#ifndef GRAFT_ENGINE_INTERNAL_H
#define GRAFT_ENGINE_INTERNAL_H

#include "background.h"
#include "blocks.h"
#include "checkpoint.h"
#include "engine.h"
#include "keymap.h"
#include "objective.h"
#include "rankeval.h"
#include "select.h"

#include <stdio.h>

#define GRAFT_ENGINE_EVAL_BATCH 4096
/* Batch plane: about this many batches make one consistency clock. */
#define GRAFT_ENGINE_CLOCK_BATCHES 64
/* Keyset slots: training binds 0..2 per phase, evaluation and the baselines use 4 and 5. */
#define GRAFT_ENGINE_SLOTS 6

/* The distinct keys of one batch for one table, their pulled rows and summed gradients. */
typedef struct {
    graft_keymap *map;
    uint64_t *keys;
    float *rows, *grads;
    uint32_t n, cap;
    uint32_t table, width; /* bound per phase */
    int active;
} graft_keyset;

/* A batch's keysets and, per rating, where its user and item sit in them. */
typedef struct {
    graft_keyset *ks;
    uint32_t *uidx, *iidx;
} graft_bank;

struct graft_engine {
    const graft_config *cfg;
    const graft_job *job;
    int k, lead;
    graft_domain dom[2];
    graft_keyset ks[GRAFT_ENGINE_SLOTS];
    uint32_t *uidx, *iidx;
    /* --prefetch: the next batch's keysets, filled by the prefetch thread while this one
     * trains. */
    graft_keyset ks2[GRAFT_ENGINE_SLOTS];
    uint32_t *uidx2, *iidx2;
    size_t batch_cap;
    uint64_t clock; /* the servers' barrier clock */
    /* Consistency: clocks per epoch and what the ticks saw. */
    graft_clockstate cs;
    uint64_t clocks_per_epoch;
    graft_blocks *blk;             /* the block plane of a plain job, else NULL */
    graft_client *prefetch_client; /* borrowed: a second connection to the servers */
    graft_background *background;  /* --prefetch's thread, made once */
    const graft_objective_ops *obj;
    void *obj_state; /* the objective's, between its begin and end */
    /* The model's tables, in creation order, for --save; every table, for checkpoints. */
    int nsaved, nck;
    graft_saved_table saved[8], ck[8];
    /* What is evaluated after an epoch: the warm set against warm_dom, the cold set against the
     * target domain; counts over every worker. */
    const graft_ratings *warm, *cold;
    const graft_domain *warm_dom;
    uint64_t g_warm, g_cold;
    /* A ranking objective's per-epoch NDCG and Recall of the warm (plain: test) and cold sets,
     * made at the start of a phase that trains the target from its stream, freed at its end. */
    graft_rankeval *rank[2];
    /* --validation-fraction's held-out share (the block plane holds its own copy; g_valid
     * counts it over every worker), its ranking evaluation, and --early-stopping's best epoch
     * so far (its rows kept on the servers by best) in a phase (worker/engine_select.c). */
    const graft_ratings *valid;
    uint64_t g_valid;
    graft_rankeval *rank_valid;
    /* --validation-cold-users: their held-out target ratings, whether they choose the epoch,
     * and the driver's step before they are scored (map's rows for them). */
    const graft_ratings *vcold;
    uint64_t g_vcold;
    int vcold_selects;
    graft_rankeval *rank_vcold;
    graft_engine_cold_prep vcold_prep;
    void *vcold_ctx;
    graft_best *best;
    int best_epoch, stopped_early, epochs_run;
    double best_score;
    /* --resume: the checkpoint's selection state, for the plain phase that goes on. */
    int resumed_select, resumed_best_epoch;
    double resumed_best_score;
    /* The validation scores of the rows the phase ended with. */
    double final_score, final_recall, final_cold, final_cold_recall;
    graft_engine_epoch_hook hook;
    void *hook_ctx;
    int first_epoch;
    int refit; /* the phases now run are --refit's */
    double updates, train_seconds, last_train_rmse, last_train_loss;
    /* An objective with a loss of its own (BPR) adds it here during an epoch: the sum over its
     * loss_n terms; the engine reports the mean as train_loss and clears both. */
    double epoch_loss;
    uint64_t epoch_loss_n;
    FILE *mf;
};

/* Collects the distinct users and items of r[0..n) in the keysets their domains name (us[d],
 * is[d]) and pulls their rows, every table in one round trip. */
graft_err graft_engine_gather(graft_client *c, graft_bank b, const graft_rating *r, size_t n,
                              int create, const int *us, const int *is);
/* Pushes the summed gradients of every active keyset, without waiting. */
graft_err graft_engine_scatter(graft_client *c, graft_bank b);
/* The live progress bar of worker 0 on a terminal (--progress bar). */
void graft_engine_progress(graft_engine *e, const char *phase, int epoch, size_t done, size_t total,
                           double t0);

/* Model selection (worker/engine_select.c), called by run_phase: begin builds the validation's
 * ranking sets and the best epoch's shadow tables (collective); epoch notes the epoch's score
 * and keeps its rows when they are the best so far, and sets *stop after --early-stopping
 * epochs without one; end puts the best epoch's rows back when a later one ended the phase. */
graft_err graft_engine_select_begin(graft_engine *e, graft_client *c, const char *phase,
                                    const graft_ratings *stream);
graft_err graft_engine_select_epoch(graft_engine *e, graft_client *c, int epoch, double score,
                                    int *stop);
graft_err graft_engine_select_end(graft_engine *e, graft_client *c, int last_epoch);
void graft_engine_select_free(graft_engine *e);

#endif
