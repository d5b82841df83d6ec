#include "kernels/cpu/act_quant.h"

#include <math.h>

void quantize_x_row_portable(const float *x, loom_xblock *out, int64_t n) {
    for (int64_t b = 0; b < n / LOOM_XBLOCK_ELEMS; b++, x += LOOM_XBLOCK_ELEMS) {
        float amax = 0;
        for (int j = 0; j < LOOM_XBLOCK_ELEMS; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        int half[2] = {0, 0};
        for (int j = 0; j < LOOM_XBLOCK_ELEMS; j++) {
            int q = (int)lrintf(x[j] * id); /* round to nearest even; inlines to cvtps2dq */
            out[b].q[j] = (int8_t)q;
            half[j / 16] += q;
        }
        out[b].d = d;
        out[b].dsum = d * (float)(half[0] + half[1]);
        out[b].half_sum[0] = (int16_t)half[0];
        out[b].half_sum[1] = (int16_t)half[1];
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

/* The same values: the same scale, products rounded to nearest even (the default MXCSR mode, as
 * lrintf), |q| <= 127 so the narrowing never saturates. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) void quantize_x_row_avx512(const float *x, loom_xblock *out,
                                                                                int64_t n) {
    for (int64_t b = 0; b < n / LOOM_XBLOCK_ELEMS; b++, x += LOOM_XBLOCK_ELEMS) {
        __m512 lo = _mm512_loadu_ps(x), hi = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
        float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, _mm512_set1_ps(id)));
        __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, _mm512_set1_ps(id)));
        _mm_storeu_si128((__m128i *)out[b].q, _mm512_cvtepi32_epi8(qlo));
        _mm_storeu_si128((__m128i *)(out[b].q + 16), _mm512_cvtepi32_epi8(qhi));
        int half0 = _mm512_reduce_add_epi32(qlo), half1 = _mm512_reduce_add_epi32(qhi);
        out[b].d = d;
        out[b].dsum = d * (float)(half0 + half1);
        out[b].half_sum[0] = (int16_t)half0;
        out[b].half_sum[1] = (int16_t)half1;
    }
}
#endif
