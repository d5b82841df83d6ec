/* What speculative decoding (engine/spec.c, sample/rejection.c) needs of a sampler beyond loom.h: a
 * token chosen outside loom_sampler_sample enters the history (penalties, min_tokens) as a drawn one
 * would, and draws come from the sequence's own stream. */
#ifndef LOOM_SAMPLE_SAMPLER_INTERNAL_H
#define LOOM_SAMPLE_SAMPLER_INTERNAL_H

#include "loom.h"

/* Records id as the sequence's next output token (what loom_sampler_sample does after its draw). */
void sampler_record(loom_sampler *s, int32_t id);
/* One uniform in [0, 1) from the sampler's RNG stream. */
double sampler_uniform(loom_sampler *s);
/* 1 when the sampler takes the argmax (temperature below vLLM's epsilon). */
int sampler_is_greedy(const loom_sampler *s);

#endif
