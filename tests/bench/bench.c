/* graft-bench: the benchmarks behind `graft bench` (docs/performance.md). Each prints a table and
 * writes it as CSV.
 *   graft-bench topk [--users N] [--items N] [--dim K] [-k K] [--csv FILE]
 *       top-K scoring of every user against every item, against OpenBLAS's sgemm alone on the
 *       same shapes; no MPI.
 *   graft-bench plane [--rows 1,10,...] [--widths 16,64,256] [--seconds S] [--shm auto|off]
 *                     [--csv FILE]
 *       the data plane: run as the worker of an MPI job with graft-server ranks (the launcher
 *       does that); pulls and pushes per second and GB/s of row payload per request size.
 *   graft-bench foldin [--users N] [--items N] [--dim K] [--history H] [-k K] [--csv FILE]
 *       fold-in: users never trained, H interactions each, solved against the item rows (the
 *       iALS user step) and ranked over every item; users per second. No MPI. */
#include "client.h"
#include "foldin.h"
#include "hash.h"
#include "job.h"
#include "log.h"
#include "net.h"
#include "rng.h"
#include "serve.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int
parse_list(const char *s, long *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0)
            return -1;
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static FILE *
open_csv(const char *path, const char *header)
{
    FILE *f = path ? fopen(path, "w") : NULL;
    if (path && !f) {
        fprintf(stderr, "graft bench: cannot write %s\n", path);
        exit(1);
    }
    if (f)
        fprintf(f, "%s\n", header);
    return f;
}

static int
bench_topk(int argc, char **argv)
{
    long nu = 10000, ni = 50000, k = 64, top = 10;
    const char *csv = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: graft-bench topk [--users N] [--items N] [--dim K] [-k K] [--csv FILE]\n"
                   "  top-K scoring of random rows against OpenBLAS's sgemm on the same shapes\n");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "graft bench topk: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--users") == 0)
            nu = atol(v);
        else if (strcmp(a, "--items") == 0)
            ni = atol(v);
        else if (strcmp(a, "--dim") == 0)
            k = atol(v);
        else if (strcmp(a, "-k") == 0)
            top = atol(v);
        else if (strcmp(a, "--csv") == 0)
            csv = v;
        else {
            fprintf(stderr, "graft bench topk: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (nu < 1 || ni < 1 || k < 1 || top < 1 || k > 4096) {
        fprintf(stderr, "graft bench topk: sizes must be positive (dim at most 4096)\n");
        return 2;
    }
    size_t w = (size_t)k + 1;
    float *users = malloc((size_t)nu * w * sizeof(float));
    float *items = malloc((size_t)ni * w * sizeof(float));
    float *ub = malloc(256 * w * sizeof(float));
    float *sc = malloc((size_t)256 * (size_t)ni * sizeof(float));
    int64_t *best = malloc((size_t)nu * (size_t)top * sizeof(int64_t));
    float *bests = malloc((size_t)nu * (size_t)top * sizeof(float));
    graft_served *s = NULL;
    if (!users || !items || !ub || !sc || !best || !bests) {
        fprintf(stderr, "graft bench topk: out of memory\n");
        return 1;
    }
    graft_rng rng;
    graft_rng_seed(&rng, 1);
    for (size_t i = 0; i < (size_t)nu * w; i++)
        users[i] = (float)(0.1 * graft_rng_normal(&rng));
    for (size_t i = 0; i < (size_t)ni * w; i++)
        items[i] = (float)(0.1 * graft_rng_normal(&rng));
    for (size_t i = 0; i < 256 * w; i++)
        ub[i] = users[i % ((size_t)nu * w)];
    if (graft_served_from_rows((int)k, 3.5f, users, (size_t)nu, items, (size_t)ni, &s) !=
        GRAFT_OK) {
        fprintf(stderr, "graft bench topk: out of memory\n");
        return 1;
    }
    int64_t *ids = malloc((size_t)nu * sizeof *ids);
    for (long u = 0; u < nu; u++)
        ids[u] = u;
    double flop = 2.0 * (double)nu * (double)ni * (double)w;
    /* sgemm alone: one call per block of 256 users against every item (the scores of a block
     * written out whole, as a plain implementation would), and on the tiles top-K uses. */
    double t0 = now();
    for (long b = 0; b < nu; b += 256) {
        int m = nu - b < 256 ? (int)(nu - b) : 256;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, (int)ni, (int)w, 1.0f, ub, (int)w,
                    items, (int)w, 0.0f, sc, (int)ni);
    }
    double t_block = now() - t0;
    t0 = now();
    for (long b = 0; b < nu; b += 256) {
        int m = nu - b < 256 ? (int)(nu - b) : 256;
        for (long t = 0; t < ni; t += 4096) {
            int nt = ni - t < 4096 ? (int)(ni - t) : 4096;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nt, (int)w, 1.0f, ub, (int)w,
                        items + (size_t)t * w, (int)w, 0.0f, sc, nt);
        }
    }
    double t_tile = now() - t0;
    t0 = now();
    graft_err rc = graft_served_topk(s, ids, (size_t)nu, (int)top, NULL, NULL, best, bests);
    double t_topk = now() - t0;
    if (rc != GRAFT_OK) {
        fprintf(stderr, "graft bench topk: %s\n", graft_strerror(rc));
        return 1;
    }
    double sgemm_best = t_block < t_tile ? t_block : t_tile;
    printf("top-%ld of %ld users x %ld items, dim %ld (products of width %zu: %.1f GFLOP)\n", top,
           nu, ni, k, w, flop / 1e9);
    printf("%-34s %10s %10s %10s\n", "what", "seconds", "GFLOP/s", "vs sgemm");
    printf("%-34s %10.3f %10.1f %10s\n", "sgemm, 256 users x all items", t_block,
           flop / t_block / 1e9, "");
    printf("%-34s %10.3f %10.1f %10s\n", "sgemm, 256 users x 4096-item tiles", t_tile,
           flop / t_tile / 1e9, "");
    printf("%-34s %10.3f %10.1f %9.0f%%\n", "top-K end to end (graft recommend)", t_topk,
           flop / t_topk / 1e9, 100.0 * sgemm_best / t_topk);
    FILE *f = open_csv(csv, "what,users,items,dim,k,seconds,gflops");
    if (f) {
        fprintf(f, "sgemm_block,%ld,%ld,%ld,%ld,%.6f,%.3f\n", nu, ni, k, top, t_block,
                flop / t_block / 1e9);
        fprintf(f, "sgemm_tiles,%ld,%ld,%ld,%ld,%.6f,%.3f\n", nu, ni, k, top, t_tile,
                flop / t_tile / 1e9);
        fprintf(f, "topk,%ld,%ld,%ld,%ld,%.6f,%.3f\n", nu, ni, k, top, t_topk, flop / t_topk / 1e9);
        fclose(f);
    }
    graft_served_destroy(&s);
    free(users);
    free(items);
    free(ub);
    free(sc);
    free(best);
    free(bests);
    free(ids);
    return 0;
}

/* Repeats op until `seconds` have passed (at least 3 times); returns seconds per request. */
typedef graft_err (*plane_op)(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys,
                              size_t n, float *rows);

static graft_err
op_pull(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
        float *rows)
{
    return graft_client_pull(c, table, width, keys, n, 0, rows);
}

static graft_err
op_push(graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
        float *rows)
{
    return graft_client_push(c, table, width, keys, n, rows);
}

static double
timed(plane_op op, graft_client *c, uint32_t table, uint32_t width, const uint64_t *keys, size_t n,
      float *rows, double seconds, long *reps)
{
    double t0 = now(), t = 0;
    long r = 0;
    while (r < 3 || (t = now() - t0) < seconds) {
        if (op(c, table, width, keys, n, rows) != GRAFT_OK) {
            fprintf(stderr, "graft bench plane: a request failed\n");
            exit(1);
        }
        r++;
    }
    if (graft_client_sync(c) != GRAFT_OK) { /* pushes count once applied */
        fprintf(stderr, "graft bench plane: a push failed\n");
        exit(1);
    }
    t = now() - t0;
    *reps = r;
    return t / (double)r;
}

static int
bench_plane(int argc, char **argv)
{
    graft_log_init("bench", -1);
    graft_net_tune_heap(0);
    graft_job job;
    if (graft_job_init(&argc, &argv, GRAFT_ROLE_WORKER, &job) != GRAFT_OK)
        return 2;
    long rows[16] = {1, 10, 100, 1000, 10000, 100000}, widths[8] = {16, 64, 256};
    int nr = 6, nw = 3, status = 0;
    double seconds = 0.5;
    const char *csv = NULL;
    int shm = 1;
    for (int i = 0; i < argc && status == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            status = 2;
        else if (strcmp(a, "--rows") == 0)
            status = (nr = parse_list(v, rows, 16)) < 1 ? 2 : 0;
        else if (strcmp(a, "--widths") == 0)
            status = (nw = parse_list(v, widths, 8)) < 1 ? 2 : 0;
        else if (strcmp(a, "--seconds") == 0)
            seconds = atof(v);
        else if (strcmp(a, "--csv") == 0)
            csv = v;
        else if (strcmp(a, "--shm") == 0 && (strcmp(v, "auto") == 0 || strcmp(v, "off") == 0))
            shm = strcmp(v, "auto") == 0;
        else
            status = 2;
        i++;
    }
    if (status)
        fprintf(stderr, "graft bench plane: bad options (see graft bench --help)\n");
    char pub[GRAFT_CURVE_KEY_LEN], sec[GRAFT_CURVE_KEY_LEN];
    if ((graft_net_keypair(pub, sec) != GRAFT_OK ||
         graft_job_publish(&job, NULL, pub) != GRAFT_OK) &&
        status == 0)
        status = 1;
    status = graft_job_agree(&job, status);
    graft_net *net = NULL;
    graft_client *c = NULL;
    graft_client_opts co = {.worker = 0,
                            .timeout_ms = 60000,
                            .max_keys = 1000000,
                            .shm = shm,
                            .server_keys = (const char(*)[GRAFT_KEY_MAX])job.server_keys};
    if (status == 0 && graft_net_create(&net) == GRAFT_OK)
        graft_net_set_identity(net, pub, sec);
    if (status == 0 &&
        (!net || graft_client_create(net, (const char(*)[GRAFT_ENDPOINT_MAX])job.endpoints,
                                     job.nservers, &co, &c) != GRAFT_OK))
        status = 1;
    long maxrows = 1, maxw = 1;
    for (int i = 0; i < nr; i++)
        maxrows = rows[i] > maxrows ? rows[i] : maxrows;
    for (int i = 0; i < nw; i++)
        maxw = widths[i] > maxw ? widths[i] : maxw;
    uint64_t *keys = malloc((size_t)maxrows * sizeof *keys);
    float *vals = calloc((size_t)maxrows * (size_t)maxw, sizeof(float));
    /* New columns go last, so that scripts reading the CSV by position keep working. */
    FILE *f = status == 0 ? open_csv(csv, "servers,width,rows,pull_per_s,pull_gbps,push_per_s,"
                                          "push_gbps,pull_ms,push_ms,transport")
                          : NULL;
    /* Which way the rows went: the servers count the bytes that crossed in arenas. */
    const char *transport = "socket";
    graft_server_stats st;
    if (c && graft_client_stats(c, 0, &st) == GRAFT_OK && st.arenas > 0)
        transport = "shm";
    if (status == 0 && (!keys || !vals))
        status = 1;
    for (long i = 0; i < maxrows && status == 0; i++)
        keys[i] = graft_hash_mix64((uint64_t)i + 1);
    if (status == 0)
        printf("%8s %9s %6s %8s %12s %9s %12s %9s %9s %9s\n", "servers", "transport", "width",
               "rows", "pulls/s", "pull GB/s", "pushes/s", "push GB/s", "pull ms", "push ms");
    for (int wi = 0; wi < nw && status == 0; wi++) {
        graft_table_spec spec = {.width = (uint32_t)widths[wi],
                                 .seed = 1,
                                 .init_scale = 0.1f,
                                 .optimizer = GRAFT_OPTIM_SUM};
        snprintf(spec.name, sizeof spec.name, "bench.%ld", widths[wi]);
        uint32_t tab;
        if (graft_client_create_table(c, &spec, &tab) != GRAFT_OK ||
            graft_client_pull(c, tab, (uint32_t)widths[wi], keys, (size_t)maxrows, 1, vals) !=
                GRAFT_OK) {
            status = 1;
            break;
        }
        memset(vals, 0, (size_t)maxrows * (size_t)widths[wi] * sizeof(float));
        for (int ri = 0; ri < nr; ri++) {
            long reps;
            size_t n = (size_t)rows[ri];
            double bytes = (double)n * (double)widths[wi] * 4;
            double tp = timed(op_pull, c, tab, (uint32_t)widths[wi], keys, n, vals, seconds, &reps);
            double tq = timed(op_push, c, tab, (uint32_t)widths[wi], keys, n, vals, seconds, &reps);
            printf("%8d %9s %6ld %8zu %12.4g %9.3f %12.4g %9.3f %9.4f %9.4f\n", job.nservers,
                   transport, widths[wi], n, 1 / tp, bytes / tp / 1e9, 1 / tq, bytes / tq / 1e9,
                   tp * 1e3, tq * 1e3);
            fflush(stdout);
            if (f)
                fprintf(f, "%d,%ld,%zu,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%s\n", job.nservers,
                        widths[wi], n, 1 / tp, bytes / tp / 1e9, 1 / tq, bytes / tq / 1e9, tp * 1e3,
                        tq * 1e3, transport);
        }
    }
    if (f)
        fclose(f);
    if (c && graft_client_shutdown(c) != GRAFT_OK && status == 0)
        status = 1;
    graft_client_destroy(&c);
    graft_net_destroy(&net);
    free(keys);
    free(vals);
    graft_job_finalize(&job);
    return status;
}

static int
bench_foldin(int argc, char **argv)
{
    long nu = 10000, ni = 50000, k = 64, hist = 20, top = 10;
    const char *csv = NULL;
    for (int i = 0; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf(
                "usage: graft-bench foldin [--users N] [--items N] [--dim K] [--history H] [-k K] "
                "[--csv FILE]\n  users never trained, H random interactions each, folded in by "
                "the iALS user step and ranked over every item; users per second\n");
            return 0;
        }
        long *dst = strcmp(a, "--users") == 0     ? &nu
                    : strcmp(a, "--items") == 0   ? &ni
                    : strcmp(a, "--dim") == 0     ? &k
                    : strcmp(a, "--history") == 0 ? &hist
                    : strcmp(a, "-k") == 0        ? &top
                                                  : NULL;
        if (!v || (!dst && strcmp(a, "--csv") != 0)) {
            fprintf(stderr, "graft bench foldin: %s %s\n", a,
                    v ? "is not an option" : "needs a value");
            return 2;
        }
        if (dst)
            *dst = atol(v);
        else
            csv = v;
    }
    if (nu < 1 || ni < 1 || k < 1 || k > 4096 || hist < 1 || hist > ni || top < 1) {
        fprintf(stderr, "graft bench foldin: sizes must be positive (dim at most 4096, history at "
                        "most items)\n");
        return 2;
    }
    size_t w = (size_t)k + 1;
    float *items = malloc((size_t)ni * w * sizeof(float));
    float *users = malloc((size_t)nu * w * sizeof(float));
    graft_foldin_item *h = malloc((size_t)hist * sizeof *h);
    int64_t *best = malloc((size_t)nu * (size_t)top * sizeof(int64_t)), *ids = NULL;
    float *bests = malloc((size_t)nu * (size_t)top * sizeof(float));
    if (!items || !users || !h || !best || !bests) {
        fprintf(stderr, "graft bench foldin: out of memory\n");
        return 1;
    }
    graft_rng rng;
    graft_rng_seed(&rng, 2);
    for (size_t i = 0; i < (size_t)ni * w; i++)
        items[i] = (float)(0.1 * graft_rng_normal(&rng));
    graft_foldin *f = NULL;
    graft_served *s = NULL;
    graft_err rc = graft_foldin_from_rows((int)k, 0.2, 10, 0, items, (size_t)ni, &f);
    /* The solves: each user's history is `hist` random items. */
    double t0 = now();
    for (long u = 0; u < nu && rc == GRAFT_OK; u++) {
        for (long j = 0; j < hist; j++)
            h[j] = (graft_foldin_item){0, (uint32_t)graft_rng_below(&rng, (uint64_t)ni), 1.0f};
        rc = graft_foldin_solve(f, h, (size_t)hist, users + (size_t)u * w);
    }
    double t_solve = now() - t0;
    if (rc == GRAFT_OK)
        rc = graft_served_from_rows((int)k, 0, users, (size_t)nu, items, (size_t)ni, &s);
    ids = rc == GRAFT_OK ? malloc((size_t)nu * sizeof *ids) : NULL;
    for (long u = 0; ids && u < nu; u++)
        ids[u] = u;
    t0 = now();
    if (rc == GRAFT_OK)
        rc = ids ? graft_served_topk(s, ids, (size_t)nu, (int)top, NULL, NULL, best, bests)
                 : GRAFT_ERR_NOMEM;
    double t_rank = now() - t0;
    if (rc != GRAFT_OK) {
        fprintf(stderr, "graft bench foldin: %s\n", graft_strerror(rc));
        return 1;
    }
    printf("fold-in of %ld users, %ld interactions each, against %ld items, dim %ld, top-%ld\n", nu,
           hist, ni, k, top);
    printf("%-34s %10s %12s\n", "what", "seconds", "users/s");
    printf("%-34s %10.3f %12.0f\n", "solve (iALS user step)", t_solve, (double)nu / t_solve);
    printf("%-34s %10.3f %12.0f\n", "rank (top-K over every item)", t_rank, (double)nu / t_rank);
    printf("%-34s %10.3f %12.0f\n", "fold-in and rank", t_solve + t_rank,
           (double)nu / (t_solve + t_rank));
    FILE *out = open_csv(csv, "what,users,items,dim,history,k,seconds,users_per_s");
    if (out) {
        fprintf(out, "solve,%ld,%ld,%ld,%ld,%ld,%.6f,%.1f\n", nu, ni, k, hist, top, t_solve,
                (double)nu / t_solve);
        fprintf(out, "rank,%ld,%ld,%ld,%ld,%ld,%.6f,%.1f\n", nu, ni, k, hist, top, t_rank,
                (double)nu / t_rank);
        fprintf(out, "foldin_and_rank,%ld,%ld,%ld,%ld,%ld,%.6f,%.1f\n", nu, ni, k, hist, top,
                t_solve + t_rank, (double)nu / (t_solve + t_rank));
        fclose(out);
    }
    graft_served_destroy(&s);
    graft_foldin_destroy(&f);
    free(ids);
    free(items);
    free(users);
    free(h);
    free(best);
    free(bests);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "foldin") == 0)
        return bench_foldin(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "topk") == 0)
        return bench_topk(argc - 2, argv + 2);
    if (argc >= 2 && strcmp(argv[1], "plane") == 0)
        return bench_plane(argc - 2, argv + 2);
    printf(
        "usage: graft-bench topk [--users N] [--items N] [--dim K] [-k K] [--csv FILE]\n"
        "       graft-bench foldin [--users N] [--items N] [--dim K] [--history H] [-k K] "
        "[--csv FILE]\n"
        "       graft-bench plane [--rows 1,10,100] [--widths 16,64,256] [--seconds S] "
        "[--shm auto|off] [--csv FILE]   (as the worker of an MPI job with graft-server ranks)\n");
    return argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) ? 0 : 2;
}
