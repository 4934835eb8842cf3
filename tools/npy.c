#include "npy.h"
#include "alloc.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

graft_err
graft_npy_header(uint64_t rows, uint32_t cols, char *buf, size_t cap, size_t *len)
{
    char dict[96];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%" PRIu64 ", %u), }", rows,
                     cols);
    size_t total = 10 + (size_t)n + 1; /* magic 6, version 2, length 2, dict, newline */
    total = (total + 63) / 64 * 64;
    if (n < 0 || total > cap || total - 10 > 65535)
        return GRAFT_ERR_INVALID;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    uint16_t hlen = (uint16_t)(total - 10);
    buf[8] = (char)(hlen & 0xff);
    buf[9] = (char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    *len = total;
    return GRAFT_OK;
}

graft_err
graft_npy_read(const char *path, float **data, uint64_t *rows, uint32_t *cols, char *err,
               size_t errlen)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return GRAFT_ERR_IO;
    }
    unsigned char pre[10];
    char dict[65536];
    graft_err rc = GRAFT_ERR_PARSE;
    const char *why = "not a version 1.0 .npy file";
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY\x01\x00", 8) != 0)
        goto done;
    size_t hlen = pre[8] | (size_t)pre[9] << 8;
    if (fread(dict, 1, hlen, f) != hlen)
        goto done;
    dict[hlen] = 0;
    why = "not a 2-D little-endian float32 array in C order";
    const char *shape = strstr(dict, "'shape': (");
    unsigned long long r;
    unsigned c;
    if (!strstr(dict, "'descr': '<f4'") || !strstr(dict, "'fortran_order': False") || !shape ||
        sscanf(shape, "'shape': (%llu, %u)", &r, &c) != 2 || c == 0)
        goto done;
    why = "truncated data";
    if (r > SIZE_MAX / c / sizeof(float))
        goto done;
    *data = graft_malloc((size_t)r * c * sizeof(float) + 1);
    if (!*data) {
        rc = GRAFT_ERR_NOMEM;
        why = "out of memory";
        goto done;
    }
    if (fread(*data, sizeof(float), (size_t)r * c, f) != (size_t)r * c) {
        graft_free(*data);
        *data = NULL;
        goto done;
    }
    *rows = r;
    *cols = c;
    rc = GRAFT_OK;
done:
    if (rc != GRAFT_OK)
        snprintf(err, errlen, "%s: %s", path, why);
    fclose(f);
    return rc;
}
