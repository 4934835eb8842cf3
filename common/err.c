#include "err.h"

const char *
graft_strerror(graft_err err)
{
    switch (err) {
#define GRAFT_ERR_TEXT(name, code, text)                                                           \
    case name:                                                                                     \
        return text;
        GRAFT_ERR_LIST(GRAFT_ERR_TEXT)
#undef GRAFT_ERR_TEXT
    }
    return "unknown error";
}

const char *
graft_errname(graft_err err)
{
    switch (err) {
#define GRAFT_ERR_NAME(name, code, text)                                                           \
    case name:                                                                                     \
        return #name;
        GRAFT_ERR_LIST(GRAFT_ERR_NAME)
#undef GRAFT_ERR_NAME
    }
    return "GRAFT_ERR_UNKNOWN";
}
