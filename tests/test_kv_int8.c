/* The int8 KV codec (kv/kv_int8.c) and the int8 block layout (kv/kv_store.c), checked by decoding the
 * stored bytes independently (float16 scale and zero read with core's converter):
 *   - keys per channel: every decoded key is within 2 steps of its own channel's final grid, however
 *     large the other channels of the token are, and that step is the channel's own range / 255 (each
 *     requantization when a channel's range widens adds up to half a step, so 15 widenings could in
 *     principle reach 7.5 steps; measured maximum on this fixed-seed data: 1.55 steps);
 *   - a partly filled block copied as bytes (copy-on-write, swap) continues exactly like the original:
 *     nothing about a filling block lives outside it;
 *   - scale and zero rounded to float16 still cover the range: every value within half a step (+1e-6
 *     relative) for rows whose range is far below the float16 spacing of their offset, constant rows,
 *     and rows needing the float16 limit; NaN and infinities give finite decoded values (a NaN does
 *     not widen the range). */
#include <string.h>

#include "check.h"
#include "core/tensor.h"
#include "kv/kv_int8.h"
#include "kv/kv_store.h"

static uint64_t rng_state = 777;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(uint32_t)(rng_state >> 33) / 2147483648.0f - 1.0f;
}

static float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return f16_to_f32(h);
}

enum { BLOCK = 16, CHANNELS = 24 };

static void test_keys_within_their_channel_grid(void) {
    float x[BLOCK][CHANNELS];
    int8_t codes[BLOCK * CHANNELS];
    uint8_t scales[2 * CHANNELS], zeros[2 * CHANNELS];
    for (int round = 0; round < 20; round++) {
        for (int r = 0; r < BLOCK; r++)
            for (int c = 0; c < CHANNELS; c++) /* offsets up to 60, spreads from 1/8 to 4 */
                x[r][c] = (c % 3 == 0 ? 60.0f : c % 3 == 1 ? -3.0f : 0.0f) + frand() * ldexpf(1.0f, c % 6 - 3);
        for (int r = 0; r < BLOCK; r++) kv_int8_append_channels(x[r], CHANNELS, r, codes, CHANNELS, scales, zeros);
        double worst_steps = 0;
        for (int c = 0; c < CHANNELS; c++) {
            float scale = f16_at(scales + 2 * c), zero = f16_at(zeros + 2 * c), lo = x[0][c], hi = x[0][c];
            for (int r = 0; r < BLOCK; r++) {
                double err = fabs(scale * (double)codes[r * CHANNELS + c] + zero - x[r][c]);
                worst_steps = fmax(worst_steps, err / scale);
                lo = fminf(lo, x[r][c]), hi = fmaxf(hi, x[r][c]);
            }
            /* the grid is as fine as this channel's own range allows: range / 255, plus the float16
             * rounding of zero (|zero| / 2048 over 127 steps), plus 2% for decoded values that moved */
            CHECK_MSG(scale <= ((hi - lo) / 255.0f + fabsf(zero) / 2048.0f / 127.0f) * 1.02f,
                      "channel %d: scale %g for range %g", c, scale, hi - lo);
        }
        CHECK_MSG(worst_steps <= 2.0, "round %d: a key is %.2f steps off", round, worst_steps);
    }
}

/* One token of made-up K and V (2 heads x 8) into both layers. */
static void write_token(const loom_kv_store *s, int64_t slot, int seed) {
    float k[16], v[16];
    for (int layer = 0; layer < 2; layer++) {
        for (int i = 0; i < 16; i++) {
            k[i] = (float)((seed * 31 + i * 17 + layer) % 23) - 11.0f + 0.01f * (float)seed;
            v[i] = (float)((seed * 7 + i * 5 + layer) % 13) * 0.1f;
        }
        kv_store_write(s, layer, slot, k, v);
    }
}

static void test_partial_block_copied_as_bytes_continues_identically(void) {
    loom_kv_store s;
    loom_error err;
    CHECK(kv_store_init(&s, 2, 2, 8, LOOM_KV_INT8, 3, BLOCK, &err) == LOOM_OK);
    /* block 0 and block 2 get the same first 7 tokens; block 0's bytes are copied into block 1 */
    for (int t = 0; t < 7; t++) write_token(&s, t, t), write_token(&s, 2 * BLOCK + t, t);
    memcpy(kv_block(&s, 1), kv_block(&s, 0), s.block_bytes);
    /* the copy and block 2 continue with the same 9 tokens (some widen channel ranges); block 0 differs */
    for (int t = 7; t < BLOCK; t++) {
        write_token(&s, BLOCK + t, 100 + t);
        write_token(&s, 2 * BLOCK + t, 100 + t);
        write_token(&s, t, 200 + t);
    }
    CHECK(memcmp(kv_block(&s, 1), kv_block(&s, 2), s.block_bytes) == 0);
    CHECK(memcmp(kv_block(&s, 0), kv_block(&s, 2), s.block_bytes) != 0);
    kv_store_destroy(&s);
}

/* Encodes one row; checks every finite value against half a step of the stored grid. */
static void check_group(const float *x, int n, const char *what) {
    int8_t codes[16];
    uint8_t scale_bytes[2], zero_bytes[2];
    kv_int8_encode_group(x, n, codes, scale_bytes, zero_bytes);
    float scale = f16_at(scale_bytes), zero = f16_at(zero_bytes);
    CHECK_MSG(isfinite(scale) && isfinite(zero) && scale >= 0, "%s: scale %g zero %g", what, scale, zero);
    for (int i = 0; i < n; i++) {
        double decoded = scale * (double)codes[i] + zero;
        CHECK_MSG(isfinite(decoded), "%s: element %d decodes to %g", what, i, decoded);
        if (isfinite(x[i]) && fabsf(x[i]) <= 65504.0f)
            CHECK_MSG(fabs(decoded - x[i]) <= scale / 2 * (1 + 1e-6) + 1e-6 * fabsf(x[i]),
                      "%s: element %d: %.9g vs %.9g (step %g)", what, i, decoded, x[i], scale);
    }
}

static void test_float16_parameters_cover_the_range(void) {
    const float near_offset[] = {1000.25f, 1000.3f, 1000.27f, 1000.26f, 1000.29f, 1000.251f, 1000.28f, 1000.3f};
    const float constant[] = {3.3f, 3.3f, 3.3f, 3.3f};
    const float wide[] = {-65504.0f, 65504.0f, 0.5f, -1.0f};
    const float tiny[] = {1e-7f, -2e-7f, 3e-8f, 0.0f};
    const float mixed[] = {-0.001f, 250.0f, 249.9f, -7.5f, 0.0f, 1.0f};
    check_group(near_offset, 8, "range far below the float16 spacing of its offset");
    check_group(constant, 4, "constant row");
    check_group(wide, 4, "float16 limits");
    check_group(tiny, 4, "subnormal-sized values");
    check_group(mixed, 6, "mixed");
    const float beyond[] = {1e6f, -1e6f, 0.5f, 2.0f};
    const float nan_first[] = {NAN, 1.0f, 2.0f, -3.0f}, infinities[] = {1.0f, INFINITY, 2.0f, -INFINITY};
    check_group(beyond, 4, "beyond float16 (saturates)");
    check_group(nan_first, 4, "a NaN (ignored by the range)");
    check_group(infinities, 4, "infinities (saturate)");
    /* keys: a channel that first sits still, then jumps far away, then comes back */
    const float path[] = {5.0f, 5.0f, 5.0f, -300.0f, 5.01f, 4.99f, 200.0f, 0.0f};
    int8_t codes[8];
    uint8_t scale_bytes[2], zero_bytes[2];
    for (int r = 0; r < 8; r++) kv_int8_append_channels(&path[r], 1, r, codes, 1, scale_bytes, zero_bytes);
    float scale = f16_at(scale_bytes), zero = f16_at(zero_bytes);
    for (int r = 0; r < 8; r++) CHECK_NEAR(scale * codes[r] + zero, path[r], 2 * scale);
}

int main(void) {
    RUN(test_keys_within_their_channel_grid);
    RUN(test_partial_block_copied_as_bytes_continues_identically);
    RUN(test_float16_parameters_cover_the_range);
    return check_summary();
}
