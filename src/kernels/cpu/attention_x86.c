/* AVX2+FMA and AVX-512 primitives of the paged attention kernel (kernels/cpu/attention.c). */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/attention.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

/* y[:4W] += p[j] x[j][:4W] (rows of d floats) for j = 0..n-1, the 4 W-lane outputs held in registers
 * of type VEC (intrinsics prefix PFX) across the keys: one multiply-add per key and element, in key order. */
#define ACCUMULATE_4_REGS(VEC, PFX, W, y, p, x, n, d)                                               \
    do {                                                                                            \
        VEC y0 = PFX##_loadu_ps(y), y1 = PFX##_loadu_ps((y) + (W)), y2 = PFX##_loadu_ps((y) + 2 * (W)), \
            y3 = PFX##_loadu_ps((y) + 3 * (W));                                                     \
        for (int32_t j = 0; j < (n); j++) {                                                         \
            const float *xj = (x) + (int64_t)j * (d);                                               \
            VEC pj = PFX##_set1_ps((p)[j]);                                                         \
            y0 = PFX##_fmadd_ps(pj, PFX##_loadu_ps(xj), y0);                                        \
            y1 = PFX##_fmadd_ps(pj, PFX##_loadu_ps(xj + (W)), y1);                                  \
            y2 = PFX##_fmadd_ps(pj, PFX##_loadu_ps(xj + 2 * (W)), y2);                              \
            y3 = PFX##_fmadd_ps(pj, PFX##_loadu_ps(xj + 3 * (W)), y3);                              \
        }                                                                                           \
        PFX##_storeu_ps(y, y0);                                                                     \
        PFX##_storeu_ps((y) + (W), y1);                                                             \
        PFX##_storeu_ps((y) + 2 * (W), y2);                                                         \
        PFX##_storeu_ps((y) + 3 * (W), y3);                                                         \
    } while (0)

/* ---- AVX2 ---- */

AVX2 static float dot_avx2(const float *a, const float *b, int32_t n) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    __m256 v = _mm256_add_ps(acc0, acc1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    float r = _mm_cvtss_f32(s);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

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
#define EXP_REDUCED(VEC, PFX, x, n, y)                                                              \
    VEC r = PFX##_fnmadd_ps(n, PFX##_set1_ps(EXP_LN2_HI), x);                                       \
    r = PFX##_fnmadd_ps(n, PFX##_set1_ps(EXP_LN2_LO), r);                                           \
    VEC y = PFX##_set1_ps(1.9875691500e-4f);                                                        \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(1.3981999507e-3f));                                      \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(8.3334519073e-3f));                                      \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(4.1665795894e-2f));                                      \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(1.6666665459e-1f));                                      \
    y = PFX##_fmadd_ps(y, r, PFX##_set1_ps(5.0000001201e-1f));                                      \
    y = PFX##_add_ps(PFX##_fmadd_ps(y, PFX##_mul_ps(r, r), r), PFX##_set1_ps(1.0f))

AVX2 static __m256 exp_ps_avx2(__m256 x) {
    const __m256 lowest = _mm256_set1_ps(-87.33654f);
    __m256 underflow = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lowest), _mm256_set1_ps(88.37626f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    EXP_REDUCED(__m256, _mm256, x, n, y);
    __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(y, _mm256_castsi256_ps(two_n)));
}

AVX2 static void exp_shifted_avx2(float *p, const float *s, float shift, int32_t n) {
    __m256 vshift = _mm256_set1_ps(shift);
    for (int32_t i = 0; i < n; i += 8) {
        int32_t left = n - i < 8 ? n - i : 8;
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 e = exp_ps_avx2(_mm256_sub_ps(_mm256_maskload_ps(s + i, m), vshift));
        _mm256_maskstore_ps(p + i, m, e);
    }
}

/* y[:d] += p[j] x[j] over the keys, 32 (then 8, then 1) outputs held in registers across them */
AVX2 static void accumulate_avx2(float *y, const float *p, const float *x, int32_t n, int32_t d) {
    int32_t i = 0;
    for (; i + 32 <= d; i += 32) ACCUMULATE_4_REGS(__m256, _mm256, 8, y + i, p, x + i, n, d);
    for (; i + 8 <= d; i += 8) {
        __m256 y0 = _mm256_loadu_ps(y + i);
        for (int32_t j = 0; j < n; j++) y0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(x + (int64_t)j * d + i), y0);
        _mm256_storeu_ps(y + i, y0);
    }
    for (; i < d; i++)
        for (int32_t j = 0; j < n; j++) y[i] += p[j] * x[(int64_t)j * d + i];
}

AVX2 static void widen_f16_avx2(const uint8_t *src, float *dst, int32_t n) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss((unsigned short)(src[2 * i] | (src[2 * i + 1] << 8)));
}

AVX2 static void widen_bf16_avx2(const uint8_t *src, float *dst, int32_t n) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + 2 * i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++) dst[i] = loom_bf16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
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

AVX2 static void widen_i8_channels_avx2(const uint8_t *src, const float *scale, const float *zero, float *dst, int32_t n) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i w = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_fmadd_ps(_mm256_loadu_ps(scale + i), _mm256_cvtepi32_ps(w), _mm256_loadu_ps(zero + i)));
    }
    for (; i < n; i++) dst[i] = scale[i] * (float)(int8_t)src[i] + zero[i];
}

const loom_attn_isa loom_attn_avx2 = {"avx2", dot_avx2, scale_avx2, exp_shifted_avx2, accumulate_avx2,
                                      widen_f16_avx2, widen_bf16_avx2, widen_i8_avx2, widen_i8_channels_avx2};

/* ---- AVX-512: 16 lanes, the tail handled with a mask ---- */

AVX512 static inline __mmask16 tail_mask(int32_t left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }

AVX512 static float dot_avx512(const float *a, const float *b, int32_t n) {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    for (; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

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
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    EXP_REDUCED(__m512, _mm512, x, n, y);
    return _mm512_scalef_ps(y, n);
}

AVX512 static void exp_shifted_avx512(float *p, const float *s, float shift, int32_t n) {
    __m512 vshift = _mm512_set1_ps(shift);
    for (int32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(p + i, m, exp_ps_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + i), vshift)));
    }
}

/* y[:d] += p[j] x[j] over the keys, 64 outputs (then 16, masked) held in registers across them */
AVX512 static void accumulate_avx512(float *y, const float *p, const float *x, int32_t n, int32_t d) {
    int32_t i = 0;
    for (; i + 64 <= d; i += 64) ACCUMULATE_4_REGS(__m512, _mm512, 16, y + i, p, x + i, n, d);
    for (; i < d; i += 16) {
        __mmask16 m = tail_mask(d - i);
        __m512 y0 = _mm512_maskz_loadu_ps(m, y + i);
        for (int32_t j = 0; j < n; j++)
            y0 = _mm512_fmadd_ps(_mm512_set1_ps(p[j]), _mm512_maskz_loadu_ps(m, x + (int64_t)j * d + i), y0);
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

const loom_attn_isa loom_attn_avx512 = {"avx512", dot_avx512, scale_avx512, exp_shifted_avx512, accumulate_avx512,
                                        widen_f16_avx512, widen_bf16_avx512, widen_i8_avx512, widen_i8_channels_avx512};
#endif
