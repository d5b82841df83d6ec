/* Log-probabilities on the raw model distribution (before any sampling transform). */
#include <math.h>

#include "loom.h"

void loom_logprobs(const float *logits, int32_t n, int32_t chosen, int32_t k, float *chosen_logprob,
                   int32_t *top_ids, float *top_logprobs) {
    float max = logits[0];
    for (int32_t i = 1; i < n; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0;
    for (int32_t i = 0; i < n; i++) sum += exp((double)logits[i] - max);
    double log_z = max + log(sum);
    if (chosen_logprob) *chosen_logprob = (float)(logits[chosen] - log_z);
    if (k > n) k = n;
    /* insertion into a sorted top-k list: O(n k), k is small */
    int32_t have = 0;
    for (int32_t i = 0; i < n && k > 0; i++) {
        float v = logits[i];
        if (have == k && v <= logits[top_ids[k - 1]]) continue;
        int32_t j = have < k ? have++ : k - 1;
        while (j > 0 && logits[top_ids[j - 1]] < v) {
            top_ids[j] = top_ids[j - 1];
            j--;
        }
        top_ids[j] = i;
    }
    for (int32_t j = 0; j < have; j++) top_logprobs[j] = (float)(logits[top_ids[j]] - log_z);
}
