/* The shared-memory arenas of a server's same-host workers (common/shm.h), one per connection,
 * found by the connection's ZeroMQ identity. The server maps them; the workers own them. Not
 * thread-safe: the server's loop is the only user. */
#ifndef GRAFT_ARENAS_H
#define GRAFT_ARENAS_H

#include "err.h"
#include "wire.h"

#include <stddef.h>
#include <stdint.h>

typedef struct graft_arenas graft_arenas;

/* Room for at most max arenas: further attaches are refused, so that peers cannot make a server
 * map without bound. */
graft_err graft_arenas_create(int max, graft_arenas **out);
/* Unmaps every arena and frees *a (NULL is fine). */
void graft_arenas_destroy(graft_arenas **a);
/* Maps the arena an attach request announces, for the connection named id (replacing the one it
 * attached before). On failure why says what was wrong. */
graft_err graft_arenas_attach(graft_arenas *a, const void *id, size_t idlen, const graft_msg *req,
                              char *why, size_t whylen);
/* Bytes [offset, offset + len) of the connection's arena, or NULL (why says) when it has none or
 * the range is not inside it. */
void *graft_arenas_region(graft_arenas *a, const void *id, size_t idlen, uint64_t offset,
                          uint64_t len, char *why, size_t whylen);
int graft_arenas_count(const graft_arenas *a);

#endif
