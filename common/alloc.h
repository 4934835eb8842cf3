/* All of Graft's heap allocation goes through these wrappers, so that a test can make the Nth
 * allocation fail (SQLite's out-of-memory testing) and check that every caller copes. */
#ifndef GRAFT_ALLOC_H
#define GRAFT_ALLOC_H

#include <stddef.h>

void *graft_malloc(size_t size);
void *graft_calloc(size_t n, size_t size);
/* Like realloc, but overflow-checked: returns NULL (leaving p untouched) when n * size overflows.
 */
void *graft_realloc_array(void *p, size_t n, size_t size);
void graft_free(void *p);
char *graft_strdup(const char *s);

/* Test hook: the nth allocation from now (1 = the next) and every later one fails; 0 turns the
 * hook off. Not thread-safe. */
void graft_alloc_fail_after(long n);

#endif
