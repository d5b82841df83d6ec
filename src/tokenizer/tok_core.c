/* The tokenizer object every loader fills: creation and freeing, the accessors of loom.h, the
 * post-processor's special tokens, typed (special) tokens and the SentencePiece pipeline. Below the
 * loaders (hf_*.c, spm_model.c, gguf_vocab.c), which tokenizer.c dispatches to. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

loom_tokenizer *tok_new(void) {
    loom_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->unk_id = t->bos_id = t->eos_id = -1;
    pthread_mutex_init(&t->cache_lock, NULL);
    return t;
}

void loom_tokenizer_free(loom_tokenizer *t) {
    if (!t) return;
    tok_vocab_free(&t->vocab);
    tok_pairmap_free(&t->merges);
    for (size_t i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    free(t->norm);
    for (size_t i = 0; i < t->n_pre; i++) tok_pre_step_free(&t->pre[i]);
    free(t->pre);
    tok_added_free(&t->added);
    tok_decoder_free(&t->dec);
    free(t->prefix);
    free(t->suffix);
    tok_strmap_free(&t->cache);
    tok_ids_free(&t->cache_ids);
    pthread_mutex_destroy(&t->cache_lock);
    free(t);
}

int32_t loom_tokenizer_vocab_size(const loom_tokenizer *t) { return t->vocab.n; }
int32_t loom_tokenizer_bos_id(const loom_tokenizer *t) { return t->bos_id; }
int32_t loom_tokenizer_eos_id(const loom_tokenizer *t) { return t->eos_id; }
int loom_tokenizer_is_special(const loom_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->vocab.n && t->vocab.special[id];
}

int32_t tok_lookup_token(const loom_tokenizer *t, const char *s, size_t n) {
    for (size_t i = 0; i < t->added.n; i++) {
        size_t len;
        const char *txt = tok_vocab_text(&t->vocab, t->added.items[i].id, &len);
        if (len == n && memcmp(txt, s, n) == 0) return t->added.items[i].id;
    }
    return tok_strmap_get(&t->vocab.model, s, n);
}

static int32_t *dup_ids(const int32_t *ids, size_t n) {
    int32_t *p = malloc((n ? n : 1) * sizeof *p);
    if (p && n) memcpy(p, ids, n * sizeof *p);
    return p;
}

int tok_set_post(loom_tokenizer *t, const int32_t *prefix, size_t n_prefix, const int32_t *suffix, size_t n_suffix) {
    int32_t *p = dup_ids(prefix, n_prefix), *s = dup_ids(suffix, n_suffix);
    if (!p || !s) {
        free(p);
        free(s);
        return -1;
    }
    free(t->prefix);
    free(t->suffix);
    t->prefix = p;
    t->suffix = s;
    t->n_prefix = n_prefix;
    t->n_suffix = n_suffix;
    return 0;
}

int tok_setup_spm_pipeline(loom_tokenizer *t, int add_space_prefix) {
    t->norm = calloc(2, sizeof *t->norm);
    t->dec.replaces = calloc(1, sizeof *t->dec.replaces);
    if (!t->norm || !t->dec.replaces) return -1;
    if (add_space_prefix)
        t->norm[t->n_norm++] = (tok_norm_step){.kind = TOK_NORM_PREPEND, .a = strdup("\xE2\x96\x81"), .a_len = 3};
    t->norm[t->n_norm++] = (tok_norm_step){
        .kind = TOK_NORM_REPLACE, .a = strdup(" "), .a_len = 1, .b = strdup("\xE2\x96\x81"), .b_len = 3};
    t->dec.replaces[0] = (tok_replace){strdup("\xE2\x96\x81"), strdup(" "), 3, 1};
    t->dec.n_replaces = 1;
    t->dec.byte_fallback = 1;
    t->dec.strip_start = add_space_prefix;
    t->model = TOK_MODEL_SPM;
    t->byte_fallback = 1;
    for (size_t i = 0; i < t->n_norm; i++)
        if (!t->norm[i].a || (t->norm[i].kind == TOK_NORM_REPLACE && !t->norm[i].b)) return -1;
    return t->dec.replaces[0].from && t->dec.replaces[0].to ? 0 : -1;
}

int tok_register_typed_tokens(loom_tokenizer *t, const uint8_t *types) {
    for (int32_t id = 0; id < t->vocab.n; id++) {
        int ty = types[id];
        if (ty != TOK_TYPE_CONTROL && ty != TOK_TYPE_USER && ty != TOK_TYPE_UNKNOWN) continue;
        t->vocab.special[id] = ty != TOK_TYPE_USER;
        tok_added a = {.id = id, .special = ty != TOK_TYPE_USER};
        if (tok_added_add(&t->added, &a)) return -1;
    }
    return tok_added_build(&t->added, &t->vocab);
}
