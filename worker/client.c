#include "client.h"
#include "alloc.h"
#include "hash.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    uint64_t *keys;
    uint32_t *pos; /* where each key sits in the caller's arrays */
    float *vals;
    size_t n, cap, vcap;
} group;

/* Requests sent to one server whose replies are acknowledgements not yet read (pushes and
 * assigns: the caller does not wait for them). A connection's replies come in request order, so
 * they are read, and checked, before any later reply from that server. */
#define MAX_PENDING 1024
/* Bytes sent to one server and not yet acknowledged, at most: beyond them the sender waits, so
 * that a server's queue (its memory) never holds more than this of one worker's pushes. */
#define MAX_INFLIGHT_BYTES (4u << 20)
typedef struct {
    uint64_t ids[MAX_PENDING];
    int head, n;
    size_t bytes;
} pending;

struct graft_client {
    graft_client_opts opts;
    int nservers;
    graft_sock **socks;
    char (*endpoints)[GRAFT_ENDPOINT_MAX];
    group *groups; /* GRAFT_CLIENT_MAX_MANY x nservers: one set per concurrent request */
    pending *pend; /* per server */
    uint64_t next_id;
};

graft_err
graft_client_create(graft_net *net, const char (*endpoints)[GRAFT_ENDPOINT_MAX], int nservers,
                    const graft_client_opts *opts, graft_client **out)
{
    *out = NULL;
    if (nservers < 1 || nservers > GRAFT_MAX_SERVERS)
        return GRAFT_ERR_INVALID;
    graft_client *c = graft_calloc(1, sizeof *c);
    if (!c)
        return GRAFT_ERR_NOMEM;
    c->opts = *opts;
    /* Big requests travel in chunks, so that no server assembles a huge reply (its memory stays
     * near its tables') while a chunk is still large enough to amortise a message. */
    if (c->opts.max_keys == 0 || c->opts.max_keys > GRAFT_CLIENT_CHUNK_KEYS)
        c->opts.max_keys = GRAFT_CLIENT_CHUNK_KEYS;
    c->nservers = nservers;
    c->next_id = 1;
    c->socks = graft_calloc((size_t)nservers, sizeof *c->socks);
    c->groups = graft_calloc((size_t)nservers * GRAFT_CLIENT_MAX_MANY, sizeof *c->groups);
    c->pend = graft_calloc((size_t)nservers, sizeof *c->pend);
    c->endpoints = graft_calloc((size_t)nservers, GRAFT_ENDPOINT_MAX);
    if (!c->socks || !c->groups || !c->pend || !c->endpoints) {
        graft_client_destroy(&c);
        return GRAFT_ERR_NOMEM;
    }
    memcpy(c->endpoints, endpoints, (size_t)nservers * GRAFT_ENDPOINT_MAX);
    for (int s = 0; s < nservers; s++) {
        graft_err rc = graft_sock_connect_dealer(
            net, endpoints[s], c->opts.server_keys ? c->opts.server_keys[s] : NULL, &c->socks[s]);
        if (rc != GRAFT_OK) {
            graft_client_destroy(&c);
            return rc;
        }
    }
    *out = c;
    return GRAFT_OK;
}

void
graft_client_destroy(graft_client **c)
{
    if (!c || !*c)
        return;
    for (int s = 0; s < (*c)->nservers; s++)
        if ((*c)->socks)
            graft_sock_close(&(*c)->socks[s]);
    for (int g = 0; (*c)->groups && g < (*c)->nservers * GRAFT_CLIENT_MAX_MANY; g++) {
        graft_free((*c)->groups[g].keys);
        graft_free((*c)->groups[g].pos);
        graft_free((*c)->groups[g].vals);
    }
    graft_free((*c)->socks);
    graft_free((*c)->groups);
    graft_free((*c)->pend);
    graft_free((*c)->endpoints);
    graft_free(*c);
    *c = NULL;
}

static graft_err
send_msg(graft_client *c, int s, const graft_msg *m, const void *keys, size_t klen,
         const void *vals, size_t vlen)
{
    uint8_t *hdr;
    size_t hlen;
    graft_err rc = graft_wire_encode(m, &hdr, &hlen);
    if (rc != GRAFT_OK)
        return rc;
    const void *frames[3] = {hdr, keys, vals};
    size_t sizes[3] = {hlen, klen, vlen};
    int n = vals ? 3 : keys ? 2 : 1;
    rc = graft_sock_send(c->socks[s], n, frames, sizes);
    graft_free(hdr);
    return rc;
}

/* [header][keys][rows], the rows (from graft_malloc) handed to ZeroMQ without a copy. */
static graft_err
send_rows(graft_client *c, int s, const graft_msg *m, const void *keys, size_t klen, float *rows,
          size_t rlen)
{
    uint8_t *hdr;
    size_t hlen;
    graft_err rc = graft_wire_encode(m, &hdr, &hlen);
    if (rc != GRAFT_OK) {
        graft_free(rows);
        return rc;
    }
    const void *frames[2] = {hdr, keys};
    size_t sizes[2] = {hlen, klen};
    rc = graft_sock_send_owned(c->socks[s], 2, frames, sizes, rows, rlen);
    graft_free(hdr);
    return rc;
}

static graft_err recv_one(graft_client *c, int s, uint64_t request_id, graft_msg *m,
                          graft_parts *parts);

/* Reads the acknowledgements still owed by server s. */
static graft_err
drain(graft_client *c, int s)
{
    pending *p = &c->pend[s];
    while (p->n > 0) {
        graft_msg m;
        graft_parts parts;
        uint64_t id = p->ids[p->head];
        p->head = (p->head + 1) % MAX_PENDING;
        p->n--;
        graft_err rc = recv_one(c, s, id, &m, &parts);
        if (rc != GRAFT_OK)
            return rc;
        graft_parts_close(&parts);
    }
    p->bytes = 0;
    return GRAFT_OK;
}

/* Receives server s's reply to request_id, after the acknowledgements it still owes. On success
 * the caller closes parts. */
static graft_err
recv_reply(graft_client *c, int s, uint64_t request_id, graft_msg *m, graft_parts *parts)
{
    graft_err rc = drain(c, s);
    return rc == GRAFT_OK ? recv_one(c, s, request_id, m, parts) : rc;
}

static graft_err
recv_one(graft_client *c, int s, uint64_t request_id, graft_msg *m, graft_parts *parts)
{
    char why[256];
    graft_err rc = graft_sock_recv(c->socks[s], parts, c->opts.timeout_ms);
    if (rc == GRAFT_ERR_TIMEOUT) {
        GRAFT_LOG_ERROR("GRAFT-PEER-TIMEOUT", "server %d (%s) did not answer within %d ms", s,
                        c->endpoints[s], c->opts.timeout_ms);
        return rc;
    }
    if (rc != GRAFT_OK)
        return rc;
    if (parts->n < 1 ||
        (rc = graft_wire_decode(parts->data[0], parts->size[0], m, why, sizeof why)) != GRAFT_OK) {
        GRAFT_LOG_ERROR("GRAFT-PEER-BAD-REPLY", "server %d (%s): %s", s, c->endpoints[s],
                        parts->n < 1 ? "empty reply" : why);
        graft_parts_close(parts);
        return GRAFT_ERR_PROTO;
    }
    if (m->type == GRAFT_MSG_ERROR) {
        GRAFT_LOG_ERROR("GRAFT-PEER-ERROR", "server %d (%s) refused request %llu: %s (%s)", s,
                        c->endpoints[s], (unsigned long long)m->request_id, m->error_message,
                        graft_errname((graft_err)m->error_code));
        graft_parts_close(parts);
        return GRAFT_ERR_REMOTE;
    }
    if (m->request_id != request_id) {
        GRAFT_LOG_ERROR("GRAFT-PEER-BAD-REPLY", "server %d answered request %llu, expected %llu", s,
                        (unsigned long long)m->request_id, (unsigned long long)request_id);
        graft_parts_close(parts);
        return GRAFT_ERR_PROTO;
    }
    return GRAFT_OK;
}

/* Sends a header-only request to every server and collects the replies (into replies[s] when
 * replies is not NULL). */
static graft_err
broadcast(graft_client *c, graft_msg *m, graft_msg *replies)
{
    uint64_t base = c->next_id;
    for (int s = 0; s < c->nservers; s++) {
        m->request_id = c->next_id++;
        graft_err rc = send_msg(c, s, m, NULL, 0, NULL, 0);
        if (rc != GRAFT_OK)
            return rc;
    }
    for (int s = 0; s < c->nservers; s++) {
        graft_parts p;
        graft_msg r;
        graft_err rc = recv_reply(c, s, base + (uint64_t)s, &r, &p);
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

static graft_err
group_reserve(group *g, size_t n, size_t floats)
{
    if (n > g->cap) {
        uint64_t *k = graft_realloc_array(g->keys, n, sizeof *k);
        if (!k)
            return GRAFT_ERR_NOMEM;
        g->keys = k;
        uint32_t *p = graft_realloc_array(g->pos, n, sizeof *p);
        if (!p)
            return GRAFT_ERR_NOMEM;
        g->pos = p;
        g->cap = n;
    }
    if (floats > g->vcap) {
        float *v = graft_realloc_array(g->vals, floats, sizeof *v);
        if (!v)
            return GRAFT_ERR_NOMEM;
        g->vals = v;
        g->vcap = floats;
    }
    return GRAFT_OK;
}

/* Splits keys by owning server into groups g[0..nservers) (positions kept). */
static graft_err
group_keys(graft_client *c, group *gs, const uint64_t *keys, size_t n, uint32_t width,
           int with_vals, const float *vals)
{
    for (int s = 0; s < c->nservers; s++)
        gs[s].n = 0;
    if (c->nservers == 1) {
        group *g = &gs[0];
        graft_err rc = group_reserve(g, n, with_vals ? n * width : 0);
        if (rc != GRAFT_OK)
            return rc;
        memcpy(g->keys, keys, n * sizeof *keys);
        for (size_t i = 0; i < n; i++)
            g->pos[i] = (uint32_t)i;
        if (with_vals)
            memcpy(g->vals, vals, n * width * sizeof(float));
        g->n = n;
        return GRAFT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        group *g = &gs[graft_shard_of_key(keys[i], (uint32_t)c->nservers)];
        if (g->n == g->cap || (with_vals && (g->n + 1) * width > g->vcap)) {
            size_t want = g->cap ? g->cap * 2 : 256;
            graft_err rc = group_reserve(g, want, with_vals ? want * width : 0);
            if (rc != GRAFT_OK)
                return rc;
        }
        g->keys[g->n] = keys[i];
        g->pos[g->n] = (uint32_t)i;
        if (with_vals)
            memcpy(g->vals + g->n * width, vals + i * width, width * sizeof(float));
        g->n++;
    }
    return GRAFT_OK;
}

/* What one keyed request carries besides its keys. */
typedef struct {
    graft_msg_type type;
    uint32_t table, src_table, width;
    int create;
    const uint64_t *keys;
    size_t n;
    const float *vals; /* push and assign: n x width, in key order */
    float *out;        /* pull: n x width, in key order */
    uint64_t count;    /* copy: rows copied, summed over servers */
} keyed;

static int
acked_only(graft_msg_type t)
{
    return t == GRAFT_MSG_PUSH || t == GRAFT_MSG_ASSIGN;
}

static graft_err
owe(graft_client *c, int s, uint64_t id, size_t bytes)
{
    if (c->pend[s].n == MAX_PENDING || c->pend[s].bytes > MAX_INFLIGHT_BYTES) {
        graft_err rc = drain(c, s);
        if (rc != GRAFT_OK)
            return rc;
    }
    pending *p = &c->pend[s];
    p->bytes += bytes;
    p->ids[(p->head + p->n) % MAX_PENDING] = id;
    p->n++;
    return GRAFT_OK;
}

/* Runs nq keyed requests of one kind at once: every request's chunk (at most max_keys keys) to
 * every server is sent before any reply is read, so they cost one round trip together. Pushes
 * and assigns are not waited for (their acknowledgements are read before the next reply from
 * the same server); pulls and copies are. */
static graft_err
run_keyed(graft_client *c, keyed *qs, int nq)
{
    int S = c->nservers;
    graft_err rc = GRAFT_OK;
    for (int r = 0; r < nq && rc == GRAFT_OK; r++)
        rc = group_keys(c, &c->groups[r * S], qs[r].keys, qs[r].n, qs[r].width, 0, NULL);
    if (rc != GRAFT_OK)
        return rc;
    size_t offset[GRAFT_CLIENT_MAX_MANY][GRAFT_MAX_SERVERS] = {{0}};
    uint64_t ids[GRAFT_CLIENT_MAX_MANY][GRAFT_MAX_SERVERS];
    uint32_t counts[GRAFT_CLIENT_MAX_MANY][GRAFT_MAX_SERVERS];
    for (int more = 1; more;) {
        more = 0;
        for (int r = 0; r < nq; r++) {
            keyed *q = &qs[r];
            for (int s = 0; s < S; s++) {
                group *g = &c->groups[r * S + s];
                size_t off = offset[r][s];
                size_t cnt = g->n - off < c->opts.max_keys ? g->n - off : c->opts.max_keys;
                counts[r][s] = (uint32_t)cnt;
                if (cnt == 0)
                    continue;
                graft_msg m;
                graft_wire_init(&m, q->type, c->next_id++);
                ids[r][s] = m.request_id;
                m.table = q->table;
                m.src_table = q->src_table;
                m.key_count = (uint32_t)cnt;
                m.width = q->width;
                m.create = q->create;
                m.worker = c->opts.worker;
                if (acked_only(q->type)) {
                    /* The rows are gathered once, into a buffer ZeroMQ then sends as it is. */
                    size_t rb = cnt * q->width * sizeof(float);
                    float *rows = graft_malloc(rb ? rb : 1);
                    if (!rows)
                        return GRAFT_ERR_NOMEM;
                    for (size_t i = 0; i < cnt; i++)
                        memcpy(rows + i * q->width, q->vals + (size_t)g->pos[off + i] * q->width,
                               q->width * sizeof(float));
                    rc = send_rows(c, s, &m, g->keys + off, cnt * sizeof(uint64_t), rows, rb);
                } else {
                    rc = send_msg(c, s, &m, g->keys + off, cnt * sizeof(uint64_t), NULL, 0);
                }
                if (rc == GRAFT_OK && acked_only(q->type))
                    rc = owe(c, s, m.request_id, cnt * (8 + q->width * sizeof(float)));
                if (rc != GRAFT_OK)
                    return rc;
            }
        }
        for (int r = 0; r < nq; r++) {
            keyed *q = &qs[r];
            for (int s = 0; s < S; s++) {
                group *g = &c->groups[r * S + s];
                if (counts[r][s] == 0)
                    continue;
                if (!acked_only(q->type)) {
                    graft_parts p;
                    graft_msg rep;
                    rc = recv_reply(c, s, ids[r][s], &rep, &p);
                    if (rc != GRAFT_OK)
                        return rc;
                    if (q->type == GRAFT_MSG_PULL) {
                        size_t want = (size_t)counts[r][s] * q->width * sizeof(float);
                        if (p.n != 2 || p.size[1] != want) {
                            GRAFT_LOG_ERROR("GRAFT-PEER-BAD-REPLY",
                                            "server %d sent %zu bytes of rows, expected %zu", s,
                                            p.n == 2 ? p.size[1] : 0, want);
                            graft_parts_close(&p);
                            return GRAFT_ERR_PROTO;
                        }
                        const float *rows = p.data[1];
                        for (uint32_t i = 0; i < counts[r][s]; i++)
                            memcpy(q->out + (size_t)g->pos[offset[r][s] + i] * q->width,
                                   rows + (size_t)i * q->width, q->width * sizeof(float));
                    }
                    q->count += rep.count;
                    graft_parts_close(&p);
                }
                offset[r][s] += counts[r][s];
                if (offset[r][s] < g->n)
                    more = 1;
            }
        }
    }
    return GRAFT_OK;
}

graft_err
graft_client_pull(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
                  int create, float *out)
{
    graft_client_rows q = {.table = table, .width = width, .keys = keys, .n = n, .rows = out};
    return graft_client_pull_many(c, &q, 1, create);
}

graft_err
graft_client_push(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
                  const float *grads)
{
    graft_client_rows q = {
        .table = table, .width = width, .keys = keys, .n = n, .rows = (float *)grads};
    return graft_client_push_many(c, &q, 1);
}

static graft_err
many(graft_client *c, graft_msg_type type, const graft_client_rows *reqs, int nreq, int create)
{
    keyed qs[GRAFT_CLIENT_MAX_MANY];
    if (nreq > GRAFT_CLIENT_MAX_MANY)
        return GRAFT_ERR_INVALID;
    for (int r = 0; r < nreq; r++)
        qs[r] = (keyed){.type = type,
                        .table = reqs[r].table,
                        .width = reqs[r].width,
                        .create = create,
                        .keys = reqs[r].keys,
                        .n = reqs[r].n,
                        .vals = reqs[r].rows,
                        .out = reqs[r].rows};
    return run_keyed(c, qs, nreq);
}

graft_err
graft_client_pull_many(graft_client *c, graft_client_rows *reqs, int nreq, int create)
{
    return many(c, GRAFT_MSG_PULL, reqs, nreq, create);
}

graft_err
graft_client_push_many(graft_client *c, const graft_client_rows *reqs, int nreq)
{
    return many(c, GRAFT_MSG_PUSH, reqs, nreq, 0);
}

graft_err
graft_client_assign(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
                    const float *rows)
{
    keyed q = {.type = GRAFT_MSG_ASSIGN,
               .table = table,
               .width = width,
               .keys = keys,
               .n = n,
               .vals = rows};
    return run_keyed(c, &q, 1);
}

graft_err
graft_client_copy(graft_client *c, uint32_t dst, uint32_t src, uint32_t width, const uint64_t *keys,
                  size_t n, uint64_t *copied)
{
    keyed q = {.type = GRAFT_MSG_COPY,
               .table = dst,
               .src_table = src,
               .width = width,
               .keys = keys,
               .n = n};
    graft_err rc = run_keyed(c, &q, 1);
    *copied = q.count;
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
        graft_err rc = drain(c, s);
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
    if ((rc = send_msg(c, 0, &m, NULL, 0, NULL, 0)) != GRAFT_OK)
        return rc;
    graft_parts p;
    graft_msg r;
    if ((rc = recv_reply(c, 0, m.request_id, &r, &p)) != GRAFT_OK)
        return rc;
    graft_parts_close(&p);
    *slowest = r.count;
    return GRAFT_OK;
}

graft_err
graft_client_tick(graft_client *c, graft_clockstate *cs)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t slowest;
    graft_err rc = graft_client_clock(c, ++cs->clock, cs->bound, &slowest);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cs->wait_s += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (rc == GRAFT_OK && cs->clock > slowest && cs->clock - slowest > cs->staleness)
        cs->staleness = cs->clock - slowest;
    return rc;
}

graft_err
graft_client_stats(graft_client *c, int server, graft_server_stats *out)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_STATS, c->next_id++);
    graft_err rc = send_msg(c, server, &m, NULL, 0, NULL, 0);
    if (rc != GRAFT_OK)
        return rc;
    graft_parts p;
    graft_msg r;
    rc = recv_reply(c, server, m.request_id, &r, &p);
    if (rc != GRAFT_OK)
        return rc;
    graft_parts_close(&p);
    *out = r.stats;
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
