#include "lanes.h"
#include "alloc.h"
#include "background.h"

/* Each helper lane is a graft_background (common/background.h), the one thread mechanism the
 * worker's prefetch uses too: a run starts every helper's task, runs lane 0 here, then waits. */
typedef struct {
    graft_lane_fn fn;
    void *arg;
    int lane;
} lane_task;

struct graft_lanes {
    int n;
    graft_background *h[GRAFT_MAX_LANES];
    lane_task task[GRAFT_MAX_LANES];
};

static graft_err
run_task(void *p)
{
    lane_task *t = p;
    t->fn(t->lane, t->arg);
    return GRAFT_OK;
}

graft_err
graft_lanes_create(int n, graft_lanes **out)
{
    *out = NULL;
    if (n < 1 || n > GRAFT_MAX_LANES)
        return GRAFT_ERR_INVALID;
    graft_lanes *l = graft_calloc(1, sizeof *l);
    if (!l)
        return GRAFT_ERR_NOMEM;
    l->n = 1;
    graft_err rc = GRAFT_OK;
    for (int i = 1; rc == GRAFT_OK && i < n; i++)
        if ((rc = graft_background_create(&l->h[i])) == GRAFT_OK)
            l->n = i + 1;
    if (rc != GRAFT_OK)
        graft_lanes_destroy(&l);
    *out = l;
    return rc;
}

void
graft_lanes_destroy(graft_lanes **lp)
{
    if (!lp || !*lp)
        return;
    graft_lanes *l = *lp;
    for (int i = 1; i < l->n; i++)
        graft_background_destroy(&l->h[i]);
    graft_free(l);
    *lp = NULL;
}

int
graft_lanes_count(const graft_lanes *l)
{
    return l->n;
}

void
graft_lanes_run(graft_lanes *l, graft_lane_fn fn, void *arg)
{
    for (int i = 1; i < l->n; i++) {
        l->task[i] = (lane_task){fn, arg, i};
        /* A helper is idle between runs (each run waits for all), so the start succeeds. */
        graft_background_start(l->h[i], run_task, &l->task[i]);
    }
    fn(0, arg);
    for (int i = 1; i < l->n; i++)
        graft_background_wait(l->h[i]);
}
