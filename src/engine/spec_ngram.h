/* Model-free proposals by prompt lookup (vLLM's ngram method, llama.cpp's lookup decoding): the
 * sequence's last n tokens are looked up earlier in its own prompt + output, and what followed there is
 * proposed. */
#ifndef LOOM_ENGINE_SPEC_NGRAM_H
#define LOOM_ENGINE_SPEC_NGRAM_H

#include <stdint.h>

/* For n from n_max down to n_min: the latest j < n_tokens - n with tokens[j, j + n) equal to the last n
 * tokens; the first n with a match proposes tokens[j + n, ...), at most k of them (up to the end of
 * tokens), into out. Returns the number proposed (0: no match). */
int32_t ngram_propose(const int32_t *tokens, int32_t n_tokens, int32_t n_min, int32_t n_max, int32_t k, int32_t *out);

#endif
