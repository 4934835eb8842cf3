/* Shared-memory arenas between a worker and a server on the same host (docs/protocol.md). A
 * worker creates an arena (a sealed memfd, so that it can never shrink under the server: a
 * mapping that outlived its pages would kill the server with SIGBUS) and tells the server its pid,
 * fd and size; the server opens /proc/PID/fd/FD, which the kernel allows only to the same user,
 * checks the seals, the size and a nonce the worker wrote at the start, and maps it. Rows then
 * cross in the arena instead of the socket: no kernel copies, no frames allocated. */
#ifndef GRAFT_SHM_H
#define GRAFT_SHM_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

/* The first bytes of an arena hold the nonce; rows go after them. */
#define GRAFT_SHM_HEADER 64

typedef struct {
    void *base;
    size_t size;
    int fd; /* the creator's descriptor (-1 in the server, which closes its own) */
    uint64_t nonce;
} graft_shm;

/* Creates and maps a sealed arena of size bytes (pages come in as they are touched). */
graft_err graft_shm_create(size_t size, graft_shm *out);
/* Maps the arena that process pid holds as descriptor fd, after checking that it is sealed
 * against shrinking, that it has exactly size bytes and that it starts with nonce. On failure
 * why says what was wrong. */
graft_err graft_shm_open_peer(uint32_t pid, uint32_t fd, uint64_t size, uint64_t nonce,
                              graft_shm *out, char *why, size_t whylen);
/* Unmaps (and closes) an arena; a zeroed one is fine. */
void graft_shm_close(graft_shm *shm);

#endif
