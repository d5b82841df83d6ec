/* One engine step: take in new requests and aborts, schedule, pack every scheduled sequence's tokens
 * into one ragged forward batch, run it, and sample each sequence that reached the end of its tokens. */
#include <stdlib.h>
#include <string.h>

#include "engine/context_internal.h"
#include "engine/engine_internal.h"
#include "engine/spec.h"

/* A new request's first sequence joins the waiting queue (its other samples fork from it later). */
static loom_status admit(loom_engine *e, engine_request *r, loom_error *err) {
    r->admitted = 1;
    r->n_unfinished = r->p.n;
    loom_status st = engine_seq_init(e, r, 0, err);
    if (st != LOOM_OK) return st;
    loom_seq *seq = r->seqs[0].seq;
    seq->priority = r->p.priority;
    seq->arrival = e->next_arrival++;
    if (r->max_total_tokens == (int32_t)r->p.n_prompt) { /* max_tokens 0: nothing to generate */
        for (int32_t i = 0; i < r->p.n; i++) engine_end_seq(e, &r->seqs[i], LOOM_FINISH_LENGTH);
        return LOOM_OK;
    }
    return sched_add(e->sched, seq, err);
}

/* Requests added or aborted since the last step. The list is read under the lock; the work (which
 * may call back) happens outside it, on requests only this thread removes. */
static loom_status intake(loom_engine *e, loom_error *err) {
    enum { BATCH = 64 };
    engine_request *todo[BATCH];
    int abort_flag[BATCH];
    loom_status st = LOOM_OK;
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&e->lock);
        for (engine_request *r = e->requests; r && n < BATCH; r = r->next)
            if (!r->admitted || (r->abort_requested && r->n_unfinished > 0)) {
                abort_flag[n] = r->abort_requested;
                todo[n++] = r;
            }
        pthread_mutex_unlock(&e->lock);
        if (n == 0) return st;
        for (int i = 0; i < n; i++) {
            loom_status rc = abort_flag[i] ? LOOM_OK : admit(e, todo[i], err);
            if (abort_flag[i]) engine_end_request(e, todo[i], LOOM_FINISH_ABORT);
            else if (rc != LOOM_OK) {
                engine_end_request(e, todo[i], LOOM_FINISH_ERROR);
                st = rc;
            }
        }
    }
}

/* Unlinks and frees every request whose sequences have all finished. */
static void retire_finished(loom_engine *e) {
    engine_request *done = NULL;
    double now = engine_now_s();
    pthread_mutex_lock(&e->lock);
    engine_request **link = &e->requests;
    e->requests_tail = &e->requests;
    while (*link) {
        engine_request *r = *link;
        if (r->admitted && r->n_unfinished == 0) {
            *link = r->next;
            engine_metrics_request_done(e, r, now);
            r->next = done;
            done = r;
        } else {
            link = &r->next;
            e->requests_tail = &r->next;
        }
    }
    engine_metrics_refresh_gauges(e);
    pthread_mutex_unlock(&e->lock);
    while (done) {
        engine_request *next = done->next;
        engine_request_free(done);
        done = next;
    }
}

static const engine_request *request_of(const loom_sched_item *it) { return ((const engine_seq *)it->seq->owner)->req; }

/* Packs the step: tokens, positions, KV slots, block-table rows and logit rows of every item (a sampling
 * item's last 1 + n_spec tokens: the verification of its proposals needs every position). */
static void build_batch(loom_engine *e, const loom_sched_step *step, loom_forward_batch *fb) {
    int32_t t = 0, n_logits = 0, width = e->block_tables_width;
    for (int32_t i = 0; i < step->n_items; i++) {
        const loom_sched_item *it = &step->items[i];
        const loom_seq *seq = it->seq;
        int every_row = request_of(it)->p.on_logits != NULL;
        e->first_logit_row[i] = n_logits;
        kvm_slots(&e->kvm, &seq->table, it->start, it->n_tokens, e->slots + t);
        for (int32_t p = it->start; p < it->start + it->n_tokens; p++, t++) {
            e->tokens[t] = seq->tokens[p];
            e->positions[t] = p;
            e->seq_of_token[t] = i;
            if (every_row || (it->samples && p >= it->start + it->n_tokens - 1 - it->n_spec))
                e->logit_tokens[n_logits++] = t;
        }
        e->n_logit_rows[i] = n_logits - e->first_logit_row[i];
        memcpy(e->block_tables + (size_t)i * width, seq->table.blocks, (size_t)seq->table.n_blocks * sizeof(int32_t));
    }
    *fb = (loom_forward_batch){.n_tokens = t,
                               .tokens = e->tokens,
                               .pos = e->positions,
                               .seq_of_token = e->seq_of_token,
                               .slots = e->slots,
                               .block_tables = e->block_tables,
                               .max_blocks_per_seq = width,
                               .n_logits = n_logits,
                               .logit_tokens = e->logit_tokens};
}

/* A request with on_logits gets every row of the item (one per token, in position order). */
static void report_logits(const loom_engine *e, const loom_sched_item *it, int32_t first_row, int32_t n_rows) {
    const engine_request *r = request_of(it);
    if (!r->p.on_logits) return;
    for (int32_t k = 0; k < n_rows; k++)
        r->p.on_logits(it->seq->seq_index, it->start + k, loom_get_logits(e->ctx, first_row + k), e->info->vocab_size,
                       r->p.user);
}

static uint64_t prompt_tokens_in(const loom_sched_step *step) {
    uint64_t n = 0;
    for (int32_t i = 0; i < step->n_items; i++) {
        const loom_sched_item *it = &step->items[i];
        int32_t end = it->start + it->n_tokens, prompt_end = it->seq->n_prompt;
        if (it->start < prompt_end) n += (uint64_t)((end < prompt_end ? end : prompt_end) - it->start);
    }
    return n;
}

static void fail_step(loom_engine *e, const loom_sched_step *step) {
    for (int32_t i = 0; i < step->n_items; i++) {
        engine_seq *es = step->items[i].seq->owner;
        engine_end_request(e, es->req, LOOM_FINISH_ERROR);
    }
}

/* The logits row item i samples from: its last (a plain item has one). */
static int32_t last_logit_row(const loom_engine *e, int32_t i) {
    return e->first_logit_row[i] + e->n_logit_rows[i] - 1;
}

typedef struct draw_job {
    loom_engine *e;
    const loom_sched_step *step;
} draw_job;

static void draw_items(void *ctx, int64_t i0, int64_t i1, int thread_index) {
    const draw_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) {
        const loom_sched_item *it = &j->step->items[i];
        engine_seq *es = it->seq->owner;
        if (it->samples && it->n_spec == 0 && engine_seq_draws_alone(es))
            engine_seq_draw(es, loom_get_logits(j->e->ctx, last_logit_row(j->e, (int32_t)i)));
    }
}

loom_status engine_run_step(loom_engine *e, loom_error *err) {
    double t0 = engine_now_s(), forward_s = 0;
    loom_sched_step step = {0};
    loom_status st = intake(e, err);
    double p0 = engine_now_s();
    if (st == LOOM_OK) st = spec_propose(e, err);
    forward_s = engine_now_s() - p0; /* the draft model's forwards count as model time */
    if (st == LOOM_OK) st = sched_schedule(e->sched, &step, err);
    if (st == LOOM_OK) engine_metrics_mark_scheduled(&step, engine_now_s());
    if (st == LOOM_OK && step.n_items > 0) {
        loom_forward_batch fb;
        build_batch(e, &step, &fb);
        double f0 = engine_now_s();
        st = context_forward(e->ctx, &fb, err);
        forward_s += engine_now_s() - f0;
        if (st != LOOM_OK) fail_step(e, &step);
    }
    if (st == LOOM_OK && step.n_items > 0) {
        sched_complete_step(e->sched, &step);
        draw_job draws = {e, &step}; /* plain sequences' tokens drawn in parallel, then taken in order */
        context_parallel_for(e->ctx, step.n_items, 1, draw_items, &draws);
        for (int32_t i = 0; i < step.n_items; i++) {
            engine_seq *es = step.items[i].seq->owner;
            if (st == LOOM_OK) {
                report_logits(e, &step.items[i], e->first_logit_row[i], e->n_logit_rows[i]);
                if (step.items[i].n_spec > 0) st = spec_verify(e, &step.items[i], e->first_logit_row[i], err);
                else if (step.items[i].samples)
                    st = engine_sample_request(e, es, loom_get_logits(e->ctx, last_logit_row(e, i)), err);
            }
            es->drawn = 0; /* after an error, the tokens drawn for the rest are dropped */
        }
    }
    double step_s = engine_now_s() - t0;
    pthread_mutex_lock(&e->lock);
    if (step.n_items > 0) {
        e->metrics.steps_total++;
        e->metrics.batched_tokens_total += (uint64_t)step.n_batched_tokens;
        e->metrics.prompt_tokens_total += prompt_tokens_in(&step);
        e->metrics.step_time_ms_total += step_s * 1e3;
        e->metrics.forward_time_ms_total += forward_s * 1e3;
    }
    pthread_mutex_unlock(&e->lock);
    retire_finished(e);
    return st;
}
