#include "model/moe.h"

#include <stdlib.h>
#include <string.h>

struct loom_moe_scratch {
    float *logits;      /* [max_tokens][n_experts] router logits */
    int32_t *ids;       /* [max_tokens][top_k] experts of each token, by rank in its top-k */
    float *weights;     /* [max_tokens][top_k] their routing weights; 0 where another rank holds the expert */
    int32_t *first;     /* [n_experts + 1] where each expert's slots start in `slots` */
    int32_t *slots;     /* [max_tokens * top_k] slot indices (token * top_k + k), grouped by expert */
    float *rows_in;     /* [max_tokens][hidden] an expert's gathered inputs */
    float *rows_out;    /* [max_tokens][hidden] its outputs (or the shared expert's) */
    float *slot_out;    /* [max_tokens * top_k][hidden] each slot's expert output */
    float *shared_gate; /* [max_tokens] the shared expert's gate logits */
};

size_t moe_scratch_bytes(const loom_config *c, int32_t max_tokens) {
    if (!config_is_moe(c)) return 0;
    size_t n = (size_t)max_tokens, k = (size_t)c->moe.top_k, e = (size_t)c->moe.n_experts, h = (size_t)c->hidden_size;
    return n * e * sizeof(float) + n * k * (2 * sizeof(int32_t) + sizeof(float)) + (e + 1) * sizeof(int32_t) +
        n * (2 * h + k * h + 1) * sizeof(float);
}

void moe_scratch_free(loom_moe_scratch *s) {
    if (!s) return;
    free(s->logits);
    free(s->ids);
    free(s->weights);
    free(s->first);
    free(s->slots);
    free(s->rows_in);
    free(s->rows_out);
    free(s->slot_out);
    free(s->shared_gate);
    free(s);
}

loom_status moe_scratch_create(const loom_config *c, int32_t max_tokens, loom_moe_scratch **out, loom_error *err) {
    *out = NULL;
    if (!config_is_moe(c)) return LOOM_OK;
    size_t n = (size_t)max_tokens, k = (size_t)c->moe.top_k, e = (size_t)c->moe.n_experts, h = (size_t)c->hidden_size;
    loom_moe_scratch *s = calloc(1, sizeof *s);
    if (s) {
        s->logits = malloc(n * e * sizeof(float));
        s->ids = malloc(n * k * sizeof(int32_t));
        s->weights = malloc(n * k * sizeof(float));
        s->first = malloc((e + 1) * sizeof(int32_t));
        s->slots = malloc(n * k * sizeof(int32_t));
        s->rows_in = malloc(n * h * sizeof(float));
        s->rows_out = malloc(n * h * sizeof(float));
        s->slot_out = malloc(n * k * h * sizeof(float));
        s->shared_gate = malloc(n * sizeof(float));
    }
    if (!s || !s->logits || !s->ids || !s->weights || !s->first || !s->slots || !s->rows_in || !s->rows_out ||
        !s->slot_out || !s->shared_gate) {
        moe_scratch_free(s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the experts' activations of %d tokens",
                         max_tokens);
    }
    *out = s;
    return LOOM_OK;
}

/* Slots grouped by expert (counting sort, tokens ascending within an expert); the weights of slots whose
 * expert this rank does not hold set to 0. */
static void group_slots(loom_moe_scratch *s, const loom_shard *sh, int32_t n_experts, int32_t n_slots) {
    memset(s->first, 0, ((size_t)n_experts + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < n_slots; i++) s->first[s->ids[i] + 1]++;
    for (int32_t e = 0; e < n_experts; e++) s->first[e + 1] += s->first[e];
    for (int32_t i = 0; i < n_slots; i++) {
        int32_t e = s->ids[i];
        if (e < sh->expert_begin || e >= sh->expert_begin + sh->n_local_experts) s->weights[i] = 0.0f;
    }
    /* place slot i at the next free position of its expert: first[] moves on, then shifts back */
    for (int32_t i = 0; i < n_slots; i++) s->slots[s->first[s->ids[i]]++] = i;
    for (int32_t e = n_experts; e > 0; e--) s->first[e] = s->first[e - 1];
    s->first[0] = 0;
}

/* rows_out [n][hidden] = down(silu(gate x) * up x) for the n rows of x. */
static void run_expert(loom_backend *be, const loom_expert_weights *w, const float *x, int32_t n, float *gate,
                       float *up, int64_t ffn, float *y) {
    const loom_backend_ops *op = be->ops;
    float *gate_up[] = {gate, up};
    const loom_tensor *w_gate_up[] = {&w->gate, &w->up};
    op->matmul_fused(be, 2, gate_up, w_gate_up, x, n);
    op->silu_mul(be, gate, gate, up, (int64_t)n * ffn);
    op->matmul(be, y, &w->down, gate, n);
}

void moe_ffn(const loom_model *m, loom_backend *be, loom_moe_scratch *s, int32_t l, const float *xn, int32_t n,
             float *gate, float *up, float *y) {
    const loom_config *c = &m->local;
    const loom_moe_weights *w = &m->w.layers[l].moe;
    const loom_backend_ops *op = be->ops;
    int32_t k = c->moe.top_k, n_experts = c->moe.n_experts;
    size_t hidden = (size_t)c->hidden_size, row_bytes = hidden * sizeof(float);
    op->matmul(be, s->logits, &w->router, xn, n);
    op->moe_route(be, s->logits, n, n_experts, k, c->moe.norm_topk_prob, s->ids, s->weights);
    group_slots(s, &m->shard, n_experts, n * k);
    for (int32_t e = m->shard.expert_begin; e < m->shard.expert_begin + m->shard.n_local_experts; e++) {
        int32_t first = s->first[e], count = s->first[e + 1] - first;
        if (count == 0) continue;
        for (int32_t i = 0; i < count; i++)
            memcpy(s->rows_in + i * hidden, xn + (s->slots[first + i] / k) * hidden, row_bytes);
        run_expert(be, &w->experts[e], s->rows_in, count, gate, up, c->moe.expert_intermediate, s->rows_out);
        for (int32_t i = 0; i < count; i++)
            memcpy(s->slot_out + s->slots[first + i] * hidden, s->rows_out + i * hidden, row_bytes);
    }
    op->moe_combine(be, y, s->slot_out, s->weights, n, k, (int64_t)hidden);
    if (!w->shared.gate.data) return;
    run_expert(be, &w->shared, xn, n, gate, up, c->moe.shared_intermediate, s->rows_out);
    op->matmul(be, s->shared_gate, &w->shared_gate, xn, n);
    op->add_sigmoid_gated(be, y, s->rows_out, s->shared_gate, n, (int64_t)hidden);
}
