/* Verification of a speculative proposal (Leviathan et al. 2023, "Fast Inference from Transformers via
 * Speculative Decoding"; Chen et al. 2023; vLLM's RejectionSampler). p is the target's distribution at the
 * position: the one the sequence's sampler would draw from there (loom_sampler_probs: suppressed ids,
 * logit_bias, penalties, temperature, min-p, top-k, top-p; one-hot when greedy). q is the distribution the
 * proposal was drawn from (NULL: a point mass on it, as for n-gram proposals or a greedy draft). The
 * proposal d is kept with probability min(1, p(d) / q(d)); otherwise the token is drawn from max(0, p - q)
 * renormalized. Either way the emitted token is distributed exactly as p. Greedy (p one-hot on g): d is
 * kept iff d == g, and the residual is one-hot on g, so the result is g whatever the draws. */
#ifndef LOOM_SAMPLE_REJECTION_H
#define LOOM_SAMPLE_REJECTION_H

#include <stdint.h>

#include "loom.h"

/* Returns the token to emit; *accepted = 1 when it is the proposal. The uniforms come from s's stream
 * (one to accept or reject, one more for a residual draw); s's history is not changed. residual:
 * [vocab] scratch. */
int32_t rejection_verify(loom_sampler *s, const float *p, const float *q, int32_t vocab, int32_t proposal,
                         float *residual, int *accepted);

#endif
