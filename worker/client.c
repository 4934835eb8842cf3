#include "client_internal.h"
#include "clock.h"
#include "alloc.h"
#include "shm.h"
#include "hash.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static graft_err attach(graft_client *c, int s);

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
    c->arenas = graft_calloc((size_t)nservers, sizeof *c->arenas);
    c->endpoints = graft_calloc((size_t)nservers, GRAFT_ENDPOINT_MAX);
    graft_err rc = GRAFT_OK;
    if (!c->socks || !c->groups || !c->pend || !c->arenas || !c->endpoints) {
        rc = GRAFT_ERR_NOMEM;
        goto out;
    }
    memcpy(c->endpoints, endpoints, (size_t)nservers * GRAFT_ENDPOINT_MAX);
    for (int s = 0; rc == GRAFT_OK && s < nservers; s++)
        rc = graft_sock_connect_dealer(
            net, endpoints[s], c->opts.server_keys ? c->opts.server_keys[s] : NULL, &c->socks[s]);
    /* A server on this host (a Unix socket) gets the rows through shared memory. */
    for (int s = 0; rc == GRAFT_OK && s < nservers; s++)
        if (c->opts.shm && strncmp(endpoints[s], "ipc://", 6) == 0)
            rc = attach(c, s);
out:
    if (rc != GRAFT_OK)
        graft_client_destroy(&c);
    *out = c;
    return rc;
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
    }
    graft_free((*c)->socks);
    graft_free((*c)->groups);
    graft_free((*c)->pend);
    for (int s = 0; (*c)->arenas && s < (*c)->nservers; s++)
        graft_shm_close(&(*c)->arenas[s].shm);
    graft_free((*c)->arenas);
    graft_free((*c)->endpoints);
    graft_free(*c);
    *c = NULL;
}

graft_err
graft_client_send(graft_client *c, int s, const graft_msg *m, const void *keys, size_t klen)
{
    uint8_t *hdr;
    size_t hlen;
    graft_err rc = graft_wire_encode(m, &hdr, &hlen);
    if (rc != GRAFT_OK)
        return rc;
    const void *frames[2] = {hdr, keys};
    size_t sizes[2] = {hlen, klen};
    rc = graft_sock_send(c->socks[s], keys ? 2 : 1, frames, sizes);
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

/* Receives and decodes server s's next reply (an error reply included). On success the caller
 * closes parts. */
static graft_err
recv_any(graft_client *c, int s, graft_msg *m, graft_parts *parts)
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
    if (parts->n < 1 || (rc = graft_wire_decode(parts->data[0], parts->size[0], m, c->stats_sink,
                                                why, sizeof why)) != GRAFT_OK) {
        GRAFT_LOG_ERROR("GRAFT-PEER-BAD-REPLY", "server %d (%s): %s", s, c->endpoints[s],
                        parts->n < 1 ? "empty reply" : why);
        graft_parts_close(parts);
        return GRAFT_ERR_PROTO;
    }
    return GRAFT_OK;
}

/* Receives server s's reply to request_id, which must be the next one. */
static graft_err
recv_one(graft_client *c, int s, uint64_t request_id, graft_msg *m, graft_parts *parts)
{
    graft_err rc = recv_any(c, s, m, parts);
    if (rc != GRAFT_OK)
        return rc;
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

/* Reads server s's oldest unread reply and completes its request: a pull's rows are copied to
 * where the caller wants them (from the arena, or from the reply's frame). */
static graft_err
complete_one(graft_client *c, int s)
{
    pending *p = &c->pend[s];
    outstanding e = p->v[p->head];
    p->head = (p->head + 1) % MAX_PENDING;
    p->n--;
    p->bytes -= e.bytes;
    graft_msg m;
    graft_parts parts;
    graft_err rc = recv_one(c, s, e.id, &m, &parts);
    if (rc != GRAFT_OK)
        return rc;
    if (e.q && e.q->type == GRAFT_MSG_PULL) {
        uint32_t w = e.q->width;
        size_t want = (size_t)e.cnt * w * sizeof(float);
        const float *rows = NULL;
        if (e.alen && m.in_arena && parts.n == 1)
            rows = (const float *)((const char *)c->arenas[s].shm.base + e.aoff);
        else if (!e.alen && !m.in_arena && parts.n == 2 && parts.size[1] == want)
            rows = parts.data[1];
        if (!rows) {
            GRAFT_LOG_ERROR("GRAFT-PEER-BAD-REPLY",
                            "server %d sent %zu bytes of rows%s, expected %zu%s", s,
                            parts.n == 2 ? parts.size[1] : 0, m.in_arena ? " in the arena" : "",
                            want, e.alen ? " in the arena" : "");
            graft_parts_close(&parts);
            return GRAFT_ERR_PROTO;
        }
        for (uint32_t i = 0; i < e.cnt; i++)
            memcpy(e.q->out + (size_t)e.g->pos[e.goff + i] * w, rows + (size_t)i * w,
                   w * sizeof(float));
    } else if (e.q) {
        e.q->count += m.count;
    }
    graft_parts_close(&parts);
    return GRAFT_OK;
}

/* Completes every request still unanswered by server s. */
graft_err
graft_client_drain(graft_client *c, int s)
{
    graft_err rc = GRAFT_OK;
    while (rc == GRAFT_OK && c->pend[s].n > 0)
        rc = complete_one(c, s);
    return rc;
}

/* Receives server s's reply to request_id, after every reply it still owes. On success the caller
 * closes parts. */
graft_err
graft_client_recv_reply(graft_client *c, int s, uint64_t request_id, graft_msg *m,
                        graft_parts *parts)
{
    graft_err rc = graft_client_drain(c, s);
    return rc == GRAFT_OK ? recv_one(c, s, request_id, m, parts) : rc;
}

/* Offers server s an arena of shared memory. A server that cannot map it (another host's
 * namespace, a restricted /proc) says why, and the rows go through the socket. */
static graft_err
attach(graft_client *c, int s)
{
    arena *a = &c->arenas[s];
    if (graft_shm_create(ARENA_BYTES, &a->shm) != GRAFT_OK) {
        GRAFT_LOG_INFO("GRAFT-SHM-OFF", "cannot create a shared-memory arena; rows go through "
                                        "the socket");
        return GRAFT_OK;
    }
    a->head = GRAFT_SHM_HEADER;
    graft_msg m, r;
    graft_wire_init(&m, GRAFT_MSG_ATTACH, c->next_id++);
    m.worker = c->opts.worker;
    m.arena_pid = (uint32_t)getpid();
    m.arena_fd = (uint32_t)a->shm.fd;
    m.arena_bytes = a->shm.size;
    m.arena_nonce = a->shm.nonce;
    graft_parts parts;
    graft_err rc = graft_client_send(c, s, &m, NULL, 0);
    if (rc == GRAFT_OK)
        rc = recv_any(c, s, &r, &parts);
    if (rc == GRAFT_OK) {
        if (r.type == GRAFT_MSG_ERROR || r.request_id != m.request_id) {
            GRAFT_LOG_INFO("GRAFT-SHM-OFF",
                           "server %d (%s) cannot map this worker's arena (%s); rows "
                           "go through the socket",
                           s, c->endpoints[s], r.type == GRAFT_MSG_ERROR ? r.error_message : "?");
            graft_shm_close(&a->shm);
        }
        graft_parts_close(&parts);
        if (r.type != GRAFT_MSG_ERROR && r.request_id != m.request_id)
            rc = GRAFT_ERR_PROTO;
    }
    return rc;
}

static graft_err
group_reserve(group *g, size_t n)
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
    return GRAFT_OK;
}

/* Splits keys by owning server into groups g[0..nservers) (positions kept). */
static graft_err
group_keys(graft_client *c, group *gs, const uint64_t *keys, size_t n)
{
    for (int s = 0; s < c->nservers; s++)
        gs[s].n = 0;
    if (c->nservers == 1) {
        group *g = &gs[0];
        graft_err rc = group_reserve(g, n);
        if (rc != GRAFT_OK)
            return rc;
        memcpy(g->keys, keys, n * sizeof *keys);
        for (size_t i = 0; i < n; i++)
            g->pos[i] = (uint32_t)i;
        g->n = n;
        return GRAFT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        group *g = &gs[graft_shard_of_key(keys[i], (uint32_t)c->nservers)];
        if (g->n == g->cap) {
            graft_err rc = group_reserve(g, g->cap ? g->cap * 2 : 256);
            if (rc != GRAFT_OK)
                return rc;
        }
        g->keys[g->n] = keys[i];
        g->pos[g->n] = (uint32_t)i;
        g->n++;
    }
    return GRAFT_OK;
}

static int
acked_only(graft_msg_type t)
{
    return t == GRAFT_MSG_PUSH || t == GRAFT_MSG_ASSIGN;
}

/* Takes a region of len bytes from server s's arena for the request about to be sent, reading
 * older replies until one is free. Returns 0 when the rows are to go through the socket (no
 * arena, or too big) or *rc failed. */
static int
arena_take(graft_client *c, int s, size_t len, size_t *off, graft_err *rc)
{
    arena *a = &c->arenas[s];
    pending *p = &c->pend[s];
    len = (len + 63) & ~(size_t)63;
    if (!a->shm.base || len == 0 || len > a->shm.size - GRAFT_SHM_HEADER)
        return 0;
    for (;;) {
        /* Regions are freed in the order they were taken: the oldest still taken is the tail. */
        size_t tail = 0;
        for (int i = 0; i < p->n && tail == 0; i++)
            if (p->v[(p->head + i) % MAX_PENDING].alen)
                tail = p->v[(p->head + i) % MAX_PENDING].aoff;
        if (tail == 0)
            a->head = GRAFT_SHM_HEADER; /* all free: start over */
        if (tail == 0 || (a->head > tail && a->head + len <= a->shm.size) ||
            (a->head < tail && a->head + len <= tail)) {
            *off = a->head;
            a->head += len;
            return 1;
        }
        if (a->head > tail && GRAFT_SHM_HEADER + len <= tail) { /* wrap around */
            *off = GRAFT_SHM_HEADER;
            a->head = *off + len;
            return 1;
        }
        if ((*rc = complete_one(c, s)) != GRAFT_OK)
            return 0;
    }
}

/* Sends keys [off, off + cnt) of group g, the chunk of request q for server s, once the
 * in-flight window has room; its reply is read later (complete_one). Push rows are gathered
 * once, into the arena or into a buffer ZeroMQ then sends as it is. */
static graft_err
send_chunk(graft_client *c, int s, keyed *q, const group *g, size_t off, size_t cnt)
{
    pending *p = &c->pend[s];
    int moves = q->type == GRAFT_MSG_PULL || acked_only(q->type);
    size_t rb = moves ? cnt * q->width * sizeof(float) : 0, bytes = rb + cnt * sizeof(uint64_t);
    graft_err rc = GRAFT_OK;
    while (rc == GRAFT_OK &&
           (p->n == MAX_PENDING || (p->n > 0 && p->bytes + bytes > MAX_INFLIGHT_BYTES)))
        rc = complete_one(c, s);
    size_t aoff = 0;
    int in_arena = rc == GRAFT_OK && moves && arena_take(c, s, rb, &aoff, &rc);
    if (rc != GRAFT_OK)
        return rc;
    graft_msg m;
    graft_wire_init(&m, q->type, c->next_id++);
    m.table = q->table;
    m.src_table = q->src_table;
    m.key_count = (uint32_t)cnt;
    m.width = q->width;
    m.create = q->create;
    m.worker = c->opts.worker;
    m.in_arena = in_arena;
    m.arena_offset = aoff;
    const uint64_t *keys = g->keys + off;
    if (acked_only(q->type)) {
        float *rows =
            in_arena ? (float *)((char *)c->arenas[s].shm.base + aoff) : graft_malloc(rb ? rb : 1);
        if (!rows)
            return GRAFT_ERR_NOMEM;
        for (size_t i = 0; i < cnt; i++)
            memcpy(rows + i * q->width, q->vals + (size_t)g->pos[off + i] * q->width,
                   q->width * sizeof(float));
        rc = in_arena ? graft_client_send(c, s, &m, keys, cnt * sizeof(uint64_t))
                      : send_rows(c, s, &m, keys, cnt * sizeof(uint64_t), rows, rb);
    } else {
        rc = graft_client_send(c, s, &m, keys, cnt * sizeof(uint64_t));
    }
    if (rc != GRAFT_OK)
        return rc;
    p->v[(p->head + p->n) % MAX_PENDING] = (outstanding){.id = m.request_id,
                                                         .bytes = bytes,
                                                         .aoff = aoff,
                                                         .alen = in_arena ? rb : 0,
                                                         .q = acked_only(q->type) ? NULL : q,
                                                         .g = g,
                                                         .goff = off,
                                                         .cnt = (uint32_t)cnt};
    p->n++;
    p->bytes += bytes;
    return GRAFT_OK;
}

/* Runs nq keyed requests of one kind at once. Each is split by server and into chunks; chunks go
 * out round-robin over servers and requests, back to back, within each server's in-flight
 * window, so that every server is busy while the worker fills and empties the others' chunks.
 * Pulls and copies are complete on return; pushes and assigns are only sent. */
static graft_err
run_keyed(graft_client *c, keyed *qs, int nq)
{
    int S = c->nservers;
    graft_err rc = GRAFT_OK;
    for (int r = 0; r < nq && rc == GRAFT_OK; r++)
        rc = group_keys(c, &c->groups[r * S], qs[r].keys, qs[r].n);
    size_t sent[GRAFT_CLIENT_MAX_MANY][GRAFT_MAX_SERVERS] = {{0}};
    for (int more = 1; more && rc == GRAFT_OK;) {
        more = 0;
        for (int r = 0; r < nq && rc == GRAFT_OK; r++) {
            keyed *q = &qs[r];
            size_t per = c->opts.max_keys;
            if (q->type == GRAFT_MSG_PULL || acked_only(q->type)) {
                size_t fit = CHUNK_BYTES / (q->width * sizeof(float));
                per = fit < 1 ? 1 : fit < per ? fit : per;
            }
            for (int s = 0; s < S && rc == GRAFT_OK; s++) {
                const group *g = &c->groups[r * S + s];
                size_t left = g->n - sent[r][s], cnt = left < per ? left : per;
                if (cnt == 0)
                    continue;
                rc = send_chunk(c, s, q, g, sent[r][s], cnt);
                sent[r][s] += cnt;
                more |= sent[r][s] < g->n;
            }
        }
    }
    for (int s = 0; s < S && rc == GRAFT_OK && nq > 0 && !acked_only(qs[0].type); s++)
        rc = graft_client_drain(c, s);
    return rc;
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
