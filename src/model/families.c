#include "model/families.h"

#include <stdio.h>
#include <string.h>

/* Gemma3TextConfig's defaults (the 1B's shape). */
#define GEMMA3_TEXT_DEFAULTS                                                                                           \
    "{\"vocab_size\": 262208, \"hidden_size\": 2304, \"intermediate_size\": 9216, "                                    \
    "\"num_hidden_layers\": 26, \"num_attention_heads\": 8, \"num_key_value_heads\": 4, \"head_dim\": 256, "           \
    "\"max_position_embeddings\": 131072, \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0, "                         \
    "\"rope_local_base_freq\": 10000.0, \"query_pre_attn_scalar\": 256, \"sliding_window\": 4096, "                    \
    "\"sliding_window_pattern\": 6, \"bos_token_id\": 2, \"eos_token_id\": 1}"

/* Defaults are those of each family's transformers config class. */
static const loom_family FAMILIES[] = {
    {.arch = LOOM_ARCH_LLAMA,
     .name = "llama",
     .hf_classes = {"LlamaForCausalLM"},
     .model_type = "llama",
     .max_position = 2048,
     .gguf_rope = LOOM_ROPE_INTERLEAVED},
    {.arch = LOOM_ARCH_MISTRAL,
     .name = "mistral",
     .gguf_name = "",
     .hf_classes = {"MistralForCausalLM"},
     .model_type = "mistral",
     .max_position = 32768,
     .sliding = LOOM_SLIDING_ALL},
    {.arch = LOOM_ARCH_QWEN2,
     .name = "qwen2",
     .hf_classes = {"Qwen2ForCausalLM"},
     .model_type = "qwen2",
     .max_position = 32768,
     .attention_bias = 1,
     .sliding = LOOM_SLIDING_OPT_IN},
    {.arch = LOOM_ARCH_QWEN3,
     .name = "qwen3",
     .hf_classes = {"Qwen3ForCausalLM"},
     .model_type = "qwen3",
     .max_position = 32768,
     .qk_norm = LOOM_QK_NORM_HEAD,
     .sliding = LOOM_SLIDING_OPT_IN},
    {.arch = LOOM_ARCH_GEMMA2,
     .name = "gemma2",
     .hf_classes = {"Gemma2ForCausalLM"},
     .model_type = "gemma2",
     .max_position = 8192,
     .tie_embeddings = 1,
     .norms = LOOM_NORMS_SANDWICH,
     .gemma = 1,
     .sliding = LOOM_SLIDING_PATTERN,
     .sliding_pattern = 2},
    {.arch = LOOM_ARCH_GEMMA3,
     .name = "gemma3",
     .hf_classes = {"Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"},
     .multimodal = {0, 1},
     .hf_defaults = GEMMA3_TEXT_DEFAULTS,
     .model_type = "gemma3_text",
     .max_position = 131072,
     .tie_embeddings = 1,
     .norms = LOOM_NORMS_SANDWICH,
     .qk_norm = LOOM_QK_NORM_HEAD,
     .gemma = 1,
     .sliding = LOOM_SLIDING_PATTERN,
     .sliding_pattern = 6,
     .rope_theta = 1000000.0f,
     .rope_theta_local = 10000.0f},
    {.arch = LOOM_ARCH_PHI3,
     .name = "phi3",
     .hf_classes = {"Phi3ForCausalLM"},
     .model_type = "phi3",
     .max_position = 4096,
     .fused_projections = 1,
     .sliding = LOOM_SLIDING_ALL},
    {.arch = LOOM_ARCH_OLMO2,
     .name = "olmo2",
     .hf_classes = {"Olmo2ForCausalLM"},
     .model_type = "olmo2",
     .max_position = 2048,
     .norms = LOOM_NORMS_POST,
     .qk_norm = LOOM_QK_NORM_FULL},
    /* mixture-of-experts families: their FFN is config.moe (config.c reads it, model/moe.c runs it) */
    {.arch = LOOM_ARCH_MIXTRAL,
     .name = "mixtral",
     .gguf_name = "", /* llama.cpp stores Mixtral as "llama" with experts (config.c: gguf_moe) */
     .hf_classes = {"MixtralForCausalLM"},
     .model_type = "mixtral",
     .max_position = 131072,
     .sliding = LOOM_SLIDING_ALL},
    {.arch = LOOM_ARCH_QWEN2_MOE,
     .name = "qwen2_moe",
     .gguf_name = "qwen2moe",
     .hf_classes = {"Qwen2MoeForCausalLM"},
     .model_type = "qwen2_moe",
     .max_position = 32768,
     .attention_bias = 1,
     .sliding = LOOM_SLIDING_OPT_IN},
    {.arch = LOOM_ARCH_QWEN3_MOE,
     .name = "qwen3_moe",
     .gguf_name = "qwen3moe",
     .hf_classes = {"Qwen3MoeForCausalLM"},
     .model_type = "qwen3_moe",
     .max_position = 32768,
     .qk_norm = LOOM_QK_NORM_HEAD,
     .sliding = LOOM_SLIDING_OPT_IN},
    {.arch = LOOM_ARCH_OLMOE,
     .name = "olmoe",
     .hf_classes = {"OlmoeForCausalLM"},
     .model_type = "olmoe",
     .max_position = 4096,
     .qk_norm = LOOM_QK_NORM_FULL},
};
#define N_FAMILIES (sizeof FAMILIES / sizeof FAMILIES[0])

static const char *gguf_name(const loom_family *f) { return f->gguf_name ? f->gguf_name : f->name; }

const loom_family *family_from_hf(const char *hf_class, const char *model_type, int *multimodal) {
    for (size_t i = 0; i < N_FAMILIES; i++) {
        const loom_family *f = &FAMILIES[i];
        for (int k = 0; k < 2 && hf_class; k++)
            if (f->hf_classes[k] && strcmp(hf_class, f->hf_classes[k]) == 0) {
                if (multimodal) *multimodal = f->multimodal[k];
                return f;
            }
        if (!hf_class && model_type && strcmp(model_type, f->model_type) == 0) {
            if (multimodal) *multimodal = 0;
            return f;
        }
    }
    return NULL;
}

const loom_family *family_from_gguf(const char *arch) {
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (gguf_name(&FAMILIES[i])[0] && strcmp(arch, gguf_name(&FAMILIES[i])) == 0) return &FAMILIES[i];
    return NULL;
}

const loom_family *family_of(loom_arch arch) {
    for (size_t i = 0; i < N_FAMILIES; i++)
        if (FAMILIES[i].arch == arch) return &FAMILIES[i];
    return NULL;
}

void family_list(int hf, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_FAMILIES; i++)
        for (int k = 0; k < (hf ? 2 : 1); k++) {
            const char *name = hf ? FAMILIES[i].hf_classes[k] : gguf_name(&FAMILIES[i]);
            if (!name || !name[0]) continue;
            int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", name);
            if (n < 0 || (size_t)n >= size - used) return;
            used += (size_t)n;
        }
}

void family_apply(const loom_family *f, int gguf, loom_config *cfg) {
    cfg->arch = f->arch;
    cfg->max_position_embeddings = f->max_position;
    cfg->attention_bias = f->attention_bias;
    cfg->tie_word_embeddings = f->tie_embeddings;
    cfg->rope_layout = gguf ? f->gguf_rope : LOOM_ROPE_HALF;
    cfg->norms = f->norms;
    cfg->qk_norm = f->qk_norm;
    cfg->fused_projections = f->fused_projections;
    cfg->rope_theta_local = f->rope_theta_local;
    if (f->rope_theta > 0) cfg->rope_theta = f->rope_theta;
    if (f->gemma) {
        cfg->activation = LOOM_ACT_GELU_TANH;
        cfg->norm_weight_offset = gguf ? 0.0f : 1.0f; /* llama.cpp's conversion adds the 1 */
    }
}
