/* safetensors: u64 little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {...}},
 * then the byte buffer; offsets are relative to the buffer start (8 + N). */
#ifndef LOOM_FORMATS_SAFETENSORS_H
#define LOOM_FORMATS_SAFETENSORS_H

#include "formats/tensor_table.h"

/* Parses a whole mapped file. Every entry is validated: known dtype (F32, F16, BF16; anything else is
 * LOOM_ERR_UNSUPPORTED naming the tensor and dtype), shape product * dtype size == end - begin,
 * offsets inside the file, no overlaps. Messages do not include the file name (the caller prefixes
 * it). On error *out is left empty. */
loom_status safetensors_parse(const uint8_t *data, size_t size_bytes, loom_tensor_table *out, loom_error *err);

#endif
