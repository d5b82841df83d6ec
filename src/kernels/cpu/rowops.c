#include "kernels/cpu/rowops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/block_decode.h"
#include "kernels/cpu/dot_x86.h"

int cpu_weight_dtype_supported(loom_dtype t) {
    return t == LOOM_DTYPE_F32 || t == LOOM_DTYPE_F16 || t == LOOM_DTYPE_BF16 || t == LOOM_DTYPE_FP8_E4M3 ||
        block_decodable(t);
}

int cpu_dtype_has_kernels(loom_dtype t) {
    return t == LOOM_DTYPE_F32 || t == LOOM_DTYPE_F16 || t == LOOM_DTYPE_BF16 || t == LOOM_DTYPE_FP8_E4M3 ||
        dtype_takes_int8_x(t);
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* Portable versions; kernels/ is built with reassociation allowed so these reductions vectorize for
 * the baseline ISA. The SIMD versions live in dot_x86.c. */
static float dot_f32_portable(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void dequant_int_block(loom_dtype t, const uint8_t *blk, float *dst) {
    loom_subblock sb;
    for (int s = 0; s < dtype_block_elems(t) / 32; s++, dst += 32) {
        decode_subblock(t, blk, s, &sb);
        for (int j = 0; j < 32; j++) dst[j] = sb.dh[j / 16] * (float)sb.w[j] + sb.m[j / 16];
    }
}

/* The float widenings of this CPU's ISA (the attention kernels' table: exact conversions, the same
 * values on every ISA), chosen with the dot table. */
static const loom_attn_isa *widen;

void dequant_row(loom_dtype t, const void *row, float *dst, int64_t n) {
    const uint8_t *p = row;
    switch (t) {
        case LOOM_DTYPE_F32: memcpy(dst, row, (size_t)n * sizeof(float)); return;
        case LOOM_DTYPE_F16: widen->widen_f16(p, dst, (int32_t)n); return;
        case LOOM_DTYPE_BF16: widen->widen_bf16(p, dst, (int32_t)n); return;
        case LOOM_DTYPE_FP8_E4M3: /* 32 elements: f16 scale, e4m3 codes */
            for (int64_t b = 0; b < n / 32; b++)
                widen->widen_fp8(p + 34 * b + 2, f16_to_f32(load_u16(p + 34 * b)), dst + 32 * b, 32);
            return;
        default: { /* the block types (validated at load) */
            int64_t be = dtype_block_elems(t);
            size_t bb = dtype_block_bytes(t);
            for (int64_t b = 0; b < n / be; b++) dequant_int_block(t, p + bb * (size_t)b, dst + be * b);
            return;
        }
    }
}

static float dot_f32_row(const void *row, const float *x, int64_t n) { return dot_f32_portable(row, x, n); }

/* ---- int8-activation dots: integer sums per block, scales applied per block ---- */

/* sum_j (dh[j/16] w[j] + m[j/16]) * d_x q_x[j] = d_x (dh[0] sum_lo + dh[1] sum_hi + m[0] hsum_lo + m[1] hsum_hi),
 * sum_* the integer sums of w q_x and hsum_* those of q_x (the activation block's half sums) */
static float xdot_scalar_one(loom_dtype t, const uint8_t *row, const loom_xblock *x, int64_t nb) {
    int per_block = (int)(dtype_block_elems(t) / LOOM_XBLOCK_ELEMS);
    size_t bytes = dtype_block_bytes(t);
    float s = 0;
    for (int64_t b = 0; b < nb; b++) {
        loom_subblock sb;
        decode_subblock(t, row + (size_t)(b / per_block) * bytes, (int)(b % per_block), &sb);
        int isum[2] = {0, 0};
        for (int j = 0; j < 32; j++) isum[j / 16] += sb.w[j] * x[b].q[j];
        s += x[b].d *
            (sb.dh[0] * (float)isum[0] + sb.dh[1] * (float)isum[1] + sb.m[0] * (float)x[b].half_sum[0] +
             sb.m[1] * (float)x[b].half_sum[1]);
    }
    return s;
}

static void xdot_scalar(loom_dtype t, const loom_xdot_args *a) {
    for (int64_t r = 0; r < a->n_rows; r++)
        for (int tok = 0; tok < a->n_tok; tok++)
            a->y[tok * a->y_stride + r] = xdot_scalar_one(t, (const uint8_t *)a->rows + (size_t)r * a->row_stride_bytes,
                                                          a->x + tok * a->x_stride, a->n_blocks);
}

#define SCALAR_XDOT(suffix, dtype)                                                                                     \
    static void xdot_##suffix(const loom_xdot_args *a) { xdot_scalar(dtype, a); }
SCALAR_XDOT(q8_0, LOOM_DTYPE_Q8_0)
SCALAR_XDOT(q4_0, LOOM_DTYPE_Q4_0)
SCALAR_XDOT(q4_1, LOOM_DTYPE_Q4_1)
SCALAR_XDOT(q4_k, LOOM_DTYPE_Q4_K)
SCALAR_XDOT(q6_k, LOOM_DTYPE_Q6_K)
SCALAR_XDOT(q5_0, LOOM_DTYPE_Q5_0)
SCALAR_XDOT(q5_1, LOOM_DTYPE_Q5_1)
SCALAR_XDOT(q2_k, LOOM_DTYPE_Q2_K)
SCALAR_XDOT(q3_k, LOOM_DTYPE_Q3_K)
SCALAR_XDOT(q5_k, LOOM_DTYPE_Q5_K)
SCALAR_XDOT(iq4_nl, LOOM_DTYPE_IQ4_NL)
SCALAR_XDOT(iq4_xs, LOOM_DTYPE_IQ4_XS)
#undef SCALAR_XDOT

static void f32_tile(const float *const *w, const float *const *x, int64_t n, float *out) {
    for (int r = 0; r < LOOM_TILE; r++)
        for (int t = 0; t < LOOM_TILE; t++) out[r * LOOM_TILE + t] = dot_f32_portable(w[r], x[t], n);
}

static void silu_mul_portable(float *out, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static const loom_dot_table dot_scalar = {
    "scalar",
    dot_f32_row,
    f32_tile,
    silu_mul_portable,
    quantize_x_row_portable,
    .xdot = {[LOOM_DTYPE_Q8_0] = xdot_q8_0,
             [LOOM_DTYPE_Q4_0] = xdot_q4_0,
             [LOOM_DTYPE_Q4_1] = xdot_q4_1,
             [LOOM_DTYPE_Q4_K] = xdot_q4_k,
             [LOOM_DTYPE_Q6_K] = xdot_q6_k,
             [LOOM_DTYPE_Q5_0] = xdot_q5_0,
             [LOOM_DTYPE_Q5_1] = xdot_q5_1,
             [LOOM_DTYPE_Q2_K] = xdot_q2_k,
             [LOOM_DTYPE_Q3_K] = xdot_q3_k,
             [LOOM_DTYPE_Q5_K] = xdot_q5_k,
             [LOOM_DTYPE_IQ4_NL] = xdot_iq4_nl,
             [LOOM_DTYPE_IQ4_XS] = xdot_iq4_xs},
};

/* The one mutable global: the dot table for this CPU, chosen once at start-up. LOOM_ISA=scalar|avx2|
 * avx512 forces a path (tests use it to cover each one); a path the CPU lacks falls back to scalar. */
static const loom_dot_table *active_dots = &dot_scalar;

__attribute__((constructor)) static void choose_dot_table(void) {
#if defined(__x86_64__)
    const char *force = getenv("LOOM_ISA");
    __builtin_cpu_init();
    /* every AVX2 or AVX-512 CPU also has F16C, which the SIMD paths use for block scales */
    int has512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (force && strcmp(force, "scalar") == 0) active_dots = &dot_scalar;
    else if (has512 && (!force || strcmp(force, "avx512") == 0)) active_dots = &dot_avx512;
    else if (has2 && (!force || strcmp(force, "avx2") == 0 || strcmp(force, "avx512") == 0)) active_dots = &dot_avx2;
#endif
    widen = attention_isa_named(active_dots->isa);
}

const char *cpu_isa(void) { return active_dots->isa; }

float dot_f32(const float *a, const float *b, int64_t n) { return active_dots->f32(a, b, n); }

void dot_f32_tile(const float *const *w, const float *const *x, int64_t n, float *out) {
    active_dots->f32_tile(w, x, n, out);
}

int dot_rows4(loom_dtype t, const void *const *rows, const float *x, int64_t n, float *out) {
    return active_dots->rows4 && active_dots->rows4(t, rows, x, n, out);
}

int dtype_takes_int8_x(loom_dtype t) { return (unsigned)t < LOOM_DTYPE_COUNT && active_dots->xdot[t]; }

void quantize_x_row(const float *x, loom_xblock *out, int64_t n) { active_dots->quantize_x(x, out, n); }

void silu_mul(float *out, const float *gate, const float *up, int64_t n) { active_dots->silu_mul(out, gate, up, n); }

void xdot_rows(loom_dtype t, const loom_xdot_args *a) {
    active_dots->xdot[t](a); /* callers check dtype_takes_int8_x */
}

int cpu_has_x16(loom_dtype t) { return (unsigned)t < LOOM_DTYPE_COUNT && active_dots->xdot_x16[t]; }

void xdot_x16_rows(loom_dtype t, const loom_xdot_args *a) { active_dots->xdot_x16[t](a); }

void xdot_row(loom_dtype t, const void *row, const loom_xblock *x, int64_t n_blocks, int64_t x_stride, int n_tok,
              float *out) {
    loom_xdot_args a = {.rows = row,
                        .n_rows = 1,
                        .x = x,
                        .n_blocks = n_blocks,
                        .x_stride = x_stride,
                        .n_tok = n_tok,
                        .y = out,
                        .y_stride = 1};
    xdot_rows(t, &a);
}
