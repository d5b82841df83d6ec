/* The one growable-array step: make room for one more element in a malloc'd array that doubles. */
#ifndef LOOM_CORE_GROW_H
#define LOOM_CORE_GROW_H

#include <stddef.h>

/* When *cap elements are in use (n == *cap), reallocates *items (elements of elem_bytes) to twice as many,
 * first when empty; 0 when there is room for element n, -1 (nothing changed) when out of memory or the size
 * would overflow. Use: if (grow(&v->items, &v->cap, v->n, sizeof *v->items, 16)) return -1; */
int grow_array(void **items, size_t *cap, size_t n, size_t elem_bytes, size_t first);
#define grow(items, cap, n, elem_bytes, first) grow_array((void **)(items), (cap), (n), (elem_bytes), (first))

#endif
