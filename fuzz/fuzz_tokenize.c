/* libFuzzer: the input is text for real tokenizers loaded once (Llama-3 byte-level BPE, Qwen3 with
 * NFC, stories260K SentencePiece-style with byte fallback). Invalid UTF-8 must be rejected with
 * LOOM_ERR_INVALID_ARG; valid text must encode, decode and stream-decode identically, and for Llama-3
 * (no normalizer) decode(encode(x)) must give x back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "tokenizer/tok_internal.h"

static loom_tokenizer *g_tok[3]; /* loaded once, read-only afterwards */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    static const char *rel[3] = {"tokenizers/llama3/tokenizer.json", "tokenizers/qwen3/tokenizer.json",
                                 "models/stories260K/hf"};
    const char *shared = getenv("LOOM_SHARED") ? getenv("LOOM_SHARED") : "../shared";
    for (int i = 0; i < 3; i++) {
        char path[1024];
        loom_error err = {0};
        snprintf(path, sizeof path, "%s/%s", shared, rel[i]);
        if (tokenizer_load_hf(path, &g_tok[i], &err) != LOOM_OK) {
            fprintf(stderr, "fuzz_tokenize: %s\n", err.message);
            abort();
        }
    }
    return 0;
}

static void check(const loom_tokenizer *t, const uint8_t *data, size_t size, int must_round_trip) {
    int32_t *ids = NULL;
    size_t n = 0;
    loom_error err = {0};
    loom_status st = loom_tokenizer_encode(t, (const char *)data, size, 1, &ids, &n, &err);
    if (st != LOOM_OK) {
        if (st != LOOM_ERR_INVALID_ARG || utf8_valid((const char *)data, size)) abort();
        return;
    }
    char *whole = NULL, *piece = NULL;
    size_t len = 0, plen = 0, streamed = 0;
    if (loom_tokenizer_decode(t, ids, n, 0, &whole, &len, &err) != LOOM_OK) abort();
    if (must_round_trip && (len != size || memcmp(whole, data, size))) abort();
    loom_detok *d = NULL;
    if (detok_create(t, 0, &d, &err) != LOOM_OK) abort();
    for (size_t i = 0; i <= n; i++) {
        if ((i < n ? detok_push(d, ids[i], &piece, &plen, &err) : detok_flush(d, &piece, &plen, &err)) != LOOM_OK)
            abort();
        if (streamed + plen > len || memcmp(whole + streamed, piece, plen)) abort();
        streamed += plen;
        free(piece);
    }
    if (streamed != len) abort();
    detok_free(d);
    free(whole);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 1 << 16) return 0;
    for (int i = 0; i < 3; i++) check(g_tok[i], data, size, i == 0);
    return 0;
}
