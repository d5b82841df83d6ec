/* x86 SIMD versions of the fused row dots (kernels/cpu/rowops.c chooses one set at start-up). */
#ifndef LOOM_KERNELS_CPU_DOT_X86_H
#define LOOM_KERNELS_CPU_DOT_X86_H

#include <stdint.h>

#include "core/tensor.h"
#include "kernels/cpu/act_quant.h"

/* dot of one weight row [n] with float32 x [n] */
typedef float (*loom_dot_fn)(const void *row, const float *x, int64_t n);
/* One call of an int8-activation dot kernel: n_rows weight rows (row r at rows + r * row_stride_bytes,
 * each n_blocks blocks of 32 elements; K-quant rows hold n_blocks / 8 super-blocks) against n_tok <=
 * LOOM_XDOT_MAX_TOKENS tokens of int8 activations (token t at x + t * x_stride, in blocks):
 * y[t * y_stride + r] = dot(row r, token t). A call covers a run of rows so the per-row cost is the
 * dot alone. */
typedef struct loom_xdot_args {
    const void *rows;
    size_t row_stride_bytes;
    int64_t n_rows;
    const loom_xblock *x;
    int64_t n_blocks, x_stride;
    int n_tok;
    float *y;
    int64_t y_stride;
} loom_xdot_args;
typedef void (*loom_xdot_fn)(const loom_xdot_args *a);

/* A 4 x 4 register tile of float32 dots: out[r * 4 + t] = dot(w[r], x[t]) over n elements, for the
 * multi-token matmul (prefill, batched decode) with float weights: each loaded weight vector serves 4
 * tokens and each activation vector 4 rows. Callers pad short tiles by repeating a pointer. */
typedef void (*loom_tile_fn)(const float *const *w, const float *const *x, int64_t n, float *out);
#define LOOM_TILE 4
/* One token against 4 weight rows of dtype t (F32, F16, BF16 or FP8; rows as stored): out[r] is, bit for
 * bit, what the tile gives for row r dequantized (dequant_row) and this token, the weights widened in
 * registers. Returns 0 (nothing written) for a dtype it does not take. */
typedef int (*loom_rows4_fn)(loom_dtype t, const void *const *rows, const float *x, int64_t n, float *out);

/* out[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i] (SIMD versions: exp to ~2 ulp) */
typedef void (*loom_silu_mul_fn)(float *out, const float *gate, const float *up, int64_t n);

typedef struct loom_dot_table {
    const char *isa;
    loom_dot_fn f32;
    loom_tile_fn f32_tile;
    loom_silu_mul_fn silu_mul;
    loom_quantize_x_fn quantize_x;
    loom_rows4_fn rows4;                 /* NULL: none on this path */
    loom_xdot_fn xdot[LOOM_DTYPE_COUNT]; /* per weight dtype; NULL = that dtype takes float activations */
    /* per weight dtype, over matrices in the x16 layout (pack_x16.h; n_rows a multiple of 16, any n_tok);
     * NULL = no such layout on this path */
    loom_xdot_fn xdot_x16[LOOM_DTYPE_COUNT];
} loom_dot_table;

/* Q4_K super-block (llama.cpp layout, 144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and
 * mins for 8 sub-blocks of 32, then 128 bytes of nibbles. Sub-block pair (2i, 2i+1) shares 32 bytes
 * qs[32i..32i+31]: low nibbles are sub-block 2i, high nibbles 2i+1. x = d*sc*q - dmin*mn, where
 * sub-block j's sc and mn are read from the 12 scale bytes sc[] by this function. */
static inline void loom_q4_k_scale_min(const uint8_t *sc, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = sc[j] & 63;
        *min = sc[j + 4] & 63;
    } else {
        *scale = (sc[j + 4] & 0x0f) | ((sc[j - 4] >> 6) << 4);
        *min = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
    }
}

/* The 12 bytes of 6-bit scales and mins of a Q4_K / Q5_K super-block (the inverse of loom_q4_k_scale_min). */
static inline void loom_q4_k_encode_scales(const uint8_t sc[8], const uint8_t mn[8], uint8_t out[12]) {
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        out[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        out[j + 8] = (uint8_t)((sc[j + 4] & 0x0f) | (mn[j + 4] & 0x0f) << 4);
    }
}

/* Q3_K's 16 6-bit scales, minus 32: the low 4 bits of scale i are nibble i / 8 of byte i % 8 of sc[12], the
 * high 2 bits bits 2 (i / 4).. of byte 8 + i % 4. */
static inline int loom_q3_k_scale(const uint8_t *sc, int i) {
    int low = (sc[i % 8] >> (4 * (i / 8))) & 0x0f, high = (sc[8 + i % 4] >> (2 * (i / 4))) & 3;
    return (low | high << 4) - 32;
}

#if defined(__x86_64__)
/* xdot_avx512.c: Q8_0 / Q4_0 / Q4_1 on AVX-512 VNNI, register-tiled over rows and tokens */
void xdot_q8_0_avx512_tiled(const loom_xdot_args *a);
void xdot_q4_0_avx512_tiled(const loom_xdot_args *a);
void xdot_q4_1_avx512_tiled(const loom_xdot_args *a);
/* xdot_x16_avx512.c: the same over the x16 layout */
void xdot_x16_q8_0_avx512(const loom_xdot_args *a);
void xdot_x16_q4_0_avx512(const loom_xdot_args *a);
void xdot_x16_q4_1_avx512(const loom_xdot_args *a);
void xdot_x16_q4_k_avx512(const loom_xdot_args *a);
void xdot_x16_q6_k_avx512(const loom_xdot_args *a);
/* xdot_x16_more_avx512.c: the x16 layouts of pack_x16_more.h */
void xdot_x16_q5_0_avx512(const loom_xdot_args *a);
void xdot_x16_q5_1_avx512(const loom_xdot_args *a);
void xdot_x16_iq4_nl_avx512(const loom_xdot_args *a);
void xdot_x16_iq4_xs_avx512(const loom_xdot_args *a);
void xdot_x16_q5_k_avx512(const loom_xdot_args *a);
void xdot_x16_q2_k_avx512(const loom_xdot_args *a);
void xdot_x16_q3_k_avx512(const loom_xdot_args *a);
extern const loom_dot_table dot_avx2;
extern const loom_dot_table dot_avx512;
#endif

#endif
