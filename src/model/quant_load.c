#include "model/quant_load.h"
#include "kernels/weight_prep.h"

#include <stdlib.h>
#include <string.h>

loom_dtype quantization_dtype(loom_quantization q) {
    switch (q) {
        case LOOM_QUANT_INT8: return LOOM_DTYPE_Q8_0;
        case LOOM_QUANT_INT4: return LOOM_DTYPE_Q4_1;
        case LOOM_QUANT_FP8: return LOOM_DTYPE_FP8_E4M3;
        default: return LOOM_DTYPE_F32;
    }
}

loom_dtype converted_dtype(loom_dtype to, int is_head, loom_dtype stored, int64_t row_len) {
    if (is_head && to != LOOM_DTYPE_F32) {
        int is_float = stored == LOOM_DTYPE_F32 || stored == LOOM_DTYPE_F16 || stored == LOOM_DTYPE_BF16;
        to = is_float ? LOOM_DTYPE_Q8_0 : stored;
    }
    loom_dtype out = dtype_bytes(to, row_len) == 0 ? stored : to;
    return stored_dtype_for_compute(out);
}

loom_dtype stored_dtype_for_compute(loom_dtype stored) {
    return weight_prep_has_kernels(stored) ? stored : LOOM_DTYPE_Q8_0;
}

/* t -> an owned copy in its converted dtype (layer_to LOOM_DTYPE_COUNT: no conversion asked, only a dtype
 * without kernels to Q8_0), row by row through float32; a source the model owned (dummy
 * values, a column slice) is freed. A tensor this shard does not hold (data NULL) stays empty. */
static loom_status convert_matrix(loom_model *m, loom_tensor *t, loom_dtype layer_to, int is_head, float *row,
                                  loom_error *err) {
    if (!t->data) return LOOM_OK;
    int64_t rows = tensor_rows(t), cols = tensor_row_len(t);
    loom_dtype to = layer_to == LOOM_DTYPE_COUNT ? stored_dtype_for_compute(t->dtype)
                                                 : converted_dtype(layer_to, is_head, t->dtype, cols);
    if (t->dtype == to) return LOOM_OK;
    size_t row_bytes = dtype_bytes(to, cols);
    uint8_t *dst = malloc(row_bytes * (size_t)rows);
    if (!dst) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory converting weights to %s", dtype_name(to));
    loom_status st = model_own(m, dst, err);
    if (st != LOOM_OK) return st;
    for (int64_t r = 0; r < rows; r++)
        convert_row(t->dtype, tensor_row(t, r), to, dst + (size_t)r * row_bytes, row, cols);
    model_release(m, t->data, (size_t)rows * t->row_stride_bytes);
    t->data = dst;
    t->dtype = to;
    t->row_stride_bytes = row_bytes;
    return LOOM_OK;
}

void convert_row(loom_dtype from, const void *src, loom_dtype to, void *dst, float *scratch, int64_t n) {
    weight_prep_dequant_row(from, src, scratch, n);
    weight_prep_quantize_row(to, scratch, dst, n);
}

loom_status quantize_weights(loom_model *m, loom_quantization q, loom_error *err) {
    loom_dtype to = q == LOOM_QUANT_NONE ? LOOM_DTYPE_COUNT : quantization_dtype(q);
    const loom_config *c = &m->cfg;
    int64_t longest = c->hidden_size;
    int32_t ffn_dims[] = {c->intermediate_size, c->moe.expert_intermediate, c->moe.shared_intermediate};
    for (int i = 0; i < 3; i++) longest = ffn_dims[i] > longest ? ffn_dims[i] : longest;
    float *row = malloc((size_t)longest * sizeof(float));
    loom_tensor **moe_mats = malloc(LOOM_MOE_MATRICES(c->moe.n_experts) * sizeof *moe_mats);
    if (!row || !moe_mats) {
        free(row);
        free(moe_mats);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    loom_weights *w = &m->w;
    int tied = w->lm_head.data == w->tok_embed.data; /* or neither held (a middle pipeline stage) */
    loom_status st = convert_matrix(m, &w->tok_embed, to, 1, row, err);
    if (st == LOOM_OK)
        st = tied ? (w->lm_head = w->tok_embed, LOOM_OK) : convert_matrix(m, &w->lm_head, to, 1, row, err);
    for (int32_t l = m->shard.layer_begin; st == LOOM_OK && l < m->shard.layer_end; l++) {
        loom_tensor *mats[LOOM_LAYER_MATRICES];
        loom_layer_matrices(&w->layers[l], mats);
        for (int i = 0; st == LOOM_OK && i < LOOM_LAYER_MATRICES; i++) st = convert_matrix(m, mats[i], to, 0, row, err);
        size_t n_moe = loom_moe_matrices(&w->layers[l].moe, c->moe.n_experts, moe_mats);
        for (size_t i = 0; st == LOOM_OK && i < n_moe; i++) st = convert_matrix(m, moe_mats[i], to, 0, row, err);
    }
    free(moe_mats);
    free(row);
    return st;
}

loom_dtype column_slice_dtype(loom_dtype stored, int64_t col_begin, int64_t cols) {
    int64_t block = dtype_block_elems(stored);
    if (col_begin % block == 0 && cols % block == 0) return stored;
    return col_begin % 32 == 0 && cols % 32 == 0 ? LOOM_DTYPE_Q8_0 : LOOM_DTYPE_COUNT;
}

loom_status slice_columns(loom_dtype from, const uint8_t *src, int64_t rows, int64_t full_cols, int64_t col_begin,
                          int64_t cols, loom_dtype to, uint8_t *dst, loom_error *err) {
    size_t full_row_bytes = dtype_bytes(from, full_cols), row_bytes = dtype_bytes(to, cols);
    if (to == from) {
        size_t col_offset = dtype_bytes(from, col_begin);
        for (int64_t r = 0; r < rows; r++)
            memcpy(dst + (size_t)r * row_bytes, src + (size_t)r * full_row_bytes + col_offset, row_bytes);
        return LOOM_OK;
    }
    float *row = malloc((size_t)full_cols * sizeof *row);
    if (!row) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory requantizing a column slice");
    for (int64_t r = 0; r < rows; r++) {
        weight_prep_dequant_row(from, src + (size_t)r * full_row_bytes, row, full_cols);
        weight_prep_quantize_row(to, row + col_begin, dst + (size_t)r * row_bytes, cols);
    }
    free(row);
    return LOOM_OK;
}
