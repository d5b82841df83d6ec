/* CPU kernels against plain reference computations: dtype conversions, block dequantization,
 * fused dot products, matmul over the thread pool, RoPE layouts, RoPE / residual add / bias / embedding
 * of a batch over 2 threads (RoPE's per-step table of angles reused and remade as positions change),
 * and paged attention vs naive. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/backend.h"
#include "kernels/cpu/rowops.h"

static uint64_t rng_state = 12345;
static float frand(void) { /* uniform [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng_state >> 40) / 8388608.0 - 1.0);
}

static void test_f16_roundtrip(void) {
    CHECK(f16_to_f32(0x3c00) == 1.0f);
    CHECK(f16_to_f32(0xc000) == -2.0f);
    CHECK(f16_to_f32(0x0001) == 5.9604644775390625e-08f); /* smallest subnormal */
    CHECK(f16_to_f32(0x7bff) == 65504.0f);
    CHECK(isinf(f16_to_f32(0x7c00)));
    CHECK(f32_to_f16(1.0f) == 0x3c00);
    CHECK(f32_to_f16(65504.0f) == 0x7bff);
    CHECK(f32_to_f16(1e6f) == 0x7c00);
    CHECK(f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00); /* tie rounds to even */
    CHECK(f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02); /* tie rounds to even (up) */
    for (uint32_t h = 0; h < 0x7c00; h++) CHECK(f32_to_f16(f16_to_f32((uint16_t)h)) == h);
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(f32_to_bf16(1.0f) == 0x3f80);
    CHECK(f32_to_bf16(1.00390625f) == 0x3f80); /* 1 + 2^-8: tie to even */
}

/* Builds one block of each quantized type by hand and checks every dequantized element. */
static void test_dequant_blocks(void) {
    uint8_t q8[34], q40[18], q41[20];
    float out[32];
    uint16_t d = f32_to_f16(0.5f), m = f32_to_f16(-1.0f);
    memcpy(q8, &d, 2);
    for (int j = 0; j < 32; j++) q8[2 + j] = (uint8_t)(int8_t)(j - 16);
    dequant_row(LOOM_DTYPE_Q8_0, q8, out, 32);
    for (int j = 0; j < 32; j++) CHECK(out[j] == 0.5f * (j - 16));

    memcpy(q40, &d, 2);
    for (int j = 0; j < 16; j++) q40[2 + j] = (uint8_t)((j & 15) | ((15 - j) << 4));
    dequant_row(LOOM_DTYPE_Q4_0, q40, out, 32);
    for (int j = 0; j < 16; j++) {
        CHECK(out[j] == 0.5f * (j - 8));
        CHECK(out[j + 16] == 0.5f * ((15 - j) - 8));
    }

    memcpy(q41, &d, 2);
    memcpy(q41 + 2, &m, 2);
    for (int j = 0; j < 16; j++) q41[4 + j] = (uint8_t)(j | ((15 - j) << 4));
    dequant_row(LOOM_DTYPE_Q4_1, q41, out, 32);
    for (int j = 0; j < 16; j++) {
        CHECK(out[j] == 0.5f * j - 1.0f);
        CHECK(out[j + 16] == 0.5f * (15 - j) - 1.0f);
    }
}

/* K super-blocks built from chosen integers with packers written from llama.cpp's block_q4_K /
 * block_q6_K definitions; every dequantized element must equal the formula exactly (the products are
 * of small integers and f16-exact scales, so float32 holds them exactly). */
static void test_dequant_k_blocks(void) {
    float out[256];
    uint16_t dh = f32_to_f16(0.5f), dminh = f32_to_f16(0.25f);

    /* Q4_K: d, dmin, 12 bytes of 6-bit (scale, min) pairs for 8 sub-blocks, 128 bytes of nibbles */
    uint8_t q4k[144] = {0};
    int sc[8], mn[8], q[256];
    for (int j = 0; j < 8; j++) {
        sc[j] = (j * 23 + 5) % 64;
        mn[j] = (j * 41 + 60) % 64;
    }
    memcpy(q4k, &dh, 2);
    memcpy(q4k + 2, &dminh, 2);
    for (int j = 0; j < 4; j++) { /* bytes 0-3 / 4-7: low 6 bits of sc/mn 0..3, top 2 bits: sc/mn 4..7 >> 4 */
        q4k[4 + j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        q4k[8 + j] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        q4k[12 + j] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4)); /* bytes 8-11: low nibbles */
    }
    for (int i = 0; i < 256; i++) q[i] = (i * 7 + i / 32) % 16;
    for (int pair = 0; pair < 4; pair++) /* 32 bytes per 64 elements: low nibble first 32, high nibble next 32 */
        for (int l = 0; l < 32; l++)
            q4k[16 + 32 * pair + l] = (uint8_t)(q[64 * pair + l] | (q[64 * pair + 32 + l] << 4));
    dequant_row(LOOM_DTYPE_Q4_K, q4k, out, 256);
    for (int i = 0; i < 256; i++)
        CHECK_MSG(out[i] == 0.5f * sc[i / 32] * q[i] - 0.25f * mn[i / 32], "q4_k elem %d: %g", i, out[i]);

    /* Q6_K: ql[128], qh[64], int8 scales[16], d. Filled the way llama.cpp's dequantizer reads it: for
     * each half ip and l < 32, elements 128 ip + l + {0, 32, 64, 96} take ql[64 ip + l] low nibble,
     * ql[64 ip + l + 32] low, ql[64 ip + l] high, ql[64 ip + l + 32] high, with qh[32 ip + l] bits
     * 0-1, 2-3, 4-5, 6-7 on top, and scales[8 ip + l / 16 + {0, 2, 4, 6}]. */
    uint8_t q6k[210] = {0};
    int8_t scales[16];
    for (int j = 0; j < 16; j++) scales[j] = (int8_t)(j * 37 % 255 - 127);
    for (int i = 0; i < 256; i++) q[i] = (i * 13 + i / 64) % 64;
    for (int ip = 0; ip < 2; ip++)
        for (int l = 0; l < 32; l++) {
            const int *e = q + 128 * ip + l;
            q6k[64 * ip + l] = (uint8_t)((e[0] & 15) | ((e[64] & 15) << 4));
            q6k[64 * ip + l + 32] = (uint8_t)((e[32] & 15) | ((e[96] & 15) << 4));
            q6k[128 + 32 * ip + l] =
                (uint8_t)((e[0] >> 4) | ((e[32] >> 4) << 2) | ((e[64] >> 4) << 4) | ((e[96] >> 4) << 6));
        }
    memcpy(q6k + 192, scales, 16);
    memcpy(q6k + 208, &dh, 2);
    dequant_row(LOOM_DTYPE_Q6_K, q6k, out, 256);
    for (int i = 0; i < 256; i++) {
        int ip = i / 128, l = i % 32, k = i % 128 / 32;
        CHECK_MSG(out[i] == 0.5f * scales[8 * ip + l / 16 + 2 * k] * (q[i] - 32), "q6_k elem %d: %g", i, out[i]);
    }
}

/* One token through a one-row float-type matrix (the decode matmul: a short 4-row column repeating its
 * row) == dot of the dequantized row. */
static void test_dot_matches_dequant(void) {
    const loom_dtype types[] = {LOOM_DTYPE_F32, LOOM_DTYPE_F16, LOOM_DTYPE_BF16};
    enum { N = 320 };
    uint8_t raw[N * 4];
    float x[N], row[N];
    loom_backend *be;
    loom_error err;
    CHECK(backend_cpu_create(1, &be, &err) == LOOM_OK && be->ops->reserve(be, N, &err) == LOOM_OK);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        if (types[k] == LOOM_DTYPE_F32)
            for (int i = 0; i < N; i++) ((float *)raw)[i] = frand();
        else
            for (int i = 0; i < N; i++) {
                uint16_t h = types[k] == LOOM_DTYPE_F16 ? f32_to_f16(frand()) : f32_to_bf16(frand());
                memcpy(raw + 2 * i, &h, 2);
            }
        for (int i = 0; i < N; i++) x[i] = frand();
        dequant_row(types[k], raw, row, N);
        double ref = 0;
        for (int i = 0; i < N; i++) ref += (double)row[i] * x[i];
        loom_tensor w = {
            .data = raw, .dtype = types[k], .n_dims = 2, .shape = {1, N}, .row_stride_bytes = dtype_bytes(types[k], N)};
        float got;
        be->ops->matmul(be, &got, &w, x, 1);
        CHECK_MSG(fabs(got - ref) <= 1e-4 * (1 + fabs(ref)), "%s: %g vs %g", dtype_name(types[k]), got, ref);
    }
    backend_free(be);
}

static void test_matmul_threads(void) {
    enum { ROWS = 37, COLS = 70, T = 5 }; /* COLS not a multiple of any vector width: tails */
    static float w[ROWS * COLS], x[T * COLS], y1[T * ROWS], y2[T * ROWS];
    for (int i = 0; i < ROWS * COLS; i++) w[i] = frand();
    for (int i = 0; i < T * COLS; i++) x[i] = frand();
    loom_tensor t = {
        .data = w, .dtype = LOOM_DTYPE_F32, .n_dims = 2, .shape = {ROWS, COLS}, .row_stride_bytes = COLS * 4};
    loom_backend *b1, *b2;
    loom_error err;
    CHECK(backend_cpu_create(1, &b1, &err) == LOOM_OK);
    CHECK(backend_cpu_create(3, &b2, &err) == LOOM_OK);
    CHECK(b1->ops->reserve(b1, COLS, &err) == LOOM_OK && b2->ops->reserve(b2, COLS, &err) == LOOM_OK);
    for (int n_tok = 1; n_tok <= T; n_tok += T - 1) {
        b1->ops->matmul(b1, y1, &t, x, n_tok);
        b2->ops->matmul(b2, y2, &t, x, n_tok);
        for (int tk = 0; tk < n_tok; tk++)
            for (int r = 0; r < ROWS; r++) {
                double ref = 0;
                for (int c = 0; c < COLS; c++) ref += (double)w[r * COLS + c] * x[tk * COLS + c];
                CHECK_NEAR(y1[tk * ROWS + r], ref, 1e-4);
                CHECK(y1[tk * ROWS + r] == y2[tk * ROWS + r]); /* thread count never changes results */
            }
    }
    /* batch invariance: each token's row is bit-identical whether it is alone or among T tokens
     * (the engine's greedy outputs rely on it) */
    b2->ops->matmul(b2, y2, &t, x, T);
    for (int tk = 0; tk < T; tk++) {
        float alone[ROWS];
        b1->ops->matmul(b1, alone, &t, x + tk * COLS, 1);
        for (int r = 0; r < ROWS; r++) CHECK_MSG(alone[r] == y2[tk * ROWS + r], "token %d row %d", tk, r);
    }
    backend_free(b1);
    backend_free(b2);
}

/* Interleaved RoPE on a vector equals rotate-half RoPE on the same vector with its pairs permuted. */
static void test_rope_layouts(void) {
    enum { D = 8 };
    float inv[D / 2] = {1.0f, 0.1f, 0.01f, 0.001f};
    float a[D], b[D];
    for (int i = 0; i < D; i++) a[i] = frand();
    float orig[D];
    memcpy(orig, a, sizeof a);
    /* b holds a's pairs (2i, 2i+1) at (i, i+D/2) */
    for (int i = 0; i < D / 2; i++) {
        b[i] = a[2 * i];
        b[i + D / 2] = a[2 * i + 1];
    }
    loom_backend *be;
    loom_error err;
    CHECK(backend_cpu_create(1, &be, &err) == LOOM_OK);
    int32_t pos = 7;
    be->ops->rope(be, a, &pos, 1, 1, D, inv, 1);
    be->ops->rope(be, b, &pos, 1, 1, D, inv, 0);
    for (int i = 0; i < D / 2; i++) {
        CHECK_NEAR(a[2 * i], b[i], 1e-6);
        CHECK_NEAR(a[2 * i + 1], b[i + D / 2], 1e-6);
    }
    /* pair 0 of b, rotated by pos * inv[0], checked against the formula on the original values */
    float x0 = orig[0], x1 = orig[1], angle = (float)pos * inv[0];
    CHECK_NEAR(b[0], x0 * cosf(angle) - x1 * sinf(angle), 1e-6);
    CHECK_NEAR(b[D / 2], x0 * sinf(angle) + x1 * cosf(angle), 1e-6);
    backend_free(be);
}

/* RoPE of a batch of tokens on 2 threads, both layouts, bit for bit the per-element formula with cosf /
 * sinf of pos x inv_freq; again with the same position array rewritten in place (the backend's table of
 * angles must follow the positions, not the pointer) and with other frequencies. */
static void test_rope_batch(void) {
    enum { T = 37, H = 3, D = 64 };
    static float x[T * H * D], got[T * H * D], want[T * H * D];
    float inv_a[D / 2], inv_b[D / 2];
    int32_t pos[T];
    for (int i = 0; i < D / 2; i++) inv_a[i] = powf(10000.0f, -2.0f * i / D), inv_b[i] = powf(500000.0f, -2.0f * i / D);
    for (int i = 0; i < T * H * D; i++) x[i] = frand();
    loom_backend *be;
    loom_error err;
    CHECK(backend_cpu_create(2, &be, &err) == LOOM_OK);
    for (int round = 0; round < 4; round++) {
        const float *inv = round == 3 ? inv_b : inv_a;
        for (int t = 0; t < T; t++) pos[t] = round < 2 ? 3 * t + 1 : 700 - 11 * t; /* round 1 repeats round 0 */
        for (int interleaved = 0; interleaved < 2; interleaved++) {
            memcpy(got, x, sizeof x);
            memcpy(want, x, sizeof x);
            be->ops->rope(be, got, pos, T, H, D, inv, interleaved);
            for (int t = 0; t < T; t++)
                for (int h = 0; h < H; h++)
                    for (int i = 0; i < D / 2; i++) {
                        float *v = want + (t * H + h) * D, angle = (float)pos[t] * inv[i], c = cosf(angle),
                              sn = sinf(angle);
                        int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + D / 2;
                        float v0 = v[a], v1 = v[b];
                        v[a] = v0 * c - v1 * sn;
                        v[b] = v0 * sn + v1 * c;
                    }
            CHECK_MSG(memcmp(got, want, sizeof got) == 0, "round %d, interleaved %d: RoPE differs from the formula",
                      round, interleaved);
        }
    }
    backend_free(be);
}

/* Residual add, bias add (rows longer than nothing divides: runs cut mid-row) and embedding lookup of a
 * batch on 2 threads against plain loops. */
static void test_elementwise_batch(void) {
    enum { T = 41, DIM = 1000, VOCAB = 50 };
    static float y[T * DIM], x[T * DIM], want[T * DIM], bias[DIM], table[VOCAB * DIM];
    int32_t ids[T];
    for (int i = 0; i < T * DIM; i++) y[i] = want[i] = frand(), x[i] = frand();
    for (int i = 0; i < DIM; i++) bias[i] = frand();
    for (int i = 0; i < VOCAB * DIM; i++) table[i] = frand();
    for (int t = 0; t < T; t++) ids[t] = (t * 17) % VOCAB;
    loom_backend *be;
    loom_error err;
    CHECK(backend_cpu_create(2, &be, &err) == LOOM_OK);
    be->ops->add(be, y, x, T * DIM);
    for (int i = 0; i < T * DIM; i++) want[i] += x[i];
    CHECK(memcmp(y, want, sizeof y) == 0);
    loom_tensor b = {.data = bias, .dtype = LOOM_DTYPE_F32, .n_dims = 1, .shape = {DIM}, .row_stride_bytes = DIM * 4};
    be->ops->add_bias(be, y, &b, T, DIM);
    for (int i = 0; i < T * DIM; i++) want[i] += bias[i % DIM];
    CHECK(memcmp(y, want, sizeof y) == 0);
    loom_tensor e = {
        .data = table, .dtype = LOOM_DTYPE_F32, .n_dims = 2, .shape = {VOCAB, DIM}, .row_stride_bytes = DIM * 4};
    be->ops->embed(be, y, &e, ids, T);
    for (int t = 0; t < T; t++) CHECK(memcmp(y + t * DIM, table + ids[t] * DIM, DIM * sizeof(float)) == 0);
    backend_free(be);
}

/* Paged attention with a scrambled block table == naive softmax attention over a contiguous copy. */
static void test_paged_attention(void) {
    enum { BS = 4, NBLK = 8, HD = 8, NKV = 2, NH = 4, LEN = 13 };
    static float kc[NBLK * BS * NKV * HD], vc[NBLK * BS * NKV * HD];
    float q[NH * HD], out[NH * HD];
    int32_t table[NBLK] = {5, 2, 7, 0};
    for (int i = 0; i < NBLK * BS * NKV * HD; i++) {
        kc[i] = frand();
        vc[i] = frand();
    }
    for (int i = 0; i < NH * HD; i++) q[i] = frand();
    int32_t pos = LEN - 1, seq = 0;
    loom_attention_args a = {.q = q,
                             .out = out,
                             .k_cache = kc,
                             .v_cache = vc,
                             .pos = &pos,
                             .seq_of_token = &seq,
                             .block_tables = table,
                             .max_blocks_per_seq = NBLK,
                             .block_size = BS,
                             .n_tokens = 1,
                             .n_heads = NH,
                             .n_kv_heads = NKV,
                             .head_dim = HD,
                             .scale = 1.0f / sqrtf(HD)};
    loom_backend *be;
    loom_error err;
    CHECK(backend_cpu_create(2, &be, &err) == LOOM_OK);
    be->ops->attention(be, &a);
    for (int h = 0; h < NH; h++) {
        int kvh = h / (NH / NKV);
        double s[LEN], mx = -1e30, z = 0;
        for (int j = 0; j < LEN; j++) {
            const float *k = kc + ((table[j / BS] * BS + j % BS) * NKV + kvh) * HD;
            s[j] = 0;
            for (int i = 0; i < HD; i++) s[j] += (double)q[h * HD + i] * k[i];
            s[j] /= sqrt(HD);
            if (s[j] > mx) mx = s[j];
        }
        for (int j = 0; j < LEN; j++) z += s[j] = exp(s[j] - mx);
        for (int i = 0; i < HD; i++) {
            double ref = 0;
            for (int j = 0; j < LEN; j++) ref += s[j] / z * vc[((table[j / BS] * BS + j % BS) * NKV + kvh) * HD + i];
            CHECK_NEAR(out[h * HD + i], ref, 1e-5);
        }
    }
    backend_free(be);
}

typedef struct {
    int64_t sum;
    int hits[4];         /* chunks run per thread index */
    unsigned char *seen; /* per item: times run */
} pool_acc;
static void pool_sum(void *ctx, int64_t b, int64_t e, int ti) {
    pool_acc *a = ctx;
    int64_t s = 0;
    for (int64_t i = b; i < e; i++) {
        s += i;
        a->seen[i]++; /* items are disjoint across chunks, so no two threads touch the same byte */
    }
    __atomic_add_fetch(&a->sum, s, __ATOMIC_RELAXED);
    __atomic_add_fetch(&a->hits[ti], 1, __ATOMIC_RELAXED);
}

/* Every item runs exactly once, for job sizes below, at and above the grain and the thread count,
 * back to back (workers spinning) and after pauses long enough for them to sleep on the futex. */
static void test_thread_pool(void) {
    static unsigned char seen[4096];
    loom_pool *p;
    loom_error err;
    CHECK(pool_create(3, &p, &err) == LOOM_OK);
    int helped = 0;
    for (int rep = 0; rep < 1200; rep++) {
        int64_t n = rep < 1000 ? 1000 + rep : rep % 7, grain = rep % 5 + 1;
        memset(seen, 0, sizeof seen);
        pool_acc a = {.seen = seen};
        pool_run(p, n, rep < 1000 ? 7 : grain, pool_sum, &a);
        CHECK(a.sum == n * (n - 1) / 2);
        for (int64_t i = 0; i < n; i++)
            CHECK_MSG(seen[i] == 1, "rep %d item %lld ran %d times", rep, (long long)i, seen[i]);
        helped += a.hits[1] + a.hits[2] > 0;
        if (rep % 100 == 99) {
            struct timespec pause = {0, 2000000}; /* 2 ms: past the workers' spin, so they sleep */
            nanosleep(&pause, NULL);
        }
    }
    CHECK_MSG(helped > 0, "the workers never ran a chunk");
    pool_free(p);
}

int main(void) {
    RUN(test_f16_roundtrip);
    RUN(test_dequant_blocks);
    RUN(test_dequant_k_blocks);
    RUN(test_dot_matches_dequant);
    RUN(test_matmul_threads);
    RUN(test_rope_layouts);
    RUN(test_rope_batch);
    RUN(test_elementwise_batch);
    RUN(test_paged_attention);
    RUN(test_thread_pool);
    return check_summary();
}
