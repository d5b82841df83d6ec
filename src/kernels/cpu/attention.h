/* Paged attention on the CPU: a tiled kernel with online softmax (FlashAttention-style: the score row
 * is never materialised; keys and values are visited one tile of at most LOOM_ATTENTION_TILE keys at a
 * time, rescaling the running output when the running maximum grows).
 *
 * Every query's keys are cut into fixed chunks of LOOM_ATTENTION_CHUNK keys (chunk c = keys [c x CHUNK,
 * (c + 1) x CHUNK), boundaries a function of the key index only). Each chunk gets its own online-softmax
 * state (maximum, denominator, unnormalised output), and the chunk states are merged in chunk order.
 * A call is cut into thread-pool items one of two ways (a loom_attention_plan), with the same result:
 * - tokens: item = token x n_kv_heads + kv_head; consecutive tokens of one sequence form query blocks
 *   whose tiles are loaded once for all their query heads (tokens x GQA group: decoded into a buffer;
 *   float32 read in place when one token reads them), and a block walks its chunks in order, merging as
 *   it goes;
 * - chunks (decode rows with long contexts): item = one chunk of one (token, KV head); the chunk's
 *   state goes to the plan's scratch and the last chunk of a (token, KV head) to finish merges them all.
 * A sliding window (args.window) starts a query's keys later: chunks wholly before it are skipped, the
 * tile holding its first key is entered at that key, so tile and chunk boundaries stay functions of the
 * key index alone. Soft-capping (args.softcap) bends each score of a tile before its maximum is taken.
 * Batch invariant: a query's output is bit-identical alone (decode) or in any block, range or plan,
 * because its float operations (chunks, tiles, key order, max/rescale, exp, accumulation, merge order)
 * never depend on the other queries. The vector primitives come from a per-ISA table (scalar, AVX2,
 * AVX-512) picked by name; they score a tile's keys together (one dot-product reduction for 8 or 16
 * keys). */
#ifndef LOOM_KERNELS_CPU_ATTENTION_H
#define LOOM_KERNELS_CPU_ATTENTION_H

#include <stdatomic.h>

#include "kernels/backend.h"

#define LOOM_ATTENTION_TILE 32   /* keys per tile at most; a tile never crosses a KV block or a chunk */
#define LOOM_ATTENTION_CHUNK 256 /* keys per chunk (a multiple of the tile) */
#define LOOM_ATTENTION_MAX_HEAD_DIM 256
#define LOOM_ATTENTION_MAX_GROUP 64   /* query heads per KV head */
#define LOOM_ATTENTION_QUERY_BLOCK 8  /* query tokens sharing one loaded tile at most */
#define LOOM_ATTENTION_BLOCK_HEADS 64 /* query heads (tokens x group) of a query block at most (>= MAX_GROUP) */

typedef struct loom_attn_isa {
    const char *isa;
    /* s[j] = c x (q . k[j]) for j < n <= LOOM_ATTENTION_TILE, key j at k + j x k_stride floats; a score
     * depends only on q, its key, c, j and n. Returns the largest s[j]. */
    float (*scores)(float *s, const float *q, const float *k, int64_t k_stride, int32_t n, int32_t d, float c);
    void (*scale)(float *y, float c, int32_t n); /* y *= c */
    /* p[j] = exp(s[j] - shift) for j < n <= LOOM_ATTENTION_TILE; returns their sum, added in an order
     * that depends only on n */
    float (*exp_shifted)(float *p, const float *s, float shift, int32_t n);
    /* y[:d] += p[j] x[j][:d] for j = 0..n-1 in order, x[j] at x + j x x_stride floats, each element one
     * multiply-add per j */
    void (*accumulate)(float *y, const float *p, const float *x, int64_t x_stride, int32_t n, int32_t d);
    void (*widen_f16)(const uint8_t *src, float *dst, int32_t n);
    void (*widen_bf16)(const uint8_t *src, float *dst, int32_t n);
    void (*widen_i8)(const uint8_t *src, float scale, float zero, float *dst, int32_t n); /* scale x q + zero */
    void (*widen_i8_channels)(const uint8_t *src, const float *scale, const float *zero, float *dst,
                              int32_t n);                                      /* scale[i] x q[i] + zero[i] */
    void (*widen_fp8)(const uint8_t *src, float scale, float *dst, int32_t n); /* scale x e4m3 */
} loom_attn_isa;

/* The table for "scalar", "avx2" or "avx512"; a name this CPU cannot run gives the scalar table. */
const loom_attn_isa *attention_isa_named(const char *isa);

/* How one call is cut into items (see above). chunk_item is NULL for a tokens plan. */
typedef struct loom_attention_plan {
    int64_t n_items, grain;  /* items, and items per thread-pool unit */
    int64_t *chunk_item;     /* [n_tokens + 1]: the first item of token t (n_kv_heads x its chunks) */
    float *partials;         /* per (token, query head, chunk): [head_dim] output, maximum, denominator */
    atomic_int *chunks_left; /* [n_tokens][n_kv_heads]: chunks not yet finished */
} loom_attention_plan;

/* Tokens: whole tokens per unit, up to a query block of them, while leaving about 4 units per thread;
 * single items when that leaves one token per unit. */
void cpu_attention_plan_tokens(loom_attention_plan *p, const loom_attention_args *a, int n_threads);
/* Chunks; returns 0 (and makes a tokens plan) when their scratch cannot be allocated. */
int cpu_attention_plan_chunks(loom_attention_plan *p, const loom_attention_args *a, int n_threads);
/* Chunks when some query has more than one chunk and either there are fewer (token, KV head) pairs than
 * about 8 per thread or every token is the only query of its sequence (decode rows of any lengths: the
 * threads share the long ones' chunks instead of one thread running a long row alone); tokens otherwise. */
void cpu_attention_plan(loom_attention_plan *p, const loom_attention_args *a, int n_threads);
void cpu_attention_plan_free(loom_attention_plan *p);

/* Items [i0, i1) of the plan. A query's result does not depend on the range it is run in nor on the
 * plan; every item of a chunks plan must be run exactly once. */
void cpu_attention_items(const loom_attn_isa *isa, const loom_attention_args *a, const loom_attention_plan *p,
                         int64_t i0, int64_t i1);

/* The naive reference (tests, bench): per query head, the full score row in double precision, keys
 * decoded one element at a time. Same args; writes a->out. */
void cpu_attention_naive(const loom_attention_args *a);

#if defined(__x86_64__)
extern const loom_attn_isa attn_avx2;
extern const loom_attn_isa attn_avx512;
#endif

#endif
