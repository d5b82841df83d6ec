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

typedef struct loom_layer_weights {
    loom_tensor attn_norm;   /* [hidden] */
    loom_tensor wq;          /* [n_heads*head_dim][hidden] */
    loom_tensor wk;          /* [n_kv_heads*head_dim][hidden] */
    loom_tensor wv;          /* [n_kv_heads*head_dim][hidden] */
    loom_tensor bq, bk, bv;  /* [q_dim], [kv_dim], [kv_dim]; data == NULL without attention bias */
    loom_tensor wo;          /* [hidden][n_heads*head_dim] */
    loom_tensor ffn_norm;    /* [hidden] */
    loom_tensor w_gate;      /* [intermediate][hidden] */
    loom_tensor w_up;        /* [intermediate][hidden] */
    loom_tensor w_down;      /* [hidden][intermediate] */
    /* the newer dense families' extra norms (data == NULL where the family has none; attn_norm and
     * ffn_norm are NULL for LOOM_NORMS_POST): */
    loom_tensor q_norm, k_norm;                /* [head_dim] (LOOM_QK_NORM_HEAD) or [q_dim], [kv_dim] (_FULL) */
    loom_tensor attn_post_norm, ffn_post_norm; /* [hidden], on o_proj's / down_proj's output */
} loom_layer_weights;

/* The layer's weight matrices (not norms or biases), for passes over all of them. */
#define LOOM_LAYER_MATRICES 7
static inline void loom_layer_matrices(loom_layer_weights *L, loom_tensor *out[LOOM_LAYER_MATRICES]) {
    loom_tensor *mats[LOOM_LAYER_MATRICES] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
    for (int i = 0; i < LOOM_LAYER_MATRICES; i++) out[i] = mats[i];
}

typedef struct loom_weights {
    loom_tensor tok_embed;       /* [vocab][hidden] */
    loom_layer_weights *layers;  /* [n_layers], owned */
    loom_tensor final_norm;      /* [hidden] */
    loom_tensor lm_head;         /* [vocab][hidden]; a copy of tok_embed's view when tied */
    float *rope_inv_freq;        /* [head_dim/2], owned: theta^(-2i/d), rescaled as configured */
    float *rope_inv_freq_local;  /* [head_dim/2] of the sliding layers when they have their own base
                                  * (Gemma 3), else NULL */
} loom_weights;

#endif
