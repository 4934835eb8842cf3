/* The keyed requests: pull, push, assign and copy, each over the key positions of every lane's
 * part of the table (server/lanes.h). */
#include "server_internal.h"
#include "alloc.h"
#include "optim.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const uint64_t *
aligned_keys(graft_server *s, const void *frame, uint32_t n)
{
    if (((uintptr_t)frame & 7) == 0)
        return frame;
    if (n > s->keybuf_cap) {
        uint64_t *k = graft_realloc_array(s->keybuf, n, sizeof *k);
        if (!k)
            return NULL;
        s->keybuf = k;
        s->keybuf_cap = n;
    }
    memcpy(s->keybuf, frame, (size_t)n * 8);
    return s->keybuf;
}

/* A keyed request (pull, push, assign, copy) as every lane sees it: its own positions of the
 * keys, and its own part of the table(s). */
typedef struct {
    graft_server *s;
    const graft_msg *req;
    const uint64_t *keys;
    const uint32_t *sel[GRAFT_MAX_LANES];
    uint32_t n[GRAFT_MAX_LANES];
    float *out;        /* pull: key_count x width */
    const float *vals; /* push, assign */
    graft_err rc[GRAFT_MAX_LANES];
    uint64_t copied[GRAFT_MAX_LANES];
    uint32_t refused[GRAFT_MAX_LANES]; /* push: rows left unchanged, as non-finite */
} keyed_job;

static void
keyed_lane(int lane, void *arg)
{
    keyed_job *j = arg;
    const graft_msg *req = j->req;
    graft_table *t = j->s->tables[req->table][lane];
    const uint64_t *k = j->keys;
    const uint32_t *sel = j->sel[lane];
    uint32_t n = j->n[lane];
    switch (req->type) {
    case GRAFT_MSG_PULL:
        j->rc[lane] = graft_table_pull(t, k, sel, n, req->create, j->out);
        break;
    case GRAFT_MSG_PUSH:
        j->rc[lane] = graft_table_push(t, k, sel, n, j->vals, &j->refused[lane]);
        break;
    case GRAFT_MSG_ASSIGN:
        j->rc[lane] = graft_table_assign(t, k, sel, n, j->vals);
        break;
    default: /* copy: a key's rows of both tables are in the same lane's parts */
        j->rc[lane] =
            graft_table_copy(t, j->s->tables[req->src_table][lane], k, sel, n, &j->copied[lane]);
        break;
    }
}

/* Below this many keys the lanes' work runs one part after another on the server's own thread:
 * waking the helpers would cost more than it saves. */
#define LANES_MIN_KEYS 512

/* Runs a keyed request on every lane's part; returns the first lane's error, if any. */
static graft_err
run_keyed(graft_server *s, keyed_job *j)
{
    uint32_t n = j->req->key_count;
    int nl = s->nlanes;
    if (nl == 1) {
        j->sel[0] = NULL;
        j->n[0] = n;
        keyed_lane(0, j);
        return j->rc[0];
    }
    if (n > s->sel_cap) {
        uint32_t *sel = graft_realloc_array(s->sel, n, sizeof *sel);
        if (sel)
            s->sel = sel;
        uint8_t *lo = graft_realloc_array(s->lane_of, n, sizeof *lo);
        if (lo)
            s->lane_of = lo;
        if (!sel || !lo)
            return GRAFT_ERR_NOMEM;
        s->sel_cap = n;
    }
    /* Positions grouped by lane, in request order within each (a counting sort). */
    uint32_t start[GRAFT_MAX_LANES + 1] = {0};
    for (uint32_t i = 0; i < n; i++) {
        s->lane_of[i] = (uint8_t)graft_lane_of_key(j->keys[i], (uint32_t)nl);
        start[s->lane_of[i] + 1]++;
    }
    for (int l = 0; l < nl; l++) {
        start[l + 1] += start[l];
        j->sel[l] = s->sel + start[l];
        j->n[l] = start[l + 1] - start[l];
    }
    for (uint32_t i = 0; i < n; i++)
        s->sel[start[s->lane_of[i]]++] = i;
    if (n < LANES_MIN_KEYS)
        for (int l = 0; l < nl; l++)
            keyed_lane(l, j);
    else
        graft_lanes_run(s->lanes, keyed_lane, j);
    for (int l = 0; l < nl; l++)
        if (j->rc[l] != GRAFT_OK)
            return j->rc[l];
    return GRAFT_OK;
}

void
graft_server_handle_keyed(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
                          const graft_msg *reqp)
{
    char why[256];
    graft_msg m, req = *reqp;
    /* Pull, push, copy and assign: all name a table and carry keys. */
    if (req.table >= s->ntables) {
        snprintf(why, sizeof why, "unknown table %u (this server has %u)", req.table, s->ntables);
        graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_TABLE, why);
        return;
    }
    const graft_table_spec *spec = graft_table_spec_of(s->tables[req.table][0]);
    uint32_t width = spec->width;
    if (req.width != width) {
        snprintf(why, sizeof why, "width %u for table '%s' of width %u", req.width, spec->name,
                 width);
        graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_SIZE, why);
        return;
    }
    const uint64_t *keys = aligned_keys(s, p->data[2], req.key_count);
    if (!keys) {
        graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM, "out of memory");
        return;
    }
    keyed_job job = {.s = s, .req = &req, .keys = keys};
    size_t floats = (size_t)req.key_count * width;
    float *region = NULL;
    if (req.in_arena && (req.type == GRAFT_MSG_PULL || req.type == GRAFT_MSG_PUSH ||
                         req.type == GRAFT_MSG_ASSIGN)) {
        region = graft_arenas_region(s->arenas, id, idlen, req.arena_offset, floats * sizeof(float),
                                     why, sizeof why);
        if (!region) {
            graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_INVALID, why);
            return;
        }
        s->stats.arena_bytes += floats * sizeof(float);
    }
    if (req.type == GRAFT_MSG_PULL) {
        /* Written straight into the worker's arena; else assembled in the reused scratch buffer
         * and copied by ZeroMQ. Handing ZeroMQ a fresh buffer per reply instead
         * (zmq_msg_init_data) measured no faster, and either kept freed buffers in the heap or
         * paid a new mapping per reply (docs/performance.md). */
        if (!region && graft_server_scratch(s, floats) != GRAFT_OK) {
            graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM,
                                     "out of memory");
            return;
        }
        job.out = region ? region : s->scratch;
        if (run_keyed(s, &job) != GRAFT_OK) {
            graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM,
                                     "out of memory");
            return;
        }
        s->stats.pulls++;
        s->stats.keys_pulled += req.key_count;
        graft_wire_init(&m, GRAFT_MSG_PULL, req.request_id);
        m.table = req.table;
        m.key_count = req.key_count;
        m.width = width;
        m.in_arena = region != NULL;
        if (region)
            s->stats.bytes_out += floats * sizeof(float);
        graft_server_reply(s, id, idlen, &m, region ? NULL : s->scratch,
                           region ? 0 : floats * sizeof(float));
        return;
    }
    if (req.type == GRAFT_MSG_COPY) {
        /* Seeding one table from another without moving rows off the server. */
        if (req.src_table >= s->ntables ||
            graft_table_spec_of(s->tables[req.src_table][0])->width != width) {
            snprintf(why, sizeof why, "copy from table %u: no such table of width %u",
                     req.src_table, width);
            graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_TABLE, why);
            return;
        }
        graft_wire_init(&m, GRAFT_MSG_COPY, req.request_id);
        if (run_keyed(s, &job) != GRAFT_OK) {
            graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM,
                                     "out of memory");
            return;
        }
        for (int l = 0; l < s->nlanes; l++)
            m.count += job.copied[l];
        m.table = req.table;
        graft_server_reply(s, id, idlen, &m, NULL, 0);
        return;
    }
    /* Values may be unaligned too when tiny; copy through scratch then. Values in an arena are
     * always copied first: the worker maps those pages too and could change a value between
     * the finite check and the optimizer's read, so the server checks and applies its own
     * copy (a socket frame is the server's alone). */
    const float *g = region ? region : p->data[3];
    if (region)
        s->stats.bytes_in += floats * sizeof(float);
    if (region || ((uintptr_t)g & 3)) {
        if (graft_server_scratch(s, floats) != GRAFT_OK) {
            graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM,
                                     "out of memory");
            return;
        }
        memcpy(s->scratch, g, floats * sizeof(float));
        g = s->scratch;
    }
    /* A non-finite value would poison the row for good: refuse the whole request. */
    if (!graft_optim_finite(g, floats)) {
        graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_INVALID,
                                 "push holds a NaN or infinite gradient");
        return;
    }
    job.vals = g;
    if (req.type == GRAFT_MSG_ASSIGN) {
        if (run_keyed(s, &job) != GRAFT_OK) {
            graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM,
                                     "out of memory");
            return;
        }
        graft_wire_init(&m, GRAFT_MSG_ASSIGN, req.request_id);
        m.table = req.table;
        graft_server_reply(s, id, idlen, &m, NULL, 0);
        return;
    }
    if (run_keyed(s, &job) != GRAFT_OK) {
        graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM, "out of memory");
        return;
    }
    uint64_t refused = 0;
    for (int l = 0; l < s->nlanes; l++)
        refused += job.refused[l];
    if (refused) {
        snprintf(why, sizeof why,
                 "%llu of the push's %u rows would have become NaN or infinite; left unchanged",
                 (unsigned long long)refused, req.key_count);
        graft_server_reply_error(s, id, idlen, req.request_id, GRAFT_ERR_INVALID, why);
        return;
    }
    s->stats.pushes++;
    s->stats.keys_pushed += req.key_count;
    graft_wire_init(&m, GRAFT_MSG_PUSH, req.request_id);
    m.table = req.table;
    graft_server_reply(s, id, idlen, &m, NULL, 0);
}
