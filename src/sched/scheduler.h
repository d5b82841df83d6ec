/* The continuous-batching scheduler (vLLM's, without the model): every step it chooses which
 * sequences compute how many tokens, under a token budget and a sequence cap, and asks the block
 * manager for their KV blocks.
 *
 * Policy, in this order each step:
 *  1. running sequences, best first (lower priority value, then earlier arrival): each gets its pending
 *     tokens (1 for a decode, 1 + K for a decode with K speculative proposals, a chunk for a prompt being
 *     prefilled) within the budget; proposals that do not fit the budget are dropped. When the block
 *     manager cannot grow one, the worst running sequence (the tail: highest priority value, latest
 *     arrival) is preempted, possibly the one being scheduled: by recompute (blocks freed, the sequence
 *     waits and later recomputes prompt + generated tokens) or by swap (blocks copied to the host swap
 *     area, restored before it runs again; recompute when the swap area is full);
 *  2. when nothing was preempted this step: swapped sequences, best first, are swapped back in;
 *  3. when nothing was preempted and nothing is swapped (or nothing runs: waiting sequences may hold the
 *     blocks a swapped one needs, as forked samples do): waiting sequences in (priority, arrival) order, FCFS with
  * head-of-line
 *     blocking (a long prompt at the head is never overtaken, so it cannot starve), each getting a
 *     prefix-cache match and then as much of its prompt as the budget allows (chunked prefill) or all of
 *     it (chunked prefill off: it waits until the whole prompt fits the budget).
 * The scheduler never calls the model; it grows sequences' KV through the engine's KV manager
 * (kv/kv_manager.h), whose mover does block copies (copy-on-write, swap). */
#ifndef LOOM_SCHED_SCHEDULER_H
#define LOOM_SCHED_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include "kv/kv_manager.h"
#include "loom.h"
#include "sched/sequence.h"

typedef struct loom_sched_config {
    int32_t max_num_seqs;           /* sequences running at once (each sample of a request is one) */
    int32_t max_num_batched_tokens; /* tokens per step; >= max_num_seqs */
    int enable_chunked_prefill;
    loom_preemption_mode preemption_mode;
    uint64_t swap_space_bytes;
} loom_sched_config;

/* One sequence's share of a step: tokens [start, start + n_tokens) of seq->tokens. */
typedef struct loom_sched_item {
    loom_seq *seq;
    int32_t start;
    int32_t n_tokens;
    int samples;    /* the step computes every known token: the sequence samples its next one after it */
    int32_t n_spec; /* the item's last n_spec tokens are proposals to verify (seq->n_spec when it samples) */
} loom_sched_item;

typedef struct loom_sched_step {
    loom_sched_item *items; /* [n_items], owned by the scheduler, valid until the next schedule */
    int32_t n_items;
    int32_t n_batched_tokens;
    int32_t n_preempted; /* preemptions while building this step */
} loom_sched_step;

typedef struct loom_sched loom_sched;

loom_status sched_create(const loom_sched_config *cfg, kv_manager *kvm, loom_sched **out, loom_error *err);
/* Frees the queues; sequences still queued are released from the block manager but not destroyed. */
void sched_free(loom_sched *s);

/* Queues a new sequence as waiting (its arrival and priority set by the caller). */
loom_status sched_add(loom_sched *s, loom_seq *seq, loom_error *err);
/* Builds the next step. An empty step (n_items 0) means nothing can run. */
loom_status sched_schedule(loom_sched *s, loom_sched_step *out, loom_error *err);
/* After the forward of that step: advances n_computed and registers newly full blocks for prefix caching.
 * An item's proposals (n_spec) do not count as computed yet: see sched_accept_spec. */
void sched_complete_step(loom_sched *s, const loom_sched_step *step);
/* After a speculative item's verification, once the engine has dropped the proposals from seq->tokens and
 * appended what it accepted (n_accepted proposals, then the one token it sampled): the accepted
 * proposals' KV (written by the step) now counts as computed and is offered to the prefix cache; blocks
 * past what the sequence's tokens need go back to the pool. The rejected proposals' KV lies beyond
 * n_computed, where nothing reads it and the next write replaces it: it is never committed. */
void sched_accept_spec(loom_sched *s, loom_seq *seq, int32_t n_accepted);
/* The running sequences (valid until the next call into the scheduler). */
loom_seq *const *sched_running(const loom_sched *s, int32_t *n);
/* child (fresh, empty table, same tokens as parent) shares every computed block of parent and waits for
 * a seat (a waiting sequence may hold blocks: it resumes from n_computed). */
loom_status sched_fork(loom_sched *s, loom_seq *parent, loom_seq *child, loom_error *err);
/* Removes a sequence from whichever queue holds it and frees its blocks and swap slots (finish, abort). */
void sched_finish(loom_sched *s, loom_seq *seq);

typedef struct loom_sched_counts {
    int32_t n_running, n_waiting, n_swapped;
    int32_t n_waiting_preempted; /* waiting to recompute after a preemption */
    uint64_t preemptions_total;
    uint64_t swap_outs_total, swap_ins_total;
} loom_sched_counts;

void sched_get_counts(const loom_sched *s, loom_sched_counts *out);
int sched_has_work(const loom_sched *s);

#endif
