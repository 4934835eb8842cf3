#include "lanes.h"
#include "alloc.h"

#include <pthread.h>

typedef struct {
    graft_lanes *l;
    int lane;
    pthread_t th;
} helper;

struct graft_lanes {
    int n;
    helper h[GRAFT_MAX_LANES];
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    uint64_t generation; /* bumped for every run; helpers run once per generation */
    int pending;         /* helpers still running this generation */
    int stop;
    graft_lane_fn fn;
    void *arg;
};

static void *
serve_lane(void *p)
{
    helper *h = p;
    graft_lanes *l = h->l;
    uint64_t seen = 0;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->generation == seen)
            pthread_cond_wait(&l->go, &l->mu);
        if (l->stop)
            break;
        seen = l->generation;
        graft_lane_fn fn = l->fn;
        void *arg = l->arg;
        pthread_mutex_unlock(&l->mu);
        fn(h->lane, arg);
        pthread_mutex_lock(&l->mu);
        if (--l->pending == 0)
            pthread_cond_signal(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
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
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->go, NULL);
    pthread_cond_init(&l->done, NULL);
    for (int i = 1; i < n; i++) {
        l->h[i] = (helper){.l = l, .lane = i};
        if (pthread_create(&l->h[i].th, NULL, serve_lane, &l->h[i]) != 0) {
            graft_lanes_destroy(&l);
            return GRAFT_ERR_NOMEM;
        }
        l->n = i + 1;
    }
    *out = l;
    return GRAFT_OK;
}

void
graft_lanes_destroy(graft_lanes **lp)
{
    if (!lp || !*lp)
        return;
    graft_lanes *l = *lp;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->go);
    pthread_mutex_unlock(&l->mu);
    for (int i = 1; i < l->n; i++)
        pthread_join(l->h[i].th, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->go);
    pthread_cond_destroy(&l->done);
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
    if (l->n > 1) {
        pthread_mutex_lock(&l->mu);
        l->fn = fn;
        l->arg = arg;
        l->pending = l->n - 1;
        l->generation++;
        pthread_cond_broadcast(&l->go);
        pthread_mutex_unlock(&l->mu);
    }
    fn(0, arg);
    if (l->n > 1) {
        pthread_mutex_lock(&l->mu);
        while (l->pending > 0)
            pthread_cond_wait(&l->done, &l->mu);
        pthread_mutex_unlock(&l->mu);
    }
}
