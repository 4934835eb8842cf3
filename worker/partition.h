/* Moving ratings between workers so that each holds every rating of the users (or the items) it
 * owns: the block plane's users, and iALS's user and item steps. Ownership is graft_owner_of of
 * the key (common/hash.h), so it depends on neither the servers nor the file's layout. */
#ifndef GRAFT_PARTITION_H
#define GRAFT_PARTITION_H

#include "err.h"
#include "job.h"
#include "reader.h"

typedef enum { GRAFT_BY_USER = 0, GRAFT_BY_ITEM = 1 } graft_partition_key;

/* The worker that owns rating x's user (by user) or its (domain, item) (by item). */
uint32_t graft_partition_owner(const graft_rating *x, graft_partition_key by, uint32_t nworkers);

/* Collective over the workers (one MPI all-to-all): r becomes this worker's share by `by`. Every
 * worker joins, also after a local failure, and all return the same error then. */
graft_err graft_partition_exchange(const graft_job *job, graft_ratings *r, graft_partition_key by);

#endif
