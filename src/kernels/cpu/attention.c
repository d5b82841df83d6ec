#include "kernels/cpu/attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp8.h"

/* ---- scalar primitives ---- */

static float scores_scalar(float *s, const float *q, const float *k, int64_t k_stride, int32_t n, int32_t d, float c) {
    float max = -INFINITY;
    for (int32_t j = 0; j < n; j++, k += k_stride) {
        float dot = 0;
        for (int32_t i = 0; i < d; i++) dot += q[i] * k[i];
        s[j] = dot * c;
        if (s[j] > max) max = s[j];
    }
    return max;
}

static void scale_scalar(float *y, float c, int32_t n) {
    for (int32_t i = 0; i < n; i++) y[i] *= c;
}

static float exp_shifted_scalar(float *p, const float *s, float shift, int32_t n) {
    float sum = 0;
    for (int32_t i = 0; i < n; i++) sum += p[i] = expf(s[i] - shift);
    return sum;
}

static void accumulate_scalar(float *y, const float *p, const float *x, int64_t x_stride, int32_t n, int32_t d) {
    for (int32_t j = 0; j < n; j++, x += x_stride)
        for (int32_t i = 0; i < d; i++) y[i] += p[j] * x[i];
}

static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static void widen_f16_scalar(const uint8_t *src, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = f16_to_f32(load_u16(src + 2 * i));
}

static void widen_bf16_scalar(const uint8_t *src, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = bf16_to_f32(load_u16(src + 2 * i));
}

static void widen_i8_scalar(const uint8_t *src, float scale, float zero, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = scale * (float)(int8_t)src[i] + zero;
}

static void widen_i8_channels_scalar(const uint8_t *src, const float *scale, const float *zero, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = scale[i] * (float)(int8_t)src[i] + zero[i];
}

static void widen_fp8_scalar(const uint8_t *src, float scale, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) dst[i] = scale * fp8_e4m3_to_f32(src[i]);
}

static const loom_attn_isa attn_scalar = {
    "scalar",         scores_scalar,     scale_scalar,    exp_shifted_scalar,       accumulate_scalar,
    widen_f16_scalar, widen_bf16_scalar, widen_i8_scalar, widen_i8_channels_scalar, widen_fp8_scalar};

const loom_attn_isa *attention_isa_named(const char *isa) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    /* every AVX2 CPU also has F16C (and clang cannot test for it with this builtin) */
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (strcmp(isa, "avx512") == 0 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && has2)
        return &attn_avx512;
    if (strcmp(isa, "avx2") == 0 && has2) return &attn_avx2;
#endif
    return &attn_scalar;
}

/* ---- cache addressing ---- */

typedef enum { KEYS, VALUES } kv_part;

static size_t kv_elem_bytes(loom_kv_dtype t) {
    return t == LOOM_KV_F32 ? 4 : t == LOOM_KV_F16 || t == LOOM_KV_BF16 ? 2 : 1;
}

static size_t block_stride(const loom_attention_args *a) {
    if (a->block_stride_bytes) return a->block_stride_bytes;
    return (size_t)a->block_size * (size_t)a->n_kv_heads * (size_t)a->head_dim * kv_elem_bytes(a->kv_dtype);
}

/* Start of key (or value) `offset` of block `block`, head kv_head. */
static const uint8_t *row_at(const loom_attention_args *a, kv_part part, int32_t block, int32_t offset,
                             int32_t kv_head) {
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
    float scale[LOOM_ATTENTION_MAX_HEAD_DIM], zero[LOOM_ATTENTION_MAX_HEAD_DIM];
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
                isa->widen_fp8(src, fp8_scale_at(a, part, block, offset + r, kv_head), dst, d);
                break;
            case LOOM_KV_AUTO: break; /* resolved before any cache exists */
        }
    }
}

/* ---- the tiled kernel ---- */

/* Rows of a tile: a float32 cache in place (rows kv_dim floats apart) when one query token reads them,
 * else decoded into the buffers: contiguous rows stay in L1 across the block's many query heads, where
 * rows kv_dim apart may not. Rows a multiple of 4 KiB apart (a power-of-two kv_dim of 1024 or more)
 * all fall in the same L1 sets, so those are copied even for one token. */
typedef struct tile {
    const float *k, *v;
    int64_t stride; /* floats from one key (value) to the next */
} tile;

static tile load_tile(const loom_attn_isa *isa, const loom_attention_args *a, int32_t block, int32_t offset, int32_t n,
                      int32_t kv_head, int32_t n_queries, float *k_buf, float *v_buf) {
    int64_t stride = (int64_t)a->n_kv_heads * a->head_dim;
    if (a->kv_dtype == LOOM_KV_F32 && n_queries == 1 && stride * sizeof(float) % 4096 != 0)
        return (tile){(const float *)row_at(a, KEYS, block, offset, kv_head),
                      (const float *)row_at(a, VALUES, block, offset, kv_head), stride};
    decode_rows(isa, a, KEYS, block, offset, n, kv_head, k_buf);
    decode_rows(isa, a, VALUES, block, offset, n, kv_head, v_buf);
    return (tile){k_buf, v_buf, a->head_dim};
}

/* Keys in the tile that starts at key0: up to the end of its KV block, LOOM_ATTENTION_TILE and key_end. */
static int32_t tile_keys(const loom_attention_args *a, int32_t key0, int32_t key_end) {
    int32_t n = a->block_size - key0 % a->block_size;
    if (n > LOOM_ATTENTION_TILE) n = LOOM_ATTENTION_TILE;
    return n < key_end - key0 ? n : key_end - key0;
}

/* Keys [from, from + n) of a loaded tile (from within it). */
static tile tile_from(tile kv, int32_t from) {
    return (tile){kv.k + from * kv.stride, kv.v + from * kv.stride, kv.stride};
}

/* The first key a query at position pos sees: 0, or the start of its window in a sliding-window layer. */
static int32_t first_key(const loom_attention_args *a, int32_t pos) {
    return a->window > 0 && pos >= a->window ? pos - a->window + 1 : 0;
}

/* Gemma 2's soft-capping of the n scores of a tile (when the layer has it); returns their new maximum. */
static float cap_scores(const loom_attention_args *a, float *s, int32_t n, float max) {
    if (!(a->softcap > 0)) return max;
    max = -INFINITY;
    for (int32_t j = 0; j < n; j++) {
        s[j] = a->softcap * tanhf(s[j] / a->softcap);
        if (s[j] > max) max = s[j];
    }
    return max;
}

/* Online-softmax state of one query head over some keys: its output row (unnormalised) and sums. */
typedef struct head_state {
    const float *q;
    float *acc;
    float max, denom;
} head_state;

/* Raises a head's running maximum to `max` when that is higher, rescaling what was accumulated under
 * the old one. */
static void raise_max(const loom_attn_isa *isa, head_state *h, float max, int32_t d) {
    if (max <= h->max) return;
    float correction = expf(h->max - max);
    h->denom *= correction;
    isa->scale(h->acc, correction, d);
    h->max = max;
}

/* Folds keys [0, n) of the tile into one query head. The float operations depend only on the head's
 * query, its keys and the tile boundaries, never on the other queries sharing the tile. */
static void attend_tile(const loom_attn_isa *isa, const loom_attention_args *a, head_state *h, tile kv, int32_t n) {
    int32_t d = a->head_dim;
    float score[LOOM_ATTENTION_TILE], p[LOOM_ATTENTION_TILE];
    raise_max(isa, h, cap_scores(a, score, n, isa->scores(score, h->q, kv.k, kv.stride, n, d, a->scale)), d);
    h->denom += isa->exp_shifted(p, score, h->max, n);
    isa->accumulate(h->acc, p, kv.v, kv.stride, n, d);
}

#define TILE_HEADS 4

/* attend_tile for n_heads <= TILE_HEADS query heads, each step for all of them before the next, so that
 * their dependency chains interleave: faster for a tile in L1 (decoded into the buffers); read in place
 * from memory, one head at a time is. Each head gets the same float operations as from attend_tile. */
static void attend_tile_heads(const loom_attn_isa *isa, const loom_attention_args *a, head_state *heads,
                              int32_t n_heads, tile kv, int32_t n) {
    int32_t d = a->head_dim;
    float score[TILE_HEADS][LOOM_ATTENTION_TILE], p[TILE_HEADS][LOOM_ATTENTION_TILE], tile_max[TILE_HEADS];
    for (int32_t i = 0; i < n_heads; i++)
        tile_max[i] = cap_scores(a, score[i], n, isa->scores(score[i], heads[i].q, kv.k, kv.stride, n, d, a->scale));
    for (int32_t i = 0; i < n_heads; i++) {
        raise_max(isa, &heads[i], tile_max[i], d);
        heads[i].denom += isa->exp_shifted(p[i], score[i], heads[i].max, n);
    }
    for (int32_t i = 0; i < n_heads; i++) isa->accumulate(heads[i].acc, p[i], kv.v, kv.stride, n, d);
}

/* A query's keys lie in chunks first_chunk .. last_chunk (chunk indices from key 0; a sliding window
 * skips the chunks before its first key). */
static int32_t first_chunk(const loom_attention_args *a, int64_t t) {
    return first_key(a, a->pos[t]) / LOOM_ATTENTION_CHUNK;
}
static int32_t last_chunk(const loom_attention_args *a, int64_t t) { return a->pos[t] / LOOM_ATTENTION_CHUNK; }
static int32_t chunks_of(const loom_attention_args *a, int64_t t) { return last_chunk(a, t) - first_chunk(a, t) + 1; }
static int reaches_chunk(const loom_attention_args *a, int64_t t, int32_t c) {
    return c >= first_chunk(a, t) && c <= last_chunk(a, t);
}

/* Query tokens [t0, t0 + n_queries) (one sequence, consecutive positions) x one KV head, chunk `chunk`:
 * heads[qi x group + g] (q and acc set by the caller) gets the chunk's state of each query head whose
 * query reaches the chunk (the others are left alone). Each tile is loaded once for all of them; a
 * query at position p sees the same tiles (tile boundaries are a function of the key index; the last
 * tile cut at key p, the first at its window's start) as it would alone. */
static void attend_chunk(const loom_attn_isa *isa, const loom_attention_args *a, int32_t t0, int32_t n_queries,
                         int32_t kv_head, int32_t chunk, head_state *heads) {
    int32_t group = a->n_heads / a->n_kv_heads, key0 = chunk * LOOM_ATTENTION_CHUNK;
    int32_t key_end = a->pos[t0 + n_queries - 1] + 1;
    if (key_end > key0 + LOOM_ATTENTION_CHUNK) key_end = key0 + LOOM_ATTENTION_CHUNK;
    int32_t keys_from = first_key(a, a->pos[t0]); /* no query of the block sees a key before it */
    const int32_t *table = a->block_tables + (int64_t)a->seq_of_token[t0] * a->max_blocks_per_seq;
    float k_buf[LOOM_ATTENTION_TILE * LOOM_ATTENTION_MAX_HEAD_DIM],
        v_buf[LOOM_ATTENTION_TILE * LOOM_ATTENTION_MAX_HEAD_DIM];
    for (int32_t i = 0; i < n_queries * group; i++)
        if (reaches_chunk(a, t0 + i / group, chunk)) {
            heads[i].max = -INFINITY, heads[i].denom = 0;
            memset(heads[i].acc, 0, (size_t)a->head_dim * sizeof(float));
        }
    for (int32_t n; key0 < key_end; key0 += n) {
        n = tile_keys(a, key0, key_end);
        if (key0 + n <= keys_from) continue; /* before every window: never loaded */
        tile kv =
            load_tile(isa, a, table[key0 / a->block_size], key0 % a->block_size, n, kv_head, n_queries, k_buf, v_buf);
        for (int32_t qi = 0; qi < n_queries; qi++) {
            /* keys [from, to) of this tile are in the query's window, at or before it */
            int32_t from = first_key(a, a->pos[t0 + qi]) - key0, to = a->pos[t0 + qi] + 1 - key0;
            if (from < 0) from = 0;
            if (to > n) to = n;
            head_state *qh = &heads[qi * group];
            tile seen = tile_from(kv, from);
            for (int32_t g = 0; to > from && g < group; g += kv.k == k_buf ? TILE_HEADS : 1) {
                if (kv.k == k_buf)
                    attend_tile_heads(isa, a, qh + g, group - g < TILE_HEADS ? group - g : TILE_HEADS, seen, to - from);
                else attend_tile(isa, a, qh + g, seen, to - from);
            }
        }
    }
}

/* total = the merge of total (the earlier chunks) and part (the next chunk). */
static void merge_chunk(const loom_attn_isa *isa, head_state *total, const head_state *part, int32_t d) {
    float max = part->max > total->max ? part->max : total->max;
    float c_total = expf(total->max - max), c_part = expf(part->max - max);
    total->denom = total->denom * c_total + part->denom * c_part;
    isa->scale(total->acc, c_total, d);
    isa->accumulate(total->acc, &c_part, part->acc, 0, 1, d);
    total->max = max;
}

static float *out_row(const loom_attention_args *a, int64_t t, int32_t head) {
    return a->out + ((int64_t)t * a->n_heads + head) * a->head_dim;
}

static const float *q_row(const loom_attention_args *a, int64_t t, int32_t head) {
    return a->q + ((int64_t)t * a->n_heads + head) * a->head_dim;
}

/* A tokens item block: the block's first chunk accumulates in the output rows, each later chunk in
 * chunk_acc and is merged in as soon as it is done. A query whose window starts in a later chunk starts
 * from the empty state there, and merging its first chunk into that gives exactly the chunk's state (the
 * empty side's factor is exp(-inf) = 0): the same floats as that chunk accumulated in place alone. */
static void attend_block(const loom_attn_isa *isa, const loom_attention_args *a, int32_t t0, int32_t n_queries,
                         int32_t kv_head) {
    int32_t d = a->head_dim, group = a->n_heads / a->n_kv_heads, n_heads = n_queries * group;
    float chunk_acc[LOOM_ATTENTION_BLOCK_HEADS * LOOM_ATTENTION_MAX_HEAD_DIM];
    head_state total[LOOM_ATTENTION_BLOCK_HEADS], part[LOOM_ATTENTION_BLOCK_HEADS];
    for (int32_t i = 0; i < n_heads; i++) {
        const float *q = q_row(a, t0 + i / group, kv_head * group + i % group);
        total[i] = (head_state){q, out_row(a, t0 + i / group, kv_head * group + i % group), -INFINITY, 0};
        part[i] = (head_state){q, chunk_acc + (int64_t)i * d, -INFINITY, 0};
    }
    int32_t first = first_chunk(a, t0), last = last_chunk(a, t0 + n_queries - 1);
    for (int32_t i = 0; i < n_heads; i++)
        if (!reaches_chunk(a, t0 + i / group, first)) memset(total[i].acc, 0, (size_t)d * sizeof(float));
    attend_chunk(isa, a, t0, n_queries, kv_head, first, total);
    for (int32_t c = first + 1; c <= last; c++) {
        attend_chunk(isa, a, t0, n_queries, kv_head, c, part);
        for (int32_t i = 0; i < n_heads; i++)
            if (reaches_chunk(a, t0 + i / group, c)) merge_chunk(isa, &total[i], &part[i], d);
    }
    for (int32_t i = 0; i < n_heads; i++) isa->scale(total[i].acc, 1.0f / total[i].denom, d);
}

/* Tokens items: the tokens t with t x n_kv + h in [i0, i1), cut into blocks of one sequence's
 * consecutive positions, token-major: each block's KV heads one after the other, so a decode token
 * (a block of one) reads its sequence's rows for every head while they are fresh in cache. Only the
 * first and last token of the range can have some of their heads outside it. */
static void run_token_items(const loom_attn_isa *isa, const loom_attention_args *a, int64_t i0, int64_t i1) {
    int64_t n_kv = a->n_kv_heads, group = a->n_heads / a->n_kv_heads;
    int64_t block_tokens = group >= LOOM_ATTENTION_BLOCK_HEADS ? 1 : LOOM_ATTENTION_BLOCK_HEADS / group;
    if (block_tokens > LOOM_ATTENTION_QUERY_BLOCK) block_tokens = LOOM_ATTENTION_QUERY_BLOCK;
    for (int64_t t = i0 / n_kv, t_end = (i1 - 1) / n_kv + 1; t < t_end;) {
        int32_t n = 1;
        while (n < block_tokens && t + n < t_end && a->seq_of_token[t + n] == a->seq_of_token[t] &&
               a->pos[t + n] == a->pos[t] + n)
            n++;
        for (int32_t h = 0; h < n_kv; h++) { /* the block's tokens whose item of head h is in the range */
            int64_t lo = (i0 - h + n_kv - 1) / n_kv, hi = (i1 - h + n_kv - 1) / n_kv;
            if (lo < t) lo = t;
            if (hi > t + n) hi = t + n;
            if (lo < hi) attend_block(isa, a, (int32_t)lo, (int32_t)(hi - lo), h);
        }
        t += n;
    }
}

/* The [head_dim + 2] floats holding chunk c (counted from the token's first chunk) of query head g (of the
 * group) of (token t, kv_head). */
static float *partial_at(const loom_attention_args *a, const loom_attention_plan *p, int64_t t, int32_t kv_head,
                         int32_t g, int32_t c) {
    int64_t group = a->n_heads / a->n_kv_heads, n_chunks = chunks_of(a, t);
    int64_t slot = group * p->chunk_item[t] + ((int64_t)kv_head * group + g) * n_chunks + c;
    return p->partials + slot * (a->head_dim + 2);
}

/* One chunks item: chunk c of (token t, kv_head) to its partials; the last of the token's chunks to
 * finish merges them all, in chunk order, into the output. */
static void run_chunk_item(const loom_attn_isa *isa, const loom_attention_args *a, const loom_attention_plan *p,
                           int64_t t, int32_t kv_head, int32_t c) {
    int32_t d = a->head_dim, group = a->n_heads / a->n_kv_heads, n_chunks = chunks_of(a, t);
    head_state heads[LOOM_ATTENTION_MAX_GROUP];
    for (int32_t g = 0; g < group; g++)
        heads[g] = (head_state){q_row(a, t, kv_head * group + g), partial_at(a, p, t, kv_head, g, c), -INFINITY, 0};
    attend_chunk(isa, a, (int32_t)t, 1, kv_head, first_chunk(a, t) + c, heads);
    for (int32_t g = 0; g < group; g++) heads[g].acc[d] = heads[g].max, heads[g].acc[d + 1] = heads[g].denom;
    if (atomic_fetch_sub_explicit(&p->chunks_left[t * a->n_kv_heads + kv_head], 1, memory_order_acq_rel) != 1) return;
    for (int32_t g = 0; g < group; g++) {
        float *out = out_row(a, t, kv_head * group + g), *first = partial_at(a, p, t, kv_head, g, 0);
        memcpy(out, first, (size_t)d * sizeof(float));
        head_state total = {NULL, out, first[d], first[d + 1]};
        for (int32_t k = 1; k < n_chunks; k++) {
            float *part = partial_at(a, p, t, kv_head, g, k);
            merge_chunk(isa, &total, &(head_state){NULL, part, part[d], part[d + 1]}, d);
        }
        isa->scale(out, 1.0f / total.denom, d);
    }
}

void cpu_attention_items(const loom_attn_isa *isa, const loom_attention_args *a, const loom_attention_plan *p,
                         int64_t i0, int64_t i1) {
    if (!p->chunk_item) {
        run_token_items(isa, a, i0, i1);
        return;
    }
    int64_t t = 0, hi = a->n_tokens; /* the token of item i0: chunk_item[t] <= i0 < chunk_item[t + 1] */
    while (hi - t > 1) {
        int64_t mid = (t + hi) / 2;
        if (p->chunk_item[mid] <= i0) t = mid;
        else hi = mid;
    }
    for (int64_t i = i0; i < i1; i++) {
        while (p->chunk_item[t + 1] <= i) t++;
        int32_t n_chunks = chunks_of(a, t);
        int64_t r = i - p->chunk_item[t];
        run_chunk_item(isa, a, p, t, (int32_t)(r / n_chunks), (int32_t)(r % n_chunks));
    }
}

/* ---- plans ---- */

void cpu_attention_plan_tokens(loom_attention_plan *p, const loom_attention_args *a, int n_threads) {
    int64_t tokens = a->n_tokens / (4 * (int64_t)n_threads);
    if (tokens > LOOM_ATTENTION_QUERY_BLOCK) tokens = LOOM_ATTENTION_QUERY_BLOCK;
    *p = (loom_attention_plan){.n_items = (int64_t)a->n_tokens * a->n_kv_heads,
                               .grain = tokens > 1 ? tokens * a->n_kv_heads : 1}; /* few tokens: heads spread */
}

int cpu_attention_plan_chunks(loom_attention_plan *p, const loom_attention_args *a, int n_threads) {
    int64_t n_chunks = 0, n_pairs = (int64_t)a->n_tokens * a->n_kv_heads;
    for (int64_t t = 0; t < a->n_tokens; t++) n_chunks += chunks_of(a, t);
    size_t partial_bytes = (size_t)n_chunks * (size_t)a->n_heads * (size_t)(a->head_dim + 2) * sizeof(float);
    size_t index_bytes = (size_t)(a->n_tokens + 1) * sizeof(int64_t), left_bytes = (size_t)n_pairs * sizeof(atomic_int);
    uint8_t *mem = malloc(index_bytes + left_bytes + partial_bytes); /* in this order: each part stays aligned */
    if (!mem) {
        cpu_attention_plan_tokens(p, a, n_threads);
        return 0;
    }
    *p = (loom_attention_plan){.grain = 1,
                               .chunk_item = (int64_t *)mem,
                               .chunks_left = (atomic_int *)(mem + index_bytes),
                               .partials = (float *)(mem + index_bytes + left_bytes)};
    p->chunk_item[0] = 0;
    for (int64_t t = 0; t < a->n_tokens; t++) {
        p->chunk_item[t + 1] = p->chunk_item[t] + (int64_t)a->n_kv_heads * chunks_of(a, t);
        for (int32_t h = 0; h < a->n_kv_heads; h++)
            atomic_init(&p->chunks_left[t * a->n_kv_heads + h], chunks_of(a, t));
    }
    p->n_items = p->chunk_item[a->n_tokens];
    return 1;
}

void cpu_attention_plan(loom_attention_plan *p, const loom_attention_args *a, int n_threads) {
    int32_t max_chunks = 0;
    int decode_rows = 1; /* every token the only query of its sequence (no query blocks to share tiles) */
    for (int64_t t = 0; t < a->n_tokens; t++) {
        if (chunks_of(a, t) > max_chunks) max_chunks = chunks_of(a, t);
        if (t > 0 && a->seq_of_token[t] == a->seq_of_token[t - 1]) decode_rows = 0;
    }
    int few_pairs = (int64_t)a->n_tokens * a->n_kv_heads < 8 * (int64_t)n_threads;
    if (n_threads > 1 && (few_pairs || decode_rows) && max_chunks > 1) cpu_attention_plan_chunks(p, a, n_threads);
    else cpu_attention_plan_tokens(p, a, n_threads);
}

void cpu_attention_plan_free(loom_attention_plan *p) {
    free(p->chunk_item); /* the start of the one allocation */
    *p = (loom_attention_plan){0};
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
        case LOOM_KV_F16: return f16_to_f32(load_u16(row + 2 * i));
        case LOOM_KV_BF16: return bf16_to_f32(load_u16(row + 2 * i));
        case LOOM_KV_INT8:
            if (part == KEYS) {
                scale = key_channel_scales(a, block) + 2 * ((size_t)kv_head * (size_t)a->head_dim + (size_t)i);
                zero_at = 2 * (size_t)a->n_kv_heads * (size_t)a->head_dim;
            } else {
                scale = value_scale_at(a, block, offset, kv_head);
                zero_at = 2 * (size_t)a->block_size * (size_t)a->n_kv_heads;
            }
            return (double)f16_to_f32(load_u16(scale)) * (int8_t)row[i] + f16_to_f32(load_u16(scale + zero_at));
        default: return (double)fp8_scale_at(a, part, block, offset, kv_head) * fp8_e4m3_to_f32(row[i]);
    }
}

/* The scaled (and soft-capped) score of key j for query row q. */
static double naive_score(const loom_attention_args *a, const float *q, int32_t j, const int32_t *table,
                          int32_t kv_head) {
    double s = 0;
    for (int32_t i = 0; i < a->head_dim; i++) s += (double)q[i] * element_at(a, KEYS, j, table, kv_head, i);
    s *= a->scale;
    return a->softcap > 0 ? a->softcap * tanh(s / a->softcap) : s;
}

void cpu_attention_naive(const loom_attention_args *a) {
    int32_t d = a->head_dim, group = a->n_heads / a->n_kv_heads;
    for (int32_t t = 0; t < a->n_tokens; t++) {
        const int32_t *table = a->block_tables + (int64_t)a->seq_of_token[t] * a->max_blocks_per_seq;
        int32_t key0 = first_key(a, a->pos[t]), n_keys = a->pos[t] + 1;
        for (int32_t h = 0; h < a->n_heads; h++) {
            int32_t kv_head = h / group;
            const float *q = a->q + ((int64_t)t * a->n_heads + h) * d;
            float *out = a->out + ((int64_t)t * a->n_heads + h) * d;
            double max = -INFINITY, z = 0, acc[LOOM_ATTENTION_MAX_HEAD_DIM] = {0};
            for (int32_t j = key0; j < n_keys; j++) {
                double s = naive_score(a, q, j, table, kv_head);
                if (s > max) max = s;
            }
            for (int32_t j = key0; j < n_keys; j++) {
                double p = exp(naive_score(a, q, j, table, kv_head) - max);
                z += p;
                for (int32_t i = 0; i < d; i++) acc[i] += p * element_at(a, VALUES, j, table, kv_head, i);
            }
            for (int32_t i = 0; i < d; i++) out[i] = (float)(acc[i] / z);
        }
    }
}
