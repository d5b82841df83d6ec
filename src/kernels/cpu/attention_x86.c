/* AVX2+FMA and AVX-512 primitives of the paged attention kernel (kernels/cpu/attention.c). */
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#include "core/fp8.h"
#include "kernels/cpu/attention.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* y[:4W] += p[j] x[j][:4W] (rows `stride` floats apart) for j = 0..n-1, the 4 W-lane outputs held in
 * registers of type VEC (intrinsics prefix PFX) across the keys: one multiply-add per key and element, in
 * key order. */
#define ACCUMULATE_4_REGS(VEC, PFX, W, y, p, x, n, stride)                                                             \
    do {                                                                                                               \
        VEC y0 = PFX##_loadu_ps(y), y1 = PFX##_loadu_ps((y) + (W)), y2 = PFX##_loadu_ps((y) + 2 * (W)),                \
            y3 = PFX##_loadu_ps((y) + 3 * (W));                                                                        \
        for (int32_t j = 0; j < (n); j++) {                                                                            \
            const float *xj = (x) + (int64_t)j * (stride);                                                             \
            VEC pj = PFX##_set1_ps((p)[j]);                                                                            \
            y0 = PFX##_fmadd_ps(pj, PFX##_loadu_ps(xj), y0);                                                           \
            y1 = PFX##_fmadd_ps(pj, PFX##_loadu_ps(xj + (W)), y1);                                                     \
            y2 = PFX##_fmadd_ps(pj, PFX##_loadu_ps(xj + 2 * (W)), y2);                                                 \
            y3 = PFX##_fmadd_ps(pj, PFX##_loadu_ps(xj + 3 * (W)), y3);                                                 \
        }                                                                                                              \
        PFX##_storeu_ps(y, y0);                                                                                        \
        PFX##_storeu_ps((y) + (W), y1);                                                                                \
        PFX##_storeu_ps((y) + 2 * (W), y2);                                                                            \
        PFX##_storeu_ps((y) + 3 * (W), y3);                                                                            \
    } while (0)

/* float NAME(s, q, k, k_stride, n, d, c), the scores primitive (attention.h) for W-lane registers VEC
 * (intrinsics prefix PFX): W keys at a time (the last group repeating its last key) with 4 registers of
 * the query held across them, the W dot products reduced together by TRANSPOSE_SUM (lane j = key j).
 * LOAD(p, left) gives W lanes of p, the first `left` of them (the others 0: elements past d count as
 * 0); STORE_MAX(s, v, keys) stores the first `keys` lanes of v and returns their maximum. */
#define SCORES_FN(ATTR, NAME, VEC, PFX, W, LOAD, TRANSPOSE_SUM, STORE_MAX)                                             \
    ATTR static float NAME(float *s, const float *q, const float *k, int64_t k_stride, int32_t n, int32_t d,           \
                           float c) {                                                                                  \
        float max = -INFINITY;                                                                                         \
        for (int32_t j0 = 0; j0 < n; j0 += (W)) {                                                                      \
            int32_t keys = n - j0 < (W) ? n - j0 : (W);                                                                \
            VEC acc[W];                                                                                                \
            for (int r = 0; r < (W); r++) acc[r] = PFX##_setzero_ps();                                                 \
            for (int32_t i = 0; i < d; i += 4 * (W)) {                                                                 \
                int32_t left = d - i;                                                                                  \
                VEC q0 = LOAD(q + i, left), q1 = LOAD(q + i + (W), left - (W)),                                        \
                    q2 = LOAD(q + i + 2 * (W), left - 2 * (W)), q3 = LOAD(q + i + 3 * (W), left - 3 * (W));            \
                const float *row = k + (int64_t)j0 * k_stride + i;                                                     \
                _Pragma("GCC unroll 16") for (int r = 0; r < (W); r++) {                                               \
                    acc[r] = PFX##_fmadd_ps(q0, LOAD(row, left), acc[r]);                                              \
                    acc[r] = PFX##_fmadd_ps(q1, LOAD(row + (W), left - (W)), acc[r]);                                  \
                    acc[r] = PFX##_fmadd_ps(q2, LOAD(row + 2 * (W), left - 2 * (W)), acc[r]);                          \
                    acc[r] = PFX##_fmadd_ps(q3, LOAD(row + 3 * (W), left - 3 * (W)), acc[r]);                          \
                    if (r + 1 < keys) row += k_stride;                                                                 \
                }                                                                                                      \
            }                                                                                                          \
            float group_max = STORE_MAX(s + j0, PFX##_mul_ps(TRANSPOSE_SUM(acc), PFX##_set1_ps(c)), keys);             \
            if (group_max > max) max = group_max;                                                                      \
        }                                                                                                              \
        return max;                                                                                                    \
    }

/* ---- AVX2 ---- */

/* The sum of the 8 lanes (a fixed order). */
AVX2 static float sum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

AVX2 static float max_avx2(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

/* The lanes below `left` (all when left >= 8). */
AVX2 static inline __m256i first_lanes_avx2(int32_t left) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* 8 lanes of p, the first `left` of them (all when left >= 8; none when left <= 0), the others 0 */
AVX2 static inline __m256 load_first_avx2(const float *p, int32_t left) {
    return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, first_lanes_avx2(left));
}

/* Lane j of the result: the sum of the 8 lanes of v[j] (a fixed order for each j). */
AVX2 static __m256 transpose_sum8_avx2(const __m256 v[8]) {
    __m256 pair[4], quad[2];
    for (int i = 0; i < 4; i++) /* per 128-bit half: [a0+a2, b0+b2, a1+a3, b1+b3] of a = v[2i], b = v[2i+1] */
        pair[i] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 2; i++) { /* per 128-bit half: keys 4i..4i+3 */
        __m256d a = _mm256_castps_pd(pair[2 * i]), b = _mm256_castps_pd(pair[2 * i + 1]);
        quad[i] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(a, b)), _mm256_castpd_ps(_mm256_unpackhi_pd(a, b)));
    }
    return _mm256_add_ps(_mm256_permute2f128_ps(quad[0], quad[1], 0x20),
                         _mm256_permute2f128_ps(quad[0], quad[1], 0x31));
}

/* The first `keys` lanes of dots to s; returns their maximum. */
AVX2 static float store_max_avx2(float *s, __m256 dots, int32_t keys) {
    __m256i m = first_lanes_avx2(keys);
    _mm256_maskstore_ps(s, m, dots);
    return max_avx2(_mm256_blendv_ps(_mm256_set1_ps(-INFINITY), dots, _mm256_castsi256_ps(m)));
}

SCORES_FN(AVX2, scores_avx2, __m256, _mm256, 8, load_first_avx2, transpose_sum8_avx2, store_max_avx2)

AVX2 static void scale_avx2(float *y, float c, int32_t n) {
    __m256 vc = _mm256_set1_ps(c);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), vc));
    for (; i < n; i++) y[i] *= c;
}

/* exp(x) for x <= 88.37 (Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial in r, x 2^n;
 * below -87.33 the result is 0). Every lane is computed alike, so a value's exp never depends on its
 * neighbours or on the length of the row. */
#define EXP_LN2_HI 0.693359375f
#define EXP_LN2_LO -2.12194440e-4f
/* y = exp(x - n ln2) for the VEC lanes (intrinsics prefix PFX), n = round(x / ln2) already computed. */
#define EXP_REDUCED(VEC, PFX, x, n, y)                                                                                 \
    VEC r = PFX##_fnmadd_ps(n, PFX##_set1_ps(EXP_LN2_HI), x);                                                          \
    r = PFX##_fnmadd_ps(n, PFX##_set1_ps(EXP_LN2_LO), r);                                                              \
    VEC y = PFX##_set1_ps(1.9875691500e-4f);                                                                           \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(1.3981999507e-3f));                                                         \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(8.3334519073e-3f));                                                         \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(4.1665795894e-2f));                                                         \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(1.6666665459e-1f));                                                         \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(5.0000001201e-1f));                                                         \
    y = PFX##_add_ps(PFX##_fmadd_ps(y, PFX##_mul_ps(r, r), r), PFX##_set1_ps(1.0f))

AVX2 static __m256 exp_ps_avx2(__m256 x) {
    const __m256 lowest = _mm256_set1_ps(-87.33654f);
    __m256 underflow = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lowest), _mm256_set1_ps(88.37626f));
    __m256 n =
        _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    EXP_REDUCED(__m256, _mm256, x, n, y);
    __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(y, _mm256_castsi256_ps(two_n)));
}

AVX2 static float exp_shifted_avx2(float *p, const float *s, float shift, int32_t n) {
    __m256 vshift = _mm256_set1_ps(shift), sum = _mm256_setzero_ps();
    for (int32_t i = 0; i < n; i += 8) {
        __m256i m = first_lanes_avx2(n - i);
        __m256 e = exp_ps_avx2(_mm256_sub_ps(_mm256_maskload_ps(s + i, m), vshift));
        _mm256_maskstore_ps(p + i, m, e);
        sum = _mm256_add_ps(sum, _mm256_and_ps(e, _mm256_castsi256_ps(m)));
    }
    return sum_avx2(sum);
}

/* y[:d] += p[j] x[j] over the keys, 32 (then 8, then 1) outputs held in registers across them */
AVX2 static void accumulate_avx2(float *y, const float *p, const float *x, int64_t x_stride, int32_t n, int32_t d) {
    int32_t i = 0;
    for (; i + 32 <= d; i += 32) ACCUMULATE_4_REGS(__m256, _mm256, 8, y + i, p, x + i, n, x_stride);
    for (; i + 8 <= d; i += 8) {
        __m256 y0 = _mm256_loadu_ps(y + i);
        for (int32_t j = 0; j < n; j++)
            y0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(x + (int64_t)j * x_stride + i), y0);
        _mm256_storeu_ps(y + i, y0);
    }
    for (; i < d; i++)
        for (int32_t j = 0; j < n; j++) y[i] += p[j] * x[(int64_t)j * x_stride + i];
}

AVX2 static void widen_f16_avx2(const uint8_t *src, float *dst, int32_t n) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss((unsigned short)(src[2 * i] | (src[2 * i + 1] << 8)));
}

AVX2 static void widen_bf16_avx2(const uint8_t *src, float *dst, int32_t n) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + 2 * i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++) dst[i] = bf16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
}

AVX2 static void widen_i8_avx2(const uint8_t *src, float scale, float zero, float *dst, int32_t n) {
    __m256 vs = _mm256_set1_ps(scale), vz = _mm256_set1_ps(zero);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_fmadd_ps(vs, _mm256_cvtepi32_ps(w), vz));
    }
    for (; i < n; i++) dst[i] = scale * (float)(int8_t)src[i] + zero;
}

AVX2 static void widen_i8_channels_avx2(const uint8_t *src, const float *scale, const float *zero, float *dst,
                                        int32_t n) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i,
                         _mm256_fmadd_ps(_mm256_loadu_ps(scale + i), _mm256_cvtepi32_ps(w), _mm256_loadu_ps(zero + i)));
    }
    for (; i < n; i++) dst[i] = scale[i] * (float)(int8_t)src[i] + zero[i];
}

/* e4m3 bits e.m shifted into a float16's (its exponent field 0e, mantissa m00..) are 2^-8 of its value;
 * 0x7f / 0xff are NaN. Multiplying by 2^8 is exact, so the result is the scalar path's scale x value. */
#define FP8_AS_F16_TO_VALUE 256.0f

AVX2 static void widen_fp8_avx2(const uint8_t *src, float scale, float *dst, int32_t n) {
    __m256 vs = _mm256_set1_ps(scale), to_value = _mm256_set1_ps(FP8_AS_F16_TO_VALUE), nan = _mm256_set1_ps(NAN);
    __m128i magnitude = _mm_set1_epi16(0x7f), sign = _mm_set1_epi16(0x80);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(src + i)));
        __m128i m = _mm_and_si128(b, magnitude);
        __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(b, sign), 8), _mm_slli_epi16(m, 7));
        __m256 x = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtph_ps(h), to_value), vs);
        __m256 is_nan = _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm_cmpeq_epi16(m, magnitude)));
        _mm256_storeu_ps(dst + i, _mm256_blendv_ps(x, nan, is_nan));
    }
    for (; i < n; i++) dst[i] = scale * fp8_e4m3_to_f32(src[i]);
}

const loom_attn_isa attn_avx2 = {
    "avx2",         scores_avx2,     scale_avx2,    exp_shifted_avx2,       accumulate_avx2,
    widen_f16_avx2, widen_bf16_avx2, widen_i8_avx2, widen_i8_channels_avx2, widen_fp8_avx2};

/* ---- AVX-512: 16 lanes, the tail handled with a mask ---- */

/* The first `left` of 16 lanes (all when left >= 16, none when left <= 0). */
AVX512 static inline __mmask16 tail_mask(int32_t left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1);
}

/* 16 lanes of p, the first `left` of them (all when left >= 16; none when left <= 0), the others 0 */
AVX512 static inline __m512 load_first_avx512(const float *p, int32_t left) {
    return _mm512_maskz_loadu_ps(tail_mask(left), p);
}

/* Lane j of the result: the sum of the 16 lanes of v[j] (a fixed order for each j). */
AVX512 static __m512 transpose_sum16_avx512(const __m512 v[16]) {
    __m512 pair[8], quad[4], oct[2];
    for (int i = 0; i < 8; i++) /* per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] of a = v[2i], b = v[2i+1] */
        pair[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++) { /* per 128-bit lane: keys 4i..4i+3 */
        __m512d a = _mm512_castps_pd(pair[2 * i]), b = _mm512_castps_pd(pair[2 * i + 1]);
        quad[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    for (int i = 0; i < 2; i++) /* 128-bit lanes: keys 8i..8i+3 (twice), keys 8i+4..8i+7 (twice) */
        oct[i] = _mm512_add_ps(_mm512_shuffle_f32x4(quad[2 * i], quad[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f32x4(quad[2 * i], quad[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(oct[0], oct[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(oct[0], oct[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The first `keys` lanes of dots to s; returns their maximum. */
AVX512 static float store_max_avx512(float *s, __m512 dots, int32_t keys) {
    _mm512_mask_storeu_ps(s, tail_mask(keys), dots);
    return _mm512_mask_reduce_max_ps(tail_mask(keys), dots);
}

SCORES_FN(AVX512, scores_avx512, __m512, _mm512, 16, load_first_avx512, transpose_sum16_avx512, store_max_avx512)

AVX512 static void scale_avx512(float *y, float c, int32_t n) {
    __m512 vc = _mm512_set1_ps(c);
    for (int32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, y + i), vc));
    }
}

/* The same exp as exp_ps_avx2, 2^n applied with scalef (underflow to 0 through the denormals). */
AVX512 static __m512 exp_ps_avx512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.37626f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    EXP_REDUCED(__m512, _mm512, x, n, y);
    return _mm512_scalef_ps(y, n);
}

AVX512 static float exp_shifted_avx512(float *p, const float *s, float shift, int32_t n) {
    __m512 vshift = _mm512_set1_ps(shift), sum = _mm512_setzero_ps();
    for (int32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 e = exp_ps_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + i), vshift));
        _mm512_mask_storeu_ps(p + i, m, e);
        sum = _mm512_mask_add_ps(sum, m, sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

/* y[:d] += p[j] x[j] over the keys, 64 outputs (then 16, masked) held in registers across them */
AVX512 static void accumulate_avx512(float *y, const float *p, const float *x, int64_t x_stride, int32_t n, int32_t d) {
    int32_t i = 0;
    for (; i + 64 <= d; i += 64) ACCUMULATE_4_REGS(__m512, _mm512, 16, y + i, p, x + i, n, x_stride);
    for (; i < d; i += 16) {
        __mmask16 m = tail_mask(d - i);
        __m512 y0 = _mm512_maskz_loadu_ps(m, y + i);
        for (int32_t j = 0; j < n; j++)
            y0 = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(m, x + (int64_t)j * x_stride + i), y0);
        _mm512_mask_storeu_ps(y + i, m, y0);
    }
}

AVX512 static void widen_f16_avx512(const uint8_t *src, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m256i h = _mm256_maskz_loadu_epi16(m, src + 2 * i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(h));
    }
}

AVX512 static void widen_bf16_avx512(const uint8_t *src, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src + 2 * i));
        _mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
}

AVX512 static void widen_i8_avx512(const uint8_t *src, float scale, float zero, float *dst, int32_t n) {
    __m512 vs = _mm512_set1_ps(scale), vz = _mm512_set1_ps(zero);
    for (int32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512i w = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, src + i));
        _mm512_mask_storeu_ps(dst + i, m, _mm512_fmadd_ps(vs, _mm512_cvtepi32_ps(w), vz));
    }
}

AVX512 static void widen_i8_channels_avx512(const uint8_t *src, const float *scale, const float *zero, float *dst,
                                            int32_t n) {
    for (int32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, src + i)));
        __m512 s = _mm512_maskz_loadu_ps(m, scale + i), z = _mm512_maskz_loadu_ps(m, zero + i);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_fmadd_ps(s, q, z));
    }
}

AVX512 static void widen_fp8_avx512(const uint8_t *src, float scale, float *dst, int32_t n) {
    __m512 vs = _mm512_set1_ps(scale), to_value = _mm512_set1_ps(FP8_AS_F16_TO_VALUE), nan = _mm512_set1_ps(NAN);
    __m256i magnitude = _mm256_set1_epi16(0x7f), sign = _mm256_set1_epi16(0x80);
    for (int32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        __m256i b = _mm256_cvtepu8_epi16(_mm_maskz_loadu_epi8(m, src + i)), mag = _mm256_and_si256(b, magnitude);
        __m256i h = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(b, sign), 8), _mm256_slli_epi16(mag, 7));
        __m512 x = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtph_ps(h), to_value), vs);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_mask_mov_ps(x, _mm256_cmpeq_epi16_mask(mag, magnitude), nan));
    }
}

const loom_attn_isa attn_avx512 = {
    "avx512",         scores_avx512,     scale_avx512,    exp_shifted_avx512,       accumulate_avx512,
    widen_f16_avx512, widen_bf16_avx512, widen_i8_avx512, widen_i8_channels_avx512, widen_fp8_avx512};
#endif
