/* The int8 KV codec (the int8 dtype of kv_store.h): asymmetric 8-bit codes, x = scale x q + zero with q in
 * -128..127. scale and zero are stored as float16 (2 bytes each, in separate arrays: all scales, then all
 * zeros), chosen so that the grid covers the range it was made for as stored: their rounding to float16
 * never clips.
 *
 * Keys are quantized per channel over a block, values per token and KV head (KIVI, Liu et al. 2024: key
 * channels carry outliers that are stable along tokens, e.g. the slowly rotating RoPE pairs, so one range
 * per token wastes most of the 256 levels on them; values have no such channels). A block's key channels
 * are built as the block fills: a value outside its channel's current grid widens that channel's range
 * and requantizes the earlier codes of the channel (from their decoded values), so every block holds
 * its own parameters (copy-on-write, swapping and prefix caching move blocks as bytes) and nothing is
 * kept outside the block while it fills. The price: keys written in one step (a prefill chunk) can widen
 * the grids of earlier keys of their block before those keys' queries attend, so int8 results can depend
 * on how a prompt is split into chunks or recomputed after preemption (float and fp8 caches cannot). */
#ifndef LOOM_KV_KV_INT8_H
#define LOOM_KV_KV_INT8_H

#include <stddef.h>
#include <stdint.h>

#define LOOM_KV_INT8_PARAM_BYTES 4 /* float16 scale + float16 zero */

/* Quantizes x[0..n) with one scale and zero (float16, written at scale / zero) for their min..max range
 * (a value row of one KV head). */
void kv_int8_encode_group(const float *x, int32_t n, int8_t *codes, uint8_t *scale, uint8_t *zero);

/* Writes one token's key channels x[0..n_channels) at row `offset` of a block: the code of row r, channel
 * c is codes[r * row_stride + c]; the block's float16 scales and zeros are [n_channels] arrays. Rows
 * 0..offset-1 must hold this block's earlier tokens; offset 0 starts the block afresh. */
void kv_int8_append_channels(const float *x, int32_t n_channels, int32_t offset, int8_t *codes, size_t row_stride,
                             uint8_t *scales, uint8_t *zeros);

#endif
