/* A training job's options: one declarative table that graft-server and graft-worker both parse,
 * so the same argument list can be given to both sides of the MPMD launch. */
#ifndef GRAFT_CONFIG_H
#define GRAFT_CONFIG_H

#include "opts.h"

#include <stdint.h>

typedef enum { GRAFT_BAD_LINES_ERROR = 0, GRAFT_BAD_LINES_SKIP = 1 } graft_bad_lines;
/* --duplicates sum: the value of GRAFT_DUP_SUM (worker/dedupe.h), the default of ranking losses. */
#define GRAFT_CONFIG_DUP_SUM 4
/* --reg of --loss ials when not given (chosen on MovieLens Thriller -> Adventure, docs/ranking.md).
 */
#define GRAFT_CONFIG_IALS_REG 10.0
#define GRAFT_CONFIG_BPR_REG 0.01
/* --gate-fraction with a ranking loss when not given. */
#define GRAFT_CONFIG_RANKING_GATE_FRACTION 0.1
/* The reg of a plain squared-error job in the batch plane, chosen with validation on
 * (docs/selection.md); the block plane keeps 0.05, the large sets' setting. */
#define GRAFT_CONFIG_PLAIN_REG 0.08

typedef enum {
    GRAFT_TRANSFER_NONE = 0,  /* target only */
    GRAFT_TRANSFER_SEED = 1,  /* parameter transfer: seed target user rows from the source */
    GRAFT_TRANSFER_MAP = 2,   /* feature remapping: a map from source to target embeddings */
    GRAFT_TRANSFER_JOINT = 3, /* one loss over both domains, shared user factors */
} graft_transfer;
#define GRAFT_TRANSFER_CHOICES "none|seed|map|joint"

typedef enum { GRAFT_PLANE_BATCH = 0, GRAFT_PLANE_BLOCK = 1, GRAFT_PLANE_AUTO = 2 } graft_plane;
/* --plane auto: the block plane for a plain squared-error job of at least this many training
 * ratings, at GRAFT_CONFIG_BLOCK_LR unless --lr is given (docs/usage.md, "Data planes"). */
#define GRAFT_AUTO_BLOCK_RATINGS 1000000
#define GRAFT_CONFIG_BLOCK_LR 0.15
typedef enum { GRAFT_AUTO = 0, GRAFT_BSP = 1, GRAFT_SSP = 2, GRAFT_ASP = 3 } graft_consistency;

typedef enum { GRAFT_MAP_LINEAR = 0, GRAFT_MAP_MLP = 1 } graft_map_model;

/* The training objective (worker/objective.h). */
typedef enum { GRAFT_LOSS_SQUARED = 0, GRAFT_LOSS_IALS = 1, GRAFT_LOSS_BPR = 2 } graft_loss;
#define GRAFT_LOSS_CHOICES "squared|ials|bpr"
typedef enum { GRAFT_NEG_UNIFORM = 0, GRAFT_NEG_POPULARITY = 1 } graft_negative_sampling;
typedef enum { GRAFT_SOLVER_CG = 0, GRAFT_SOLVER_CHOLESKY = 1 } graft_solver;

typedef struct {
    const char *train;
    const char *test;
    int format; /* graft_format */
    int bad_lines;
    int duplicates; /* graft_dup_policy (worker/dedupe.h) */
    int64_t dim;
    int64_t epochs;
    int64_t batch;
    int plane; /* GRAFT_PLANE_* */
    int prefetch;
    int consistency; /* GRAFT_CONSISTENCY_* */
    int64_t staleness;
    int64_t item_blocks;
    int optimizer; /* graft_optim_kind */
    int loss;      /* graft_loss */
    double unobserved_weight, confidence, min_rating;
    int solver; /* graft_solver */
    int64_t cg_steps;
    int64_t negatives;          /* bpr: negatives drawn per positive */
    int negative_sampling;      /* graft_negative_sampling */
    int64_t rank_k;             /* ranking losses: the cut-off of per-epoch NDCG and Recall */
    int64_t eval_users;         /* ranking losses: users scored per set and epoch (0: all) */
    double validation_fraction; /* share of the training ratings held out for validation */
    int64_t early_stopping;     /* epochs without a better validation score before stopping */
    int refit;                  /* then train afresh on every training rating, best_epoch epochs */
    double lr;
    double reg;
    double reg_bias;
    double l2;
    double init_scale;
    int64_t seed;
    const char *metrics;
    const char *source;
    const char *target;
    const char *target_test;
    const char *user_map;
    int transfer; /* graft_transfer */
    double cold_start_users;
    double validation_cold_users; /* share of the other overlap users held out as cold */
    double warm_test_fraction;
    double lambda;
    int64_t source_epochs;
    int map_model; /* graft_map_model */
    double map_reg;
    int64_t map_hidden;
    int64_t map_epochs;
    double baseline_shrink;
    const char *trace_dir;
    const char *save;
    int64_t heartbeat_s, heartbeat_timeout_s;
    int64_t checkpoint_every;
    const char *checkpoint_dir;
    int resume;
    int resume_any_data;
    int transfer_gate;
    double gate_fraction;
    const char *source_model;
    const char *bind;
    int curve; /* 0 auto, 1 on, 2 off */
    int shm;   /* 0 auto, 1 off */
    int64_t server_threads;
    int64_t max_message_mb;
    int64_t max_keys;
    int64_t timeout_s;
    int progress; /* 0 lines, 1 bar */
    int print_config;
    const char *config;
    graft_opt_sources sources; /* where each value came from, for --print-config */
    char **file_strings;       /* string values read from --config, owned here */
    int quiet;
    int help;
} graft_config;

extern const graft_opt graft_config_opts[];

/* Defaults, then the --config file when argv names one, then argv[1..]: later wins. Errors are
 * described in err (with FILE:LINE for the file). Free with graft_config_free. */
graft_err graft_config_parse(graft_config *cfg, int argc, char **argv, char *err, size_t errlen);
void graft_config_free(graft_config *cfg);
/* Whether option `name` (as the flag, without --) was given, on the command line or in the
 * --config file, rather than left at its default. */
int graft_config_given(const graft_config *cfg, const char *name);

#endif
