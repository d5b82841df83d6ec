/* PyTorch checkpoints (torch.save zip format): an uncompressed zip holding ARCHIVE/data.pkl (a pickle
 * of an OrderedDict name -> tensor, each tensor rebuilt by torch._utils._rebuild_tensor_v2 from a
 * persistent-id storage reference) and ARCHIVE/data/<key> raw little-endian storages.
 * The pickle is read by a restricted unpickler (formats/pickle.h) that accepts only the opcodes and
 * globals that format uses; any other global is refused naming it. Nothing is ever executed. */
#ifndef LOOM_FORMATS_PYTORCH_H
#define LOOM_FORMATS_PYTORCH_H

#include "formats/tensor_table.h"

/* Entries point straight into the stored zip members (no copy). Only contiguous tensors are accepted
 * (a non-contiguous stride is LOOM_ERR_UNSUPPORTED naming the tensor). Dtypes: float32, float16,
 * bfloat16 storages. Caller prefixes the file name. */
loom_status pytorch_parse(const uint8_t *data, size_t size_bytes, loom_tensor_table *out, loom_error *err);

#endif
