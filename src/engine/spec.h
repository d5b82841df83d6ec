/* Speculative decoding inside the engine (loom.h, loom_spec_method). Each step:
 *   1. spec_propose, before the schedule: every running sequence about to decode gets up to K proposals
 *      appended to its tokens (seq->n_spec); n-gram lookup or the draft model (spec_draft.c);
 *   2. the scheduler gives it 1 + K tokens of the step's budget (it drops proposals that do not fit the
 *      budget or the KV pool rather than preempt), and the one ragged forward computes them with every
 *      other sequence's prefill or decode; the engine asks for the logits of all K + 1 positions;
 *   3. spec_verify, after the forward: the proposals are removed from the sequence, then verified in order
 *      (sample/rejection.h) against the sampler's distribution at each position; each kept token, then the
 *      one drawn at the first rejection (or after the last proposal when all are kept), goes through the
 *      engine's per-token output (stop strings, min_tokens, logprobs of the target, finish); then the
 *      scheduler counts the kept proposals' KV as computed and frees blocks past the tokens
 *      (sched_accept_spec).
 * Structured output: each position's distribution is masked by the sequence's matcher in the state the
 * tokens kept before it reached (engine_grammar_mask), so a proposal the constraint forbids has p = 0 and
 * is rejected, and at verification the matcher accepts only emitted tokens. The draft model's proposals
 * are masked too: the matcher advances through them as they are drawn and is rolled back right after
 * (gram_matcher_rollback), before the verification. */
#ifndef LOOM_ENGINE_SPEC_H
#define LOOM_ENGINE_SPEC_H

#include "engine/engine_internal.h"
#include "sample/rng.h"

typedef struct spec_draft spec_draft;

/* Per engine. */
struct spec_engine {
    loom_spec_method method;
    int32_t k, ngram_min, ngram_max, vocab;
    float *p, *residual; /* [vocab] verification scratch */
    engine_seq **cands;  /* [max_num_seqs] this step's sequences about to decode */
    int32_t *cand_k;     /* [max_num_seqs] proposals each may get */
    spec_draft *draft;   /* LOOM_SPEC_DRAFT_MODEL */
};

/* Per sequence. */
struct spec_seq {
    float *q; /* [k][vocab] the draft distributions the pending proposals were drawn from; NULL: point masses */
    int q_valid;
    /* draft model: its KV for tokens [0, n_computed), which were computed[0 .. n_computed) */
    loom_block_table table;
    int32_t n_computed;
    int32_t *computed;     /* [seq capacity] */
    loom_sampler *sampler; /* the request's sampling parameters over the draft's logits (q) */
    int32_t n_recorded;    /* output tokens the draft sampler has in its history */
    loom_rng rng;          /* the draws of proposals from q */
};

loom_status spec_create(loom_engine *e, loom_error *err); /* e->spec stays NULL without a method */
void spec_free(loom_engine *e);
loom_status spec_seq_init(loom_engine *e, engine_seq *es, loom_error *err);
void spec_seq_release(loom_engine *e, engine_seq *es); /* the sequence finished: its draft KV goes back */
void spec_seq_destroy(engine_seq *es);

loom_status spec_propose(loom_engine *e, loom_error *err);
/* it: a step item with n_spec > 0; its K + 1 logit rows start at first_row. */
loom_status spec_verify(loom_engine *e, const loom_sched_item *it, int32_t first_row, loom_error *err);

/* spec_draft.c */
loom_status spec_draft_create(loom_engine *e, spec_draft **out, loom_error *err);
void spec_draft_free(spec_draft *d);
loom_status spec_draft_seq_init(loom_engine *e, engine_seq *es, loom_error *err);
void spec_draft_seq_release(spec_draft *d, spec_seq *ss);
/* Proposals for the candidates (cands / cand_k of e->spec), appended to their sequences. */
loom_status spec_draft_propose(loom_engine *e, int32_t n_cands, loom_error *err);

#endif
