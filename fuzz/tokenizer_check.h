/* Shared by the tokenizer-loading fuzz harnesses: a tokenizer that loaded must encode and decode a
 * fixed text (mixed spaces, a special-token look-alike, digits, accents, an emoji) without error. */
#ifndef LOOM_FUZZ_TOKENIZER_CHECK_H
#define LOOM_FUZZ_TOKENIZER_CHECK_H

#include <stdlib.h>

#include "tokenizer/tok_internal.h"

static void fuzz_check_encode_decode(const loom_tokenizer *t) {
    static const char text[] = " Hello  world <s> 1234 caf\xC3\xA9 \xF0\x9F\x98\x80\n";
    loom_error err = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    if (loom_tokenizer_encode(t, text, sizeof text - 1, 1, &ids, &n, &err) != LOOM_OK) abort();
    char *out = NULL;
    size_t len = 0;
    if (loom_tokenizer_decode(t, ids, n, 0, &out, &len, &err) != LOOM_OK) abort();
    free(out);
    free(ids);
}

#endif
