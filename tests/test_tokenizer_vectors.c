/* llama.cpp's tokenizer test vectors (../shared/tokenizers/vectors): for each vocabulary with a
 * tokenizer here, every input must encode (without BOS) to the ids HF `tokenizers` gave, and decode
 * back to the input (or to what HF decodes it to, for the listed exceptions). Prints per-vocab counts. */
#include <string.h>

#include "check.h"
#include "core/file_map.h"
#include "tokenizer/tokenizer.h"

static const char SEP[] = "\n__ggml_vocab_test__\n";

/* Inputs whose HF decode is not the input. DeepSeek's vocabularies hold byte-level characters such
 * as "\xC3\xBC" (u-umlaut, standing for byte 0xFC) as added tokens; the raw text's u-umlaut matches one,
 * and the ByteLevel decoder turns it back into the lone byte 0xFC, i.e. U+FFFD. HF `tokenizers`
 * decodes the same way (checked with an equivalent Tokenizer built in Python). */
static const struct {
    const char *vocab, *input, *decoded;
} DECODE_EXCEPTIONS[] = {
    {"deepseek-coder", "F\xC3\xBChrer", "F\xEF\xBF\xBDhrer"},
    {"deepseek-llm", "F\xC3\xBChrer", "F\xEF\xBF\xBDhrer"},
};

/* What decode(encode(input)) must give. */
static const char *expected_decode(const char *vocab, const char *input, size_t len) {
    for (size_t i = 0; i < sizeof DECODE_EXCEPTIONS / sizeof *DECODE_EXCEPTIONS; i++)
        if (!strcmp(vocab, DECODE_EXCEPTIONS[i].vocab) && strlen(DECODE_EXCEPTIONS[i].input) == len &&
            !memcmp(input, DECODE_EXCEPTIONS[i].input, len))
            return DECODE_EXCEPTIONS[i].decoded;
    return NULL;
}

static loom_tokenizer *load(const char *kind, const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", check_shared_dir(), rel);
    loom_error err = {0};
    loom_tokenizer *t = NULL;
    if (!strcmp(kind, "hf")) {
        CHECK_MSG(tokenizer_load_hf(path, &t, &err) == LOOM_OK, "%s", err.message);
        return t;
    }
    loom_file_map m;
    loom_gguf g;
    if (file_map_open(&m, path, &err)) {
        CHECK_MSG(0, "shared asset missing: %s", err.message);
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

/* Parses one .out line of ids into ids[]; returns the count. */
static size_t parse_ids(const char *line, size_t len, int32_t *ids, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len && n < cap;) {
        while (i < len && line[i] == ' ') i++;
        if (i >= len) break;
        ids[n++] = (int32_t)strtol(line + i, NULL, 10);
        while (i < len && line[i] != ' ') i++;
    }
    return n;
}

static void check_vocab(const char *name, const char *kind, const char *tok_rel) {
    char inp_path[1024], out_path[1024];
    snprintf(inp_path, sizeof inp_path, "%s/tokenizers/vectors/ggml-vocab-%s.gguf.inp", check_shared_dir(), name);
    snprintf(out_path, sizeof out_path, "%s/tokenizers/vectors/ggml-vocab-%s.gguf.out", check_shared_dir(), name);
    char *inp = NULL, *out = NULL;
    size_t inp_len, out_len;
    loom_error err = {0};
    CHECK_MSG(read_file(inp_path, &inp, &inp_len, &err) == LOOM_OK, "shared asset missing: %s", err.message);
    CHECK_MSG(read_file(out_path, &out, &out_len, &err) == LOOM_OK, "shared asset missing: %s", err.message);
    loom_tokenizer *t = inp && out ? load(kind, tok_rel) : NULL;
    size_t total = 0, enc_ok = 0, dec_ok = 0;
    const char *p = inp, *line = out;
    static int32_t want[4096];
    while (t && p < inp + inp_len) {
        const char *end = strstr(p, SEP), *nl = memchr(line, '\n', (size_t)(out + out_len - line));
        if (!end || !nl) break;
        size_t len = (size_t)(end - p), n_want = parse_ids(line, (size_t)(nl - line), want, 4096), n = 0;
        int32_t *ids = NULL;
        total++;
        if (loom_tokenizer_encode(t, p, len, 0, &ids, &n, &err) == LOOM_OK) {
            int same = n == n_want && (!n || !memcmp(ids, want, n * sizeof *ids));
            enc_ok += same;
            CHECK_MSG(same, "%s: input %zu \"%.*s\": got %zu ids, want %zu", name, total, (int)len, p, n, n_want);
            char *text = NULL;
            size_t tl = 0;
            if (loom_tokenizer_decode(t, ids, n, 0, &text, &tl, &err) == LOOM_OK) {
                const char *want_text = expected_decode(name, p, len);
                int rt = want_text ? !strcmp(text, want_text) : tl == len && !memcmp(text, p, len);
                dec_ok += rt;
                CHECK_MSG(rt, "%s: input %zu \"%.*s\" decodes to \"%s\"", name, total, (int)len, p, text);
            }
            free(text);
        } else {
            CHECK_MSG(0, "%s: input %zu: %s", name, total, err.message);
        }
        free(ids);
        p = end + sizeof SEP - 1;
        line = nl + 1;
    }
    printf("vocab %-15s %zu/%zu encode exact, %zu/%zu decode(encode(x)) == x\n", name, enc_ok, total, dec_ok, total);
    CHECK_MSG(total > 0, "%s: no test inputs read", name);
    loom_tokenizer_free(t);
    free(inp);
    free(out);
}

#define VOCAB(fn, name, kind, rel)                                                                                     \
    static void fn(void) { check_vocab(name, kind, rel); }
/* Vocab GGUFs without vectors: they load, and the llama-bpe test strings round-trip. */
static void check_round_trip(const char *name) {
    char inp_path[1024], tok_rel[256];
    snprintf(inp_path, sizeof inp_path, "%s/tokenizers/vectors/ggml-vocab-llama-bpe.gguf.inp", check_shared_dir());
    snprintf(tok_rel, sizeof tok_rel, "tokenizers/vectors/ggml-vocab-%s.gguf", name);
    char *inp = NULL;
    size_t inp_len, total = 0, ok = 0;
    loom_error err = {0};
    CHECK_MSG(read_file(inp_path, &inp, &inp_len, &err) == LOOM_OK, "shared asset missing: %s", err.message);
    loom_tokenizer *t = inp ? load("gguf", tok_rel) : NULL;
    for (const char *p = inp, *end; t && (end = strstr(p, SEP)); p = end + sizeof SEP - 1) {
        size_t len = (size_t)(end - p), n = 0, tl = 0;
        int32_t *ids = NULL;
        char *text = NULL;
        total++;
        int rt = loom_tokenizer_encode(t, p, len, 0, &ids, &n, &err) == LOOM_OK &&
            loom_tokenizer_decode(t, ids, n, 0, &text, &tl, &err) == LOOM_OK && tl == len && !memcmp(text, p, len);
        ok += rt;
        CHECK_MSG(rt, "%s: input %zu \"%.*s\" does not round-trip (%s)", name, total, (int)len, p,
                  text ? text : err.message);
        free(ids);
        free(text);
    }
    printf("vocab %-15s loads; %zu/%zu decode(encode(x)) == x\n", name, ok, total);
    CHECK_MSG(total > 0, "%s: no test inputs read", name);
    loom_tokenizer_free(t);
    free(inp);
}

static void test_gpt_neox_round_trip(void) { check_round_trip("gpt-neox"); }
static void test_baichuan_round_trip(void) { check_round_trip("baichuan"); }

VOCAB(test_llama_spm, "llama-spm", "gguf", "tokenizers/vectors/ggml-vocab-llama-spm.gguf")
VOCAB(test_phi3, "phi-3", "gguf", "tokenizers/vectors/ggml-vocab-phi-3.gguf")
VOCAB(test_gpt2, "gpt-2", "gguf", "tokenizers/vectors/ggml-vocab-gpt-2.gguf")
VOCAB(test_falcon, "falcon", "gguf", "tokenizers/vectors/ggml-vocab-falcon.gguf")
VOCAB(test_starcoder, "starcoder", "gguf", "tokenizers/vectors/ggml-vocab-starcoder.gguf")
VOCAB(test_deepseek_coder, "deepseek-coder", "gguf", "tokenizers/vectors/ggml-vocab-deepseek-coder.gguf")
VOCAB(test_deepseek_llm, "deepseek-llm", "gguf", "tokenizers/vectors/ggml-vocab-deepseek-llm.gguf")
VOCAB(test_mpt, "mpt", "gguf", "tokenizers/vectors/ggml-vocab-mpt.gguf")
VOCAB(test_refact, "refact", "gguf", "tokenizers/vectors/ggml-vocab-refact.gguf")
VOCAB(test_llama_bpe, "llama-bpe", "hf", "tokenizers/llama3/tokenizer.json")
VOCAB(test_qwen2, "qwen2", "hf", "tokenizers/qwen3/tokenizer.json")

int main(void) {
    RUN(test_llama_spm);
    RUN(test_phi3);
    RUN(test_gpt2);
    RUN(test_falcon);
    RUN(test_starcoder);
    RUN(test_deepseek_coder);
    RUN(test_deepseek_llm);
    RUN(test_mpt);
    RUN(test_refact);
    RUN(test_llama_bpe);
    RUN(test_qwen2);
    RUN(test_gpt_neox_round_trip);
    RUN(test_baichuan_round_trip);
    return check_summary();
}
