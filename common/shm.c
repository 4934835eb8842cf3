#include "shm.h"
#include "rng.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

graft_err
graft_shm_create(size_t size, graft_shm *out)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    if (size <= GRAFT_SHM_HEADER)
        return GRAFT_ERR_INVALID;
    int fd = memfd_create("graft-arena", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return GRAFT_ERR_IO;
    void *p = MAP_FAILED;
    if (ftruncate(fd, (off_t)size) == 0 && fcntl(fd, F_ADD_SEALS, SEALS) == 0)
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        goto out;
    }
    /* The nonce tells the server it opened this arena and not another process's. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    graft_rng rng;
    graft_rng_seed(&rng,
                   (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)p);
    out->nonce = graft_rng_next(&rng);
    memcpy(p, &out->nonce, sizeof out->nonce);
    out->base = p;
    out->size = size;
    out->fd = fd;
out:
    return out->base ? GRAFT_OK : GRAFT_ERR_IO;
}

graft_err
graft_shm_open_peer(uint32_t pid, uint32_t fd, uint64_t size, uint64_t nonce, graft_shm *out,
                    char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%u/fd/%u", pid, fd);
    int f = open(path, O_RDWR | O_CLOEXEC);
    if (f < 0) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    struct stat st;
    int seals = fcntl(f, F_GET_SEALS);
    graft_err rc = GRAFT_ERR_INVALID;
    void *p = MAP_FAILED;
    if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
        snprintf(why, whylen, "%s is not a sealed shared-memory arena", path);
    else if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size ||
             size <= GRAFT_SHM_HEADER)
        snprintf(why, whylen, "%s does not have the %llu bytes announced", path,
                 (unsigned long long)size);
    else if ((p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0)) == MAP_FAILED)
        snprintf(why, whylen, "cannot map %s: %s", path, strerror(errno));
    else if (memcmp(p, &nonce, sizeof nonce) != 0)
        snprintf(why, whylen, "%s is not the arena announced (nonce differs)", path);
    else
        rc = GRAFT_OK;
    close(f);
    if (rc != GRAFT_OK) {
        if (p != MAP_FAILED)
            munmap(p, (size_t)size);
        goto out;
    }
    out->base = p;
    out->size = (size_t)size;
    out->nonce = nonce;
out:
    return rc;
}

void
graft_shm_close(graft_shm *shm)
{
    if (shm->base && shm->fd >= 0)
        close(shm->fd);
    if (shm->base)
        munmap(shm->base, shm->size);
    shm->base = NULL;
    shm->size = 0;
    shm->fd = -1;
}
