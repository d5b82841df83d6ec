/* Top-k by a bounded heap, top-p by bucketed mass, argmax and the inverse-CDF draw (select.h). */
#include "sample/select.h"

#include <stdlib.h>
#include <string.h>

int32_t loom_argmax(const float *x, int32_t n) {
    int32_t best = 0;
    float best_value = x[0];
    for (int32_t i = 1; i < n; i++)
        if (x[i] > best_value) best_value = x[best = i];
    return best;
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

void loom_top_k_ids(const float *x, int32_t n, int32_t k, int32_t *heap) {
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

void loom_sort_candidates(loom_candidate *c, int32_t n) { qsort(c, (size_t)n, sizeof *c, cmp_candidate); }

enum { BUCKET_SHIFT = 19, N_BUCKETS = 0x3f800000 >> BUCKET_SHIFT }; /* 1.0f's bits: bucket 0 */

/* 0 for weight 1, growing as the weight falls (16 buckets per halving); weight in (0, 1]. */
static int32_t bucket_of(float w) {
    uint32_t bits;
    memcpy(&bits, &w, sizeof bits);
    int32_t b = (int32_t)((0x3f800000u - bits) >> BUCKET_SHIFT);
    return b < N_BUCKETS ? b : N_BUCKETS - 1;
}

double loom_top_p_cut(const float *x, float *w, int32_t n, double total, double top_p, loom_candidate *scratch) {
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
    loom_sort_candidates(scratch, m);
    int32_t kept = 0;
    while (kept < m && before < target) before += w[scratch[kept++].id];
    for (int32_t j = kept; j < m; j++) w[scratch[j].id] = 0;
    double kept_total = 0;
    for (int32_t i = 0; i < n; i++) {
        if (w[i] > 0 && bucket_of(w[i]) > crossing) w[i] = 0;
        kept_total += w[i];
    }
    return kept_total;
}

int32_t loom_draw_index(const float *w, int32_t n, double total, double u) {
    double target = u * total, run = 0;
    int32_t last = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!(w[i] > 0)) continue;
        run += w[i];
        if (run > target) return i;
        last = i;
    }
    return last;
}
