/* Quantized and fused kernels against float64 references on random data, on every ISA path: run
 * without LOOM_ISA, the binary re-runs itself once per path (LOOM_ISA=scalar|avx2|avx512) and fails
 * if any run fails. Tolerances, per kernel:
 *   - int8-activation dots (Q8_0/Q4_0/Q4_1/Q4_K/Q6_K/Q5_0/Q5_1/Q2_K/Q3_K/Q5_K/IQ4_NL/IQ4_XS weights; real
 *     llama.cpp blocks of every type: tests/test_quant_types.py): vs the exact dot of the dequantized weights with
 *     the dequantized int8 activations: 1e-5 relative to sum |w x| (integer sums are exact; only the
 *     float accumulation of per-block partials differs); vs float activations: the activation
 *     rounding bound sum_blocks d_x/2 * sum |w| (each q is within d_x/2 of x/d_x * d_x);
 *   - one token x 4 F32 / F16 / BF16 / FP8 rows (decode): the dot of each dequantized row within 1e-5 relative;
 *   - FP8 round trip: |e4m3(x) - x| <= 2^-4 |x| for normal values (3 mantissa bits);
 *   - FP8 weight quantization (searched scale): per element within 2^-4 |x| + the subnormal step, per
 *     block never worse in squared error than the plain max|x|/448 scale, and over all blocks >= 10% better;
 *   - fused matmul (QKV-style, 3 matrices) == three separate matmuls, bit for bit, at 1 and 3 threads;
 *   - the x16 layout (AVX-512, every int8 dtype above): every packed row unpacks to its original bit for bit; a packed
  * matmul ==
 *     the row-layout matmul within 1e-5 of sum |w x| (the same integer dots, other float order), and a
 *     token's packed result is bit-identical alone or in a batch;
 *   - SiLU x up (SIMD exp): 1e-6 relative to the double-precision formula. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "core/fp8.h"
#include "core/tensor.h"
#include "kernels/backend.h"
#include "kernels/cpu/pack_x16.h"
#include "kernels/cpu/quantize_row.h"
#include "kernels/cpu/rowops.h"
#include "model/quant_load.h"

static uint64_t rng_state = 777;
static float frand(void) { /* uniform [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / 8388608.0 - 1.0);
}

/* random blocks of a block-quantized dtype with finite, varied scales */
static void random_row(loom_dtype t, uint8_t *raw, int64_t n) {
    size_t bytes = dtype_bytes(t, n), bb = dtype_block_bytes(t);
    for (size_t i = 0; i < bytes; i++) raw[i] = (uint8_t)(frand() * 127 + 128);
    if (t == LOOM_DTYPE_F32)
        for (int64_t i = 0; i < n; i++) {
            float f = frand();
            memcpy(raw + 4 * i, &f, 4);
        }
    if (t == LOOM_DTYPE_F16 || t == LOOM_DTYPE_BF16)
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = t == LOOM_DTYPE_F16 ? f32_to_f16(frand()) : f32_to_bf16(frand());
            memcpy(raw + 2 * i, &h, 2);
        }
    for (int64_t b = 0; b < n / dtype_block_elems(t) && dtype_block_elems(t) > 1; b++) {
        uint8_t *blk = raw + b * bb;
        uint16_t d = f32_to_f16(0.002f + 0.01f * fabsf(frand())), m = f32_to_f16(-0.05f * fabsf(frand()));
        /* the f16 scale (and min) fields: d at 0 but for Q6_K / Q2_K / Q3_K, the second one after it */
        size_t d_at = t == LOOM_DTYPE_Q6_K ? 208 : t == LOOM_DTYPE_Q2_K ? 80 : t == LOOM_DTYPE_Q3_K ? 108 : 0;
        memcpy(blk + d_at, &d, 2);
        if (t == LOOM_DTYPE_Q4_1 || t == LOOM_DTYPE_Q4_K || t == LOOM_DTYPE_Q5_1 || t == LOOM_DTYPE_Q5_K ||
            t == LOOM_DTYPE_Q2_K)
            memcpy(blk + d_at + 2, t == LOOM_DTYPE_Q2_K ? &d : &m, 2); /* Q2_K's dmin multiplies positive mins */
        if (t == LOOM_DTYPE_FP8_E4M3)
            for (int j = 0; j < 32; j++)
                if ((blk[2 + j] & 0x7f) == 0x7f) blk[2 + j] = 0x7e; /* no NaN codes */
    }
}

/* every dtype with int8-activation kernels */
static const loom_dtype INT8_TYPES[] = {LOOM_DTYPE_Q8_0, LOOM_DTYPE_Q4_0, LOOM_DTYPE_Q4_1,   LOOM_DTYPE_Q4_K,
                                        LOOM_DTYPE_Q6_K, LOOM_DTYPE_Q5_0, LOOM_DTYPE_Q5_1,   LOOM_DTYPE_Q2_K,
                                        LOOM_DTYPE_Q3_K, LOOM_DTYPE_Q5_K, LOOM_DTYPE_IQ4_NL, LOOM_DTYPE_IQ4_XS};
#define N_INT8_TYPES (sizeof INT8_TYPES / sizeof INT8_TYPES[0])

static void test_xdot(void) {
    const loom_dtype *types = INT8_TYPES;
    enum { N = 768, T = LOOM_XDOT_MAX_TOKENS, NB = N / 32 };
    static uint8_t raw[N * 2];
    static float x[T * N], w[N], xd[T * N];
    static loom_xblock xq[T * NB];
    for (int i = 0; i < T * N; i++) x[i] = frand() * (i % 7 == 0 ? 4.0f : 1.0f);
    for (int t = 0; t < T; t++) quantize_x_row(x + t * N, xq + t * NB, N);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < NB; b++) {
            int sum = 0;
            for (int j = 0; j < 32; j++) {
                xd[t * N + b * 32 + j] = xq[t * NB + b].d * xq[t * NB + b].q[j];
                sum += xq[t * NB + b].q[j];
                /* rounding: each element within half a step */
                CHECK(fabsf(xd[t * N + b * 32 + j] - x[t * N + b * 32 + j]) <= 0.5f * xq[t * NB + b].d * 1.0001f);
            }
            CHECK_NEAR(xq[t * NB + b].dsum, xq[t * NB + b].d * sum, 1e-5);
        }
    for (size_t k = 0; k < N_INT8_TYPES; k++) {
        CHECK_MSG(dtype_takes_int8_x(types[k]), "%s on %s", dtype_name(types[k]), cpu_isa());
        random_row(types[k], raw, N);
        dequant_row(types[k], raw, w, N);
        for (int n_tok = 1; n_tok <= T; n_tok++) {
            float out[T];
            xdot_row(types[k], raw, xq, NB, NB, n_tok, out);
            for (int t = 0; t < n_tok; t++) {
                double exact = 0, mag = 0, fdot = 0, bound = 0;
                for (int i = 0; i < N; i++) {
                    exact += (double)w[i] * xd[t * N + i];
                    mag += fabs((double)w[i] * xd[t * N + i]);
                    fdot += (double)w[i] * x[t * N + i];
                }
                for (int b = 0; b < NB; b++) {
                    double sw = 0;
                    for (int j = 0; j < 32; j++) sw += fabs(w[b * 32 + j]);
                    bound += 0.5 * xq[t * NB + b].d * sw;
                }
                CHECK_MSG(fabs(out[t] - exact) <= 1e-5 * mag + 1e-6, "%s n_tok=%d t=%d: %g vs %g", dtype_name(types[k]),
                          n_tok, t, out[t], exact);
                CHECK_MSG(fabs(out[t] - fdot) <= bound * 1.001 + 1e-5, "%s: %g vs float %g (bound %g)",
                          dtype_name(types[k]), out[t], fdot, bound);
            }
        }
    }
}

/* Batch invariance of the matmul, for every weight dtype (int8 activations for the block-quantized ones,
 * float32 for F32 / F16 / BF16 / FP8): each token's outputs are bit-identical whether it is alone or among
 * 7 tokens, over 11 rows (register tiles with tails), at 1 and 2 threads. */
static void test_quantized_batch_invariance(void) {
    const loom_dtype types[] = {LOOM_DTYPE_Q8_0, LOOM_DTYPE_Q4_0, LOOM_DTYPE_Q4_1,     LOOM_DTYPE_Q4_K,
                                LOOM_DTYPE_Q6_K, LOOM_DTYPE_Q5_0, LOOM_DTYPE_Q5_1,     LOOM_DTYPE_Q2_K,
                                LOOM_DTYPE_Q3_K, LOOM_DTYPE_Q5_K, LOOM_DTYPE_IQ4_NL,   LOOM_DTYPE_IQ4_XS,
                                LOOM_DTYPE_F16,  LOOM_DTYPE_BF16, LOOM_DTYPE_FP8_E4M3, LOOM_DTYPE_F32};
    enum { ROWS = 11, COLS = 512, T = 7 };
    static uint8_t raw[ROWS * COLS * 4];
    static float x[T * COLS], together[T * ROWS], alone[ROWS];
    for (int i = 0; i < T * COLS; i++) x[i] = frand();
    loom_backend *be1, *be2;
    loom_error err;
    CHECK(backend_cpu_create(1, &be1, &err) == LOOM_OK && backend_cpu_create(2, &be2, &err) == LOOM_OK);
    CHECK(be1->ops->reserve(be1, COLS, &err) == LOOM_OK && be2->ops->reserve(be2, COLS, &err) == LOOM_OK);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        size_t row_bytes = dtype_bytes(types[k], COLS);
        for (int r = 0; r < ROWS; r++) random_row(types[k], raw + r * row_bytes, COLS);
        loom_tensor w = {
            .data = raw, .dtype = types[k], .n_dims = 2, .shape = {ROWS, COLS}, .row_stride_bytes = row_bytes};
        be2->ops->matmul(be2, together, &w, x, T);
        for (int t = 0; t < T; t++) {
            be1->ops->matmul(be1, alone, &w, x + t * COLS, 1);
            for (int r = 0; r < ROWS; r++)
                CHECK_MSG(alone[r] == together[t * ROWS + r], "%s token %d row %d: %.9g alone, %.9g among %d",
                          dtype_name(types[k]), t, r, alone[r], together[t * ROWS + r], T);
        }
    }
    backend_free(be1);
    backend_free(be2);
}

/* One token against 4 float-type rows (the decode path of F32 / F16 / BF16 / FP8 weights): each equals the
 * dot of the dequantized row within 1e-5 of sum |w x|; the scalar path has no such kernel (returns 0) and
 * quantized dtypes are never taken. */
static void test_float_activation_dots(void) {
    const loom_dtype types[] = {LOOM_DTYPE_F32, LOOM_DTYPE_F16, LOOM_DTYPE_BF16, LOOM_DTYPE_FP8_E4M3, LOOM_DTYPE_Q8_0};
    enum { N = 520 }; /* not a multiple of 16: the F32 / F16 / BF16 tails */
    static uint8_t raw[4][N * 4];
    static float x[N], w[N];
    int has_kernel = strcmp(cpu_isa(), "scalar") != 0;
    for (int i = 0; i < N; i++) x[i] = frand();
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        int64_t n = types[k] == LOOM_DTYPE_F32 || types[k] == LOOM_DTYPE_F16 || types[k] == LOOM_DTYPE_BF16 ? N : 512;
        const void *rows[4] = {raw[0], raw[1], raw[2], raw[3]};
        float out[4];
        for (int r = 0; r < 4; r++) random_row(types[k], raw[r], n);
        int took = dot_rows4(types[k], rows, x, n, out);
        CHECK_MSG(took == (has_kernel && types[k] != LOOM_DTYPE_Q8_0), "%s on %s", dtype_name(types[k]), cpu_isa());
        for (int r = 0; took && r < 4; r++) {
            dequant_row(types[k], raw[r], w, n);
            double ref = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                ref += (double)w[i] * x[i];
                mag += fabs((double)w[i] * x[i]);
            }
            CHECK_MSG(fabs(out[r] - ref) <= 1e-5 * mag + 1e-6, "%s row %d: %g vs %g", dtype_name(types[k]), r, out[r],
                      ref);
        }
    }
}

static void test_fp8_codes(void) {
    for (int c = 0; c < 256; c++) {
        if ((c & 0x7f) == 0x7f) continue; /* NaN */
        float v = fp8_e4m3_to_f32((uint8_t)c);
        CHECK_MSG(f32_to_fp8_e4m3(v) == c || (v == 0 && (c & 0x7f) == 0), "code %d", c);
    }
    for (int i = 0; i < 10000; i++) {
        float v = frand() * 400.0f;
        if (fabsf(v) < 0.02f) continue; /* subnormals have absolute, not relative, steps */
        CHECK(fabsf(fp8_e4m3_to_f32(f32_to_fp8_e4m3(v)) - v) <= fabsf(v) / 16);
    }
}

/* Squared error of x [32] stored with the fixed scale d = f16(max|x| / 448) (what the search must beat). */
static double fp8_plain_scale_error(const float *x) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = f16_to_f32(f32_to_f16(amax / LOOM_FP8_E4M3_MAX));
    double err = 0;
    for (int j = 0; j < 32; j++) {
        double e = x[j] - d * fp8_e4m3_to_f32(f32_to_fp8_e4m3(x[j] / d));
        err += e * e;
    }
    return err;
}

static void test_fp8_weight_quantization(void) {
    enum { N = 32 * 400 };
    static float x[N], back[N];
    static uint8_t q[N / 32 * 34];
    for (int i = 0; i < N; i++) x[i] = frand() * (i / 32 % 5 == 0 ? 3.0f : 0.05f);
    quantize_row(LOOM_DTYPE_FP8_E4M3, x, q, N);
    dequant_row(LOOM_DTYPE_FP8_E4M3, q, back, N);
    double total = 0, total_plain = 0;
    for (int b = 0; b < N / 32; b++) {
        uint16_t dh;
        memcpy(&dh, q + 34 * b, 2);
        float d = f16_to_f32(dh);
        double err = 0;
        for (int j = 32 * b; j < 32 * b + 32; j++) {
            CHECK_MSG(fabsf(back[j] - x[j]) <= fabsf(x[j]) / 16 + d * 0x1p-9f, "elem %d: %g vs %g", j, back[j], x[j]);
            err += (double)(back[j] - x[j]) * (back[j] - x[j]);
        }
        double plain = fp8_plain_scale_error(x + 32 * b);
        CHECK_MSG(err <= plain * (1 + 1e-6), "block %d: %g > plain scale %g", b, err, plain);
        total += err;
        total_plain += plain;
    }
    CHECK_MSG(total <= 0.9 * total_plain, "searched scales: %g vs plain %g", total, total_plain);
}

/* Three quantized matrices run as one fused matmul == three matmuls, for 1 and 7 tokens, 1 and 3 threads. */
static void check_fused_matmul(const loom_dtype types[3]) {
    enum { COLS = 256, T = 7 };
    const int64_t rows[3] = {96, 32, 40};
    static uint8_t raw[3][96 * COLS * 2];
    static float x[T * COLS], fused[3][T * 96], single[3][T * 96];
    loom_tensor w[3];
    for (int m = 0; m < 3; m++) {
        for (int64_t r = 0; r < rows[m]; r++) random_row(types[m], raw[m] + r * dtype_bytes(types[m], COLS), COLS);
        w[m] = (loom_tensor){.data = raw[m],
                             .dtype = types[m],
                             .n_dims = 2,
                             .shape = {rows[m], COLS},
                             .row_stride_bytes = dtype_bytes(types[m], COLS)};
    }
    for (int i = 0; i < T * COLS; i++) x[i] = frand();
    for (int threads = 1; threads <= 3; threads += 2) {
        loom_backend *be;
        loom_error err;
        CHECK(backend_cpu_create(threads, &be, &err) == LOOM_OK);
        CHECK(be->ops->reserve(be, COLS, &err) == LOOM_OK);
        for (int n_tok = 1; n_tok <= T; n_tok += T - 1) {
            float *ys[3] = {fused[0], fused[1], fused[2]};
            const loom_tensor *ws[3] = {&w[0], &w[1], &w[2]};
            be->ops->matmul_fused(be, 3, ys, ws, x, n_tok);
            for (int m = 0; m < 3; m++) {
                be->ops->matmul(be, single[m], &w[m], x, n_tok);
                CHECK(memcmp(fused[m], single[m], sizeof(float) * rows[m] * n_tok) == 0);
                float row[COLS];
                for (int t = 0; t < n_tok; t++) /* and near the float reference: int8 activations */
                    for (int64_t r = 0; r < rows[m]; r++) {
                        dequant_row(types[m], tensor_row(&w[m], r), row, COLS);
                        double ref = 0, mag = 0;
                        for (int c = 0; c < COLS; c++) {
                            ref += (double)row[c] * x[t * COLS + c];
                            mag += fabs((double)row[c] * x[t * COLS + c]);
                        }
                        CHECK_NEAR(fused[m][t * rows[m] + r], ref, 0.01 * mag);
                    }
            }
        }
        backend_free(be);
    }
}

static void test_fused_matmul(void) {
    const loom_dtype legacy[3] = {LOOM_DTYPE_Q4_1, LOOM_DTYPE_Q8_0, LOOM_DTYPE_Q4_0};
    const loom_dtype k_quants[3] = {LOOM_DTYPE_Q4_K, LOOM_DTYPE_Q6_K, LOOM_DTYPE_Q8_0}; /* as in Q4_K_M files */
    const loom_dtype q5[3] = {LOOM_DTYPE_Q5_0, LOOM_DTYPE_Q5_K, LOOM_DTYPE_Q5_1};
    const loom_dtype low[3] = {LOOM_DTYPE_Q2_K, LOOM_DTYPE_Q3_K, LOOM_DTYPE_IQ4_XS};
    const loom_dtype iq4[3] = {LOOM_DTYPE_IQ4_NL, LOOM_DTYPE_Q6_K, LOOM_DTYPE_Q5_0};
    check_fused_matmul(legacy);
    check_fused_matmul(k_quants);
    check_fused_matmul(q5);
    check_fused_matmul(low);
    check_fused_matmul(iq4);
}

/* The AVX-512 activation quantizer writes the same bytes as the portable one: random blocks, an all-zero
 * block, and halfway cases (x * 127 / amax exactly k + 0.5, rounded to even by both). */
static void test_quantize_x_paths(void) {
    enum { N = 32 * 40 };
    static float x[N];
    static loom_xblock a[N / 32], b[N / 32];
    for (int i = 0; i < N; i++) x[i] = frand() * (i % 5 == 0 ? 30.0f : 1.0f);
    for (int j = 0; j < 32; j++) x[32 + j] = 0.0f;
    for (int j = 0; j < 32; j++) x[64 + j] = j == 0 ? 127.0f : (float)(j % 9) - 4.5f; /* amax 127: scale 1 */
    quantize_x_row_portable(x, a, N);
    if (strcmp(cpu_isa(), "avx512") != 0) return;
    quantize_x_row_avx512(x, b, N);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(a[2].q[1] == -4 && a[2].q[2] == -2 && a[1].d == 0.0f); /* -3.5 -> -4, -2.5 -> -2 */
    for (int k = 0; k < N / 32; k++) {
        int half[2] = {0, 0};
        for (int j = 0; j < 32; j++) half[j / 16] += a[k].q[j];
        CHECK(a[k].half_sum[0] == half[0] && a[k].half_sum[1] == half[1]);
    }
}

static void test_x16_layout(void) {
    const loom_dtype *types = INT8_TYPES;
    /* several pool units of 32 rows; 77 tokens: the backend's chunk of 64 (tiles of 16) then 13 (8 + 4 + 1) */
    enum { ROWS = 256, COLS = 1024, T = 77 };
    static uint8_t raw[ROWS * COLS * 2], packed[ROWS * COLS * 2]; /* >= any dtype's bytes */
    static float x[T * COLS], y_rows[T * ROWS], y_packed[T * ROWS], alone[ROWS], row[COLS], unpacked[COLS];
    for (int i = 0; i < T * COLS; i++) x[i] = frand();
    int expect = strcmp(cpu_isa(), "avx512") == 0; /* the layout's only kernels so far */
    loom_backend *be1, *be2;
    loom_error err;
    CHECK(backend_cpu_create(1, &be1, &err) == LOOM_OK && backend_cpu_create(2, &be2, &err) == LOOM_OK);
    CHECK(be1->ops->reserve(be1, COLS, &err) == LOOM_OK && be2->ops->reserve(be2, COLS, &err) == LOOM_OK);
    for (size_t k = 0; k < N_INT8_TYPES; k++) {
        loom_dtype t = types[k];
        size_t row_bytes = dtype_bytes(t, COLS);
        for (int r = 0; r < ROWS; r++) random_row(t, raw + r * row_bytes, COLS);
        loom_tensor w = {.data = raw, .dtype = t, .n_dims = 2, .shape = {ROWS, COLS}, .row_stride_bytes = row_bytes};
        loom_tensor odd = w;
        odd.shape[0] = ROWS - 5;
        CHECK_MSG(x16_packable(&w) == expect && !x16_packable(&odd), "%s on %s", dtype_name(t), cpu_isa());
        if (!expect) continue;
        x16_pack(t, raw, packed, ROWS, COLS);
        loom_tensor p = w;
        p.data = packed;
        p.layout = LOOM_LAYOUT_X16;
        CHECK(!x16_packable(&p));
        be2->ops->matmul(be2, y_rows, &w, x, T);
        be2->ops->matmul(be2, y_packed, &p, x, T);
        for (int r = 0; r < ROWS; r++) {
            dequant_row(t, raw + r * row_bytes, row, COLS);
            x16_dequant_row(t, packed, r, COLS, unpacked);
            CHECK_MSG(memcmp(row, unpacked, sizeof row) == 0, "%s row %d unpacks differently", dtype_name(t), r);
            for (int tok = 0; tok < T; tok++) {
                double mag = 0;
                for (int c = 0; c < COLS; c++) mag += fabs((double)row[c] * x[tok * COLS + c]);
                CHECK_NEAR(y_packed[tok * ROWS + r], y_rows[tok * ROWS + r], 1e-5 * mag);
            }
        }
        for (int tok = 0; tok < T; tok++) {
            be1->ops->matmul(be1, alone, &p, x + tok * COLS, 1);
            for (int r = 0; r < ROWS; r++)
                CHECK_MSG(alone[r] == y_packed[tok * ROWS + r], "%s token %d row %d: %.9g alone, %.9g among %d",
                          dtype_name(t), tok, r, alone[r], y_packed[tok * ROWS + r], T);
        }
    }
    backend_free(be1);
    backend_free(be2);
}

/* Tensor-parallel column slices (quant_load.h): on the dtype's block boundaries the slice keeps the dtype and
 * its bytes; across them (32-aligned) it becomes Q8_0 whose values are the original's within Q8_0's rounding
 * (half a step of max |w| / 127 per 32 elements, plus the f16 rounding of that step: max |w| / 1024 bounds it);
 * not even 32-aligned: refused (LOOM_DTYPE_COUNT). */
static void test_column_slices(void) {
    const loom_dtype types[] = {LOOM_DTYPE_Q4_K, LOOM_DTYPE_Q5_K,   LOOM_DTYPE_Q2_K,
                                LOOM_DTYPE_Q3_K, LOOM_DTYPE_Q6_K,   LOOM_DTYPE_IQ4_XS,
                                LOOM_DTYPE_Q5_0, LOOM_DTYPE_IQ4_NL, LOOM_DTYPE_IQ2_XS};
    enum { ROWS = 3, COLS = 1024, BEGIN = 288, COUNT = 416 }; /* 32-aligned, not 256-aligned */
    static uint8_t raw[ROWS * COLS * 2], sliced[ROWS * COLS * 2];
    static float full[COLS], part[COLS];
    loom_error err;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        loom_dtype t = types[k];
        int64_t block = dtype_block_elems(t);
        size_t row_bytes = dtype_bytes(t, COLS);
        for (int r = 0; r < ROWS; r++) random_row(t, raw + r * row_bytes, COLS);
        CHECK(column_slice_dtype(t, BEGIN + 1, COUNT) == LOOM_DTYPE_COUNT);
        CHECK(column_slice_dtype(t, block, COLS - block) == t);
        CHECK(slice_columns(t, raw, ROWS, COLS, block, COLS - block, t, sliced, &err) == LOOM_OK);
        for (int r = 0; r < ROWS; r++)
            CHECK(memcmp(sliced + r * dtype_bytes(t, COLS - block), raw + r * row_bytes + dtype_block_bytes(t),
                         dtype_bytes(t, COLS - block)) == 0);
        loom_dtype to = column_slice_dtype(t, BEGIN, COUNT);
        CHECK_MSG(to == (block == 32 ? t : LOOM_DTYPE_Q8_0), "%s", dtype_name(t));
        CHECK(slice_columns(t, raw, ROWS, COLS, BEGIN, COUNT, to, sliced, &err) == LOOM_OK);
        for (int r = 0; r < ROWS; r++) {
            dequant_row(t, raw + r * row_bytes, full, COLS);
            dequant_row(to, sliced + r * dtype_bytes(to, COUNT), part, COUNT);
            for (int b = 0; b < COUNT / 32; b++) {
                float amax = 0;
                for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(full[BEGIN + 32 * b + j]));
                for (int j = 0; j < 32; j++)
                    CHECK_MSG(fabsf(part[32 * b + j] - full[BEGIN + 32 * b + j]) <=
                                  amax * (1.0f / 254 + 1.0f / 1024) + 1e-7f,
                              "%s row %d elem %d: %g vs %g", dtype_name(t), r, 32 * b + j, part[32 * b + j],
                              full[BEGIN + 32 * b + j]);
            }
        }
    }
}

/* SIMD SiLU x up (exp by a polynomial) vs double precision: within 1e-6 relative (+1e-30 absolute for
 * results that underflow), over [-100, 100], tails of every length, and in place (out == gate). */
static void test_silu_mul(void) {
    enum { N = 1000 };
    static float g[N], u[N], out[N];
    for (int i = 0; i < N; i++) {
        g[i] = i < 40 ? (float)(i - 20) * 5.0f : frand() * (i % 3 ? 8.0f : 100.0f);
        u[i] = frand() * 3.0f;
    }
    for (int n = 1; n <= N; n += n < 40 ? 1 : 97) {
        silu_mul(out, g, u, n);
        for (int i = 0; i < n; i++) {
            double ref = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
            CHECK_MSG(fabs(out[i] - ref) <= 1e-6 * fabs(ref) + 1e-30, "n=%d g=%g u=%g: %g vs %g", n, g[i], u[i], out[i],
                      ref);
        }
    }
    memcpy(out, g, sizeof g);
    silu_mul(out, out, u, N);
    for (int i = 0; i < N; i++)
        CHECK_NEAR(out[i], g[i] / (1.0 + exp(-(double)g[i])) * u[i], 1e-6 * fabs(out[i]) + 1e-30);
}

/* the forced path is the one running, where the CPU has it */
static void test_forced_isa(void) {
    const char *want = getenv("LOOM_ISA");
    int has = strcmp(want, "scalar") == 0 || (strcmp(want, "avx2") == 0 && __builtin_cpu_supports("avx2")) ||
        (strcmp(want, "avx512") == 0 && __builtin_cpu_supports("avx512vnni"));
    CHECK_MSG(!has || strcmp(cpu_isa(), want) == 0, "LOOM_ISA=%s runs %s", want, cpu_isa());
}

static int run_all(void) {
    printf("isa: %s\n", cpu_isa());
    RUN(test_forced_isa);
    RUN(test_xdot);
    RUN(test_quantized_batch_invariance);
    RUN(test_float_activation_dots);
    RUN(test_fp8_codes);
    RUN(test_fp8_weight_quantization);
    RUN(test_fused_matmul);
    RUN(test_x16_layout);
    RUN(test_column_slices);
    RUN(test_quantize_x_paths);
    RUN(test_silu_mul);
    return check_summary();
}

/* Runs this binary under each LOOM_ISA (a path the CPU lacks falls back to scalar). */
static void test_every_isa(void) {
    const char *self = "/proc/self/exe";
    const char *isas[] = {"scalar", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            setenv("LOOM_ISA", isas[i], 1);
            execl(self, self, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "LOOM_ISA=%s failed", isas[i]);
    }
}

int main(void) {
    if (getenv("LOOM_ISA")) return run_all();
    RUN(test_every_isa);
    return check_summary();
}
