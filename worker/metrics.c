#include "metrics.h"

#include <math.h>

graft_err
graft_metrics_open(const char *path, int append, FILE **out)
{
    *out = NULL;
    if (!path)
        return GRAFT_OK;
    *out = fopen(path, append ? "a" : "w");
    return *out ? GRAFT_OK : GRAFT_ERR_IO;
}

/* JSON has no NaN: a missing figure is null. */
static void
num(FILE *f, const char *key, double v)
{
    if (isfinite(v))
        fprintf(f, ",\"%s\":%.6f", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

void
graft_metrics_epoch(FILE *f, const graft_epoch_metrics *m)
{
    if (!f)
        return;
    fprintf(f, "{\"event\":\"epoch\",\"epoch\":%d", m->epoch);
    num(f, "train_rmse", m->train_rmse);
    num(f, "test_rmse", m->test_rmse);
    num(f, "test_mae", m->test_mae);
    num(f, "seconds", m->seconds);
    num(f, "updates_per_s", m->updates_per_s);
    if (m->phase) {
        fprintf(f, ",\"phase\":\"%s\"", m->phase);
        num(f, "warm_rmse", m->warm_rmse);
        num(f, "cold_rmse", m->cold_rmse);
    }
    if (m->staleness >= 0) {
        fprintf(f, ",\"staleness\":%lld", (long long)m->staleness);
        num(f, "wait_seconds", m->wait_seconds);
    }
    if (!isnan(m->compute_seconds)) {
        num(f, "pull_seconds", m->pull_seconds);
        num(f, "compute_seconds", m->compute_seconds);
        num(f, "push_seconds", m->push_seconds);
    }
    if (!isnan(m->train_loss))
        num(f, "train_loss", m->train_loss);
    if (m->refit)
        fputs(",\"refit\":true", f);
    if (!isnan(m->valid_rmse))
        num(f, "valid_rmse", m->valid_rmse);
    if (!isnan(m->valid_cold_rmse))
        num(f, "valid_cold_rmse", m->valid_cold_rmse);
    if (m->rank_k > 0) {
        fprintf(f, ",\"rank_k\":%d", m->rank_k);
        const char *names[] = {"test_ndcg",       "test_recall",      "warm_ndcg",  "warm_recall",
                               "cold_ndcg",       "cold_recall",      "valid_ndcg", "valid_recall",
                               "valid_cold_ndcg", "valid_cold_recall"};
        const double v[] = {m->test_ndcg,       m->test_recall,      m->warm_ndcg,  m->warm_recall,
                            m->cold_ndcg,       m->cold_recall,      m->valid_ndcg, m->valid_recall,
                            m->valid_cold_ndcg, m->valid_cold_recall};
        for (int j = 0; j < 10; j++)
            if (!isnan(v[j]))
                num(f, names[j], v[j]);
    }
    fputs("}\n", f);
    fflush(f);
}

void
graft_metrics_summary(FILE *f, const graft_summary_metrics *m)
{
    if (!f)
        return;
    fputs("{\"event\":\"summary\"", f);
    num(f, "test_rmse", m->test_rmse);
    num(f, "test_mae", m->test_mae);
    fprintf(f, ",\"epochs\":%d", m->epochs);
    num(f, "seconds", m->seconds);
    num(f, "updates_per_s", m->updates_per_s);
    fprintf(f, ",\"servers\":%d,\"workers\":%d,\"bad_lines\":%llu", m->servers, m->workers,
            (unsigned long long)m->bad_lines);
    num(f, "train_rmse", m->train_rmse);
    if (!isnan(m->train_loss))
        num(f, "train_loss", m->train_loss);
    if (m->valid_ratings || m->valid_cold_users) {
        fprintf(f, ",\"valid_ratings\":%llu,\"best_epoch\":%d,\"stopped_early\":%s,\"refit\":%s",
                (unsigned long long)m->valid_ratings, m->best_epoch,
                m->stopped_early ? "true" : "false", m->refit ? "true" : "false");
        if (!isnan(m->valid_rmse))
            num(f, "valid_rmse", m->valid_rmse);
        if (!isnan(m->valid_ndcg) || !isnan(m->valid_cold_ndcg))
            fprintf(f, ",\"rank_k\":%d", m->rank_k);
        if (!isnan(m->valid_ndcg)) {
            num(f, "valid_ndcg", m->valid_ndcg);
            num(f, "valid_recall", m->valid_recall);
        }
    }
    if (m->valid_cold_users) {
        fprintf(f, ",\"valid_cold_users\":%llu,\"valid_cold_ratings\":%llu,\"selected_on\":\"%s\"",
                (unsigned long long)m->valid_cold_users, (unsigned long long)m->valid_cold_ratings,
                m->selected_on_cold ? "validation cold users" : "validation ratings");
        if (!isnan(m->valid_cold_rmse))
            num(f, "valid_cold_rmse", m->valid_cold_rmse);
        if (!isnan(m->valid_cold_ndcg)) {
            num(f, "valid_cold_ndcg", m->valid_cold_ndcg);
            num(f, "valid_cold_recall", m->valid_cold_recall);
        }
    }
    fprintf(f, ",\"train_ratings\":%llu,\"test_ratings\":%llu",
            (unsigned long long)m->train_ratings, (unsigned long long)m->test_ratings);
    fprintf(f, ",\"duplicate_pairs\":%llu,\"duplicate_ratings\":%llu,\"duplicates\":\"%s\"",
            (unsigned long long)m->duplicate_pairs, (unsigned long long)m->duplicate_ratings,
            m->duplicates ? m->duplicates : "keep");
    if (m->plane)
        fprintf(f,
                ",\"plane\":\"%s\",\"bytes_moved\":%llu,\"server_bytes\":%llu,"
                "\"server_rows\":%llu,\"server_peak_rss\":%llu,\"shm_bytes\":%llu",
                m->plane, (unsigned long long)m->bytes_moved, (unsigned long long)m->server_bytes,
                (unsigned long long)m->server_rows, (unsigned long long)m->server_peak_rss,
                (unsigned long long)m->shm_bytes);
    if (m->transfer) {
        fprintf(f, ",\"transfer\":\"%s\"", m->transfer);
        num(f, "cold_rmse", m->cold_rmse);
        num(f, "cold_mae", m->cold_mae);
        num(f, "warm_rmse", m->warm_rmse);
        num(f, "warm_mae", m->warm_mae);
        fprintf(f,
                ",\"cold_users\":%llu,\"cold_ratings\":%llu,\"warm_ratings\":%llu,"
                "\"overlap_users\":%llu",
                (unsigned long long)m->cold_users, (unsigned long long)m->cold_ratings,
                (unsigned long long)m->warm_ratings, (unsigned long long)m->overlap_users);
        num(f, "baseline_item_cold_rmse", m->base_item_cold_rmse);
        num(f, "baseline_item_warm_rmse", m->base_item_warm_rmse);
        num(f, "baseline_item_user_cold_rmse", m->base_item_user_cold_rmse);
        num(f, "baseline_item_user_warm_rmse", m->base_item_user_warm_rmse);
        if (m->gate) {
            fprintf(f, ",\"gate\":\"%s\"", m->gate);
            num(f, m->gate_ranked ? "valid_ndcg_transfer" : "valid_rmse_transfer",
                m->valid_transfer);
            num(f, m->gate_ranked ? "valid_ndcg_target" : "valid_rmse_target", m->valid_target);
            if (m->gate_ranked) {
                num(f, "gate_ndcg_gain", m->gate_gain);
                num(f, "gate_ndcg_se", m->gate_se);
            }
        }
    }
    fputs("}\n", f);
    fflush(f);
}

void
graft_metrics_close(FILE **f)
{
    if (f && *f) {
        fclose(*f);
        *f = NULL;
    }
}
