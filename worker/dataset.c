#include "dataset.h"
#include "alloc.h"
#include "binfile.h"
#include "clock.h"
#include "keymap.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

_Static_assert(GRAFT_DUP_SUM == GRAFT_CONFIG_DUP_SUM, "--duplicates sum is one value");

const char *const graft_dataset_dup_names[5] = {"keep", "last", "mean", "error", "sum"};

static graft_err
load_part(const graft_config *cfg, const graft_job *job, graft_dataset *ds, const char *path,
          graft_ratings *out, uint32_t dom, int *owned, char *err, size_t errlen)
{
    graft_datafile *df = NULL;
    size_t first = out->n;
    double t0 = graft_clock_now();
    int binary = graft_binfile_is(path);
    graft_err rc;
    if (binary) { /* graft prep's output: no parsing */
        int by_owner = 0;
        rc = graft_binfile_load(path, job->index, job->nworkers, out, &by_owner, ds->users,
                                ds->items, err, errlen);
        if (owned)
            *owned = by_owner;
    } else {
        rc = graft_datafile_open(path, (graft_format)cfg->format, &df, err, errlen);
        if (rc == GRAFT_OK)
            rc = graft_ratings_load(df, job->index, job->nworkers,
                                    cfg->bad_lines == GRAFT_BAD_LINES_SKIP, out, &ds->bad_lines,
                                    ds->users, ds->items, err, errlen);
        graft_datafile_close(&df);
    }
    for (size_t i = first; i < out->n; i++)
        out->v[i].domain = dom;
    if (rc == GRAFT_OK)
        GRAFT_LOG_INFO("GRAFT-LOADED", "worker %d read %zu ratings of %s in %.2f s (%s)",
                       job->index, out->n - first, path, graft_clock_now() - t0,
                       binary ? "binary" : "text");
    return rc;
}

graft_err
graft_dataset_apply_user_map(const char *path, graft_ratings *src, char *err, size_t errlen)
{
    uint64_t *from, *to;
    size_t n;
    graft_err rc = graft_pairs_load(path, &from, &to, &n, err, errlen);
    if (rc != GRAFT_OK)
        return rc;
    graft_keymap *m = NULL;
    rc = graft_keymap_create(n, &m);
    for (size_t i = 0; i < n && rc == GRAFT_OK; i++) {
        uint32_t slot;
        int ins;
        rc = graft_keymap_upsert(m, from[i], (uint32_t)i, &slot, &ins);
    }
    if (rc == GRAFT_OK) {
        /* A source user named in the map trains under its target id's key, so that both rows of
         * the person share a key, and so a server. */
        for (size_t j = 0; j < src->n; j++) {
            uint32_t slot;
            if (graft_keymap_get(m, src->v[j].user, &slot))
                src->v[j].user = to[slot];
        }
    } else {
        snprintf(err, errlen, "%s: out of memory", path);
    }
    graft_keymap_destroy(&m);
    graft_free(from);
    graft_free(to);
    return rc;
}

graft_err
graft_dataset_load(const graft_config *cfg, const graft_job *job, graft_dataset **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    graft_dataset *d = graft_calloc(1, sizeof *d);
    graft_err rc = d ? GRAFT_OK : GRAFT_ERR_NOMEM;
    /* A saved model keeps the id behind each key, so that its rows can be named again. */
    if (rc == GRAFT_OK && cfg->save &&
        (graft_iddict_create(&d->users) != GRAFT_OK || graft_iddict_create(&d->items) != GRAFT_OK))
        rc = GRAFT_ERR_NOMEM;
    if (rc == GRAFT_ERR_NOMEM) {
        snprintf(err, errlen, "out of memory");
    } else if (cfg->source) {
        rc = load_part(cfg, job, d, cfg->source, &d->src, 0, NULL, err, errlen);
        if (rc == GRAFT_OK)
            rc = load_part(cfg, job, d, cfg->target, &d->tgt, 1, &d->tgt_owned, err, errlen);
        if (rc == GRAFT_OK && cfg->target_test)
            rc = load_part(cfg, job, d, cfg->target_test, &d->warm, 1, &d->warm_owned, err, errlen);
        if (rc == GRAFT_OK && cfg->user_map)
            rc = graft_dataset_apply_user_map(cfg->user_map, &d->src, err, errlen);
    } else {
        rc = load_part(cfg, job, d, cfg->train, &d->tgt, 1, &d->tgt_owned, err, errlen);
        if (rc == GRAFT_OK && cfg->test)
            rc = load_part(cfg, job, d, cfg->test, &d->warm, 1, &d->warm_owned, err, errlen);
    }
    if (rc != GRAFT_OK)
        graft_dataset_destroy(&d);
    *out = d;
    return rc;
}

void
graft_dataset_destroy(graft_dataset **d)
{
    if (!d || !*d)
        return;
    graft_dataset *x = *d;
    graft_ratings_free(&x->src);
    graft_ratings_free(&x->tgt);
    graft_ratings_free(&x->warm);
    graft_ratings_free(&x->cold);
    graft_iddict_destroy(&x->users);
    graft_iddict_destroy(&x->items);
    graft_free(x);
    *d = NULL;
}

graft_err
graft_dataset_prepare(graft_dataset *d, const graft_config *cfg, const graft_job *job, char *err,
                      size_t errlen)
{
    MPI_Comm comm = job->role_comm;
    /* The identity of what was read, before any policy changes it. */
    uint64_t id[3] = {d->src.n + d->tgt.n, graft_dedupe_identity(&d->src),
                      graft_dedupe_identity(&d->tgt)},
             gid[3];
    graft_job_allreduce(comm, id, gid, 3, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    d->data_ratings = gid[0];
    d->data_hash = gid[1] * 31 + gid[2];
    graft_dup_policy pol = (graft_dup_policy)cfg->duplicates;
    int one = job->nworkers == 1;
    graft_dup_counts cs = {0, 0}, ct = {0, 0};
    graft_err rc = GRAFT_OK;
    if (cfg->source)
        rc = graft_dedupe(&d->src, pol, one, comm, &cs);
    graft_err rt = graft_dedupe(&d->tgt, pol, one || d->tgt_owned, comm, &ct);
    if (rc == GRAFT_OK)
        rc = rt;
    if (rc != GRAFT_OK) {
        snprintf(err, errlen, "out of memory while looking for duplicated ratings");
        return rc;
    }
    d->dups.pairs = cs.pairs + ct.pairs;
    d->dups.extra = cs.extra + ct.extra;
    if (pol == GRAFT_DUP_ERROR && (cs.pairs || ct.pairs)) {
        const graft_dup_counts *c = cs.pairs ? &cs : &ct;
        snprintf(err, errlen,
                 "%s: %llu (user, item) pairs are rated on more than one line (%llu extra "
                 "ratings); choose --duplicates keep, last or mean",
                 cs.pairs     ? cfg->source
                 : cfg->train ? cfg->train
                              : cfg->target,
                 (unsigned long long)c->pairs, (unsigned long long)c->extra);
        return GRAFT_ERR_PARSE;
    }
    if (job->index == 0 && d->dups.pairs)
        GRAFT_LOG_WARN("GRAFT-DUPLICATES",
                       "%llu (user, item) pairs are rated on more than one line (%llu extra "
                       "ratings): --duplicates %s",
                       (unsigned long long)d->dups.pairs, (unsigned long long)d->dups.extra,
                       graft_dataset_dup_names[pol]);
    return GRAFT_OK;
}
