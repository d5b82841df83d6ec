#include "kernels/cpu/quantize_row.h"

#include <math.h>
#include <string.h>

#include "core/fp8.h"

static void store_f16(uint8_t *p, float v) {
    uint16_t h = f32_to_f16(v);
    memcpy(p, &h, 2);
}

static float absmax32(const float *x) {
    float m = 0;
    for (int j = 0; j < 32; j++) m = fmaxf(m, fabsf(x[j]));
    return m;
}

static void quantize_q8_0(const float *x, uint8_t *blk) {
    float d = absmax32(x) / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
    store_f16(blk, d);
    for (int j = 0; j < 32; j++) blk[2 + j] = (uint8_t)(int8_t)nearbyintf(x[j] * id);
}

static void quantize_q4_0(const float *x, uint8_t *blk) {
    float extreme = 0; /* the value of largest magnitude maps to -8 */
    for (int j = 0; j < 32; j++)
        if (fabsf(x[j]) > fabsf(extreme)) extreme = x[j];
    float d = extreme / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
    store_f16(blk, d);
    for (int j = 0; j < 16; j++) {
        int lo = (int)nearbyintf(x[j] * id) + 8, hi = (int)nearbyintf(x[j + 16] * id) + 8;
        lo = lo < 0 ? 0 : lo > 15 ? 15 : lo;
        hi = hi < 0 ? 0 : hi > 15 ? 15 : hi;
        blk[2 + j] = (uint8_t)(lo | (hi << 4));
    }
}

static void quantize_q4_1(const float *x, uint8_t *blk) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < 32; j++) {
        lo = fminf(lo, x[j]);
        hi = fmaxf(hi, x[j]);
    }
    float d = (hi - lo) / 15.0f, id = d > 0 ? 1.0f / d : 0.0f;
    store_f16(blk, d);
    store_f16(blk + 2, lo);
    for (int j = 0; j < 16; j++) {
        int a = (int)nearbyintf((x[j] - lo) * id), b = (int)nearbyintf((x[j + 16] - lo) * id);
        a = a < 0 ? 0 : a > 15 ? 15 : a;
        b = b < 0 ? 0 : b > 15 ? 15 : b;
        blk[4 + j] = (uint8_t)(a | (b << 4));
    }
}

/* |v| rounded to the nearest E4M3 value (ties to even), saturating at 448: the value
 * fp8_e4m3_to_f32(f32_to_fp8_e4m3(v)) has, without the encode/decode (scale search below). */
static float e4m3_round_abs(float v) {
    float a = fabsf(v);
    if (a >= LOOM_FP8_E4M3_MAX) return LOOM_FP8_E4M3_MAX;
    if (a < 0x1p-6f) return rintf(a * 512.0f) * 0x1p-9f; /* subnormals: steps of 2^-9 */
    uint32_t b;
    memcpy(&b, &a, 4);
    b = (b + 0x7ffffu + ((b >> 20) & 1u)) & ~0xfffffu; /* keep 3 mantissa bits, nearest even (<= 448) */
    memcpy(&a, &b, 4);
    return a;
}

/* Squared error of the block x [32] stored as e4m3(x / d) x d. */
static float fp8_block_error(const float *x, float d) {
    float id = 1.0f / d, err = 0;
    for (int j = 0; j < 32; j++) {
        float e = fabsf(x[j]) - e4m3_round_abs(x[j] * id) * d;
        err += e * e;
    }
    return err;
}

/* E4M3 is a floating-point grid: which of a block's values land near a grid point depends on where the
 * scale falls within a binade. The scale is the one of FP8_SCALE_STEPS candidates spread over the binade
 * above max|x|/448 (the largest element always representable without clipping) with the least squared
 * error; each candidate is taken as its f16 rounding, the scale that is stored. */
#define FP8_SCALE_STEPS 16
static void quantize_fp8(const float *x, uint8_t *blk) {
    float amax = absmax32(x), d = 0, best = INFINITY;
    for (int k = 0; amax > 0 && k < FP8_SCALE_STEPS; k++) {
        float cand = f16_to_f32(f32_to_f16(amax / LOOM_FP8_E4M3_MAX * exp2f((float)k / FP8_SCALE_STEPS)));
        float err = cand > 0 ? fp8_block_error(x, cand) : INFINITY;
        if (err < best) best = err, d = cand;
    }
    store_f16(blk, d);
    float id = d > 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) blk[2 + j] = f32_to_fp8_e4m3(x[j] * id);
}

int can_quantize_to(loom_dtype t) {
    switch (t) {
        case LOOM_DTYPE_F32:
        case LOOM_DTYPE_F16:
        case LOOM_DTYPE_BF16:
        case LOOM_DTYPE_Q8_0:
        case LOOM_DTYPE_Q4_0:
        case LOOM_DTYPE_Q4_1:
        case LOOM_DTYPE_FP8_E4M3: return 1;
        default: return 0;
    }
}

void quantize_row(loom_dtype t, const float *x, void *dst, int64_t n) {
    uint8_t *p = dst;
    size_t bb = dtype_block_bytes(t);
    switch (t) {
        case LOOM_DTYPE_F32: memcpy(dst, x, (size_t)n * sizeof(float)); return;
        case LOOM_DTYPE_F16:
            for (int64_t i = 0; i < n; i++) store_f16(p + 2 * i, x[i]);
            return;
        case LOOM_DTYPE_BF16:
            for (int64_t i = 0; i < n; i++) {
                uint16_t h = f32_to_bf16(x[i]);
                memcpy(p + 2 * i, &h, 2);
            }
            return;
        case LOOM_DTYPE_Q8_0:
            for (int64_t b = 0; b < n / 32; b++) quantize_q8_0(x + 32 * b, p + bb * b);
            return;
        case LOOM_DTYPE_Q4_0:
            for (int64_t b = 0; b < n / 32; b++) quantize_q4_0(x + 32 * b, p + bb * b);
            return;
        case LOOM_DTYPE_Q4_1:
            for (int64_t b = 0; b < n / 32; b++) quantize_q4_1(x + 32 * b, p + bb * b);
            return;
        case LOOM_DTYPE_FP8_E4M3:
            for (int64_t b = 0; b < n / 32; b++) quantize_fp8(x + 32 * b, p + bb * b);
            return;
        default: memset(dst, 0, dtype_bytes(t, n)); return; /* unreachable: callers check can_quantize_to */
    }
}
