/* Paged attention (kernels/cpu/attention.c) against the naive reference, on every ISA path, every
 * KV dtype and both plans (token items, key-chunk items): random block layouts (a shuffled pool), ragged
 * batches mixing prefill runs (one crossing a chunk boundary) and decode tokens (one over 3 chunks),
 * GQA ratios 1/2/4/8, block sizes 1/16/32, lengths that are and are not multiples of the block size.
 * The cache is filled by the real KV store encoder (kv/kv_store.c). The same again for sliding windows
 * (one key, part of a chunk, exactly a chunk, more than a chunk) and Gemma 2's score soft-capping.
 *
 * Tolerances: kernel vs naive on the same cached values: 2e-5 absolute for every dtype (float32
 * accumulation in the kernel vs double in the reference; outputs are O(1)). Cached values vs the
 * float32 originals (the cost of the dtype) on the attention output, with inputs uniform in [-1, 1) and
 * again with the keys' last channel of every head shifted by +20 (an outlier channel, as the slowly
 * rotating RoPE pairs of real keys are): f16 1e-3, bf16 6e-3, int8 4e-3, fp8 e4m3 8e-2 (measured
 * maxima: f16 5.3e-4, bf16 3.2e-3, int8 2.2e-3, fp8 3.5e-2; int8 with one range per token and head, the
 * layout before keys went per channel, gave 9.2e-3 with the outlier channel). */
#include <string.h>

#include "check.h"
#include "core/fp8.h"
#include "kernels/cpu/attention.h"
#include "kv/kv_store.h"

static uint64_t rng_state = 12345;
static uint32_t next_u32(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}
static float frand(void) { return (float)next_u32() / 2147483648.0f - 1.0f; }

enum { HEAD_DIM = 40, N_KV_HEADS = 2, MAX_SEQS = 12, CHUNK = LOOM_ATTENTION_CHUNK, MAX_TOKENS = 2 * CHUNK + 44 };

typedef struct layout {
    int32_t block_size, group, n_seqs, max_blocks;
    int32_t window; /* attention args' window and softcap (0: none) */
    float softcap;
    int32_t seq_len[MAX_SEQS]; /* keys held by each sequence after this step */
    int32_t n_new[MAX_SEQS];   /* query tokens of this step (the last n_new positions) */
    int32_t *tables;           /* [n_seqs][max_blocks] */
    int32_t n_tokens, pos[MAX_SEQS * MAX_TOKENS], seq_of[MAX_SEQS * MAX_TOKENS];
} layout;

/* Random lengths, every sequence's blocks drawn from a shuffled pool. */
static int32_t make_layout(layout *L, int32_t block_size, int32_t group, const int32_t *lens, const int32_t *n_new,
                           int32_t n_seqs) {
    L->block_size = block_size;
    L->group = group;
    L->window = 0;
    L->softcap = 0;
    L->n_seqs = n_seqs;
    L->max_blocks = (MAX_TOKENS + block_size - 1) / block_size;
    int32_t n_blocks = L->max_blocks * n_seqs, *perm = malloc((size_t)n_blocks * sizeof *perm);
    for (int32_t i = 0; i < n_blocks; i++) perm[i] = i;
    for (int32_t i = n_blocks - 1; i > 0; i--) {
        int32_t j = (int32_t)(next_u32() % (uint32_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    L->tables = perm;
    L->n_tokens = 0;
    for (int32_t s = 0; s < n_seqs; s++) {
        L->seq_len[s] = lens[s];
        L->n_new[s] = n_new[s];
        for (int32_t p = lens[s] - n_new[s]; p < lens[s]; p++) {
            L->pos[L->n_tokens] = p;
            L->seq_of[L->n_tokens++] = s;
        }
    }
    return n_blocks;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static const double dtype_vs_f32_tol[] = {[LOOM_KV_F32] = 1e-5,
                                          [LOOM_KV_F16] = 1e-3,
                                          [LOOM_KV_BF16] = 6e-3,
                                          [LOOM_KV_INT8] = 4e-3,
                                          [LOOM_KV_FP8_E4M3] = 8e-2};

/* Writes every sequence's keys and values (the same ones into both stores): uniform in [-1, 1), the
 * keys' last channel of each head shifted by key_outlier. */
static void fill_caches(const layout *L, loom_kv_store *store, loom_kv_store *ref_store, float key_outlier) {
    int32_t kv_dim = N_KV_HEADS * HEAD_DIM;
    float k[kv_dim], v[kv_dim];
    for (int32_t s = 0; s < L->n_seqs; s++)
        for (int32_t p = 0; p < L->seq_len[s]; p++) {
            for (int32_t i = 0; i < kv_dim; i++) {
                k[i] = frand() + (i % HEAD_DIM == HEAD_DIM - 1 ? key_outlier : 0.0f);
                v[i] = frand();
            }
            int64_t slot =
                (int64_t)L->tables[s * L->max_blocks + p / L->block_size] * L->block_size + p % L->block_size;
            kv_store_write(store, 0, slot, k, v);
            kv_store_write(ref_store, 0, slot, k, v);
        }
}

/* Attention over layer 0 of store for the layout's tokens. */
static loom_attention_args args_for(const layout *L, const loom_kv_store *store, const float *q, float *out) {
    loom_kv_layer c = kv_layer_view(store, 0);
    return (loom_attention_args){
        .q = q,
        .out = out,
        .k_cache = c.k,
        .v_cache = c.v,
        .k_scales = c.k_scales,
        .v_scales = c.v_scales,
        .block_stride_bytes = c.block_stride_bytes,
        .kv_dtype = store->dtype,
        .pos = L->pos,
        .seq_of_token = L->seq_of,
        .block_tables = L->tables,
        .max_blocks_per_seq = L->max_blocks,
        .block_size = L->block_size,
        .n_tokens = L->n_tokens,
        .n_heads = N_KV_HEADS * L->group,
        .n_kv_heads = N_KV_HEADS,
        .head_dim = HEAD_DIM,
        .scale = 1.0f / sqrtf((float)HEAD_DIM),
        .window = L->window,
        .softcap = L->softcap,
    };
}

/* Items [0, n_items) of a tokens plan (chunks = 0) or a chunks plan, in ranges of range_items. */
static void run_plan(const loom_attn_isa *isa, const loom_attention_args *a, int chunks, int64_t range_items) {
    loom_attention_plan plan;
    if (chunks) CHECK(cpu_attention_plan_chunks(&plan, a, 2) == 1);
    else cpu_attention_plan_tokens(&plan, a, 2);
    CHECK(plan.n_items >= (int64_t)a->n_tokens * a->n_kv_heads);
    for (int64_t i0 = 0; i0 < plan.n_items; i0 += range_items)
        cpu_attention_items(isa, a, &plan, i0, i0 + range_items < plan.n_items ? i0 + range_items : plan.n_items);
    cpu_attention_plan_free(&plan);
}

/* Runs one layout for one dtype on every ISA; checks kernel == naive and naive(dtype) ~ naive(f32). Keys
 * are uniform in [-1, 1), their last channel of each head shifted by key_outlier. */
static void check_layout(const layout *L, int32_t n_blocks, loom_kv_dtype dtype, float key_outlier, const char *what) {
    int32_t n_heads = N_KV_HEADS * L->group, q_dim = n_heads * HEAD_DIM;
    loom_kv_store store, ref_store;
    loom_error err;
    CHECK(kv_store_init(&store, 1, N_KV_HEADS, HEAD_DIM, dtype, n_blocks, L->block_size, &err) == LOOM_OK);
    CHECK(kv_store_init(&ref_store, 1, N_KV_HEADS, HEAD_DIM, LOOM_KV_F32, n_blocks, L->block_size, &err) == LOOM_OK);
    fill_caches(L, &store, &ref_store, key_outlier);
    size_t n_out = (size_t)L->n_tokens * (size_t)q_dim;
    float *q = malloc(n_out * sizeof *q), *naive = malloc(n_out * sizeof *q), *exact = malloc(n_out * sizeof *q),
          *out = malloc(n_out * sizeof *q);
    for (size_t i = 0; i < n_out; i++) q[i] = frand();
    loom_kv_layer rc = kv_layer_view(&ref_store, 0);
    loom_attention_args a = args_for(L, &store, q, naive);
    cpu_attention_naive(&a);
    loom_attention_args ra = a;
    ra.out = exact;
    ra.k_cache = rc.k, ra.v_cache = rc.v, ra.k_scales = ra.v_scales = NULL;
    ra.block_stride_bytes = rc.block_stride_bytes, ra.kv_dtype = LOOM_KV_F32;
    cpu_attention_naive(&ra);
    double dq = max_abs_diff(naive, exact, n_out);
    CHECK_MSG(dq <= dtype_vs_f32_tol[dtype], "%s %s: |dtype - f32| = %.3g", what, loom_kv_dtype_name(dtype), dq);
    static const char *const isas[] = {"scalar", "avx2", "avx512"};
    for (int i = 0; i < 3; i++)
        for (int chunks = 0; chunks < 2; chunks++) {
            const loom_attn_isa *isa = attention_isa_named(isas[i]);
            CHECK_MSG(strcmp(isa->isa, isas[i]) == 0, "this CPU cannot run the %s path", isas[i]);
            a.out = out;
            memset(out, 0xff, n_out * sizeof *out); /* NaN: every output must be written */
            run_plan(isa, &a, chunks, INT64_MAX);
            double d = max_abs_diff(out, naive, n_out);
            CHECK_MSG(d <= 2e-5, "%s %s %s (ran %s, %s plan): kernel vs naive %.3g", what, loom_kv_dtype_name(dtype),
                      isas[i], isa->isa, chunks ? "chunks" : "tokens", d);
        }
    free(q);
    free(naive);
    free(exact);
    free(out);
    kv_store_destroy(&store);
    kv_store_destroy(&ref_store);
}

static void run_all_dtypes(const layout *L, int32_t n_blocks, const char *what) {
    char outlier_what[96];
    snprintf(outlier_what, sizeof outlier_what, "%s, outlier key channel", what);
    for (int t = LOOM_KV_F32; t <= LOOM_KV_FP8_E4M3; t++) {
        check_layout(L, n_blocks, (loom_kv_dtype)t, 0.0f, what);
        check_layout(L, n_blocks, (loom_kv_dtype)t, 20.0f, outlier_what);
    }
}

/* Ragged batch: a prefill run across the first chunk boundary, a decode token over 3 chunks, a short
 * prefill, a decode at a block boundary. */
static void test_ragged_gqa_block_sizes(void) {
    static const int32_t block_sizes[] = {1, 16, 32}, groups[] = {1, 2, 4, 8};
    for (int b = 0; b < 3; b++)
        for (int g = 0; g < 4; g++) {
            int32_t bs = block_sizes[b];
            int32_t lens[4] = {CHUNK + 22, 2 * CHUNK + 34, 5, 2 * bs + 1}, n_new[4] = {30, 1, 3, 1};
            if (lens[3] > MAX_TOKENS) lens[3] = MAX_TOKENS;
            layout L;
            int32_t n_blocks = make_layout(&L, bs, groups[g], lens, n_new, 4);
            char what[64];
            snprintf(what, sizeof what, "block %d, gqa %d", bs, groups[g]);
            run_all_dtypes(&L, n_blocks, what);
            free(L.tables);
        }
}

/* Lengths exactly a multiple of the block size, and one key only. */
static void test_exact_multiples_and_single_key(void) {
    int32_t lens[2] = {64, 1}, n_new[2] = {2, 1};
    layout L;
    int32_t n_blocks = make_layout(&L, 16, 4, lens, n_new, 2);
    run_all_dtypes(&L, n_blocks, "multiple of block");
    free(L.tables);
}

/* Batch invariance: every query's output is bit-identical whether it runs alone (a decode call of one
 * token, tokens plan), in ranges of 3 or 8 tokens (query blocks of those sizes), in ranges cut
 * mid-token (7 items), or in the whole batch at once, under either plan (chunk items in ranges of 1, 7
 * or all), for every dtype and ISA. Keys with an outlier channel make the running maximum (and so the
 * rescale decisions) move between tiles; the prefill run crosses a chunk boundary and the decode token
 * spans 3 chunks. */
static void check_batch_invariance(int32_t window, float softcap) {
    int32_t lens[3] = {CHUNK + 42, 2 * CHUNK + 44, 9}, n_new[3] = {45, 1, 9};
    static const int64_t range_items[] = {3 * N_KV_HEADS, 8 * N_KV_HEADS, 7, INT64_MAX},
                         chunk_range_items[] = {1, 7, INT64_MAX};
    static const char *const isas[] = {"scalar", "avx2", "avx512"};
    layout L;
    int32_t n_blocks = make_layout(&L, 16, 2, lens, n_new, 3), q_dim = N_KV_HEADS * L.group * HEAD_DIM;
    L.window = window, L.softcap = softcap;
    size_t n_out = (size_t)L.n_tokens * (size_t)q_dim;
    float *q = malloc(n_out * sizeof *q), *alone = malloc(n_out * sizeof *q), *out = malloc(n_out * sizeof *q);
    for (size_t i = 0; i < n_out; i++) q[i] = frand();
    for (int t = LOOM_KV_F32; t <= LOOM_KV_FP8_E4M3; t++) {
        loom_kv_store store, unused;
        loom_error err;
        CHECK(kv_store_init(&store, 1, N_KV_HEADS, HEAD_DIM, (loom_kv_dtype)t, n_blocks, 16, &err) == LOOM_OK);
        CHECK(kv_store_init(&unused, 1, N_KV_HEADS, HEAD_DIM, LOOM_KV_F32, n_blocks, 16, &err) == LOOM_OK);
        fill_caches(&L, &store, &unused, 8.0f);
        for (int i = 0; i < 3; i++) {
            const loom_attn_isa *isa = attention_isa_named(isas[i]);
            loom_attention_args a = args_for(&L, &store, q, alone);
            for (int32_t tok = 0; tok < L.n_tokens; tok++) {
                loom_attention_args one = a;
                one.q = q + (size_t)tok * q_dim, one.out = alone + (size_t)tok * q_dim;
                one.pos = L.pos + tok, one.seq_of_token = L.seq_of + tok, one.n_tokens = 1;
                run_plan(isa, &one, 0, INT64_MAX);
            }
            a.out = out;
            for (int r = 0; r < 7; r++) {
                int chunks = r >= 4;
                int64_t range = chunks ? chunk_range_items[r - 4] : range_items[r];
                memset(out, 0xff, n_out * sizeof *out);
                run_plan(isa, &a, chunks, range);
                CHECK_MSG(memcmp(out, alone, n_out * sizeof *out) == 0,
                          "%s %s, window %d, softcap %g: %s plan in ranges of %lld items differs from alone",
                          loom_kv_dtype_name((loom_kv_dtype)t), isas[i], window, softcap, chunks ? "chunks" : "tokens",
                          (long long)range);
            }
        }
        kv_store_destroy(&store);
        kv_store_destroy(&unused);
    }
    free(q);
    free(alone);
    free(out);
    free(L.tables);
}

static void test_batch_invariance(void) { check_batch_invariance(0, 0); }

/* The same with sliding windows: the prefill run's windows start in the first chunk for some queries and
 * the second for others (window 300), inside one tile (window 20), or hold one key. */
static void test_batch_invariance_windows(void) {
    check_batch_invariance(300, 0);
    check_batch_invariance(20, 0);
    check_batch_invariance(1, 50.0f);
    check_batch_invariance(0, 2.0f);
}

/* Sliding windows and soft-capping against the naive reference: windows of one key, part of a tile,
 * a chunk and a bit, with and without soft-capping (a cap of 2 bends almost every score). */
static void test_windows_and_softcap(void) {
    static const int32_t windows[] = {1, 13, CHUNK + 50, 0};
    static const float caps[] = {0, 2.0f};
    for (int w = 0; w < 4; w++)
        for (int c = 0; c < 2; c++) {
            if (windows[w] == 0 && caps[c] == 0) continue; /* test_ragged_gqa_block_sizes */
            int32_t lens[MAX_SEQS] = {CHUNK + 22, 2 * CHUNK + 34, 5, 33}, n_new[MAX_SEQS] = {30, 1, 3, 1};
            layout L;
            int32_t n_blocks = make_layout(&L, 16, 4, lens, n_new, MAX_SEQS);
            L.window = windows[w], L.softcap = caps[c];
            char what[64];
            snprintf(what, sizeof what, "window %d, softcap %g", windows[w], caps[c]);
            run_all_dtypes(&L, n_blocks, what);
            free(L.tables);
        }
}

/* Every e4m3 code (zero, subnormals, normals, NaN, both signs) widens on every ISA exactly as the scalar
 * decoder times the scale, at each position of a row (so the vector bodies and the tails all see it). */
static void test_widen_fp8_every_code(void) {
    static const char *const isas[] = {"scalar", "avx2", "avx512"};
    uint8_t codes[256 + 3];
    float got[256 + 3];
    for (int i = 0; i < 256 + 3; i++) codes[i] = (uint8_t)(i * 7 + 3);
    for (int i = 0; i < 3; i++) {
        const loom_attn_isa *isa = attention_isa_named(isas[i]);
        for (int32_t n = 256; n <= 256 + 3; n++) {
            isa->widen_fp8(codes, 0.375f, got, n);
            for (int32_t j = 0; j < n; j++) {
                float want = 0.375f * fp8_e4m3_to_f32(codes[j]);
                CHECK_MSG(isnan(want) ? isnan(got[j]) : memcmp(&want, &got[j], sizeof want) == 0,
                          "%s: code 0x%02x widens to %g, want %g", isas[i], codes[j], got[j], want);
            }
        }
    }
}

/* Through the backend (thread pool, ISA chosen at start-up) for the old dense float32 layout; the plan
 * the backend picks for 2 threads must be `chunks`. */
static void check_backend_dense_f32(const int32_t *lens, const int32_t *n_new, int32_t n_seqs, int chunks) {
    layout L;
    int32_t n_blocks = make_layout(&L, 16, 2, lens, n_new, n_seqs);
    int32_t n_heads = 2 * N_KV_HEADS, kv_dim = N_KV_HEADS * HEAD_DIM;
    size_t cache_elems = (size_t)n_blocks * 16 * kv_dim, n_out = (size_t)L.n_tokens * n_heads * HEAD_DIM;
    float *kc = malloc(cache_elems * sizeof(float)), *vc = malloc(cache_elems * sizeof(float));
    float *q = malloc(n_out * sizeof(float)), *out = malloc(n_out * sizeof(float)),
          *ref = malloc(n_out * sizeof(float));
    for (size_t i = 0; i < cache_elems; i++) kc[i] = frand(), vc[i] = frand();
    for (size_t i = 0; i < n_out; i++) q[i] = frand();
    loom_attention_args a = {.q = q,
                             .out = ref,
                             .k_cache = kc,
                             .v_cache = vc,
                             .pos = L.pos,
                             .seq_of_token = L.seq_of,
                             .block_tables = L.tables,
                             .max_blocks_per_seq = L.max_blocks,
                             .block_size = 16,
                             .n_tokens = L.n_tokens,
                             .n_heads = n_heads,
                             .n_kv_heads = N_KV_HEADS,
                             .head_dim = HEAD_DIM,
                             .scale = 1.0f / sqrtf((float)HEAD_DIM)};
    cpu_attention_naive(&a);
    a.out = out;
    loom_attention_plan plan;
    cpu_attention_plan(&plan, &a, 2);
    CHECK((plan.chunk_item != NULL) == chunks);
    cpu_attention_plan_free(&plan);
    loom_backend *be;
    loom_error err;
    CHECK(backend_cpu_create(2, &be, &err) == LOOM_OK);
    be->ops->attention(be, &a);
    CHECK(max_abs_diff(out, ref, n_out) <= 2e-5);
    backend_free(be);
    free(kc);
    free(vc);
    free(q);
    free(out);
    free(ref);
    free(L.tables);
}

/* A prefill run with a decode token (tokens plan), two long decodes (chunks plan), 12 decode rows of
 * mixed lengths, one over 3 chunks (chunks plan: 24 pairs, but the threads share the long row's chunks),
 * and the same rows all within one chunk (tokens plan). */
static void test_backend_dense_f32(void) {
    int32_t mixed_lens[2] = {50, 20}, mixed_new[2] = {1, 20}, decode_lens[2] = {2 * CHUNK + 44, CHUNK / 2},
            decode_new[2] = {1, 1};
    check_backend_dense_f32(mixed_lens, mixed_new, 2, 0);
    check_backend_dense_f32(decode_lens, decode_new, 2, 1);
    int32_t rows_lens[MAX_SEQS], rows_new[MAX_SEQS], short_lens[MAX_SEQS];
    for (int32_t s = 0; s < MAX_SEQS; s++) rows_lens[s] = short_lens[s] = 7 + 19 * s, rows_new[s] = 1;
    rows_lens[5] = 2 * CHUNK + 40;
    check_backend_dense_f32(rows_lens, rows_new, MAX_SEQS, 1);
    check_backend_dense_f32(short_lens, rows_new, MAX_SEQS, 0);
}

int main(void) {
    RUN(test_ragged_gqa_block_sizes);
    RUN(test_exact_multiples_and_single_key);
    RUN(test_batch_invariance);
    RUN(test_batch_invariance_windows);
    RUN(test_windows_and_softcap);
    RUN(test_widen_fp8_every_code);
    RUN(test_backend_dense_f32);
    return check_summary();
}
