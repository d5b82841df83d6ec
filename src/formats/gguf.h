/* GGUF v2/v3: magic "GGUF", u32 version, u64 tensor count, u64 kv count, the metadata key/values,
 * the tensor infos (name, n_dims, ne[] innermost first, ggml type, u64 offset), padding to
 * general.alignment (default 32), then the tensor data. All integers little-endian. */
#ifndef LOOM_FORMATS_GGUF_H
#define LOOM_FORMATS_GGUF_H

#include "formats/tensor_table.h"

typedef enum loom_gguf_type {
    LOOM_GGUF_U8 = 0,
    LOOM_GGUF_I8 = 1,
    LOOM_GGUF_U16 = 2,
    LOOM_GGUF_I16 = 3,
    LOOM_GGUF_U32 = 4,
    LOOM_GGUF_I32 = 5,
    LOOM_GGUF_F32 = 6,
    LOOM_GGUF_BOOL = 7,
    LOOM_GGUF_STRING = 8,
    LOOM_GGUF_ARRAY = 9,
    LOOM_GGUF_U64 = 10,
    LOOM_GGUF_I64 = 11,
    LOOM_GGUF_F64 = 12,
} loom_gguf_type;

/* loom's own ggml type id for LOOM_DTYPE_FP8_E4M3 tensors, written by `loom quantize --type fp8`
 * (src/model/gguf_quantize.c); far above llama.cpp's ids, which llama.cpp rejects. */
#define LOOM_GGUF_TYPE_FP8_E4M3 1024u
/* The ggml type id a dtype is stored as in GGUF (UINT32_MAX: none, e.g. I32). */
uint32_t gguf_type_id(loom_dtype t);

typedef struct loom_gguf_kv {
    char *key; /* owned */
    loom_gguf_type type;
    loom_gguf_type elem_type;  /* for arrays */
    uint64_t n_elems;          /* for arrays (and 1 otherwise) */
    const uint8_t *value;      /* into the buffer: the scalar, the string's u64 length, or the first array element */
    const uint8_t **str_elems; /* owned, for arrays of strings: pointer to each element's u64 length */
} loom_gguf_kv;

typedef struct loom_gguf {
    uint32_t version;
    loom_gguf_kv *kvs; /* owned */
    size_t n_kvs;
    loom_tensor_table tensors; /* shapes reversed to row-major, dtypes mapped from ggml types */
    size_t alignment;
    size_t data_offset; /* start of the tensor data section */
} loom_gguf;

/* Parses a whole mapped file; validates every length and offset against size_bytes, rejects unknown
 * or unsupported ggml types (LOOM_ERR_UNSUPPORTED naming the tensor and type id), tensors whose data
 * runs past EOF, misaligned offsets, duplicate names. Caller prefixes the file name. */
loom_status gguf_parse(const uint8_t *data, size_t size_bytes, loom_gguf *out, loom_error *err);
void gguf_free(loom_gguf *g);

/* Bytes of a fixed-size value type; 0 for strings and arrays. */
size_t gguf_scalar_bytes(loom_gguf_type type);
const loom_gguf_kv *gguf_find(const loom_gguf *g, const char *key);
/* Typed getters: return 1 and set *out when the key exists with a compatible type, else 0.
 * get_int accepts any integer type (and bool); get_float accepts F32/F64 and integers. */
int gguf_get_int(const loom_gguf *g, const char *key, int64_t *out);
int gguf_get_float(const loom_gguf *g, const char *key, double *out);
int gguf_get_bool(const loom_gguf *g, const char *key, int *out);
/* Strings are not NUL-terminated inside the file: pointer + length. */
int gguf_get_string(const loom_gguf *g, const char *key, const char **s, size_t *len);
/* Array element access (index < kv->n_elems, checked): */
int gguf_arr_string(const loom_gguf_kv *kv, uint64_t i, const char **s, size_t *len);
int gguf_arr_int(const loom_gguf_kv *kv, uint64_t i, int64_t *out);
int gguf_arr_float(const loom_gguf_kv *kv, uint64_t i, double *out);

#endif
