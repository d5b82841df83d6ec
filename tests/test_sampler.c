/* The sampler chain on hand-made logits: each transform with exact expected distributions (through
 * loom_sampler_probs, checked against softmax computed here), the order of operations (cases where
 * another order gives a different answer), min_tokens, seeded streams that ignore other samplers,
 * 20000-draw chi-square tests against the analytic distributions, the heap top-k and bucketed top-p
 * against a full sort on a 151936-entry vocabulary, log-probabilities, and the whole-row primitives
 * (argmax, softmax weights, the blocked total and the draw) against plain scalar references. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "loom.h"
#include "sample/select.h"

#define V_MAX 16

static loom_sampling_params params(float temperature, int32_t top_k, float top_p, float min_p) {
    loom_sampling_params p = loom_sampling_default_params();
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = 12345;
    p.has_seed = 1;
    return p;
}

static loom_sampler *create(const loom_sampling_params *p, int32_t vocab) {
    loom_sampler *s = NULL;
    loom_error err;
    CHECK(loom_sampler_create(p, vocab, &s, &err) == LOOM_OK);
    return s;
}

static loom_sampler *make(float temperature, int32_t top_k, float top_p, float min_p, int32_t vocab) {
    loom_sampling_params p = params(temperature, top_k, top_p, min_p);
    return create(&p, vocab);
}

/* Expected distribution: softmax(x / t) over the ids with keep[i] != 0 (keep NULL = all). */
static void softmax_over(const float *x, int n, double t, const int *keep, double *out) {
    double max = -INFINITY, z = 0;
    for (int i = 0; i < n; i++)
        if ((!keep || keep[i]) && x[i] > max) max = x[i];
    for (int i = 0; i < n; i++) z += out[i] = (!keep || keep[i]) ? exp((x[i] - max) / t) : 0;
    for (int i = 0; i < n; i++) out[i] /= z;
}

static void check_probs(loom_sampler *s, const float *logits, int n, const double *expected) {
    float got[V_MAX];
    loom_sampler_probs(s, logits, got);
    for (int i = 0; i < n; i++)
        CHECK_MSG(fabs(got[i] - expected[i]) <= 1e-6, "id %d: %g vs %g", i, got[i], expected[i]);
}

static const float logits[6] = {1.0f, 3.0f, 0.5f, 3.0f, -2.0f, 2.5f};

static void test_greedy(void) {
    loom_sampler *s = make(0, 0, 1, 0, 6);
    CHECK(loom_sampler_sample(s, logits) == 1); /* tie between ids 1 and 3: lowest id */
    double onehot[6] = {0, 1, 0, 0, 0, 0};
    check_probs(s, logits, 6, onehot);
    loom_sampler_free(s);
}

static void test_temperature(void) {
    loom_sampler *s = make(0.7f, 0, 1, 0, 6);
    double e[6];
    softmax_over(logits, 6, 0.7, NULL, e);
    check_probs(s, logits, 6, e);
    loom_sampler_free(s);
}

static void test_logit_bias(void) {
    const float l[4] = {0, 0, 0, 0};
    loom_logit_bias bias[1] = {{2, logf(3)}};
    loom_sampling_params p = params(1, 0, 1, 0);
    p.logit_bias = bias;
    p.n_logit_bias = 1;
    loom_sampler *s = create(&p, 4);
    bias[0].bias = 50; /* the sampler keeps its own copy */
    double e[4] = {1 / 6.0, 1 / 6.0, 0.5, 1 / 6.0};
    check_probs(s, l, 4, e);
    loom_sampler_free(s);
}

/* HF repetition penalty over prompt ids: positive logits divided, negative multiplied. */
static void test_repetition_penalty(void) {
    const float l[4] = {2, -1, 1, 0.5f}, penalized[4] = {1, -2, 1, 0.5f};
    const int32_t prompt[2] = {0, 1};
    loom_sampling_params p = params(1, 0, 1, 0);
    p.repetition_penalty = 2;
    loom_sampler *s = create(&p, 4);
    loom_error err;
    CHECK(loom_sampler_set_prompt(s, prompt, 2, &err) == LOOM_OK);
    double e[4];
    softmax_over(penalized, 4, 1, NULL, e);
    check_probs(s, l, 4, e);
    loom_sampler_free(s);
    p.temperature = 0; /* greedy: 1 vs 1 tie between ids 0 and 2 goes to 0 */
    s = create(&p, 4);
    CHECK(loom_sampler_set_prompt(s, prompt, 2, &err) == LOOM_OK);
    CHECK(loom_sampler_sample(s, l) == 0);
    loom_sampler_free(s);
}

/* OpenAI penalties over the ids actually sampled: logit - frequency * count - presence * (count > 0). */
static void test_frequency_presence(void) {
    const float l[5] = {1.0f, 0.8f, 0.6f, 0.4f, 0.2f};
    loom_sampling_params p = params(1, 0, 1, 0);
    p.frequency_penalty = 0.4f;
    p.presence_penalty = 0.3f;
    loom_sampler *s = create(&p, 5);
    int counts[5] = {0};
    for (int i = 0; i < 8; i++) counts[loom_sampler_sample(s, l)]++;
    float penalized[5];
    for (int i = 0; i < 5; i++) penalized[i] = l[i] - 0.4f * counts[i] - (counts[i] ? 0.3f : 0);
    double e[5];
    softmax_over(penalized, 5, 1, NULL, e);
    check_probs(s, l, 5, e);
    loom_sampler_free(s);
    /* greedy sequence worked out by hand: 3,2.5 -> 0; 2.3 vs 2.5 -> 1; 2.3 vs 1.8 -> 0; 1.9 -> 0; 1.5 -> 1 */
    const float g[4] = {3, 2.5f, 0, 0};
    p.temperature = 0;
    s = create(&p, 4);
    const int32_t want[5] = {0, 1, 0, 0, 1};
    for (int i = 0; i < 5; i++) CHECK(loom_sampler_sample(s, g) == want[i]);
    loom_sampler_free(s);
}

static void test_min_p(void) {
    /* probabilities relative to the top: 1, e^-0.5=0.61, e^-1=0.37, e^-2=0.14; min_p 0.3 keeps three */
    const float l[4] = {2, 1.5f, 1, 0};
    loom_sampler *s = make(1, 0, 1, 0.3f, 4);
    const int keep[4] = {1, 1, 1, 0};
    double e[4];
    softmax_over(l, 4, 1, keep, e);
    check_probs(s, l, 4, e);
    loom_sampler_free(s);
}

static void test_top_k(void) {
    loom_sampler *s = make(1, 3, 1, 0, 6); /* ids 1, 3, 5 */
    const int keep[6] = {0, 1, 0, 1, 0, 1};
    double e[6];
    softmax_over(logits, 6, 1, keep, e);
    check_probs(s, logits, 6, e);
    loom_sampler_free(s);
    const float tied[4] = {1, 2, 2, 2}; /* k=2 among three equal logits: the two lowest ids */
    s = make(1, 2, 1, 0, 4);
    double e2[4] = {0, 0.5, 0.5, 0};
    check_probs(s, tied, 4, e2);
    loom_sampler_free(s);
}

static void test_top_p(void) {
    /* probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps two, 0.81 keeps three */
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    const int keep2[4] = {1, 1, 0, 0}, keep3[4] = {1, 1, 1, 0};
    double e[4];
    loom_sampler *s = make(1, 0, 0.75f, 0, 4);
    softmax_over(l, 4, 1, keep2, e);
    check_probs(s, l, 4, e);
    loom_sampler_free(s);
    s = make(1, 0, 0.81f, 0, 4);
    softmax_over(l, 4, 1, keep3, e);
    check_probs(s, l, 4, e);
    loom_sampler_free(s);
}

/* Each case has a different answer in another order. */
static void test_order_of_operations(void) {
    double e[4];
    /* min-p before top-p: min_p 0.7 leaves {0.4, 0.35}; top_p 0.5 of that renormalized keeps one.
     * (top-p first would keep 0.4 and 0.35.) */
    const float a[3] = {logf(0.4f), logf(0.35f), logf(0.25f)};
    loom_sampler *s = make(1, 0, 0.5f, 0.7f, 3);
    double one[3] = {1, 0, 0};
    check_probs(s, a, 3, one);
    loom_sampler_free(s);
    /* top-k before top-p: top-p over the renormalized top 2 {0.57, 0.43} at 0.5 keeps one (top-p
     * over the full row would keep two) */
    const float b[4] = {logf(0.4f), logf(0.3f), logf(0.2f), logf(0.1f)};
    s = make(1, 2, 0.5f, 0, 4);
    double one4[4] = {1, 0, 0, 0};
    check_probs(s, b, 4, one4);
    loom_sampler_free(s);
    /* penalties before temperature: id 0 sampled once (forced by its logit), then (1 - 1) / 0.5 vs
     * 0 / 0.5 is an even split (temperature first would give 2 - 1 vs 0) */
    loom_sampling_params p = params(0.5f, 0, 1, 0);
    p.frequency_penalty = 1;
    s = create(&p, 2);
    const float force[2] = {100, 0}, c[2] = {1, 0};
    CHECK(loom_sampler_sample(s, force) == 0);
    double half[2] = {0.5, 0.5};
    check_probs(s, c, 2, half);
    loom_sampler_free(s);
    /* logit_bias before the repetition penalty: (1 - 3) * 2 = -4 (penalty first: 0.5 - 3 = -2.5) */
    const float d[2] = {1, 0};
    const int32_t prompt[1] = {0};
    loom_logit_bias bias[1] = {{0, -3}};
    p = params(1, 0, 1, 0);
    p.repetition_penalty = 2;
    p.logit_bias = bias;
    p.n_logit_bias = 1;
    s = create(&p, 2);
    loom_error err;
    CHECK(loom_sampler_set_prompt(s, prompt, 1, &err) == LOOM_OK);
    const float dp[2] = {-4, 0};
    softmax_over(dp, 2, 1, NULL, e);
    check_probs(s, d, 2, e);
    loom_sampler_free(s);
}

/* Suppressed ids (the engine passes EOS and stop_token_ids with min_tokens) are masked until that many
 * tokens exist, then sampled normally. */
static void test_min_tokens(void) {
    const float l[5] = {0, 1, 2, 5, 4}; /* EOS = 3 is the argmax, stop token 4 the runner-up */
    const int32_t eos_and_stop[2] = {3, 4}, stop_only[1] = {4};
    loom_sampling_params p = params(0, 0, 1, 0);
    loom_sampler *s = create(&p, 5);
    loom_error err;
    CHECK(loom_sampler_suppress(s, eos_and_stop, 2, 2, &err) == LOOM_OK);
    CHECK(loom_sampler_sample(s, l) == 2);
    CHECK(loom_sampler_sample(s, l) == 2);
    CHECK(loom_sampler_sample(s, l) == 3);
    loom_sampler_free(s);
    s = create(&p, 5); /* ignore_eos: only the stop token is suppressed (vLLM) */
    CHECK(loom_sampler_suppress(s, stop_only, 1, 2, &err) == LOOM_OK);
    CHECK(loom_sampler_sample(s, l) == 3);
    const int32_t bad[1] = {5};
    CHECK(loom_sampler_suppress(s, bad, 1, 2, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "out of range"));
    loom_sampler_free(s);
}

static void test_filters_leaving_one(void) {
    const float l[4] = {0.0f, 5.0f, 1.0f, 2.0f};
    loom_sampler *k1 = make(1, 1, 1, 0, 4), *p0 = make(1, 0, 1e-6f, 0, 4), *m1 = make(1, 0, 1, 1.0f, 4);
    for (int i = 0; i < 100; i++) {
        CHECK(loom_sampler_sample(k1, l) == 1);
        CHECK(loom_sampler_sample(p0, l) == 1);
        CHECK(loom_sampler_sample(m1, l) == 1);
    }
    loom_sampler_free(k1);
    loom_sampler_free(p0);
    loom_sampler_free(m1);
}

/* Same seed, same stream, whatever other samplers draw in between; another seed differs. */
static void test_seed_streams(void) {
    const float other[6] = {0, 0, 0, 0, 0, 0};
    loom_sampler *a = make(1, 0, 1, 0, 6), *b = make(1, 0, 1, 0, 6), *noise = make(1, 3, 0.9f, 0, 6);
    loom_sampling_params p = params(1, 0, 1, 0);
    p.seed = 12346;
    loom_sampler *c = create(&p, 6);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 200; i++) {
        int32_t x = loom_sampler_sample(a, logits);
        for (int j = 0; j < i % 3; j++) loom_sampler_sample(noise, other);
        int32_t y = loom_sampler_sample(b, logits), z = loom_sampler_sample(c, logits);
        same_ab &= x == y;
        same_ac &= x == z;
    }
    CHECK(same_ab);
    CHECK(!same_ac);
    loom_sampler_free(a);
    loom_sampler_free(b);
    loom_sampler_free(c);
    loom_sampler_free(noise);
}

/* 20000 draws; chi-square against the analytic distribution over its support must stay below the
 * 0.1% critical value for (support - 1) degrees of freedom, and filtered ids must never appear. */
static void check_draws(const char *name, loom_sampler *s, const float *l, int n, double t, const int *keep) {
    enum { DRAWS = 20000 };
    static const double chi2_crit_001[V_MAX] = {0,     10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32,
                                                26.12, 27.88, 29.59, 31.26, 32.91, 34.53, 36.12, 37.70};
    double e[V_MAX];
    int counts[V_MAX] = {0}, support = 0;
    softmax_over(l, n, t, keep, e);
    for (int i = 0; i < DRAWS; i++) counts[loom_sampler_sample(s, l)]++;
    double chi2 = 0;
    for (int i = 0; i < n; i++) {
        if (e[i] == 0) {
            CHECK_MSG(counts[i] == 0, "%s: filtered id %d drawn %d times", name, i, counts[i]);
            continue;
        }
        support++;
        chi2 += (counts[i] - DRAWS * e[i]) * (counts[i] - DRAWS * e[i]) / (DRAWS * e[i]);
    }
    CHECK_MSG(support < V_MAX && chi2 < chi2_crit_001[support - 1], "%s: chi-square %.2f with %d dof", name, chi2,
              support - 1);
}

static void test_distributions(void) {
    const float l[12] = {1.2f, 0.3f, -0.5f, 2.0f, 1.9f, 0.0f, -1.0f, 0.7f, 1.5f, 0.1f, -0.2f, 0.9f};
    /* sorted: 3 (2.0), 4 (1.9), 8 (1.5), 0 (1.2), 11 (0.9), 7 (0.7), 1 (0.3), 9, 5, 10, 2, 6 */
    const int all[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, top5[12] = {1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1};
    /* min_p 0.2 at t=0.8: exp((x - 2) / 0.8) >= 0.2 means x >= 0.7125: ids 3, 4, 8, 0, 11 */
    const int minp[12] = {1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 1};
    /* top_p 0.6 at t=1: masses 0.222, 0.201, 0.135, 0.100, ... -> 3, 4, 8, 0 (0.558 before id 0) */
    const int topp[12] = {1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0};
    /* top-k 5 then top_p 0.7 over the renormalized five at t=1.3: 0.280, 0.259, 0.190 (0.729), ...
     * -> 3, 4, 8 */
    const int ktopp[12] = {0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0};
    struct {
        const char *name;
        float t;
        int32_t k;
        float top_p, min_p;
        const int *keep;
    } cases[] = {
        {"temperature 0.7", 0.7f, 0, 1, 0, all},
        {"top-k 5", 1, 5, 1, 0, top5},
        {"min-p 0.2", 0.8f, 0, 1, 0.2f, minp},
        {"top-p 0.6", 1, 0, 0.6f, 0, topp},
        {"top-k 5 + top-p 0.7", 1.3f, 5, 0.7f, 0, ktopp},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        loom_sampler *s = make(cases[c].t, cases[c].k, cases[c].top_p, cases[c].min_p, 12);
        check_draws(cases[c].name, s, l, 12, cases[c].t, cases[c].keep);
        loom_sampler_free(s);
    }
}

/* Reference for the large-vocabulary paths: a full sort of (logit desc, id asc). */
static int cmp_desc(const void *a, const void *b) {
    const loom_candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void test_large_vocab_against_full_sort(void) {
    enum { V = 151936 };
    float *l = malloc(V * sizeof *l), *probs = malloc(V * sizeof *probs);
    loom_candidate *sorted = malloc(V * sizeof *sorted);
    int32_t *ids = malloc(V * sizeof *ids);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < V; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        l[i] = (float)((x >> 40) % 4000) / 400.0f; /* 4000 levels: many ties */
    }
    for (int i = 0; i < V; i++) sorted[i] = (loom_candidate){l[i], i};
    qsort(sorted, V, sizeof *sorted, cmp_desc);
    const int32_t ks[3] = {1, 50, 5000};
    for (int j = 0; j < 3; j++) {
        top_k_ids(l, V, ks[j], ids);
        int same = 1;
        for (int i = 0; i < ks[j]; i++) same &= ids[i] == sorted[i].id;
        CHECK_MSG(same, "top-%d differs from the full sort", ks[j]);
    }
    const float top_ps[3] = {0.9f, 0.3f, 0.999f}, temps[3] = {1.0f, 0.25f, 2.0f};
    for (int j = 0; j < 3; j++) {
        loom_sampler *s = make(temps[j], 0, top_ps[j], 0, V);
        loom_sampler_probs(s, l, probs);
        /* reference: walk the sorted row until the mass before the next token reaches top_p */
        double z = 0, before = 0;
        for (int i = 0; i < V; i++) z += exp((sorted[i].logit - sorted[0].logit) / temps[j]);
        int kept = 0;
        while (kept < V && before < top_ps[j] * z) before += exp((sorted[kept++].logit - sorted[0].logit) / temps[j]);
        int n_positive = 0, mismatch = 0;
        for (int i = 0; i < V; i++) n_positive += probs[i] > 0;
        for (int i = 0; i < kept; i++) {
            double want = exp((sorted[i].logit - sorted[0].logit) / temps[j]) / before;
            mismatch += fabs(probs[sorted[i].id] - want) > 1e-6 * (1 + want * 10);
        }
        CHECK_MSG(n_positive == kept && mismatch == 0, "top_p %g t %g: kept %d vs %d, %d mismatches", top_ps[j],
                  temps[j], n_positive, kept, mismatch);
        loom_sampler_free(s);
    }
    free(l);
    free(probs);
    free(sorted);
    free(ids);
}

static void test_logprobs(void) {
    int32_t ids[3];
    float lps[3], chosen;
    loom_logprobs(logits, 6, 4, 3, &chosen, ids, lps);
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(logits[i]);
    CHECK_NEAR(chosen, logits[4] - log(z), 1e-6);
    CHECK(ids[0] == 1 && ids[1] == 3 && ids[2] == 5);
    CHECK_NEAR(lps[2], logits[5] - log(z), 1e-6);
}

/* argmax against the first-strictly-greater scan, on rows whose length is not a multiple of the
 * vector lanes, with the maximum in the body, in the tail, tied, NaNs, and -0 / +0. */
static void test_argmax_edges(void) {
    float x[53];
    for (int n = 1; n <= 53; n += 13) {
        for (int at = 0; at < n; at++) {
            for (int i = 0; i < n; i++) x[i] = (float)((i * 7) % 5) - 3.0f;
            x[at] = 9.0f;
            if (at + 2 < n) x[at + 2] = 9.0f; /* a later tie never wins */
            if (at > 1) x[at - 1] = NAN;      /* NaNs are skipped (a NaN x[0] is tested below) */
            CHECK_MSG(argmax(x, n) == at, "n %d: argmax %d, want %d", n, argmax(x, n), at);
        }
    }
    float nan_first[20] = {NAN, 1, 2, 3};
    CHECK(argmax(nan_first, 20) == 0); /* as the scan: a NaN x[0] is never beaten */
    float zeros[20] = {-0.0f, 0.0f, -1.0f};
    for (int i = 3; i < 20; i++) zeros[i] = -2.0f;
    CHECK(argmax(zeros, 20) == 0);
    float all_neg_inf[17];
    for (int i = 0; i < 17; i++) all_neg_inf[i] = -INFINITY;
    CHECK(argmax(all_neg_inf, 17) == 0);
}

/* The vectorized softmax weights against double exp (relative error, every range of x, masked -inf
 * entries exactly 0, min_p applied), and the draw against its definition: the blocked total, the index
 * whose running sum first passes u x total, for u at and around every block and entry boundary. */
static void test_softmax_weights_and_draw(void) {
    enum { N = 1000 };
    static float x[N], w[N];
    for (int i = 0; i < N; i++) x[i] = 4.0f - (float)i * 0.11f; /* exp down to e^-110: past the cutoff */
    x[7] = -INFINITY;
    double total = softmax_weights(x, N, 4.0f, 1.0f, 0.0f, w), worst = 0, sum = 0;
    for (int i = 0; i < N; i++) {
        double want = exp((double)x[i] - 4.0);
        if (want > 1e-37) worst = fmax(worst, fabs(w[i] - want) / want);
        else CHECK_MSG(w[i] <= 1e-37f, "x %g: weight %g", x[i], w[i]);
        sum += w[i];
    }
    CHECK(w[7] == 0.0f && w[0] == 1.0f);
    CHECK_MSG(worst < 4e-7, "softmax weights: worst relative error %.3g", worst);
    CHECK_NEAR(total, sum, 1e-12 * sum);
    CHECK(total == weight_total(w, N));
    double t2 = softmax_weights(x, N, 4.0f, 0.5f, 0.01f, w); /* min_p at temperature 0.5 */
    for (int i = 0; i < N; i++) {
        double want = exp(((double)x[i] - 4.0) / 0.5);
        CHECK(want < 0.0099 ? w[i] == 0.0f : want > 0.0101 ? w[i] > 0.0f : 1);
    }
    CHECK(t2 == weight_total(w, N));
    /* the draw: for u just below and above each entry's cumulative share, the entry (or its successor) */
    for (int i = 0; i < N; i++) w[i] = (float)((i * 37) % 11) * ((i % 9) == 4 ? 0.0f : 1.0f);
    total = weight_total(w, N);
    double run = 0;
    for (int i = 0; i < N; i++) {
        if (!(w[i] > 0)) continue;
        double lo = run / total, hi = (run + w[i]) / total;
        run += w[i];
        int32_t got = draw_index(w, N, total, (lo + hi) / 2);
        CHECK_MSG(got == i, "u in the middle of entry %d's share drew %d", i, got);
    }
    CHECK(draw_index(w, N, total, 0.0) == 1); /* w[0] = 0: the first positive entry */
    CHECK(w[N - 1] > 0 && draw_index(w, N, total, 1.0 - 1e-17) == N - 1);
}

static void test_bad_params(void) {
    loom_sampling_params p = loom_sampling_default_params();
    loom_sampler *s;
    loom_error err;
    p.top_p = 0;
    CHECK(loom_sampler_create(&p, 6, &s, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "top_p"));
    p = loom_sampling_default_params();
    p.temperature = -1;
    CHECK(loom_sampler_create(&p, 6, &s, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "temperature"));
    p = loom_sampling_default_params();
    p.presence_penalty = 2.5f;
    CHECK(loom_sampler_create(&p, 6, &s, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "presence_penalty"));
}

int main(void) {
    RUN(test_greedy);
    RUN(test_temperature);
    RUN(test_logit_bias);
    RUN(test_repetition_penalty);
    RUN(test_frequency_presence);
    RUN(test_min_p);
    RUN(test_top_k);
    RUN(test_top_p);
    RUN(test_order_of_operations);
    RUN(test_min_tokens);
    RUN(test_filters_leaving_one);
    RUN(test_seed_streams);
    RUN(test_distributions);
    RUN(test_large_vocab_against_full_sort);
    RUN(test_logprobs);
    RUN(test_argmax_edges);
    RUN(test_softmax_weights_and_draw);
    RUN(test_bad_params);
    return check_summary();
}
