/* KV storage for every layer, in one allocation of n_blocks blocks, addressed by
 * slot = block * block_size + offset. Block-major, so one block's KV over all layers is contiguous and
 * self-contained (copy-on-write and swapping move a block with one memcpy):
 *   block b: for each layer: K [block_size][kv_dim] elems, V [block_size][kv_dim] elems, then
 *     int8: K scales [kv_dim] f16, K zeros [kv_dim] f16 (one per channel for the block), V scales
 *           [n_kv_heads][block_size] f16, V zeros likewise (kv/kv_int8.h), then padding to a whole number
 *           of bytes per token: ceil(4 x kv_dim / block_size) x block_size - 4 x kv_dim bytes (none for
 *           power-of-two block sizes up to 4 x kv_dim);
 *     fp8:  K scales [block_size][n_kv_heads] f32, V scales likewise.
 * Element types (loom_kv_dtype): f32, f16, bf16, int8 (asymmetric, x = scale x q + zero: keys per channel
 * over the block, their ranges widened as the block fills; values per token and KV head; kv/kv_int8.h)
 * and fp8 e4m3 (x = scale x fp8, scale = amax/448 per token and KV head). */
#ifndef LOOM_KV_KV_STORE_H
#define LOOM_KV_KV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct loom_kv_store {
    int32_t n_layers, n_blocks, block_size, n_kv_heads, head_dim, kv_dim;
    loom_kv_dtype dtype;
    size_t elem_bytes;  /* bytes of one K or V element */
    size_t layer_bytes; /* one layer's K, V (and scales) within a block */
    size_t block_bytes; /* n_layers x layer_bytes */
    uint8_t *data;      /* [n_blocks][block_bytes] */
    void *map;          /* the mapping data lies in (kv_store_destroy unmaps it) */
    size_t map_bytes;
} loom_kv_store;

/* One layer's view: pointers into block 0; block b is at + b * block_stride_bytes. */
typedef struct loom_kv_layer {
    uint8_t *k, *v;               /* [block_size][kv_dim] elems per block */
    uint8_t *k_scales, *v_scales; /* per block: the scales (int8: then the zeros) above; NULL for float types */
    size_t block_stride_bytes;
} loom_kv_layer;

/* Bytes of K+V of one token, the per-block parts spread over the block's tokens:
 *   layers x (2 x kv_heads x head_dim x dtype bytes + kv_heads x per-token scale bytes
 *             + ceil(kv_heads x head_dim x per-block channel bytes / block_size))
 * per-token scale bytes: int8 4 (the V parameter), fp8 8 (K and V scales), floats 0;
 * per-block channel bytes: int8 4 (the K parameter of each channel), others 0.
 * The block size times this is exactly the bytes of one block (loom_kv_store.block_bytes). */
size_t kv_bytes_per_token(int32_t n_layers, int32_t n_kv_heads, int32_t head_dim, loom_kv_dtype t, int32_t block_size);

loom_status kv_store_init(loom_kv_store *s, int32_t n_layers, int32_t n_kv_heads, int32_t head_dim, loom_kv_dtype dtype,
                          int32_t n_blocks, int32_t block_size, loom_error *err);
void kv_store_destroy(loom_kv_store *s);
/* Bytes allocated for KV: n_blocks x block_bytes. */
size_t kv_store_bytes(const loom_kv_store *s);
loom_kv_layer kv_layer_view(const loom_kv_store *s, int32_t layer);
/* Encodes one token's K and V rows ([kv_dim] float32 each) into slot `slot` of layer `layer`. Tokens of a
 * block are written in order (int8 keys extend the block's channel ranges; offset 0 starts a block). */
void kv_store_write(const loom_kv_store *s, int32_t layer, int64_t slot, const float *k, const float *v);
uint8_t *kv_block(const loom_kv_store *s, int32_t block);

#endif
