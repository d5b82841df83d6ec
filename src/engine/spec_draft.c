/* The draft model of speculative decoding: a second model with its own context and KV manager (no prefix
 * cache), run by the engine before the target's step. Each sequence keeps the draft's KV for a prefix of
 * its tokens; proposing first computes what the draft has not seen yet (after a rollback: from the first
 * token that differs from what it computed), then one token per round, all candidates in one ragged
 * batch per round. A proposal is the argmax of the draft's distribution for a greedy request, else a draw
 * from it (q, kept for the verification); the draft's distribution is the request's sampling chain over
 * the draft's logits (src/sample/sampler.c), with its own history of the output, masked by the request's
 * constraint when it has one. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "engine/context_internal.h"
#include "engine/spec.h"
#include "sample/sampler_internal.h"
#include "sample/select.h"

struct spec_draft {
    loom_model *model;
    loom_context *ctx;
    kv_manager kvm;
    int32_t max_batch, width;                                          /* tokens per forward; block-table row width */
    int32_t *tokens, *positions, *seq_of_token, *slots, *logit_tokens; /* [max_batch] */
    int32_t *block_tables;                                             /* [max_num_seqs][width] */
    int32_t *row_of; /* [max_num_seqs] candidate's logit row this round, -1 for none */
    uint8_t *active; /* [max_num_seqs] candidate still proposing */
};

/* Same vocabulary: equal sizes, and when both models bring a tokenizer, the same text for every id
 * (decoded a chunk of ids at a time) and the same EOS ids. */
static loom_status check_vocab(const loom_model *target, const loom_model *draft, loom_error *err) {
    const loom_model_info *ti = loom_model_get_info(target), *di = loom_model_get_info(draft);
    if (ti->vocab_size != di->vocab_size)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "draft model: its vocabulary has %d tokens, the target's %d; speculative decoding needs the "
                         "same tokenizer",
                         di->vocab_size, ti->vocab_size);
    if (ti->n_eos_ids != di->n_eos_ids || memcmp(ti->eos_ids, di->eos_ids, (size_t)ti->n_eos_ids * sizeof(int32_t)))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "draft model: its EOS ids differ from the target's");
    const loom_tokenizer *tt = loom_model_get_tokenizer(target), *dt = loom_model_get_tokenizer(draft);
    if (!tt || !dt) return LOOM_OK;
    int32_t n = loom_tokenizer_vocab_size(tt);
    if (n != loom_tokenizer_vocab_size(dt))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "draft model: its tokenizer has %d tokens, the target's %d",
                         loom_tokenizer_vocab_size(dt), n);
    enum { CHUNK = 512 };
    int32_t ids[CHUNK];
    loom_status st = LOOM_OK;
    for (int32_t first = 0; first < n && st == LOOM_OK; first += CHUNK) {
        int32_t m = n - first < CHUNK ? n - first : CHUNK;
        for (int32_t i = 0; i < m; i++) ids[i] = first + i;
        char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        st = loom_tokenizer_decode(tt, ids, (size_t)m, 0, &a, &la, err);
        if (st == LOOM_OK) st = loom_tokenizer_decode(dt, ids, (size_t)m, 0, &b, &lb, err);
        if (st == LOOM_OK && (la != lb || memcmp(a, b, la)))
            st = loom_fail(err, LOOM_ERR_INVALID_ARG,
                           "draft model: its tokenizer differs from the target's (token ids %d..%d decode differently)",
                           first, first + m - 1);
        free(a);
        free(b);
    }
    return st;
}

static loom_status check_draft(const loom_engine *e, const loom_model *draft, loom_error *err) {
    const loom_model_info *ti = e->info, *di = loom_model_get_info(draft);
    if ((int64_t)ti->tp_size * ti->pp_size > 1 || (int64_t)di->tp_size * di->pp_size > 1)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED,
                         "a draft model with tensor or pipeline parallelism is not supported");
    if (di->max_position_embeddings < e->max_model_len)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "draft model: its context (%d tokens) is shorter than max_model_len (%d)",
                         di->max_position_embeddings, e->max_model_len);
    return check_vocab(e->model, draft, err);
}

void spec_draft_free(spec_draft *d) {
    if (!d) return;
    kvm_destroy(&d->kvm);
    loom_context_free(d->ctx);
    free(d->tokens);
    free(d->positions);
    free(d->seq_of_token);
    free(d->slots);
    free(d->logit_tokens);
    free(d->block_tables);
    free(d->row_of);
    free(d->active);
    free(d);
}

/* The draft's KV pool: as many blocks as the target's, plus room for every sequence's proposals. A
 * sequence whose blocks the pool cannot give just does not speculate that step. */
static loom_status create_context(loom_engine *e, spec_draft *d, loom_error *err) {
    const loom_engine_params *p = &e->params;
    int32_t bs = e->kvm.block_size;
    loom_context_params cp = loom_context_default_params();
    cp.n_threads = p->n_threads;
    cp.max_seqs = p->max_num_seqs;
    cp.max_tokens_per_seq = e->max_model_len;
    cp.max_batch_tokens = p->max_num_batched_tokens;
    cp.block_size = bs;
    cp.num_kv_blocks = bm_num_blocks(e->kvm.bm) + p->max_num_seqs * ((p->num_speculative_tokens + bs) / bs + 1);
    cp.kv_cache_dtype = (int)p->kv_cache_dtype;
    loom_status st = loom_context_create(d->model, &cp, &d->ctx, err);
    if (st != LOOM_OK) return st;
    kv_mover mover = ctx_kv_mover(d->ctx);
    return kvm_init(&d->kvm, context_num_kv_blocks(d->ctx), bs, 0, &mover, err);
}

loom_status spec_draft_create(loom_engine *e, spec_draft **out, loom_error *err) {
    *out = NULL;
    loom_status st = check_draft(e, e->params.draft_model, err);
    if (st != LOOM_OK) return st;
    spec_draft *d = calloc(1, sizeof *d);
    if (!d) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the draft model");
    d->model = e->params.draft_model;
    d->max_batch = e->params.max_num_batched_tokens;
    d->width = e->block_tables_width;
    size_t nt = (size_t)d->max_batch, ns = (size_t)e->params.max_num_seqs;
    d->tokens = malloc(nt * sizeof(int32_t));
    d->positions = malloc(nt * sizeof(int32_t));
    d->seq_of_token = malloc(nt * sizeof(int32_t));
    d->slots = malloc(nt * sizeof(int32_t));
    d->logit_tokens = malloc(nt * sizeof(int32_t));
    d->block_tables = malloc(ns * (size_t)d->width * sizeof(int32_t));
    d->row_of = malloc(ns * sizeof(int32_t));
    d->active = malloc(ns);
    st = d->tokens && d->positions && d->seq_of_token && d->slots && d->logit_tokens && d->block_tables && d->row_of &&
            d->active
        ? create_context(e, d, err)
        : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the draft model");
    if (st != LOOM_OK) {
        spec_draft_free(d);
        return st;
    }
    *out = d;
    return LOOM_OK;
}

loom_status spec_draft_seq_init(loom_engine *e, engine_seq *es, loom_error *err) {
    spec_seq *ss = es->spec;
    const loom_request_params *p = &es->req->p;
    loom_sampling_params sp = p->sampling;
    int32_t index = (int32_t)(es - es->req->seqs);
    if (sp.has_seed) sp.seed += (uint64_t)index; /* as the target's sampler: each sample its own stream */
    if (!(ss->computed = malloc((size_t)es->seq->capacity_tokens * sizeof *ss->computed)))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for speculative decoding");
    loom_status st = loom_sampler_create(&sp, e->info->vocab_size, &ss->sampler, err);
    if (st == LOOM_OK) st = loom_sampler_set_prompt(ss->sampler, p->prompt_ids, p->n_prompt, err);
    /* proposals have their own stream: the target's draws stay the sequence's */
    rng_seed(&ss->rng, sp.has_seed ? sp.seed ^ 0x6a09e667f3bcc909ull : (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)ss);
    return st;
}

void spec_draft_seq_release(spec_draft *d, spec_seq *ss) {
    bm_release(d->kvm.bm, &ss->table);
    ss->n_computed = 0;
}

/* The draft's KV is valid for the longest prefix of what it computed that the tokens still have, and
 * always leaves the last token to compute (its logits give the first proposal). Only the last
 * LOOM_MAX_SPEC_TOKENS + 1 positions it computed can differ: tokens are only ever appended, and only
 * proposals (at the end) are taken back. */
static void sync_draft(spec_seq *ss, const loom_seq *seq) {
    int32_t n = ss->n_computed < seq->n_tokens - 1 ? ss->n_computed : seq->n_tokens - 1;
    for (int32_t i = n - LOOM_MAX_SPEC_TOKENS - 1 > 0 ? n - LOOM_MAX_SPEC_TOKENS - 1 : 0; i < n; i++)
        if (ss->computed[i] != seq->tokens[i]) n = i;
    ss->n_computed = n;
}

/* The output tokens the draft's sampler has not recorded yet (penalties over the output). */
static void sync_history(spec_seq *ss, const loom_seq *seq) {
    for (; seq->n_prompt + ss->n_recorded < seq->n_tokens; ss->n_recorded++)
        sampler_record(ss->sampler, seq->tokens[seq->n_prompt + ss->n_recorded]);
}

/* The candidate's next proposal from the draft's logits, appended to its tokens; 0 when it gets none (its
 * constraint allows nothing the draft would propose). A constraint masks the draft's distribution too, in
 * the state the matcher reaches through the proposals so far (spec_draft_propose rolls it back). */
static int propose_one(loom_engine *e, engine_seq *es, const float *logits, loom_error *err) {
    const spec_engine *sp = e->spec;
    spec_seq *ss = es->spec;
    loom_seq *seq = es->seq;
    float *q = sp->residual; /* scratch when greedy: only the argmax is kept */
    if (!sampler_is_greedy(es->sampler)) {
        if (!ss->q && !(ss->q = malloc((size_t)sp->k * (size_t)sp->vocab * sizeof *ss->q))) return 0;
        q = ss->q + (size_t)seq->n_spec * (size_t)sp->vocab;
    }
    const float *allowed = logits;
    if (engine_grammar_mask(e, es, logits, &allowed, err) != LOOM_OK) return 0;
    loom_sampler_probs(ss->sampler, allowed, q);
    int32_t id;
    if (sampler_is_greedy(es->sampler)) id = argmax(q, sp->vocab);
    else {
        double total = 0;
        for (int32_t j = 0; j < sp->vocab; j++) total += q[j];
        id = draw_index(q, sp->vocab, total, rng_uniform(&ss->rng));
    }
    if (es->matcher && gram_matcher_accept_token(es->matcher, id, err) != 1) return 0;
    seq_append(seq, id);
    seq->n_spec++;
    return 1;
}

/* One round's batch: every active candidate's tokens the draft has not computed (as many as fit), with a
 * logit row for those that reach their last token. Returns the number of tokens. */
static int32_t build_round(spec_draft *d, const spec_engine *sp, int32_t n_cands, loom_forward_batch *fb) {
    int32_t t = 0, n_items = 0, n_rows = 0;
    for (int32_t c = 0; c < n_cands; c++) {
        d->row_of[c] = -1;
        if (!d->active[c] || t == d->max_batch) continue;
        spec_seq *ss = sp->cands[c]->spec;
        const loom_seq *seq = sp->cands[c]->seq;
        int32_t start = ss->n_computed, n = seq->n_tokens - start;
        if (n > d->max_batch - t) n = d->max_batch - t;
        if (kvm_reserve(&d->kvm, &ss->table, start, start + n)) continue;
        kvm_slots(&d->kvm, &ss->table, start, n, d->slots + t);
        memcpy(d->block_tables + (size_t)n_items * d->width, ss->table.blocks,
               (size_t)ss->table.n_blocks * sizeof(int32_t));
        memcpy(ss->computed + start, seq->tokens + start, (size_t)n * sizeof(int32_t));
        for (int32_t i = 0; i < n; i++, t++) {
            d->tokens[t] = seq->tokens[start + i];
            d->positions[t] = start + i;
            d->seq_of_token[t] = n_items;
        }
        if (start + n == seq->n_tokens) {
            d->row_of[c] = n_rows;
            d->logit_tokens[n_rows++] = t - 1;
        }
        ss->n_computed = start + n;
        n_items++;
    }
    *fb = (loom_forward_batch){.n_tokens = t,
                               .tokens = d->tokens,
                               .pos = d->positions,
                               .seq_of_token = d->seq_of_token,
                               .slots = d->slots,
                               .block_tables = d->block_tables,
                               .max_blocks_per_seq = d->width,
                               .n_logits = n_rows,
                               .logit_tokens = d->logit_tokens};
    return t;
}

loom_status spec_draft_propose(loom_engine *e, int32_t n_cands, loom_error *err) {
    spec_engine *sp = e->spec;
    spec_draft *d = sp->draft;
    for (int32_t c = 0; c < n_cands; c++) {
        engine_seq *es = sp->cands[c];
        sync_draft(es->spec, es->seq);
        sync_history(es->spec, es->seq);
        es->spec->q_valid = !sampler_is_greedy(es->sampler);
        d->active[c] = 1;
    }
    loom_status st = LOOM_OK;
    for (int any = 1; any;) {
        loom_forward_batch fb;
        if (build_round(d, sp, n_cands, &fb) == 0) break;
        if ((st = context_forward(d->ctx, &fb, err)) != LOOM_OK) break;
        any = 0;
        for (int32_t c = 0; c < n_cands; c++) {
            engine_seq *es = sp->cands[c];
            loom_error ignored = {0}; /* a proposal the constraint cannot take is just not made */
            int made = d->row_of[c] >= 0 && propose_one(e, es, loom_get_logits(d->ctx, d->row_of[c]), &ignored);
            d->active[c] = made && es->seq->n_spec < sp->cand_k[c];
            any |= d->active[c];
        }
    }
    for (int32_t c = 0; c < n_cands; c++) /* the matcher is back where the emitted tokens left it */
        if (sp->cands[c]->matcher) gram_matcher_rollback(sp->cands[c]->matcher, sp->cands[c]->seq->n_spec);
    return st;
}
