/* Tokenizer tests against real tokenizers: stories260K (tokenizer.json and GGUF, SentencePiece-style
 * BPE with byte fallback), SmolLM2's GGUF (byte-level BPE, pre "smollm"), decoding of a reference
 * generation, streaming detokenization, and error handling. Missing assets are failures. */
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "core/file_map.h"
#include "tokenizer/tokenizer.h"

static void shared_path(char *out, size_t n, const char *rel) { snprintf(out, n, "%s/%s", check_shared_dir(), rel); }

static loom_tokenizer *load_hf(const char *rel) {
    char path[1024];
    shared_path(path, sizeof path, rel);
    loom_tokenizer *t = NULL;
    loom_error err = {0};
    CHECK_MSG(tokenizer_load_hf(path, &t, &err) == LOOM_OK, "cannot load tokenizer (missing shared asset?): %s",
              err.message);
    return t;
}

/* A GGUF tokenizer with its mapping (the tokenizer copies what it needs; both are released here). */
static loom_tokenizer *load_gguf(const char *path) {
    loom_file_map m;
    loom_gguf g;
    loom_error err = {0};
    loom_tokenizer *t = NULL;
    if (file_map_open(&m, path, &err)) {
        CHECK_MSG(0, "GGUF missing: %s", err.message);
        return NULL;
    }
    if (gguf_parse(m.data, m.size_bytes, &g, &err) == LOOM_OK) {
        CHECK_MSG(tokenizer_from_gguf(&g, &t, &err) == LOOM_OK, "%s: %s", path, err.message);
        gguf_free(&g);
    } else {
        CHECK_MSG(0, "%s: %s", path, err.message);
    }
    file_map_close(&m);
    return t;
}

static loom_tokenizer *load_shared_gguf(const char *rel) {
    char path[1024];
    shared_path(path, sizeof path, rel);
    return load_gguf(path);
}

static void check_encode(const loom_tokenizer *t, const char *text, int add_special, const int32_t *want,
                         size_t n_want) {
    int32_t *ids = NULL;
    size_t n = 0;
    loom_error err = {0};
    CHECK_MSG(loom_tokenizer_encode(t, text, strlen(text), add_special, &ids, &n, &err) == LOOM_OK, "%s", err.message);
    int same = n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    CHECK_MSG(same, "encode(\"%s\"): got %zu ids, first %d", text, n, n ? ids[0] : -1);
    free(ids);
}

/* Streams ids through loom_detok_*: every piece must be complete UTF-8, and the concatenation must
 * equal the whole decode. Returns the streamed text (malloc'd). */
static char *stream_decode(const loom_tokenizer *t, const int32_t *ids, size_t n, int skip_special) {
    loom_detok *d = NULL;
    loom_error err = {0};
    CHECK(detok_create(t, skip_special, &d, &err) == LOOM_OK);
    char *acc = calloc(1, 1);
    size_t len = 0;
    for (size_t i = 0; d && i <= n; i++) {
        char *p = NULL;
        size_t l = 0;
        loom_status st = i < n ? detok_push(d, ids[i], &p, &l, &err) : detok_flush(d, &p, &l, &err);
        CHECK_MSG(st == LOOM_OK, "%s", err.message);
        if (st) break;
        for (size_t k = 0; k < l;) { /* a piece never ends inside a character */
            unsigned char c = (unsigned char)p[k];
            size_t cl = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            CHECK_MSG(k + cl <= l, "streamed piece ends inside a UTF-8 character");
            k += cl;
        }
        acc = realloc(acc, len + l + 1);
        memcpy(acc + len, p, l);
        len += l;
        acc[len] = 0;
        free(p);
    }
    detok_free(d);
    char *whole = NULL;
    size_t wl = 0;
    CHECK(loom_tokenizer_decode(t, ids, n, skip_special, &whole, &wl, &err) == LOOM_OK);
    CHECK_MSG(whole && wl == len && !memcmp(whole, acc, len), "stream \"%s\" != decode \"%s\"", acc,
              whole ? whole : "");
    free(whole);
    return acc;
}

static void test_stories_encode_hf(void) {
    static const int32_t want[] = {1, 403, 407, 261, 378};
    loom_tokenizer *t = load_hf("models/stories260K/hf");
    if (!t) return;
    check_encode(t, "Once upon a time", 1, want, 5);
    check_encode(t, "Once upon a time", 0, want + 1, 4);
    CHECK(loom_tokenizer_bos_id(t) == 1 && loom_tokenizer_eos_id(t) == 2);
    CHECK(loom_tokenizer_vocab_size(t) == 512);
    CHECK(loom_tokenizer_is_special(t, 1) && !loom_tokenizer_is_special(t, 403));
    loom_tokenizer_free(t);
}

static void test_stories_encode_gguf(void) {
    static const int32_t want[] = {1, 403, 407, 261, 378};
    loom_tokenizer *t = load_shared_gguf("models/stories260K/gguf/stories260K.f32.gguf");
    if (!t) return;
    check_encode(t, "Once upon a time", 1, want, 5);
    CHECK(loom_tokenizer_bos_id(t) == 1 && loom_tokenizer_eos_id(t) == 2);
    loom_tokenizer_free(t);
}

/* The reference ids (prompt + greedy continuation) decode to run.c's stdout, which ends with "\n". */
static void check_reference_decode(const loom_tokenizer *t) {
    char path[1024];
    shared_path(path, sizeof path, "models/stories260K/reference/greedy_once_upon_a_time_ids.json");
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    CHECK_MSG(root != NULL, "reference ids missing: %s", path);
    shared_path(path, sizeof path, "models/stories260K/reference/greedy_once_upon_a_time.txt");
    char *want = NULL;
    size_t want_len = 0;
    loom_error err = {0};
    CHECK_MSG(read_file(path, &want, &want_len, &err) == LOOM_OK, "reference text missing: %s", err.message);
    if (root && want) {
        json_t *lists[2] = {json_object_get(root, "prompt_ids"), json_object_get(root, "generated_ids")};
        size_t n = json_array_size(lists[0]) + json_array_size(lists[1]), k = 0;
        int32_t *ids = malloc(n * sizeof *ids);
        for (int l = 0; l < 2; l++)
            for (size_t i = 0; i < json_array_size(lists[l]); i++)
                ids[k++] = (int32_t)json_integer_value(json_array_get(lists[l], i));
        CHECK(n == 201);
        char *text = NULL;
        size_t len = 0;
        CHECK(loom_tokenizer_decode(t, ids, n, 1, &text, &len, &err) == LOOM_OK);
        CHECK_MSG(text && want_len == len + 1 && want[len] == '\n' && !memcmp(text, want, len),
                  "decode differs from run.c output:\n%s", text ? text : "");
        free(text);
        free(stream_decode(t, ids, n, 1));
        char *with_bos = stream_decode(t, ids, n, 0);
        CHECK(!strncmp(with_bos, "<s> Once upon a time", 20));
        free(with_bos);
        free(ids);
    }
    free(want);
    json_decref(root);
}

static void test_stories_decode_reference(void) {
    loom_tokenizer *t = load_hf("models/stories260K/hf");
    if (t) check_reference_decode(t);
    loom_tokenizer_free(t);
    t = load_shared_gguf("models/stories260K/gguf/stories260K.f32.gguf");
    if (t) check_reference_decode(t);
    loom_tokenizer_free(t);
}

/* Characters outside the 512-token vocab go through <0xXX> byte tokens and come back whole. */
static void test_byte_fallback_roundtrip(void) {
    loom_tokenizer *t = load_hf("models/stories260K/hf");
    if (!t) return;
    const char *text = "caf\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x98\x80 done";
    int32_t *ids = NULL;
    size_t n = 0;
    loom_error err = {0};
    CHECK(loom_tokenizer_encode(t, text, strlen(text), 0, &ids, &n, &err) == LOOM_OK);
    char *s = stream_decode(t, ids, n, 1);
    CHECK_MSG(!strcmp(s, text), "round trip gave \"%s\"", s);
    free(s);
    free(ids);
    /* a lone continuation byte token decodes to U+FFFD; an unfinished run is flushed as U+FFFD */
    int32_t bad[] = {403, 3 + 0x80};
    s = stream_decode(t, bad, 2, 1);
    CHECK_MSG(!strcmp(s, "Once\xEF\xBF\xBD"), "got \"%s\"", s);
    free(s);
    loom_tokenizer_free(t);
}

static void test_smollm_gguf(void) {
    /* Expected ids from HF: transformers.AutoTokenizer.from_pretrained(dir,
     * gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")("The capital of France is").input_ids
     * (transformers 5.24, tokenizers 0.23.3); the GGUF sets add_bos_token = false. */
    static const int32_t want[] = {504, 3575, 282, 4649, 314};
    static const int32_t want_chat[] = {1, 4093, 198, 6004, 2};
    static const int32_t want_digits[] = {19556, 216, 33, 34, 35, 36, 37, 38, 905, 10095, 256, 1116, 1792};
    const char *home = getenv("LOOM_HOME");
    char path[1024];
    if (home) snprintf(path, sizeof path, "%s/models/SmolLM2-135M-Instruct.Q4_1.gguf", home);
    else
        snprintf(path, sizeof path, "%s/.cache/loom/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                 getenv("HOME") ? getenv("HOME") : ".");
    loom_tokenizer *t = load_gguf(path);
    if (!t) return;
    check_encode(t, "The capital of France is", 1, want, 5);
    check_encode(t, "<|im_start|>user\nhi<|im_end|>", 1, want_chat, 5);
    check_encode(t, "Hello 123456 world!!  \n\n x", 1, want_digits, 13);
    char *s = stream_decode(t, want_chat, 5, 0);
    CHECK(!strcmp(s, "<|im_start|>user\nhi<|im_end|>"));
    free(s);
    s = stream_decode(t, want_chat, 5, 1);
    CHECK(!strcmp(s, "user\nhi"));
    free(s);
    loom_tokenizer_free(t);
}

/* The other sources of tokenizer_load_hf: a SentencePiece tokenizer.model (expected ids from
 * sentencepiece.SentencePieceProcessor(model_file=...).encode; no BOS without a tokenizer_config.json,
 * as transformers 5), and vocab.json + merges.txt (expected ids from transformers.AutoTokenizer). */
static void test_other_sources(void) {
    static const int32_t llama2[] = {15043, 3186, 29871, 343};
    static const int32_t gpt2[] = {15496, 995, 17031, 2124, 220, 50256};
    static const int32_t qwen2[] = {9707, 1879, 151645};
    loom_tokenizer *t = load_hf("tokenizers/llama2");
    if (t) {
        check_encode(t, "Hello world  y", 1, llama2, 4);
        char *s = stream_decode(t, llama2, 4, 0);
        CHECK_MSG(!strcmp(s, "Hello world  y"), "got \"%s\"", s);
        free(s);
        CHECK(loom_tokenizer_bos_id(t) == 1 && loom_tokenizer_eos_id(t) == 2 && loom_tokenizer_vocab_size(t) == 32000);
    }
    loom_tokenizer_free(t);
    t = load_hf("tokenizers/gpt2");
    if (t) check_encode(t, "Hello world 123 x <|endoftext|>", 1, gpt2, 6);
    loom_tokenizer_free(t);
    t = load_hf("tokenizers/qwen2");
    if (t) check_encode(t, "Hello world<|im_end|>", 1, qwen2, 3);
    loom_tokenizer_free(t);
}

static void test_errors(void) {
    loom_tokenizer *t = load_hf("models/stories260K/hf");
    if (!t) return;
    int32_t *ids = NULL;
    size_t n = 0;
    loom_error err = {0};
    CHECK(loom_tokenizer_encode(t, "a\xC3(", 3, 1, &ids, &n, &err) == LOOM_ERR_INVALID_ARG && err.message[0]);
    CHECK(loom_tokenizer_encode(t, "\xED\xA0\x80", 3, 1, &ids, &n, &err) == LOOM_ERR_INVALID_ARG); /* surrogate */
    CHECK(loom_tokenizer_encode(t, "", 0, 1, &ids, &n, &err) == LOOM_OK && n == 1 && ids[0] == 1);
    free(ids);
    int32_t bad = 512;
    char *text = NULL;
    size_t len;
    CHECK(loom_tokenizer_decode(t, &bad, 1, 0, &text, &len, &err) == LOOM_ERR_INVALID_ARG && text == NULL);
    loom_tokenizer_free(t);
    loom_tokenizer *none = NULL;
    CHECK(tokenizer_load_hf("/nonexistent/dir", &none, &err) != LOOM_OK && strstr(err.message, "/nonexistent/dir"));
    CHECK(none == NULL);
}

/* Writes json to a temporary tokenizer.json and loads it. */
static loom_tokenizer *load_json_text(const char *json) {
    char path[] = "/tmp/loom_tok_test_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "w");
    fputs(json, f);
    fclose(f);
    loom_tokenizer *t = NULL;
    loom_error err = {0};
    CHECK_MSG(tokenizer_load_hf(path, &t, &err) == LOOM_OK, "%s", err.message);
    remove(path);
    return t;
}

/* ---- a minimal GGUF v3 (no tensors) built in memory ---- */
typedef struct gbuf {
    uint8_t data[4096];
    size_t len;
} gbuf;
static void g_put(gbuf *b, const void *p, size_t n) {
    if (b->len + n <= sizeof b->data) memcpy(b->data + b->len, p, n);
    b->len += n;
}
static void g_u32(gbuf *b, uint32_t v) { g_put(b, &v, 4); }
static void g_u64(gbuf *b, uint64_t v) { g_put(b, &v, 8); }
static void g_str(gbuf *b, const char *s) {
    g_u64(b, strlen(s));
    g_put(b, s, strlen(s));
}
static void g_kv_str(gbuf *b, const char *key, const char *val) {
    g_str(b, key);
    g_u32(b, 8);
    g_str(b, val);
}
static void g_kv_strs(gbuf *b, const char *key, const char **vals, size_t n) {
    g_str(b, key);
    g_u32(b, 9);
    g_u32(b, 8);
    g_u64(b, n);
    for (size_t i = 0; i < n; i++) g_str(b, vals[i]);
}

/* A "gpt2" vocab with tokenizer.ggml.pre = pre: the tokenizer's status, message in err. */
static loom_status gguf_with_pre(const char *pre, loom_error *err) {
    static const char *tokens[] = {"a", "b", "ab", "\xC4\xA0"}, *merges[] = {"a b"};
    gbuf b = {.len = 0};
    g_put(&b, "GGUF", 4);
    g_u32(&b, 3);
    g_u64(&b, 0);
    g_u64(&b, 4);
    g_kv_str(&b, "tokenizer.ggml.model", "gpt2");
    g_kv_str(&b, "tokenizer.ggml.pre", pre);
    g_kv_strs(&b, "tokenizer.ggml.tokens", tokens, 4);
    g_kv_strs(&b, "tokenizer.ggml.merges", merges, 1);
    loom_gguf g;
    loom_status st = gguf_parse(b.data, b.len, &g, err);
    CHECK_MSG(st == LOOM_OK, "%s", err->message);
    if (st) return st;
    loom_tokenizer *t = NULL;
    st = tokenizer_from_gguf(&g, &t, err);
    gguf_free(&g);
    if (t) {
        static const int32_t want[] = {2, 3, 2};
        check_encode(t, "ab ab", 1, want, 3);
    }
    loom_tokenizer_free(t);
    return st;
}

static void test_gguf_pre_names(void) {
    static const char *known[] = {"default", "gpt-2",        "llama-bpe",      "llama3", "qwen2",
                                  "smollm",  "deepseek-llm", "deepseek-coder", "falcon", "starcoder",
                                  "refact",  "mpt",          "gpt-neox",       "olmo",   "command-r"};
    loom_error err = {0};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        CHECK_MSG(gguf_with_pre(known[i], &err) == LOOM_OK, "%s: %s", known[i], err.message);
    CHECK(gguf_with_pre("no-such-pre", &err) == LOOM_ERR_UNSUPPORTED && strstr(err.message, "no-such-pre"));
}

/* Inputs found by fuzz/fuzz_tokenizer_json.c. */
static void test_fuzz_regressions(void) {
    /* A word with no known character (no unk token) gives no ids; caching that empty result
     * computed NULL + 0. */
    loom_tokenizer *t = load_json_text("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                                       " \"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}}");
    if (!t) return;
    static const int32_t want[] = {0};
    for (int i = 0; i < 2; i++) { /* the second round is served from the word cache */
        check_encode(t, "zz", 1, want, 0);
        check_encode(t, "zz a zz", 1, want, 1);
    }
    loom_tokenizer_free(t);
}

int main(void) {
    RUN(test_stories_encode_hf);
    RUN(test_stories_encode_gguf);
    RUN(test_stories_decode_reference);
    RUN(test_byte_fallback_roundtrip);
    RUN(test_smollm_gguf);
    RUN(test_other_sources);
    RUN(test_gguf_pre_names);
    RUN(test_errors);
    RUN(test_fuzz_regressions);
    return check_summary();
}
