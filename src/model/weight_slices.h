/* Which part of which checkpoint tensor a shard (model/shard.h) holds, as one list used both to bind the
 * weights (weights.c) and to count a shard's bytes without loading any data (loom_model_shard_info).
 *   q/k/v weights and biases   rows of this rank's heads / KV heads
 *   gate/up                    rows [ffn_begin, +ffn_size)
 *   o_proj                     columns [head_begin x head_dim, +n_heads x head_dim)
 *   down_proj                  columns [ffn_begin, +ffn_size)
 *   layer norms                whole, in the stage's layers only
 *   tok_embed                  rows [vocab_begin, +vocab_size) on the first stage, and on the last stage
 *                              too when the embeddings are tied (it is the LM head there)
 *   lm_head (untied)           rows [vocab_begin, +vocab_size) on the last stage
 *   final norm                 whole, on the last stage
 *   q/k norms                  whole per head, or this rank's heads' elements over the whole projection
 *   MoE router                 whole (replicated)
 *   experts                    tensor parallel: gate/up rows [expert_ffn_begin, +expert_ffn_size), down
 *                              columns, of every expert; expert parallel: the rank's experts, whole
 *   shared expert (+ gate)     split like the dense MLP (its gate whole)
 * A range that covers the whole dimension is LOOM_SLICE_WHOLE, so a whole model binds as it always did. */
#ifndef LOOM_MODEL_WEIGHT_SLICES_H
#define LOOM_MODEL_WEIGHT_SLICES_H

#include "model/model.h"

typedef enum loom_slice_axis { LOOM_SLICE_WHOLE = 0, LOOM_SLICE_ROWS, LOOM_SLICE_COLS } loom_slice_axis;

typedef struct loom_weight_slice {
    char name[160];     /* checkpoint name */
    loom_tensor *dst;   /* its place in the weights struct; NULL when only counting */
    int is_vector;      /* a norm or bias of `cols` elements (kept as float32); ROWS slices its elements */
    int is_norm;        /* an RMSNorm weight (loom_config.norm_weight_offset is added to it) */
    int optional;       /* may be absent (q/k/v biases without attention_bias) */
    int64_t rows, cols; /* the full checkpoint shape the tensor must have (rows unused for a vector) */
    loom_slice_axis axis;
    int64_t begin, count;  /* rows or columns kept along axis */
    int64_t n_slabs, slab; /* n_slabs > 0: the tensor stacks n_slabs matrices, [n_slabs][rows][cols] (one per
                            * expert, GGUF's *_exps), and this slice lies in matrix `slab` */
} loom_weight_slice;

typedef loom_status (*loom_weight_slice_fn)(void *ctx, const loom_weight_slice *slice);

/* Calls fn for every weight shard s holds, stopping at the first error. w: the weights the slices' dst
 * point into (w->layers allocated for every layer, with moe.experts [n_experts] in MoE models), or NULL.
 * t: the checkpoint's tensors, only looked at to tell stacked experts (GGUF's ffn_*_exps) from
 * per-expert matrices. */
loom_status shard_for_each_weight(const loom_config *c, const loom_shard *s, const loom_tensor_table *t,
                                  loom_tensor_naming naming, loom_weights *w, loom_weight_slice_fn fn, void *ctx);

/* Checks checkpoint tensor e against the slice: the full shape, a dtype loom computes with, and, for
 * a column slice of a block-quantized dtype, that the columns start and end on block boundaries
 * (tp_size only names the cause in that error). *kept_bytes = bytes of the kept part as stored. */
loom_status weight_slice_check(const loom_weight_slice *slice, const loom_tensor_entry *e, const char *source,
                               int32_t tp_size, size_t *kept_bytes, loom_error *err);

/* The rows [*row_begin, +*n_rows) and columns [*col_begin, +*n_cols) of the kept part (a vector is one
 * row of cols elements). */
void weight_slice_bounds(const loom_weight_slice *slice, int64_t *row_begin, int64_t *n_rows, int64_t *col_begin,
                         int64_t *n_cols);

/* Bytes of the checkpoint slices shard s holds, as stored, from the tensor table alone (no weight data
 * is read): what binding that shard adds up to in loom_model_info.shard_weight_bytes. Fails as binding
 * would (a missing tensor, a wrong shape, a misaligned block split). */
loom_status shard_weight_bytes(const loom_tensor_table *t, loom_tensor_naming naming, const loom_config *c,
                               const loom_shard *s, const char *source, uint64_t *bytes, loom_error *err);

#endif
