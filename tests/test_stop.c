/* Stop strings on streamed text (src/sample/stop.h): matches across deltas, one stop string a prefix
 * of another, a stop in the first delta, include_stop_str_in_output, held tails released at the end,
 * check_stop = 0 (min_tokens), a UTF-8 stop split inside a character, and a property test: every way
 * of splitting random texts into deltas gives the output of a one-shot reference search. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "loom.h"

typedef struct streamed {
    char text[256];
    size_t len;
    int32_t stop_index;
} streamed;

static loom_stop_matcher *matcher(const char *const *stops, int32_t n, int include) {
    loom_stop_matcher *m = NULL;
    loom_error err;
    CHECK(loom_stop_matcher_create(stops, n, include, &m, &err) == LOOM_OK);
    return m;
}

static void take(streamed *out, const loom_stop_result *r) {
    if (out->len + r->text_len < sizeof out->text) memcpy(out->text + out->len, r->text, r->text_len);
    out->len += r->text_len;
    out->text[out->len < sizeof out->text ? out->len : 0] = 0;
    if (r->stop_index >= 0) out->stop_index = r->stop_index;
}

/* Pushes the deltas (NULL-terminated), then flushes. */
static streamed run(loom_stop_matcher *m, const char *const *deltas) {
    streamed out = {.stop_index = -1};
    loom_stop_result r;
    loom_error err;
    for (int i = 0; deltas[i]; i++) {
        CHECK(loom_stop_matcher_push(m, deltas[i], strlen(deltas[i]), 1, &r, &err) == LOOM_OK);
        take(&out, &r);
    }
    loom_stop_matcher_flush(m, &r);
    take(&out, &r);
    return out;
}

static void test_across_tokens(void) {
    const char *stops[1] = {"\n\n"};
    loom_stop_matcher *m = matcher(stops, 1, 0);
    loom_stop_result r;
    loom_error err;
    CHECK(loom_stop_matcher_push(m, "Hello\n", 6, 1, &r, &err) == LOOM_OK);
    CHECK(r.text_len == 5 && !memcmp(r.text, "Hello", 5) && r.stop_index == -1); /* "\n" held */
    CHECK(loom_stop_matcher_push(m, "\nWorld", 6, 1, &r, &err) == LOOM_OK);
    CHECK(r.text_len == 0 && r.stop_index == 0);
    CHECK(loom_stop_matcher_push(m, "more", 4, 1, &r, &err) == LOOM_OK); /* finished: nothing */
    CHECK(r.text_len == 0 && r.stop_index == -1);
    CHECK(!strcmp(loom_stop_matcher_string(m, 0), "\n\n") && !loom_stop_matcher_string(m, 1));
    loom_stop_matcher_free(m);
}

static void test_prefix_of_another(void) {
    const char *stops[2] = {"abc", "ab"};
    const char *d1[] = {"xa", "bc", NULL}, *d2[] = {"xabc", NULL};
    for (int include = 0; include < 2; include++) {
        loom_stop_matcher *m = matcher(stops, 2, include);
        streamed a = run(m, d1);
        loom_stop_matcher_free(m);
        m = matcher(stops, 2, include);
        streamed b = run(m, d2);
        loom_stop_matcher_free(m);
        const char *want = include ? "xab" : "x";
        CHECK_MSG(!strcmp(a.text, want) && a.stop_index == 1, "include %d: '%s' stop %d", include, a.text,
                  a.stop_index);
        CHECK_MSG(!strcmp(b.text, want) && b.stop_index == 1, "include %d: '%s' stop %d", include, b.text,
                  b.stop_index);
    }
    /* the earlier-ending of two overlapping matches wins: "bcd" ends before "abcde" */
    const char *stops2[2] = {"abcde", "bcd"}, *d3[] = {"zabcdef", NULL};
    loom_stop_matcher *m = matcher(stops2, 2, 0);
    streamed c = run(m, d3);
    CHECK(!strcmp(c.text, "za") && c.stop_index == 1);
    loom_stop_matcher_free(m);
}

static void test_stop_in_first_token(void) {
    const char *stops[1] = {"STOP"}, *d[] = {"STOP here", NULL}, *d2[] = {"ok STOP", NULL};
    loom_stop_matcher *m = matcher(stops, 1, 0);
    streamed a = run(m, d);
    CHECK(a.len == 0 && a.stop_index == 0);
    loom_stop_matcher_free(m);
    m = matcher(stops, 1, 1);
    streamed b = run(m, d2);
    CHECK(!strcmp(b.text, "ok STOP") && b.stop_index == 0);
    loom_stop_matcher_free(m);
}

static void test_held_tail_released(void) {
    const char *stops[1] = {"###"}, *d[] = {"a#", "#", NULL};
    loom_stop_matcher *m = matcher(stops, 1, 0);
    loom_stop_result r;
    loom_error err;
    CHECK(loom_stop_matcher_push(m, "a#", 2, 1, &r, &err) == LOOM_OK && r.text_len == 1);
    CHECK(loom_stop_matcher_push(m, "#", 1, 1, &r, &err) == LOOM_OK && r.text_len == 0);
    loom_stop_matcher_flush(m, &r);
    CHECK(r.text_len == 2 && !memcmp(r.text, "##", 2) && r.stop_index == -1);
    loom_stop_matcher_free(m);
    m = matcher(NULL, 0, 0); /* no stop strings: everything passes at once */
    streamed a = run(m, d);
    CHECK(!strcmp(a.text, "a##") && a.stop_index == -1);
    loom_stop_matcher_free(m);
}

static void test_check_stop_off(void) {
    const char *stops[1] = {"ab"};
    loom_stop_matcher *m = matcher(stops, 1, 0);
    loom_stop_result r;
    loom_error err;
    CHECK(loom_stop_matcher_push(m, "ab a", 4, 0, &r, &err) == LOOM_OK); /* before min_tokens */
    CHECK(r.text_len == 3 && !memcmp(r.text, "ab ", 3) && r.stop_index == -1);
    CHECK(loom_stop_matcher_push(m, "bc", 2, 1, &r, &err) == LOOM_OK); /* "a" + "b" completes now */
    CHECK(r.text_len == 0 && r.stop_index == 0);
    loom_stop_matcher_free(m);
}

static void test_utf8_split(void) {
    const char *stops[1] = {"\xc3\xa9t\xc3\xa9"}; /* "été" */
    const char *d[] = {"un \xc3", "\xa9t\xc3", "\xa9 chaud", NULL};
    loom_stop_matcher *m = matcher(stops, 1, 0);
    streamed a = run(m, d);
    CHECK(!strcmp(a.text, "un ") && a.stop_index == 0);
    loom_stop_matcher_free(m);
}

static void test_bad_args(void) {
    const char *stops[2] = {"a", ""};
    loom_stop_matcher *m;
    loom_error err;
    CHECK(loom_stop_matcher_create(stops, 2, 0, &m, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "non-empty"));
}

/* Reference: the earliest-ending match over the whole text (ties: earliest start). */
static streamed reference(const char *text, const char *const *stops, int n, int include) {
    streamed out = {.stop_index = -1};
    size_t len = strlen(text);
    for (size_t end = 1; end <= len && out.stop_index < 0; end++) {
        size_t best_start = end;
        for (int i = 0; i < n; i++) {
            size_t sl = strlen(stops[i]);
            if (sl <= end && !memcmp(text + end - sl, stops[i], sl) && end - sl < best_start) {
                best_start = end - sl;
                out.stop_index = i;
            }
        }
        if (out.stop_index >= 0) len = include ? end : best_start;
    }
    memcpy(out.text, text, len);
    out.text[len] = 0;
    out.len = len;
    return out;
}

static uint64_t next_random(uint64_t *x) {
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static void test_random_splits_match_reference(void) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int failures = 0;
    for (int trial = 0; trial < 3000; trial++) {
        char text[40], stop_buf[3][5], pieces[40][40];
        const char *stops[3], *deltas[41];
        next_random(&x);
        int len = 1 + (int)(x % 30), n_stops = 1 + (int)((x >> 8) % 3), include = (int)((x >> 12) & 1);
        for (int i = 0; i < len; i++) text[i] = "abc"[next_random(&x) % 3];
        text[len] = 0;
        for (int s = 0; s < n_stops; s++) {
            next_random(&x);
            int sl = 1 + (int)(x % 4);
            for (int i = 0; i < sl; i++) stop_buf[s][i] = "abc"[(x >> (8 + 2 * i)) % 3];
            stop_buf[s][sl] = 0;
            stops[s] = stop_buf[s];
        }
        int n_pieces = 0;
        for (int at = 0; at < len;) {
            int piece = 1 + (int)(next_random(&x) % 4);
            if (piece > len - at) piece = len - at;
            memcpy(pieces[n_pieces], text + at, (size_t)piece);
            pieces[n_pieces][piece] = 0;
            deltas[n_pieces] = pieces[n_pieces];
            n_pieces++;
            at += piece;
        }
        deltas[n_pieces] = NULL;
        loom_stop_matcher *m = matcher(stops, n_stops, include);
        streamed got = run(m, deltas), want = reference(text, stops, n_stops, include);
        loom_stop_matcher_free(m);
        if (strcmp(got.text, want.text) || got.stop_index != want.stop_index) {
            if (failures++ < 3)
                fprintf(stderr, "  text '%s' stops %d include %d: got '%s' (%d), want '%s' (%d)\n", text, n_stops,
                        include, got.text, got.stop_index, want.text, want.stop_index);
        }
    }
    CHECK_MSG(failures == 0, "%d of 3000 random cases differ", failures);
}

int main(void) {
    RUN(test_across_tokens);
    RUN(test_prefix_of_another);
    RUN(test_stop_in_first_token);
    RUN(test_held_tail_released);
    RUN(test_check_stop_off);
    RUN(test_utf8_split);
    RUN(test_bad_args);
    RUN(test_random_splits_match_reference);
    return check_summary();
}
