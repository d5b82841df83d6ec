/* The sampler chain for one sequence, in the order documented in loom.h (vLLM's): suppressed ids
 * (min_tokens) and logit_bias -> repetition, frequency and presence penalties -> greedy argmax, or temperature ->
 * min-p -> top-k -> top-p -> one draw from the sequence's own RNG stream. Nothing here is shared
 * between samplers, so a sequence's tokens depend only on its logits, parameters and seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "sample/rng.h"
#include "sample/sampler_internal.h"
#include "sample/select.h"

/* Below this temperature sampling is greedy (vLLM's epsilon). */
#define GREEDY_TEMPERATURE 1e-5f

enum { IN_PROMPT = 1, IN_SEEN_LIST = 2 };

struct loom_sampler {
    loom_sampling_params p;
    int32_t vocab;
    loom_rng rng;
    float *work;             /* [vocab] logits after masks, bias and penalties */
    float *weights;          /* [vocab] exp((logit - max) / temperature), 0 when filtered out */
    loom_candidate *scratch; /* [vocab] top-p bucket sort */
    int32_t *top_ids;        /* [top_k] when top-k is on */
    uint8_t *flags;          /* [vocab] IN_PROMPT | IN_SEEN_LIST */
    int32_t *output_counts;  /* [vocab] occurrences in the output so far */
    int32_t *seen_ids;       /* [vocab] distinct ids of prompt and output: where penalties apply */
    int32_t n_seen;
    int32_t n_output;    /* tokens sampled so far */
    int32_t *suppressed; /* ids masked while n_output < suppress_until (loom_sampler_suppress) */
    int32_t n_suppressed, suppress_until;
    loom_logit_bias *bias; /* owned copy of p.logit_bias */
};

static int top_k_on(const loom_sampler *s) { return s->p.top_k > 0 && s->p.top_k < s->vocab; }

loom_status loom_sampler_create(const loom_sampling_params *params, int32_t vocab, loom_sampler **out,
                                loom_error *err) {
    *out = NULL;
    loom_sampling_params p = params ? *params : loom_sampling_default_params();
    if (vocab <= 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "vocabulary size must be positive");
    loom_status st = loom_sampling_params_validate(&p, vocab, err);
    if (st != LOOM_OK) return st;
    loom_sampler *s = calloc(1, sizeof *s);
    if (!s) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the sampler");
    s->p = p;
    s->vocab = vocab;
    size_t n = (size_t)vocab;
    s->work = malloc(n * sizeof *s->work);
    s->weights = malloc(n * sizeof *s->weights);
    s->scratch = malloc(n * sizeof *s->scratch);
    s->flags = calloc(n, 1);
    s->output_counts = calloc(n, sizeof *s->output_counts);
    s->seen_ids = malloc(n * sizeof *s->seen_ids);
    int ok = s->work && s->weights && s->scratch && s->flags && s->output_counts && s->seen_ids;
    if (ok && top_k_on(s)) ok = (s->top_ids = malloc((size_t)p.top_k * sizeof *s->top_ids)) != NULL;
    if (ok && p.n_logit_bias > 0 && (ok = (s->bias = malloc((size_t)p.n_logit_bias * sizeof *s->bias)) != NULL))
        memcpy(s->bias, p.logit_bias, (size_t)p.n_logit_bias * sizeof *s->bias);
    if (!ok) {
        loom_sampler_free(s);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the sampler (vocabulary %d)", vocab);
    }
    s->p.logit_bias = s->bias;
    rng_seed(&s->rng, p.has_seed ? p.seed : (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)s);
    *out = s;
    return LOOM_OK;
}

void loom_sampler_free(loom_sampler *s) {
    if (!s) return;
    free(s->work);
    free(s->weights);
    free(s->scratch);
    free(s->top_ids);
    free(s->flags);
    free(s->output_counts);
    free(s->seen_ids);
    free(s->suppressed);
    free(s->bias);
    free(s);
}

static loom_status check_ids(const loom_sampler *s, const int32_t *ids, size_t n, const char *what, loom_error *err) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->vocab)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "%s id %d out of range [0, %d)", what, ids[i], s->vocab);
    return LOOM_OK;
}

static void mark_seen(loom_sampler *s, int32_t id) {
    if (s->flags[id] & IN_SEEN_LIST) return;
    s->flags[id] |= IN_SEEN_LIST;
    s->seen_ids[s->n_seen++] = id;
}

loom_status loom_sampler_set_prompt(loom_sampler *s, const int32_t *ids, size_t n, loom_error *err) {
    loom_status st = check_ids(s, ids, n, "prompt", err);
    if (st != LOOM_OK) return st;
    for (size_t i = 0; i < n; i++) {
        s->flags[ids[i]] |= IN_PROMPT;
        mark_seen(s, ids[i]);
    }
    return LOOM_OK;
}

loom_status loom_sampler_suppress(loom_sampler *s, const int32_t *ids, size_t n, int32_t min_tokens, loom_error *err) {
    loom_status st = check_ids(s, ids, n, "suppressed", err);
    if (st != LOOM_OK) return st;
    int32_t *copy = n ? malloc(n * sizeof *copy) : NULL;
    if (n && !copy) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the suppressed ids");
    if (n) memcpy(copy, ids, n * sizeof *copy);
    free(s->suppressed);
    s->suppressed = copy;
    s->n_suppressed = (int32_t)n;
    s->suppress_until = min_tokens;
    return LOOM_OK;
}

/* Suppressed ids (min_tokens) and logit_bias, then HF's repetition penalty (ids of prompt or output: positive
 * logits divided, negative ones multiplied), then OpenAI's frequency and presence penalties over
 * the output. Touches only the listed ids. Returns the logits to sample from (the input when
 * nothing applies). */
static const float *processed_logits(loom_sampler *s, const float *logits) {
    const loom_sampling_params *p = &s->p;
    int mask = s->n_output < s->suppress_until && s->n_suppressed > 0;
    int rep = p->repetition_penalty != 1.0f, out_pen = p->presence_penalty != 0 || p->frequency_penalty != 0;
    if (!mask && p->n_logit_bias == 0 && !((rep || out_pen) && s->n_seen > 0)) return logits;
    float *w = s->work;
    memcpy(w, logits, (size_t)s->vocab * sizeof *w);
    for (int32_t i = 0; mask && i < s->n_suppressed; i++) w[s->suppressed[i]] = -INFINITY;
    for (int32_t i = 0; i < p->n_logit_bias; i++) w[p->logit_bias[i].id] += p->logit_bias[i].bias;
    for (int32_t i = 0; i < s->n_seen && (rep || out_pen); i++) {
        int32_t id = s->seen_ids[i], count = s->output_counts[id];
        if (rep) w[id] = w[id] > 0 ? w[id] / p->repetition_penalty : w[id] * p->repetition_penalty;
        if (count > 0) w[id] -= p->frequency_penalty * (float)count + p->presence_penalty;
    }
    return w;
}

/* Number of leading weights to keep so the mass strictly before each kept one is below top_p. */
static int32_t top_p_prefix(const float *w, int32_t n, double top_p) {
    double total = 0, before = 0;
    for (int32_t j = 0; j < n; j++) total += w[j];
    int32_t kept = 0;
    while (kept < n && before < top_p * total) before += w[kept++];
    return kept;
}

/* The tokens that survive steps 4-7 of loom.h, with unnormalized weights: weights[j] belongs to
 * ids[j], or to id j when ids is NULL (the whole vocabulary); greedy_id >= 0 when greedy. */
typedef struct distribution {
    const float *weights;
    const int32_t *ids;
    int32_t n, greedy_id;
    double total; /* weight_total(weights, n) */
} distribution;

/* top-k on: the k best ids (sorted), then min-p and top-p as prefixes of them. */
static distribution top_k_distribution(loom_sampler *s, const float *x, float max) {
    const loom_sampling_params *p = &s->p;
    top_k_ids(x, s->vocab, p->top_k, s->top_ids);
    int32_t n = 0;
    for (; n < p->top_k; n++) {
        float w = expf((x[s->top_ids[n]] - max) / p->temperature);
        if (w < p->min_p) break; /* sorted: everything after is below min_p too */
        s->weights[n] = w;
    }
    if (p->top_p < 1) n = top_p_prefix(s->weights, n, p->top_p);
    return (distribution){s->weights, s->top_ids, n, -1, weight_total(s->weights, n)};
}

static distribution filtered_distribution(loom_sampler *s, const float *x) {
    const loom_sampling_params *p = &s->p;
    int32_t best = argmax(x, s->vocab);
    if (p->temperature < GREEDY_TEMPERATURE || !(x[best] > -INFINITY)) return (distribution){.greedy_id = best};
    if (top_k_on(s)) return top_k_distribution(s, x, x[best]);
    double total = softmax_weights(x, s->vocab, x[best], p->temperature, p->min_p, s->weights);
    if (p->top_p < 1) total = top_p_cut(x, s->weights, s->vocab, total, p->top_p, s->scratch);
    return (distribution){s->weights, NULL, s->vocab, -1, total};
}

void loom_sampler_probs(loom_sampler *s, const float *logits, float *probs) {
    distribution d = filtered_distribution(s, processed_logits(s, logits));
    memset(probs, 0, (size_t)s->vocab * sizeof *probs);
    if (d.greedy_id >= 0) probs[d.greedy_id] = 1;
    for (int32_t j = 0; j < d.n; j++) probs[d.ids ? d.ids[j] : j] = (float)(d.weights[j] / d.total);
}

int32_t loom_sampler_sample(loom_sampler *s, const float *logits) {
    distribution d = filtered_distribution(s, processed_logits(s, logits));
    int32_t id = d.greedy_id;
    if (id < 0) {
        int32_t j = draw_index(d.weights, d.n, d.total, rng_uniform(&s->rng));
        id = d.ids ? d.ids[j] : j;
    }
    sampler_record(s, id);
    return id;
}

void sampler_record(loom_sampler *s, int32_t id) {
    s->output_counts[id]++;
    mark_seen(s, id);
    s->n_output++;
}

double sampler_uniform(loom_sampler *s) { return rng_uniform(&s->rng); }

int sampler_is_greedy(const loom_sampler *s) { return s->p.temperature < GREEDY_TEMPERATURE; }
