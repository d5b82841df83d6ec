/* Applying a token mask (structured outputs) to a row of logits before sampling. */
#ifndef LOOM_SAMPLE_TOKEN_MASK_H
#define LOOM_SAMPLE_TOKEN_MASK_H

#include <stdint.h>

/* out[i] = logits[i] where bit i of mask is set (mask[i / 64] >> (i % 64)), -inf elsewhere; n entries.
 * out may be logits. */
void sample_apply_token_mask(const float *logits, const uint64_t *mask, int32_t n, float *out);

#endif
