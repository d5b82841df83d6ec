/* libFuzzer: the input is a tokenizer.json. Loading must fail cleanly (a status with a message) or
 * give a tokenizer that can encode and decode a fixed text and decode every id it has. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    loom_tokenizer *t = tok_new();
    loom_error err = {0};
    if (!t) return 0;
    if (tok_load_hf_json(t, (const char *)data, size, "fuzz.json", &err) != LOOM_OK) {
        if (!err.message[0]) abort();
        loom_tokenizer_free(t);
        return 0;
    }
    static const char text[] = "Hello  world <s> 123 caf\xC3\xA9 \xF0\x9F\x98\x80\n";
    int32_t *ids = NULL;
    size_t n = 0;
    if (loom_tokenizer_encode(t, text, sizeof text - 1, 1, &ids, &n, &err) == LOOM_OK) {
        char *out = NULL;
        size_t len = 0;
        if (loom_tokenizer_decode(t, ids, n, 0, &out, &len, &err) == LOOM_OK && strlen(out) > len) abort();
        free(out);
    }
    free(ids);
    int32_t all[64];
    int32_t m = loom_tokenizer_vocab_size(t) < 64 ? loom_tokenizer_vocab_size(t) : 64;
    for (int32_t i = 0; i < m; i++) all[i] = i;
    char *out = NULL;
    size_t len = 0;
    loom_tokenizer_decode(t, all, (size_t)m, 1, &out, &len, &err);
    free(out);
    loom_tokenizer_free(t);
    return 0;
}
