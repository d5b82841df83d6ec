/* AVX-512 VNNI dots over Q5_0 / Q5_1 / IQ4_NL / IQ4_XS / Q5_K / Q2_K / Q3_K weights in the x16 layout
 * (pack_x16_more.h), the same scheme as xdot_x16_avx512.c: lane r of every vector is row r of a group of 16,
 * a 32-element block is 8 vpdpbusd of unsigned weight chunks against the token's broadcast activation bytes,
 * then per-row scales and offsets as vectors. Unsigned weights per type: Q5 nibble | fifth bit << 4 (Q5_0's
 * offset -16 d, Q5_1's m, Q5_K's -dmin min); IQ4 levels + 128 by a byte shuffle (offset -128 d); Q2_K's 2-bit
 * values with per-16 scales and mins; Q3_K's 2 bits | hmask bit << 2 with per-16 scales and offset -4.
 *
 * Batch invariant: each (row, token) is one lane of its own accumulator, summing its blocks in order with the
 * same operations whatever the tile. */
#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cpu/block_decode.h"
#include "kernels/cpu/dot_x86.h"
#include "kernels/cpu/pack_x16.h"
#include "kernels/cpu/x16_tiles.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET
#define MAX_TILE_TOKENS 8

INLINE __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* 16 rows' values at p as floats */
INLINE __m512 f16_ps(const uint8_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
INLINE __m512 u8_ps(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p)));
}
INLINE __m512 i8_ps(const uint8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}
INLINE __m512i load(const uint8_t *p) { return _mm512_loadu_si512((const void *)p); }

/* w | (bit `from` of each byte of bits, moved to bit `to`) */
INLINE __m512i or_bit(__m512i w, __m512i bits, int from, int to) {
    __m512i moved =
        from > to ? _mm512_srli_epi32(bits, (unsigned)(from - to)) : _mm512_slli_epi32(bits, (unsigned)(to - from));
    return _mm512_ternarylogic_epi32(w, moved, _mm512_set1_epi8((char)(1 << to)), 0xf8); /* w | (moved & mask) */
}

/* One 32-element block of 16 rows: scales and offsets of elements 0..15 (d, off) and 16..31 (d_hi, off_hi;
 * the types with one scale per 32 set only d and off, Q3_K only d and d_hi: its offset -4 is applied to the
 * integer sums), and the unsigned weights, chunk c pairing with activation bytes 4c.. */
typedef struct wblock {
    __m512 d, d_hi, off, off_hi;
    __m512i w[8];
} wblock;

/* Q4_0-style nibble chunks at q: low nibbles are chunks 0..3, high ones 4..7 */
INLINE void nibble_chunks(const uint8_t *q, __m512i w[8]) {
    const __m512i low4 = _mm512_set1_epi8(0x0f);
    for (int c = 0; c < 4; c++) {
        __m512i raw = load(q + 64 * c);
        w[c] = _mm512_and_si512(raw, low4);
        w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
    }
}

INLINE void iq4_levels(__m512i w[8]) {
    int8_t u[16];
    for (int i = 0; i < 16; i++) u[i] = (int8_t)(iq4nl_levels[i] + 128);
    __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)u));
    for (int c = 0; c < 8; c++) w[c] = _mm512_shuffle_epi8(table, w[c]);
}

INLINE void load_block(loom_dtype t, const uint8_t *group, int64_t b, wblock *k) {
    size_t rec_bytes = loom_x16_record_bytes(t);
    if (t == LOOM_DTYPE_Q5_0 || t == LOOM_DTYPE_Q5_1 || t == LOOM_DTYPE_IQ4_NL) {
        const uint8_t *rec = group + (size_t)b * rec_bytes;
        k->d = f16_ps(rec);
        if (t == LOOM_DTYPE_IQ4_NL) {
            k->off = _mm512_mul_ps(k->d, _mm512_set1_ps(-128.0f));
            nibble_chunks(rec + 32, k->w);
            iq4_levels(k->w);
            return;
        }
        int q5_1 = t == LOOM_DTYPE_Q5_1;
        k->off = q5_1 ? f16_ps(rec + 32) : _mm512_mul_ps(k->d, _mm512_set1_ps(-16.0f));
        __m512i h = load(rec + (q5_1 ? 64 : 32));
        nibble_chunks(rec + (q5_1 ? 128 : 96), k->w);
        for (int c = 0; c < 8; c++) k->w[c] = or_bit(k->w[c], h, c, 4);
        return;
    }
    const uint8_t *rec = group + (size_t)(b / 8) * rec_bytes;
    int s = (int)(b % 8);
    const __m512i three = _mm512_set1_epi8(3);
    switch (t) {
        case LOOM_DTYPE_IQ4_XS:
            k->d = _mm512_mul_ps(f16_ps(rec), i8_ps(rec + 32 + 16 * s));
            k->off = _mm512_mul_ps(k->d, _mm512_set1_ps(-128.0f));
            nibble_chunks(rec + 160 + 256 * s, k->w);
            iq4_levels(k->w);
            return;
        case LOOM_DTYPE_Q5_K: {
            k->d = _mm512_mul_ps(f16_ps(rec), u8_ps(rec + 64 + 16 * s));
            k->off = _mm512_mul_ps(f16_ps(rec + 32), _mm512_sub_ps(_mm512_setzero_ps(), u8_ps(rec + 192 + 16 * s)));
            const uint8_t *q = rec + 832 + 512 * (s / 2); /* sub-block pair: low nibbles 2i, high 2i + 1 */
            for (int c = 0; c < 8; c++) {
                __m512i raw = load(q + 64 * c);
                __m512i nib = _mm512_and_si512(s % 2 ? _mm512_srli_epi16(raw, 4) : raw, _mm512_set1_epi8(0x0f));
                k->w[c] = or_bit(nib, load(rec + 320 + 64 * c), s, 4);
            }
            return;
        }
        case LOOM_DTYPE_Q2_K: {
            __m512 d = f16_ps(rec), dmin = _mm512_sub_ps(_mm512_setzero_ps(), f16_ps(rec + 32));
            for (int h = 0; h < 2; h++) {
                __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(rec + 64 + 16 * (2 * s + h))));
                __m512 sc = _mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(15)));
                __m512 mn = _mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4));
                *(h ? &k->d_hi : &k->d) = _mm512_mul_ps(d, sc);
                *(h ? &k->off_hi : &k->off) = _mm512_mul_ps(dmin, mn);
            }
            const uint8_t *q = rec + 320 + 512 * (s / 4);
            for (int c = 0; c < 8; c++)
                k->w[c] = _mm512_and_si512(_mm512_srli_epi16(load(q + 64 * c), (unsigned)(2 * (s % 4))), three);
            return;
        }
        default: { /* Q3_K */
            __m512 d = f16_ps(rec);
            k->d = _mm512_mul_ps(d, i8_ps(rec + 32 + 16 * (2 * s)));
            k->d_hi = _mm512_mul_ps(d, i8_ps(rec + 32 + 16 * (2 * s + 1)));
            k->off = _mm512_mul_ps(k->d, _mm512_set1_ps(-4.0f));
            k->off_hi = _mm512_mul_ps(k->d_hi, _mm512_set1_ps(-4.0f));
            const uint8_t *q = rec + 288 + 512 * (s / 4);
            for (int c = 0; c < 8; c++) {
                __m512i low = _mm512_and_si512(_mm512_srli_epi16(load(q + 64 * c), (unsigned)(2 * (s % 4))), three);
                k->w[c] = or_bit(low, load(rec + 1312 + 64 * c), s, 2);
            }
            return;
        }
    }
}

/* tokens [tok0, tok0 + NT) x the group's 16 rows, written to y rows [row0, row0 + 16) */
INLINE void group_tile(loom_dtype t, const uint8_t *group, const loom_xdot_args *a, int64_t row0, int tok0, int NT) {
    int half_scales = t == LOOM_DTYPE_Q2_K || t == LOOM_DTYPE_Q3_K;
    int per_record = dtype_block_elems(t) / 32;
    size_t block_bytes = loom_x16_record_bytes(t) / (size_t)per_record;
    __m512 acc[MAX_TILE_TOKENS];
    for (int k = 0; k < NT; k++) acc[k] = _mm512_setzero_ps();
    for (int64_t b = 0; b < a->n_blocks; b++) {
        x16_prefetch_ahead(group, b, block_bytes);
        wblock wb;
        load_block(t, group, b, &wb);
        for (int k = 0; k < NT; k++) {
            const loom_xblock *x = a->x + (int64_t)(tok0 + k) * a->x_stride + b;
            __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512(); /* elements 0..15, 16..31 */
            for (int c = 0; c < 4; c++) {
                s0 = _mm512_dpbusd_epi32(s0, wb.w[c], bcast4(x->q + 4 * c));
                s1 = _mm512_dpbusd_epi32(s1, wb.w[c + 4], bcast4(x->q + 16 + 4 * c));
            }
            if (half_scales) { /* per half: d_h (u . q_x) + off_h sum(q_x), then times d_x */
                __m512i hs0 = _mm512_set1_epi32(x->half_sum[0]), hs1 = _mm512_set1_epi32(x->half_sum[1]);
                if (t == LOOM_DTYPE_Q3_K) { /* the offset -4 in integers */
                    s0 = _mm512_sub_epi32(s0, _mm512_slli_epi32(hs0, 2));
                    s1 = _mm512_sub_epi32(s1, _mm512_slli_epi32(hs1, 2));
                }
                __m512 dot = _mm512_mul_ps(_mm512_cvtepi32_ps(s0), wb.d);
                dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), wb.d_hi, dot);
                if (t == LOOM_DTYPE_Q2_K) {
                    dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hs0), wb.off, dot);
                    dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(hs1), wb.off_hi, dot);
                }
                acc[k] = _mm512_fmadd_ps(dot, _mm512_set1_ps(x->d), acc[k]);
                continue;
            }
            __m512 dot = _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1));
            acc[k] = _mm512_fmadd_ps(dot, _mm512_mul_ps(wb.d, _mm512_set1_ps(x->d)), acc[k]);
            acc[k] = _mm512_fmadd_ps(wb.off, _mm512_set1_ps(x->dsum), acc[k]);
        }
    }
    for (int k = 0; k < NT; k++) _mm512_storeu_ps(a->y + (int64_t)(tok0 + k) * a->y_stride + row0, acc[k]);
}

INLINE void x16_rows(loom_dtype t, const loom_xdot_args *a) { X16_GROUPS_BY_TILES(group_tile, t, a, MAX_TILE_TOKENS); }

TARGET void xdot_x16_q5_0_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q5_0, a); }
TARGET void xdot_x16_q5_1_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q5_1, a); }
TARGET void xdot_x16_iq4_nl_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_IQ4_NL, a); }
TARGET void xdot_x16_iq4_xs_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_IQ4_XS, a); }
TARGET void xdot_x16_q5_k_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q5_K, a); }
TARGET void xdot_x16_q2_k_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q2_K, a); }
TARGET void xdot_x16_q3_k_avx512(const loom_xdot_args *a) { x16_rows(LOOM_DTYPE_Q3_K, a); }

#endif
