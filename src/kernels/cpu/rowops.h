/* Per-row primitives over weight rows of every supported dtype: dequantize one row to float32, and
 * the fused dequantize-and-dot of one row with a float32 vector. n is the row length in elements
 * (a multiple of the dtype's block size, checked at load). */
#ifndef LOOM_KERNELS_CPU_ROWOPS_H
#define LOOM_KERNELS_CPU_ROWOPS_H

#include <stdint.h>

#include "core/tensor.h"

/* 1 when the CPU kernels accept weight matrices of this dtype. */
int loom_cpu_weight_dtype_supported(loom_dtype t);

void loom_dequant_row(loom_dtype t, const void *row, float *dst, int64_t n);
float loom_dot_row(loom_dtype t, const void *row, const float *x, int64_t n);
/* float32 dot product. */
float loom_dot_f32(const float *a, const float *b, int64_t n);
/* Which instruction set the dot kernels use: "avx512", "avx2" or "scalar". */
const char *loom_cpu_isa(void);

#endif
