/* The scheduler's step: running decodes first, then swap-ins, then admissions (policy in scheduler.h). */
#include <stdlib.h>

#include "sched/scheduler.h"
#include "sched/seq_queue.h"
#include "sched/swap_area.h"

struct loom_sched {
    loom_sched_config cfg;
    kv_manager *kvm; /* the engine's: blocks, copy-on-write, swap moves */
    loom_swap_area swap;
    loom_seq_queue running, waiting, swapped;
    loom_sched_item *items; /* [max_num_seqs] */
    uint64_t preemptions_total, swap_outs_total, swap_ins_total;
};

loom_status sched_create(const loom_sched_config *cfg, kv_manager *kvm, loom_sched **out, loom_error *err) {
    *out = NULL;
    if (cfg->max_num_seqs < 1 || cfg->max_num_batched_tokens < cfg->max_num_seqs)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "max_num_batched_tokens (%d) must be >= max_num_seqs (%d) >= 1",
                         cfg->max_num_batched_tokens, cfg->max_num_seqs);
    loom_sched *s = calloc(1, sizeof *s);
    if (!s || !(s->items = malloc((size_t)cfg->max_num_seqs * sizeof *s->items))) {
        free(s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the scheduler");
    }
    s->cfg = *cfg;
    s->kvm = kvm;
    uint64_t swap_bytes = cfg->preemption_mode == LOOM_PREEMPT_SWAP ? cfg->swap_space_bytes : 0;
    loom_status st = swap_area_init(&s->swap, swap_bytes, kvm->mover.block_bytes, err);
    if (st != LOOM_OK) {
        sched_free(s);
        return st;
    }
    *out = s;
    return LOOM_OK;
}

static void release_kv(loom_sched *s, loom_seq *seq) {
    bm_release(s->kvm->bm, &seq->table);
    if (seq->swap_slots) swap_area_give_back(&s->swap, seq->swap_slots, seq->swap_n_blocks);
    free(seq->swap_slots);
    seq->swap_slots = NULL;
    seq->swap_n_blocks = 0;
}

void sched_free(loom_sched *s) {
    if (!s) return;
    loom_seq_queue *queues[] = {&s->running, &s->waiting, &s->swapped};
    for (int q = 0; q < 3; q++) {
        for (int32_t i = 0; i < queues[q]->n; i++) release_kv(s, queues[q]->items[i]);
        seq_queue_free(queues[q]);
    }
    swap_area_destroy(&s->swap);
    free(s->items);
    free(s);
}

loom_status sched_add(loom_sched *s, loom_seq *seq, loom_error *err) {
    seq->status = LOOM_SEQ_WAITING;
    if (seq_queue_insert_sorted(&s->waiting, seq))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the waiting queue");
    return LOOM_OK;
}

/* Gives seq blocks for n more tokens, the ones it will write private. 0, or -1 when the pool is short. */
static int reserve_blocks(loom_sched *s, loom_seq *seq, int32_t n) {
    return kvm_reserve(s->kvm, &seq->table, seq->n_computed, seq->n_computed + n);
}

/* Copies the sequence's computed blocks to the swap area; -1 (nothing done) when it has no room. */
static int swap_out(loom_sched *s, loom_seq *seq) {
    int32_t bs = bm_block_size(s->kvm->bm), n = (seq->n_computed + bs - 1) / bs;
    int32_t *slots = malloc((size_t)(n ? n : 1) * sizeof *slots);
    if (!slots || n == 0 || swap_area_take(&s->swap, n, slots)) {
        free(slots);
        return -1;
    }
    for (int32_t i = 0; i < n; i++)
        s->kvm->mover.read_block(s->kvm->mover.ctx, seq->table.blocks[i], loom_swap_area_slot(&s->swap, slots[i]));
    bm_release(s->kvm->bm, &seq->table);
    seq->swap_slots = slots;
    seq->swap_n_blocks = n;
    s->swap_outs_total++;
    return 0;
}

static loom_status preempt(loom_sched *s, loom_seq *victim, loom_error *err) {
    seq_queue_remove(&s->running, victim);
    loom_seq_drop_spec(victim, victim->n_spec); /* proposals are made again when it runs */
    victim->n_preemptions++;
    s->preemptions_total++;
    if (s->cfg.preemption_mode == LOOM_PREEMPT_SWAP && swap_out(s, victim) == 0) {
        victim->status = LOOM_SEQ_SWAPPED;
        if (seq_queue_insert_sorted(&s->swapped, victim))
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the swapped queue");
        return LOOM_OK;
    }
    bm_release(s->kvm->bm, &victim->table);
    victim->n_computed = 0;
    return sched_add(s, victim, err);
}

static void add_item(loom_sched *s, loom_sched_step *st, loom_seq *seq, int32_t n) {
    int samples = seq->n_computed + n == seq->n_tokens;
    s->items[st->n_items++] = (loom_sched_item){
        .seq = seq, .start = seq->n_computed, .n_tokens = n, .samples = samples, .n_spec = samples ? seq->n_spec : 0};
    st->n_batched_tokens += n;
}

/* Pass 1: every running sequence, best first, preempting from the tail when blocks run out. */
static loom_status schedule_running(loom_sched *s, loom_sched_step *st, int32_t *budget, loom_error *err) {
    seq_queue_sort(&s->running);
    for (int32_t i = 0; i<s->running.n && * budget> 0; i++) {
        loom_seq *seq = s->running.items[i];
        int32_t n = loom_seq_pending_tokens(seq);
        if (n > *budget) n = *budget;
        /* proposals past the budget are dropped, so the item still ends the sequence's tokens and samples */
        int32_t cut = loom_seq_pending_tokens(seq) - n;
        if (seq->n_spec > 0 && cut > 0) loom_seq_drop_spec(seq, cut < seq->n_spec ? cut : seq->n_spec);
        int scheduled = 1;
        while (reserve_blocks(s, seq, n)) {
            if (seq->n_spec > 0) { /* speculation never preempts anyone: drop the proposals first */
                n -= seq->n_spec;
                loom_seq_drop_spec(seq, seq->n_spec);
                continue;
            }
            loom_seq *victim = s->running.items[s->running.n - 1];
            loom_status rc = preempt(s, victim, err);
            if (rc != LOOM_OK) return rc;
            st->n_preempted++;
            if (victim == seq) {
                scheduled = 0;
                break;
            }
        }
        if (!scheduled) break; /* it was the tail: nothing after it */
        add_item(s, st, seq, n);
        *budget -= n;
    }
    return LOOM_OK;
}

/* Tokens a not-running sequence may compute this step: 0 when it must wait for more budget. */
static int32_t admit_tokens(const loom_sched *s, const loom_seq *seq, int32_t budget) {
    int32_t n = loom_seq_pending_tokens(seq);
    if (n <= budget) return n;
    return s->cfg.enable_chunked_prefill ? budget : 0;
}

/* Pass 2: swapped sequences come back (fresh blocks, KV copied in) while blocks, seats and budget allow. */
static loom_status schedule_swapped(loom_sched *s, loom_sched_step *st, int32_t *budget, loom_error *err) {
    while (s->swapped.n > 0) {
        loom_seq *seq = s->swapped.items[0];
        int32_t n = admit_tokens(s, seq, *budget);
        if (n == 0 || s->running.n >= s->cfg.max_num_seqs) break;
        if (bm_allocate(s->kvm->bm, &seq->table, seq->n_computed + n)) break;
        for (int32_t i = 0; i < seq->swap_n_blocks; i++)
            s->kvm->mover.write_block(s->kvm->mover.ctx, seq->table.blocks[i],
                                      loom_swap_area_slot(&s->swap, seq->swap_slots[i]));
        swap_area_give_back(&s->swap, seq->swap_slots, seq->swap_n_blocks);
        free(seq->swap_slots);
        seq->swap_slots = NULL;
        seq->swap_n_blocks = 0;
        s->swap_ins_total++;
        seq_queue_remove(&s->swapped, seq);
        seq->status = LOOM_SEQ_RUNNING;
        if (seq_queue_push(&s->running, seq))
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the running queue");
        add_item(s, st, seq, n);
        *budget -= n;
    }
    return LOOM_OK;
}

/* Pass 3: waiting sequences in order, head-of-line blocking. */
static loom_status schedule_waiting(loom_sched *s, loom_sched_step *st, int32_t *budget, loom_error *err) {
    while (s->waiting.n > 0) {
        loom_seq *seq = s->waiting.items[0];
        if (s->running.n >= s->cfg.max_num_seqs) break;
        int fresh = seq->n_computed == 0 && seq->table.n_blocks == 0;
        if (fresh) {
            seq->n_computed = bm_match_prefix(s->kvm->bm, seq->tokens, seq->n_tokens, &seq->table);
            if (seq->n_preemptions == 0)
                seq->n_cached_prompt = seq->n_computed < seq->n_prompt ? seq->n_computed : seq->n_prompt;
        }
        int32_t n = admit_tokens(s, seq, *budget);
        if (n == 0 || reserve_blocks(s, seq, n)) {
            if (fresh) { /* give the prefix back: the next attempt matches again */
                bm_release(s->kvm->bm, &seq->table);
                seq->n_computed = 0;
            }
            break;
        }
        seq_queue_remove(&s->waiting, seq);
        seq->status = LOOM_SEQ_RUNNING;
        if (seq_queue_push(&s->running, seq))
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the running queue");
        add_item(s, st, seq, n);
        *budget -= n;
    }
    return LOOM_OK;
}

loom_status sched_schedule(loom_sched *s, loom_sched_step *out, loom_error *err) {
    *out = (loom_sched_step){.items = s->items};
    int32_t budget = s->cfg.max_num_batched_tokens;
    loom_status st = schedule_running(s, out, &budget, err);
    if (st == LOOM_OK && out->n_preempted == 0) st = schedule_swapped(s, out, &budget, err);
    /* waiting sequences wait behind swapped ones, unless nothing runs: then the swapped head cannot come
     * back because waiting sequences hold the blocks it needs (forked samples share their prompt's), and
     * only running them frees those */
    if (st == LOOM_OK && out->n_preempted == 0 && (s->swapped.n == 0 || s->running.n == 0))
        st = schedule_waiting(s, out, &budget, err);
    return st;
}

void sched_complete_step(loom_sched *s, const loom_sched_step *step) {
    for (int32_t i = 0; i < step->n_items; i++) {
        loom_seq *seq = step->items[i].seq;
        seq->n_computed = step->items[i].start + step->items[i].n_tokens - step->items[i].n_spec;
        bm_commit(s->kvm->bm, &seq->table, seq->tokens, seq->n_computed);
    }
}

void sched_accept_spec(loom_sched *s, loom_seq *seq, int32_t n_accepted) {
    seq->n_computed += n_accepted;
    bm_commit(s->kvm->bm, &seq->table, seq->tokens, seq->n_computed);
    bm_truncate(s->kvm->bm, &seq->table, seq->n_tokens);
}

loom_seq *const *sched_running(const loom_sched *s, int32_t *n) {
    *n = s->running.n;
    return s->running.items;
}

loom_status sched_fork(loom_sched *s, loom_seq *parent, loom_seq *child, loom_error *err) {
    loom_status st = bm_fork(s->kvm->bm, &parent->table, &child->table, err);
    if (st != LOOM_OK) return st;
    child->n_computed = parent->n_computed;
    child->priority = parent->priority;
    child->arrival = parent->arrival;
    child->status = LOOM_SEQ_WAITING;
    if (seq_queue_insert_sorted(&s->waiting, child)) {
        bm_release(s->kvm->bm, &child->table);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the waiting queue");
    }
    return LOOM_OK;
}

void sched_finish(loom_sched *s, loom_seq *seq) {
    seq_queue_remove(&s->running, seq); /* it is in at most one queue */
    seq_queue_remove(&s->waiting, seq);
    seq_queue_remove(&s->swapped, seq);
    release_kv(s, seq);
    seq->status = LOOM_SEQ_FINISHED;
}

void sched_get_counts(const loom_sched *s, loom_sched_counts *out) {
    *out = (loom_sched_counts){.n_running = s->running.n,
                               .n_waiting = s->waiting.n,
                               .n_swapped = s->swapped.n,
                               .preemptions_total = s->preemptions_total,
                               .swap_outs_total = s->swap_outs_total,
                               .swap_ins_total = s->swap_ins_total};
    for (int32_t i = 0; i < s->waiting.n; i++) out->n_waiting_preempted += s->waiting.items[i]->n_preemptions > 0;
}

int sched_has_work(const loom_sched *s) { return s->running.n + s->waiting.n + s->swapped.n > 0; }
