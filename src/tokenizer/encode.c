/* Encoding: added tokens → normalizer → added (normalized) tokens → pre-tokenizer → model per word
 * (through a word cache) → post-processor ids. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

enum { CACHE_MAX_WORD_BYTES = 256, CACHE_MAX_WORDS = 1 << 16 };

static int model_word(const loom_tokenizer *t, const char *w, size_t n, tok_ids *out) {
    return t->model == TOK_MODEL_SPM ? tok_spm_word(t, w, n, out) : tok_bpe_word(t, w, n, out);
}

/* The cache maps a word to an offset in cache_ids, where its id count and ids are stored. */
static int encode_word(const loom_tokenizer *t, const char *w, size_t n, tok_ids *out) {
    if (n > CACHE_MAX_WORD_BYTES) return model_word(t, w, n, out);
    loom_tokenizer *m = (loom_tokenizer *)t; /* the cache is the only state encode changes */
    int rc = 0;
    pthread_mutex_lock(&m->cache_lock);
    int32_t at = tok_strmap_get(&m->cache, w, n);
    if (at >= 0) rc = tok_ids_append(out, m->cache_ids.data + at + 1, (size_t)m->cache_ids.data[at]);
    pthread_mutex_unlock(&m->cache_lock);
    if (at >= 0) return rc;
    size_t first = out->len;
    if (model_word(t, w, n, out)) return -1;
    pthread_mutex_lock(&m->cache_lock);
    if (m->cache.count >= CACHE_MAX_WORDS || m->cache_ids.len > INT32_MAX / 2) {
        tok_strmap_free(&m->cache);
        m->cache_ids.len = 0;
    }
    size_t pos = m->cache_ids.len, n_ids = out->len - first;
    if (!tok_ids_push(&m->cache_ids, (int32_t)n_ids) &&
        (!n_ids || !tok_ids_append(&m->cache_ids, out->data + first, n_ids)))
        tok_strmap_put(&m->cache, w, n, (int32_t)pos); /* a failed insert only loses the cache entry */
    pthread_mutex_unlock(&m->cache_lock);
    return 0;
}

typedef struct scratch {
    tok_buf norm, arena;
    tok_splits raw, normsplits;
    tok_pieces words;
    pcre2_match_data *md;
} scratch;

/* One piece of text between added tokens: normalize, split on normalized added tokens, pre-tokenize,
 * run the model. */
static int encode_text(const loom_tokenizer *t, const char *s, size_t n, int at_start, scratch *w, tok_ids *out) {
    if (tok_normalize(t->norm, t->n_norm, s, n, &w->norm)) return -1;
    w->normsplits.len = 0;
    if (tok_added_split(&t->added, 1, w->norm.data, w->norm.len, 0, &w->normsplits)) return -1;
    for (size_t i = 0; i < w->normsplits.len; i++) {
        tok_split sp = w->normsplits.data[i];
        if (sp.id >= 0) {
            if (tok_ids_push(out, sp.id)) return -1;
            continue;
        }
        w->arena.len = 0;
        w->words.len = 0;
        if (tok_buf_append(&w->arena, w->norm.data + sp.off, sp.len)) return -1;
        tok_piece p = {0, sp.len, at_start && sp.off == 0};
        if (tok_pretokenize(t->pre, t->n_pre, &w->arena, p, w->md, &w->words)) return -1;
        for (size_t j = 0; j < w->words.len; j++)
            if (encode_word(t, w->arena.data + w->words.data[j].off, w->words.data[j].len, out)) return -1;
    }
    return 0;
}

loom_status loom_tokenizer_encode(const loom_tokenizer *t, const char *text, size_t len, int add_special,
                                  int32_t **ids_out, size_t *n_out, loom_error *err) {
    *ids_out = NULL;
    *n_out = 0;
    if (!text && len) return loom_fail(err, LOOM_ERR_INVALID_ARG, "encode: NULL text");
    if (!utf8_valid(text, len)) return loom_fail(err, LOOM_ERR_INVALID_ARG, "encode: input is not valid UTF-8");
    tok_ids out = {0};
    scratch w = {0};
    int rc = !(w.md = pcre2_match_data_create(1, NULL));
    if (!rc && add_special) rc = tok_ids_append(&out, t->prefix, t->n_prefix);
    if (!rc) rc = tok_added_split(&t->added, 0, text ? text : "", len, 0, &w.raw);
    for (size_t i = 0; !rc && i < w.raw.len; i++) {
        tok_split sp = w.raw.data[i];
        rc = sp.id >= 0 ? tok_ids_push(&out, sp.id) : encode_text(t, text + sp.off, sp.len, sp.off == 0, &w, &out);
    }
    if (!rc && add_special) rc = tok_ids_append(&out, t->suffix, t->n_suffix);
    if (w.md) pcre2_match_data_free(w.md);
    tok_buf_free(&w.norm);
    tok_buf_free(&w.arena);
    free(w.raw.data);
    free(w.normsplits.data);
    free(w.words.data);
    if (rc) {
        tok_ids_free(&out);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "encode: out of memory (or regex failure)");
    }
    if (!out.data && !(out.data = malloc(sizeof *out.data)))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "encode: out of memory");
    *ids_out = out.data;
    *n_out = out.len;
    return LOOM_OK;
}
