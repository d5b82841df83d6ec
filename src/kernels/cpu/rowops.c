#include "kernels/cpu/rowops.h"

#include <stdlib.h>
#include <string.h>

#include "core/fp8.h"
#include "kernels/cpu/dot_x86.h"

int loom_cpu_weight_dtype_supported(loom_dtype t) {
    switch (t) {
    case LOOM_DTYPE_F32: case LOOM_DTYPE_F16: case LOOM_DTYPE_BF16:
    case LOOM_DTYPE_Q8_0: case LOOM_DTYPE_Q4_0: case LOOM_DTYPE_Q4_1:
    case LOOM_DTYPE_Q4_K: case LOOM_DTYPE_Q6_K: case LOOM_DTYPE_FP8_E4M3:
        return 1;
    default:
        return 0;
    }
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

/* Portable versions; kernels/ is built with reassociation allowed so these reductions vectorize for
 * the baseline ISA. The SIMD versions live in dot_x86.c. */
static float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ---- block layouts (see core/tensor.h) ---- */

static void dequant_q8_0(const uint8_t *blk, float *dst) {
    float d = loom_f16_to_f32(load_u16(blk));
    const int8_t *q = (const int8_t *)(blk + 2);
    for (int j = 0; j < 32; j++) dst[j] = d * (float)q[j];
}

static void dequant_q4_0(const uint8_t *blk, float *dst) {
    float d = loom_f16_to_f32(load_u16(blk));
    const uint8_t *qs = blk + 2;
    for (int j = 0; j < 16; j++) {
        dst[j] = d * (float)((qs[j] & 0x0f) - 8);
        dst[j + 16] = d * (float)((qs[j] >> 4) - 8);
    }
}

static void dequant_q4_1(const uint8_t *blk, float *dst) {
    float d = loom_f16_to_f32(load_u16(blk)), m = loom_f16_to_f32(load_u16(blk + 2));
    const uint8_t *qs = blk + 4;
    for (int j = 0; j < 16; j++) {
        dst[j] = d * (float)(qs[j] & 0x0f) + m;
        dst[j + 16] = d * (float)(qs[j] >> 4) + m;
    }
}

static void dequant_fp8(const uint8_t *blk, float *dst) {
    float d = loom_f16_to_f32(load_u16(blk));
    for (int j = 0; j < 32; j++) dst[j] = d * loom_fp8_e4m3_to_f32(blk[2 + j]);
}

/* Q4_K super-block (llama.cpp layout, 144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and
 * mins for 8 sub-blocks of 32, then 128 bytes of nibbles. Sub-block pair (2i, 2i+1) shares 32 bytes
 * qs[32i..32i+31]: low nibbles are sub-block 2i, high nibbles 2i+1. x = d*sc*q - dmin*mn. */
static void q4_k_scale_min(const uint8_t *sc, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = sc[j] & 63;
        *min = sc[j + 4] & 63;
    } else {
        *scale = (sc[j + 4] & 0x0f) | ((sc[j - 4] >> 6) << 4);
        *min = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
    }
}

static void dequant_q4_k(const uint8_t *blk, float *dst) {
    float d = loom_f16_to_f32(load_u16(blk)), dmin = loom_f16_to_f32(load_u16(blk + 2));
    const uint8_t *sc = blk + 4, *qs = blk + 16;
    for (int pair = 0; pair < 4; pair++, qs += 32, dst += 64) {
        int s0, m0, s1, m1;
        q4_k_scale_min(sc, 2 * pair, &s0, &m0);
        q4_k_scale_min(sc, 2 * pair + 1, &s1, &m1);
        for (int l = 0; l < 32; l++) {
            dst[l] = d * (float)s0 * (float)(qs[l] & 0x0f) - dmin * (float)m0;
            dst[l + 32] = d * (float)s1 * (float)(qs[l] >> 4) - dmin * (float)m1;
        }
    }
}

/* Q6_K super-block (llama.cpp layout, 210 bytes): ql[128] low nibbles, qh[64] high 2-bit pairs,
 * int8 scales[16] (one per 16 elements), f16 d. Each half of 128 elements uses 64 ql and 32 qh bytes:
 * element l + 32k (k = 0..3) takes the low (k even) or high (k odd) nibble of ql[l + 32(k&1)] and
 * bits 2k..2k+1 of qh[l]; q is 6-bit with offset 32; x = d * scale[(l/16) + 2k] * (q - 32). */
static void dequant_q6_k(const uint8_t *blk, float *dst) {
    const uint8_t *ql = blk, *qh = blk + 128;
    const int8_t *scales = (const int8_t *)(blk + 192);
    float d = loom_f16_to_f32(load_u16(blk + 208));
    for (int half = 0; half < 2; half++, ql += 64, qh += 32, scales += 8, dst += 128) {
        for (int l = 0; l < 32; l++) {
            for (int k = 0; k < 4; k++) {
                uint8_t low = ql[l + 32 * (k & 1)];
                int q = ((k < 2 ? low & 0x0f : low >> 4) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
                dst[l + 32 * k] = d * (float)scales[l / 16 + 2 * k] * (float)q;
            }
        }
    }
}

/* one block -> its loom_dtype_block_elems floats */
static void (*const block_dequant[LOOM_DTYPE_COUNT])(const uint8_t *blk, float *dst) = {
    [LOOM_DTYPE_Q8_0] = dequant_q8_0, [LOOM_DTYPE_Q4_0] = dequant_q4_0, [LOOM_DTYPE_Q4_1] = dequant_q4_1,
    [LOOM_DTYPE_FP8_E4M3] = dequant_fp8, [LOOM_DTYPE_Q4_K] = dequant_q4_k, [LOOM_DTYPE_Q6_K] = dequant_q6_k,
};

void loom_dequant_row(loom_dtype t, const void *row, float *dst, int64_t n) {
    const uint8_t *p = row;
    switch (t) {
    case LOOM_DTYPE_F32:
        memcpy(dst, row, (size_t)n * sizeof(float));
        return;
    case LOOM_DTYPE_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = loom_f16_to_f32(load_u16(p + 2 * i));
        return;
    case LOOM_DTYPE_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = loom_bf16_to_f32(load_u16(p + 2 * i));
        return;
    case LOOM_DTYPE_Q8_0: case LOOM_DTYPE_Q4_0: case LOOM_DTYPE_Q4_1: case LOOM_DTYPE_FP8_E4M3:
    case LOOM_DTYPE_Q4_K: case LOOM_DTYPE_Q6_K: {
        int64_t be = loom_dtype_block_elems(t);
        size_t bb = loom_dtype_block_bytes(t);
        for (int64_t b = 0; b < n / be; b++) block_dequant[t](p + bb * (size_t)b, dst + be * b);
        return;
    }
    default:
        memset(dst, 0, (size_t)n * sizeof(float)); /* unreachable: dtypes are validated at load */
        return;
    }
}

/* Fused block dots: the integer quants are widened once per block and the scale applied per block.
 * Q4_1 uses sum(d*q + m) * x = d * sum(q*x) + m * sum(x). */
static float dot_q8_0(const void *row, const float *x, int64_t n) {
    const uint8_t *p = row;
    float s = 0;
    for (int64_t b = 0; b < n / 32; b++, p += 34, x += 32) {
        const int8_t *q = (const int8_t *)(p + 2);
        float acc = 0;
        for (int j = 0; j < 32; j++) acc += (float)q[j] * x[j];
        s += loom_f16_to_f32(load_u16(p)) * acc;
    }
    return s;
}

static float dot_q4_0(const void *row, const float *x, int64_t n) {
    const uint8_t *p = row;
    float s = 0;
    for (int64_t b = 0; b < n / 32; b++, p += 18, x += 32) {
        const uint8_t *qs = p + 2;
        float acc = 0;
        for (int j = 0; j < 16; j++) acc += (float)((qs[j] & 0x0f) - 8) * x[j] + (float)((qs[j] >> 4) - 8) * x[j + 16];
        s += loom_f16_to_f32(load_u16(p)) * acc;
    }
    return s;
}

static float dot_q4_1(const void *row, const float *x, int64_t n) {
    const uint8_t *p = row;
    float s = 0;
    for (int64_t b = 0; b < n / 32; b++, p += 20, x += 32) {
        const uint8_t *qs = p + 4;
        float acc = 0, sum_x = 0;
        for (int j = 0; j < 16; j++) {
            acc += (float)(qs[j] & 0x0f) * x[j] + (float)(qs[j] >> 4) * x[j + 16];
            sum_x += x[j] + x[j + 16];
        }
        s += loom_f16_to_f32(load_u16(p)) * acc + loom_f16_to_f32(load_u16(p + 2)) * sum_x;
    }
    return s;
}

static float dot_fp8(const void *row, const float *x, int64_t n) {
    const uint8_t *p = row;
    float s = 0;
    for (int64_t b = 0; b < n / 32; b++, p += 34, x += 32) {
        float acc = 0;
        for (int j = 0; j < 32; j++) acc += loom_fp8_e4m3_to_f32(p[2 + j]) * x[j];
        s += loom_f16_to_f32(load_u16(p)) * acc;
    }
    return s;
}

/* f16/bf16/K-quant rows: convert 256 elements (one K super-block) at a time into a stack buffer, then dot. */
static float dot_via_buffer(loom_dtype t, const uint8_t *p, const float *x, int64_t n) {
    float buf[256], s = 0;
    for (int64_t i = 0; i < n; i += 256) {
        int64_t len = n - i < 256 ? n - i : 256;
        loom_dequant_row(t, p + loom_dtype_bytes(t, i), buf, len);
        s += loom_dot_f32(buf, x + i, len);
    }
    return s;
}

static float dot_f32_row(const void *row, const float *x, int64_t n) { return dot_f32(row, x, n); }

/* ---- int8-activation dots: integer sums per block, scales applied per block ---- */

/* the 32 weights of a block as integers, for the block layouts with 32 elements */
static void block_ints(loom_dtype t, const uint8_t *blk, int w[32]) {
    const uint8_t *qs = blk + (t == LOOM_DTYPE_Q4_1 ? 4 : 2);
    for (int j = 0; j < 16 && t != LOOM_DTYPE_Q8_0; j++) {
        int off = t == LOOM_DTYPE_Q4_0 ? 8 : 0;
        w[j] = (qs[j] & 0x0f) - off;
        w[j + 16] = (qs[j] >> 4) - off;
    }
    for (int j = 0; j < 32 && t == LOOM_DTYPE_Q8_0; j++) w[j] = (int8_t)qs[j];
}

static void xdot_scalar(loom_dtype t, const void *row, const loom_xblock *x, int64_t nb, int64_t x_stride,
                        int n_tok, float *out) {
    size_t bytes = loom_dtype_block_bytes(t);
    for (int tok = 0; tok < n_tok; tok++) {
        const uint8_t *p = row;
        float s = 0;
        for (int64_t b = 0; b < nb; b++, p += bytes) {
            const loom_xblock *xb = x + tok * x_stride + b;
            int w[32], isum = 0;
            block_ints(t, p, w);
            for (int j = 0; j < 32; j++) isum += w[j] * xb->q[j];
            s += loom_f16_to_f32(load_u16(p)) * xb->d * (float)isum;
            if (t == LOOM_DTYPE_Q4_1) s += loom_f16_to_f32(load_u16(p + 2)) * xb->dsum;
        }
        out[tok] = s;
    }
}

static void xdot_q8_0(const void *w, const loom_xblock *x, int64_t nb, int64_t xs, int n, float *out) {
    xdot_scalar(LOOM_DTYPE_Q8_0, w, x, nb, xs, n, out);
}
static void xdot_q4_0(const void *w, const loom_xblock *x, int64_t nb, int64_t xs, int n, float *out) {
    xdot_scalar(LOOM_DTYPE_Q4_0, w, x, nb, xs, n, out);
}
static void xdot_q4_1(const void *w, const loom_xblock *x, int64_t nb, int64_t xs, int n, float *out) {
    xdot_scalar(LOOM_DTYPE_Q4_1, w, x, nb, xs, n, out);
}

static float dot_f16(const void *row, const float *x, int64_t n) { return dot_via_buffer(LOOM_DTYPE_F16, row, x, n); }

static void f32_tile(const float *const *w, const float *const *x, int64_t n, float *out) {
    for (int r = 0; r < LOOM_TILE; r++)
        for (int t = 0; t < LOOM_TILE; t++) out[r * LOOM_TILE + t] = dot_f32(w[r], x[t], n);
}

static const loom_dot_table dot_scalar = {"scalar", dot_f32_row, dot_f16, dot_q8_0, dot_q4_0, dot_q4_1, dot_fp8,
                                          xdot_q8_0, xdot_q4_0, xdot_q4_1, f32_tile};

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
    if (force && strcmp(force, "scalar") == 0) return;
    if (has512 && (!force || strcmp(force, "avx512") == 0)) active_dots = &loom_dot_avx512;
    else if (has2 && (!force || strcmp(force, "avx2") == 0 || strcmp(force, "avx512") == 0)) active_dots = &loom_dot_avx2;
#endif
}

const char *loom_cpu_isa(void) { return active_dots->isa; }

float loom_dot_f32(const float *a, const float *b, int64_t n) { return active_dots->f32(a, b, n); }

void loom_dot_f32_tile(const float *const *w, const float *const *x, int64_t n, float *out) {
    active_dots->f32_tile(w, x, n, out);
}

float loom_dot_row(loom_dtype t, const void *row, const float *x, int64_t n) {
    switch (t) {
    case LOOM_DTYPE_F32: return active_dots->f32(row, x, n);
    case LOOM_DTYPE_F16: return active_dots->f16(row, x, n);
    case LOOM_DTYPE_Q8_0: return active_dots->q8_0(row, x, n);
    case LOOM_DTYPE_Q4_0: return active_dots->q4_0(row, x, n);
    case LOOM_DTYPE_Q4_1: return active_dots->q4_1(row, x, n);
    case LOOM_DTYPE_FP8_E4M3: return active_dots->fp8(row, x, n);
    default: return dot_via_buffer(t, row, x, n);
    }
}

int loom_dtype_takes_int8_x(loom_dtype t) {
    return t == LOOM_DTYPE_Q8_0 || t == LOOM_DTYPE_Q4_0 || t == LOOM_DTYPE_Q4_1;
}

void loom_xdot_row(loom_dtype t, const void *row, const loom_xblock *x, int64_t n_blocks, int64_t x_stride, int n_tok,
                   float *out) {
    switch (t) {
    case LOOM_DTYPE_Q8_0: active_dots->x_q8_0(row, x, n_blocks, x_stride, n_tok, out); return;
    case LOOM_DTYPE_Q4_0: active_dots->x_q4_0(row, x, n_blocks, x_stride, n_tok, out); return;
    case LOOM_DTYPE_Q4_1: active_dots->x_q4_1(row, x, n_blocks, x_stride, n_tok, out); return;
    default: for (int i = 0; i < n_tok; i++) out[i] = 0; return; /* unreachable: callers check takes_int8_x */
    }
}
