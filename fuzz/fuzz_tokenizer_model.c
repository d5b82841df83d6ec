/* libFuzzer: the input is a SentencePiece tokenizer.model (protobuf). Loading must fail cleanly (a
 * status with a message) or give a tokenizer that encodes and decodes a fixed text. */
#include <stdint.h>
#include <stdlib.h>

#include "tokenizer_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    loom_tokenizer *t = tok_new();
    loom_error err = {0};
    if (!t) return 0;
    if (tok_load_spm_model(t, data, size, "fuzz.model", &err) != LOOM_OK) {
        if (!err.message[0]) abort();
        loom_tokenizer_free(t);
        return 0;
    }
    fuzz_check_encode_decode(t);
    loom_tokenizer_free(t);
    return 0;
}
