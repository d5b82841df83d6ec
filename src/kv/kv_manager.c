#include "kv/kv_manager.h"

#include <string.h>

loom_status kvm_init(kv_manager *m, int32_t n_blocks, int32_t block_size, int enable_prefix_caching,
                     const kv_mover *mover, loom_error *err) {
    memset(m, 0, sizeof *m);
    m->mover = *mover;
    m->block_size = block_size;
    return bm_create(n_blocks, block_size, enable_prefix_caching, &m->bm, err);
}

void kvm_destroy(kv_manager *m) {
    bm_free(m->bm);
    memset(m, 0, sizeof *m);
}

int kvm_reserve(kv_manager *m, loom_block_table *t, int32_t first, int32_t end) {
    if (bm_allocate(m->bm, t, end)) return -1;
    for (int32_t pos = first; pos < end; pos = (pos / m->block_size + 1) * m->block_size) {
        int32_t src, dst;
        int r = bm_prepare_write(m->bm, t, pos, &src, &dst);
        if (r < 0) return -1;
        if (r == 1) m->mover.copy_block(m->mover.ctx, src, dst);
    }
    return 0;
}

void kvm_slots(const kv_manager *m, const loom_block_table *t, int32_t start, int32_t n, int32_t *slots) {
    int32_t bs = m->block_size;
    for (int32_t i = 0; i < n; i++) slots[i] = t->blocks[(start + i) / bs] * bs + (start + i) % bs;
}
