#include "model/shard.h"
#include "model/model.h"

#include <math.h>

loom_shard shard_whole(const loom_config *c) {
    return (loom_shard){.tp_rank = 0,
                        .tp_size = 1,
                        .pp_rank = 0,
                        .pp_size = 1,
                        .layer_begin = 0,
                        .layer_end = c->n_layers,
                        .head_begin = 0,
                        .n_heads = c->n_heads,
                        .kv_head_begin = 0,
                        .n_kv_heads = c->n_kv_heads,
                        .ffn_begin = 0,
                        .ffn_size = c->intermediate_size,
                        .vocab_begin = 0,
                        .vocab_size = c->vocab_size,
                        .expert_begin = 0,
                        .n_local_experts = c->moe.n_experts,
                        .expert_ffn_begin = 0,
                        .expert_ffn_size = c->moe.expert_intermediate,
                        .shared_ffn_begin = 0,
                        .shared_ffn_size = c->moe.shared_intermediate};
}

/* Weights of one layer's FFN that a token passes through: its top_k experts, the shared one, the router. */
static double ffn_weights_per_token(const loom_config *c) {
    double h = c->hidden_size;
    if (!config_is_moe(c)) return 3 * h * c->intermediate_size;
    const loom_moe_config *moe = &c->moe;
    return 3 * h * ((double)moe->top_k * moe->expert_intermediate + moe->shared_intermediate) + h * moe->n_experts;
}

/* Where stage `stage` begins (stage == P: n_layers). Stages get equal shares of the weights a token
 * passes through: each layer's matrices, and the LM head on the last stage (at a 128k vocabulary the
 * head weighs several layers, so an even layer split would leave the last stage the slowest). Boundary s
 * is the layer count nearest to s/P of the total, keeping at least one layer per stage. */
static int32_t stage_boundary(const loom_config *c, int32_t pp, int32_t stage) {
    double h = c->hidden_size, q = config_q_dim(c), kv = config_kv_dim(c);
    double layer = h * (q + 2 * kv) + q * h + ffn_weights_per_token(c), head = (double)c->vocab_size * h;
    double total = layer * c->n_layers + head;
    int32_t at = 0;
    for (int32_t b = 1; b <= stage; b++) {
        int32_t want = b == pp ? c->n_layers : (int32_t)floor(b * total / pp / layer + 0.5);
        int32_t lo = at + 1, hi = c->n_layers - (pp - b);
        at = want < lo ? lo : want > hi ? hi : want;
    }
    return at;
}

loom_status shard_init(loom_shard *s, const loom_config *c, int32_t tp_rank, int32_t tp_size, int32_t pp_rank,
                       int32_t pp_size, loom_error *err) {
    return shard_init_ep(s, c, tp_rank, tp_size, pp_rank, pp_size, 0, err);
}

/* Experts under expert parallelism: tensor rank r of T gets experts [E r / T, E (r + 1) / T), whole. */
static loom_status split_experts(loom_shard *s, const loom_config *c, loom_error *err) {
    int32_t n = c->moe.n_experts, t = s->tp_size, r = s->tp_rank;
    if (t > n)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "expert parallelism over %d ranks needs at least as many experts (the model has %d)", t, n);
    s->expert_begin = (int32_t)((int64_t)n * r / t);
    s->n_local_experts = (int32_t)((int64_t)n * (r + 1) / t) - s->expert_begin;
    return LOOM_OK;
}

loom_status shard_init_ep(loom_shard *s, const loom_config *c, int32_t tp_rank, int32_t tp_size, int32_t pp_rank,
                          int32_t pp_size, int expert_parallel, loom_error *err) {
    if (tp_size < 1 || pp_size < 1 || tp_rank < 0 || tp_rank >= tp_size || pp_rank < 0 || pp_rank >= pp_size)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "rank (%d, %d) outside a %d x %d tensor x pipeline layout", tp_rank,
                         pp_rank, tp_size, pp_size);
    if (c->n_heads % tp_size)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "tensor parallel size %d must divide the number of attention heads (%d)", tp_size, c->n_heads);
    if (c->n_kv_heads % tp_size && tp_size % c->n_kv_heads)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "tensor parallel size %d must divide the number of KV heads (%d) or be a multiple of it "
                         "(the KV heads are then replicated)",
                         tp_size, c->n_kv_heads);
    if (!config_is_moe(c) && c->intermediate_size % tp_size)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "tensor parallel size %d must divide intermediate_size %d", tp_size,
                         c->intermediate_size);
    int split_experts_ffn = config_is_moe(c) && !expert_parallel;
    if ((split_experts_ffn && c->moe.expert_intermediate % tp_size) || c->moe.shared_intermediate % tp_size)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "tensor parallel size %d must divide the experts' intermediate size %d (or use "
                         "--enable-expert-parallel) and the shared expert's (%d)",
                         tp_size, c->moe.expert_intermediate, c->moe.shared_intermediate);
    if (pp_size > c->n_layers)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "pipeline parallel size %d exceeds the number of layers (%d)",
                         pp_size, c->n_layers);
    *s = shard_whole(c);
    s->tp_rank = tp_rank;
    s->tp_size = tp_size;
    s->pp_rank = pp_rank;
    s->pp_size = pp_size;
    s->layer_begin = stage_boundary(c, pp_size, pp_rank);
    s->layer_end = stage_boundary(c, pp_size, pp_rank + 1);
    s->n_heads = c->n_heads / tp_size;
    s->head_begin = tp_rank * s->n_heads;
    if (c->n_kv_heads % tp_size == 0) {
        s->n_kv_heads = c->n_kv_heads / tp_size;
        s->kv_head_begin = tp_rank * s->n_kv_heads;
    } else { /* fewer KV heads than ranks: each rank holds the one its query heads read (vLLM's replication) */
        s->n_kv_heads = 1;
        s->kv_head_begin = s->head_begin / (c->n_heads / c->n_kv_heads);
    }
    s->ffn_size = c->intermediate_size / tp_size;
    s->ffn_begin = tp_rank * s->ffn_size;
    int32_t vocab_chunk = (c->vocab_size + tp_size - 1) / tp_size;
    s->vocab_begin = tp_rank * vocab_chunk;
    if (s->vocab_begin > c->vocab_size) s->vocab_begin = c->vocab_size;
    s->vocab_size = c->vocab_size - s->vocab_begin < vocab_chunk ? c->vocab_size - s->vocab_begin : vocab_chunk;
    s->shared_ffn_size = c->moe.shared_intermediate / tp_size;
    s->shared_ffn_begin = tp_rank * s->shared_ffn_size;
    s->expert_parallel = expert_parallel;
    if (!split_experts_ffn) return config_is_moe(c) ? split_experts(s, c, err) : LOOM_OK;
    s->expert_ffn_size = c->moe.expert_intermediate / tp_size;
    s->expert_ffn_begin = tp_rank * s->expert_ffn_size;
    return LOOM_OK;
}

int shard_is_whole(const loom_shard *s) { return s->tp_size == 1 && s->pp_size == 1; }
int shard_first_stage(const loom_shard *s) { return s->pp_rank == 0; }
int shard_last_stage(const loom_shard *s) { return s->pp_rank == s->pp_size - 1; }

loom_config shard_local_config(const loom_shard *s, const loom_config *c) {
    loom_config local = *c;
    local.n_heads = s->n_heads;
    local.n_kv_heads = s->n_kv_heads;
    local.intermediate_size = s->ffn_size;
    local.vocab_size = s->vocab_size;
    local.moe.expert_intermediate = s->expert_ffn_size;
    local.moe.shared_intermediate = s->shared_ffn_size;
    return local;
}

loom_status model_init_shard(loom_model *m, loom_error *err) {
    loom_shard *s = &m->shard;
    loom_status st = shard_init_ep(s, &m->cfg, s->tp_rank, s->tp_size, s->pp_rank, s->pp_size, s->expert_parallel, err);
    if (st == LOOM_OK) m->local = shard_local_config(s, &m->cfg);
    return st;
}
