/* A mask is mostly all-ones or all-zeros words (in a string nearly every token is allowed, after a
 * key only a few): whole words are copied or filled, only mixed words go bit by bit. */
#include "sample/token_mask.h"

#include <math.h>
#include <string.h>

void sample_apply_token_mask(const float *logits, const uint64_t *mask, int32_t n, float *out) {
    for (int32_t base = 0; base < n; base += 64) {
        int32_t width = n - base < 64 ? n - base : 64;
        uint64_t w = mask[base >> 6];
        if (w == ~0ull && width == 64) {
            if (out != logits) memcpy(out + base, logits + base, 64 * sizeof *out);
        } else
            for (int32_t i = 0; i < width; i++) out[base + i] = (w >> i) & 1 ? logits[base + i] : -INFINITY;
    }
}
