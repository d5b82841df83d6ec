/* What the engine (and only the engine) uses of a loom_context beyond loom.h: a forward over a batch
 * whose KV slots and block tables its KV manager already chose, and the block moves that manager needs
 * for copy-on-write and swapping. */
#ifndef LOOM_ENGINE_CONTEXT_INTERNAL_H
#define LOOM_ENGINE_CONTEXT_INTERNAL_H

#include "core/thread_pool.h"
#include "kv/kv_manager.h"
#include "loom.h"
#include "model/forward.h"

/* Runs the forward; afterwards loom_get_logits(ctx, i) gives row i of the b->n_logits rows.
 * The caller guarantees slots and tables are consistent with its KV manager. */
loom_status context_forward(loom_context *ctx, const loom_forward_batch *b, loom_error *err);

/* fn over [0, n_items) on the context's kernel threads (pool_run's contract), between forwards. */
void context_parallel_for(loom_context *ctx, int64_t n_items, int64_t grain, loom_pool_fn fn, void *arg);

int32_t context_num_kv_blocks(const loom_context *ctx);
int32_t context_block_size(const loom_context *ctx);
/* The block moves of ctx's KV (all layers, every rank of a sharded model): copy, and read / write one
 * block to / from a host buffer of block_bytes bytes (swap preemption). */
kv_mover ctx_kv_mover(loom_context *ctx);

#endif
