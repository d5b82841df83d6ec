/* Loading a GGUF file: metadata → config, tensor table → weights (llama.cpp names), embedded vocab. */
#include <stdlib.h>

#include "model/model.h"

loom_status load_gguf(loom_model *m, const char *path, loom_error *err) {
    m->maps = calloc(1, sizeof *m->maps);
    m->gguf = calloc(1, sizeof *m->gguf);
    if (!m->maps || !m->gguf) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = file_map_open(&m->maps[0], path, err);
    if (st != LOOM_OK) return st;
    m->n_maps = 1;
    st = gguf_parse(m->maps[0].data, m->maps[0].size_bytes, m->gguf, err);
    if (st == LOOM_OK) st = config_from_gguf(m->gguf, &m->cfg, err);
    if (st == LOOM_OK) st = model_init_shard(m, err);
    for (size_t i = 0; st == LOOM_OK && i < m->gguf->tensors.count; i++)
        st = tensor_table_add(&m->tensors, &m->gguf->tensors.entries[i], err);
    if (st == LOOM_OK) st = tokenizer_from_gguf(m->gguf, &m->tok, err);
    if (st != LOOM_OK) return error_prefix(err, path);
    return weights_bind(m, LOOM_NAMES_GGUF, path, err);
}
