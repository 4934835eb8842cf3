/* The worker's training engine: a batch's key sets, gathering rows from the servers and
 * scattering gradients back, one epoch (through the objective, worker/objective.h), the
 * per-epoch evaluation and metrics, and declaring tables and domains. It knows no driver and no
 * transfer mode: the plain and transfer drivers (worker/plain.h, worker/transfer.h) decide what
 * is trained on which data, in which order. Not thread-safe: one engine per worker process,
 * used from its main thread (the prefetch threads it starts are its own). */
#ifndef GRAFT_ENGINE_H
#define GRAFT_ENGINE_H

#include "blocks.h"
#include "checkpoint.h"
#include "client.h"
#include "config.h"
#include "job.h"
#include "reader.h"

typedef struct graft_engine graft_engine;

enum { GRAFT_DOM_SOURCE = 0, GRAFT_DOM_TARGET = 1 };
/* Key set slots a driver binds tables to: 0..2 for training, EVAL_USERS and EVAL_ITEMS for
 * passes of its own (graft_engine_pass). */
enum { GRAFT_SLOT_EVAL_USERS = 4, GRAFT_SLOT_EVAL_ITEMS = 5 };

/* One domain's model: its tables, and where its rows sit in a batch. */
typedef struct {
    float mu, rmin, rmax;
    uint32_t utab, itab;
    uint32_t uwidth; /* k + 1 */
    int ubias;       /* column of this domain's user bias */
    int uslot, islot;
    float weight; /* of its ratings in the loss (lambda for the target of joint training) */
    /* iALS with seed transfer: the table whose rows the user rows are regularised toward (the
     * source users) when has_prior. */
    uint32_t prior_utab;
    int has_prior;
} graft_domain;

/* Called after each epoch's evaluation of a plain phase (checkpoints); a failure ends it. */
typedef graft_err (*graft_engine_epoch_hook)(void *ctx, graft_engine *e, graft_client *c,
                                             int epoch);

/* The engine of a job: batch buffers for --batch (and --prefetch). *out owns them. */
graft_err graft_engine_create(const graft_config *cfg, const graft_job *job, graft_engine **out,
                              char *err, size_t errlen);
/* Frees *e (NULL is fine), its block plane and its metrics file. */
void graft_engine_destroy(graft_engine **e);
/* pc (borrowed) is a second connection: the prefetch thread of --prefetch and of the block
 * plane pull on it. */
void graft_engine_set_prefetch_client(graft_engine *e, graft_client *pc);
graft_client *graft_engine_prefetch_client(const graft_engine *e);

const graft_config *graft_engine_config(const graft_engine *e);
graft_domain *graft_engine_domain(graft_engine *e, int which);
const graft_domain *graft_engine_domain_const(const graft_engine *e, int which);
/* --dim: latent factors per row. */
int graft_engine_dim(const graft_engine *e);
/* Collective: the mean and range of a domain's training ratings over all workers, and their
 * number. */
void graft_engine_domain_stats(graft_engine *e, const graft_ratings *r, graft_domain *d,
                               uint64_t *global_n);
/* Declares a table on the servers (seeded by --seed ^ salt). save: --save writes it (as name);
 * every table is in checkpoints. */
graft_err graft_engine_create_table(graft_engine *e, graft_client *c, const char *name,
                                    uint32_t width, uint32_t init_width, uint32_t save_width,
                                    graft_optim_kind opt, uint64_t salt, int save, uint32_t *id);
/* A model table (saved) with --optimizer, or a Sum table of accumulators (not saved). */
graft_err graft_engine_create_model_table(graft_engine *e, graft_client *c, const char *name,
                                          uint32_t width, uint32_t init_width, graft_optim_kind opt,
                                          uint64_t salt, uint32_t *id);
/* Declares a domain's user table (when uname) and item table: factors random, biases zero. */
graft_err graft_engine_create_domain(graft_engine *e, graft_client *c, graft_domain *d,
                                     const char *uname, const char *iname, uint64_t salt);
/* The tables --save writes and those checkpoints hold. */
const graft_saved_table *graft_engine_saved(const graft_engine *e, int *n);
const graft_saved_table *graft_engine_checkpointed(const graft_engine *e, int *n);
/* Leaves a table out of --save (by its manifest name); renames a saved table (refit.X -> X). */
void graft_engine_unsave(graft_engine *e, const char *name);
void graft_engine_rename_saved(graft_engine *e, const char *from, const char *to);

/* Binds key set slot to a table and row width. */
void graft_engine_bind(graft_engine *e, int slot, uint32_t table, uint32_t width);
/* What graft_engine_run_phase evaluates: warm against warm_dom, cold against the target domain;
 * the sets stay the caller's and must outlive the engine's use; counts are global. */
void graft_engine_set_eval(graft_engine *e, const graft_ratings *warm, const graft_domain *warm_dom,
                           uint64_t g_warm, const graft_ratings *cold, uint64_t g_cold);
void graft_engine_set_epoch_hook(graft_engine *e, graft_engine_epoch_hook hook, void *ctx);
/* --refit: the epoch records of the phases that follow say "refit": true. */
void graft_engine_set_refit(graft_engine *e, int on);
/* --resume: a plain phase starts after this epoch. */
void graft_engine_set_first_epoch(graft_engine *e, int epoch);
int graft_engine_first_epoch(const graft_engine *e);
/* The block plane replaces the batch plane (and takes ownership of blk; one it held before is
 * destroyed, as for --refit's new blocks). */
void graft_engine_set_blocks(graft_engine *e, graft_blocks *blk, uint64_t clocks_per_epoch);
graft_blocks *graft_engine_blocks(const graft_engine *e);
uint32_t graft_engine_consistency_bound(const graft_engine *e);

/* Opens the metrics file on worker 0 (appending when resuming). */
graft_err graft_engine_open_metrics(graft_engine *e);
FILE *graft_engine_metrics(const graft_engine *e);

/* Collective: trains stream for `epochs` epochs, shuffled per epoch (seeded by --seed, the
 * epoch, the worker and the phase), evaluates after each one when eval is set, and writes the
 * epoch records (tagged with phase; NULL in a plain job). */
graft_err graft_engine_run_phase(graft_engine *e, graft_client *c, const char *phase,
                                 graft_ratings *stream, uint64_t global_n, int epochs, int eval);
/* Collective: test errors of the target model, summed over the workers:
 * [warm sse, sae, cold sse, sae]. */
graft_err graft_engine_evaluate_target(graft_engine *e, graft_client *c, double g[4]);
/* Collective: the RMSE of domain d on set (unknown rows read as zeros). */
graft_err graft_engine_set_rmse(graft_engine *e, graft_client *c, const graft_ratings *set,
                                const graft_domain *d, double *rmse);
/* A barrier on every server with the next clock. */
graft_err graft_engine_barrier(graft_engine *e, graft_client *c);

/* Pulls the rows of the distinct users and items of r[0..n) into the slots us[domain] and
 * is[domain] (not creating missing ones); the rows, keys and the batch's indices are then read
 * through graft_engine_batch. For passes a driver runs itself (bias baselines). */
graft_err graft_engine_pass(graft_engine *e, graft_client *c, const graft_rating *r, size_t n,
                            const int *us, const int *is);
typedef struct {
    const uint64_t *keys; /* slot's distinct keys this batch */
    uint32_t n, width, table;
    float *rows, *grads;
} graft_slot_view;
graft_slot_view graft_engine_slot(graft_engine *e, int slot);
/* Where rating j of the last pass sits in its user and item slots. */
const uint32_t *graft_engine_user_index(const graft_engine *e);
const uint32_t *graft_engine_item_index(const graft_engine *e);

/* --validation-fraction: valid (this worker's share, borrowed; may be emptied by the block
 * plane, which keeps its own) is scored after every epoch of a plain phase, and --early-stopping
 * ends the phase with the best epoch's rows. g_valid counts it over every worker (0: none). */
void graft_engine_set_validation(graft_engine *e, const graft_ratings *valid, uint64_t g_valid);
/* Called before validation cold users are scored (collective): map writes their rows. */
typedef graft_err (*graft_engine_cold_prep)(void *ctx, graft_engine *e, graft_client *c);
/* --validation-cold-users: vcold (this worker's share of the validation cold users' target
 * ratings, borrowed) is scored after every epoch of a phase with validation, against the target
 * domain as cold users are; with selects, early stopping picks the epoch that scores it best
 * (else the validation share's score picks). prep (may be NULL) runs first. g_vcold counts the
 * ratings over every worker (0: none). */
void graft_engine_set_validation_cold(graft_engine *e, const graft_ratings *vcold, uint64_t g_vcold,
                                      int selects, graft_engine_cold_prep prep, void *ctx);
/* One validation: the share's RMSE, or NDCG@--rank-k and Recall (NaN without a share), the
 * validation cold users' likewise (NaN without them), and the score early stopping reads. */
typedef struct {
    double score, recall, cold_score, cold_recall, select;
} graft_engine_scores;
/* Collective: the validation scores of the servers' rows now. */
graft_err graft_engine_validate(graft_engine *e, graft_client *c, graft_engine_scores *s);
/* After a phase with validation: the epoch whose rows the tables hold (0: none scored), and
 * whether --early-stopping ended it before its last epoch. */
int graft_engine_best_epoch(const graft_engine *e);
int graft_engine_stopped_early(const graft_engine *e);
/* The validation score of the rows the last phase ended with (scored again after the best epoch
 * was put back): RMSE or NDCG, and *recall for ranking; NaN without validation. */
double graft_engine_valid_score(const graft_engine *e, double *recall);
/* The validation cold users' score of those rows (NaN without them), and *recall. */
double graft_engine_valid_cold_score(const graft_engine *e, double *recall);
/* Ranking losses, collective: two models of the target domain (a and b, whose rows are on the
 * servers) compared user by user on the validation share valid (this worker's; stream's items
 * are left out of the rankings): the mean of a's NDCG@--rank-k minus b's and its standard error
 * (docs/transfer.md: the gate). */
graft_err graft_engine_valid_paired(graft_engine *e, graft_client *c, const graft_ratings *valid,
                                    const graft_ratings *stream, const graft_domain *a,
                                    const graft_domain *b, double *mean, double *se);
/* The epochs the last phase ran (fewer than asked when early stopping ended it). */
int graft_engine_epochs_run(const graft_engine *e);
/* During a plain phase with early stopping (a checkpoint's view): the best epoch so far and its
 * score, and the shadow tables that hold its rows (at most max; returns how many, 0 without
 * early stopping). */
int graft_engine_select_tables(const graft_engine *e, int *best_epoch, double *best_score,
                               graft_saved_table *out, int max);
/* --resume of a checkpoint written with validation: the plain phase that goes on from the first
 * epoch starts with this best epoch and score, and worker 0 loads the checkpoint's shadow
 * tables into the new shadows (best_epoch 0: none kept yet). */
void graft_engine_resume_select(graft_engine *e, int best_epoch, double best_score);

/* Totals of the run so far: ratings trained, seconds in training passes, and the model's last
 * epoch's training RMSE (plain, target or joint phase; NaN before). */
double graft_engine_updates(const graft_engine *e);
double graft_engine_train_seconds(const graft_engine *e);
double graft_engine_last_train_rmse(const graft_engine *e);
/* The same epoch's train_loss (BPR's mean -ln sigma), NaN for an objective without one. */
double graft_engine_last_train_loss(const graft_engine *e);

/* num / den (its root when root), NaN when den is 0. */
double graft_engine_ratio(double num, uint64_t den, int root);

#endif
