/* A pool of fixed-size KV blocks, allocated once. Blocks are handed out from a free stack and
 * returned when a sequence is cleared. (Reference counts, copy-on-write and prefix caching build on
 * this pool.) The KV storage itself is [n_layers][n_blocks][block_size][kv_dim] float32 for K and V. */
#ifndef LOOM_KV_BLOCK_POOL_H
#define LOOM_KV_BLOCK_POOL_H

#include <stdint.h>

#include "core/error.h"

typedef struct loom_block_pool {
    int32_t n_blocks;
    int32_t block_size;   /* tokens per block */
    int32_t *free_stack;  /* [n_blocks] */
    int32_t n_free;
} loom_block_pool;

loom_status loom_block_pool_init(loom_block_pool *p, int32_t n_blocks, int32_t block_size, loom_error *err);
void loom_block_pool_destroy(loom_block_pool *p);
/* Returns a block id, or -1 when the pool is exhausted. */
int32_t loom_block_pool_alloc(loom_block_pool *p);
void loom_block_pool_release(loom_block_pool *p, int32_t block);

#endif
