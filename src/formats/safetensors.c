#include "formats/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The byte buffer that follows the JSON header; data_offsets are relative to its start. */
typedef struct st_buffer {
    const uint8_t *base;
    size_t size;
} st_buffer;

static uint64_t read_u64_le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Maps a safetensors dtype string; LOOM_ERR_UNSUPPORTED for anything loom does not load. */
static loom_status parse_dtype(const char *name, json_t *entry, loom_dtype *out, loom_error *err) {
    json_t *j = json_object_get(entry, "dtype");
    if (!json_is_string(j))
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%s': missing or non-string \"dtype\"", name);
    const char *s = json_string_value(j);
    if (strcmp(s, "F32") == 0) *out = LOOM_DTYPE_F32;
    else if (strcmp(s, "F16") == 0) *out = LOOM_DTYPE_F16;
    else if (strcmp(s, "BF16") == 0) *out = LOOM_DTYPE_BF16;
    else
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "tensor '%s': unsupported dtype '%.32s' (F32, F16, BF16 only)",
                         name, s);
    return LOOM_OK;
}

/* Fills e->n_dims and e->shape from "shape"; *n_elems = product, checked against int64 overflow. */
static loom_status parse_shape(const char *name, json_t *entry, loom_tensor_entry *e, int64_t *n_elems,
                               loom_error *err) {
    json_t *j = json_object_get(entry, "shape");
    if (!json_is_array(j)) return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%s': missing or non-array \"shape\"", name);
    size_t n = json_array_size(j);
    if (n > LOOM_MAX_DIMS)
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%s': %zu dims in \"shape\" (at most %d)", name, n,
                         LOOM_MAX_DIMS);
    int64_t prod = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *d = json_array_get(j, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%s': \"shape\"[%zu] is not a non-negative integer", name,
                             i);
        int64_t dim = json_integer_value(d);
        if (dim > 0 && prod > INT64_MAX / dim)
            return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%s': element count of \"shape\" overflows", name);
        prod *= dim;
        e->shape[i] = dim;
    }
    e->n_dims = (int)n;
    *n_elems = prod;
    return LOOM_OK;
}

/* Reads "data_offsets": [begin, end] with 0 <= begin <= end <= buffer size. */
static loom_status parse_offsets(const char *name, json_t *entry, const st_buffer *buf, uint64_t *begin, uint64_t *end,
                                 loom_error *err) {
    json_t *j = json_object_get(entry, "data_offsets");
    if (!json_is_array(j) || json_array_size(j) != 2)
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%s': \"data_offsets\" is not an array [begin, end]", name);
    json_t *b = json_array_get(j, 0), *e = json_array_get(j, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 || json_integer_value(e) < 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%s': \"data_offsets\" must hold non-negative integers", name);
    *begin = (uint64_t)json_integer_value(b);
    *end = (uint64_t)json_integer_value(e);
    if (*begin > *end)
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%s': \"data_offsets\" begin %llu > end %llu", name,
                         (unsigned long long)*begin, (unsigned long long)*end);
    if (*end > buf->size)
        return loom_fail(
            err, LOOM_ERR_FORMAT,
            "tensor '%s': \"data_offsets\" end %llu is past the end of the data (%zu bytes; file truncated?)", name,
            (unsigned long long)*end, buf->size);
    return LOOM_OK;
}

/* Validates one header entry and appends it to the table. */
static loom_status add_entry(const char *name, json_t *entry, const st_buffer *buf, loom_tensor_table *out,
                             loom_error *err) {
    if (!json_is_object(entry))
        return loom_fail(err, LOOM_ERR_FORMAT, "tensor '%s': header entry is not an object", name);
    loom_tensor_entry e = {.name = (char *)name};
    int64_t n_elems = 0;
    uint64_t begin = 0, end = 0;
    loom_status st = parse_dtype(name, entry, &e.dtype, err);
    if (st == LOOM_OK) st = parse_shape(name, entry, &e, &n_elems, err);
    if (st == LOOM_OK) st = parse_offsets(name, entry, buf, &begin, &end, err);
    if (st != LOOM_OK) return st;
    size_t elem_bytes = dtype_block_bytes(e.dtype); /* block of 1 element for F32/F16/BF16 */
    if ((uint64_t)n_elems > (end - begin) / elem_bytes || (uint64_t)n_elems * elem_bytes != end - begin)
        return loom_fail(err, LOOM_ERR_FORMAT,
                         "tensor '%s': shape holds %lld elements but data_offsets span %llu bytes", name,
                         (long long)n_elems, (unsigned long long)(end - begin));
    e.data = buf->base + begin;
    e.size_bytes = (size_t)(end - begin);
    return tensor_table_add(out, &e, err);
}

static int cmp_by_data(const void *a, const void *b) {
    const loom_tensor_entry *x = *(const loom_tensor_entry *const *)a, *y = *(const loom_tensor_entry *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* Sorts the entries by start and checks that each one ends before the next begins. */
static loom_status check_no_overlap(const loom_tensor_table *t, loom_error *err) {
    if (t->count < 2) return LOOM_OK;
    const loom_tensor_entry **by_start = malloc(t->count * sizeof *by_start);
    if (!by_start) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory checking tensor overlaps");
    for (size_t i = 0; i < t->count; i++) by_start[i] = &t->entries[i];
    qsort(by_start, t->count, sizeof *by_start, cmp_by_data);
    loom_status st = LOOM_OK;
    const loom_tensor_entry *prev = by_start[0];
    for (size_t i = 1; i < t->count && st == LOOM_OK; i++) {
        const loom_tensor_entry *cur = by_start[i];
        if (cur->size_bytes == 0) continue; /* an empty range overlaps nothing */
        if (prev->data + prev->size_bytes > cur->data)
            st = loom_fail(err, LOOM_ERR_FORMAT, "tensors '%s' and '%s' have overlapping data_offsets", prev->name,
                           cur->name);
        prev = cur;
    }
    free(by_start);
    return st;
}

/* Every key but "__metadata__" is a tensor. */
static loom_status add_entries(json_t *root, const st_buffer *buf, loom_tensor_table *out, loom_error *err) {
    const char *name;
    json_t *entry;
    json_object_foreach(root, name, entry) {
        if (strcmp(name, "__metadata__") == 0) continue;
        loom_status st = add_entry(name, entry, buf, out, err);
        if (st != LOOM_OK) return st;
    }
    return check_no_overlap(out, err);
}

static loom_status parse_header(const uint8_t *json, size_t len, json_t **root, loom_error *err) {
    json_error_t jerr;
    *root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!*root) return loom_fail(err, LOOM_ERR_FORMAT, "bad JSON header: line %d: %s", jerr.line, jerr.text);
    if (!json_is_object(*root)) return loom_fail(err, LOOM_ERR_FORMAT, "JSON header is not an object");
    return LOOM_OK;
}

loom_status safetensors_parse(const uint8_t *data, size_t size_bytes, loom_tensor_table *out, loom_error *err) {
    *out = (loom_tensor_table){0};
    if (size_bytes < 8)
        return loom_fail(err, LOOM_ERR_FORMAT, "truncated: %zu bytes, shorter than the 8-byte header length",
                         size_bytes);
    uint64_t header_len = read_u64_le(data);
    if (header_len > size_bytes - 8)
        return loom_fail(err, LOOM_ERR_FORMAT, "header length %llu runs past the end of the file (%zu bytes)",
                         (unsigned long long)header_len, size_bytes);
    st_buffer buf = {data + 8 + header_len, size_bytes - 8 - (size_t)header_len};
    json_t *root = NULL;
    loom_status st = parse_header(data + 8, (size_t)header_len, &root, err);
    if (st == LOOM_OK) st = add_entries(root, &buf, out, err);
    json_decref(root);
    if (st != LOOM_OK) tensor_table_free(out);
    return st;
}
