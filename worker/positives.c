#include "positives.h"
#include "log.h"

graft_err
graft_positives_select(const graft_config *cfg, const graft_job *job, const char *loss,
                       const graft_ratings *stream, graft_ratings *out, int active[2])
{
    /* Per domain, how many ratings and how many positives. */
    uint64_t cnt[4] = {0, 0, 0, 0}, gcnt[4];
    graft_err rc = GRAFT_OK;
    for (size_t j = 0; j < stream->n && rc == GRAFT_OK; j++) {
        const graft_rating *x = &stream->v[j];
        cnt[x->domain & 1]++;
        if (x->rating < (float)cfg->min_rating)
            continue;
        cnt[2 + (x->domain & 1)]++;
        rc = graft_ratings_append(out, *x);
    }
    rc = graft_job_agree_ok(job->role_comm, rc);
    graft_job_allreduce(job->role_comm, cnt, gcnt, 4, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    for (int d = 0; d < 2 && rc == GRAFT_OK; d++) {
        active[d] = gcnt[2 + d] > 0;
        if (gcnt[d] > 0 && gcnt[2 + d] == 0) {
            if (job->index == 0)
                GRAFT_LOG_ERROR("GRAFT-NO-POSITIVES",
                                "%s: all %llu ratings are below --min-rating %g: %s has no "
                                "positive to learn from",
                                !cfg->source ? cfg->train
                                : d          ? cfg->target
                                             : cfg->source,
                                (unsigned long long)gcnt[d], cfg->min_rating, loss);
            rc = GRAFT_ERR_PARSE;
        }
    }
    return rc;
}
