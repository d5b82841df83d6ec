/* The loop every x16 kernel runs (xdot_x16_avx512.c, xdot_x16_more_avx512.c): each group of LOOM_X16_ROWS
 * rows against the tokens in tiles of `full` tokens, then of 8, then one tile of the rest. `tile` is the
 * file's always-inline tile, called with a constant token count each time so its loops unroll:
 * tile(t, group, a, row0, tok0, n_tokens). */
#ifndef LOOM_KERNELS_CPU_X16_TILES_H
#define LOOM_KERNELS_CPU_X16_TILES_H

#include <immintrin.h>

#include "kernels/cpu/pack_x16.h"

#define X16_PREFETCH_AHEAD_BYTES 4096

/* Prefetches the weight bytes X16_PREFETCH_AHEAD_BYTES past block b of a group (block_bytes each), for every
 * type and tile: the hardware prefetchers alone leave the loads stalled, most with a tile's compute between
 * them (measured on the 2-core AVX-512 box: a 5-token step on Qwen2.5-1.5B Q4_K_M 2.1x a 1-token step
 * without, 1.2x with; SmolLM2-135M Q4_1 decode 1.35x faster). Inlined: a call in a tile would spill its
 * accumulators (every vector register is caller-saved) */
static inline __attribute__((always_inline)) void x16_prefetch_ahead(const uint8_t *group, int64_t b,
                                                                     size_t block_bytes) {
    for (size_t pf = 0; pf < block_bytes; pf += 64)
        _mm_prefetch((const char *)group + (size_t)b * block_bytes + X16_PREFETCH_AHEAD_BYTES + pf, _MM_HINT_T0);
}

#define X16_GROUPS_BY_TILES(tile, t, a, full)                                                                          \
    do {                                                                                                               \
        size_t group_bytes_ = x16_group_bytes((t), (a)->n_blocks * 32);                                                \
        for (int64_t g_ = 0; g_ < (a)->n_rows / LOOM_X16_ROWS; g_++) {                                                 \
            const uint8_t *group_ = (const uint8_t *)(a)->rows + (size_t)g_ * group_bytes_;                            \
            int64_t row0_ = g_ * LOOM_X16_ROWS;                                                                        \
            int tok_ = 0;                                                                                              \
            for (; tok_ + (full) <= (a)->n_tok; tok_ += (full)) tile(t, group_, a, row0_, tok_, full);                 \
            for (; tok_ + 8 <= (a)->n_tok; tok_ += 8) tile(t, group_, a, row0_, tok_, 8);                              \
            switch ((a)->n_tok - tok_) {                                                                               \
                case 7: tile(t, group_, a, row0_, tok_, 7); break;                                                     \
                case 6: tile(t, group_, a, row0_, tok_, 6); break;                                                     \
                case 5: tile(t, group_, a, row0_, tok_, 5); break;                                                     \
                case 4: tile(t, group_, a, row0_, tok_, 4); break;                                                     \
                case 3: tile(t, group_, a, row0_, tok_, 3); break;                                                     \
                case 2: tile(t, group_, a, row0_, tok_, 2); break;                                                     \
                case 1: tile(t, group_, a, row0_, tok_, 1); break;                                                     \
                default: break;                                                                                        \
            }                                                                                                          \
        }                                                                                                              \
    } while (0)

#endif
