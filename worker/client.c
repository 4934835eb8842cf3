#include "client.h"
#include "alloc.h"
#include "hash.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    uint64_t *keys;
    uint32_t *pos; /* where each key sits in the caller's arrays */
    float *vals;
    size_t n, cap, vcap;
} group;

struct graft_client {
    graft_client_opts opts;
    int nservers;
    graft_sock **socks;
    char (*endpoints)[GRAFT_ENDPOINT_MAX];
    group *groups;
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
    c->nservers = nservers;
    c->next_id = 1;
    c->socks = graft_calloc((size_t)nservers, sizeof *c->socks);
    c->groups = graft_calloc((size_t)nservers, sizeof *c->groups);
    c->endpoints = graft_calloc((size_t)nservers, GRAFT_ENDPOINT_MAX);
    if (!c->socks || !c->groups || !c->endpoints) {
        graft_client_destroy(&c);
        return GRAFT_ERR_NOMEM;
    }
    memcpy(c->endpoints, endpoints, (size_t)nservers * GRAFT_ENDPOINT_MAX);
    for (int s = 0; s < nservers; s++) {
        graft_err rc = graft_sock_connect_dealer(net, endpoints[s], &c->socks[s]);
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
    for (int s = 0; s < (*c)->nservers; s++) {
        if ((*c)->socks)
            graft_sock_close(&(*c)->socks[s]);
        if ((*c)->groups) {
            graft_free((*c)->groups[s].keys);
            graft_free((*c)->groups[s].pos);
            graft_free((*c)->groups[s].vals);
        }
    }
    graft_free((*c)->socks);
    graft_free((*c)->groups);
    graft_free((*c)->endpoints);
    graft_free(*c);
    *c = NULL;
}

int
graft_client_nservers(const graft_client *c)
{
    return c->nservers;
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

/* Receives server s's reply to request_id. On success the caller closes parts. */
static graft_err
recv_reply(graft_client *c, int s, uint64_t request_id, graft_msg *m, graft_parts *parts)
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

/* Splits keys by owning server into c->groups (positions kept). */
static graft_err
group_keys(graft_client *c, const uint64_t *keys, size_t n, uint32_t width, int with_vals,
           const float *vals)
{
    for (int s = 0; s < c->nservers; s++)
        c->groups[s].n = 0;
    if (c->nservers == 1) {
        group *g = &c->groups[0];
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
        group *g = &c->groups[graft_shard_of_key(keys[i], (uint32_t)c->nservers)];
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
    const float *vals; /* push and assign: n x width, in key order */
    float *out;        /* pull: n x width, in key order */
    uint64_t count;    /* copy: rows copied, summed over servers */
} keyed;

/* One round of a keyed request over at most max_keys keys per server. */
static graft_err
exchange(graft_client *c, keyed *q, size_t *offset, int *more)
{
    graft_msg_type type = q->type;
    uint32_t width = q->width;
    float *out = q->out;
    uint64_t ids[GRAFT_MAX_SERVERS];
    uint32_t counts[GRAFT_MAX_SERVERS];
    graft_err rc = GRAFT_OK;
    *more = 0;
    for (int s = 0; s < c->nservers; s++) {
        group *g = &c->groups[s];
        size_t off = offset[s];
        size_t cnt = g->n - off < c->opts.max_keys ? g->n - off : c->opts.max_keys;
        counts[s] = (uint32_t)cnt;
        if (cnt == 0)
            continue;
        graft_msg m;
        graft_wire_init(&m, type, c->next_id++);
        ids[s] = m.request_id;
        m.table = q->table;
        m.src_table = q->src_table;
        m.key_count = (uint32_t)cnt;
        m.width = width;
        m.create = q->create;
        m.worker = c->opts.worker;
        int with_vals = type == GRAFT_MSG_PUSH || type == GRAFT_MSG_ASSIGN;
        rc = send_msg(c, s, &m, g->keys + off, cnt * sizeof(uint64_t),
                      with_vals ? (const void *)(g->vals + off * width) : NULL,
                      cnt * width * sizeof(float));
        if (rc != GRAFT_OK)
            return rc;
    }
    for (int s = 0; s < c->nservers; s++) {
        if (counts[s] == 0)
            continue;
        group *g = &c->groups[s];
        graft_parts p;
        graft_msg r;
        rc = recv_reply(c, s, ids[s], &r, &p);
        if (rc != GRAFT_OK)
            return rc;
        if (type == GRAFT_MSG_PULL) {
            size_t want = (size_t)counts[s] * width * sizeof(float);
            if (p.n != 2 || p.size[1] != want) {
                GRAFT_LOG_ERROR("GRAFT-PEER-BAD-REPLY",
                                "server %d sent %zu bytes of rows, "
                                "expected %zu",
                                s, p.n == 2 ? p.size[1] : 0, want);
                graft_parts_close(&p);
                return GRAFT_ERR_PROTO;
            }
            const float *rows = p.data[1];
            for (uint32_t i = 0; i < counts[s]; i++)
                memcpy(out + (size_t)g->pos[offset[s] + i] * width, rows + (size_t)i * width,
                       width * sizeof(float));
        }
        q->count += r.count;
        graft_parts_close(&p);
        offset[s] += counts[s];
        if (offset[s] < g->n)
            *more = 1;
    }
    return GRAFT_OK;
}

static graft_err
transfer(graft_client *c, keyed *q, const uint64_t *keys, size_t n)
{
    int with_vals = q->type == GRAFT_MSG_PUSH || q->type == GRAFT_MSG_ASSIGN;
    graft_err rc = group_keys(c, keys, n, q->width, with_vals, q->vals);
    if (rc != GRAFT_OK)
        return rc;
    size_t offset[GRAFT_MAX_SERVERS] = {0};
    int more = 1;
    while (more && rc == GRAFT_OK)
        rc = exchange(c, q, offset, &more);
    return rc;
}

graft_err
graft_client_pull(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
                  int create, float *out)
{
    keyed q = {
        .type = GRAFT_MSG_PULL, .table = table, .width = width, .create = create, .out = out};
    return transfer(c, &q, keys, n);
}

graft_err
graft_client_push(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
                  const float *grads)
{
    keyed q = {.type = GRAFT_MSG_PUSH, .table = table, .width = width, .vals = grads};
    return transfer(c, &q, keys, n);
}

graft_err
graft_client_assign(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
                    const float *rows)
{
    keyed q = {.type = GRAFT_MSG_ASSIGN, .table = table, .width = width, .vals = rows};
    return transfer(c, &q, keys, n);
}

graft_err
graft_client_copy(graft_client *c, uint32_t dst, uint32_t src, uint32_t width, const uint64_t *keys,
                  size_t n, uint64_t *copied)
{
    keyed q = {.type = GRAFT_MSG_COPY, .table = dst, .src_table = src, .width = width};
    graft_err rc = transfer(c, &q, keys, n);
    *copied = q.count;
    return rc;
}

graft_err
graft_client_barrier(graft_client *c, uint64_t clock)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_BARRIER, 0);
    m.worker = c->opts.worker;
    m.clock = clock;
    return broadcast(c, &m, NULL);
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
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_SHUTDOWN, 0);
    m.worker = c->opts.worker;
    return broadcast(c, &m, NULL);
}

graft_err
graft_client_save(graft_client *c, uint32_t table, uint64_t *rows, uint64_t *checksums)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_SAVE, 0);
    m.table = table;
    m.worker = c->opts.worker;
    graft_msg *replies = graft_calloc((size_t)c->nservers, sizeof *replies);
    if (!replies)
        return GRAFT_ERR_NOMEM;
    graft_err rc = broadcast(c, &m, replies);
    for (int s = 0; rc == GRAFT_OK && s < c->nservers; s++) {
        rows[s] = replies[s].count;
        checksums[s] = replies[s].checksum;
    }
    graft_free(replies);
    return rc;
}

graft_err
graft_client_load(graft_client *c, uint32_t table, const char *file, uint64_t checksum,
                  uint64_t *kept)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_LOAD, 0);
    m.table = table;
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
