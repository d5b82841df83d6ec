/* Host swap slots: a free stack over one allocation. */
#include <stdlib.h>

#include "sched/swap_area.h"

loom_status swap_area_init(loom_swap_area *a, uint64_t space_bytes, size_t slot_bytes, loom_error *err) {
    *a = (loom_swap_area){.slot_bytes = slot_bytes};
    if (slot_bytes == 0 || space_bytes < slot_bytes) return LOOM_OK;
    uint64_t n = space_bytes / slot_bytes;
    if (n > INT32_MAX) n = INT32_MAX;
    a->data = malloc((size_t)n * slot_bytes);
    a->free_stack = malloc((size_t)n * sizeof *a->free_stack);
    if (!a->data || !a->free_stack) {
        swap_area_destroy(a);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "cannot allocate %llu bytes of swap space",
                         (unsigned long long)(n * slot_bytes));
    }
    a->n_slots = a->n_free = (int32_t)n;
    for (int32_t i = 0; i < a->n_slots; i++) a->free_stack[i] = a->n_slots - 1 - i;
    return LOOM_OK;
}

void swap_area_destroy(loom_swap_area *a) {
    free(a->data);
    free(a->free_stack);
    *a = (loom_swap_area){0};
}

int swap_area_take(loom_swap_area *a, int32_t n, int32_t *slots) {
    if (n > a->n_free) return -1;
    for (int32_t i = 0; i < n; i++) slots[i] = a->free_stack[--a->n_free];
    return 0;
}

void swap_area_give_back(loom_swap_area *a, const int32_t *slots, int32_t n) {
    for (int32_t i = 0; i < n; i++) a->free_stack[a->n_free++] = slots[i];
}
