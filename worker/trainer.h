/* A worker's training loop: its own part of the ratings, mini-batches whose distinct keys are
 * pulled once, the gradient of the biased MF loss (common/model.h), one push per server and table,
 * and per-epoch evaluation reduced over all workers with MPI. */
#ifndef GRAFT_TRAINER_H
#define GRAFT_TRAINER_H

#include "client.h"
#include "config.h"
#include "job.h"
#include "reader.h"

typedef struct graft_trainer graft_trainer;

/* Loads this worker's part of the train and test files. A bad file is described in err (with
 * FILE:LINE where there is one) and gives GRAFT_ERR_IO or GRAFT_ERR_PARSE. */
graft_err graft_trainer_create(const graft_config *cfg, const graft_job *job, graft_trainer **out,
                               char *err, size_t errlen);
void graft_trainer_destroy(graft_trainer **t);
/* This worker's training ratings as loaded: the source's and the target's (a plain job's are the
 * target's). Local; the caller sums them over the workers. */
void graft_trainer_loaded(const graft_trainer *t, uint64_t *src, uint64_t *tgt);
/* Collective over the workers, after every worker loaded its part: records the identity of
 * the training data (*ratings and *hash, global; checkpoints keep it) and applies
 * --duplicates to the training files. GRAFT_ERR_PARSE on every worker, with the file named in
 * err, when --duplicates error finds any. */
graft_err graft_trainer_prepare(graft_trainer *t, uint64_t *ratings, uint64_t *hash, char *err,
                                size_t errlen);

/* Collective over the workers: the global mean and rating range, then the tables, then the
 * epochs. client is borrowed. Worker 0 prints progress and writes the metrics file. */
graft_err graft_trainer_run(graft_trainer *t, graft_client *client);
/* The block plane's prefetch thread pulls on pc, a second connection to the servers (borrowed;
 * without one, blocks are pulled when they are needed). */
void graft_trainer_set_prefetch_client(graft_trainer *t, graft_client *pc);
/* --resume: the epoch of the checkpoint found at start (the job trains from the next one). */
void graft_trainer_set_resume(graft_trainer *t, int epoch);

#endif
