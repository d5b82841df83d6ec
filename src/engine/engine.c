/* The engine API of loom.h: creation (context, block manager, scheduler), requests in and out under
 * one lock, and the engine thread. The step itself is in engine_step.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "engine/context_internal.h"
#include "engine/engine_internal.h"
#include "engine/spec.h"

loom_engine_params loom_engine_default_params(void) {
    return (loom_engine_params){.max_num_seqs = 64,
                                .max_logprobs = 20,
                                .max_num_batched_tokens = 2048,
                                .block_size = 16,
                                .kv_cache_dtype = LOOM_KV_AUTO,
                                .enable_prefix_caching = 1,
                                .enable_chunked_prefill = 1,
                                .preemption_mode = LOOM_PREEMPT_RECOMPUTE,
                                .swap_space_bytes = 1ull << 30,
                                .ngram_prompt_lookup_max = 4,
                                .ngram_prompt_lookup_min = 1};
}

double engine_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static loom_status check_params(const loom_engine_params *p, loom_error *err) {
    if (p->max_num_seqs < 1 || p->max_num_seqs > 65536)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "max_num_seqs must be in [1, 65536]");
    if (p->max_logprobs < 0 || p->max_logprobs > LOOM_MAX_LOGPROBS)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "max_logprobs must be in [0, %d]", LOOM_MAX_LOGPROBS);
    if (p->max_num_batched_tokens < p->max_num_seqs || p->max_num_batched_tokens > (1 << 20))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "max_num_batched_tokens must be in [max_num_seqs (%d), 1048576]",
                         p->max_num_seqs);
    if (p->block_size < 1 || p->block_size > 4096)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "block_size must be in [1, 4096]");
    if (p->num_kv_blocks < 0 || p->max_model_len < 0 || p->n_threads < 0)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "num_kv_blocks, max_model_len and n_threads must be >= 0");
    if (p->preemption_mode != LOOM_PREEMPT_RECOMPUTE && p->preemption_mode != LOOM_PREEMPT_SWAP)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "preemption_mode must be recompute or swap");
    return LOOM_OK;
}

/* The context sized by the memory plan (or num_kv_blocks), and the block manager over its blocks. */
static loom_status create_kv(loom_engine *e, loom_error *err) {
    loom_memory_plan plan;
    loom_status st = loom_memory_plan_compute(e->model, &e->params, &plan, err);
    if (st != LOOM_OK) return st;
    e->max_model_len = plan.max_model_len;
    loom_context_params cp = loom_context_default_params();
    cp.n_threads = e->params.n_threads;
    cp.max_seqs = e->params.max_num_seqs;
    cp.max_tokens_per_seq = plan.max_model_len;
    cp.max_batch_tokens = e->params.max_num_batched_tokens;
    cp.block_size = plan.block_size;
    cp.num_kv_blocks = e->params.num_kv_blocks > 0 ? e->params.num_kv_blocks : plan.num_kv_blocks;
    cp.kv_cache_dtype = (int)plan.kv_cache_dtype;
    if ((st = loom_context_create(e->model, &cp, &e->ctx, err)) != LOOM_OK) return st;
    kv_mover mover = ctx_kv_mover(e->ctx);
    if ((st = kvm_init(&e->kvm, context_num_kv_blocks(e->ctx), context_block_size(e->ctx),
                       e->params.enable_prefix_caching, &mover, err)) != LOOM_OK)
        return st;
    loom_sched_config sc = {.max_num_seqs = e->params.max_num_seqs,
                            .max_num_batched_tokens = e->params.max_num_batched_tokens,
                            .enable_chunked_prefill = e->params.enable_chunked_prefill,
                            .preemption_mode = e->params.preemption_mode,
                            .swap_space_bytes = e->params.swap_space_bytes};
    return sched_create(&sc, &e->kvm, &e->sched, err);
}

static loom_status alloc_batch(loom_engine *e, loom_error *err) {
    size_t nt = (size_t)e->params.max_num_batched_tokens, ns = (size_t)e->params.max_num_seqs;
    e->tokens = malloc(nt * sizeof(int32_t));
    e->positions = malloc(nt * sizeof(int32_t));
    e->seq_of_token = malloc(nt * sizeof(int32_t));
    e->slots = malloc(nt * sizeof(int32_t));
    e->logit_tokens = malloc(nt * sizeof(int32_t));
    e->first_logit_row = malloc(ns * sizeof(int32_t));
    e->n_logit_rows = malloc(ns * sizeof(int32_t));
    e->block_tables_width = (e->max_model_len + context_block_size(e->ctx) - 1) / context_block_size(e->ctx);
    e->block_tables = malloc(ns * (size_t)e->block_tables_width * sizeof(int32_t));
    if (!e->tokens || !e->positions || !e->seq_of_token || !e->slots || !e->logit_tokens || !e->first_logit_row ||
        !e->n_logit_rows || !e->block_tables)
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the step batch");
    return LOOM_OK;
}

loom_status loom_engine_create(loom_model *model, const loom_engine_params *params, loom_engine **out,
                               loom_error *err) {
    *out = NULL;
    loom_engine_params p = params ? *params : loom_engine_default_params();
    loom_status st = check_params(&p, err);
    if (st != LOOM_OK) return st;
    loom_engine *e = calloc(1, sizeof *e);
    if (!e) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the engine");
    e->model = model;
    e->info = loom_model_get_info(model);
    e->params = p;
    e->requests_tail = &e->requests;
    e->next_request_id = 1;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    st = create_kv(e, err);
    if (st == LOOM_OK) st = alloc_batch(e, err);
    if (st == LOOM_OK) st = spec_create(e, err);
    if (st != LOOM_OK) {
        loom_engine_free(e);
        return st;
    }
    engine_metrics_refresh_gauges(e);
    *out = e;
    return LOOM_OK;
}

void engine_request_free(engine_request *r) {
    for (int32_t i = 0; r->seqs && i < r->p.n; i++) engine_seq_destroy(&r->seqs[i]);
    free(r->seqs);
    gram_automaton_release(r->grammar);
    engine_request_params_free(&r->p);
    free(r);
}

void loom_engine_free(loom_engine *e) {
    if (!e) return;
    loom_engine_stop(e);
    for (engine_request *r = e->requests; r; r = r->next) engine_end_request(e, r, LOOM_FINISH_ABORT);
    while (e->requests) {
        engine_request *next = e->requests->next;
        engine_request_free(e->requests);
        e->requests = next;
    }
    spec_free(e);
    sched_free(e->sched);
    kvm_destroy(&e->kvm);
    loom_context_free(e->ctx);
    free(e->tokens);
    free(e->positions);
    free(e->seq_of_token);
    free(e->slots);
    free(e->logit_tokens);
    free(e->first_logit_row);
    free(e->n_logit_rows);
    free(e->block_tables);
    engine_grammars_free(e->grammars); /* after the requests: their grammars use its vocabulary */
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

/* Checks the request's fields, then against the engine's limits; *max_total gets prompt + capped
 * max_tokens. */
static loom_status check_request(const loom_engine *e, const loom_request_params *req, int32_t *max_total,
                                 loom_error *err) {
    loom_status st = engine_request_validate(req, e->info->vocab_size, e->params.max_logprobs, err);
    if (st != LOOM_OK) return st;
    if (req->n_prompt >= (size_t)e->max_model_len)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "prompt has %zu tokens; max_model_len is %d", req->n_prompt,
                         e->max_model_len);
    if (req->prompt_logprobs >= 0)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "prompt_logprobs is not supported by the engine yet");
    int32_t room = e->max_model_len - (int32_t)req->n_prompt;
    *max_total = (int32_t)req->n_prompt + (req->max_tokens < room ? req->max_tokens : room);
    /* the planner already fits max_model_len in the pool; a request that never fits would stall the queue */
    int32_t bs = e->kvm.block_size, blocks = (*max_total + bs - 1) / bs;
    if (blocks > bm_num_blocks(e->kvm.bm))
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "max_tokens: prompt + max_tokens = %d tokens needs %d KV blocks; the pool has %d", *max_total,
                         blocks, bm_num_blocks(e->kvm.bm));
    if (!e->params.enable_chunked_prefill && *max_total > e->params.max_num_batched_tokens)
        return loom_fail(
            err, LOOM_ERR_INVALID_ARG,
            "max_tokens: prompt + max_tokens = %d tokens exceeds max_num_batched_tokens (%d) with chunked prefill off",
            *max_total, e->params.max_num_batched_tokens);
    return LOOM_OK;
}

/* The request with its own copies of everything the caller may free after add_request. */
static loom_status copy_request(const loom_request_params *req, int32_t max_total, engine_request **out,
                                loom_error *err) {
    engine_request *r = calloc(1, sizeof *r);
    if (!r) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a request");
    loom_status st = engine_request_params_copy(req, &r->p, err);
    if (st != LOOM_OK) {
        free(r);
        return st;
    }
    r->max_total_tokens = max_total;
    if (!(r->seqs = calloc((size_t)r->p.n, sizeof *r->seqs))) {
        engine_request_free(r);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a request");
    }
    for (int32_t i = 0; i < r->p.n; i++) r->seqs[i].req = r;
    *out = r;
    return LOOM_OK;
}

loom_status loom_engine_validate_request(const loom_engine *e, const loom_request_params *req, loom_error *err) {
    int32_t max_total = 0;
    return check_request(e, req, &max_total, err);
}

loom_status loom_engine_add_request(loom_engine *e, const loom_request_params *req, uint64_t *request_id,
                                    loom_error *err) {
    int32_t max_total = 0;
    engine_request *r = NULL;
    loom_status st = check_request(e, req, &max_total, err);
    if (st == LOOM_OK) st = copy_request(req, max_total, &r, err);
    if (st != LOOM_OK) return st;
    if ((st = engine_grammar_attach(e, r, err)) != LOOM_OK) {
        engine_request_free(r);
        return st;
    }
    r->arrival_s = engine_now_s();
    pthread_mutex_lock(&e->lock);
    r->id = e->next_request_id++;
    *e->requests_tail = r;
    e->requests_tail = &r->next;
    if (request_id) *request_id = r->id;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    return LOOM_OK;
}

loom_status loom_engine_abort(loom_engine *e, uint64_t request_id, loom_error *err) {
    pthread_mutex_lock(&e->lock);
    engine_request *r = e->requests;
    while (r && r->id != request_id) r = r->next;
    if (r) r->abort_requested = 1;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    if (!r)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "no unfinished request with id %llu",
                         (unsigned long long)request_id);
    return LOOM_OK;
}

int loom_engine_has_work(const loom_engine *e) {
    pthread_mutex_lock((pthread_mutex_t *)&e->lock);
    int busy = e->requests != NULL;
    pthread_mutex_unlock((pthread_mutex_t *)&e->lock);
    return busy;
}

loom_status loom_engine_step(loom_engine *e, loom_error *err) {
    if (e->thread_running)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "the engine runs on its own thread; do not step it");
    return engine_run_step(e, err);
}

/* The engine thread: steps while there is work, sleeps on `wake` otherwise. A failed step has already
 * ended the requests it concerned with LOOM_FINISH_ERROR, so the loop goes on. */
static void *engine_thread(void *arg) {
    loom_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    while (!e->stop_requested) {
        if (!e->requests) {
            pthread_cond_wait(&e->wake, &e->lock);
            continue;
        }
        pthread_mutex_unlock(&e->lock);
        loom_error err = {0};
        engine_run_step(e, &err);
        pthread_mutex_lock(&e->lock);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

loom_status loom_engine_start(loom_engine *e, loom_error *err) {
    if (e->thread_running) return loom_fail(err, LOOM_ERR_INVALID_ARG, "the engine thread is already running");
    e->stop_requested = 0;
    if (pthread_create(&e->thread, NULL, engine_thread, e) != 0)
        return loom_fail(err, LOOM_ERR_INTERNAL, "cannot start the engine thread");
    e->thread_running = 1;
    return LOOM_OK;
}

void loom_engine_stop(loom_engine *e) {
    if (!e->thread_running) return;
    pthread_mutex_lock(&e->lock);
    e->stop_requested = 1;
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->thread, NULL);
    e->thread_running = 0;
}

void loom_engine_get_metrics(loom_engine *e, loom_engine_metrics *m) {
    pthread_mutex_lock(&e->lock);
    *m = e->metrics;
    pthread_mutex_unlock(&e->lock);
}
