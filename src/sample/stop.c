/* The stop-string matcher (semantics in stop.h): a buffer holding the unreleased tail plus the newest
 * delta, searched for complete matches, then for a suffix that could still grow into one. */
#include "sample/stop.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct loom_stop_matcher {
    char **stops;      /* [n_stops] owned copies */
    size_t *stop_lens; /* [n_stops] bytes */
    int32_t n_stops;
    int include_stop;
    char *buf; /* [cap] bytes: released_len bytes handed out last call, then held_len held */
    size_t cap, released_len, held_len;
    int finished;
};

int32_t stop_find(const char *text, size_t len, size_t min_end, const char *const *stops, const size_t *stop_lens,
                  int32_t n_stops, size_t *start, size_t *end) {
    int32_t found = -1;
    for (int32_t i = 0; i < n_stops; i++) {
        size_t n = stop_lens[i], from = min_end + 1 > n ? min_end + 1 - n : 0;
        if (n > len || from > len - n) continue;
        const char *hit = memmem(text + from, len - from, stops[i], n);
        if (!hit) continue;
        size_t s = (size_t)(hit - text), e = s + n;
        if (found < 0 || e < *end || (e == *end && s < *start)) {
            found = i;
            *start = s;
            *end = e;
        }
    }
    return found;
}

size_t stop_hold_len(const char *text, size_t len, const char *const *stops, const size_t *stop_lens, int32_t n_stops) {
    size_t best = 0;
    for (int32_t i = 0; i < n_stops; i++)
        for (size_t n = stop_lens[i] - 1 < len ? stop_lens[i] - 1 : len; n > best; n--)
            if (!memcmp(text + len - n, stops[i], n)) {
                best = n;
                break;
            }
    return best;
}

loom_status loom_stop_matcher_create(const char *const *stop, int32_t n_stops, int include_stop,
                                     loom_stop_matcher **out, loom_error *err) {
    *out = NULL;
    if (n_stops < 0 || (n_stops > 0 && !stop))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "stop strings are malformed");
    for (int32_t i = 0; i < n_stops; i++)
        if (!stop[i] || !stop[i][0]) return loom_fail(err, LOOM_ERR_INVALID_ARG, "stop strings must be non-empty");
    loom_stop_matcher *m = calloc(1, sizeof *m);
    if (m && n_stops > 0) {
        m->stops = calloc((size_t)n_stops, sizeof *m->stops);
        m->stop_lens = calloc((size_t)n_stops, sizeof *m->stop_lens);
    }
    int ok = m && (n_stops == 0 || (m->stops && m->stop_lens));
    for (int32_t i = 0; ok && i < n_stops; i++, m->n_stops++) {
        m->stop_lens[i] = strlen(stop[i]);
        ok = (m->stops[i] = strdup(stop[i])) != NULL;
    }
    if (!ok) {
        loom_stop_matcher_free(m);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the stop strings");
    }
    m->include_stop = include_stop != 0;
    *out = m;
    return LOOM_OK;
}

void loom_stop_matcher_free(loom_stop_matcher *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n_stops; i++) free(m->stops[i]);
    free(m->stops);
    free(m->stop_lens);
    free(m->buf);
    free(m);
}

const char *loom_stop_matcher_string(const loom_stop_matcher *m, int32_t index) {
    return index >= 0 && index < m->n_stops ? m->stops[index] : NULL;
}

static void release(loom_stop_matcher *m, size_t len, int32_t stop_index, loom_stop_result *out) {
    *out = (loom_stop_result){m->buf ? m->buf : "", len, stop_index};
    m->released_len = len;
}

loom_status loom_stop_matcher_push(loom_stop_matcher *m, const char *delta, size_t len, int check_stop,
                                   loom_stop_result *out, loom_error *err) {
    /* drop what the previous call handed out; the held tail moves to the front */
    if (m->released_len) memmove(m->buf, m->buf + m->released_len, m->held_len);
    m->released_len = 0;
    if (m->finished) {
        release(m, 0, -1, out);
        return LOOM_OK;
    }
    size_t old = m->held_len, total = old + len;
    if (total > m->cap) {
        size_t cap = total > 2 * m->cap ? total : 2 * m->cap;
        char *grown = realloc(m->buf, cap);
        if (!grown) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the stop-string buffer");
        m->buf = grown;
        m->cap = cap;
    }
    if (len) memcpy(m->buf + old, delta, len);
    const char *const *stops = (const char *const *)m->stops;
    size_t start = 0, end = 0;
    int32_t hit = check_stop ? stop_find(m->buf, total, old, stops, m->stop_lens, m->n_stops, &start, &end) : -1;
    if (hit >= 0) {
        m->finished = 1;
        m->held_len = 0;
        release(m, m->include_stop ? end : start, hit, out);
        return LOOM_OK;
    }
    m->held_len = stop_hold_len(m->buf, total, stops, m->stop_lens, m->n_stops);
    release(m, total - m->held_len, -1, out);
    return LOOM_OK;
}

void loom_stop_matcher_flush(loom_stop_matcher *m, loom_stop_result *out) {
    if (m->released_len) memmove(m->buf, m->buf + m->released_len, m->held_len);
    size_t held = m->finished ? 0 : m->held_len;
    m->finished = 1;
    m->held_len = 0;
    release(m, held, -1, out);
}
