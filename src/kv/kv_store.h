/* KV storage for every layer, addressed by slot = block * block_size + offset.
 * K and V of layer l: [n_blocks][block_size][kv_dim] float32 each. */
#ifndef LOOM_KV_KV_STORE_H
#define LOOM_KV_KV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct loom_kv_store {
    int32_t n_layers, n_blocks, block_size, kv_dim;
    float *k; /* [n_layers][n_blocks * block_size][kv_dim] */
    float *v;
} loom_kv_store;

/* Bytes of K+V for n tokens: 2 × layers × kv_dim × tokens × 4. */
size_t loom_kv_bytes_per_token(int32_t n_layers, int32_t kv_dim);
loom_status loom_kv_store_init(loom_kv_store *s, int32_t n_layers, int32_t kv_dim, int32_t n_blocks,
                               int32_t block_size, loom_error *err);
void loom_kv_store_destroy(loom_kv_store *s);
float *loom_kv_layer_k(const loom_kv_store *s, int32_t layer);
float *loom_kv_layer_v(const loom_kv_store *s, int32_t layer);

#endif
