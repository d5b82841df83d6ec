#include "kv/kv_int8.h"

#include <math.h>
#include <string.h>

#include "core/tensor.h"

#define F16_MAX 65504.0f /* scale and zero saturate here: K / V beyond it cannot be held (nor by an f16 cache) */

/* Comparisons instead of fminf / fmaxf (library calls at -O2); a NaN never passes: min / max ignore a NaN
 * second operand, clamp gives lo. */
static float min_of(float a, float b) { return b < a ? b : a; }
static float max_of(float a, float b) { return b > a ? b : a; }
static float clampf(float x, float lo, float hi) { return x >= lo ? (x <= hi ? x : hi) : lo; }

static float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return f16_to_f32(h);
}

/* The float16 scale and zero whose grid zero + scale x (-128..127), as stored, covers [lo, hi]: zero is the
 * float16 nearest the point that puts lo at -128 and hi at 127, scale the smallest float16 that still
 * reaches both ends from that zero. Writes them at scale_dst / zero_dst; returns their values. */
static void params_for_range(float lo, float hi, uint8_t *scale_dst, uint8_t *zero_dst, float *scale, float *zero) {
    lo = clampf(lo, -F16_MAX, F16_MAX);
    hi = clampf(hi, lo, F16_MAX);
    uint16_t zero_h = f32_to_f16(lo + 128.0f * ((hi - lo) / 255.0f));
    *zero = f16_to_f32(zero_h);
    float need = clampf(max_of((hi - *zero) / 127.0f, (*zero - lo) / 128.0f), 0.0f, F16_MAX);
    uint16_t scale_h = f32_to_f16(need);
    *scale = f16_to_f32(scale_h);
    if (*scale < need) *scale = f16_to_f32(++scale_h); /* round up: the next float16 (positive) */
    memcpy(scale_dst, &scale_h, sizeof scale_h);
    memcpy(zero_dst, &zero_h, sizeof zero_h);
}

/* x on the grid (scale, zero) with inv = 1 / scale (0 when scale is 0). */
static int8_t quantize(float x, float inv, float zero) {
    return (int8_t)clampf(rintf((x - zero) * inv), -128.0f, 127.0f);
}

static float inverse(float scale) { return scale > 0 ? 1.0f / scale : 0.0f; }

void kv_int8_encode_group(const float *x, int32_t n, int8_t *codes, uint8_t *scale_dst, uint8_t *zero_dst) {
    float lo = INFINITY, hi = -INFINITY, scale, zero;
    for (int32_t i = 0; i < n; i++) lo = min_of(lo, x[i]), hi = max_of(hi, x[i]);
    params_for_range(lo, hi, scale_dst, zero_dst, &scale, &zero);
    float inv = inverse(scale);
    for (int32_t i = 0; i < n; i++) codes[i] = quantize(x[i], inv, zero);
}

void kv_int8_append_channels(const float *x, int32_t n_channels, int32_t offset, int8_t *codes, size_t row_stride,
                             uint8_t *scales, uint8_t *zeros) {
    for (int32_t c = 0; c < n_channels; c++) {
        uint8_t *scale_at = scales + 2 * (size_t)c, *zero_at = zeros + 2 * (size_t)c;
        int8_t *column = codes + c;
        float scale = offset > 0 ? f16_at(scale_at) : 0, zero = offset > 0 ? f16_at(zero_at) : 0;
        if (offset == 0 || !(x[c] >= zero - 128.0f * scale && x[c] <= zero + 127.0f * scale)) {
            /* widen the channel's range to take x[c]; requantize the earlier rows on the new grid */
            float lo = min_of(INFINITY, x[c]), hi = max_of(-INFINITY, x[c]), new_scale, new_zero;
            for (int32_t r = 0; r < offset; r++) {
                float y = scale * (float)column[(size_t)r * row_stride] + zero;
                lo = min_of(lo, y), hi = max_of(hi, y);
            }
            params_for_range(lo, hi, scale_at, zero_at, &new_scale, &new_zero);
            float new_inv = inverse(new_scale);
            for (int32_t r = 0; r < offset; r++) {
                int8_t *q = &column[(size_t)r * row_stride];
                *q = quantize(scale * (float)*q + zero, new_inv, new_zero);
            }
            scale = new_scale, zero = new_zero;
        }
        column[(size_t)offset * row_stride] = quantize(x[c], inverse(scale), zero);
    }
}
