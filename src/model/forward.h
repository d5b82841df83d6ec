/* The forward pass over one ragged batch: tokens of many sequences packed together (no padding),
 * each with its position, the KV slot it writes, and its sequence's block table. Prefill, decode and
 * mixed steps are all the same call. */
#ifndef LOOM_MODEL_FORWARD_H
#define LOOM_MODEL_FORWARD_H

#include "kernels/backend.h"
#include "kv/kv_store.h"
#include "model/model.h"
#include "parallel/comm.h"

typedef struct loom_forward_batch {
    int32_t n_tokens;
    const int32_t *tokens;       /* [n_tokens] */
    const int32_t *pos;          /* [n_tokens] position within its sequence */
    const int32_t *seq_of_token; /* [n_tokens] row of block_tables */
    const int32_t *slots;        /* [n_tokens] KV slot = block * block_size + offset */
    const int32_t *block_tables; /* [n_seqs][max_blocks_per_seq] */
    int32_t max_blocks_per_seq;
    int32_t n_logits;
    const int32_t *logit_tokens; /* [n_logits] batch indices whose logits are wanted */
} loom_forward_batch;

/* Activation buffers for up to max_tokens tokens per forward. */
typedef struct loom_workspace {
    int32_t max_tokens;
    float *x;                     /* [max_tokens][hidden] residual stream */
    float *xn;                    /* [max_tokens][hidden] normed input of a sub-layer */
    float *q;                     /* [max_tokens][q_dim] */
    float *k, *v;                 /* [max_tokens][kv_dim] */
    float *att;                   /* [max_tokens][q_dim] attention output */
    float *gate;                  /* [max_tokens][ffn]: intermediate, or the largest expert FFN in MoE models */
    float *up;                    /* [max_tokens][ffn] */
    float *proj;                  /* [max_tokens][hidden] output of o_proj / down_proj before the residual add */
    struct loom_moe_scratch *moe; /* mixture-of-experts models (model/moe.h); NULL when dense */
} loom_workspace;

size_t workspace_bytes(const loom_config *cfg, int32_t max_tokens);
loom_status workspace_init(loom_workspace *ws, const loom_config *cfg, int32_t max_tokens, loom_error *err);
void workspace_destroy(loom_workspace *ws);

/* Runs the whole model; writes logits [n_logits][vocab] to logits. The caller has validated the batch. */
void forward_run(const loom_model *m, loom_backend *be, const loom_kv_store *kv, loom_workspace *ws,
                 const loom_forward_batch *b, float *logits);

/* The same in the three parts a sharded model runs (src/model/dist_forward.c): ws->x = embedding of
 * the tokens (first pipeline stage); the shard's layers over ws->x (its KV store holds only those layers,
 * store layer 0 = shard.layer_begin); logits [n_logits][shard vocab_size] of this rank's vocab rows (last
 * stage). tp is this rank's tensor-parallel group (NULL without tensor parallelism): the partial sums of
 * the vocab-split embedding, o_proj and down_proj are all-reduced over it. */
void forward_embed(const loom_model *m, loom_backend *be, loom_workspace *ws, const loom_forward_batch *b,
                   loom_comm *tp);
void forward_layers(const loom_model *m, loom_backend *be, const loom_kv_store *kv, loom_workspace *ws,
                    const loom_forward_batch *b, loom_comm *tp);
void forward_head(const loom_model *m, loom_backend *be, loom_workspace *ws, const loom_forward_batch *b,
                  float *logits);

#endif
