/* x86 SIMD versions of the fused row dots (kernels/cpu/rowops.c chooses one set at start-up). */
#ifndef LOOM_KERNELS_CPU_DOT_X86_H
#define LOOM_KERNELS_CPU_DOT_X86_H

#include <stdint.h>

typedef float (*loom_dot_fn)(const void *row, const float *x, int64_t n);

typedef struct loom_dot_table {
    const char *isa;
    loom_dot_fn f32, q8_0, q4_0, q4_1;
} loom_dot_table;

#if defined(__x86_64__)
extern const loom_dot_table loom_dot_avx2;
extern const loom_dot_table loom_dot_avx512;
#endif

#endif
