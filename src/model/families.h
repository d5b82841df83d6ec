/* The decoder families loom runs (dense and mixture-of-experts), as one table: each family's names in config.json and
 * GGUF, and
 * how its block differs from Llama's. config.c looks a checkpoint's family up here and applies its
 * traits to the config; weight binding and the forward pass read only the config fields set from it. */
#ifndef LOOM_MODEL_FAMILIES_H
#define LOOM_MODEL_FAMILIES_H

#include "model/config.h"

typedef struct loom_family {
    loom_arch arch;
    const char *name;           /* loom's name; also GGUF's general.architecture unless gguf_name is set */
    const char *gguf_name;      /* NULL: name; "" : stored under another family's name (Mistral is "llama") */
    const char *hf_classes[2];  /* config.json architectures[0] */
    int multimodal[2];          /* hf_classes[i] is an image-text checkpoint: the text model's parameters in
                                 * text_config, its tensors under language_model. (hf_dir.c) */
    const char *hf_defaults;    /* the transformers config class's defaults as a JSON object, for keys a
                                 * config.json may omit (the Hub's multimodal text_config lists few), or NULL */
    const char *model_type;     /* config.json model_type, used when architectures is absent */
    int32_t max_position;       /* max_position_embeddings when config.json has none */
    int attention_bias;         /* attention_bias when config.json has none (Qwen2: true) */
    int tie_embeddings;         /* tie_word_embeddings when config.json has none (Gemma: true) */
    loom_rope_layout gguf_rope; /* the RoPE pairing llama.cpp's conversion leaves in Q/K rows */
    loom_norm_placement norms;
    loom_qk_norm qk_norm;
    int fused_projections; /* Phi-3 */
    int gemma;             /* embeddings x sqrt(hidden), RMSNorm weights stored minus 1 in HF files,
                                 * GELU-tanh by default, query_pre_attn_scalar */
    /* which layers a sliding_window applies to when config.json has no layer_types: */
    int sliding;             /* LOOM_SLIDING_* */
    int32_t sliding_pattern; /* LOOM_SLIDING_PATTERN: every Nth layer global, the others sliding */
    float rope_theta;        /* rope_theta when the config has none (0: 10000) */
    float rope_theta_local;  /* the sliding layers' RoPE base unless the config gives one (Gemma 3) */
} loom_family;

enum {
    LOOM_SLIDING_NEVER = 0, /* the family ignores sliding_window (Llama, OLMo 2) */
    LOOM_SLIDING_ALL,       /* every layer (Mistral, Phi-3) */
    LOOM_SLIDING_OPT_IN,    /* only with use_sliding_window, layers from max_window_layers on (Qwen2/3) */
    LOOM_SLIDING_PATTERN,   /* sliding_pattern (Gemma 2: 2, Gemma 3: 6 or sliding_window_pattern) */
};

/* The family of a config.json (architectures[0], else model_type), or NULL; *multimodal (may be NULL) tells
whether the class is the family's image-text one. */
const loom_family *family_from_hf(const char *hf_class, const char *model_type, int *multimodal);
/* The family of a GGUF general.architecture, or NULL. */
const loom_family *family_from_gguf(const char *arch);
const loom_family *family_of(loom_arch arch);
/* The supported names for an error message: HF classes (hf = 1) or GGUF architectures, comma-separated. */
void family_list(int hf, char *out, size_t size);
/* Sets cfg's arch and block traits (norms, q/k norm, fused projections, Gemma's scalings, rope layout
 * for gguf = 1) to the family's, and its defaults for what the checkpoint may override. */
void family_apply(const loom_family *f, int gguf, loom_config *cfg);

#endif
