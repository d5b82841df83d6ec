/* The forward of a sharded model across ranks: tensor-parallel groups (the ranks of one pipeline stage)
 * and pipeline stages passing the residual stream rank to rank. The batch is split into micro-batches
 * of consecutive tokens that flow through the stages one after another, so stage s works on
 * micro-batch i while stage s+1 works on i-1 (causal attention only looks back, and every rank runs its
 * micro-batches in order, so the KV a token needs is always written first). */
#ifndef LOOM_MODEL_DIST_FORWARD_H
#define LOOM_MODEL_DIST_FORWARD_H

#include "model/forward.h"
#include "parallel/comm.h"

typedef struct loom_dist loom_dist;

/* Collective over the world: every rank calls it with its own shard. */
loom_status dist_create(const loom_model *m, loom_dist **out, loom_error *err);
void dist_free(loom_dist *d);

/* Every rank calls it with the same batch. Afterwards rank 0 has logits [n_logits][vocab] (the whole
 * vocabulary, gathered from the last stage's vocab slices); other ranks' `logits` are not touched. */
void dist_forward(loom_dist *d, const loom_model *m, loom_backend *be, const loom_kv_store *kv, loom_workspace *ws,
                  const loom_forward_batch *b, float *logits);

#endif
