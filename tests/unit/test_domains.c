#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "domains.h"

static void
test_genre_rules(void **state)
{
    (void)state;
    graft_genre_rule drama = {"Drama", "Comedy"}, comedy = {"Comedy", "Drama"};
    const char *g1 = "Crime|Drama", *g2 = "Comedy|Drama|Romance", *g3 = "Comedy", *g4 = "Dramas";
    assert_true(graft_genre_match(g1, strlen(g1), &drama));
    assert_false(graft_genre_match(g1, strlen(g1), &comedy));
    assert_false(graft_genre_match(g2, strlen(g2), &drama));
    assert_false(graft_genre_match(g2, strlen(g2), &comedy));
    assert_true(graft_genre_match(g3, strlen(g3), &comedy));
    assert_false(graft_genre_match(g4, strlen(g4), &drama)); /* whole names only */
    graft_genre_rule any = {"Horror,Comedy", NULL};
    assert_true(graft_genre_match(g3, strlen(g3), &any));
}

static void
test_split_by_movie(void **state)
{
    (void)state;
    char mpath[] = "/tmp/graft-movies-XXXXXX";
    FILE *f = fdopen(mkstemp(mpath), "w");
    fprintf(f, "movieId,title,genres\n1,Heat (1995),Action|Crime|Drama\n"
               "2,\"American President, The (1995)\",Comedy|Drama|Romance\n"
               "3,Clerks (1994),Comedy\n");
    fclose(f);
    static const char ratings[] = "userId,movieId,rating,timestamp\n1,1,4,0\n1,2,3,0\n2,3,5,0\n"
                                  "2,1,2,0\n3,9,1,0\n";
    graft_datafile *df;
    char err[256];
    assert_int_equal(graft_datafile_open_mem("r.csv", ratings, sizeof ratings - 1, GRAFT_FMT_AUTO,
                                             &df, err, sizeof err),
                     GRAFT_OK);
    char *sb, *tb;
    size_t sl, tl;
    FILE *s = open_memstream(&sb, &sl), *t = open_memstream(&tb, &tl);
    graft_genre_rule drama = {"Drama", "Comedy"}, comedy = {"Comedy", "Drama"};
    graft_domains_result res;
    assert_int_equal(
        graft_domains_run(df, mpath, NULL, &drama, &comedy, s, t, &res, err, sizeof err), GRAFT_OK);
    fclose(s);
    fclose(t);
    assert_string_equal(sb, "userId,movieId,rating,timestamp\n1,1,4,0\n2,1,2,0\n");
    assert_string_equal(tb, "userId,movieId,rating,timestamp\n2,3,5,0\n");
    assert_int_equal(res.movies, 3);
    assert_int_equal(res.other_ratings, 2);
    free(sb);
    free(tb);
    f = fopen(mpath, "w");
    fprintf(f, "movieId,title,genres\n7 no commas here\n");
    fclose(f);
    s = open_memstream(&sb, &sl);
    t = open_memstream(&tb, &tl);
    assert_int_equal(
        graft_domains_run(df, mpath, NULL, &drama, &comedy, s, t, &res, err, sizeof err),
        GRAFT_ERR_PARSE);
    fclose(s);
    fclose(t);
    free(sb);
    free(tb);
    assert_non_null(strstr(err, ":2: expected movieId,title,genres"));
    remove(mpath);
    graft_datafile_close(&df);
}

/* MovieLens 100K's u.item: id|title|date|video|url| and 19 genre flags, in u.genre's order or
 * the standard one. */
static void
test_item_format(void **state)
{
    (void)state;
    char mpath[] = "/tmp/graft-uitem-XXXXXX", gpath[] = "/tmp/graft-ugenre-XXXXXX";
    FILE *f = fdopen(mkstemp(mpath), "w");
    /* Heat: Action, Crime, Drama (flags 1, 6, 8); Clerks: Comedy (5); a title with a comma. */
    fprintf(f, "1|Heat (1995)|01-Jan-1995||http://x|0|1|0|0|0|0|1|0|1|0|0|0|0|0|0|0|0|0|0\n"
               "2|American President, The (1995)|01-Jan-1995||http://y|0|0|0|0|0|1|0|0|1|0|0|0|0|"
               "0|1|0|0|0|0\n"
               "3|Clerks (1994)|01-Jan-1994||http://z|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0|\n");
    fclose(f);
    static const char ratings[] = "1\t1\t4\t0\n1\t2\t3\t0\n2\t3\t5\t0\n2\t1\t2\t0\n";
    graft_datafile *df;
    char err[256];
    assert_int_equal(graft_datafile_open_mem("u.data", ratings, sizeof ratings - 1, GRAFT_FMT_AUTO,
                                             &df, err, sizeof err),
                     GRAFT_OK);
    graft_genre_rule drama = {"Drama", "Comedy"}, comedy = {"Comedy", "Drama"};
    for (int pass = 0; pass < 2; pass++) {
        /* Pass 1 names the flags through a u.genre file, in another line order. */
        const char *genres = NULL;
        if (pass == 1) {
            FILE *g = fdopen(mkstemp(gpath), "w");
            static const char *const std[] = {"unknown",    "Action",  "Adventure", "Animation",
                                              "Children's", "Comedy",  "Crime",     "Documentary",
                                              "Drama",      "Fantasy", "Film-Noir", "Horror",
                                              "Musical",    "Mystery", "Romance",   "Sci-Fi",
                                              "Thriller",   "War",     "Western"};
            for (int i = 18; i >= 0; i--)
                fprintf(g, "%s|%d\n", std[i], i);
            fclose(g);
            genres = gpath;
        }
        char *sb, *tb;
        size_t sl, tl;
        FILE *s = open_memstream(&sb, &sl), *t = open_memstream(&tb, &tl);
        graft_domains_result res;
        assert_int_equal(
            graft_domains_run(df, mpath, genres, &drama, &comedy, s, t, &res, err, sizeof err),
            GRAFT_OK);
        fclose(s);
        fclose(t);
        assert_string_equal(sb, "1\t1\t4\t0\n2\t1\t2\t0\n");
        assert_string_equal(tb, "2\t3\t5\t0\n");
        assert_int_equal(res.movies, 3);
        free(sb);
        free(tb);
    }
    /* A line with a flag that is not 0 or 1 is named. */
    f = fopen(mpath, "a");
    fprintf(f, "4|Bad|x||u|0|2|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n");
    fclose(f);
    char *sb, *tb;
    size_t sl, tl;
    FILE *s = open_memstream(&sb, &sl), *t = open_memstream(&tb, &tl);
    graft_domains_result res;
    assert_int_equal(
        graft_domains_run(df, mpath, NULL, &drama, &comedy, s, t, &res, err, sizeof err),
        GRAFT_ERR_PARSE);
    assert_non_null(strstr(err, ":4: expected id|title"));
    fclose(s);
    fclose(t);
    free(sb);
    free(tb);
    remove(mpath);
    remove(gpath);
    graft_datafile_close(&df);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_item_format),
        cmocka_unit_test(test_genre_rules),
        cmocka_unit_test(test_split_by_movie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
