/* Tests of the safetensors and GGUF parsers: the shared real files, then malformed inputs built in
 * memory (each must fail with the right status and a non-empty message, without leaking). */
#include <string.h>

#include "check.h"
#include "core/file_map.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

/* ---- shared files ------------------------------------------------------------------------------ */

/* Maps $LOOM_SHARED/rel; a missing asset is a test failure, never a skip. */
static int map_shared(const char *rel, loom_file_map *m) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", check_shared_dir(), rel);
    loom_error err = {0};
    loom_status st = file_map_open(m, path, &err);
    CHECK_MSG(st == LOOM_OK, "shared asset missing: %s (set LOOM_SHARED or provide ../shared)", err.message);
    return st == LOOM_OK;
}

static int str_eq(const char *s, size_t len, const char *want) {
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

static float f32_at(const loom_tensor_entry *e, size_t i) {
    float f;
    memcpy(&f, e->data + 4 * i, 4);
    return f;
}

static void check_shape2(const loom_tensor_entry *e, loom_dtype dtype, int64_t rows, int64_t cols) {
    CHECK_MSG(e != NULL, "tensor missing");
    if (!e) return;
    CHECK(e->dtype == dtype);
    CHECK(e->n_dims == 2);
    CHECK(e->shape[0] == rows);
    CHECK(e->shape[1] == cols);
    CHECK(e->size_bytes == dtype_bytes(dtype, rows * cols));
}

static void test_safetensors_stories(void) {
    loom_file_map m;
    if (!map_shared("models/stories260K/hf/model.safetensors", &m)) return;
    loom_tensor_table t;
    loom_error err = {0};
    CHECK_MSG(safetensors_parse(m.data, m.size_bytes, &t, &err) == LOOM_OK, "%s", err.message);
    CHECK(t.count == 47); /* 5 layers x 9 + embeddings + final norm; __metadata__ skipped */
    const loom_tensor_entry *emb = tensor_table_find(&t, "model.embed_tokens.weight");
    check_shape2(emb, LOOM_DTYPE_F32, 512, 64);
    check_shape2(tensor_table_find(&t, "model.layers.0.self_attn.k_proj.weight"), LOOM_DTYPE_F32, 32, 64);
    check_shape2(tensor_table_find(&t, "model.layers.4.mlp.down_proj.weight"), LOOM_DTYPE_F32, 64, 172);
    const loom_tensor_entry *norm = tensor_table_find(&t, "model.norm.weight");
    CHECK(norm && norm->n_dims == 1 && norm->shape[0] == 64);
    CHECK(tensor_table_find(&t, "__metadata__") == NULL);
    if (emb && norm) {
        /* Expected values from numpy: np.frombuffer(buf[8+4904:], '<f4') at those element indices. */
        CHECK(emb->data == m.data + 8 + 4904);
        CHECK(f32_at(emb, 0) == -0.29474878f);
        CHECK(f32_at(emb, 1) == 0.5618956f);
        CHECK(f32_at(emb, 3 * 64 + 5) == 0.23134264f);
        CHECK(f32_at(emb, 511 * 64 + 63) == -0.4240326f);
        CHECK(f32_at(norm, 0) == 2.458309f);
    }
    tensor_table_free(&t);
    file_map_close(&m);
}

static void test_gguf_stories(void) {
    loom_file_map m;
    if (!map_shared("models/stories260K/gguf/stories260K.f32.gguf", &m)) return;
    loom_gguf g;
    loom_error err = {0};
    CHECK_MSG(gguf_parse(m.data, m.size_bytes, &g, &err) == LOOM_OK, "%s", err.message);
    CHECK(g.version == 3);
    CHECK(g.n_kvs == 21);
    CHECK(g.alignment == 32);
    CHECK(g.data_offset == 14176); /* 14160 bytes of header and infos, padded to 32 */
    const char *s;
    size_t len;
    CHECK(gguf_get_string(&g, "general.architecture", &s, &len) && str_eq(s, len, "llama"));
    int64_t v = 0;
    CHECK(gguf_get_int(&g, "llama.embedding_length", &v) && v == 64);
    CHECK(gguf_get_int(&g, "llama.attention.head_count_kv", &v) && v == 4);
    double eps = 0;
    CHECK(gguf_get_float(&g, "llama.attention.layer_norm_rms_epsilon", &eps) && fabs(eps - 1e-5) < 1e-9);
    int b = 0;
    CHECK(gguf_get_bool(&g, "tokenizer.ggml.add_bos_token", &b) && b == 1);
    CHECK(gguf_get_bool(&g, "tokenizer.ggml.add_eos_token", &b) && b == 0);
    CHECK(!gguf_get_string(&g, "llama.embedding_length", &s, &len)); /* wrong type */
    CHECK(!gguf_get_int(&g, "no.such.key", &v));
    const loom_gguf_kv *tokens = gguf_find(&g, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->type == LOOM_GGUF_ARRAY && tokens->elem_type == LOOM_GGUF_STRING && tokens->n_elems == 512);
    CHECK(gguf_arr_string(tokens, 1, &s, &len) && str_eq(s, len, "<s>"));
    CHECK(!gguf_arr_string(tokens, 512, &s, &len));
    CHECK(!gguf_arr_int(tokens, 0, &v));
    CHECK(gguf_arr_int(gguf_find(&g, "tokenizer.ggml.token_type"), 0, &v) && v == 2);
    CHECK(gguf_arr_float(gguf_find(&g, "tokenizer.ggml.scores"), 0, &eps) && eps == 0.0);

    CHECK(g.tensors.count == 47);
    const loom_tensor_entry *emb = tensor_table_find(&g.tensors, "token_embd.weight");
    check_shape2(emb, LOOM_DTYPE_F32, 512, 64); /* ne = [64, 512] reversed */
    check_shape2(tensor_table_find(&g.tensors, "blk.0.attn_k.weight"), LOOM_DTYPE_F32, 32, 64);

    /* The same embedding as model.safetensors, byte for byte (same weights, same row-major layout). */
    loom_file_map st_map;
    if (emb && map_shared("models/stories260K/hf/model.safetensors", &st_map)) {
        CHECK(emb->data == m.data + 14176);
        CHECK(memcmp(emb->data, st_map.data + 8 + 4904, 131072) == 0);
        file_map_close(&st_map);
    }
    gguf_free(&g);
    CHECK(g.kvs == NULL && g.n_kvs == 0 && g.tensors.count == 0);
    file_map_close(&m);
}

static void test_gguf_tiny_random_f16(void) {
    loom_file_map m;
    if (!map_shared("models/llama-2-tiny-random/llama-2-tiny-random.gguf", &m)) return;
    loom_gguf g;
    loom_error err = {0};
    CHECK_MSG(gguf_parse(m.data, m.size_bytes, &g, &err) == LOOM_OK, "%s", err.message);
    CHECK(g.tensors.count == 12);
    check_shape2(tensor_table_find(&g.tensors, "token_embd.weight"), LOOM_DTYPE_F16, 32000, 8);
    check_shape2(tensor_table_find(&g.tensors, "blk.0.ffn_gate.weight"), LOOM_DTYPE_F16, 32, 8);
    const loom_gguf_kv *tokens = gguf_find(&g, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->n_elems == 32000);
    const char *s;
    size_t len;
    CHECK(gguf_arr_string(tokens, 2, &s, &len) && str_eq(s, len, "</s>"));
    gguf_free(&g);
    file_map_close(&m);
}

/* Every vocab-only GGUF parses: zero tensors, big string arrays, no trailing padding. */
static void test_gguf_vocab_files(void) {
    static const char *names[] = {"baichuan", "bert-bge", "deepseek-coder", "deepseek-llm",
                                  "falcon",   "gpt-2",    "gpt-neox",       "llama-spm",
                                  "mpt",      "phi-3",    "refact",         "starcoder"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tokenizers/vectors/ggml-vocab-%s.gguf", names[i]);
        loom_file_map m;
        if (!map_shared(rel, &m)) continue;
        loom_gguf g;
        loom_error err = {0};
        CHECK_MSG(gguf_parse(m.data, m.size_bytes, &g, &err) == LOOM_OK, "%s: %s", rel, err.message);
        CHECK(g.tensors.count == 0);
        CHECK(g.data_offset == m.size_bytes);
        const loom_gguf_kv *tokens = gguf_find(&g, "tokenizer.ggml.tokens");
        CHECK_MSG(tokens && tokens->n_elems > 1000, "%s: no token array", rel);
        if (strcmp(names[i], "llama-spm") == 0 && tokens) {
            /* Values from a Python struct walk of the file. */
            const char *s;
            size_t len;
            CHECK(tokens->n_elems == 32000);
            CHECK(gguf_arr_string(tokens, 29871, &s, &len) && str_eq(s, len, "\xe2\x96\x81"));
            CHECK(gguf_arr_string(tokens, 31999, &s, &len) && str_eq(s, len, "\xe7\xbb\x99"));
        }
        gguf_free(&g);
        file_map_close(&m);
    }
}

/* ---- in-memory builders --------------------------------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_le(bytes *b, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t byte = (uint8_t)(v >> (8 * i));
        put(b, &byte, 1);
    }
}

static void put_u32(bytes *b, uint32_t v) { put_le(b, v, 4); }
static void put_u64(bytes *b, uint64_t v) { put_le(b, v, 8); }

static void put_str(bytes *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void pad_to(bytes *b, size_t align) {
    while (b->n % align) put_le(b, 0, 1);
}

/* ---- safetensors: valid and malformed ----------------------------------------------------------- */

/* u64 header length + header JSON + data_len zero bytes. */
static bytes make_st(const char *json, size_t data_len) {
    bytes b = {0};
    put_u64(&b, strlen(json));
    put(&b, json, strlen(json));
    for (size_t i = 0; i < data_len; i++) put_le(&b, 0, 1);
    return b;
}

static loom_status parse_st(const bytes *b, loom_error *err) {
    loom_tensor_table t;
    loom_status st = safetensors_parse(b->p, b->n, &t, err);
    if (st != LOOM_OK) CHECK(t.count == 0 && t.entries == NULL);
    tensor_table_free(&t);
    return st;
}

/* Parses json + data_len bytes and expects `want` with a message containing `needle`. */
static void expect_st(const char *json, size_t data_len, loom_status want, const char *needle) {
    bytes b = make_st(json, data_len);
    loom_error err = {0};
    loom_status st = parse_st(&b, &err);
    CHECK_MSG(st == want, "%s -> status %d (%s), want %d", json, st, err.message, want);
    CHECK_MSG(err.message[0] && strstr(err.message, needle), "%s -> message '%s' lacks '%s'", json, err.message,
              needle);
    CHECK_MSG(!strchr(err.message, '\n'), "multi-line message '%s'", err.message);
    free(b.p);
}

static void test_safetensors_valid_small(void) {
    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[12,20]},"
                       "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[20,20]},"
                       "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[20,24]}}";
    bytes b = make_st(json, 24);
    loom_tensor_table t;
    loom_error err = {0};
    CHECK_MSG(safetensors_parse(b.p, b.n, &t, &err) == LOOM_OK, "%s", err.message);
    CHECK(t.count == 4);
    const loom_tensor_entry *a = tensor_table_find(&t, "a"), *bf = tensor_table_find(&t, "b");
    const loom_tensor_entry *sc = tensor_table_find(&t, "scalar");
    CHECK(a && a->dtype == LOOM_DTYPE_F16 && a->n_dims == 2 && a->shape[1] == 3 && a->size_bytes == 12);
    CHECK(bf && bf->dtype == LOOM_DTYPE_BF16 && bf->data == b.p + 8 + strlen(json) + 12);
    CHECK(sc && sc->n_dims == 0 && sc->size_bytes == 4);
    tensor_table_free(&t);
    free(b.p);
}

static void test_safetensors_malformed(void) {
    const char *ok = "{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    /* Truncated: fewer than 8 bytes; then a header length past EOF. */
    bytes b = make_st(ok, 8);
    loom_error err = {0};
    loom_tensor_table t;
    CHECK(safetensors_parse(b.p, 5, &t, &err) == LOOM_ERR_FORMAT && err.message[0]);
    CHECK(safetensors_parse(b.p, 8 + strlen(ok) - 1, &t, &err) == LOOM_ERR_FORMAT && strstr(err.message, "past"));
    CHECK(safetensors_parse(NULL, 0, &t, &err) == LOOM_ERR_FORMAT); /* an empty mapped file */
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
    CHECK(safetensors_parse(huge, sizeof huge, &t, &err) == LOOM_ERR_FORMAT && err.message[0]);
    free(b.p);

    expect_st("{\"t\":{\"dtype\":", 0, LOOM_ERR_FORMAT, "JSON");
    expect_st("[1,2]", 0, LOOM_ERR_FORMAT, "not an object");
    expect_st("{\"t\":3}", 0, LOOM_ERR_FORMAT, "'t'");
    expect_st("{\"t\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, LOOM_ERR_FORMAT, "dtype");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, LOOM_ERR_FORMAT, "shape");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, LOOM_ERR_FORMAT, "data_offsets");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, LOOM_ERR_FORMAT, "shape");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, LOOM_ERR_FORMAT, "shape");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, LOOM_ERR_FORMAT, "data_offsets");
    expect_st("{\"t\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, LOOM_ERR_FORMAT, "dtype");
    expect_st("{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, LOOM_ERR_UNSUPPORTED, "'w'");
    expect_st("{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, LOOM_ERR_UNSUPPORTED, "I64");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, LOOM_ERR_FORMAT, "3 elements");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, LOOM_ERR_FORMAT, "shape");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, LOOM_ERR_FORMAT, "dims");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
              LOOM_ERR_FORMAT, "overflow");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, LOOM_ERR_FORMAT, "begin");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 8, LOOM_ERR_FORMAT, "past");
    expect_st("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8, LOOM_ERR_FORMAT, "data_offsets");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              12, LOOM_ERR_FORMAT, "overlapping");
    expect_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
              8, LOOM_ERR_FORMAT, "JSON");
}

/* Every truncation of a valid file fails cleanly (or, cut inside the data section, is still caught). */
static void test_safetensors_every_truncation(void) {
    bytes b = make_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    for (size_t n = 0; n < b.n; n++) {
        loom_error err = {0};
        loom_tensor_table t;
        loom_status st = safetensors_parse(b.p, n, &t, &err);
        CHECK_MSG(st == LOOM_ERR_FORMAT && err.message[0], "cut at %zu: status %d", n, st);
        tensor_table_free(&t);
    }
    free(b.p);
}

/* ---- GGUF: valid and malformed ----------------------------------------------------------------- */

enum { GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q8_0 = 8 };

static void put_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kvs) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kvs);
}

static void put_kv_str(bytes *b, const char *key, const char *v) {
    put_str(b, key);
    put_u32(b, LOOM_GGUF_STRING);
    put_str(b, v);
}

static void put_kv_u32(bytes *b, const char *key, uint32_t v) {
    put_str(b, key);
    put_u32(b, LOOM_GGUF_U32);
    put_u32(b, v);
}

static void put_tensor_info(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                            uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

/* One kv and one tensor "w" of the given shape/type/offset, then data_len bytes of data. */
static bytes make_gguf_tensor(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset, size_t data_len) {
    bytes b = {0};
    put_header(&b, 3, 1, 1);
    put_kv_str(&b, "general.architecture", "llama");
    put_tensor_info(&b, "w", n_dims, ne, type, offset);
    pad_to(&b, 32);
    for (size_t i = 0; i < data_len; i++) put_le(&b, i, 1);
    return b;
}

static loom_status parse_gguf(const uint8_t *p, size_t n, loom_error *err) {
    loom_gguf g;
    loom_status st = gguf_parse(p, n, &g, err);
    if (st != LOOM_OK) CHECK(g.kvs == NULL && g.n_kvs == 0 && g.tensors.count == 0);
    gguf_free(&g);
    return st;
}

/* Parses b (then frees it) and expects `want` with a message containing `needle`. */
static void expect_gguf(bytes b, loom_status want, const char *needle, const char *what) {
    loom_error err = {0};
    loom_status st = parse_gguf(b.p, b.n, &err);
    CHECK_MSG(st == want, "%s: status %d (%s), want %d", what, st, err.message, want);
    CHECK_MSG(err.message[0] && strstr(err.message, needle), "%s: message '%s' lacks '%s'", what, err.message, needle);
    free(b.p);
}

static void test_gguf_valid_small(void) {
    bytes b = {0};
    put_header(&b, 2, 2, 9);
    put_kv_u32(&b, "general.alignment", 64);
    put_str(&b, "i8");
    put_u32(&b, LOOM_GGUF_I8);
    put_le(&b, 0xfe, 1); /* -2 */
    put_str(&b, "i16");
    put_u32(&b, LOOM_GGUF_I16);
    put_le(&b, 0x8000, 2); /* -32768 */
    put_str(&b, "u64");
    put_u32(&b, LOOM_GGUF_U64);
    put_u64(&b, UINT64_MAX); /* not an int64 */
    put_str(&b, "f64");
    put_u32(&b, LOOM_GGUF_F64);
    put_u64(&b, 0x3ff8000000000000ull); /* 1.5 */
    put_str(&b, "yes");
    put_u32(&b, LOOM_GGUF_BOOL);
    put_le(&b, 1, 1);
    put_str(&b, "ints");
    put_u32(&b, LOOM_GGUF_ARRAY);
    put_u32(&b, LOOM_GGUF_I32);
    put_u64(&b, 3);
    put_u32(&b, 7);
    put_u32(&b, (uint32_t)-9);
    put_u32(&b, 11);
    put_str(&b, "strs");
    put_u32(&b, LOOM_GGUF_ARRAY);
    put_u32(&b, LOOM_GGUF_STRING);
    put_u64(&b, 2);
    put_str(&b, "");
    put_str(&b, "two");
    /* An array of two arrays (of u8 and of strings): skipped, element getters return 0. */
    put_str(&b, "nested");
    put_u32(&b, LOOM_GGUF_ARRAY);
    put_u32(&b, LOOM_GGUF_ARRAY);
    put_u64(&b, 2);
    put_u32(&b, LOOM_GGUF_U8);
    put_u64(&b, 3);
    put_le(&b, 0x010203, 3);
    put_u32(&b, LOOM_GGUF_STRING);
    put_u64(&b, 1);
    put_str(&b, "x");
    uint64_t ne3[3] = {32, 2, 3}, ne1[1] = {64};
    put_tensor_info(&b, "q", 3, ne3, GGML_Q8_0, 0); /* 6 rows of one 34-byte block = 204 bytes */
    put_tensor_info(&b, "v", 1, ne1, GGML_F16, 256);
    pad_to(&b, 64);
    size_t data_offset = b.n;
    for (int i = 0; i < 256 + 128; i++) put_le(&b, 0, 1);

    loom_gguf g;
    loom_error err = {0};
    CHECK_MSG(gguf_parse(b.p, b.n, &g, &err) == LOOM_OK, "%s", err.message);
    CHECK(g.version == 2 && g.alignment == 64 && g.data_offset == data_offset && g.n_kvs == 9);
    int64_t v;
    double f;
    int yes;
    CHECK(gguf_get_int(&g, "i8", &v) && v == -2);
    CHECK(gguf_get_int(&g, "i16", &v) && v == -32768);
    CHECK(!gguf_get_int(&g, "u64", &v));
    CHECK(gguf_get_float(&g, "f64", &f) && f == 1.5);
    CHECK(gguf_get_float(&g, "i8", &f) && f == -2.0);
    CHECK(!gguf_get_int(&g, "f64", &v));
    CHECK(gguf_get_bool(&g, "yes", &yes) && yes == 1);
    CHECK(gguf_get_int(&g, "yes", &v) && v == 1);
    CHECK(!gguf_get_bool(&g, "i8", &yes));
    const loom_gguf_kv *ints = gguf_find(&g, "ints");
    CHECK(gguf_arr_int(ints, 1, &v) && v == -9);
    CHECK(gguf_arr_float(ints, 2, &f) && f == 11.0);
    CHECK(!gguf_arr_int(ints, 3, &v));
    const char *s;
    size_t len;
    CHECK(!gguf_arr_string(ints, 0, &s, &len));
    const loom_gguf_kv *strs = gguf_find(&g, "strs");
    CHECK(gguf_arr_string(strs, 0, &s, &len) && len == 0);
    CHECK(gguf_arr_string(strs, 1, &s, &len) && str_eq(s, len, "two"));
    CHECK(!gguf_arr_float(strs, 0, &f));
    const loom_gguf_kv *nested = gguf_find(&g, "nested");
    CHECK(nested && nested->elem_type == LOOM_GGUF_ARRAY && nested->n_elems == 2);
    CHECK(!gguf_arr_int(nested, 0, &v) && !gguf_arr_string(nested, 0, &s, &len));
    CHECK(!gguf_arr_int(NULL, 0, &v));
    const loom_tensor_entry *q = tensor_table_find(&g.tensors, "q");
    CHECK(q && q->dtype == LOOM_DTYPE_Q8_0 && q->n_dims == 3 && q->shape[0] == 3 && q->shape[1] == 2 &&
          q->shape[2] == 32 && q->size_bytes == 204 && q->data == b.p + data_offset);
    const loom_tensor_entry *vt = tensor_table_find(&g.tensors, "v");
    CHECK(vt && vt->dtype == LOOM_DTYPE_F16 && vt->size_bytes == 128 && vt->data == b.p + data_offset + 256);
    gguf_free(&g);
    free(b.p);
}

/* A Qwen-sized vocab: 200k strings must parse (in linear time) and index in O(1). */
static void test_gguf_big_string_array(void) {
    enum { N = 200000 };
    bytes b = {0};
    put_header(&b, 3, 0, 1);
    put_str(&b, "tokenizer.ggml.tokens");
    put_u32(&b, LOOM_GGUF_ARRAY);
    put_u32(&b, LOOM_GGUF_STRING);
    put_u64(&b, N);
    for (int i = 0; i < N; i++) {
        char tok[16];
        snprintf(tok, sizeof tok, "t%d", i);
        put_str(&b, tok);
    }
    loom_gguf g;
    loom_error err = {0};
    CHECK_MSG(gguf_parse(b.p, b.n, &g, &err) == LOOM_OK, "%s", err.message);
    const char *s;
    size_t len;
    CHECK(gguf_arr_string(gguf_find(&g, "tokenizer.ggml.tokens"), N - 1, &s, &len) && str_eq(s, len, "t199999"));
    gguf_free(&g);
    free(b.p);
}

static void test_gguf_malformed(void) {
    uint64_t ne2[2] = {4, 2}; /* 2 rows of 4 */
    bytes b;

    loom_error err = {0};
    CHECK(parse_gguf(NULL, 0, &err) == LOOM_ERR_FORMAT && err.message[0]); /* an empty mapped file */

    b = make_gguf_tensor(2, ne2, GGML_F32, 0, 32);
    memcpy(b.p, "GGUX", 4);
    expect_gguf(b, LOOM_ERR_FORMAT, "magic", "bad magic");

    b = make_gguf_tensor(2, ne2, GGML_F32, 0, 32);
    b.p[4] = 1;
    expect_gguf(b, LOOM_ERR_UNSUPPORTED, "version 1", "version 1");

    b = make_gguf_tensor(2, ne2, GGML_F32, 0, 32);
    b.p[4] = 0;
    b.p[7] = 3;
    expect_gguf(b, LOOM_ERR_UNSUPPORTED, "big-endian", "big-endian");

    b = (bytes){0};
    put_header(&b, 3, 0, UINT64_MAX / 2);
    put_kv_u32(&b, "a", 1);
    expect_gguf(b, LOOM_ERR_FORMAT, "metadata count", "absurd kv count");

    b = (bytes){0};
    put_header(&b, 3, 1u << 30, 0);
    expect_gguf(b, LOOM_ERR_FORMAT, "tensor count", "absurd tensor count");

    b = (bytes){0};
    put_header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, LOOM_GGUF_STRING);
    put_u64(&b, 1000);
    put(&b, "abc", 3);
    expect_gguf(b, LOOM_ERR_FORMAT, "'k'", "string length past EOF");

    b = (bytes){0};
    put_header(&b, 3, 0, 1);
    put_str(&b, "toks");
    put_u32(&b, LOOM_GGUF_ARRAY);
    put_u32(&b, LOOM_GGUF_STRING);
    put_u64(&b, 1ull << 40);
    put_str(&b, "a");
    expect_gguf(b, LOOM_ERR_FORMAT, "cannot fit", "absurd string array count");

    b = (bytes){0};
    put_header(&b, 3, 0, 1);
    put_str(&b, "k");
    put_u32(&b, 13);
    put_u32(&b, 0);
    expect_gguf(b, LOOM_ERR_FORMAT, "unknown value type 13", "unknown value type");

    b = (bytes){0};
    put_header(&b, 3, 0, 2);
    put_kv_u32(&b, "k", 1);
    put_kv_u32(&b, "k", 2);
    expect_gguf(b, LOOM_ERR_FORMAT, "duplicate key", "duplicate key");

    b = (bytes){0};
    put_header(&b, 3, 0, 1);
    put_str(&b, "deep");
    put_u32(&b, LOOM_GGUF_ARRAY);
    for (int i = 0; i < 6; i++) {
        put_u32(&b, LOOM_GGUF_ARRAY);
        put_u64(&b, 1);
    }
    put_u32(&b, LOOM_GGUF_U8);
    put_u64(&b, 0);
    expect_gguf(b, LOOM_ERR_UNSUPPORTED, "nested", "deeply nested arrays");

    b = make_gguf_tensor(2, ne2, GGML_F32, 32, 32); /* 32 bytes at offset 32 of a 32-byte data section */
    expect_gguf(b, LOOM_ERR_FORMAT, "past the end", "tensor offset past EOF");

    b = make_gguf_tensor(2, ne2, GGML_F32, UINT64_MAX - 31, 32);
    expect_gguf(b, LOOM_ERR_FORMAT, "past the end", "tensor offset near UINT64_MAX");

    b = make_gguf_tensor(2, ne2, 99, 0, 32);
    expect_gguf(b, LOOM_ERR_UNSUPPORTED, "'w': unsupported ggml type id 99", "unknown ggml type");

    b = make_gguf_tensor(2, ne2, GGML_F32, 16, 64);
    expect_gguf(b, LOOM_ERR_FORMAT, "alignment", "misaligned offset");

    uint64_t ne7[7] = {1, 1, 1, 1, 1, 1, 1};
    b = make_gguf_tensor(7, ne7, GGML_F32, 0, 32);
    expect_gguf(b, LOOM_ERR_FORMAT, "n_dims 7", "n_dims 7");

    uint64_t ne_q[2] = {33, 1};
    b = make_gguf_tensor(2, ne_q, GGML_Q4_0, 0, 64);
    expect_gguf(b, LOOM_ERR_FORMAT, "multiple of", "row not a multiple of the block");

    uint64_t ne_big[2] = {1ull << 40, 1ull << 40};
    b = make_gguf_tensor(2, ne_big, GGML_F32, 0, 32);
    expect_gguf(b, LOOM_ERR_FORMAT, "overflow", "element count overflow");

    uint64_t ne_huge[1] = {1ull << 40};
    b = make_gguf_tensor(1, ne_huge, GGML_F32, 0, 32);
    expect_gguf(b, LOOM_ERR_FORMAT, "cannot fit in the file", "tensor larger than the file");

    b = (bytes){0};
    put_header(&b, 3, 2, 0);
    put_tensor_info(&b, "w", 2, ne2, GGML_F32, 0);
    put_tensor_info(&b, "w", 2, ne2, GGML_F32, 32);
    pad_to(&b, 32);
    for (int i = 0; i < 64; i++) put_le(&b, 0, 1);
    expect_gguf(b, LOOM_ERR_FORMAT, "duplicate tensor name", "duplicate tensor name");

    b = (bytes){0};
    put_header(&b, 3, 0, 1);
    put_kv_u32(&b, "general.alignment", 24);
    expect_gguf(b, LOOM_ERR_FORMAT, "power of two", "alignment 24");

    b = (bytes){0};
    put_header(&b, 3, 0, 1);
    put_kv_str(&b, "general.alignment", "32");
    expect_gguf(b, LOOM_ERR_FORMAT, "power of two", "alignment as a string");

    b = (bytes){0};
    put_header(&b, 3, 0, 1);
    put_u64(&b, 3);
    put(&b, "a\0b", 3);
    put_u32(&b, LOOM_GGUF_U8);
    put_le(&b, 0, 1);
    expect_gguf(b, LOOM_ERR_FORMAT, "NUL", "NUL in key");
}

/* Every prefix of a valid file is rejected without a crash (ASan checks the reads). */
static void test_gguf_every_truncation(void) {
    uint64_t ne2[2] = {4, 2};
    bytes b = make_gguf_tensor(2, ne2, GGML_F32, 0, 32);
    loom_error err = {0};
    CHECK(parse_gguf(b.p, b.n, &err) == LOOM_OK);
    for (size_t n = 0; n < b.n; n++) {
        loom_status st = parse_gguf(b.p, n, &err);
        CHECK_MSG(st == LOOM_ERR_FORMAT && err.message[0], "cut at %zu: status %d", n, st);
    }
    free(b.p);
}

int main(void) {
    RUN(test_safetensors_stories);
    RUN(test_gguf_stories);
    RUN(test_gguf_tiny_random_f16);
    RUN(test_gguf_vocab_files);
    RUN(test_safetensors_valid_small);
    RUN(test_safetensors_malformed);
    RUN(test_safetensors_every_truncation);
    RUN(test_gguf_valid_small);
    RUN(test_gguf_big_string_array);
    RUN(test_gguf_malformed);
    RUN(test_gguf_every_truncation);
    return check_summary();
}
