/* Save and load requests: a table's shard into --save or a checkpoint, and a saved shard's rows
 * (the keys this server owns) back into a table. */
#include "server_internal.h"
#include "alloc.h"
#include "hash.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Save writes this server's shard of a table into --save; load keeps, of one saved shard file in
 * --source-model, the rows whose keys this server owns (so a model saved by any number of
 * servers loads into any other number). With a clock c, both work on the checkpoint folder
 * --checkpoint-dir/ckpt-c instead, and on whole row slots (values and optimizer state), so that
 * training resumes exactly. */
/* Writes every lane's rows of table t to dir's shard of this server; m gets the rows and the
 * checksum. */
static graft_err
save_shard(graft_server *s, graft_table *const *t, const char *dir, uint32_t width, int ckpt,
           graft_msg *m, char *why, size_t whylen)
{
    char file[256], path[4608];
    graft_store_shard_file(file, sizeof file, graft_table_spec_of(t[0])->name, s->opts.index,
                           s->opts.nservers);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    graft_shard_writer *w;
    graft_err rc = graft_shard_writer_open(path, width, &w, why, whylen);
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
        rc = graft_shard_writer_commit(&w, &m->count, &m->checksum, why, whylen);
    else if (w)
        snprintf(why, whylen, "%s: write failed: %s", path,
                 errno ? strerror(errno) : "row too wide");
    graft_shard_writer_abort(&w);
    if (rc != GRAFT_OK)
        GRAFT_LOG_ERROR("GRAFT-SAVE-FAILED", "%s", why);
    return rc;
}

/* Reads dir/req->path into table t: the rows this server owns (a checkpoint's with their
 * optimizer state); m->count counts them. */
static graft_err
load_shard(graft_server *s, graft_table *const *t, const char *dir, uint32_t width, int ckpt,
           const graft_msg *req, graft_msg *m, char *why, size_t whylen)
{
    char path[4608];
    const graft_table_spec *sp = graft_table_spec_of(t[0]);
    snprintf(path, sizeof path, "%s/%s", dir, req->path);
    graft_shard sh;
    graft_err rc = graft_shard_open(path, &sh, why, whylen);
    if (rc == GRAFT_OK && (sh.width != width || sh.checksum != req->checksum)) {
        snprintf(why, whylen, "%s: %s", path,
                 sh.width != width ? "row width differs from the table's"
                                   : "checksum differs from the manifest's");
        rc = GRAFT_ERR_PARSE;
    }
    /* A saved row may be narrower than the table's (save_width): the rest starts at zero. */
    size_t room = width > sp->width ? width : sp->width;
    float *buf = rc == GRAFT_OK ? graft_calloc(room, sizeof(float)) : NULL;
    if (rc == GRAFT_OK && !buf) {
        snprintf(why, whylen, "out of memory");
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
        m->count++;
    }
    graft_free(buf);
    graft_shard_close(&sh);
    return rc;
}

void
graft_server_handle_store(graft_server *s, const graft_parts *p, const void *id, size_t idlen,
                          const graft_msg *req)
{
    (void)p;
    char why[5120], ckdir[4096];
    int ckpt = req->clock > 0;
    graft_err rc = GRAFT_OK;
    const char *dir = ckpt                          ? s->opts.checkpoint_dir
                      : req->type == GRAFT_MSG_SAVE ? s->opts.save_dir
                                                    : s->opts.load_dir;
    graft_msg m;
    graft_wire_init(&m, req->type, req->request_id);
    if (!dir) {
        snprintf(why, sizeof why, "this server was started without %s",
                 ckpt                          ? "--checkpoint-dir"
                 : req->type == GRAFT_MSG_SAVE ? "--save"
                                               : "--source-model");
        rc = GRAFT_ERR_INVALID;
    } else if (ckpt) {
        graft_store_checkpoint_dir(ckdir, sizeof ckdir, dir, req->clock);
        if (req->type == GRAFT_MSG_SAVE && mkdir(ckdir, 0777) != 0 && errno != EEXIST) {
            snprintf(why, sizeof why, "%s: %s", ckdir, strerror(errno));
            GRAFT_LOG_ERROR("GRAFT-CHECKPOINT-FAILED", "%s", why);
            rc = GRAFT_ERR_IO;
        }
        dir = ckdir;
    }
    if (rc == GRAFT_OK && req->table >= s->ntables) {
        snprintf(why, sizeof why, "unknown table %u", req->table);
        rc = GRAFT_ERR_TABLE;
    }
    if (rc == GRAFT_OK) {
        graft_table *const *t = s->tables[req->table]; /* one part per lane */
        const graft_table_spec *sp = graft_table_spec_of(t[0]);
        uint32_t width = ckpt             ? graft_table_stride(t[0])
                         : sp->save_width ? sp->save_width
                                          : sp->width;
        m.table = req->table;
        m.width = width;
        rc = req->type == GRAFT_MSG_SAVE
                 ? save_shard(s, t, dir, width, ckpt, &m, why, sizeof why)
                 : load_shard(s, t, dir, width, ckpt, req, &m, why, sizeof why);
    }
    if (rc == GRAFT_OK)
        graft_server_reply(s, id, idlen, &m, NULL, 0);
    else
        graft_server_reply_error(s, id, idlen, req->request_id, rc, why);
}
