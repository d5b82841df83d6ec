/* struct loom_context, shared by context.c (the single-process context) and context_parallel.c (its
 * mirroring on the other ranks of a sharded model). */
#ifndef LOOM_ENGINE_CONTEXT_IMPL_H
#define LOOM_ENGINE_CONTEXT_IMPL_H

#include "engine/context_internal.h"
#include "kv/kv_store.h"
#include "model/dist_forward.h"
#include "model/forward.h"

typedef struct decode_state decode_state;

struct loom_context {
    loom_model *model;
    loom_backend *backend;
    loom_context_params params; /* resolved: block size, KV dtype and blocks filled in */
    loom_kv_store kv;
    loom_workspace ws;
    decode_state *seqs;       /* the sequence API's KV manager and tables (decode.c), made by its first call */
    float *logits;            /* [n_logits][vocab] of the last forward */
    size_t logits_cap;        /* floats allocated */
    loom_dist *dist;          /* a sharded model: the ranks running it with us; NULL for a whole model */
    int follower;             /* created by loom_parallel_follow for rank 0's twin context */
    size_t *rank_block_bytes; /* [world size] one block's K+V bytes on each rank (rank 0 only) */
    size_t all_block_bytes;   /* their sum */
    int32_t *wire;            /* a follower's copy of the step rank 0 sent */
    size_t wire_cap;          /* int32s */
};

/* context.c: params as given to loom_context_create; follower: a twin made by loom_parallel_follow. */
loom_status ctx_create(loom_model *model, const loom_context_params *params, int follower, loom_context **out,
                       loom_error *err);

/* decode.c: frees ctx->seqs. */
void ctx_decode_state_free(loom_context *ctx);

/* context_parallel.c: rank 0 tells the other ranks what to do with their twin of ctx. For a whole model
 * each is the plain single-process operation. */
void ctx_par_announce(const loom_model *model, const loom_context_params *resolved); /* rank 0, before creating */
/* Collective after every rank created (or failed to create) its part: all succeed or all fail; sets
 * ctx->dist. Frees *ctx and clears it on failure. */
loom_status ctx_par_attach(loom_model *model, loom_context **ctx, loom_status local, loom_error *err);
void ctx_par_free(loom_context *ctx);
void ctx_par_forward(loom_context *ctx, const loom_forward_batch *b); /* runs this rank's part too */
void ctx_par_copy_block(loom_context *ctx, int32_t src, int32_t dst);
void ctx_par_read_block(const loom_context *ctx, int32_t block, void *dst);
void ctx_par_write_block(loom_context *ctx, int32_t block, const void *src);
/* The follower side: runs what rank 0 tells this rank's twin context until rank 0 lets it go
 * (ctx_par_release_followers, on rank 0). */
void ctx_par_follow(loom_model *model);
void ctx_par_release_followers(void);
/* Bytes of one block's K+V on all ranks together. */
size_t ctx_par_block_bytes(const loom_context *ctx);

#endif
