#include "partition.h"
#include "alloc.h"
#include "hash.h"
#include "log.h"

/* Items of the two domains are different rows even where their ids agree. */
#define ITEM_DOMAIN_SALT 0x3c6ef372fe94f82bULL

uint32_t
graft_partition_owner(const graft_rating *x, graft_partition_key by, uint32_t nworkers)
{
    if (by == GRAFT_BY_USER)
        return graft_owner_of(x->user, nworkers);
    return graft_owner_of(x->item ^ (x->domain ? ITEM_DOMAIN_SALT : 0), nworkers);
}

graft_err
graft_partition_exchange(const graft_job *job, graft_ratings *r, graft_partition_key by)
{
    int W = job->nworkers;
    if (W == 1)
        return GRAFT_OK;
    int *scnt = graft_calloc((size_t)W, sizeof *scnt);
    size_t *fill = graft_calloc((size_t)W, sizeof *fill);
    graft_rating *send = graft_malloc((r->n ? r->n : 1) * sizeof *send);
    graft_err rc = scnt && fill && send ? GRAFT_OK : GRAFT_ERR_NOMEM;
    for (size_t j = 0; j < r->n && rc == GRAFT_OK; j++)
        scnt[graft_partition_owner(&r->v[j], by, (uint32_t)W)]++;
    for (int w = 1; w < W && rc == GRAFT_OK; w++)
        fill[w] = fill[w - 1] + (size_t)scnt[w - 1];
    for (size_t j = 0; j < r->n && rc == GRAFT_OK; j++)
        send[fill[graft_partition_owner(&r->v[j], by, (uint32_t)W)]++] = r->v[j];
    /* Every worker takes part in the collectives even after a local failure, so none hangs. */
    rc = graft_job_agree_ok(job->role_comm, rc);
    void *recv = NULL;
    size_t n = 0;
    if (rc == GRAFT_OK)
        rc = graft_job_alltoallv(job->role_comm, send, scnt, sizeof *send, &recv, &n);
    if (rc == GRAFT_OK) {
        graft_free(r->v);
        r->v = recv;
        r->n = r->cap = n;
    } else if (rc == GRAFT_ERR_NOMEM) {
        GRAFT_LOG_ERROR("GRAFT-EXCHANGE",
                        "worker %d: no memory for the exchange of ratings by %s (or 2^31 of "
                        "them or more for one worker: use more workers)",
                        job->index, by == GRAFT_BY_USER ? "user" : "item");
    }
    graft_free(send);
    graft_free(fill);
    graft_free(scnt);
    return rc;
}
