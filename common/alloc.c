#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static long fail_countdown = 0;

static int
should_fail(void)
{
    if (fail_countdown <= 0)
        return 0;
    if (fail_countdown == 1)
        return 1; /* stays at 1: every later allocation fails too */
    fail_countdown--;
    return 0;
}

void
graft_alloc_fail_after(long n)
{
    fail_countdown = n;
}

void *
graft_malloc(size_t size)
{
    return should_fail() ? NULL : malloc(size ? size : 1);
}

void *
graft_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *
graft_realloc_array(void *p, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    if (should_fail())
        return NULL;
    size_t bytes = n * size;
    return realloc(p, bytes ? bytes : 1);
}

void
graft_free(void *p)
{
    free(p);
}

char *
graft_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = graft_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}
