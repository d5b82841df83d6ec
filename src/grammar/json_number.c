/* Exact grammars for bounded integers and numbers (JSON Schema minimum / maximum / exclusive*).
 *
 * An integer range is split by digit count; each same-length range [lo, hi] is built digit by digit:
 * equal first digits recurse on the rest, else lo's first digit with a tail >= lo's tail, the digits
 * strictly between with any tail, and hi's first digit with a tail <= hi's tail. A number n.f (no
 * exponent) with integer bounds is an integer part range with any fraction, plus the bound itself
 * with a zero fraction (inclusive upper) or a non-zero fraction (exclusive lower); negative numbers
 * are the same problem mirrored. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "grammar/gram_internal.h"

#define BIG_DIGITS 16 /* unbounded sides stop at 16 digits, as the unbounded integer grammar does */
static const int64_t BIG = 9999999999999999LL;
static const double MAX_BOUND = 1e15;

static int32_t digits(gram_builder *b) { return gram_x_range(b, '0', '9'); }

/* Digit strings of one length between lo and hi (leading zeros allowed: a tail). */
static int32_t same_len(gram_builder *b, const char *lo, const char *hi, int n) {
    if (n == 1) return gram_x_range(b, (uint8_t)lo[0], (uint8_t)hi[0]);
    if (lo[0] == hi[0]) return gram_x_seq2(b, gram_x_byte(b, (uint8_t)lo[0]), same_len(b, lo + 1, hi + 1, n - 1));
    static const char nines[] = "9999999999999999999", zeros[] = "0000000000000000000";
    int lo_all_zero = strspn(lo + 1, "0") >= (size_t)(n - 1), hi_all_nine = strspn(hi + 1, "9") >= (size_t)(n - 1);
    int32_t alts[3], k = 0;
    char mid_lo = lo[0], mid_hi = hi[0];
    if (!lo_all_zero) {
        alts[k++] = gram_x_seq2(b, gram_x_byte(b, (uint8_t)lo[0]), same_len(b, lo + 1, nines, n - 1));
        mid_lo++;
    }
    if (!hi_all_nine) mid_hi--;
    if (mid_lo <= mid_hi)
        alts[k++] = gram_x_seq2(b, gram_x_range(b, (uint8_t)mid_lo, (uint8_t)mid_hi),
                                gram_x_repeat(b, digits(b), n - 1, n - 1));
    if (!hi_all_nine) alts[k++] = gram_x_seq2(b, gram_x_byte(b, (uint8_t)hi[0]), same_len(b, zeros, hi + 1, n - 1));
    return gram_x_alt(b, alts, k);
}

/* Non-negative integers in [lo, hi] without leading zeros. */
static int32_t pos_range(gram_builder *b, int64_t lo, int64_t hi) {
    if (lo > hi) return gram_x_nothing(b);
    int32_t alts[24], k = 0;
    int64_t p = 1; /* 10^(len-1) */
    for (int len = 1; len <= 18 && (len == 1 || p <= hi); len++, p *= 10) {
        int64_t a = len == 1 ? 0 : p, z = p * 10 - 1;
        if (a < lo) a = lo;
        if (z > hi) z = hi;
        if (a > z) continue;
        char sa[24], sz[24];
        snprintf(sa, sizeof sa, "%lld", (long long)a);
        snprintf(sz, sizeof sz, "%lld", (long long)z);
        alts[k++] = same_len(b, sa, sz, len);
    }
    return gram_x_alt(b, alts, k);
}

/* Integers in [lo, hi] (INT64_MIN / INT64_MAX: unbounded), negatives with '-'. */
static int32_t int_range(gram_builder *b, int64_t lo, int64_t hi) {
    int32_t alts[2], k = 0;
    if (lo < 0) {
        int64_t top = hi < -1 ? hi : -1; /* magnitudes in [-top, -lo] */
        int64_t mlo = -top, mhi = lo == INT64_MIN ? (BIG > mlo ? BIG : mlo) : -lo;
        if (lo <= top) alts[k++] = gram_x_seq2(b, gram_x_byte(b, '-'), pos_range(b, mlo, mhi));
    }
    if (hi >= 0) {
        int64_t a = lo > 0 ? lo : 0, z = hi == INT64_MAX ? (BIG > a ? BIG : a) : hi;
        alts[k++] = pos_range(b, a, z);
    }
    return gram_x_alt(b, alts, k);
}

static loom_status check_bound(gram_bound x, loom_error *err) {
    if (x.has && !(fabs(x.value) <= MAX_BOUND))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "json schema: bound %g is beyond +-1e15", x.value);
    return LOOM_OK;
}

loom_status gram_json_int_range(gram_builder *b, gram_bound lo, gram_bound hi, int32_t *expr, loom_error *err) {
    if (check_bound(lo, err) || check_bound(hi, err)) return err->status;
    int64_t l = INT64_MIN, h = INT64_MAX;
    if (lo.has) {
        double c = ceil(lo.value);
        l = (int64_t)c + (lo.exclusive && c == lo.value);
    }
    if (hi.has) {
        double f = floor(hi.value);
        h = (int64_t)f - (hi.exclusive && f == hi.value);
    }
    *expr = int_range(b, l, h);
    return LOOM_OK;
}

/* Fractions: any ("" or .d{1,16}), zero ("" or .0{1,16}), non-zero (. digits with a non-zero one). */
static int32_t frac_any(gram_builder *b) {
    return gram_x_opt(b, gram_x_seq2(b, gram_x_byte(b, '.'), gram_x_repeat(b, digits(b), 1, BIG_DIGITS)));
}
static int32_t frac_zero(gram_builder *b) {
    return gram_x_opt(b, gram_x_seq2(b, gram_x_byte(b, '.'), gram_x_repeat(b, gram_x_byte(b, '0'), 1, BIG_DIGITS)));
}
static int32_t frac_nonzero(gram_builder *b) {
    return gram_x_seq(b,
                      (int32_t[]){gram_x_byte(b, '.'), gram_x_repeat(b, gram_x_byte(b, '0'), 0, BIG_DIGITS - 1),
                                  gram_x_range(b, '1', '9'), gram_x_repeat(b, digits(b), 0, BIG_DIGITS - 1)},
                      4);
}

/* Non-negative decimals w = n.f with lo <= w <= hi (bounds integers, exclusive flags as given). */
static int32_t nonneg_decimals(gram_builder *b, int has_lo, int64_t lo, int lo_ex, int has_hi, int64_t hi, int hi_ex) {
    int32_t alts[3], k = 0;
    int64_t a = 0, z = BIG;
    int special_lo = 0, special_hi = 0;
    if (has_lo) {
        if (!lo_ex) a = lo > 0 ? lo : 0;
        else {
            a = lo + 1 > 0 ? lo + 1 : 0;
            special_lo = lo >= 0 && (!has_hi || lo < hi); /* n = lo with a non-zero fraction */
        }
    }
    if (has_hi) {
        if (hi < 0 || (hi == 0 && hi_ex)) return gram_x_nothing(b);
        z = hi - 1;
        special_hi = !hi_ex && (!has_lo || (lo_ex ? hi > lo : hi >= lo)); /* n = hi, fraction zero */
    }
    if (a <= z) alts[k++] = gram_x_seq2(b, pos_range(b, a, z), frac_any(b));
    if (special_lo) alts[k++] = gram_x_seq2(b, pos_range(b, lo, lo), frac_nonzero(b));
    if (special_hi) alts[k++] = gram_x_seq2(b, pos_range(b, hi, hi), frac_zero(b));
    return gram_x_alt(b, alts, k);
}

loom_status gram_json_number_range(gram_builder *b, gram_bound lo, gram_bound hi, int32_t *expr, loom_error *err) {
    if (check_bound(lo, err) || check_bound(hi, err)) return err->status;
    if ((lo.has && lo.value != floor(lo.value)) || (hi.has && hi.value != floor(hi.value)))
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "json schema: a number range needs integer bounds (got %g): no exact grammar otherwise",
                         lo.has && lo.value != floor(lo.value) ? lo.value : hi.value);
    int64_t l = (int64_t)lo.value, h = (int64_t)hi.value;
    int32_t alts[2], k = 0;
    /* v >= 0: w = v */
    alts[k++] = nonneg_decimals(b, lo.has, l, lo.exclusive, hi.has, h, hi.exclusive);
    /* v < 0: w = -v > 0 with w <= -lo (lo bound) and w >= -hi (hi bound) */
    if (!lo.has || l < 0) {
        int wlo_ex = 1;
        int64_t wlo = 0;
        if (hi.has && -h > 0) {
            wlo = -h;
            wlo_ex = hi.exclusive;
        }
        alts[k++] = gram_x_seq2(b, gram_x_byte(b, '-'), nonneg_decimals(b, 1, wlo, wlo_ex, lo.has, -l, lo.exclusive));
    }
    *expr = gram_x_alt(b, alts, k);
    return LOOM_OK;
}
