/* A grammar vocabulary from a loaded tokenizer: each id's bytes as decoded mid-sequence. */
#include <stdlib.h>

#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

loom_status gram_vocab_from_tokenizer(const loom_tokenizer *t, int32_t n_ids, const int32_t *eos_ids, int32_t n_eos,
                                      gram_vocab **out, loom_error *err) {
    char *bytes = NULL;
    uint32_t *off = NULL, *len = NULL;
    uint8_t *special = NULL;
    loom_status st = tokenizer_token_bytes(t, &bytes, &off, &len, &special, err);
    if (st != LOOM_OK) return st;
    int32_t n_tok = loom_tokenizer_vocab_size(t);
    if (n_ids < n_tok) n_ids = n_tok;
    /* ids past the tokenizer's (a model's padded vocabulary) have no bytes: never allowed */
    uint32_t *o = realloc(off, ((size_t)n_ids + 1) * sizeof *o),
             *l = o ? realloc(len, ((size_t)n_ids + 1) * sizeof *l) : NULL;
    if (o) off = o;
    if (l) len = l;
    if (!o || !l) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar vocabulary: out of memory");
    else {
        for (int32_t i = n_tok; i < n_ids; i++) off[i] = len[i] = 0;
        uint8_t *sp = realloc(special, (size_t)n_ids + 1);
        if (!sp) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar vocabulary: out of memory");
        else {
            special = sp;
            for (int32_t i = n_tok; i < n_ids; i++) special[i] = 1;
            st = gram_vocab_create(n_ids, bytes, off, len, special, eos_ids, n_eos, out, err);
        }
    }
    free(bytes);
    free(off);
    free(len);
    free(special);
    return st;
}
