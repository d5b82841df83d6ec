/* tokenizer_config.json beside a tokenizer: bos/eos token strings, added_tokens_decoder, and
 * add_bos_token / add_eos_token, which rebuild the post-processor as [bos] sequence [eos]. As in
 * transformers 5, those two flags only count when there is no tokenizer.json (whose post_processor
 * rules otherwise). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

/* A special token given as "text" or {"content": "text"}: its id, or -1. */
static int32_t token_id(const loom_tokenizer *t, const json_t *v) {
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    return tok_lookup_token(t, json_string_value(v), json_string_length(v));
}

static int flag(const json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return json_is_true(v);
}

/* Tokens from added_tokens_decoder that the tokenizer does not have yet. */
static loom_status add_decoder_tokens(loom_tokenizer *t, const json_t *atd, loom_error *err) {
    const char *key;
    json_t *v;
    int changed = 0;
    json_object_foreach((json_t *)atd, key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        json_t *content = json_object_get(v, "content");
        if (*end || id < 0 || id >= t->vocab.n || !json_is_string(content)) continue;
        int known = 0;
        for (size_t i = 0; i < t->added.n && !known; i++) known = t->added.items[i].id == id;
        if (known) continue;
        tok_added a = {.id = (int32_t)id,
                       .lstrip = (uint8_t)flag(v, "lstrip"),
                       .rstrip = (uint8_t)flag(v, "rstrip"),
                       .single_word = (uint8_t)flag(v, "single_word"),
                       .normalized = (uint8_t)flag(v, "normalized"),
                       .special = (uint8_t)flag(v, "special")};
        t->vocab.special[a.id] = a.special;
        if (tok_vocab_set(&t->vocab, a.id, json_string_value(content), json_string_length(content), 0) ||
            tok_added_add(&t->added, &a))
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        changed = 1;
    }
    return changed && tok_added_build(&t->added, &t->vocab) ? loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory")
                                                            : LOOM_OK;
}

loom_status tok_apply_hf_config(loom_tokenizer *t, const char *config_path, int add_flags, loom_error *err) {
    json_error_t je;
    json_t *root = json_load_file(config_path, JSON_DECODE_INT_AS_REAL, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return loom_fail(err, LOOM_ERR_FORMAT, "%s: invalid JSON at line %d: %s", config_path, je.line, je.text);
    }
    json_t *atd = json_object_get(root, "added_tokens_decoder");
    loom_status st = json_is_object(atd) ? add_decoder_tokens(t, atd, err) : LOOM_OK;
    int32_t bos = token_id(t, json_object_get(root, "bos_token")),
            eos = token_id(t, json_object_get(root, "eos_token"));
    if (bos >= 0) t->bos_id = bos;
    if (eos >= 0) t->eos_id = eos;
    json_t *ab = json_object_get(root, "add_bos_token"), *ae = json_object_get(root, "add_eos_token");
    if (!st && add_flags && (json_is_boolean(ab) || json_is_boolean(ae))) {
        int add_bos = json_is_boolean(ab) ? json_is_true(ab) : t->n_prefix && t->prefix[0] == t->bos_id;
        int add_eos = json_is_boolean(ae) ? json_is_true(ae) : t->n_suffix && t->suffix[t->n_suffix - 1] == t->eos_id;
        add_bos = add_bos && t->bos_id >= 0;
        add_eos = add_eos && t->eos_id >= 0;
        if (tok_set_post(t, &t->bos_id, (size_t)add_bos, &t->eos_id, (size_t)add_eos))
            st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    json_decref(root);
    if (st) error_prefix(err, config_path);
    return st;
}
