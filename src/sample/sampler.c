/* The sampler chain: temperature -> top-k -> top-p -> min-p -> one draw from the per-request stream. */
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
    candidate *cand; /* [vocab] */
    double *prob;    /* [vocab] */
};

loom_sampling_params loom_sampling_default_params(void) {
    return (loom_sampling_params){.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 0, .has_seed = 0};
}

loom_status loom_sampler_create(const loom_sampling_params *params, int32_t vocab, loom_sampler **out, loom_error *err) {
    *out = NULL;
    loom_sampling_params p = params ? *params : loom_sampling_default_params();
    if (!(p.temperature >= 0) || !isfinite(p.temperature))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "temperature must be a finite number >= 0");
    if (!(p.top_p > 0 && p.top_p <= 1)) return loom_fail(err, LOOM_ERR_INVALID_ARG, "top_p must be in (0, 1]");
    if (!(p.min_p >= 0 && p.min_p <= 1)) return loom_fail(err, LOOM_ERR_INVALID_ARG, "min_p must be in [0, 1]");
    if (p.top_k < -1) return loom_fail(err, LOOM_ERR_INVALID_ARG, "top_k must be -1, 0 (off) or positive");
    if (vocab <= 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "vocabulary size must be positive");
    loom_sampler *s = calloc(1, sizeof *s);
    if (s) {
        s->cand = malloc((size_t)vocab * sizeof *s->cand);
        s->prob = malloc((size_t)vocab * sizeof *s->prob);
    }
    if (!s || !s->cand || !s->prob) {
        loom_sampler_free(s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the sampler");
    }
    s->p = p;
    s->vocab = vocab;
    loom_rng_seed(&s->rng, p.has_seed ? p.seed : (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s);
    *out = s;
    return LOOM_OK;
}

void loom_sampler_free(loom_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->prob);
    free(s);
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

int32_t loom_sampler_sample(loom_sampler *s, const float *logits) {
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
