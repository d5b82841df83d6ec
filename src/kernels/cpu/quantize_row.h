/* Float32 rows -> weight storage formats (load-time quantization and `loom quantize`). */
#ifndef LOOM_KERNELS_CPU_QUANTIZE_ROW_H
#define LOOM_KERNELS_CPU_QUANTIZE_ROW_H

#include <stdint.h>

#include "core/tensor.h"

/* 1 when quantize_row can produce this dtype. */
int can_quantize_to(loom_dtype t);
/* x [n] -> dst (dtype_bytes(t, n) bytes); n a multiple of the dtype's block. Rounding:
 * Q8_0 d = max|x|/127, q = round(x/d); Q4_0 d = (signed value of largest magnitude)/-8, q = round(x/d)+8
 * clamped to 0..15; Q4_1 d = (max-min)/15, m = min, q = round((x-m)/d); FP8 d = the f16
 * scale in [max|x|/448, 2 max|x|/448) of least squared error (16 candidates), e4m3(x/d) round-to-nearest-even. */
void quantize_row(loom_dtype t, const float *x, void *dst, int64_t n);

#endif
