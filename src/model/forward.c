/* The Llama-family forward pass, top to bottom:
 *   x = embed(tokens)
 *   per layer: x += o_proj(attention(rope(q), rope(k), v))   with q,k,v = proj(rmsnorm(x))
 *              x += down(silu(gate(rmsnorm(x))) * up(rmsnorm(x)))
 *   logits = lm_head(rmsnorm(x)) for the tokens that want them */
#include "model/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t loom_workspace_bytes(const loom_config *c, int32_t max_tokens) {
    size_t per_token = 3 * (size_t)c->hidden_size + 2 * (size_t)loom_config_q_dim(c) +
                       2 * (size_t)loom_config_kv_dim(c) + 2 * (size_t)c->intermediate_size;
    return per_token * (size_t)max_tokens * sizeof(float);
}

loom_status loom_workspace_init(loom_workspace *ws, const loom_config *c, int32_t max_tokens, loom_error *err) {
    memset(ws, 0, sizeof *ws);
    ws->max_tokens = max_tokens;
    size_t n = (size_t)max_tokens;
    ws->x = malloc(n * c->hidden_size * sizeof(float));
    ws->xn = malloc(n * c->hidden_size * sizeof(float));
    ws->proj = malloc(n * c->hidden_size * sizeof(float));
    ws->q = malloc(n * loom_config_q_dim(c) * sizeof(float));
    ws->att = malloc(n * loom_config_q_dim(c) * sizeof(float));
    ws->k = malloc(n * loom_config_kv_dim(c) * sizeof(float));
    ws->v = malloc(n * loom_config_kv_dim(c) * sizeof(float));
    ws->gate = malloc(n * c->intermediate_size * sizeof(float));
    ws->up = malloc(n * c->intermediate_size * sizeof(float));
    if (!ws->x || !ws->xn || !ws->proj || !ws->q || !ws->att || !ws->k || !ws->v || !ws->gate || !ws->up) {
        loom_workspace_destroy(ws);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for activations of %d tokens", max_tokens);
    }
    return LOOM_OK;
}

void loom_workspace_destroy(loom_workspace *ws) {
    free(ws->x);
    free(ws->xn);
    free(ws->proj);
    free(ws->q);
    free(ws->att);
    free(ws->k);
    free(ws->v);
    free(ws->gate);
    free(ws->up);
    memset(ws, 0, sizeof *ws);
}

/* Encodes this step's K and V rows into their slots of the layer's cache (in the cache's dtype). */
static void store_kv(const loom_kv_store *kv, int32_t layer, const loom_workspace *ws, const loom_forward_batch *b) {
    for (int32_t t = 0; t < b->n_tokens; t++)
        loom_kv_store_write(kv, layer, b->slots[t], ws->k + (size_t)t * kv->kv_dim, ws->v + (size_t)t * kv->kv_dim);
}

static void attention_block(const loom_model *m, loom_backend *be, const loom_kv_store *kv, loom_workspace *ws,
                            const loom_forward_batch *b, int32_t l) {
    const loom_config *c = &m->cfg;
    const loom_layer_weights *L = &m->w.layers[l];
    const loom_backend_ops *op = be->ops;
    int32_t n = b->n_tokens, q_dim = loom_config_q_dim(c), kv_dim = loom_config_kv_dim(c);

    op->rmsnorm(be, ws->xn, ws->x, &L->attn_norm, c->rms_norm_eps, n, c->hidden_size);
    float *qkv[] = {ws->q, ws->k, ws->v};
    const loom_tensor *wqkv[] = {&L->wq, &L->wk, &L->wv};
    op->matmul_fused(be, 3, qkv, wqkv, ws->xn, n);
    if (L->bq.data) {
        op->add_bias(be, ws->q, &L->bq, n, q_dim);
        op->add_bias(be, ws->k, &L->bk, n, kv_dim);
        op->add_bias(be, ws->v, &L->bv, n, kv_dim);
    }
    int interleaved = c->rope_layout == LOOM_ROPE_INTERLEAVED;
    op->rope(be, ws->q, b->pos, n, c->n_heads, c->head_dim, m->w.rope_inv_freq, interleaved);
    op->rope(be, ws->k, b->pos, n, c->n_kv_heads, c->head_dim, m->w.rope_inv_freq, interleaved);
    store_kv(kv, l, ws, b);

    loom_kv_layer cache = loom_kv_layer_view(kv, l);
    loom_attention_args args = {
        .q = ws->q, .out = ws->att, .k_cache = cache.k, .v_cache = cache.v, .k_scales = cache.k_scales,
        .v_scales = cache.v_scales, .block_stride_bytes = cache.block_stride_bytes, .kv_dtype = kv->dtype,
        .pos = b->pos, .seq_of_token = b->seq_of_token, .block_tables = b->block_tables,
        .max_blocks_per_seq = b->max_blocks_per_seq, .block_size = kv->block_size, .n_tokens = n,
        .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads, .head_dim = c->head_dim,
        .scale = 1.0f / sqrtf((float)c->head_dim),
    };
    op->attention(be, &args);
    op->matmul(be, ws->proj, &L->wo, ws->att, n);
    op->add(be, ws->x, ws->proj, (int64_t)n * c->hidden_size);
}

static void mlp_block(const loom_model *m, loom_backend *be, loom_workspace *ws, int32_t n, int32_t l) {
    const loom_config *c = &m->cfg;
    const loom_layer_weights *L = &m->w.layers[l];
    const loom_backend_ops *op = be->ops;
    op->rmsnorm(be, ws->xn, ws->x, &L->ffn_norm, c->rms_norm_eps, n, c->hidden_size);
    float *gate_up[] = {ws->gate, ws->up};
    const loom_tensor *w_gate_up[] = {&L->w_gate, &L->w_up};
    op->matmul_fused(be, 2, gate_up, w_gate_up, ws->xn, n);
    op->silu_mul(be, ws->gate, ws->gate, ws->up, (int64_t)n * c->intermediate_size);
    op->matmul(be, ws->proj, &L->w_down, ws->gate, n);
    op->add(be, ws->x, ws->proj, (int64_t)n * c->hidden_size);
}

void loom_forward(const loom_model *m, loom_backend *be, const loom_kv_store *kv, loom_workspace *ws,
                  const loom_forward_batch *b, float *logits) {
    const loom_config *c = &m->cfg;
    const loom_backend_ops *op = be->ops;
    op->embed(be, ws->x, &m->w.tok_embed, b->tokens, b->n_tokens);
    for (int32_t l = 0; l < c->n_layers; l++) {
        attention_block(m, be, kv, ws, b, l);
        mlp_block(m, be, ws, b->n_tokens, l);
    }
    /* gather the rows that want logits, then norm + head only those */
    for (int32_t i = 0; i < b->n_logits; i++)
        memmove(ws->xn + (size_t)i * c->hidden_size, ws->x + (size_t)b->logit_tokens[i] * c->hidden_size,
                (size_t)c->hidden_size * sizeof(float));
    op->rmsnorm(be, ws->xn, ws->xn, &m->w.final_norm, c->rms_norm_eps, b->n_logits, c->hidden_size);
    op->matmul(be, logits, &m->w.lm_head, ws->xn, b->n_logits);
}
