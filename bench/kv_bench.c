/* KV cache benchmark (issue 4): `make bench-kv`.
 * 1. Memory waste of the paged cache: 200 requests with mixed prompt and output lengths all run at
 *    once through the block manager (block size 16); at every step, waste = allocated-but-unused token
 *    slots / allocated slots. Reported: time-average and worst step, next to a contiguous cache that
 *    reserves max_model_len per request (what the paged cache replaces).
 * 2. Attention kernel throughput: the tiled online-softmax kernel (the ISA chosen for this CPU; token
 *    items, and for decode also key-chunk items) vs the naive reference (per head, the full score row,
 *    double precision), single thread, run alternately in the same process; decode (1 query, 2048
 *    keys) and prefill (256 queries, causal), Llama-3-8B attention shape (32 heads, 8 KV heads,
 *    head_dim 128).
 * 3. Decode attention as the model runs it: one token over 640 keys in each of 30 layers, through the
 *    CPU backend with 2 threads (SmolLM2-135M shape: 9 heads, 3 KV heads, head_dim 64; the 30 layers'
 *    KV, 29 MB as float32, do not fit in L2). Reported: ms per token, the best of 200 (a noisy machine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/backend.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/rowops.h"
#include "kv/block_manager.h"
#include "kv/kv_store.h"

static uint64_t rng = 2024;
static uint32_t next_u32(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

enum { N_REQ = 200, BLOCK = 16, MAX_MODEL_LEN = 4096 };

static void bench_waste(void) {
    int32_t prompt[N_REQ], output[N_REQ], done = 0;
    loom_block_table tables[N_REQ];
    memset(tables, 0, sizeof tables);
    for (int i = 0; i < N_REQ; i++) {
        /* mixed: short chat turns, medium and long documents */
        uint32_t kind = next_u32() % 3;
        prompt[i] = (int32_t)(kind == 0       ? 8 + next_u32() % 120
                                  : kind == 1 ? 128 + next_u32() % 896
                                              : 1024 + next_u32() % 2048);
        output[i] = (int32_t)(1 + next_u32() % 512);
    }
    loom_block_manager *bm;
    loom_error err;
    if (bm_create(N_REQ * (MAX_MODEL_LEN / BLOCK), BLOCK, 0, &bm, &err) != LOOM_OK) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    double waste_sum = 0, waste_max = 0, contiguous_sum = 0;
    int steps = 0;
    for (int32_t step = 0; done < N_REQ; step++) {
        int64_t used = 0, allocated = 0;
        int32_t active = 0;
        done = 0;
        for (int i = 0; i < N_REQ; i++) {
            int32_t len = prompt[i] + (step < output[i] ? step + 1 : output[i]);
            if (step >= output[i]) {
                done++;
                continue;
            }
            if (bm_allocate(bm, &tables[i], len) != 0) exit(1);
            used += len;
            allocated += (int64_t)tables[i].n_blocks * BLOCK;
            active++;
        }
        if (!active) break;
        double w = (double)(allocated - used) / (double)allocated;
        waste_sum += w;
        if (w > waste_max) waste_max = w;
        contiguous_sum += 1.0 - (double)used / ((double)active * MAX_MODEL_LEN);
        steps++;
        for (int i = 0; i < N_REQ; i++)
            if (step + 1 == output[i]) bm_release(bm, &tables[i]); /* finished after this step */
    }
    printf("kv waste: %d requests, block %d, %d steps: paged %.2f%% (time-average), %.2f%% (worst step); "
           "contiguous max_model_len=%d reservation %.1f%%\n",
           N_REQ, BLOCK, steps, 100 * waste_sum / steps, 100 * waste_max, MAX_MODEL_LEN, 100 * contiguous_sum / steps);
    for (int i = 0; i < N_REQ; i++) block_table_free(&tables[i]);
    bm_free(bm);
}

enum { HEADS = 32, KV_HEADS = 8, HEAD_DIM = 128 };

/* Times the tiled kernel and the naive reference alternately; returns tiled/naive speed-up. */
static void bench_attention(loom_kv_dtype dtype, int32_t n_queries, int32_t n_keys, const char *what) {
    int32_t n_blocks = (n_keys + BLOCK - 1) / BLOCK, *table = malloc((size_t)n_blocks * sizeof *table);
    for (int32_t i = 0; i < n_blocks; i++) table[i] = n_blocks - 1 - i; /* reversed: not contiguous */
    loom_kv_store store;
    loom_error err;
    if (kv_store_init(&store, 1, KV_HEADS, HEAD_DIM, dtype, n_blocks, BLOCK, &err) != LOOM_OK) exit(1);
    float kv_row[KV_HEADS * HEAD_DIM], kv_row2[KV_HEADS * HEAD_DIM];
    for (int32_t p = 0; p < n_keys; p++) {
        for (int i = 0; i < KV_HEADS * HEAD_DIM; i++)
            kv_row[i] = (float)next_u32() / 4294967296.0f - 0.5f, kv_row2[i] = (float)next_u32() / 4294967296.0f - 0.5f;
        kv_store_write(&store, 0, (int64_t)table[p / BLOCK] * BLOCK + p % BLOCK, kv_row, kv_row2);
    }
    size_t n_q = (size_t)n_queries * HEADS * HEAD_DIM;
    float *q = malloc(n_q * sizeof *q), *out = malloc(n_q * sizeof *q);
    int32_t *pos = malloc((size_t)n_queries * sizeof *pos), *seq = calloc((size_t)n_queries, sizeof *seq);
    for (size_t i = 0; i < n_q; i++) q[i] = (float)next_u32() / 4294967296.0f - 0.5f;
    for (int32_t t = 0; t < n_queries; t++) pos[t] = n_keys - n_queries + t;
    loom_kv_layer c = kv_layer_view(&store, 0);
    loom_attention_args a = {.q = q,
                             .out = out,
                             .k_cache = c.k,
                             .v_cache = c.v,
                             .k_scales = c.k_scales,
                             .v_scales = c.v_scales,
                             .block_stride_bytes = c.block_stride_bytes,
                             .kv_dtype = dtype,
                             .pos = pos,
                             .seq_of_token = seq,
                             .block_tables = table,
                             .max_blocks_per_seq = n_blocks,
                             .block_size = BLOCK,
                             .n_tokens = n_queries,
                             .n_heads = HEADS,
                             .n_kv_heads = KV_HEADS,
                             .head_dim = HEAD_DIM,
                             .scale = 0.08838835f};
    const loom_attn_isa *isa = attention_isa_named(cpu_isa());
    loom_attention_plan tokens, chunks;
    cpu_attention_plan_tokens(&tokens, &a, 1);
    if (!cpu_attention_plan_chunks(&chunks, &a, 1)) exit(1);
    double tiled_ms = 0, chunked_ms = 0, naive_ms = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_ms();
        cpu_attention_items(isa, &a, &tokens, 0, tokens.n_items);
        double t1 = now_ms();
        cpu_attention_naive(&a);
        double t2 = now_ms();
        if (n_queries == 1) cpu_attention_items(isa, &a, &chunks, 0, chunks.n_items);
        tiled_ms += t1 - t0;
        naive_ms += t2 - t1;
        chunked_ms += now_ms() - t2;
    }
    printf("attention %-8s %-5s %s: tiled %.3f ms, naive %.3f ms, speed-up x%.1f", what, loom_kv_dtype_name(dtype),
           n_queries == 1 ? "decode " : "prefill", tiled_ms / 3, naive_ms / 3, naive_ms / tiled_ms);
    if (n_queries == 1) printf("; chunk items %.3f ms", chunked_ms / 3);
    printf(" (%s, 1 thread)\n", isa->isa);
    cpu_attention_plan_free(&tokens);
    cpu_attention_plan_free(&chunks);
    free(q);
    free(out);
    free(pos);
    free(seq);
    free(table);
    kv_store_destroy(&store);
}

enum { DEC_LAYERS = 30, DEC_HEADS = 9, DEC_KV_HEADS = 3, DEC_HEAD_DIM = 64, DEC_KEYS = 640, DEC_ROUNDS = 200 };

static void bench_backend_decode(loom_kv_dtype dtype) {
    int32_t n_blocks = DEC_KEYS / BLOCK, table[DEC_KEYS / BLOCK], pos = DEC_KEYS - 1, seq = 0;
    for (int32_t i = 0; i < n_blocks; i++) table[i] = n_blocks - 1 - i;
    loom_kv_store store;
    loom_backend *be;
    loom_error err;
    if (kv_store_init(&store, DEC_LAYERS, DEC_KV_HEADS, DEC_HEAD_DIM, dtype, n_blocks, BLOCK, &err) != LOOM_OK ||
        backend_cpu_create(2, &be, &err) != LOOM_OK) {
        fprintf(stderr, "%s\n", err.message);
        exit(1);
    }
    float k[DEC_KV_HEADS * DEC_HEAD_DIM], v[DEC_KV_HEADS * DEC_HEAD_DIM], q[DEC_HEADS * DEC_HEAD_DIM],
        out[DEC_HEADS * DEC_HEAD_DIM];
    for (int i = 0; i < DEC_HEADS * DEC_HEAD_DIM; i++) q[i] = (float)next_u32() / 4294967296.0f - 0.5f;
    for (int32_t l = 0; l < DEC_LAYERS; l++)
        for (int32_t slot = 0; slot < DEC_KEYS; slot++) {
            for (int i = 0; i < DEC_KV_HEADS * DEC_HEAD_DIM; i++)
                k[i] = (float)next_u32() / 4294967296.0f - 0.5f, v[i] = (float)next_u32() / 4294967296.0f - 0.5f;
            kv_store_write(&store, l, slot, k, v);
        }
    double best_ms = 1e30;
    for (int round = 0; round < DEC_ROUNDS; round++) {
        double t0 = now_ms();
        for (int32_t l = 0; l < DEC_LAYERS; l++) {
            loom_kv_layer c = kv_layer_view(&store, l);
            loom_attention_args a = {.q = q,
                                     .out = out,
                                     .k_cache = c.k,
                                     .v_cache = c.v,
                                     .k_scales = c.k_scales,
                                     .v_scales = c.v_scales,
                                     .block_stride_bytes = c.block_stride_bytes,
                                     .kv_dtype = dtype,
                                     .pos = &pos,
                                     .seq_of_token = &seq,
                                     .block_tables = table,
                                     .max_blocks_per_seq = n_blocks,
                                     .block_size = BLOCK,
                                     .n_tokens = 1,
                                     .n_heads = DEC_HEADS,
                                     .n_kv_heads = DEC_KV_HEADS,
                                     .head_dim = DEC_HEAD_DIM,
                                     .scale = 0.125f};
            be->ops->attention(be, &a);
        }
        if (now_ms() - t0 < best_ms) best_ms = now_ms() - t0;
    }
    printf("attention decode 1x%d %-5s x %d layers, backend, 2 threads: %.3f ms per token (best of %d)\n", DEC_KEYS,
           loom_kv_dtype_name(dtype), DEC_LAYERS, best_ms, DEC_ROUNDS);
    backend_free(be);
    kv_store_destroy(&store);
}

int main(void) {
    bench_waste();
    static const loom_kv_dtype dtypes[] = {LOOM_KV_F32, LOOM_KV_F16, LOOM_KV_INT8};
    for (int i = 0; i < 3; i++) {
        bench_attention(dtypes[i], 1, 2048, "1x2048");
        bench_attention(dtypes[i], 256, 256, "256x256");
    }
    static const loom_kv_dtype decode_dtypes[] = {LOOM_KV_F32, LOOM_KV_F16, LOOM_KV_INT8, LOOM_KV_FP8_E4M3};
    for (int i = 0; i < 4; i++) bench_backend_decode(decode_dtypes[i]);
    return 0;
}
