/* The id ↔ text table of a tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

int tok_vocab_init(tok_vocab *v, int32_t n) {
    memset(v, 0, sizeof *v);
    v->n = n;
    v->off = calloc((size_t)n + 1, sizeof *v->off);
    v->len = malloc(((size_t)n + 1) * sizeof *v->len);
    v->special = calloc((size_t)n + 1, 1);
    if (!v->off || !v->len || !v->special) return -1;
    for (int32_t i = 0; i < n; i++) v->len[i] = UINT32_MAX;
    for (int i = 0; i < 256; i++) v->byte_tok[i] = -1;
    return 0;
}

int tok_vocab_set(tok_vocab *v, int32_t id, const char *s, size_t len, int in_model) {
    if (id < 0 || id >= v->n || len >= UINT32_MAX || v->pool.len + len >= UINT32_MAX) return -1;
    v->off[id] = (uint32_t)v->pool.len;
    v->len[id] = (uint32_t)len;
    if (tok_buf_append(&v->pool, s, len)) return -1;
    return in_model ? tok_strmap_put(&v->model, s, len, id) : 0;
}

void tok_vocab_index_bytes(tok_vocab *v) {
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        v->byte_tok[b] = tok_strmap_get(&v->model, name, 6);
    }
}

int tok_vocab_has(const tok_vocab *v, int32_t id) { return id >= 0 && id < v->n && v->len[id] != UINT32_MAX; }

const char *tok_vocab_text(const tok_vocab *v, int32_t id, size_t *len) {
    *len = v->len[id];
    return v->pool.data ? v->pool.data + v->off[id] : "";
}

void tok_vocab_free(tok_vocab *v) {
    free(v->off);
    free(v->len);
    free(v->special);
    free(v->score);
    tok_buf_free(&v->pool);
    tok_strmap_free(&v->model);
    memset(v, 0, sizeof *v);
}
