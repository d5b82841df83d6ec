/* libFuzzer: the input is a SentencePiece tokenizer.model (protobuf). Loading must fail cleanly (a
 * status with a message) or give a tokenizer that encodes and decodes a fixed text. */
#include <stdint.h>
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    loom_tokenizer *t = tok_new();
    loom_error err = {0};
    if (!t) return 0;
    if (tok_load_spm_model(t, data, size, "fuzz.model", &err) != LOOM_OK) {
        if (!err.message[0]) abort();
        loom_tokenizer_free(t);
        return 0;
    }
    static const char text[] = " Hello  world <s> caf\xC3\xA9 \xF0\x9F\x98\x80";
    int32_t *ids = NULL;
    size_t n = 0;
    if (loom_tokenizer_encode(t, text, sizeof text - 1, 1, &ids, &n, &err) != LOOM_OK) abort();
    char *out = NULL;
    size_t len = 0;
    if (loom_tokenizer_decode(t, ids, n, 0, &out, &len, &err) != LOOM_OK) abort();
    free(out);
    free(ids);
    loom_tokenizer_free(t);
    return 0;
}
