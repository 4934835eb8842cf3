/* graft-server: one parameter server of an MPMD job (see docs/usage.md). */
#include "config.h"
#include "job.h"
#include "log.h"
#include "net.h"
#include "server.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
usage(FILE *out)
{
    fprintf(out, "usage: mpirun -np S graft-server [OPTIONS] : -np W graft-worker [OPTIONS]\n\n"
                 "A Graft parameter server. It is started by `launch/graft train` or by hand\n"
                 "as one MPMD job with the workers; both sides take the same options and each\n"
                 "uses the ones it needs. Exit status: 0 done, 1 runtime failure, 2 bad input.\n\n"
                 "Options:\n");
    graft_opts_help(graft_config_opts, out);
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
    /* Messages of a few MB come and go all the time: a fixed mmap threshold gives their memory
     * back when they are freed (glibc's moving threshold would keep it in the heap), so the
     * server's peak memory stays near its tables' (docs/performance.md). */
    graft_net_tune_heap(1);
    graft_config cfg;
    char err[512];
    graft_job job;
    graft_log_init("server", -1);
    int status = 0;
    if (graft_job_init(&argc, &argv, GRAFT_ROLE_SERVER, &job) != GRAFT_OK) {
        graft_job_finalize(&job);
        return 2;
    }
    graft_log_init("server", job.index);
    if (graft_config_parse(&cfg, argc, argv, err, sizeof err) != GRAFT_OK) {
        /* Workers report option errors; a server only follows the job's verdict. */
        status = 2;
    }
    char host[256];
    if (status == 0 && strcmp(cfg.bind, "auto") != 0) {
        snprintf(host, sizeof host, "%s", cfg.bind);
    } else if (job.same_host) {
        /* Every rank on this host: a Unix socket, cheaper than loopback TCP (docs/performance.md).
         * The name is this process's own, in the temporary folder. */
        const char *tmp =
            getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 150 ? getenv("TMPDIR") : "/tmp";
        snprintf(host, sizeof host, "ipc://%s/graft-%d-server%d.sock", tmp, (int)getpid(),
                 job.index);
    } else {
        graft_net_host_address(host, sizeof host);
    }

    graft_net *net = NULL;
    graft_server *srv = NULL;
    char endpoint[GRAFT_ENDPOINT_MAX] = "", pub[GRAFT_CURVE_KEY_LEN] = "",
         sec[GRAFT_CURVE_KEY_LEN] = "";
    /* CURVE on every TCP socket unless the user says otherwise: loopback TCP is reachable by
     * every user of the host. Only the Unix socket (mode 0600) is this user's alone. */
    int curve =
        status == 0 && (cfg.curve == 1 || (cfg.curve == 0 && strncmp(host, "ipc://", 6) != 0));
    if (curve && graft_net_keypair(pub, sec) != GRAFT_OK)
        status = 1;
    if (status == 0) {
        graft_server_opts so = {
            .bind_host = host,
            .index = job.index,
            .nworkers = job.nworkers,
            .nservers = job.nservers,
            .save_dir = cfg.save,
            .load_dir = cfg.source_model,
            .checkpoint_dir = cfg.checkpoint_dir,
            .heartbeat_timeout_s = (int)cfg.heartbeat_timeout_s,
            .curve_secret = curve ? sec : NULL,
            .no_shm = cfg.shm == 1,
            .threads = (int)cfg.server_threads,
            .debug_write_delay_us = getenv("GRAFT_DEBUG_CHECKPOINT_DELAY_US")
                                        ? atol(getenv("GRAFT_DEBUG_CHECKPOINT_DELAY_US"))
                                        : 0,
            .limits = {.max_message_bytes = (size_t)cfg.max_message_mb << 20,
                       .max_keys = (uint32_t)cfg.max_keys},
        };
        /* The ZAP handler comes first and admits no one until the workers' keys are known. */
        if (graft_net_create(&net) != GRAFT_OK || (curve && graft_net_zap_start(net) != GRAFT_OK) ||
            graft_server_create(&so, net, &srv, endpoint, sizeof endpoint) != GRAFT_OK)
            status = 1;
    }
    /* Publish even after a failure, so the collective completes everywhere. */
    if (graft_job_publish(&job, status == 0 ? endpoint : "", curve ? pub : "") != GRAFT_OK &&
        status == 0)
        status = 1;
    /* Workers connect only after the agreement below, so they find their keys admitted. */
    if (status == 0 && curve &&
        graft_net_allow(net, (const char(*)[GRAFT_CURVE_KEY_LEN])job.worker_keys, job.nworkers) !=
            GRAFT_OK)
        status = 1;
    status = graft_job_agree(&job, status);
    if (status == 0) {
        GRAFT_LOG_INFO("GRAFT-SERVER-READY", "server %d of %d serving %s for %d workers (CURVE %s)",
                       job.index, job.nservers, endpoint, job.nworkers, curve ? "on" : "off");
        graft_err run = graft_server_run(srv);
        /* A lost worker: the distinct status of a lost process (docs/usage.md). */
        if (run != GRAFT_OK)
            status = run == GRAFT_ERR_TIMEOUT ? 3 : 1;
        graft_server_stats st;
        graft_server_get_stats(srv, &st);
        GRAFT_LOG_INFO("GRAFT-SERVER-STATS",
                       "requests %llu errors %llu pulls %llu pushes %llu bytes in %llu out %llu "
                       "shared-memory arenas %u bytes %llu",
                       (unsigned long long)st.requests, (unsigned long long)st.errors,
                       (unsigned long long)st.pulls, (unsigned long long)st.pushes,
                       (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out, st.arenas,
                       (unsigned long long)st.arena_bytes);
        /* How compact the rows are: heap bytes per row against the row's own floats and its
         * optimizer state (docs/performance.md). */
        for (uint32_t i = 0; i < st.ntables; i++) {
            const graft_table_stats *tb = &st.tables[i];
            if (tb->rows == 0)
                continue;
            GRAFT_LOG_INFO("GRAFT-SERVER-TABLE",
                           "table %s: %llu rows, %.1f bytes per row (values %u x 4 = %u bytes), "
                           "peak process memory %.1f MB",
                           tb->name, (unsigned long long)tb->rows,
                           (double)tb->bytes / (double)tb->rows, tb->width, tb->width * 4,
                           (double)st.peak_rss / 1e6);
        }
    }
    graft_server_destroy(&srv);
    if (strncmp(host, "ipc://", 6) == 0)
        unlink(host + 6); /* the socket file is this server's own */
    graft_net_destroy(&net);
    graft_job_finalize(&job);
    graft_config_free(&cfg);
    return status;
}
