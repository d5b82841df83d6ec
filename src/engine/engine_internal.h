/* The engine's own state (struct loom_engine) shared by its files: engine.c (API, requests, thread),
 * engine_step.c (one step: schedule, forward, sample), engine_output.c (per-sequence sampling, text,
 * stop conditions, events), engine_metrics.c. */
#ifndef LOOM_ENGINE_ENGINE_INTERNAL_H
#define LOOM_ENGINE_ENGINE_INTERNAL_H

#include <pthread.h>

#include "kv/block_manager.h"
#include "loom.h"
#include "sched/scheduler.h"

typedef struct engine_request engine_request;

/* One sample of a request: the scheduler's sequence plus what turns its tokens into outputs. */
typedef struct engine_seq {
    loom_seq *seq;
    engine_request *req;
    loom_sampler *sampler;
    loom_detokenizer *detok; /* NULL when the model has no tokenizer */
    loom_stop_matcher *stop; /* stop strings on the text; holds back what could start one */
    int32_t n_out;           /* generated tokens */
    double first_token_s, last_token_s;
    loom_finish_reason finish;
} engine_seq;

struct engine_request {
    uint64_t id;
    engine_request *next;      /* in the engine's list of unfinished requests */
    loom_request_params p;     /* the engine's own copy (prompt, stop strings, logit_bias owned) */
    int32_t max_total_tokens;  /* prompt + max_tokens, capped to max_model_len */
    engine_seq *seqs;          /* [p.n]; seqs[i].seq is NULL until that sample exists */
    int32_t n_unfinished;
    int admitted;              /* handed to the scheduler (engine thread only) */
    int abort_requested;       /* set under the lock by loom_engine_abort */
    double arrival_s, first_token_s;
    double scheduled_s;        /* first time a step took it up (engine_metrics_mark_scheduled); 0 before */
};

struct loom_engine {
    loom_model *model;
    const loom_model_info *info;
    loom_engine_params params;
    int32_t max_model_len;
    loom_context *ctx;
    loom_block_manager *bm;
    loom_sched *sched;

    /* one step's forward batch, [max_num_batched_tokens] each unless noted */
    int32_t *tokens, *positions, *seq_of_token, *slots, *logit_tokens;
    int32_t *block_tables;     /* [max_num_seqs][block_tables_width] */
    int32_t block_tables_width;
    int32_t *logit_row_of_item; /* [max_num_seqs] row of the item's logits, -1 when it does not sample */
    int32_t lp_top_ids[20];    /* one event's top logprobs (logprobs <= 20) */
    float lp_top_logprobs[20];

    pthread_mutex_t lock;      /* guards the request list, next ids, metrics, thread flags */
    pthread_cond_t wake;
    pthread_t thread;
    int thread_running, stop_requested;
    engine_request *requests;  /* unfinished requests, oldest first */
    engine_request **requests_tail;
    uint64_t next_request_id, next_arrival;
    loom_engine_metrics metrics;
};

double engine_now_s(void);
void engine_request_free(engine_request *r);

/* request_params.c: the one validation of a request's fields, and the engine's deep copy. */
loom_status engine_request_validate(const loom_request_params *r, int32_t vocab, loom_error *err);
loom_status engine_request_params_copy(const loom_request_params *src, loom_request_params *dst, loom_error *err);
void engine_request_params_free(loom_request_params *p);

/* engine_step.c */
loom_status engine_run_step(loom_engine *e, loom_error *err);

/* engine_output.c: the sequence sampled from logits; emits its event and finishes it when a stop
 * condition holds. The other samples of an n > 1 request start from sample 0's prompt KV (shared
 * copy-on-write) on its first token and queue for a seat like any sequence (src/sched/scheduler.h). */
loom_status engine_sample_request(loom_engine *e, engine_seq *es, const float *logits, loom_error *err);
/* Ends a sequence that has not finished yet with reason (abort, error): releases its KV, emits the event. */
void engine_end_seq(loom_engine *e, engine_seq *es, loom_finish_reason reason);
/* Ends every unfinished sequence of the request (admitted or not) with reason. */
void engine_end_request(loom_engine *e, engine_request *r, loom_finish_reason reason);
loom_status engine_seq_init(loom_engine *e, engine_request *r, int32_t index, loom_error *err);
void engine_seq_destroy(engine_seq *es);

/* engine_metrics.c (callers hold e->lock) */
void engine_metrics_observe(uint64_t *buckets, double *sum, uint64_t *count, double seconds);
void engine_metrics_refresh_gauges(loom_engine *e);
void engine_metrics_request_done(loom_engine *e, const engine_request *r, double now_s);
/* Engine thread, no lock: stamps the requests a step schedules for the first time (queue time). */
void engine_metrics_mark_scheduled(const loom_sched_step *step, double now_s);

#endif
