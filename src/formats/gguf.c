/* GGUF v2/v3 parser. Every read goes through a bounds-checked cursor, and every count is checked
 * against the bytes left before anything is allocated for it, so the work and memory are linear in
 * the file size whatever the counts claim.
 *
 * Choices beyond the spec:
 * - Arrays of arrays (nesting up to MAX_ARRAY_DEPTH) are validated and skipped: the kv is kept with
 *   elem_type LOOM_GGUF_ARRAY, and the element getters return 0 for it. Deeper nesting is
 *   LOOM_ERR_UNSUPPORTED.
 * - Keys and tensor names must not contain NUL bytes; duplicate keys and duplicate tensor names are
 *   LOOM_ERR_FORMAT.
 * - Vocab-only files written by llama.cpp end right after the metadata, without the padding to the
 *   alignment: with zero tensors, a data section past EOF is clamped to the file size. */
#include "formats/gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_DEFAULT_ALIGNMENT 32
#define MAX_ARRAY_DEPTH 4
#define MIN_KV_BYTES 13          /* u64 key length + u32 type + 1-byte value */
#define MIN_TENSOR_INFO_BYTES 24 /* u64 name length + u32 n_dims + u32 type + u64 offset */

/* ---- bounds-checked reader ------------------------------------------------------------------- */

typedef struct cursor {
    const uint8_t *base;
    size_t size, pos;
    loom_error *err;
} cursor;

static size_t remaining(const cursor *c) { return c->size - c->pos; }

/* Little-endian unsigned integer of n <= 8 bytes. */
static uint64_t le_uint(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

/* Advances past n bytes; *p (if non-NULL) gets their start. */
static loom_status take(cursor *c, uint64_t n, const char *what, const uint8_t **p) {
    if (n > remaining(c))
        return loom_fail(c->err, LOOM_ERR_FORMAT, "truncated: %s needs %llu bytes at offset %zu, %zu left", what,
                         (unsigned long long)n, c->pos, remaining(c));
    if (p) *p = c->base + c->pos;
    c->pos += (size_t)n;
    return LOOM_OK;
}

static loom_status read_uint(cursor *c, size_t n, const char *what, uint64_t *v) {
    const uint8_t *p = NULL;
    loom_status st = take(c, n, what, &p);
    if (st == LOOM_OK) *v = le_uint(p, n);
    return st;
}

static loom_status read_u32(cursor *c, const char *what, uint32_t *v) {
    uint64_t wide = 0;
    loom_status st = read_uint(c, 4, what, &wide);
    *v = (uint32_t)wide;
    return st;
}

/* A GGUF string: u64 length, then that many bytes (not NUL-terminated). */
static loom_status read_str(cursor *c, const char *what, const uint8_t **s, uint64_t *len) {
    loom_status st = read_uint(c, 8, what, len);
    return st == LOOM_OK ? take(c, *len, what, s) : st;
}

/* A string that becomes an owned C string (key or tensor name): no embedded NUL. */
static loom_status read_name(cursor *c, const char *what, char **out) {
    const uint8_t *s = NULL;
    uint64_t len = 0;
    loom_status st = read_str(c, what, &s, &len);
    if (st != LOOM_OK) return st;
    if (memchr(s, 0, (size_t)len)) return loom_fail(c->err, LOOM_ERR_FORMAT, "%s contains a NUL byte", what);
    *out = strndup((const char *)s, (size_t)len);
    return *out ? LOOM_OK : loom_fail(c->err, LOOM_ERR_NO_MEMORY, "out of memory copying %s", what);
}

/* Fails unless count items of at least min_bytes each can fit in what is left. */
static loom_status check_count(cursor *c, uint64_t count, size_t min_bytes, const char *what) {
    if (count > remaining(c) / min_bytes)
        return loom_fail(c->err, LOOM_ERR_FORMAT, "%s count %llu cannot fit in the %zu bytes left", what,
                         (unsigned long long)count, remaining(c));
    return LOOM_OK;
}

/* Prefixes a failure's message with where it happened ("tensor 'x'"); passes st through. */
static loom_status add_context(loom_status st, loom_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static loom_status add_context(loom_status st, loom_error *err, const char *fmt, ...) {
    if (st == LOOM_OK || !err) return st;
    char prefix[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    error_prefix(err, prefix);
    return st;
}

/* ---- a set of names, for duplicate detection in linear time ----------------------------------- */

typedef struct name_set {
    const char **slots; /* open addressing; NULL = empty */
    size_t mask;
} name_set;

static loom_status name_set_init(name_set *s, size_t n, loom_error *err) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    s->slots = calloc(cap, sizeof *s->slots);
    s->mask = cap - 1;
    return s->slots ? LOOM_OK : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a name set");
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Returns 1 if inserted, 0 if the name was already there. The set holds at most half its slots. */
static int name_set_insert(name_set *s, const char *name) {
    size_t i = (size_t)fnv1a(name) & s->mask;
    for (; s->slots[i]; i = (i + 1) & s->mask)
        if (strcmp(s->slots[i], name) == 0) return 0;
    s->slots[i] = name;
    return 1;
}

static void name_set_free(name_set *s) { free(s->slots); }

/* ---- value decoding, shared by the parser and the getters -------------------------------------- */

/* Bytes of a fixed-size value type; 0 for strings, arrays and unknown ids. */
static size_t scalar_size(uint32_t type) {
    switch (type) {
        case LOOM_GGUF_U8:
        case LOOM_GGUF_I8:
        case LOOM_GGUF_BOOL: return 1;
        case LOOM_GGUF_U16:
        case LOOM_GGUF_I16: return 2;
        case LOOM_GGUF_U32:
        case LOOM_GGUF_I32:
        case LOOM_GGUF_F32: return 4;
        case LOOM_GGUF_U64:
        case LOOM_GGUF_I64:
        case LOOM_GGUF_F64: return 8;
        default: return 0;
    }
}

size_t gguf_scalar_bytes(loom_gguf_type type) { return scalar_size(type); }

static int decode_int(loom_gguf_type type, const uint8_t *p, int64_t *out) {
    uint64_t u = le_uint(p, scalar_size(type));
    switch (type) {
        case LOOM_GGUF_U8:
        case LOOM_GGUF_U16:
        case LOOM_GGUF_U32:
        case LOOM_GGUF_BOOL: *out = (int64_t)u; return 1;
        case LOOM_GGUF_I8: *out = (int8_t)u; return 1;
        case LOOM_GGUF_I16: *out = (int16_t)u; return 1;
        case LOOM_GGUF_I32: *out = (int32_t)u; return 1;
        case LOOM_GGUF_I64: *out = (int64_t)u; return 1;
        case LOOM_GGUF_U64:
            if (u > INT64_MAX) return 0;
            *out = (int64_t)u;
            return 1;
        default: return 0;
    }
}

static int decode_float(loom_gguf_type type, const uint8_t *p, double *out) {
    if (type == LOOM_GGUF_F32) {
        uint32_t bits = (uint32_t)le_uint(p, 4);
        float f;
        memcpy(&f, &bits, 4);
        *out = f;
        return 1;
    }
    if (type == LOOM_GGUF_F64) {
        uint64_t bits = le_uint(p, 8);
        memcpy(out, &bits, 8);
        return 1;
    }
    int64_t i;
    if (!decode_int(type, p, &i)) return 0;
    *out = (double)i;
    return 1;
}

/* p points at a validated string's u64 length. */
static void decode_string(const uint8_t *p, const char **s, size_t *len) {
    *len = (size_t)le_uint(p, 8);
    *s = (const char *)p + 8;
}

/* ---- metadata --------------------------------------------------------------------------------- */

static loom_status read_type(cursor *c, const char *what, loom_gguf_type *type) {
    uint32_t t;
    loom_status st = read_u32(c, what, &t);
    if (st != LOOM_OK) return st;
    if (t > LOOM_GGUF_F64) return loom_fail(c->err, LOOM_ERR_FORMAT, "unknown %s %u", what, t);
    *type = (loom_gguf_type)t;
    return LOOM_OK;
}

static loom_status read_array_header(cursor *c, loom_gguf_type *elem_type, uint64_t *n_elems) {
    loom_status st = read_type(c, "array element type", elem_type);
    return st == LOOM_OK ? read_uint(c, 8, "array length", n_elems) : st;
}

static loom_status skip_value(cursor *c, loom_gguf_type type, int depth);

/* Skips n values of one type; fixed-size ones in a single bounds check. */
static loom_status skip_elems(cursor *c, loom_gguf_type type, uint64_t n, int depth) {
    size_t size = scalar_size(type);
    if (size) {
        loom_status st = check_count(c, n, size, "array element");
        return st == LOOM_OK ? take(c, n * size, "array", NULL) : st;
    }
    loom_status st = LOOM_OK;
    for (uint64_t i = 0; i < n && st == LOOM_OK; i++) st = skip_value(c, type, depth); /* each takes >= 8 bytes */
    return st;
}

/* Skips one value; depth counts the arrays enclosing it. */
static loom_status skip_value(cursor *c, loom_gguf_type type, int depth) {
    if (type == LOOM_GGUF_STRING) {
        const uint8_t *s;
        uint64_t len;
        return read_str(c, "string", &s, &len);
    }
    if (type != LOOM_GGUF_ARRAY) return take(c, scalar_size(type), "value", NULL);
    if (depth >= MAX_ARRAY_DEPTH)
        return loom_fail(c->err, LOOM_ERR_UNSUPPORTED, "arrays nested deeper than %d", MAX_ARRAY_DEPTH);
    loom_gguf_type elem = LOOM_GGUF_U8;
    uint64_t n = 0;
    loom_status st = read_array_header(c, &elem, &n);
    return st == LOOM_OK ? skip_elems(c, elem, n, depth + 1) : st;
}

/* Records where each string of kv's array starts, so element i is O(1). */
static loom_status index_strings(cursor *c, loom_gguf_kv *kv) {
    loom_status st = check_count(c, kv->n_elems, 8, "string array element");
    if (st != LOOM_OK || kv->n_elems == 0) return st;
    kv->str_elems = malloc((size_t)kv->n_elems * sizeof *kv->str_elems);
    if (!kv->str_elems) return loom_fail(c->err, LOOM_ERR_NO_MEMORY, "out of memory indexing a string array");
    for (uint64_t i = 0; i < kv->n_elems && st == LOOM_OK; i++) {
        const uint8_t *s;
        uint64_t len;
        kv->str_elems[i] = c->base + c->pos;
        st = read_str(c, "string array element", &s, &len);
    }
    return st;
}

static loom_status parse_array(cursor *c, loom_gguf_kv *kv) {
    loom_status st = read_array_header(c, &kv->elem_type, &kv->n_elems);
    if (st != LOOM_OK) return st;
    kv->value = c->base + c->pos;
    if (kv->elem_type == LOOM_GGUF_STRING) return index_strings(c, kv);
    return skip_elems(c, kv->elem_type, kv->n_elems, 1);
}

static loom_status parse_kv(cursor *c, loom_gguf_kv *kv, name_set *keys) {
    loom_status st = read_type(c, "value type", &kv->type);
    if (st != LOOM_OK) return st;
    if (!name_set_insert(keys, kv->key)) return loom_fail(c->err, LOOM_ERR_FORMAT, "duplicate key");
    kv->n_elems = 1;
    kv->value = c->base + c->pos;
    return kv->type == LOOM_GGUF_ARRAY ? parse_array(c, kv) : skip_value(c, kv->type, 0);
}

static loom_status parse_kvs(cursor *c, loom_gguf *g, uint64_t n_kvs) {
    loom_status st = check_count(c, n_kvs, MIN_KV_BYTES, "metadata");
    if (st != LOOM_OK || n_kvs == 0) return st;
    g->kvs = calloc((size_t)n_kvs, sizeof *g->kvs);
    if (!g->kvs)
        return loom_fail(c->err, LOOM_ERR_NO_MEMORY, "out of memory for %llu metadata entries",
                         (unsigned long long)n_kvs);
    name_set keys;
    if ((st = name_set_init(&keys, (size_t)n_kvs, c->err)) != LOOM_OK) return st;
    for (size_t i = 0; i < n_kvs && st == LOOM_OK; i++) {
        loom_gguf_kv *kv = &g->kvs[g->n_kvs++]; /* counted now so that gguf_free releases it */
        st = add_context(read_name(c, "key", &kv->key), c->err, "metadata entry %zu", i);
        if (st == LOOM_OK) st = add_context(parse_kv(c, kv, &keys), c->err, "metadata key '%.128s'", kv->key);
    }
    name_set_free(&keys);
    return st;
}

/* general.alignment: a positive power of two, default 32. */
static loom_status resolve_alignment(loom_gguf *g, loom_error *err) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!gguf_find(g, "general.alignment")) return LOOM_OK;
    int64_t a;
    if (!gguf_get_int(g, "general.alignment", &a) || a <= 0 || (a & (a - 1)) != 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "general.alignment is not a positive power of two");
    g->alignment = (size_t)a;
    return LOOM_OK;
}

/* ---- tensor infos ------------------------------------------------------------------------------- */

/* ggml's type ids (ggml.h's enum ggml_type) and names; dtype LOOM_DTYPE_COUNT: a type loom does not load.
 * Q8_1 and Q8_K are llama.cpp's activation types (its quantizer never writes them; Q8_1's size differs
 * between ggml and gguf-py), the integer and F64 types never hold weights. */
static const struct {
    uint32_t id;
    const char *name;
    loom_dtype dtype;
} GGML_TYPES[] = {
    {0, "F32", LOOM_DTYPE_F32},          {1, "F16", LOOM_DTYPE_F16},
    {2, "Q4_0", LOOM_DTYPE_Q4_0},        {3, "Q4_1", LOOM_DTYPE_Q4_1},
    {6, "Q5_0", LOOM_DTYPE_Q5_0},        {7, "Q5_1", LOOM_DTYPE_Q5_1},
    {8, "Q8_0", LOOM_DTYPE_Q8_0},        {9, "Q8_1", LOOM_DTYPE_COUNT},
    {10, "Q2_K", LOOM_DTYPE_Q2_K},       {11, "Q3_K", LOOM_DTYPE_Q3_K},
    {12, "Q4_K", LOOM_DTYPE_Q4_K},       {13, "Q5_K", LOOM_DTYPE_Q5_K},
    {14, "Q6_K", LOOM_DTYPE_Q6_K},       {15, "Q8_K", LOOM_DTYPE_COUNT},
    {16, "IQ2_XXS", LOOM_DTYPE_IQ2_XXS}, {17, "IQ2_XS", LOOM_DTYPE_IQ2_XS},
    {18, "IQ3_XXS", LOOM_DTYPE_IQ3_XXS}, {19, "IQ1_S", LOOM_DTYPE_IQ1_S},
    {20, "IQ4_NL", LOOM_DTYPE_IQ4_NL},   {21, "IQ3_S", LOOM_DTYPE_IQ3_S},
    {22, "IQ2_S", LOOM_DTYPE_IQ2_S},     {23, "IQ4_XS", LOOM_DTYPE_IQ4_XS},
    {24, "I8", LOOM_DTYPE_COUNT},        {25, "I16", LOOM_DTYPE_COUNT},
    {26, "I32", LOOM_DTYPE_COUNT},       {27, "I64", LOOM_DTYPE_COUNT},
    {28, "F64", LOOM_DTYPE_COUNT},       {29, "IQ1_M", LOOM_DTYPE_IQ1_M},
    {30, "BF16", LOOM_DTYPE_BF16},       {34, "TQ1_0", LOOM_DTYPE_TQ1_0},
    {35, "TQ2_0", LOOM_DTYPE_TQ2_0},     {39, "MXFP4", LOOM_DTYPE_MXFP4},
    {40, "NVFP4", LOOM_DTYPE_NVFP4},     {41, "Q1_0", LOOM_DTYPE_Q1_0},
    {42, "Q2_0", LOOM_DTYPE_Q2_0},       {LOOM_GGUF_TYPE_FP8_E4M3, "loom FP8_E4M3", LOOM_DTYPE_FP8_E4M3},
};
#define N_GGML_TYPES (sizeof GGML_TYPES / sizeof GGML_TYPES[0])

uint32_t gguf_type_id(loom_dtype t) {
    for (size_t i = 0; i < N_GGML_TYPES; i++)
        if (GGML_TYPES[i].dtype == t) return GGML_TYPES[i].id;
    return UINT32_MAX;
}

static loom_status map_ggml_type(cursor *c, uint32_t id, loom_dtype *out) {
    for (size_t i = 0; i < N_GGML_TYPES; i++) {
        if (GGML_TYPES[i].id != id) continue;
        if (GGML_TYPES[i].dtype == LOOM_DTYPE_COUNT)
            return loom_fail(c->err, LOOM_ERR_UNSUPPORTED,
                             "unsupported ggml type %s (id %u): not a weight type loom reads", GGML_TYPES[i].name, id);
        *out = GGML_TYPES[i].dtype;
        return LOOM_OK;
    }
    return loom_fail(c->err, LOOM_ERR_UNSUPPORTED, "unsupported ggml type id %u (unknown to loom)", id);
}

/* n_dims and ne[] (innermost first) into e->shape (outermost first); *n_elems = product. */
static loom_status read_shape(cursor *c, loom_tensor_entry *e, int64_t *n_elems) {
    uint32_t n_dims;
    loom_status st = read_u32(c, "n_dims", &n_dims);
    if (st != LOOM_OK) return st;
    if (n_dims > LOOM_MAX_DIMS) return loom_fail(c->err, LOOM_ERR_FORMAT, "n_dims %u > %d", n_dims, LOOM_MAX_DIMS);
    e->n_dims = (int)n_dims;
    int64_t prod = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        uint64_t ne;
        if ((st = read_uint(c, 8, "ne", &ne)) != LOOM_OK) return st;
        if (ne > INT64_MAX || (ne > 0 && prod > INT64_MAX / (int64_t)ne))
            return loom_fail(c->err, LOOM_ERR_FORMAT, "element count overflows (ne[%u] = %llu)", i,
                             (unsigned long long)ne);
        prod *= (int64_t)ne;
        e->shape[n_dims - 1 - i] = (int64_t)ne;
    }
    *n_elems = prod;
    return LOOM_OK;
}

/* Rows never split a block; the byte size must fit in the file (which also rules out overflow). */
static loom_status compute_size(cursor *c, loom_tensor_entry *e, int64_t n_elems) {
    int64_t block = dtype_block_elems(e->dtype);
    int64_t row_len = e->n_dims ? e->shape[e->n_dims - 1] : 1;
    if (row_len % block != 0)
        return loom_fail(c->err, LOOM_ERR_FORMAT, "row length %lld is not a multiple of the %s block size %lld",
                         (long long)row_len, dtype_name(e->dtype), (long long)block);
    uint64_t n_blocks = (uint64_t)(n_elems / block);
    size_t block_bytes = dtype_block_bytes(e->dtype);
    if (n_blocks > c->size / block_bytes)
        return loom_fail(c->err, LOOM_ERR_FORMAT, "%lld elements cannot fit in the file (truncated?)",
                         (long long)n_elems);
    e->size_bytes = (size_t)n_blocks * block_bytes;
    return LOOM_OK;
}

/* One tensor info, added to the table with data unset; *offset is relative to the data section. */
static loom_status parse_tensor_info(cursor *c, const char *name, size_t alignment, loom_tensor_table *t,
                                     uint64_t *offset) {
    loom_tensor_entry e = {.name = (char *)name};
    int64_t n_elems = 0;
    uint32_t type_id = 0;
    loom_status st = read_shape(c, &e, &n_elems);
    if (st == LOOM_OK) st = read_u32(c, "ggml type", &type_id);
    if (st == LOOM_OK) st = map_ggml_type(c, type_id, &e.dtype);
    if (st == LOOM_OK) st = compute_size(c, &e, n_elems);
    if (st == LOOM_OK) st = read_uint(c, 8, "offset", offset);
    if (st != LOOM_OK) return st;
    if (*offset % alignment != 0)
        return loom_fail(c->err, LOOM_ERR_FORMAT, "offset %llu is not a multiple of the alignment %zu",
                         (unsigned long long)*offset, alignment);
    return tensor_table_add(t, &e, c->err);
}

static loom_status parse_tensor_infos(cursor *c, loom_gguf *g, uint64_t n_tensors, uint64_t *offsets) {
    name_set names;
    loom_status st = name_set_init(&names, (size_t)n_tensors, c->err);
    for (size_t i = 0; i < n_tensors && st == LOOM_OK; i++) {
        char *name = NULL;
        st = add_context(read_name(c, "tensor name", &name), c->err, "tensor info %zu", i);
        if (st == LOOM_OK) st = parse_tensor_info(c, name, g->alignment, &g->tensors, &offsets[i]);
        if (st == LOOM_OK && !name_set_insert(&names, g->tensors.entries[i].name))
            st = loom_fail(c->err, LOOM_ERR_FORMAT, "duplicate tensor name");
        if (name) st = add_context(st, c->err, "tensor '%.128s'", name);
        free(name);
    }
    name_set_free(&names);
    return st;
}

/* The data section starts at the next multiple of the alignment; every tensor must lie inside it. */
static loom_status place_tensors(cursor *c, loom_gguf *g, const uint64_t *offsets) {
    size_t pad = (g->alignment - c->pos % g->alignment) % g->alignment;
    if (pad > remaining(c)) {
        if (g->tensors.count > 0)
            return loom_fail(c->err, LOOM_ERR_FORMAT,
                             "data section (after %zu bytes of padding) starts past the end of the file", pad);
        pad = remaining(c); /* vocab-only file without trailing padding */
    }
    g->data_offset = c->pos + pad;
    size_t data_size = c->size - g->data_offset;
    for (size_t i = 0; i < g->tensors.count; i++) {
        loom_tensor_entry *e = &g->tensors.entries[i];
        if (offsets[i] > data_size || e->size_bytes > data_size - offsets[i])
            return loom_fail(c->err, LOOM_ERR_FORMAT,
                             "tensor '%.128s': data at offset %llu (%zu bytes) runs past the end of the file", e->name,
                             (unsigned long long)offsets[i], e->size_bytes);
        e->data = c->base + g->data_offset + offsets[i];
    }
    return LOOM_OK;
}

static loom_status parse_tensors(cursor *c, loom_gguf *g, uint64_t n_tensors) {
    loom_status st = check_count(c, n_tensors, MIN_TENSOR_INFO_BYTES, "tensor");
    if (st != LOOM_OK) return st;
    uint64_t *offsets = malloc(((size_t)n_tensors + 1) * sizeof *offsets); /* +1: never malloc(0) */
    if (!offsets)
        return loom_fail(c->err, LOOM_ERR_NO_MEMORY, "out of memory for %llu tensor infos",
                         (unsigned long long)n_tensors);
    st = parse_tensor_infos(c, g, n_tensors, offsets);
    if (st == LOOM_OK) st = place_tensors(c, g, offsets);
    free(offsets);
    return st;
}

/* ---- header and entry point --------------------------------------------------------------------- */

static loom_status parse_version(cursor *c, uint32_t *version) {
    loom_status st = read_u32(c, "version", version);
    if (st != LOOM_OK || *version == 2 || *version == 3) return st;
    if (*version == 0x02000000u || *version == 0x03000000u)
        return loom_fail(c->err, LOOM_ERR_UNSUPPORTED, "big-endian GGUF is not supported");
    return loom_fail(c->err, LOOM_ERR_UNSUPPORTED, "GGUF version %u is not supported (only v2 and v3)", *version);
}

static loom_status parse_all(cursor *c, loom_gguf *g) {
    const uint8_t *magic = NULL;
    uint64_t n_tensors, n_kvs;
    loom_status st = take(c, 4, "magic", &magic);
    if (st != LOOM_OK) return st;
    if (memcmp(magic, "GGUF", 4) != 0) return loom_fail(c->err, LOOM_ERR_FORMAT, "bad magic (not a GGUF file)");
    if ((st = parse_version(c, &g->version)) != LOOM_OK) return st;
    if ((st = read_uint(c, 8, "tensor count", &n_tensors)) != LOOM_OK) return st;
    if ((st = read_uint(c, 8, "metadata count", &n_kvs)) != LOOM_OK) return st;
    if ((st = parse_kvs(c, g, n_kvs)) != LOOM_OK) return st;
    if ((st = resolve_alignment(g, c->err)) != LOOM_OK) return st;
    return parse_tensors(c, g, n_tensors);
}

loom_status gguf_parse(const uint8_t *data, size_t size_bytes, loom_gguf *out, loom_error *err) {
    *out = (loom_gguf){0};
    cursor c = {data, size_bytes, 0, err};
    loom_status st = parse_all(&c, out);
    if (st != LOOM_OK) gguf_free(out);
    return st;
}

void gguf_free(loom_gguf *g) {
    for (size_t i = 0; i < g->n_kvs; i++) {
        free(g->kvs[i].key);
        free(g->kvs[i].str_elems);
    }
    free(g->kvs);
    tensor_table_free(&g->tensors);
    *g = (loom_gguf){0};
}

/* ---- getters ---------------------------------------------------------------------------------- */

const loom_gguf_kv *gguf_find(const loom_gguf *g, const char *key) {
    for (size_t i = 0; i < g->n_kvs; i++)
        if (strcmp(g->kvs[i].key, key) == 0) return &g->kvs[i];
    return NULL;
}

int gguf_get_int(const loom_gguf *g, const char *key, int64_t *out) {
    const loom_gguf_kv *kv = gguf_find(g, key);
    return kv && decode_int(kv->type, kv->value, out);
}

int gguf_get_float(const loom_gguf *g, const char *key, double *out) {
    const loom_gguf_kv *kv = gguf_find(g, key);
    return kv && decode_float(kv->type, kv->value, out);
}

int gguf_get_bool(const loom_gguf *g, const char *key, int *out) {
    const loom_gguf_kv *kv = gguf_find(g, key);
    if (!kv || kv->type != LOOM_GGUF_BOOL) return 0;
    *out = kv->value[0] != 0;
    return 1;
}

int gguf_get_string(const loom_gguf *g, const char *key, const char **s, size_t *len) {
    const loom_gguf_kv *kv = gguf_find(g, key);
    if (!kv || kv->type != LOOM_GGUF_STRING) return 0;
    decode_string(kv->value, s, len);
    return 1;
}

int gguf_arr_string(const loom_gguf_kv *kv, uint64_t i, const char **s, size_t *len) {
    if (!kv || kv->type != LOOM_GGUF_ARRAY || kv->elem_type != LOOM_GGUF_STRING || i >= kv->n_elems) return 0;
    decode_string(kv->str_elems[i], s, len);
    return 1;
}

/* Element i of an array of fixed-size values, or NULL. */
static const uint8_t *fixed_elem(const loom_gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != LOOM_GGUF_ARRAY || i >= kv->n_elems || !scalar_size(kv->elem_type)) return NULL;
    return kv->value + i * scalar_size(kv->elem_type);
}

int gguf_arr_int(const loom_gguf_kv *kv, uint64_t i, int64_t *out) {
    const uint8_t *p = fixed_elem(kv, i);
    return p && decode_int(kv->elem_type, p, out);
}

int gguf_arr_float(const loom_gguf_kv *kv, uint64_t i, double *out) {
    const uint8_t *p = fixed_elem(kv, i);
    return p && decode_float(kv->elem_type, p, out);
}
