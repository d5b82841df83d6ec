/* --load-format dummy: random weights in the shape and torch_dtype of a config.json, for benchmarks on
 * real model shapes without the checkpoint (like vLLM's flag). The tensor table holds shapes only, one
 * entry per tensor the weight list names (every family, experts included); binding generates each
 * shard's slices alone (dummy_values.c). */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/weight_slices.h"

/* A tensor of the given shape (rows 0: a vector of cols) in the config's torch_dtype, without data. */
static loom_status add_dummy(loom_model *m, const char *name, int64_t rows, int64_t cols, loom_error *err) {
    int64_t n = rows ? rows * cols : cols;
    loom_tensor_entry e = {.name = (char *)name,
                           .dtype = m->cfg.dtype,
                           .n_dims = rows ? 2 : 1,
                           .shape = {rows ? rows : cols, rows ? cols : 0},
                           .size_bytes = dtype_bytes(m->cfg.dtype, n)};
    return tensor_table_add(&m->tensors, &e, err);
}

typedef struct dummy_table {
    loom_model *m;
    loom_error *err;
} dummy_table;

/* A tensor of the whole model as the weight list names and shapes it (once per name: a fused tensor
 * is listed once per part; optional ones, the biases a config has none of, are left out). */
static loom_status add_listed(void *ctx, const loom_weight_slice *s) {
    dummy_table *t = ctx;
    if (s->optional || tensor_table_find(&t->m->tensors, s->name)) return LOOM_OK;
    return add_dummy(t->m, s->name, s->is_vector ? 0 : s->rows, s->cols, t->err);
}

loom_status load_dummy(loom_model *m, const char *path, uint64_t seed, loom_error *err) {
    loom_status st = read_hf_config(path, &m->cfg, err);
    if (st == LOOM_OK) st = model_init_shard(m, err);
    if (st != LOOM_OK) return st;
    const loom_config *c = &m->cfg;
    m->dummy_weights = 1;
    m->dummy_seed = seed;
    dummy_table table = {m, err};
    loom_shard whole = shard_whole(c);
    st = shard_for_each_weight(c, &whole, NULL, LOOM_NAMES_HF, NULL, add_listed, &table);
    if (st != LOOM_OK || m->metadata_only) return st;
    /* a tokenizer is optional for dummy models: without one, prompts must be given as ids */
    char *tok_path = path_join(path, "tokenizer.json");
    int has_tokenizer = tok_path && path_exists(tok_path);
    free(tok_path);
    if (has_tokenizer && (st = tokenizer_load_hf(path, &m->tok, err)) != LOOM_OK) return st;
    return weights_bind(m, LOOM_NAMES_HF, path, err);
}
