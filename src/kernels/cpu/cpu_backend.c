/* The CPU backend: each op splits its work over the thread pool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/thread_pool.h"
#include "kernels/backend.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/rowops.h"

typedef struct cpu_impl {
    loom_pool *pool;
    float **scratch;       /* per thread: one dequantized weight row */
    int64_t *scratch_len;  /* elements allocated per thread */
} cpu_impl;

static cpu_impl *impl_of(loom_backend *b) { return b->impl; }

static loom_status cpu_reserve(loom_backend *b, int64_t max_row_len, loom_error *err) {
    cpu_impl *c = impl_of(b);
    for (int ti = 0; ti < loom_pool_size(c->pool); ti++) {
        if (c->scratch_len[ti] >= max_row_len) continue;
        float *p = realloc(c->scratch[ti], (size_t)max_row_len * sizeof(float));
        if (!p) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for kernel scratch");
        c->scratch[ti] = p;
        c->scratch_len[ti] = max_row_len;
    }
    return LOOM_OK;
}

/* ---- matmul ---- */

typedef struct matmul_job {
    cpu_impl *c;
    float *y;
    const loom_tensor *w;
    const float *x;
    int64_t n_tok, rows, cols;
} matmul_job;

static void matmul_rows(void *ctx, int64_t r0, int64_t r1, int ti) {
    matmul_job *j = ctx;
    const loom_tensor *w = j->w;
    if (j->n_tok == 1) {
        for (int64_t r = r0; r < r1; r++) j->y[r] = loom_dot_row(w->dtype, loom_tensor_row(w, r), j->x, j->cols);
        return;
    }
    float *buf = j->c->scratch[ti]; /* reserve() sized it for the longest row */
    for (int64_t r = r0; r < r1; r++) {
        loom_dequant_row(w->dtype, loom_tensor_row(w, r), buf, j->cols);
        for (int64_t t = 0; t < j->n_tok; t++) j->y[t * j->rows + r] = loom_dot_f32(buf, j->x + t * j->cols, j->cols);
    }
}

static void cpu_matmul(loom_backend *b, float *y, const loom_tensor *w, const float *x, int64_t n_tok) {
    matmul_job j = {impl_of(b), y, w, x, n_tok, loom_tensor_rows(w), loom_tensor_row_len(w)};
    loom_pool_run(j.c->pool, j.rows, 16, matmul_rows, &j);
}

/* ---- rmsnorm ---- */

typedef struct rmsnorm_job {
    float *y;
    const float *x, *w;
    float eps;
    int64_t dim;
} rmsnorm_job;

static void rmsnorm_rows(void *ctx, int64_t t0, int64_t t1, int ti) {
    rmsnorm_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) {
        const float *x = j->x + t * j->dim;
        float *y = j->y + t * j->dim;
        float ss = loom_dot_f32(x, x, j->dim);
        float inv = 1.0f / sqrtf(ss / (float)j->dim + j->eps);
        for (int64_t i = 0; i < j->dim; i++) y[i] = j->w[i] * (inv * x[i]);
    }
}

static void cpu_rmsnorm(loom_backend *b, float *y, const float *x, const loom_tensor *weight, float eps,
                        int64_t n_tok, int64_t dim) {
    rmsnorm_job j = {y, x, weight->data, eps, dim};
    loom_pool_run(impl_of(b)->pool, n_tok, 1, rmsnorm_rows, &j);
}

/* ---- rope ---- */

static void cpu_rope(loom_backend *b, float *x, const int32_t *pos, int64_t n_tok, int32_t n_heads,
                     int32_t head_dim, const float *inv_freq, int interleaved) {
    int32_t half = head_dim / 2;
    for (int64_t t = 0; t < n_tok; t++) {
        for (int32_t i = 0; i < half; i++) {
            float angle = (float)pos[t] * inv_freq[i];
            float c = cosf(angle), s = sinf(angle);
            for (int32_t h = 0; h < n_heads; h++) {
                float *v = x + (t * n_heads + h) * (int64_t)head_dim;
                int32_t a = interleaved ? 2 * i : i, bi = interleaved ? 2 * i + 1 : i + half;
                float v0 = v[a], v1 = v[bi];
                v[a] = v0 * c - v1 * s;
                v[bi] = v0 * s + v1 * c;
            }
        }
    }
}

/* ---- elementwise ---- */

static void cpu_silu_mul(loom_backend *b, float *out, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void cpu_add_bias(loom_backend *b, float *y, const loom_tensor *bias, int64_t n_tok, int64_t dim) {
    const float *bv = bias->data;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < dim; i++) y[t * dim + i] += bv[i];
}

static void cpu_add(loom_backend *b, float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

static void cpu_embed(loom_backend *b, float *y, const loom_tensor *table, const int32_t *ids, int64_t n_tok) {
    int64_t dim = loom_tensor_row_len(table);
    for (int64_t t = 0; t < n_tok; t++) loom_dequant_row(table->dtype, loom_tensor_row(table, ids[t]), y + t * dim, dim);
}

/* ---- attention ---- */

typedef struct attention_job {
    const loom_attention_args *a;
} attention_job;

static void attention_items(void *ctx, int64_t i0, int64_t i1, int ti) {
    const loom_attention_args *a = ((attention_job *)ctx)->a;
    for (int64_t i = i0; i < i1; i++) loom_cpu_attention_one(a, (int32_t)(i / a->n_heads), (int32_t)(i % a->n_heads));
}

static void cpu_attention(loom_backend *b, const loom_attention_args *args) {
    attention_job j = {args};
    loom_pool_run(impl_of(b)->pool, (int64_t)args->n_tokens * args->n_heads, 1, attention_items, &j);
}

static const loom_backend_ops cpu_ops = {
    .name = "cpu",
    .reserve = cpu_reserve,
    .matmul = cpu_matmul,
    .rmsnorm = cpu_rmsnorm,
    .rope = cpu_rope,
    .silu_mul = cpu_silu_mul,
    .add_bias = cpu_add_bias,
    .add = cpu_add,
    .embed = cpu_embed,
    .attention = cpu_attention,
};

loom_status loom_backend_cpu_create(int n_threads, loom_backend **out, loom_error *err) {
    loom_backend *b = calloc(1, sizeof *b);
    cpu_impl *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory creating CPU backend");
    }
    b->ops = &cpu_ops;
    b->impl = c;
    loom_status st = loom_pool_create(n_threads, &c->pool, err);
    if (st != LOOM_OK) {
        free(c);
        free(b);
        return st;
    }
    int n = loom_pool_size(c->pool);
    c->scratch = calloc((size_t)n, sizeof *c->scratch);
    c->scratch_len = calloc((size_t)n, sizeof *c->scratch_len);
    if (!c->scratch || !c->scratch_len) {
        loom_backend_free(b);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory creating CPU backend");
    }
    *out = b;
    return LOOM_OK;
}

void loom_backend_free(loom_backend *b) {
    if (!b) return;
    cpu_impl *c = b->impl;
    if (c) {
        int n = c->pool ? loom_pool_size(c->pool) : 0;
        for (int i = 0; c->scratch && i < n; i++) free(c->scratch[i]);
        free(c->scratch);
        free(c->scratch_len);
        loom_pool_free(c->pool);
        free(c);
    }
    free(b);
}
