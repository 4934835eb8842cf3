/* The bias baselines a transfer job reports beside its modes (docs/transfer.md): the item bias
 * alone, and the item bias plus the user's source-domain bias, each a shrunk mean accumulated
 * on the servers in Sum tables. */
#ifndef GRAFT_BASELINES_H
#define GRAFT_BASELINES_H

#include "client.h"
#include "dataset.h"
#include "engine.h"

/* Collective over the workers: the baselines' squared errors, summed over the workers:
 * [item warm, item cold, item+user warm, item+user cold]. The engine's domains must have their
 * means and ranges. */
graft_err graft_baselines_run(const graft_config *cfg, const graft_job *job, graft_engine *e,
                              const graft_dataset *d, graft_client *c, double out[4]);

#endif
