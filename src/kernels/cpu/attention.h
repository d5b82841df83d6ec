/* Causal attention of one query token and one head over the paged KV cache, with online softmax
 * (FlashAttention-style: one pass over the keys, never storing the score row). */
#ifndef LOOM_KERNELS_CPU_ATTENTION_H
#define LOOM_KERNELS_CPU_ATTENTION_H

#include "kernels/backend.h"

void loom_cpu_attention_one(const loom_attention_args *a, int32_t token, int32_t head);

#endif
