/* Per-sequence output: sampling from the step's logits (forking the other samples of an n > 1 request
 * on the first token), incremental detokenization, stop conditions, and the loom_output events. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/engine_internal.h"
#include "engine/spec.h"

/* What the sampler must not draw before min_tokens: the model's EOS ids (unless ignore_eos) and the
 * request's stop_token_ids. */
static loom_status suppress_early_stops(const loom_engine *e, const loom_request_params *p, loom_sampler *s,
                                        loom_error *err) {
    if (p->min_tokens == 0) return LOOM_OK;
    int32_t n_eos = p->ignore_eos ? 0 : e->info->n_eos_ids, n = n_eos + p->n_stop_token_ids;
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the suppressed ids");
    memcpy(ids, e->info->eos_ids, (size_t)n_eos * sizeof *ids);
    memcpy(ids + n_eos, p->stop_token_ids, (size_t)p->n_stop_token_ids * sizeof *ids);
    loom_status st = loom_sampler_suppress(s, ids, (size_t)n, p->min_tokens, err);
    free(ids);
    return st;
}

loom_status engine_seq_init(loom_engine *e, engine_request *r, int32_t index, loom_error *err) {
    engine_seq *es = &r->seqs[index];
    *es = (engine_seq){.req = r};
    const loom_request_params *p = &r->p;
    loom_sampling_params sp = p->sampling;
    if (sp.has_seed) sp.seed += (uint64_t)index; /* each sample its own stream; sample 0 keeps the seed */
    loom_status st = seq_create(r->id, index, p->prompt_ids, (int32_t)p->n_prompt, r->max_total_tokens, &es->seq, err);
    if (st == LOOM_OK) st = loom_sampler_create(&sp, e->info->vocab_size, &es->sampler, err);
    if (st == LOOM_OK) st = loom_sampler_set_prompt(es->sampler, p->prompt_ids, p->n_prompt, err);
    if (st == LOOM_OK) st = suppress_early_stops(e, p, es->sampler, err);
    if (st == LOOM_OK) {
        st = loom_detokenizer_create(e->model, p->skip_special_tokens, &es->detok, err);
        if (st == LOOM_ERR_UNSUPPORTED) st = LOOM_OK; /* no tokenizer: ids only */
        else if (st == LOOM_OK) st = loom_detokenizer_prime(es->detok, p->prompt_ids, p->n_prompt, err);
    }
    if (st == LOOM_OK) st = loom_stop_matcher_create(p->stop, p->n_stop, p->include_stop_str_in_output, &es->stop, err);
    if (st == LOOM_OK) st = engine_grammar_seq_init(es, err);
    if (st == LOOM_OK && e->spec) st = spec_seq_init(e, es, err);
    if (st != LOOM_OK) {
        engine_seq_destroy(es);
        return st;
    }
    es->seq->owner = es;
    return LOOM_OK;
}

void engine_seq_destroy(engine_seq *es) {
    seq_destroy(es->seq);
    loom_sampler_free(es->sampler);
    loom_detokenizer_free(es->detok);
    loom_stop_matcher_free(es->stop);
    gram_matcher_free(es->matcher);
    spec_seq_destroy(es);
    *es = (engine_seq){.req = es->req};
}

static void emit(const loom_engine *e, const engine_seq *es, const int32_t *ids, int32_t n_new, const char *delta,
                 size_t delta_len, const loom_token_logprob *lp, const char *stop_reason, int32_t stop_token_id) {
    const engine_request *r = es->req;
    if (!r->p.on_output) return;
    char *text = strndup(delta ? delta : "", delta ? delta_len : 0);
    loom_output out = {
        .request_id = r->id,
        .seq_index = (int32_t)(es - r->seqs),
        .new_ids = ids,
        .n_new = n_new,
        .text_delta = text ? text : "",
        .logprobs = lp,
        .finish_reason = es->finish,
        .stop_reason = stop_reason,
        .stop_token_id = stop_token_id,
        .n_prompt_tokens = (int32_t)r->p.n_prompt,
        .n_output_tokens = es->n_out,
        .n_cached_prompt_tokens = es->seq ? es->seq->n_cached_prompt : 0,
    };
    r->p.on_output(&out, r->p.user);
    free(text);
}

/* Marks the sequence finished, frees its KV, records its time per output token. */
static void finish_seq(loom_engine *e, engine_seq *es, loom_finish_reason reason) {
    if (es->seq) sched_finish(e->sched, es->seq);
    if (es->spec) spec_seq_release(e, es);
    es->finish = reason;
    es->req->n_unfinished--;
    pthread_mutex_lock(&e->lock);
    loom_engine_metrics *m = &e->metrics;
    m->seqs_finished_by_reason[reason]++;
    if (es->n_out > 1)
        engine_metrics_observe(m->tpot_buckets, &m->tpot_sum_s, &m->tpot_count,
                               (es->last_token_s - es->first_token_s) / (es->n_out - 1));
    pthread_mutex_unlock(&e->lock);
}

void engine_end_seq(loom_engine *e, engine_seq *es, loom_finish_reason reason) {
    finish_seq(e, es, reason);
    emit(e, es, NULL, 0, "", 0, NULL, NULL, -1);
}

void engine_end_request(loom_engine *e, engine_request *r, loom_finish_reason reason) {
    if (!r->admitted) r->n_unfinished = r->p.n;
    r->admitted = 1;
    for (int32_t i = 0; i < r->p.n; i++)
        if (r->seqs[i].finish == LOOM_FINISH_NONE) engine_end_seq(e, &r->seqs[i], reason);
}

static int contains(const int32_t *ids, int32_t n, int32_t id) {
    for (int32_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

/* The finish reason the new token id gives by itself (EOS, stop ids, length), before stop strings;
 * *stop_id = the id when it is one of stop_token_ids. */
static loom_finish_reason token_finish(const loom_engine *e, const engine_seq *es, int32_t id, int32_t *stop_id) {
    const loom_request_params *p = &es->req->p;
    *stop_id = -1;
    if (es->n_out >= p->min_tokens) {
        if (contains(p->stop_token_ids, p->n_stop_token_ids, id)) {
            *stop_id = id;
            return LOOM_FINISH_STOP;
        }
        if (!p->ignore_eos && contains(e->info->eos_ids, e->info->n_eos_ids, id)) return LOOM_FINISH_STOP;
    }
    return es->seq->n_tokens >= es->req->max_total_tokens ? LOOM_FINISH_LENGTH : LOOM_FINISH_NONE;
}

/* Detokenized text of the new token (with the detokenizer's pending tail when final); malloc'd. A stop
 * token id (silent) adds no text of its own, as in vLLM. */
static loom_status token_text(engine_seq *es, int32_t id, int final, int silent, char **out, loom_error *err) {
    *out = NULL;
    loom_status st = es->detok && !silent ? loom_detokenizer_push(es->detok, id, out, err) : LOOM_OK;
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
static loom_status new_text(engine_seq *es, int32_t id, int final, int silent, char **out, int32_t *stop_index,
                            loom_error *err) {
    *out = NULL;
    char *piece = NULL;
    loom_stop_result res = {0}, rest = {0};
    loom_status st = token_text(es, id, final, silent, &piece, err);
    if (st == LOOM_OK)
        st = loom_stop_matcher_push(es->stop, piece ? piece : "", piece ? strlen(piece) : 0,
                                    es->n_out >= es->req->p.min_tokens, &res, err);
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
    return !es->matcher && (r->p.n == 1 || es->n_out > 0 || r->seqs[1].seq);
}

void engine_seq_draw(engine_seq *es, const float *logits) {
    es->drawn_id = loom_sampler_sample(es->sampler, logits);
    es->drawn = 1;
}

loom_status engine_emit_token(loom_engine *e, engine_seq *es, int32_t id, const float *logits, loom_error *err) {
    engine_request *r = es->req;
    loom_token_logprob lp = {.id = id};
    if (r->p.logprobs >= 0) {
        lp.n_top = r->p.logprobs;
        lp.top_ids = e->lp_top_ids;
        lp.top_logprobs = e->lp_top_logprobs;
        loom_logprobs(logits, e->info->vocab_size, id, lp.n_top, &lp.logprob, e->lp_top_ids, e->lp_top_logprobs);
    }
    if (seq_append(es->seq, id)) return loom_fail(err, LOOM_ERR_INTERNAL, "sequence sampled past its length");
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
    int32_t stop_id;
    loom_finish_reason reason = token_finish(e, es, id, &stop_id);
    if (reason == LOOM_FINISH_NONE && es->matcher && gram_matcher_is_terminated(es->matcher)) reason = LOOM_FINISH_STOP;
    char *text = NULL;
    int32_t matched = -1;
    loom_status st = new_text(es, id, reason != LOOM_FINISH_NONE, stop_id >= 0, &text, &matched, err);
    if (st != LOOM_OK) {
        free(text);
        return st;
    }
    if (matched >= 0) reason = LOOM_FINISH_STOP;
    if (reason != LOOM_FINISH_NONE) finish_seq(e, es, reason);
    emit(e, es, &id, 1, text, strlen(text), r->p.logprobs >= 0 ? &lp : NULL,
         matched >= 0 ? loom_stop_matcher_string(es->stop, matched) : NULL, matched >= 0 ? -1 : stop_id);
    free(text);
    return LOOM_OK;
}

loom_status engine_sample_one(loom_engine *e, engine_seq *es, const float *logits, loom_error *err) {
    if (es->drawn) {
        es->drawn = 0;
        return engine_emit_token(e, es, es->drawn_id, logits, err);
    }
    const float *allowed = logits; /* with a constraint: the masked row (logprobs stay raw) */
    loom_status gst = engine_grammar_mask(e, es, logits, &allowed, err);
    int32_t id = gst == LOOM_OK ? loom_sampler_sample(es->sampler, allowed) : -1;
    /* a token the constraint refuses (its budget ran out, or nothing was left to draw) ends the sample */
    if (es->matcher && (id < 0 || gram_matcher_accept_token(es->matcher, id, err) != 1)) {
        engine_end_seq(e, es, LOOM_FINISH_ERROR);
        return LOOM_OK;
    }
    return engine_emit_token(e, es, id, logits, err);
}

/* The other samples of an n > 1 request start here: each shares sample 0's prompt KV (copy-on-write)
 * and waits for a seat, so n may exceed max_num_seqs. */
static loom_status fork_samples(loom_engine *e, engine_request *r, loom_error *err) {
    loom_seq *parent = r->seqs[0].seq;
    for (int32_t i = 1; i < r->p.n; i++) {
        loom_status st = engine_seq_init(e, r, i, err);
        if (st == LOOM_OK) st = sched_fork(e->sched, parent, r->seqs[i].seq, err);
        if (st != LOOM_OK) return st;
    }
    return LOOM_OK;
}

loom_status engine_sample_request(loom_engine *e, engine_seq *es, const float *logits, loom_error *err) {
    engine_request *r = es->req;
    if (r->p.n == 1 || es->n_out > 0 || r->seqs[1].seq) return engine_sample_one(e, es, logits, err);
    loom_status st = fork_samples(e, r, err);
    for (int32_t i = 0; i < r->p.n && st == LOOM_OK; i++) st = engine_sample_one(e, &r->seqs[i], logits, err);
    return st;
}
