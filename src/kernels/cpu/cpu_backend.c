/* The CPU backend: each op splits its work over the thread pool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/thread_pool.h"
#include "kernels/backend.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/dot_x86.h"
#include "kernels/cpu/moe_ops.h"
#include "kernels/cpu/pack_x16.h"
#include "kernels/cpu/rowops.h"
#include "kernels/cpu/split_rmsnorm.h"

/* cos and sin of every (token, frequency) of the last RoPE call's positions: a step's 2 x n_layers calls
 * rotate the same positions, so they share one table (the same float values as computing them each time) */
typedef struct rope_table {
    int32_t *pos;          /* [n_tok] the positions it was made for */
    float *cos_sin;        /* [n_tok][2][half]: cos then sin of pos x inv_freq[i] */
    const float *inv_freq; /* and the frequencies */
    int64_t n_tok, cap_tok;
    size_t cap_floats;
    int32_t half;
} rope_table;

typedef struct cpu_impl {
    loom_pool *pool;
    float **scratch;      /* per thread: one dequantized weight row */
    int64_t *scratch_len; /* elements allocated per thread */
    loom_xblock *xq;      /* the current matmul's activations as int8 blocks */
    int64_t xq_blocks;    /* blocks allocated */
    rope_table rope;
} cpu_impl;

static cpu_impl *impl_of(loom_backend *b) { return b->impl; }

#define F32_ROW_TILES 2 /* 4-row float tiles per pass over a batch's tokens (matmul_rows_f32) */

static loom_status op_reserve(loom_backend *b, int64_t max_row_len, loom_error *err) {
    cpu_impl *c = impl_of(b);
    for (int ti = 0; ti < pool_size(c->pool); ti++) {
        int64_t need = F32_ROW_TILES * LOOM_TILE * max_row_len; /* the float path's dequantized weight rows */
        if (c->scratch_len[ti] >= need) continue;
        float *p = realloc(c->scratch[ti], (size_t)need * sizeof(float));
        if (!p) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for kernel scratch");
        c->scratch[ti] = p;
        c->scratch_len[ti] = need;
    }
    return LOOM_OK;
}

/* ---- matmul: one or several weight matrices sharing the input, rows split over the pool ---- */

typedef struct matmul_job {
    cpu_impl *c;
    int n_mats;
    float *y[LOOM_MAX_FUSED_MATMULS];
    const loom_tensor *w[LOOM_MAX_FUSED_MATMULS];
    int64_t row_end[LOOM_MAX_FUSED_MATMULS]; /* rows of matrices 0..i, cumulative */
    const float *x;
    const loom_xblock *xq; /* x as int8 blocks when every w takes them, else NULL */
    int64_t n_tok, cols;
} matmul_job;

/* rows [r0, r1) of one matrix with int8 activations: blocks of XDOT_ROW_BLOCK rows (whose weights stay
 * in L1 while every group of up to LOOM_XDOT_MAX_TOKENS tokens passes over them) */
#define XDOT_ROW_BLOCK 16
static void matmul_rows_int8(const matmul_job *j, float *y, const loom_tensor *w, int64_t r0, int64_t r1) {
    int64_t rows = tensor_rows(w), nb = j->cols / LOOM_XBLOCK_ELEMS;
    for (int64_t r = r0; r < r1; r += XDOT_ROW_BLOCK) {
        loom_xdot_args a = {.rows = tensor_row(w, r),
                            .row_stride_bytes = w->row_stride_bytes,
                            .n_rows = r1 - r < XDOT_ROW_BLOCK ? r1 - r : XDOT_ROW_BLOCK,
                            .n_blocks = nb,
                            .x_stride = nb,
                            .y_stride = rows};
        for (int64_t t = 0; t < j->n_tok; t += LOOM_XDOT_MAX_TOKENS) {
            a.x = j->xq + t * nb;
            a.n_tok = j->n_tok - t < LOOM_XDOT_MAX_TOKENS ? (int)(j->n_tok - t) : LOOM_XDOT_MAX_TOKENS;
            a.y = y + t * rows + r;
            xdot_rows(w->dtype, &a);
        }
    }
}

/* The same for a matrix in the x16 layout: the groups of 16 rows that start in [r0, r1), a chunk of
 * tokens at a time (their int8 activations stay in L2 while the unit's weights pass over them). */
#define X16_TOKEN_CHUNK 64
static void matmul_groups_int8(const matmul_job *j, float *y, const loom_tensor *w, int64_t r0, int64_t r1) {
    int64_t rows = tensor_rows(w), nb = j->cols / LOOM_XBLOCK_ELEMS;
    int64_t g0 = (r0 + LOOM_X16_ROWS - 1) / LOOM_X16_ROWS * LOOM_X16_ROWS;
    int64_t g1 = (r1 + LOOM_X16_ROWS - 1) / LOOM_X16_ROWS * LOOM_X16_ROWS;
    if (g1 > rows) g1 = rows;
    if (g0 >= g1) return;
    size_t group_bytes = x16_group_bytes(w->dtype, j->cols);
    for (int64_t t = 0; t < j->n_tok; t += X16_TOKEN_CHUNK) {
        loom_xdot_args a = {.rows = (const uint8_t *)w->data + (size_t)(g0 / LOOM_X16_ROWS) * group_bytes,
                            .n_rows = g1 - g0,
                            .x = j->xq + t * nb,
                            .n_blocks = nb,
                            .x_stride = nb,
                            .n_tok = j->n_tok - t < X16_TOKEN_CHUNK ? (int)(j->n_tok - t) : X16_TOKEN_CHUNK,
                            .y = y + t * rows + g0,
                            .y_stride = rows};
        xdot_x16_rows(w->dtype, &a);
    }
}

/* Row `row` of w as float32: in place for float32 rows, else dequantized into buf. */
static const float *weight_row_f32(const loom_tensor *w, int64_t row, int64_t cols, float *buf) {
    if (w->layout == LOOM_LAYOUT_X16) {
        x16_dequant_row(w->dtype, w->data, row, cols, buf);
        return buf;
    }
    if (w->dtype == LOOM_DTYPE_F32) return tensor_row(w, row);
    dequant_row(w->dtype, tensor_row(w, row), buf, cols);
    return buf;
}

/* Float path. One token: 4 weight rows at a time, widened in registers where the ISA has that kernel
 * (dot_rows4), else dequantized + dot_f32. Several tokens: 4 x 4 register tiles of rows (float32
 * in place or dequantized into the thread's scratch) against tokens, F32_ROW_TILES tiles of rows per pass
 * over the tokens, so each token quad's activations, loaded into L1 by the first tile, serve the others
 * (the tokens' activations stream from L2 once per F32_ROW_TILES x 4 rows). Either way a token's result
 * is the same alone as in a batch; a short tile repeats its last row or token and drops those results. */
static void matmul_rows_f32(const matmul_job *j, float *y, const loom_tensor *w, int64_t r0, int64_t r1, int ti) {
    int64_t rows = tensor_rows(w), cols = j->cols;
    float *scratch = j->c->scratch[ti]; /* reserve() sized it for F32_ROW_TILES x LOOM_TILE rows */
    for (int64_t r = r0; r < r1;) {
        if (j->n_tok == 1) {
            int nr = r1 - r < LOOM_TILE ? (int)(r1 - r) : LOOM_TILE;
            const void *stored[LOOM_TILE];
            float column[LOOM_TILE];
            for (int k = 0; k < LOOM_TILE; k++)
                stored[k] = w->layout == LOOM_LAYOUT_ROWS ? tensor_row(w, r + (k < nr ? k : nr - 1)) : NULL;
            if (w->layout == LOOM_LAYOUT_ROWS && dot_rows4(w->dtype, stored, j->x, cols, column)) {
                for (int a = 0; a < nr; a++) y[r + a] = column[a];
            } else {
                for (int a = 0; a < nr; a++) y[r + a] = dot_f32(weight_row_f32(w, r + a, cols, scratch), j->x, cols);
            }
            r += nr;
            continue;
        }
        int nr = r1 - r < F32_ROW_TILES * LOOM_TILE ? (int)(r1 - r) : F32_ROW_TILES * LOOM_TILE;
        int n_tiles = (nr + LOOM_TILE - 1) / LOOM_TILE;
        const float *wr[F32_ROW_TILES * LOOM_TILE];
        for (int k = 0; k < n_tiles * LOOM_TILE; k++)
            wr[k] = k < nr ? weight_row_f32(w, r + k, cols, scratch + k * cols) : wr[nr - 1];
        for (int64_t t = 0; t < j->n_tok; t += LOOM_TILE) {
            int nt = j->n_tok - t < LOOM_TILE ? (int)(j->n_tok - t) : LOOM_TILE;
            const float *xt[LOOM_TILE];
            for (int k = 0; k < LOOM_TILE; k++) xt[k] = j->x + (t + (k < nt ? k : nt - 1)) * cols;
            for (int tile = 0; tile < n_tiles; tile++) {
                float out[LOOM_TILE * LOOM_TILE];
                dot_f32_tile(wr + tile * LOOM_TILE, xt, cols, out);
                for (int a = 0; a < LOOM_TILE && tile * LOOM_TILE + a < nr; a++)
                    for (int b = 0; b < nt; b++) y[(t + b) * rows + r + tile * LOOM_TILE + a] = out[a * LOOM_TILE + b];
            }
        }
        r += nr;
    }
}

/* items are rows of the matrices laid end to end */
static void matmul_items(void *ctx, int64_t i0, int64_t i1, int ti) {
    matmul_job *j = ctx;
    for (int m = 0; m < j->n_mats && i0 < i1; m++) {
        int64_t first = m ? j->row_end[m - 1] : 0;
        if (i0 >= j->row_end[m]) continue;
        int64_t r0 = i0 - first, r1 = (i1 < j->row_end[m] ? i1 : j->row_end[m]) - first;
        if (j->xq && j->w[m]->layout == LOOM_LAYOUT_X16) matmul_groups_int8(j, j->y[m], j->w[m], r0, r1);
        else if (j->xq) matmul_rows_int8(j, j->y[m], j->w[m], r0, r1);
        else matmul_rows_f32(j, j->y[m], j->w[m], r0, r1, ti);
        i0 = first + r1;
    }
}

typedef struct quantize_job {
    const float *x;
    loom_xblock *xq;
    int64_t cols;
} quantize_job;

static void quantize_tokens(void *ctx, int64_t t0, int64_t t1, int ti) {
    quantize_job *q = ctx;
    int64_t nb = q->cols / LOOM_XBLOCK_ELEMS;
    for (int64_t t = t0; t < t1; t++) quantize_x_row(q->x + t * q->cols, q->xq + t * nb, q->cols);
}

/* x as int8 blocks in c->xq, or NULL when the weights want float activations (or memory ran out:
 * the float path gives the same answer within quantization error, so it is the fallback) */
static const loom_xblock *quantize_activations(cpu_impl *c, const matmul_job *j) {
    for (int m = 0; m < j->n_mats; m++)
        if (!dtype_takes_int8_x(j->w[m]->dtype)) return NULL;
    int64_t blocks = j->n_tok * (j->cols / LOOM_XBLOCK_ELEMS);
    if (blocks > c->xq_blocks) {
        loom_xblock *p = realloc(c->xq, (size_t)blocks * sizeof *p);
        if (!p) return NULL;
        c->xq = p;
        c->xq_blocks = blocks;
    }
    quantize_job q = {j->x, c->xq, j->cols};
    pool_run(c->pool, j->n_tok, 16, quantize_tokens, &q);
    return c->xq;
}

#define UNIT_WEIGHT_BYTES 32768

static void op_matmul_fused(loom_backend *b, int n, float *const *y, const loom_tensor *const *w, const float *x,
                            int64_t n_tok) {
    cpu_impl *c = impl_of(b);
    matmul_job j = {.c = c, .n_mats = n, .x = x, .n_tok = n_tok, .cols = tensor_row_len(w[0])};
    for (int m = 0; m < n; m++) {
        j.y[m] = y[m];
        j.w[m] = w[m];
        j.row_end[m] = (m ? j.row_end[m - 1] : 0) + tensor_rows(w[m]);
    }
    j.xq = quantize_activations(c, &j);
    /* units of ~UNIT_WEIGHT_BYTES of weights in whole 16-row tiles (64-byte lines of y): fine enough to
     * balance the threads at the end of the op, coarse enough that claiming costs nothing */
    size_t row_bytes = dtype_bytes(w[0]->dtype, j.cols);
    int64_t rows = j.row_end[n - 1], grain = (int64_t)(UNIT_WEIGHT_BYTES / (row_bytes ? row_bytes : 1));
    grain = grain < 16 ? 16 : (grain + 15) / 16 * 16;
    pool_run(c->pool, rows, grain, matmul_items, &j);
}

static void op_matmul(loom_backend *b, float *y, const loom_tensor *w, const float *x, int64_t n_tok) {
    op_matmul_fused(b, 1, &y, &w, x, n_tok);
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
    const float *w = j->w; /* in locals: stores through y cannot change them (the loop vectorizes) */
    int64_t dim = j->dim;
    for (int64_t t = t0; t < t1; t++) {
        const float *x = j->x + t * dim;
        float *y = j->y + t * dim;
        float ss = dot_f32(x, x, dim);
        float inv = 1.0f / sqrtf(ss / (float)dim + j->eps);
        for (int64_t i = 0; i < dim; i++) y[i] = w[i] * (inv * x[i]);
    }
}

static void op_rmsnorm(loom_backend *b, float *y, const float *x, const loom_tensor *weight, float eps, int64_t n_tok,
                       int64_t dim) {
    rmsnorm_job j = {y, x, weight->data, eps, dim};
    pool_run(impl_of(b)->pool, n_tok, 1, rmsnorm_rows, &j);
}

/* ---- rope: tokens split over the pool ---- */

typedef struct rope_job {
    float *x;
    const int32_t *pos;
    int32_t n_heads, head_dim;
    const float *inv_freq;
    float *cos_sin; /* the table (rope_table): read by rope_tokens, written by rope_fill */
    int interleaved;
} rope_job;

/* cos and sin of pos x inv_freq[i], the values every RoPE path uses */
static void rope_angle(int32_t pos, float inv_freq, float *cos_out, float *sin_out) {
    float angle = (float)pos * inv_freq;
    *cos_out = cosf(angle);
    *sin_out = sinf(angle);
}

static void rope_fill(void *ctx, int64_t t0, int64_t t1, int ti) {
    const rope_job *j = ctx;
    int32_t half = j->head_dim / 2;
    for (int64_t t = t0; t < t1; t++)
        for (int32_t i = 0; i < half; i++)
            rope_angle(j->pos[t], j->inv_freq[i], &j->cos_sin[(2 * t) * half + i], &j->cos_sin[(2 * t + 1) * half + i]);
}

/* rotates pair i of every head of token t by (c, s): elements (i, i + half), or (2i, 2i + 1) interleaved */
static void rope_rotate(const rope_job *j, int64_t t, int32_t i, float c, float s) {
    int32_t half = j->head_dim / 2, a = j->interleaved ? 2 * i : i, bi = j->interleaved ? 2 * i + 1 : i + half;
    for (int32_t h = 0; h < j->n_heads; h++) {
        float *v = j->x + (t * j->n_heads + h) * (int64_t)j->head_dim;
        float v0 = v[a], v1 = v[bi];
        v[a] = v0 * c - v1 * s;
        v[bi] = v0 * s + v1 * c;
    }
}

static void rope_tokens(void *ctx, int64_t t0, int64_t t1, int ti) {
    const rope_job *j = ctx;
    int32_t half = j->head_dim / 2;
    for (int64_t t = t0; t < t1; t++) {
        if (!j->cos_sin) { /* no table (out of memory): the angles computed here, pair by pair */
            for (int32_t i = 0; i < half; i++) {
                float c, s;
                rope_angle(j->pos[t], j->inv_freq[i], &c, &s);
                rope_rotate(j, t, i, c, s);
            }
            continue;
        }
        const float *c = j->cos_sin + 2 * t * half, *s = c + half;
        for (int32_t h = 0; h < j->n_heads; h++) { /* the same operations as rope_rotate, a head at a time */
            float *v = j->x + (t * j->n_heads + h) * (int64_t)j->head_dim;
            if (j->interleaved)
                for (int32_t i = 0; i < half; i++) {
                    float v0 = v[2 * i], v1 = v[2 * i + 1];
                    v[2 * i] = v0 * c[i] - v1 * s[i];
                    v[2 * i + 1] = v0 * s[i] + v1 * c[i];
                }
            else
                for (int32_t i = 0; i < half; i++) {
                    float v0 = v[i], v1 = v[i + half];
                    v[i] = v0 * c[i] - v1 * s[i];
                    v[i + half] = v0 * s[i] + v1 * c[i];
                }
        }
    }
}

/* The table for these positions: the last one when they match, else made anew; NULL when out of memory */
static float *rope_cos_sin(cpu_impl *c, const int32_t *pos, int64_t n_tok, int32_t half, const float *inv_freq) {
    rope_table *r = &c->rope;
    if (r->cos_sin && r->inv_freq == inv_freq && r->half == half && r->n_tok == n_tok &&
        memcmp(r->pos, pos, (size_t)n_tok * sizeof *pos) == 0)
        return r->cos_sin;
    size_t floats = (size_t)n_tok * 2 * (size_t)half;
    if (n_tok > r->cap_tok || floats > r->cap_floats) {
        free(r->pos);
        free(r->cos_sin);
        *r = (rope_table){.pos = malloc((size_t)n_tok * sizeof *pos), .cos_sin = malloc(floats * sizeof(float))};
        if (!r->pos || !r->cos_sin) {
            free(r->pos);
            free(r->cos_sin);
            *r = (rope_table){0};
            return NULL;
        }
        r->cap_tok = n_tok, r->cap_floats = floats;
    }
    r->inv_freq = inv_freq, r->half = half, r->n_tok = n_tok;
    memcpy(r->pos, pos, (size_t)n_tok * sizeof *pos);
    rope_job fill = {.pos = pos, .head_dim = 2 * half, .inv_freq = inv_freq, .cos_sin = r->cos_sin};
    pool_run(c->pool, n_tok, 16, rope_fill, &fill);
    return r->cos_sin;
}

static void op_rope(loom_backend *b, float *x, const int32_t *pos, int64_t n_tok, int32_t n_heads, int32_t head_dim,
                    const float *inv_freq, int interleaved) {
    cpu_impl *c = impl_of(b);
    rope_job j = {.x = x,
                  .pos = pos,
                  .n_heads = n_heads,
                  .head_dim = head_dim,
                  .inv_freq = inv_freq,
                  .cos_sin = rope_cos_sin(c, pos, n_tok, head_dim / 2, inv_freq),
                  .interleaved = interleaved};
    pool_run(c->pool, n_tok, 4, rope_tokens, &j);
}

/* ---- elementwise: a batch split over the pool in runs of ELEMENTWISE_GRAIN elements (a decode token's
 * rows stay on the calling thread) ---- */

#define ELEMENTWISE_GRAIN 16384

typedef struct gate_job {
    float *out;
    const float *gate, *up;
} gate_job;

static void silu_range(void *ctx, int64_t i0, int64_t i1, int ti) {
    const gate_job *j = ctx;
    silu_mul(j->out + i0, j->gate + i0, j->up + i0, i1 - i0);
}

static void op_silu_mul(loom_backend *b, float *out, const float *gate, const float *up, int64_t n) {
    gate_job j = {out, gate, up};
    pool_run(impl_of(b)->pool, n, ELEMENTWISE_GRAIN, silu_range, &j);
}

typedef struct add_job {
    float *y;
    const float *x;
    int64_t dim; /* > 0: x is a [dim] bias added to every row of y */
} add_job;

static void add_range(void *ctx, int64_t i0, int64_t i1, int ti) {
    const add_job *j = ctx;
    float *y = j->y; /* in locals: stores through y cannot change them (the loop vectorizes) */
    const float *x = j->x;
    int64_t dim = j->dim;
    for (int64_t i = i0; i < i1;) { /* a run within one row (of the bias) at a time */
        int64_t col = dim ? i % dim : i, run = dim && dim - col < i1 - i ? dim - col : i1 - i;
        for (int64_t k = 0; k < run; k++) y[i + k] += x[col + k];
        i += run;
    }
}

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch's tanh approximation computes it */
static void gelu_tanh_range(void *ctx, int64_t i0, int64_t i1, int ti) {
    const gate_job *j = ctx;
    const float k = 0.7978845608028654f; /* sqrt(2 / pi) */
    for (int64_t i = i0; i < i1; i++) {
        float x = j->gate[i];
        j->out[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * j->up[i];
    }
}

static void op_gelu_tanh_mul(loom_backend *b, float *out, const float *gate, const float *up, int64_t n) {
    gate_job j = {out, gate, up};
    pool_run(impl_of(b)->pool, n, ELEMENTWISE_GRAIN, gelu_tanh_range, &j);
}

static void op_scale(loom_backend *b, float *y, float c, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] *= c;
}

static void op_softcap(loom_backend *b, float *y, float cap, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = cap * tanhf(y[i] / cap);
}

static void op_add_bias(loom_backend *b, float *y, const loom_tensor *bias, int64_t n_tok, int64_t dim) {
    add_job j = {y, bias->data, dim};
    pool_run(impl_of(b)->pool, n_tok * dim, ELEMENTWISE_GRAIN, add_range, &j);
}

static void op_add(loom_backend *b, float *y, const float *x, int64_t n) {
    add_job j = {y, x, 0};
    pool_run(impl_of(b)->pool, n, ELEMENTWISE_GRAIN, add_range, &j);
}

typedef struct embed_job {
    float *y;
    const loom_tensor *table;
    const int32_t *ids;
    int64_t dim;
} embed_job;

static void embed_tokens(void *ctx, int64_t t0, int64_t t1, int ti) {
    const embed_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) {
        float *y = j->y + t * j->dim;
        const float *row = weight_row_f32(j->table, j->ids[t], j->dim, y);
        if (row != y) memcpy(y, row, (size_t)j->dim * sizeof(float));
    }
}

static void op_embed(loom_backend *b, float *y, const loom_tensor *table, const int32_t *ids, int64_t n_tok) {
    embed_job j = {y, table, ids, tensor_row_len(table)};
    pool_run(impl_of(b)->pool, n_tok, 4, embed_tokens, &j);
}

/* ---- attention ---- */

typedef struct attention_job {
    const loom_attn_isa *isa;
    const loom_attention_args *a;
    const loom_attention_plan *plan;
} attention_job;

static void attention_items(void *ctx, int64_t i0, int64_t i1, int ti) {
    attention_job *j = ctx;
    cpu_attention_items(j->isa, j->a, j->plan, i0, i1);
}

/* Items per (token, KV head) or per key chunk of them (kernels/cpu/attention.h); the ISA follows the dot
 * kernels' choice (LOOM_ISA). */
static void op_attention(loom_backend *b, const loom_attention_args *args) {
    loom_attention_plan plan;
    cpu_attention_plan(&plan, args, pool_size(impl_of(b)->pool));
    attention_job j = {attention_isa_named(cpu_isa()), args, &plan};
    pool_run(impl_of(b)->pool, plan.n_items, plan.grain, attention_items, &j);
    cpu_attention_plan_free(&plan);
}

/* ---- mixture of experts and norms split over ranks (kernels/cpu/moe_ops.c, split_rmsnorm.c) ---- */

static void op_moe_route(loom_backend *b, const float *logits, int64_t n_tok, int32_t n_experts, int32_t top_k,
                         int renormalize, int32_t *ids, float *weights) {
    cpu_moe_route(impl_of(b)->pool, logits, n_tok, n_experts, top_k, renormalize, ids, weights);
}

static void op_moe_combine(loom_backend *b, float *y, const float *x, const float *weights, int64_t n_tok,
                           int32_t top_k, int64_t dim) {
    cpu_moe_combine(impl_of(b)->pool, y, x, weights, n_tok, top_k, dim);
}

static void op_add_sigmoid_gated(loom_backend *b, float *y, const float *x, const float *gate, int64_t n_tok,
                                 int64_t dim) {
    cpu_add_sigmoid_gated(impl_of(b)->pool, y, x, gate, n_tok, dim);
}

static void op_sum_squares(loom_backend *b, float *out, const float *x, int64_t n_tok, int64_t dim) {
    cpu_sum_squares(impl_of(b)->pool, out, x, n_tok, dim);
}

static void op_rmsnorm_sums(loom_backend *b, float *y, const float *x, const loom_tensor *weight, const float *sums,
                            float eps, int64_t n_tok, int64_t dim, int64_t norm_dim) {
    cpu_rmsnorm_given(impl_of(b)->pool, y, x, weight->data, sums, norm_dim, eps, n_tok, dim);
}

static void op_parallel_for(loom_backend *b, int64_t n_items, int64_t grain, loom_pool_fn fn, void *ctx) {
    pool_run(impl_of(b)->pool, n_items, grain, fn, ctx);
}

static const loom_backend_ops cpu_ops = {
    .name = "cpu",
    .max_head_dim = LOOM_ATTENTION_MAX_HEAD_DIM,
    .max_group = LOOM_ATTENTION_MAX_GROUP,
    .reserve = op_reserve,
    .matmul = op_matmul,
    .matmul_fused = op_matmul_fused,
    .rmsnorm = op_rmsnorm,
    .sum_squares = op_sum_squares,
    .rmsnorm_sums = op_rmsnorm_sums,
    .rope = op_rope,
    .silu_mul = op_silu_mul,
    .gelu_tanh_mul = op_gelu_tanh_mul,
    .scale = op_scale,
    .softcap = op_softcap,
    .add_bias = op_add_bias,
    .add = op_add,
    .embed = op_embed,
    .attention = op_attention,
    .moe_route = op_moe_route,
    .moe_combine = op_moe_combine,
    .add_sigmoid_gated = op_add_sigmoid_gated,
    .parallel_for = op_parallel_for,
};

loom_status backend_cpu_create(int n_threads, loom_backend **out, loom_error *err) {
    loom_backend *b = calloc(1, sizeof *b);
    cpu_impl *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory creating CPU backend");
    }
    b->ops = &cpu_ops;
    b->impl = c;
    loom_status st = pool_create(n_threads, &c->pool, err);
    if (st != LOOM_OK) {
        free(c);
        free(b);
        return st;
    }
    int n = pool_size(c->pool);
    c->scratch = calloc((size_t)n, sizeof *c->scratch);
    c->scratch_len = calloc((size_t)n, sizeof *c->scratch_len);
    if (!c->scratch || !c->scratch_len) {
        backend_free(b);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory creating CPU backend");
    }
    *out = b;
    return LOOM_OK;
}

void backend_free(loom_backend *b) {
    if (!b) return;
    cpu_impl *c = b->impl;
    if (c) {
        int n = c->pool ? pool_size(c->pool) : 0;
        for (int i = 0; c->scratch && i < n; i++) free(c->scratch[i]);
        free(c->scratch);
        free(c->scratch_len);
        free(c->xq);
        free(c->rope.pos);
        free(c->rope.cos_sin);
        pool_free(c->pool);
        free(c);
    }
    free(b);
}
