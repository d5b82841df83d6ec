/* Binding checkpoint tensors to the weights struct, with every shape and dtype checked once here so
 * the forward pass never checks again. Only this process's shard is bound (weight_slices.h): row slices
 * of a mapped file are pointers into the map, column slices are copied into owned buffers (and the
 * source pages released from the resident set), dummy weights are generated for the slice alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/cpu/rowops.h"
#include "model/model.h"
#include "model/quant_load.h"
#include "model/weight_slices.h"

loom_status loom_model_own(loom_model *m, void *p, loom_error *err) {
    void **grown = realloc(m->owned, (m->n_owned + 1) * sizeof *grown);
    if (!grown) {
        free(p);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    m->owned = grown;
    m->owned[m->n_owned++] = p;
    return LOOM_OK;
}

typedef struct binder {
    loom_model *m;
    const char *source;
    loom_error *err;
} binder;

static loom_status owned_buffer(binder *b, size_t bytes, const char *name, void **out) {
    *out = malloc(bytes ? bytes : 1);
    if (!*out) return loom_fail(b->err, LOOM_ERR_NO_MEMORY, "out of memory for tensor '%s'", name);
    return loom_model_own(b->m, *out, b->err);
}

/* Drops the whole pages inside [p, p + n) from the resident set when they belong to a file mapping:
 * the bytes stay in the file (and the page cache) and would come back if read again. */
static void release_mapped_pages(const loom_model *m, const uint8_t *p, size_t n) {
    int mapped = 0;
    for (size_t i = 0; i < m->n_maps && !mapped; i++)
        mapped = p >= m->maps[i].data && p + n <= m->maps[i].data + m->maps[i].size_bytes;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t begin = ((uintptr_t)p + page - 1) & ~(page - 1), end = ((uintptr_t)p + n) & ~(page - 1);
    if (mapped && end > begin) madvise((void *)begin, end - begin, MADV_DONTNEED);
}

void loom_model_release(loom_model *m, const void *p, size_t n) {
    for (size_t i = 0; i < m->n_owned; i++) {
        if (m->owned[i] != p) continue;
        free(m->owned[i]);
        m->owned[i] = m->owned[--m->n_owned];
        return;
    }
    release_mapped_pages(m, p, n);
}

/* A norm or bias: the kept elements as an owned float32 vector. */
static loom_status bind_vector(binder *b, const loom_weight_slice *s, const loom_tensor_entry *e) {
    int64_t row_begin, n_rows, col_begin, n;
    loom_weight_slice_bounds(s, &row_begin, &n_rows, &col_begin, &n);
    float *v;
    loom_status st = owned_buffer(b, (size_t)n * sizeof(float), s->name, (void **)&v);
    if (st != LOOM_OK) return st;
    if (b->m->dummy_weights) loom_dummy_fill(b->m->dummy_seed, e, 0, 1, col_begin, n, v);
    else loom_dequant_row(e->dtype, e->data + loom_dtype_bytes(e->dtype, col_begin), v, n);
    *s->dst = (loom_tensor){.data = v, .dtype = LOOM_DTYPE_F32, .n_dims = 1, .shape = {n}, .row_stride_bytes = (size_t)n * 4};
    return LOOM_OK;
}

/* A weight matrix of any dtype the kernels support, in the kept part's shape. */
static loom_status bind_matrix(binder *b, const loom_weight_slice *s, const loom_tensor_entry *e) {
    int64_t row_begin, rows, col_begin, cols;
    loom_weight_slice_bounds(s, &row_begin, &rows, &col_begin, &cols);
    loom_dtype dtype = b->m->dummy_weights ? LOOM_DTYPE_F32 : e->dtype;
    size_t row_bytes = loom_dtype_bytes(dtype, cols), full_row_bytes = loom_dtype_bytes(dtype, s->cols);
    const uint8_t *data;
    loom_status st = LOOM_OK;
    if (b->m->dummy_weights) {
        float *values;
        if ((st = owned_buffer(b, row_bytes * (size_t)rows, s->name, (void **)&values)) != LOOM_OK) return st;
        loom_dummy_fill(b->m->dummy_seed, e, row_begin, rows, col_begin, cols, values);
        data = (const uint8_t *)values;
    } else if (s->axis == LOOM_SLICE_COLS) { /* a copy, requantized when the slice splits blocks (quant_load.h) */
        uint8_t *copy;
        dtype = loom_column_slice_dtype(e->dtype, col_begin, cols);
        row_bytes = loom_dtype_bytes(dtype, cols);
        if ((st = owned_buffer(b, row_bytes * (size_t)rows, s->name, (void **)&copy)) != LOOM_OK) return st;
        st = loom_slice_columns(e->dtype, e->data, rows, s->cols, col_begin, cols, dtype, copy, b->err);
        if (st != LOOM_OK) return st;
        release_mapped_pages(b->m, e->data, e->size_bytes);
        data = copy;
    } else {
        data = e->data + (size_t)row_begin * full_row_bytes;
    }
    *s->dst = (loom_tensor){.data = data, .dtype = dtype, .n_dims = 2, .shape = {rows, cols}, .row_stride_bytes = row_bytes};
    return LOOM_OK;
}

static loom_status bind_slice(void *ctx, const loom_weight_slice *s) {
    binder *b = ctx;
    memset(s->dst, 0, sizeof *s->dst);
    const loom_tensor_entry *e = loom_tensor_table_find(&b->m->tensors, s->name);
    if (!e) return s->optional ? LOOM_OK : loom_fail(b->err, LOOM_ERR_FORMAT, "%s: missing tensor '%s'", b->source, s->name);
    size_t kept_bytes = 0;
    loom_status st = loom_weight_slice_check(s, e, b->source, b->m->shard.tp_size, &kept_bytes, b->err);
    if (st != LOOM_OK) return st;
    b->m->info.shard_weight_bytes += kept_bytes;
    return s->is_vector ? bind_vector(b, s, e) : bind_matrix(b, s, e);
}

/* inv_freq[i] = theta^(-2i/d), computed in float32 as HF does, then llama3-rescaled (HF's
 * _compute_llama3_parameters) or divided by GGUF's rope_freqs factors. */
static loom_status bind_rope(binder *b) {
    const loom_config *c = &b->m->cfg;
    int32_t half = c->head_dim / 2;
    float *inv = malloc((size_t)half * sizeof(float));
    if (!inv) return loom_fail(b->err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = loom_model_own(b->m, inv, b->err);
    if (st != LOOM_OK) return st;
    for (int32_t i = 0; i < half; i++) inv[i] = 1.0f / powf(c->rope_theta, (float)(2 * i) / (float)c->head_dim);
    if (c->rope_scaling_llama3) {
        float old_len = (float)c->rope_original_max_position;
        float low_wavelen = old_len / c->rope_low_freq_factor, high_wavelen = old_len / c->rope_high_freq_factor;
        for (int32_t i = 0; i < half; i++) {
            float wavelen = 2.0f * (float)M_PI / inv[i];
            if (wavelen > low_wavelen) {
                inv[i] /= c->rope_factor;
            } else if (wavelen >= high_wavelen) {
                float smooth = (old_len / wavelen - c->rope_low_freq_factor) /
                               (c->rope_high_freq_factor - c->rope_low_freq_factor);
                inv[i] = (1.0f - smooth) * inv[i] / c->rope_factor + smooth * inv[i];
            }
        }
    }
    const loom_tensor_entry *f = b->m->naming == LOOM_NAMES_GGUF ? loom_tensor_table_find(&b->m->tensors, "rope_freqs.weight") : NULL;
    if (f) {
        if (f->dtype != LOOM_DTYPE_F32 || f->n_dims != 1 || f->shape[0] != half)
            return loom_fail(b->err, LOOM_ERR_FORMAT, "%s: tensor 'rope_freqs.weight' must be f32 [%d]", b->source, half);
        const float *factors = (const float *)f->data;
        for (int32_t i = 0; i < half; i++) {
            if (!(factors[i] > 0))
                return loom_fail(b->err, LOOM_ERR_FORMAT, "%s: rope_freqs.weight holds a non-positive factor", b->source);
            inv[i] /= factors[i];
        }
    }
    b->m->w.rope_inv_freq = inv;
    return LOOM_OK;
}

loom_status loom_weights_bind(loom_model *m, loom_tensor_naming naming, const char *source, loom_error *err) {
    binder b = {m, source, err};
    const loom_config *c = &m->cfg;
    loom_weights *w = &m->w;
    m->naming = naming;
    m->info.shard_weight_bytes = 0;
    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!w->layers) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = loom_shard_for_each_weight(c, &m->shard, naming, w, bind_slice, &b);
    if (st != LOOM_OK) return st;
    if (c->tie_word_embeddings && loom_shard_last_stage(&m->shard)) w->lm_head = w->tok_embed;
    return bind_rope(&b);
}
