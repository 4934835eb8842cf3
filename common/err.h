/* Graft's one error vocabulary. The X-macro list generates the enum, graft_strerror() and
 * graft_errname(), so they cannot drift apart. */
#ifndef GRAFT_ERR_H
#define GRAFT_ERR_H

#define GRAFT_ERR_LIST(X)                                                                          \
    X(GRAFT_OK, 0, "success")                                                                      \
    X(GRAFT_ERR_NOMEM, 1, "out of memory")                                                         \
    X(GRAFT_ERR_INVALID, 2, "invalid argument")                                                    \
    X(GRAFT_ERR_IO, 3, "input/output error")                                                       \
    X(GRAFT_ERR_PARSE, 4, "malformed input")                                                       \
    X(GRAFT_ERR_NOTFOUND, 5, "not found")                                                          \
    X(GRAFT_ERR_NET, 6, "network error")                                                           \
    X(GRAFT_ERR_PROTO, 7, "protocol error")                                                        \
    X(GRAFT_ERR_VERSION, 8, "wire version mismatch")                                               \
    X(GRAFT_ERR_TABLE, 9, "unknown table")                                                         \
    X(GRAFT_ERR_SIZE, 10, "payload size does not match key count and width")                       \
    X(GRAFT_ERR_TOOBIG, 11, "message or key count over the limit")                                 \
    X(GRAFT_ERR_MPI, 12, "MPI error")                                                              \
    X(GRAFT_ERR_REMOTE, 13, "peer answered with an error")                                         \
    X(GRAFT_ERR_TIMEOUT, 14, "timed out")                                                          \
    X(GRAFT_ERR_CONFLICT, 15, "conflicting definition")

typedef enum {
#define GRAFT_ERR_ENUM(name, code, text) name = code,
    GRAFT_ERR_LIST(GRAFT_ERR_ENUM)
#undef GRAFT_ERR_ENUM
} graft_err;

/* Human-readable text; never NULL, also for codes outside the list. */
const char *graft_strerror(graft_err err);
/* The enum's name as a string ("GRAFT_ERR_IO"); never NULL. */
const char *graft_errname(graft_err err);

#endif
