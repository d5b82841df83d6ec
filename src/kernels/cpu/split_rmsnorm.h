/* RMSNorm of rows split across tensor-parallel ranks (OLMoE's q/k norm over the whole projection, whose
 * heads are spread over the ranks): each rank sums the squares of its part, the ranks add the sums up,
 * then each scales its part (backend.h: sum_squares, rmsnorm_given). Unsplit, the two give exactly
 * rmsnorm's result. */
#ifndef LOOM_KERNELS_CPU_SPLIT_RMSNORM_H
#define LOOM_KERNELS_CPU_SPLIT_RMSNORM_H

#include <stdint.h>

#include "core/thread_pool.h"

void cpu_sum_squares(loom_pool *pool, float *out, const float *x, int64_t n_tok, int64_t dim);
void cpu_rmsnorm_given(loom_pool *pool, float *y, const float *x, const float *weight, const float *sum_squares,
                       int64_t full_dim, float eps, int64_t n_tok, int64_t dim);

#endif
