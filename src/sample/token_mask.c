/* A mask word is mostly all ones or all zeros, or nearly so (in a string nearly every token is allowed,
 * after a key only a few): each word of 64 logits is copied or filled with -inf whole (loops the
 * compiler vectorizes), then the few exceptions are patched by walking the set bits of the word or of
 * its complement, whichever has fewer. */
#include "sample/token_mask.h"

#include <math.h>
#include <string.h>

void sample_apply_token_mask(const float *logits, const uint64_t *mask, int32_t n, float *out) {
    int32_t full = n & ~63;
    for (int32_t base = 0; base < full; base += 64) {
        uint64_t w = mask[base >> 6];
        float *o = out + base;
        const float *l = logits + base;
        if (__builtin_popcountll(w) > 32) {
            if (o != l) memcpy(o, l, 64 * sizeof *o);
            for (uint64_t off = ~w; off; off &= off - 1) o[__builtin_ctzll(off)] = -INFINITY;
        } else {
            float keep[64];
            for (uint64_t on = w; on; on &= on - 1) keep[__builtin_ctzll(on)] = l[__builtin_ctzll(on)];
            for (int i = 0; i < 64; i++) o[i] = -INFINITY;
            for (uint64_t on = w; on; on &= on - 1) o[__builtin_ctzll(on)] = keep[__builtin_ctzll(on)];
        }
    }
    for (int32_t i = full; i < n; i++) out[i] = (mask[i >> 6] >> (i & 63)) & 1 ? logits[i] : -INFINITY;
}
