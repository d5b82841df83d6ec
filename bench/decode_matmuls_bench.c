/* The matmuls of one SmolLM2-135M decode token through the CPU backend, alone: 30 layers of QKV
 * (fused), o_proj, gate/up (fused), SiLU x up, down_proj in Q4_1 (the default model's type), then the
 * 49,152 x 576 LM head in Q8_0 — 96 MB of random weights in anonymous memory, each read once per
 * token. Prints the best of 40 tokens as ms, tokens/s and GB/s of weights streamed: the thread pool and
 * the int8 dot kernels without attention, sampling or the engine around them. Compare two builds by
 * running them alternately (bench/RESULTS.md).
 * usage: decode_matmuls_bench [THREADS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/backend.h"

enum { LAYERS = 30, HIDDEN = 576, KV_DIM = 192, FFN = 1536, VOCAB = 49152, TOKENS = 40 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* rows x cols of random blocks with f16 scales (and Q4_1 mins) of 2^-7 */
static loom_tensor random_matrix(loom_dtype dt, int64_t rows, int64_t cols, size_t *total_bytes) {
    size_t row_bytes = dtype_bytes(dt, cols), bytes = row_bytes * (size_t)rows, block = dtype_block_bytes(dt);
    uint8_t *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "decode_matmuls_bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < bytes; i++) p[i] = (uint8_t)(i * 131 + 7);
    uint16_t scale = 0x2000;
    for (size_t b = 0; b < bytes / block; b++) {
        memcpy(p + b * block, &scale, 2);
        if (dt == LOOM_DTYPE_Q4_1) memcpy(p + b * block + 2, &scale, 2);
    }
    *total_bytes += bytes;
    return (loom_tensor){.data = p, .dtype = dt, .n_dims = 2, .shape = {rows, cols}, .row_stride_bytes = row_bytes};
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t total = 0;
    static loom_tensor wq[LAYERS], wk[LAYERS], wv[LAYERS], wo[LAYERS], wg[LAYERS], wu[LAYERS], wd[LAYERS];
    for (int l = 0; l < LAYERS; l++) {
        wq[l] = random_matrix(LOOM_DTYPE_Q4_1, HIDDEN, HIDDEN, &total);
        wk[l] = random_matrix(LOOM_DTYPE_Q4_1, KV_DIM, HIDDEN, &total);
        wv[l] = random_matrix(LOOM_DTYPE_Q4_1, KV_DIM, HIDDEN, &total);
        wo[l] = random_matrix(LOOM_DTYPE_Q4_1, HIDDEN, HIDDEN, &total);
        wg[l] = random_matrix(LOOM_DTYPE_Q4_1, FFN, HIDDEN, &total);
        wu[l] = random_matrix(LOOM_DTYPE_Q4_1, FFN, HIDDEN, &total);
        wd[l] = random_matrix(LOOM_DTYPE_Q4_1, HIDDEN, FFN, &total);
    }
    loom_tensor head = random_matrix(LOOM_DTYPE_Q8_0, VOCAB, HIDDEN, &total);
    loom_backend *be;
    loom_error err;
    if (backend_cpu_create(threads, &be, &err) != LOOM_OK || be->ops->reserve(be, FFN, &err) != LOOM_OK) {
        fprintf(stderr, "decode_matmuls_bench: %s\n", err.message);
        return 1;
    }
    static float x[FFN], q[HIDDEN], k[KV_DIM], v[KV_DIM], gate[FFN], up[FFN], out[HIDDEN], logits[VOCAB];
    for (int i = 0; i < FFN; i++) x[i] = (float)((i * 37) % 17 - 8) / 8.0f;
    double best = 1e30;
    for (int token = 0; token < TOKENS; token++) {
        double t0 = now_s();
        for (int l = 0; l < LAYERS; l++) {
            float *qkv[3] = {q, k, v}, *gate_up[2] = {gate, up};
            const loom_tensor *w_qkv[3] = {&wq[l], &wk[l], &wv[l]}, *w_gate_up[2] = {&wg[l], &wu[l]};
            be->ops->matmul_fused(be, 3, qkv, w_qkv, x, 1);
            be->ops->matmul(be, out, &wo[l], q, 1);
            be->ops->matmul_fused(be, 2, gate_up, w_gate_up, x, 1);
            be->ops->silu_mul(be, gate, gate, up, FFN);
            be->ops->matmul(be, out, &wd[l], gate, 1);
        }
        be->ops->matmul(be, logits, &head, x, 1);
        double dt = now_s() - t0;
        if (dt < best) best = dt;
    }
    printf("threads %d: %.0f MB of weights per token, best of %d: %.3f ms = %.0f tokens/s, %.1f GB/s\n", threads,
           (double)total / 1e6, TOKENS, best * 1e3, 1.0 / best, (double)total / best / 1e9);
    backend_free(be);
    return 0;
}
