#include "kv/kv_store.h"

#include <stdlib.h>
#include <string.h>

size_t loom_kv_bytes_per_token(int32_t n_layers, int32_t kv_dim) {
    return 2 * (size_t)n_layers * (size_t)kv_dim * sizeof(float);
}

loom_status loom_kv_store_init(loom_kv_store *s, int32_t n_layers, int32_t kv_dim, int32_t n_blocks,
                               int32_t block_size, loom_error *err) {
    memset(s, 0, sizeof *s);
    size_t per_layer = (size_t)n_blocks * (size_t)block_size * (size_t)kv_dim;
    size_t total = per_layer * (size_t)n_layers;
    if (total / (size_t)n_layers != per_layer || total > ((size_t)1 << 40))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "KV cache of %d blocks is too large", n_blocks);
    s->k = calloc(total, sizeof(float));
    s->v = calloc(total, sizeof(float));
    if (!s->k || !s->v) {
        loom_kv_store_destroy(s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a KV cache of %zu bytes",
                         2 * total * sizeof(float));
    }
    s->n_layers = n_layers;
    s->n_blocks = n_blocks;
    s->block_size = block_size;
    s->kv_dim = kv_dim;
    return LOOM_OK;
}

void loom_kv_store_destroy(loom_kv_store *s) {
    free(s->k);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static size_t layer_offset(const loom_kv_store *s, int32_t layer) {
    return (size_t)layer * (size_t)s->n_blocks * (size_t)s->block_size * (size_t)s->kv_dim;
}

float *loom_kv_layer_k(const loom_kv_store *s, int32_t layer) { return s->k + layer_offset(s, layer); }
float *loom_kv_layer_v(const loom_kv_store *s, int32_t layer) { return s->v + layer_offset(s, layer); }
