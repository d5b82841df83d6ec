/* Which part of the model one rank holds (Megatron layout). With tensor parallel size T and pipeline
 * parallel size P, world rank r is tensor rank r % T of pipeline stage r / T.
 *   tensor parallel: q/k/v rows of whole heads (and whole KV heads, or the one a rank's heads read when
 *                    there are fewer KV heads than ranks), gate/up rows, o_proj and down_proj
 *                    input columns, embedding and LM head rows of a vocab range; norms replicated.
 *   pipeline:        layers [layer_begin, layer_end); stage 0 embeds, the last stage has the LM head.
 * A single process has the whole model: T = P = 1. */
#ifndef LOOM_MODEL_SHARD_H
#define LOOM_MODEL_SHARD_H

#include "core/error.h"
#include "model/config.h"

typedef struct loom_shard {
    int32_t tp_rank, tp_size;
    int32_t pp_rank, pp_size;
    int32_t layer_begin, layer_end; /* layers held here: stages get equal shares of the weights a
                                       * token passes through, the LM head counted on the last stage */
    int32_t head_begin, n_heads;    /* query heads [head_begin, head_begin + n_heads) */
    int32_t kv_head_begin, n_kv_heads;
    int32_t ffn_begin, ffn_size;     /* intermediate (gate/up rows, down columns) */
    int32_t vocab_begin, vocab_size; /* rows of tok_embed / lm_head; the last tensor rank may have fewer
                                       * (vocab split as ceil(vocab / T)); only on stage 0 (embed) and the
                                       * last stage (head), but computed for all */
    /* Mixture of experts: this rank holds experts [expert_begin, +n_local_experts), of each the FFN
     * columns [expert_ffn_begin, +expert_ffn_size): under tensor parallelism every expert, split like a
     * dense MLP; under expert parallelism (shard_init_ep) a contiguous share of the
     * experts, whole. The shared expert and the attention stay tensor-parallel either way; the router
     * is replicated. */
    int expert_parallel;
    int32_t expert_begin, n_local_experts;
    int32_t expert_ffn_begin, expert_ffn_size;
    int32_t shared_ffn_begin, shared_ffn_size;
} loom_shard;

/* The whole model (T = P = 1). */
loom_shard shard_whole(const loom_config *c);
/* Rank (tp_rank, pp_rank) of a T x P layout. With fewer KV heads than T (T a multiple of n_kv_heads), each
 * rank holds the one KV head its query heads read, replicated on T / n_kv_heads ranks. Fails, naming what
 * does not divide, when n_heads is not a multiple of T, n_kv_heads neither a multiple nor a divisor of T,
 * intermediate_size / T is not a whole number, or P > n_layers. */
loom_status shard_init(loom_shard *s, const loom_config *c, int32_t tp_rank, int32_t tp_size, int32_t pp_rank,
                       int32_t pp_size, loom_error *err);
/* The same with expert parallelism chosen (--enable-expert-parallel): a mixture-of-experts model's tensor
 * rank r of T holds experts [E r / T, E (r + 1) / T) whole instead of every expert's slice; fails when T
 * exceeds the number of experts. A dense model is split as without it (the flag is kept). */
loom_status shard_init_ep(loom_shard *s, const loom_config *c, int32_t tp_rank, int32_t tp_size, int32_t pp_rank,
                          int32_t pp_size, int expert_parallel, loom_error *err);
int shard_is_whole(const loom_shard *s);
int shard_first_stage(const loom_shard *s);
int shard_last_stage(const loom_shard *s);
/* The config this rank computes with: n_heads, n_kv_heads, intermediate_size, vocab_size and the expert
 * FFN sizes replaced by the local counts (hidden_size, head_dim, n_layers, n_experts unchanged). */
loom_config shard_local_config(const loom_shard *s, const loom_config *c);

#endif
