/* libFuzzer: the input is a GGUF file whose tokenizer.ggml.* keys build a tokenizer. Parsing or
 * loading must fail cleanly (a status with a message) or give a tokenizer that encodes and decodes a
 * fixed text. */
#include <stdint.h>
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    loom_gguf g;
    loom_error err = {0};
    if (loom_gguf_parse(data, size, &g, &err) != LOOM_OK) return 0;
    loom_tokenizer *t = NULL;
    if (loom_tokenizer_from_gguf(&g, &t, &err) != LOOM_OK) {
        if (!err.message[0]) abort();
        loom_gguf_free(&g);
        return 0;
    }
    loom_gguf_free(&g); /* the tokenizer keeps copies of everything it uses */
    static const char text[] = " Hello  world <s> 1234 caf\xC3\xA9 \xF0\x9F\x98\x80\n";
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
