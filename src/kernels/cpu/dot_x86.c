/* AVX2+FMA and AVX-512 dots: float32 (one row, 4 x 4 tiles, and one token against 4 float-type rows
 * widened in registers), the int8-activation dots of the row-layout quantized weights (xdot_x86.inc),
 * SiLU x up and activation quantization. */
#if defined(__x86_64__)
#include "kernels/cpu/dot_x86.h"

#include "core/tensor.h"
#include "kernels/cpu/block_decode.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

/* the block's f16 scale, converted by the F16C instruction (present on every AVX2 CPU) */
__attribute__((target("f16c"))) static inline float scale_of(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* FP8 E4M3 bytes -> f16 bits: the sign moves to bit 15, exponent and mantissa shift into f16's fields;
 * the value is then 2^-8 of the E4M3 value (bias 7 vs 15), which the block scale makes up. */
#define FP8_TO_F16_BIAS 256.0f
#define ROW_PREFETCH_AHEAD_BYTES 4096

/* Every function between TARGET_PUSH and TARGET_POP is compiled for the given ISA: GCC's target pragma,
 * or clang's equivalent (clang ignores the GCC one). */
#if defined(__clang__)
#define TARGET_PUSH(isa) _Pragma(LOOM_STR(clang attribute push(__attribute__((target(isa))), apply_to = function)))
#define TARGET_POP _Pragma("clang attribute pop")
#else
#define TARGET_PUSH(isa) _Pragma("GCC push_options") _Pragma(LOOM_STR(GCC target(isa)))
#define TARGET_POP _Pragma("GCC pop_options")
#endif
#define LOOM_STR(x) #x

/* ---- AVX2 ---- */

TARGET_PUSH("avx2,fma,f16c")
#define XDOT_BLOCK_TYPES 1
#define XDOT(name) xdot_##name##_avx2
/* no VNNI: u8 x s8 -> pairs of s16 (cannot saturate: |u| <= 128, |s| <= 127) -> s32 */
static inline __m256i madd_u8s8_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
#define DOT_U8S8(u, s) madd_u8s8_avx2((u), (s))
#include "kernels/cpu/xdot_x86.inc"
#include "kernels/cpu/xdot_x86_more.inc"
#undef XDOT
#undef DOT_U8S8
TARGET_POP
#define hsum256 xdot_hsum_avx2

__attribute__((target("avx2,fma,f16c"))) static float f32_avx2(const void *row, const float *x, int64_t n) {
    /* the same operation order as one element of f32_tile_avx2, so a token's result does not depend on
     * how many other tokens share its matmul (batch invariance) */
    const float *w = row;
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(x + i), acc);
    float s = hsum256(acc);
    for (; i < n; i++) s += w[i] * x[i];
    return s;
}

/* ---- one token x 4 float-activation rows, in the f32 tiles' order (batch invariance) ---- */

/* E4M3 codes as f16 bits (the value is then 2^-8 of the code's: FP8_TO_F16_BIAS); the NaN codes' lanes */
#define FP8_NAN_MAGNITUDE 0x7f

__attribute__((target("f16c"))) static inline float fp8_weight(const uint8_t *row, int64_t i) {
    const uint8_t *blk = row + 34 * (i / 32);
    uint8_t code = blk[2 + i % 32];
    if ((code & 0x7f) == FP8_NAN_MAGNITUDE) return NAN;
    uint16_t h = (uint16_t)(((code & 0x80) << 8) | ((code & 0x7f) << 7));
    return _cvtsh_ss(h) * FP8_TO_F16_BIAS * scale_of(blk);
}

/* element i of a row as dequant_row gives it */
__attribute__((target("f16c"), always_inline)) static inline float weight_at(loom_dtype t, const uint8_t *row,
                                                                             int64_t i) {
    uint16_t h;
    switch (t) {
        case LOOM_DTYPE_F16: memcpy(&h, row + 2 * i, 2); return _cvtsh_ss(h);
        case LOOM_DTYPE_BF16: {
            memcpy(&h, row + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            float f;
            memcpy(&f, &u, 4);
            return f;
        }
        case LOOM_DTYPE_FP8_E4M3: return fp8_weight(row, i);
        default: {
            float f;
            memcpy(&f, row + 4 * i, 4);
            return f;
        }
    }
}

/* 8 weights from element i (i + 8 <= n; FP8: within one block) */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256
widen8_avx2(loom_dtype t, const uint8_t *row, int64_t i) {
    switch (t) {
        case LOOM_DTYPE_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + 2 * i)));
        case LOOM_DTYPE_BF16:
            return _mm256_castsi256_ps(
                _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(row + 2 * i))), 16));
        case LOOM_DTYPE_FP8_E4M3: {
            const uint8_t *blk = row + 34 * (i / 32);
            __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(blk + 2 + i % 32)));
            __m128i mag = _mm_and_si128(b, _mm_set1_epi16(0x7f));
            __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x80)), 8), _mm_slli_epi16(mag, 7));
            __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtph_ps(h), _mm256_set1_ps(FP8_TO_F16_BIAS)),
                                     _mm256_set1_ps(scale_of(blk)));
            __m256 is_nan =
                _mm256_castsi256_ps(_mm256_cvtepi16_epi32(_mm_cmpeq_epi16(mag, _mm_set1_epi16(FP8_NAN_MAGNITUDE))));
            return _mm256_blendv_ps(v, _mm256_set1_ps(NAN), is_nan);
        }
        default: return _mm256_loadu_ps((const float *)row + i);
    }
}

/* one column of f32_tile_avx2 (its x0 token): 8-wide accumulators, then the scalar tail; t is a constant
 * after inlining (rows4_avx2 below) */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void
rows4_avx2_of(loom_dtype t, const void *const *rows, const float *x, int64_t n, float *out) {
    const uint8_t *w0 = rows[0], *w1 = rows[1], *w2 = rows[2], *w3 = rows[3];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_loadu_ps(x + i);
        a0 = _mm256_fmadd_ps(widen8_avx2(t, w0, i), a, a0);
        a1 = _mm256_fmadd_ps(widen8_avx2(t, w1, i), a, a1);
        a2 = _mm256_fmadd_ps(widen8_avx2(t, w2, i), a, a2);
        a3 = _mm256_fmadd_ps(widen8_avx2(t, w3, i), a, a3);
    }
    __m256 acc[4] = {a0, a1, a2, a3};
    for (int r = 0; r < 4; r++) {
        float s0 = hsum256(acc[r]);
        for (int64_t k = i; k < n; k++) s0 += weight_at(t, rows[r], k) * x[k];
        out[r] = s0;
    }
}

__attribute__((target("avx2,fma,f16c"))) static int rows4_avx2(loom_dtype t, const void *const *rows, const float *x,
                                                               int64_t n, float *out) {
    switch (t) {
        case LOOM_DTYPE_F32: rows4_avx2_of(LOOM_DTYPE_F32, rows, x, n, out); return 1;
        case LOOM_DTYPE_F16: rows4_avx2_of(LOOM_DTYPE_F16, rows, x, n, out); return 1;
        case LOOM_DTYPE_BF16: rows4_avx2_of(LOOM_DTYPE_BF16, rows, x, n, out); return 1;
        case LOOM_DTYPE_FP8_E4M3: rows4_avx2_of(LOOM_DTYPE_FP8_E4M3, rows, x, n, out); return 1;
        default: return 0;
    }
}

/* 4 rows x 4 tokens as two passes of 4 x 2 (16 ymm registers hold 8 accumulators, 2 x and 1 w) */
__attribute__((target("avx2,fma,f16c"))) static void f32_tile_avx2(const float *const *w, const float *const *x,
                                                                   int64_t n, float *out) {
    for (int half = 0; half < 2; half++) {
        const float *x0 = x[2 * half], *x1 = x[2 * half + 1];
        __m256 acc[4][2];
        for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 a = _mm256_loadu_ps(x0 + i), b = _mm256_loadu_ps(x1 + i);
            for (int r = 0; r < 4; r++) {
                __m256 wv = _mm256_loadu_ps(w[r] + i);
                acc[r][0] = _mm256_fmadd_ps(wv, a, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(wv, b, acc[r][1]);
            }
        }
        for (int r = 0; r < 4; r++) {
            float s0 = hsum256(acc[r][0]), s1 = hsum256(acc[r][1]);
            for (int64_t k = i; k < n; k++) {
                s0 += w[r][k] * x0[k];
                s1 += w[r][k] * x1[k];
            }
            out[r * 4 + 2 * half] = s0;
            out[r * 4 + 2 * half + 1] = s1;
        }
    }
}

/* exp(x) for x in [-87, 88] (callers clamp): x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so
 * r is exact), exp(r) by its degree-6 Taylor polynomial (truncation < 2e-7 relative), times 2^n. */
#define EXP_LN2_HI 0.693145751953125f
#define EXP_LN2_LO 1.428606765330187e-06f
#define EXP_POLY(fma, set1, r)                                                                                         \
    fma(fma(fma(fma(fma(fma(set1(1.0f / 720), r, set1(1.0f / 120)), r, set1(1.0f / 24)), r, set1(1.0f / 6)), r,        \
                set1(0.5f)),                                                                                           \
            r, set1(1.0f)),                                                                                            \
        r, set1(1.0f))

__attribute__((target("avx2,fma,f16c"))) static inline __m256 silu_mul8_avx2(__m256 g, __m256 up) {
    __m256 x = _mm256_min_ps(_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), g), _mm256_set1_ps(-87.0f)),
                             _mm256_set1_ps(88.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_LO), _mm256_fnmadd_ps(n, _mm256_set1_ps(EXP_LN2_HI), x));
    __m256 p = EXP_POLY(_mm256_fmadd_ps, _mm256_set1_ps, r);
    __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 e = _mm256_mul_ps(p, _mm256_castsi256_ps(two_n));
    return _mm256_div_ps(_mm256_mul_ps(g, up), _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

__attribute__((target("avx2,fma,f16c"))) static void silu_mul_avx2(float *out, const float *gate, const float *up,
                                                                   int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, silu_mul8_avx2(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) { /* the tail through a padded copy, so every element takes the same arithmetic */
        float g[8] = {0}, u[8] = {0}, o[8];
        memcpy(g, gate + i, (size_t)(n - i) * sizeof(float));
        memcpy(u, up + i, (size_t)(n - i) * sizeof(float));
        _mm256_storeu_ps(o, silu_mul8_avx2(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
        memcpy(out + i, o, (size_t)(n - i) * sizeof(float));
    }
}

const loom_dot_table dot_avx2 = {
    "avx2",
    f32_avx2,
    f32_tile_avx2,
    silu_mul_avx2,
    quantize_x_row_portable,
    rows4_avx2,
    .xdot = {[LOOM_DTYPE_Q8_0] = xdot_q8_0_avx2,
             [LOOM_DTYPE_Q4_0] = xdot_q4_0_avx2,
             [LOOM_DTYPE_Q4_1] = xdot_q4_1_avx2,
             [LOOM_DTYPE_Q4_K] = xdot_q4_k_avx2,
             [LOOM_DTYPE_Q6_K] = xdot_q6_k_avx2,
             [LOOM_DTYPE_Q5_0] = xdot_q5_0_avx2,
             [LOOM_DTYPE_Q5_1] = xdot_q5_1_avx2,
             [LOOM_DTYPE_IQ4_NL] = xdot_iq4_nl_avx2,
             [LOOM_DTYPE_IQ4_XS] = xdot_iq4_xs_avx2,
             [LOOM_DTYPE_Q5_K] = xdot_q5_k_avx2,
             [LOOM_DTYPE_Q2_K] = xdot_q2_k_avx2,
             [LOOM_DTYPE_Q3_K] = xdot_q3_k_avx2},
};

/* ---- AVX-512 (with VNNI: vpdpbusd on 256-bit registers, one weight block each) ---- */

TARGET_PUSH("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")
#undef XDOT_BLOCK_TYPES
#define XDOT_BLOCK_TYPES 0
#define XDOT(name) xdot_##name##_avx512
#define DOT_U8S8(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (u), (s))
#include "kernels/cpu/xdot_x86.inc"
#include "kernels/cpu/xdot_x86_more.inc"
#undef XDOT
#undef DOT_U8S8
TARGET_POP

__attribute__((target("avx512f,f16c"))) static float f32_avx512(const void *row, const float *x, int64_t n) {
    /* the same operation order as one element of f32_tile_avx512 (batch invariance, see f32_avx2) */
    const float *w = row;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + i), _mm512_maskz_loadu_ps(m, x + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

/* 16 zmm accumulators, 4 activation vectors and one weight vector: 8 loads per 16 FMAs; the tail of
 * n % 16 elements is a masked load */
__attribute__((target("avx512f,f16c"))) static void f32_tile_avx512(const float *const *w, const float *const *x,
                                                                    int64_t n, float *out) {
    __m512 acc[4][4]; /* fully unrolled, so the 16 accumulators live in registers */
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_ps();
    /* whole vectors with plain loads, then the tail masked (zeros past n): the same sums as masking all */
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 xv[4], wv[4];
        if (n - i >= 16) {
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) xv[k] = _mm512_loadu_ps(x[k] + i), wv[k] = _mm512_loadu_ps(w[k] + i);
        } else {
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                xv[k] = _mm512_maskz_loadu_ps(m, x[k] + i), wv[k] = _mm512_maskz_loadu_ps(m, w[k] + i);
        }
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
            for (int t = 0; t < 4; t++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv[t], acc[r][t]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) out[r * 4 + t] = _mm512_reduce_add_ps(acc[r][t]);
}

/* 16 weights from element i of an F32 / F16 / BF16 row, lanes outside m zero */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"), always_inline)) static inline __m512
widen16_avx512(loom_dtype t, const uint8_t *row, int64_t i, __mmask16 m) {
    switch (t) {
        case LOOM_DTYPE_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * i));
        case LOOM_DTYPE_BF16:
            return _mm512_castsi512_ps(
                _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, row + 2 * i)), 16));
        default: return _mm512_maskz_loadu_ps(m, (const float *)row + i);
    }
}

/* 16 E4M3 codes times scale (the block scale x 2^8), NaN codes as NaN: the values widen_fp8 gives */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"), always_inline)) static inline __m512
fp8x16_scaled(const uint8_t *q, __m512 scale) {
    __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)q)),
            mag = _mm256_and_si256(b, _mm256_set1_epi16(0x7f));
    __m256i h =
        _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(b, _mm256_set1_epi16(0x80)), 8), _mm256_slli_epi16(mag, 7));
    return _mm512_mask_mov_ps(_mm512_mul_ps(_mm512_cvtph_ps(h), scale),
                              _mm256_cmpeq_epi16_mask(mag, _mm256_set1_epi16(FP8_NAN_MAGNITUDE)), _mm512_set1_ps(NAN));
}

/* FP8 rows one after the other (memory in order; out-of-order execution overlaps one row's chain with
 * the next), a block (32 elements, one scale) at a time: the same two 16-element steps per block as
 * rows4_avx512_of */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) static void
rows4_fp8_avx512(const void *const *rows, const float *x, int64_t n, float *out) {
    for (int r = 0; r < 4; r++) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = (const uint8_t *)rows[r] + 34 * b;
            __m512 scale = _mm512_set1_ps(scale_of(blk) * FP8_TO_F16_BIAS);
            acc = _mm512_fmadd_ps(fp8x16_scaled(blk + 2, scale), _mm512_loadu_ps(x + 32 * b), acc);
            acc = _mm512_fmadd_ps(fp8x16_scaled(blk + 18, scale), _mm512_loadu_ps(x + 32 * b + 16), acc);
        }
        out[r] = _mm512_reduce_add_ps(acc);
    }
}

/* one column of f32_tile_avx512; t is a constant after inlining (rows4_avx512 below) */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"), always_inline)) static inline void
rows4_avx512_of(loom_dtype t, const void *const *rows, const float *x, int64_t n, float *out) {
    size_t elem = t == LOOM_DTYPE_F32 ? 4 : 2;
    for (int r = 0; r < 4; r++) { /* rows one after the other: memory in order */
        __m512 acc = _mm512_setzero_ps();
        for (int64_t i = 0; i < n; i += 16) {
            __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
            /* rows are mapped from the checkpoint on 4 KiB pages, where the hardware prefetchers stop */
            _mm_prefetch((const char *)rows[r] + (size_t)i * elem + ROW_PREFETCH_AHEAD_BYTES, _MM_HINT_T0);
            acc = _mm512_fmadd_ps(widen16_avx512(t, rows[r], i, m), _mm512_maskz_loadu_ps(m, x + i), acc);
        }
        out[r] = _mm512_reduce_add_ps(acc);
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) static int
rows4_avx512(loom_dtype t, const void *const *rows, const float *x, int64_t n, float *out) {
    switch (t) {
        case LOOM_DTYPE_F32: rows4_avx512_of(LOOM_DTYPE_F32, rows, x, n, out); return 1;
        case LOOM_DTYPE_F16: rows4_avx512_of(LOOM_DTYPE_F16, rows, x, n, out); return 1;
        case LOOM_DTYPE_BF16: rows4_avx512_of(LOOM_DTYPE_BF16, rows, x, n, out); return 1;
        case LOOM_DTYPE_FP8_E4M3: rows4_fp8_avx512(rows, x, n, out); return 1;
        default: return 0;
    }
}

/* silu_mul8_avx2's arithmetic on 16 lanes; 2^n by scalef, the tail by a masked load / store */
__attribute__((target("avx512f"))) static void silu_mul_avx512(float *out, const float *gate, const float *up,
                                                               int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 g = _mm512_maskz_loadu_ps(m, gate + i), u = _mm512_maskz_loadu_ps(m, up + i);
        __m512 x = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), g), _mm512_set1_ps(-87.0f)),
                                 _mm512_set1_ps(88.0f));
        __m512 nn = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r =
            _mm512_fnmadd_ps(nn, _mm512_set1_ps(EXP_LN2_LO), _mm512_fnmadd_ps(nn, _mm512_set1_ps(EXP_LN2_HI), x));
        __m512 e = _mm512_scalef_ps(EXP_POLY(_mm512_fmadd_ps, _mm512_set1_ps, r), nn);
        _mm512_mask_storeu_ps(out + i, m, _mm512_div_ps(_mm512_mul_ps(g, u), _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
    }
}

const loom_dot_table dot_avx512 = {
    "avx512",
    f32_avx512,
    f32_tile_avx512,
    silu_mul_avx512,
    quantize_x_row_avx512,
    rows4_avx512,
    .xdot = {[LOOM_DTYPE_Q8_0] = xdot_q8_0_avx512_tiled,
             [LOOM_DTYPE_Q4_0] = xdot_q4_0_avx512_tiled,
             [LOOM_DTYPE_Q4_1] = xdot_q4_1_avx512_tiled,
             [LOOM_DTYPE_Q4_K] = xdot_q4_k_avx512,
             [LOOM_DTYPE_Q6_K] = xdot_q6_k_avx512,
             [LOOM_DTYPE_Q5_0] = xdot_q5_0_avx512,
             [LOOM_DTYPE_Q5_1] = xdot_q5_1_avx512,
             [LOOM_DTYPE_IQ4_NL] = xdot_iq4_nl_avx512,
             [LOOM_DTYPE_IQ4_XS] = xdot_iq4_xs_avx512,
             [LOOM_DTYPE_Q5_K] = xdot_q5_k_avx512,
             [LOOM_DTYPE_Q2_K] = xdot_q2_k_avx512,
             [LOOM_DTYPE_Q3_K] = xdot_q3_k_avx512},
    .xdot_x16 = {[LOOM_DTYPE_Q8_0] = xdot_x16_q8_0_avx512,
                 [LOOM_DTYPE_Q4_0] = xdot_x16_q4_0_avx512,
                 [LOOM_DTYPE_Q4_1] = xdot_x16_q4_1_avx512,
                 [LOOM_DTYPE_Q4_K] = xdot_x16_q4_k_avx512,
                 [LOOM_DTYPE_Q6_K] = xdot_x16_q6_k_avx512,
                 [LOOM_DTYPE_Q5_0] = xdot_x16_q5_0_avx512,
                 [LOOM_DTYPE_Q5_1] = xdot_x16_q5_1_avx512,
                 [LOOM_DTYPE_IQ4_NL] = xdot_x16_iq4_nl_avx512,
                 [LOOM_DTYPE_IQ4_XS] = xdot_x16_iq4_xs_avx512,
                 [LOOM_DTYPE_Q5_K] = xdot_x16_q5_k_avx512,
                 [LOOM_DTYPE_Q2_K] = xdot_x16_q2_k_avx512,
                 [LOOM_DTYPE_Q3_K] = xdot_x16_q3_k_avx512},
};
#endif
