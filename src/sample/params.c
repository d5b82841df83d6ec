/* Sampling parameter defaults (the OpenAI API's) and validation with messages naming the field. */
#include <math.h>

#include "core/error.h"

loom_sampling_params loom_sampling_default_params(void) {
    return (loom_sampling_params){
        .temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .repetition_penalty = 1.0f,
        .presence_penalty = 0.0f, .frequency_penalty = 0.0f, .max_tokens = 16, .min_tokens = 0,
        .logprobs = -1, .prompt_logprobs = -1, .n = 1, .skip_special_tokens = 1,
    };
}

loom_status loom_sampling_params_validate(const loom_sampling_params *p, int32_t vocab, loom_error *err) {
    if (!(p->temperature >= 0) || !isfinite(p->temperature))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "temperature must be a finite number >= 0");
    if (!(p->top_p > 0 && p->top_p <= 1)) return loom_fail(err, LOOM_ERR_INVALID_ARG, "top_p must be in (0, 1]");
    if (!(p->min_p >= 0 && p->min_p <= 1)) return loom_fail(err, LOOM_ERR_INVALID_ARG, "min_p must be in [0, 1]");
    if (p->top_k < -1) return loom_fail(err, LOOM_ERR_INVALID_ARG, "top_k must be -1, 0 (off) or positive");
    if (!(p->repetition_penalty > 0) || !isfinite(p->repetition_penalty))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "repetition_penalty must be a finite number > 0");
    if (!(p->presence_penalty >= -2 && p->presence_penalty <= 2))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "presence_penalty must be in [-2, 2]");
    if (!(p->frequency_penalty >= -2 && p->frequency_penalty <= 2))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "frequency_penalty must be in [-2, 2]");
    if (p->max_tokens < 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "max_tokens must be >= 0");
    if (p->min_tokens < 0 || p->min_tokens > p->max_tokens)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "min_tokens must be in [0, max_tokens]");
    if (p->n_stop < 0 || p->n_stop > LOOM_MAX_STOP_STRINGS)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "at most %d stop strings", LOOM_MAX_STOP_STRINGS);
    for (int32_t i = 0; i < p->n_stop; i++)
        if (!p->stop[i] || !p->stop[i][0]) return loom_fail(err, LOOM_ERR_INVALID_ARG, "stop strings must be non-empty");
    if (p->n_stop_token_ids < 0 || p->n_stop_token_ids > LOOM_MAX_STOP_TOKEN_IDS)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "at most %d stop_token_ids", LOOM_MAX_STOP_TOKEN_IDS);
    for (int32_t i = 0; i < p->n_stop_token_ids; i++)
        if (p->stop_token_ids[i] < 0 || p->stop_token_ids[i] >= vocab)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "stop_token_ids: id %d out of range", p->stop_token_ids[i]);
    if (p->n_logit_bias < 0 || (p->n_logit_bias > 0 && !p->logit_bias))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "logit_bias is malformed");
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        if (p->logit_bias[i].id < 0 || p->logit_bias[i].id >= vocab)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "logit_bias: token id %d out of range", p->logit_bias[i].id);
        if (!(p->logit_bias[i].bias >= -100 && p->logit_bias[i].bias <= 100))
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "logit_bias values must be in [-100, 100]");
    }
    if (p->logprobs < -1 || p->logprobs > 20) return loom_fail(err, LOOM_ERR_INVALID_ARG, "logprobs must be in [0, 20]");
    if (p->prompt_logprobs < -1 || p->prompt_logprobs > 20)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "prompt_logprobs must be in [0, 20]");
    if (p->n < 1 || p->n > 128) return loom_fail(err, LOOM_ERR_INVALID_ARG, "n must be in [1, 128]");
    return LOOM_OK;
}
