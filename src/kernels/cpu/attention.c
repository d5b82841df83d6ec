#include "kernels/cpu/attention.h"

#include <math.h>
#include <string.h>

#include "core/fp8.h"

/* ---- scalar primitives ---- */

static float dot_scalar(const float *a, const float *b, int32_t n) {
    float s = 0;
    for (int32_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void scale_scalar(float *y, float c, int32_t n) {
    for (int32_t i = 0; i < n; i++) y[i] *= c;
}

static void axpy_scalar(float *y, float a, const float *x, int32_t n) {
    for (int32_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void exp_shifted_scalar(float *p, const float *s, float shift, int32_t n) {
    for (int32_t i = 0; i < n; i++) p[i] = expf(s[i] - shift);
}

static void accumulate_scalar(float *y, const float *p, const float *x, int32_t n, int32_t d) {
    for (int32_t j = 0; j < n; j++) axpy_scalar(y, p[j], x + (int64_t)j * d, d);
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void widen_f16_scalar(const uint8_t *src, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = loom_f16_to_f32(load_u16(src + 2 * i));
}

static void widen_bf16_scalar(const uint8_t *src, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = loom_bf16_to_f32(load_u16(src + 2 * i));
}

static void widen_i8_scalar(const uint8_t *src, float scale, float zero, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = scale * (float)(int8_t)src[i] + zero;
}

static void widen_i8_channels_scalar(const uint8_t *src, const float *scale, const float *zero, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = scale[i] * (float)(int8_t)src[i] + zero[i];
}

static const loom_attn_isa attn_scalar = {"scalar", dot_scalar, scale_scalar, exp_shifted_scalar, accumulate_scalar,
                                          widen_f16_scalar, widen_bf16_scalar, widen_i8_scalar, widen_i8_channels_scalar};

const loom_attn_isa *loom_attention_isa_named(const char *isa) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    /* every AVX2 CPU also has F16C (and clang cannot test for it with this builtin) */
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && has2)
        return &loom_attn_avx512;
    if (strcmp(isa, "avx2") == 0 && has2) return &loom_attn_avx2;
#endif
    return &attn_scalar;
}

/* ---- cache addressing ---- */

typedef enum { KEYS, VALUES } kv_part;

static size_t kv_elem_bytes(loom_kv_dtype t) { return t == LOOM_KV_F32 ? 4 : t == LOOM_KV_F16 || t == LOOM_KV_BF16 ? 2 : 1; }

static size_t block_stride(const loom_attention_args *a) {
    if (a->block_stride_bytes) return a->block_stride_bytes;
    return (size_t)a->block_size * (size_t)a->n_kv_heads * (size_t)a->head_dim * kv_elem_bytes(a->kv_dtype);
}

/* Start of key (or value) `offset` of block `block`, head kv_head. */
static const uint8_t *row_at(const loom_attention_args *a, kv_part part, int32_t block, int32_t offset, int32_t kv_head) {
    size_t eb = kv_elem_bytes(a->kv_dtype), kv_dim = (size_t)a->n_kv_heads * (size_t)a->head_dim;
    const uint8_t *cache = part == KEYS ? a->k_cache : a->v_cache;
    return cache + (size_t)block * block_stride(a) + ((size_t)offset * kv_dim + (size_t)kv_head * a->head_dim) * eb;
}

/* The float32 scale of an fp8 key or value: [block_size][n_kv_heads] per block. */
static float fp8_scale_at(const loom_attention_args *a, kv_part part, int32_t block, int32_t offset, int32_t kv_head) {
    const uint8_t *p = (const uint8_t *)(part == KEYS ? a->k_scales : a->v_scales) + (size_t)block * block_stride(a);
    float scale;
    memcpy(&scale, p + ((size_t)offset * (size_t)a->n_kv_heads + (size_t)kv_head) * sizeof(float), sizeof scale);
    return scale;
}

/* int8 values: float16 scales [n_kv_heads][block_size] then float16 zeros likewise, per block; returns
 * the scale of value `offset` of kv_head (its zero is block_size x n_kv_heads float16 further). */
static const uint8_t *value_scale_at(const loom_attention_args *a, int32_t block, int32_t offset, int32_t kv_head) {
    return (const uint8_t *)a->v_scales + (size_t)block * block_stride(a) +
           2 * ((size_t)kv_head * (size_t)a->block_size + (size_t)offset);
}

/* int8 keys: float16 scales [kv_dim] then float16 zeros [kv_dim], per block; returns the scales of block. */
static const uint8_t *key_channel_scales(const loom_attention_args *a, int32_t block) {
    return (const uint8_t *)a->k_scales + (size_t)block * block_stride(a);
}

/* Decodes n consecutive keys (or values) of one block and head into dst [n][head_dim]. */
static void decode_rows(const loom_attn_isa *isa, const loom_attention_args *a, kv_part part, int32_t block,
                        int32_t offset, int32_t n, int32_t kv_head, float *dst) {
    int32_t d = a->head_dim;
    size_t kv_dim = (size_t)a->n_kv_heads * (size_t)d;
    /* int8 scales and zeros: per channel for keys (head_dim of them), per row for values (n of them) */
    _Static_assert(LOOM_ATTENTION_TILE <= LOOM_ATTENTION_MAX_HEAD_DIM, "a tile's rows fit the scale arrays");
    float scale[LOOM_ATTENTION_MAX_HEAD_DIM], zero[LOOM_ATTENTION_MAX_HEAD_DIM], fp8_scale;
    if (a->kv_dtype == LOOM_KV_INT8 && part == KEYS) {
        const uint8_t *scales = key_channel_scales(a, block) + 2 * (size_t)kv_head * (size_t)d;
        isa->widen_f16(scales, scale, d);
        isa->widen_f16(scales + 2 * kv_dim, zero, d);
    } else if (a->kv_dtype == LOOM_KV_INT8) {
        const uint8_t *scales = value_scale_at(a, block, offset, kv_head);
        isa->widen_f16(scales, scale, n);
        isa->widen_f16(scales + 2 * (size_t)a->block_size * (size_t)a->n_kv_heads, zero, n);
    }
    for (int32_t r = 0; r < n; r++, dst += d) {
        const uint8_t *src = row_at(a, part, block, offset + r, kv_head);
        switch (a->kv_dtype) {
        case LOOM_KV_F32: memcpy(dst, src, (size_t)d * sizeof(float)); break;
        case LOOM_KV_F16: isa->widen_f16(src, dst, d); break;
        case LOOM_KV_BF16: isa->widen_bf16(src, dst, d); break;
        case LOOM_KV_INT8:
            if (part == KEYS) isa->widen_i8_channels(src, scale, zero, dst, d);
            else isa->widen_i8(src, scale[r], zero[r], dst, d);
            break;
        case LOOM_KV_FP8_E4M3:
            fp8_scale = fp8_scale_at(a, part, block, offset + r, kv_head);
            for (int32_t i = 0; i < d; i++) dst[i] = fp8_scale * loom_fp8_e4m3_to_f32(src[i]);
            break;
        }
    }
}

/* ---- the tiled kernel ---- */

/* Online-softmax state of one query head: its output row (accumulating, unnormalised) and running sums. */
typedef struct head_state {
    const float *q;
    float *out;
    float running_max, denom;
} head_state;

/* Folds keys [0, n) of the decoded tile into one query head. The float operations depend only on the
 * head's query, its keys and the tile boundaries, never on the other queries sharing the tile. */
static void attend_tile(const loom_attn_isa *isa, const loom_attention_args *a, head_state *h, const float *k_tile,
                        const float *v_tile, int32_t n) {
    int32_t d = a->head_dim;
    float score[LOOM_ATTENTION_TILE], p[LOOM_ATTENTION_TILE], tile_max = -INFINITY;
    for (int32_t j = 0; j < n; j++) {
        score[j] = isa->dot(h->q, k_tile + (int64_t)j * d, d) * a->scale;
        if (score[j] > tile_max) tile_max = score[j];
    }
    if (tile_max > h->running_max) {
        /* rescale what was accumulated under the old maximum */
        float correction = expf(h->running_max - tile_max);
        h->denom *= correction;
        isa->scale(h->out, correction, d);
        h->running_max = tile_max;
    }
    isa->exp_shifted(p, score, h->running_max, n);
    for (int32_t j = 0; j < n; j++) h->denom += p[j];
    isa->accumulate(h->out, p, v_tile, n, d);
}

/* Query tokens [t0, t0 + n_queries) (one sequence, consecutive positions) x one KV head: each K/V tile
 * is decoded once and folded into every query head of the block whose causal range reaches it. A
 * query at position p sees the same tiles (the last cut at key p) as it would alone. */
static void attend_block(const loom_attn_isa *isa, const loom_attention_args *a, int32_t t0, int32_t n_queries,
                         int32_t kv_head) {
    int32_t d = a->head_dim, group = a->n_heads / a->n_kv_heads, n_keys = a->pos[t0 + n_queries - 1] + 1;
    const int32_t *table = a->block_tables + (int64_t)a->seq_of_token[t0] * a->max_blocks_per_seq;
    float k_tile[LOOM_ATTENTION_TILE * LOOM_ATTENTION_MAX_HEAD_DIM], v_tile[LOOM_ATTENTION_TILE * LOOM_ATTENTION_MAX_HEAD_DIM];
    head_state heads[LOOM_ATTENTION_QUERY_BLOCK * LOOM_ATTENTION_MAX_GROUP];
    for (int32_t qi = 0; qi < n_queries; qi++)
        for (int32_t g = 0; g < group; g++) {
            int64_t row = ((int64_t)(t0 + qi) * a->n_heads + (int64_t)kv_head * group + g) * d;
            heads[qi * group + g] = (head_state){a->q + row, a->out + row, -INFINITY, 0};
            memset(a->out + row, 0, (size_t)d * sizeof(float));
        }
    for (int32_t key0 = 0; key0 < n_keys;) {
        int32_t block = table[key0 / a->block_size], offset = key0 % a->block_size;
        int32_t n = a->block_size - offset;
        if (n > LOOM_ATTENTION_TILE) n = LOOM_ATTENTION_TILE;
        if (n > n_keys - key0) n = n_keys - key0;
        decode_rows(isa, a, KEYS, block, offset, n, kv_head, k_tile);
        decode_rows(isa, a, VALUES, block, offset, n, kv_head, v_tile);
        for (int32_t qi = 0; qi < n_queries; qi++) {
            int32_t visible = a->pos[t0 + qi] + 1 - key0; /* keys of this tile at or before the query */
            if (visible <= 0) continue;
            for (int32_t g = 0; g < group; g++) attend_tile(isa, a, &heads[qi * group + g], k_tile, v_tile, visible < n ? visible : n);
        }
        key0 += n;
    }
    for (int32_t i = 0; i < n_queries * group; i++) isa->scale(heads[i].out, 1.0f / heads[i].denom, d);
}

void loom_cpu_attention_items(const loom_attn_isa *isa, const loom_attention_args *a, int64_t i0, int64_t i1) {
    int64_t n_kv = a->n_kv_heads;
    for (int32_t h = 0; h < n_kv; h++) {
        /* the tokens t with t x n_kv + h in [i0, i1), cut into blocks of one sequence's consecutive positions */
        int64_t t = (i0 - h + n_kv - 1) / n_kv, t_end = (i1 - h + n_kv - 1) / n_kv;
        while (t < t_end) {
            int32_t n = 1;
            while (n < LOOM_ATTENTION_QUERY_BLOCK && t + n < t_end && a->seq_of_token[t + n] == a->seq_of_token[t] &&
                   a->pos[t + n] == a->pos[t] + n)
                n++;
            attend_block(isa, a, (int32_t)t, n, h);
            t += n;
        }
    }
}

int64_t loom_cpu_attention_grain(const loom_attention_args *a, int n_threads) {
    int64_t tokens = a->n_tokens / (4 * (int64_t)n_threads);
    if (tokens > LOOM_ATTENTION_QUERY_BLOCK) tokens = LOOM_ATTENTION_QUERY_BLOCK;
    return tokens > 1 ? tokens * a->n_kv_heads : 1; /* few tokens (decode): the KV heads spread over threads */
}

/* ---- the naive reference ---- */

static double element_at(const loom_attention_args *a, kv_part part, int32_t key, const int32_t *table, int32_t kv_head,
                         int32_t i) {
    int32_t block = table[key / a->block_size], offset = key % a->block_size;
    const uint8_t *row = row_at(a, part, block, offset, kv_head), *scale;
    size_t zero_at; /* bytes from an int8 scale to its zero */
    switch (a->kv_dtype) {
    case LOOM_KV_F32: {
        float f;
        memcpy(&f, row + 4 * i, 4);
        return f;
    }
    case LOOM_KV_F16: return loom_f16_to_f32(load_u16(row + 2 * i));
    case LOOM_KV_BF16: return loom_bf16_to_f32(load_u16(row + 2 * i));
    case LOOM_KV_INT8:
        if (part == KEYS) {
            scale = key_channel_scales(a, block) + 2 * ((size_t)kv_head * (size_t)a->head_dim + (size_t)i);
            zero_at = 2 * (size_t)a->n_kv_heads * (size_t)a->head_dim;
        } else {
            scale = value_scale_at(a, block, offset, kv_head);
            zero_at = 2 * (size_t)a->block_size * (size_t)a->n_kv_heads;
        }
        return (double)loom_f16_to_f32(load_u16(scale)) * (int8_t)row[i] + loom_f16_to_f32(load_u16(scale + zero_at));
    default: return (double)fp8_scale_at(a, part, block, offset, kv_head) * loom_fp8_e4m3_to_f32(row[i]);
    }
}

void loom_cpu_attention_naive(const loom_attention_args *a) {
    int32_t d = a->head_dim, group = a->n_heads / a->n_kv_heads;
    for (int32_t t = 0; t < a->n_tokens; t++) {
        const int32_t *table = a->block_tables + (int64_t)a->seq_of_token[t] * a->max_blocks_per_seq;
        int32_t n_keys = a->pos[t] + 1;
        for (int32_t h = 0; h < a->n_heads; h++) {
            int32_t kv_head = h / group;
            const float *q = a->q + ((int64_t)t * a->n_heads + h) * d;
            float *out = a->out + ((int64_t)t * a->n_heads + h) * d;
            double max = -INFINITY, z = 0, acc[LOOM_ATTENTION_MAX_HEAD_DIM] = {0};
            for (int32_t j = 0; j < n_keys; j++) {
                double s = 0;
                for (int32_t i = 0; i < d; i++) s += (double)q[i] * element_at(a, KEYS, j, table, kv_head, i);
                if (s * a->scale > max) max = s * a->scale;
            }
            for (int32_t j = 0; j < n_keys; j++) {
                double s = 0;
                for (int32_t i = 0; i < d; i++) s += (double)q[i] * element_at(a, KEYS, j, table, kv_head, i);
                double p = exp(s * a->scale - max);
                z += p;
                for (int32_t i = 0; i < d; i++) acc[i] += p * element_at(a, VALUES, j, table, kv_head, i);
            }
            for (int32_t i = 0; i < d; i++) out[i] = (float)(acc[i] / z);
        }
    }
}
