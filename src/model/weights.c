/* Binding checkpoint tensors to the weights struct, with every shape and dtype checked once here so
 * the forward pass never checks again. Only this process's shard is bound (weight_slices.h): row slices
 * of a mapped file are pointers into the map, column slices are copied into owned buffers (and the
 * source pages released from the resident set), dummy weights are generated for the slice alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/weight_prep.h"
#include "model/model.h"
#include "model/quant_load.h"
#include "model/weight_slices.h"

typedef struct binder {
    loom_model *m;
    const char *source;
    loom_error *err;
} binder;

static loom_status owned_buffer(binder *b, size_t bytes, const char *name, void **out) {
    *out = malloc(bytes ? bytes : 1);
    if (!*out) return loom_fail(b->err, LOOM_ERR_NO_MEMORY, "out of memory for tensor '%s'", name);
    return model_own(b->m, *out, b->err);
}

/* Dummy values of a matrix slice in the entry's dtype (F32, F16 or BF16: a config's torch_dtype), generated
 * as float32 one row at a time. */
static loom_status dummy_rows(binder *b, const loom_tensor_entry *e, int64_t row_begin, int64_t rows, int64_t col_begin,
                              int64_t cols, uint8_t *out) {
    float *row = e->dtype == LOOM_DTYPE_F32 ? NULL : malloc((size_t)cols * sizeof *row);
    if (e->dtype != LOOM_DTYPE_F32 && !row)
        return loom_fail(b->err, LOOM_ERR_NO_MEMORY, "out of memory for dummy weights of %s", e->name);
    for (int64_t r = 0; r < rows; r++) {
        float *dst = row ? row : (float *)out + r * cols;
        dummy_fill(b->m->dummy_seed, e, row_begin + r, 1, col_begin, cols, dst);
        uint16_t *half = (uint16_t *)out + r * cols;
        for (int64_t c = 0; row && c < cols; c++)
            half[c] = e->dtype == LOOM_DTYPE_BF16 ? f32_to_bf16(row[c]) : f32_to_f16(row[c]);
    }
    free(row);
    return LOOM_OK;
}

/* A norm or bias: the kept elements as an owned float32 vector. */
static loom_status bind_vector(binder *b, const loom_weight_slice *s, const loom_tensor_entry *e) {
    int64_t row_begin, n_rows, col_begin, n;
    weight_slice_bounds(s, &row_begin, &n_rows, &col_begin, &n);
    float *v;
    loom_status st = owned_buffer(b, (size_t)n * sizeof(float), s->name, (void **)&v);
    if (st != LOOM_OK) return st;
    if (b->m->dummy_weights) dummy_fill(b->m->dummy_seed, e, 0, 1, col_begin, n, v);
    else weight_prep_dequant_row(e->dtype, e->data + dtype_bytes(e->dtype, col_begin), v, n);
    if (s->is_norm && b->m->cfg.norm_weight_offset != 0)
        for (int64_t i = 0; i < n; i++) v[i] += b->m->cfg.norm_weight_offset;
    *s->dst =
        (loom_tensor){.data = v, .dtype = LOOM_DTYPE_F32, .n_dims = 1, .shape = {n}, .row_stride_bytes = (size_t)n * 4};
    return LOOM_OK;
}

/* A weight matrix of any dtype the kernels support, in the kept part's shape. */
static loom_status bind_matrix(binder *b, const loom_weight_slice *s, const loom_tensor_entry *e) {
    int64_t row_begin, rows, col_begin, cols;
    weight_slice_bounds(s, &row_begin, &rows, &col_begin, &cols);
    loom_dtype dtype = e->dtype;
    size_t row_bytes = dtype_bytes(dtype, cols), full_row_bytes = dtype_bytes(dtype, s->cols);
    int64_t slab_row = s->slab * s->rows; /* the slice's matrix inside a stacked tensor (0 otherwise) */
    const uint8_t *data, *matrix = b->m->dummy_weights ? NULL : e->data + (size_t)slab_row * full_row_bytes;
    loom_status st = LOOM_OK;
    if (b->m->dummy_weights) {
        uint8_t *values;
        if ((st = owned_buffer(b, row_bytes * (size_t)rows, s->name, (void **)&values)) != LOOM_OK) return st;
        if ((st = dummy_rows(b, e, slab_row + row_begin, rows, col_begin, cols, values)) != LOOM_OK) return st;
        data = values;
    } else if (s->axis == LOOM_SLICE_COLS) { /* a copy, requantized when the slice splits blocks (quant_load.h) */
        uint8_t *copy;
        dtype = column_slice_dtype(e->dtype, col_begin, cols);
        row_bytes = dtype_bytes(dtype, cols);
        if ((st = owned_buffer(b, row_bytes * (size_t)rows, s->name, (void **)&copy)) != LOOM_OK) return st;
        st = slice_columns(e->dtype, matrix, rows, s->cols, col_begin, cols, dtype, copy, b->err);
        if (st != LOOM_OK) return st;
        model_release_mapped_pages(b->m, matrix, (size_t)s->rows * full_row_bytes);
        data = copy;
    } else {
        data = matrix + (size_t)row_begin * full_row_bytes;
    }
    *s->dst =
        (loom_tensor){.data = data, .dtype = dtype, .n_dims = 2, .shape = {rows, cols}, .row_stride_bytes = row_bytes};
    return LOOM_OK;
}

static loom_status bind_slice(void *ctx, const loom_weight_slice *s) {
    binder *b = ctx;
    memset(s->dst, 0, sizeof *s->dst);
    const loom_tensor_entry *e = tensor_table_find(&b->m->tensors, s->name);
    if (!e)
        return s->optional ? LOOM_OK
                           : loom_fail(b->err, LOOM_ERR_FORMAT, "%s: missing tensor '%s'", b->source, s->name);
    size_t kept_bytes = 0;
    loom_status st = weight_slice_check(s, e, b->source, b->m->shard.tp_size, &kept_bytes, b->err);
    if (st != LOOM_OK) return st;
    b->m->info.shard_weight_bytes += kept_bytes;
    return s->is_vector ? bind_vector(b, s, e) : bind_matrix(b, s, e);
}

/* A GGUF vector of per-pair RoPE factors (rope_freqs: llama3; rope_factors_long/short: LongRoPE), or NULL. */
static loom_status rope_factor_tensor(binder *b, const char *name, const float **out) {
    int32_t half = b->m->cfg.head_dim / 2;
    const loom_tensor_entry *f = b->m->naming == LOOM_NAMES_GGUF ? tensor_table_find(&b->m->tensors, name) : NULL;
    *out = NULL;
    if (!f) return LOOM_OK;
    if (f->dtype != LOOM_DTYPE_F32 || f->n_dims != 1 || f->shape[0] != half)
        return loom_fail(b->err, LOOM_ERR_FORMAT, "%s: tensor '%s' must be f32 [%d]", b->source, name, half);
    const float *factors = (const float *)f->data;
    for (int32_t i = 0; i < half; i++)
        if (!(factors[i] > 0))
            return loom_fail(b->err, LOOM_ERR_FORMAT, "%s: %s holds a non-positive factor", b->source, name);
    *out = factors;
    return LOOM_OK;
}

/* theta^(2i/d), in float32 as HF computes it; the frequency of pair i is its inverse. */
static float rope_base_power(const loom_config *c, float theta, int32_t i) {
    return powf(theta, (float)(2 * i) / (float)c->head_dim);
}

/* YaRN (HF's _compute_yarn_parameters): each frequency blends theta^(-2i/d) (extrapolation) and the same
 * / factor (interpolation) by a linear ramp over the pairs between the correction dimensions of
 * beta_fast and beta_slow rotations in the original context (floored / ceiled). */
static void yarn_frequencies(const loom_config *c, float *inv) {
    int32_t d = c->head_dim, half = d / 2;
    double ln_base = log(c->rope_theta), original = c->rope_original_max_position;
    double low = floor(d * log(original / (c->rope_beta_fast * 2 * M_PI)) / (2 * ln_base));
    double high = ceil(d * log(original / (c->rope_beta_slow * 2 * M_PI)) / (2 * ln_base));
    if (low < 0) low = 0;
    if (high > d - 1) high = d - 1;
    if (low == high) high += 0.001;
    for (int32_t i = 0; i < half; i++) {
        float ramp = ((float)i - (float)low) / (float)(high - low);
        ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
        float extrapolation = 1.0f - ramp, pos_freq = rope_base_power(c, c->rope_theta, i);
        inv[i] = 1.0f / (c->rope_factor * pos_freq) * (1.0f - extrapolation) + 1.0f / pos_freq * extrapolation;
    }
}

/* An owned [head_dim/2] table of theta^(-2i/d), computed in float32 as HF does. */
static loom_status rope_table(binder *b, float theta, float **out) {
    const loom_config *c = &b->m->cfg;
    int32_t half = c->head_dim / 2;
    float *inv = malloc((size_t)half * sizeof(float));
    if (!inv) return loom_fail(b->err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = model_own(b->m, inv, b->err);
    if (st != LOOM_OK) return st;
    for (int32_t i = 0; i < half; i++) inv[i] = 1.0f / rope_base_power(c, theta, i);
    *out = inv;
    return LOOM_OK;
}

/* The RoPE tables: rope_theta's frequencies rescaled as configured (llama3: HF's
 * _compute_llama3_parameters, or GGUF's rope_freqs factors; linear; YaRN; LongRoPE's factors, from
 * config.json or GGUF's rope_factors_long / rope_factors_short tensors), and the sliding layers' own
 * unscaled table when they have another base (Gemma 3). */
static loom_status bind_rope(binder *b) {
    const loom_config *c = &b->m->cfg;
    int32_t half = c->head_dim / 2;
    float *inv;
    loom_status st = rope_table(b, c->rope_theta, &inv);
    if (st == LOOM_OK && c->rope_theta_local > 0 && c->sliding_window > 0)
        st = rope_table(b, c->rope_theta_local, &b->m->w.rope_inv_freq_local);
    if (st != LOOM_OK) return st;
    if (c->rope_scaling == LOOM_ROPE_SCALING_LINEAR)
        for (int32_t i = 0; i < half; i++) inv[i] /= c->rope_factor;
    if (c->rope_scaling == LOOM_ROPE_SCALING_YARN) yarn_frequencies(c, inv);
    if (c->rope_scaling == LOOM_ROPE_SCALING_LONGROPE) {
        const float *factors = c->rope_ext_factors;
        int use_long = c->max_position_embeddings > c->rope_original_max_position; /* as config.c chose */
        if (c->n_rope_ext_factors == 0 &&
            (st = rope_factor_tensor(b, use_long ? "rope_factors_long.weight" : "rope_factors_short.weight", &factors)))
            return st;
        if (!factors) return loom_fail(b->err, LOOM_ERR_FORMAT, "%s: longrope scaling without its factors", b->source);
        for (int32_t i = 0; i < half; i++) inv[i] = 1.0f / (factors[i] * rope_base_power(c, c->rope_theta, i));
    }
    if (c->rope_scaling == LOOM_ROPE_SCALING_LLAMA3) {
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
    const float *freq_factors;
    if ((st = rope_factor_tensor(b, "rope_freqs.weight", &freq_factors)) != LOOM_OK) return st;
    for (int32_t i = 0; freq_factors && i < half; i++) inv[i] /= freq_factors[i];
    b->m->w.rope_inv_freq = inv;
    return LOOM_OK;
}

loom_status weights_bind(loom_model *m, loom_tensor_naming naming, const char *source, loom_error *err) {
    binder b = {m, source, err};
    const loom_config *c = &m->cfg;
    loom_weights *w = &m->w;
    m->naming = naming;
    m->info.shard_weight_bytes = 0;
    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!w->layers) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = LOOM_OK;
    size_t experts_bytes = (size_t)c->moe.n_experts * sizeof(loom_expert_weights);
    for (int32_t l = m->shard.layer_begin; st == LOOM_OK && experts_bytes && l < m->shard.layer_end; l++) {
        st = owned_buffer(&b, experts_bytes, "experts", (void **)&w->layers[l].moe.experts);
        if (st == LOOM_OK) memset(w->layers[l].moe.experts, 0, experts_bytes); /* experts not held stay empty */
    }
    if (st == LOOM_OK) st = shard_for_each_weight(c, &m->shard, &m->tensors, naming, w, bind_slice, &b);
    if (st != LOOM_OK) return st;
    if (c->tie_word_embeddings && shard_last_stage(&m->shard)) w->lm_head = w->tok_embed;
    return bind_rope(&b);
}
