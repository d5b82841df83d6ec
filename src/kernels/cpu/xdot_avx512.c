/* AVX-512 VNNI integer dots for Q8_0 / Q4_0 / Q4_1 weights against int8 activation blocks: two weight
 * blocks per 512-bit register (lanes 0-7 block b, lanes 8-15 block b+1), one vpdpbusd per block pair
 * and token, over a register tile of up to 4 rows x 4 tokens (each unpacked weight pair serves 4 tokens,
 * each loaded activation pair 4 rows). vpdpbusd multiplies unsigned by signed bytes: Q4_1's nibbles are
 * the unsigned side; for signed weights the activations are made unsigned by adding 128 (q ^ 0x80) and
 * 128 * sum(w) is subtracted again.
 *
 * Every (row, token) dot adds up its block pairs in its own accumulator, in block order, and reduces it
 * the same way at the end, whatever the tile: a token's result does not depend on how many rows or
 * tokens it was computed with (batch invariance: decode and prefill give the same logits). */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "kernels/cpu/dot_x86.h"

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET
#define TILE 4

INLINE float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* lanes 0-7 = a, lanes 8-15 = b */
INLINE __m512 pair_ps(float a, float b) { return _mm512_mask_blend_ps(0xff00, _mm512_set1_ps(a), _mm512_set1_ps(b)); }

/* the f16 scales at a and b (b absent: 0) as lanes 0-7 / 8-15, with one conversion */
INLINE __m512 pair_f16(const uint8_t *a, const uint8_t *b) {
    uint16_t ha, hb = 0;
    memcpy(&ha, a, 2);
    if (b) memcpy(&hb, b, 2);
    __m128 both = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)ha | (uint32_t)hb << 16)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(both));
}
INLINE __m512i pair_si(__m256i lo, __m256i hi) { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

/* the nibbles of two Q4 blocks (b absent: zeros) as bytes 0..15: per block, low nibbles are elements
 * 0..15 and high ones 16..31 */
INLINE __m512i nibble_pair(const uint8_t *a, const uint8_t *b) {
    __m128i ra = _mm_loadu_si128((const __m128i *)a),
            rb = b ? _mm_loadu_si128((const __m128i *)b) : _mm_setzero_si128();
    __m256i raw = _mm256_inserti128_si256(_mm256_castsi128_si256(ra), rb, 1), mask = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(raw, mask), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
    /* [a lo, b lo, a hi, b hi] -> [a lo, a hi, b lo, b hi] (128-bit lanes) */
    __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

/* One row's weight block pair (the second block absent when `two` is 0: zeros, scale 0). */
typedef struct wpair {
    __m512i w;    /* Q8_0 / Q4_0: signed values; Q4_1: nibbles 0..15 */
    __m512i corr; /* signed: 128 * sum(w) per 4-byte lane group */
    __m512 d;     /* block scales */
    float m0, m1; /* Q4_1 offsets */
} wpair;

INLINE wpair load_wpair(loom_dtype t, const uint8_t *p, int two) {
    wpair r = {.m0 = 0, .m1 = 0};
    size_t bytes = t == LOOM_DTYPE_Q8_0 ? 34 : t == LOOM_DTYPE_Q4_0 ? 18 : 20;
    const uint8_t *q = two ? p + bytes : NULL;
    r.d = pair_f16(p, q);
    if (t == LOOM_DTYPE_Q8_0) {
        __m256i hi = two ? _mm256_loadu_si256((const __m256i *)(q + 2)) : _mm256_setzero_si256();
        r.w = pair_si(_mm256_loadu_si256((const __m256i *)(p + 2)), hi);
    } else if (t == LOOM_DTYPE_Q4_0) {
        r.w = _mm512_sub_epi8(nibble_pair(p + 2, two ? q + 2 : NULL), _mm512_set1_epi8(8));
    } else {
        r.w = nibble_pair(p + 4, two ? q + 4 : NULL);
        r.m0 = f16_at(p + 2);
        r.m1 = two ? f16_at(q + 2) : 0.0f;
    }
    if (t != LOOM_DTYPE_Q4_1) r.corr = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), r.w);
    return r;
}

/* One token's activation block pair. */
typedef struct xpair {
    __m512i q; /* signed weights: q + 128 as unsigned bytes; Q4_1: q */
    __m512 d;
    float dsum0, dsum1;
} xpair;

INLINE xpair load_xpair(loom_dtype t, const loom_xblock *x, int two) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)x[0].q);
    __m256i hi = two ? _mm256_loadu_si256((const __m256i *)x[1].q) : _mm256_setzero_si256();
    xpair r = {.q = pair_si(lo, hi),
               .d = pair_ps(x[0].d, two ? x[1].d : 0.0f),
               .dsum0 = x[0].dsum,
               .dsum1 = two ? x[1].dsum : 0.0f};
    if (t != LOOM_DTYPE_Q4_1) r.q = _mm512_xor_si512(r.q, _mm512_set1_epi8((char)0x80));
    return r;
}

/* rows x tokens dots for rows[0..RM) and tokens [0..NT), RM and NT compile-time after inlining */
INLINE void tile(loom_dtype t, const loom_xdot_args *a, const uint8_t *row0, int64_t r0, int RM, int NT, int tok0) {
    __m512 acc[TILE][TILE];
    float mins[TILE][TILE];
    for (int r = 0; r < RM; r++)
        for (int k = 0; k < NT; k++) {
            acc[r][k] = _mm512_setzero_ps();
            mins[r][k] = 0;
        }
    size_t bytes = t == LOOM_DTYPE_Q8_0 ? 34 : t == LOOM_DTYPE_Q4_0 ? 18 : 20;
    for (int64_t b = 0; b < a->n_blocks; b += 2) {
        int two = b + 1 < a->n_blocks;
        wpair w[TILE];
        for (int r = 0; r < RM; r++)
            w[r] = load_wpair(t, row0 + (size_t)r * a->row_stride_bytes + (size_t)b * bytes, two);
        for (int k = 0; k < NT; k++) {
            xpair x = load_xpair(t, a->x + (int64_t)(tok0 + k) * a->x_stride + b, two);
            for (int r = 0; r < RM; r++) {
                __m512i dot = t == LOOM_DTYPE_Q4_1
                    ? _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[r].w, x.q)
                    : _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), x.q, w[r].w), w[r].corr);
                acc[r][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(w[r].d, x.d), acc[r][k]);
                if (t == LOOM_DTYPE_Q4_1) mins[r][k] += w[r].m0 * x.dsum0 + w[r].m1 * x.dsum1;
            }
        }
    }
    for (int r = 0; r < RM; r++)
        for (int k = 0; k < NT; k++)
            a->y[(int64_t)(tok0 + k) * a->y_stride + r0 + r] = _mm512_reduce_add_ps(acc[r][k]) + mins[r][k];
}

INLINE void tiles_of_rows(loom_dtype t, const loom_xdot_args *a, int NT, int tok0) {
    int64_t r = 0;
    const uint8_t *row = a->rows;
    if (NT == 1) { /* one token (decode): row after row streams the weights fastest */
        for (; r < a->n_rows; r++, row += a->row_stride_bytes) tile(t, a, row, r, 1, 1, tok0);
        return;
    }
    for (; r + TILE <= a->n_rows; r += TILE, row += TILE * a->row_stride_bytes) tile(t, a, row, r, TILE, NT, tok0);
    switch (a->n_rows - r) {
        case 3: tile(t, a, row, r, 3, NT, tok0); break;
        case 2: tile(t, a, row, r, 2, NT, tok0); break;
        case 1: tile(t, a, row, r, 1, NT, tok0); break;
        default: break;
    }
}

INLINE void xdot_tiles(loom_dtype t, const loom_xdot_args *a) {
    switch (a->n_tok) {
        case 1: tiles_of_rows(t, a, 1, 0); break;
        case 2: tiles_of_rows(t, a, 2, 0); break;
        case 3: tiles_of_rows(t, a, 3, 0); break;
        default: tiles_of_rows(t, a, 4, 0); break;
    }
}

TARGET void xdot_q8_0_avx512_tiled(const loom_xdot_args *a) { xdot_tiles(LOOM_DTYPE_Q8_0, a); }
TARGET void xdot_q4_0_avx512_tiled(const loom_xdot_args *a) { xdot_tiles(LOOM_DTYPE_Q4_0, a); }
TARGET void xdot_q4_1_avx512_tiled(const loom_xdot_args *a) { xdot_tiles(LOOM_DTYPE_Q4_1, a); }

#endif
