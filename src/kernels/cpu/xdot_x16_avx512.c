/* AVX-512 VNNI dots over Q8_0 / Q4_0 / Q4_1 / Q4_K / Q6_K weights in the x16 layout (kernels/cpu/pack_x16.h):
 * lane r of every vector is weight row r of a group of 16, so one token's 16 dots for a 32-element block
 * are 8 vpdpbusd (unsigned weight chunk x that token's 4 activation bytes, broadcast from memory), then
 * one conversion and two multiply-adds against the block's 16 scales and offsets. Tokens go in tiles of
 * up to 8 (Q6_K 16) over each block, so a block is loaded (and for 4-bit types, unpacked) once per tile;
 * a batch of decode rows (one token per sequence) or a prefill chunk reads each weight group from memory
 * once and from L1 for the other tiles.
 *
 * Batch invariant: each (row, token) is one lane of its own accumulator, which sums its blocks in order
 * with the same operations whatever the tile: a token's result is the same alone or in a batch. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cpu/dot_x86.h"
#include "kernels/cpu/pack_x16.h"
#include "kernels/cpu/x16_tiles.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET
#define MAX_TILE_TOKENS 16
/* tokens per tile of the types other than Q6_K: 8 sums, 8 accumulators and 8 weight vectors in registers */
#define MAX_INT_TILE_TOKENS 8

/* 4 activation bytes to every lane; a plain load the compiler folds into vpdpbusd's broadcast operand
 * (the bytes of an xblock are 4-aligned; the build has -fno-strict-aliasing) */
INLINE __m512i bcast4(const int8_t *p) { return _mm512_set1_epi32(*(const int32_t *)(const void *)p); }

/* 16 rows' bytes at p as floats */
INLINE __m512 u8_ps(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)));
}
INLINE __m512 f16_ps(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

/* Q6_K's 32-element block b of a group: its 16 rows' scales for elements 0..15 (d) and 16..31 (d_hi), and
 * its quants as 8 vectors of unsigned bytes (q = 0..63, the weight is q - 32), chunk c pairing with
 * activation bytes 4c..4c+3 */
INLINE void load_q6_k_block(const uint8_t *group, int64_t b, __m512 *d, __m512 *d_hi, __m512i w[8]) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    const uint8_t *rec = group + (size_t)(b / 8) * loom_x16_record_bytes(LOOM_DTYPE_Q6_K);
    int h = (int)(b % 8) / 4, k = (int)(b % 4); /* elements 128 h + 32 k .. */
    __m512 d16 = f16_ps(rec);
    const uint8_t *sc = rec + 32 + 16 * (8 * h + 2 * k);
    *d = _mm512_mul_ps(d16, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)sc))));
    *d_hi = _mm512_mul_ps(d16, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(sc + 16)))));
    const uint8_t *ql = rec + 288 + 1024 * h + 512 * (k % 2), *qh = rec + 2336 + 512 * h;
    for (int c = 0; c < 8; c++) {
        __m512i lo = _mm512_loadu_si512((const void *)(ql + 64 * c));
        __m512i hi = _mm512_loadu_si512((const void *)(qh + 64 * c));
        lo = _mm512_and_si512(k < 2 ? lo : _mm512_srli_epi16(lo, 4), low4);
        hi = _mm512_and_si512(_mm512_srli_epi16(hi, 2 * k), _mm512_set1_epi8(3));
        w[c] = _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4));
    }
}

/* Where the quants of a block of Q8_0 / Q4_0 / Q4_1 / Q4_K start, and whether they are the high nibbles
 * (Q4_K's odd sub-blocks) */
typedef struct block_quants {
    const uint8_t *q;
    int high;
} block_quants;

/* 32-element block b of a group: its 16 rows' scales d and offsets off (pack_x16.h) and its quants */
INLINE block_quants load_block_scales(loom_dtype t, const uint8_t *group, int64_t b, __m512 *d, __m512 *off) {
    if (t == LOOM_DTYPE_Q4_K) {
        const uint8_t *rec = group + (size_t)(b / 8) * loom_x16_record_bytes(t);
        int j = (int)(b % 8);
        *d = _mm512_mul_ps(f16_ps(rec), u8_ps(rec + 64 + 16 * j));
        *off = _mm512_mul_ps(f16_ps(rec + 32), _mm512_sub_ps(_mm512_setzero_ps(), u8_ps(rec + 192 + 16 * j)));
        return (block_quants){rec + 320 + 512 * (j / 2), j % 2}; /* sub-block pair: low nibbles 2i, high 2i + 1 */
    }
    const uint8_t *rec = group + (size_t)b * loom_x16_record_bytes(t);
    *d = f16_ps(rec);
    *off = t == LOOM_DTYPE_Q8_0 ? _mm512_mul_ps(*d, _mm512_set1_ps(-128.0f))
        : t == LOOM_DTYPE_Q4_0  ? _mm512_mul_ps(*d, _mm512_set1_ps(-8.0f))
                                : f16_ps(rec + 32);
    return (block_quants){rec + (t == LOOM_DTYPE_Q4_1 ? 64 : 32), 0};
}

/* Chunk c of a block's quants as 16 rows x 4 unsigned bytes, pairing with activation bytes 4c..4c+3
 * (unpacked as it is used, so a tile holds one weight vector at a time) */
INLINE __m512i quant_chunk(loom_dtype t, block_quants bq, int c) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    if (t == LOOM_DTYPE_Q8_0) return _mm512_loadu_si512((const void *)(bq.q + 64 * c));
    if (t == LOOM_DTYPE_Q4_K) {
        __m512i raw = _mm512_loadu_si512((const void *)(bq.q + 64 * c));
        return _mm512_and_si512(bq.high ? _mm512_srli_epi16(raw, 4) : raw, low4);
    }
    __m512i raw = _mm512_loadu_si512((const void *)(bq.q + 64 * (c % 4)));  /* Q4_0 / Q4_1 */
    return _mm512_and_si512(c < 4 ? raw : _mm512_srli_epi16(raw, 4), low4); /* elements 4c.. / 16 + 4(c - 4).. */
}

/* tokens [tok0, tok0 + NT) x the group's 16 rows, written to y rows [row0, row0 + 16) */
INLINE void group_tile(loom_dtype t, const uint8_t *group, const loom_xdot_args *a, int64_t row0, int tok0, int NT) {
    __m512 acc[MAX_TILE_TOKENS];
#pragma GCC unroll 16
    for (int k = 0; k < NT; k++) acc[k] = _mm512_setzero_ps();
    int per_super = t == LOOM_DTYPE_Q4_K || t == LOOM_DTYPE_Q6_K ? 8 : 1; /* 32-element blocks per record */
    size_t block_bytes = loom_x16_record_bytes(t) / (size_t)per_super;
    for (int64_t b = 0; b < a->n_blocks; b++) {
        x16_prefetch_ahead(group, b, block_bytes);
        __m512 d, d_hi, off;
        if (t == LOOM_DTYPE_Q6_K) {
            __m512i w[8];
            load_q6_k_block(group, b, &d, &d_hi, w);
            /* (q - 32) . x per half, each half with its own scale; unrolled: the accumulators stay in registers */
#pragma GCC unroll 16
            for (int k = 0; k < NT; k++) {
                const loom_xblock *x = a->x + (int64_t)(tok0 + k) * a->x_stride + b;
                /* elements 0..15 and 16..31, each starting from its -32 sum(q_x) */
                __m512i s0 = _mm512_set1_epi32(-32 * x->half_sum[0]), s1 = _mm512_set1_epi32(-32 * x->half_sum[1]);
                for (int c = 0; c < 4; c++) {
                    s0 = _mm512_dpbusd_epi32(s0, w[c], bcast4(x->q + 4 * c));
                    s1 = _mm512_dpbusd_epi32(s1, w[c + 4], bcast4(x->q + 16 + 4 * c));
                }
                __m512 dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), d_hi, _mm512_mul_ps(_mm512_cvtepi32_ps(s0), d));
                acc[k] = _mm512_fmadd_ps(dot, _mm512_set1_ps(x->d), acc[k]);
            }
            continue;
        }
        block_quants bq = load_block_scales(t, group, b, &d, &off);
        /* one integer sum per token over the block (exact, in any order): chunk-major, so each token's
         * chain of vpdpbusd interleaves with the other tokens'; one or two tokens (decode) run two chains
         * each and add them, halving the chain's latency */
        const loom_xblock *x = a->x + (int64_t)tok0 * a->x_stride + b;
        __m512i sum[MAX_INT_TILE_TOKENS];
        if (NT <= 2) {
            __m512i w[8];
            for (int c = 0; c < 8; c++) w[c] = quant_chunk(t, bq, c);
            for (int k = 0; k < NT; k++) {
                __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
                for (int c = 0; c < 4; c++) {
                    lo = _mm512_dpbusd_epi32(lo, w[c], bcast4(x[k * a->x_stride].q + 4 * c));
                    hi = _mm512_dpbusd_epi32(hi, w[c + 4], bcast4(x[k * a->x_stride].q + 16 + 4 * c));
                }
                sum[k] = _mm512_add_epi32(lo, hi);
            }
        } else {
            __m512i w = quant_chunk(t, bq, 0);
#pragma GCC unroll 16
            for (int k = 0; k < NT; k++)
                sum[k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, bcast4(x[k * a->x_stride].q));
#pragma GCC unroll 8
            for (int c = 1; c < 8; c++) {
                w = quant_chunk(t, bq, c);
#pragma GCC unroll 16
                for (int k = 0; k < NT; k++)
                    sum[k] = _mm512_dpbusd_epi32(sum[k], w, bcast4(x[k * a->x_stride].q + 4 * c));
            }
        }
#pragma GCC unroll 16
        for (int k = 0; k < NT; k++) {
            acc[k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[k]), _mm512_mul_ps(d, _mm512_set1_ps(x[k * a->x_stride].d)),
                                     acc[k]);
            acc[k] = _mm512_fmadd_ps(off, _mm512_set1_ps(x[k * a->x_stride].dsum), acc[k]);
        }
    }
#pragma GCC unroll 16
    for (int k = 0; k < NT; k++) _mm512_storeu_ps(a->y + (int64_t)(tok0 + k) * a->y_stride + row0, acc[k]);
}

INLINE void x16_rows(loom_dtype t, const loom_xdot_args *a) {
    if (t == LOOM_DTYPE_Q6_K) X16_GROUPS_BY_TILES(group_tile, t, a, MAX_TILE_TOKENS);
    else X16_GROUPS_BY_TILES(group_tile, t, a, MAX_INT_TILE_TOKENS);
}

TARGET void xdot_x16_q8_0_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q8_0, a); }
TARGET void xdot_x16_q4_0_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q4_0, a); }
TARGET void xdot_x16_q4_1_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q4_1, a); }
TARGET void xdot_x16_q4_k_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q4_K, a); }
TARGET void xdot_x16_q6_k_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q6_K, a); }

#endif
