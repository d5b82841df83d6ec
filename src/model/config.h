/* Architecture hyper-parameters: one struct, filled from an HF config.json or from GGUF metadata. */
#ifndef LOOM_MODEL_CONFIG_H
#define LOOM_MODEL_CONFIG_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "formats/gguf.h"

#define LOOM_MAX_EOS_IDS 8

typedef enum loom_arch {
    LOOM_ARCH_LLAMA = 0,
    LOOM_ARCH_MISTRAL,
    LOOM_ARCH_QWEN2,
    /* mixture-of-experts families (loom_moe_config) */
    LOOM_ARCH_MIXTRAL,
    LOOM_ARCH_QWEN2_MOE,
    LOOM_ARCH_QWEN3_MOE,
    LOOM_ARCH_OLMOE,
} loom_arch;

typedef enum loom_rope_layout {
    LOOM_ROPE_HALF = 0,    /* rotate-half (HF, GPT-NeoX): pairs (i, i + head_dim/2) */
    LOOM_ROPE_INTERLEAVED, /* adjacent pairs (2i, 2i+1): llama.cpp's llama layout, Meta's original */
} loom_rope_layout;

/* RMSNorm of q and k after their projections (before RoPE). */
typedef enum loom_qk_norm {
    LOOM_QK_NORM_NONE = 0,
    LOOM_QK_NORM_PER_HEAD, /* each head over head_dim, weights [head_dim] (Qwen3-MoE) */
    LOOM_QK_NORM_WHOLE,    /* the whole projection, weights [q_dim] / [kv_dim] (OLMoE) */
} loom_qk_norm;

/* The mixture-of-experts FFN (model/moe.h). Every layer's MLP is then a router over n_experts experts
 * (each a SwiGLU MLP of expert_intermediate), of which each token uses its top_k, plus, for Qwen2-MoE,
 * a shared expert whose output is scaled by sigmoid(shared_expert_gate . x). n_experts == 0: dense. */
typedef struct loom_moe_config {
    int32_t n_experts;
    int32_t top_k;               /* experts per token */
    int32_t expert_intermediate; /* FFN dim of each routed expert */
    int32_t shared_intermediate; /* FFN dim of the shared expert; 0 = none */
    int norm_topk_prob;          /* the top_k softmax probabilities renormalised to sum 1 */
} loom_moe_config;

typedef struct loom_config {
    loom_arch arch;
    int32_t vocab_size;
    int32_t hidden_size;       /* dim of the residual stream */
    int32_t intermediate_size; /* FFN hidden dim */
    int32_t n_layers;
    int32_t n_heads;
    int32_t n_kv_heads;        /* GQA: n_heads % n_kv_heads == 0 */
    int32_t head_dim;          /* usually hidden_size / n_heads, explicit for some Qwen/Mistral */
    int32_t max_position_embeddings;
    float rms_norm_eps;
    float rope_theta;
    loom_rope_layout rope_layout;
    /* rope_scaling {"rope_type": "llama3"}: frequencies rescaled once at load */
    int rope_scaling_llama3;
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int32_t rope_original_max_position;
    int tie_word_embeddings;
    int attention_bias;        /* q/k/v projections carry biases (Qwen2) */
    loom_dtype dtype;          /* the checkpoint's float dtype: torch_dtype (F32 when absent); GGUF: F32 for
                                * an all-F32 file (general.file_type 0), else F16 (llama.cpp's KV type) */
    int32_t bos_id;            /* -1 when none */
    int32_t eos_ids[LOOM_MAX_EOS_IDS];
    int32_t n_eos_ids;
    loom_qk_norm qk_norm;
    loom_moe_config moe;
} loom_config;

/* Parses config.json text. `path` is used in error messages only. */
loom_status loom_config_from_json(const char *json_text, const char *path, loom_config *cfg, loom_error *err);
/* Reads DIR/config.json into cfg. */
loom_status loom_read_hf_config(const char *dir, loom_config *cfg, loom_error *err);
/* Reads general.architecture and the ARCH.* keys of a parsed GGUF. */
loom_status loom_config_from_gguf(const loom_gguf *g, loom_config *cfg, loom_error *err);
/* Checks the invariants the forward pass relies on (positive sizes, head divisibility, ...). */
loom_status loom_config_validate(const loom_config *cfg, loom_error *err);

const char *loom_arch_name(loom_arch a);
int32_t loom_config_q_dim(const loom_config *cfg);  /* n_heads * head_dim */
int32_t loom_config_kv_dim(const loom_config *cfg); /* n_kv_heads * head_dim */
int loom_config_is_moe(const loom_config *cfg);      /* moe.n_experts > 0 */

#endif
