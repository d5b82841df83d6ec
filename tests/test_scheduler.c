/* The scheduler without a model (DESIGN.md: "test it with a fake step"): a fake KV store records the
 * token id written at every slot, and the fake step checks, before each sequence computes, that all its
 * earlier positions still hold its own tokens (so recompute, swap and copy-on-write are verified), then
 * "computes" by writing its tokens and samples a deterministic next id. */
#include <string.h>

#include "check.h"
#include "sched/scheduler.h"

#define BS 4

typedef struct fake_kv {
    int32_t *slot_token; /* [n_blocks * BS] */
    int32_t n_blocks;
    int copies;
    const loom_block_manager *bm;
} fake_kv;

static void fake_copy(void *ctx, int32_t src, int32_t dst) {
    fake_kv *kv = ctx;
    memcpy(kv->slot_token + dst * BS, kv->slot_token + src * BS, BS * sizeof(int32_t));
    kv->copies++;
}
static void fake_read(void *ctx, int32_t block, void *dst) {
    fake_kv *kv = ctx;
    memcpy(dst, kv->slot_token + block * BS, BS * sizeof(int32_t));
    /* a swapped-out block's KV is gone, unless another sequence (a forked sample) still holds the block */
    if (bm_ref_count(kv->bm, block) == 1) memset(kv->slot_token + block * BS, 0xff, BS * sizeof(int32_t));
}
static void fake_write(void *ctx, int32_t block, const void *src) {
    fake_kv *kv = ctx;
    memcpy(kv->slot_token + block * BS, src, BS * sizeof(int32_t));
}

typedef struct world {
    fake_kv kv;
    kv_manager kvm;
    loom_block_manager *bm; /* kvm.bm */
    loom_sched *sched;
    loom_seq *seqs[64];
    int32_t max_total[64];
    int32_t admitted_step[64]; /* first step that scheduled the sequence, -1 before */
    int n_seqs, finished, step, kv_errors, budget_violations, seat_violations;
    int spec_k; /* > 0: decoding sequences get up to spec_k proposals each step (fake_propose) */
    int proposed, accepted;
    loom_sched_config cfg;
} world;

static void world_init(world *w, int32_t n_blocks, loom_sched_config cfg, int prefix_caching) {
    memset(w, 0, sizeof *w);
    w->cfg = cfg;
    w->kv.n_blocks = n_blocks;
    w->kv.slot_token = calloc((size_t)n_blocks * BS, sizeof(int32_t));
    loom_error err = {0};
    kv_mover mover = {&w->kv, BS * sizeof(int32_t), fake_copy, fake_read, fake_write};
    CHECK(kvm_init(&w->kvm, n_blocks, BS, prefix_caching, &mover, &err) == LOOM_OK);
    w->bm = w->kvm.bm;
    w->kv.bm = w->bm;
    CHECK(sched_create(&cfg, &w->kvm, &w->sched, &err) == LOOM_OK);
}

static void world_free(world *w) {
    sched_free(w->sched);
    for (int i = 0; i < w->n_seqs; i++) seq_destroy(w->seqs[i]);
    kvm_destroy(&w->kvm);
    free(w->kv.slot_token);
}

/* A sequence with prompt ids 1000*k + i, generating until n_prompt + n_gen tokens. */
static loom_seq *add_seq(world *w, int32_t n_prompt, int32_t n_gen, int32_t priority) {
    int k = w->n_seqs;
    int32_t prompt[512];
    for (int32_t i = 0; i < n_prompt; i++) prompt[i] = 1000 * (k + 1) + i;
    loom_error err = {0};
    loom_seq *s = NULL;
    CHECK(seq_create((uint64_t)k, 0, prompt, n_prompt, n_prompt + n_gen, &s, &err) == LOOM_OK);
    s->priority = priority;
    s->arrival = (uint64_t)k;
    w->seqs[k] = s;
    w->max_total[k] = n_prompt + n_gen;
    w->admitted_step[k] = -1;
    w->n_seqs++;
    CHECK(sched_add(w->sched, s, &err) == LOOM_OK);
    return s;
}

static int index_of(const world *w, const loom_seq *s) {
    for (int i = 0; i < w->n_seqs; i++)
        if (w->seqs[i] == s) return i;
    return -1;
}

/* The fake model's token at position p of sequence k (what fake_step samples there). */
static int32_t true_token(int k, int32_t p) { return 7 * k + p; }

/* Speculation as the engine does it: every running sequence about to decode gets proposals, right or
 * wrong by a fixed pattern (about one in three wrong). */
static void fake_propose(world *w) {
    int32_t n;
    loom_seq *const *running = sched_running(w->sched, &n);
    for (int32_t i = 0; i < n; i++) {
        loom_seq *s = running[i];
        int k = index_of(w, s);
        if (s->n_spec > 0 || s->n_computed != s->n_tokens - 1) continue;
        int32_t m = w->max_total[k] - s->n_tokens - 1;
        if (m > w->spec_k) m = w->spec_k;
        for (int32_t j = 0; j < m; j++) {
            int32_t p = s->n_tokens;
            CHECK(seq_append(s, true_token(k, p) + ((p * 31 + w->step) % 3 == 0)) == 0);
            s->n_spec++;
        }
    }
}

/* After the step: the proposals are taken back, the right ones kept, then the true token follows (as
 * spec_verify does); the kept proposals' KV counts from now on. */
static void fake_verify(world *w, loom_seq *s, int32_t n_spec) {
    int k = index_of(w, s);
    int32_t proposals[64], n_accepted = 0;
    memcpy(proposals, s->tokens + s->n_tokens - n_spec, (size_t)n_spec * sizeof *proposals);
    loom_seq_drop_spec(s, n_spec);
    while (n_accepted < n_spec && proposals[n_accepted] == true_token(k, s->n_tokens)) {
        CHECK(seq_append(s, proposals[n_accepted++]) == 0);
    }
    w->proposed += n_spec;
    w->accepted += n_accepted;
    CHECK(seq_append(s, true_token(k, s->n_tokens)) == 0);
    if (s->n_tokens < w->max_total[k]) sched_accept_spec(w->sched, s, n_accepted);
}

/* One fake step; returns the number of scheduled items. */
static int fake_step(world *w, loom_sched_step *out) {
    loom_error err = {0};
    loom_sched_step st;
    if (w->spec_k > 0) fake_propose(w);
    CHECK(sched_schedule(w->sched, &st, &err) == LOOM_OK);
    if (st.n_batched_tokens > w->cfg.max_num_batched_tokens) w->budget_violations++;
    if (st.n_items > w->cfg.max_num_seqs) w->seat_violations++;
    for (int32_t i = 0; i < st.n_items; i++) {
        const loom_sched_item *it = &st.items[i];
        loom_seq *s = it->seq;
        int k = index_of(w, s);
        if (w->admitted_step[k] < 0) w->admitted_step[k] = w->step;
        for (int32_t p = 0; p < it->start + it->n_tokens; p++) {
            int32_t slot = s->table.blocks[p / BS] * BS + p % BS;
            if (p < it->start && w->kv.slot_token[slot] != s->tokens[p]) w->kv_errors++;
            if (p >= it->start) w->kv.slot_token[slot] = s->tokens[p];
        }
    }
    sched_complete_step(w->sched, &st);
    for (int32_t i = 0; i < st.n_items; i++) {
        loom_seq *s = st.items[i].seq;
        if (!st.items[i].samples) continue;
        int k = index_of(w, s);
        if (st.items[i].n_spec > 0) fake_verify(w, s, st.items[i].n_spec);
        else CHECK(seq_append(s, true_token(k, s->n_tokens)) == 0);
        if (s->n_tokens == w->max_total[k]) {
            sched_finish(w->sched, s);
            w->finished++;
        }
    }
    w->step++;
    if (out) *out = st;
    return st.n_items;
}

static int run_to_end(world *w, int max_steps) {
    while (sched_has_work(w->sched) && w->step < max_steps) fake_step(w, NULL);
    return !sched_has_work(w->sched);
}

static loom_sched_config config(int32_t seqs, int32_t tokens) {
    return (loom_sched_config){.max_num_seqs = seqs,
                               .max_num_batched_tokens = tokens,
                               .enable_chunked_prefill = 1,
                               .preemption_mode = LOOM_PREEMPT_RECOMPUTE,
                               .swap_space_bytes = 1 << 20};
}

static void test_admission_order_is_fcfs(void) {
    world w;
    world_init(&w, 64, config(2, 64), 0);
    for (int i = 0; i < 4; i++) add_seq(&w, 5, 3, 0);
    loom_sched_step st;
    fake_step(&w, &st);
    CHECK(st.n_items == 2);
    CHECK(st.items[0].seq == w.seqs[0] && st.items[1].seq == w.seqs[1]);
    CHECK(run_to_end(&w, 100));
    CHECK(w.finished == 4);
    CHECK(w.admitted_step[2] > w.admitted_step[1] && w.admitted_step[3] >= w.admitted_step[2]);
    CHECK(w.kv_errors == 0);
    CHECK(bm_num_free(w.bm) == 64);
    world_free(&w);
}

static void test_budget_respected_every_step(void) {
    world w;
    world_init(&w, 256, config(8, 24), 1);
    for (int i = 0; i < 30; i++) add_seq(&w, 3 + (i * 7) % 40, 1 + (i * 5) % 11, 0);
    CHECK(run_to_end(&w, 2000));
    CHECK(w.finished == 30);
    CHECK(w.budget_violations == 0);
    CHECK(w.seat_violations == 0);
    CHECK(w.kv_errors == 0);
    CHECK(bm_num_free(w.bm) == 256);
    world_free(&w);
}

/* A long prompt at the head of the queue is admitted before everything that arrives after it and
 * finishes its prefill in chunks while the running sequences keep decoding. */
static void test_long_prompt_is_not_starved(void) {
    world w;
    world_init(&w, 512, config(8, 16), 0);
    for (int i = 0; i < 4; i++) add_seq(&w, 4, 40, 0);
    for (int i = 0; i < 3; i++) fake_step(&w, NULL);
    loom_seq *lng = add_seq(&w, 200, 2, 0);
    int long_index = w.n_seqs - 1;
    int prefill_done_step = -1;
    for (int t = 0; t < 200 && sched_has_work(w.sched); t++) {
        if (t % 2 == 0 && w.n_seqs < 40) add_seq(&w, 4, 3, 0);
        fake_step(&w, NULL);
        if (prefill_done_step < 0 && lng->n_computed >= 200) prefill_done_step = w.step;
    }
    CHECK(run_to_end(&w, 2000));
    for (int i = long_index + 1; i < w.n_seqs; i++) CHECK(w.admitted_step[i] >= w.admitted_step[long_index]);
    /* 16 tokens a step minus at most 4 decodes: the 200-token prompt needs about 17 steps */
    CHECK_MSG(prefill_done_step > 0 && prefill_done_step - w.admitted_step[long_index] <= 25, "prefill took %d steps",
              prefill_done_step - w.admitted_step[long_index]);
    CHECK(w.budget_violations == 0 && w.kv_errors == 0);
    world_free(&w);
}

static void test_priorities(void) {
    world w;
    world_init(&w, 64, config(1, 64), 0);
    add_seq(&w, 4, 2, 5);
    add_seq(&w, 4, 2, 0);
    add_seq(&w, 4, 2, 5);
    loom_sched_step st;
    fake_step(&w, &st);
    CHECK(st.n_items == 1 && st.items[0].seq == w.seqs[1]);
    CHECK(run_to_end(&w, 100));
    CHECK(w.admitted_step[0] < w.admitted_step[2]); /* FCFS within a priority */
    world_free(&w);
}

/* With 12 blocks of 4 tokens, three sequences growing to 20 tokens cannot all fit: preemption. The
 * victim is the worst running one (priority value, then latest arrival). */
static void preemption_case(loom_preemption_mode mode) {
    world w;
    loom_sched_config cfg = config(4, 64);
    cfg.preemption_mode = mode;
    world_init(&w, 12, cfg, 1);
    add_seq(&w, 6, 14, 0);
    add_seq(&w, 6, 14, 0);
    add_seq(&w, 6, 14, 0);
    add_seq(&w, 6, 14, 1);
    int first_victim = -1;
    while (sched_has_work(w.sched) && w.step < 500) {
        loom_sched_counts before;
        sched_get_counts(w.sched, &before);
        fake_step(&w, NULL);
        loom_sched_counts after;
        sched_get_counts(w.sched, &after);
        if (after.preemptions_total > before.preemptions_total && first_victim < 0)
            for (int i = 0; i < w.n_seqs; i++)
                if (w.seqs[i]->n_preemptions > 0) first_victim = i;
    }
    loom_sched_counts c;
    sched_get_counts(w.sched, &c);
    CHECK(w.finished == 4);
    CHECK(c.preemptions_total >= 1);
    CHECK_MSG(first_victim == 3 || (w.seqs[3]->n_preemptions > 0 && first_victim == 2),
              "first victim %d (the priority-1 sequence, or the latest arrival after it, is expected)", first_victim);
    if (mode == LOOM_PREEMPT_SWAP) CHECK(c.swap_outs_total >= 1 && c.swap_ins_total == c.swap_outs_total);
    else CHECK(c.swap_outs_total == 0);
    CHECK(w.kv_errors == 0);
    CHECK(w.budget_violations == 0);
    CHECK(bm_num_free(w.bm) == 12);
    world_free(&w);
}

static void test_preemption_recompute(void) { preemption_case(LOOM_PREEMPT_RECOMPUTE); }
static void test_preemption_swap(void) { preemption_case(LOOM_PREEMPT_SWAP); }

static void test_chunked_prefill_off_keeps_prompts_whole(void) {
    world w;
    loom_sched_config cfg = config(4, 32);
    cfg.enable_chunked_prefill = 0;
    world_init(&w, 128, cfg, 0);
    add_seq(&w, 20, 4, 0);
    add_seq(&w, 20, 4, 0);
    loom_sched_step st;
    fake_step(&w, &st);
    CHECK(st.n_items == 1 && st.items[0].n_tokens == 20); /* the second prompt does not fit the rest of the budget */
    fake_step(&w, &st);
    CHECK(st.n_items == 2 && st.items[1].n_tokens == 20);
    CHECK(run_to_end(&w, 100));
    CHECK(w.kv_errors == 0);
    world_free(&w);
}

static void test_chunked_prefill_splits_prompt(void) {
    world w;
    world_init(&w, 128, config(4, 8), 0);
    add_seq(&w, 20, 2, 0);
    loom_sched_step st;
    fake_step(&w, &st);
    CHECK(st.n_items == 1 && st.items[0].n_tokens == 8 && !st.items[0].samples);
    fake_step(&w, &st);
    fake_step(&w, &st);
    CHECK(st.items[0].start == 16 && st.items[0].n_tokens == 4 && st.items[0].samples);
    CHECK(run_to_end(&w, 100));
    world_free(&w);
}

/* A forked sample shares the prompt's blocks and waits for a seat; the first write into the shared
 * partial block copies it. */
static void test_fork_copy_on_write(void) {
    world w;
    world_init(&w, 32, config(4, 64), 0);
    loom_seq *parent = add_seq(&w, 6, 4, 0);
    fake_step(&w, NULL); /* prefill; the fake samples the parent's first token */
    loom_error err = {0};
    loom_seq *child = NULL;
    CHECK(seq_create(99, 1, parent->tokens, 6, 10, &child, &err) == LOOM_OK);
    CHECK(sched_fork(w.sched, parent, child, &err) == LOOM_OK);
    CHECK(child->status == LOOM_SEQ_WAITING && child->n_computed == parent->n_computed);
    CHECK(seq_append(child, 555) == 0);
    w.seqs[w.n_seqs] = child;
    w.max_total[w.n_seqs] = 10;
    w.admitted_step[w.n_seqs++] = -1;
    CHECK(child->table.blocks[1] == parent->table.blocks[1]);
    CHECK(run_to_end(&w, 100));
    CHECK(w.kv.copies >= 1);
    CHECK(w.kv_errors == 0);
    CHECK(w.finished == 2);
    CHECK(bm_num_free(w.bm) == 32);
    world_free(&w);
}

/* More samples than seats (vLLM V1's fan-out): forked children wait and are admitted as seats free;
 * the seat cap holds every step and every child finishes. */
static void test_fork_beyond_seats(void) {
    world w;
    world_init(&w, 64, config(2, 64), 0);
    loom_seq *parent = add_seq(&w, 6, 3, 0);
    fake_step(&w, NULL);
    loom_error err = {0};
    for (int k = 1; k <= 5; k++) {
        loom_seq *child = NULL;
        CHECK(seq_create(99, k, parent->tokens, 6, 9, &child, &err) == LOOM_OK);
        CHECK(sched_fork(w.sched, parent, child, &err) == LOOM_OK);
        CHECK(seq_append(child, 600 + k) == 0);
        w.seqs[w.n_seqs] = child;
        w.max_total[w.n_seqs] = 9;
        w.admitted_step[w.n_seqs++] = -1;
    }
    CHECK(run_to_end(&w, 100));
    CHECK(w.seat_violations == 0 && w.kv_errors == 0);
    CHECK(w.finished == 6);
    CHECK(bm_num_free(w.bm) == 64);
    world_free(&w);
}

/* Forked samples waiting for a seat hold their prompt's blocks; when the sequence that would use those
 * seats is swapped out and cannot come back for lack of blocks, the waiting samples must still run (they
 * free the blocks): a pool of 7 blocks, 3 samples of a 9-token prompt, one seat each for two. */
static void test_swap_with_forked_samples_finishes(void) {
    world w;
    loom_sched_config cfg = config(2, 64);
    cfg.preemption_mode = LOOM_PREEMPT_SWAP;
    world_init(&w, 7, cfg, 0);
    loom_seq *parent = add_seq(&w, 9, 12, 0);
    fake_step(&w, NULL);
    loom_error err = {0};
    for (int k = 1; k <= 2; k++) {
        loom_seq *child = NULL;
        CHECK(seq_create(99, k, parent->tokens, 9, 21, &child, &err) == LOOM_OK);
        CHECK(sched_fork(w.sched, parent, child, &err) == LOOM_OK);
        CHECK(seq_append(child, 700 + k) == 0);
        w.seqs[w.n_seqs] = child;
        w.max_total[w.n_seqs] = 21;
        w.admitted_step[w.n_seqs++] = -1;
    }
    CHECK(run_to_end(&w, 500));
    CHECK_MSG(w.finished == 3 && w.kv_errors == 0, "finished %d, kv errors %d", w.finished, w.kv_errors);
    CHECK(bm_num_free(w.bm) == 7);
    world_free(&w);
}

/* Speculative items under a pool small enough to preempt (recompute and swap), with prefix caching and a
 * tight budget: every sequence ends with exactly the tokens it makes without speculation, every position
 * a step reads holds the sequence's own token's KV (rolled-back KV is never counted as computed), the
 * budget counts the proposals, and every block comes back. */
static void spec_case(loom_preemption_mode mode, int32_t budget) {
    world w;
    loom_sched_config cfg = config(4, budget);
    cfg.preemption_mode = mode;
    world_init(&w, 14, cfg, 1);
    w.spec_k = 3;
    for (int i = 0; i < 6; i++) add_seq(&w, 3 + (i * 5) % 9, 12 + i, i % 2);
    CHECK(run_to_end(&w, 1000));
    loom_sched_counts c;
    sched_get_counts(w.sched, &c);
    CHECK(w.finished == 6);
    if (budget >= 64) CHECK_MSG(c.preemptions_total >= 1, "the pool of 14 blocks of 4 should preempt");
    CHECK(w.accepted > 0 && w.accepted < w.proposed);
    for (int k = 0; k < w.n_seqs; k++)
        for (int32_t p = w.seqs[k]->n_prompt; p < w.seqs[k]->n_tokens; p++)
            CHECK(w.seqs[k]->tokens[p] == true_token(k, p));
    CHECK(w.kv_errors == 0);
    CHECK(w.budget_violations == 0);
    CHECK(bm_num_free(w.bm) == 14);
    world_free(&w);
}

static void test_spec_recompute(void) { spec_case(LOOM_PREEMPT_RECOMPUTE, 64); }
static void test_spec_swap(void) { spec_case(LOOM_PREEMPT_SWAP, 64); }
static void test_spec_tight_budget(void) { spec_case(LOOM_PREEMPT_RECOMPUTE, 5); }

/* One rollback by hand: a 10-token prompt (blocks of 4), its first token at 10, then 6 proposals at 11..16
 * of which 2 are kept. The block holding rejected KV (12..15) is not cached, the block only proposals
 * needed (16..19) goes back to the pool, and a later prompt with the rejected proposals gets no cache hit
 * past the kept ones. */
static void test_spec_rollback_frees_and_never_caches(void) {
    world w;
    world_init(&w, 16, config(4, 64), 1);
    loom_seq *s = add_seq(&w, 10, 20, 0);
    fake_step(&w, NULL);
    CHECK(s->n_tokens == 11 && s->n_computed == 10);
    int32_t proposals[6];
    for (int32_t j = 0; j < 6; j++) {
        proposals[j] = j < 2 ? true_token(0, 11 + j) : 900 + j;
        CHECK(seq_append(s, proposals[j]) == 0);
    }
    s->n_spec = 6;
    loom_sched_step st;
    fake_step(&w, &st); /* computes 10..16 (7 tokens), keeps 11 and 12, appends the true token at 13 */
    CHECK(st.n_items == 1 && st.items[0].n_tokens == 7 && st.items[0].n_spec == 6 && st.n_batched_tokens == 7);
    CHECK(s->n_tokens == 14 && s->n_computed == 13 && s->n_spec == 0);
    CHECK(s->tokens[11] == proposals[0] && s->tokens[12] == proposals[1] && s->tokens[13] == true_token(0, 13));
    CHECK(s->table.n_blocks == 4); /* 14 tokens: block 4 (positions 16..19) was released */
    CHECK(bm_num_free(w.bm) == 16 - 4);
    CHECK(bm_is_cached(w.bm, s->table.blocks[2]));  /* 8..11: prompt, first token, a kept proposal */
    CHECK(!bm_is_cached(w.bm, s->table.blocks[3])); /* 12..15: holds rejected proposals' KV */
    int32_t other[20];
    memcpy(other, s->tokens, 12 * sizeof(int32_t));
    memcpy(other + 12, proposals + 1, 5 * sizeof(int32_t)); /* what the rejected proposals would have made */
    for (int32_t p = 17; p < 20; p++) other[p] = 1;
    loom_block_table t = {0};
    CHECK(bm_match_prefix(w.bm, other, 20, &t) == 12);
    bm_release(w.bm, &t);
    block_table_free(&t);
    CHECK(run_to_end(&w, 100));
    for (int32_t p = 10; p < s->n_tokens; p++) CHECK(s->tokens[p] == true_token(0, p));
    CHECK(w.kv_errors == 0);
    CHECK(bm_num_free(w.bm) == 16);
    world_free(&w);
}

/* Proposals past the budget are dropped (the item still ends the sequence's tokens and samples); the
 * budget goes to running sequences best first, proposals included, as vLLM's does. */
static void test_spec_budget_drops_proposals(void) {
    world w;
    world_init(&w, 64, config(2, 3), 0);
    loom_seq *a = add_seq(&w, 2, 10, 0), *b = add_seq(&w, 1, 10, 0);
    fake_step(&w, NULL); /* both prefills (3 tokens) */
    for (int32_t j = 0; j < 4; j++) CHECK(seq_append(a, true_token(0, a->n_tokens)) == 0);
    a->n_spec = 4;
    loom_sched_step st;
    fake_step(&w, &st); /* budget 3: a gets its token + 2 of its 4 proposals, b waits a step */
    CHECK(st.n_items == 1 && st.items[0].seq == a && st.items[0].n_tokens == 3 && st.items[0].n_spec == 2);
    CHECK(a->n_tokens == 6 && a->n_computed == 5); /* kept both proposals, then the true token */
    fake_step(&w, &st);
    CHECK(st.n_items == 2 && st.items[1].seq == b && st.items[1].n_tokens == 1);
    CHECK(run_to_end(&w, 100));
    CHECK(w.kv_errors == 0 && w.budget_violations == 0);
    world_free(&w);
}

int main(void) {
    RUN(test_admission_order_is_fcfs);
    RUN(test_budget_respected_every_step);
    RUN(test_long_prompt_is_not_starved);
    RUN(test_priorities);
    RUN(test_preemption_recompute);
    RUN(test_preemption_swap);
    RUN(test_chunked_prefill_off_keeps_prompts_whole);
    RUN(test_chunked_prefill_splits_prompt);
    RUN(test_fork_copy_on_write);
    RUN(test_fork_beyond_seats);
    RUN(test_swap_with_forked_samples_finishes);
    RUN(test_spec_recompute);
    RUN(test_spec_swap);
    RUN(test_spec_tight_budget);
    RUN(test_spec_rollback_frees_and_never_caches);
    RUN(test_spec_budget_drops_proposals);
    return check_summary();
}
