/* The backend seam for weights at load time, before any backend instance exists: which weight dtypes the
 * kernels run (as stored, or after a conversion at load), row codecs (dequantize to float32, quantize from
 * it), and the matrix layout the kernels prefer (the CPU's interleaved groups of 16 rows). The model's
 * loaders use only this; the CPU implementation is kernels/cpu/weight_prep.c. */
#ifndef LOOM_KERNELS_WEIGHT_PREP_H
#define LOOM_KERNELS_WEIGHT_PREP_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

/* 1 when the kernels accept weight matrices of this dtype (possibly after weight_prep_has_kernels says a
 * conversion at load is needed). */
int weight_prep_dtype_supported(loom_dtype t);
/* 1 when matmuls run on this dtype as stored; the others are converted at load (model/quant_load.c). */
int weight_prep_has_kernels(loom_dtype t);
/* One row of n elements of dtype t -> float32 / float32 -> dtype t (weight_prep_can_quantize_to(t)). */
void weight_prep_dequant_row(loom_dtype t, const void *row, float *dst, int64_t n);
int weight_prep_can_quantize_to(loom_dtype t);
void weight_prep_quantize_row(loom_dtype t, const float *x, void *dst, int64_t n);
/* The kernels' preferred layout for a matrix: 1 when t should be rearranged (weight_prep_pack), its bytes
 * then, and the rearrangement of rows [n_rows][row_len] of dtype t (contiguous) into dst. */
int weight_prep_packable(const loom_tensor *t);
size_t weight_prep_packed_bytes(loom_dtype t, int64_t n_rows, int64_t row_len);
void weight_prep_pack(loom_dtype t, const void *rows, void *dst, int64_t n_rows, int64_t row_len);

#endif
