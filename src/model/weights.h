/* The weights of a Llama-family model as tensor views, llama2.c style: one struct per layer.
 * Matrices are [out_features][in_features] (row = one output); norms and biases are float32 vectors.
 * Shapes below use the config the shard computes with (loom_model.local: n_heads, n_kv_heads,
 * intermediate and vocab are this rank's counts; all of the model without parallelism). A pipeline
 * stage holds only its layers (the others stay zeroed: data NULL), tok_embed on the first stage (and on
 * the last when tied, as its LM head), lm_head and final_norm on the last stage (weight_slices.h). */
#ifndef LOOM_MODEL_WEIGHTS_H
#define LOOM_MODEL_WEIGHTS_H

#include "core/tensor.h"
#include "model/config.h"

/* One SwiGLU expert: [ffn][hidden] gate and up, [hidden][ffn] down, ffn = this rank's columns of it. */
typedef struct loom_expert_weights {
    loom_tensor gate, up, down;
} loom_expert_weights;

/* A mixture-of-experts FFN (cfg.moe, model/moe.h). Under expert parallelism a rank binds only its experts
 * [shard.expert_begin, +shard.n_local_experts); the others stay zeroed (data NULL). */
typedef struct loom_moe_weights {
    loom_tensor router;           /* [n_experts][hidden], replicated on every rank */
    loom_expert_weights *experts; /* [n_experts], owned by the model */
    loom_expert_weights shared;   /* the shared expert (Qwen2-MoE), [shared ffn] slices; data NULL without */
    loom_tensor shared_gate;      /* [1][hidden]: its sigmoid gate; data NULL without */
} loom_moe_weights;

typedef struct loom_layer_weights {
    loom_tensor attn_norm;  /* [hidden] */
    loom_tensor wq;         /* [n_heads*head_dim][hidden] */
    loom_tensor wk;         /* [n_kv_heads*head_dim][hidden] */
    loom_tensor wv;         /* [n_kv_heads*head_dim][hidden] */
    loom_tensor bq, bk, bv; /* [q_dim], [kv_dim], [kv_dim]; data == NULL without attention bias */
    loom_tensor wo;         /* [hidden][n_heads*head_dim] */
    loom_tensor ffn_norm;   /* [hidden] */
    loom_tensor w_gate;     /* [intermediate][hidden] */
    loom_tensor w_up;       /* [intermediate][hidden] */
    loom_tensor w_down;     /* [hidden][intermediate] */
    /* the newer dense families' extra norms (data == NULL where the family has none; attn_norm and
     * ffn_norm are NULL for LOOM_NORMS_POST): */
    loom_tensor q_norm, k_norm;                /* [head_dim] (LOOM_QK_NORM_HEAD) or [q_dim], [kv_dim] (_FULL) */
    loom_tensor attn_post_norm, ffn_post_norm; /* [hidden], on o_proj's / down_proj's output */
    loom_moe_weights moe;                      /* MoE models (w_gate / w_up / w_down then unused) */
} loom_layer_weights;

/* The layer's weight matrices (not norms or biases), for passes over all of them. */
#define LOOM_LAYER_MATRICES 7
static inline void loom_layer_matrices(loom_layer_weights *L, loom_tensor *out[LOOM_LAYER_MATRICES]) {
    loom_tensor *mats[LOOM_LAYER_MATRICES] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    for (int i = 0; i < LOOM_LAYER_MATRICES; i++) out[i] = mats[i];
}

/* The expert matrices a MoE layer holds (routed experts of this rank, then the shared expert), for the
 * same passes: up to LOOM_MOE_MATRICES(n_experts) pointers into out, returns how many. The router and
 * the shared expert's gate are left out: they stay in their stored precision (routing decisions). */
#define LOOM_MOE_MATRICES(n_experts) (3 * ((size_t)(n_experts) + 1))
static inline size_t loom_moe_matrices(loom_moe_weights *w, int32_t n_experts, loom_tensor **out) {
    size_t n = 0;
    for (int32_t e = 0; w->experts && e <= n_experts; e++) {
        loom_expert_weights *x = e < n_experts ? &w->experts[e] : &w->shared;
        loom_tensor *mats[3] = {&x->gate, &x->up, &x->down};
        for (int i = 0; i < 3; i++)
            if (mats[i]->data) out[n++] = mats[i];
    }
    return n;
}

typedef struct loom_weights {
    loom_tensor tok_embed;      /* [vocab][hidden] */
    loom_layer_weights *layers; /* [n_layers], owned */
    loom_tensor final_norm;     /* [hidden] */
    loom_tensor lm_head;        /* [vocab][hidden]; a copy of tok_embed's view when tied */
    float *rope_inv_freq;       /* [head_dim/2], owned: theta^(-2i/d), rescaled as configured */
    float *rope_inv_freq_local; /* [head_dim/2] of the sliding layers when they have their own base
                                  * (Gemma 3), else NULL */
} loom_weights;

#endif
