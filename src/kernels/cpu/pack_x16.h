/* The interleaved "x16" layout of Q8_0 / Q4_0 / Q4_1 weight matrices, for int8 dot kernels that keep
 * one output row per 32-bit lane of a 512-bit register: 16 rows' dots for one token then come out of a
 * single vector of vpdpbusd (no horizontal sums), and one vector of 16 row scales serves them all.
 *
 * A matrix of R rows (R a multiple of 16) x n_blocks blocks of 32 becomes R / 16 groups, group g at
 * g x 16 x row_bytes; a group is n_blocks records, block b's record at b x record_bytes (the same bytes as
 * the 16 rows it replaces):
 *   Q8_0 (544 bytes): f16 d[16] | 8 chunks x 16 rows x 4 bytes: chunk c, lane r = bytes 4c..4c+3 of row r's
 *                     quants, stored + 128 (unsigned, for vpdpbusd's unsigned side)
 *   Q4_0 (288 bytes): f16 d[16] | 4 chunks x 16 rows x 4 bytes of row r's nibble bytes 4c..4c+3 (the low
 *                     nibbles are elements 4c.., the high ones 16 + 4c..)
 *   Q4_1 (320 bytes): f16 d[16] | f16 m[16] | the nibbles as Q4_0
 * Every type is then unsigned weights u against signed activations x: x . w = d (u . q_x) + off d_x sum(q_x)
 * with off = -128 d (Q8_0), -8 d (Q4_0), m (Q4_1). */
#ifndef LOOM_KERNELS_CPU_PACK_X16_H
#define LOOM_KERNELS_CPU_PACK_X16_H

#include <stdint.h>

#include "core/tensor.h"

#define LOOM_X16_ROWS 16

/* Whether t can take the layout: a row-layout Q8_0 / Q4_0 / Q4_1 matrix with contiguous rows, a multiple
 * of 16 of them, and this CPU's kernels have an x16 path for its dtype. */
int loom_x16_packable(const loom_tensor *t);

/* Bytes of one block record of dtype (0 for a dtype without the layout). */
size_t loom_x16_record_bytes(loom_dtype t);

/* rows [n_rows] of dtype (contiguous, row_bytes each) -> dst in the layout (same size; must not overlap). */
void loom_x16_pack(loom_dtype t, const void *rows, void *dst, int64_t n_rows, int64_t n_blocks);

/* Row `row` of a packed matrix as float32 [n_blocks x 32]. */
void loom_x16_dequant_row(loom_dtype t, const void *packed, int64_t row, int64_t n_blocks, float *out);

#endif
