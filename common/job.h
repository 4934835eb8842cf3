/* An MPI job of servers and workers launched as one MPMD program. This module splits the world
 * into the two roles, tells every process how many of each there are, and publishes the servers'
 * ZeroMQ endpoints to everyone, so that no user ever writes an address. */
#ifndef GRAFT_JOB_H
#define GRAFT_JOB_H

#include "err.h"

#include <mpi.h>

#define GRAFT_ENDPOINT_MAX 128
#define GRAFT_KEY_MAX 41 /* a CURVE public key as Z85 text, with its NUL (GRAFT_CURVE_KEY_LEN) */

typedef enum { GRAFT_ROLE_SERVER = 0, GRAFT_ROLE_WORKER = 1 } graft_role;

typedef struct {
    int world_rank, world_size;
    graft_role role;
    int index; /* this process's index among those of its role */
    int nservers, nworkers;
    int same_host;                         /* every rank runs on one host */
    MPI_Comm role_comm;                    /* the processes of this role, in world-rank order */
    char (*endpoints)[GRAFT_ENDPOINT_MAX]; /* nservers entries, after publish */
    char (*server_keys)[GRAFT_KEY_MAX];    /* each server's CURVE public key ("" without CURVE) */
    char (*worker_keys)[GRAFT_KEY_MAX];    /* each worker's CURVE public key */
} graft_job;

/* MPI_Init, then the role exchange (collective over MPI_COMM_WORLD). Fails when the job has no
 * server or no worker. */
graft_err graft_job_init(int *argc, char ***argv, graft_role role, graft_job *job);
/* Collective: servers pass their endpoint, workers NULL, and every process its CURVE public key
 * (NULL or "" for none); afterwards job->endpoints and job->server_keys hold every server's,
 * indexed by server index, and job->worker_keys every worker's. */
graft_err graft_job_publish(graft_job *job, const char *my_endpoint, const char *my_key);
/* Collective over the world: every process offers a status, all learn the largest. Used so that
 * one rank's bad input ends the whole job cleanly instead of leaving the others waiting. */
int graft_job_agree(graft_job *job, int status);
/* Collective over comm: every rank gets the concatenation, in rank order, of every rank's len
 * bytes at mine. *all (freed with graft_free) holds *total bytes. When any rank lacks memory, or
 * sends 2 GiB or more, every rank fails (GRAFT_ERR_NOMEM) and none is left waiting. */
graft_err graft_job_allgather_bytes(MPI_Comm comm, const void *mine, size_t len, void **all,
                                    size_t *total);

/* Checked collectives over comm. MPI stays here, as ZeroMQ stays in net.c: the other modules
 * name what they reduce and how, and get a graft_err (GRAFT_ERR_MPI, with MPI's message logged,
 * should MPI return an error rather than abort). Every rank of comm must call each one. */
typedef enum { GRAFT_JOB_U64, GRAFT_JOB_F64, GRAFT_JOB_F32, GRAFT_JOB_INT } graft_job_type;
typedef enum { GRAFT_JOB_SUM, GRAFT_JOB_MAX, GRAFT_JOB_MIN, GRAFT_JOB_LAND } graft_job_op;
/* out[i] = op over the ranks of in[i], n values of type t; in == out reduces in place. */
graft_err graft_job_allreduce(MPI_Comm comm, const void *in, void *out, int n, graft_job_type t,
                              graft_job_op op);
/* The "everyone joins the collective even after a local failure" idiom, written once: every rank
 * offers its own result; a rank that failed gets its own error back, the others
 * GRAFT_ERR_REMOTE when any failed, else GRAFT_OK. Then all may go on, or all stop, together. */
graft_err graft_job_agree_ok(MPI_Comm comm, graft_err mine);
/* *v of rank root, on every rank. */
graft_err graft_job_bcast_int(MPI_Comm comm, int *v, int root);
graft_err graft_job_barrier(MPI_Comm comm);
/* This rank's index in comm, and comm's size. */
int graft_job_comm_rank(MPI_Comm comm);
int graft_job_comm_size(MPI_Comm comm);
/* One all-to-all of items of `item` bytes: send[] grouped by destination rank, counts[r] items
 * for rank r; *recv (the caller frees with graft_free) gets what every rank sent here, in rank
 * order, *nrecv items. Fails (GRAFT_ERR_NOMEM) on every rank when any lacks memory or would
 * receive 2^31 items or more, and none is left waiting. */
graft_err graft_job_alltoallv(MPI_Comm comm, const void *send, const int *counts, size_t item,
                              void **recv, size_t *nrecv);

/* Ends every rank of the job at once with this exit status (the lost-peer and runtime-failure
 * paths of graft-worker's main). Does not return. */
void graft_job_abort(int status);

/* Frees what init and publish made, then MPI_Finalize. */
void graft_job_finalize(graft_job *job);

#endif
