/* struct loom_model (opaque in loom.h): config, weights, tokenizer, and what backs the weights. */
#ifndef LOOM_MODEL_MODEL_H
#define LOOM_MODEL_MODEL_H

#include <pthread.h>

#include "core/file_map.h"
#include "formats/gguf.h"
#include "formats/tensor_table.h"
#include "loom.h"
#include "model/config.h"
#include "model/shard.h"
#include "model/weights.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

/* How checkpoint tensor names map onto the weights struct. */
typedef enum loom_tensor_naming { LOOM_NAMES_HF = 0, LOOM_NAMES_GGUF } loom_tensor_naming;

struct loom_model {
    loom_config cfg;     /* the checkpoint's config (whole model) */
    loom_shard shard;    /* the part of it this process holds (whole without parallelism) */
    loom_config local;   /* cfg with this shard's head, KV head, intermediate and vocab counts */
    loom_weights w;      /* this shard's weights; layers outside it are zeroed */
    loom_tokenizer *tok; /* NULL for dummy models without a tokenizer */
    loom_file_map *maps; /* the mapped weight files, owned */
    size_t n_maps;
    loom_tensor_table tensors; /* every checkpoint tensor, pointing into maps */
    loom_gguf *gguf;           /* owned when loaded from GGUF */
    void **owned;              /* owned buffers (f32 copies of norms, dummy weights), freed with the model */
    size_t n_owned;
    loom_model_info info;
    char *source_path; /* what loom_model_load was given (chat_template_api.c reads beside it) */
    /* the chat template's source and parse, read on first use and kept (engine/chat_template_api.c) */
    pthread_mutex_t chat_lock;
    char *chat_source;
    loom_template *chat_template;
    int metadata_only;         /* no weight data: sizes only (loom_model_params.metadata_only) */
    loom_tensor_naming naming; /* how the checkpoint names its tensors (set by weights_bind) */
    int dummy_weights;         /* --load-format dummy: tensor entries have no data; the bound slices are
                                * generated (dummy_fill) */
    uint64_t dummy_seed;
};

/* Keeps p alive until the model is freed; frees p and fails when the list cannot grow. */
loom_status model_own(loom_model *m, void *p, loom_error *err);
/* Done with the n bytes at p (nothing points to them any more): frees p when the model owns it, or drops
 * the whole pages of it inside a mapped weight file from the resident set (they stay in the file and
 * would come back if read). */
void model_release(loom_model *m, const void *p, size_t n);
/* The whole pages inside [p, p + n) dropped from the resident set when they belong to a file mapping. */
void model_release_mapped_pages(const loom_model *m, const uint8_t *p, size_t n);
/* Rearranges the weight matrices the CPU kernels have a faster layout for (kernels/cpu/pack_x16.h):
 * each gets an owned copy in that layout and its rows are released (a tied embedding shares the LM
 * head's copy: the lookup reads a row out of its group). */
loom_status model_pack_weights(loom_model *m, loom_error *err);

/* Binds m->w to this shard's slices of the tensors in m->tensors (weight_slices.h), validating every
 * shape (the full checkpoint shapes) and dtype against m->cfg; copies norms and biases to float32;
 * computes the RoPE frequencies; adds up info.shard_weight_bytes. `source` names the checkpoint in errors. */
loom_status weights_bind(loom_model *m, loom_tensor_naming naming, const char *source, loom_error *err);

/* loom_model_load for rank (tp_rank, pp_rank) of the params' tensor x pipeline layout, without MPI:
 * loads only that rank's shard (tests load every rank's shard in one process this way). */
loom_status model_load_shard(const loom_model_params *params, int32_t tp_rank, int32_t pp_rank, loom_model **out,
                             loom_error *err);
/* Completes m->shard (its ranks and sizes set before loading) from m->cfg and sets m->local; each loader
 * calls it as soon as the config is known. */
loom_status model_init_shard(loom_model *m, loom_error *err);

/* Loaders: each fills cfg, tensors (and maps / gguf), tok. */
loom_status load_hf_dir(loom_model *m, const char *dir, loom_error *err);
loom_status load_gguf(loom_model *m, const char *path, loom_error *err);
loom_status load_dummy(loom_model *m, const char *path, uint64_t seed, loom_error *err);
/* Dummy values of rows [row_begin, +n_rows) x columns [col_begin, +n_cols) of dummy tensor e (a vector:
 * row 0, its elements as columns) into out [n_rows][n_cols]: each value is a function of the seed, the
 * tensor's name and the element's index alone, so any slice equals the whole tensor's values there. */
void dummy_fill(uint64_t seed, const loom_tensor_entry *e, int64_t row_begin, int64_t n_rows, int64_t col_begin,
                int64_t n_cols, float *out);

#endif
