/* Fuzz target for the ratings readers: any bytes, any format, must parse or be refused cleanly,
 * with every part of a split covering the file exactly once. */
#include "iddict.h"
#include "reader.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int fmt = GRAFT_FMT_AUTO; fmt <= GRAFT_FMT_DAT; fmt++) {
        graft_datafile *df;
        char err[512];
        if (graft_datafile_open_mem("fuzz", (const char *)data, size, (graft_format)fmt, &df, err,
                                    sizeof err) != GRAFT_OK)
            continue;
        graft_ratings whole = {0};
        uint64_t bad = 0;
        graft_iddict *users = NULL;
        graft_iddict_create(&users);
        graft_ratings_load(df, 0, 1, 1, &whole, &bad, users, NULL, err, sizeof err);
        /* Three parts hold what the whole holds, in order. */
        graft_ratings parts = {0};
        uint64_t bad3 = 0;
        for (int p = 0; p < 3; p++)
            graft_ratings_load(df, p, 3, 1, &parts, &bad3, NULL, NULL, err, sizeof err);
        if (parts.n != whole.n || bad3 != bad ||
            (whole.n && memcmp(parts.v, whole.v, whole.n * sizeof *whole.v) != 0))
            abort();
        for (size_t i = 0; i < whole.n; i++)
            if (!graft_iddict_get(users, whole.v[i].user))
                abort();
        graft_iddict_destroy(&users);
        graft_ratings_free(&whole);
        graft_ratings_free(&parts);
        graft_datafile_close(&df);
    }
    return 0;
}
