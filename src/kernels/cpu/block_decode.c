/* The sub-block decoder of every block dtype (block_decode.h). Byte layouts are llama.cpp's (ggml-common.h);
 * each case says how a 32-element sub-block is found in its block. Element indices below are within the
 * sub-block unless said otherwise. */
#include "kernels/cpu/block_decode.h"

#include <string.h>

#include "kernels/cpu/dot_x86.h"
#include "kernels/cpu/iq_tables.h"

const int8_t iq4nl_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
/* MXFP4 / NVFP4: E2M1 values, doubled (the block scale carries the 1/2) */
static const int8_t FP4_LEVELS[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
/* value maps of the IQ grids (iq_tables.h) */
static const int8_t IQ2_VALUES[3] = {8, 25, 43};
static const int8_t IQ3XXS_VALUES[8] = {4, 12, 20, 28, 36, 44, 52, 62};
static const int8_t IQ3S_VALUES[8] = {1, 3, 5, 7, 9, 11, 13, 15};

static uint16_t u16_at(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t u32_at(const uint8_t *p) { return (uint32_t)u16_at(p) | (uint32_t)u16_at(p + 2) << 16; }
static float f16_at(const uint8_t *p) { return f16_to_f32(u16_at(p)); }

int block_decodable(loom_dtype t) {
    return (unsigned)t < LOOM_DTYPE_COUNT && dtype_block_elems(t) > 1 && t != LOOM_DTYPE_FP8_E4M3;
}

static void set_scales(loom_subblock *o, float d0, float d1, float m0, float m1) {
    o->dh[0] = d0;
    o->dh[1] = d1;
    o->m[0] = m0;
    o->m[1] = m1;
}

/* The 16 nibbles qs[0..15]: low ones are elements 0..15, high ones 16..31 (Q4_0 order). */
static void nibbles(const uint8_t *qs, int *w) {
    for (int j = 0; j < 16; j++) {
        w[j] = qs[j] & 0x0f;
        w[j + 16] = qs[j] >> 4;
    }
}

/* Q5_0 / Q5_1: nibbles as Q4_0, bit 4 of element j is bit j of qh */
static void q5_values(const uint8_t *qh_bytes, const uint8_t *qs, int *w) {
    uint32_t qh = u32_at(qh_bytes);
    nibbles(qs, w);
    for (int j = 0; j < 32; j++) w[j] |= (int)((qh >> j) & 1) << 4;
}

/* 8 values of a 2-bit IQ grid entry (IQ2 / IQ1), times the signs (bit e of `signs` set: value e negative) */
static void iq2_group(uint16_t entry, uint8_t signs, int *w) {
    for (int e = 0; e < 8; e++) {
        int v = IQ2_VALUES[(entry >> (2 * e)) & 3];
        w[e] = (signs >> e) & 1 ? -v : v;
    }
}

/* IQ2_XXS / IQ3_XXS signs: 7 stored bits, the eighth makes the count of negatives even */
static uint8_t even_signs(uint32_t seven) { return (uint8_t)(seven | (uint32_t)(__builtin_popcount(seven) & 1) << 7); }

/* 4 values of a 3-bit IQ3 grid entry */
static void iq3_half_group(uint16_t entry, const int8_t *values, uint8_t signs, int first, int *w) {
    for (int e = 0; e < 4; e++) {
        int v = values[(entry >> (3 * e)) & 7];
        w[e] = (signs >> (first + e)) & 1 ? -v : v;
    }
}

/* IQ1_S / IQ1_M: 8 values of {-1, 0, 1} + delta, delta = -1/8 if neg else +1/8, kept as 8 v +- 1 (the
 * scale takes the 1/8) */
static void iq1_group(uint16_t entry, int neg, int *w) {
    for (int e = 0; e < 8; e++) w[e] = 8 * ((int)((entry >> (2 * e)) & 3) - 1) + (neg ? -1 : 1);
}

/* MXFP4's E8M0 scale with the 1/2 of the doubled levels: 2^(e - 128) */
static float e8m0_half(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* NVFP4's unsigned E4M3 scale (bias 7) with the 1/2 of the doubled levels; 0x7f reads as 0 */
static float ue4m3_half(uint8_t x) {
    int exp = (x >> 3) & 0x0f, man = x & 7;
    if (x == 0 || x == 0x7f) return 0.0f;
    float v = exp == 0 ? (float)man * 0x1p-9f : (1.0f + (float)man / 8.0f) * (float)(1 << exp) / 128.0f;
    return v * 0.5f;
}

/* The K-quants' and TQ2_0's 2-bit layout: sub-block s = (half n, shift j) reads bits 2j.. of bytes 32n.. */
static void two_bit_plane(const uint8_t *qs, int s, int *w) {
    for (int l = 0; l < 32; l++) w[l] = (qs[32 * (s / 4) + l] >> (2 * (s % 4))) & 3;
}

static void decode_legacy(loom_dtype t, const uint8_t *blk, loom_subblock *o) {
    float d = f16_at(blk);
    set_scales(o, d, d, 0, 0);
    switch (t) {
        case LOOM_DTYPE_Q8_0:
            for (int j = 0; j < 32; j++) o->w[j] = (int8_t)blk[2 + j];
            return;
        case LOOM_DTYPE_Q4_0:
            nibbles(blk + 2, o->w);
            for (int j = 0; j < 32; j++) o->w[j] -= 8;
            return;
        case LOOM_DTYPE_Q4_1:
            nibbles(blk + 4, o->w);
            o->m[0] = o->m[1] = f16_at(blk + 2);
            return;
        case LOOM_DTYPE_Q5_0:
            q5_values(blk + 2, blk + 6, o->w);
            for (int j = 0; j < 32; j++) o->w[j] -= 16;
            return;
        case LOOM_DTYPE_Q5_1:
            q5_values(blk + 4, blk + 8, o->w);
            o->m[0] = o->m[1] = f16_at(blk + 2);
            return;
        default: /* IQ4_NL */
            nibbles(blk + 2, o->w);
            for (int j = 0; j < 32; j++) o->w[j] = iq4nl_levels[o->w[j]];
            return;
    }
}

static void decode_k(loom_dtype t, const uint8_t *blk, int s, loom_subblock *o) {
    switch (t) {
        case LOOM_DTYPE_Q2_K: { /* scales[16] (4-bit scale | 4-bit min per 16 elements), qs[64], d, dmin */
            float d = f16_at(blk + 80), dmin = f16_at(blk + 82);
            const uint8_t *sc = blk + 2 * s;
            set_scales(o, d * (float)(sc[0] & 15), d * (float)(sc[1] & 15), -(dmin * (float)(sc[0] >> 4)),
                       -(dmin * (float)(sc[1] >> 4)));
            two_bit_plane(blk + 16, s, o->w);
            return;
        }
        case LOOM_DTYPE_Q3_K: { /* hmask[32], qs[64], scales[12], d; q = 2 low bits + 4 * hmask bit s - 4 */
            float d = f16_at(blk + 108);
            set_scales(o, d * (float)loom_q3_k_scale(blk + 96, 2 * s), d * (float)loom_q3_k_scale(blk + 96, 2 * s + 1),
                       0, 0);
            two_bit_plane(blk + 32, s, o->w);
            for (int l = 0; l < 32; l++) o->w[l] += 4 * ((blk[l] >> s) & 1) - 4;
            return;
        }
        case LOOM_DTYPE_Q4_K:
        case LOOM_DTYPE_Q5_K: { /* d, dmin, scales[12], (Q5_K: qh[32]), qs[128] */
            int sc, mn, q5 = t == LOOM_DTYPE_Q5_K;
            loom_q4_k_scale_min(blk + 4, s, &sc, &mn);
            float d = f16_at(blk) * (float)sc, m = -(f16_at(blk + 2) * (float)mn);
            set_scales(o, d, d, m, m);
            const uint8_t *qs = blk + (q5 ? 48 : 16) + 32 * (s / 2); /* sub-block pair: low nibbles 2i, high 2i + 1 */
            for (int l = 0; l < 32; l++)
                o->w[l] = (s % 2 ? qs[l] >> 4 : qs[l] & 0x0f) | (q5 ? ((blk[16 + l] >> s) & 1) << 4 : 0);
            return;
        }
        case LOOM_DTYPE_Q6_K: { /* ql[128] low nibbles, qh[64] high bit pairs, int8 scales[16] (one per 16), d. Each
                             * half of 128 elements uses 64 ql and 32 qh bytes: element l + 32k takes the low (k
                             * even) or high nibble of ql[l + 32 (k & 1)] and bits 2k.. of qh[l]; q - 32 */
            int half = s / 4, k = s % 4;
            const uint8_t *ql = blk + 64 * half + 32 * (k & 1), *qh = blk + 128 + 32 * half;
            const int8_t *scales = (const int8_t *)(blk + 192) + 8 * half + 2 * k;
            float d = f16_at(blk + 208);
            set_scales(o, d * (float)scales[0], d * (float)scales[1], 0, 0);
            for (int j = 0; j < 32; j++)
                o->w[j] = (((k < 2 ? ql[j] : ql[j] >> 4) & 0x0f) | (((qh[j] >> (2 * k)) & 3) << 4)) - 32;
            return;
        }
        default: { /* IQ4_XS: d, scales_h u16 (2 bits per sub-block), scales_l[4] (nibbles), qs[128] (16 per
                    * sub-block) */
            int ls = ((blk[4 + s / 2] >> (4 * (s % 2))) & 0x0f) | ((u16_at(blk + 2) >> (2 * s)) & 3) << 4;
            float d = f16_at(blk) * (float)(ls - 32);
            set_scales(o, d, d, 0, 0);
            nibbles(blk + 8 + 16 * s, o->w);
            for (int j = 0; j < 32; j++) o->w[j] = iq4nl_levels[o->w[j]];
            return;
        }
    }
}

static void decode_iq(loom_dtype t, const uint8_t *blk, int s, loom_subblock *o) {
    float d = f16_at(blk);
    switch (t) {
        case LOOM_DTYPE_IQ2_XXS: { /* per sub-block 8 bytes: 4 grid indices, u32 of 4 x 7 sign bits + 4-bit scale */
            const uint8_t *q = blk + 2 + 8 * s;
            uint32_t aux = u32_at(q + 4);
            float db = d * (0.5f + (float)(aux >> 28)) * 0.25f;
            set_scales(o, db, db, 0, 0);
            for (int k = 0; k < 4; k++) iq2_group(iq2xxs_grid[q[k]], even_signs((aux >> (7 * k)) & 127), o->w + 8 * k);
            return;
        }
        case LOOM_DTYPE_IQ2_XS: { /* u16 qs[32] (9-bit grid index | 7 sign bits), scales[8] (a nibble per 16) */
            uint8_t sc = blk[66 + s];
            set_scales(o, d * (0.5f + (float)(sc & 15)) * 0.25f, d * (0.5f + (float)(sc >> 4)) * 0.25f, 0, 0);
            for (int k = 0; k < 4; k++) {
                uint16_t q = u16_at(blk + 2 + 2 * (4 * s + k));
                iq2_group(iq2xs_grid[q & 511], even_signs(q >> 9), o->w + 8 * k);
            }
            return;
        }
        case LOOM_DTYPE_IQ2_S: { /* qs[32] grid low bits, signs[32], qh[8] (2 high bits per group), scales[8] */
            uint8_t sc = blk[74 + s];
            set_scales(o, d * (0.5f + (float)(sc & 15)) * 0.25f, d * (0.5f + (float)(sc >> 4)) * 0.25f, 0, 0);
            for (int k = 0; k < 4; k++) {
                int g = 4 * s + k, index = blk[2 + g] | ((blk[66 + s] >> (2 * k)) & 3) << 8;
                iq2_group(iq2s_grid[index], blk[34 + g], o->w + 8 * k);
            }
            return;
        }
        case LOOM_DTYPE_IQ3_XXS: { /* qs[64] grid indices (2 per 8 elements), u32 per sub-block: 4 x 7 signs + scale */
            uint32_t aux = u32_at(blk + 66 + 4 * s);
            float db = d * (0.5f + (float)(aux >> 28)) * 0.5f;
            set_scales(o, db, db, 0, 0);
            for (int k = 0; k < 4; k++) {
                uint8_t signs = even_signs((aux >> (7 * k)) & 127);
                for (int h = 0; h < 2; h++)
                    iq3_half_group(iq3xxs_grid[blk[2 + 8 * s + 2 * k + h]], IQ3XXS_VALUES, signs, 4 * h,
                                   o->w + 8 * k + 4 * h);
            }
            return;
        }
        case LOOM_DTYPE_IQ3_S: { /* qs[64], qh[8] (bit 8 of each index), signs[32], scales[4] (a nibble per
                                * sub-block) */
            float db = d * (float)(1 + 2 * ((blk[106 + s / 2] >> (4 * (s % 2))) & 15));
            set_scales(o, db, db, 0, 0);
            for (int k = 0; k < 8; k++) {
                int e = 8 * s + k, index = blk[2 + e] | ((blk[66 + s] >> k) & 1) << 8;
                iq3_half_group(iq3s_grid[index], IQ3S_VALUES, blk[74 + 4 * s + k / 2], 4 * (k % 2), o->w + 4 * k);
            }
            return;
        }
        case LOOM_DTYPE_IQ1_S: { /* qs[32] grid low bytes, u16 qh[8]: 4 x 3 high bits, 3-bit scale, delta sign */
            uint16_t qh = u16_at(blk + 34 + 2 * s);
            float dl = d * (float)(2 * ((qh >> 12) & 7) + 1) * 0.125f;
            set_scales(o, dl, dl, 0, 0);
            for (int k = 0; k < 4; k++)
                iq1_group(iq1s_grid[blk[2 + 4 * s + k] | ((qh >> (3 * k)) & 7) << 8], qh & 0x8000, o->w + 8 * k);
            return;
        }
        default: { /* IQ1_M: qs[32], qh[16] (a nibble per group: 3 high bits, delta sign), u16 scales[4] (3 bits per
                * 16 elements, the f16 block scale in their top nibbles) */
            const uint8_t *sc = blk + 48;
            uint16_t dbits = (uint16_t)((u16_at(sc) >> 12) | ((u16_at(sc + 2) & 0xf000) >> 8) |
                                        ((u16_at(sc + 4) & 0xf000) >> 4) | (u16_at(sc + 6) & 0xf000));
            float dm = f16_to_f32(dbits);
            int s0 = (u16_at(sc + 2 * (s / 2)) >> (6 * (s % 2))) & 7,
                s1 = (u16_at(sc + 2 * (s / 2)) >> (6 * (s % 2) + 3)) & 7;
            set_scales(o, dm * (float)(2 * s0 + 1) * 0.125f, dm * (float)(2 * s1 + 1) * 0.125f, 0, 0);
            for (int k = 0; k < 4; k++) {
                int g = 4 * s + k, nib = (blk[32 + g / 2] >> (4 * (g % 2))) & 15;
                iq1_group(iq1s_grid[blk[g] | (nib & 7) << 8], nib & 8, o->w + 8 * k);
            }
            return;
        }
    }
}

/* TQ1_0: qs[48] and qh[4] hold 5 and 4 base-3 digits per byte (most significant first, as a fraction of
 * 256), then d. Element order: qs[0..31] digit p -> 32 p + l; qs[32..47] -> 160 + 16 p + l; qh -> 240 + 4 p + l. */
static int tq1_digit(uint8_t byte, int p) {
    static const uint8_t POW3[5] = {1, 3, 9, 27, 81};
    uint8_t shifted = (uint8_t)(byte * POW3[p]); /* the digit moves to the top, modulo 256 */
    return ((shifted * 3) >> 8) - 1;
}

static void decode_ternary_fp4(loom_dtype t, const uint8_t *blk, int s, loom_subblock *o) {
    switch (t) {
        case LOOM_DTYPE_TQ1_0: {
            float d = f16_at(blk + 52);
            set_scales(o, d, d, 0, 0);
            for (int j = 0; j < 32; j++) {
                int e = 32 * s + j;
                o->w[j] = e < 160 ? tq1_digit(blk[e % 32], e / 32)
                    : e < 240     ? tq1_digit(blk[32 + (e - 160) % 16], (e - 160) / 16)
                                  : tq1_digit(blk[48 + (e - 240) % 4], (e - 240) / 4);
            }
            return;
        }
        case LOOM_DTYPE_TQ2_0: { /* qs[64] as Q2_K's 2-bit planes, then d; q - 1 */
            float d = f16_at(blk + 64);
            set_scales(o, d, d, 0, 0);
            two_bit_plane(blk, s, o->w);
            for (int j = 0; j < 32; j++) o->w[j] -= 1;
            return;
        }
        case LOOM_DTYPE_MXFP4: { /* E8M0 exponent, 16 bytes of E2M1 nibbles in Q4_0 order */
            float d = e8m0_half(blk[0]);
            set_scales(o, d, d, 0, 0);
            nibbles(blk + 1, o->w);
            for (int j = 0; j < 32; j++) o->w[j] = FP4_LEVELS[o->w[j]];
            return;
        }
        case LOOM_DTYPE_NVFP4: { /* 4 UE4M3 scales (one per 16 elements), then 4 x 8 bytes of nibbles (low: 0..7) */
            set_scales(o, ue4m3_half(blk[2 * s]), ue4m3_half(blk[2 * s + 1]), 0, 0);
            for (int h = 0; h < 2; h++)
                for (int l = 0; l < 8; l++) {
                    uint8_t b = blk[4 + 8 * (2 * s + h) + l];
                    o->w[16 * h + l] = FP4_LEVELS[b & 15];
                    o->w[16 * h + 8 + l] = FP4_LEVELS[b >> 4];
                }
            return;
        }
        case LOOM_DTYPE_Q1_0: { /* d, one bit per element (set: +d, clear: -d), 4 bytes per sub-block */
            float d = f16_at(blk);
            set_scales(o, d, d, 0, 0);
            for (int j = 0; j < 32; j++) o->w[j] = (blk[2 + 4 * s + j / 8] >> (j % 8)) & 1 ? 1 : -1;
            return;
        }
        default: { /* Q2_0: d, 2 bits per element from the low bits up, q - 1 */
            float d = f16_at(blk);
            set_scales(o, d, d, 0, 0);
            for (int j = 0; j < 32; j++) o->w[j] = ((blk[2 + 8 * s + j / 4] >> (2 * (j % 4))) & 3) - 1;
            return;
        }
    }
}

void decode_subblock(loom_dtype t, const uint8_t *blk, int s, loom_subblock *o) {
    switch (t) {
        case LOOM_DTYPE_Q8_0:
        case LOOM_DTYPE_Q4_0:
        case LOOM_DTYPE_Q4_1:
        case LOOM_DTYPE_Q5_0:
        case LOOM_DTYPE_Q5_1:
        case LOOM_DTYPE_IQ4_NL: decode_legacy(t, blk, o); return;
        case LOOM_DTYPE_Q2_K:
        case LOOM_DTYPE_Q3_K:
        case LOOM_DTYPE_Q4_K:
        case LOOM_DTYPE_Q5_K:
        case LOOM_DTYPE_Q6_K:
        case LOOM_DTYPE_IQ4_XS: decode_k(t, blk, s, o); return;
        case LOOM_DTYPE_IQ2_XXS:
        case LOOM_DTYPE_IQ2_XS:
        case LOOM_DTYPE_IQ2_S:
        case LOOM_DTYPE_IQ3_XXS:
        case LOOM_DTYPE_IQ3_S:
        case LOOM_DTYPE_IQ1_S:
        case LOOM_DTYPE_IQ1_M: decode_iq(t, blk, s, o); return;
        case LOOM_DTYPE_TQ1_0:
        case LOOM_DTYPE_TQ2_0:
        case LOOM_DTYPE_MXFP4:
        case LOOM_DTYPE_NVFP4:
        case LOOM_DTYPE_Q1_0:
        case LOOM_DTYPE_Q2_0: decode_ternary_fp4(t, blk, s, o); return;
        default: /* unreachable: callers check block_decodable */ memset(o, 0, sizeof *o); return;
    }
}
