/* AVX2+FMA and AVX-512 primitives of the paged attention kernel (kernels/cpu/attention.c). */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/cpu/attention.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

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

AVX2 static void axpy_avx2(float *y, float a, const float *x, int32_t n) {
    __m256 va = _mm256_set1_ps(a);
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
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

const loom_attn_isa loom_attn_avx2 = {"avx2", dot_avx2, scale_avx2, axpy_avx2, widen_f16_avx2,
                                      widen_bf16_avx2, widen_i8_avx2, widen_i8_channels_avx2};

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

AVX512 static void axpy_avx512(float *y, float a, const float *x, int32_t n) {
    __m512 va = _mm512_set1_ps(a);
    for (int32_t i = 0; i < n; i += 16) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
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

const loom_attn_isa loom_attn_avx512 = {"avx512", dot_avx512, scale_avx512, axpy_avx512, widen_f16_avx512,
                                        widen_bf16_avx512, widen_i8_avx512, widen_i8_channels_avx512};
#endif
