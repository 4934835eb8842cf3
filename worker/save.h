/* Saving a trained model (--save; docs/usage.md, "Saved models"): every server writes its shards
 * of the model's tables, worker 0 writes the id dictionaries, a transfer model's cold users and
 * the manifest, last. */
#ifndef GRAFT_SAVE_H
#define GRAFT_SAVE_H

#include "client.h"
#include "dataset.h"
#include "engine.h"
#include "manifest.h"

/* What a transfer model adds to a plain one. */
typedef struct {
    const uint64_t *cold_users; /* sorted keys; borrowed */
    size_t n_cold;
    int warm_target_only;       /* the gate kept target-only.* for warm users */
    const uint64_t *valid_cold; /* --validation-cold-users (sorted, borrowed; may be NULL) */
    size_t n_valid_cold;
} graft_save_transfer;

/* A manifest with the job's dimension, servers, data identity and domains (a plain job's
 * "main", or "source" and "target"), and no tables yet. tr NULL: a plain job. */
void graft_save_manifest_head(const graft_engine *e, const graft_dataset *d, const graft_job *job,
                              const graft_save_transfer *tr, graft_manifest *m);

/* Collective over the workers (they gather the id dictionaries to worker 0), then worker 0 has
 * the servers write --save's shards and writes the rest. Does nothing without --save. */
graft_err graft_save_model(const graft_config *cfg, const graft_job *job, graft_engine *e,
                           graft_dataset *d, graft_client *c, const graft_save_transfer *tr);

#endif
