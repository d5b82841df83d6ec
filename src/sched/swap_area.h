/* The host-side area that swap preemption copies KV blocks into: swap_space_bytes split into slots of
 * one KV block each (all layers' K and V), handed out from a free stack. */
#ifndef LOOM_SCHED_SWAP_AREA_H
#define LOOM_SCHED_SWAP_AREA_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct loom_swap_area {
    size_t slot_bytes; /* bytes of one KV block */
    int32_t n_slots;
    int32_t n_free;
    int32_t *free_stack; /* [n_slots] */
    unsigned char *data; /* [n_slots][slot_bytes] */
} loom_swap_area;

/* An area of floor(space_bytes / slot_bytes) slots (0 slots is valid: swapping is then never possible). */
loom_status swap_area_init(loom_swap_area *a, uint64_t space_bytes, size_t slot_bytes, loom_error *err);
void swap_area_destroy(loom_swap_area *a);
/* Takes n slots into slots[]; -1 (nothing taken) when fewer than n are free. */
int swap_area_take(loom_swap_area *a, int32_t n, int32_t *slots);
void swap_area_give_back(loom_swap_area *a, const int32_t *slots, int32_t n);
static inline void *loom_swap_area_slot(const loom_swap_area *a, int32_t slot) {
    return a->data + (size_t)slot * a->slot_bytes;
}

#endif
