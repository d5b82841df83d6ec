/* Stop strings on the detokenized output (API in loom.h: loom_stop_matcher_*). The engine and
 * `loom generate` push each text delta of a sequence and emit only what comes back.
 *
 * Semantics (the OpenAI API's "the returned text will not contain the stop sequence", vLLM's
 * include_stop_str_in_output):
 * - Matching is on bytes of the text, across token boundaries: the matcher keeps the tail of the
 *   text that could still be the beginning of a stop string and emits it only once it cannot be.
 * - Generation stops at the first point in the text where any stop string is complete: the match
 *   that ends earliest wins; at the same end, the one that starts earliest (the longer). So when one
 *   stop string is a prefix of another ("ab" and "abc"), "ab" always stops first. This does not
 *   depend on how the text was split into deltas.
 * - The output is cut before the match (or just after it with include_stop_str_in_output); a
 *   match in the very first delta emits "" (or the text before it).
 * - While check_stop is 0 (fewer than min_tokens tokens), matches are ignored; a match counts only
 *   if it ends in text pushed with check_stop = 1 (vLLM only looks at matches touching new text).
 * - After a match or a flush the matcher is finished: further pushes emit nothing. */
#ifndef LOOM_SAMPLE_STOP_H
#define LOOM_SAMPLE_STOP_H

#include <stddef.h>
#include <stdint.h>

/* The stop string that completes first in text[0..len) among matches ending after min_end bytes
 * (ties on the end: the earliest start); its index, with [*start, *end) the match; -1 if none. */
int32_t stop_find(const char *text, size_t len, size_t min_end, const char *const *stops, const size_t *stop_lens,
                  int32_t n_stops, size_t *start, size_t *end);

/* Length of the longest suffix of text[0..len) that is a proper prefix of some stop string. */
size_t stop_hold_len(const char *text, size_t len, const char *const *stops, const size_t *stop_lens, int32_t n_stops);

#endif
