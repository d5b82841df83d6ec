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
    int32_t layer_begin, layer_end;   /* layers held here: stages get equal shares of the weights a
                                       * token passes through, the LM head counted on the last stage */
    int32_t head_begin, n_heads;      /* query heads [head_begin, head_begin + n_heads) */
    int32_t kv_head_begin, n_kv_heads;
    int32_t ffn_begin, ffn_size;      /* intermediate (gate/up rows, down columns) */
    int32_t vocab_begin, vocab_size;  /* rows of tok_embed / lm_head; the last tensor rank may have fewer
                                       * (vocab split as ceil(vocab / T)); only on stage 0 (embed) and the
                                       * last stage (head), but computed for all */
} loom_shard;

/* The whole model (T = P = 1). */
loom_shard loom_shard_whole(const loom_config *c);
/* Rank (tp_rank, pp_rank) of a T x P layout. With fewer KV heads than T (T a multiple of n_kv_heads), each
 * rank holds the one KV head its query heads read, replicated on T / n_kv_heads ranks. Fails, naming what
 * does not divide, when n_heads is not a multiple of T, n_kv_heads neither a multiple nor a divisor of T,
 * intermediate_size / T is not a whole number, or P > n_layers. */
loom_status loom_shard_init(loom_shard *s, const loom_config *c, int32_t tp_rank, int32_t tp_size, int32_t pp_rank,
                            int32_t pp_size, loom_error *err);
int loom_shard_is_whole(const loom_shard *s);
int loom_shard_has_layer(const loom_shard *s, int32_t layer);
int loom_shard_first_stage(const loom_shard *s);
int loom_shard_last_stage(const loom_shard *s);
/* The config this rank computes with: n_heads, n_kv_heads, intermediate_size and vocab_size replaced by
 * the local counts (hidden_size, head_dim, n_layers unchanged). */
loom_config loom_shard_local_config(const loom_shard *s, const loom_config *c);

#endif
