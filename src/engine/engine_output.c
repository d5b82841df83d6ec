/* Per-sequence output: sampling from the step's logits (forking the other samples of an n > 1 request
 * on the first token), incremental detokenization, stop conditions, and the loom_output events. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/engine_internal.h"

loom_status engine_seq_init(loom_engine *e, engine_request *r, int32_t index, loom_error *err) {
    engine_seq *es = &r->seqs[index];
    *es = (engine_seq){.req = r};
    loom_sampling_params sp = r->sampling;
    if (sp.has_seed) sp.seed += (uint64_t)index; /* each sample its own stream; sample 0 keeps the seed */
    loom_status st = loom_seq_create(r->id, index, r->prompt, r->n_prompt, r->max_total_tokens, &es->seq, err);
    if (st == LOOM_OK) st = loom_sampler_create(&sp, e->info->vocab_size, &es->sampler, err);
    if (st == LOOM_OK) st = loom_sampler_set_prompt(es->sampler, r->prompt, (size_t)r->n_prompt, err);
    if (st == LOOM_OK) {
        st = loom_detokenizer_create(e->model, sp.skip_special_tokens, &es->detok, err);
        if (st == LOOM_ERR_UNSUPPORTED) st = LOOM_OK; /* no tokenizer: ids only */
        else if (st == LOOM_OK) st = loom_detokenizer_prime(es->detok, r->prompt, (size_t)r->n_prompt, err);
    }
    if (st == LOOM_OK)
        st = loom_stop_matcher_create(sp.stop, sp.n_stop, sp.include_stop_str_in_output, &es->stop, err);
    if (st != LOOM_OK) {
        engine_seq_destroy(es);
        return st;
    }
    es->seq->owner = es;
    return LOOM_OK;
}

void engine_seq_destroy(engine_seq *es) {
    loom_seq_destroy(es->seq);
    loom_sampler_free(es->sampler);
    loom_detokenizer_free(es->detok);
    loom_stop_matcher_free(es->stop);
    *es = (engine_seq){.req = es->req};
}

static void emit(const loom_engine *e, const engine_seq *es, const int32_t *ids, int32_t n_new, const char *delta,
                 size_t delta_len, const loom_token_logprob *lp, const char *stop_reason) {
    const engine_request *r = es->req;
    if (!r->on_output) return;
    char *text = strndup(delta ? delta : "", delta ? delta_len : 0);
    loom_output out = {
        .request_id = r->id, .seq_index = (int32_t)(es - r->seqs), .new_ids = ids, .n_new = n_new,
        .text_delta = text ? text : "", .logprobs = lp, .finish_reason = es->finish, .stop_reason = stop_reason,
        .n_prompt_tokens = r->n_prompt, .n_output_tokens = es->n_out,
        .n_cached_prompt_tokens = es->seq ? es->seq->n_cached_prompt : 0,
    };
    r->on_output(&out, r->user);
    free(text);
}

/* Marks the sequence finished, frees its KV, records its time per output token. */
static void finish_seq(loom_engine *e, engine_seq *es, loom_finish_reason reason) {
    if (es->seq) loom_sched_finish(e->sched, es->seq);
    es->finish = reason;
    es->req->n_unfinished--;
    if (es->n_out > 1) {
        pthread_mutex_lock(&e->lock);
        loom_engine_metrics *m = &e->metrics;
        engine_metrics_observe(m->tpot_buckets, &m->tpot_sum_s, &m->tpot_count,
                               (es->last_token_s - es->first_token_s) / (es->n_out - 1));
        pthread_mutex_unlock(&e->lock);
    }
}

void engine_end_seq(loom_engine *e, engine_seq *es, loom_finish_reason reason) {
    finish_seq(e, es, reason);
    emit(e, es, NULL, 0, "", 0, NULL, NULL);
}

void engine_end_request(loom_engine *e, engine_request *r, loom_finish_reason reason) {
    if (!r->admitted) r->n_unfinished = r->n_samples;
    r->admitted = 1;
    for (int32_t i = 0; i < r->n_samples; i++)
        if (r->seqs[i].finish == LOOM_FINISH_NONE) engine_end_seq(e, &r->seqs[i], reason);
}

static int contains(const int32_t *ids, int32_t n, int32_t id) {
    for (int32_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

/* The finish reason the new token id gives by itself (EOS, stop ids, length), before stop strings. */
static loom_finish_reason token_finish(const loom_engine *e, const engine_seq *es, int32_t id) {
    const loom_sampling_params *p = &es->req->sampling;
    if (es->n_out >= p->min_tokens) {
        if (!p->ignore_eos && contains(e->info->eos_ids, e->info->n_eos_ids, id)) return LOOM_FINISH_STOP;
        if (contains(p->stop_token_ids, p->n_stop_token_ids, id)) return LOOM_FINISH_STOP;
    }
    return es->seq->n_tokens >= es->req->max_total_tokens ? LOOM_FINISH_LENGTH : LOOM_FINISH_NONE;
}

/* Detokenized text of the new token (with the detokenizer's pending tail when final); malloc'd. */
static loom_status token_text(engine_seq *es, int32_t id, int final, char **out, loom_error *err) {
    *out = NULL;
    loom_status st = es->detok ? loom_detokenizer_push(es->detok, id, out, err) : LOOM_OK;
    char *tail = NULL;
    if (st == LOOM_OK && final && es->detok) st = loom_detokenizer_flush(es->detok, &tail, err);
    size_t a = *out ? strlen(*out) : 0, b = tail ? strlen(tail) : 0;
    char *both = st == LOOM_OK ? realloc(*out, a + b + 1) : NULL;
    if (both) {
        memcpy(both + a, tail ? tail : "", b + 1);
        *out = both;
    } else if (st == LOOM_OK) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for output text");
    free(tail);
    return st;
}

/* The text the new token makes final, through the stop matcher (which releases what it held back
 * when the sequence ends); malloc'd into *out. *stop_index as in loom_stop_result. */
static loom_status new_text(engine_seq *es, int32_t id, int final, char **out, int32_t *stop_index, loom_error *err) {
    *out = NULL;
    char *piece = NULL;
    loom_stop_result res = {0}, rest = {0};
    loom_status st = token_text(es, id, final, &piece, err);
    if (st == LOOM_OK)
        st = loom_stop_matcher_push(es->stop, piece ? piece : "", piece ? strlen(piece) : 0,
                                    es->n_out >= es->req->sampling.min_tokens, &res, err);
    free(piece);
    if (st != LOOM_OK) return st;
    *stop_index = res.stop_index;
    size_t a = res.text_len;
    if (!(*out = malloc(a + 1))) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for output text");
    memcpy(*out, res.text ? res.text : "", a);
    (*out)[a] = 0;
    if (!final || res.stop_index >= 0) return LOOM_OK;
    loom_stop_matcher_flush(es->stop, &rest);
    char *grown = realloc(*out, a + rest.text_len + 1);
    if (!grown) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for output text");
    memcpy(grown + a, rest.text ? rest.text : "", rest.text_len);
    grown[a + rest.text_len] = 0;
    *out = grown;
    return LOOM_OK;
}

int engine_seq_draws_alone(const engine_seq *es) {
    const engine_request *r = es->req;
    return r->n_samples == 1 || es->n_out > 0 || r->seqs[1].seq;
}

void engine_seq_draw(engine_seq *es, const float *logits) {
    es->drawn_id = loom_sampler_sample(es->sampler, logits);
    es->drawn = 1;
}

static loom_status sample_one(loom_engine *e, engine_seq *es, const float *logits, loom_error *err) {
    engine_request *r = es->req;
    int32_t id = es->drawn ? es->drawn_id : loom_sampler_sample(es->sampler, logits);
    es->drawn = 0;
    loom_token_logprob lp = {.id = id};
    if (r->sampling.logprobs >= 0) {
        lp.n_top = r->sampling.logprobs;
        lp.top_ids = e->lp_top_ids;
        lp.top_logprobs = e->lp_top_logprobs;
        loom_logprobs(logits, e->info->vocab_size, id, lp.n_top, &lp.logprob, e->lp_top_ids, e->lp_top_logprobs);
    }
    if (loom_seq_append(es->seq, id)) return loom_fail(err, LOOM_ERR_INTERNAL, "sequence sampled past its length");
    double now = engine_now_s();
    if (es->n_out++ == 0) es->first_token_s = now;
    es->last_token_s = now;
    if (r->first_token_s == 0) {
        r->first_token_s = now;
        pthread_mutex_lock(&e->lock);
        loom_engine_metrics *m = &e->metrics;
        engine_metrics_observe(m->ttft_buckets, &m->ttft_sum_s, &m->ttft_count, now - r->arrival_s);
        m->generation_tokens_total++;
        pthread_mutex_unlock(&e->lock);
    } else {
        pthread_mutex_lock(&e->lock);
        e->metrics.generation_tokens_total++;
        pthread_mutex_unlock(&e->lock);
    }
    loom_finish_reason reason = token_finish(e, es, id);
    char *text = NULL;
    int32_t matched = -1;
    loom_status st = new_text(es, id, reason != LOOM_FINISH_NONE, &text, &matched, err);
    if (st != LOOM_OK) {
        free(text);
        return st;
    }
    if (matched >= 0) reason = LOOM_FINISH_STOP;
    if (reason != LOOM_FINISH_NONE) finish_seq(e, es, reason);
    emit(e, es, &id, 1, text, strlen(text), r->sampling.logprobs >= 0 ? &lp : NULL,
         matched >= 0 ? loom_stop_matcher_string(es->stop, matched) : NULL);
    free(text);
    return LOOM_OK;
}

/* The other samples of an n > 1 request start here, sharing the prompt's KV blocks. */
static loom_status fork_samples(loom_engine *e, engine_request *r, loom_error *err) {
    loom_seq *parent = r->seqs[0].seq;
    for (int32_t i = 1; i < r->n_samples; i++) {
        loom_status st = engine_seq_init(e, r, i, err);
        if (st == LOOM_OK) st = loom_sched_fork(e->sched, parent, r->seqs[i].seq, err);
        if (st != LOOM_OK) return st;
    }
    parent->n_samples = 1;
    return LOOM_OK;
}

loom_status engine_sample_request(loom_engine *e, engine_seq *es, const float *logits, loom_error *err) {
    engine_request *r = es->req;
    if (engine_seq_draws_alone(es)) return sample_one(e, es, logits, err);
    loom_status st = fork_samples(e, r, err);
    for (int32_t i = 0; i < r->n_samples && st == LOOM_OK; i++) st = sample_one(e, &r->seqs[i], logits, err);
    return st;
}
