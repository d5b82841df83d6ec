/* Speculative decoding's pieces without a model: the rejection sampler gives exactly the target's
 * distribution whatever the proposal distribution (sampled proposals, point masses, greedy targets,
 * proposals outside the target's support), and the n-gram proposer finds what prompt lookup should. */
#include <string.h>

#include "check.h"
#include "engine/spec_ngram.h"
#include "sample/rejection.h"
#include "sample/rng.h"
#include "sample/select.h"

#define V 6
#define TRIALS 200000

/* Tokens emitted over TRIALS proposals drawn from q (NULL: the point mass on `point`), against p.
 * Each id's frequency is within EPS of p: by Hoeffding, P(|freq - p| > EPS) <= 2 exp(-2 TRIALS EPS^2)
 * = 1.1e-6 per id, so a correct sampler fails this test with probability < 2e-4 over the 30 ids and 5
 * cases checked (the seeds are fixed, so a run is reproducible). The acceptance rate must be
 * sum min(p, q) (p(point) for a point mass) within the same bound. */
#define EPS 0.006

static void check_exact(const float *p, const float *q, int32_t point, uint64_t seed) {
    loom_sampling_params sp = loom_sampling_default_params();
    sp.seed = seed;
    sp.has_seed = 1;
    loom_sampler *s = NULL;
    loom_error err = {0};
    CHECK(loom_sampler_create(&sp, V, &s, &err) == LOOM_OK);
    loom_rng rng;
    rng_seed(&rng, seed ^ 0x1234);
    double qt = 0, accept_expected = 0;
    for (int i = 0; i < V; i++) qt += q ? q[i] : 0;
    for (int i = 0; i < V; i++) accept_expected += q ? (p[i] < q[i] ? p[i] : q[i]) : 0;
    if (!q) accept_expected = p[point];
    long counts[V] = {0}, accepted_total = 0;
    float residual[V];
    for (int t = 0; t < TRIALS; t++) {
        int32_t d = q ? draw_index(q, V, qt, rng_uniform(&rng)) : point;
        int accepted;
        int32_t id = rejection_verify(s, p, q, V, d, residual, &accepted);
        CHECK(id >= 0 && id < V);
        CHECK(!accepted || id == d);
        counts[id]++;
        accepted_total += accepted;
    }
    for (int i = 0; i < V; i++) CHECK_NEAR((double)counts[i] / TRIALS, p[i], EPS);
    CHECK_NEAR((double)accepted_total / TRIALS, accept_expected, EPS);
    loom_sampler_free(s);
}

static void test_rejection_sampled_proposals(void) {
    const float p[V] = {0.05f, 0.30f, 0.10f, 0.25f, 0.20f, 0.10f};
    const float q[V] = {0.40f, 0.10f, 0.10f, 0.05f, 0.05f, 0.30f};
    check_exact(p, q, -1, 1);
}

/* top-k / top-p leave zeros in p; a proposal distribution with mass there is always rejected there */
static void test_rejection_outside_support(void) {
    const float p[V] = {0.0f, 0.5f, 0.0f, 0.5f, 0.0f, 0.0f};
    const float q[V] = {0.3f, 0.2f, 0.3f, 0.0f, 0.1f, 0.1f};
    check_exact(p, q, -1, 2);
}

static void test_rejection_point_mass(void) {
    const float p[V] = {0.05f, 0.30f, 0.10f, 0.25f, 0.20f, 0.10f};
    check_exact(p, NULL, 3, 3); /* n-gram proposals */
    check_exact(p, NULL, 0, 4);
}

/* greedy: p is one-hot; the argmax is emitted whatever was proposed */
static void test_rejection_greedy(void) {
    const float p[V] = {0, 0, 0, 0, 1, 0};
    const float q[V] = {0.2f, 0.2f, 0.2f, 0.1f, 0.1f, 0.2f};
    check_exact(p, q, -1, 5);
    loom_sampling_params sp = loom_sampling_default_params();
    loom_sampler *s = NULL;
    loom_error err = {0};
    CHECK(loom_sampler_create(&sp, V, &s, &err) == LOOM_OK);
    float residual[V];
    int accepted;
    for (int32_t d = 0; d < V; d++) {
        CHECK(rejection_verify(s, p, NULL, V, d, residual, &accepted) == 4);
        CHECK(accepted == (d == 4));
    }
    loom_sampler_free(s);
}

static void test_ngram_proposals(void) {
    int32_t out[8];
    /* the last 2 tokens (3 4) occurred at 2..3, followed by 5 6 7 3 4 */
    const int32_t a[] = {1, 2, 3, 4, 5, 6, 7, 3, 4};
    CHECK(ngram_propose(a, 9, 1, 3, 3, out) == 3 && out[0] == 5 && out[1] == 6 && out[2] == 7);
    /* the longest n wins: "9 3 4" matches only at 5..7, while "3 4" alone matches later at 8..9 */
    const int32_t b[] = {0, 0, 0, 0, 0, 9, 3, 4, 1, 3, 4, 2, 8, 9, 3, 4};
    CHECK(ngram_propose(b, 16, 1, 3, 2, out) == 2 && out[0] == 1 && out[1] == 3);
    CHECK(ngram_propose(b, 16, 1, 2, 2, out) == 2 && out[0] == 2 && out[1] == 8); /* latest "3 4": 9..10 */
    /* the proposal stops at the end of the tokens */
    const int32_t c[] = {5, 5, 5};
    CHECK(ngram_propose(c, 3, 1, 2, 4, out) == 1 && out[0] == 5);
    /* no match, or n_min longer than any match */
    const int32_t d[] = {1, 2, 3, 4};
    CHECK(ngram_propose(d, 4, 1, 3, 4, out) == 0);
    CHECK(ngram_propose(a, 9, 3, 3, 3, out) == 0);
    CHECK(ngram_propose(a, 1, 1, 3, 3, out) == 0);
}

int main(void) {
    RUN(test_rejection_sampled_proposals);
    RUN(test_rejection_outside_support);
    RUN(test_rejection_point_mass);
    RUN(test_rejection_greedy);
    RUN(test_ngram_proposals);
    return check_summary();
}
