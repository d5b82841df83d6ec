#include "model/config.h"

#include "core/file_map.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

const char *loom_arch_name(loom_arch a) {
    switch (a) {
    case LOOM_ARCH_LLAMA: return "llama";
    case LOOM_ARCH_MISTRAL: return "mistral";
    case LOOM_ARCH_QWEN2: return "qwen2";
    case LOOM_ARCH_MIXTRAL: return "mixtral";
    case LOOM_ARCH_QWEN2_MOE: return "qwen2_moe";
    case LOOM_ARCH_QWEN3_MOE: return "qwen3_moe";
    case LOOM_ARCH_OLMOE: return "olmoe";
    }
    return "unknown";
}

int32_t loom_config_q_dim(const loom_config *cfg) { return cfg->n_heads * cfg->head_dim; }
int32_t loom_config_kv_dim(const loom_config *cfg) { return cfg->n_kv_heads * cfg->head_dim; }
int loom_config_is_moe(const loom_config *cfg) { return cfg->moe.n_experts > 0; }

/* HF defaults of LlamaConfig; per-architecture differences applied after the architecture is known. */
static void config_defaults(loom_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->rms_norm_eps = 1e-6f;
    cfg->rope_theta = 10000.0f;
    cfg->max_position_embeddings = 2048;
    cfg->bos_id = -1;
}

/* ---- config.json ------------------------------------------------------------------------------- */

typedef struct json_reader {
    json_t *root;
    const char *path;
    loom_error *err;
    loom_status status;
} json_reader;

/* Reads an optional integer field; a present field of the wrong type is an error. */
static int32_t json_int(json_reader *r, const char *key, int32_t fallback) {
    json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v)) return fallback;
    if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX) {
        if (r->status == LOOM_OK)
            r->status = loom_fail(r->err, LOOM_ERR_FORMAT, "%s: field '%s' must be an integer", r->path, key);
        return fallback;
    }
    return (int32_t)json_integer_value(v);
}

static double json_num_in(json_reader *r, json_t *obj, const char *key, double fallback) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return fallback;
    if (!json_is_number(v)) {
        if (r->status == LOOM_OK)
            r->status = loom_fail(r->err, LOOM_ERR_FORMAT, "%s: field '%s' must be a number", r->path, key);
        return fallback;
    }
    return json_number_value(v);
}

static int json_bool(json_reader *r, const char *key, int fallback) {
    json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v)) return fallback;
    if (!json_is_boolean(v)) {
        if (r->status == LOOM_OK)
            r->status = loom_fail(r->err, LOOM_ERR_FORMAT, "%s: field '%s' must be true or false", r->path, key);
        return fallback;
    }
    return json_is_true(v);
}

static loom_status read_arch(json_reader *r, loom_config *cfg) {
    static const struct { const char *hf_class, *model_type; loom_arch arch; } known[] = {
        {"LlamaForCausalLM", "llama", LOOM_ARCH_LLAMA},
        {"MistralForCausalLM", "mistral", LOOM_ARCH_MISTRAL},
        {"Qwen2ForCausalLM", "qwen2", LOOM_ARCH_QWEN2},
        {"MixtralForCausalLM", "mixtral", LOOM_ARCH_MIXTRAL},
        {"Qwen2MoeForCausalLM", "qwen2_moe", LOOM_ARCH_QWEN2_MOE},
        {"Qwen3MoeForCausalLM", "qwen3_moe", LOOM_ARCH_QWEN3_MOE},
        {"OlmoeForCausalLM", "olmoe", LOOM_ARCH_OLMOE},
    };
    json_t *archs = json_object_get(r->root, "architectures");
    const char *name = NULL;
    if (json_is_array(archs) && json_array_size(archs) > 0) name = json_string_value(json_array_get(archs, 0));
    const char *model_type = json_string_value(json_object_get(r->root, "model_type"));
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if ((name && strcmp(name, known[i].hf_class) == 0) ||
            (!name && model_type && strcmp(model_type, known[i].model_type) == 0)) {
            cfg->arch = known[i].arch;
            return LOOM_OK;
        }
    }
    return loom_fail(r->err, LOOM_ERR_UNSUPPORTED,
                     "%s: unsupported architecture '%s' (supported: LlamaForCausalLM, MistralForCausalLM, "
                     "Qwen2ForCausalLM, MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, OlmoeForCausalLM)",
                     r->path, name ? name : model_type ? model_type : "(none given)");
}

static loom_status read_rope_scaling(json_reader *r, loom_config *cfg) {
    json_t *rs = json_object_get(r->root, "rope_scaling");
    if (!rs || json_is_null(rs)) return LOOM_OK;
    if (!json_is_object(rs)) return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: rope_scaling must be an object", r->path);
    const char *type = json_string_value(json_object_get(rs, "rope_type"));
    if (!type) type = json_string_value(json_object_get(rs, "type"));
    if (!type || strcmp(type, "llama3") != 0)
        return loom_fail(r->err, LOOM_ERR_UNSUPPORTED, "%s: unsupported rope_scaling type '%s' (supported: llama3)",
                         r->path, type ? type : "(none)");
    cfg->rope_scaling_llama3 = 1;
    cfg->rope_factor = (float)json_num_in(r, rs, "factor", 8.0);
    cfg->rope_low_freq_factor = (float)json_num_in(r, rs, "low_freq_factor", 1.0);
    cfg->rope_high_freq_factor = (float)json_num_in(r, rs, "high_freq_factor", 4.0);
    cfg->rope_original_max_position = (int32_t)json_num_in(r, rs, "original_max_position_embeddings", 8192);
    return r->status;
}

static loom_status read_eos(json_reader *r, loom_config *cfg) {
    json_t *v = json_object_get(r->root, "eos_token_id");
    if (!v || json_is_null(v)) return LOOM_OK;
    if (json_is_integer(v)) {
        cfg->eos_ids[cfg->n_eos_ids++] = (int32_t)json_integer_value(v);
        return LOOM_OK;
    }
    if (!json_is_array(v)) return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: eos_token_id must be an integer or a list", r->path);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_integer(e)) return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: eos_token_id list holds a non-integer", r->path);
        if (cfg->n_eos_ids < LOOM_MAX_EOS_IDS) cfg->eos_ids[cfg->n_eos_ids++] = (int32_t)json_integer_value(e);
    }
    return LOOM_OK;
}

/* Without an explicit head_dim the heads split the hidden size evenly. */
static loom_status read_torch_dtype(json_reader *r, loom_config *cfg) {
    static const struct { const char *name; loom_dtype dtype; } known[] = {
        {"float32", LOOM_DTYPE_F32}, {"float16", LOOM_DTYPE_F16}, {"bfloat16", LOOM_DTYPE_BF16}};
    const char *name = json_string_value(json_object_get(r->root, "torch_dtype"));
    if (!name) name = json_string_value(json_object_get(r->root, "dtype")); /* newer transformers */
    cfg->dtype = LOOM_DTYPE_F32;
    for (size_t i = 0; name && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(name, known[i].name) == 0) return (cfg->dtype = known[i].dtype), LOOM_OK;
    return name ? loom_fail(r->err, LOOM_ERR_UNSUPPORTED, "%s: torch_dtype '%s' is not float32, float16 or bfloat16",
                            r->path, name)
                : LOOM_OK;
}

static loom_status default_head_dim(loom_config *cfg, const char *path, loom_error *err) {
    if (cfg->n_heads <= 0 || cfg->hidden_size % cfg->n_heads != 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "%s: hidden_size (%d) is not divisible by num_attention_heads (%d)",
                         path, cfg->hidden_size, cfg->n_heads);
    cfg->head_dim = cfg->hidden_size / cfg->n_heads;
    return LOOM_OK;
}

/* ---- mixture of experts (config.json) ------------------------------------------------------------ */

/* Qwen2-MoE / Qwen3-MoE may interleave dense layers (decoder_sparse_step, mlp_only_layers); loom runs
 * models whose every layer is sparse, as the released ones are. */
static loom_status check_all_layers_sparse(json_reader *r) {
    json_t *dense = json_object_get(r->root, "mlp_only_layers");
    int32_t step = json_int(r, "decoder_sparse_step", 1);
    if (r->status != LOOM_OK) return r->status;
    if (step != 1 || (dense && !json_is_null(dense) && !(json_is_array(dense) && json_array_size(dense) == 0)))
        return loom_fail(r->err, LOOM_ERR_UNSUPPORTED,
                         "%s: dense layers between the sparse ones (decoder_sparse_step %d, mlp_only_layers) are not "
                         "supported", r->path, step);
    return LOOM_OK;
}

/* The MoE fields of each family, with transformers' defaults (configuration_*.py) where absent; the
 * expert count under either name (transformers 5 writes num_local_experts for Qwen3-MoE too). */
static loom_status read_moe(json_reader *r, loom_config *cfg) {
    loom_moe_config *moe = &cfg->moe;
    switch (cfg->arch) {
    case LOOM_ARCH_MIXTRAL: /* softmax, top-k, always renormalised */
        moe->n_experts = json_int(r, "num_local_experts", json_int(r, "num_experts", 8));
        moe->top_k = json_int(r, "num_experts_per_tok", 2);
        moe->expert_intermediate = cfg->intermediate_size;
        moe->norm_topk_prob = 1;
        break;
    case LOOM_ARCH_QWEN2_MOE:
    case LOOM_ARCH_QWEN3_MOE: {
        int qwen2 = cfg->arch == LOOM_ARCH_QWEN2_MOE;
        loom_status st = check_all_layers_sparse(r);
        if (st != LOOM_OK) return st;
        moe->n_experts = json_int(r, "num_experts", json_int(r, "num_local_experts", qwen2 ? 60 : 128));
        moe->top_k = json_int(r, "num_experts_per_tok", qwen2 ? 4 : 8);
        moe->expert_intermediate = json_int(r, "moe_intermediate_size", qwen2 ? 1408 : 768);
        moe->shared_intermediate = qwen2 ? json_int(r, "shared_expert_intermediate_size", 5632) : 0;
        moe->norm_topk_prob = json_bool(r, "norm_topk_prob", 0);
        if (qwen2) cfg->attention_bias = json_bool(r, "qkv_bias", 1); /* Qwen1.5-MoE configs predate the key */
        else cfg->qk_norm = LOOM_QK_NORM_PER_HEAD;
        break;
    }
    case LOOM_ARCH_OLMOE: {
        json_t *clip = json_object_get(r->root, "clip_qkv");
        if (clip && !json_is_null(clip))
            return loom_fail(r->err, LOOM_ERR_UNSUPPORTED, "%s: clip_qkv is not supported", r->path);
        moe->n_experts = json_int(r, "num_experts", json_int(r, "num_local_experts", 64));
        moe->top_k = json_int(r, "num_experts_per_tok", 8);
        moe->expert_intermediate = cfg->intermediate_size;
        moe->norm_topk_prob = json_bool(r, "norm_topk_prob", 0);
        cfg->qk_norm = LOOM_QK_NORM_WHOLE;
        break;
    }
    default: return LOOM_OK;
    }
    if (r->status == LOOM_OK && moe->n_experts <= 0)
        return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: a mixture-of-experts model needs num_experts > 0", r->path);
    return r->status;
}

loom_status loom_config_from_json(const char *json_text, const char *path, loom_config *cfg, loom_error *err) {
    config_defaults(cfg);
    json_error_t jerr;
    json_t *root = json_loads(json_text, 0, &jerr);
    if (!root) return loom_fail(err, LOOM_ERR_FORMAT, "%s: invalid JSON at line %d: %s", path, jerr.line, jerr.text);
    json_reader r = {root, path, err, LOOM_OK};
    loom_status st = json_is_object(root) ? LOOM_OK : loom_fail(err, LOOM_ERR_FORMAT, "%s: not a JSON object", path);
    if (st == LOOM_OK) st = read_arch(&r, cfg);
    if (st == LOOM_OK) {
        if (cfg->arch != LOOM_ARCH_LLAMA) cfg->max_position_embeddings = 32768;
        cfg->vocab_size = json_int(&r, "vocab_size", 0);
        cfg->hidden_size = json_int(&r, "hidden_size", 0);
        cfg->intermediate_size = json_int(&r, "intermediate_size", 0);
        cfg->n_layers = json_int(&r, "num_hidden_layers", 0);
        cfg->n_heads = json_int(&r, "num_attention_heads", 0);
        cfg->n_kv_heads = json_int(&r, "num_key_value_heads", cfg->n_heads);
        cfg->head_dim = json_int(&r, "head_dim", 0);
        st = r.status;
        if (st == LOOM_OK && cfg->head_dim == 0) st = default_head_dim(cfg, path, err);
        cfg->max_position_embeddings = json_int(&r, "max_position_embeddings", cfg->max_position_embeddings);
        cfg->rms_norm_eps = (float)json_num_in(&r, root, "rms_norm_eps", cfg->rms_norm_eps);
        cfg->rope_theta = (float)json_num_in(&r, root, "rope_theta", cfg->rope_theta);
        cfg->tie_word_embeddings = json_bool(&r, "tie_word_embeddings", 0);
        cfg->attention_bias = json_bool(&r, "attention_bias", cfg->arch == LOOM_ARCH_QWEN2);
        cfg->bos_id = json_int(&r, "bos_token_id", -1);
        cfg->rope_layout = LOOM_ROPE_HALF;
        if (st == LOOM_OK) st = r.status;
    }
    if (st == LOOM_OK) st = read_rope_scaling(&r, cfg);
    if (st == LOOM_OK) st = read_eos(&r, cfg);
    if (st == LOOM_OK) st = read_torch_dtype(&r, cfg);
    if (st == LOOM_OK) st = read_moe(&r, cfg);
    json_decref(root);
    if (st == LOOM_OK) st = loom_config_validate(cfg, err);
    if (st != LOOM_OK && err && strncmp(err->message, path, strlen(path)) != 0) loom_error_prefix(err, path);
    return st;
}

/* ---- GGUF metadata -------------------------------------------------------------------------- */

static int gguf_arch_int(const loom_gguf *g, const char *arch, const char *suffix, int64_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return loom_gguf_get_int(g, key, out);
}

static int gguf_arch_float(const loom_gguf *g, const char *arch, const char *suffix, double *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return loom_gguf_get_float(g, key, out);
}

static loom_status gguf_required(const loom_gguf *g, const char *arch, const char *suffix, int32_t *out,
                                 loom_error *err) {
    int64_t v;
    if (!gguf_arch_int(g, arch, suffix, &v))
        return loom_fail(err, LOOM_ERR_FORMAT, "missing metadata key '%s.%s'", arch, suffix);
    if (v <= 0 || v > INT32_MAX) return loom_fail(err, LOOM_ERR_FORMAT, "metadata '%s.%s' out of range", arch, suffix);
    *out = (int32_t)v;
    return LOOM_OK;
}

/* ---- mixture of experts (GGUF metadata, llama.cpp's keys) ------------------------------------------ */

/* The MoE architectures llama.cpp names on their own (Mixtral is "llama" with experts: gguf_moe). */
static int gguf_moe_arch(const char *arch, loom_config *cfg) {
    static const struct { const char *name; loom_arch arch; loom_qk_norm qk_norm; int bias; } known[] = {
        {"qwen2moe", LOOM_ARCH_QWEN2_MOE, LOOM_QK_NORM_NONE, 1},
        {"qwen3moe", LOOM_ARCH_QWEN3_MOE, LOOM_QK_NORM_PER_HEAD, 0},
        {"olmoe", LOOM_ARCH_OLMOE, LOOM_QK_NORM_WHOLE, 0},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(arch, known[i].name) != 0) continue;
        cfg->arch = known[i].arch;
        cfg->rope_layout = LOOM_ROPE_HALF;
        cfg->qk_norm = known[i].qk_norm;
        cfg->attention_bias = known[i].bias;
        return 1;
    }
    return 0;
}

/* expert_count, expert_used_count, the expert FFN sizes (expert_feed_forward_length where the family has
 * it, else feed_forward_length) and whether the top-k weights are renormalised: as llama.cpp's graph for
 * the family does (Mixtral and Qwen3-MoE yes, Qwen2-MoE and OLMoE no) unless expert_weights_norm says. */
static loom_status gguf_moe(const loom_gguf *g, const char *arch, loom_config *cfg, loom_error *err) {
    loom_moe_config *moe = &cfg->moe;
    int64_t v;
    int moe_arch = cfg->arch == LOOM_ARCH_QWEN2_MOE || cfg->arch == LOOM_ARCH_QWEN3_MOE || cfg->arch == LOOM_ARCH_OLMOE;
    int has_experts = gguf_arch_int(g, arch, "expert_count", &v) && v != 0;
    if (moe_arch && !has_experts) return loom_fail(err, LOOM_ERR_FORMAT, "missing metadata key '%s.expert_count'", arch);
    if (!moe_arch && !(cfg->arch == LOOM_ARCH_LLAMA && has_experts)) return LOOM_OK; /* dense */
    if (cfg->arch == LOOM_ARCH_LLAMA) cfg->arch = LOOM_ARCH_MIXTRAL;
    loom_status st;
    if ((st = gguf_required(g, arch, "expert_count", &moe->n_experts, err)) ||
        (st = gguf_required(g, arch, "expert_used_count", &moe->top_k, err)))
        return st;
    moe->expert_intermediate = cfg->intermediate_size;
    if (gguf_arch_int(g, arch, "expert_feed_forward_length", &v) &&
        (st = gguf_required(g, arch, "expert_feed_forward_length", &moe->expert_intermediate, err)))
        return st;
    if (cfg->arch == LOOM_ARCH_QWEN2_MOE) {
        moe->shared_intermediate = cfg->intermediate_size;
        if (gguf_arch_int(g, arch, "expert_shared_feed_forward_length", &v) &&
            (st = gguf_required(g, arch, "expert_shared_feed_forward_length", &moe->shared_intermediate, err)))
            return st;
    }
    moe->norm_topk_prob = cfg->arch == LOOM_ARCH_MIXTRAL || cfg->arch == LOOM_ARCH_QWEN3_MOE;
    char key[128];
    snprintf(key, sizeof key, "%s.expert_weights_norm", arch);
    int norm;
    if (loom_gguf_get_bool(g, key, &norm)) moe->norm_topk_prob = norm != 0;
    return LOOM_OK;
}

loom_status loom_config_from_gguf(const loom_gguf *g, loom_config *cfg, loom_error *err) {
    config_defaults(cfg);
    const char *s;
    size_t n;
    if (!loom_gguf_get_string(g, "general.architecture", &s, &n))
        return loom_fail(err, LOOM_ERR_FORMAT, "missing metadata key 'general.architecture'");
    char arch[64];
    snprintf(arch, sizeof arch, "%.*s", (int)(n < 63 ? n : 63), s);
    if (strcmp(arch, "llama") == 0) {
        cfg->arch = LOOM_ARCH_LLAMA;
        cfg->rope_layout = LOOM_ROPE_INTERLEAVED; /* llama.cpp stores llama Q/K rows permuted for it */
    } else if (strcmp(arch, "qwen2") == 0) {
        cfg->arch = LOOM_ARCH_QWEN2;
        cfg->rope_layout = LOOM_ROPE_HALF;
        cfg->attention_bias = 1;
    } else if (gguf_moe_arch(arch, cfg)) {
        /* cfg->arch and what follows from it set */
    } else {
        return loom_fail(err, LOOM_ERR_UNSUPPORTED,
                         "unsupported architecture '%s' (supported: llama, qwen2, qwen2moe, qwen3moe, olmoe)", arch);
    }
    loom_status st;
    if ((st = gguf_required(g, arch, "embedding_length", &cfg->hidden_size, err)) ||
        (st = gguf_required(g, arch, "feed_forward_length", &cfg->intermediate_size, err)) ||
        (st = gguf_required(g, arch, "block_count", &cfg->n_layers, err)) ||
        (st = gguf_required(g, arch, "attention.head_count", &cfg->n_heads, err)))
        return st;
    int64_t v;
    double d;
    cfg->n_kv_heads = gguf_arch_int(g, arch, "attention.head_count_kv", &v) ? (int32_t)v : cfg->n_heads;
    cfg->head_dim = gguf_arch_int(g, arch, "attention.key_length", &v) ? (int32_t)v : cfg->hidden_size / cfg->n_heads;
    if (gguf_arch_int(g, arch, "context_length", &v)) cfg->max_position_embeddings = (int32_t)v;
    if (gguf_arch_float(g, arch, "attention.layer_norm_rms_epsilon", &d)) cfg->rms_norm_eps = (float)d;
    if (gguf_arch_float(g, arch, "rope.freq_base", &d)) cfg->rope_theta = (float)d;
    const loom_gguf_kv *tokens = loom_gguf_find(g, "tokenizer.ggml.tokens");
    if (gguf_arch_int(g, arch, "vocab_size", &v)) cfg->vocab_size = (int32_t)v;
    else if (tokens) cfg->vocab_size = (int32_t)tokens->n_elems;
    cfg->tie_word_embeddings = loom_tensor_table_find(&g->tensors, "output.weight") == NULL;
    if (loom_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v)) cfg->bos_id = (int32_t)v;
    if (loom_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v)) cfg->eos_ids[cfg->n_eos_ids++] = (int32_t)v;
    if (loom_gguf_get_int(g, "tokenizer.ggml.eot_token_id", &v) && (cfg->n_eos_ids == 0 || cfg->eos_ids[0] != v))
        cfg->eos_ids[cfg->n_eos_ids++] = (int32_t)v;
    const loom_tensor_entry *embed = loom_tensor_table_find(&g->tensors, "token_embd.weight");
    int all_f32 = loom_gguf_get_int(g, "general.file_type", &v) ? v == 0 : embed && embed->dtype == LOOM_DTYPE_F32;
    cfg->dtype = all_f32 ? LOOM_DTYPE_F32 : LOOM_DTYPE_F16;
    if ((st = gguf_moe(g, arch, cfg, err)) != LOOM_OK) return st;
    return loom_config_validate(cfg, err);
}

loom_status loom_config_validate(const loom_config *cfg, loom_error *err) {
    struct { const char *name; int32_t v; } pos[] = {
        {"vocab_size", cfg->vocab_size}, {"hidden_size", cfg->hidden_size},
        {"intermediate_size", cfg->intermediate_size}, {"num_hidden_layers", cfg->n_layers},
        {"num_attention_heads", cfg->n_heads}, {"num_key_value_heads", cfg->n_kv_heads},
        {"head_dim", cfg->head_dim}, {"max_position_embeddings", cfg->max_position_embeddings},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v <= 0) return loom_fail(err, LOOM_ERR_FORMAT, "%s must be positive (got %d)", pos[i].name, pos[i].v);
    if (cfg->n_heads % cfg->n_kv_heads != 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
                         cfg->n_heads, cfg->n_kv_heads);
    if (cfg->head_dim % 2 != 0) return loom_fail(err, LOOM_ERR_FORMAT, "head_dim (%d) must be even for RoPE", cfg->head_dim);
    if (!(cfg->rms_norm_eps > 0) || !(cfg->rope_theta > 0) || !isfinite(cfg->rope_theta))
        return loom_fail(err, LOOM_ERR_FORMAT, "rms_norm_eps and rope_theta must be positive");
    if (cfg->rope_scaling_llama3 && !(cfg->rope_factor > 0 && cfg->rope_low_freq_factor > 0 &&
                                      cfg->rope_high_freq_factor > cfg->rope_low_freq_factor &&
                                      cfg->rope_original_max_position > 0))
        return loom_fail(err, LOOM_ERR_FORMAT, "rope_scaling llama3 parameters out of range");
    if (cfg->moe.n_experts < 0 || cfg->moe.n_experts > 4096 || cfg->moe.shared_intermediate < 0 ||
        cfg->moe.shared_intermediate > (1 << 22) ||
        (cfg->moe.n_experts > 0 && (cfg->moe.top_k < 1 || cfg->moe.top_k > cfg->moe.n_experts ||
                                    cfg->moe.expert_intermediate <= 0 || cfg->moe.expert_intermediate > (1 << 22))))
        return loom_fail(err, LOOM_ERR_FORMAT,
                         "mixture of experts: need 1 <= num_experts_per_tok (%d) <= num_experts (%d) <= 4096 and "
                         "positive expert sizes (got %d, shared %d)",
                         cfg->moe.top_k, cfg->moe.n_experts, cfg->moe.expert_intermediate, cfg->moe.shared_intermediate);
    if (cfg->vocab_size > (1 << 24) || cfg->hidden_size > (1 << 20) || cfg->n_layers > 4096 ||
        cfg->intermediate_size > (1 << 22) || cfg->head_dim > 4096 || cfg->n_heads > 4096)
        return loom_fail(err, LOOM_ERR_FORMAT, "model dimensions are absurdly large");
    return LOOM_OK;
}

loom_status loom_read_hf_config(const char *dir, loom_config *cfg, loom_error *err) {
    char *path = loom_path_join(dir, "config.json"), *text = NULL;
    if (!path) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = loom_read_file(path, &text, NULL, err);
    if (st == LOOM_OK) st = loom_config_from_json(text, path, cfg, err);
    free(text);
    free(path);
    return st;
}
