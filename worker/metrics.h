/* The metrics file: JSON Lines, one object per line, flushed as written (docs/usage.md lists the
 * fields; their names are a contract). Only worker 0 writes it. */
#ifndef GRAFT_METRICS_H
#define GRAFT_METRICS_H

#include "err.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    int epoch;
    double train_rmse;
    double test_rmse, test_mae; /* NaN when there is no test set */
    double seconds;
    double updates_per_s;
    const char *phase; /* transfer jobs: "source", "target" or "joint"; NULL in a plain job */
    double warm_rmse, cold_rmse; /* transfer jobs */
    int64_t staleness;           /* the most clocks any worker ran ahead of the slowest; -1: none */
    double wait_seconds;         /* the longest any worker waited on its clock */
    /* Block plane (else NaN): the longest any worker spent on pulls, SGD and pushes. */
    double pull_seconds, compute_seconds, push_seconds;
    /* An objective with a loss of its own (BPR): its mean over the epoch's terms; else NaN. */
    double train_loss;
    /* Ranking objectives (else NaN, left out): NDCG@rank_k and Recall@rank_k of the test set
     * (plain jobs) or of the warm and cold test sets (transfer jobs). */
    int rank_k;
    double test_ndcg, test_recall, warm_ndcg, warm_recall, cold_ndcg, cold_recall;
    /* --validation-fraction (else NaN, left out): RMSE, or NDCG and Recall for ranking. */
    double valid_rmse, valid_ndcg, valid_recall;
    /* --validation-cold-users (else NaN, left out): their RMSE, or NDCG and Recall. */
    double valid_cold_rmse, valid_cold_ndcg, valid_cold_recall;
    int refit; /* a --refit epoch */
} graft_epoch_metrics;

typedef struct {
    double test_rmse, test_mae;
    int epochs;
    double seconds;
    double updates_per_s;
    int servers, workers;
    uint64_t bad_lines;
    uint64_t train_ratings, test_ratings;
    double train_rmse;
    double train_loss; /* BPR: the last epoch's mean loss (else NaN, left out) */
    /* --validation-fraction (valid_ratings 0: none, the rest left out): the epoch the model's
     * rows are from, its validation RMSE (or NDCG and Recall@rank_k for ranking), and whether
     * --early-stopping ended training before --epochs. */
    uint64_t valid_ratings;
    int best_epoch, stopped_early, rank_k, refit;
    double valid_rmse, valid_ndcg, valid_recall;
    /* --validation-cold-users (valid_cold_users 0: none): how many, their target ratings, their
     * score like the share's, and whether it chose best_epoch. */
    uint64_t valid_cold_users, valid_cold_ratings;
    double valid_cold_rmse, valid_cold_ndcg, valid_cold_recall;
    int selected_on_cold;
    /* Pairs rated on several lines of the training files, the copies beyond the first, and
     * the --duplicates policy applied to them. */
    uint64_t duplicate_pairs, duplicate_ratings;
    const char *duplicates;
    /* Plain jobs: bytes the servers received and sent, and the bytes of their tables (rows and
     * optimizer state, as the servers count them), at the end; plane "batch" or "block". */
    uint64_t bytes_moved, server_bytes, server_rows, server_peak_rss;
    uint64_t shm_bytes; /* of bytes_moved, the row bytes that crossed in shared memory */
    const char *plane;
    /* Transfer jobs only (transfer NULL in a plain job). */
    const char *transfer;
    double cold_rmse, cold_mae, warm_rmse, warm_mae;
    uint64_t cold_users, cold_ratings, warm_ratings, overlap_users;
    double base_item_cold_rmse, base_item_warm_rmse;           /* mu + b_i */
    double base_item_user_cold_rmse, base_item_user_warm_rmse; /* mu + b_i + source b_u */
    const char *gate; /* seed and joint with the gate: "transfer" or "target-only"; else NULL */
    int gate_ranked;  /* the gate compared NDCG (a ranking loss), not RMSE */
    double valid_transfer, valid_target;
    double gate_gain, gate_se; /* ranking: paired NDCG gain of transfer over target-only, its SE */
} graft_summary_metrics;

/* Opens path, truncating it unless append is set; path NULL makes a writer that writes nothing. */
graft_err graft_metrics_open(const char *path, int append, FILE **out);
void graft_metrics_epoch(FILE *f, const graft_epoch_metrics *m);
void graft_metrics_summary(FILE *f, const graft_summary_metrics *m);
void graft_metrics_close(FILE **f);

#endif
