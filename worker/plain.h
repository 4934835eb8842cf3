/* The plain-job driver: one domain, a training file and an optional test file, in the batch or
 * the block plane, with checkpoints every --checkpoint-every epochs and --resume. */
#ifndef GRAFT_PLAIN_H
#define GRAFT_PLAIN_H

#include "client.h"
#include "dataset.h"
#include "engine.h"

/* Collective over the workers: declares the tables (and builds the blocks), resumes when the
 * engine's first epoch says so, trains, evaluates, writes the summary and saves the model. The
 * dataset's training and test sets are the engine's to use (the block plane consumes them). */
graft_err graft_plain_run(const graft_config *cfg, const graft_job *job, graft_engine *e,
                          graft_dataset *d, graft_client *c);

#endif
