#include "kv/kv_store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/fp8.h"
#include "core/sysmem.h"
#include "core/tensor.h"
#include "kv/kv_int8.h"

/* token_scale_bytes: per token and KV head (K and V together); channel_bytes: per block and channel */
static const struct {
    const char *name;
    size_t bytes, token_scale_bytes, channel_bytes;
} kv_types[] = {
    [LOOM_KV_F32] = {"f32", 4, 0, 0},
    [LOOM_KV_F16] = {"f16", 2, 0, 0},
    [LOOM_KV_BF16] = {"bf16", 2, 0, 0},
    [LOOM_KV_INT8] = {"int8", 1, LOOM_KV_INT8_PARAM_BYTES, LOOM_KV_INT8_PARAM_BYTES},
    [LOOM_KV_FP8_E4M3] = {"fp8", 1, 2 * sizeof(float), 0},
};

#define N_KV_TYPES ((int)(sizeof kv_types / sizeof kv_types[0]))

const char *loom_kv_dtype_name(loom_kv_dtype t) {
    return t == LOOM_KV_AUTO ? "auto" : t >= 0 && (int)t < N_KV_TYPES ? kv_types[t].name : "unknown";
}

int loom_kv_dtype_parse(const char *s) {
    if (strcmp(s, "auto") == 0) return LOOM_KV_AUTO;
    if (strcmp(s, "fp8_e4m3") == 0) return LOOM_KV_FP8_E4M3;
    for (int t = 0; t < N_KV_TYPES; t++)
        if (strcmp(s, kv_types[t].name) == 0) return t;
    return -2;
}

size_t kv_bytes_per_token(int32_t n_layers, int32_t n_kv_heads, int32_t head_dim, loom_kv_dtype t, int32_t block_size) {
    size_t kv_dim = (size_t)n_kv_heads * (size_t)head_dim, per_block = kv_dim * kv_types[t].channel_bytes;
    size_t per_layer = 2 * kv_dim * kv_types[t].bytes + (size_t)n_kv_heads * kv_types[t].token_scale_bytes +
        (per_block + (size_t)block_size - 1) / (size_t)block_size;
    return (size_t)n_layers * per_layer;
}

#define HUGE_PAGE_BYTES ((size_t)2 << 20)

/* bytes of zero pages starting on a 2 MiB boundary, advised onto transparent huge pages (a batched decode
 * step reads a few KiB of each sequence's blocks in every layer; with 4 KiB pages each of those reads is
 * a TLB miss), then faulted in at once (the pool's memory is taken now, not as traffic grows). *map /
 * *map_bytes get what to munmap. */
static uint8_t *map_prefaulted(size_t bytes, void **map, size_t *map_bytes) {
    size_t len = bytes + HUGE_PAGE_BYTES;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    uint8_t *start = (uint8_t *)(((uintptr_t)p + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1));
    madvise(p, len, MADV_HUGEPAGE); /* a hint: may be refused */
    /* a write per page, each its own short fault (MADV_POPULATE_WRITE would hold the address space's lock
     * for the whole pool: the server's other threads stalled on their allocations for seconds) */
    for (size_t i = 0; i < bytes; i += 4096) ((volatile uint8_t *)start)[i] = 0;
    *map = p;
    *map_bytes = len;
    return start;
}

loom_status kv_store_init(loom_kv_store *s, int32_t n_layers, int32_t n_kv_heads, int32_t head_dim, loom_kv_dtype dtype,
                          int32_t n_blocks, int32_t block_size, loom_error *err) {
    memset(s, 0, sizeof *s);
    if ((unsigned)dtype > LOOM_KV_FP8_E4M3)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "unknown KV cache dtype %d", (int)dtype);
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
    s->layer_bytes = (size_t)block_size * kv_bytes_per_token(1, n_kv_heads, head_dim, dtype, block_size);
    s->block_bytes = s->layer_bytes * (size_t)n_layers;
    size_t total = s->block_bytes * (size_t)n_blocks;
    if (total / (size_t)n_blocks != s->block_bytes || total > ((size_t)1 << 42)) {
        memset(s, 0, sizeof *s);
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "KV cache of %d blocks is too large", n_blocks);
    }
    /* the whole pool is touched now, so resident memory does not creep up under load and a pool the
     * machine cannot hold fails here, named, instead of an OOM kill later */
    uint64_t available = sysmem_available_bytes();
    if (available && total > available) {
        memset(s, 0, sizeof *s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY,
                         "a KV cache of %.2f GiB (%d blocks) does not fit in the %.2f GiB of memory available: lower "
                         "kv_cache_memory, num_kv_blocks or max_model_len",
                         (double)total / (1 << 30), n_blocks, (double)available / (1 << 30));
    }
    s->data = map_prefaulted(total, &s->map, &s->map_bytes);
    if (!s->data) {
        memset(s, 0, sizeof *s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a KV cache of %zu bytes", total);
    }
    return LOOM_OK;
}

void kv_store_destroy(loom_kv_store *s) {
    if (s->map) munmap(s->map, s->map_bytes);
    memset(s, 0, sizeof *s);
}

size_t kv_store_bytes(const loom_kv_store *s) { return s->block_bytes * (size_t)s->n_blocks; }

uint8_t *kv_block(const loom_kv_store *s, int32_t block) { return s->data + (size_t)block * s->block_bytes; }

loom_kv_layer kv_layer_view(const loom_kv_store *s, int32_t layer) {
    uint8_t *base = s->data + (size_t)layer * s->layer_bytes;
    size_t rows_bytes = (size_t)s->block_size * (size_t)s->kv_dim * s->elem_bytes;
    loom_kv_layer L = {.k = base, .v = base + rows_bytes, .block_stride_bytes = s->block_bytes};
    if (s->dtype == LOOM_KV_INT8) {
        L.k_scales = base + 2 * rows_bytes;
        L.v_scales = L.k_scales + (size_t)s->kv_dim * LOOM_KV_INT8_PARAM_BYTES;
    } else if (s->dtype == LOOM_KV_FP8_E4M3) {
        L.k_scales = base + 2 * rows_bytes;
        L.v_scales = L.k_scales + (size_t)s->block_size * (size_t)s->n_kv_heads * sizeof(float);
    }
    return L;
}

/* One head's row of a per-token type (floats, fp8); fp8 also writes its scale. */
static void encode_token_head(loom_kv_dtype t, const float *x, int32_t n, uint8_t *dst, uint8_t *scale_dst) {
    float amax = 0, scale, inv;
    switch (t) {
        case LOOM_KV_F32: memcpy(dst, x, (size_t)n * sizeof(float)); return;
        case LOOM_KV_F16:
        case LOOM_KV_BF16:
            for (int32_t i = 0; i < n; i++) {
                uint16_t h = t == LOOM_KV_F16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
                memcpy(dst + 2 * i, &h, 2);
            }
            return;
        default: /* fp8 e4m3 */
            for (int32_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
            scale = amax / LOOM_FP8_E4M3_MAX;
            inv = scale > 0 ? 1.0f / scale : 0;
            for (int32_t i = 0; i < n; i++) dst[i] = f32_to_fp8_e4m3(x[i] * inv);
            memcpy(scale_dst, &scale, sizeof scale);
            return;
    }
}

/* int8: the token's keys extend the block's per-channel grids, its values get one grid per KV head. */
static void write_int8(const loom_kv_store *s, const loom_kv_layer *L, size_t block_at, int32_t offset, const float *k,
                       const float *v) {
    size_t kv_dim = (size_t)s->kv_dim, hd = (size_t)s->head_dim;
    uint8_t *k_scales = L->k_scales + block_at, *v_scales = L->v_scales + block_at;
    kv_int8_append_channels(k, s->kv_dim, offset, (int8_t *)(L->k + block_at), kv_dim, k_scales, k_scales + 2 * kv_dim);
    int8_t *v_row = (int8_t *)(L->v + block_at) + (size_t)offset * kv_dim;
    size_t v_zeros_at = 2 * (size_t)s->block_size * (size_t)s->n_kv_heads;
    for (int32_t h = 0; h < s->n_kv_heads; h++) {
        size_t at = 2 * ((size_t)h * (size_t)s->block_size + (size_t)offset); /* [n_kv_heads][block_size] */
        kv_int8_encode_group(v + h * hd, s->head_dim, v_row + h * hd, v_scales + at, v_scales + v_zeros_at + at);
    }
}

void kv_store_write(const loom_kv_store *s, int32_t layer, int64_t slot, const float *k, const float *v) {
    loom_kv_layer L = kv_layer_view(s, layer);
    int32_t offset = (int32_t)(slot % s->block_size);
    size_t block_at = (size_t)(slot / s->block_size) * L.block_stride_bytes;
    if (s->dtype == LOOM_KV_INT8) {
        write_int8(s, &L, block_at, offset, k, v);
        return;
    }
    size_t hd = (size_t)s->head_dim, head_bytes = hd * s->elem_bytes, row_bytes = (size_t)s->kv_dim * s->elem_bytes;
    uint8_t *k_row = L.k + block_at + (size_t)offset * row_bytes, *v_row = L.v + block_at + (size_t)offset * row_bytes;
    for (int32_t h = 0; h < s->n_kv_heads; h++) {
        size_t scale_at = block_at + ((size_t)offset * (size_t)s->n_kv_heads + (size_t)h) * sizeof(float);
        encode_token_head(s->dtype, k + h * hd, s->head_dim, k_row + h * head_bytes,
                          L.k_scales ? L.k_scales + scale_at : NULL);
        encode_token_head(s->dtype, v + h * hd, s->head_dim, v_row + h * head_bytes,
                          L.v_scales ? L.v_scales + scale_at : NULL);
    }
}
