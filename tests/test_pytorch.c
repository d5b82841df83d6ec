/* Tests of the PyTorch checkpoint reader (zip + restricted pickle): the committed fixtures against the
 * shared safetensors file they were made from, the malicious pickles in tests/fixtures/evil, then
 * malformed archives and pickles built in memory (each must fail with the right status and a
 * non-empty message, without leaking or crashing). */
#include <glob.h>
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "core/file_map.h"
#include "formats/pickle.h"
#include "formats/pytorch.h"
#include "formats/safetensors.h"
#include "formats/zip.h"

#define FIXTURES "tests/fixtures"

/* ---- helpers ------------------------------------------------------------------------------------- */

static int map_file(const char *path, loom_file_map *m) {
    loom_error err = {0};
    loom_status st = file_map_open(m, path, &err);
    CHECK_MSG(st == LOOM_OK, "%s", err.message);
    return st == LOOM_OK;
}

static int parse_file(const char *path, loom_file_map *m, loom_tensor_table *t) {
    if (!map_file(path, m)) return 0;
    loom_error err = {0};
    loom_status st = pytorch_parse(m->data, m->size_bytes, t, &err);
    CHECK_MSG(st == LOOM_OK, "%s: %s", path, err.message);
    if (st != LOOM_OK) file_map_close(m);
    return st == LOOM_OK;
}

/* The tensors of the shared safetensors file the fixtures were made from. */
static int load_reference(loom_file_map *m, loom_tensor_table *t) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K/hf/model.safetensors", check_shared_dir());
    if (!map_file(path, m)) return 0;
    loom_error err = {0};
    loom_status st = safetensors_parse(m->data, m->size_bytes, t, &err);
    CHECK_MSG(st == LOOM_OK, "%s", err.message);
    return st == LOOM_OK;
}

static void expect_status(loom_status st, const loom_error *err, loom_status want, const char *needle) {
    CHECK_MSG(st == want, "status %s, want %s (%s)", loom_status_name(st), loom_status_name(want), err->message);
    CHECK_MSG(err->message[0] != '\0', "empty message");
    if (needle) CHECK_MSG(strstr(err->message, needle) != NULL, "message '%s' lacks '%s'", err->message, needle);
}

static void expect_parse(const uint8_t *data, size_t size, loom_status want, const char *needle) {
    loom_tensor_table t;
    loom_error err = {0};
    loom_status st = pytorch_parse(data, size, &t, &err);
    expect_status(st, &err, want, needle);
    CHECK(t.count == 0 && t.entries == NULL);
}

static void expect_unpickle(const uint8_t *data, size_t size, loom_status want, const char *needle) {
    loom_pickle p;
    loom_error err = {0};
    loom_status st = pickle_load(data, size, &p, &err);
    expect_status(st, &err, want, needle);
    CHECK(p.root == NULL && p.chunks == NULL);
}

/* ---- byte buffers, pickles and zips built in memory ---------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_le(buf *b, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) {
        uint8_t byte = (uint8_t)(v >> (8 * i));
        put(b, &byte, 1);
    }
}

static void put_op(buf *b, uint8_t op) { put(b, &op, 1); }

static void pk_str(buf *b, const char *s) {
    put_op(b, 'X');
    put_le(b, strlen(s), 4);
    put(b, s, strlen(s));
}

static void pk_int(buf *b, int64_t v) {
    put_op(b, 0x8a); /* LONG1 */
    put_op(b, 8);
    put_le(b, (uint64_t)v, 8);
}

static void pk_global(buf *b, const char *module, const char *name) {
    put_op(b, 'c');
    put(b, module, strlen(module));
    put_op(b, '\n');
    put(b, name, strlen(name));
    put_op(b, '\n');
}

static void pk_int_tuple(buf *b, const int64_t *v, int n) {
    put_op(b, '(');
    for (int i = 0; i < n; i++) pk_int(b, v[i]);
    put_op(b, 't');
}

typedef struct tensor_spec {
    const char *name, *storage_type, *key;
    int64_t numel, offset;
    int n_dims;
    int64_t shape[LOOM_MAX_DIMS + 1], stride[LOOM_MAX_DIMS + 1]; /* one more than loom accepts */
} tensor_spec;

/* _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, shape, stride, False,
 * OrderedDict()) as torch writes it (without the memo). */
static void pk_tensor_value(buf *b, const tensor_spec *t) {
    pk_global(b, "torch._utils", "_rebuild_tensor_v2");
    put_op(b, '(');
    put_op(b, '(');
    pk_str(b, "storage");
    pk_global(b, "torch", t->storage_type);
    pk_str(b, t->key);
    pk_str(b, "cpu");
    pk_int(b, t->numel);
    put_op(b, 't');
    put_op(b, 'Q');
    pk_int(b, t->offset);
    pk_int_tuple(b, t->shape, t->n_dims);
    pk_int_tuple(b, t->stride, t->n_dims);
    put_op(b, 0x89);
    pk_global(b, "collections", "OrderedDict");
    put_op(b, ')');
    put_op(b, 'R');
    put_op(b, 't');
    put_op(b, 'R');
}

static void pk_tensor(buf *b, const tensor_spec *t) {
    pk_str(b, t->name);
    pk_tensor_value(b, t);
}

static buf state_dict_pickle(const tensor_spec *t, int n) {
    buf b = {0};
    put(&b, "\x80\x02}(", 4);
    for (int i = 0; i < n; i++) pk_tensor(&b, &t[i]);
    put(&b, "u.", 2);
    return b;
}

typedef struct zip_member {
    const char *name;
    const void *data;
    size_t size;
    uint16_t method;
} zip_member;

/* A stored zip; zip64 = 1 writes saturated 32-bit fields with zip64 extras and the zip64 end records. */
static buf build_zip(const zip_member *m, int n, int zip64) {
    buf b = {0}, dir = {0};
    uint32_t sat = zip64 ? 0xFFFFFFFFu : 0;
    for (int i = 0; i < n; i++) {
        size_t name_len = strlen(m[i].name), at = b.n;
        put_le(&b, 0x04034b50, 4);
        put_le(&b, 20, 2), put_le(&b, 0, 2), put_le(&b, m[i].method, 2), put_le(&b, 0, 8);
        put_le(&b, m[i].size, 4), put_le(&b, m[i].size, 4), put_le(&b, name_len, 2), put_le(&b, 0, 2);
        put(&b, m[i].name, name_len);
        put(&b, m[i].data, m[i].size);
        put_le(&dir, 0x02014b50, 4);
        put_le(&dir, 45, 2), put_le(&dir, 45, 2), put_le(&dir, 0, 2), put_le(&dir, m[i].method, 2), put_le(&dir, 0, 8);
        put_le(&dir, sat | m[i].size, 4), put_le(&dir, sat | m[i].size, 4), put_le(&dir, name_len, 2);
        put_le(&dir, zip64 ? 28 : 0, 2), put_le(&dir, 0, 6), put_le(&dir, 0, 4); /* comment, disk, attrs */
        put_le(&dir, sat | at, 4);
        put(&dir, m[i].name, name_len);
        if (zip64)
            put_le(&dir, 1, 2), put_le(&dir, 24, 2), put_le(&dir, m[i].size, 8), put_le(&dir, m[i].size, 8),
                put_le(&dir, at, 8);
    }
    size_t dir_at = b.n;
    put(&b, dir.p, dir.n);
    if (zip64) {
        size_t eocd64_at = b.n;
        put_le(&b, 0x06064b50, 4), put_le(&b, 44, 8), put_le(&b, 45, 2), put_le(&b, 45, 2), put_le(&b, 0, 8);
        put_le(&b, n, 8), put_le(&b, n, 8), put_le(&b, dir.n, 8), put_le(&b, dir_at, 8);
        put_le(&b, 0x07064b50, 4), put_le(&b, 0, 4), put_le(&b, eocd64_at, 8), put_le(&b, 1, 4);
    }
    put_le(&b, 0x06054b50, 4), put_le(&b, 0, 4), put_le(&b, n, 2), put_le(&b, n, 2);
    put_le(&b, dir.n, 4), put_le(&b, sat | dir_at, 4), put_le(&b, 0, 2);
    free(dir.p);
    return b;
}

static const float STORAGE[8] = {1, 2, 3, 4, 5, 6, 7, 8};

/* arc/data.pkl + arc/byteorder + arc/data/0 (the 32 bytes of STORAGE). */
static buf checkpoint(const buf *pkl, int zip64) {
    zip_member m[] = {
        {"arc/data.pkl", pkl->p, pkl->n, 0},
        {"arc/byteorder", "little", 6, 0},
        {"arc/data/0", STORAGE, sizeof STORAGE, 0},
    };
    return build_zip(m, 3, zip64);
}

/* A checkpoint holding one tensor t (storage key "0" is the only member). */
static buf checkpoint_of(const tensor_spec *t) {
    buf pkl = state_dict_pickle(t, 1);
    buf zip = checkpoint(&pkl, 0);
    free(pkl.p);
    return zip;
}

static const tensor_spec GOOD = {"w", "FloatStorage", "0", 8, 2, 2, {2, 3}, {3, 1}};

/* ---- the fixtures -------------------------------------------------------------------------------- */

static int same_shape(const loom_tensor_entry *a, const loom_tensor_entry *b) {
    return a->n_dims == b->n_dims && memcmp(a->shape, b->shape, (size_t)a->n_dims * sizeof a->shape[0]) == 0;
}

static void test_fixture_f32_matches_safetensors(void) {
    loom_file_map pm, sm;
    loom_tensor_table pt, st;
    if (!parse_file(FIXTURES "/stories260K-pt/pytorch_model.bin", &pm, &pt)) return;
    if (load_reference(&sm, &st)) {
        CHECK_MSG(pt.count == st.count, "%zu tensors vs %zu", pt.count, st.count);
        for (size_t i = 0; i < st.count; i++) {
            const loom_tensor_entry *want = &st.entries[i], *got = tensor_table_find(&pt, want->name);
            CHECK_MSG(got != NULL, "missing %s", want->name);
            if (!got) continue;
            CHECK(got->dtype == LOOM_DTYPE_F32);
            CHECK(same_shape(got, want));
            CHECK(got->size_bytes == want->size_bytes);
            CHECK_MSG(memcmp(got->data, want->data, want->size_bytes) == 0, "%s differs", want->name);
            CHECK(got->data >= pm.data && got->data + got->size_bytes <= pm.data + pm.size_bytes);
        }
        tensor_table_free(&st);
        file_map_close(&sm);
    }
    tensor_table_free(&pt);
    file_map_close(&pm);
}

static void check_bf16_matches(const loom_tensor_entry *got, const loom_tensor_entry *want) {
    CHECK(got->dtype == LOOM_DTYPE_BF16);
    CHECK(same_shape(got, want));
    size_t n = want->size_bytes / 4, mismatches = 0;
    CHECK(got->size_bytes == 2 * n);
    for (size_t j = 0; j < n && got->size_bytes == 2 * n; j++) {
        float f;
        uint16_t h;
        memcpy(&f, want->data + 4 * j, 4);
        memcpy(&h, got->data + 2 * j, 2);
        mismatches += h != f32_to_bf16(f) || bf16_to_f32(h) != bf16_to_f32(f32_to_bf16(f));
    }
    CHECK_MSG(mismatches == 0, "%s: %zu values differ", want->name, mismatches);
}

/* The shard the index names for tensor, as an index into shards[]. */
static int shard_of(json_t *index, const char *tensor, const char *const *shards, int n_shards) {
    const char *file = json_string_value(json_object_get(json_object_get(index, "weight_map"), tensor));
    for (int i = 0; file && i < n_shards; i++)
        if (strcmp(file, shards[i]) == 0) return i;
    return -1;
}

static void test_fixture_sharded_bf16_matches_safetensors(void) {
    static const char *const SHARDS[] = {"pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"};
    const char *dir = FIXTURES "/stories260K-pt-sharded";
    char path[512];
    snprintf(path, sizeof path, "%s/pytorch_model.bin.index.json", dir);
    json_t *index = json_load_file(path, 0, NULL);
    CHECK_MSG(index != NULL, "cannot read %s", path);
    loom_file_map maps[2], sm;
    loom_tensor_table tables[2], st;
    int parsed[2];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, SHARDS[i]);
        parsed[i] = parse_file(path, &maps[i], &tables[i]);
    }
    if (index && parsed[0] && parsed[1] && load_reference(&sm, &st)) {
        CHECK(tables[0].count + tables[1].count == st.count);
        CHECK(tables[0].count > 0 && tables[1].count > 0);
        for (size_t i = 0; i < st.count; i++) {
            int s = shard_of(index, st.entries[i].name, SHARDS, 2);
            CHECK_MSG(s >= 0, "index lacks %s", st.entries[i].name);
            const loom_tensor_entry *got = s >= 0 ? tensor_table_find(&tables[s], st.entries[i].name) : NULL;
            CHECK_MSG(got != NULL, "shard lacks %s", st.entries[i].name);
            if (got) check_bf16_matches(got, &st.entries[i]);
        }
        tensor_table_free(&st);
        file_map_close(&sm);
    }
    for (int i = 0; i < 2; i++) {
        if (!parsed[i]) continue;
        tensor_table_free(&tables[i]);
        file_map_close(&maps[i]);
    }
    json_decref(index);
}

static size_t pwned_files(void) {
    glob_t g;
    size_t n = glob("/tmp/loom_pwned_*", 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return n;
}

static void test_evil_pickles_are_refused(void) {
    static const struct {
        const char *file, *global;
    } EVIL[] = {
        {"os_system.bin", "'os.system'"},
        {"builtins_eval.bin", "'builtins.eval'"},
        {"posix_system.bin", "'posix.system'"},
    };
    size_t before = pwned_files();
    for (size_t i = 0; i < sizeof EVIL / sizeof EVIL[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, FIXTURES "/evil/%s", EVIL[i].file);
        loom_file_map m;
        if (!map_file(path, &m)) continue;
        expect_parse(m.data, m.size_bytes, LOOM_ERR_UNSUPPORTED, EVIL[i].global);
        file_map_close(&m);
    }
    CHECK_MSG(before == 0, "a /tmp/loom_pwned_* file predates this test: something ran an evil pickle");
    CHECK(pwned_files() == 0);
}

/* ---- valid archives built in memory -------------------------------------------------------------- */

static void check_good_tensor(const buf *zip) {
    loom_tensor_table t;
    loom_error err = {0};
    CHECK_MSG(pytorch_parse(zip->p, zip->n, &t, &err) == LOOM_OK, "%s", err.message);
    const loom_tensor_entry *e = tensor_table_find(&t, "w");
    CHECK(t.count == 1 && e != NULL);
    if (e) {
        CHECK(e->dtype == LOOM_DTYPE_F32 && e->n_dims == 2 && e->shape[0] == 2 && e->shape[1] == 3);
        CHECK(e->size_bytes == 24);
        float first;
        memcpy(&first, e->data, 4);
        CHECK(first == 3.0f); /* element offset 2 */
    }
    tensor_table_free(&t);
}

static void test_in_memory_checkpoint(void) {
    buf zip = checkpoint_of(&GOOD);
    check_good_tensor(&zip);
    free(zip.p);
}

static void test_zip64_extra_fields(void) {
    buf pkl = state_dict_pickle(&GOOD, 1);
    buf zip = checkpoint(&pkl, 1);
    check_good_tensor(&zip);
    free(zip.p);
    free(pkl.p);
}

static void test_f16_parameter_and_ordered_dict(void) {
    /* OrderedDict() + SETITEMS + BUILD({}) around _rebuild_parameter(_rebuild_tensor_v2(...), False,
     * ()), and a second tensor sharing the storage (tied weights). */
    tensor_spec t[2] = {{"a", "HalfStorage", "0", 16, 0, 1, {16}, {1}},
                        {"b", "HalfStorage", "0", 16, 4, 2, {2, 2}, {2, 1}}};
    buf b = {0};
    put(&b, "\x80\x02", 2);
    pk_global(&b, "collections", "OrderedDict");
    put(&b, ")R(", 3);
    pk_str(&b, t[0].name);
    pk_global(&b, "torch._utils", "_rebuild_parameter");
    put_op(&b, '(');
    pk_tensor_value(&b, &t[0]);
    put(&b, "\x89)tR", 4);
    pk_tensor(&b, &t[1]);
    put(&b, "u}b.", 4);
    buf zip = checkpoint(&b, 0);
    loom_tensor_table tab;
    loom_error err = {0};
    CHECK_MSG(pytorch_parse(zip.p, zip.n, &tab, &err) == LOOM_OK, "%s", err.message);
    const loom_tensor_entry *a = tensor_table_find(&tab, "a"), *bb = tensor_table_find(&tab, "b");
    CHECK(tab.count == 2 && a && bb);
    if (a && bb) {
        CHECK(a->dtype == LOOM_DTYPE_F16 && a->n_dims == 1 && a->shape[0] == 16 && a->size_bytes == 32);
        CHECK(bb->dtype == LOOM_DTYPE_F16 && bb->data == a->data + 8 && bb->size_bytes == 8);
    }
    tensor_table_free(&tab);
    free(zip.p);
    free(b.p);
}

/* ---- malformed archives -------------------------------------------------------------------------- */

static void test_truncated_zip(void) {
    buf zip = checkpoint_of(&GOOD);
    for (size_t n = 0; n < zip.n; n++) expect_parse(zip.p, n, LOOM_ERR_FORMAT, NULL);
    free(zip.p);
}

static void test_bad_eocd(void) {
    buf zip = checkpoint_of(&GOOD);
    zip.p[zip.n - 22] = 'X'; /* signature */
    expect_parse(zip.p, zip.n, LOOM_ERR_FORMAT, "end-of-central-directory");
    free(zip.p);
}

static void test_central_dir_past_eof(void) {
    buf zip = checkpoint_of(&GOOD);
    zip.p[zip.n - 22 + 16 + 3] = 0x7f; /* central directory offset */
    expect_parse(zip.p, zip.n, LOOM_ERR_FORMAT, "past the end");
    free(zip.p);
}

static void test_compressed_member(void) {
    buf pkl = state_dict_pickle(&GOOD, 1);
    zip_member m[] = {{"arc/data.pkl", pkl.p, pkl.n, 0}, {"arc/data/0", STORAGE, sizeof STORAGE, 8}};
    buf zip = build_zip(m, 2, 0);
    expect_parse(zip.p, zip.n, LOOM_ERR_UNSUPPORTED, "'arc/data/0' is compressed");
    free(zip.p);
    free(pkl.p);
}

static void test_missing_data_pkl(void) {
    zip_member m[] = {{"arc/other.pkl", "x", 1, 0}, {"a/b/data.pkl", "x", 1, 0}};
    buf zip = build_zip(m, 2, 0);
    expect_parse(zip.p, zip.n, LOOM_ERR_FORMAT, "data.pkl");
    free(zip.p);
}

static void test_big_endian_byteorder(void) {
    buf pkl = state_dict_pickle(&GOOD, 1);
    zip_member m[] = {{"arc/data.pkl", pkl.p, pkl.n, 0}, {"arc/byteorder", "big", 3, 0}};
    buf zip = build_zip(m, 2, 0);
    expect_parse(zip.p, zip.n, LOOM_ERR_UNSUPPORTED, "byteorder");
    free(zip.p);
    free(pkl.p);
}

/* ---- malformed tensors --------------------------------------------------------------------------- */

static void expect_tensor_fails(const tensor_spec *t, loom_status want, const char *needle) {
    buf zip = checkpoint_of(t);
    expect_parse(zip.p, zip.n, want, needle);
    free(zip.p);
}

static void test_storage_key_missing(void) {
    tensor_spec t = GOOD;
    t.key = "7";
    expect_tensor_fails(&t, LOOM_ERR_FORMAT, "storage 'data/7' is not in the archive");
}

static void test_tensor_larger_than_storage(void) {
    tensor_spec t = GOOD;
    t.shape[0] = 3; /* 9 elements at offset 2 in a storage of 8 */
    expect_tensor_fails(&t, LOOM_ERR_FORMAT, "run past its storage");
    t = GOOD;
    t.numel = 9; /* the storage claims more elements than its member holds */
    expect_tensor_fails(&t, LOOM_ERR_FORMAT, "does not fit");
    t = GOOD;
    t.shape[0] = INT64_MAX / 2; /* element count overflows */
    expect_tensor_fails(&t, LOOM_ERR_FORMAT, "'w'");
}

static void test_non_contiguous_stride(void) {
    tensor_spec t = GOOD;
    t.stride[0] = 1, t.stride[1] = 2; /* a transposed view */
    expect_tensor_fails(&t, LOOM_ERR_UNSUPPORTED, "tensor 'w' is not contiguous");
}

static void test_unsupported_storage_type(void) {
    tensor_spec t = GOOD;
    t.storage_type = "DoubleStorage";
    expect_tensor_fails(&t, LOOM_ERR_UNSUPPORTED, "tensor 'w': storage type torch.DoubleStorage");
}

static void test_too_many_dims(void) {
    tensor_spec t = {"w", "FloatStorage", "0", 8, 0, 5, {1, 1, 1, 1, 8}, {8, 8, 8, 8, 1}};
    expect_tensor_fails(&t, LOOM_ERR_UNSUPPORTED, "5 dimensions");
}

static void test_duplicate_tensor(void) {
    tensor_spec t[2] = {GOOD, GOOD};
    buf pkl = state_dict_pickle(t, 2);
    buf zip = checkpoint(&pkl, 0);
    expect_parse(zip.p, zip.n, LOOM_ERR_FORMAT, "twice");
    free(zip.p);
    free(pkl.p);
}

static void test_state_dict_not_a_dict(void) {
    buf pkl = {0};
    put(&pkl, "\x80\x02]\x85.", 5); /* a tuple holding a list */
    buf zip = checkpoint(&pkl, 0);
    expect_parse(zip.p, zip.n, LOOM_ERR_FORMAT, "state dict");
    free(zip.p);
    free(pkl.p);
}

/* ---- malformed pickles --------------------------------------------------------------------------- */

#define PICKLE(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void test_pickle_unknown_opcode(void) {
    expect_unpickle(PICKLE("\x80\x02}\xff."), LOOM_ERR_UNSUPPORTED, "opcode 0xff at offset 3");
    expect_unpickle(PICKLE("\x80\x02}i."), LOOM_ERR_UNSUPPORTED, "opcode 0x69 at offset 3"); /* INST */
    expect_unpickle(PICKLE("\x80\x01."), LOOM_ERR_UNSUPPORTED, "protocol 1 is not supported");
}

static void test_pickle_stack_underflow(void) {
    expect_unpickle(PICKLE("\x80\x02R."), LOOM_ERR_FORMAT, "stack underflow");
    expect_unpickle(PICKLE("\x80\x02}(\x85."), LOOM_ERR_FORMAT, "stack underflow"); /* TUPLE1 below a MARK */
    expect_unpickle(PICKLE("\x80\x02."), LOOM_ERR_FORMAT, "stack underflow");
    expect_unpickle(PICKLE("\x80\x02t."), LOOM_ERR_FORMAT, "no MARK");
}

static void test_pickle_memo_out_of_range(void) {
    expect_unpickle(PICKLE("\x80\x02}q\x00h\x01."), LOOM_ERR_FORMAT, "memo index 1 is not set");
    expect_unpickle(PICKLE("\x80\x02}r\xff\xff\xff\xff."), LOOM_ERR_FORMAT, "memo index 4294967295");
}

static void test_pickle_truncated(void) {
    buf pkl = state_dict_pickle(&GOOD, 1);
    for (size_t n = 0; n < pkl.n; n++) expect_unpickle(pkl.p, n, LOOM_ERR_FORMAT, NULL);
    expect_unpickle(PICKLE("\x80\x02X\x10\x00\x00\x00ab."), LOOM_ERR_FORMAT, "truncated");
    expect_unpickle(PICKLE("\x80\x02\x95\xff\x00\x00\x00\x00\x00\x00\x00N."), LOOM_ERR_FORMAT, "truncated");
    free(pkl.p);
}

static void test_pickle_nesting_bomb(void) {
    buf b = {0};
    put(&b, "\x80\x02", 2);
    for (int i = 0; i < 100000; i++) put_op(&b, '(');
    put_op(&b, '.');
    expect_unpickle(b.p, b.n, LOOM_ERR_FORMAT, "nested MARKs");
    b.n = 2;
    for (int i = 0; i < 1000; i++) put_op(&b, ']');
    for (int i = 0; i < 999; i++) put_op(&b, 'a');
    put_op(&b, '.');
    expect_unpickle(b.p, b.n, LOOM_ERR_FORMAT, "nests containers deeper than 64");
    b.n = 2; /* a list appended to itself, again and again */
    put(&b, "]q\x00", 3);
    for (int i = 0; i < 1000; i++)
        put(&b,
            "h\x00"
            "a",
            3);
    put_op(&b, '.');
    expect_unpickle(b.p, b.n, LOOM_ERR_FORMAT, "changes a container after nesting it");
    /* nest a list in a tuple, then append to the list (which would deepen the tuple unseen) */
    expect_unpickle(PICKLE("\x80\x02]q\x00\x85h\x00Na."), LOOM_ERR_FORMAT, "changes a container after nesting it");
    free(b.p);
}

static void test_pickle_forbidden_globals_in_memory(void) {
    expect_unpickle(PICKLE("\x80\x04\x8c\x0asubprocess\x8c\x05Popen\x93."), LOOM_ERR_UNSUPPORTED,
                    "pickle refers to forbidden global 'subprocess.Popen'");
    expect_unpickle(PICKLE("\x80\x02\x63torch\nload\n."), LOOM_ERR_UNSUPPORTED, "'torch.load'");
    /* a whitelisted storage type cannot be called */
    expect_unpickle(PICKLE("\x80\x02\x63torch\nFloatStorage\n)R."), LOOM_ERR_UNSUPPORTED, "calls storage type");
}

static void test_pickle_values(void) {
    /* None, True, BININT -2, BINFLOAT 1.5, LONG1 -1 (1 byte), SHORT_BINBYTES, BINUNICODE8 in a list */
    static const char P[] = "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00]\x94(N\x88J\xfe\xff\xff\xff"
                            "G\x3f\xf8\x00\x00\x00\x00\x00\x00\x8a\x01\xff"
                            "C\x02hi"
                            "\x8d\x01\x00\x00\x00\x00\x00\x00\x00"
                            "ze.";
    loom_pickle p;
    loom_error err = {0};
    CHECK_MSG(pickle_load((const uint8_t *)P, sizeof P - 1, &p, &err) == LOOM_OK, "%s", err.message);
    const loom_pickle_value *l = p.root;
    CHECK(l && l->kind == LOOM_PICKLE_LIST && l->n_items == 7);
    if (l && l->n_items == 7) {
        CHECK(l->items[0]->kind == LOOM_PICKLE_NONE);
        CHECK(l->items[1]->kind == LOOM_PICKLE_BOOL && l->items[1]->i == 1);
        CHECK(l->items[2]->kind == LOOM_PICKLE_INT && l->items[2]->i == -2);
        CHECK(l->items[3]->kind == LOOM_PICKLE_FLOAT && l->items[3]->f == 1.5);
        CHECK(l->items[4]->kind == LOOM_PICKLE_INT && l->items[4]->i == -1);
        CHECK(l->items[5]->kind == LOOM_PICKLE_BYTES && l->items[5]->len == 2 &&
              memcmp(l->items[5]->str, "hi", 2) == 0);
        CHECK(l->items[6]->kind == LOOM_PICKLE_STRING && l->items[6]->len == 1 && l->items[6]->str[0] == 'z');
    }
    pickle_free(&p);
}

/* Inputs the fuzzer found (fuzz/README.md, ## pickle). */
static void test_fuzz_regressions(void) {
    expect_unpickle(PICKLE("(e"), LOOM_ERR_FORMAT, "stack underflow"); /* APPENDS on an empty stack */
    expect_unpickle(PICKLE("(u"), LOOM_ERR_FORMAT, "stack underflow");
    expect_unpickle(PICKLE("(a"), LOOM_ERR_FORMAT, "stack underflow");
}

static void test_fixture_pickle_every_truncation(void) {
    loom_file_map m;
    if (!map_file(FIXTURES "/stories260K-pt/pytorch_model.bin", &m)) return;
    loom_zip z;
    loom_error err = {0};
    CHECK_MSG(zip_open(m.data, m.size_bytes, &z, &err) == LOOM_OK, "%s", err.message);
    const loom_zip_entry *pkl = zip_find(&z, "pytorch_model/data.pkl", 22);
    CHECK(pkl != NULL);
    for (size_t n = 0; pkl && n < pkl->size_bytes; n++) expect_unpickle(pkl->data, n, LOOM_ERR_FORMAT, NULL);
    zip_free(&z);
    file_map_close(&m);
}

int main(void) {
    RUN(test_fixture_f32_matches_safetensors);
    RUN(test_fixture_sharded_bf16_matches_safetensors);
    RUN(test_evil_pickles_are_refused);
    RUN(test_in_memory_checkpoint);
    RUN(test_zip64_extra_fields);
    RUN(test_f16_parameter_and_ordered_dict);
    RUN(test_truncated_zip);
    RUN(test_bad_eocd);
    RUN(test_central_dir_past_eof);
    RUN(test_compressed_member);
    RUN(test_missing_data_pkl);
    RUN(test_big_endian_byteorder);
    RUN(test_storage_key_missing);
    RUN(test_tensor_larger_than_storage);
    RUN(test_non_contiguous_stride);
    RUN(test_unsupported_storage_type);
    RUN(test_too_many_dims);
    RUN(test_duplicate_tensor);
    RUN(test_state_dict_not_a_dict);
    RUN(test_pickle_unknown_opcode);
    RUN(test_pickle_stack_underflow);
    RUN(test_pickle_memo_out_of_range);
    RUN(test_pickle_truncated);
    RUN(test_pickle_nesting_bomb);
    RUN(test_pickle_forbidden_globals_in_memory);
    RUN(test_pickle_values);
    RUN(test_fuzz_regressions);
    RUN(test_fixture_pickle_every_truncation);
    return check_summary();
}
