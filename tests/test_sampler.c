/* The sampler chain on hand-made logits: greedy, filters that leave one token, seeded streams, the
 * empirical distribution of plain temperature sampling, and log-probabilities. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "loom.h"

static loom_sampler *make(float temperature, int32_t top_k, float top_p, float min_p, uint64_t seed, int32_t vocab) {
    loom_sampling_params p = loom_sampling_default_params();
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = seed;
    p.has_seed = 1;
    loom_sampler *s = NULL;
    loom_error err;
    CHECK(loom_sampler_create(&p, vocab, &s, &err) == LOOM_OK);
    return s;
}

static const float logits[6] = {1.0f, 3.0f, 0.5f, 3.0f, -2.0f, 2.5f};

static void test_greedy(void) {
    loom_sampler *s = make(0, 0, 1, 0, 1, 6);
    CHECK(loom_sampler_sample(s, logits) == 1); /* tie between ids 1 and 3: lowest id */
    loom_sampler_free(s);
}

static void test_filters_leaving_one(void) {
    const float l[4] = {0.0f, 5.0f, 1.0f, 2.0f};
    loom_sampler *k1 = make(1, 1, 1, 0, 7, 4), *p0 = make(1, 0, 1e-6f, 0, 7, 4), *m1 = make(1, 0, 1, 1.0f, 7, 4);
    for (int i = 0; i < 100; i++) {
        CHECK(loom_sampler_sample(k1, l) == 1);
        CHECK(loom_sampler_sample(p0, l) == 1);
        CHECK(loom_sampler_sample(m1, l) == 1);
    }
    loom_sampler_free(k1);
    loom_sampler_free(p0);
    loom_sampler_free(m1);
}

static void test_seed_reproducible(void) {
    loom_sampler *a = make(1, 0, 1, 0, 99, 6), *b = make(1, 0, 1, 0, 99, 6), *c = make(1, 0, 1, 0, 100, 6);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 200; i++) {
        int32_t x = loom_sampler_sample(a, logits), y = loom_sampler_sample(b, logits), z = loom_sampler_sample(c, logits);
        same_ab &= x == y;
        same_ac &= x == z;
    }
    CHECK(same_ab);
    CHECK(!same_ac);
    loom_sampler_free(a);
    loom_sampler_free(b);
    loom_sampler_free(c);
}

/* 20000 draws at temperature 0.7 with top-k 4: total variation distance to the analytic distribution
 * below 0.02 (the expected TV for 6 categories at n=20000 is about 0.006). */
static void test_distribution(void) {
    enum { N = 20000 };
    const float t = 0.7f;
    loom_sampler *s = make(t, 4, 1, 0, 2024, 6);
    int counts[6] = {0};
    for (int i = 0; i < N; i++) counts[loom_sampler_sample(s, logits)]++;
    /* top-4 of the logits: ids 1, 3, 5, 0 */
    double p[6] = {0}, z = 0;
    const int keep[4] = {1, 3, 5, 0};
    for (int i = 0; i < 4; i++) z += p[keep[i]] = exp(logits[keep[i]] / t);
    double tv = 0;
    for (int i = 0; i < 6; i++) tv += fabs(counts[i] / (double)N - p[i] / z) / 2;
    CHECK_MSG(tv < 0.02, "total variation %g", tv);
    CHECK(counts[2] == 0 && counts[4] == 0);
    loom_sampler_free(s);
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

static void test_bad_params(void) {
    loom_sampling_params p = loom_sampling_default_params();
    loom_sampler *s;
    loom_error err;
    p.top_p = 0;
    CHECK(loom_sampler_create(&p, 6, &s, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "top_p"));
    p = loom_sampling_default_params();
    p.temperature = -1;
    CHECK(loom_sampler_create(&p, 6, &s, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "temperature"));
}

int main(void) {
    RUN(test_greedy);
    RUN(test_filters_leaving_one);
    RUN(test_seed_reproducible);
    RUN(test_distribution);
    RUN(test_logprobs);
    RUN(test_bad_params);
    return check_summary();
}
