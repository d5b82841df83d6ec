#include "engine/spec_ngram.h"

#include <string.h>

int32_t ngram_propose(const int32_t *tokens, int32_t n_tokens, int32_t n_min, int32_t n_max, int32_t k, int32_t *out) {
    for (int32_t n = n_max < n_tokens - 1 ? n_max : n_tokens - 1; n >= n_min && n >= 1; n--) {
        const int32_t *suffix = tokens + n_tokens - n;
        for (int32_t j = n_tokens - n - 1; j >= 0; j--) {
            if (tokens[j] != suffix[0] || memcmp(tokens + j, suffix, (size_t)n * sizeof *tokens)) continue;
            int32_t m = n_tokens - (j + n);
            if (m > k) m = k;
            memcpy(out, tokens + j + n, (size_t)m * sizeof *out);
            return m;
        }
    }
    return 0;
}
