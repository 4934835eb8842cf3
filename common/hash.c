#include "hash.h"

#include <string.h>

uint64_t
graft_hash_id(const char *id, size_t len)
{
    /* FNV-1a over the bytes, then a finaliser so that short numeric ids spread over all bits. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= 0x100000001b3ULL;
    }
    return graft_hash_mix64(h ^ len);
}
