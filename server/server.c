#include "server_internal.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

graft_err
graft_server_create(const graft_server_opts *opts, graft_net *net, graft_server **out,
                    char *endpoint, size_t eplen)
{
    *out = NULL;
    graft_server *s = graft_calloc(1, sizeof *s);
    if (!s)
        return GRAFT_ERR_NOMEM;
    s->opts = *opts;
    graft_err rc = GRAFT_OK;
    size_t nw = (size_t)(opts->nworkers > 0 ? opts->nworkers : 1);
    s->waiters = graft_calloc(nw, sizeof(waiter));
    s->clock_waiters = graft_calloc(nw, sizeof(waiter));
    s->clocks = graft_calloc(nw, sizeof(uint64_t));
    s->clock_need = graft_calloc(nw, sizeof(uint64_t));
    s->clock_asked = graft_calloc(nw, sizeof(uint64_t));
    s->clock_waiting = graft_calloc(nw, sizeof(int));
    s->last_seen = graft_calloc(nw, sizeof(double));
    /* A worker attaches an arena per connection (two at most) and may restart them. */
    if (!s->waiters || !s->clock_waiters || !s->clocks || !s->clock_need || !s->clock_asked ||
        !s->clock_waiting || !s->last_seen ||
        graft_arenas_create(4 * (int)nw + 8, &s->arenas) != GRAFT_OK ||
        graft_lanes_create(opts->threads > 0 ? opts->threads : 1, &s->lanes) != GRAFT_OK) {
        rc = GRAFT_ERR_NOMEM;
        goto out;
    }
    /* Frames up to twice the limit are received and refused with an error reply (and counted);
     * larger ones make ZeroMQ drop the peer before anything is allocated for them. */
    rc = graft_sock_bind_router(net, opts->bind_host, opts->limits.max_message_bytes * 2,
                                opts->curve_secret, &s->sock, endpoint, eplen);
    s->nlanes = graft_lanes_count(s->lanes);
out:
    if (rc != GRAFT_OK)
        graft_server_destroy(&s);
    *out = s;
    return rc;
}

void
graft_server_destroy(graft_server **s)
{
    if (!s || !*s)
        return;
    graft_lanes_destroy(&(*s)->lanes);
    for (uint32_t i = 0; i < (*s)->ntables; i++)
        for (int l = 0; l < (*s)->nlanes; l++)
            graft_table_destroy(&(*s)->tables[i][l]);
    graft_sock_close(&(*s)->sock);
    graft_arenas_destroy(&(*s)->arenas);
    graft_free((*s)->waiters);
    graft_free((*s)->clock_waiters);
    graft_free((*s)->clocks);
    graft_free((*s)->clock_need);
    graft_free((*s)->clock_asked);
    graft_free((*s)->clock_waiting);
    graft_free((*s)->last_seen);
    graft_free((*s)->scratch);
    graft_free((*s)->keybuf);
    graft_free((*s)->sel);
    graft_free((*s)->lane_of);
    graft_free(*s);
    *s = NULL;
}

/* VmHWM of /proc/self/status (0 where there is none). */
static uint64_t
peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kb * 1024;
}

void
graft_server_get_stats(const graft_server *s, graft_server_stats *out)
{
    *out = s->stats;
    out->ntables = s->ntables;
    out->peak_rss = peak_rss();
    out->arenas = (uint32_t)graft_arenas_count(s->arenas);
    for (uint32_t i = 0; i < s->ntables; i++) {
        const graft_table_spec *sp = graft_table_spec_of(s->tables[i][0]);
        graft_table_stats *t = &out->tables[i];
        t->table = i;
        snprintf(t->name, sizeof t->name, "%s", sp->name);
        t->width = sp->width;
        t->rows = t->bytes = 0;
        for (int l = 0; l < s->nlanes; l++) {
            t->rows += graft_table_rows(s->tables[i][l]);
            t->bytes += graft_table_bytes(s->tables[i][l]);
        }
    }
}

/* Sends [identity][header][payload?]. A reply that cannot be sent is logged, not fatal: the peer
 * may have gone. */
void
graft_server_reply(graft_server *s, const void *id, size_t idlen, graft_msg *m, const void *payload,
                   size_t plen)
{
    uint8_t *hdr = NULL;
    size_t hlen;
    if (graft_wire_encode(m, &hdr, &hlen) != GRAFT_OK) {
        GRAFT_LOG_ERROR("GRAFT-SERVER-NOMEM", "cannot encode a reply");
        return;
    }
    const void *frames[3] = {id, hdr, payload};
    size_t sizes[3] = {idlen, hlen, plen};
    if (graft_sock_send(s->sock, payload ? 3 : 2, frames, sizes) == GRAFT_OK)
        s->stats.bytes_out += hlen + plen;
    graft_free(hdr);
}

void
graft_server_reply_error(graft_server *s, const void *id, size_t idlen, uint64_t request_id,
                         graft_err code, const char *why)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_ERROR, request_id);
    m.error_code = (uint32_t)code;
    snprintf(m.error_message, sizeof m.error_message, "%s", why);
    s->stats.errors++;
    GRAFT_LOG_DEBUG("GRAFT-SERVER-BAD-REQUEST", "request %llu refused: %s",
                    (unsigned long long)request_id, why);
    graft_server_reply(s, id, idlen, &m, NULL, 0);
}

graft_err
graft_server_scratch(graft_server *s, size_t floats)
{
    if (floats <= s->scratch_cap)
        return GRAFT_OK;
    float *n = graft_realloc_array(s->scratch, floats, sizeof(float));
    if (!n)
        return GRAFT_ERR_NOMEM;
    s->scratch = n;
    s->scratch_cap = floats;
    return GRAFT_OK;
}

static void
handle_create(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
              const graft_msg *req)
{
    (void)p;
    const graft_table_spec *sp = &req->spec;
    for (uint32_t i = 0; i < s->ntables; i++) {
        const graft_table_spec *have = graft_table_spec_of(s->tables[i][0]);
        if (strcmp(have->name, sp->name) != 0)
            continue;
        /* Creating is idempotent so that every worker may declare the tables it uses. */
        if (have->width != sp->width || have->seed != sp->seed ||
            have->optimizer != sp->optimizer) {
            char why[256];
            snprintf(why, sizeof why, "table '%s' exists with width %u, asked for %u", sp->name,
                     have->width, sp->width);
            graft_server_reply_error(s, id, idlen, req->request_id, GRAFT_ERR_CONFLICT, why);
            return;
        }
        graft_msg m;
        graft_wire_init(&m, GRAFT_MSG_CREATE, req->request_id);
        m.table = i;
        graft_server_reply(s, id, idlen, &m, NULL, 0);
        return;
    }
    if (s->ntables == GRAFT_MAX_TABLES) {
        graft_server_reply_error(s, id, idlen, req->request_id, GRAFT_ERR_TOOBIG,
                                 "too many tables");
        return;
    }
    for (int l = 0; l < s->nlanes; l++)
        if (graft_table_create(sp, &s->tables[s->ntables][l]) != GRAFT_OK) {
            for (int k = 0; k < l; k++)
                graft_table_destroy(&s->tables[s->ntables][k]);
            graft_server_reply_error(s, id, idlen, req->request_id, GRAFT_ERR_NOMEM,
                                     "out of memory");
            return;
        }
    GRAFT_LOG_DEBUG("GRAFT-SERVER-TABLE", "table %u '%s' width %u", s->ntables, sp->name,
                    sp->width);
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_CREATE, req->request_id);
    m.table = s->ntables++;
    graft_server_reply(s, id, idlen, &m, NULL, 0);
}

static void
handle_barrier(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
               const graft_msg *req)
{
    (void)p;
    if (idlen > MAX_IDENTITY) {
        graft_server_reply_error(s, id, idlen, req->request_id, GRAFT_ERR_INVALID,
                                 "identity too long");
        return;
    }
    if (s->nwaiting > 0 && req->clock != s->barrier_clock) {
        char why[128];
        snprintf(why, sizeof why, "barrier on clock %llu while clock %llu is in progress",
                 (unsigned long long)req->clock, (unsigned long long)s->barrier_clock);
        graft_server_reply_error(s, id, idlen, req->request_id, GRAFT_ERR_INVALID, why);
        return;
    }
    s->barrier_clock = req->clock;
    waiter *w = &s->waiters[s->nwaiting++];
    memcpy(w->id, id, idlen);
    w->len = idlen;
    w->request_id = req->request_id;
    if (s->nwaiting < s->opts.nworkers)
        return;
    for (int i = 0; i < s->nwaiting; i++) {
        graft_msg m;
        graft_wire_init(&m, GRAFT_MSG_BARRIER, s->waiters[i].request_id);
        m.clock = s->barrier_clock;
        graft_server_reply(s, s->waiters[i].id, s->waiters[i].len, &m, NULL, 0);
    }
    s->nwaiting = 0;
}

/* A worker that reached clock c may go on once the slowest worker reached c - staleness (so
 * staleness 0 is a barrier per clock, BSP; a huge one never waits, ASP). The reply's count is
 * the slowest worker's clock then, from which the worker reads the staleness it ran with. */
static void
handle_clock(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
             const graft_msg *req)
{
    (void)p;
    char why[160];
    uint32_t w = req->worker;
    if (idlen > MAX_IDENTITY) {
        graft_server_reply_error(s, id, idlen, req->request_id, GRAFT_ERR_INVALID,
                                 "identity too long");
        return;
    }
    if (w >= (uint32_t)s->opts.nworkers || s->clock_waiting[w] || req->clock < s->clocks[w]) {
        snprintf(why, sizeof why,
                 "clock %llu from worker %u refused (%d workers; its clock is %llu%s)",
                 (unsigned long long)req->clock, w, s->opts.nworkers,
                 w < (uint32_t)s->opts.nworkers ? (unsigned long long)s->clocks[w] : 0ULL,
                 w < (uint32_t)s->opts.nworkers && s->clock_waiting[w] ? ", already waiting" : "");
        graft_server_reply_error(s, id, idlen, req->request_id, GRAFT_ERR_INVALID, why);
        return;
    }
    s->clocks[w] = req->clock;
    memcpy(s->clock_waiters[w].id, id, idlen);
    s->clock_waiters[w].len = idlen;
    s->clock_waiters[w].request_id = req->request_id;
    s->clock_need[w] = req->clock > req->staleness ? req->clock - req->staleness : 0;
    s->clock_asked[w] = req->clock;
    s->clock_waiting[w] = 1;
    uint64_t slowest = UINT64_MAX;
    for (int i = 0; i < s->opts.nworkers; i++)
        slowest = s->clocks[i] < slowest ? s->clocks[i] : slowest;
    for (int i = 0; i < s->opts.nworkers; i++) {
        if (!s->clock_waiting[i] || s->clock_need[i] > slowest)
            continue;
        graft_msg m;
        graft_wire_init(&m, GRAFT_MSG_CLOCK, s->clock_waiters[i].request_id);
        m.clock = s->clock_asked[i];
        m.count = slowest;
        graft_server_reply(s, s->clock_waiters[i].id, s->clock_waiters[i].len, &m, NULL, 0);
        s->clock_waiting[i] = 0;
    }
}

static void
handle_heartbeat(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
                 const graft_msg *req)
{
    (void)p;
    if (req->worker < (uint32_t)s->opts.nworkers)
        s->last_seen[req->worker] = graft_clock_now();
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_HEARTBEAT, req->request_id);
    graft_server_reply(s, id, idlen, &m, NULL, 0);
}

static void
handle_stats(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
             const graft_msg *req)
{
    (void)p;
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_STATS, req->request_id);
    graft_server_stats st;
    graft_server_get_stats(s, &st);
    m.stats = &st;
    graft_server_reply(s, id, idlen, &m, NULL, 0);
}

static void
handle_shutdown(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
                const graft_msg *req)
{
    (void)p;
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_SHUTDOWN, req->request_id);
    graft_server_reply(s, id, idlen, &m, NULL, 0);
    s->stop = 1;
}

static void
handle_attach(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
              const graft_msg *req)
{
    (void)p;
    char why[256];
    snprintf(why, sizeof why, "this server runs with --shm off");
    graft_err rc = s->opts.no_shm ? GRAFT_ERR_INVALID
                                  : graft_arenas_attach(s->arenas, id, idlen, req, why, sizeof why);
    if (rc != GRAFT_OK) {
        graft_server_reply_error(s, id, idlen, req->request_id, rc, why);
        return;
    }
    GRAFT_LOG_DEBUG("GRAFT-SERVER-ARENA", "worker %u attached a %llu-byte arena", req->worker,
                    (unsigned long long)req->arena_bytes);
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_ATTACH, req->request_id);
    graft_server_reply(s, id, idlen, &m, NULL, 0);
}

/* One handler per request type (graft_wire_check_request lets no other type through). */
static const graft_server_handler handlers[] = {
    [GRAFT_MSG_PULL] = graft_server_handle_keyed,
    [GRAFT_MSG_PUSH] = graft_server_handle_keyed,
    [GRAFT_MSG_ASSIGN] = graft_server_handle_keyed,
    [GRAFT_MSG_COPY] = graft_server_handle_keyed,
    [GRAFT_MSG_BARRIER] = handle_barrier,
    [GRAFT_MSG_STATS] = handle_stats,
    [GRAFT_MSG_SHUTDOWN] = handle_shutdown,
    [GRAFT_MSG_CREATE] = handle_create,
    [GRAFT_MSG_SAVE] = graft_server_handle_store,
    [GRAFT_MSG_LOAD] = graft_server_handle_store,
    [GRAFT_MSG_CLOCK] = handle_clock,
    [GRAFT_MSG_HEARTBEAT] = handle_heartbeat,
    [GRAFT_MSG_ATTACH] = handle_attach,
};

/* Decodes and checks a message, then hands it to its type's handler. */
static void
handle(graft_server *s, graft_parts *p)
{
    if (p->n < 2) {
        /* Only an identity: nothing to answer to but the peer. */
        if (p->n == 1)
            graft_server_reply_error(s, p->data[0], p->size[0], 0, GRAFT_ERR_PROTO,
                                     "empty message");
        return;
    }
    const void *id = p->data[0];
    size_t idlen = p->size[0];
    char why[256];
    graft_msg req;
    s->stats.requests++;
    for (int i = 1; i < p->n; i++)
        s->stats.bytes_in += p->size[i];
    if (p->extra) {
        snprintf(why, sizeof why, "message has more than %d frames", GRAFT_NET_MAX_PARTS - 1);
        graft_server_reply_error(s, id, idlen, 0, GRAFT_ERR_PROTO, why);
        return;
    }
    graft_err rc = graft_wire_decode(p->data[1], p->size[1], &req, NULL, why, sizeof why);
    if (rc != GRAFT_OK) {
        graft_server_reply_error(s, id, idlen, 0, rc, why);
        return;
    }
    rc = graft_wire_check_request(&req, p->n - 2, p->size + 2, &s->opts.limits, why, sizeof why);
    if (rc != GRAFT_OK) {
        graft_server_reply_error(s, id, idlen, req.request_id, rc, why);
        return;
    }
    graft_server_handler h =
        (size_t)req.type < sizeof handlers / sizeof *handlers ? handlers[req.type] : NULL;
    if (!h) {
        snprintf(why, sizeof why, "no handler for message type %d", (int)req.type);
        graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_PROTO, why);
        return;
    }
    h(s, p, id, idlen, &req);
}

graft_err
graft_server_run(graft_server *s)
{
    while (!s->stop) {
        graft_parts p;
        /* Wake at least once a second to look for workers gone silent. */
        graft_err rc = graft_sock_recv(s->sock, &p, s->opts.heartbeat_timeout_s > 0 ? 1000 : -1);
        if (rc == GRAFT_ERR_TIMEOUT || (rc == GRAFT_OK && s->opts.heartbeat_timeout_s > 0)) {
            double t = graft_clock_now();
            for (int w = 0; w < s->opts.nworkers; w++)
                if (s->last_seen[w] > 0 && t - s->last_seen[w] > s->opts.heartbeat_timeout_s) {
                    GRAFT_LOG_ERROR("GRAFT-PEER-LOST",
                                    "worker %d has sent no heartbeat for %.0f s (limit %d s); "
                                    "this server stops, which ends the job",
                                    w, t - s->last_seen[w], s->opts.heartbeat_timeout_s);
                    if (rc == GRAFT_OK)
                        graft_parts_close(&p);
                    return GRAFT_ERR_TIMEOUT;
                }
            if (rc == GRAFT_ERR_TIMEOUT)
                continue;
        }
        if (rc != GRAFT_OK)
            return rc;
        handle(s, &p);
        graft_parts_close(&p);
    }
    return GRAFT_OK;
}
