/* loom_context: the KV storage (kv_store.h: fixed-size blocks over every layer), the activation buffers
 * and the backend for one model, and the forward over a batch whose KV slots and block tables a KV manager
 * (kv/kv_manager.h) already chose: the engine's, or the sequence API's (decode.c). */
#include <stdlib.h>
#include <string.h>

#include "engine/context_impl.h"
#include "model/forward.h"

loom_context_params loom_context_default_params(void) {
    loom_engine_params e = loom_engine_default_params();
    return (loom_context_params){.n_threads = 0,
                                 .max_seqs = 1,
                                 .max_tokens_per_seq = 0,
                                 .max_batch_tokens = 512,
                                 .block_size = e.block_size,
                                 .num_kv_blocks = 0,
                                 .kv_cache_dtype = e.kv_cache_dtype};
}

void loom_context_free(loom_context *ctx) {
    if (!ctx) return;
    ctx_par_free(ctx);
    ctx_decode_state_free(ctx);
    backend_free(ctx->backend);
    kv_store_destroy(&ctx->kv);
    workspace_destroy(&ctx->ws);
    free(ctx->logits);
    free(ctx);
}

static int64_t max_row_len(const loom_config *c) {
    int64_t m = c->hidden_size;
    if (c->intermediate_size > m) m = c->intermediate_size;
    if (config_q_dim(c) > m) m = config_q_dim(c);
    if (c->moe.expert_intermediate > m) m = c->moe.expert_intermediate; /* experts' down_proj rows */
    if (c->moe.shared_intermediate > m) m = c->moe.shared_intermediate;
    return m;
}

static loom_status check_params(const loom_model *model, loom_context_params *p, loom_error *err) {
    const loom_config *c = &model->cfg;
    if (p->max_tokens_per_seq <= 0) p->max_tokens_per_seq = c->max_position_embeddings;
    if (p->block_size == 0) p->block_size = loom_engine_default_params().block_size;
    if (p->kv_cache_dtype == LOOM_KV_AUTO) p->kv_cache_dtype = model->info.kv_dtype_auto;
    if (p->max_seqs <= 0 || p->max_seqs > 65536 || p->max_batch_tokens <= 0 || p->max_batch_tokens > (1 << 20) ||
        p->max_tokens_per_seq > (1 << 24) || p->n_threads < 0 || p->n_threads > 512)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "context parameters out of range");
    if (p->block_size < 1 || p->block_size > 4096 || p->num_kv_blocks < 0)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "block_size must be in 1..4096 and num_kv_blocks >= 0 (got %d, %d)",
                         p->block_size, p->num_kv_blocks);
    if (p->kv_cache_dtype < LOOM_KV_F32 || p->kv_cache_dtype > LOOM_KV_FP8_E4M3)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "unknown kv_cache_dtype %d", p->kv_cache_dtype);
    int64_t per_seq = ((int64_t)p->max_tokens_per_seq + p->block_size - 1) / p->block_size;
    if (p->num_kv_blocks == 0) {
        if (per_seq * p->max_seqs > (1 << 28)) return loom_fail(err, LOOM_ERR_INVALID_ARG, "KV cache too large");
        p->num_kv_blocks = (int32_t)(per_seq * p->max_seqs);
    }
    return LOOM_OK;
}

/* This rank's context; the KV store holds the shard's layers and KV heads only. */
static loom_status create_local(loom_model *model, const loom_context_params *p, int follower, loom_context **out,
                                loom_error *err) {
    const loom_config *c = &model->cfg;
    loom_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    ctx->model = model;
    ctx->params = *p;
    ctx->follower = follower;
    const loom_shard *shard = &model->shard;
    loom_status st = backend_cpu_create(p->n_threads, &ctx->backend, err);
    const loom_backend_ops *ops = st == LOOM_OK ? ctx->backend->ops : NULL;
    if (ops && (c->head_dim > ops->max_head_dim || c->n_heads / c->n_kv_heads > ops->max_group))
        st = loom_fail(err, LOOM_ERR_UNSUPPORTED,
                       "the %s backend's attention supports head_dim <= %d and <= %d query heads "
                       "per KV head (the model has %d and %d)",
                       ops->name, ops->max_head_dim, ops->max_group, c->head_dim, c->n_heads / c->n_kv_heads);
    if (st == LOOM_OK) st = ops->reserve(ctx->backend, max_row_len(c), err);
    if (st == LOOM_OK)
        st = kv_store_init(&ctx->kv, shard->layer_end - shard->layer_begin, shard->n_kv_heads, c->head_dim,
                           (loom_kv_dtype)p->kv_cache_dtype, p->num_kv_blocks, p->block_size, err);
    if (st == LOOM_OK) st = workspace_init(&ctx->ws, &model->local, p->max_batch_tokens, err);
    if (st != LOOM_OK) {
        loom_context_free(ctx);
        return st;
    }
    *out = ctx;
    return LOOM_OK;
}

loom_status ctx_create(loom_model *model, const loom_context_params *params, int follower, loom_context **out,
                       loom_error *err) {
    *out = NULL;
    loom_context_params p = params ? *params : loom_context_default_params();
    if (model->metadata_only)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "the model was loaded without weights (metadata only)");
    loom_status st = check_params(model, &p, err);
    if (st != LOOM_OK) return st;
    if (!follower) ctx_par_announce(model, &p);
    st = create_local(model, &p, follower, out, err);
    return ctx_par_attach(model, out, st, err);
}

loom_status loom_context_create(loom_model *model, const loom_context_params *params, loom_context **out,
                                loom_error *err) {
    return ctx_create(model, params, 0, out, err);
}

uint64_t loom_context_kv_bytes(const loom_context *ctx) { return kv_store_bytes(&ctx->kv); }

static loom_status reserve_logits(loom_context *ctx, int32_t n, loom_error *err) {
    size_t need = (size_t)n * (size_t)ctx->model->cfg.vocab_size;
    if (need <= ctx->logits_cap) return LOOM_OK;
    float *p = realloc(ctx->logits, need * sizeof(float));
    if (!p) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for logits of %d tokens", n);
    ctx->logits = p;
    ctx->logits_cap = need;
    return LOOM_OK;
}

/* ---- context_internal.h ---- */

loom_status context_forward(loom_context *ctx, const loom_forward_batch *b, loom_error *err) {
    if (b->n_tokens <= 0 || b->n_tokens > ctx->params.max_batch_tokens)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "batch of %d tokens (allowed 1..%d)", b->n_tokens,
                         ctx->params.max_batch_tokens);
    loom_status st = reserve_logits(ctx, b->n_logits, err);
    if (st != LOOM_OK) return st;
    ctx_par_forward(ctx, b);
    return LOOM_OK;
}

int32_t context_num_kv_blocks(const loom_context *ctx) { return ctx->kv.n_blocks; }
int32_t context_block_size(const loom_context *ctx) { return ctx->kv.block_size; }

static void mover_copy(void *ctx, int32_t src, int32_t dst) { ctx_par_copy_block(ctx, src, dst); }
static void mover_read(void *ctx, int32_t block, void *dst) { ctx_par_read_block(ctx, block, dst); }
static void mover_write(void *ctx, int32_t block, const void *src) { ctx_par_write_block(ctx, block, src); }

kv_mover ctx_kv_mover(loom_context *ctx) {
    return (kv_mover){.ctx = ctx,
                      .block_bytes = ctx_par_block_bytes(ctx),
                      .copy_block = mover_copy,
                      .read_block = mover_read,
                      .write_block = mover_write};
}

void context_parallel_for(loom_context *ctx, int64_t n_items, int64_t grain, loom_pool_fn fn, void *arg) {
    ctx->backend->ops->parallel_for(ctx->backend, n_items, grain, fn, arg);
}

const float *loom_get_logits(const loom_context *ctx, int32_t i) {
    return ctx->logits + (size_t)i * (size_t)ctx->model->cfg.vocab_size;
}
