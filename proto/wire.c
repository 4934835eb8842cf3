#include "wire.h"
#include "alloc.h"
#include "graft.pb-c.h"

#include <stdio.h>
#include <string.h>

void
graft_wire_init(graft_msg *m, graft_msg_type type, uint64_t request_id)
{
    memset(m, 0, sizeof *m);
    m->version = GRAFT_WIRE_VERSION;
    m->type = type;
    m->request_id = request_id;
}

const char *
graft_wire_type_name(graft_msg_type t)
{
    switch (t) {
    case GRAFT_MSG_PULL:
        return "pull";
    case GRAFT_MSG_PUSH:
        return "push";
    case GRAFT_MSG_BARRIER:
        return "barrier";
    case GRAFT_MSG_STATS:
        return "stats";
    case GRAFT_MSG_SHUTDOWN:
        return "shutdown";
    case GRAFT_MSG_ERROR:
        return "error";
    case GRAFT_MSG_CREATE:
        return "create";
    case GRAFT_MSG_COPY:
        return "copy";
    case GRAFT_MSG_ASSIGN:
        return "assign";
    case GRAFT_MSG_SAVE:
        return "save";
    case GRAFT_MSG_LOAD:
        return "load";
    case GRAFT_MSG_CLOCK:
        return "clock";
    case GRAFT_MSG_HEARTBEAT:
        return "heartbeat";
    case GRAFT_MSG_ATTACH:
        return "attach";
    case GRAFT_MSG_NONE:
        break;
    }
    return "none";
}

graft_err
graft_wire_encode(const graft_msg *m, uint8_t **buf, size_t *len)
{
    Graft__Header h = GRAFT__HEADER__INIT;
    Graft__TableSpec spec = GRAFT__TABLE_SPEC__INIT;
    Graft__Stats stats = GRAFT__STATS__INIT;
    Graft__TableStats ts[GRAFT_MAX_TABLES];
    Graft__TableStats *tsp[GRAFT_MAX_TABLES];
    h.version = m->version;
    h.type = (Graft__MsgType)m->type;
    h.request_id = m->request_id;
    h.table = m->table;
    h.key_count = m->key_count;
    h.width = m->width;
    h.create = m->create != 0;
    h.worker = m->worker;
    h.clock = m->clock;
    h.error_code = m->error_code;
    h.error_message = (char *)m->error_message;
    h.src_table = m->src_table;
    h.count = m->count;
    h.path = (char *)m->path;
    h.checksum = m->checksum;
    h.staleness = m->staleness;
    h.arena_pid = m->arena_pid;
    h.arena_fd = m->arena_fd;
    h.arena_bytes = m->arena_bytes;
    h.arena_nonce = m->arena_nonce;
    h.in_arena = m->in_arena != 0;
    h.arena_offset = m->arena_offset;
    if (m->has_spec) {
        spec.name = (char *)m->spec.name;
        spec.width = m->spec.width;
        spec.seed = m->spec.seed;
        spec.init_scale = m->spec.init_scale;
        spec.optimizer = (Graft__Optimizer)m->spec.optimizer;
        spec.lr = m->spec.lr;
        spec.l2 = m->spec.l2;
        spec.init_width = m->spec.init_width;
        spec.save_width = m->spec.save_width;
        h.spec = &spec;
    }
    if (m->stats) {
        const graft_server_stats *s = m->stats;
        stats.requests = s->requests;
        stats.errors = s->errors;
        stats.pulls = s->pulls;
        stats.pushes = s->pushes;
        stats.keys_pulled = s->keys_pulled;
        stats.keys_pushed = s->keys_pushed;
        stats.bytes_in = s->bytes_in;
        stats.bytes_out = s->bytes_out;
        stats.peak_rss = s->peak_rss;
        stats.arenas = s->arenas;
        stats.arena_bytes = s->arena_bytes;
        uint32_t n = s->ntables < GRAFT_MAX_TABLES ? s->ntables : GRAFT_MAX_TABLES;
        for (uint32_t i = 0; i < n; i++) {
            graft__table_stats__init(&ts[i]);
            ts[i].table = s->tables[i].table;
            ts[i].name = (char *)s->tables[i].name;
            ts[i].width = s->tables[i].width;
            ts[i].rows = s->tables[i].rows;
            ts[i].bytes = s->tables[i].bytes;
            tsp[i] = &ts[i];
        }
        stats.n_tables = n;
        stats.tables = tsp;
        h.stats = &stats;
    }
    size_t n = graft__header__get_packed_size(&h);
    uint8_t *b = graft_malloc(n);
    if (!b)
        return GRAFT_ERR_NOMEM;
    graft__header__pack(&h, b);
    *buf = b;
    *len = n;
    return GRAFT_OK;
}

static void
copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

graft_err
graft_wire_decode(const void *buf, size_t len, graft_msg *out, graft_server_stats *stats, char *err,
                  size_t errlen)
{
    memset(out, 0, sizeof *out);
    Graft__Header *h = graft__header__unpack(NULL, len, buf);
    if (!h) {
        snprintf(err, errlen, "header frame of %zu bytes is not a valid Header message", len);
        return GRAFT_ERR_PROTO;
    }
    out->version = h->version;
    out->type = (graft_msg_type)h->type;
    out->request_id = h->request_id;
    out->table = h->table;
    out->key_count = h->key_count;
    out->width = h->width;
    out->create = h->create;
    out->worker = h->worker;
    out->clock = h->clock;
    out->error_code = h->error_code;
    out->src_table = h->src_table;
    out->count = h->count;
    copy_str(out->path, sizeof out->path, h->path);
    out->checksum = h->checksum;
    out->staleness = h->staleness;
    out->arena_pid = h->arena_pid;
    out->arena_fd = h->arena_fd;
    out->arena_bytes = h->arena_bytes;
    out->arena_nonce = h->arena_nonce;
    out->in_arena = h->in_arena;
    out->arena_offset = h->arena_offset;
    copy_str(out->error_message, sizeof out->error_message, h->error_message);
    if (h->spec) {
        out->has_spec = 1;
        copy_str(out->spec.name, sizeof out->spec.name, h->spec->name);
        out->spec.width = h->spec->width;
        out->spec.seed = h->spec->seed;
        out->spec.init_scale = h->spec->init_scale;
        out->spec.optimizer = (graft_optim_kind)h->spec->optimizer;
        out->spec.lr = h->spec->lr;
        out->spec.l2 = h->spec->l2;
        out->spec.init_width = h->spec->init_width;
        out->spec.save_width = h->spec->save_width;
    }
    if (h->stats && stats) {
        Graft__Stats *s = h->stats;
        memset(stats, 0, sizeof *stats);
        out->stats = stats;
        stats->requests = s->requests;
        stats->errors = s->errors;
        stats->pulls = s->pulls;
        stats->pushes = s->pushes;
        stats->keys_pulled = s->keys_pulled;
        stats->keys_pushed = s->keys_pushed;
        stats->bytes_in = s->bytes_in;
        stats->bytes_out = s->bytes_out;
        stats->peak_rss = s->peak_rss;
        stats->arenas = s->arenas;
        stats->arena_bytes = s->arena_bytes;
        size_t n = s->n_tables < GRAFT_MAX_TABLES ? s->n_tables : GRAFT_MAX_TABLES;
        stats->ntables = (uint32_t)n;
        for (size_t i = 0; i < n; i++) {
            graft_table_stats *t = &stats->tables[i];
            t->table = s->tables[i]->table;
            copy_str(t->name, sizeof t->name, s->tables[i]->name);
            t->width = s->tables[i]->width;
            t->rows = s->tables[i]->rows;
            t->bytes = s->tables[i]->bytes;
        }
    }
    graft__header__free_unpacked(h, NULL);
    return GRAFT_OK;
}

graft_err
graft_wire_check_request(const graft_msg *m, int nframes, const size_t *sizes,
                         const graft_wire_limits *lim, char *err, size_t errlen)
{
    if (m->version != GRAFT_WIRE_VERSION) {
        snprintf(err, errlen, "wire version %u, this server speaks %u", m->version,
                 GRAFT_WIRE_VERSION);
        return GRAFT_ERR_VERSION;
    }
    for (int i = 0; i < nframes; i++)
        if (sizes[i] > lim->max_message_bytes) {
            snprintf(err, errlen, "frame %d of %zu bytes is over the limit of %zu", i + 1, sizes[i],
                     lim->max_message_bytes);
            return GRAFT_ERR_TOOBIG;
        }
    int want;
    switch (m->type) {
    case GRAFT_MSG_PULL:
    case GRAFT_MSG_COPY:
        want = 1;
        break;
    case GRAFT_MSG_PUSH:
    case GRAFT_MSG_ASSIGN:
        want = m->in_arena ? 1 : 2;
        break;
    case GRAFT_MSG_BARRIER:
    case GRAFT_MSG_STATS:
    case GRAFT_MSG_SHUTDOWN:
    case GRAFT_MSG_CREATE:
    case GRAFT_MSG_SAVE:
    case GRAFT_MSG_LOAD:
    case GRAFT_MSG_CLOCK:
    case GRAFT_MSG_HEARTBEAT:
    case GRAFT_MSG_ATTACH:
        want = 0;
        break;
    default:
        snprintf(err, errlen, "message type %d is not a request", (int)m->type);
        return GRAFT_ERR_PROTO;
    }
    if (nframes != want) {
        snprintf(err, errlen, "%s carries %d payload frames, expected %d",
                 graft_wire_type_name(m->type), nframes, want);
        return GRAFT_ERR_PROTO;
    }
    if (m->type == GRAFT_MSG_CREATE) {
        if (!m->has_spec || !m->spec.name[0] || m->spec.width == 0 || m->spec.width > 65536 ||
            m->spec.init_width > m->spec.width || m->spec.save_width > m->spec.width ||
            m->spec.optimizer > GRAFT_OPTIM_SUM) {
            snprintf(err, errlen,
                     "create needs a table spec with a name, width 1..65536, "
                     "init_width and save_width up to width and a known optimizer");
            return GRAFT_ERR_INVALID;
        }
        return GRAFT_OK;
    }
    if (m->type == GRAFT_MSG_LOAD && (!m->path[0] || strchr(m->path, '/') || m->path[0] == '.')) {
        /* Only a plain file name inside the folder the server was started with. */
        snprintf(err, errlen, "load path '%s' is not a plain file name", m->path);
        return GRAFT_ERR_INVALID;
    }
    if (m->type == GRAFT_MSG_ATTACH &&
        (m->arena_pid == 0 || m->arena_bytes < 4096 || m->arena_bytes > GRAFT_WIRE_MAX_ARENA)) {
        snprintf(err, errlen, "attach needs a process id and an arena of 4 KiB to %u MiB",
                 GRAFT_WIRE_MAX_ARENA >> 20);
        return GRAFT_ERR_INVALID;
    }
    if (want == 0)
        return GRAFT_OK;
    if (m->in_arena && m->arena_offset % 8 != 0) {
        snprintf(err, errlen, "arena offset %llu is not a multiple of 8",
                 (unsigned long long)m->arena_offset);
        return GRAFT_ERR_INVALID;
    }
    if (m->key_count > lim->max_keys) {
        snprintf(err, errlen, "%u keys in one request, the limit is %u", m->key_count,
                 lim->max_keys);
        return GRAFT_ERR_TOOBIG;
    }
    if (m->width == 0) {
        snprintf(err, errlen, "width 0");
        return GRAFT_ERR_SIZE;
    }
    if (sizes[0] != (uint64_t)m->key_count * 8u) {
        snprintf(err, errlen, "keys frame of %zu bytes for key_count %u (expected %llu)", sizes[0],
                 m->key_count, (unsigned long long)m->key_count * 8u);
        return GRAFT_ERR_SIZE;
    }
    if ((m->type == GRAFT_MSG_PUSH || m->type == GRAFT_MSG_ASSIGN) && !m->in_arena &&
        sizes[1] != (uint64_t)m->key_count * m->width * sizeof(float)) {
        snprintf(err, errlen, "values frame of %zu bytes for %u keys x width %u (expected %llu)",
                 sizes[1], m->key_count, m->width,
                 (unsigned long long)m->key_count * m->width * sizeof(float));
        return GRAFT_ERR_SIZE;
    }
    return GRAFT_OK;
}
