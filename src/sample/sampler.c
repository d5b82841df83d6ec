/* The sampler chain (order in loom.h): penalties -> temperature -> top-k -> top-p -> min-p -> one draw
 * from the per-request stream. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "sample/rng.h"

typedef struct candidate {
    int32_t id;
    float logit;
} candidate;

struct loom_sampler {
    loom_sampling_params p;
    int32_t vocab;
    loom_rng rng;
    candidate *cand;        /* [vocab] */
    double *prob;           /* [vocab] */
    uint8_t *in_prompt;     /* [vocab] 1 when the id occurs in the prompt (repetition penalty) */
    int32_t *output_counts; /* [vocab] occurrences in the output so far */
    float *work;            /* [vocab] logits after penalties */
    loom_logit_bias *bias;  /* owned copy of p.logit_bias */
};

loom_status loom_sampler_create(const loom_sampling_params *params, int32_t vocab, loom_sampler **out, loom_error *err) {
    *out = NULL;
    loom_sampling_params p = params ? *params : loom_sampling_default_params();
    if (vocab <= 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "vocabulary size must be positive");
    loom_status st = loom_sampling_params_validate(&p, vocab, err);
    if (st != LOOM_OK) return st;
    loom_sampler *s = calloc(1, sizeof *s);
    if (s) {
        s->cand = malloc((size_t)vocab * sizeof *s->cand);
        s->prob = malloc((size_t)vocab * sizeof *s->prob);
        s->in_prompt = calloc((size_t)vocab, 1);
        s->output_counts = calloc((size_t)vocab, sizeof *s->output_counts);
        s->work = malloc((size_t)vocab * sizeof *s->work);
    }
    if (s && p.n_logit_bias > 0 && (s->bias = malloc((size_t)p.n_logit_bias * sizeof *s->bias)))
        memcpy(s->bias, p.logit_bias, (size_t)p.n_logit_bias * sizeof *s->bias);
    if (!s || !s->cand || !s->prob || !s->in_prompt || !s->output_counts || !s->work || (p.n_logit_bias > 0 && !s->bias)) {
        loom_sampler_free(s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the sampler");
    }
    s->p = p;
    s->p.logit_bias = s->bias;
    for (int32_t i = 0; i < LOOM_MAX_STOP_STRINGS; i++) s->p.stop[i] = NULL; /* not ours to keep */
    s->p.n_stop = 0;
    s->vocab = vocab;
    loom_rng_seed(&s->rng, p.has_seed ? p.seed : (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s);
    *out = s;
    return LOOM_OK;
}

void loom_sampler_free(loom_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->prob);
    free(s->in_prompt);
    free(s->output_counts);
    free(s->work);
    free(s->bias);
    free(s);
}

loom_status loom_sampler_set_prompt(loom_sampler *s, const int32_t *ids, size_t n, loom_error *err) {
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= s->vocab) return loom_fail(err, LOOM_ERR_INVALID_ARG, "prompt id %d out of range", ids[i]);
        s->in_prompt[ids[i]] = 1;
    }
    return LOOM_OK;
}

/* logit_bias, then HF's repetition penalty (ids seen in prompt or output: divide positive logits,
 * multiply negative ones), then OpenAI's presence and frequency penalties over the output.
 * Returns the logits to sample from (the input when nothing applies). */
static const float *apply_penalties(loom_sampler *s, const float *logits) {
    const loom_sampling_params *p = &s->p;
    int rep = p->repetition_penalty != 1.0f, pres = p->presence_penalty != 0, freq = p->frequency_penalty != 0;
    if (!rep && !pres && !freq && p->n_logit_bias == 0) return logits;
    float *w = s->work;
    memcpy(w, logits, (size_t)s->vocab * sizeof *w);
    for (int32_t i = 0; i < p->n_logit_bias; i++) w[p->logit_bias[i].id] += p->logit_bias[i].bias;
    for (int32_t i = 0; i < s->vocab; i++) {
        int32_t count = s->output_counts[i];
        if (rep && (count > 0 || s->in_prompt[i])) w[i] = w[i] > 0 ? w[i] / p->repetition_penalty : w[i] * p->repetition_penalty;
        if (count > 0) w[i] -= p->presence_penalty + p->frequency_penalty * (float)count;
    }
    return w;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Descending by logit, ties by ascending id, so the order is fully determined. */
static int cmp_candidate(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Moves the k best candidates to the front (unordered), average O(n). */
static void select_top_k(candidate *c, int32_t n, int32_t k) {
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        candidate pivot = c[lo + (hi - lo) / 2];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (cmp_candidate(&c[i], &pivot) < 0) i++;
            while (cmp_candidate(&c[j], &pivot) > 0) j--;
            if (i <= j) {
                candidate t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

static int32_t draw(loom_sampler *s, const float *logits) {
    const loom_sampling_params *p = &s->p;
    if (p->temperature == 0) return argmax(logits, s->vocab);
    int32_t n = s->vocab;
    for (int32_t i = 0; i < n; i++) s->cand[i] = (candidate){i, logits[i] / p->temperature};
    int filtered = p->top_p < 1 || p->min_p > 0;
    if (p->top_k > 0 && p->top_k < n) {
        select_top_k(s->cand, n, p->top_k);
        n = p->top_k;
    }
    if (filtered || p->top_k > 0) qsort(s->cand, (size_t)n, sizeof *s->cand, cmp_candidate);
    else {
        /* plain sampling: only the maximum is needed for a stable softmax */
        int32_t best = argmax(logits, n);
        candidate t = s->cand[0];
        s->cand[0] = s->cand[best];
        s->cand[best] = t;
    }
    double max_logit = s->cand[0].logit, total = 0;
    for (int32_t i = 0; i < n; i++) total += s->prob[i] = exp((double)s->cand[i].logit - max_logit);
    if (p->top_p < 1) {
        /* keep the smallest prefix whose mass reaches top_p (at least one token) */
        double cum = 0;
        int32_t keep = 0;
        while (keep < n && cum < p->top_p * total) cum += s->prob[keep++];
        n = keep > 0 ? keep : 1;
    }
    if (p->min_p > 0) {
        /* drop tokens below min_p times the top probability (prob[0] is the maximum) */
        int32_t keep = 1;
        while (keep < n && s->prob[keep] >= p->min_p * s->prob[0]) keep++;
        n = keep;
    }
    total = 0;
    for (int32_t i = 0; i < n; i++) total += s->prob[i];
    double r = loom_rng_uniform(&s->rng) * total;
    for (int32_t i = 0; i < n; i++) {
        r -= s->prob[i];
        if (r < 0) return s->cand[i].id;
    }
    return s->cand[n - 1].id;
}

int32_t loom_sampler_sample(loom_sampler *s, const float *logits) {
    int32_t id = draw(s, apply_penalties(s, logits));
    s->output_counts[id]++;
    return id;
}
