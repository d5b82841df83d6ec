#include "model/qk_norm.h"

void loom_qk_norm_apply(const loom_model *m, loom_backend *be, int32_t l, float *q, float *k, int32_t n, float *sums,
                        loom_comm *tp) {
    const loom_config *c = &m->local;
    const loom_layer_weights *L = &m->w.layers[l];
    const loom_backend_ops *op = be->ops;
    if (c->qk_norm == LOOM_QK_NORM_PER_HEAD) {
        op->rmsnorm(be, q, q, &L->q_norm, c->rms_norm_eps, (int64_t)n * c->n_heads, c->head_dim);
        op->rmsnorm(be, k, k, &L->k_norm, c->rms_norm_eps, (int64_t)n * c->n_kv_heads, c->head_dim);
        return;
    }
    int64_t q_dim = loom_config_q_dim(c), kv_dim = loom_config_kv_dim(c);
    op->sum_squares(be, sums, q, n, q_dim);
    op->sum_squares(be, sums + n, k, n, kv_dim);
    if (tp) loom_comm_allreduce_sum_f32(tp, sums, 2 * (size_t)n);
    op->rmsnorm_given(be, q, q, &L->q_norm, sums, loom_config_q_dim(&m->cfg), c->rms_norm_eps, n, q_dim);
    op->rmsnorm_given(be, k, k, &L->k_norm, sums + n, loom_config_kv_dim(&m->cfg), c->rms_norm_eps, n, kv_dim);
}
