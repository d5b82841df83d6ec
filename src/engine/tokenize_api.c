/* The public tokenizer calls of loom.h, over the model's tokenizer. */
#include <stdlib.h>

#include "model/model.h"

static loom_status need_tokenizer(const loom_model *m, loom_error *err) {
    return m->tok
        ? LOOM_OK
        : loom_fail(err, LOOM_ERR_UNSUPPORTED, "this model has no tokenizer (give token ids instead of text)");
}

loom_status loom_tokenize(const loom_model *m, const char *text, size_t len, int add_special, int32_t **ids_out,
                          size_t *n_out, loom_error *err) {
    loom_status st = need_tokenizer(m, err);
    return st ? st : loom_tokenizer_encode(m->tok, text, len, add_special, ids_out, n_out, err);
}

struct loom_detokenizer {
    loom_detok *d;
};

loom_status loom_detokenizer_create(const loom_model *m, int skip_special, loom_detokenizer **out, loom_error *err) {
    *out = NULL;
    loom_status st = need_tokenizer(m, err);
    if (st) return st;
    loom_detokenizer *d = calloc(1, sizeof *d);
    if (!d) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    if ((st = detok_create(m->tok, skip_special, &d->d, err)) != LOOM_OK) {
        free(d);
        return st;
    }
    *out = d;
    return LOOM_OK;
}

/* The tokenizer returns (bytes, length); loom.h promises a NUL-terminated string. */
static loom_status terminate(loom_status st, char **text, size_t len, loom_error *err) {
    if (st != LOOM_OK) return st;
    char *s = realloc(*text, len + 1);
    if (!s) {
        free(*text);
        *text = NULL;
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    s[len] = '\0';
    *text = s;
    return LOOM_OK;
}

loom_status loom_detokenizer_push(loom_detokenizer *d, int32_t id, char **text_out, loom_error *err) {
    size_t len = 0;
    loom_status st = detok_push(d->d, id, text_out, &len, err);
    return terminate(st, text_out, len, err);
}

loom_status loom_detokenizer_flush(loom_detokenizer *d, char **text_out, loom_error *err) {
    size_t len = 0;
    loom_status st = detok_flush(d->d, text_out, &len, err);
    return terminate(st, text_out, len, err);
}

loom_status loom_detokenizer_prime(loom_detokenizer *d, const int32_t *ids, size_t n, loom_error *err) {
    for (size_t i = 0; i < n; i++) {
        char *text = NULL;
        size_t len;
        loom_status st = detok_push(d->d, ids[i], &text, &len, err);
        free(text);
        if (st != LOOM_OK) return st;
    }
    return LOOM_OK;
}

void loom_detokenizer_free(loom_detokenizer *d) {
    if (!d) return;
    detok_free(d->d);
    free(d);
}

const loom_tokenizer *loom_model_get_tokenizer(const loom_model *m) { return m->tok; }
