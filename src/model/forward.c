/* The Llama-family forward pass, top to bottom:
 *   x = embed(tokens)
 *   per layer: x += o_proj(attention(rope(q), rope(k), v))   with q,k,v = proj(rmsnorm(x))
 *              x += down(silu(gate(rmsnorm(x))) * up(rmsnorm(x)))
 *   logits = lm_head(rmsnorm(x)) for the tokens that want them
 * The newer dense families change it where their config says (config.h, the block variants): the
 * embedding scaled (Gemma); q and k RMSNormed before RoPE (Qwen3, Gemma 3: per head; OLMo 2: whole);
 * each sub-layer's output RMSNormed before the residual add, with (Gemma) or without (OLMo 2) the
 * pre-norm; GELU-tanh gates (Gemma); sliding-window layers with their own RoPE base (Gemma 3), other
 * score scales and soft caps (Gemma 2); fused projections are row ranges bound as separate matrices.
 * Mixture-of-experts families replace the MLP with a router over experts (model/moe.c). */
#include "model/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/moe.h"

/* The FFN width the gate / up buffers need: the dense MLP's, or the widest expert's. */
static size_t ffn_width(const loom_config *c) {
    if (!config_is_moe(c)) return (size_t)c->intermediate_size;
    int32_t e = c->moe.expert_intermediate, s = c->moe.shared_intermediate;
    return (size_t)(e > s ? e : s);
}

size_t workspace_bytes(const loom_config *c, int32_t max_tokens) {
    size_t per_token =
        3 * (size_t)c->hidden_size + 2 * (size_t)config_q_dim(c) + 2 * (size_t)config_kv_dim(c) + 2 * ffn_width(c);
    return per_token * (size_t)max_tokens * sizeof(float) + moe_scratch_bytes(c, max_tokens);
}

loom_status workspace_init(loom_workspace *ws, const loom_config *c, int32_t max_tokens, loom_error *err) {
    memset(ws, 0, sizeof *ws);
    ws->max_tokens = max_tokens;
    size_t n = (size_t)max_tokens;
    ws->x = malloc(n * c->hidden_size * sizeof(float));
    ws->xn = malloc(n * c->hidden_size * sizeof(float));
    ws->proj = malloc(n * c->hidden_size * sizeof(float));
    ws->q = malloc(n * config_q_dim(c) * sizeof(float));
    ws->att = malloc(n * config_q_dim(c) * sizeof(float));
    ws->k = malloc(n * config_kv_dim(c) * sizeof(float));
    ws->v = malloc(n * config_kv_dim(c) * sizeof(float));
    ws->gate = malloc(n * ffn_width(c) * sizeof(float));
    ws->up = malloc(n * ffn_width(c) * sizeof(float));
    if (!ws->x || !ws->xn || !ws->proj || !ws->q || !ws->att || !ws->k || !ws->v || !ws->gate || !ws->up) {
        workspace_destroy(ws);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for activations of %d tokens", max_tokens);
    }
    loom_status st = moe_scratch_create(c, max_tokens, &ws->moe, err);
    if (st != LOOM_OK) workspace_destroy(ws);
    return st;
}

void workspace_destroy(loom_workspace *ws) {
    free(ws->x);
    free(ws->xn);
    free(ws->proj);
    free(ws->q);
    free(ws->att);
    free(ws->k);
    free(ws->v);
    free(ws->gate);
    free(ws->up);
    moe_scratch_free(ws->moe);
    memset(ws, 0, sizeof *ws);
}

/* Encodes this step's K and V rows into their slots of the layer's cache (in the cache's dtype). */
static void store_kv(const loom_kv_store *kv, int32_t kv_layer, const loom_workspace *ws, const loom_forward_batch *b) {
    for (int32_t t = 0; t < b->n_tokens; t++)
        kv_store_write(kv, kv_layer, b->slots[t], ws->k + (size_t)t * kv->kv_dim, ws->v + (size_t)t * kv->kv_dim);
}

/* Under tensor parallelism o_proj / down_proj / the embedding give partial sums over this rank's heads,
 * intermediate columns or vocab rows; the group adds them up. */
static void reduce_partial(loom_comm *tp, float *x, size_t n) {
    if (tp) comm_allreduce_sum_f32(tp, x, n);
}

/* The input of a sub-layer: x RMSNormed into xn, or x itself for post-norm-only blocks (OLMo 2). */
static const float *sublayer_input(loom_backend *be, const loom_config *c, loom_workspace *ws, const loom_tensor *norm,
                                   int32_t n) {
    if (!norm->data) return ws->x;
    be->ops->rmsnorm(be, ws->xn, ws->x, norm, c->rms_norm_eps, n, c->hidden_size);
    return ws->xn;
}

/* OLMo 2's q/k norms over whole projections when tensor parallel ranks hold parts of them: the sums of
 * squares of each token's q and k parts are added up over the group (a KV head replicated on R ranks
 * counted once: its sums divided by R), in ws->att before attention writes it. */
static void qk_norm_split(loom_backend *be, const loom_model *m, loom_workspace *ws, const loom_layer_weights *L,
                          int32_t n, loom_comm *tp) {
    const loom_config *c = &m->local, *whole = &m->cfg;
    float *sums = ws->att, kv_replicas = (float)(m->shard.tp_size * c->n_kv_heads) / (float)whole->n_kv_heads;
    be->ops->sum_squares(be, sums, ws->q, n, config_q_dim(c));
    be->ops->sum_squares(be, sums + n, ws->k, n, config_kv_dim(c));
    for (int32_t t = 0; t < n; t++) sums[n + t] /= kv_replicas;
    comm_allreduce_sum_f32(tp, sums, 2 * (size_t)n);
    be->ops->rmsnorm_sums(be, ws->q, ws->q, &L->q_norm, sums, c->rms_norm_eps, n, config_q_dim(c), config_q_dim(whole));
    be->ops->rmsnorm_sums(be, ws->k, ws->k, &L->k_norm, sums + n, c->rms_norm_eps, n, config_kv_dim(c),
                          config_kv_dim(whole));
}

/* q/k RMSNorm before RoPE (Qwen3, Gemma 3: each head over head_dim; OLMo 2: each token's whole row). */
static void qk_norm(loom_backend *be, const loom_model *m, loom_workspace *ws, const loom_layer_weights *L, int32_t n,
                    loom_comm *tp) {
    const loom_config *c = &m->local;
    if (c->qk_norm == LOOM_QK_NORM_FULL && tp) {
        qk_norm_split(be, m, ws, L, n, tp);
        return;
    }
    int per_head = c->qk_norm == LOOM_QK_NORM_HEAD;
    int64_t q_rows = per_head ? (int64_t)n * c->n_heads : n, k_rows = per_head ? (int64_t)n * c->n_kv_heads : n;
    be->ops->rmsnorm(be, ws->q, ws->q, &L->q_norm, c->rms_norm_eps, q_rows, per_head ? c->head_dim : config_q_dim(c));
    be->ops->rmsnorm(be, ws->k, ws->k, &L->k_norm, c->rms_norm_eps, k_rows, per_head ? c->head_dim : config_kv_dim(c));
}

/* Layer l's RoPE table, sliding window and score scale (RoPE's attention factor applies to the scaled
 * table: q and k would each carry it). */
static const float *layer_attention(const loom_model *m, int32_t l, int32_t *window, float *scale) {
    const loom_config *c = &m->cfg;
    int sliding = config_layer_sliding(c, l), local_table = sliding && m->w.rope_inv_freq_local;
    float factor = c->rope_attn_factor > 0 && !local_table ? c->rope_attn_factor : 1.0f;
    *window = sliding ? c->sliding_window : 0;
    *scale = (c->attn_scale > 0 ? c->attn_scale : 1.0f / sqrtf((float)c->head_dim)) * factor * factor;
    return local_table ? m->w.rope_inv_freq_local : m->w.rope_inv_freq;
}

static void attention_block(const loom_model *m, loom_backend *be, const loom_kv_store *kv, loom_workspace *ws,
                            const loom_forward_batch *b, int32_t l, loom_comm *tp) {
    const loom_config *c = &m->local; /* this rank's heads */
    const loom_layer_weights *L = &m->w.layers[l];
    const loom_backend_ops *op = be->ops;
    int32_t n = b->n_tokens, q_dim = config_q_dim(c), kv_dim = config_kv_dim(c);
    int32_t kv_layer = l - m->shard.layer_begin, window;
    float scale;
    const float *inv_freq = layer_attention(m, l, &window, &scale);

    const float *in = sublayer_input(be, c, ws, &L->attn_norm, n);
    float *qkv[] = {ws->q, ws->k, ws->v};
    const loom_tensor *wqkv[] = {&L->wq, &L->wk, &L->wv};
    op->matmul_fused(be, 3, qkv, wqkv, in, n);
    if (L->bq.data) {
        op->add_bias(be, ws->q, &L->bq, n, q_dim);
        op->add_bias(be, ws->k, &L->bk, n, kv_dim);
        op->add_bias(be, ws->v, &L->bv, n, kv_dim);
    }
    if (L->q_norm.data) qk_norm(be, m, ws, L, n, tp);
    int interleaved = c->rope_layout == LOOM_ROPE_INTERLEAVED;
    op->rope(be, ws->q, b->pos, n, c->n_heads, c->head_dim, inv_freq, interleaved);
    op->rope(be, ws->k, b->pos, n, c->n_kv_heads, c->head_dim, inv_freq, interleaved);
    store_kv(kv, kv_layer, ws, b);

    loom_kv_layer cache = kv_layer_view(kv, kv_layer);
    loom_attention_args args = {
        .q = ws->q,
        .out = ws->att,
        .k_cache = cache.k,
        .v_cache = cache.v,
        .k_scales = cache.k_scales,
        .v_scales = cache.v_scales,
        .block_stride_bytes = cache.block_stride_bytes,
        .kv_dtype = kv->dtype,
        .pos = b->pos,
        .seq_of_token = b->seq_of_token,
        .block_tables = b->block_tables,
        .max_blocks_per_seq = b->max_blocks_per_seq,
        .block_size = kv->block_size,
        .n_tokens = n,
        .n_heads = c->n_heads,
        .n_kv_heads = c->n_kv_heads,
        .head_dim = c->head_dim,
        .scale = scale,
        .window = window,
        .softcap = c->attn_softcap,
    };
    op->attention(be, &args);
    op->matmul(be, ws->proj, &L->wo, ws->att, n);
    reduce_partial(tp, ws->proj, (size_t)n * c->hidden_size);
    if (L->attn_post_norm.data)
        op->rmsnorm(be, ws->proj, ws->proj, &L->attn_post_norm, c->rms_norm_eps, n, c->hidden_size);
    op->add(be, ws->x, ws->proj, (int64_t)n * c->hidden_size);
}

static void mlp_block(const loom_model *m, loom_backend *be, loom_workspace *ws, int32_t n, int32_t l, loom_comm *tp) {
    const loom_config *c = &m->local;
    const loom_layer_weights *L = &m->w.layers[l];
    const loom_backend_ops *op = be->ops;
    const float *in = sublayer_input(be, c, ws, &L->ffn_norm, n);
    if (config_is_moe(c)) {
        moe_ffn(m, be, ws->moe, l, in, n, ws->gate, ws->up, ws->proj);
    } else {
        float *gate_up[] = {ws->gate, ws->up};
        const loom_tensor *w_gate_up[] = {&L->w_gate, &L->w_up};
        op->matmul_fused(be, 2, gate_up, w_gate_up, in, n);
        if (c->activation == LOOM_ACT_GELU_TANH)
            op->gelu_tanh_mul(be, ws->gate, ws->gate, ws->up, (int64_t)n * c->intermediate_size);
        else op->silu_mul(be, ws->gate, ws->gate, ws->up, (int64_t)n * c->intermediate_size);
        op->matmul(be, ws->proj, &L->w_down, ws->gate, n);
    }
    reduce_partial(tp, ws->proj, (size_t)n * c->hidden_size);
    if (L->ffn_post_norm.data)
        op->rmsnorm(be, ws->proj, ws->proj, &L->ffn_post_norm, c->rms_norm_eps, n, c->hidden_size);
    op->add(be, ws->x, ws->proj, (int64_t)n * c->hidden_size);
}

void forward_embed(const loom_model *m, loom_backend *be, loom_workspace *ws, const loom_forward_batch *b,
                   loom_comm *tp) {
    const loom_shard *s = &m->shard;
    int32_t hidden = m->cfg.hidden_size;
    if (s->tp_size == 1) {
        be->ops->embed(be, ws->x, &m->w.tok_embed, b->tokens, b->n_tokens);
    } else {
        /* this rank holds vocab rows [vocab_begin, +vocab_size): other tokens get zeros, then the sum */
        for (int32_t t = 0; t < b->n_tokens; t++) {
            int32_t row = b->tokens[t] - s->vocab_begin;
            float *x = ws->x + (size_t)t * hidden;
            if (row >= 0 && row < s->vocab_size) be->ops->embed(be, x, &m->w.tok_embed, &row, 1);
            else memset(x, 0, (size_t)hidden * sizeof(float));
        }
        reduce_partial(tp, ws->x, (size_t)b->n_tokens * hidden);
    }
    if (m->cfg.embed_scale > 0) be->ops->scale(be, ws->x, m->cfg.embed_scale, (int64_t)b->n_tokens * hidden);
}

void forward_layers(const loom_model *m, loom_backend *be, const loom_kv_store *kv, loom_workspace *ws,
                    const loom_forward_batch *b, loom_comm *tp) {
    for (int32_t l = m->shard.layer_begin; l < m->shard.layer_end; l++) {
        attention_block(m, be, kv, ws, b, l, tp);
        mlp_block(m, be, ws, b->n_tokens, l, tp);
    }
}

void forward_head(const loom_model *m, loom_backend *be, loom_workspace *ws, const loom_forward_batch *b,
                  float *logits) {
    const loom_config *c = &m->cfg;
    const loom_backend_ops *op = be->ops;
    /* gather the rows that want logits, then norm + head only those */
    for (int32_t i = 0; i < b->n_logits; i++)
        memmove(ws->xn + (size_t)i * c->hidden_size, ws->x + (size_t)b->logit_tokens[i] * c->hidden_size,
                (size_t)c->hidden_size * sizeof(float));
    op->rmsnorm(be, ws->xn, ws->xn, &m->w.final_norm, c->rms_norm_eps, b->n_logits, c->hidden_size);
    op->matmul(be, logits, &m->w.lm_head, ws->xn, b->n_logits);
    if (c->final_softcap > 0) op->softcap(be, logits, c->final_softcap, (int64_t)b->n_logits * m->local.vocab_size);
}

void forward_run(const loom_model *m, loom_backend *be, const loom_kv_store *kv, loom_workspace *ws,
                 const loom_forward_batch *b, float *logits) {
    forward_embed(m, be, ws, b, NULL);
    forward_layers(m, be, kv, ws, b, NULL);
    forward_head(m, be, ws, b, logits);
}
