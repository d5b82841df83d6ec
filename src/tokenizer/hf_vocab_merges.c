/* vocab.json + merges.txt, as transformers converts them: Qwen2Tokenizer (by tokenizer_class in
 * tokenizer_config.json) → NFC + the Qwen2 split regex; otherwise GPT-2's ByteLevel. Added tokens
 * come from the config's added_tokens_decoder (hf_config.c); GPT-2's <|endoftext|> is special. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/file_map.h"
#include "tokenizer/tok_internal.h"

/* The largest token id named by the config's added_tokens_decoder, or -1. */
static long config_max_id(const json_t *config) {
    const char *key;
    json_t *v;
    long max = -1;
    json_object_foreach(json_object_get(config, "added_tokens_decoder"), key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        if (!*end && id > max && id < (1L << 24)) max = id;
    }
    return max;
}

static loom_status load_vocab(loom_tokenizer *t, const char *path, long min_n, loom_error *err) {
    json_error_t je;
    json_t *vocab = json_load_file(path, JSON_ALLOW_NUL, &je);
    if (!json_is_object(vocab)) {
        json_decref(vocab);
        return loom_fail(err, LOOM_ERR_FORMAT, "%s: not a JSON object (line %d: %s)", path, je.line, je.text);
    }
    const char *key;
    size_t klen;
    json_t *v;
    json_int_t max = min_n - 1;
    loom_status st = LOOM_OK;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 24)) {
            st = loom_fail(err, LOOM_ERR_FORMAT, "%s: bad id for \"%.40s\"", path, key);
            break;
        }
        if (json_integer_value(v) > max) max = json_integer_value(v);
    }
    if (!st && tok_vocab_init(&t->vocab, (int32_t)(max + 1))) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    json_object_keylen_foreach(vocab, key, klen,
                               v) if (!st && tok_vocab_set(&t->vocab, (int32_t)json_integer_value(v), key, klen, 1))
        st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    json_decref(vocab);
    return st;
}

static loom_status load_merges(loom_tokenizer *t, const char *path, loom_error *err) {
    char *data;
    size_t size;
    loom_status st = read_file(path, &data, &size, err);
    if (st) return st;
    int32_t rank = 0;
    for (size_t i = 0; i < size && !st;) {
        char *nl = memchr(data + i, '\n', size - i);
        size_t end = nl ? (size_t)(nl - data) : size, len = end - i;
        if (len && data[i + len - 1] == '\r') len--;
        if (len && !(rank == 0 && len >= 8 && !memcmp(data + i, "#version", 8))) {
            int rc = tok_bpe_add_merge_line(t, data + i, len, rank++);
            if (rc < 0) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
            else if (rc > 0)
                st = loom_fail(err, LOOM_ERR_FORMAT, "%s: merge %d uses a token missing from vocab.json", path,
                               (int)rank);
        }
        i = end + 1;
    }
    free(data);
    return st;
}

loom_status tok_load_vocab_merges(loom_tokenizer *t, const char *dir, const char *config_path, loom_error *err) {
    json_t *config = path_exists(config_path) ? json_load_file(config_path, JSON_DECODE_INT_AS_REAL, NULL) : NULL;
    const char *cls = json_string_value(json_object_get(config, "tokenizer_class"));
    int qwen = cls && !strncmp(cls, "Qwen2Tokenizer", 14);
    char *vocab = path_join(dir, "vocab.json"), *merges = path_join(dir, "merges.txt");
    loom_status st = vocab && merges ? load_vocab(t, vocab, config_max_id(config) + 1, err)
                                     : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    json_decref(config);
    t->model = TOK_MODEL_BPE;
    if (!st) st = load_merges(t, merges, err);
    if (!st) st = tok_setup_named_pre(t, qwen ? "qwen2" : "gpt-2", 5, err);
    int32_t eot = st ? -1 : tok_strmap_get(&t->vocab.model, "<|endoftext|>", 13);
    if (!qwen && eot >= 0) { /* GPT2Tokenizer's bos/eos/unk */
        tok_added a = {.id = eot, .special = 1};
        t->vocab.special[eot] = 1;
        t->bos_id = t->eos_id = eot;
        if (tok_added_add(&t->added, &a) || tok_added_build(&t->added, &t->vocab))
            st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    if (!st && tok_set_post(t, NULL, 0, NULL, 0)) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    free(vocab);
    free(merges);
    return st;
}
