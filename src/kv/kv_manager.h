/* The one KV manager: a block pool (block_manager.h) plus what every user of it does to run a step, so the
 * engine (through the scheduler) and the low-level sequence API (loom_decode) grow tables, copy shared
 * blocks before writing them and address KV slots the same way. Block data is never touched here: copies
 * (copy-on-write) and swaps go through a kv_mover, implemented by whoever owns the KV storage (the
 * context; a fake in tests). */
#ifndef LOOM_KV_KV_MANAGER_H
#define LOOM_KV_KV_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "kv/block_manager.h"

typedef struct kv_mover {
    void *ctx;
    size_t block_bytes; /* K+V of one block, all layers: the size of a swap slot */
    void (*copy_block)(void *ctx, int32_t src, int32_t dst);
    void (*read_block)(void *ctx, int32_t block, void *dst);
    void (*write_block)(void *ctx, int32_t block, const void *src);
} kv_mover;

typedef struct kv_manager {
    loom_block_manager *bm;
    kv_mover mover;
    int32_t block_size;
} kv_manager;

loom_status kvm_init(kv_manager *m, int32_t n_blocks, int32_t block_size, int enable_prefix_caching,
                     const kv_mover *mover, loom_error *err);
void kvm_destroy(kv_manager *m);

/* Grows t to hold tokens [0, end) and makes private (copy-on-write through the mover) every block that
 * positions [first, end) will write. 0 on success; -1 when the pool is short (blocks already allocated
 * stay with the table). */
int kvm_reserve(kv_manager *m, loom_block_table *t, int32_t first, int32_t end);

/* slots[i] = the KV slot (block * block_size + offset) of position start + i, i < n; t holds them. */
void kvm_slots(const kv_manager *m, const loom_block_table *t, int32_t start, int32_t n, int32_t *slots);

#endif
