/* CPU kernels of the mixture-of-experts FFN around the experts' matmuls (backend.h: moe_route,
 * moe_combine, add_sigmoid_gated), each split over the thread pool by tokens. */
#ifndef LOOM_KERNELS_CPU_MOE_OPS_H
#define LOOM_KERNELS_CPU_MOE_OPS_H

#include <stdint.h>

#include "core/thread_pool.h"

void cpu_moe_route(loom_pool *pool, const float *logits, int64_t n_tok, int32_t n_experts, int32_t top_k,
                   int renormalize, int32_t *ids, float *weights);
void cpu_moe_combine(loom_pool *pool, float *y, const float *x, const float *weights, int64_t n_tok, int32_t top_k,
                     int64_t dim);
void cpu_add_sigmoid_gated(loom_pool *pool, float *y, const float *x, const float *gate, int64_t n_tok, int64_t dim);

#endif
