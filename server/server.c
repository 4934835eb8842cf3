#include "server.h"
#include "alloc.h"
#include "arenas.h"
#include "lanes.h"
#include "hash.h"
#include "log.h"
#include "optim.h"
#include "store.h"
#include "table.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#define MAX_IDENTITY 256

typedef struct {
    unsigned char id[MAX_IDENTITY];
    size_t len;
    uint64_t request_id;
} waiter;

struct graft_server {
    graft_server_opts opts;
    graft_sock *sock;
    graft_arenas *arenas; /* same-host workers' shared memory, mapped */
    graft_lanes *lanes;   /* this server's threads, one per part of every table */
    int nlanes;
    graft_table *tables[GRAFT_MAX_TABLES][GRAFT_MAX_LANES]; /* [table][lane]: each lane's part */
    uint32_t ntables;
    graft_server_stats stats;
    /* The barrier in progress: who is waiting on which clock. */
    uint64_t barrier_clock;
    waiter *waiters;
    int nwaiting;
    /* Consistency clocks (server 0): each worker's last clock, and its clock request held until
     * the slowest worker is close enough (need). */
    uint64_t *clocks;
    waiter *clock_waiters;
    uint64_t *clock_need;
    uint64_t *clock_asked;
    int *clock_waiting;
    double *last_seen; /* per worker: when its last heartbeat came (0: never) */
    float *scratch;    /* pull replies are assembled here */
    size_t scratch_cap;
    uint64_t *keybuf; /* keys copied when a frame is not 8-byte aligned */
    size_t keybuf_cap;
    uint32_t *sel; /* a request's key positions, grouped by lane */
    uint8_t *lane_of;
    size_t sel_cap;
    int stop;
};

graft_err
graft_server_create(const graft_server_opts *opts, graft_net *net, graft_server **out,
                    char *endpoint, size_t eplen)
{
    *out = NULL;
    graft_server *s = graft_calloc(1, sizeof *s);
    if (!s)
        return GRAFT_ERR_NOMEM;
    s->opts = *opts;
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
        graft_server_destroy(&s);
        return GRAFT_ERR_NOMEM;
    }
    /* Frames up to twice the limit are received and refused with an error reply (and counted);
     * larger ones make ZeroMQ drop the peer before anything is allocated for them. */
    graft_err rc = graft_sock_bind_router(net, opts->bind_host, opts->limits.max_message_bytes * 2,
                                          opts->curve_secret, &s->sock, endpoint, eplen);
    if (rc != GRAFT_OK) {
        graft_server_destroy(&s);
        return rc;
    }
    s->nlanes = graft_lanes_count(s->lanes);
    *out = s;
    return GRAFT_OK;
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

static double
mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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
static void
reply(graft_server *s, const void *id, size_t idlen, graft_msg *m, const void *payload, size_t plen)
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

static void
reply_error(graft_server *s, const void *id, size_t idlen, uint64_t request_id, graft_err code,
            const char *why)
{
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_ERROR, request_id);
    m.error_code = (uint32_t)code;
    snprintf(m.error_message, sizeof m.error_message, "%s", why);
    s->stats.errors++;
    GRAFT_LOG_DEBUG("GRAFT-SERVER-BAD-REQUEST", "request %llu refused: %s",
                    (unsigned long long)request_id, why);
    reply(s, id, idlen, &m, NULL, 0);
}

static graft_err
ensure_scratch(graft_server *s, size_t floats)
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

static void
handle_create(graft_server *s, const void *id, size_t idlen, const graft_msg *req)
{
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
            reply_error(s, id, idlen, req->request_id, GRAFT_ERR_CONFLICT, why);
            return;
        }
        graft_msg m;
        graft_wire_init(&m, GRAFT_MSG_CREATE, req->request_id);
        m.table = i;
        reply(s, id, idlen, &m, NULL, 0);
        return;
    }
    if (s->ntables == GRAFT_MAX_TABLES) {
        reply_error(s, id, idlen, req->request_id, GRAFT_ERR_TOOBIG, "too many tables");
        return;
    }
    for (int l = 0; l < s->nlanes; l++)
        if (graft_table_create(sp, &s->tables[s->ntables][l]) != GRAFT_OK) {
            for (int k = 0; k < l; k++)
                graft_table_destroy(&s->tables[s->ntables][k]);
            reply_error(s, id, idlen, req->request_id, GRAFT_ERR_NOMEM, "out of memory");
            return;
        }
    GRAFT_LOG_DEBUG("GRAFT-SERVER-TABLE", "table %u '%s' width %u", s->ntables, sp->name,
                    sp->width);
    graft_msg m;
    graft_wire_init(&m, GRAFT_MSG_CREATE, req->request_id);
    m.table = s->ntables++;
    reply(s, id, idlen, &m, NULL, 0);
}

static void
handle_barrier(graft_server *s, const void *id, size_t idlen, const graft_msg *req)
{
    if (idlen > MAX_IDENTITY) {
        reply_error(s, id, idlen, req->request_id, GRAFT_ERR_INVALID, "identity too long");
        return;
    }
    if (s->nwaiting > 0 && req->clock != s->barrier_clock) {
        char why[128];
        snprintf(why, sizeof why, "barrier on clock %llu while clock %llu is in progress",
                 (unsigned long long)req->clock, (unsigned long long)s->barrier_clock);
        reply_error(s, id, idlen, req->request_id, GRAFT_ERR_INVALID, why);
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
        reply(s, s->waiters[i].id, s->waiters[i].len, &m, NULL, 0);
    }
    s->nwaiting = 0;
}

/* A worker that reached clock c may go on once the slowest worker reached c - staleness (so
 * staleness 0 is a barrier per clock, BSP; a huge one never waits, ASP). The reply's count is
 * the slowest worker's clock then, from which the worker reads the staleness it ran with. */
static void
handle_clock(graft_server *s, const void *id, size_t idlen, const graft_msg *req)
{
    char why[160];
    uint32_t w = req->worker;
    if (idlen > MAX_IDENTITY) {
        reply_error(s, id, idlen, req->request_id, GRAFT_ERR_INVALID, "identity too long");
        return;
    }
    if (w >= (uint32_t)s->opts.nworkers || s->clock_waiting[w] || req->clock < s->clocks[w]) {
        snprintf(why, sizeof why,
                 "clock %llu from worker %u refused (%d workers; its clock is %llu%s)",
                 (unsigned long long)req->clock, w, s->opts.nworkers,
                 w < (uint32_t)s->opts.nworkers ? (unsigned long long)s->clocks[w] : 0ULL,
                 w < (uint32_t)s->opts.nworkers && s->clock_waiting[w] ? ", already waiting" : "");
        reply_error(s, id, idlen, req->request_id, GRAFT_ERR_INVALID, why);
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
        reply(s, s->clock_waiters[i].id, s->clock_waiters[i].len, &m, NULL, 0);
        s->clock_waiting[i] = 0;
    }
}

/* Save writes this server's shard of a table into --save; load keeps, of one saved shard file in
 * --source-model, the rows whose keys this server owns (so a model saved by any number of
 * servers loads into any other number). With a clock c, both work on the checkpoint folder
 * --checkpoint-dir/ckpt-c instead, and on whole row slots (values and optimizer state), so that
 * training resumes exactly. */
static void
handle_store(graft_server *s, const void *id, size_t idlen, const graft_msg *req)
{
    char why[5120], path[4608], ckdir[4096];
    int ckpt = req->clock > 0;
    const char *dir = ckpt                          ? s->opts.checkpoint_dir
                      : req->type == GRAFT_MSG_SAVE ? s->opts.save_dir
                                                    : s->opts.load_dir;
    if (!dir) {
        snprintf(why, sizeof why, "this server was started without %s",
                 ckpt                          ? "--checkpoint-dir"
                 : req->type == GRAFT_MSG_SAVE ? "--save"
                                               : "--source-model");
        reply_error(s, id, idlen, req->request_id, GRAFT_ERR_INVALID, why);
        return;
    }
    if (ckpt) {
        snprintf(ckdir, sizeof ckdir, "%s/ckpt-%llu", dir, (unsigned long long)req->clock);
        if (req->type == GRAFT_MSG_SAVE && mkdir(ckdir, 0777) != 0 && errno != EEXIST) {
            snprintf(why, sizeof why, "%s: %s", ckdir, strerror(errno));
            GRAFT_LOG_ERROR("GRAFT-CHECKPOINT-FAILED", "%s", why);
            reply_error(s, id, idlen, req->request_id, GRAFT_ERR_IO, why);
            return;
        }
        dir = ckdir;
    }
    if (req->table >= s->ntables) {
        snprintf(why, sizeof why, "unknown table %u", req->table);
        reply_error(s, id, idlen, req->request_id, GRAFT_ERR_TABLE, why);
        return;
    }
    graft_table *const *t = s->tables[req->table]; /* one part per lane */
    const graft_table_spec *sp = graft_table_spec_of(t[0]);
    uint32_t width = ckpt ? graft_table_stride(t[0]) : sp->save_width ? sp->save_width : sp->width;
    graft_msg m;
    graft_wire_init(&m, req->type, req->request_id);
    m.table = req->table;
    m.width = width;
    if (req->type == GRAFT_MSG_SAVE) {
        snprintf(path, sizeof path, "%s/%s.%d-of-%d.shard", dir, sp->name, s->opts.index,
                 s->opts.nservers);
        graft_shard_writer *w;
        graft_err rc = graft_shard_writer_open(path, width, &w, why, sizeof why);
        long slow = ckpt ? s->opts.debug_write_delay_us : 0;
        uint64_t key, n = 0;
        const float *row;
        errno = 0;
        for (int l = 0; l < s->nlanes; l++)
            for (size_t pos = 0; rc == GRAFT_OK && graft_table_next(t[l], &pos, &key, &row); n++) {
                rc = graft_shard_writer_add(w, key, row);
                if (slow && n % 64 == 0)
                    usleep((useconds_t)slow);
            }
        if (rc == GRAFT_OK)
            rc = graft_shard_writer_commit(&w, &m.count, &m.checksum, why, sizeof why);
        else
            snprintf(why, sizeof why, "%s: write failed: %s", path,
                     errno ? strerror(errno) : "row too wide");
        graft_shard_writer_abort(&w);
        if (rc != GRAFT_OK) {
            GRAFT_LOG_ERROR("GRAFT-SAVE-FAILED", "%s", why);
            reply_error(s, id, idlen, req->request_id, rc, why);
            return;
        }
        reply(s, id, idlen, &m, NULL, 0);
        return;
    }
    snprintf(path, sizeof path, "%s/%s", dir, req->path);
    graft_shard sh;
    graft_err rc = graft_shard_open(path, &sh, why, sizeof why);
    if (rc == GRAFT_OK && (sh.width != width || sh.checksum != req->checksum)) {
        snprintf(why, sizeof why, "%s: %s", path,
                 sh.width != width ? "row width differs from the table's"
                                   : "checksum differs from the manifest's");
        rc = GRAFT_ERR_PARSE;
    }
    /* A saved row may be narrower than the table's (save_width): the rest starts at zero. */
    size_t room = width > sp->width ? width : sp->width;
    float *buf = rc == GRAFT_OK ? graft_calloc(room, sizeof(float)) : NULL;
    if (rc == GRAFT_OK && !buf) {
        snprintf(why, sizeof why, "out of memory");
        rc = GRAFT_ERR_NOMEM;
    }
    for (uint64_t i = 0; rc == GRAFT_OK && i < sh.rows; i++) {
        uint64_t key;
        graft_shard_row(&sh, i, &key, buf);
        if (graft_shard_of_key(key, (uint32_t)s->opts.nservers) != (uint32_t)s->opts.index)
            continue;
        graft_table *part = t[graft_lane_of_key(key, (uint32_t)s->nlanes)];
        rc = ckpt ? graft_table_restore(part, key, buf)
                  : graft_table_assign(part, &key, NULL, 1, buf);
        m.count++;
    }
    graft_free(buf);
    graft_shard_close(&sh);
    if (rc != GRAFT_OK) {
        reply_error(s, id, idlen, req->request_id, rc, why);
        return;
    }
    reply(s, id, idlen, &m, NULL, 0);
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

static void
handle(graft_server *s, graft_parts *p)
{
    if (p->n < 2) {
        /* Only an identity: nothing to answer to but the peer. */
        if (p->n == 1)
            reply_error(s, p->data[0], p->size[0], 0, GRAFT_ERR_PROTO, "empty message");
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
        reply_error(s, id, idlen, 0, GRAFT_ERR_PROTO, why);
        return;
    }
    graft_err rc = graft_wire_decode(p->data[1], p->size[1], &req, why, sizeof why);
    if (rc != GRAFT_OK) {
        reply_error(s, id, idlen, 0, rc, why);
        return;
    }
    rc = graft_wire_check_request(&req, p->n - 2, p->size + 2, &s->opts.limits, why, sizeof why);
    if (rc != GRAFT_OK) {
        reply_error(s, id, idlen, req.request_id, rc, why);
        return;
    }
    graft_msg m;
    switch (req.type) {
    case GRAFT_MSG_CREATE:
        handle_create(s, id, idlen, &req);
        return;
    case GRAFT_MSG_BARRIER:
        handle_barrier(s, id, idlen, &req);
        return;
    case GRAFT_MSG_CLOCK:
        handle_clock(s, id, idlen, &req);
        return;
    case GRAFT_MSG_HEARTBEAT:
        if (req.worker < (uint32_t)s->opts.nworkers)
            s->last_seen[req.worker] = mono_now();
        graft_wire_init(&m, GRAFT_MSG_HEARTBEAT, req.request_id);
        reply(s, id, idlen, &m, NULL, 0);
        return;
    case GRAFT_MSG_STATS:
        graft_wire_init(&m, GRAFT_MSG_STATS, req.request_id);
        m.has_stats = 1;
        graft_server_get_stats(s, &m.stats);
        reply(s, id, idlen, &m, NULL, 0);
        return;
    case GRAFT_MSG_SHUTDOWN:
        graft_wire_init(&m, GRAFT_MSG_SHUTDOWN, req.request_id);
        reply(s, id, idlen, &m, NULL, 0);
        s->stop = 1;
        return;
    case GRAFT_MSG_SAVE:
    case GRAFT_MSG_LOAD:
        handle_store(s, id, idlen, &req);
        return;
    case GRAFT_MSG_ATTACH:
        snprintf(why, sizeof why, "this server runs with --shm off");
        rc = s->opts.no_shm ? GRAFT_ERR_INVALID
                            : graft_arenas_attach(s->arenas, id, idlen, &req, why, sizeof why);
        if (rc != GRAFT_OK) {
            reply_error(s, id, idlen, req.request_id, rc, why);
            return;
        }
        GRAFT_LOG_DEBUG("GRAFT-SERVER-ARENA", "worker %u attached a %llu-byte arena", req.worker,
                        (unsigned long long)req.arena_bytes);
        graft_wire_init(&m, GRAFT_MSG_ATTACH, req.request_id);
        reply(s, id, idlen, &m, NULL, 0);
        return;
    default:
        break;
    }
    /* Pull, push, copy and assign: all name a table and carry keys. */
    if (req.table >= s->ntables) {
        snprintf(why, sizeof why, "unknown table %u (this server has %u)", req.table, s->ntables);
        reply_error(s, id, idlen, req.request_id, GRAFT_ERR_TABLE, why);
        return;
    }
    const graft_table_spec *spec = graft_table_spec_of(s->tables[req.table][0]);
    uint32_t width = spec->width;
    if (req.width != width) {
        snprintf(why, sizeof why, "width %u for table '%s' of width %u", req.width, spec->name,
                 width);
        reply_error(s, id, idlen, req.request_id, GRAFT_ERR_SIZE, why);
        return;
    }
    const uint64_t *keys = aligned_keys(s, p->data[2], req.key_count);
    if (!keys) {
        reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM, "out of memory");
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
            reply_error(s, id, idlen, req.request_id, GRAFT_ERR_INVALID, why);
            return;
        }
        s->stats.arena_bytes += floats * sizeof(float);
    }
    if (req.type == GRAFT_MSG_PULL) {
        /* Written straight into the worker's arena; else assembled in the reused scratch buffer
         * and copied by ZeroMQ. Handing ZeroMQ a fresh buffer per reply instead
         * (zmq_msg_init_data) measured no faster, and either kept freed buffers in the heap or
         * paid a new mapping per reply (docs/performance.md). */
        if (!region && ensure_scratch(s, floats) != GRAFT_OK) {
            reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM, "out of memory");
            return;
        }
        job.out = region ? region : s->scratch;
        if (run_keyed(s, &job) != GRAFT_OK) {
            reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM, "out of memory");
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
        reply(s, id, idlen, &m, region ? NULL : s->scratch, region ? 0 : floats * sizeof(float));
        return;
    }
    if (req.type == GRAFT_MSG_COPY) {
        /* Seeding one table from another without moving rows off the server. */
        if (req.src_table >= s->ntables ||
            graft_table_spec_of(s->tables[req.src_table][0])->width != width) {
            snprintf(why, sizeof why, "copy from table %u: no such table of width %u",
                     req.src_table, width);
            reply_error(s, id, idlen, req.request_id, GRAFT_ERR_TABLE, why);
            return;
        }
        graft_wire_init(&m, GRAFT_MSG_COPY, req.request_id);
        if (run_keyed(s, &job) != GRAFT_OK) {
            reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM, "out of memory");
            return;
        }
        for (int l = 0; l < s->nlanes; l++)
            m.count += job.copied[l];
        m.table = req.table;
        reply(s, id, idlen, &m, NULL, 0);
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
        if (ensure_scratch(s, floats) != GRAFT_OK) {
            reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM, "out of memory");
            return;
        }
        memcpy(s->scratch, g, floats * sizeof(float));
        g = s->scratch;
    }
    /* A non-finite value would poison the row for good: refuse the whole request. */
    if (!graft_optim_finite(g, floats)) {
        reply_error(s, id, idlen, req.request_id, GRAFT_ERR_INVALID,
                    "push holds a NaN or infinite gradient");
        return;
    }
    job.vals = g;
    if (req.type == GRAFT_MSG_ASSIGN) {
        if (run_keyed(s, &job) != GRAFT_OK) {
            reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM, "out of memory");
            return;
        }
        graft_wire_init(&m, GRAFT_MSG_ASSIGN, req.request_id);
        m.table = req.table;
        reply(s, id, idlen, &m, NULL, 0);
        return;
    }
    if (run_keyed(s, &job) != GRAFT_OK) {
        reply_error(s, id, idlen, req.request_id, GRAFT_ERR_NOMEM, "out of memory");
        return;
    }
    uint64_t refused = 0;
    for (int l = 0; l < s->nlanes; l++)
        refused += job.refused[l];
    if (refused) {
        snprintf(why, sizeof why,
                 "%llu of the push's %u rows would have become NaN or infinite; left unchanged",
                 (unsigned long long)refused, req.key_count);
        reply_error(s, id, idlen, req.request_id, GRAFT_ERR_INVALID, why);
        return;
    }
    s->stats.pushes++;
    s->stats.keys_pushed += req.key_count;
    graft_wire_init(&m, GRAFT_MSG_PUSH, req.request_id);
    m.table = req.table;
    reply(s, id, idlen, &m, NULL, 0);
}

graft_err
graft_server_run(graft_server *s)
{
    while (!s->stop) {
        graft_parts p;
        /* Wake at least once a second to look for workers gone silent. */
        graft_err rc = graft_sock_recv(s->sock, &p, s->opts.heartbeat_timeout_s > 0 ? 1000 : -1);
        if (rc == GRAFT_ERR_TIMEOUT || (rc == GRAFT_OK && s->opts.heartbeat_timeout_s > 0)) {
            double t = mono_now();
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
