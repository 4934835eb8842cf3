#include "metrics.h"

#include <math.h>

graft_err
graft_metrics_open(const char *path, FILE **out)
{
    *out = NULL;
    if (!path)
        return GRAFT_OK;
    *out = fopen(path, "w");
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
    fprintf(f, ",\"train_ratings\":%llu,\"test_ratings\":%llu}\n",
            (unsigned long long)m->train_ratings, (unsigned long long)m->test_ratings);
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
