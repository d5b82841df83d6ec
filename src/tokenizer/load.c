/* loom_tokenizer_load: a tokenizer from whatever file or directory holds one. */
#include <string.h>

#include "core/file_map.h"
#include "tokenizer/tokenizer.h"

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The GGUF's tokenizer.ggml.* keys are copied by tokenizer_from_gguf, so the file is released. */
static loom_status load_gguf_vocab(const char *path, loom_tokenizer **out, loom_error *err) {
    loom_file_map map;
    loom_status st = file_map_open(&map, path, err);
    if (st != LOOM_OK) return st;
    loom_gguf g = {0};
    st = gguf_parse(map.data, map.size_bytes, &g, err);
    if (st == LOOM_OK) {
        st = tokenizer_from_gguf(&g, out, err);
        gguf_free(&g);
    }
    file_map_close(&map);
    if (st != LOOM_OK && err && strncmp(err->message, path, strlen(path)) != 0) error_prefix(err, path);
    return st;
}

loom_status loom_tokenizer_load(const char *path, loom_tokenizer **out, loom_error *err) {
    *out = NULL;
    if (ends_with(path, ".gguf")) return load_gguf_vocab(path, out, err);
    return tokenizer_load_hf(path, out, err);
}
