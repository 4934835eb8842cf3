/* graft-worker: one training worker of an MPMD job (see docs/usage.md). */
#include "alloc.h"
#include "client.h"
#include "config.h"
#include "job.h"
#include "log.h"
#include "net.h"
#include "checkpoint.h"
#include "heartbeat.h"
#include "dataset.h"
#include "engine.h"
#include "plain.h"
#include "transfer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
usage(FILE *out)
{
    fprintf(out, "usage: mpirun -np S graft-server [OPTIONS] : -np W graft-worker [OPTIONS]\n\n"
                 "A Graft training worker. Each worker reads its own byte range of the ratings\n"
                 "files, trains with mini-batches against the servers, and worker 0 prints the\n"
                 "progress and writes the metrics file. Exit status: 0 done, 1 runtime failure,\n"
                 "2 bad input (options, unreadable or malformed files).\n\n"
                 "Options:\n");
    graft_opts_help(graft_config_opts, out);
}

/* The folders probe_dir made, so that a job refused before training (bad data, a bad option
 * found later) takes them away again: bad input leaves no empty --save folder behind. */
static struct {
    char top[4096], leaf[4096]; /* the first folder made, and the probed one below it */
} made[3];
static int nmade;

/* Makes the --save folder (and its parents) and writes a probe file there, so that an unwritable
 * folder is an error before training rather than after it. */
static int
probe_dir(const char *flag, const char *dir, char *err, size_t errlen)
{
    char path[4096], top[4096] = "";
    snprintf(path, sizeof path, "%s", dir);
    for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
        path[n - 1] = 0;
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(path, 0777) == 0 && !top[0])
                snprintf(top, sizeof top, "%s", path);
            *p = '/';
        }
    if (mkdir(path, 0777) == 0) {
        if (!top[0])
            snprintf(top, sizeof top, "%s", path);
    } else if (errno != EEXIST) {
        snprintf(err, errlen, "%s %s: %s", flag, dir, strerror(errno));
        return -1;
    }
    if (top[0] && nmade < (int)(sizeof made / sizeof made[0])) {
        snprintf(made[nmade].top, sizeof made[nmade].top, "%s", top);
        snprintf(made[nmade].leaf, sizeof made[nmade].leaf, "%s", path);
        nmade++;
    }
    snprintf(path + strlen(path), sizeof path - strlen(path), "/.graft-probe");
    FILE *f = fopen(path, "w");
    if (!f || fputs("probe\n", f) < 0 || fclose(f) != 0) {
        snprintf(err, errlen, "%s %s: cannot write there: %s", flag, dir, strerror(errno));
        return -1;
    }
    unlink(path);
    return 0;
}

/* Removes what probe_dir made, leaf first, as long as each folder is empty (rmdir refuses
 * otherwise, so nothing written there is lost). */
static void
unprobe_dirs(void)
{
    for (int i = nmade - 1; i >= 0; i--) {
        char *path = made[i].leaf;
        while (rmdir(path) == 0 && strcmp(path, made[i].top) != 0) {
            char *slash = strrchr(path, '/');
            if (!slash || slash == path)
                break;
            *slash = 0;
        }
    }
    nmade = 0;
}

/* A server missed its heartbeat (logged by the heartbeat thread): this worker ends with status 3
 * at once, from that thread, since the main thread may be blocked on that very server; mpirun
 * then stops every rank. */
static void
peer_lost(void *ctx)
{
    (void)ctx;
    _exit(3);
}

/* Collective over the workers: worker 0 prints every distinct non-empty message, in worker
 * order, once. */
static void
report_errors(graft_job *job, const char *msg)
{
    char line[4608];
    snprintf(line, sizeof line, "%s", msg);
    void *all = NULL;
    size_t total = 0;
    if (graft_job_allgather_bytes(job->role_comm, line, sizeof line, &all, &total) != GRAFT_OK) {
        if (msg[0])
            fprintf(stderr, "graft-worker: %s\n", msg);
        return;
    }
    const char(*lines)[sizeof line] = all;
    size_t n = total / sizeof line;
    for (size_t i = 0; job->index == 0 && i < n; i++) {
        int seen = !lines[i][0];
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(lines[i], lines[j]) == 0;
        if (!seen)
            fprintf(stderr, "graft-worker: %s\n", lines[i]);
    }
    graft_free(all);
}

/* --plane auto, once the data is read (collective over the workers): the block plane where it
 * applies and pays, a plain squared-error job of GRAFT_AUTO_BLOCK_RATINGS training ratings or
 * more (the batch plane's round trip per mini-batch bounds it there: 35x slower on the README's
 * 19M set), with a learning rate that works there; the batch plane otherwise (small sets train in
 * seconds either way, and it was the more accurate on MovieLens). */
static void
resolve_plane(graft_config *cfg, const graft_job *job, const graft_dataset *ds)
{
    uint64_t mine = ds ? ds->tgt.n : 0, all = 0;
    graft_job_allreduce(job->role_comm, &mine, &all, 1, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    int plain = !cfg->source && cfg->loss == GRAFT_LOSS_SQUARED;
    if (cfg->plane == GRAFT_PLANE_AUTO) {
        int block = plain && !cfg->prefetch && all >= GRAFT_AUTO_BLOCK_RATINGS &&
                    (cfg->item_blocks == 0 || cfg->item_blocks >= job->nworkers);
        cfg->plane = block ? GRAFT_PLANE_BLOCK : GRAFT_PLANE_BATCH;
        if (block && !graft_config_given(cfg, "lr"))
            cfg->lr = GRAFT_CONFIG_BLOCK_LR;
        if (block && job->index == 0 && !cfg->quiet)
            printf("graft: --plane auto: the block plane for %llu training ratings, lr %g\n",
                   (unsigned long long)all, cfg->lr);
    }
    /* The small sets' reg, chosen again with validation on (docs/selection.md); the large sets
     * of the block plane keep 0.05, as do transfer jobs, whose figures were made with it. */
    if (plain && cfg->plane == GRAFT_PLANE_BATCH && !graft_config_given(cfg, "reg"))
        cfg->reg = GRAFT_CONFIG_PLAIN_REG;
}

int
main(int argc, char **argv)
{
    if (graft_opts_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    /* Under mpirun stdout is a pipe: lines must reach the user's log as they happen, not when
     * the job ends. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* --print-config starts nothing: no MPI, no server, no data read. */
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--print-config", 14) == 0 && strchr("=", argv[i][14])) {
            char perr[4608];
            graft_config pc;
            if (graft_config_parse(&pc, argc, argv, perr, sizeof perr) != GRAFT_OK) {
                fprintf(stderr, "graft-worker: %s\n", perr);
                return 2;
            }
            if (pc.print_config)
                graft_opts_print(graft_config_opts, &pc, &pc.sources, stdout);
            graft_config_free(&pc);
            if (pc.print_config)
                return 0;
            break;
        }
    graft_log_init("worker", -1);
    graft_net_tune_heap(0);
    graft_job job;
    if (graft_job_init(&argc, &argv, GRAFT_ROLE_WORKER, &job) != GRAFT_OK) {
        graft_job_finalize(&job);
        return 2;
    }
    graft_log_init("worker", job.index);
    int lead = job.index == 0;
    int status = 0;
    char err[4608];
    graft_config cfg;
    if (graft_config_parse(&cfg, argc, argv, err, sizeof err) != GRAFT_OK) {
        if (lead)
            fprintf(stderr, "graft-worker: %s\n", err);
        status = 2;
    } else if (!cfg.train && !(cfg.source && cfg.target)) {
        if (lead)
            fprintf(stderr, "graft-worker: give --train FILE, or --source FILE and --target FILE "
                            "for a transfer job (see --help)\n");
        status = 2;
    } else if (cfg.train && (cfg.source || cfg.target)) {
        if (lead)
            fprintf(stderr, "graft-worker: --train is for a single-domain job; a transfer job "
                            "takes --source and --target\n");
        status = 2;
    } else if (!cfg.source && (cfg.transfer != GRAFT_TRANSFER_NONE || cfg.user_map)) {
        if (lead)
            fprintf(stderr, "graft-worker: --transfer and --user-map need --source and --target\n");
        status = 2;
    } else if (!cfg.source && cfg.validation_cold_users > 0) {
        if (lead)
            fprintf(stderr, "graft-worker: --validation-cold-users is for transfer jobs (--source "
                            "and --target); a plain job validates on --validation-fraction\n");
        status = 2;
    } else if (cfg.source_model && cfg.transfer != GRAFT_TRANSFER_SEED &&
               cfg.transfer != GRAFT_TRANSFER_MAP) {
        if (lead)
            fprintf(stderr, "graft-worker: --source-model is for --transfer seed or map\n");
        status = 2;
    } else if ((cfg.checkpoint_every > 0 || cfg.resume) && !cfg.checkpoint_dir) {
        if (lead)
            fprintf(stderr,
                    "graft-worker: --checkpoint-every and --resume need --checkpoint-dir\n");
        status = 2;
    } else if ((cfg.checkpoint_every > 0 || cfg.resume) && cfg.source) {
        if (lead)
            fprintf(stderr, "graft-worker: checkpoints are for single-domain jobs (--train); "
                            "transfer jobs cannot be resumed yet\n");
        status = 2;
    } else if (cfg.plane == GRAFT_PLANE_BLOCK && cfg.loss == GRAFT_LOSS_IALS) {
        if (lead)
            fprintf(stderr, "graft-worker: --loss ials moves rows its own way (whole rows solved "
                            "per worker); leave out --plane block\n");
        status = 2;
    } else if (cfg.plane == GRAFT_PLANE_BLOCK && cfg.loss == GRAFT_LOSS_BPR) {
        if (lead)
            fprintf(stderr, "graft-worker: --loss bpr trains in the batch plane (its negatives "
                            "are drawn from every item of the domain); leave out --plane block\n");
        status = 2;
    } else if (cfg.plane == GRAFT_PLANE_BLOCK && cfg.source) {
        if (lead)
            fprintf(stderr, "graft-worker: --plane block is for single-domain jobs; transfer "
                            "jobs use the batch plane\n");
        status = 2;
    } else if (cfg.plane == GRAFT_PLANE_BLOCK && cfg.item_blocks > 0 &&
               cfg.item_blocks < job.nworkers) {
        if (lead)
            fprintf(stderr,
                    "graft-worker: --item-blocks %lld is fewer than the %d workers: each "
                    "worker needs a block of its own at every clock\n",
                    (long long)cfg.item_blocks, job.nworkers);
        status = 2;
    }
    if (status == 0 && lead && cfg.save && probe_dir("--save", cfg.save, err, sizeof err) != 0) {
        fprintf(stderr, "graft-worker: %s\n", err);
        status = 2;
    }
    if (status == 0 && lead && cfg.trace_dir &&
        probe_dir("--trace-dir", cfg.trace_dir, err, sizeof err) != 0) {
        fprintf(stderr, "graft-worker: %s\n", err);
        status = 2;
    }
    if (status == 0 && lead && cfg.checkpoint_every > 0 &&
        probe_dir("--checkpoint-dir", cfg.checkpoint_dir, err, sizeof err) != 0) {
        fprintf(stderr, "graft-worker: %s\n", err);
        status = 2;
    }
    /* --resume: the newest complete checkpoint, every shard checked, before anything starts. */
    int resume_epoch = 0, resume_has_data = 0;
    uint64_t resume_ratings = 0, resume_hash = 0;
    if (status == 0 && lead && cfg.resume) {
        graft_manifest m;
        if (graft_checkpoint_find(cfg.checkpoint_dir, &resume_epoch, &m, err, sizeof err) !=
            GRAFT_OK) {
            fprintf(stderr, "graft-worker: --resume: checkpoint refused: %s\n", err);
            status = 2;
        } else if (resume_epoch == 0) {
            fprintf(stderr, "graft-worker: --resume: %s holds no complete checkpoint\n",
                    cfg.checkpoint_dir);
            status = 2;
        } else {
            if (m.dim != cfg.dim) {
                fprintf(stderr,
                        "graft-worker: --resume: the checkpoint of epoch %d has dim %d, this job "
                        "--dim %lld\n",
                        resume_epoch, m.dim, (long long)cfg.dim);
                status = 2;
            } else if (m.has_select ? m.valid_fraction != cfg.validation_fraction
                                    : cfg.validation_fraction > 0) {
                /* Another share held out would train the resumed epochs on other ratings. */
                fprintf(stderr,
                        "graft-worker: --resume: the checkpoint of epoch %d was written with "
                        "--validation-fraction %g, this job gives %g: give the same (a "
                        "checkpoint from before validation was checkpointed: 0)\n",
                        resume_epoch, m.has_select ? m.valid_fraction : 0.0,
                        cfg.validation_fraction);
                status = 2;
            } else if (resume_epoch >= cfg.epochs) {
                fprintf(stderr,
                        "graft-worker: --resume: the newest checkpoint is of epoch %d; ask for "
                        "more --epochs than that (%lld)\n",
                        resume_epoch, (long long)cfg.epochs);
                status = 2;
            }
            resume_has_data = m.has_data;
            resume_ratings = m.data_ratings;
            resume_hash = m.data_hash;
            graft_manifest_free(&m);
        }
    }
    if (status == 0 && lead && cfg.source_model &&
        graft_transfer_check_source_model(cfg.source_model, (int)cfg.dim, err, sizeof err) !=
            GRAFT_OK) {
        fprintf(stderr, "graft-worker: %s\n", err);
        status = 2;
    }
    /* Every worker has its own CURVE key pair; the servers admit exactly these public keys. */
    char pub[GRAFT_CURVE_KEY_LEN] = "", sec[GRAFT_CURVE_KEY_LEN] = "";
    if (graft_net_keypair(pub, sec) != GRAFT_OK && status == 0)
        status = 1;
    if (graft_job_publish(&job, NULL, pub) != GRAFT_OK && status == 0)
        status = 1;

    graft_dataset *ds = NULL;
    graft_engine *eng = NULL;
    graft_err rc = status == 0 ? graft_dataset_load(&cfg, &job, &ds, err, sizeof err) : GRAFT_OK;
    /* Every worker joins (a collective), whatever its status. */
    resolve_plane(&cfg, &job, status == 0 && rc == GRAFT_OK ? ds : NULL);
    if (rc == GRAFT_OK && status == 0)
        rc = graft_engine_create(&cfg, &job, &eng, err, sizeof err);
    if (rc != GRAFT_OK)
        graft_dataset_destroy(&ds);
    const char *say = "";
    if (rc != GRAFT_OK) {
        status = rc == GRAFT_ERR_NOMEM ? 1 : 2;
        say = err;
    }
    /* A file of a header alone (or of blank lines) is bad input, found before any server
     * works: every worker joins the sum, also one whose load failed. */
    uint64_t have[3] = {ds ? ds->src.n : 0, ds ? ds->tgt.n : 0, ds ? 0 : 1}, ghave[3];
    graft_job_allreduce(job.role_comm, have, ghave, 3, GRAFT_JOB_U64, GRAFT_JOB_SUM);
    if (status == 0 && ghave[2] == 0 && (ghave[1] == 0 || (cfg.source && ghave[0] == 0))) {
        const char *file = cfg.train ? cfg.train : ghave[0] == 0 ? cfg.source : cfg.target;
        snprintf(err, sizeof err, "%s holds no ratings (a header alone, or blank lines)", file);
        status = 2;
        say = err;
    }
    /* With every worker's part loaded: the data's identity and --duplicates (collective). */
    int mine = status, worst;
    graft_job_allreduce(job.role_comm, &mine, &worst, 1, GRAFT_JOB_INT, GRAFT_JOB_MAX);
    if (worst == 0 && (rc = graft_dataset_prepare(ds, &cfg, &job, err, sizeof err)) != GRAFT_OK) {
        status = rc == GRAFT_ERR_NOMEM ? 1 : 2;
        say = err;
    }
    uint64_t data_ratings = ds ? ds->data_ratings : 0, data_hash = ds ? ds->data_hash : 0;
    /* --resume continues a run on its own data only (the checkpoint records its identity). */
    if (worst == 0 && status == 0 && lead && resume_epoch > 0 && resume_has_data &&
        !cfg.resume_any_data && (data_ratings != resume_ratings || data_hash != resume_hash)) {
        snprintf(err, sizeof err,
                 "--resume: the checkpoint of epoch %d was trained on other data (%llu ratings, "
                 "identity %016llx; this job's: %llu ratings, %016llx); give the same --train, "
                 "or --resume-any-data to resume on this data anyway",
                 resume_epoch, (unsigned long long)resume_ratings, (unsigned long long)resume_hash,
                 (unsigned long long)data_ratings, (unsigned long long)data_hash);
        status = 2;
        say = err;
    }
    /* Each worker reads its own part, so each may have its own bad line; the same message from
     * several (an unreadable file) is printed once, by worker 0. */
    report_errors(&job, say);
    status = graft_job_agree(&job, status);
    if (status != 0 && lead)
        unprobe_dirs();
    graft_job_bcast_int(job.role_comm, &resume_epoch, 0);
    if (status == 0)
        graft_engine_set_first_epoch(eng, resume_epoch);

    graft_net *net = NULL;
    graft_client *client = NULL, *prefetch = NULL;
    graft_heartbeat *hb = NULL;
    if (status == 0) {
        graft_client_opts co = {.worker = (uint32_t)job.index,
                                .timeout_ms = (int)cfg.timeout_s * 1000,
                                .max_keys = (uint32_t)cfg.max_keys,
                                .shm = cfg.shm == 0,
                                .server_keys = (const char(*)[GRAFT_KEY_MAX])job.server_keys};
        if (graft_net_create(&net) == GRAFT_OK)
            graft_net_set_identity(net, pub, sec);
        if (!net || graft_client_create(net, (const char(*)[GRAFT_ENDPOINT_MAX])job.endpoints,
                                        job.nservers, &co, &client) != GRAFT_OK)
            status = 1;
        else if (cfg.heartbeat_timeout_s > 0 &&
                 graft_heartbeat_start(net, &job, (int)cfg.heartbeat_s,
                                       (int)cfg.heartbeat_timeout_s, peer_lost, NULL,
                                       &hb) != GRAFT_OK)
            status = 1;
        else if ((cfg.plane == GRAFT_PLANE_BLOCK || cfg.prefetch) &&
                 graft_client_create(net, (const char(*)[GRAFT_ENDPOINT_MAX])job.endpoints,
                                     job.nservers, &co, &prefetch) == GRAFT_OK)
            graft_engine_set_prefetch_client(eng, prefetch);
    }
    /* The driver: a transfer job, or a plain one. */
    if (status == 0 &&
        (rc = cfg.source ? graft_transfer_run(&cfg, &job, eng, ds, client)
                         : graft_plain_run(&cfg, &job, eng, ds, client)) != GRAFT_OK) {
        /* A server that stopped answering is a lost peer (status 3, as when mpirun sees one
         * die); data the drivers refuse (already named in their message) is bad input (2);
         * anything else is a runtime failure (1). MPI_Abort stops every rank. */
        int lost = rc == GRAFT_ERR_TIMEOUT || rc == GRAFT_ERR_NET;
        GRAFT_LOG_ERROR("GRAFT-TRAIN-FAILED", "training failed (%s); ending the job",
                        graft_strerror(rc));
        graft_job_abort(lost ? 3 : rc == GRAFT_ERR_PARSE ? 2 : 1);
    }
    if (client) {
        /* Every worker is done with the servers before worker 0 stops them; heartbeats go on
         * until then, so that a worker waiting here for the others is not taken for lost. */
        graft_job_barrier(job.role_comm);
        graft_heartbeat_stop(&hb);
        graft_job_barrier(job.role_comm);
        if (lead && graft_client_shutdown(client) != GRAFT_OK)
            status = 1;
    }
    graft_heartbeat_stop(&hb);
    graft_client_destroy(&prefetch);
    graft_client_destroy(&client);
    graft_net_destroy(&net);
    graft_engine_destroy(&eng);
    graft_dataset_destroy(&ds);
    graft_job_finalize(&job);
    graft_config_free(&cfg);
    return status;
}
