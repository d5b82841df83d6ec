/* --load-format dummy: random weights in the shape of a config.json, for benchmarks on real model
 * shapes without the checkpoint (like vLLM's flag). Values: uniform with std 0.02 for matrices, 1 for
 * norms, 0 for biases. Counter-based: each value is a hash of the seed, the tensor's name and the
 * element's index, so a shard generates exactly the whole model's values at its positions, and only
 * its own slices are ever allocated (the tensor table holds shapes only). */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/weight_slices.h"

/* splitmix64's output function */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t tensor_key(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return mix64(seed ^ mix64(h));
}

typedef enum fill_kind { FILL_RANDOM, FILL_ONES, FILL_ZEROS } fill_kind;

static fill_kind fill_of(const char *name) {
    size_t n = strlen(name);
    if (n >= 5 && strcmp(name + n - 5, ".bias") == 0) return FILL_ZEROS;
    return strstr(name, "norm.") ? FILL_ONES : FILL_RANDOM;
}

void loom_dummy_fill(uint64_t seed, const loom_tensor_entry *e, int64_t row_begin, int64_t n_rows, int64_t col_begin,
                     int64_t n_cols, float *out) {
    fill_kind fill = fill_of(e->name);
    uint64_t key = tensor_key(seed, e->name);
    int64_t row_len = e->shape[e->n_dims - 1];
    const float amplitude = 0.02f * 1.7320508f; /* uniform(-a, a) has std a/sqrt(3) */
    for (int64_t r = 0; r < n_rows; r++) {
        float *dst = out + r * n_cols;
        uint64_t first = (uint64_t)((row_begin + r) * row_len + col_begin);
        for (int64_t c = 0; c < n_cols; c++) {
            if (fill != FILL_RANDOM) {
                dst[c] = fill == FILL_ONES ? 1.0f : 0.0f;
                continue;
            }
            uint64_t bits = mix64(key + (first + (uint64_t)c + 1) * 0x9e3779b97f4a7c15ull);
            dst[c] = amplitude * (2.0f * (float)(bits >> 40) / 16777216.0f - 1.0f);
        }
    }
}

/* A float32 tensor of the given shape (rows 0: a vector of cols), without data. */
static loom_status add_dummy(loom_model *m, const char *name, int64_t rows, int64_t cols, loom_error *err) {
    int64_t n = rows ? rows * cols : cols;
    loom_tensor_entry e = {.name = (char *)name, .dtype = LOOM_DTYPE_F32, .n_dims = rows ? 2 : 1,
                           .shape = {rows ? rows : cols, rows ? cols : 0}, .size_bytes = (size_t)n * sizeof(float)};
    return loom_tensor_table_add(&m->tensors, &e, err);
}

typedef struct dummy_table {
    loom_model *m;
    loom_error *err;
} dummy_table;

/* A tensor of the whole model as the weight list names and shapes it (once per name: a fused tensor
 * is listed once per part; optional ones, the biases a config has none of, are left out). */
static loom_status add_listed(void *ctx, const loom_weight_slice *s) {
    dummy_table *t = ctx;
    if (s->optional || loom_tensor_table_find(&t->m->tensors, s->name)) return LOOM_OK;
    return add_dummy(t->m, s->name, s->is_vector ? 0 : s->rows, s->cols, t->err);
}

loom_status loom_load_dummy(loom_model *m, const char *path, uint64_t seed, loom_error *err) {
    loom_status st = loom_read_hf_config(path, &m->cfg, err);
    if (st == LOOM_OK) st = loom_model_init_shard(m, err);
    if (st != LOOM_OK) return st;
    const loom_config *c = &m->cfg;
    m->dummy_weights = 1;
    m->dummy_seed = seed;
    dummy_table table = {m, err};
    loom_shard whole = loom_shard_whole(c);
    st = loom_shard_for_each_weight(c, &whole, LOOM_NAMES_HF, NULL, add_listed, &table);
    if (st != LOOM_OK || m->metadata_only) return st;
    /* a tokenizer is optional for dummy models: without one, prompts must be given as ids */
    char *tok_path = loom_path_join(path, "tokenizer.json");
    int has_tokenizer = tok_path && loom_path_exists(tok_path);
    free(tok_path);
    if (has_tokenizer && (st = loom_tokenizer_load_hf(path, &m->tok, err)) != LOOM_OK) return st;
    return loom_weights_bind(m, LOOM_NAMES_HF, path, err);
}
