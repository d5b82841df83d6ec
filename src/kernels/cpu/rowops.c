#include "kernels/cpu/rowops.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/dot_x86.h"

int loom_cpu_weight_dtype_supported(loom_dtype t) {
    switch (t) {
    case LOOM_DTYPE_F32: case LOOM_DTYPE_F16: case LOOM_DTYPE_BF16:
    case LOOM_DTYPE_Q8_0: case LOOM_DTYPE_Q4_0: case LOOM_DTYPE_Q4_1:
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
    case LOOM_DTYPE_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) dequant_q8_0(p + 34 * b, dst + 32 * b);
        return;
    case LOOM_DTYPE_Q4_0:
        for (int64_t b = 0; b < n / 32; b++) dequant_q4_0(p + 18 * b, dst + 32 * b);
        return;
    case LOOM_DTYPE_Q4_1:
        for (int64_t b = 0; b < n / 32; b++) dequant_q4_1(p + 20 * b, dst + 32 * b);
        return;
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

/* f16/bf16 rows: convert 256 elements at a time into a stack buffer, then dot. */
static float dot_via_buffer(loom_dtype t, const uint8_t *p, const float *x, int64_t n) {
    float buf[256], s = 0;
    for (int64_t i = 0; i < n; i += 256) {
        int64_t len = n - i < 256 ? n - i : 256;
        loom_dequant_row(t, p + 2 * i, buf, len);
        s += loom_dot_f32(buf, x + i, len);
    }
    return s;
}

static float dot_f32_row(const void *row, const float *x, int64_t n) { return dot_f32(row, x, n); }

static const loom_dot_table dot_scalar = {"scalar", dot_f32_row, dot_q8_0, dot_q4_0, dot_q4_1};

/* The one mutable global: the dot table for this CPU, chosen once at start-up. LOOM_ISA=scalar|avx2|
 * avx512 forces a path (tests use it to cover each one); a path the CPU lacks falls back to scalar. */
static const loom_dot_table *active_dots = &dot_scalar;

__attribute__((constructor)) static void choose_dot_table(void) {
#if defined(__x86_64__)
    const char *force = getenv("LOOM_ISA");
    __builtin_cpu_init();
    /* every AVX2 or AVX-512 CPU also has F16C, which the SIMD paths use for block scales */
    int has512 = __builtin_cpu_supports("avx512f"), has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (force && strcmp(force, "scalar") == 0) return;
    if (has512 && (!force || strcmp(force, "avx512") == 0)) active_dots = &loom_dot_avx512;
    else if (has2 && (!force || strcmp(force, "avx2") == 0 || strcmp(force, "avx512") == 0)) active_dots = &loom_dot_avx2;
#endif
}

const char *loom_cpu_isa(void) { return active_dots->isa; }

float loom_dot_f32(const float *a, const float *b, int64_t n) { return active_dots->f32(a, b, n); }

float loom_dot_row(loom_dtype t, const void *row, const float *x, int64_t n) {
    switch (t) {
    case LOOM_DTYPE_F32: return active_dots->f32(row, x, n);
    case LOOM_DTYPE_Q8_0: return active_dots->q8_0(row, x, n);
    case LOOM_DTYPE_Q4_0: return active_dots->q4_0(row, x, n);
    case LOOM_DTYPE_Q4_1: return active_dots->q4_1(row, x, n);
    default: return dot_via_buffer(t, row, x, n);
    }
}
