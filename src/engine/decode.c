/* The low-level sequence API of loom.h (loom_decode, loom_seq_*): sequence ids 0 .. max_seqs-1, each with
 * a block table in a KV manager over the context's blocks, made on first use (an engine's context never
 * makes one: the engine has its own manager over the same blocks). loom_decode validates a ragged batch,
 * grows each sequence's table for its tokens exactly as the engine's scheduler does (kvm_reserve), and runs
 * the forward. */
#include <stdlib.h>
#include <string.h>

#include "engine/context_impl.h"

struct decode_state {
    kv_manager kvm;
    loom_block_table *tables; /* [max_seqs] */
    int32_t max_blocks_per_seq;
    int32_t *block_tables;                    /* [max_seqs][max_blocks_per_seq], the forward's view of `tables` */
    int32_t *seq_len;                         /* [max_seqs] tokens whose KV is stored */
    int32_t *seq_tokens;                      /* [max_seqs][max_tokens_per_seq] their ids (prefix-cache hashes) */
    int32_t *slots, *logit_tokens, *next_pos; /* per-batch scratch, [max_batch_tokens] each */
};

void ctx_decode_state_free(loom_context *ctx) {
    decode_state *d = ctx->seqs;
    if (!d) return;
    for (int32_t s = 0; d->tables && s < ctx->params.max_seqs; s++) block_table_free(&d->tables[s]);
    kvm_destroy(&d->kvm);
    free(d->tables);
    free(d->block_tables);
    free(d->seq_len);
    free(d->seq_tokens);
    free(d->slots);
    free(d->logit_tokens);
    free(d->next_pos);
    free(d);
    ctx->seqs = NULL;
}

static decode_state *state(loom_context *ctx, loom_error *err) {
    if (ctx->seqs) return ctx->seqs;
    const loom_context_params *p = &ctx->params;
    decode_state *d = ctx->seqs = calloc(1, sizeof *d);
    if (!d) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory"), NULL;
    size_t nt = (size_t)p->max_batch_tokens, ns = (size_t)p->max_seqs;
    d->max_blocks_per_seq = (p->max_tokens_per_seq + p->block_size - 1) / p->block_size;
    d->tables = calloc(ns, sizeof *d->tables);
    d->block_tables = calloc(ns * (size_t)d->max_blocks_per_seq, sizeof(int32_t));
    d->seq_len = calloc(ns, sizeof(int32_t));
    d->seq_tokens = malloc(ns * (size_t)p->max_tokens_per_seq * sizeof(int32_t));
    d->slots = malloc(nt * sizeof(int32_t));
    d->logit_tokens = malloc(nt * sizeof(int32_t));
    d->next_pos = malloc(ns * sizeof(int32_t));
    kv_mover mover = ctx_kv_mover(ctx);
    loom_status st =
        d->tables && d->block_tables && d->seq_len && d->seq_tokens && d->slots && d->logit_tokens && d->next_pos
        ? kvm_init(&d->kvm, p->num_kv_blocks, p->block_size, 1, &mover, err)
        : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    if (st != LOOM_OK) ctx_decode_state_free(ctx);
    return ctx->seqs;
}

static int32_t *tokens_of(const loom_context *ctx, int32_t seq) {
    return ctx->seqs->seq_tokens + (size_t)seq * (size_t)ctx->params.max_tokens_per_seq;
}

void loom_seq_clear(loom_context *ctx, int32_t seq) {
    loom_error err;
    decode_state *d = state(ctx, &err);
    if (!d || seq < 0 || seq >= ctx->params.max_seqs) return;
    bm_release(d->kvm.bm, &d->tables[seq]);
    d->seq_len[seq] = 0;
}

loom_status loom_seq_fork(loom_context *ctx, int32_t src, int32_t dst, loom_error *err) {
    decode_state *d = state(ctx, err);
    if (!d) return LOOM_ERR_NO_MEMORY;
    if (src < 0 || src >= ctx->params.max_seqs || dst < 0 || dst >= ctx->params.max_seqs || src == dst)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "cannot fork sequence %d into %d", src, dst);
    loom_seq_clear(ctx, dst);
    loom_status st = bm_fork(d->kvm.bm, &d->tables[src], &d->tables[dst], err);
    if (st != LOOM_OK) return st;
    memcpy(tokens_of(ctx, dst), tokens_of(ctx, src), (size_t)d->seq_len[src] * sizeof(int32_t));
    d->seq_len[dst] = d->seq_len[src];
    return LOOM_OK;
}

int32_t loom_seq_reuse_prefix(loom_context *ctx, int32_t seq, const int32_t *tokens, int32_t n_tokens) {
    loom_error err;
    decode_state *d = state(ctx, &err);
    if (!d || seq < 0 || seq >= ctx->params.max_seqs || d->seq_len[seq] != 0 || n_tokens <= 0) return 0;
    if (n_tokens > ctx->params.max_tokens_per_seq) n_tokens = ctx->params.max_tokens_per_seq;
    int32_t hit = bm_match_prefix(d->kvm.bm, tokens, n_tokens, &d->tables[seq]);
    memcpy(tokens_of(ctx, seq), tokens, (size_t)hit * sizeof(int32_t));
    d->seq_len[seq] = hit;
    return hit;
}

/* Checks ids, sequences and positions: each sequence's tokens continue its KV at consecutive positions. */
static loom_status validate_batch(loom_context *ctx, const loom_batch_input *b, loom_error *err) {
    decode_state *d = ctx->seqs;
    int32_t vocab = ctx->model->cfg.vocab_size;
    if (b->n_tokens <= 0 || b->n_tokens > ctx->params.max_batch_tokens)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "batch of %d tokens (allowed 1..%d)", b->n_tokens,
                         ctx->params.max_batch_tokens);
    memcpy(d->next_pos, d->seq_len, (size_t)ctx->params.max_seqs * sizeof(int32_t));
    for (int32_t t = 0; t < b->n_tokens; t++) {
        int32_t s = b->seq_ids[t];
        if (b->tokens[t] < 0 || b->tokens[t] >= vocab)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "token id %d out of range (vocab %d)", b->tokens[t], vocab);
        if (s < 0 || s >= ctx->params.max_seqs)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "sequence id %d out of range", s);
        if (b->positions[t] != d->next_pos[s])
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "sequence %d: position %d given, %d expected", s,
                             b->positions[t], d->next_pos[s]);
        if (b->positions[t] >= ctx->params.max_tokens_per_seq)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "sequence %d: position %d exceeds the context length %d", s,
                             b->positions[t], ctx->params.max_tokens_per_seq);
        d->next_pos[s]++;
    }
    return LOOM_OK;
}

/* Gives every run of a sequence's tokens its KV slots (growing its table, copying shared blocks before
 * they are written) and the forward its block-table rows. */
static loom_status assign_slots(loom_context *ctx, const loom_batch_input *b, loom_error *err) {
    decode_state *d = ctx->seqs;
    for (int32_t t = 0, end; t < b->n_tokens; t = end) {
        int32_t s = b->seq_ids[t];
        for (end = t + 1; end < b->n_tokens && b->seq_ids[end] == s; end++) continue;
        int32_t first = b->positions[t], n = end - t;
        if (kvm_reserve(&d->kvm, &d->tables[s], first, first + n) != 0)
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "KV cache is full (%d blocks of %d tokens)",
                             bm_num_blocks(d->kvm.bm), d->kvm.block_size);
        kvm_slots(&d->kvm, &d->tables[s], first, n, d->slots + t);
        memcpy(tokens_of(ctx, s) + first, b->tokens + t, (size_t)n * sizeof(int32_t));
        memcpy(d->block_tables + (size_t)s * d->max_blocks_per_seq, d->tables[s].blocks,
               (size_t)d->tables[s].n_blocks * sizeof(int32_t));
    }
    return LOOM_OK;
}

static int32_t select_logits(decode_state *d, const loom_batch_input *b) {
    int32_t n = 0;
    for (int32_t t = 0; t < b->n_tokens; t++) {
        int want =
            b->want_logits ? b->want_logits[t] != 0 : (t == b->n_tokens - 1 || b->seq_ids[t + 1] != b->seq_ids[t]);
        if (want) d->logit_tokens[n++] = t;
    }
    return n;
}

loom_status loom_decode(loom_context *ctx, const loom_batch_input *b, loom_error *err) {
    decode_state *d = state(ctx, err);
    if (!d) return LOOM_ERR_NO_MEMORY;
    loom_status st = validate_batch(ctx, b, err);
    if (st == LOOM_OK) st = assign_slots(ctx, b, err);
    if (st != LOOM_OK) return st;
    loom_forward_batch fb = {
        .n_tokens = b->n_tokens,
        .tokens = b->tokens,
        .pos = b->positions,
        .seq_of_token = b->seq_ids,
        .slots = d->slots,
        .block_tables = d->block_tables,
        .max_blocks_per_seq = d->max_blocks_per_seq,
        .n_logits = select_logits(d, b),
        .logit_tokens = d->logit_tokens,
    };
    if ((st = context_forward(ctx, &fb, err)) != LOOM_OK) return st;
    memcpy(d->seq_len, d->next_pos, (size_t)ctx->params.max_seqs * sizeof(int32_t));
    /* full blocks join the prefix cache */
    for (int32_t t = 0; t < b->n_tokens; t++) {
        int32_t s = b->seq_ids[t];
        if (t == b->n_tokens - 1 || b->seq_ids[t + 1] != s)
            bm_commit(d->kvm.bm, &d->tables[s], tokens_of(ctx, s), d->seq_len[s]);
    }
    return LOOM_OK;
}
