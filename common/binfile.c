#include "binfile.h"
#include "alloc.h"
#include "hash.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER 64
#define MAX_PARTS 65536

_Static_assert(sizeof(graft_rating) == 24, "records are graft_rating structs of 24 bytes");

int
graft_binfile_is(const char *path)
{
    /* Only a regular file can be one; anything else is left to the text reader to refuse by
     * name (and a FIFO must not be opened here, which would block). */
    char magic[8], why[8];
    int fd;
    if (graft_store_open_regular(path, &fd, why, sizeof why) != GRAFT_OK)
        return 0;
    int is = read(fd, magic, 8) == 8 && memcmp(magic, GRAFT_BINFILE_MAGIC, 8) == 0;
    close(fd);
    return is;
}

static int
put(FILE *f, const void *p, size_t n, uint64_t *sum)
{
    if (sum)
        *sum = graft_checksum64(p, n, *sum);
    return fwrite(p, 1, n, f) == n;
}

graft_err
graft_binfile_write(const char *path, const graft_ratings *r, const graft_iddict *users,
                    const graft_iddict *items, int nparts, char *err, size_t errlen)
{
    if (nparts < 1 || nparts > MAX_PARTS) {
        snprintf(err, errlen, "parts must be 1..%d", MAX_PARTS);
        return GRAFT_ERR_INVALID;
    }
    uint64_t *start = graft_calloc((size_t)nparts + 1, sizeof *start);
    uint64_t *sums = graft_calloc((size_t)nparts, sizeof *sums);
    graft_rating *sorted = graft_malloc((r->n ? r->n : 1) * sizeof *sorted);
    char *ub = NULL, *ib = NULL;
    size_t ul = 0, il = 0;
    graft_err rc = start && sums && sorted ? GRAFT_OK : GRAFT_ERR_NOMEM;
    if (rc == GRAFT_OK)
        rc = graft_iddict_pack(users, &ub, &ul);
    if (rc == GRAFT_OK)
        rc = graft_iddict_pack(items, &ib, &il);
    if (rc != GRAFT_OK) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    /* Parts in order, each in the file's order (a stable counting sort). */
    for (size_t j = 0; j < r->n; j++)
        start[graft_owner_of(r->v[j].user, (uint32_t)nparts) + 1]++;
    for (int p = 0; p < nparts; p++)
        start[p + 1] += start[p];
    {
        uint64_t *fill = graft_malloc((size_t)nparts * sizeof *fill);
        if (!fill) {
            rc = GRAFT_ERR_NOMEM;
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        memcpy(fill, start, (size_t)nparts * sizeof *fill);
        for (size_t j = 0; j < r->n; j++) {
            graft_rating x = r->v[j];
            x.domain = 0;
            sorted[fill[graft_owner_of(x.user, (uint32_t)nparts)]++] = x;
        }
        graft_free(fill);
    }
    for (int p = 0; p < nparts; p++)
        sums[p] = graft_checksum64(sorted + start[p], (size_t)(start[p + 1] - start[p]) * 24, 0);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = GRAFT_ERR_IO;
        goto out;
    }
    unsigned char h[HEADER] = {0};
    uint32_t version = 1, np = (uint32_t)nparts;
    uint64_t n = r->n, u64ul = ul, u64il = il, sum = 0;
    memcpy(h, GRAFT_BINFILE_MAGIC, 8);
    memcpy(h + 8, &version, 4);
    memcpy(h + 12, &np, 4);
    memcpy(h + 16, &n, 8);
    memcpy(h + 24, &u64ul, 8);
    memcpy(h + 32, &u64il, 8);
    int ok = put(f, h, HEADER, &sum) && put(f, start, ((size_t)nparts + 1) * 8, &sum) &&
             put(f, sums, (size_t)nparts * 8, &sum) && put(f, sorted, r->n * 24, NULL) &&
             put(f, ub, ul, &sum) && put(f, ib, il, &sum) && put(f, &sum, 8, NULL);
    rc = graft_store_commit_file(f, tmp, path, ok, err, errlen);
out:
    graft_free(start);
    graft_free(sums);
    graft_free(sorted);
    graft_free(ub);
    graft_free(ib);
    return rc;
}

graft_err
graft_binfile_load(const char *path, int part, int nworkers, graft_ratings *out, int *by_owner,
                   graft_iddict *users, graft_iddict *items, char *err, size_t errlen)
{
    *by_owner = 0;
    int fd;
    graft_err orc = graft_store_open_regular(path, &fd, err, errlen);
    if (orc != GRAFT_OK)
        return orc;
    struct stat st;
    graft_err rc = GRAFT_ERR_PARSE;
    size_t size = 0;
    const unsigned char *m = MAP_FAILED;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        rc = GRAFT_ERR_IO;
    } else {
        size = (size_t)st.st_size;
        m = size >= HEADER ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
        if (m == MAP_FAILED)
            snprintf(err, errlen, "%s: %s", path,
                     size < HEADER ? "too short to be a Graft binary ratings file"
                                   : strerror(errno));
    }
    close(fd);
    if (m == MAP_FAILED)
        goto out;
    uint32_t version, np;
    uint64_t n, ul, il, sum = 0, want;
    memcpy(&version, m + 8, 4);
    memcpy(&np, m + 12, 4);
    memcpy(&n, m + 16, 8);
    memcpy(&ul, m + 24, 8);
    memcpy(&il, m + 32, 8);
    size_t tables = np <= MAX_PARTS ? ((size_t)np * 2 + 1) * 8 : 0;
    const char *why = NULL;
    if (memcmp(m, GRAFT_BINFILE_MAGIC, 8) != 0)
        why = "not a Graft binary ratings file";
    else if (version != 1)
        why = "written by another version of graft prep";
    else if (np < 1 || np > MAX_PARTS || n > (size / 24) || ul > size || il > size ||
             (uint64_t)HEADER + tables + n * 24 + ul + il + 8 != size)
        why = "size does not match its header (truncated?)";
    if (!why) {
        const unsigned char *dicts = m + HEADER + tables + n * 24;
        /* The same pieces, in the same order, as the writer chained them. */
        sum = graft_checksum64(m, HEADER, 0);
        sum = graft_checksum64(m + HEADER, ((size_t)np + 1) * 8, sum);
        sum = graft_checksum64(m + HEADER + ((size_t)np + 1) * 8, (size_t)np * 8, sum);
        sum = graft_checksum64(dicts, ul, sum);
        sum = graft_checksum64(dicts + ul, il, sum);
        memcpy(&want, dicts + ul + il, 8);
        if (sum != want)
            why = "checksum mismatch in its header or dictionaries (file altered or torn)";
    }
    const uint64_t *start = (const void *)(m + HEADER), *sums = start + np + 1;
    const graft_rating *rec = (const void *)(m + HEADER + tables);
    for (uint32_t p = 0; !why && p < np; p++)
        if (start[p] > start[p + 1] || start[p + 1] > n)
            why = "part table out of order";
    if (!why && start[np] != n)
        why = "part table out of order";
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto out;
    }
    /* This worker's share: whole parts when the worker count divides the parts, else a range. */
    *by_owner = np % (uint32_t)nworkers == 0;
    for (uint32_t p = 0; p < np; p++) {
        uint64_t a, b;
        if (*by_owner) {
            if (p % (uint32_t)nworkers != (uint32_t)part)
                continue;
            a = start[p];
            b = start[p + 1];
        } else {
            if (p > 0)
                break;
            a = n * (uint64_t)part / (uint64_t)nworkers;
            b = n * (uint64_t)(part + 1) / (uint64_t)nworkers;
        }
        if (*by_owner && graft_checksum64(rec + a, (size_t)(b - a) * 24, 0) != sums[p]) {
            snprintf(err, errlen, "%s: checksum mismatch in part %u (file altered or torn)", path,
                     p);
            goto out;
        }
        if (out->n + (b - a) > out->cap) {
            size_t cap = out->n + (size_t)(b - a);
            graft_rating *v = graft_realloc_array(out->v, cap ? cap : 1, sizeof *v);
            if (!v) {
                snprintf(err, errlen, "out of memory for %s", path);
                rc = GRAFT_ERR_NOMEM;
                goto out;
            }
            out->v = v;
            out->cap = cap;
        }
        memcpy(out->v + out->n, rec + a, (size_t)(b - a) * 24);
        out->n += (size_t)(b - a);
    }
    if (!*by_owner) { /* a range cuts across parts: check every part once, here */
        for (uint32_t p = 0; p < np; p++)
            if (graft_checksum64(rec + start[p], (size_t)(start[p + 1] - start[p]) * 24, 0) !=
                sums[p]) {
                snprintf(err, errlen, "%s: checksum mismatch in part %u (file altered or torn)",
                         path, p);
                goto out;
            }
    }
    const char *dicts = (const char *)(m + HEADER + tables + n * 24);
    if ((users && graft_iddict_merge(users, dicts, ul) != GRAFT_OK) ||
        (items && graft_iddict_merge(items, dicts + ul, il) != GRAFT_OK)) {
        snprintf(err, errlen, "%s: its id dictionaries do not parse", path);
        goto out;
    }
    rc = GRAFT_OK;
out:
    if (m != MAP_FAILED)
        munmap((void *)m, size);
    return rc;
}
