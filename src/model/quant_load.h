/* Load-time conversion of the weight matrices (loom_model_params.quantization). */
#ifndef LOOM_MODEL_QUANT_LOAD_H
#define LOOM_MODEL_QUANT_LOAD_H

#include "model/model.h"

/* The storage dtype a quantization mode converts matrices to. */
loom_dtype quantization_dtype(loom_quantization q);
/* The dtype a matrix stored as `stored` with rows of row_len elements has when the layer matrices are
 * converted to `to` (quantization_dtype, or a GGUF type for `loom quantize`): layer matrices take it; the embedding /
  * LM head (is_head), the most sensitive matrix (llama.cpp
 * keeps it at 6+ bits too), stays as stored, or becomes INT8 (Q8_0) when stored as f32/f16/bf16 (f32 in
 * to == f32); a row length that is not a multiple of the dtype's block keeps the stored dtype. Shared
 * by load-time conversion and `loom quantize` (gguf_quantize.c) so both give the same weights. */
loom_dtype converted_dtype(loom_dtype to, int is_head, loom_dtype stored, int64_t row_len);
/* The dtype a matrix stored as `stored` is computed in: itself, or Q8_0 for the types the kernels only read
 * (IQ1/IQ2/IQ3, TQ1_0/TQ2_0, MXFP4/NVFP4, Q1_0/Q2_0: rare, and each would need its own kernels). Q8_0 over
 * F16: half the memory, and its rounding (at most 1/254 of a block's largest value) is far below these
 * 1.5- to 4-bit types' own error, so the model's outputs stay those of the file within noise. Also applied
 * by converted_dtype. */
loom_dtype stored_dtype_for_compute(loom_dtype stored);
/* One row of n elements from `from` to `to` through scratch [n] float32. */
void convert_row(loom_dtype from, const void *src, loom_dtype to, void *dst, float *scratch, int64_t n);
/* The dtype a tensor-parallel column slice [col_begin, col_begin + cols) of a `stored` matrix keeps: its own when
 * the slice falls on its block boundaries, else Q8_0 (requantized from the dequantized rows: a K-quant's 256
 * columns rarely divide evenly, e.g. Qwen2.5-0.5B's FFN of 4864 between 2 ranks), LOOM_DTYPE_COUNT when not
 * even 32-element blocks fit. */
loom_dtype column_slice_dtype(loom_dtype stored, int64_t col_begin, int64_t cols);
/* Columns [col_begin, col_begin + cols) of `rows` rows of `from` (full_cols elements each, contiguous from src)
 * in dtype `to` (column_slice_dtype) into dst. */
loom_status slice_columns(loom_dtype from, const uint8_t *src, int64_t rows, int64_t full_cols, int64_t col_begin,
                          int64_t cols, loom_dtype to, uint8_t *dst, loom_error *err);
/* Converts every layer matrix this shard holds in m->w to the mode's dtype, into buffers the model owns (a matrix
 * already in its dtype stays as it is); dtypes as converted_dtype. LOOM_QUANT_NONE converts only the
 * matrices in a dtype without kernels (stored_dtype_for_compute). */
loom_status quantize_weights(loom_model *m, loom_quantization q, loom_error *err);

#endif
