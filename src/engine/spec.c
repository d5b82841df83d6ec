/* Speculative decoding in the engine: the checks at create, proposals before the schedule and the
 * verification after the forward (the steps are described in spec.h). */
#include "engine/spec.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/spec_ngram.h"
#include "sample/rejection.h"
#include "sample/sampler_internal.h"

static loom_status check_params(const loom_engine_params *p, loom_error *err) {
    if (p->speculative_method != LOOM_SPEC_NGRAM && p->speculative_method != LOOM_SPEC_DRAFT_MODEL)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "speculative_method must be none, ngram or draft_model");
    if (p->num_speculative_tokens < 1 || p->num_speculative_tokens > LOOM_MAX_SPEC_TOKENS)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "num_speculative_tokens must be in [1, %d] (got %d)",
                         LOOM_MAX_SPEC_TOKENS, p->num_speculative_tokens);
    if (p->speculative_method == LOOM_SPEC_NGRAM &&
        (p->ngram_prompt_lookup_min < 1 || p->ngram_prompt_lookup_max < p->ngram_prompt_lookup_min ||
         p->ngram_prompt_lookup_max > 1024))
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "ngram_prompt_lookup_min and ngram_prompt_lookup_max must satisfy 1 <= min <= max <= 1024 "
                         "(got %d and %d)",
                         p->ngram_prompt_lookup_min, p->ngram_prompt_lookup_max);
    if (p->speculative_method == LOOM_SPEC_DRAFT_MODEL && !p->draft_model)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "speculative_method draft_model needs a draft model");
    return LOOM_OK;
}

loom_status spec_create(loom_engine *e, loom_error *err) {
    const loom_engine_params *p = &e->params;
    if (p->speculative_method == LOOM_SPEC_NONE) return LOOM_OK;
    loom_status st = check_params(p, err);
    if (st != LOOM_OK) return st;
    spec_engine *sp = e->spec = calloc(1, sizeof *sp);
    if (!sp) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for speculative decoding");
    sp->method = p->speculative_method;
    sp->k = p->num_speculative_tokens;
    sp->ngram_min = p->ngram_prompt_lookup_min;
    sp->ngram_max = p->ngram_prompt_lookup_max;
    sp->vocab = e->info->vocab_size;
    sp->p = malloc((size_t)sp->vocab * sizeof *sp->p);
    sp->residual = malloc((size_t)sp->vocab * sizeof *sp->residual);
    sp->cands = malloc((size_t)p->max_num_seqs * sizeof *sp->cands);
    sp->cand_k = malloc((size_t)p->max_num_seqs * sizeof *sp->cand_k);
    if (!sp->p || !sp->residual || !sp->cands || !sp->cand_k)
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for speculative decoding");
    return sp->method == LOOM_SPEC_DRAFT_MODEL ? spec_draft_create(e, &sp->draft, err) : LOOM_OK;
}

void spec_free(loom_engine *e) {
    spec_engine *sp = e->spec;
    if (!sp) return;
    spec_draft_free(sp->draft);
    free(sp->p);
    free(sp->residual);
    free(sp->cands);
    free(sp->cand_k);
    free(sp);
    e->spec = NULL;
}

loom_status spec_seq_init(loom_engine *e, engine_seq *es, loom_error *err) {
    if (!(es->spec = calloc(1, sizeof *es->spec)))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for speculative decoding");
    return e->spec->draft ? spec_draft_seq_init(e, es, err) : LOOM_OK;
}

void spec_seq_release(loom_engine *e, engine_seq *es) {
    if (e->spec->draft) spec_draft_seq_release(e->spec->draft, es->spec);
}

void spec_seq_destroy(engine_seq *es) {
    spec_seq *ss = es->spec;
    if (!ss) return;
    free(ss->q);
    block_table_free(&ss->table);
    free(ss->computed);
    loom_sampler_free(ss->sampler);
    free(ss);
    es->spec = NULL;
}

/* How many proposals the running sequence may get now: 0 unless it is about to decode (every token but
 * the last computed, none pending verification), its request takes no per-position logits, and its
 * tokens leave room for the proposals and the token after them. */
static int32_t proposals_allowed(const spec_engine *sp, const loom_seq *seq) {
    const engine_seq *es = seq->owner;
    if (seq->n_spec > 0 || seq->n_computed != seq->n_tokens - 1 || es->n_out == 0 || es->req->p.on_logits) return 0;
    int32_t room = seq->capacity_tokens - seq->n_tokens - 1;
    return room < sp->k ? room : sp->k;
}

static void propose_ngram(spec_engine *sp, int32_t n_cands) {
    int32_t ids[LOOM_MAX_SPEC_TOKENS];
    for (int32_t c = 0; c < n_cands; c++) {
        loom_seq *seq = sp->cands[c]->seq;
        int32_t m = ngram_propose(seq->tokens, seq->n_tokens, sp->ngram_min, sp->ngram_max, sp->cand_k[c], ids);
        for (int32_t i = 0; i < m; i++) seq_append(seq, ids[i]);
        seq->n_spec = m;
        sp->cands[c]->spec->q_valid = 0;
    }
}

loom_status spec_propose(loom_engine *e, loom_error *err) {
    spec_engine *sp = e->spec;
    if (!sp) return LOOM_OK;
    int32_t n_running, n_cands = 0;
    loom_seq *const *running = sched_running(e->sched, &n_running);
    for (int32_t i = 0; i < n_running; i++) {
        int32_t k = proposals_allowed(sp, running[i]);
        if (k <= 0) continue;
        sp->cands[n_cands] = running[i]->owner;
        sp->cand_k[n_cands++] = k;
    }
    if (n_cands == 0) return LOOM_OK;
    if (sp->method == LOOM_SPEC_NGRAM) {
        propose_ngram(sp, n_cands);
        return LOOM_OK;
    }
    loom_status st = spec_draft_propose(e, n_cands, err);
    for (int32_t c = 0; c < n_cands && st != LOOM_OK; c++) engine_end_request(e, sp->cands[c]->req, LOOM_FINISH_ERROR);
    return st;
}

static void count(loom_engine *e, int32_t n_proposed, int32_t n_accepted) {
    pthread_mutex_lock(&e->lock);
    e->metrics.spec_drafts_total++;
    e->metrics.spec_draft_tokens_total += (uint64_t)n_proposed;
    e->metrics.spec_accepted_tokens_total += (uint64_t)n_accepted;
    pthread_mutex_unlock(&e->lock);
}

loom_status spec_verify(loom_engine *e, const loom_sched_item *it, int32_t first_row, loom_error *err) {
    spec_engine *sp = e->spec;
    engine_seq *es = it->seq->owner;
    loom_seq *seq = es->seq;
    spec_seq *ss = es->spec;
    int32_t k = it->n_spec, proposals[LOOM_MAX_SPEC_TOKENS], n_accepted = 0;
    memcpy(proposals, seq->tokens + seq->n_tokens - k, (size_t)k * sizeof *proposals);
    loom_seq_drop_spec(seq, k); /* the tokens kept come back through the per-token output */
    loom_status st = LOOM_OK;
    int accepted = 1;
    for (int32_t i = 0; i < k && accepted && st == LOOM_OK && es->finish == LOOM_FINISH_NONE; i++) {
        const float *logits = loom_get_logits(e->ctx, first_row + i), *allowed = logits;
        /* a constraint masks the target's distribution in the state its kept tokens reached: a proposal
         * it forbids has p = 0 and is rejected; the matcher only ever accepts emitted tokens, so a
         * rejection needs no rollback */
        if (engine_grammar_mask(e, es, logits, &allowed, err) != LOOM_OK) { /* as engine_sample_one */
            engine_end_seq(e, es, LOOM_FINISH_ERROR);
            break;
        }
        loom_sampler_probs(es->sampler, allowed, sp->p);
        const float *q = ss->q_valid ? ss->q + (size_t)i * (size_t)sp->vocab : NULL;
        int32_t id = rejection_verify(es->sampler, sp->p, q, sp->vocab, proposals[i], sp->residual, &accepted);
        sampler_record(es->sampler, id);
        if (es->matcher && gram_matcher_accept_token(es->matcher, id, err) != 1) {
            engine_end_seq(e, es, LOOM_FINISH_ERROR);
            break;
        }
        n_accepted += accepted;
        st = engine_emit_token(e, es, id, logits, err);
    }
    if (accepted && st == LOOM_OK && es->finish == LOOM_FINISH_NONE) /* every proposal kept: one more token */
        st = engine_sample_one(e, es, loom_get_logits(e->ctx, first_row + k), err);
    if (st == LOOM_OK && es->finish == LOOM_FINISH_NONE) sched_accept_spec(e->sched, seq, n_accepted);
    count(e, k, n_accepted);
    return st;
}
