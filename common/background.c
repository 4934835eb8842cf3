#include "background.h"
#include "alloc.h"

#include <pthread.h>

struct graft_background {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    graft_err (*fn)(void *arg);
    void *arg;
    graft_err rc;
    int pending, running, busy, stop;
};

static void *
loop(void *arg)
{
    graft_background *bg = arg;
    pthread_mutex_lock(&bg->mu);
    for (;;) {
        while (!bg->pending && !bg->stop)
            pthread_cond_wait(&bg->cv, &bg->mu);
        if (!bg->pending && bg->stop)
            break;
        bg->pending = 0;
        bg->running = 1;
        pthread_mutex_unlock(&bg->mu);
        graft_err rc = bg->fn(bg->arg);
        pthread_mutex_lock(&bg->mu);
        bg->rc = rc;
        bg->running = 0;
        pthread_cond_broadcast(&bg->cv);
    }
    pthread_mutex_unlock(&bg->mu);
    return NULL;
}

graft_err
graft_background_create(graft_background **out)
{
    *out = NULL;
    graft_background *bg = graft_calloc(1, sizeof *bg);
    if (!bg)
        return GRAFT_ERR_NOMEM;
    pthread_mutex_init(&bg->mu, NULL);
    pthread_cond_init(&bg->cv, NULL);
    if (pthread_create(&bg->th, NULL, loop, bg) != 0) {
        pthread_mutex_destroy(&bg->mu);
        pthread_cond_destroy(&bg->cv);
        graft_free(bg);
        bg = NULL;
    }
    *out = bg;
    return bg ? GRAFT_OK : GRAFT_ERR_NOMEM;
}

void
graft_background_destroy(graft_background **bgp)
{
    if (!bgp || !*bgp)
        return;
    graft_background *bg = *bgp;
    graft_background_wait(bg);
    pthread_mutex_lock(&bg->mu);
    bg->stop = 1;
    pthread_cond_broadcast(&bg->cv);
    pthread_mutex_unlock(&bg->mu);
    pthread_join(bg->th, NULL);
    pthread_mutex_destroy(&bg->mu);
    pthread_cond_destroy(&bg->cv);
    graft_free(bg);
    *bgp = NULL;
}

graft_err
graft_background_start(graft_background *bg, graft_err (*fn)(void *arg), void *arg)
{
    if (bg->busy)
        return GRAFT_ERR_INVALID;
    pthread_mutex_lock(&bg->mu);
    bg->fn = fn;
    bg->arg = arg;
    bg->pending = 1;
    bg->busy = 1;
    pthread_cond_broadcast(&bg->cv);
    pthread_mutex_unlock(&bg->mu);
    return GRAFT_OK;
}

graft_err
graft_background_wait(graft_background *bg)
{
    if (!bg->busy)
        return GRAFT_OK;
    pthread_mutex_lock(&bg->mu);
    while (bg->pending || bg->running)
        pthread_cond_wait(&bg->cv, &bg->mu);
    graft_err rc = bg->rc;
    pthread_mutex_unlock(&bg->mu);
    bg->busy = 0;
    return rc;
}

int
graft_background_busy(const graft_background *bg)
{
    return bg->busy;
}
