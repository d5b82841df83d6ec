/* Per-row primitives over weight rows of every supported dtype: dequantize one row to float32, and
 * the dots of weight rows with float32 or int8 activations. n is the row length in elements
 * (a multiple of the dtype's block size, checked at load). */
#ifndef LOOM_KERNELS_CPU_ROWOPS_H
#define LOOM_KERNELS_CPU_ROWOPS_H

#include <stdint.h>

#include "core/tensor.h"
#include "kernels/cpu/act_quant.h"
#include "kernels/cpu/dot_x86.h"

/* 1 when the CPU kernels accept weight matrices of this dtype: every dtype they can dequantize. */
int cpu_weight_dtype_supported(loom_dtype t);
/* 1 when matmuls run on weights of this dtype as stored; the others (IQ1/IQ2/IQ3, TQ, FP4, Q1_0/Q2_0) are
 * converted at load (quant_load.h). */
int cpu_dtype_has_kernels(loom_dtype t);

void dequant_row(loom_dtype t, const void *row, float *dst, int64_t n);
/* 1 when matmuls with this weight dtype run on int8-quantized activations (xdot_row). */
int dtype_takes_int8_x(loom_dtype t);
/* A run of rows against up to LOOM_XDOT_MAX_TOKENS tokens (loom_xdot_args: kernels/cpu/dot_x86.h). */
void xdot_rows(loom_dtype t, const loom_xdot_args *a);
/* 1 when this CPU's kernels have the x16 layout (pack_x16.h) for dtype t. */
int cpu_has_x16(loom_dtype t);
/* Whole groups of 16 rows in the x16 layout against any number of tokens (a->rows = the first group). */
void xdot_x16_rows(loom_dtype t, const loom_xdot_args *a);
/* One row: out[t] = dot(row, x + t * x_stride) for t < n_tok <= LOOM_XDOT_MAX_TOKENS; x holds n_blocks
 * blocks of 32 per token. */
void xdot_row(loom_dtype t, const void *row, const loom_xblock *x, int64_t n_blocks, int64_t x_stride, int n_tok,
              float *out);
/* float32 dot product. */
float dot_f32(const float *a, const float *b, int64_t n);
/* out[r * 4 + t] = dot_f32(w[r], x[t], n) for a 4 x 4 tile (kernels/cpu/dot_x86.h: loom_tile_fn). */
void dot_f32_tile(const float *const *w, const float *const *x, int64_t n, float *out);
/* One token x 4 float-activation rows as stored (kernels/cpu/dot_x86.h: loom_rows4_fn); 0 when this path
 * has no such kernel for t (the caller dequantizes and uses dot_f32, which adds up the same way). */
int dot_rows4(loom_dtype t, const void *const *rows, const float *x, int64_t n, float *out);
/* out[i] = silu(gate[i]) * up[i] (out may alias gate or up). */
void silu_mul(float *out, const float *gate, const float *up, int64_t n);
/* Which instruction set the dot kernels use: "avx512", "avx2" or "scalar". */
const char *cpu_isa(void);

#endif
