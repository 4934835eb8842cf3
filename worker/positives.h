/* The positives of a ranking loss (iALS, BPR): the ratings at least --min-rating, and the check
 * that this leaves every domain of the phase something to learn from. */
#ifndef GRAFT_POSITIVES_H
#define GRAFT_POSITIVES_H

#include "config.h"
#include "err.h"
#include "job.h"
#include "reader.h"

/* Collective over the workers: appends stream's positives to out. A domain that has ratings but
 * no positive on any worker is an error naming its file (GRAFT_ERR_PARSE on every worker, logged
 * by worker 0); *active[d] says whether domain d has positives. Every worker joins, also after a
 * local failure. */
graft_err graft_positives_select(const graft_config *cfg, const graft_job *job, const char *loss,
                                 const graft_ratings *stream, graft_ratings *out, int active[2]);

/* Collective over the workers: the items of domain `domain` among r's ratings at least min_rating,
 * over every worker, sorted by key with their counts (keys[j] had counts[j] such ratings; counts
 * may be NULL). The same arrays on every worker; *keys and *counts are the caller's (graft_free).
 * Every worker joins, also after a local failure. */
graft_err graft_positives_items(const graft_job *job, const graft_ratings *r, uint32_t domain,
                                float min_rating, uint64_t **keys, uint64_t **counts, size_t *n);

#endif
