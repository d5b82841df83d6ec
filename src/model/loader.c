/* loom_model_load: chooses the loader by what the path holds, and the model-level public API. */
#include <stdlib.h>
#include <string.h>

#include "model/forward.h"
#include "model/model.h"
#include "model/quant_load.h"
#include "model/weight_slices.h"

loom_model_params loom_model_default_params(void) {
    return (loom_model_params){.path = NULL, .load_format = LOOM_LOAD_AUTO, .dummy_seed = 0x5eed};
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void fill_shard_info(loom_model_info *i, const loom_shard *s) {
    i->tp_rank = s->tp_rank, i->tp_size = s->tp_size, i->pp_rank = s->pp_rank, i->pp_size = s->pp_size;
    i->shard_layer_begin = s->layer_begin, i->shard_layer_end = s->layer_end, i->shard_n_kv_heads = s->n_kv_heads;
}

/* Everything but shard_weight_bytes, which binding adds up (or shard_weight_bytes gives). */
static void fill_info(loom_model *m) {
    const loom_config *c = &m->cfg;
    loom_model_info *i = &m->info;
    i->architecture = arch_name(c->arch);
    i->vocab_size = c->vocab_size;
    i->n_layers = c->n_layers;
    i->hidden_size = c->hidden_size;
    i->n_heads = c->n_heads;
    i->n_kv_heads = c->n_kv_heads;
    i->head_dim = c->head_dim;
    i->max_position_embeddings = c->max_position_embeddings;
    i->bos_id = c->bos_id;
    i->eos_ids = c->eos_ids;
    i->n_eos_ids = c->n_eos_ids;
    i->activation_bytes_per_token = workspace_bytes(c, 1);
    i->kv_dtype_auto = c->dtype == LOOM_DTYPE_BF16 ? LOOM_KV_BF16
        : c->dtype == LOOM_DTYPE_F16               ? LOOM_KV_F16
                                                   : LOOM_KV_F32;
    for (size_t k = 0; k < m->tensors.count; k++) {
        i->weight_bytes += m->tensors.entries[k].size_bytes;
        int64_t n = 1;
        for (int d = 0; d < m->tensors.entries[k].n_dims; d++) n *= m->tensors.entries[k].shape[d];
        i->n_params += (uint64_t)n;
    }
    fill_shard_info(i, &m->shard);
}

/* The tokenizer's own ids win where the config gives none. */
static void merge_special_ids(loom_model *m) {
    loom_config *c = &m->cfg;
    if (!m->tok) return;
    if (c->bos_id < 0) c->bos_id = loom_tokenizer_bos_id(m->tok);
    int32_t eos = loom_tokenizer_eos_id(m->tok);
    if (c->n_eos_ids == 0 && eos >= 0) c->eos_ids[c->n_eos_ids++] = eos;
}

static int32_t parallel_size(int32_t n) { return n > 0 ? n : 1; }

loom_status model_load_shard(const loom_model_params *params, int32_t tp_rank, int32_t pp_rank, loom_model **out,
                             loom_error *err) {
    *out = NULL;
    if (!params || !params->path || !params->path[0])
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "no model path given");
    const char *path = params->path;
    loom_model *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->chat_lock, NULL);
    if (!m) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st;
    m->shard = (loom_shard){.tp_rank = tp_rank,
                            .tp_size = parallel_size(params->tensor_parallel_size),
                            .pp_rank = pp_rank,
                            .pp_size = parallel_size(params->pipeline_parallel_size),
                            .expert_parallel = params->enable_expert_parallel != 0};
    m->metadata_only = params->load_format == LOOM_LOAD_DUMMY && params->metadata_only;
    if (!(m->source_path = strdup(path))) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    else if (params->load_format == LOOM_LOAD_DUMMY) st = load_dummy(m, path, params->dummy_seed, err);
    else if (path_is_dir(path)) st = load_hf_dir(m, path, err);
    else if (ends_with(path, ".gguf") || path_exists(path)) st = load_gguf(m, path, err);
    else st = loom_fail(err, LOOM_ERR_IO, "%s: no such file or directory", path);
    if (st == LOOM_OK && !m->metadata_only) st = quantize_weights(m, params->quantization, err);
    if (st == LOOM_OK && !m->metadata_only && !params->keep_row_layout) st = model_pack_weights(m, err);
    if (st == LOOM_OK && m->metadata_only)
        st = shard_weight_bytes(&m->tensors, m->naming, &m->cfg, &m->shard, path, &m->info.shard_weight_bytes, err);
    if (st == LOOM_OK && m->tok && loom_tokenizer_vocab_size(m->tok) > m->cfg.vocab_size)
        st = loom_fail(err, LOOM_ERR_FORMAT, "%s: tokenizer has %d tokens but the model's vocab_size is %d", path,
                       loom_tokenizer_vocab_size(m->tok), m->cfg.vocab_size);
    if (st != LOOM_OK) {
        loom_model_free(m);
        return st;
    }
    merge_special_ids(m);
    fill_info(m);
    *out = m;
    return LOOM_OK;
}

void loom_model_free(loom_model *m) {
    if (!m) return;
    loom_tokenizer_free(m->tok);
    tensor_table_free(&m->tensors);
    if (m->gguf) gguf_free(m->gguf);
    free(m->gguf);
    for (size_t i = 0; i < m->n_maps; i++) file_map_close(&m->maps[i]);
    free(m->maps);
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->w.layers);
    free(m->source_path);
    free(m->chat_source);
    template_free(m->chat_template);
    pthread_mutex_destroy(&m->chat_lock);
    free(m);
}

const loom_model_info *loom_model_get_info(const loom_model *m) { return &m->info; }

loom_status loom_model_shard_info(const loom_model *m, int32_t tp_rank, int32_t tp_size, int32_t pp_rank,
                                  int32_t pp_size, loom_model_info *out, loom_error *err) {
    loom_shard s;
    uint64_t bytes = 0;
    loom_status st = shard_init_ep(&s, &m->cfg, tp_rank, tp_size, pp_rank, pp_size, m->shard.expert_parallel, err);
    if (st == LOOM_OK) st = shard_weight_bytes(&m->tensors, m->naming, &m->cfg, &s, m->source_path, &bytes, err);
    if (st != LOOM_OK) return st;
    *out = m->info;
    fill_shard_info(out, &s);
    out->shard_weight_bytes = bytes;
    return LOOM_OK;
}
