/* loom_context: the KV cache (paged: a block pool plus one block table per sequence), activation
 * buffers and the backend for one model; loom_decode validates a ragged batch and runs the forward. */
#include <stdlib.h>
#include <string.h>

#include "kv/block_pool.h"
#include "kv/kv_store.h"
#include "model/forward.h"

#define KV_BLOCK_SIZE 16

struct loom_context {
    loom_model *model;
    loom_backend *backend;
    loom_context_params params;
    loom_kv_store kv;
    loom_block_pool pool;
    loom_workspace ws;
    int32_t max_blocks_per_seq;
    int32_t *block_tables; /* [max_seqs][max_blocks_per_seq] */
    int32_t *seq_len;      /* [max_seqs] tokens whose KV is stored */
    int32_t *seq_blocks;   /* [max_seqs] blocks held */
    /* per-batch scratch, [max_batch_tokens] each */
    int32_t *slots, *logit_tokens, *next_pos;
    float *logits;         /* [n_logits][vocab] of the last decode */
    size_t logits_cap;     /* floats allocated */
};

loom_context_params loom_context_default_params(void) {
    return (loom_context_params){.n_threads = 0, .max_seqs = 1, .max_tokens_per_seq = 0, .max_batch_tokens = 512};
}

void loom_context_free(loom_context *ctx) {
    if (!ctx) return;
    loom_backend_free(ctx->backend);
    loom_kv_store_destroy(&ctx->kv);
    loom_block_pool_destroy(&ctx->pool);
    loom_workspace_destroy(&ctx->ws);
    free(ctx->block_tables);
    free(ctx->seq_len);
    free(ctx->seq_blocks);
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

loom_status loom_context_create(loom_model *model, const loom_context_params *params, loom_context **out,
                                loom_error *err) {
    *out = NULL;
    loom_context_params p = params ? *params : loom_context_default_params();
    const loom_config *c = &model->cfg;
    if (p.max_tokens_per_seq <= 0) p.max_tokens_per_seq = c->max_position_embeddings;
    if (p.max_seqs <= 0 || p.max_seqs > 65536 || p.max_batch_tokens <= 0 || p.max_batch_tokens > (1 << 20) ||
        p.max_tokens_per_seq > (1 << 24) || p.n_threads < 0 || p.n_threads > 512)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "context parameters out of range");
    loom_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    ctx->model = model;
    ctx->params = p;
    ctx->max_blocks_per_seq = (p.max_tokens_per_seq + KV_BLOCK_SIZE - 1) / KV_BLOCK_SIZE;
    int32_t n_blocks = ctx->max_blocks_per_seq * p.max_seqs;
    size_t nt = (size_t)p.max_batch_tokens;
    loom_status st = loom_backend_cpu_create(p.n_threads, &ctx->backend, err);
    if (st == LOOM_OK) st = ctx->backend->ops->reserve(ctx->backend, max_row_len(c), err);
    if (st == LOOM_OK) st = loom_kv_store_init(&ctx->kv, c->n_layers, loom_config_kv_dim(c), n_blocks, KV_BLOCK_SIZE, err);
    if (st == LOOM_OK) st = loom_block_pool_init(&ctx->pool, n_blocks, KV_BLOCK_SIZE, err);
    if (st == LOOM_OK) st = loom_workspace_init(&ctx->ws, c, p.max_batch_tokens, err);
    if (st == LOOM_OK) {
        ctx->block_tables = calloc((size_t)n_blocks, sizeof(int32_t));
        ctx->seq_len = calloc((size_t)p.max_seqs, sizeof(int32_t));
        ctx->seq_blocks = calloc((size_t)p.max_seqs, sizeof(int32_t));
        ctx->slots = malloc(nt * sizeof(int32_t));
        ctx->logit_tokens = malloc(nt * sizeof(int32_t));
        ctx->next_pos = malloc((size_t)p.max_seqs * sizeof(int32_t));
        if (!ctx->block_tables || !ctx->seq_len || !ctx->seq_blocks || !ctx->slots || !ctx->logit_tokens || !ctx->next_pos)
            st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    if (st != LOOM_OK) {
        loom_context_free(ctx);
        return st;
    }
    *out = ctx;
    return LOOM_OK;
}

void loom_seq_clear(loom_context *ctx, int32_t seq) {
    if (seq < 0 || seq >= ctx->params.max_seqs) return;
    int32_t *table = ctx->block_tables + (size_t)seq * ctx->max_blocks_per_seq;
    for (int32_t i = 0; i < ctx->seq_blocks[seq]; i++) loom_block_pool_release(&ctx->pool, table[i]);
    ctx->seq_blocks[seq] = 0;
    ctx->seq_len[seq] = 0;
}

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

/* Gives every token its KV slot, allocating blocks as sequences grow. */
static loom_status assign_slots(loom_context *ctx, const loom_batch_input *b, loom_error *err) {
    for (int32_t t = 0; t < b->n_tokens; t++) {
        int32_t s = b->seq_ids[t], pos = b->positions[t], block_index = pos / KV_BLOCK_SIZE;
        int32_t *table = ctx->block_tables + (size_t)s * ctx->max_blocks_per_seq;
        while (ctx->seq_blocks[s] <= block_index) {
            int32_t blk = loom_block_pool_alloc(&ctx->pool);
            if (blk < 0) return loom_fail(err, LOOM_ERR_NO_MEMORY, "KV cache is full");
            table[ctx->seq_blocks[s]++] = blk;
        }
        ctx->slots[t] = table[block_index] * KV_BLOCK_SIZE + pos % KV_BLOCK_SIZE;
    }
    return LOOM_OK;
}

static loom_status select_logits(loom_context *ctx, const loom_batch_input *b, int32_t *n_logits, loom_error *err) {
    int32_t n = 0;
    for (int32_t t = 0; t < b->n_tokens; t++) {
        int want = b->want_logits ? b->want_logits[t] != 0
                                  : (t == b->n_tokens - 1 || b->seq_ids[t + 1] != b->seq_ids[t]);
        if (want) ctx->logit_tokens[n++] = t;
    }
    size_t need = (size_t)n * (size_t)ctx->model->cfg.vocab_size;
    if (need > ctx->logits_cap) {
        float *p = realloc(ctx->logits, need * sizeof(float));
        if (!p) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for logits of %d tokens", n);
        ctx->logits = p;
        ctx->logits_cap = need;
    }
    *n_logits = n;
    return LOOM_OK;
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
    loom_forward(ctx->model, ctx->backend, &ctx->kv, &ctx->ws, &fb, ctx->logits);
    memcpy(ctx->seq_len, ctx->next_pos, (size_t)ctx->params.max_seqs * sizeof(int32_t));
    return LOOM_OK;
}

const float *loom_get_logits(const loom_context *ctx, int32_t i) {
    return ctx->logits + (size_t)i * (size_t)ctx->model->cfg.vocab_size;
}
