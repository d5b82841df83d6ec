/* The interleaved "x16" layout of Q8_0 / Q4_0 / Q4_1 / Q4_K / Q6_K weight matrices, for int8 dot kernels
 * that keep one output row per 32-bit lane of a 512-bit register: 16 rows' dots for one token then come
 * out of a single vector of vpdpbusd (no horizontal sums), and one vector of 16 row scales serves them.
 *
 * A matrix of R rows (R a multiple of 16) becomes R / 16 groups of x16_group_bytes each; a group is
 * one record per block of the dtype (32 elements, Q4_K 256), in block order:
 *   Q8_0 (544 bytes): f16 d[16] | 8 chunks x 16 rows x 4 bytes: chunk c, lane r = bytes 4c..4c+3 of row r's
 *                     quants, stored + 128 (unsigned, for vpdpbusd's unsigned side)
 *   Q4_0 (288 bytes): f16 d[16] | 4 chunks x 16 rows x 4 bytes of row r's nibble bytes 4c..4c+3 (the low
 *                     nibbles are elements 4c.., the high ones 16 + 4c..)
 *   Q4_1 (320 bytes): f16 d[16] | f16 m[16] | the nibbles as Q4_0
 *   Q4_K (2368 bytes, 64 more than the 16 rows': the 6-bit scales unpacked): f16 d[16] | f16 dmin[16] |
 *                     u8 scale[8 sub-blocks][16] | u8 min[8][16] | per sub-block pair i (512 bytes): 8 chunks
 *                     x 16 rows x 4 bytes of row r's qs bytes 32i + 4c.. (low nibbles sub-block 2i,
 *                     high 2i + 1, byte k = element k)
 *   Q6_K (3360 bytes): f16 d[16] | int8 scale[16 sub-blocks of 16][16] | the 128 low-nibble bytes as 4 runs
 *                     of 8 chunks x 16 rows x 4 bytes (run i = bytes 32i..) | the 64 high-bit bytes as 2
 *                     such runs (llama.cpp's element order within them)
 * Every type is then unsigned weights u against signed activations x, per 32-element block:
 * w . x = d (u . q_x) + off d_x sum(q_x), with (d, off) = (d, -128 d) for Q8_0, (d, -8 d) for Q4_0, (d, m)
 * for Q4_1 and (d scale_j, -dmin min_j) for Q4_K sub-block j; Q6_K: per 16-element half,
 * d scale_h d_x (u . q_x - 32 sum(q_x)) with the half's integer activation sum. Q5_0 / Q5_1 / IQ4_NL / IQ4_XS /
 * Q5_K / Q2_K / Q3_K: pack_x16_more.h. */
#ifndef LOOM_KERNELS_CPU_PACK_X16_H
#define LOOM_KERNELS_CPU_PACK_X16_H

#include <stdint.h>

#include "core/tensor.h"

#define LOOM_X16_ROWS 16

/* Whether t can take the layout: a row-layout matrix of one of the dtypes above with contiguous rows,
 * a multiple of 16 of them, and this CPU's kernels have an x16 path for its dtype. */
int x16_packable(const loom_tensor *t);

/* Bytes of one record of dtype (one block of 16 rows; 0 for a dtype without the layout); inline so the
 * kernels get constants. */
static inline size_t loom_x16_record_bytes(loom_dtype t) {
    switch (t) {
        case LOOM_DTYPE_Q8_0: return 544;
        case LOOM_DTYPE_Q4_0: return 288;
        case LOOM_DTYPE_Q4_1: return 320;
        case LOOM_DTYPE_Q4_K: return 2368;
        case LOOM_DTYPE_Q6_K: return 3360;
        case LOOM_DTYPE_Q5_0: return 352; /* these: pack_x16_more.h */
        case LOOM_DTYPE_Q5_1: return 384;
        case LOOM_DTYPE_IQ4_NL: return 288;
        case LOOM_DTYPE_IQ4_XS: return 2208;
        case LOOM_DTYPE_Q5_K: return 2880;
        case LOOM_DTYPE_Q2_K: return 1344;
        case LOOM_DTYPE_Q3_K: return 1824;
        default: return 0;
    }
}
/* Bytes of one group of 16 rows of row_len elements. */
size_t x16_group_bytes(loom_dtype t, int64_t row_len);
/* Bytes of a packed n_rows x row_len matrix. */
size_t x16_matrix_bytes(loom_dtype t, int64_t n_rows, int64_t row_len);

/* rows [n_rows] of dtype (contiguous) -> dst in the layout (x16_matrix_bytes; must not overlap). */
void x16_pack(loom_dtype t, const void *rows, void *dst, int64_t n_rows, int64_t row_len);

/* Row `row` of a packed matrix as float32 [row_len]. */
void x16_dequant_row(loom_dtype t, const void *packed, int64_t row, int64_t row_len, float *out);

#endif
