/* Quantized-matrix driver for tests/test_quant_types.py: `tool_quant_driver FILE.gguf X.f32 T OUT.bin`.
 * For every 2-D block-quantized tensor of FILE whose rows are as long as X's (X.f32: T tokens of float32
 * activations), in file order, appends to OUT.bin (float32):
 *   its dequantized rows [rows][cols] (dequant_row),
 *   y = W x for the T tokens: [T][rows], through
 *   the CPU backend's matmul on the matrix as the loader prepares it (a dtype without kernels converted to
 *   Q8_0 first), and the same on the x16 layout when the matrix can take it;
 * and prints one JSON line per tensor: name, dtype, compute dtype, rows, cols, whether x16 ran. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file_map.h"
#include "formats/gguf.h"
#include "kernels/backend.h"
#include "kernels/cpu/pack_x16.h"
#include "kernels/cpu/rowops.h"
#include "model/quant_load.h"

static int fail(const char *what, const loom_error *err) {
    fprintf(stderr, "tool_quant_driver: %s: %s\n", what, err ? err->message : "");
    return 1;
}

static int matmul_to(FILE *out, loom_backend *be, const loom_tensor *w, const float *x, int64_t n_tok) {
    int64_t rows = tensor_rows(w);
    float *y = malloc((size_t)(rows * n_tok) * sizeof *y);
    if (!y) return 0;
    be->ops->matmul(be, y, w, x, n_tok);
    size_t n = fwrite(y, sizeof *y, (size_t)(rows * n_tok), out);
    free(y);
    return n == (size_t)(rows * n_tok);
}

/* one tensor's three outputs; 0 on failure */
static int run_tensor(FILE *out, loom_backend *be, const loom_tensor_entry *e, const float *x, int64_t n_tok) {
    int64_t rows = e->shape[0], cols = e->shape[1];
    loom_dtype compute = stored_dtype_for_compute(e->dtype);
    size_t row_bytes = dtype_bytes(compute, cols);
    float *deq = malloc((size_t)(rows * cols) * sizeof *deq);
    float *scratch = malloc((size_t)cols * sizeof *scratch);
    uint8_t *conv = malloc(row_bytes * (size_t)rows), *packed = malloc(x16_matrix_bytes(compute, rows, cols) + 1);
    int ok = deq && scratch && conv && packed;
    for (int64_t r = 0; ok && r < rows; r++) {
        const uint8_t *src = e->data + (size_t)r * dtype_bytes(e->dtype, cols);
        dequant_row(e->dtype, src, deq + r * cols, cols);
        if (compute == e->dtype) memcpy(conv + (size_t)r * row_bytes, src, row_bytes);
        else convert_row(e->dtype, src, compute, conv + (size_t)r * row_bytes, scratch, cols);
    }
    ok = ok && fwrite(deq, sizeof *deq, (size_t)(rows * cols), out) == (size_t)(rows * cols);
    loom_tensor w = {.data = conv, .dtype = compute, .n_dims = 2, .shape = {rows, cols}, .row_stride_bytes = row_bytes};
    ok = ok && matmul_to(out, be, &w, x, n_tok);
    int x16 = ok && x16_packable(&w);
    if (x16) {
        x16_pack(compute, conv, packed, rows, cols);
        w.data = packed;
        w.layout = LOOM_LAYOUT_X16;
        ok = matmul_to(out, be, &w, x, n_tok);
    }
    if (ok)
        printf(
            "{\"name\": \"%s\", \"dtype\": \"%s\", \"compute\": \"%s\", \"rows\": %lld, \"cols\": %lld, \"x16\": %s}\n",
            e->name, dtype_name(e->dtype), dtype_name(compute), (long long)rows, (long long)cols,
            x16 ? "true" : "false");
    free(deq);
    free(scratch);
    free(conv);
    free(packed);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: tool_quant_driver FILE.gguf X.f32 T OUT.bin\n");
        return 2;
    }
    loom_error err = {0};
    loom_file_map map;
    loom_gguf g;
    char *xbuf = NULL;
    size_t xsize = 0;
    int64_t n_tok = atoll(argv[3]);
    if (file_map_open(&map, argv[1], &err)) return fail(argv[1], &err);
    if (gguf_parse(map.data, map.size_bytes, &g, &err)) return fail(argv[1], &err);
    if (read_file(argv[2], &xbuf, &xsize, &err)) return fail(argv[2], &err);
    loom_backend *be;
    if (backend_cpu_create(1, &be, &err)) return fail("backend", &err);
    FILE *out = fopen(argv[4], "wb");
    int ok = out != NULL;
    for (size_t i = 0; ok && i < g.tensors.count; i++) {
        const loom_tensor_entry *e = &g.tensors.entries[i];
        if (e->n_dims != 2 || dtype_block_elems(e->dtype) == 1 ||
            xsize != (size_t)(n_tok * e->shape[1]) * sizeof(float))
            continue;
        ok = be->ops->reserve(be, e->shape[1], &err) == LOOM_OK && run_tensor(out, be, e, (const float *)xbuf, n_tok);
    }
    if (out && fclose(out)) ok = 0;
    backend_free(be);
    free(xbuf);
    gguf_free(&g);
    file_map_close(&map);
    return ok ? 0 : fail("failed", NULL);
}
