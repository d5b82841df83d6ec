/* Mixture-of-experts kernels: routing (softmax, top-k, optional renormalisation) and the weighted sum of
 * each token's expert outputs. A token's result depends on its own row only, and its experts' outputs
 * are added in the fixed order of its top-k list, never in the order experts happened to run: a token
 * gets the same bits alone or batched. */
#include "kernels/cpu/moe_ops.h"

#include <math.h>

typedef struct route_job {
    const float *logits;
    int32_t n_experts, top_k;
    int renormalize;
    int32_t *ids;
    float *weights;
} route_job;

/* Softmax over all experts in float32 (as transformers' routers do), then the top_k by probability,
 * largest first, ties to the lower expert id. */
static void route_tokens(void *ctx, int64_t t0, int64_t t1, int ti) {
    const route_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) {
        const float *l = j->logits + t * j->n_experts;
        int32_t *ids = j->ids + t * j->top_k;
        float *w = j->weights + t * j->top_k;
        float max = l[0], sum = 0.0f;
        for (int32_t e = 1; e < j->n_experts; e++) max = l[e] > max ? l[e] : max;
        for (int32_t e = 0; e < j->n_experts; e++) sum += expf(l[e] - max);
        float picked_sum = 0.0f;
        for (int32_t k = 0; k < j->top_k; k++) {
            int32_t best = -1;
            for (int32_t e = 0; e < j->n_experts; e++) {
                int taken = 0;
                for (int32_t i = 0; i < k && !taken; i++) taken = ids[i] == e;
                if (!taken && (best < 0 || l[e] > l[best])) best = e;
            }
            ids[k] = best;
            w[k] = expf(l[best] - max) / sum;
            picked_sum += w[k];
        }
        if (j->renormalize)
            for (int32_t k = 0; k < j->top_k; k++) w[k] /= picked_sum;
    }
}

void cpu_moe_route(loom_pool *pool, const float *logits, int64_t n_tok, int32_t n_experts, int32_t top_k,
                   int renormalize, int32_t *ids, float *weights) {
    route_job j = {logits, n_experts, top_k, renormalize, ids, weights};
    pool_run(pool, n_tok, 16, route_tokens, &j);
}

typedef struct combine_job {
    float *y;
    const float *x, *weights, *gate;
    int32_t top_k;
    int64_t dim;
} combine_job;

static void combine_tokens(void *ctx, int64_t t0, int64_t t1, int ti) {
    const combine_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) {
        float *y = j->y + t * j->dim;
        for (int64_t i = 0; i < j->dim; i++) y[i] = 0.0f;
        for (int32_t k = 0; k < j->top_k; k++) {
            float w = j->weights[t * j->top_k + k];
            if (w == 0.0f) continue; /* an expert this rank does not hold */
            const float *x = j->x + (t * j->top_k + k) * j->dim;
            for (int64_t i = 0; i < j->dim; i++) y[i] += w * x[i];
        }
    }
}

void cpu_moe_combine(loom_pool *pool, float *y, const float *x, const float *weights, int64_t n_tok, int32_t top_k,
                     int64_t dim) {
    combine_job j = {y, x, weights, NULL, top_k, dim};
    pool_run(pool, n_tok, 4, combine_tokens, &j);
}

static void sigmoid_gated_tokens(void *ctx, int64_t t0, int64_t t1, int ti) {
    const combine_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) {
        float s = 1.0f / (1.0f + expf(-j->gate[t]));
        float *y = j->y + t * j->dim;
        const float *x = j->x + t * j->dim;
        for (int64_t i = 0; i < j->dim; i++) y[i] += s * x[i];
    }
}

void cpu_add_sigmoid_gated(loom_pool *pool, float *y, const float *x, const float *gate, int64_t n_tok, int64_t dim) {
    combine_job j = {y, x, NULL, gate, 0, dim};
    pool_run(pool, n_tok, 4, sigmoid_gated_tokens, &j);
}
