/* Ratings files: MovieLens u.data (tab separated), MovieLens ratings.dat ("::"), CSV and TSV, with
 * or without a header line, ids as arbitrary strings. Files are mapped, not read, and each of
 * nparts ranks parses only its own byte range: a line belongs to the part holding its first byte.
 */
#ifndef GRAFT_READER_H
#define GRAFT_READER_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { GRAFT_FMT_AUTO = 0, GRAFT_FMT_CSV, GRAFT_FMT_TSV, GRAFT_FMT_DAT } graft_format;
#define GRAFT_FORMAT_CHOICES "auto|csv|tsv|dat"
#define GRAFT_MAX_LINE 65536
/* Ratings beyond this magnitude are rejected as malformed: no rating scale is that wide, and such
 * values would wreck training. */
#define GRAFT_MAX_ABS_RATING 1e6

typedef struct graft_datafile graft_datafile;

typedef struct {
    const char *p;
    size_t len;
} graft_str;

typedef struct {
    graft_str line;  /* the raw line, without its line end; borrowed from the file's mapping */
    uint64_t lineno; /* 1-based */
    graft_str user, item;
    float rating;
} graft_record;

typedef struct {
    size_t pos, end;
    uint64_t lineno; /* line number of the line at pos, minus one */
} graft_cursor;

/* Maps path and detects its layout (separator, header, which columns hold user, item and rating;
 * a header naming them is honoured). fmt forces the separator. Errors name the file:
 * "ratings.csv: No such file or directory" (GRAFT_ERR_IO) or "ratings.csv:1: ..."
 * (GRAFT_ERR_PARSE). On success *out owns the mapping until graft_datafile_close. */
graft_err graft_datafile_open(const char *path, graft_format fmt, graft_datafile **out, char *err,
                              size_t errlen);
/* The same over a caller's buffer, which must outlive the datafile; name is used in messages. */
graft_err graft_datafile_open_mem(const char *name, const char *buf, size_t len, graft_format fmt,
                                  graft_datafile **out, char *err, size_t errlen);
void graft_datafile_close(graft_datafile **df);

graft_format graft_datafile_format(const graft_datafile *df);
/* The header line (len 0 when there is none). */
graft_str graft_datafile_header(const graft_datafile *df);
const char *graft_datafile_name(const graft_datafile *df);

/* Positions c at the start of part `part` of `nparts`, counting the lines before it. */
void graft_datafile_cursor(const graft_datafile *df, int part, int nparts, graft_cursor *c);
/* Reads the next record: *got = 1 with rec filled, or *got = 0 at the end of the part. Blank lines
 * are skipped. A malformed line returns GRAFT_ERR_PARSE with "FILE:LINE: what is wrong" in err;
 * the cursor has moved past it, so the caller may go on (--bad-lines skip). */
graft_err graft_datafile_next(const graft_datafile *df, graft_cursor *c, graft_record *rec,
                              int *got, char *err, size_t errlen);

/* One training example: the keys are graft_hash_id of the ids. */
typedef struct {
    uint64_t user, item;
    float rating;
    uint32_t domain; /* which domain's tables it trains (0 source, 1 target; 0 in a plain job) */
} graft_rating;

typedef struct {
    graft_rating *v;
    size_t n, cap;
} graft_ratings;

graft_err graft_ratings_push(graft_ratings *r, uint64_t user, uint64_t item, float rating);
/* Appends a whole rating, its domain included. */
graft_err graft_ratings_append(graft_ratings *r, graft_rating x);
void graft_ratings_free(graft_ratings *r);

struct graft_iddict;

/* Loads part `part` of `nparts` of df into out (appending). With skip_bad, malformed lines are
 * counted in *bad_lines and skipped (the first one is still described in err); without, the first
 * one stops the load with GRAFT_ERR_PARSE. When users or items is given, the id string behind
 * every user or item key is recorded there. */
graft_err graft_ratings_load(const graft_datafile *df, int part, int nparts, int skip_bad,
                             graft_ratings *out, uint64_t *bad_lines, struct graft_iddict *users,
                             struct graft_iddict *items, char *err, size_t errlen);

/* Reads a two-column file of (source id, target id) pairs, separated by a tab, a comma or "::",
 * into the keys of those ids. Blank lines and lines starting with '#' are skipped. A line without
 * two non-empty ids is an error "FILE:LINE: ...". On success *src and *dst (n entries each) are
 * owned by the caller (graft_free). */
graft_err graft_pairs_load(const char *path, uint64_t **src, uint64_t **dst, size_t *n, char *err,
                           size_t errlen);

#endif
