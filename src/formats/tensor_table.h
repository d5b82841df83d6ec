/* The table every checkpoint parser produces: named, typed, shaped views into a mapped buffer.
 * Shapes are row-major as in the HF checkpoints (shape[0] = rows, shape[n_dims-1] = contiguous row
 * length); the GGUF parser reverses GGUF's ne[] order into this convention. */
#ifndef LOOM_FORMATS_TENSOR_TABLE_H
#define LOOM_FORMATS_TENSOR_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct loom_tensor_entry {
    char *name; /* owned, NUL-terminated */
    loom_dtype dtype;
    int n_dims; /* 0..LOOM_MAX_DIMS */
    int64_t shape[LOOM_MAX_DIMS];
    const uint8_t *data; /* into the caller's buffer; validated: data + size_bytes <= buffer end */
    size_t size_bytes;   /* == dtype_bytes(dtype, product of shape) */
} loom_tensor_entry;

typedef struct loom_tensor_table {
    loom_tensor_entry *entries; /* owned */
    size_t count;
    size_t capacity;
} loom_tensor_table;

/* Appends a copy of e (name is duplicated); LOOM_ERR_NO_MEMORY on failure. */
loom_status tensor_table_add(loom_tensor_table *t, const loom_tensor_entry *e, loom_error *err);
const loom_tensor_entry *tensor_table_find(const loom_tensor_table *t, const char *name);
void tensor_table_free(loom_tensor_table *t);

#endif
