#include "core/fp8.h"

#include <math.h>
#include <string.h>

float fp8_e4m3_to_f32(uint8_t v) {
    uint32_t sign = (uint32_t)(v & 0x80) << 24, e = (v >> 3) & 15, m = v & 7;
    if (e == 15 && m == 7) return NAN;
    float out;
    if (e == 0) {
        out = (float)m * 0x1p-9f; /* subnormal: m x 2^-9 */
    } else {
        uint32_t bits = ((e - 7 + 127) << 23) | (m << 20);
        memcpy(&out, &bits, 4);
    }
    uint32_t b;
    memcpy(&b, &out, 4);
    b |= sign;
    memcpy(&out, &b, 4);
    return out;
}

uint8_t f32_to_fp8_e4m3(float f) {
    uint8_t sign = signbit(f) ? 0x80 : 0;
    float a = fabsf(f);
    if (isnan(f)) return 0x7f;
    if (a >= LOOM_FP8_E4M3_MAX) return sign | 0x7e;
    if (a < 0x1p-6f) { /* subnormal range: steps of 2^-9 (8 steps reach the smallest normal) */
        int m = (int)rintf(a * 512.0f);
        return (uint8_t)(sign | m); /* m == 8 is exactly the code of 2^-6 */
    }
    int e;
    float frac = frexpf(a, &e); /* a = frac x 2^e, frac in [0.5, 1) */
    int m = (int)rintf((frac * 2.0f - 1.0f) * 8.0f);
    int exp_field = e - 1 + 7;
    if (m == 8) {
        m = 0;
        exp_field++;
    }
    if (exp_field > 15 || (exp_field == 15 && m == 7)) return sign | 0x7e;
    return (uint8_t)(sign | (exp_field << 3) | m);
}
