/* Element types and tensor views.
 *
 * A loom_tensor never owns its data: it points into an mmap'd checkpoint (or an arena owned by the
 * model). Shapes follow the row-major convention of the HF checkpoints: shape[0] is the number of rows
 * (output features of a linear layer), shape[n_dims-1] the row length (input features). Block-quantized
 * types pack each row as row_len / block_elems blocks; a row never splits a block. */
#ifndef LOOM_CORE_TENSOR_H
#define LOOM_CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum loom_dtype {
    LOOM_DTYPE_F32 = 0,
    LOOM_DTYPE_F16,
    LOOM_DTYPE_BF16,
    LOOM_DTYPE_Q8_0,     /* 32 elems: f16 scale d, int8 q[32]; x = d*q                       (34 bytes) */
    LOOM_DTYPE_Q4_0,     /* 32 elems: f16 d, u8 qs[16]; elem j<16 = low nibble of qs[j], j>=16 high; x = d*(q-8) */
    LOOM_DTYPE_Q4_1,     /* 32 elems: f16 d, f16 m, u8 qs[16] (nibbles as Q4_0); x = d*q + m   (20 bytes) */
    LOOM_DTYPE_Q4_K,     /* 256 elems, 144 bytes, llama.cpp super-block layout */
    LOOM_DTYPE_Q6_K,     /* 256 elems, 210 bytes, llama.cpp super-block layout */
    LOOM_DTYPE_I32,      /* metadata-ish tensors only, never a weight */
    LOOM_DTYPE_FP8_E4M3, /* 32 elems: f16 scale d, u8 e4m3[32] (OCP FP8 E4M3, no inf); x = d*e4m3 (34 bytes) */
    /* More of llama.cpp's block types, byte for byte as ggml stores them (kernels/cpu/block_decode.c reads
     * each one). These have int8-activation matmul kernels: */
    LOOM_DTYPE_Q5_0,   /* 32 elems, 22 bytes: f16 d, u32 qh (bit j = bit 4 of elem j), qs[16] as Q4_0; x = d*(q-16) */
    LOOM_DTYPE_Q5_1,   /* 32 elems, 24 bytes: f16 d, f16 m, u32 qh, qs[16]; x = d*q + m */
    LOOM_DTYPE_Q2_K,   /* 256 elems, 84 bytes */
    LOOM_DTYPE_Q3_K,   /* 256 elems, 110 bytes */
    LOOM_DTYPE_Q5_K,   /* 256 elems, 176 bytes */
    LOOM_DTYPE_IQ4_NL, /* 32 elems, 18 bytes: f16 d, qs[16] indices into a 16-value int8 table */
    LOOM_DTYPE_IQ4_XS, /* 256 elems, 136 bytes */
    /* ... and these are read only (converted to Q8_0 at load, quant_load.h): */
    LOOM_DTYPE_IQ2_XXS, /* 256 elems, 66 bytes */
    LOOM_DTYPE_IQ2_XS,  /* 256 elems, 74 bytes */
    LOOM_DTYPE_IQ2_S,   /* 256 elems, 82 bytes */
    LOOM_DTYPE_IQ3_XXS, /* 256 elems, 98 bytes */
    LOOM_DTYPE_IQ3_S,   /* 256 elems, 110 bytes */
    LOOM_DTYPE_IQ1_S,   /* 256 elems, 50 bytes */
    LOOM_DTYPE_IQ1_M,   /* 256 elems, 56 bytes */
    LOOM_DTYPE_TQ1_0,   /* 256 elems, 54 bytes */
    LOOM_DTYPE_TQ2_0,   /* 256 elems, 66 bytes */
    LOOM_DTYPE_MXFP4,   /* 32 elems, 17 bytes */
    LOOM_DTYPE_NVFP4,   /* 64 elems, 36 bytes */
    LOOM_DTYPE_Q1_0,    /* 128 elems, 18 bytes */
    LOOM_DTYPE_Q2_0,    /* 64 elems, 18 bytes */
    LOOM_DTYPE_COUNT
} loom_dtype;

#define LOOM_MAX_DIMS 4

/* How a matrix's bytes are arranged: row after row (as in the checkpoint), or in the CPU kernels'
 * interleaved groups of 16 rows (kernels/cpu/pack_x16.h; tensor_row does not apply). */
typedef enum loom_layout { LOOM_LAYOUT_ROWS = 0, LOOM_LAYOUT_X16 } loom_layout;

typedef struct loom_tensor {
    const void *data;
    loom_dtype dtype;
    int n_dims;
    int64_t shape[LOOM_MAX_DIMS]; /* shape[n_dims-1] is the contiguous (row) dimension */
    size_t row_stride_bytes;      /* bytes from one row to the next (rows contiguous unless sliced) */
    loom_layout layout;
} loom_tensor;

const char *dtype_name(loom_dtype t);
int64_t dtype_block_elems(loom_dtype t); /* 1 for plain types */
size_t dtype_block_bytes(loom_dtype t);  /* bytes of one block (or one element) */
/* Bytes of n elements; returns 0 when n is not a multiple of the block size. */
size_t dtype_bytes(loom_dtype t, int64_t n_elems);

int64_t tensor_n_elems(const loom_tensor *t);
int64_t tensor_rows(const loom_tensor *t);                 /* product of all dims but the last */
int64_t tensor_row_len(const loom_tensor *t);              /* last dim */
const void *tensor_row(const loom_tensor *t, int64_t row); /* row layout only */

/* fp16 / bf16 <-> f32 conversions (exact, round-to-nearest-even on the way down). */
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

#endif
