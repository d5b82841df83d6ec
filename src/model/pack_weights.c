/* model_pack_weights: the weight matrices in the CPU kernels' interleaved layout, once at load.
 * All packed matrices share one arena on 2 MiB pages where the kernel grants them (transparent huge
 * pages in madvise mode): a decode step streams every weight once, and with 4 KiB pages that is a TLB
 * miss every 4 KiB. */
#include <stdlib.h>
#include <sys/mman.h>

#include "kernels/weight_prep.h"
#include "model/model.h"

#define HUGE_PAGE_BYTES (2u << 20)
#define MATRIX_ALIGN 64

static size_t aligned_size(size_t n, size_t align) { return (n + align - 1) / align * align; }
static size_t matrix_bytes(const loom_tensor *t) { return (size_t)tensor_rows(t) * t->row_stride_bytes; }
static size_t packed_bytes(const loom_tensor *t) {
    return weight_prep_packed_bytes(t->dtype, tensor_rows(t), tensor_row_len(t));
}

/* The matrices to pack (those the layout takes), in order: the LM head, then each layer's. */
static size_t packable_matrices(loom_model *m, loom_tensor **out) {
    size_t n = 0;
    loom_weights *w = &m->w;
    if (weight_prep_packable(&w->lm_head)) out[n++] = &w->lm_head;
    for (int32_t l = m->shard.layer_begin; l < m->shard.layer_end; l++) {
        loom_tensor *mats[LOOM_LAYER_MATRICES];
        loom_layer_matrices(&w->layers[l], mats);
        for (int i = 0; i < LOOM_LAYER_MATRICES; i++)
            if (weight_prep_packable(mats[i])) out[n++] = mats[i];
        size_t first = n, n_moe = loom_moe_matrices(&w->layers[l].moe, m->cfg.moe.n_experts, out + first);
        for (size_t i = 0; i < n_moe; i++) /* kept in place, n <= first + i */
            if (weight_prep_packable(out[first + i])) out[n++] = out[first + i];
    }
    return n;
}

loom_status model_pack_weights(loom_model *m, loom_error *err) {
    int32_t n_layers = m->shard.layer_end - m->shard.layer_begin;
    size_t per_layer = LOOM_LAYER_MATRICES + LOOM_MOE_MATRICES(m->cfg.moe.n_experts);
    loom_tensor **mats = malloc((1 + per_layer * (size_t)(n_layers > 0 ? n_layers : 0)) * sizeof *mats);
    if (!mats) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    size_t n = packable_matrices(m, mats), total = 0;
    for (size_t i = 0; i < n; i++) total += aligned_size(packed_bytes(mats[i]), MATRIX_ALIGN);
    if (n == 0) {
        free(mats);
        return LOOM_OK;
    }
    uint8_t *arena = aligned_alloc(HUGE_PAGE_BYTES, aligned_size(total, HUGE_PAGE_BYTES));
    loom_status st = arena ? model_own(m, arena, err)
                           : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory repacking %zu bytes of weights", total);
    if (st == LOOM_OK) madvise(arena, aligned_size(total, HUGE_PAGE_BYTES), MADV_HUGEPAGE); /* a hint: may be refused */
    loom_weights *w = &m->w;
    int tied = w->lm_head.data && w->lm_head.data == w->tok_embed.data;
    for (size_t i = 0, off = 0; st == LOOM_OK && i < n; i++) {
        loom_tensor *t = mats[i];
        size_t packed = packed_bytes(t);
        weight_prep_pack(t->dtype, t->data, arena + off, tensor_rows(t), tensor_row_len(t));
        model_release(m, t->data, matrix_bytes(t)); /* rows no longer read: freed, or their pages dropped */
        t->data = arena + off;
        t->layout = LOOM_LAYOUT_X16;
        off += aligned_size(packed, MATRIX_ALIGN);
    }
    if (st == LOOM_OK && tied && w->lm_head.layout == LOOM_LAYOUT_X16)
        w->tok_embed = w->lm_head; /* the lookup reads its rows out of the groups */
    free(mats);
    return st;
}
