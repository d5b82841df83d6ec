/* A persistent pool of worker threads for data-parallel kernels.
 * loom_pool_run cuts [0, n_items) into chunks of `grain` items that the caller and the workers
 * claim until none is left, and returns when every chunk is done. Workers spin briefly before
 * sleeping, so the many small ops of a decode step do not pay a wake-up each. */
#ifndef LOOM_CORE_THREAD_POOL_H
#define LOOM_CORE_THREAD_POOL_H

#include <stdint.h>

#include "core/error.h"

typedef struct loom_pool loom_pool;

/* fn(ctx, begin, end, thread_index) processes items [begin, end). */
typedef void (*loom_pool_fn)(void *ctx, int64_t begin, int64_t end, int thread_index);

loom_status loom_pool_create(int n_threads, loom_pool **out, loom_error *err);
void loom_pool_free(loom_pool *pool);
int loom_pool_size(const loom_pool *pool);
/* Runs fn over [0, n_items) in chunks of `grain` items (the last may be shorter). */
void loom_pool_run(loom_pool *pool, int64_t n_items, int64_t grain, loom_pool_fn fn, void *ctx);

/* Number of CPUs this process may run on. */
int loom_cpu_count(void);

#endif
