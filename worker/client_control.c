/* The client's header-only requests: creating tables, barriers and heartbeats, the consistency
 * clock, statistics, shutdown, save and load (docs/architecture.md, the messages). */
#include "alloc.h"
#include "client_internal.h"
#include "clock.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* Sends a header-only request to every server and collects the replies (into replies[s] when
 * replies is not NULL). */
static graft_err
broadcast(graft_client *c, graft_msg *m, graft_msg *replies)
{
    uint64_t base = c->next_id;
    for (int s = 0; s < c->nservers; s++) {
        m->request_id = c->next_id++;
        graft_err rc = graft_client_send(c, s, m, NULL, 0);
        if (rc != GRAFT_OK)
            return rc;
    }
    for (int s = 0; s < c->nservers; s++) {
        graft_parts p;
        graft_msg r;
        graft_err rc = graft_client_recv_reply(c, s, base + (uint64_t)s, &r, &p);
        if (rc != GRAFT_OK)
            return rc;
        graft_parts_close(&p);
        if (replies)
            replies[s] = r;
    }
    return GRAFT_OK;
}

graft_err
graft_client_create_table(graft_client *c, const graft_table_spec *spec, uint32_t *id)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_CREATE, 0);
    m.worker = c->opts.worker;
    m.has_spec = 1;
    m.spec = *spec;
    graft_msg *replies = graft_calloc((size_t)c->nservers, sizeof *replies);
    if (!replies)
        return GRAFT_ERR_NOMEM;
    graft_err rc = broadcast(c, &m, replies);
    if (rc == GRAFT_OK) {
        *id = replies[0].table;
        for (int s = 1; s < c->nservers; s++)
            if (replies[s].table != *id) {
                /* Tables are declared in the same order by every worker, so ids agree. */
                GRAFT_LOG_ERROR("GRAFT-TABLE-ID", "table '%s' has id %u on server 0 but %u on %d",
                                spec->name, *id, replies[s].table, s);
                rc = GRAFT_ERR_PROTO;
            }
    }
    graft_free(replies);
    return rc;
}

/* A header-only request of this type (with clock) to every server, and every reply. */
static graft_err
tell_all(graft_client *c, graft_msg_type type, uint64_t clock)
{
    graft_msg m;
    graft_wire_init(&m, type, 0);
    m.worker = c->opts.worker;
    m.clock = clock;
    return broadcast(c, &m, NULL);
}

graft_err
graft_client_barrier(graft_client *c, uint64_t clock)
{
    return tell_all(c, GRAFT_MSG_BARRIER, clock);
}

graft_err
graft_client_heartbeat(graft_client *c)
{
    return tell_all(c, GRAFT_MSG_HEARTBEAT, 0);
}

graft_err
graft_client_sync(graft_client *c)
{
    for (int s = 0; s < c->nservers; s++) {
        graft_err rc = graft_client_drain(c, s);
        if (rc != GRAFT_OK)
            return rc;
    }
    return GRAFT_OK;
}

graft_err
graft_client_clock(graft_client *c, uint64_t clock, uint32_t staleness, uint64_t *slowest)
{
    graft_err rc = graft_client_sync(c);
    if (rc != GRAFT_OK)
        return rc;
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_CLOCK, c->next_id++);
    m.worker = c->opts.worker;
    m.clock = clock;
    m.staleness = staleness;
    if ((rc = graft_client_send(c, 0, &m, NULL, 0)) != GRAFT_OK)
        return rc;
    graft_parts p;
    graft_msg r;
    if ((rc = graft_client_recv_reply(c, 0, m.request_id, &r, &p)) != GRAFT_OK)
        return rc;
    graft_parts_close(&p);
    *slowest = r.count;
    return GRAFT_OK;
}

graft_err
graft_client_tick(graft_client *c, graft_clockstate *cs)
{
    double t0 = graft_clock_now();
    uint64_t slowest;
    graft_err rc = graft_client_clock(c, ++cs->clock, cs->bound, &slowest);
    cs->wait_s += graft_clock_now() - t0;
    if (rc == GRAFT_OK && cs->clock > slowest && cs->clock - slowest > cs->staleness)
        cs->staleness = cs->clock - slowest;
    return rc;
}

graft_err
graft_client_stats(graft_client *c, int server, graft_server_stats *out)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_STATS, c->next_id++);
    graft_err rc = graft_client_send(c, server, &m, NULL, 0);
    if (rc != GRAFT_OK)
        return rc;
    graft_parts p;
    graft_msg r;
    /* Only this reply's header is decoded with its statistics, straight into *out. */
    c->stats_sink = out;
    rc = graft_client_recv_reply(c, server, m.request_id, &r, &p);
    c->stats_sink = NULL;
    if (rc != GRAFT_OK)
        return rc;
    graft_parts_close(&p);
    if (!r.stats) {
        GRAFT_LOG_ERROR("GRAFT-PEER-BAD-REPLY", "server %d (%s): a stats reply without statistics",
                        server, c->endpoints[server]);
        return GRAFT_ERR_PROTO;
    }
    return GRAFT_OK;
}

graft_err
graft_client_shutdown(graft_client *c)
{
    return tell_all(c, GRAFT_MSG_SHUTDOWN, 0);
}

graft_err
graft_client_save(graft_client *c, uint32_t table, uint64_t clock, uint64_t *rows,
                  uint64_t *checksums, uint32_t *width)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_SAVE, 0);
    m.table = table;
    m.clock = clock;
    m.worker = c->opts.worker;
    graft_msg *replies = graft_calloc((size_t)c->nservers, sizeof *replies);
    if (!replies)
        return GRAFT_ERR_NOMEM;
    graft_err rc = broadcast(c, &m, replies);
    for (int s = 0; rc == GRAFT_OK && s < c->nservers; s++) {
        rows[s] = replies[s].count;
        checksums[s] = replies[s].checksum;
        *width = replies[s].width;
    }
    graft_free(replies);
    return rc;
}

graft_err
graft_client_load(graft_client *c, uint32_t table, uint64_t clock, const char *file,
                  uint64_t checksum, uint64_t *kept)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_LOAD, 0);
    m.table = table;
    m.clock = clock;
    m.worker = c->opts.worker;
    m.checksum = checksum;
    snprintf(m.path, sizeof m.path, "%s", file);
    graft_msg *replies = graft_calloc((size_t)c->nservers, sizeof *replies);
    if (!replies)
        return GRAFT_ERR_NOMEM;
    graft_err rc = broadcast(c, &m, replies);
    *kept = 0;
    for (int s = 0; rc == GRAFT_OK && s < c->nservers; s++)
        *kept += replies[s].count;
    graft_free(replies);
    return rc;
}
