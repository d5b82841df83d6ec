/* Sampling parameter defaults (the OpenAI API's) and validation with messages naming the field. */
#include <math.h>

#include "core/error.h"

loom_sampling_params loom_sampling_default_params(void) {
    return (loom_sampling_params){
        .temperature = 1.0f,
        .top_k = 0,
        .top_p = 1.0f,
        .min_p = 0.0f,
        .repetition_penalty = 1.0f,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
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
    if (p->n_logit_bias < 0 || (p->n_logit_bias > 0 && !p->logit_bias))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "logit_bias is malformed");
    for (int32_t i = 0; i < p->n_logit_bias; i++) {
        if (p->logit_bias[i].id < 0 || p->logit_bias[i].id >= vocab)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "logit_bias: token id %d out of range", p->logit_bias[i].id);
        if (!(p->logit_bias[i].bias >= -100 && p->logit_bias[i].bias <= 100))
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "logit_bias values must be in [-100, 100]");
    }
    return LOOM_OK;
}
