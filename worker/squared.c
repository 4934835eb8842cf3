/* The squared-error objective (worker/objective.h): the batch plane's mini-batch SGD, whose
 * gradients the servers apply, and the block plane's in-worker SGD (worker/blocks.c). */
#include "alloc.h"
#include "background.h"
#include "clock.h"
#include "engine_internal.h"
#include "model.h"
#include "rng.h"

#include <string.h>

/* --prefetch: the engine's background thread pulls the next batch's rows on the second
 * connection. */
typedef struct {
    graft_client *c;
    graft_bank b;
    const graft_rating *r;
    size_t n;
    const int *us, *is;
} fetch_job;

static graft_err
fetch_task(void *arg)
{
    fetch_job *j = arg;
    return graft_engine_gather(j->c, j->b, j->r, j->n, 1, j->us, j->is);
}

/* One pass over a stream of ratings whose domains say which tables they train. */
static graft_err
batch_epoch(graft_engine *e, graft_client *c, graft_ratings *stream, const graft_epoch_args *a,
            double *sse)
{
    double t0 = graft_clock_now();
    const graft_config *cfg = e->cfg;
    graft_rng rng;
    graft_rng_seed(&rng, a->seed);
    graft_rng_shuffle(&rng, stream->v, stream->n, sizeof *stream->v);
    int us[2] = {e->dom[0].uslot, e->dom[1].uslot}, is[2] = {e->dom[0].islot, e->dom[1].islot};
    *sse = 0;
    /* With --prefetch the next batch is pulled while this one trains: its rows may miss this
     * batch's updates (a staleness of one batch), and runs no longer repeat exactly. */
    int pre = cfg->prefetch && e->prefetch_client && e->background;
    graft_bank cur = {e->ks, e->uidx, e->iidx}, nxt = {e->ks2, e->uidx2, e->iidx2};
    for (int s = 0; pre && s < GRAFT_ENGINE_SLOTS; s++) {
        e->ks2[s].table = e->ks[s].table;
        e->ks2[s].width = e->ks[s].width;
    }
    int live = 0;
    fetch_job fj;
    graft_err rc = GRAFT_OK;
    /* Every worker ticks clocks_per_epoch times an epoch, however long its stream: tick j comes
     * once a fraction j / clocks_per_epoch of the stream is done. */
    uint64_t ticked = 0, C = e->clocks_per_epoch;
    for (size_t b = 0; b < stream->n || ticked < C; b += (size_t)cfg->batch) {
        while (rc == GRAFT_OK && ticked < C &&
               (b >= stream->n || (double)b >= (double)ticked / C * stream->n)) {
            rc = graft_client_tick(c, &e->cs);
            ticked++;
        }
        if (rc != GRAFT_OK || b >= stream->n)
            break;
        size_t n = stream->n - b < (size_t)cfg->batch ? stream->n - b : (size_t)cfg->batch;
        const graft_rating *r = stream->v + b;
        if (live) { /* this batch was fetched during the last one */
            rc = graft_background_wait(e->background);
            live = 0;
            graft_bank x = cur;
            cur = nxt;
            nxt = x;
        } else {
            rc = graft_engine_gather(c, cur, r, n, 1, us, is);
        }
        if (rc != GRAFT_OK)
            break;
        size_t nb = b + n;
        if (pre && nb < stream->n) {
            fj = (fetch_job){e->prefetch_client,
                             nxt,
                             stream->v + nb,
                             stream->n - nb < (size_t)cfg->batch ? stream->n - nb
                                                                 : (size_t)cfg->batch,
                             us,
                             is};
            live = graft_background_start(e->background, fetch_task, &fj) == GRAFT_OK;
        }
        for (int s = 0; s < GRAFT_ENGINE_SLOTS; s++)
            if (cur.ks[s].active)
                memset(cur.ks[s].grads, 0, (size_t)cur.ks[s].n * cur.ks[s].width * sizeof(float));
        for (size_t j = 0; j < n; j++) {
            const graft_domain *d = &e->dom[r[j].domain];
            graft_keyset *ku = &cur.ks[d->uslot], *ki = &cur.ks[d->islot];
            size_t u = (size_t)cur.uidx[j] * ku->width, i = (size_t)cur.iidx[j] * ki->width;
            float err = graft_model_grad_at(d->mu, ku->rows + u, d->ubias, ki->rows + i, e->k,
                                            r[j].rating, (float)cfg->reg, (float)cfg->reg_bias,
                                            d->weight, ku->grads + u, ki->grads + i);
            *sse += (double)err * err;
        }
        if ((rc = graft_engine_scatter(c, cur)) != GRAFT_OK)
            break;
        graft_engine_progress(e, a->phase, a->epoch, b + n, stream->n, t0);
    }
    if (live)
        graft_background_wait(e->background);
    return rc;
}

static graft_err
squared_epoch(graft_engine *e, graft_client *c, graft_ratings *stream, const graft_epoch_args *a,
              double *sse, graft_blocks_times *tm)
{
    /* The block plane holds its own ratings (exchanged by user when it was built). */
    if (e->blk)
        return graft_blocks_epoch(e->blk, &e->cs, sse, tm);
    return batch_epoch(e, c, stream, a, sse);
}

const graft_objective_ops graft_squared_ops = {
    .name = "squared",
    .epoch = squared_epoch,
};
