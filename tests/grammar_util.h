/* Helpers shared by the grammar tests: compile a constraint, match whole strings, build small
 * vocabularies, and check a mask against brute force (every token tried from the state by itself). */
#ifndef LOOM_TESTS_GRAMMAR_UTIL_H
#define LOOM_TESTS_GRAMMAR_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "grammar/grammar.h"

/* A vocabulary of the 256 single bytes, then the given strings, then one EOS id (the last). */
static inline gram_vocab *util_vocab(const char *const *extra, int32_t n_extra) {
    int32_t n = 256 + n_extra + 1;
    size_t total = 256;
    for (int32_t i = 0; i < n_extra; i++) total += strlen(extra[i]);
    char *bytes = malloc(total);
    uint32_t *off = calloc((size_t)n, sizeof *off), *len = calloc((size_t)n, sizeof *len);
    uint8_t *special = calloc((size_t)n, 1);
    size_t at = 0;
    for (int32_t i = 0; i < 256; i++) {
        bytes[at] = (char)i;
        off[i] = (uint32_t)at++;
        len[i] = 1;
    }
    for (int32_t i = 0; i < n_extra; i++) {
        size_t l = strlen(extra[i]);
        memcpy(bytes + at, extra[i], l);
        off[256 + i] = (uint32_t)at;
        len[256 + i] = (uint32_t)l;
        at += l;
    }
    special[n - 1] = 1;
    int32_t eos = n - 1;
    gram_vocab *v = NULL;
    loom_error err;
    CHECK(gram_vocab_create(n, bytes, off, len, special, &eos, 1, &v, &err) == LOOM_OK);
    free(bytes);
    free(off);
    free(len);
    free(special);
    return v;
}

static inline gram_vocab *util_byte_vocab(void) { return util_vocab(NULL, 0); }

/* A matcher for the constraint over vocabulary v (NULL with the error printed when it does not compile). */
static inline gram_matcher *util_matcher(gram_kind kind, const char *spec, const gram_vocab *v) {
    gram_grammar *g = NULL;
    loom_error err;
    if (gram_compile(kind, spec, strlen(spec), &g, &err) != LOOM_OK) {
        fprintf(stderr, "  compile failed: %s\n", err.message);
        return NULL;
    }
    gram_automaton *a = NULL;
    if (gram_automaton_create(g, v, &a, &err) != LOOM_OK) return NULL;
    gram_matcher *m = NULL;
    CHECK(gram_matcher_create(a, &m, &err) == LOOM_OK);
    gram_automaton_release(a);
    return m;
}

/* 1 when the whole string is a sentence of the grammar, 0 when not, -1 when it does not compile. */
static inline int util_matches(gram_kind kind, const char *spec, const char *s, size_t n) {
    static gram_vocab *bytes_vocab;
    if (!bytes_vocab) bytes_vocab = util_byte_vocab();
    gram_matcher *m = util_matcher(kind, spec, bytes_vocab);
    if (!m) return -1;
    loom_error err;
    int ok = gram_matcher_accept_bytes(m, s, n, &err) == 1 && gram_matcher_is_accepting(m);
    if (n == 0) ok = gram_matcher_is_accepting(m);
    gram_matcher_free(m);
    return ok;
}

static inline int util_match(gram_kind kind, const char *spec, const char *s) {
    return util_matches(kind, spec, s, strlen(s));
}

/* The compile error message (empty when it compiles). */
static inline const char *util_compile_error(gram_kind kind, const char *spec) {
    static loom_error err;
    gram_grammar *g = NULL;
    memset(&err, 0, sizeof err);
    if (gram_compile(kind, spec, strlen(spec), &g, &err) == LOOM_OK) {
        gram_grammar_free(g);
        err.message[0] = 0;
    }
    return err.message;
}

/* Checks the matcher's mask against brute force: token t is allowed iff the matcher, from this state,
 * accepts t (its bytes, or as EOS when accepting). Returns the number of allowed tokens. */
static inline int32_t util_check_mask(gram_matcher *m, const gram_vocab *v) {
    loom_error err;
    const uint64_t *mask = gram_matcher_mask(m, &err);
    CHECK(mask != NULL);
    if (!mask) return -1;
    int32_t n = gram_vocab_size(v), allowed = 0, wrong = 0;
    for (int32_t t = 0; t < n; t++) {
        int bit = (int)((mask[t >> 6] >> (t & 63)) & 1);
        int ok = gram_matcher_accept_token(m, t, &err);
        CHECK(ok >= 0);
        if (ok == 1) gram_matcher_rollback(m, 1);
        if (bit != ok && wrong++ < 5) fprintf(stderr, "  token %d: mask %d, matcher %d\n", (int)t, bit, ok);
        allowed += bit;
    }
    CHECK(wrong == 0);
    return allowed;
}

#endif
