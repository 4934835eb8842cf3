/* Source and target domains from one MovieLens-style ratings file and its movies file
 * (movieId,title,genres with genres separated by '|'), by genre rules: a movie belongs to a
 * domain when it has any of the domain's genres and none of its excluded ones. Ratings lines are
 * copied verbatim (with the header, if any) to the domain files of their movie. */
#ifndef GRAFT_DOMAINS_H
#define GRAFT_DOMAINS_H

#include "err.h"
#include "reader.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *include; /* comma-separated genres, any of which admits a movie */
    const char *exclude; /* comma-separated genres, any of which bars it (may be NULL) */
} graft_genre_rule;

typedef struct {
    uint64_t movies, source_movies, target_movies;
    uint64_t source_ratings, target_ratings, other_ratings, bad_lines;
} graft_domains_result;

/* Reads movies_path, then sorts the ratings of df into source and target (a movie matching both
 * rules goes to both). Malformed lines of either file are errors "FILE:LINE: ...". */
graft_err graft_domains_run(const graft_datafile *df, const char *movies_path,
                            const graft_genre_rule *src_rule, const graft_genre_rule *tgt_rule,
                            FILE *source, FILE *target, graft_domains_result *res, char *err,
                            size_t errlen);

/* Whether a '|'-separated genre list satisfies rule (exposed for tests). */
int graft_genre_match(const char *genres, size_t len, const graft_genre_rule *rule);

#endif
