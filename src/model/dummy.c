/* --load-format dummy: random weights in the shape of a config.json, for benchmarks on real model
 * shapes without the checkpoint (like vLLM's flag). Values: uniform with std 0.02 for matrices, 1 for
 * norms, 0 for biases; deterministic in the seed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef enum fill_kind { FILL_RANDOM, FILL_ONES, FILL_ZEROS } fill_kind;

static loom_status add_dummy(loom_model *m, const char *name, int64_t rows, int64_t cols, fill_kind fill,
                             uint64_t *rng, loom_error *err) {
    int64_t n = rows ? rows * cols : cols;
    loom_tensor_entry e = {.name = (char *)name, .dtype = LOOM_DTYPE_F32, .n_dims = rows ? 2 : 1,
                           .shape = {rows ? rows : cols, rows ? cols : 0}, .size_bytes = (size_t)n * sizeof(float)};
    if (m->metadata_only) return loom_tensor_table_add(&m->tensors, &e, err); /* sizes only */
    float *data = malloc((size_t)n * sizeof(float));
    if (!data) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for dummy tensor '%s'", name);
    loom_status st = loom_model_own(m, data, err);
    if (st != LOOM_OK) return st;
    const float amplitude = 0.02f * 1.7320508f; /* uniform(-a, a) has std a/sqrt(3) */
    for (int64_t i = 0; i < n; i++) {
        if (fill == FILL_RANDOM) data[i] = amplitude * (2.0f * (float)(splitmix64(rng) >> 40) / 16777216.0f - 1.0f);
        else data[i] = fill == FILL_ONES ? 1.0f : 0.0f;
    }
    e.data = (const uint8_t *)data;
    return loom_tensor_table_add(&m->tensors, &e, err);
}

static loom_status add_layer(loom_model *m, int l, uint64_t *rng, loom_error *err) {
    const loom_config *c = &m->cfg;
    int64_t h = c->hidden_size, q = loom_config_q_dim(c), kv = loom_config_kv_dim(c), f = c->intermediate_size;
    struct { const char *suffix; int64_t rows, cols; fill_kind fill; int bias; } spec[] = {
        {"input_layernorm.weight", 0, h, FILL_ONES, 0},
        {"self_attn.q_proj.weight", q, h, FILL_RANDOM, 0},
        {"self_attn.k_proj.weight", kv, h, FILL_RANDOM, 0},
        {"self_attn.v_proj.weight", kv, h, FILL_RANDOM, 0},
        {"self_attn.q_proj.bias", 0, q, FILL_ZEROS, 1},
        {"self_attn.k_proj.bias", 0, kv, FILL_ZEROS, 1},
        {"self_attn.v_proj.bias", 0, kv, FILL_ZEROS, 1},
        {"self_attn.o_proj.weight", h, q, FILL_RANDOM, 0},
        {"post_attention_layernorm.weight", 0, h, FILL_ONES, 0},
        {"mlp.gate_proj.weight", f, h, FILL_RANDOM, 0},
        {"mlp.up_proj.weight", f, h, FILL_RANDOM, 0},
        {"mlp.down_proj.weight", h, f, FILL_RANDOM, 0},
    };
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        if (spec[i].bias && !c->attention_bias) continue;
        char name[160];
        snprintf(name, sizeof name, "model.layers.%d.%s", l, spec[i].suffix);
        loom_status st = add_dummy(m, name, spec[i].rows, spec[i].cols, spec[i].fill, rng, err);
        if (st != LOOM_OK) return st;
    }
    return LOOM_OK;
}

loom_status loom_load_dummy(loom_model *m, const char *path, uint64_t seed, loom_error *err) {
    loom_status st = loom_read_hf_config(path, &m->cfg, err);
    if (st != LOOM_OK) return st;
    const loom_config *c = &m->cfg;
    uint64_t rng = seed;
    st = add_dummy(m, "model.embed_tokens.weight", c->vocab_size, c->hidden_size, FILL_RANDOM, &rng, err);
    for (int l = 0; st == LOOM_OK && l < c->n_layers; l++) st = add_layer(m, l, &rng, err);
    if (st == LOOM_OK) st = add_dummy(m, "model.norm.weight", 0, c->hidden_size, FILL_ONES, &rng, err);
    if (st == LOOM_OK && !c->tie_word_embeddings)
        st = add_dummy(m, "lm_head.weight", c->vocab_size, c->hidden_size, FILL_RANDOM, &rng, err);
    if (st != LOOM_OK || m->metadata_only) return st;
    /* a tokenizer is optional for dummy models: without one, prompts must be given as ids */
    char *tok_path = loom_path_join(path, "tokenizer.json");
    int has_tokenizer = tok_path && loom_path_exists(tok_path);
    free(tok_path);
    if (has_tokenizer && (st = loom_tokenizer_load_hf(path, &m->tok, err)) != LOOM_OK) return st;
    return loom_weights_bind(m, LOOM_NAMES_HF, path, err);
}
