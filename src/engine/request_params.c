/* loom_request_params: defaults (the OpenAI API's), the one validation of a request's fields (every
 * caller's request reaches it through loom_engine_add_request), and the engine's owned copy. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "engine/engine_internal.h"

#define MAX_SAMPLES 128

loom_request_params loom_request_default_params(void) {
    return (loom_request_params){
        .sampling = loom_sampling_default_params(),
        .n = 1,
        .max_tokens = 16,
        .logprobs = -1,
        .prompt_logprobs = -1,
        .skip_special_tokens = 1,
    };
}

static loom_status check_ids(const int32_t *ids, size_t n, int32_t vocab, const char *field, loom_error *err) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "%s: token id %d is outside the vocabulary [0, %d)", field,
                             ids[i], vocab);
    return LOOM_OK;
}

loom_status engine_request_validate(const loom_request_params *r, int32_t vocab, int32_t max_logprobs,
                                    loom_error *err) {
    if (!r->prompt_ids || r->n_prompt == 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "prompt is empty");
    loom_status st = check_ids(r->prompt_ids, r->n_prompt, vocab, "prompt", err);
    if (st == LOOM_OK) st = loom_sampling_params_validate(&r->sampling, vocab, err);
    if (st != LOOM_OK) return st;
    if (r->n < 1 || r->n > MAX_SAMPLES)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "n must be in [1, %d]", MAX_SAMPLES);
    if (r->max_tokens < 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "max_tokens must be >= 0");
    if (r->min_tokens < 0 || r->min_tokens > r->max_tokens)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "min_tokens must be in [0, max_tokens]");
    if (r->n_stop < 0 || r->n_stop > LOOM_MAX_STOP_STRINGS)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "stop: at most %d strings", LOOM_MAX_STOP_STRINGS);
    for (int32_t i = 0; i < r->n_stop; i++)
        if (!r->stop[i] || !r->stop[i][0])
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "stop strings must be non-empty");
    if (r->n_stop_token_ids < 0 || r->n_stop_token_ids > LOOM_MAX_STOP_TOKEN_IDS)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "stop_token_ids: at most %d ids", LOOM_MAX_STOP_TOKEN_IDS);
    st = check_ids(r->stop_token_ids, (size_t)r->n_stop_token_ids, vocab, "stop_token_ids", err);
    if (st != LOOM_OK) return st;
    int32_t most = vocab < max_logprobs ? vocab : max_logprobs;
    if (r->logprobs < -1 || r->logprobs > most)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "logprobs must be in [0, %d] (the engine's max_logprobs)", most);
    if (r->prompt_logprobs < -1 || r->prompt_logprobs > most)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "prompt_logprobs must be in [0, %d] (the engine's max_logprobs)",
                         most);
    if (r->constraint.kind < LOOM_CONSTRAINT_NONE || r->constraint.kind > LOOM_CONSTRAINT_STRUCTURAL_TAG)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "constraint: unknown kind %d", (int)r->constraint.kind);
    if (r->constraint.kind != LOOM_CONSTRAINT_NONE && r->constraint.kind != LOOM_CONSTRAINT_JSON_OBJECT &&
        !r->constraint.spec)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "constraint: the spec is missing");
    return LOOM_OK;
}

void engine_request_params_free(loom_request_params *p) {
    free((void *)p->prompt_ids);
    for (int32_t i = 0; i < p->n_stop; i++) free((void *)p->stop[i]);
    free((void *)p->sampling.logit_bias);
    free((void *)p->constraint.spec);
    memset(p, 0, sizeof *p);
}

static char *dup_bytes(const void *src, size_t n) {
    char *p = n ? malloc(n) : NULL;
    if (p) memcpy(p, src, n);
    return p;
}

loom_status engine_request_params_copy(const loom_request_params *src, loom_request_params *dst, loom_error *err) {
    *dst = *src;
    dst->n_stop = 0;
    dst->sampling.logit_bias = NULL;
    dst->constraint.spec = NULL;
    dst->prompt_ids = (const int32_t *)dup_bytes(src->prompt_ids, src->n_prompt * sizeof *src->prompt_ids);
    int ok = dst->prompt_ids != NULL;
    for (int32_t i = 0; ok && i < src->n_stop; i++, dst->n_stop++) ok = (dst->stop[i] = strdup(src->stop[i])) != NULL;
    size_t bias_bytes = (size_t)src->sampling.n_logit_bias * sizeof *src->sampling.logit_bias;
    if (ok && bias_bytes)
        ok = (dst->sampling.logit_bias = (const loom_logit_bias *)dup_bytes(src->sampling.logit_bias, bias_bytes)) !=
            NULL;
    if (ok && src->constraint.spec) ok = (dst->constraint.spec = strdup(src->constraint.spec)) != NULL;
    if (ok) return LOOM_OK;
    engine_request_params_free(dst);
    return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a request");
}
