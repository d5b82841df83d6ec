/* Top-k by a bounded heap, top-p by bucketed mass, argmax, softmax weights and the inverse-CDF draw
 * (select.h). The whole-row loops are written branch-free over independent lanes so the compiler
 * vectorizes them (a 64-sequence step samples 64 rows of the vocabulary). */
#include "sample/select.h"

#include <stdlib.h>
#include <string.h>

enum { LANES = 16 };

int32_t argmax(const float *x, int32_t n) {
    /* the largest value, as a scan keeping x[0] and each strictly greater value finds it (NaN x[0]: NaN,
     * other NaNs never win): per lane, then across lanes; then the first index holding it */
    float lane[LANES], best = x[0];
    for (int k = 0; k < LANES; k++) lane[k] = x[0];
    int32_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) lane[k] = x[i + k] > lane[k] ? x[i + k] : lane[k];
    for (int k = 0; k < LANES; k++) best = lane[k] > best ? lane[k] : best;
    for (; i < n; i++) best = x[i] > best ? x[i] : best;
    for (i = 0; i < n; i++)
        if (x[i] == best) return i;
    return 0;
}

/* exp(x) for x <= 0 to about 2 ulp, 0 below -87 (where expf's results are denormal or 0, far below any
 * weight that could be drawn): x = n ln2 + r with |r| <= ln2 / 2 (ln2 in two parts, so r is exact), a
 * degree-6 polynomial in r (Cephes expf), times 2^n built in the exponent bits. No branches or calls, so a
 * loop of it vectorizes; its value depends only on x. */
static inline float exp_nonpositive(float x) {
    float c = x < -87.0f ? -87.0f : x;
    float n = (c * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest: 1.5 x 2^23 */
    float r = c - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : y * scale;
}

double softmax_weights(const float *x, int32_t n, float max, float temperature, float min_p, float *w) {
    for (int32_t i = 0; i < n; i++) {
        float v = exp_nonpositive((x[i] - max) / temperature);
        w[i] = v < min_p ? 0.0f : v;
    }
    return weight_total(w, n);
}

/* w[0..n) added in index order, in double (n <= LOOM_DRAW_BLOCK) */
static double block_sum(const float *w, int32_t n) {
    double s = 0;
    for (int32_t k = 0; k < n; k++) s += w[k];
    return s;
}

double weight_total(const float *w, int32_t n) {
    double total = 0;
    for (int32_t b = 0; b < n; b += LOOM_DRAW_BLOCK)
        total += block_sum(w + b, n - b < LOOM_DRAW_BLOCK ? n - b : LOOM_DRAW_BLOCK);
    return total;
}

/* a comes after b in the total order */
static int worse(const float *x, int32_t a, int32_t b) { return x[a] < x[b] || (x[a] == x[b] && a > b); }

/* Restores the heap property below slot i of a heap whose root is its worst id. */
static void sift_down(const float *x, int32_t *heap, int32_t size, int32_t i) {
    for (;;) {
        int32_t child = 2 * i + 1;
        if (child >= size) return;
        if (child + 1 < size && worse(x, heap[child + 1], heap[child])) child++;
        if (!worse(x, heap[child], heap[i])) return;
        int32_t t = heap[i];
        heap[i] = heap[child];
        heap[child] = t;
        i = child;
    }
}

void top_k_ids(const float *x, int32_t n, int32_t k, int32_t *heap) {
    if (k <= 0) return;
    for (int32_t i = 0; i < k; i++) heap[i] = i;
    for (int32_t i = k / 2 - 1; i >= 0; i--) sift_down(x, heap, k, i);
    for (int32_t i = k; i < n; i++) {
        /* ids arrive in increasing order, so an equal logit never beats the heap's worst */
        if (!(x[i] > x[heap[0]])) continue;
        heap[0] = i;
        sift_down(x, heap, k, 0);
    }
    /* heapsort: move the worst to the back until the array is best first */
    for (int32_t size = k - 1; size > 0; size--) {
        int32_t t = heap[0];
        heap[0] = heap[size];
        heap[size] = t;
        sift_down(x, heap, size, 0);
    }
}

static int cmp_candidate(const void *a, const void *b) {
    const loom_candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

void sort_candidates(loom_candidate *c, int32_t n) { qsort(c, (size_t)n, sizeof *c, cmp_candidate); }

enum { BUCKET_SHIFT = 19, N_BUCKETS = 0x3f800000 >> BUCKET_SHIFT }; /* 1.0f's bits: bucket 0 */

/* 0 for weight 1, growing as the weight falls (16 buckets per halving); weight in (0, 1]. */
static int32_t bucket_of(float w) {
    uint32_t bits;
    memcpy(&bits, &w, sizeof bits);
    int32_t b = (int32_t)((0x3f800000u - bits) >> BUCKET_SHIFT);
    return b < N_BUCKETS ? b : N_BUCKETS - 1;
}

double top_p_cut(const float *x, float *w, int32_t n, double total, double top_p, loom_candidate *scratch) {
    double mass[N_BUCKETS] = {0};
    for (int32_t i = 0; i < n; i++)
        if (w[i] > 0) mass[bucket_of(w[i])] += w[i];
    double target = top_p * total, before = 0;
    int32_t crossing = N_BUCKETS - 1;
    for (int32_t b = 0; b < N_BUCKETS; b++) {
        if (before + mass[b] >= target) {
            crossing = b;
            break;
        }
        before += mass[b];
    }
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++)
        if (w[i] > 0 && bucket_of(w[i]) == crossing) scratch[m++] = (loom_candidate){x[i], i};
    sort_candidates(scratch, m);
    int32_t kept = 0;
    while (kept < m && before < target) before += w[scratch[kept++].id];
    for (int32_t j = kept; j < m; j++) w[scratch[j].id] = 0;
    for (int32_t i = 0; i < n; i++)
        if (w[i] > 0 && bucket_of(w[i]) > crossing) w[i] = 0;
    return weight_total(w, n);
}

/* the last positive entry of w[0..n), or 0 */
static int32_t last_positive(const float *w, int32_t n) {
    while (n > 0 && !(w[n - 1] > 0)) n--;
    return n > 0 ? n - 1 : 0;
}

int32_t draw_index(const float *w, int32_t n, double total, double u) {
    double target = u * total, run = 0;
    for (int32_t b = 0; b < n; b += LOOM_DRAW_BLOCK) {
        int32_t m = n - b < LOOM_DRAW_BLOCK ? n - b : LOOM_DRAW_BLOCK;
        double s = block_sum(w + b, m);
        if (!(run + s > target)) {
            run += s;
            continue;
        }
        for (int32_t k = 0; k < m; k++) { /* the block where the running sum passes the target */
            if (!(w[b + k] > 0)) continue;
            run += w[b + k];
            if (run > target) return b + k;
        }
        return b + last_positive(w + b, m);
    }
    return last_positive(w, n);
}
