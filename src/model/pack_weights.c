/* loom_model_pack_weights: the weight matrices in the CPU kernels' interleaved layout, once at load. */
#include <stdlib.h>

#include "kernels/cpu/pack_x16.h"
#include "model/model.h"

/* t -> an owned copy in the x16 layout when its dtype and shape allow; its rows are released. */
static loom_status pack_matrix(loom_model *m, loom_tensor *t, loom_error *err) {
    if (!loom_x16_packable(t)) return LOOM_OK;
    int64_t rows = loom_tensor_rows(t), n_blocks = loom_tensor_row_len(t) / 32;
    size_t bytes = (size_t)rows * t->row_stride_bytes;
    void *packed = malloc(bytes);
    if (!packed) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory repacking a %lld x %lld %s matrix",
                                  (long long)rows, (long long)loom_tensor_row_len(t), loom_dtype_name(t->dtype));
    loom_status st = loom_model_own(m, packed, err);
    if (st != LOOM_OK) return st;
    loom_x16_pack(t->dtype, t->data, packed, rows, n_blocks);
    loom_model_release(m, t->data, bytes);
    t->data = packed;
    t->layout = LOOM_LAYOUT_X16;
    return LOOM_OK;
}

loom_status loom_model_pack_weights(loom_model *m, loom_error *err) {
    loom_weights *w = &m->w;
    int tied = w->lm_head.data && w->lm_head.data == w->tok_embed.data;
    loom_status st = pack_matrix(m, &w->lm_head, err);
    if (tied) w->tok_embed = w->lm_head; /* the lookup reads its rows out of the groups */
    for (int32_t l = m->shard.layer_begin; st == LOOM_OK && l < m->shard.layer_end; l++) {
        loom_layer_weights *L = &w->layers[l];
        loom_tensor *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; st == LOOM_OK && i < sizeof mats / sizeof mats[0]; i++) st = pack_matrix(m, mats[i], err);
    }
    return st;
}
