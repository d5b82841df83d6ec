/* struct loom_model (opaque in loom.h): config, weights, tokenizer, and what backs the weights. */
#ifndef LOOM_MODEL_MODEL_H
#define LOOM_MODEL_MODEL_H

#include "loom.h"
#include "core/file_map.h"
#include "formats/gguf.h"
#include "formats/tensor_table.h"
#include "model/config.h"
#include "model/weights.h"
#include "tokenizer/tokenizer.h"

struct loom_model {
    loom_config cfg;
    loom_weights w;
    loom_tokenizer *tok;       /* NULL for dummy models without a tokenizer */
    loom_file_map *maps;       /* the mapped weight files, owned */
    size_t n_maps;
    loom_tensor_table tensors; /* every checkpoint tensor, pointing into maps */
    loom_gguf *gguf;           /* owned when loaded from GGUF */
    void **owned;              /* owned buffers (f32 copies of norms, dummy weights), freed with the model */
    size_t n_owned;
    loom_model_info info;
    char *source_path;         /* what loom_model_load was given (chat_template_api.c reads beside it) */
    int metadata_only;         /* no weight data: sizes only (loom_model_params.metadata_only) */
};

/* Keeps p alive until the model is freed; frees p and fails when the list cannot grow. */
loom_status loom_model_own(loom_model *m, void *p, loom_error *err);

/* How checkpoint tensor names map onto the weights struct. */
typedef enum loom_tensor_naming { LOOM_NAMES_HF = 0, LOOM_NAMES_GGUF } loom_tensor_naming;

/* Binds m->w to the tensors in m->tensors, validating every shape and dtype against m->cfg; copies
 * norms and biases to float32; computes the RoPE frequencies. `source` names the checkpoint in errors. */
loom_status loom_weights_bind(loom_model *m, loom_tensor_naming naming, const char *source, loom_error *err);

/* Reads DIR/config.json into cfg. */
loom_status loom_read_hf_config(const char *dir, loom_config *cfg, loom_error *err);

/* Loaders: each fills cfg, tensors (and maps / gguf), tok. */
loom_status loom_load_hf_dir(loom_model *m, const char *dir, loom_error *err);
loom_status loom_load_gguf(loom_model *m, const char *path, loom_error *err);
loom_status loom_load_dummy(loom_model *m, const char *path, uint64_t seed, loom_error *err);

#endif
