#include "job.h"
#include "alloc.h"
#include "log.h"

#include <string.h>

graft_err
graft_job_init(int *argc, char ***argv, graft_role role, graft_job *job)
{
    memset(job, 0, sizeof *job);
    job->role_comm = MPI_COMM_NULL;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return GRAFT_ERR_MPI;
    MPI_Comm_rank(MPI_COMM_WORLD, &job->world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &job->world_size);
    job->role = role;
    int n = job->world_size;
    int *roles = graft_malloc((size_t)n * sizeof *roles);
    char *hosts = graft_malloc((size_t)n * MPI_MAX_PROCESSOR_NAME);
    char me[MPI_MAX_PROCESSOR_NAME];
    memset(me, 0, sizeof me);
    int mlen;
    MPI_Get_processor_name(me, &mlen);
    int r = (int)role;
    /* Every rank takes part in the collectives even when an allocation failed, so that no rank
     * is left waiting; the failure is reported afterwards. */
    int ok = roles && hosts;
    int all_ok;
    graft_err rc = GRAFT_OK;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all_ok) {
        rc = GRAFT_ERR_NOMEM;
        goto out;
    }
    MPI_Allgather(&r, 1, MPI_INT, roles, 1, MPI_INT, MPI_COMM_WORLD);
    MPI_Allgather(me, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, hosts, MPI_MAX_PROCESSOR_NAME, MPI_CHAR,
                  MPI_COMM_WORLD);
    job->same_host = 1;
    for (int i = 0; i < n; i++) {
        if (roles[i] == GRAFT_ROLE_SERVER) {
            if (i < job->world_rank && role == GRAFT_ROLE_SERVER)
                job->index++;
            job->nservers++;
        } else {
            if (i < job->world_rank && role == GRAFT_ROLE_WORKER)
                job->index++;
            job->nworkers++;
        }
        if (strcmp(hosts + (size_t)i * MPI_MAX_PROCESSOR_NAME, hosts) != 0)
            job->same_host = 0;
    }
    MPI_Comm_split(MPI_COMM_WORLD, r, job->world_rank, &job->role_comm);
    if (job->nservers == 0 || job->nworkers == 0) {
        if (job->world_rank == 0)
            GRAFT_LOG_ERROR("GRAFT-JOB-ROLES",
                            "a job needs at least one graft-server and one graft-worker "
                            "(found %d servers, %d workers)",
                            job->nservers, job->nworkers);
        rc = GRAFT_ERR_INVALID;
    }
out:
    graft_free(roles);
    graft_free(hosts);
    return rc;
}

graft_err
graft_job_publish(graft_job *job, const char *my_endpoint, const char *my_key)
{
    int n = job->world_size;
    char mine[GRAFT_ENDPOINT_MAX], key[GRAFT_KEY_MAX];
    memset(mine, 0, sizeof mine);
    memset(key, 0, sizeof key);
    if (my_endpoint)
        strncpy(mine, my_endpoint, sizeof mine - 1);
    if (my_key)
        strncpy(key, my_key, sizeof key - 1);
    int r = (int)job->role;
    char(*all)[GRAFT_ENDPOINT_MAX] = graft_malloc((size_t)n * GRAFT_ENDPOINT_MAX);
    char(*keys)[GRAFT_KEY_MAX] = graft_malloc((size_t)n * GRAFT_KEY_MAX);
    int *roles = graft_malloc((size_t)n * sizeof *roles);
    job->endpoints = graft_calloc((size_t)job->nservers, GRAFT_ENDPOINT_MAX);
    job->server_keys = graft_calloc((size_t)job->nservers, GRAFT_KEY_MAX);
    job->worker_keys = graft_calloc((size_t)job->nworkers, GRAFT_KEY_MAX);
    int ok = all && keys && roles && job->endpoints && job->server_keys && job->worker_keys, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    graft_err rc = GRAFT_ERR_NOMEM;
    if (!all_ok)
        goto done;
    MPI_Allgather(&r, 1, MPI_INT, roles, 1, MPI_INT, MPI_COMM_WORLD);
    MPI_Allgather(mine, GRAFT_ENDPOINT_MAX, MPI_CHAR, all, GRAFT_ENDPOINT_MAX, MPI_CHAR,
                  MPI_COMM_WORLD);
    MPI_Allgather(key, GRAFT_KEY_MAX, MPI_CHAR, keys, GRAFT_KEY_MAX, MPI_CHAR, MPI_COMM_WORLD);
    for (int i = 0, s = 0, w = 0; i < n; i++) {
        if (roles[i] == GRAFT_ROLE_SERVER) {
            memcpy(job->server_keys[s], keys[i], GRAFT_KEY_MAX);
            memcpy(job->endpoints[s++], all[i], GRAFT_ENDPOINT_MAX);
        } else {
            memcpy(job->worker_keys[w++], keys[i], GRAFT_KEY_MAX);
        }
    }
    rc = GRAFT_OK;
done:
    graft_free(all);
    graft_free(keys);
    graft_free(roles);
    return rc;
}

int
graft_job_agree(graft_job *job, int status)
{
    (void)job;
    int worst = status;
    MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return worst;
}

graft_err
graft_job_allgather_bytes(MPI_Comm comm, const void *mine, size_t len, void **all, size_t *total)
{
    *all = NULL;
    *total = 0;
    int size;
    MPI_Comm_size(comm, &size);
    int *counts = graft_malloc((size_t)size * sizeof(int));
    int *displs = graft_malloc((size_t)size * sizeof(int));
    int ok = counts && displs && len < (size_t)1 << 31, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
    graft_err rc = GRAFT_ERR_NOMEM;
    if (!all_ok)
        goto done;
    int cnt = (int)len;
    MPI_Allgather(&cnt, 1, MPI_INT, counts, 1, MPI_INT, comm);
    size_t sum = 0;
    for (int i = 0; i < size; i++) {
        displs[i] = (int)sum;
        sum += (size_t)counts[i];
    }
    *all = sum < (size_t)1 << 31 ? graft_malloc(sum ? sum : 1) : NULL;
    ok = *all != NULL;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
    if (!all_ok) {
        graft_free(*all);
        *all = NULL;
        goto done;
    }
    MPI_Allgatherv(mine, cnt, MPI_BYTE, *all, counts, displs, MPI_BYTE, comm);
    *total = sum;
    rc = GRAFT_OK;
done:
    graft_free(counts);
    graft_free(displs);
    return rc;
}

/* MPI's code as Graft's, its text logged where it happened. */
static graft_err
mpi_err(int code, const char *what)
{
    if (code == MPI_SUCCESS)
        return GRAFT_OK;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, text, &len);
    GRAFT_LOG_ERROR("GRAFT-MPI", "%s: %.*s", what, len, text);
    return GRAFT_ERR_MPI;
}

graft_err
graft_job_allreduce(MPI_Comm comm, const void *in, void *out, int n, graft_job_type t,
                    graft_job_op op)
{
    MPI_Datatype dt = t == GRAFT_JOB_U64   ? MPI_UINT64_T
                      : t == GRAFT_JOB_F64 ? MPI_DOUBLE
                      : t == GRAFT_JOB_F32 ? MPI_FLOAT
                                           : MPI_INT;
    MPI_Op mo = op == GRAFT_JOB_SUM   ? MPI_SUM
                : op == GRAFT_JOB_MAX ? MPI_MAX
                : op == GRAFT_JOB_MIN ? MPI_MIN
                                      : MPI_LAND;
    return mpi_err(MPI_Allreduce(in == out ? MPI_IN_PLACE : in, out, n, dt, mo, comm),
                   "MPI_Allreduce");
}

graft_err
graft_job_agree_ok(MPI_Comm comm, graft_err mine)
{
    int ok = mine == GRAFT_OK, all = 0;
    graft_err rc = mpi_err(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, comm), "MPI_Allreduce");
    if (mine != GRAFT_OK)
        return mine;
    if (rc != GRAFT_OK)
        return rc;
    return all ? GRAFT_OK : GRAFT_ERR_REMOTE;
}

graft_err
graft_job_bcast_int(MPI_Comm comm, int *v, int root)
{
    return mpi_err(MPI_Bcast(v, 1, MPI_INT, root, comm), "MPI_Bcast");
}

graft_err
graft_job_barrier(MPI_Comm comm)
{
    return mpi_err(MPI_Barrier(comm), "MPI_Barrier");
}

int
graft_job_comm_rank(MPI_Comm comm)
{
    int r = 0;
    MPI_Comm_rank(comm, &r);
    return r;
}

int
graft_job_comm_size(MPI_Comm comm)
{
    int n = 1;
    MPI_Comm_size(comm, &n);
    return n;
}

graft_err
graft_job_alltoallv(MPI_Comm comm, const void *send, const int *counts, size_t item, void **recv,
                    size_t *nrecv)
{
    *recv = NULL;
    *nrecv = 0;
    int size;
    MPI_Comm_size(comm, &size);
    int *cnt = graft_calloc((size_t)size * 3, sizeof(int));
    void *buf = NULL;
    long long total = 0;
    graft_err rc = graft_job_agree_ok(comm, cnt ? GRAFT_OK : GRAFT_ERR_NOMEM);
    if (rc != GRAFT_OK)
        goto out;
    int *sdis = cnt, *rcnt = cnt + size, *rdis = cnt + 2 * size;
    for (int w = 0; w < size; w++) {
        sdis[w] = (int)total;
        total += counts[w];
    }
    rc = mpi_err(MPI_Alltoall((void *)counts, 1, MPI_INT, rcnt, 1, MPI_INT, comm), "MPI_Alltoall");
    total = 0;
    for (int w = 0; w < size; w++) {
        rdis[w] = (int)total;
        total += rcnt[w];
    }
    buf = rc == GRAFT_OK && total < (1LL << 31) ? graft_malloc((size_t)(total ? total : 1) * item)
                                                : NULL;
    if ((rc = graft_job_agree_ok(comm, buf ? GRAFT_OK : GRAFT_ERR_NOMEM)) != GRAFT_OK)
        goto out;
    MPI_Datatype t;
    MPI_Type_contiguous((int)item, MPI_BYTE, &t);
    MPI_Type_commit(&t);
    rc = mpi_err(MPI_Alltoallv((void *)send, (int *)counts, sdis, t, buf, rcnt, rdis, t, comm),
                 "MPI_Alltoallv");
    MPI_Type_free(&t);
    if (rc == GRAFT_OK) {
        *recv = buf;
        *nrecv = (size_t)total;
        buf = NULL;
    }
out:
    graft_free(buf);
    graft_free(cnt);
    return rc;
}

void
graft_job_abort(int status)
{
    MPI_Abort(MPI_COMM_WORLD, status);
}

void
graft_job_finalize(graft_job *job)
{
    graft_free(job->endpoints);
    graft_free(job->server_keys);
    graft_free(job->worker_keys);
    job->endpoints = NULL;
    job->server_keys = job->worker_keys = NULL;
    if (job->role_comm != MPI_COMM_NULL)
        MPI_Comm_free(&job->role_comm);
    int inited = 0, fin = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&fin);
    if (inited && !fin)
        MPI_Finalize();
}
