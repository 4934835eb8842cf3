#include "config.h"
#include "reader.h"

#include <stddef.h>
#include <string.h>

#define O(field) offsetof(graft_config, field)

/* The defaults are the tuned settings documented in docs/usage.md: on ml-latest-small (90/10
 * split, seed 1) they reach the test RMSE quoted in the README. */
const graft_opt graft_config_opts[] = {
    {"train", GRAFT_OPT_STRING, O(train), NULL, 0, 0, NULL, "training ratings file (required)"},
    {"test", GRAFT_OPT_STRING, O(test), NULL, 0, 0, NULL,
     "test ratings file, evaluated each epoch"},
    {"format", GRAFT_OPT_CHOICE, O(format), "auto", 0, 0, GRAFT_FORMAT_CHOICES,
     "ratings file format (auto detects ',', tab or '::' and a header line)"},
    {"bad-lines", GRAFT_OPT_CHOICE, O(bad_lines), "error", 0, 0, "error|skip",
     "a malformed line stops the run (error) or is skipped and counted (skip)"},
    {"duplicates", GRAFT_OPT_CHOICE, O(duplicates), "last", 0, 0, "keep|last|mean|error|sum",
     "a (user, item) pair rated on several lines of a training file: keep every copy, keep "
     "the last line's, their mean, refuse the file, or their sum (summary: duplicate_pairs); "
     "the default is last, and sum for a ranking loss"},
    {"dim", GRAFT_OPT_INT, O(dim), "64", 1, 4096, NULL, "latent factors per user and item"},
    {"epochs", GRAFT_OPT_INT, O(epochs), "30", 1, 100000, NULL,
     "passes over the training data (with validation, the most: early stopping may end sooner)"},
    {"batch", GRAFT_OPT_INT, O(batch), "256", 1, 1000000, NULL,
     "ratings per mini-batch (one pull and one push per server and table)"},
    {"plane", GRAFT_OPT_CHOICE, O(plane), "auto", 0, 0, "batch|block|auto",
     "data plane of a plain job: mini-batch pulls and pushes, or blocks (users stay in their "
     "worker, item rows move by block; docs/usage.md); auto: block for a squared-error job of "
     "1M training ratings or more (lr 0.15 unless --lr is given), else batch"},
    {"consistency", GRAFT_OPT_CHOICE, O(consistency), "auto", 0, 0, "auto|bsp|ssp|asp",
     "how far workers may drift apart within an epoch: bsp waits for all at every clock, ssp "
     "lets a worker run --staleness clocks ahead of the slowest, asp never waits; auto is bsp "
     "in the block plane and ssp in the batch plane"},
    {"staleness", GRAFT_OPT_INT, O(staleness), "2", 0, 1000000, NULL,
     "ssp: clocks a worker may run ahead of the slowest"},
    {"item-blocks", GRAFT_OPT_INT, O(item_blocks), "0", 0, 65536, NULL,
     "block plane: item blocks (clocks per epoch); 0 means two per worker"},
    {"prefetch", GRAFT_OPT_FLAG, O(prefetch), NULL, 0, 0, NULL,
     "batch plane: pull the next mini-batch's rows while this one trains (a staleness of one "
     "batch; runs no longer repeat exactly)"},
    {"optimizer", GRAFT_OPT_CHOICE, O(optimizer), "adagrad", 0, 0, "sgd|adagrad",
     "update rule applied on the servers"},
    {"loss", GRAFT_OPT_CHOICE, O(loss), "squared", 0, 0, GRAFT_LOSS_CHOICES,
     "squared: squared error on observed ratings (RMSE); ials: implicit alternating least squares "
     "over every (user, item) pair; bpr: Bayesian personalised ranking on sampled (user, "
     "positive, negative) triples; both for top-K ranking (docs/ranking.md)"},
    {"unobserved-weight", GRAFT_OPT_DOUBLE, O(unobserved_weight), "0.2", 0, 1e6, NULL,
     "ials: weight w0 of the unobserved (user, item) pairs in the loss"},
    {"confidence", GRAFT_OPT_DOUBLE, O(confidence), "0", 0, 1e6, NULL,
     "ials: a positive's weight is 1 + confidence * its value (rating, count or weight)"},
    {"min-rating", GRAFT_OPT_DOUBLE, O(min_rating), "-1e6", -1e6, 1e6, NULL,
     "ials, bpr: ratings below this are not positives (default: every rating is one)"},
    {"rank-k", GRAFT_OPT_INT, O(rank_k), "10", 1, 1000, NULL,
     "ials, bpr: K of the per-epoch NDCG@K and Recall@K of the test sets (metrics file)"},
    {"eval-users", GRAFT_OPT_INT, O(eval_users), "5000", 0, 1e12, NULL,
     "ials, bpr: users of each test set ranked per epoch, a seeded sample (0: all)"},
    {"validation-fraction", GRAFT_OPT_DOUBLE, O(validation_fraction), "0.1", 0, 0.9, NULL,
     "share of the training ratings (a transfer job: of the target's) held out and scored after "
     "every epoch (RMSE, or NDCG@K and Recall@K for a ranking loss), chosen by a hash of (user, "
     "item, --seed); 0: none (the default with checkpoints); a transfer job's default is "
     "--gate-fraction"},
    {"early-stopping", GRAFT_OPT_INT, O(early_stopping), "5", 0, 100000, NULL,
     "with validation: stop after this many epochs without a better validation score and keep "
     "the best epoch's rows (kept on the servers); 0: train every epoch, keep the last"},
    {"refit", GRAFT_OPT_FLAG, O(refit), "1", 0, 0, NULL,
     "with validation: then train a fresh model on every training rating (the validation "
     "share too) for the best epoch's number of epochs, and keep that one (--refit=no keeps "
     "the best epoch's)"},
    {"negatives", GRAFT_OPT_INT, O(negatives), "1", 1, 1000, NULL,
     "bpr: negative items drawn per positive and epoch"},
    {"negative-sampling", GRAFT_OPT_CHOICE, O(negative_sampling), "uniform", 0, 0,
     "uniform|popularity",
     "bpr: negatives drawn uniformly from the domain's items, or in proportion to their "
     "positives"},
    {"solver", GRAFT_OPT_CHOICE, O(solver), "cg", 0, 0, "cg|cholesky",
     "ials: each row's system solved by --cg-steps conjugate-gradient steps from its current "
     "value, or exactly (Cholesky, LAPACK)"},
    {"cg-steps", GRAFT_OPT_INT, O(cg_steps), "3", 1, 1000, NULL,
     "ials with --solver cg: conjugate-gradient steps per row and half-epoch"},
    {"lr", GRAFT_OPT_DOUBLE, O(lr), "0.05", 1e-9, 100, NULL, "learning rate"},
    {"reg", GRAFT_OPT_DOUBLE, O(reg), "0.05", 0, 100, NULL,
     "L2 weight on the factors, per rating (lambda in the loss); default 0.08 in a plain job's "
     "batch plane; "
     "--loss ials: per row, default 10; --loss bpr: per triple, default 0.01"},
    {"reg-bias", GRAFT_OPT_DOUBLE, O(reg_bias), "0.01", 0, 100, NULL,
     "L2 weight on the biases, per rating"},
    {"l2", GRAFT_OPT_DOUBLE, O(l2), "0", 0, 100, NULL,
     "extra weight decay applied by the server's optimizer at every push"},
    {"init-scale", GRAFT_OPT_DOUBLE, O(init_scale), "0.1", 0, 10, NULL,
     "standard deviation of a new row's values"},
    {"seed", GRAFT_OPT_INT, O(seed), "1", 0, 9.2e18, NULL,
     "seed of row initialisation and shuffling: one worker and a fixed seed repeat a run exactly"},
    {"metrics", GRAFT_OPT_STRING, O(metrics), NULL, 0, 0, NULL,
     "write JSON Lines metrics to this file (see docs/usage.md)"},
    {"source", GRAFT_OPT_STRING, O(source), NULL, 0, 0, NULL,
     "source-domain ratings: makes this a transfer job (with --target)"},
    {"target", GRAFT_OPT_STRING, O(target), NULL, 0, 0, NULL,
     "target-domain ratings of a transfer job"},
    {"transfer", GRAFT_OPT_CHOICE, O(transfer), "none", 0, 0, GRAFT_TRANSFER_CHOICES,
     "transfer mode (docs/transfer.md)"},
    {"cold-start-users", GRAFT_OPT_DOUBLE, O(cold_start_users), "0.2", 0, 1, NULL,
     "share of the users present in both domains whose target ratings are all held out"},
    {"validation-cold-users", GRAFT_OPT_DOUBLE, O(validation_cold_users), "0", 0, 0.9, NULL,
     "transfer jobs: share of the users in both domains, other than the cold ones, whose target "
     "training ratings are all held out as validation cold users and scored after every "
     "epoch; early stopping of seed, map and joint then keeps the epoch that serves them best "
     "(graft compare's epoch choice; docs/selection.md)"},
    {"warm-test-fraction", GRAFT_OPT_DOUBLE, O(warm_test_fraction), "0.1", 0, 0.9, NULL,
     "share of the other target ratings held out as the warm test set"},
    {"target-test", GRAFT_OPT_STRING, O(target_test), NULL, 0, 0, NULL,
     "warm test ratings from this file instead of --warm-test-fraction"},
    {"user-map", GRAFT_OPT_STRING, O(user_map), NULL, 0, 0, NULL,
     "two columns, source id and target id, linking users whose ids differ"},
    {"lambda", GRAFT_OPT_DOUBLE, O(lambda), "2", 0, 1000, NULL,
     "weight of the target loss in joint training: L = L_source + lambda L_target"},
    {"source-epochs", GRAFT_OPT_INT, O(source_epochs), "0", 0, 100000, NULL,
     "epochs of the source model in seed and map modes (0: as --epochs)"},
    {"map-model", GRAFT_OPT_CHOICE, O(map_model), "linear", 0, 0, "linear|mlp",
     "map mode: ridge regression, or a one-hidden-layer network"},
    {"map-reg", GRAFT_OPT_DOUBLE, O(map_reg), "1", 0, 1e6, NULL,
     "map mode: ridge penalty of the linear map (and L2 of the network)"},
    {"map-hidden", GRAFT_OPT_INT, O(map_hidden), "128", 1, 4096, NULL,
     "map mode: hidden units of the network"},
    {"map-epochs", GRAFT_OPT_INT, O(map_epochs), "200", 1, 100000, NULL,
     "map mode: full passes of the network's training"},
    {"baseline-shrink", GRAFT_OPT_DOUBLE, O(baseline_shrink), "10", 0, 1e6, NULL,
     "shrinkage of the reported bias baselines: b = sum / (count + shrink)"},
    {"transfer-gate", GRAFT_OPT_FLAG, O(transfer_gate), "1", 0, 0, NULL,
     "seed and joint: fall back to a target-only model when transfer does worse on held-out "
     "target ratings (--transfer-gate=no turns it off)"},
    {"gate-fraction", GRAFT_OPT_DOUBLE, O(gate_fraction), "0.02", 0.001, 0.5, NULL,
     "transfer jobs without --validation-fraction: the validation share of the target training "
     "ratings, on which every mode picks its epochs and seed and joint gate (default 0.1 with a "
     "ranking loss)"},
    {"heartbeat", GRAFT_OPT_INT, O(heartbeat_s), "2", 1, 3600, NULL,
     "seconds between a worker's heartbeats to every server"},
    {"heartbeat-timeout", GRAFT_OPT_INT, O(heartbeat_timeout_s), "20", 0, 86400, NULL,
     "seconds without a heartbeat (a worker) or its answer (a server) after which that peer is "
     "lost and the job ends with status 3 (0: no heartbeats)"},
    {"checkpoint-every", GRAFT_OPT_INT, O(checkpoint_every), "0", 0, 1000000, NULL,
     "write a checkpoint every N epochs into --checkpoint-dir (plain jobs; 0: never)"},
    {"checkpoint-dir", GRAFT_OPT_STRING, O(checkpoint_dir), NULL, 0, 0, NULL,
     "folder of the checkpoints (created and probed for writing at start)"},
    {"resume", GRAFT_OPT_FLAG, O(resume), NULL, 0, 0, NULL,
     "continue from the newest complete checkpoint in --checkpoint-dir"},
    {"resume-any-data", GRAFT_OPT_FLAG, O(resume_any_data), NULL, 0, 0, NULL,
     "--resume even when the training data differs from the checkpoint's (its ratings are "
     "checksummed at every checkpoint)"},
    {"save", GRAFT_OPT_STRING, O(save), NULL, 0, 0, NULL,
     "write the trained tables and a manifest into this folder (every server must reach it)"},
    {"source-model", GRAFT_OPT_STRING, O(source_model), NULL, 0, 0, NULL,
     "seed and map: load the source model saved in this folder instead of training it"},
    {"trace-dir", GRAFT_OPT_STRING, O(trace_dir), NULL, 0, 0, NULL,
     "write the first epoch's training stream of each phase and the cold users here (tests)"},
    {"bind", GRAFT_OPT_STRING, O(bind), "auto", 0, 0, NULL,
     "address servers bind: auto = a Unix socket when all ranks share a host, else the "
     "host's first non-loopback address"},
    {"curve", GRAFT_OPT_CHOICE, O(curve), "auto", 0, 0, "auto|on|off",
     "CURVE authentication of every server socket with keys the job makes at start; auto: on "
     "whenever servers bind TCP, loopback included: only the Unix socket is the user's alone "
     "(docs/security.md)"},
    {"server-threads", GRAFT_OPT_INT, O(server_threads), "1", 1, 16, NULL,
     "threads per server, each owning a part of every table (requests of 512 keys or more are "
     "split between them); more than one helps only where servers, not workers, are busy"},
    {"shm", GRAFT_OPT_CHOICE, O(shm), "auto", 0, 0, "auto|off",
     "rows between a worker and a server on the same host: auto = through a shared-memory arena "
     "(falling back to the socket where the server cannot map it), off = through the socket (a "
     "server with off refuses arenas)"},
    {"max-message-mb", GRAFT_OPT_INT, O(max_message_mb), "256", 1, 4096, NULL,
     "largest frame a server accepts, in MiB; a larger one is refused, over twice it drops the "
     "peer"},
    {"max-keys", GRAFT_OPT_INT, O(max_keys), "1000000", 1, 100000000, NULL,
     "most keys in one request; workers split larger requests"},
    {"timeout", GRAFT_OPT_INT, O(timeout_s), "30", 1, 86400, NULL,
     "seconds a worker waits for a server's reply before ending the job (exit status 3)"},
    {"progress", GRAFT_OPT_CHOICE, O(progress), "lines", 0, 0, "lines|bar",
     "lines: one plain line per epoch (batch logs); bar: a live bar with rate and ETA (the "
     "launcher picks bar when its output is a terminal)"},
    {"config", GRAFT_OPT_STRING, O(config), NULL, 0, 0, NULL,
     "read options from this file: 'name = value' lines; flags given too win"},
    {"print-config", GRAFT_OPT_FLAG, O(print_config), NULL, 0, 0, NULL,
     "print the resolved options and exit"},
    {"quiet", GRAFT_OPT_FLAG, O(quiet), NULL, 0, 0, NULL, "no per-epoch progress lines"},
    {"help", GRAFT_OPT_FLAG, O(help), NULL, 0, 0, NULL, "show this help"},
    GRAFT_OPT_END,
};

/* Whether the user set option `name` (on the command line or in --config). */
static int
given(const graft_config *cfg, const char *name)
{
    for (int i = 0; graft_config_opts[i].name; i++)
        if (strcmp(graft_config_opts[i].name, name) == 0)
            return strcmp(cfg->sources[i], "default") != 0;
    return 0;
}

graft_err
graft_config_parse(graft_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
    graft_err rc = graft_opts_defaults(graft_config_opts, cfg);
    cfg->file_strings = NULL;
    for (int i = 0; i < GRAFT_OPTS_MAX; i++)
        snprintf(cfg->sources[i], GRAFT_OPT_SOURCE_LEN, "default");
    if (rc != GRAFT_OK)
        return rc;
    /* The file first, so that flags override it whatever their order. */
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
    }
    if (file && (rc = graft_opts_parse_file(graft_config_opts, cfg, file, &cfg->sources,
                                            &cfg->file_strings, err, errlen)) != GRAFT_OK)
        return rc;
    rc = graft_opts_parse_src(graft_config_opts, cfg, argc, argv, 1, &cfg->sources, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    /* A ranking loss reads a pair given twice as one positive whose weights add up, unless the
     * user chose otherwise. */
    if (cfg->loss != GRAFT_LOSS_SQUARED && !given(cfg, "duplicates"))
        cfg->duplicates = GRAFT_CONFIG_DUP_SUM;
    /* A transfer job's share is --gate-fraction's unless given (transfer.c). */
    if (!given(cfg, "validation-fraction") && cfg->source)
        cfg->validation_fraction = 0;
    /* A ranking gate needs held-out positives for NDCG: more of them than RMSE needs ratings. */
    if (cfg->loss != GRAFT_LOSS_SQUARED && !given(cfg, "gate-fraction"))
        cfg->gate_fraction = GRAFT_CONFIG_RANKING_GATE_FRACTION;
    /* iALS's reg is added once to each row's system, not per rating as in SGD. */
    if (cfg->loss == GRAFT_LOSS_IALS && !given(cfg, "reg"))
        cfg->reg = GRAFT_CONFIG_IALS_REG;
    /* BPR's reg is per triple; validation NDCG preferred it below squared error's (ranking.md). */
    if (cfg->loss == GRAFT_LOSS_BPR && !given(cfg, "reg"))
        cfg->reg = GRAFT_CONFIG_BPR_REG;
    return GRAFT_OK;
}

int
graft_config_given(const graft_config *cfg, const char *name)
{
    return given(cfg, name);
}

void
graft_config_free(graft_config *cfg)
{
    graft_opts_free_strings(&cfg->file_strings);
}
