#include "kv/kv_store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp8.h"
#include "core/tensor.h"

static const struct { const char *name; size_t bytes, scale_bytes; } kv_types[] = {
    [LOOM_KV_F32] = {"f32", 4, 0}, [LOOM_KV_F16] = {"f16", 2, 0}, [LOOM_KV_BF16] = {"bf16", 2, 0},
    [LOOM_KV_INT8] = {"int8", 1, 8}, [LOOM_KV_FP8_E4M3] = {"fp8", 1, 4},
};

const char *loom_kv_dtype_name(loom_kv_dtype t) { return kv_types[t].name; }
size_t loom_kv_dtype_bytes(loom_kv_dtype t) { return kv_types[t].bytes; }
size_t loom_kv_scale_bytes(loom_kv_dtype t) { return kv_types[t].scale_bytes; }

int loom_kv_dtype_parse(const char *s) {
    if (strcmp(s, "fp8_e4m3") == 0) return LOOM_KV_FP8_E4M3;
    for (int t = 0; t < (int)(sizeof kv_types / sizeof kv_types[0]); t++)
        if (strcmp(s, kv_types[t].name) == 0) return t;
    return -1;
}

size_t loom_kv_bytes_per_token(int32_t n_layers, int32_t n_kv_heads, int32_t head_dim, loom_kv_dtype t) {
    return 2 * (size_t)n_layers * (size_t)n_kv_heads * ((size_t)head_dim * kv_types[t].bytes + kv_types[t].scale_bytes);
}

loom_status loom_kv_store_init(loom_kv_store *s, int32_t n_layers, int32_t n_kv_heads, int32_t head_dim,
                               loom_kv_dtype dtype, int32_t n_blocks, int32_t block_size, loom_error *err) {
    memset(s, 0, sizeof *s);
    if ((unsigned)dtype > LOOM_KV_FP8_E4M3) return loom_fail(err, LOOM_ERR_INVALID_ARG, "unknown KV cache dtype %d", (int)dtype);
    if (n_blocks <= 0 || block_size <= 0 || n_layers <= 0 || n_kv_heads <= 0 || head_dim <= 0 || head_dim % 2)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "KV cache needs blocks, layers and an even head_dim");
    s->n_layers = n_layers;
    s->n_blocks = n_blocks;
    s->block_size = block_size;
    s->n_kv_heads = n_kv_heads;
    s->head_dim = head_dim;
    s->kv_dim = n_kv_heads * head_dim;
    s->dtype = dtype;
    s->elem_bytes = kv_types[dtype].bytes;
    s->layer_bytes = (size_t)block_size * loom_kv_bytes_per_token(1, n_kv_heads, head_dim, dtype);
    s->block_bytes = s->layer_bytes * (size_t)n_layers;
    size_t total = s->block_bytes * (size_t)n_blocks;
    if (total / (size_t)n_blocks != s->block_bytes || total > ((size_t)1 << 42)) {
        memset(s, 0, sizeof *s);
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "KV cache of %d blocks is too large", n_blocks);
    }
    s->data = calloc(total, 1);
    if (!s->data) {
        memset(s, 0, sizeof *s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a KV cache of %zu bytes", total);
    }
    return LOOM_OK;
}

void loom_kv_store_destroy(loom_kv_store *s) {
    free(s->data);
    memset(s, 0, sizeof *s);
}

size_t loom_kv_store_bytes(const loom_kv_store *s) { return s->block_bytes * (size_t)s->n_blocks; }

uint8_t *loom_kv_block(const loom_kv_store *s, int32_t block) { return s->data + (size_t)block * s->block_bytes; }

loom_kv_layer loom_kv_layer_view(const loom_kv_store *s, int32_t layer) {
    uint8_t *base = s->data + (size_t)layer * s->layer_bytes;
    size_t rows_bytes = (size_t)s->block_size * (size_t)s->kv_dim * s->elem_bytes;
    size_t scales_bytes = (size_t)s->block_size * (size_t)s->n_kv_heads * kv_types[s->dtype].scale_bytes;
    int quantized = kv_types[s->dtype].scale_bytes != 0;
    return (loom_kv_layer){
        .k = base, .v = base + rows_bytes,
        .k_scales = quantized ? base + 2 * rows_bytes : NULL,
        .v_scales = quantized ? base + 2 * rows_bytes + scales_bytes : NULL,
        .block_stride_bytes = s->block_bytes,
    };
}

/* One head's row: float32 -> the store's dtype; fills scale[0] (and for int8 the zero point scale[1]). */
static void encode_head(loom_kv_dtype t, const float *x, int32_t n, uint8_t *dst, float *scale) {
    float amax = 0, lo = x[0], hi = x[0], inv;
    switch (t) {
    case LOOM_KV_F32:
        memcpy(dst, x, (size_t)n * sizeof(float));
        return;
    case LOOM_KV_F16:
    case LOOM_KV_BF16:
        for (int32_t i = 0; i < n; i++) {
            uint16_t h = t == LOOM_KV_F16 ? loom_f32_to_f16(x[i]) : loom_f32_to_bf16(x[i]);
            memcpy(dst + 2 * i, &h, 2);
        }
        return;
    case LOOM_KV_INT8: /* asymmetric: x = scale x q + zero, q in -128..127 spans [min, max] */
        for (int32_t i = 1; i < n; i++) lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
        scale[0] = (hi - lo) / 255.0f;
        scale[1] = lo + 128.0f * scale[0];
        inv = scale[0] > 0 ? 1.0f / scale[0] : 0;
        for (int32_t i = 0; i < n; i++) {
            long q = lrintf((x[i] - scale[1]) * inv);
            ((int8_t *)dst)[i] = (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
        }
        return;
    default:
        for (int32_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
        scale[0] = amax / LOOM_FP8_E4M3_MAX;
        inv = scale[0] > 0 ? 1.0f / scale[0] : 0;
        for (int32_t i = 0; i < n; i++) dst[i] = loom_f32_to_fp8_e4m3(x[i] * inv);
        return;
    }
}

void loom_kv_store_write(const loom_kv_store *s, int32_t layer, int64_t slot, const float *k, const float *v) {
    loom_kv_layer L = loom_kv_layer_view(s, layer);
    int64_t block = slot / s->block_size, offset = slot % s->block_size;
    size_t block_at = (size_t)block * L.block_stride_bytes, row_bytes = (size_t)s->kv_dim * s->elem_bytes;
    uint8_t *k_row = L.k + block_at + (size_t)offset * row_bytes, *v_row = L.v + block_at + (size_t)offset * row_bytes;
    size_t scale_bytes = kv_types[s->dtype].scale_bytes;
    for (int32_t h = 0; h < s->n_kv_heads; h++) {
        size_t at = (size_t)h * (size_t)s->head_dim;
        float k_scale[2], v_scale[2];
        encode_head(s->dtype, k + at, s->head_dim, k_row + at * s->elem_bytes, k_scale);
        encode_head(s->dtype, v + at, s->head_dim, v_row + at * s->elem_bytes, v_scale);
        if (!L.k_scales) continue;
        size_t scale_at = block_at + ((size_t)offset * (size_t)s->n_kv_heads + (size_t)h) * scale_bytes;
        memcpy(L.k_scales + scale_at, k_scale, scale_bytes);
        memcpy(L.v_scales + scale_at, v_scale, scale_bytes);
    }
}
