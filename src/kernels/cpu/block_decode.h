/* Every block-quantized weight dtype read as 32-element sub-blocks of integers with per-half scales and
 * offsets: element j of sub-block s of a block is dh[j / 16] * w[j] + m[j / 16] (in that order of float
 * operations, which gives exactly the values of ggml's and gguf-py's dequantizers: every product of a
 * scale and w is exact in float32). A block of E elements holds E / 32 sub-blocks. The dequantization,
 * the load-time conversions and the portable int8-activation dot all read weights through this one
 * decoder; the SIMD kernels read the same bytes their own way and are tested against it. */
#ifndef LOOM_KERNELS_CPU_BLOCK_DECODE_H
#define LOOM_KERNELS_CPU_BLOCK_DECODE_H

#include <stdint.h>

#include "core/tensor.h"

typedef struct loom_subblock {
    int w[32];
    float dh[2]; /* scales of elements 0..15, 16..31 */
    float m[2];  /* offsets of elements 0..15, 16..31 */
} loom_subblock;

/* 1 when t is a block-quantized dtype this decoder reads (every one but F32/F16/BF16/I32/FP8). */
int block_decodable(loom_dtype t);
/* Sub-block s (0 <= s < block_elems / 32) of the block at blk. */
void decode_subblock(loom_dtype t, const uint8_t *blk, int s, loom_subblock *o);

/* IQ4_NL / IQ4_XS's 16 non-linear int8 levels (ggml's kvalues_iq4nl). */
extern const int8_t iq4nl_levels[16];

#endif
