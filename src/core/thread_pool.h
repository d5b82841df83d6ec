/* A persistent pool of worker threads for data-parallel kernels.
 * pool_run cuts [0, n_items) into units of `grain` items; the caller and each worker own a
 * contiguous share of them and steal single units from the others' shares once theirs is done, and the
 * call returns when every unit is done. Workers spin briefly before sleeping, so the many small ops of
 * a decode step do not pay a wake-up each. Which thread runs a unit never changes what fn computes for
 * it: fn must make each item's result independent of how the range is cut. */
#ifndef LOOM_CORE_THREAD_POOL_H
#define LOOM_CORE_THREAD_POOL_H

#include <stdint.h>

#include "core/error.h"

typedef struct loom_pool loom_pool;

/* fn(ctx, begin, end, thread_index) processes items [begin, end). */
typedef void (*loom_pool_fn)(void *ctx, int64_t begin, int64_t end, int thread_index);

loom_status pool_create(int n_threads, loom_pool **out, loom_error *err);
void pool_free(loom_pool *pool);
int pool_size(const loom_pool *pool);
/* Runs fn over [0, n_items) one unit of `grain` items per call (the last may be shorter); with one
 * thread, or n_items <= grain, a single call covers everything. */
void pool_run(loom_pool *pool, int64_t n_items, int64_t grain, loom_pool_fn fn, void *ctx);

/* Number of CPUs this process may run on. */
int cpu_count(void);

#endif
