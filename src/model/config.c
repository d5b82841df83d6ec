#include "model/config.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "core/file_map.h"
#include "model/families.h"

const char *arch_name(loom_arch a) {
    const loom_family *f = family_of(a);
    return f ? f->name : "unknown";
}

int32_t config_q_dim(const loom_config *cfg) { return cfg->n_heads * cfg->head_dim; }
int32_t config_kv_dim(const loom_config *cfg) { return cfg->n_kv_heads * cfg->head_dim; }
int config_is_moe(const loom_config *cfg) { return cfg->moe.n_experts > 0; }

int config_layer_sliding(const loom_config *cfg, int32_t layer) {
    return cfg->sliding_window > 0 && layer >= 0 && layer < LOOM_MAX_LAYERS &&
        (cfg->sliding_layers[layer / 64] >> (layer % 64) & 1);
}

static void set_sliding(loom_config *cfg, int32_t layer) {
    if (layer >= 0 && layer < LOOM_MAX_LAYERS) cfg->sliding_layers[layer / 64] |= 1ull << (layer % 64);
}

/* Layers [from, n_layers) slide but every pattern-th (layer pattern - 1 and each pattern after it): Gemma's
 * interleaving; pattern 0: all of them. (A layer count over LOOM_MAX_LAYERS fails validation later.) */
static void set_sliding_layers(loom_config *cfg, int32_t from, int32_t pattern) {
    for (int32_t l = from < 0 ? 0 : from; l < cfg->n_layers && l < LOOM_MAX_LAYERS; l++)
        if (pattern == 0 || (l + 1) % pattern != 0) set_sliding(cfg, l);
}

/* YaRN's attention factor (HF's yarn_get_mscale). */
static double yarn_mscale(double factor, double mscale) { return factor <= 1 ? 1.0 : 0.1 * mscale * log(factor) + 1.0; }

/* LongRoPE's default attention factor, and which factors it uses: the long ones when the model's context
 * exceeds the original (llama.cpp decides the same way by its context size; HF switches per forward call
 * on the sequence length, giving the same for sequences longer than the original context). */
static void longrope_defaults(loom_config *cfg, double factor) {
    if (cfg->rope_attn_factor == 0)
        cfg->rope_attn_factor =
            factor <= 1 ? 1.0f : (float)sqrt(1 + log(factor) / log(cfg->rope_original_max_position));
}

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

static loom_status read_arch(json_reader *r, loom_config *cfg, const loom_family **family) {
    json_t *archs = json_object_get(r->root, "architectures");
    const char *name = NULL;
    if (json_is_array(archs) && json_array_size(archs) > 0) name = json_string_value(json_array_get(archs, 0));
    const char *model_type = json_string_value(json_object_get(r->root, "model_type"));
    const loom_family *f = family_from_hf(name, model_type, &cfg->hf_text_model);
    if (f) {
        family_apply(f, 0, cfg);
        *family = f;
        return LOOM_OK;
    }
    char supported[512];
    family_list(1, supported, sizeof supported);
    const char *given = name ? name : model_type ? model_type : "(none given)";
    return loom_fail(r->err, LOOM_ERR_UNSUPPORTED, "%s: unsupported architecture '%s' (supported: %s)", r->path, given,
                     supported);
}

/* LongRoPE's per-pair factors (rs[key]: head_dim / 2 positive numbers) into cfg->rope_ext_factors. */
static loom_status read_rope_factors(json_reader *r, json_t *rs, const char *key, loom_config *cfg) {
    json_t *list = json_object_get(rs, key);
    size_t n = json_is_array(list) ? json_array_size(list) : 0;
    if (n != (size_t)(cfg->head_dim / 2) || n > LOOM_MAX_ROPE_FACTORS)
        return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: rope_scaling %s must be a list of head_dim / 2 = %d numbers",
                         r->path, key, cfg->head_dim / 2);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        if (!json_is_number(v) || !(json_number_value(v) > 0))
            return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: rope_scaling %s holds a non-positive number", r->path, key);
        cfg->rope_ext_factors[i] = (float)json_number_value(v);
    }
    cfg->n_rope_ext_factors = (int32_t)n;
    return LOOM_OK;
}

/* rope_scaling (rs: the legacy object, or transformers 5's rope_parameters of the global layers).
 * original_max_position_embeddings may also sit at the top level (Phi-3). */
static loom_status read_rope_scaling(json_reader *r, json_t *rs, loom_config *cfg) {
    if (!rs || json_is_null(rs)) return LOOM_OK;
    if (!json_is_object(rs)) return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: rope_scaling must be an object", r->path);
    const char *type = json_string_value(json_object_get(rs, "rope_type"));
    if (!type) type = json_string_value(json_object_get(rs, "type"));
    if (!type || strcmp(type, "default") == 0) return LOOM_OK;
    if (json_num_in(r, rs, "partial_rotary_factor", 1.0) != 1.0)
        return loom_fail(r->err, LOOM_ERR_UNSUPPORTED, "%s: partial_rotary_factor other than 1 is not supported",
                         r->path);
    double top_original = json_num_in(r, r->root, "original_max_position_embeddings", 0);
    double original = json_num_in(r, rs, "original_max_position_embeddings", top_original);
    double factor = json_num_in(r, rs, "factor", 0);
    cfg->rope_attn_factor = (float)json_num_in(r, rs, "attention_factor", 0);
    if (strcmp(type, "llama3") == 0) {
        cfg->rope_scaling = LOOM_ROPE_SCALING_LLAMA3;
        cfg->rope_factor = (float)(factor > 0 ? factor : 8.0);
        cfg->rope_low_freq_factor = (float)json_num_in(r, rs, "low_freq_factor", 1.0);
        cfg->rope_high_freq_factor = (float)json_num_in(r, rs, "high_freq_factor", 4.0);
        cfg->rope_original_max_position = (int32_t)(original > 0 ? original : 8192);
    } else if (strcmp(type, "linear") == 0) {
        cfg->rope_scaling = LOOM_ROPE_SCALING_LINEAR;
        cfg->rope_factor = (float)factor;
    } else if (strcmp(type, "yarn") == 0) {
        cfg->rope_scaling = LOOM_ROPE_SCALING_YARN;
        if (!(original > 0))
            return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: rope_scaling yarn needs original_max_position_embeddings",
                             r->path);
        if (!(factor > 0)) factor = cfg->max_position_embeddings / original;
        json_t *truncate = json_object_get(rs, "truncate");
        if (truncate && json_is_false(truncate))
            return loom_fail(r->err, LOOM_ERR_UNSUPPORTED, "%s: rope_scaling yarn with truncate false is not supported",
                             r->path);
        cfg->rope_factor = (float)factor;
        cfg->rope_original_max_position = (int32_t)original;
        cfg->rope_beta_fast = (float)json_num_in(r, rs, "beta_fast", 32);
        cfg->rope_beta_slow = (float)json_num_in(r, rs, "beta_slow", 1);
        double mscale = json_num_in(r, rs, "mscale", 0), mscale_all_dim = json_num_in(r, rs, "mscale_all_dim", 0);
        if (cfg->rope_attn_factor == 0)
            cfg->rope_attn_factor = (float)(mscale > 0 && mscale_all_dim > 0
                                                ? yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all_dim)
                                                : yarn_mscale(factor, 1));
    } else if (strcmp(type, "longrope") == 0 || strcmp(type, "su") == 0) {
        cfg->rope_scaling = LOOM_ROPE_SCALING_LONGROPE;
        if (!(original > 0))
            return loom_fail(r->err, LOOM_ERR_FORMAT,
                             "%s: rope_scaling longrope needs original_max_position_embeddings", r->path);
        cfg->rope_original_max_position = (int32_t)original;
        if (!(factor > 0)) factor = cfg->max_position_embeddings / original;
        longrope_defaults(cfg, factor);
        loom_status st =
            read_rope_factors(r, rs, cfg->max_position_embeddings > original ? "long_factor" : "short_factor", cfg);
        if (st != LOOM_OK) return st;
    } else if (strcmp(type, "dynamic") == 0) {
        return loom_fail(r->err, LOOM_ERR_UNSUPPORTED,
                         "%s: rope_scaling type 'dynamic' (dynamic NTK) is not supported: it changes the frequencies "
                         "of every position with the sequence length",
                         r->path);
    } else {
        return loom_fail(r->err, LOOM_ERR_UNSUPPORTED,
                         "%s: unsupported rope_scaling type '%s' (supported: llama3, linear, yarn, longrope)", r->path,
                         type);
    }
    return r->status;
}

/* RoPE: rope_theta and rope_scaling (rope_local_base_freq: Gemma 3's sliding layers), or the same in
 * transformers 5's rope_parameters (per layer type when it has full_attention / sliding_attention). */
static loom_status read_rope(json_reader *r, loom_config *cfg) {
    if (json_num_in(r, r->root, "partial_rotary_factor", 1.0) != 1.0)
        return loom_fail(r->err, LOOM_ERR_UNSUPPORTED, "%s: partial_rotary_factor other than 1 is not supported",
                         r->path);
    json_t *params = json_object_get(r->root, "rope_parameters");
    if (!params || json_is_null(params)) {
        cfg->rope_theta = (float)json_num_in(r, r->root, "rope_theta", cfg->rope_theta);
        cfg->rope_theta_local = (float)json_num_in(r, r->root, "rope_local_base_freq", cfg->rope_theta_local);
        return r->status != LOOM_OK ? r->status : read_rope_scaling(r, json_object_get(r->root, "rope_scaling"), cfg);
    }
    if (!json_is_object(params))
        return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: rope_parameters must be an object", r->path);
    json_t *global = json_object_get(params, "full_attention"), *local = json_object_get(params, "sliding_attention");
    if (!global) global = params;
    if (!json_is_object(global))
        return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: rope_parameters must hold objects", r->path);
    cfg->rope_theta = (float)json_num_in(r, global, "rope_theta", cfg->rope_theta);
    if (json_is_object(local)) {
        const char *type = json_string_value(json_object_get(local, "rope_type"));
        if (type && strcmp(type, "default") != 0)
            return loom_fail(r->err, LOOM_ERR_UNSUPPORTED,
                             "%s: rope type '%s' of the sliding-window layers is not supported (supported: default)",
                             r->path, type);
        cfg->rope_theta_local = (float)json_num_in(r, local, "rope_theta", cfg->rope_theta_local);
    }
    return r->status != LOOM_OK ? r->status : read_rope_scaling(r, global, cfg);
}

/* Which layers use a sliding window (layer_types when given, else the family's rule). */
static loom_status read_sliding(json_reader *r, const loom_family *f, loom_config *cfg) {
    int32_t window = json_int(r, "sliding_window", 0);
    if (f->sliding == LOOM_SLIDING_NEVER || window <= 0) return r->status;
    json_t *types = json_object_get(r->root, "layer_types");
    if (types && !json_is_null(types)) {
        if (!json_is_array(types) || json_array_size(types) != (size_t)cfg->n_layers)
            return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: layer_types must list num_hidden_layers (%d) strings",
                             r->path, cfg->n_layers);
        for (int32_t l = 0; l < cfg->n_layers; l++) {
            const char *t = json_string_value(json_array_get(types, (size_t)l));
            if (t && strcmp(t, "sliding_attention") == 0) set_sliding(cfg, l);
            else if (!t || strcmp(t, "full_attention") != 0)
                return loom_fail(r->err, LOOM_ERR_UNSUPPORTED,
                                 "%s: layer type '%s' of layer %d is not supported (supported: full_attention, "
                                 "sliding_attention)",
                                 r->path, t ? t : "(not a string)", l);
        }
    } else if (f->sliding == LOOM_SLIDING_PATTERN) {
        int32_t pattern = json_int(r, "sliding_window_pattern", f->sliding_pattern);
        if (pattern <= 0)
            return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: sliding_window_pattern must be positive", r->path);
        set_sliding_layers(cfg, 0, pattern);
    } else if (f->sliding == LOOM_SLIDING_OPT_IN) {
        if (!json_bool(r, "use_sliding_window", 0)) return r->status;
        set_sliding_layers(cfg, json_int(r, "max_window_layers", 0), 0);
    } else {
        set_sliding_layers(cfg, 0, 0);
    }
    cfg->sliding_window = window;
    return r->status;
}

/* The MLP activation (hidden_activation, Gemma's, else hidden_act). */
static loom_status read_activation(json_reader *r, loom_config *cfg) {
    const char *key = json_object_get(r->root, "hidden_activation") ? "hidden_activation" : "hidden_act";
    json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v)) return LOOM_OK;
    const char *act = json_string_value(v);
    if (act && (strcmp(act, "silu") == 0 || strcmp(act, "swish") == 0)) cfg->activation = LOOM_ACT_SILU;
    else if (act && (strcmp(act, "gelu_pytorch_tanh") == 0 || strcmp(act, "gelu_new") == 0))
        cfg->activation = LOOM_ACT_GELU_TANH;
    else
        return loom_fail(r->err, LOOM_ERR_UNSUPPORTED,
                         "%s: %s '%s' is not supported (supported: silu, gelu_pytorch_tanh)", r->path, key,
                         act ? act : "(not a string)");
    return LOOM_OK;
}

/* Gemma's attention scale and the soft caps; keys of other families that would change the numerics. */
static loom_status read_block_options(json_reader *r, const loom_family *f, loom_config *cfg) {
    double query_scalar = json_num_in(r, r->root, "query_pre_attn_scalar", 0);
    if (query_scalar > 0) cfg->attn_scale = (float)(1.0 / sqrt(query_scalar));
    cfg->attn_softcap = (float)json_num_in(r, r->root, "attn_logit_softcapping", 0);
    cfg->final_softcap = (float)json_num_in(r, r->root, "final_logit_softcapping", 0);
    if (f->gemma) cfg->embed_scale = sqrtf((float)cfg->hidden_size);
    static const char *const unsupported_if_true[] = {"mlp_bias", "use_bidirectional_attention"};
    for (size_t i = 0; i < sizeof unsupported_if_true / sizeof unsupported_if_true[0]; i++)
        if (json_bool(r, unsupported_if_true[i], 0))
            return loom_fail(r->err, LOOM_ERR_UNSUPPORTED, "%s: %s true is not supported", r->path,
                             unsupported_if_true[i]);
    return r->status;
}

static loom_status read_eos(json_reader *r, loom_config *cfg) {
    json_t *v = json_object_get(r->root, "eos_token_id");
    if (!v || json_is_null(v)) return LOOM_OK;
    if (json_is_integer(v)) {
        cfg->eos_ids[cfg->n_eos_ids++] = (int32_t)json_integer_value(v);
        return LOOM_OK;
    }
    if (!json_is_array(v))
        return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: eos_token_id must be an integer or a list", r->path);
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_integer(e))
            return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: eos_token_id list holds a non-integer", r->path);
        if (cfg->n_eos_ids < LOOM_MAX_EOS_IDS) cfg->eos_ids[cfg->n_eos_ids++] = (int32_t)json_integer_value(e);
    }
    return LOOM_OK;
}

/* Without an explicit head_dim the heads split the hidden size evenly. */
static loom_status default_head_dim(loom_config *cfg, const char *path, loom_error *err) {
    if (cfg->n_heads <= 0 || cfg->hidden_size % cfg->n_heads != 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "%s: hidden_size (%d) is not divisible by num_attention_heads (%d)",
                         path, cfg->hidden_size, cfg->n_heads);
    cfg->head_dim = cfg->hidden_size / cfg->n_heads;
    return LOOM_OK;
}

/* Where the model's parameters are read from (a new reference): config.json itself, or an image-text
 * checkpoint's text_config with the top level's keys it lacks (eos_token_id); either with the family's
 * config-class defaults for keys it omits. */
static json_t *parameters_object(json_t *root, const loom_family *f, int text_model) {
    json_t *text = json_object_get(root, "text_config");
    json_t *params = json_deep_copy(text_model && json_is_object(text) ? text : root);
    json_t *defaults = f->hf_defaults ? json_loads(f->hf_defaults, 0, NULL) : NULL;
    if (params && text_model && json_is_object(text)) json_object_update_missing(params, root);
    if (params && defaults) json_object_update_missing(params, defaults);
    json_decref(defaults);
    return params;
}

static loom_status read_torch_dtype(json_reader *r, loom_config *cfg) {
    static const struct {
        const char *name;
        loom_dtype dtype;
    } known[] = {{"float32", LOOM_DTYPE_F32}, {"float16", LOOM_DTYPE_F16}, {"bfloat16", LOOM_DTYPE_BF16}};
    const char *name = json_string_value(json_object_get(r->root, "torch_dtype"));
    if (!name) name = json_string_value(json_object_get(r->root, "dtype")); /* newer transformers */
    cfg->dtype = LOOM_DTYPE_F32;
    for (size_t i = 0; name && i < sizeof known / sizeof known[0]; i++)
        if (strcmp(name, known[i].name) == 0) return (cfg->dtype = known[i].dtype), LOOM_OK;
    return name ? loom_fail(r->err, LOOM_ERR_UNSUPPORTED, "%s: torch_dtype '%s' is not float32, float16 or bfloat16",
                            r->path, name)
                : LOOM_OK;
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
                         "supported",
                         r->path, step);
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
            break;
        }
        default: return LOOM_OK;
    }
    if (r->status == LOOM_OK && moe->n_experts <= 0)
        return loom_fail(r->err, LOOM_ERR_FORMAT, "%s: a mixture-of-experts model needs num_experts > 0", r->path);
    return r->status;
}

loom_status config_from_json(const char *json_text, const char *path, loom_config *cfg, loom_error *err) {
    config_defaults(cfg);
    json_error_t jerr;
    json_t *root = json_loads(json_text, 0, &jerr);
    if (!root) return loom_fail(err, LOOM_ERR_FORMAT, "%s: invalid JSON at line %d: %s", path, jerr.line, jerr.text);
    json_reader r = {root, path, err, LOOM_OK};
    loom_status st = json_is_object(root) ? LOOM_OK : loom_fail(err, LOOM_ERR_FORMAT, "%s: not a JSON object", path);
    const loom_family *family = NULL;
    if (st == LOOM_OK) st = read_arch(&r, cfg, &family);
    if (st == LOOM_OK) st = read_torch_dtype(&r, cfg); /* top level, also for an image-text checkpoint */
    json_t *params = st == LOOM_OK ? parameters_object(root, family, cfg->hf_text_model) : NULL;
    if (st == LOOM_OK && !params) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    r.root = params;
    if (st == LOOM_OK) {
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
        cfg->rms_norm_eps = (float)json_num_in(&r, r.root, "rms_norm_eps", cfg->rms_norm_eps);
        cfg->tie_word_embeddings = json_bool(&r, "tie_word_embeddings", cfg->tie_word_embeddings);
        cfg->attention_bias = json_bool(&r, "attention_bias", cfg->attention_bias);
        cfg->bos_id = json_int(&r, "bos_token_id", -1);
        if (st == LOOM_OK) st = r.status;
    }
    if (st == LOOM_OK) st = read_rope(&r, cfg);
    if (st == LOOM_OK) st = read_sliding(&r, family, cfg);
    if (st == LOOM_OK) st = read_activation(&r, cfg);
    if (st == LOOM_OK) st = read_block_options(&r, family, cfg);
    if (st == LOOM_OK) st = read_eos(&r, cfg);
    if (st == LOOM_OK) st = read_moe(&r, cfg);
    json_decref(params);
    json_decref(root);
    if (st == LOOM_OK) st = config_validate(cfg, err);
    if (st != LOOM_OK && err && strncmp(err->message, path, strlen(path)) != 0) error_prefix(err, path);
    return st;
}

/* ---- GGUF metadata -------------------------------------------------------------------------- */

static int gguf_arch_int(const loom_gguf *g, const char *arch, const char *suffix, int64_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_int(g, key, out);
}

static int gguf_arch_float(const loom_gguf *g, const char *arch, const char *suffix, double *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return gguf_get_float(g, key, out);
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

/* Sliding-window layers: ARCH.attention.sliding_window with ARCH.attention.sliding_window_pattern (a
 * period, 0 meaning every layer, or one bool per layer) or the family's rule, as llama.cpp reads them
 * (Gemma 2's window defaults to 4096; Qwen's opt-in windows are not in GGUF). */
static loom_status gguf_sliding(const loom_gguf *g, const char *arch, const loom_family *f, loom_config *cfg,
                                loom_error *err) {
    int64_t window = cfg->arch == LOOM_ARCH_GEMMA2 ? 4096 : 0, pattern = f->sliding_pattern, on;
    gguf_arch_int(g, arch, "attention.sliding_window", &window);
    if (window <= 0 || (f->sliding != LOOM_SLIDING_PATTERN && f->sliding != LOOM_SLIDING_ALL)) return LOOM_OK;
    if (window > INT32_MAX)
        return loom_fail(err, LOOM_ERR_FORMAT, "metadata '%s.attention.sliding_window' out of range", arch);
    char key[128];
    snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", arch);
    const loom_gguf_kv *per_layer = gguf_find(g, key);
    if (per_layer && per_layer->type == LOOM_GGUF_ARRAY) {
        if (per_layer->n_elems != (uint64_t)cfg->n_layers)
            return loom_fail(err, LOOM_ERR_FORMAT, "metadata '%s' must have one entry per layer", key);
        for (int32_t l = 0; l < cfg->n_layers; l++)
            if (gguf_arr_int(per_layer, (uint64_t)l, &on) && on) set_sliding(cfg, l);
    } else if (f->sliding == LOOM_SLIDING_PATTERN) {
        gguf_arch_int(g, arch, "attention.sliding_window_pattern", &pattern);
        if (pattern < 0 || pattern > INT32_MAX)
            return loom_fail(err, LOOM_ERR_FORMAT, "metadata '%s' out of range", key);
        set_sliding_layers(cfg, 0, (int32_t)pattern);
    } else {
        set_sliding_layers(cfg, 0, 0);
    }
    cfg->sliding_window = (int32_t)window;
    return LOOM_OK;
}

/* ARCH.rope.scaling.* (llama3's factors are the rope_freqs tensor; LongRoPE's the rope_factors_long /
 * rope_factors_short tensors, present in Phi-3 files without a scaling type). */
static loom_status gguf_rope_scaling(const loom_gguf *g, const char *arch, loom_config *cfg, loom_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    const char *s;
    size_t n;
    char type[32] = "none";
    if (gguf_get_string(g, key, &s, &n)) snprintf(type, sizeof type, "%.*s", (int)(n < 31 ? n : 31), s);
    if (tensor_table_find(&g->tensors, "rope_factors_long.weight")) snprintf(type, sizeof type, "longrope");
    double factor = 0, attn_factor = 0, beta;
    int64_t original = 0;
    gguf_arch_float(g, arch, "rope.scaling.factor", &factor);
    gguf_arch_float(g, arch, "rope.scaling.attn_factor", &attn_factor);
    gguf_arch_int(g, arch, "rope.scaling.original_context_length", &original);
    if (original < 0 || original > INT32_MAX) original = 0;
    cfg->rope_factor = (float)factor;
    cfg->rope_attn_factor = (float)attn_factor;
    cfg->rope_original_max_position = (int32_t)original;
    if (strcmp(type, "none") == 0) return LOOM_OK;
    if (strcmp(type, "linear") == 0) {
        cfg->rope_scaling = LOOM_ROPE_SCALING_LINEAR;
    } else if (strcmp(type, "yarn") == 0) {
        cfg->rope_scaling = LOOM_ROPE_SCALING_YARN;
        if (original <= 0)
            return loom_fail(err, LOOM_ERR_FORMAT,
                             "yarn rope scaling without '%s.rope.scaling.original_context_length'", arch);
        if (attn_factor == 0) cfg->rope_attn_factor = (float)yarn_mscale(factor, 1);
        cfg->rope_beta_fast = gguf_arch_float(g, arch, "rope.scaling.yarn_beta_fast", &beta) ? (float)beta : 32.0f;
        cfg->rope_beta_slow = gguf_arch_float(g, arch, "rope.scaling.yarn_beta_slow", &beta) ? (float)beta : 1.0f;
    } else if (strcmp(type, "longrope") == 0) {
        cfg->rope_scaling = LOOM_ROPE_SCALING_LONGROPE;
        if (original <= 0)
            return loom_fail(err, LOOM_ERR_FORMAT, "longrope without '%s.rope.scaling.original_context_length'", arch);
        longrope_defaults(cfg, (double)cfg->max_position_embeddings / (double)original);
    } else {
        return loom_fail(err, LOOM_ERR_UNSUPPORTED,
                         "unsupported rope scaling type '%s' (supported: none, linear, yarn, longrope)", type);
    }
    return LOOM_OK;
}

/* expert_count, expert_used_count, the expert FFN sizes (expert_feed_forward_length where the family has
 * it, else feed_forward_length) and whether the top-k weights are renormalised: as llama.cpp's graph for
 * the family does (Mixtral and Qwen3-MoE yes, Qwen2-MoE and OLMoE no) unless expert_weights_norm says. */
static loom_status gguf_moe(const loom_gguf *g, const char *arch, loom_config *cfg, loom_error *err) {
    loom_moe_config *moe = &cfg->moe;
    int64_t v;
    int moe_arch = cfg->arch == LOOM_ARCH_QWEN2_MOE || cfg->arch == LOOM_ARCH_QWEN3_MOE || cfg->arch == LOOM_ARCH_OLMOE;
    int has_experts = gguf_arch_int(g, arch, "expert_count", &v) && v != 0;
    if (moe_arch && !has_experts)
        return loom_fail(err, LOOM_ERR_FORMAT, "missing metadata key '%s.expert_count'", arch);
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
    if (gguf_get_bool(g, key, &norm)) moe->norm_topk_prob = norm != 0;
    return LOOM_OK;
}

loom_status config_from_gguf(const loom_gguf *g, loom_config *cfg, loom_error *err) {
    config_defaults(cfg);
    const char *s;
    size_t n;
    if (!gguf_get_string(g, "general.architecture", &s, &n))
        return loom_fail(err, LOOM_ERR_FORMAT, "missing metadata key 'general.architecture'");
    char arch[64];
    snprintf(arch, sizeof arch, "%.*s", (int)(n < 63 ? n : 63), s);
    const loom_family *family = family_from_gguf(arch);
    if (!family) {
        char supported[256];
        family_list(0, supported, sizeof supported);
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "unsupported architecture '%s' (supported: %s)", arch, supported);
    }
    family_apply(family, 1, cfg); /* llama.cpp stores llama Q/K rows permuted for interleaved RoPE */
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
    const loom_gguf_kv *tokens = gguf_find(g, "tokenizer.ggml.tokens");
    if (gguf_arch_int(g, arch, "vocab_size", &v)) cfg->vocab_size = (int32_t)v;
    else if (tokens) cfg->vocab_size = (int32_t)tokens->n_elems;
    cfg->tie_word_embeddings = tensor_table_find(&g->tensors, "output.weight") == NULL;
    if (gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v)) cfg->bos_id = (int32_t)v;
    if (gguf_get_int(g, "tokenizer.ggml.eos_token_id", &v)) cfg->eos_ids[cfg->n_eos_ids++] = (int32_t)v;
    if (gguf_get_int(g, "tokenizer.ggml.eot_token_id", &v) && (cfg->n_eos_ids == 0 || cfg->eos_ids[0] != v))
        cfg->eos_ids[cfg->n_eos_ids++] = (int32_t)v;
    if ((st = gguf_sliding(g, arch, family, cfg, err)) || (st = gguf_rope_scaling(g, arch, cfg, err))) return st;
    if (gguf_arch_float(g, arch, "attn_logit_softcapping", &d)) cfg->attn_softcap = (float)d;
    if (gguf_arch_float(g, arch, "final_logit_softcapping", &d)) cfg->final_softcap = (float)d;
    if (gguf_arch_float(g, arch, "rope.freq_base_swa", &d)) cfg->rope_theta_local = (float)d;
    if (family->gemma && cfg->n_heads > 0) {
        cfg->embed_scale = sqrtf((float)cfg->hidden_size);
        /* GGUF has no query_pre_attn_scalar: llama.cpp uses head_dim, hidden / heads for the 27B models
         * (46 layers: Gemma 2, 62: Gemma 3), which is what their configs give */
        int big = cfg->n_layers == (cfg->arch == LOOM_ARCH_GEMMA2 ? 46 : 62);
        cfg->attn_scale = 1.0f / sqrtf((float)(big ? cfg->hidden_size / cfg->n_heads : cfg->head_dim));
    }
    const loom_tensor_entry *embed = tensor_table_find(&g->tensors, "token_embd.weight");
    int all_f32 = gguf_get_int(g, "general.file_type", &v) ? v == 0 : embed && embed->dtype == LOOM_DTYPE_F32;
    cfg->dtype = all_f32 ? LOOM_DTYPE_F32 : LOOM_DTYPE_F16;
    if ((st = gguf_moe(g, arch, cfg, err)) != LOOM_OK) return st;
    return config_validate(cfg, err);
}

loom_status config_validate(const loom_config *cfg, loom_error *err) {
    struct {
        const char *name;
        int32_t v;
    } pos[] = {
        {"vocab_size", cfg->vocab_size},
        {"hidden_size", cfg->hidden_size},
        {"intermediate_size", cfg->intermediate_size},
        {"num_hidden_layers", cfg->n_layers},
        {"num_attention_heads", cfg->n_heads},
        {"num_key_value_heads", cfg->n_kv_heads},
        {"head_dim", cfg->head_dim},
        {"max_position_embeddings", cfg->max_position_embeddings},
    };
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (pos[i].v <= 0)
            return loom_fail(err, LOOM_ERR_FORMAT, "%s must be positive (got %d)", pos[i].name, pos[i].v);
    if (cfg->n_heads % cfg->n_kv_heads != 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
                         cfg->n_heads, cfg->n_kv_heads);
    if (cfg->head_dim % 2 != 0)
        return loom_fail(err, LOOM_ERR_FORMAT, "head_dim (%d) must be even for RoPE", cfg->head_dim);
    if (!(cfg->rms_norm_eps > 0) || !(cfg->rope_theta > 0) || !isfinite(cfg->rope_theta))
        return loom_fail(err, LOOM_ERR_FORMAT, "rms_norm_eps and rope_theta must be positive");
    if (cfg->rope_scaling == LOOM_ROPE_SCALING_LLAMA3 &&
        !(cfg->rope_factor > 0 && cfg->rope_low_freq_factor > 0 &&
          cfg->rope_high_freq_factor > cfg->rope_low_freq_factor && cfg->rope_original_max_position > 0))
        return loom_fail(err, LOOM_ERR_FORMAT, "rope_scaling llama3 parameters out of range");
    if ((cfg->rope_scaling == LOOM_ROPE_SCALING_LINEAR || cfg->rope_scaling == LOOM_ROPE_SCALING_YARN) &&
        !(cfg->rope_factor > 0 && isfinite(cfg->rope_factor)))
        return loom_fail(err, LOOM_ERR_FORMAT, "rope_scaling factor must be positive");
    if (cfg->rope_scaling == LOOM_ROPE_SCALING_YARN &&
        !(cfg->rope_beta_fast > cfg->rope_beta_slow && cfg->rope_beta_slow > 0))
        return loom_fail(err, LOOM_ERR_FORMAT, "rope_scaling yarn needs beta_fast > beta_slow > 0");
    float nonneg[] = {cfg->rope_attn_factor, cfg->attn_scale,  cfg->attn_softcap,
                      cfg->final_softcap,    cfg->embed_scale, cfg->rope_theta_local};
    for (size_t i = 0; i < sizeof nonneg / sizeof nonneg[0]; i++)
        if (!(nonneg[i] >= 0 && isfinite(nonneg[i])))
            return loom_fail(err, LOOM_ERR_FORMAT,
                             "attention scale, soft caps, embedding scale and RoPE factors must be finite and >= 0");
    if (cfg->sliding_window < 0) return loom_fail(err, LOOM_ERR_FORMAT, "sliding_window must not be negative");
    if (cfg->moe.n_experts < 0 || cfg->moe.n_experts > 4096 || cfg->moe.shared_intermediate < 0 ||
        cfg->moe.shared_intermediate > (1 << 22) ||
        (cfg->moe.n_experts > 0 &&
         (cfg->moe.top_k < 1 || cfg->moe.top_k > cfg->moe.n_experts || cfg->moe.expert_intermediate <= 0 ||
          cfg->moe.expert_intermediate > (1 << 22))))
        return loom_fail(err, LOOM_ERR_FORMAT,
                         "mixture of experts: need 1 <= num_experts_per_tok (%d) <= num_experts (%d) <= 4096 and "
                         "positive expert sizes (got %d, shared %d)",
                         cfg->moe.top_k, cfg->moe.n_experts, cfg->moe.expert_intermediate,
                         cfg->moe.shared_intermediate);
    if (cfg->vocab_size > (1 << 24) || cfg->hidden_size > (1 << 20) || cfg->n_layers > 4096 ||
        cfg->intermediate_size > (1 << 22) || cfg->head_dim > 4096 || cfg->n_heads > 4096)
        return loom_fail(err, LOOM_ERR_FORMAT, "model dimensions are absurdly large");
    return LOOM_OK;
}

loom_status read_hf_config(const char *dir, loom_config *cfg, loom_error *err) {
    char *path = path_join(dir, "config.json"), *text = NULL;
    if (!path) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = read_file(path, &text, NULL, err);
    if (st == LOOM_OK) st = config_from_json(text, path, cfg, err);
    free(text);
    free(path);
    return st;
}
