/* The compute backend seam. The forward pass calls only these operations; the CPU backend
 * (kernels/cpu/) implements them with a thread pool; a CUDA backend can implement the same table later.
 * All activations are float32, row-major, one row per token. Weight matrices may be any dtype the
 * backend supports (checked once at load, never in the hot loop); norm weights and biases are
 * float32 vectors (the loader converts them). */
#ifndef LOOM_KERNELS_BACKEND_H
#define LOOM_KERNELS_BACKEND_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

typedef struct loom_backend loom_backend;

#define LOOM_MAX_FUSED_MATMULS 3

/* One step's attention work, in the paged-KV layout: a layer's K and V caches are blocks of
 * [block_size][n_kv_heads * head_dim] elements of kv_dtype, block b at byte b * block_stride_bytes
 * from k_cache / v_cache; token t of the batch belongs to sequence seq_of_token[t], sits at position
 * pos[t] and attends causally to positions 0..pos[t] of its sequence, whose KV live in blocks
 * block_tables[seq_of_token[t] * max_blocks_per_seq + j]. Quantized caches carry scales per block, at the
 * same block stride from k_scales / v_scales: fp8 one float32 per token and KV head ([block_size]
 * [n_kv_heads]) for K and for V; int8 (x = scale x q + zero) float16 scales then float16 zeros, per
 * channel for K ([kv_dim] each) and per token and KV head for V ([n_kv_heads][block_size] each).
 * Fields left 0 give a dense float32 cache (block_stride_bytes = block_size x kv_dim x 4), every key up to
 * the query's position and plain scores. */
typedef struct loom_attention_args {
    const float *q;      /* [n_tokens][n_heads * head_dim], RoPE applied */
    float *out;          /* [n_tokens][n_heads * head_dim] */
    const void *k_cache; /* block 0 of the layer's K */
    const void *v_cache;
    const void *k_scales; /* int8 / fp8 only (layout above) */
    const void *v_scales;
    size_t block_stride_bytes; /* 0 = dense */
    loom_kv_dtype kv_dtype;    /* 0 = LOOM_KV_F32 */
    const int32_t *pos;        /* [n_tokens] */
    const int32_t *seq_of_token;
    const int32_t *block_tables; /* [n_seqs][max_blocks_per_seq] */
    int32_t max_blocks_per_seq;
    int32_t block_size;
    int32_t n_tokens, n_heads, n_kv_heads, head_dim;
    float scale;    /* 1/sqrt(head_dim) */
    int32_t window; /* > 0: a query at position p sees only keys p - window + 1 .. p (sliding-window
                              * layers); the cache may still hold the older ones */
    float softcap;  /* > 0: each scaled score s becomes softcap x tanh(s / softcap) (Gemma 2) */
} loom_attention_args;

typedef struct loom_backend_ops {
    const char *name;
    /* what its attention supports: head_dim <= max_head_dim, query heads per KV head <= max_group */
    int32_t max_head_dim, max_group;
    /* sizes per-thread scratch for weight rows up to max_row_len elements (called before any op) */
    loom_status (*reserve)(loom_backend *b, int64_t max_row_len, loom_error *err);
    /* y[t][r] = sum_c w[r][c] * x[t][c]: y is [n_tok][rows(w)], x is [n_tok][row_len(w)] */
    void (*matmul)(loom_backend *b, float *y, const loom_tensor *w, const float *x, int64_t n_tok);
    /* n <= LOOM_MAX_FUSED_MATMULS matmuls sharing the input x (same row length), in one pass: y[i] =
     * matmul(w[i], x) (QKV, gate/up) */
    void (*matmul_fused)(loom_backend *b, int n, float *const *y, const loom_tensor *const *w, const float *x,
                         int64_t n_tok);
    /* y[t] = x[t] / rms(x[t]) * weight (float32 [dim]); y may alias x */
    void (*rmsnorm)(loom_backend *b, float *y, const float *x, const loom_tensor *weight, float eps, int64_t n_tok,
                    int64_t dim);
    /* sums[t] = x[t] . x[t] over dim elements (the parts of a norm that spans tensor-parallel ranks) */
    void (*sum_squares)(loom_backend *b, float *sums, const float *x, int64_t n_tok, int64_t dim);
    /* y[t] = x[t] / sqrt(sums[t] / norm_dim + eps) * weight: RMSNorm of rows of norm_dim elements of which x
     * holds dim, given their sums of squares; y may alias x */
    void (*rmsnorm_sums)(loom_backend *b, float *y, const float *x, const loom_tensor *weight, const float *sums,
                         float eps, int64_t n_tok, int64_t dim, int64_t norm_dim);
    /* rotates each head of x[t] ([n_tok][n_heads*head_dim]) by position pos[t]; inv_freq is
     * [head_dim/2]; interleaved selects adjacent pairs (2i,2i+1) instead of (i, i+head_dim/2) */
    void (*rope)(loom_backend *b, float *x, const int32_t *pos, int64_t n_tok, int32_t n_heads, int32_t head_dim,
                 const float *inv_freq, int interleaved);
    /* out[t][i] = silu(gate[t][i]) * up[t][i] */
    void (*silu_mul)(loom_backend *b, float *out, const float *gate, const float *up, int64_t n);
    /* out[t][i] = gelu_tanh(gate[t][i]) * up[t][i], GELU's tanh approximation (PyTorch's
     * gelu(approximate="tanh")): GeGLU (Gemma) */
    void (*gelu_tanh_mul)(loom_backend *b, float *out, const float *gate, const float *up, int64_t n);
    /* y[i] *= c */
    void (*scale)(loom_backend *b, float *y, float c, int64_t n);
    /* y[i] = cap x tanh(y[i] / cap) (Gemma 2's logit soft-capping) */
    void (*softcap)(loom_backend *b, float *y, float cap, int64_t n);
    /* y[t][:] += bias[:] for a float32 [dim] bias */
    void (*add_bias)(loom_backend *b, float *y, const loom_tensor *bias, int64_t n_tok, int64_t dim);
    /* y += x elementwise */
    void (*add)(loom_backend *b, float *y, const float *x, int64_t n);
    /* y[t] = row ids[t] of the embedding table, as float32 */
    void (*embed)(loom_backend *b, float *y, const loom_tensor *table, const int32_t *ids, int64_t n_tok);
    void (*attention)(loom_backend *b, const loom_attention_args *args);
    /* ---- mixture of experts (model/moe.c) ---- */
    /* per token: softmax of logits [n_tok][n_experts], its top_k experts by probability, largest first
     * (ties to the lower id), into ids [n_tok][top_k], their probabilities into weights [n_tok][top_k],
     * renormalised to sum 1 when renormalize */
    void (*moe_route)(loom_backend *b, const float *logits, int64_t n_tok, int32_t n_experts, int32_t top_k,
                      int renormalize, int32_t *ids, float *weights);
    /* y[t] = sum over k = 0, 1, .. top_k-1, in that order, of weights[t][k] * x[t * top_k + k] (x: one row
     * of dim per routed slot); slots of weight 0 are skipped (experts another rank holds) */
    void (*moe_combine)(loom_backend *b, float *y, const float *x, const float *weights, int64_t n_tok, int32_t top_k,
                        int64_t dim);
    /* y[t] += sigmoid(gate[t]) * x[t] for y, x [n_tok][dim] */
    void (*add_sigmoid_gated)(loom_backend *b, float *y, const float *x, const float *gate, int64_t n_tok, int64_t dim);
    /* fn over items [0, n_items) in units of grain on the backend's host threads (pool_run's contract):
     * host work between forwards, such as drawing each sequence's token */
    void (*parallel_for)(loom_backend *b, int64_t n_items, int64_t grain, loom_pool_fn fn, void *ctx);
} loom_backend_ops;

struct loom_backend {
    const loom_backend_ops *ops;
    void *impl;
};

/* The CPU backend with n_threads workers (0 = all CPUs). */
loom_status backend_cpu_create(int n_threads, loom_backend **out, loom_error *err);
void backend_free(loom_backend *b);

#endif
