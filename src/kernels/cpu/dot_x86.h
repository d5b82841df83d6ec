/* x86 SIMD versions of the fused row dots (kernels/cpu/rowops.c chooses one set at start-up). */
#ifndef LOOM_KERNELS_CPU_DOT_X86_H
#define LOOM_KERNELS_CPU_DOT_X86_H

#include <stdint.h>

#include "kernels/cpu/act_quant.h"

/* dot of one weight row [n] with float32 x [n] */
typedef float (*loom_dot_fn)(const void *row, const float *x, int64_t n);
/* out[t] = dot of one weight row (n_blocks blocks of 32) with int8 activations x + t * x_stride
 * (in blocks), for t < n_tok <= LOOM_XDOT_MAX_TOKENS */
typedef void (*loom_xdot_fn)(const void *row, const loom_xblock *x, int64_t n_blocks, int64_t x_stride, int n_tok,
                             float *out);

/* A 4 x 4 register tile of float32 dots: out[r * 4 + t] = dot(w[r], x[t]) over n elements, for the
 * multi-token matmul (prefill, batched decode) with float weights: each loaded weight vector serves 4
 * tokens and each activation vector 4 rows. Callers pad short tiles by repeating a pointer. */
typedef void (*loom_tile_fn)(const float *const *w, const float *const *x, int64_t n, float *out);
#define LOOM_TILE 4

typedef struct loom_dot_table {
    const char *isa;
    loom_dot_fn f32, f16, q8_0, q4_0, q4_1, fp8;
    loom_xdot_fn x_q8_0, x_q4_0, x_q4_1;
    loom_tile_fn f32_tile;
} loom_dot_table;

#if defined(__x86_64__)
extern const loom_dot_table loom_dot_avx2;
extern const loom_dot_table loom_dot_avx512;
#endif

#endif
