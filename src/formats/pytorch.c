#include "formats/pytorch.h"

#include <stdlib.h>
#include <string.h>

#include "formats/pickle.h"
#include "formats/zip.h"

enum { SHOWN = 160 }; /* longest tensor name / key quoted in a message */

static const char DATA_PKL[] = "/data.pkl";
static const char BYTEORDER[] = "/byteorder";
static const char DATA_DIR[] = "/data/";

/* The archive: its zip directory and the prefix (first path component) every member shares. */
typedef struct archive {
    loom_zip zip;
    const char *prefix;
    size_t prefix_len;
} archive;

/* What one _rebuild_tensor_v2 call says about a tensor. */
typedef struct tensor_ref {
    const loom_pickle_value *storage_type; /* a torch.*Storage global */
    const char *key;                       /* storage member: <archive>/data/<key> */
    size_t key_len;
    int64_t storage_numel;
    int64_t offset; /* in elements */
    int n_dims;
    int64_t shape[LOOM_MAX_DIMS];
    int64_t stride[LOOM_MAX_DIMS];
} tensor_ref;

/* A tensor name for messages. */
typedef struct name_ref {
    const char *s;
    int len;
} name_ref;

static name_ref shown_name(const loom_pickle_value *key) {
    name_ref n = {key->str, (int)(key->len < SHOWN ? key->len : SHOWN)};
    return n;
}

/* ---- archive members ----------------------------------------------------------------------------- */

/* The member named prefix + middle + tail, or NULL. */
static const loom_zip_entry *find_member(const archive *a, const char *middle, const char *tail, size_t tail_len) {
    size_t mid_len = strlen(middle);
    for (size_t i = 0; i < a->zip.count; i++) {
        const loom_zip_entry *e = &a->zip.entries[i];
        if (e->name_len != a->prefix_len + mid_len + tail_len) continue;
        if (memcmp(e->name, a->prefix, a->prefix_len) == 0 && memcmp(e->name + a->prefix_len, middle, mid_len) == 0 &&
            memcmp(e->name + a->prefix_len + mid_len, tail, tail_len) == 0)
            return e;
    }
    return NULL;
}

/* Finds <prefix>/data.pkl where prefix is one path component. */
static const loom_zip_entry *find_data_pkl(archive *a) {
    size_t suffix = sizeof DATA_PKL - 1;
    for (size_t i = 0; i < a->zip.count; i++) {
        const loom_zip_entry *e = &a->zip.entries[i];
        if (e->name_len <= suffix || memcmp(e->name + e->name_len - suffix, DATA_PKL, suffix) != 0) continue;
        if (memchr(e->name, '/', e->name_len - suffix)) continue;
        a->prefix = e->name;
        a->prefix_len = e->name_len - suffix;
        return e;
    }
    return NULL;
}

static loom_status check_byteorder(const archive *a, loom_error *err) {
    const loom_zip_entry *e = find_member(a, BYTEORDER, "", 0);
    if (e && !(e->size_bytes == 6 && memcmp(e->data, "little", 6) == 0))
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "checkpoint byteorder is '%.*s', only 'little' is supported",
                         (int)(e->size_bytes < 16 ? e->size_bytes : 16), (const char *)e->data);
    return LOOM_OK;
}

/* ---- reading _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata]) */

static int is_int(const loom_pickle_value *v) { return v->kind == LOOM_PICKLE_INT; }

static int is_string(const loom_pickle_value *v, const char *lit) {
    return v->kind == LOOM_PICKLE_STRING && v->len == strlen(lit) && memcmp(v->str, lit, v->len) == 0;
}

/* A tuple of non-negative ints, at most LOOM_MAX_DIMS long. */
static loom_status read_dims(name_ref name, const loom_pickle_value *t, const char *what, int64_t *dims, int *n_dims,
                             loom_error *err) {
    if (t->kind != LOOM_PICKLE_TUPLE)
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%.*s': %s is not a tuple", name.len, name.s, what);
    if (t->n_items > LOOM_MAX_DIMS)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "tensor '%.*s' has %zu dimensions (at most %d are supported)",
                         name.len, name.s, t->n_items, LOOM_MAX_DIMS);
    for (size_t i = 0; i < t->n_items; i++) {
        if (!is_int(t->items[i]) || t->items[i]->i < 0)
            return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%.*s': %s[%zu] is not a non-negative integer", name.len,
                             name.s, what, i);
        dims[i] = t->items[i]->i;
    }
    *n_dims = (int)t->n_items;
    return LOOM_OK;
}

/* The persistent id ('storage', StorageType, key, location, numel). */
static loom_status read_storage(name_ref name, const loom_pickle_value *v, tensor_ref *r, loom_error *err) {
    const loom_pickle_value *pid = v->kind == LOOM_PICKLE_PERSID ? v->items[0] : NULL;
    if (!pid || pid->kind != LOOM_PICKLE_TUPLE || pid->n_items != 5 || !is_string(pid->items[0], "storage") ||
        pid->items[1]->kind != LOOM_PICKLE_GLOBAL || pid->items[1]->global != LOOM_PICKLE_STORAGE_TYPE ||
        pid->items[2]->kind != LOOM_PICKLE_STRING || !is_int(pid->items[4]) || pid->items[4]->i < 0)
        return loom_fail(err, LOOM_ERR_FORMAT,
                         "tensor '%.*s': storage is not a ('storage', type, key, location, numel) reference", name.len,
                         name.s);
    r->storage_type = pid->items[1];
    r->key = pid->items[2]->str;
    r->key_len = pid->items[2]->len;
    r->storage_numel = pid->items[4]->i;
    return LOOM_OK;
}

static loom_status read_rebuild(name_ref name, const loom_pickle_value *v, tensor_ref *r, loom_error *err) {
    if (v->kind == LOOM_PICKLE_CALL && v->items[0]->global == LOOM_PICKLE_REBUILD_PARAMETER &&
        v->items[1]->n_items >= 1)
        v = v->items[1]->items[0]; /* _rebuild_parameter(data, requires_grad, hooks) wraps the tensor */
    if (v->kind != LOOM_PICKLE_CALL || v->items[0]->global != LOOM_PICKLE_REBUILD_TENSOR_V2)
        return loom_fail(err, LOOM_ERR_FORMAT, "'%.*s' is not a tensor (_rebuild_tensor_v2 call)", name.len, name.s);
    const loom_pickle_value *args = v->items[1];
    if (args->n_items != 6 && args->n_items != 7)
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%.*s': _rebuild_tensor_v2 takes 6 or 7 arguments, not %zu",
                         name.len, name.s, args->n_items);
    loom_status st = read_storage(name, args->items[0], r, err);
    if (st != LOOM_OK) return st;
    if (!is_int(args->items[1]) || args->items[1]->i < 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%.*s': storage offset is not a non-negative integer", name.len,
                         name.s);
    r->offset = args->items[1]->i;
    int n_strides = 0;
    st = read_dims(name, args->items[2], "size", r->shape, &r->n_dims, err);
    if (st == LOOM_OK) st = read_dims(name, args->items[3], "stride", r->stride, &n_strides, err);
    if (st == LOOM_OK && n_strides != r->n_dims)
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%.*s': %d sizes but %d strides", name.len, name.s, r->n_dims,
                         n_strides);
    return st;
}

/* ---- validation ---------------------------------------------------------------------------------- */

static loom_status storage_dtype(name_ref name, const loom_pickle_value *type, loom_dtype *out, loom_error *err) {
    static const struct {
        const char *type;
        loom_dtype dtype;
    } TYPES[] = {
        {"FloatStorage", LOOM_DTYPE_F32}, {"HalfStorage", LOOM_DTYPE_F16}, {"BFloat16Storage", LOOM_DTYPE_BF16}};
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++) {
        if (type->len == strlen(TYPES[i].type) && memcmp(type->str, TYPES[i].type, type->len) == 0) {
            *out = TYPES[i].dtype;
            return LOOM_OK;
        }
    }
    return loom_fail(err, LOOM_ERR_UNSUPPORTED,
                     "tensor '%.*s': storage type torch.%.*s is not supported (float32, float16, bfloat16 only)",
                     name.len, name.s, (int)type->len, type->str);
}

static loom_status count_elems(name_ref name, const tensor_ref *r, int64_t *n, loom_error *err) {
    int64_t total = 1;
    for (int i = 0; i < r->n_dims; i++)
        if (__builtin_mul_overflow(total, r->shape[i], &total))
            return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%.*s': element count overflows", name.len, name.s);
    *n = total;
    return LOOM_OK;
}

/* Row-major contiguous: stride[i] == product of shape[i+1..]; dims of size 1 may have any stride. */
static loom_status check_contiguous(name_ref name, const tensor_ref *r, int64_t n_elems, loom_error *err) {
    int64_t expected = 1;
    for (int i = r->n_dims - 1; i >= 0 && n_elems > 0; i--) {
        if (r->shape[i] != 1 && r->stride[i] != expected)
            return loom_fail(err, LOOM_ERR_UNSUPPORTED,
                             "tensor '%.*s' is not contiguous (stride[%d] = %lld, expected %lld)", name.len, name.s, i,
                             (long long)r->stride[i], (long long)expected);
        expected *= r->shape[i];
    }
    return LOOM_OK;
}

/* Fills e (all but the name) from r, checking the tensor lies inside its storage member. */
static loom_status make_entry(const archive *a, name_ref name, const tensor_ref *r, loom_tensor_entry *e,
                              loom_error *err) {
    int64_t n_elems = 0;
    loom_status st = storage_dtype(name, r->storage_type, &e->dtype, err);
    if (st == LOOM_OK) st = count_elems(name, r, &n_elems, err);
    if (st == LOOM_OK) st = check_contiguous(name, r, n_elems, err);
    if (st != LOOM_OK) return st;
    const loom_zip_entry *storage = find_member(a, DATA_DIR, r->key, r->key_len);
    if (!storage)
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%.*s': storage 'data/%.*s' is not in the archive", name.len,
                         name.s, (int)(r->key_len < SHOWN ? r->key_len : SHOWN), r->key);
    size_t elem = dtype_block_bytes(e->dtype);
    if ((uint64_t)r->storage_numel > storage->size_bytes / elem)
        return loom_fail(err, LOOM_ERR_FORMAT,
                         "tensor '%.*s': storage of %lld elements does not fit its %zu-byte member", name.len, name.s,
                         (long long)r->storage_numel, storage->size_bytes);
    if (r->offset > r->storage_numel || n_elems > r->storage_numel - r->offset)
        return loom_fail(err, LOOM_ERR_FORMAT,
                         "tensor '%.*s': %lld elements at offset %lld run past its storage of %lld elements", name.len,
                         name.s, (long long)n_elems, (long long)r->offset, (long long)r->storage_numel);
    e->n_dims = r->n_dims;
    memcpy(e->shape, r->shape, sizeof e->shape);
    e->data = storage->data + (size_t)r->offset * elem;
    e->size_bytes = (size_t)n_elems * elem;
    return LOOM_OK;
}

/* ---- the state dict ------------------------------------------------------------------------------ */

static loom_status add_tensor(const archive *a, const loom_pickle_value *key, const loom_pickle_value *value,
                              loom_tensor_table *out, loom_error *err) {
    if (key->kind != LOOM_PICKLE_STRING || memchr(key->str, '\0', key->len))
        return loom_fail(err, LOOM_ERR_FORMAT, "state dict key is not a tensor name");
    name_ref name = shown_name(key);
    tensor_ref r = {0};
    loom_tensor_entry e = {0};
    loom_status st = read_rebuild(name, value, &r, err);
    if (st == LOOM_OK) st = make_entry(a, name, &r, &e, err);
    if (st != LOOM_OK) return st;
    e.name = strndup(key->str, key->len);
    if (!e.name) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory copying a tensor name");
    if (tensor_table_find(out, e.name))
        st = loom_fail(err, LOOM_ERR_FORMAT, "tensor '%.*s' appears twice", name.len, name.s);
    else st = tensor_table_add(out, &e, err);
    free(e.name);
    return st;
}

static loom_status add_state_dict(const archive *a, const loom_pickle_value *root, loom_tensor_table *out,
                                  loom_error *err) {
    if (root->kind != LOOM_PICKLE_DICT)
        return loom_fail(err, LOOM_ERR_FORMAT, "data.pkl does not hold a state dict (name -> tensor)");
    loom_status st = LOOM_OK;
    for (size_t i = 0; i + 1 < root->n_items && st == LOOM_OK; i += 2)
        st = add_tensor(a, root->items[i], root->items[i + 1], out, err);
    return st;
}

static loom_status parse_archive(archive *a, loom_tensor_table *out, loom_error *err) {
    const loom_zip_entry *pkl = find_data_pkl(a);
    if (!pkl) return loom_fail(err, LOOM_ERR_FORMAT, "not a PyTorch checkpoint: no <archive>/data.pkl member");
    loom_status st = check_byteorder(a, err);
    if (st != LOOM_OK) return st;
    loom_pickle p;
    st = pickle_load(pkl->data, pkl->size_bytes, &p, err);
    if (st != LOOM_OK) return st;
    st = add_state_dict(a, p.root, out, err);
    pickle_free(&p);
    return st;
}

loom_status pytorch_parse(const uint8_t *data, size_t size_bytes, loom_tensor_table *out, loom_error *err) {
    memset(out, 0, sizeof *out);
    archive a = {0};
    loom_status st = zip_open(data, size_bytes, &a.zip, err);
    if (st != LOOM_OK) return st;
    st = parse_archive(&a, out, err);
    zip_free(&a.zip);
    if (st != LOOM_OK) tensor_table_free(out);
    return st;
}
