#include "save.h"
#include "alloc.h"
#include "checkpoint.h"
#include "hash.h"
#include "log.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

/* Collective over the workers: worker 0's dictionary gets every worker's entries. */
static graft_err
gather_ids(const graft_job *job, graft_iddict *d)
{
    char *mine = NULL;
    size_t len = 0;
    graft_err rc = graft_iddict_pack(d, &mine, &len);
    void *all = NULL;
    size_t total;
    /* Every worker joins, also one whose packing failed (it sends nothing). Worker 0 is the
     * only one that needs the result, but the dictionaries are small beside the ratings. */
    graft_err grc =
        graft_job_allgather_bytes(job->role_comm, mine, rc == GRAFT_OK ? len : 0, &all, &total);
    if (rc == GRAFT_OK)
        rc = grc;
    if (rc == GRAFT_OK && job->index == 0)
        rc = graft_iddict_merge(d, all, total);
    graft_free(mine);
    graft_free(all);
    return rc;
}

void
graft_save_manifest_head(const graft_engine *e, const graft_dataset *d, const graft_job *job,
                         const graft_save_transfer *tr, graft_manifest *m)
{
    memset(m, 0, sizeof *m);
    m->dim = graft_engine_dim(e);
    m->servers = job->nservers;
    m->has_data = 1;
    m->data_ratings = d->data_ratings;
    m->data_hash = d->data_hash;
    static const char *const dnames[2] = {"source", "target"};
    for (int i = tr ? 0 : 1; i < 2; i++) {
        const graft_domain *dom = graft_engine_domain_const(e, i);
        graft_manifest_domain *md = &m->domains[m->ndomains++];
        snprintf(md->name, sizeof md->name, "%s", tr ? dnames[i] : "main");
        md->mu = dom->mu;
        md->rmin = dom->rmin;
        md->rmax = dom->rmax;
        /* The gate kept the target-only model for warm users: the saved model answers them from
         * its target-only tables, as the job's own evaluation did. */
        if (i == 1 && tr && tr->warm_target_only)
            snprintf(md->warm, sizeof md->warm, "target-only");
        md->weight = dom->weight;
    }
    const graft_config *cfg = graft_engine_config(e);
    /* A ranking model records what fold-in solves with: iALS's own user step, or for BPR
     * (trained by SGD, with a per-triple reg) the same step at iALS's default reg. */
    if (cfg->loss != GRAFT_LOSS_SQUARED) {
        int ials = cfg->loss == GRAFT_LOSS_IALS;
        snprintf(m->loss, sizeof m->loss, ials ? "ials" : "bpr");
        m->w0 = cfg->unobserved_weight;
        m->reg = ials ? cfg->reg : GRAFT_CONFIG_IALS_REG;
        m->confidence = cfg->confidence;
    }
    static const char *const modes[] = {"none", "seed", "map", "joint"};
    if (tr)
        snprintf(m->transfer, sizeof m->transfer, "%s", modes[cfg->transfer]);
}

/* name (cold-users.txt, validation-cold-users.txt): the ids of users[0..n), one per line; *sum
 * its checksum. */
static graft_err
write_users(const char *dir, const char *name, const graft_dataset *d, const uint64_t *users,
            size_t n, uint64_t *sum, char *err, size_t errlen)
{
    size_t len = 0, cap = 4096;
    char *text = graft_malloc(cap);
    for (size_t i = 0; text && i < n; i++) {
        const char *id = graft_iddict_get(d->users, users[i]);
        size_t need = (id ? strlen(id) : 16) + 2;
        if (len + need > cap) {
            char *grown = graft_realloc_array(text, cap * 2 + need, 1);
            if (!grown) {
                graft_free(text);
                text = NULL;
                break;
            }
            text = grown;
            cap = cap * 2 + need;
        }
        len += (size_t)(id ? snprintf(text + len, cap - len, "%s\n", id)
                           : snprintf(text + len, cap - len, "%016llx\n",
                                      (unsigned long long)users[i]));
    }
    graft_err rc = GRAFT_ERR_NOMEM;
    if (text) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        rc = graft_store_write_atomic(path, text, len, err, errlen);
        *sum = graft_checksum64(text, len, 0);
    }
    graft_free(text);
    return rc;
}

graft_err
graft_save_model(const graft_config *cfg, const graft_job *job, graft_engine *e, graft_dataset *d,
                 graft_client *c, const graft_save_transfer *tr)
{
    if (!cfg->save)
        return GRAFT_OK;
    graft_err rc = gather_ids(job, d->users);
    if (rc == GRAFT_OK)
        rc = gather_ids(job, d->items);
    if (rc != GRAFT_OK || job->index != 0)
        return rc;
    graft_manifest m;
    graft_save_manifest_head(e, d, job, tr, &m);
    int n;
    const graft_saved_table *tabs = graft_engine_saved(e, &n);
    rc = graft_saved_write(c, 0, tabs, n, job->nservers, &m);
    char err[4608] = "the servers could not write the model (see their log)", path[4096];
    snprintf(path, sizeof path, "%s/users.ids", cfg->save);
    if (rc == GRAFT_OK && (rc = graft_iddict_write(d->users, path, err, sizeof err)) == GRAFT_OK) {
        snprintf(path, sizeof path, "%s/items.ids", cfg->save);
        rc = graft_iddict_write(d->items, path, err, sizeof err);
    }
    /* A transfer model names its cold-start users, so that they can be evaluated apart. */
    if (rc == GRAFT_OK && tr) {
        rc = write_users(cfg->save, "cold-users.txt", d, tr->cold_users, tr->n_cold,
                         &m.cold_checksum, err, sizeof err);
        m.has_cold = 1;
    }
    /* Who chose the epochs, so that a protocol can check they are not its test users. */
    uint64_t vsum;
    if (rc == GRAFT_OK && tr && tr->n_valid_cold) {
        rc = write_users(cfg->save, "validation-cold-users.txt", d, tr->valid_cold,
                         tr->n_valid_cold, &vsum, err, sizeof err);
    } else if (rc == GRAFT_OK) {
        /* An earlier job's list in the same folder would name users this model trained on. */
        snprintf(path, sizeof path, "%s/validation-cold-users.txt", cfg->save);
        (void)remove(path);
    }
    if (rc == GRAFT_OK)
        rc = graft_manifest_write(cfg->save, &m, err, sizeof err);
    if (rc != GRAFT_OK)
        GRAFT_LOG_ERROR("GRAFT-SAVE-FAILED", "%s", rc == GRAFT_ERR_NOMEM ? "out of memory" : err);
    if (rc == GRAFT_OK && !cfg->quiet)
        printf("saved %d tables to %s\n", m.ntables, cfg->save);
    graft_manifest_free(&m);
    return rc;
}
