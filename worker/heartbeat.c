#include "heartbeat.h"
#include "alloc.h"
#include "client.h"
#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

struct graft_heartbeat {
    graft_net *net;
    const graft_job *job;
    int interval_s, timeout_s;
    void (*on_lost)(void *ctx);
    void *ctx;
    atomic_int stop, lost;
    pthread_t th;
};

static void *
beat(void *arg)
{
    graft_heartbeat *hb = arg;
    graft_client *c = NULL;
    graft_client_opts co = {.worker = (uint32_t)hb->job->index,
                            .timeout_ms = hb->timeout_s * 1000,
                            .max_keys = 1,
                            .server_keys = (const char(*)[GRAFT_KEY_MAX])hb->job->server_keys};
    /* The sockets are made and used in this thread only. */
    int ok = graft_client_create(hb->net, (const char(*)[GRAFT_ENDPOINT_MAX])hb->job->endpoints,
                                 hb->job->nservers, &co, &c) == GRAFT_OK;
    if (!ok)
        GRAFT_LOG_WARN("GRAFT-HEARTBEAT", "cannot open the heartbeat connections; going on "
                                          "without heartbeats");
    while (ok && !atomic_load(&hb->stop)) {
        graft_err rc = graft_client_heartbeat(c);
        if (rc != GRAFT_OK && !atomic_load(&hb->stop)) {
            GRAFT_LOG_ERROR("GRAFT-PEER-LOST",
                            "worker %d: a server missed its heartbeat deadline of %d s (named "
                            "above); ending the job",
                            hb->job->index, hb->timeout_s);
            /* Reported up: the main thread may be blocked on that very server, so main decides
             * what to do now, from this thread. */
            atomic_store(&hb->lost, 1);
            if (hb->on_lost)
                hb->on_lost(hb->ctx);
            break;
        }
        for (int i = 0; i < hb->interval_s * 10 && !atomic_load(&hb->stop); i++) {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    graft_client_destroy(&c);
    return NULL;
}

graft_err
graft_heartbeat_start(graft_net *net, const graft_job *job, int interval_s, int timeout_s,
                      void (*on_lost)(void *ctx), void *ctx, graft_heartbeat **out)
{
    *out = NULL;
    graft_heartbeat *hb = graft_calloc(1, sizeof *hb);
    if (!hb)
        return GRAFT_ERR_NOMEM;
    hb->net = net;
    hb->job = job;
    hb->interval_s = interval_s;
    hb->timeout_s = timeout_s;
    hb->on_lost = on_lost;
    hb->ctx = ctx;
    atomic_init(&hb->stop, 0);
    atomic_init(&hb->lost, 0);
    if (pthread_create(&hb->th, NULL, beat, hb) != 0) {
        graft_free(hb);
        hb = NULL;
    }
    *out = hb;
    return hb ? GRAFT_OK : GRAFT_ERR_NOMEM;
}

int
graft_heartbeat_lost(const graft_heartbeat *hb)
{
    return hb && atomic_load(&((graft_heartbeat *)hb)->lost);
}

void
graft_heartbeat_stop(graft_heartbeat **hb)
{
    if (!hb || !*hb)
        return;
    atomic_store(&(*hb)->stop, 1);
    pthread_join((*hb)->th, NULL);
    graft_free(*hb);
    *hb = NULL;
}
