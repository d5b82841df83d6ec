/* The backend ops of one SmolLM2-135M decode step, alone, for 1 sequence and for N sequences decoding
 * together, run alternately: the matmuls (30 layers of fused QKV, o_proj, fused gate/up, down_proj in
 * Q4_1 and the 49,152 x 576 LM head in Q8_0, x16 layout where this CPU has it; random weights), attention
 * over KEYS cached keys per sequence (KV_DTYPE, default float32; blocks in shuffled order, 30 layers) and the small ops
 * (rmsnorm, RoPE, SiLU x up, residual adds). Prints ms per step of each group for 1 and N sequences,
 * the median of ROUNDS, and N's cost as a multiple of 1's: where a batched step's time goes, without the
 * engine around it. Compare two builds by running them alternately (bench/RESULTS.md).
 * usage: batch_decode_bench [THREADS [N [KEYS [ROUNDS [KV_DTYPE]]]]] (KV_DTYPE: f32 f16 bf16 int8 fp8) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/backend.h"
#include "kernels/cpu/pack_x16.h"
#include "kv/kv_store.h"

enum { LAYERS = 30, HIDDEN = 576, HEADS = 9, KV_HEADS = 3, HEAD_DIM = 64, FFN = 1536, VOCAB = 49152, BLOCK = 16 };
enum { KV_DIM = KV_HEADS * HEAD_DIM, MAX_ROUNDS = 1000 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 7;
static uint32_t next_u32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}
static float frand(void) { return (float)next_u32() / 2147483648.0f - 1.0f; }

static void *checked(void *p) {
    if (!p) {
        fprintf(stderr, "batch_decode_bench: out of memory\n");
        exit(1);
    }
    return p;
}

/* rows x cols of random blocks with f16 scales (and Q4_1 mins) of 2^-7, packed x16 when possible */
static loom_tensor random_matrix(loom_dtype dt, int64_t rows, int64_t cols) {
    size_t row_bytes = dtype_bytes(dt, cols), bytes = row_bytes * (size_t)rows, block = dtype_block_bytes(dt);
    uint8_t *p = checked(malloc(bytes));
    for (size_t i = 0; i < bytes; i++) p[i] = (uint8_t)next_u32();
    uint16_t scale = 0x2000;
    for (size_t b = 0; b < bytes / block; b++) {
        memcpy(p + b * block, &scale, 2);
        if (dt == LOOM_DTYPE_Q4_1) memcpy(p + b * block + 2, &scale, 2);
    }
    loom_tensor t = {.data = p, .dtype = dt, .n_dims = 2, .shape = {rows, cols}, .row_stride_bytes = row_bytes};
    if (!x16_packable(&t)) return t;
    void *packed = checked(aligned_alloc(64, (x16_matrix_bytes(dt, rows, cols) + 63) / 64 * 64));
    x16_pack(dt, p, packed, rows, cols);
    free(p);
    t.data = packed;
    t.layout = LOOM_LAYOUT_X16;
    return t;
}

typedef struct model {
    loom_tensor wq[LAYERS], wk[LAYERS], wv[LAYERS], wo[LAYERS], wg[LAYERS], wu[LAYERS], wd[LAYERS], head;
    loom_tensor norm;
    float inv_freq[HEAD_DIM / 2];
} model;

typedef struct step {
    int32_t n, keys;
    float *x, *xn, *q, *k, *v, *att, *gate, *up, *out, *logits;
    int32_t *pos, *seq, *table;
    loom_kv_store kv;
} step;

static void step_init(step *s, int32_t n, int32_t keys, loom_kv_dtype dtype) {
    s->n = n, s->keys = keys;
    size_t N = (size_t)n;
    s->x = checked(malloc(N * HIDDEN * 4)), s->xn = checked(malloc(N * HIDDEN * 4)),
    s->out = checked(malloc(N * HIDDEN * 4));
    s->q = checked(malloc(N * HIDDEN * 4)), s->att = checked(malloc(N * HIDDEN * 4));
    s->k = checked(malloc(N * KV_DIM * 4)), s->v = checked(malloc(N * KV_DIM * 4));
    s->gate = checked(malloc(N * FFN * 4)), s->up = checked(malloc(N * FFN * 4)),
    s->logits = checked(malloc(N * VOCAB * 4));
    for (size_t i = 0; i < N * HIDDEN; i++) s->x[i] = frand();
    int32_t per_seq = (keys + BLOCK - 1) / BLOCK, n_blocks = per_seq * n;
    s->pos = checked(malloc(N * 4)), s->seq = checked(malloc(N * 4)), s->table = checked(malloc((size_t)n_blocks * 4));
    for (int32_t i = 0; i < n_blocks; i++) s->table[i] = i;
    for (int32_t i = n_blocks - 1; i > 0; i--) { /* blocks in shuffled order, as after a while of serving */
        int32_t j = (int32_t)(next_u32() % (uint32_t)(i + 1)), t = s->table[i];
        s->table[i] = s->table[j], s->table[j] = t;
    }
    for (int32_t i = 0; i < n; i++) s->pos[i] = keys - 1, s->seq[i] = i;
    loom_error err;
    if (kv_store_init(&s->kv, LAYERS, KV_HEADS, HEAD_DIM, dtype, n_blocks, BLOCK, &err) != LOOM_OK) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    float k[KV_DIM], v[KV_DIM];
    for (int32_t l = 0; l < LAYERS; l++)
        for (int32_t i = 0; i < n; i++)
            for (int32_t p = 0; p < keys; p++) {
                for (int c = 0; c < KV_DIM; c++) k[c] = frand(), v[c] = frand();
                kv_store_write(&s->kv, l, s->table[i * per_seq + p / BLOCK] * BLOCK + p % BLOCK, k, v);
            }
}

enum { MATMUL, ATTENTION, SMALL, N_GROUPS };
static const char *const group_names[N_GROUPS] = {"matmuls", "attention", "small ops"};

/* One decode step of s->n sequences, its time per group added to t[] */
static void run_step(loom_backend *be, const model *m, step *s, double *t) {
    const loom_backend_ops *op = be->ops;
    int32_t n = s->n;
    double t0;
    for (int32_t l = 0; l < LAYERS; l++) {
        t0 = now_s();
        op->rmsnorm(be, s->xn, s->x, &m->norm, 1e-5f, n, HIDDEN);
        t[SMALL] += now_s() - t0, t0 = now_s();
        float *qkv[3] = {s->q, s->k, s->v}, *gate_up[2] = {s->gate, s->up};
        const loom_tensor *w_qkv[3] = {&m->wq[l], &m->wk[l], &m->wv[l]}, *w_gate_up[2] = {&m->wg[l], &m->wu[l]};
        op->matmul_fused(be, 3, qkv, w_qkv, s->xn, n);
        t[MATMUL] += now_s() - t0, t0 = now_s();
        op->rope(be, s->q, s->pos, n, HEADS, HEAD_DIM, m->inv_freq, 0);
        op->rope(be, s->k, s->pos, n, KV_HEADS, HEAD_DIM, m->inv_freq, 0);
        t[SMALL] += now_s() - t0, t0 = now_s();
        loom_kv_layer c = kv_layer_view(&s->kv, l);
        loom_attention_args a = {.q = s->q,
                                 .out = s->att,
                                 .k_cache = c.k,
                                 .v_cache = c.v,
                                 .k_scales = c.k_scales,
                                 .v_scales = c.v_scales,
                                 .block_stride_bytes = c.block_stride_bytes,
                                 .kv_dtype = s->kv.dtype,
                                 .pos = s->pos,
                                 .seq_of_token = s->seq,
                                 .block_tables = s->table,
                                 .max_blocks_per_seq = (s->keys + BLOCK - 1) / BLOCK,
                                 .block_size = BLOCK,
                                 .n_tokens = n,
                                 .n_heads = HEADS,
                                 .n_kv_heads = KV_HEADS,
                                 .head_dim = HEAD_DIM,
                                 .scale = 0.125f};
        op->attention(be, &a);
        t[ATTENTION] += now_s() - t0, t0 = now_s();
        op->matmul(be, s->out, &m->wo[l], s->att, n);
        t[MATMUL] += now_s() - t0, t0 = now_s();
        op->add(be, s->x, s->out, (int64_t)n * HIDDEN);
        op->rmsnorm(be, s->xn, s->x, &m->norm, 1e-5f, n, HIDDEN);
        t[SMALL] += now_s() - t0, t0 = now_s();
        op->matmul_fused(be, 2, gate_up, w_gate_up, s->xn, n);
        t[MATMUL] += now_s() - t0, t0 = now_s();
        op->silu_mul(be, s->gate, s->gate, s->up, (int64_t)n * FFN);
        t[SMALL] += now_s() - t0, t0 = now_s();
        op->matmul(be, s->out, &m->wd[l], s->gate, n);
        t[MATMUL] += now_s() - t0, t0 = now_s();
        op->add(be, s->x, s->out, (int64_t)n * HIDDEN);
        for (int64_t i = 0; i < (int64_t)n * HIDDEN; i++) s->x[i] *= 0.5f; /* keep the residual bounded */
        t[SMALL] += now_s() - t0;
    }
    t0 = now_s();
    op->rmsnorm(be, s->xn, s->x, &m->norm, 1e-5f, n, HIDDEN);
    t[SMALL] += now_s() - t0, t0 = now_s();
    op->matmul(be, s->logits, &m->head, s->xn, n);
    t[MATMUL] += now_s() - t0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, n = argc > 2 ? atoi(argv[2]) : 64,
        keys = argc > 3 ? atoi(argv[3]) : 192;
    int rounds = argc > 4 ? atoi(argv[4]) : 20;
    loom_kv_dtype dtype = LOOM_KV_F32;
    while (argc > 5 && dtype < LOOM_KV_FP8_E4M3 && strcmp(loom_kv_dtype_name(dtype), argv[5])) dtype++;
    if (threads < 1 || n < 1 || keys < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: batch_decode_bench [THREADS [N [KEYS [ROUNDS<=%d]]]]\n", MAX_ROUNDS);
        return 2;
    }
    static model m;
    for (int l = 0; l < LAYERS; l++) {
        m.wq[l] = random_matrix(LOOM_DTYPE_Q4_1, HIDDEN, HIDDEN);
        m.wk[l] = random_matrix(LOOM_DTYPE_Q4_1, KV_DIM, HIDDEN);
        m.wv[l] = random_matrix(LOOM_DTYPE_Q4_1, KV_DIM, HIDDEN);
        m.wo[l] = random_matrix(LOOM_DTYPE_Q4_1, HIDDEN, HIDDEN);
        m.wg[l] = random_matrix(LOOM_DTYPE_Q4_1, FFN, HIDDEN);
        m.wu[l] = random_matrix(LOOM_DTYPE_Q4_1, FFN, HIDDEN);
        m.wd[l] = random_matrix(LOOM_DTYPE_Q4_1, HIDDEN, FFN);
    }
    m.head = random_matrix(LOOM_DTYPE_Q8_0, VOCAB, HIDDEN);
    float *norm = checked(malloc(HIDDEN * 4));
    for (int i = 0; i < HIDDEN; i++) norm[i] = 1.0f + 0.01f * frand();
    m.norm = (loom_tensor){
        .data = norm, .dtype = LOOM_DTYPE_F32, .n_dims = 1, .shape = {HIDDEN}, .row_stride_bytes = HIDDEN * 4};
    for (int i = 0; i < HEAD_DIM / 2; i++) m.inv_freq[i] = powf(10000.0f, -2.0f * (float)i / HEAD_DIM);
    loom_backend *be;
    loom_error err;
    if (backend_cpu_create(threads, &be, &err) != LOOM_OK || be->ops->reserve(be, FFN, &err) != LOOM_OK) {
        fprintf(stderr, "batch_decode_bench: %s\n", err.message);
        return 1;
    }
    step one, many;
    step_init(&one, 1, keys, dtype);
    step_init(&many, n, keys, dtype);
    static double times[2][N_GROUPS + 1][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        for (int which = 0; which < 2; which++) {
            double t[N_GROUPS] = {0}, t0 = now_s();
            run_step(be, &m, which ? &many : &one, t);
            times[which][N_GROUPS][r] = now_s() - t0;
            for (int g = 0; g < N_GROUPS; g++) times[which][g][r] = t[g];
        }
    printf(
        "SmolLM2-135M shape, %d threads, %d keys per sequence, %s KV, median of %d alternating rounds (ms per step):\n",
        threads, keys, loom_kv_dtype_name(dtype), rounds);
    printf("%-10s %10s %10s %8s\n", "", "1 seq", "N seqs", "ratio");
    for (int g = 0; g <= N_GROUPS; g++) {
        double a = median(times[0][g], rounds) * 1e3, b = median(times[1][g], rounds) * 1e3;
        printf("%-10s %10.3f %10.3f %7.2fx\n", g < N_GROUPS ? group_names[g] : "step", a, b, b / a);
    }
    printf("(N = %d)\n", n);
    backend_free(be);
    return 0;
}
