/* The engine's own state (struct loom_engine) shared by its files: engine.c (API, requests, thread),
 * engine_step.c (one step: schedule, forward, sample), engine_output.c (per-sequence sampling, text,
 * stop conditions, events), engine_metrics.c. */
#ifndef LOOM_ENGINE_ENGINE_INTERNAL_H
#define LOOM_ENGINE_ENGINE_INTERNAL_H

#include <pthread.h>

#include "grammar/grammar.h"
#include "kv/kv_manager.h"
#include "loom.h"
#include "sched/scheduler.h"

typedef struct engine_request engine_request;
typedef struct spec_engine spec_engine; /* speculative decoding (spec.h) */
typedef struct spec_seq spec_seq;
typedef struct engine_grammars engine_grammars;

/* One sample of a request: the scheduler's sequence plus what turns its tokens into outputs. */
typedef struct engine_seq {
    loom_seq *seq;
    engine_request *req;
    loom_sampler *sampler;
    loom_detokenizer *detok; /* NULL when the model has no tokenizer */
    loom_stop_matcher *stop; /* stop strings on the text; holds back what could start one */
    gram_matcher *matcher;   /* structured output (engine_grammar.c); NULL without a constraint */
    int32_t n_out;           /* generated tokens */
    int drawn;               /* drawn_id is this step's token, drawn ahead (engine_seq_draw) */
    int32_t drawn_id;
    double first_token_s, last_token_s;
    loom_finish_reason finish;
    spec_seq *spec; /* speculative decoding state; NULL when the engine does not speculate */
} engine_seq;

struct engine_request {
    uint64_t id;
    engine_request *next;     /* in the engine's list of unfinished requests */
    loom_request_params p;    /* the engine's own copy (prompt, stop strings, logit_bias owned) */
    int32_t max_total_tokens; /* prompt + max_tokens, capped to max_model_len */
    engine_seq *seqs;         /* [p.n]; seqs[i].seq is NULL until that sample exists */
    gram_automaton *grammar;  /* the compiled constraint (a reference), NULL without one */
    int32_t n_unfinished;
    int admitted;        /* handed to the scheduler (engine thread only) */
    int abort_requested; /* set under the lock by loom_engine_abort */
    double arrival_s, first_token_s;
    double scheduled_s; /* first time a step took it up (engine_metrics_mark_scheduled); 0 before */
};

struct loom_engine {
    loom_model *model;
    const loom_model_info *info;
    loom_engine_params params;
    int32_t max_model_len;
    loom_context *ctx;
    kv_manager kvm; /* the KV blocks of ctx: pool, prefix cache, copy-on-write */
    loom_sched *sched;
    spec_engine *spec; /* NULL unless params.speculative_method is set */

    /* one step's forward batch, [max_num_batched_tokens] each unless noted */
    int32_t *tokens, *positions, *seq_of_token, *slots, *logit_tokens;
    int32_t *block_tables; /* [max_num_seqs][block_tables_width] */
    int32_t block_tables_width;
    /* [max_num_seqs] each: item i's logits are rows [first_logit_row, + n_logit_rows) (every token of a
     * request with on_logits, else the last one when the item samples, else none) */
    int32_t *first_logit_row, *n_logit_rows;
    int32_t lp_top_ids[LOOM_MAX_LOGPROBS]; /* one event's top logprobs */
    float lp_top_logprobs[LOOM_MAX_LOGPROBS];

    pthread_mutex_t lock; /* guards the request list, next ids, metrics, thread flags */
    pthread_cond_t wake;
    pthread_t thread;
    int thread_running, stop_requested;
    engine_request *requests; /* unfinished requests, oldest first */
    engine_request **requests_tail;
    uint64_t next_request_id, next_arrival;
    loom_engine_metrics metrics;
    engine_grammars *grammars; /* compiled constraints and the vocabulary as bytes, NULL until needed */
};

double engine_now_s(void);
void engine_request_free(engine_request *r);

/* request_params.c: the one validation of a request's fields, and the engine's deep copy. */
loom_status engine_request_validate(const loom_request_params *r, int32_t vocab, int32_t max_logprobs, loom_error *err);
loom_status engine_request_params_copy(const loom_request_params *src, loom_request_params *dst, loom_error *err);
void engine_request_params_free(loom_request_params *p);

/* engine_step.c */
loom_status engine_run_step(loom_engine *e, loom_error *err);

/* engine_output.c: the sequence sampled from logits; emits its event and finishes it when a stop
 * condition holds. The other samples of an n > 1 request start from sample 0's prompt KV (shared
 * copy-on-write) on its first token and queue for a seat like any sequence (src/sched/scheduler.h). */
loom_status engine_sample_request(loom_engine *e, engine_seq *es, const float *logits, loom_error *err);
/* Draws the sequence's next token from logits (masked by its constraint, if any, which then accepts it)
 * and emits it; a token the constraint refuses ends the sequence with LOOM_FINISH_ERROR. */
loom_status engine_sample_one(loom_engine *e, engine_seq *es, const float *logits, loom_error *err);
/* The per-token output of a token already chosen from logits (its row, for logprobs): appended to the
 * sequence, detokenized, stop conditions checked (the sequence may finish), event emitted. The sampler's
 * history and the constraint's state are the caller's (loom_sampler_sample records its own draw). */
loom_status engine_emit_token(loom_engine *e, engine_seq *es, int32_t id, const float *logits, loom_error *err);
/* Whether es's next token may be drawn ahead by engine_seq_draw, on any thread: it comes from its own
 * sampler alone (no constraint mask, not the first token of an n > 1 request, whose samples fork from
 * one set of logits). A sampler is its sequence's own, so the token does not depend on the thread;
 * engine_sample_one then takes it. */
int engine_seq_draws_alone(const engine_seq *es);
void engine_seq_draw(engine_seq *es, const float *logits);
/* Ends a sequence that has not finished yet with reason (abort, error): releases its KV, emits the event. */
void engine_end_seq(loom_engine *e, engine_seq *es, loom_finish_reason reason);
/* Ends every unfinished sequence of the request (admitted or not) with reason. */
void engine_end_request(loom_engine *e, engine_request *r, loom_finish_reason reason);
loom_status engine_seq_init(loom_engine *e, engine_request *r, int32_t index, loom_error *err);
void engine_seq_destroy(engine_seq *es);

/* engine_grammar.c: structured outputs. attach compiles the request's constraint (or takes it from the
 * cache: thread-safe); seq_init gives a sample its matcher; mask points *out at the logits to draw
 * from (the mask applied into an engine buffer, or logits itself without a constraint). */
loom_status engine_grammar_attach(loom_engine *e, engine_request *r, loom_error *err);
loom_status engine_grammar_seq_init(engine_seq *es, loom_error *err);
loom_status engine_grammar_mask(loom_engine *e, engine_seq *es, const float *logits, const float **out,
                                loom_error *err);
void engine_grammars_free(engine_grammars *g);

/* engine_metrics.c (callers hold e->lock) */
void engine_metrics_observe(uint64_t *buckets, double *sum, uint64_t *count, double seconds);
void engine_metrics_refresh_gauges(loom_engine *e);
void engine_metrics_request_done(loom_engine *e, const engine_request *r, double now_s);
/* Engine thread, no lock: stamps the requests a step schedules for the first time (queue time). */
void engine_metrics_mark_scheduled(const loom_sched_step *step, double now_s);

#endif
