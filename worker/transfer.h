/* The transfer-job driver (docs/transfer.md): the cold-start protocol (its cohort,
 * worker/cohort.h: which users are in both domains, which of them are cold, the warm and cold
 * test sets), the modes none, seed, map and
 * joint on the engine's phases, the transfer gate and its refit, the bias baselines, the
 * summary, and saving. It owns the transfer facts: the overlap, the cold users and the gate's
 * choice. */
#ifndef GRAFT_TRANSFER_H
#define GRAFT_TRANSFER_H

#include "client.h"
#include "config.h"
#include "dataset.h"
#include "engine.h"
#include "job.h"

/* Collective over the workers: runs a transfer job on the loaded dataset (whose target
 * ratings it partitions into training, warm and cold). */
graft_err graft_transfer_run(const graft_config *cfg, const graft_job *job, graft_engine *e,
                             graft_dataset *d, graft_client *c);

/* Checks a saved source model before any training: its manifest, that it has user and item
 * tables of width dim + 1, and every shard's checksum. */
graft_err graft_transfer_check_source_model(const char *dir, int dim, char *err, size_t errlen);

#endif
