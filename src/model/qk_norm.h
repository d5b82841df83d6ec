/* RMSNorm of the q and k projections before RoPE (loom_config.qk_norm): per head over head_dim
 * (Qwen3-MoE), or over the whole projection (OLMoE), whose heads tensor parallelism spreads over the
 * ranks: their sums of squares are then all-reduced before scaling. Kept apart from the attention block
 * so the dense families that have q/k norms can share it. */
#ifndef LOOM_MODEL_QK_NORM_H
#define LOOM_MODEL_QK_NORM_H

#include "kernels/backend.h"
#include "model/model.h"
#include "parallel/comm.h"

/* q [n][local q_dim] and k [n][local kv_dim] normed in place with layer l's weights; sums: [2][n]
 * scratch (whole-projection norms only). tp: the tensor-parallel group, NULL without. */
void loom_qk_norm_apply(const loom_model *m, loom_backend *be, int32_t l, float *q, float *k, int32_t n, float *sums,
                        loom_comm *tp);

#endif
