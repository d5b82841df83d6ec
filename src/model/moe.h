/* The mixture-of-experts FFN of Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE, over one ragged batch:
 *   probabilities = softmax(router . x); each token's top_k experts (renormalised for Mixtral and
 *   norm_topk_prob models), y = sum_k p_k * down_e(silu(gate_e x) * up_e x)
 *   + sigmoid(shared_gate . x) * shared_expert(x) (Qwen2-MoE)
 * Batched by expert: the tokens routed to an expert are gathered and its matrices run once over them;
 * each token's outputs are then added in the order of its top-k list, so a token's result is the same
 * alone or batched. Under tensor parallelism every rank runs every expert's slice, under expert
 * parallelism only its own experts (the others' slots weigh 0 here): either way y is this rank's partial
 * sum, which the caller all-reduces once with the shared expert's part. */
#ifndef LOOM_MODEL_MOE_H
#define LOOM_MODEL_MOE_H

#include "kernels/backend.h"
#include "model/model.h"

typedef struct loom_moe_scratch loom_moe_scratch;

/* Scratch of the MoE FFN for up to max_tokens tokens (cfg: the rank's local config). */
size_t moe_scratch_bytes(const loom_config *cfg, int32_t max_tokens);
loom_status moe_scratch_create(const loom_config *cfg, int32_t max_tokens, loom_moe_scratch **out, loom_error *err);
void moe_scratch_free(loom_moe_scratch *s);

/* y [n][hidden] = this rank's part of layer l's MoE FFN of xn [n][hidden]; gate / up: [n][ffn] scratch
 * with ffn >= the local expert and shared expert sizes. */
void moe_ffn(const loom_model *m, loom_backend *be, loom_moe_scratch *s, int32_t l, const float *xn, int32_t n,
             float *gate, float *up, float *y);

#endif
