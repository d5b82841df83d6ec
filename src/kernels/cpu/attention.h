/* Paged attention on the CPU: a tiled kernel with online softmax (FlashAttention-style: the score row
 * is never materialised; keys and values are visited one tile of at most LOOM_ATTENTION_TILE keys at a
 * time, rescaling the running output when the running maximum grows). A range of items is cut into
 * blocks of up to LOOM_ATTENTION_QUERY_BLOCK consecutive query tokens of one sequence x one KV head: the
 * tile is decoded to float32 once and used by every query head of the block (GQA group x tokens).
 * Batch invariant: a query's output is bit-identical alone (decode) or in any block, because its float
 * operations (tiles, key order, max/rescale, exp, accumulation) never depend on the other queries.
 * Prefill (many tokens, causal by position) and decode (one token) are the same code. The vector
 * primitives come from a per-ISA table (scalar, AVX2, AVX-512) picked by name. */
#ifndef LOOM_KERNELS_CPU_ATTENTION_H
#define LOOM_KERNELS_CPU_ATTENTION_H

#include "kernels/backend.h"

#define LOOM_ATTENTION_TILE 32
#define LOOM_ATTENTION_MAX_HEAD_DIM 256
#define LOOM_ATTENTION_MAX_GROUP 64 /* query heads per KV head */
#define LOOM_ATTENTION_QUERY_BLOCK 8 /* query tokens sharing one decoded tile */

typedef struct loom_attn_isa {
    const char *isa;
    float (*dot)(const float *a, const float *b, int32_t n);
    void (*scale)(float *y, float c, int32_t n);                    /* y *= c */
    void (*exp_shifted)(float *p, const float *s, float shift, int32_t n); /* p[j] = exp(s[j] - shift) */
    /* y[:d] += p[j] x[j][:d] for j = 0..n-1 in order, each element one multiply-add per j */
    void (*accumulate)(float *y, const float *p, const float *x, int32_t n, int32_t d);
    void (*widen_f16)(const uint8_t *src, float *dst, int32_t n);
    void (*widen_bf16)(const uint8_t *src, float *dst, int32_t n);
    void (*widen_i8)(const uint8_t *src, float scale, float zero, float *dst, int32_t n); /* scale x q + zero */
    void (*widen_i8_channels)(const uint8_t *src, const float *scale, const float *zero, float *dst,
                              int32_t n); /* scale[i] x q[i] + zero[i] */
} loom_attn_isa;

/* The table for "scalar", "avx2" or "avx512"; a name this CPU cannot run gives the scalar table. */
const loom_attn_isa *loom_attention_isa_named(const char *isa);

/* Items [i0, i1) of n_tokens x n_kv_heads (item = token * n_kv_heads + kv_head). The result of an item
 * does not depend on the range it is run in; wider ranges share decoded tiles between tokens. */
void loom_cpu_attention_items(const loom_attn_isa *isa, const loom_attention_args *a, int64_t i0, int64_t i1);

/* Items per thread-pool unit for n_threads: whole tokens, up to a query block of them, while leaving
 * about 4 units per thread; single items when that leaves one token per unit. */
int64_t loom_cpu_attention_grain(const loom_attention_args *a, int n_threads);

/* The naive reference (tests, bench): per query head, the full score row in double precision, keys
 * decoded one element at a time. Same args; writes a->out. */
void loom_cpu_attention_naive(const loom_attention_args *a);

#if defined(__x86_64__)
extern const loom_attn_isa loom_attn_avx2;
extern const loom_attn_isa loom_attn_avx512;
#endif

#endif
