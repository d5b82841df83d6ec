/* Grammar vocabularies from real tokenizers (byte-level BPE: Qwen3, Llama-3; SentencePiece with byte
 * fallback: Mistral's tokenizer.json, Llama-2's tokenizer.model): token bytes against the decoder,
 * special tokens never allowed, and masks against brute force over the whole vocabulary at states
 * along a JSON document (every token tried from each state). */
#include "grammar_util.h"
#include "tokenizer/tokenizer.h"

static loom_tokenizer *load(const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", check_shared_dir(), rel);
    loom_tokenizer *t = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_tokenizer_load(path, &t, &err) == LOOM_OK, "cannot load %s: %s", path, err.message);
    return t;
}

static const char *const tokenizers[] = {"tokenizers/qwen3/tokenizer.json", "tokenizers/llama3/tokenizer.json",
                                         "tokenizers/mistral/tokenizer.json", "tokenizers/llama2"};
static const char *const text = "{\"name\": \"Zo\xC3\xAB \xE2\x9C\x93\", \"n\": [1, -2.5e3]}\n\tend \xF0\x9F\x98\x80!";

/* Mid-sequence token bytes: after a first token, decode(first + ids) == decode(first) + bytes of ids. */
static void test_token_bytes_match_decoder(void) {
    for (size_t k = 0; k < sizeof tokenizers / sizeof *tokenizers; k++) {
        loom_tokenizer *t = load(tokenizers[k]);
        if (!t) continue;
        loom_error err;
        char *bytes;
        uint32_t *off, *len;
        uint8_t *special;
        CHECK(tokenizer_token_bytes(t, &bytes, &off, &len, &special, &err) == LOOM_OK);
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(loom_tokenizer_encode(t, text, strlen(text), 0, &ids, &n, &err) == LOOM_OK);
        int32_t *with_first = malloc((n + 1) * sizeof *with_first);
        with_first[0] = ids[0];
        memcpy(with_first + 1, ids, n * sizeof *ids);
        char *whole = NULL, *first = NULL;
        size_t whole_len = 0, first_len = 0;
        CHECK(loom_tokenizer_decode(t, with_first, n + 1, 0, &whole, &whole_len, &err) == LOOM_OK);
        CHECK(loom_tokenizer_decode(t, with_first, 1, 0, &first, &first_len, &err) == LOOM_OK);
        size_t cat = 0;
        for (size_t i = 0; i < n; i++) cat += len[ids[i]];
        int same = whole_len == first_len + cat && !memcmp(whole, first, first_len);
        for (size_t i = 0, at = first_len; i < n && same; at += len[ids[i]], i++)
            same = !memcmp(whole + at, bytes + off[ids[i]], len[ids[i]]);
        CHECK_MSG(same, "%s: token bytes differ from the decoder", tokenizers[k]);
        int32_t eos = loom_tokenizer_eos_id(t);
        CHECK_MSG(eos < 0 || special[eos], "%s: EOS not special", tokenizers[k]);
        free(ids);
        free(with_first);
        free(whole);
        free(first);
        free(bytes);
        free(off);
        free(len);
        free(special);
        loom_tokenizer_free(t);
    }
}

/* Along a document, at a selection of byte positions, the mask equals brute force over every id. */
static void test_masks_real_vocabularies(void) {
    const char *schema =
        "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}, \"n\": {\"type\": \"array\", "
        "\"items\": {\"type\": \"number\"}, \"maxItems\": 4}}, \"required\": [\"name\", \"n\"]}";
    const char *doc = "{\"name\": \"Zo\xC3\xAB \xE2\x9C\x93\", \"n\": [1, -2.5e3]}";
    for (size_t k = 0; k < sizeof tokenizers / sizeof *tokenizers; k++) {
        loom_tokenizer *t = load(tokenizers[k]);
        if (!t) continue;
        int32_t eos = loom_tokenizer_eos_id(t);
        int32_t n_ids = loom_tokenizer_vocab_size(t) + 7; /* padded logits: the tail is never allowed */
        gram_vocab *v = NULL;
        loom_error err;
        CHECK(gram_vocab_from_tokenizer(t, n_ids, &eos, eos >= 0, &v, &err) == LOOM_OK);
        gram_matcher *m = v ? util_matcher(GRAM_JSON_SCHEMA, schema, v) : NULL;
        CHECK(m != NULL);
        size_t positions[] = {0, 1, 3, 9, 12, 14, 16, 20, 27, 31, 35, strlen(doc)}, at = 0;
        for (size_t p = 0; m && p < sizeof positions / sizeof *positions; p++) {
            CHECK(gram_matcher_accept_bytes(m, doc + at, positions[p] - at, &err) == 1 || positions[p] == at);
            at = positions[p];
            int32_t allowed = util_check_mask(m, v);
            CHECK_MSG(allowed > 0, "%s: nothing allowed at %zu", tokenizers[k], at);
            const uint64_t *mask = gram_matcher_mask(m, &err);
            for (int32_t id = loom_tokenizer_vocab_size(t); id < n_ids; id++)
                CHECK(!((mask[id >> 6] >> (id & 63)) & 1));
            for (int32_t id = 0; id < loom_tokenizer_vocab_size(t); id++)
                if (loom_tokenizer_is_special(t, id) && id != eos) CHECK(!((mask[id >> 6] >> (id & 63)) & 1));
            if (eos >= 0) CHECK(((mask[eos >> 6] >> (eos & 63)) & 1) == (at == strlen(doc)));
        }
        gram_matcher_free(m);
        gram_vocab_free(v);
        loom_tokenizer_free(t);
    }
}

int main(void) {
    RUN(test_token_bytes_match_decoder);
    RUN(test_masks_real_vocabularies);
    return check_summary();
}
