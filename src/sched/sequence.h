/* One sequence's scheduling state: its tokens (prompt + generated), how many of them have KV in the
 * cache, its block table, and where it stands (waiting, running, swapped, finished). A request with
 * n > 1 samples owns n sequences that share the prompt's blocks after the prompt is computed.
 *
 * The invariant every step keeps: tokens [0, n_computed) have KV in the blocks of `table` (or in the
 * host swap area when swapped). A sequence samples its next token exactly when a step brings
 * n_computed up to n_tokens; prefill, decode and recompute after preemption are all this one rule. */
#ifndef LOOM_SCHED_SEQUENCE_H
#define LOOM_SCHED_SEQUENCE_H

#include <stdint.h>

#include "kv/block_manager.h"

typedef enum loom_seq_status {
    LOOM_SEQ_WAITING = 0, /* not started, or preempted by recompute (KV freed) */
    LOOM_SEQ_RUNNING,
    LOOM_SEQ_SWAPPED, /* preempted by swap: KV lives in the host swap area */
    LOOM_SEQ_FINISHED,
} loom_seq_status;

typedef struct loom_seq {
    uint64_t request_id;
    int32_t seq_index; /* 0 .. n-1 within its request */
    int32_t priority;  /* lower runs first */
    uint64_t arrival;  /* FCFS order: a counter, increasing with every added request */
    int32_t *tokens;   /* [n_tokens] prompt then generated ids */
    int32_t n_tokens, capacity_tokens;
    int32_t n_prompt;
    int32_t n_computed;      /* tokens whose KV is stored */
    int32_t n_spec;          /* the last n_spec tokens are speculative proposals awaiting verification
                                * (engine/spec.c); 0 otherwise. They never count as computed. */
    int32_t n_cached_prompt; /* prompt tokens served from the prefix cache (first admission) */
    int32_t n_preemptions;
    loom_seq_status status;
    loom_block_table table;
    int32_t *swap_slots; /* when swapped: [swap_n_blocks] slots of the host swap area, else NULL */
    int32_t swap_n_blocks;
    void *owner; /* the engine's per-sequence state (sampler, detokenizer) */
} loom_seq;

/* A sequence holding a copy of the prompt with room for max_total_tokens tokens. */
loom_status seq_create(uint64_t request_id, int32_t seq_index, const int32_t *prompt, int32_t n_prompt,
                       int32_t max_total_tokens, loom_seq **out, loom_error *err);
/* Frees the sequence (its blocks must already be released). */
void seq_destroy(loom_seq *s);
/* Appends a generated id; -1 when the sequence is at its max_total_tokens. */
int seq_append(loom_seq *s, int32_t id);
/* Tokens the next step must still compute before the sequence can sample (speculative ones included). */
static inline int32_t loom_seq_pending_tokens(const loom_seq *s) { return s->n_tokens - s->n_computed; }
/* Drops the last n (<= n_spec) speculative proposals. */
static inline void loom_seq_drop_spec(loom_seq *s, int32_t n) {
    s->n_tokens -= n;
    s->n_spec -= n;
}

#endif
