/* The x16 records (pack_x16.h) of Q5_0 / Q5_1 / IQ4_NL / IQ4_XS / Q5_K / Q2_K / Q3_K: 16 rows' block
 * interleaved so that lane r of every 64-byte vector is row r, chunk c of a 32-element block pairing with
 * activation bytes 4c..4c+3 (elements 4c.. for c < 4 low nibbles, 16 + 4(c - 4).. for the high ones, i.e.
 * element 4c + i in both cases). "4 chunks" of nibbles are a Q4_0-style run (64 bytes per chunk: 16 rows x 4
 * bytes of nibble bytes 4c..4c+3); a "run" of a K type's bytes is 8 chunks x 16 rows x 4 bytes.
 *   Q5_0   (352 bytes): f16 d[16] | u32 h[16] | 4 chunks of nibbles. h is the row's qh rearranged so that bit
 *                       8i + c of h is bit 4c + i of qh (the fifth bit of chunk c's byte i): chunk c's fifth
 *                       bits are then (h >> c) & 0x01010101, one shift per chunk.
 *   Q5_1   (384 bytes): f16 d[16] | f16 m[16] | u32 h[16] | 4 chunks of nibbles
 *   IQ4_NL (288 bytes): f16 d[16] | 4 chunks of nibbles (indices into the levels)
 *   IQ4_XS (2208 bytes): f16 d[16] | int8 (scale - 32) [8 sub-blocks][16] | per sub-block 4 chunks of nibbles
 *   Q5_K   (2880 bytes): f16 d[16] | f16 dmin[16] | u8 scale[8][16] | u8 min[8][16] | qh (32 bytes) as one run |
 *                       qs as Q4_K's (per sub-block pair one run: low nibbles 2i, high 2i + 1)
 *   Q2_K   (1344 bytes): f16 d[16] | f16 dmin[16] | u8 scales[16][16] (ggml's scale | min << 4 bytes) | qs[64]
 *                       as 2 runs
 *   Q3_K   (1824 bytes): f16 d[16] | int8 (scale - 32) [16][16] | qs[64] as 2 runs | hmask[32] as one run */
#ifndef LOOM_KERNELS_CPU_PACK_X16_MORE_H
#define LOOM_KERNELS_CPU_PACK_X16_MORE_H

#include <stdint.h>

#include "core/tensor.h"

/* the record of one block of dtype t <-> row r's own block (t one of the dtypes above) */
void x16_more_pack_row(loom_dtype t, const uint8_t *block, int r, uint8_t *rec);
void x16_more_unpack_row(loom_dtype t, const uint8_t *rec, int r, uint8_t *block);

/* Q5_0 / Q5_1's qh <-> the record's h (above) */
static inline uint32_t loom_x16_q5_h_of_qh(uint32_t qh) {
    uint32_t h = 0;
    for (int c = 0; c < 8; c++)
        for (int i = 0; i < 4; i++) h |= ((qh >> (4 * c + i)) & 1u) << (8 * i + c);
    return h;
}

#endif
