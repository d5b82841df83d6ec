/* libFuzzer harness for the GGUF parser: parse, call every getter on every key and element, touch
 * every tensor's byte range, dequantize the first row of every block-quantized tensor (every dtype's
 * decoder on fuzzer-chosen bytes), free. */
#include <stdint.h>
#include <string.h>

#include "formats/gguf.h"
#include "kernels/cpu/block_decode.h"
#include "kernels/cpu/rowops.h"

#define MAX_ROW_ELEMS 4096

static volatile uint64_t sink;

/* Every element getter on every element (at most a few thousand per array to keep execs fast). */
static void exercise_array(const loom_gguf_kv *kv) {
    uint64_t n = kv->n_elems < 4096 ? kv->n_elems : 4096;
    for (uint64_t i = 0; i <= n; i++) { /* i == n_elems checks the bounds check */
        uint64_t j = i < n ? i : kv->n_elems;
        const char *s;
        size_t len;
        int64_t v;
        double f;
        if (gguf_arr_string(kv, j, &s, &len) && len) sink += (uint8_t)s[len - 1];
        if (gguf_arr_int(kv, j, &v)) sink += (uint64_t)v;
        if (gguf_arr_float(kv, j, &f)) sink += f == f;
    }
}

static void exercise_kv(const loom_gguf *g, const loom_gguf_kv *kv) {
    const char *s;
    size_t len;
    int64_t v;
    double f;
    int b;
    if (gguf_get_string(g, kv->key, &s, &len) && len) sink += (uint8_t)s[len - 1];
    if (gguf_get_int(g, kv->key, &v)) sink += (uint64_t)v;
    if (gguf_get_float(g, kv->key, &f)) sink += f == f;
    if (gguf_get_bool(g, kv->key, &b)) sink += (uint64_t)b;
    if (kv->type == LOOM_GGUF_ARRAY) exercise_array(kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    loom_gguf g;
    loom_error err = {0};
    if (gguf_parse(data, size, &g, &err) != LOOM_OK) return 0;
    /* Getters look keys up linearly: exercise a bounded number so huge kv counts stay fast. */
    for (size_t i = 0; i < g.n_kvs && i < 256; i++) exercise_kv(&g, &g.kvs[i]);
    for (size_t i = 0; i < g.tensors.count; i++) {
        const loom_tensor_entry *e = &g.tensors.entries[i];
        if (e->size_bytes) sink += e->data[0] ^ e->data[e->size_bytes - 1];
        if (e->data < data + g.data_offset) __builtin_trap();
        int64_t row_len = e->n_dims ? e->shape[e->n_dims - 1] : 0;
        if (block_decodable(e->dtype) && row_len > 0 && row_len <= MAX_ROW_ELEMS && e->size_bytes) {
            static float row[MAX_ROW_ELEMS];
            dequant_row(e->dtype, e->data, row, row_len);
            sink += row[row_len - 1] == row[row_len - 1];
        }
    }
    gguf_free(&g);
    return 0;
}
