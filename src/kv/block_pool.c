#include "kv/block_pool.h"

#include <stdlib.h>
#include <string.h>

loom_status loom_block_pool_init(loom_block_pool *p, int32_t n_blocks, int32_t block_size, loom_error *err) {
    memset(p, 0, sizeof *p);
    if (n_blocks <= 0 || block_size <= 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "KV pool needs blocks");
    p->free_stack = malloc((size_t)n_blocks * sizeof *p->free_stack);
    if (!p->free_stack) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for KV block pool");
    p->n_blocks = n_blocks;
    p->block_size = block_size;
    /* lowest ids on top of the stack */
    for (int32_t i = 0; i < n_blocks; i++) p->free_stack[i] = n_blocks - 1 - i;
    p->n_free = n_blocks;
    return LOOM_OK;
}

void loom_block_pool_destroy(loom_block_pool *p) {
    free(p->free_stack);
    memset(p, 0, sizeof *p);
}

int32_t loom_block_pool_alloc(loom_block_pool *p) { return p->n_free > 0 ? p->free_stack[--p->n_free] : -1; }

void loom_block_pool_release(loom_block_pool *p, int32_t block) { p->free_stack[p->n_free++] = block; }
