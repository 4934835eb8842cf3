#include "baselines.h"
#include "model.h"

#include <string.h>

graft_err
graft_baselines_run(const graft_config *cfg, const graft_job *job, graft_engine *e,
                    const graft_dataset *d, graft_client *c, double out[4])
{
    /* Classic shrunk bias estimators, accumulated on the servers in SUM tables:
     *   target b_i = sum(r - mu_t) / (n_i + shrink)
     *   source b_i = sum(r - mu_s) / (n_i + shrink),  b_u = sum(r - mu_s - b_i) / (n_u + shrink)
     * then predictions mu_t + b_i and mu_t + b_i + source b_u on the warm and cold sets. */
    const float shrink = (float)cfg->baseline_shrink;
    uint32_t tb, sb, ub;
    graft_err rc = graft_engine_create_model_table(e, c, "baseline.target.item", 2, 0,
                                                   GRAFT_OPTIM_SUM, 0, &tb);
    if (rc == GRAFT_OK)
        rc = graft_engine_create_model_table(e, c, "baseline.source.item", 2, 0, GRAFT_OPTIM_SUM, 0,
                                             &sb);
    if (rc == GRAFT_OK)
        rc = graft_engine_create_model_table(e, c, "baseline.source.user", 2, 0, GRAFT_OPTIM_SUM, 0,
                                             &ub);
    if (rc != GRAFT_OK)
        return rc;
    const int us[2] = {GRAFT_SLOT_EVAL_USERS, GRAFT_SLOT_EVAL_USERS},
              is[2] = {GRAFT_SLOT_EVAL_ITEMS, GRAFT_SLOT_EVAL_ITEMS};
    const uint32_t *uidx = graft_engine_user_index(e), *iidx = graft_engine_item_index(e);
    const graft_domain *sdom = graft_engine_domain_const(e, GRAFT_DOM_SOURCE),
                       *tdom = graft_engine_domain_const(e, GRAFT_DOM_TARGET);
    /* Pass 1: item sums of both domains. */
    for (int dom = 0; dom < 2 && rc == GRAFT_OK; dom++) {
        const graft_ratings *r = dom == GRAFT_DOM_SOURCE ? &d->src : &d->tgt;
        float mu = dom == GRAFT_DOM_SOURCE ? sdom->mu : tdom->mu;
        graft_engine_bind(e, GRAFT_SLOT_EVAL_USERS, ub, 2);
        graft_engine_bind(e, GRAFT_SLOT_EVAL_ITEMS, dom == GRAFT_DOM_SOURCE ? sb : tb, 2);
        for (size_t b = 0; b < r->n && rc == GRAFT_OK; b += 4096) {
            size_t n = r->n - b < 4096 ? r->n - b : 4096;
            if ((rc = graft_engine_pass(e, c, r->v + b, n, us, is)) != GRAFT_OK)
                break;
            graft_slot_view ki = graft_engine_slot(e, GRAFT_SLOT_EVAL_ITEMS);
            memset(ki.grads, 0, (size_t)ki.n * 2 * sizeof(float));
            for (size_t j = 0; j < n; j++) {
                ki.grads[iidx[j] * 2] += r->v[b + j].rating - mu;
                ki.grads[iidx[j] * 2 + 1] += 1;
            }
            rc = graft_client_push(c, ki.table, 2, ki.keys, ki.n, ki.grads);
        }
    }
    if (rc == GRAFT_OK)
        rc = graft_engine_barrier(e, c);
    /* Pass 2: source user sums of what the item biases leave. */
    graft_engine_bind(e, GRAFT_SLOT_EVAL_USERS, ub, 2);
    graft_engine_bind(e, GRAFT_SLOT_EVAL_ITEMS, sb, 2);
    float mus = sdom->mu, mut = tdom->mu;
    for (size_t b = 0; b < d->src.n && rc == GRAFT_OK; b += 4096) {
        size_t n = d->src.n - b < 4096 ? d->src.n - b : 4096;
        if ((rc = graft_engine_pass(e, c, d->src.v + b, n, us, is)) != GRAFT_OK)
            break;
        graft_slot_view ku = graft_engine_slot(e, GRAFT_SLOT_EVAL_USERS),
                        ki = graft_engine_slot(e, GRAFT_SLOT_EVAL_ITEMS);
        memset(ku.grads, 0, (size_t)ku.n * 2 * sizeof(float));
        for (size_t j = 0; j < n; j++) {
            const float *it = ki.rows + iidx[j] * 2;
            float bi = it[0] / (it[1] + shrink);
            ku.grads[uidx[j] * 2] += d->src.v[b + j].rating - mus - bi;
            ku.grads[uidx[j] * 2 + 1] += 1;
        }
        rc = graft_client_push(c, ub, 2, ku.keys, ku.n, ku.grads);
    }
    if (rc == GRAFT_OK)
        rc = graft_engine_barrier(e, c);
    /* Pass 3: the two baselines on the warm and the cold set. */
    double l[4] = {0, 0, 0, 0};
    graft_engine_bind(e, GRAFT_SLOT_EVAL_USERS, ub, 2);
    graft_engine_bind(e, GRAFT_SLOT_EVAL_ITEMS, tb, 2);
    for (int set = 0; set < 2 && rc == GRAFT_OK; set++) {
        const graft_ratings *r = set ? &d->cold : &d->warm;
        for (size_t b = 0; b < r->n && rc == GRAFT_OK; b += 4096) {
            size_t n = r->n - b < 4096 ? r->n - b : 4096;
            if ((rc = graft_engine_pass(e, c, r->v + b, n, us, is)) != GRAFT_OK)
                break;
            graft_slot_view ku = graft_engine_slot(e, GRAFT_SLOT_EVAL_USERS),
                            ki = graft_engine_slot(e, GRAFT_SLOT_EVAL_ITEMS);
            for (size_t j = 0; j < n; j++) {
                const float *it = ki.rows + iidx[j] * 2, *u = ku.rows + uidx[j] * 2;
                float p1 = mut + it[0] / (it[1] + shrink);
                float p2 = p1 + u[0] / (u[1] + shrink);
                p1 = graft_model_clip(p1, tdom->rmin, tdom->rmax);
                p2 = graft_model_clip(p2, tdom->rmin, tdom->rmax);
                double e1 = (double)p1 - r->v[b + j].rating, e2 = (double)p2 - r->v[b + j].rating;
                l[set] += e1 * e1;
                l[2 + set] += e2 * e2;
            }
        }
    }
    if (rc == GRAFT_OK)
        graft_job_allreduce(job->role_comm, l, out, 4, GRAFT_JOB_F64, GRAFT_JOB_SUM);
    return rc;
}
