#include "store.h"
#include "alloc.h"
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "GRAFTSH1"
#define HEADER 24

struct graft_shard_writer {
    char *path, *tmp;
    FILE *f;
    uint32_t width;
    uint64_t rows;
    uint64_t h; /* running checksum of the rows */
};

/* The checksum of a header and the rows' running checksum. */
static uint64_t
finish_checksum(const unsigned char *header, uint64_t rows_hash)
{
    return graft_hash_mix64(graft_checksum64(header, HEADER, 0) ^ rows_hash);
}

static uint64_t
add_row(uint64_t h, const unsigned char *bytes, size_t len, uint64_t i)
{
    return graft_hash_mix64(h + graft_checksum64(bytes, len, i));
}

static void
make_header(unsigned char *h, uint32_t width, uint64_t rows)
{
    uint32_t zero = 0;
    memcpy(h, MAGIC, 8);
    memcpy(h + 8, &width, 4);
    memcpy(h + 12, &zero, 4);
    memcpy(h + 16, &rows, 8);
}

graft_err
graft_shard_writer_open(const char *path, uint32_t width, graft_shard_writer **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    graft_shard_writer *w = graft_calloc(1, sizeof *w);
    size_t n = strlen(path) + 16;
    graft_err rc = GRAFT_OK;
    if (!w || !(w->path = graft_strdup(path)) || !(w->tmp = graft_malloc(n))) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = GRAFT_ERR_NOMEM;
        goto out;
    }
    snprintf(w->tmp, n, "%s.tmp", path);
    w->width = width;
    w->f = fopen(w->tmp, "wb");
    unsigned char header[HEADER];
    make_header(header, width, 0);
    if (!w->f || fwrite(header, 1, HEADER, w->f) != HEADER) {
        snprintf(err, errlen, "%s: %s", w->tmp, strerror(errno));
        rc = GRAFT_ERR_IO;
    }
out:
    if (rc != GRAFT_OK && w)
        graft_shard_writer_abort(&w);
    *out = w;
    return rc;
}

graft_err
graft_shard_writer_add(graft_shard_writer *w, uint64_t key, const float *row)
{
    unsigned char buf[8 + 4 * 8200]; /* a checkpoint's widest slot: dim 4096, AdaGrad state */
    size_t len = 8 + 4 * (size_t)w->width;
    if (len > sizeof buf)
        return GRAFT_ERR_INVALID;
    memcpy(buf, &key, 8);
    memcpy(buf + 8, row, 4 * (size_t)w->width);
    w->h = add_row(w->h, buf, len, w->rows);
    w->rows++;
    return fwrite(buf, 1, len, w->f) == len ? GRAFT_OK : GRAFT_ERR_IO;
}

graft_err
graft_shard_writer_commit(graft_shard_writer **wp, uint64_t *rows, uint64_t *checksum, char *err,
                          size_t errlen)
{
    graft_shard_writer *w = *wp;
    unsigned char header[HEADER];
    make_header(header, w->width, w->rows);
    uint64_t sum = finish_checksum(header, w->h);
    int ok = fwrite(&sum, 1, 8, w->f) == 8 && fseek(w->f, 0, SEEK_SET) == 0 &&
             fwrite(header, 1, HEADER, w->f) == HEADER;
    graft_err rc = graft_store_commit_file(w->f, w->tmp, w->path, ok, err, errlen);
    w->f = NULL;
    if (rc == GRAFT_OK) {
        *rows = w->rows;
        *checksum = sum;
        /* Committed: the temporary name is gone, so abort only frees. */
        graft_free(w->tmp);
        w->tmp = NULL;
    }
    graft_shard_writer_abort(wp);
    return rc;
}

void
graft_shard_writer_abort(graft_shard_writer **wp)
{
    if (!wp || !*wp)
        return;
    graft_shard_writer *w = *wp;
    if (w->f)
        fclose(w->f);
    if (w->tmp)
        unlink(w->tmp);
    graft_free(w->path);
    graft_free(w->tmp);
    graft_free(w);
    *wp = NULL;
}

graft_err
graft_shard_open(const char *path, graft_shard *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    int fd;
    graft_err orc = graft_store_open_regular(path, &fd, err, errlen);
    if (orc != GRAFT_OK)
        return orc;
    struct stat st;
    void *m = MAP_FAILED;
    graft_err rc = GRAFT_OK;
    if (fstat(fd, &st) != 0 || st.st_size < HEADER + 8) {
        snprintf(err, errlen, "%s: too short to be a shard (truncated?)", path);
        rc = GRAFT_ERR_PARSE;
    } else if ((m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        rc = GRAFT_ERR_IO;
    }
    close(fd);
    if (rc != GRAFT_OK)
        goto out;
    s->data = m;
    s->size = (size_t)st.st_size;
    const char *why = NULL;
    memcpy(&s->width, s->data + 8, 4);
    memcpy(&s->rows, s->data + 16, 8);
    size_t rowlen = 8 + 4 * (size_t)s->width;
    if (memcmp(s->data, MAGIC, 8) != 0)
        why = "not a Graft shard (bad magic)";
    else if (s->width == 0 || s->width > 4096)
        why = "bad row width";
    else if (s->rows > (s->size - HEADER - 8) / rowlen || HEADER + s->rows * rowlen + 8 != s->size)
        why = "size does not match its row count (truncated or torn)";
    if (!why) {
        uint64_t h = 0;
        for (uint64_t i = 0; i < s->rows; i++)
            h = add_row(h, s->data + HEADER + i * rowlen, rowlen, i);
        memcpy(&s->checksum, s->data + s->size - 8, 8);
        if (finish_checksum(s->data, h) != s->checksum)
            why = "checksum mismatch (file altered or torn)";
    }
    if (why) {
        snprintf(err, errlen, "%s: %s", path, why);
        graft_shard_close(s);
        rc = GRAFT_ERR_PARSE;
    }
out:
    return rc;
}

void
graft_shard_row(const graft_shard *s, uint64_t i, uint64_t *key, float *row)
{
    const unsigned char *p = s->data + HEADER + i * (8 + 4 * (size_t)s->width);
    memcpy(key, p, 8);
    memcpy(row, p + 8, 4 * (size_t)s->width);
}

void
graft_shard_close(graft_shard *s)
{
    if (s->data)
        munmap((void *)s->data, s->size);
    memset(s, 0, sizeof *s);
}

void
graft_store_shard_file(char *buf, size_t len, const char *table, int index, int nservers)
{
    snprintf(buf, len, "%s.%d-of-%d.shard", table, index, nservers);
}

void
graft_store_checkpoint_dir(char *buf, size_t len, const char *dir, uint64_t epoch)
{
    snprintf(buf, len, "%s/ckpt-%llu", dir, (unsigned long long)epoch);
}

graft_err
graft_store_open_regular(const char *path, int *fd, char *err, size_t errlen)
{
    *fd = -1;
    /* O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer;
     * the fstat below then refuses it. A regular file ignores the flag, so clear it anyway. */
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    struct stat st;
    if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s", path,
                 S_ISDIR(st.st_mode)    ? "is a directory"
                 : S_ISFIFO(st.st_mode) ? "is a FIFO (named pipe), not a regular file"
                                        : "not a regular file");
        close(f);
        f = -1;
    } else {
        int fl = fcntl(f, F_GETFL);
        if (fl >= 0)
            (void)fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    }
    *fd = f;
    return f >= 0 ? GRAFT_OK : GRAFT_ERR_IO;
}

graft_err
graft_store_read_all(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    FILE *mem = open_memstream(text, len);
    char buf[65536];
    size_t got;
    while (mem && (got = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, got, mem);
    int bad = ferror(f);
    fclose(f);
    graft_err rc = GRAFT_OK;
    if (!mem || fclose(mem) != 0 || bad) {
        free(*text);
        *text = NULL;
        *len = 0;
        snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "out of memory");
        rc = bad ? GRAFT_ERR_IO : GRAFT_ERR_NOMEM;
    }
    return rc;
}

graft_err
graft_store_write_atomic(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    return graft_store_commit_file(f, tmp, path, fwrite(text, 1, len, f) == len, err, errlen);
}

graft_err
graft_store_commit_file(FILE *f, const char *tmp, const char *path, int ok, char *err,
                        size_t errlen)
{
    errno = 0;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        snprintf(err, errlen, "%s: %s", path, strerror(saved ? saved : EIO));
        unlink(tmp);
        return GRAFT_ERR_IO;
    }
    return GRAFT_OK;
}
