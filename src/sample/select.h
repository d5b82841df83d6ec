/* Candidate selection over a logit row without sorting the whole vocabulary. The total order used
 * everywhere: higher logit first, equal logits by lower id (so every result is fully determined by
 * the row, whatever batch or thread produced it). */
#ifndef LOOM_SAMPLE_SELECT_H
#define LOOM_SAMPLE_SELECT_H

#include <stdint.h>

typedef struct loom_candidate {
    float logit;
    int32_t id;
} loom_candidate;

/* Index of the largest x (lowest index on ties; NaNs never win, except a NaN x[0], which gives 0). n > 0. */
int32_t argmax(const float *x, int32_t n);

/* Softmax weights of a row: w[i] = exp((x[i] - max) / temperature), 0 where that is below min_p (max is the
 * row's largest x, so w[i] is in [0, 1]; exp to about 2 ulp, 0 below e^-87). Returns weight_total(w). */
double softmax_weights(const float *x, int32_t n, float max, float temperature, float min_p, float *w);

/* The sum of w[0..n) as draw_index adds it up: in double, each block of LOOM_DRAW_BLOCK entries in
 * index order, the block sums in block order (independent blocks: a short dependency chain per block). */
#define LOOM_DRAW_BLOCK 16
double weight_total(const float *w, int32_t n);

/* The k best ids of x[0..n) in the total order, best first, into ids_out[0..k) (k <= n).
 * A bounded min-heap: O(n) comparisons plus O(log k) per element that enters the top k. */
void top_k_ids(const float *x, int32_t n, int32_t k, int32_t *ids_out);

/* Nucleus cut over a whole row: weights[i] in [0, 1] is exp((x[i] - max x) / T), 0 for ids already
 * removed; total is their sum. Keeps the smallest prefix, in the total order of x, whose weight
 * reaches top_p * total (at least one id: a token stays when the mass strictly before it is below
 * the target) and sets every other weight to 0. Weights are bucketed by their leading float bits
 * (16 buckets per factor of 2, monotone in the weight); only the bucket where the cumulative mass
 * crosses the target is sorted. scratch holds up to n candidates. Returns the kept weights'
 * weight_total (what draw_index expects). */
double top_p_cut(const float *x, float *weights, int32_t n, double total, double top_p, loom_candidate *scratch);

/* Inverse-CDF draw in index order: the first entry whose running sum exceeds u * total, where total is
 * weight_total(w, n) and u is in [0, 1): the running sum passes whole blocks by their sums (as the
 * total adds them), then walks the block where it crosses the target entry by entry. Falls back to the
 * last positive entry of that block (or of the row) on rounding overshoot. */
int32_t draw_index(const float *weights, int32_t n, double total, double u);

/* Sorts candidates in the total order (best first). */
void sort_candidates(loom_candidate *c, int32_t n);

#endif
