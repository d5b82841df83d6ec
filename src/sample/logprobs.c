/* Log-probabilities on the raw model distribution (before any sampling transform). */
#include <math.h>

#include "loom.h"
#include "sample/select.h"

void loom_logprobs(const float *logits, int32_t n, int32_t chosen, int32_t k, float *chosen_logprob, int32_t *top_ids,
                   float *top_logprobs) {
    float max = logits[argmax(logits, n)];
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)logits[i] - max);
    double log_z = max + log(sum);
    if (chosen_logprob) *chosen_logprob = (float)(logits[chosen] - log_z);
    if (k > n) k = n;
    top_k_ids(logits, n, k, top_ids);
    for (int32_t j = 0; j < k; j++) top_logprobs[j] = (float)(logits[top_ids[j]] - log_z);
}
