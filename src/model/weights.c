/* Binding checkpoint tensors to the weights struct, with every shape and dtype checked once here so
 * the forward pass never checks again. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/rowops.h"
#include "model/model.h"

loom_status loom_model_own(loom_model *m, void *p, loom_error *err) {
    void **grown = realloc(m->owned, (m->n_owned + 1) * sizeof *grown);
    if (!grown) {
        free(p);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    m->owned = grown;
    m->owned[m->n_owned++] = p;
    return LOOM_OK;
}

/* The checkpoint name of a weight: HF and GGUF spellings, with %d standing for the layer index. */
typedef struct weight_name {
    const char *hf, *gguf;
} weight_name;

static const weight_name NAME_EMBED = {"model.embed_tokens.weight", "token_embd.weight"};
static const weight_name NAME_FINAL_NORM = {"model.norm.weight", "output_norm.weight"};
static const weight_name NAME_LM_HEAD = {"lm_head.weight", "output.weight"};
static const weight_name NAME_ATTN_NORM = {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight"};
static const weight_name NAME_WQ = {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"};
static const weight_name NAME_WK = {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"};
static const weight_name NAME_WV = {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"};
static const weight_name NAME_BQ = {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias"};
static const weight_name NAME_BK = {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias"};
static const weight_name NAME_BV = {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias"};
static const weight_name NAME_WO = {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"};
static const weight_name NAME_FFN_NORM = {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight"};
static const weight_name NAME_GATE = {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"};
static const weight_name NAME_UP = {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"};
static const weight_name NAME_DOWN = {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"};

typedef struct binder {
    loom_model *m;
    loom_tensor_naming naming;
    const char *source;
    loom_error *err;
} binder;

static const loom_tensor_entry *find_entry(binder *b, const weight_name *wn, int layer, char *name, size_t cap) {
    snprintf(name, cap, b->naming == LOOM_NAMES_HF ? wn->hf : wn->gguf, layer);
    return loom_tensor_table_find(&b->m->tensors, name);
}

static loom_status check_shape(binder *b, const char *name, const loom_tensor_entry *e, int64_t rows, int64_t cols) {
    int ok = rows ? (e->n_dims == 2 && e->shape[0] == rows && e->shape[1] == cols)
                  : (e->n_dims == 1 && e->shape[0] == cols);
    if (ok) return LOOM_OK;
    char got[96] = "", want[48];
    for (int i = 0; i < e->n_dims; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "," : "", (long long)e->shape[i]);
    if (rows) snprintf(want, sizeof want, "%lld,%lld", (long long)rows, (long long)cols);
    else snprintf(want, sizeof want, "%lld", (long long)cols);
    return loom_fail(b->err, LOOM_ERR_FORMAT, "%s: tensor '%s' has shape [%s], expected [%s]", b->source, name, got, want);
}

/* A weight matrix [rows][cols] of any dtype the kernels support. */
static loom_status bind_matrix(binder *b, loom_tensor *t, const weight_name *wn, int layer, int64_t rows, int64_t cols) {
    char name[160];
    const loom_tensor_entry *e = find_entry(b, wn, layer, name, sizeof name);
    if (!e) return loom_fail(b->err, LOOM_ERR_FORMAT, "%s: missing tensor '%s'", b->source, name);
    loom_status st = check_shape(b, name, e, rows, cols);
    if (st != LOOM_OK) return st;
    if (!loom_cpu_weight_dtype_supported(e->dtype))
        return loom_fail(b->err, LOOM_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which loom cannot compute with yet",
                         b->source, name, loom_dtype_name(e->dtype));
    *t = (loom_tensor){.data = e->data, .dtype = e->dtype, .n_dims = 2, .shape = {rows, cols},
                       .row_stride_bytes = loom_dtype_bytes(e->dtype, cols)};
    return LOOM_OK;
}

/* A vector [n] (norm weight or bias), converted to an owned float32 copy. Absent and optional: data NULL. */
static loom_status bind_vector(binder *b, loom_tensor *t, const weight_name *wn, int layer, int64_t n, int optional) {
    char name[160];
    const loom_tensor_entry *e = find_entry(b, wn, layer, name, sizeof name);
    memset(t, 0, sizeof *t);
    if (!e) return optional ? LOOM_OK : loom_fail(b->err, LOOM_ERR_FORMAT, "%s: missing tensor '%s'", b->source, name);
    loom_status st = check_shape(b, name, e, 0, n);
    if (st != LOOM_OK) return st;
    if (e->dtype != LOOM_DTYPE_F32 && e->dtype != LOOM_DTYPE_F16 && e->dtype != LOOM_DTYPE_BF16)
        return loom_fail(b->err, LOOM_ERR_UNSUPPORTED, "%s: vector '%s' has dtype %s (expected f32, f16 or bf16)",
                         b->source, name, loom_dtype_name(e->dtype));
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) return loom_fail(b->err, LOOM_ERR_NO_MEMORY, "out of memory");
    if ((st = loom_model_own(b->m, v, b->err)) != LOOM_OK) return st;
    loom_dequant_row(e->dtype, e->data, v, n);
    *t = (loom_tensor){.data = v, .dtype = LOOM_DTYPE_F32, .n_dims = 1, .shape = {n}, .row_stride_bytes = (size_t)n * 4};
    return LOOM_OK;
}

static loom_status bind_layer(binder *b, int l) {
    const loom_config *c = &b->m->cfg;
    loom_layer_weights *L = &b->m->w.layers[l];
    int64_t hidden = c->hidden_size, q_dim = loom_config_q_dim(c), kv_dim = loom_config_kv_dim(c);
    int64_t ffn = c->intermediate_size;
    loom_status st;
    if ((st = bind_vector(b, &L->attn_norm, &NAME_ATTN_NORM, l, hidden, 0)) ||
        (st = bind_matrix(b, &L->wq, &NAME_WQ, l, q_dim, hidden)) ||
        (st = bind_matrix(b, &L->wk, &NAME_WK, l, kv_dim, hidden)) ||
        (st = bind_matrix(b, &L->wv, &NAME_WV, l, kv_dim, hidden)) ||
        (st = bind_vector(b, &L->bq, &NAME_BQ, l, q_dim, !c->attention_bias)) ||
        (st = bind_vector(b, &L->bk, &NAME_BK, l, kv_dim, !c->attention_bias)) ||
        (st = bind_vector(b, &L->bv, &NAME_BV, l, kv_dim, !c->attention_bias)) ||
        (st = bind_matrix(b, &L->wo, &NAME_WO, l, hidden, q_dim)) ||
        (st = bind_vector(b, &L->ffn_norm, &NAME_FFN_NORM, l, hidden, 0)) ||
        (st = bind_matrix(b, &L->w_gate, &NAME_GATE, l, ffn, hidden)) ||
        (st = bind_matrix(b, &L->w_up, &NAME_UP, l, ffn, hidden)) ||
        (st = bind_matrix(b, &L->w_down, &NAME_DOWN, l, hidden, ffn)))
        return st;
    return LOOM_OK;
}

/* inv_freq[i] = theta^(-2i/d), computed in float32 as HF does, then llama3-rescaled (HF's
 * _compute_llama3_parameters) or divided by GGUF's rope_freqs factors. */
static loom_status bind_rope(binder *b) {
    const loom_config *c = &b->m->cfg;
    int32_t half = c->head_dim / 2;
    float *inv = malloc((size_t)half * sizeof(float));
    if (!inv) return loom_fail(b->err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = loom_model_own(b->m, inv, b->err);
    if (st != LOOM_OK) return st;
    for (int32_t i = 0; i < half; i++) inv[i] = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)c->head_dim);
    if (c->rope_scaling_llama3) {
        float old_len = (float)c->rope_original_max_position;
        float low_wavelen = old_len / c->rope_low_freq_factor, high_wavelen = old_len / c->rope_high_freq_factor;
        for (int32_t i = 0; i < half; i++) {
            float wavelen = 2.0f * (float)M_PI / inv[i];
            if (wavelen > low_wavelen) {
                inv[i] /= c->rope_factor;
            } else if (wavelen >= high_wavelen) {
                float smooth = (old_len / wavelen - c->rope_low_freq_factor) /
                               (c->rope_high_freq_factor - c->rope_low_freq_factor);
                inv[i] = (1.0f - smooth) * inv[i] / c->rope_factor + smooth * inv[i];
            }
        }
    }
    const loom_tensor_entry *f = b->naming == LOOM_NAMES_GGUF ? loom_tensor_table_find(&b->m->tensors, "rope_freqs.weight") : NULL;
    if (f) {
        if (f->dtype != LOOM_DTYPE_F32 || f->n_dims != 1 || f->shape[0] != half)
            return loom_fail(b->err, LOOM_ERR_FORMAT, "%s: tensor 'rope_freqs.weight' must be f32 [%d]", b->source, half);
        const float *factors = (const float *)f->data;
        for (int32_t i = 0; i < half; i++) {
            if (!(factors[i] > 0))
                return loom_fail(b->err, LOOM_ERR_FORMAT, "%s: rope_freqs.weight holds a non-positive factor", b->source);
            inv[i] /= factors[i];
        }
    }
    b->m->w.rope_inv_freq = inv;
    return LOOM_OK;
}

loom_status loom_weights_bind(loom_model *m, loom_tensor_naming naming, const char *source, loom_error *err) {
    binder b = {m, naming, source, err};
    const loom_config *c = &m->cfg;
    loom_weights *w = &m->w;
    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!w->layers) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st;
    if ((st = bind_matrix(&b, &w->tok_embed, &NAME_EMBED, 0, c->vocab_size, c->hidden_size)) ||
        (st = bind_vector(&b, &w->final_norm, &NAME_FINAL_NORM, 0, c->hidden_size, 0)))
        return st;
    if (c->tie_word_embeddings) w->lm_head = w->tok_embed;
    else if ((st = bind_matrix(&b, &w->lm_head, &NAME_LM_HEAD, 0, c->vocab_size, c->hidden_size)))
        return st;
    for (int l = 0; l < c->n_layers; l++)
        if ((st = bind_layer(&b, l))) return st;
    return bind_rope(&b);
}
