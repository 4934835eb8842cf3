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
    assert_int_equal(graft_domains_run(df, mpath, &drama, &comedy, s, t, &res, err, sizeof err),
                     GRAFT_OK);
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
    assert_int_equal(graft_domains_run(df, mpath, &drama, &comedy, s, t, &res, err, sizeof err),
                     GRAFT_ERR_PARSE);
    fclose(s);
    fclose(t);
    free(sb);
    free(tb);
    assert_non_null(strstr(err, ":2: expected movieId,title,genres"));
    remove(mpath);
    graft_datafile_close(&df);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genre_rules),
        cmocka_unit_test(test_split_by_movie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
