/* A sharded model's context on many ranks. Rank 0 owns the real context (block manager, scheduler,
 * sampling); every other rank holds a twin with the KV of its own layers and heads, and does what rank
 * 0 tells it: create, run this forward batch, copy / read / write a KV block, free, exit. The tells are
 * broadcasts of a small header and, for a forward, the batch's ids, positions, slots and block tables.
 * For a whole model each operation is the plain local one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/context_impl.h"

enum { CMD_CREATE = 1, CMD_FORWARD, CMD_COPY_BLOCK, CMD_READ_BLOCK, CMD_WRITE_BLOCK, CMD_STATS, CMD_FREE, CMD_EXIT };
enum { TAG_BLOCK = 3 };

typedef struct wire_header {
    int32_t cmd;
    int32_t n_tokens, n_rows, width, n_logits; /* CMD_FORWARD: batch and block-table sizes */
    int32_t a, b;                              /* block ids */
} wire_header;

static int sharded(const loom_model *m) { return !shard_is_whole(&m->shard); }
static int is_rank0(void) { return comm_rank(comm_world()) == 0; }

static void tell(const wire_header *h) { comm_bcast(comm_world(), (void *)h, sizeof *h, 0); }

void ctx_par_announce(const loom_model *model, const loom_context_params *resolved) {
    if (!sharded(model)) return;
    wire_header h = {.cmd = CMD_CREATE};
    tell(&h);
    comm_bcast(comm_world(), (void *)resolved, sizeof *resolved, 0);
}

loom_status ctx_par_attach(loom_model *model, loom_context **out, loom_status local, loom_error *err) {
    if (!sharded(model)) return local;
    loom_comm *world = comm_world();
    int64_t failed = local != LOOM_OK;
    comm_allreduce_max_i64(world, &failed, 1);
    loom_context *ctx = *out;
    loom_status st = local;
    if (failed && st == LOOM_OK)
        st = loom_fail(err, LOOM_ERR_NO_MEMORY, "another rank could not create its part of the context (KV cache)");
    if (st == LOOM_OK) st = dist_create(model, &ctx->dist, err);
    int n = comm_size(world);
    uint64_t mine = ctx ? ctx->kv.block_bytes : 0, *all = NULL;
    if (st == LOOM_OK && is_rank0() && !(all = malloc((size_t)n * sizeof *all))) comm_abort("out of memory");
    if (st == LOOM_OK) comm_gather(world, &mine, sizeof mine, all, 0);
    if (st == LOOM_OK && all) {
        if (!(ctx->rank_block_bytes = malloc((size_t)n * sizeof(size_t)))) comm_abort("out of memory");
        for (int r = 0; r < n; r++) ctx->all_block_bytes += ctx->rank_block_bytes[r] = (size_t)all[r];
    }
    free(all);
    if (st != LOOM_OK && ctx) {
        ctx->follower = 1; /* the others know: nothing to tell them */
        loom_context_free(ctx);
        *out = NULL;
    }
    return st;
}

void ctx_par_free(loom_context *ctx) {
    if (!ctx->follower && ctx->dist && is_rank0()) {
        wire_header h = {.cmd = CMD_FREE};
        tell(&h);
    }
    dist_free(ctx->dist);
    free(ctx->rank_block_bytes);
    free(ctx->wire);
}

static int32_t *wire_space(loom_context *ctx, size_t n) {
    if (n > ctx->wire_cap) {
        int32_t *p = realloc(ctx->wire, n * sizeof *p);
        if (!p) comm_abort("out of memory for a forward batch of %zu ints", n);
        ctx->wire = p;
        ctx->wire_cap = n;
    }
    return ctx->wire;
}

static size_t payload_ints(const wire_header *h) {
    return 4 * (size_t)h->n_tokens + (size_t)h->n_logits + (size_t)h->n_rows * (size_t)h->width;
}

/* Rank 0: the batch as [tokens | pos | seq_of_token | slots | logit_tokens | block tables trimmed to the
 * blocks this step reaches], so the others can rebuild it. */
static void send_batch(loom_context *ctx, const loom_forward_batch *b) {
    wire_header h = {.cmd = CMD_FORWARD, .n_tokens = b->n_tokens, .n_logits = b->n_logits};
    for (int32_t t = 0; t < b->n_tokens; t++) {
        if (b->seq_of_token[t] + 1 > h.n_rows) h.n_rows = b->seq_of_token[t] + 1;
        if (b->pos[t] / ctx->kv.block_size + 1 > h.width) h.width = b->pos[t] / ctx->kv.block_size + 1;
    }
    int32_t *w = wire_space(ctx, payload_ints(&h)), n = b->n_tokens;
    memcpy(w, b->tokens, (size_t)n * sizeof *w);
    memcpy(w + n, b->pos, (size_t)n * sizeof *w);
    memcpy(w + 2 * n, b->seq_of_token, (size_t)n * sizeof *w);
    memcpy(w + 3 * n, b->slots, (size_t)n * sizeof *w);
    memcpy(w + 4 * n, b->logit_tokens, (size_t)b->n_logits * sizeof *w);
    int32_t *tables = w + 4 * n + b->n_logits;
    for (int32_t r = 0; r < h.n_rows; r++)
        memcpy(tables + (size_t)r * h.width, b->block_tables + (size_t)r * b->max_blocks_per_seq,
               (size_t)h.width * sizeof *w);
    tell(&h);
    comm_bcast(comm_world(), w, payload_ints(&h) * sizeof *w, 0);
}

static loom_forward_batch receive_batch(loom_context *ctx, const wire_header *h) {
    int32_t *w = wire_space(ctx, payload_ints(h)), n = h->n_tokens;
    comm_bcast(comm_world(), w, payload_ints(h) * sizeof *w, 0);
    return (loom_forward_batch){.n_tokens = n,
                                .tokens = w,
                                .pos = w + n,
                                .seq_of_token = w + 2 * n,
                                .slots = w + 3 * n,
                                .n_logits = h->n_logits,
                                .logit_tokens = w + 4 * n,
                                .block_tables = w + 4 * n + h->n_logits,
                                .max_blocks_per_seq = h->width};
}

void ctx_par_forward(loom_context *ctx, const loom_forward_batch *b) {
    if (!ctx->dist) {
        forward_run(ctx->model, ctx->backend, &ctx->kv, &ctx->ws, b, ctx->logits);
        return;
    }
    if (!ctx->follower) send_batch(ctx, b);
    dist_forward(ctx->dist, ctx->model, ctx->backend, &ctx->kv, &ctx->ws, b, ctx->logits);
}

void ctx_par_copy_block(loom_context *ctx, int32_t src, int32_t dst) {
    if (ctx->dist && !ctx->follower) {
        wire_header h = {.cmd = CMD_COPY_BLOCK, .a = src, .b = dst};
        tell(&h);
    }
    memcpy(kv_block(&ctx->kv, dst), kv_block(&ctx->kv, src), ctx->kv.block_bytes);
}

size_t ctx_par_block_bytes(const loom_context *ctx) { return ctx->dist ? ctx->all_block_bytes : ctx->kv.block_bytes; }

/* Swapping: rank 0's host buffer holds the block of every rank, rank after rank. */
void ctx_par_read_block(const loom_context *ctx, int32_t block, void *dst) {
    if (ctx->dist && !ctx->follower) {
        wire_header h = {.cmd = CMD_READ_BLOCK, .a = block};
        tell(&h);
    }
    if (ctx->follower) {
        comm_send(comm_world(), kv_block(&ctx->kv, block), ctx->kv.block_bytes, 0, TAG_BLOCK);
        return;
    }
    memcpy(dst, kv_block(&ctx->kv, block), ctx->kv.block_bytes);
    size_t at = ctx->kv.block_bytes;
    for (int r = 1; ctx->dist && r < comm_size(comm_world()); r++) {
        comm_recv(comm_world(), (uint8_t *)dst + at, ctx->rank_block_bytes[r], r, TAG_BLOCK);
        at += ctx->rank_block_bytes[r];
    }
}

void ctx_par_write_block(loom_context *ctx, int32_t block, const void *src) {
    if (ctx->dist && !ctx->follower) {
        wire_header h = {.cmd = CMD_WRITE_BLOCK, .a = block};
        tell(&h);
    }
    if (ctx->follower) {
        comm_recv(comm_world(), kv_block(&ctx->kv, block), ctx->kv.block_bytes, 0, TAG_BLOCK);
        return;
    }
    memcpy(kv_block(&ctx->kv, block), src, ctx->kv.block_bytes);
    size_t at = ctx->kv.block_bytes;
    for (int r = 1; ctx->dist && r < comm_size(comm_world()); r++) {
        comm_send(comm_world(), (const uint8_t *)src + at, ctx->rank_block_bytes[r], r, TAG_BLOCK);
        at += ctx->rank_block_bytes[r];
    }
}

static uint64_t resident_bytes(void) {
    unsigned long long pages_total = 0, pages_resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%llu %llu", &pages_total, &pages_resident) != 2) pages_resident = 0;
    if (f) fclose(f);
    return (uint64_t)pages_resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static loom_rank_stats my_stats(const loom_context *ctx) {
    const loom_shard *s = &ctx->model->shard;
    return (loom_rank_stats){.rank = comm_rank(comm_world()),
                             .tp_rank = s->tp_rank,
                             .pp_rank = s->pp_rank,
                             .weight_bytes = loom_model_get_info(ctx->model)->shard_weight_bytes,
                             .kv_bytes = kv_store_bytes(&ctx->kv),
                             .rss_bytes = resident_bytes(),
                             .comm_seconds = comm_seconds()};
}

/* Every rank's figures, gathered at rank 0 (all into `all` there, [world size]). */
static void gather_stats(loom_context *ctx, loom_rank_stats *all) {
    if (ctx->dist && !ctx->follower) {
        wire_header h = {.cmd = CMD_STATS};
        tell(&h);
    }
    loom_rank_stats mine = my_stats(ctx);
    comm_gather(comm_world(), &mine, sizeof mine, all, 0);
}

/* ---- loom.h ---- */

int32_t loom_context_rank_stats(loom_context *ctx, loom_rank_stats *out, int32_t cap) {
    int32_t n = ctx->dist ? comm_size(comm_world()) : 1;
    loom_rank_stats *all = malloc((size_t)n * sizeof *all);
    if (!all) comm_abort("out of memory");
    if (ctx->dist) gather_stats(ctx, all);
    else all[0] = my_stats(ctx);
    memcpy(out, all, (size_t)(n < cap ? n : cap) * sizeof *out);
    free(all);
    return n;
}

void ctx_par_release_followers(void) {
    wire_header h = {.cmd = CMD_EXIT};
    tell(&h);
}

static void follow_create(loom_model *model, loom_context **ctx) {
    loom_context_params p;
    loom_error ignored;
    comm_bcast(comm_world(), &p, sizeof p, 0);
    if (*ctx) comm_abort("rank 0 created a second context while one is alive");
    /* a failure here reaches rank 0 through ctx_par_attach's agreement */
    ctx_create(model, &p, 1, ctx, &ignored);
}

void ctx_par_follow(loom_model *model) {
    loom_context *ctx = NULL;
    for (;;) {
        wire_header h;
        comm_bcast_idle(comm_world(), &h, sizeof h, 0);
        if (h.cmd == CMD_EXIT) break;
        if (h.cmd == CMD_CREATE) {
            follow_create(model, &ctx);
            continue;
        }
        if (!ctx) comm_abort("rank 0 sent command %d but no context exists here", h.cmd);
        switch (h.cmd) {
            case CMD_FORWARD: {
                loom_forward_batch b = receive_batch(ctx, &h);
                ctx_par_forward(ctx, &b);
                break;
            }
            case CMD_COPY_BLOCK: ctx_par_copy_block(ctx, h.a, h.b); break;
            case CMD_READ_BLOCK: ctx_par_read_block(ctx, h.a, NULL); break;
            case CMD_WRITE_BLOCK: ctx_par_write_block(ctx, h.a, NULL); break;
            case CMD_STATS: gather_stats(ctx, NULL); break;
            case CMD_FREE:
                loom_context_free(ctx);
                ctx = NULL;
                break;
            default: comm_abort("unknown command %d from rank 0", h.cmd);
        }
    }
    loom_context_free(ctx);
}
