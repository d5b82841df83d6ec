/* GGUF-embedded vocabularies (tokenizer.ggml.*): "llama" = SentencePiece (tokens, scores, token
 * types; byte fallback; add_space_prefix) and "gpt2" = byte-level BPE with merges, whose
 * pre-tokenizer follows tokenizer.ggml.pre. Each pre name maps to the pipeline of the Hugging Face
 * tokenizer.json it was converted from, so encoding matches HF. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static int get_flag(const loom_gguf *g, const char *key, int def) {
    int v;
    return gguf_get_bool(g, key, &v) ? v : def;
}

static int32_t get_id(const loom_gguf *g, const char *key, int32_t n) {
    int64_t v;
    return gguf_get_int(g, key, &v) && v >= 0 && v < n ? (int32_t)v : -1;
}

static const loom_gguf_kv *get_array(const loom_gguf *g, const char *key, uint64_t n, int strings) {
    const loom_gguf_kv *kv = gguf_find(g, key);
    if (!kv || kv->type != LOOM_GGUF_ARRAY || (n && kv->n_elems != n)) return NULL;
    return (kv->elem_type == LOOM_GGUF_STRING) == strings ? kv : NULL;
}

static loom_status load_tokens(loom_tokenizer *t, const loom_gguf *g, int spm, uint8_t **types_out, loom_error *err) {
    const loom_gguf_kv *tokens = get_array(g, "tokenizer.ggml.tokens", 0, 1);
    if (!tokens || !tokens->n_elems || tokens->n_elems > (1u << 24))
        return loom_fail(err, LOOM_ERR_FORMAT, "tokenizer.ggml.tokens missing or not a string array");
    int32_t n = (int32_t)tokens->n_elems;
    const loom_gguf_kv *types = get_array(g, "tokenizer.ggml.token_type", (uint64_t)n, 0);
    const loom_gguf_kv *scores = get_array(g, "tokenizer.ggml.scores", (uint64_t)n, 0);
    if (spm && !scores) return loom_fail(err, LOOM_ERR_FORMAT, "tokenizer.ggml.scores missing or of the wrong length");
    uint8_t *ty = malloc((size_t)n);
    if (!ty || tok_vocab_init(&t->vocab, n) || (spm && !(t->vocab.score = malloc((size_t)n * sizeof(float))))) {
        free(ty);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    for (int32_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        int64_t tv = TOK_TYPE_NORMAL;
        double sc = 0;
        if (!gguf_arr_string(tokens, (uint64_t)i, &s, &len) || (types && !gguf_arr_int(types, (uint64_t)i, &tv)) ||
            (spm && !gguf_arr_float(scores, (uint64_t)i, &sc))) {
            free(ty);
            return loom_fail(err, LOOM_ERR_FORMAT, "tokenizer.ggml.*[%d] unreadable", (int)i);
        }
        ty[i] = tv >= TOK_TYPE_NORMAL && tv <= TOK_TYPE_BYTE ? (uint8_t)tv : TOK_TYPE_NORMAL;
        if (spm) t->vocab.score[i] = (float)sc;
        if (tok_vocab_set(&t->vocab, i, s, len, 1)) {
            free(ty);
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        }
    }
    tok_vocab_index_bytes(&t->vocab);
    *types_out = ty;
    return LOOM_OK;
}

static loom_status load_merges(loom_tokenizer *t, const loom_gguf *g, loom_error *err) {
    const loom_gguf_kv *merges = get_array(g, "tokenizer.ggml.merges", 0, 1);
    if (!merges) return loom_fail(err, LOOM_ERR_FORMAT, "tokenizer.ggml.merges missing");
    for (uint64_t i = 0; i < merges->n_elems && i < INT32_MAX; i++) {
        const char *s;
        size_t len;
        if (!gguf_arr_string(merges, i, &s, &len))
            return loom_fail(err, LOOM_ERR_FORMAT, "tokenizer.ggml.merges[%llu] unreadable", (unsigned long long)i);
        int rc = tok_bpe_add_merge_line(t, s, len, (int32_t)i);
        if (rc < 0) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        /* merges naming tokens outside the vocab can never apply: skipped, as llama.cpp does */
    }
    return LOOM_OK;
}

static loom_status load(loom_tokenizer *t, const loom_gguf *g, loom_error *err) {
    const char *model, *pre = "default";
    size_t mlen, plen = 7;
    if (!gguf_get_string(g, "tokenizer.ggml.model", &model, &mlen))
        return loom_fail(err, LOOM_ERR_FORMAT, "no tokenizer.ggml.model");
    int spm = mlen == 5 && !memcmp(model, "llama", 5);
    if (!spm && !(mlen == 4 && !memcmp(model, "gpt2", 4)))
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "tokenizer.ggml.model \"%.*s\"", (int)(mlen > 40 ? 40 : mlen),
                         model);
    uint8_t *types = NULL;
    loom_status st = load_tokens(t, g, spm, &types, err);
    if (st) return st;
    int32_t n = t->vocab.n;
    t->bos_id = get_id(g, "tokenizer.ggml.bos_token_id", n);
    t->eos_id = get_id(g, "tokenizer.ggml.eos_token_id", n);
    if (spm) {
        t->unk_id = get_id(g, "tokenizer.ggml.unknown_token_id", n);
        t->fuse_unk = 1;
        if (tok_setup_spm_pipeline(t, get_flag(g, "tokenizer.ggml.add_space_prefix", 1)))
            st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    } else {
        t->model = TOK_MODEL_BPE;
        gguf_get_string(g, "tokenizer.ggml.pre", &pre, &plen);
        st = tok_setup_named_pre(t, pre, plen, err);
        if (!st) st = load_merges(t, g, err);
    }
    if (!st && tok_register_typed_tokens(t, types)) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    free(types);
    if (st) return st;
    int add_bos = get_flag(g, "tokenizer.ggml.add_bos_token", spm) && t->bos_id >= 0;
    int add_eos = get_flag(g, "tokenizer.ggml.add_eos_token", 0) && t->eos_id >= 0;
    return tok_set_post(t, &t->bos_id, (size_t)add_bos, &t->eos_id, (size_t)add_eos)
        ? loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory")
        : LOOM_OK;
}

loom_status tokenizer_from_gguf(const loom_gguf *g, loom_tokenizer **out, loom_error *err) {
    *out = NULL;
    loom_tokenizer *t = tok_new();
    if (!t) return loom_fail(err, LOOM_ERR_NO_MEMORY, "tokenizer: out of memory");
    loom_status st = load(t, g, err);
    if (st) {
        loom_tokenizer_free(t);
        return st;
    }
    *out = t;
    return LOOM_OK;
}
