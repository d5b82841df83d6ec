/* libFuzzer: the input's first byte picks a constraint kind (JSON Schema, json_object, regex, choice,
 * GBNF, structural tag: byte % 6), the rest is its text. A spec that does not compile must leave a message. One that
 * compiles is run over a small vocabulary (the 256 bytes and a few multi-byte tokens): up to 48 steps,
 * each computing the mask, checking it against brute force (every token accepted and rolled back
 * from the state) and taking an allowed token chosen by the input's bytes; EOS only when accepting. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

static gram_vocab *g_vocab; /* built once, read-only afterwards */
static const char *const g_extra[] = {"{\"",      "\":",  "\",",  "ab",    "abc", "12",
                                      "\xC3\xA9", "\xC3", "true", "\\u00", " \"", "},"};
enum { N_EXTRA = sizeof g_extra / sizeof *g_extra, N_TOKENS = 256 + N_EXTRA + 1 };

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char bytes[512];
    uint32_t off[N_TOKENS], len[N_TOKENS];
    uint8_t special[N_TOKENS] = {0};
    size_t at = 0;
    for (int i = 0; i < 256; i++) bytes[at] = (char)i, off[i] = (uint32_t)at++, len[i] = 1;
    for (int i = 0; i < N_EXTRA; i++) {
        size_t l = strlen(g_extra[i]);
        memcpy(bytes + at, g_extra[i], l);
        off[256 + i] = (uint32_t)at;
        len[256 + i] = (uint32_t)l;
        at += l;
    }
    off[N_TOKENS - 1] = 0, len[N_TOKENS - 1] = 0, special[N_TOKENS - 1] = 1;
    int32_t eos = N_TOKENS - 1;
    loom_error err;
    if (gram_vocab_create(N_TOKENS, bytes, off, len, special, &eos, 1, &g_vocab, &err) != LOOM_OK) abort();
    return 0;
}

static void run(gram_matcher *m, const uint8_t *choices, size_t n_choices) {
    loom_error err;
    for (int step = 0; step < 48; step++) {
        const uint64_t *mask = gram_matcher_mask(m, &err);
        if (!mask) {
            if (!err.message[0]) abort();
            return;
        }
        int32_t allowed[N_TOKENS], n = 0;
        for (int32_t t = 0; t < N_TOKENS; t++) {
            int bit = (int)((mask[t >> 6] >> (t & 63)) & 1);
            int ok = gram_matcher_accept_token(m, t, &err);
            if (ok < 0) return;
            if (ok) gram_matcher_rollback(m, 1);
            if (ok != bit) abort(); /* the mask disagrees with the matcher */
            if (bit) allowed[n++] = t;
        }
        if ((mask[(N_TOKENS - 1) >> 6] >> ((N_TOKENS - 1) & 63) & 1) != (uint64_t)gram_matcher_is_accepting(m)) abort();
        if (n == 0) { /* only after EOS: every live state can continue (all 256 bytes are tokens) */
            if (!gram_matcher_is_terminated(m)) abort();
            return;
        }
        int32_t pick = allowed[step < (int)n_choices ? choices[step] % n : 0];
        if (gram_matcher_accept_token(m, pick, &err) != 1) abort();
    }
    int32_t before = gram_matcher_history(m), k = before / 2;
    gram_matcher_rollback(m, k);
    if (gram_matcher_history(m) != before - k) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    gram_kind kind = (gram_kind)(data[0] % 6);
    gram_grammar *g = NULL;
    loom_error err = {0};
    if (gram_compile(kind, (const char *)data + 1, size - 1, &g, &err) != LOOM_OK) {
        if (!err.message[0]) abort();
        return 0;
    }
    char *text = gram_grammar_print(g);
    free(text);
    gram_automaton *a = NULL;
    gram_matcher *m = NULL;
    if (gram_automaton_create(g, g_vocab, &a, &err) != LOOM_OK) return 0;
    if (gram_matcher_create(a, &m, &err) == LOOM_OK) {
        run(m, data + 1, size - 1);
        gram_matcher_free(m);
    }
    gram_automaton_release(a);
    return 0;
}
