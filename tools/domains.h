/* Source and target domains from one MovieLens-style ratings file and its movies file, by genre
 * rules: a movie belongs to a domain when it has any of the domain's genres and none of its
 * excluded ones. Two movies formats are read: movieId,title,genres (genres separated by '|', as
 * in ml-latest), and MovieLens 100K's u.item, id|title|date|video|url| then one 0/1 flag per
 * genre, in the order of its u.genre file (name|index lines), or in the standard order
 * (GRAFT_GENRES_100K) when none is given. Ratings lines are copied verbatim (with the header,
 * if any) to the domain files of their movie. */
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

/* The genres of u.item's flags in MovieLens 100K's own order (its u.genre). */
#define GRAFT_GENRES_100K                                                                          \
    "unknown|Action|Adventure|Animation|Children's|Comedy|Crime|Documentary|Drama|Fantasy|"        \
    "Film-Noir|Horror|Musical|Mystery|Romance|Sci-Fi|Thriller|War|Western"

/* Reads movies_path (either format, told apart by its first line), then sorts the ratings of
 * df into source and target (a movie matching both rules goes to both). genres_path names the
 * flags of a u.item file (NULL: GRAFT_GENRES_100K). Malformed lines of any file are errors
 * "FILE:LINE: ...". */
graft_err graft_domains_run(const graft_datafile *df, const char *movies_path,
                            const char *genres_path, const graft_genre_rule *src_rule,
                            const graft_genre_rule *tgt_rule, FILE *source, FILE *target,
                            graft_domains_result *res, char *err, size_t errlen);

/* Whether a '|'-separated genre list satisfies rule (exposed for tests). */
int graft_genre_match(const char *genres, size_t len, const graft_genre_rule *rule);

#endif
