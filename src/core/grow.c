#include "core/grow.h"

#include <stdint.h>
#include <stdlib.h>

int grow_array(void **items, size_t *cap, size_t n, size_t elem_bytes, size_t first) {
    if (n < *cap) return 0;
    size_t new_cap = *cap ? *cap * 2 : first;
    if (new_cap < *cap || new_cap > SIZE_MAX / elem_bytes) return -1;
    void *p = realloc(*items, new_cap * elem_bytes);
    if (!p) return -1;
    *items = p;
    *cap = new_cap;
    return 0;
}
