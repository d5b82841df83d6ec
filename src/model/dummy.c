/* --load-format dummy: random weights in the shape and torch_dtype of a config.json, for benchmarks on
 * real model shapes without the checkpoint (like vLLM's flag). The tensor table holds shapes only; binding
 * generates each shard's slices alone (dummy_values.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/weight_slices.h"

/* A tensor of the given shape (rows 0: a vector of cols) in the config's torch_dtype, without data. */
static loom_status add_dummy(loom_model *m, const char *name, int64_t rows, int64_t cols, loom_error *err) {
    int64_t n = rows ? rows * cols : cols;
    loom_tensor_entry e = {.name = (char *)name, .dtype = m->cfg.dtype, .n_dims = rows ? 2 : 1,
                           .shape = {rows ? rows : cols, rows ? cols : 0}, .size_bytes = loom_dtype_bytes(m->cfg.dtype, n)};
    return loom_tensor_table_add(&m->tensors, &e, err);
}

static loom_status add_layer(loom_model *m, int l, loom_error *err) {
    const loom_config *c = &m->cfg;
    int64_t h = c->hidden_size, q = loom_config_q_dim(c), kv = loom_config_kv_dim(c), f = c->intermediate_size;
    struct { const char *suffix; int64_t rows, cols; int bias; } spec[] = { /* the dense MLP last */
        {"input_layernorm.weight", 0, h, 0},
        {"self_attn.q_proj.weight", q, h, 0},
        {"self_attn.k_proj.weight", kv, h, 0},
        {"self_attn.v_proj.weight", kv, h, 0},
        {"self_attn.q_proj.bias", 0, q, 1},
        {"self_attn.k_proj.bias", 0, kv, 1},
        {"self_attn.v_proj.bias", 0, kv, 1},
        {"self_attn.o_proj.weight", h, q, 0},
        {"post_attention_layernorm.weight", 0, h, 0},
        {"mlp.gate_proj.weight", f, h, 0},
        {"mlp.up_proj.weight", f, h, 0},
        {"mlp.down_proj.weight", h, f, 0},
    };
    size_t n = sizeof spec / sizeof spec[0] - (loom_config_is_moe(c) ? 3 : 0); /* MoE: experts instead */
    for (size_t i = 0; i < n; i++) {
        if (spec[i].bias && !c->attention_bias) continue;
        char name[160];
        snprintf(name, sizeof name, "model.layers.%d.%s", l, spec[i].suffix);
        loom_status st = add_dummy(m, name, spec[i].rows, spec[i].cols, err);
        if (st != LOOM_OK) return st;
    }
    return LOOM_OK;
}

typedef struct tensor_adder {
    loom_model *m;
    loom_error *err;
} tensor_adder;

/* Every other weight the model binds (q/k norms, routers, experts): in the shape binding expects. */
static loom_status add_missing(void *ctx, const loom_weight_slice *s) {
    tensor_adder *a = ctx;
    if (s->optional || loom_tensor_table_find(&a->m->tensors, s->name)) return LOOM_OK;
    return add_dummy(a->m, s->name, s->is_vector ? 0 : s->rows, s->cols, a->err);
}

loom_status loom_load_dummy(loom_model *m, const char *path, uint64_t seed, loom_error *err) {
    loom_status st = loom_read_hf_config(path, &m->cfg, err);
    if (st == LOOM_OK) st = loom_model_init_shard(m, err);
    if (st != LOOM_OK) return st;
    const loom_config *c = &m->cfg;
    m->dummy_weights = 1;
    m->dummy_seed = seed;
    st = add_dummy(m, "model.embed_tokens.weight", c->vocab_size, c->hidden_size, err);
    for (int l = 0; st == LOOM_OK && l < c->n_layers; l++) st = add_layer(m, l, err);
    if (st == LOOM_OK) st = add_dummy(m, "model.norm.weight", 0, c->hidden_size, err);
    if (st == LOOM_OK && !c->tie_word_embeddings) st = add_dummy(m, "lm_head.weight", c->vocab_size, c->hidden_size, err);
    loom_shard whole = loom_shard_whole(c);
    tensor_adder adder = {m, err};
    if (st == LOOM_OK) st = loom_shard_for_each_weight(c, &whole, NULL, LOOM_NAMES_HF, NULL, add_missing, &adder);
    if (st != LOOM_OK || m->metadata_only) return st;
    /* a tokenizer is optional for dummy models: without one, prompts must be given as ids */
    char *tok_path = loom_path_join(path, "tokenizer.json");
    int has_tokenizer = tok_path && loom_path_exists(tok_path);
    free(tok_path);
    if (has_tokenizer && (st = loom_tokenizer_load_hf(path, &m->tok, err)) != LOOM_OK) return st;
    return loom_weights_bind(m, LOOM_NAMES_HF, path, err);
}
