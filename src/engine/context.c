/* loom_context: the KV cache (paged: a KV store of fixed-size blocks, a block manager with prefix
 * caching and copy-on-write, one block table per sequence), activation buffers and the backend for one
 * model; loom_decode validates a ragged batch, gives each token its KV slot and runs the forward. */
#include <stdlib.h>
#include <string.h>

#include "engine/context_impl.h"
#include "kernels/cpu/attention.h"
#include "kv/block_manager.h"
#include "kv/kv_store.h"
#include "model/forward.h"

#define DEFAULT_BLOCK_SIZE 16


loom_context_params loom_context_default_params(void) {
    return (loom_context_params){.n_threads = 0, .max_seqs = 1, .max_tokens_per_seq = 0, .max_batch_tokens = 512,
                                 .block_size = DEFAULT_BLOCK_SIZE, .num_kv_blocks = 0, .kv_cache_dtype = LOOM_KV_F32};
}

void loom_context_free(loom_context *ctx) {
    if (!ctx) return;
    ctx_par_free(ctx);
    loom_backend_free(ctx->backend);
    loom_kv_store_destroy(&ctx->kv);
    for (int32_t s = 0; ctx->tables && s < ctx->params.max_seqs; s++) loom_block_table_free(&ctx->tables[s]);
    free(ctx->tables);
    loom_bm_free(ctx->bm);
    loom_workspace_destroy(&ctx->ws);
    free(ctx->block_tables);
    free(ctx->seq_len);
    free(ctx->seq_tokens);
    free(ctx->slots);
    free(ctx->logit_tokens);
    free(ctx->next_pos);
    free(ctx->logits);
    free(ctx);
}

static int64_t max_row_len(const loom_config *c) {
    int64_t m = c->hidden_size;
    if (c->intermediate_size > m) m = c->intermediate_size;
    if (loom_config_q_dim(c) > m) m = loom_config_q_dim(c);
    return m;
}

static loom_status check_params(const loom_config *c, loom_context_params *p, loom_error *err) {
    if (p->max_tokens_per_seq <= 0) p->max_tokens_per_seq = c->max_position_embeddings;
    if (p->block_size == 0) p->block_size = DEFAULT_BLOCK_SIZE;
    if (p->max_seqs <= 0 || p->max_seqs > 65536 || p->max_batch_tokens <= 0 || p->max_batch_tokens > (1 << 20) ||
        p->max_tokens_per_seq > (1 << 24) || p->n_threads < 0 || p->n_threads > 512)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "context parameters out of range");
    if (p->block_size < 1 || p->block_size > 4096 || p->num_kv_blocks < 0)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "block_size must be in 1..4096 and num_kv_blocks >= 0 (got %d, %d)",
                         p->block_size, p->num_kv_blocks);
    if (p->kv_cache_dtype < LOOM_KV_F32 || p->kv_cache_dtype > LOOM_KV_FP8_E4M3)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "unknown kv_cache_dtype %d", p->kv_cache_dtype);
    if (c->head_dim > LOOM_ATTENTION_MAX_HEAD_DIM || c->n_heads / c->n_kv_heads > LOOM_ATTENTION_MAX_GROUP)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "attention supports head_dim <= %d and <= %d query heads per KV head",
                         LOOM_ATTENTION_MAX_HEAD_DIM, LOOM_ATTENTION_MAX_GROUP);
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
    ctx->max_blocks_per_seq = (p->max_tokens_per_seq + p->block_size - 1) / p->block_size;
    size_t nt = (size_t)p->max_batch_tokens, ns = (size_t)p->max_seqs;
    const loom_shard *shard = &model->shard;
    loom_status st = loom_backend_cpu_create(p->n_threads, &ctx->backend, err);
    if (st == LOOM_OK) st = ctx->backend->ops->reserve(ctx->backend, max_row_len(c), err);
    if (st == LOOM_OK)
        st = loom_kv_store_init(&ctx->kv, shard->layer_end - shard->layer_begin, shard->n_kv_heads, c->head_dim,
                                (loom_kv_dtype)p->kv_cache_dtype, p->num_kv_blocks, p->block_size, err);
    if (st == LOOM_OK) st = loom_bm_create(p->num_kv_blocks, p->block_size, 1, &ctx->bm, err);
    if (st == LOOM_OK) st = loom_workspace_init(&ctx->ws, &model->local, p->max_batch_tokens, err);
    if (st == LOOM_OK) {
        ctx->tables = calloc(ns, sizeof *ctx->tables);
        ctx->block_tables = calloc(ns * (size_t)ctx->max_blocks_per_seq, sizeof(int32_t));
        ctx->seq_len = calloc(ns, sizeof(int32_t));
        ctx->seq_tokens = malloc(ns * (size_t)p->max_tokens_per_seq * sizeof(int32_t));
        ctx->slots = malloc(nt * sizeof(int32_t));
        ctx->logit_tokens = malloc(nt * sizeof(int32_t));
        ctx->next_pos = malloc(ns * sizeof(int32_t));
        if (!ctx->tables || !ctx->block_tables || !ctx->seq_len || !ctx->seq_tokens || !ctx->slots || !ctx->logit_tokens ||
            !ctx->next_pos)
            st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
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
    if (model->metadata_only) return loom_fail(err, LOOM_ERR_INVALID_ARG, "the model was loaded without weights (metadata only)");
    loom_status st = check_params(&model->cfg, &p, err);
    if (st != LOOM_OK) return st;
    if (!follower) ctx_par_announce(model, &p);
    st = create_local(model, &p, follower, out, err);
    return ctx_par_attach(model, out, st, err);
}

loom_status loom_context_create(loom_model *model, const loom_context_params *params, loom_context **out,
                                loom_error *err) {
    return ctx_create(model, params, 0, out, err);
}

static int32_t *tokens_of(const loom_context *ctx, int32_t seq) {
    return ctx->seq_tokens + (size_t)seq * (size_t)ctx->params.max_tokens_per_seq;
}

void loom_seq_clear(loom_context *ctx, int32_t seq) {
    if (seq < 0 || seq >= ctx->params.max_seqs) return;
    loom_bm_release(ctx->bm, &ctx->tables[seq]);
    ctx->seq_len[seq] = 0;
}

loom_status loom_seq_fork(loom_context *ctx, int32_t src, int32_t dst, loom_error *err) {
    if (src < 0 || src >= ctx->params.max_seqs || dst < 0 || dst >= ctx->params.max_seqs || src == dst)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "cannot fork sequence %d into %d", src, dst);
    loom_seq_clear(ctx, dst);
    loom_status st = loom_bm_fork(ctx->bm, &ctx->tables[src], &ctx->tables[dst], err);
    if (st != LOOM_OK) return st;
    memcpy(tokens_of(ctx, dst), tokens_of(ctx, src), (size_t)ctx->seq_len[src] * sizeof(int32_t));
    ctx->seq_len[dst] = ctx->seq_len[src];
    return LOOM_OK;
}

int32_t loom_seq_reuse_prefix(loom_context *ctx, int32_t seq, const int32_t *tokens, int32_t n_tokens) {
    if (seq < 0 || seq >= ctx->params.max_seqs || ctx->seq_len[seq] != 0 || n_tokens <= 0) return 0;
    if (n_tokens > ctx->params.max_tokens_per_seq) n_tokens = ctx->params.max_tokens_per_seq;
    int32_t hit = loom_bm_match_prefix(ctx->bm, tokens, n_tokens, &ctx->tables[seq]);
    memcpy(tokens_of(ctx, seq), tokens, (size_t)hit * sizeof(int32_t));
    ctx->seq_len[seq] = hit;
    return hit;
}

uint64_t loom_context_kv_bytes(const loom_context *ctx) { return loom_kv_store_bytes(&ctx->kv); }

/* Checks ids, sequences and positions: each sequence's tokens continue its KV at consecutive positions. */
static loom_status validate_batch(loom_context *ctx, const loom_batch_input *b, loom_error *err) {
    const loom_config *c = &ctx->model->cfg;
    if (b->n_tokens <= 0 || b->n_tokens > ctx->params.max_batch_tokens)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "batch of %d tokens (allowed 1..%d)", b->n_tokens,
                         ctx->params.max_batch_tokens);
    memcpy(ctx->next_pos, ctx->seq_len, (size_t)ctx->params.max_seqs * sizeof(int32_t));
    for (int32_t t = 0; t < b->n_tokens; t++) {
        int32_t s = b->seq_ids[t];
        if (b->tokens[t] < 0 || b->tokens[t] >= c->vocab_size)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "token id %d out of range (vocab %d)", b->tokens[t], c->vocab_size);
        if (s < 0 || s >= ctx->params.max_seqs)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "sequence id %d out of range", s);
        if (b->positions[t] != ctx->next_pos[s])
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "sequence %d: position %d given, %d expected", s,
                             b->positions[t], ctx->next_pos[s]);
        if (b->positions[t] >= ctx->params.max_tokens_per_seq)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "sequence %d: position %d exceeds the context length %d", s,
                             b->positions[t], ctx->params.max_tokens_per_seq);
        ctx->next_pos[s]++;
    }
    return LOOM_OK;
}

/* Gives every token its KV slot: grows the sequence's block table, and copies a block shared with a
 * fork before writing into it. */
static loom_status assign_slots(loom_context *ctx, const loom_batch_input *b, loom_error *err) {
    int32_t bs = ctx->params.block_size;
    for (int32_t t = 0; t < b->n_tokens; t++) {
        int32_t s = b->seq_ids[t], pos = b->positions[t], src, dst;
        loom_block_table *table = &ctx->tables[s];
        if (loom_bm_allocate(ctx->bm, table, pos + 1) != 0)
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "KV cache is full (%d blocks of %d tokens)",
                             loom_bm_num_blocks(ctx->bm), bs);
        int copy = loom_bm_prepare_write(ctx->bm, table, pos, &src, &dst);
        if (copy < 0) return loom_fail(err, LOOM_ERR_NO_MEMORY, "KV cache is full: no block for copy-on-write");
        if (copy) loom_context_copy_block(ctx, src, dst);
        ctx->slots[t] = table->blocks[pos / bs] * bs + pos % bs;
        tokens_of(ctx, s)[pos] = b->tokens[t];
    }
    for (int32_t t = 0; t < b->n_tokens; t++) {
        const loom_block_table *table = &ctx->tables[b->seq_ids[t]];
        memcpy(ctx->block_tables + (size_t)b->seq_ids[t] * ctx->max_blocks_per_seq, table->blocks,
               (size_t)table->n_blocks * sizeof(int32_t));
    }
    return LOOM_OK;
}

static loom_status reserve_logits(loom_context *ctx, int32_t n, loom_error *err) {
    size_t need = (size_t)n * (size_t)ctx->model->cfg.vocab_size;
    if (need <= ctx->logits_cap) return LOOM_OK;
    float *p = realloc(ctx->logits, need * sizeof(float));
    if (!p) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for logits of %d tokens", n);
    ctx->logits = p;
    ctx->logits_cap = need;
    return LOOM_OK;
}

static loom_status select_logits(loom_context *ctx, const loom_batch_input *b, int32_t *n_logits, loom_error *err) {
    int32_t n = 0;
    for (int32_t t = 0; t < b->n_tokens; t++) {
        int want = b->want_logits ? b->want_logits[t] != 0
                                  : (t == b->n_tokens - 1 || b->seq_ids[t + 1] != b->seq_ids[t]);
        if (want) ctx->logit_tokens[n++] = t;
    }
    *n_logits = n;
    return reserve_logits(ctx, n, err);
}

loom_status loom_decode(loom_context *ctx, const loom_batch_input *b, loom_error *err) {
    int32_t n_logits = 0;
    loom_status st = validate_batch(ctx, b, err);
    if (st == LOOM_OK) st = assign_slots(ctx, b, err);
    if (st == LOOM_OK) st = select_logits(ctx, b, &n_logits, err);
    if (st != LOOM_OK) return st;
    loom_forward_batch fb = {
        .n_tokens = b->n_tokens, .tokens = b->tokens, .pos = b->positions, .seq_of_token = b->seq_ids,
        .slots = ctx->slots, .block_tables = ctx->block_tables, .max_blocks_per_seq = ctx->max_blocks_per_seq,
        .n_logits = n_logits, .logit_tokens = ctx->logit_tokens,
    };
    ctx_par_forward(ctx, &fb);
    memcpy(ctx->seq_len, ctx->next_pos, (size_t)ctx->params.max_seqs * sizeof(int32_t));
    /* full blocks join the prefix cache */
    for (int32_t t = 0; t < b->n_tokens; t++) {
        int32_t s = b->seq_ids[t];
        if (t == b->n_tokens - 1 || b->seq_ids[t + 1] != s) loom_bm_commit(ctx->bm, &ctx->tables[s], tokens_of(ctx, s), ctx->seq_len[s]);
    }
    return LOOM_OK;
}

/* ---- context_internal.h ---- */

loom_status loom_context_forward(loom_context *ctx, const loom_forward_batch *b, loom_error *err) {
    if (b->n_tokens <= 0 || b->n_tokens > ctx->params.max_batch_tokens)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "batch of %d tokens (allowed 1..%d)", b->n_tokens,
                         ctx->params.max_batch_tokens);
    loom_status st = reserve_logits(ctx, b->n_logits, err);
    if (st != LOOM_OK) return st;
    ctx_par_forward(ctx, b);
    return LOOM_OK;
}

int32_t loom_context_num_kv_blocks(const loom_context *ctx) { return ctx->kv.n_blocks; }
int32_t loom_context_block_size(const loom_context *ctx) { return ctx->kv.block_size; }
size_t loom_context_block_bytes(const loom_context *ctx) { return ctx_par_block_bytes(ctx); }
void loom_context_copy_block(loom_context *ctx, int32_t src, int32_t dst) { ctx_par_copy_block(ctx, src, dst); }
void loom_context_read_block(const loom_context *ctx, int32_t block, void *dst) { ctx_par_read_block(ctx, block, dst); }
void loom_context_write_block(loom_context *ctx, int32_t block, const void *src) { ctx_par_write_block(ctx, block, src); }

void loom_context_parallel_for(loom_context *ctx, int64_t n_items, int64_t grain, loom_pool_fn fn, void *arg) {
    ctx->backend->ops->parallel_for(ctx->backend, n_items, grain, fn, arg);
}

const float *loom_get_logits(const loom_context *ctx, int32_t i) {
    return ctx->logits + (size_t)i * (size_t)ctx->model->cfg.vocab_size;
}
