/* FP8 E4M3 (the OCP "e4m3fn" format used for KV caches): 1 sign, 4 exponent bits (bias 7), 3 mantissa
 * bits; no infinities; largest finite value 448; 0x7f / 0xff are NaN. */
#ifndef LOOM_CORE_FP8_H
#define LOOM_CORE_FP8_H

#include <stdint.h>

#define LOOM_FP8_E4M3_MAX 448.0f

float fp8_e4m3_to_f32(uint8_t v);
/* Round to nearest even; magnitudes above 448 saturate to 448 (never NaN for finite input). */
uint8_t f32_to_fp8_e4m3(float f);

#endif
