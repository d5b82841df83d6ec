/* Activations quantized to int8 for integer dot products against block-quantized weights: each run
 * of 32 floats becomes one block with a float scale d (x ~= d * q) and d * sum(q), the term the
 * zero-point/offset corrections of Q4_0/Q4_1 need. */
#ifndef LOOM_KERNELS_CPU_ACT_QUANT_H
#define LOOM_KERNELS_CPU_ACT_QUANT_H

#include <stdint.h>

#define LOOM_XBLOCK_ELEMS 32
/* Most tokens one integer dot call handles: a weight block is unpacked once for all of them. */
#define LOOM_XDOT_MAX_TOKENS 4

typedef struct loom_xblock {
    float d;             /* scale: max |x| / 127 */
    float dsum;          /* d * sum(q) */
    int16_t half_sum[2]; /* sum(q[0..15]), sum(q[16..31]): for weights with a scale per 16 elements */
    int8_t q[LOOM_XBLOCK_ELEMS];
} loom_xblock;

/* x [n] (n a multiple of 32) -> n / 32 blocks, round-to-nearest (even). Every ISA's version gives the
 * same bytes for finite x (a NaN or infinity makes a block's values meaningless, differently per ISA);
 * quantize_x_row (kernels/cpu/rowops.c) runs this CPU's. */
typedef void (*loom_quantize_x_fn)(const float *x, loom_xblock *out, int64_t n);
void quantize_x_row(const float *x, loom_xblock *out, int64_t n);
void quantize_x_row_portable(const float *x, loom_xblock *out, int64_t n);
#if defined(__x86_64__)
void quantize_x_row_avx512(const float *x, loom_xblock *out, int64_t n);
#endif

#endif
