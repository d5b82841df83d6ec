#include "core/tensor.h"

#include <string.h>

static const struct {
    const char *name;
    int64_t block_elems;
    size_t block_bytes;
} dtype_info[LOOM_DTYPE_COUNT] = {
    [LOOM_DTYPE_F32] = {"f32", 1, 4},
    [LOOM_DTYPE_F16] = {"f16", 1, 2},
    [LOOM_DTYPE_BF16] = {"bf16", 1, 2},
    [LOOM_DTYPE_Q8_0] = {"q8_0", 32, 34},
    [LOOM_DTYPE_Q4_0] = {"q4_0", 32, 18},
    [LOOM_DTYPE_Q4_1] = {"q4_1", 32, 20},
    [LOOM_DTYPE_Q4_K] = {"q4_k", 256, 144},
    [LOOM_DTYPE_Q6_K] = {"q6_k", 256, 210},
    [LOOM_DTYPE_I32] = {"i32", 1, 4},
    [LOOM_DTYPE_FP8_E4M3] = {"fp8_e4m3", 32, 34},
    [LOOM_DTYPE_Q5_0] = {"q5_0", 32, 22},
    [LOOM_DTYPE_Q5_1] = {"q5_1", 32, 24},
    [LOOM_DTYPE_Q2_K] = {"q2_k", 256, 84},
    [LOOM_DTYPE_Q3_K] = {"q3_k", 256, 110},
    [LOOM_DTYPE_Q5_K] = {"q5_k", 256, 176},
    [LOOM_DTYPE_IQ4_NL] = {"iq4_nl", 32, 18},
    [LOOM_DTYPE_IQ4_XS] = {"iq4_xs", 256, 136},
    [LOOM_DTYPE_IQ2_XXS] = {"iq2_xxs", 256, 66},
    [LOOM_DTYPE_IQ2_XS] = {"iq2_xs", 256, 74},
    [LOOM_DTYPE_IQ2_S] = {"iq2_s", 256, 82},
    [LOOM_DTYPE_IQ3_XXS] = {"iq3_xxs", 256, 98},
    [LOOM_DTYPE_IQ3_S] = {"iq3_s", 256, 110},
    [LOOM_DTYPE_IQ1_S] = {"iq1_s", 256, 50},
    [LOOM_DTYPE_IQ1_M] = {"iq1_m", 256, 56},
    [LOOM_DTYPE_TQ1_0] = {"tq1_0", 256, 54},
    [LOOM_DTYPE_TQ2_0] = {"tq2_0", 256, 66},
    [LOOM_DTYPE_MXFP4] = {"mxfp4", 32, 17},
    [LOOM_DTYPE_NVFP4] = {"nvfp4", 64, 36},
    [LOOM_DTYPE_Q1_0] = {"q1_0", 128, 18},
    [LOOM_DTYPE_Q2_0] = {"q2_0", 64, 18},
};

const char *dtype_name(loom_dtype t) { return (unsigned)t < LOOM_DTYPE_COUNT ? dtype_info[t].name : "invalid"; }

int64_t dtype_block_elems(loom_dtype t) { return (unsigned)t < LOOM_DTYPE_COUNT ? dtype_info[t].block_elems : 0; }

size_t dtype_block_bytes(loom_dtype t) { return (unsigned)t < LOOM_DTYPE_COUNT ? dtype_info[t].block_bytes : 0; }

size_t dtype_bytes(loom_dtype t, int64_t n_elems) {
    int64_t be = dtype_block_elems(t);
    if (be <= 0 || n_elems < 0 || n_elems % be != 0) return 0;
    return (size_t)(n_elems / be) * dtype_block_bytes(t);
}

int64_t tensor_n_elems(const loom_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->n_dims; i++) n *= t->shape[i];
    return n;
}

int64_t tensor_rows(const loom_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i + 1 < t->n_dims; i++) n *= t->shape[i];
    return n;
}

int64_t tensor_row_len(const loom_tensor *t) { return t->n_dims > 0 ? t->shape[t->n_dims - 1] : 1; }

const void *tensor_row(const loom_tensor *t, int64_t row) {
    return (const uint8_t *)t->data + (size_t)row * t->row_stride_bytes;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24 */
        float v = (float)mant * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) return sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 : 0); /* inf/nan */
    if (abs >= 0x477ff000u) return sign | 0x7c00;                                   /* overflow */
    if (abs < 0x38800000u) {
        /* subnormal half: round abs * 2^24 to nearest even integer */
        float v = bits_f32(abs) * 16777216.0f;
        uint32_t q = (uint32_t)v;
        float rem = v - (float)q;
        if (rem > 0.5f || (rem == 0.5f && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t mant = abs & 0x7fffff, exp = (abs >> 23) - 112;
    uint32_t half = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
    return sign | (uint16_t)half;
}

float bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet nan */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
