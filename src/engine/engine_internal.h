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
    int drawn;               /* drawn_id is this step's token, drawn ahead (engine_seq_draw) */
    int32_t drawn_id;
    double first_token_s, last_token_s;
    loom_finish_reason finish;
} engine_seq;

struct engine_request {
    uint64_t id;
    engine_request *next;      /* in the engine's list of unfinished requests */
    int32_t *prompt;
    int32_t n_prompt;
    int32_t max_total_tokens;  /* prompt + max_tokens, capped to max_model_len */
    loom_sampling_params sampling; /* stop strings and logit_bias point into the copies below */
    char *stop_copies[LOOM_MAX_STOP_STRINGS];
    loom_logit_bias *bias_copy;
    int32_t priority;
    loom_output_fn on_output;
    void *user;
    engine_seq *seqs;          /* [n_samples]; seqs[i].seq is NULL until that sample exists */
    int32_t n_samples, n_unfinished;
    int admitted;              /* handed to the scheduler (engine thread only) */
    int abort_requested;       /* set under the lock by loom_engine_abort */
    double arrival_s, first_token_s;
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

/* engine_step.c */
loom_status engine_run_step(loom_engine *e, loom_error *err);

/* engine_output.c: the sequence sampled from logits; emits its event and finishes it when a stop
 * condition holds. Forks the other samples of an n > 1 request on its first token. */
loom_status engine_sample_request(loom_engine *e, engine_seq *es, const float *logits, loom_error *err);
/* Whether es's next token comes from its own sampler alone (not the first token of an n > 1 request,
 * whose samples fork from one set of logits); then engine_seq_draw may draw it ahead, on any thread (a
 * sampler is its sequence's own, so the token does not depend on the thread), and
 * engine_sample_request takes it. */
int engine_seq_draws_alone(const engine_seq *es);
void engine_seq_draw(engine_seq *es, const float *logits);
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

#endif
