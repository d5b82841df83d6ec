/* libFuzzer: the input is a GGUF file whose tokenizer.ggml.* keys build a tokenizer. Parsing or
 * loading must fail cleanly (a status with a message) or give a tokenizer that encodes and decodes a
 * fixed text. */
#include <stdint.h>
#include <stdlib.h>

#include "tokenizer_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    loom_gguf g;
    loom_error err = {0};
    if (gguf_parse(data, size, &g, &err) != LOOM_OK) return 0;
    loom_tokenizer *t = NULL;
    if (tokenizer_from_gguf(&g, &t, &err) != LOOM_OK) {
        if (!err.message[0]) abort();
        gguf_free(&g);
        return 0;
    }
    gguf_free(&g); /* the tokenizer keeps copies of everything it uses */
    fuzz_check_encode_decode(t);
    loom_tokenizer_free(t);
    return 0;
}
