/* Architecture hyper-parameters: one struct, filled from an HF config.json or from GGUF metadata. */
#ifndef LOOM_MODEL_CONFIG_H
#define LOOM_MODEL_CONFIG_H

#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "formats/gguf.h"

#define LOOM_MAX_EOS_IDS 8
#define LOOM_MAX_LAYERS 4096
#define LOOM_MAX_ROPE_FACTORS 256 /* LongRoPE factors: one per rotated pair (head_dim / 2) */

typedef enum loom_arch {
    LOOM_ARCH_LLAMA = 0,
    LOOM_ARCH_MISTRAL,
    LOOM_ARCH_QWEN2,
    /* mixture-of-experts families (loom_moe_config) */
    LOOM_ARCH_MIXTRAL,
    LOOM_ARCH_QWEN2_MOE,
    LOOM_ARCH_QWEN3_MOE,
    LOOM_ARCH_OLMOE,
    /* the dense families of model/families.c */
    LOOM_ARCH_QWEN3,
    LOOM_ARCH_GEMMA2,
    LOOM_ARCH_GEMMA3,
    LOOM_ARCH_PHI3,
    LOOM_ARCH_OLMO2,
} loom_arch;

typedef enum loom_rope_layout {
    LOOM_ROPE_HALF = 0,    /* rotate-half (HF, GPT-NeoX): pairs (i, i + head_dim/2) */
    LOOM_ROPE_INTERLEAVED, /* adjacent pairs (2i, 2i+1): llama.cpp's llama layout, Meta's original */
} loom_rope_layout;

/* rope_scaling of config.json (GGUF: ARCH.rope.scaling.*), applied once to the frequencies at load. */
typedef enum loom_rope_scaling {
    LOOM_ROPE_SCALING_NONE = 0,
    LOOM_ROPE_SCALING_LLAMA3,   /* rope_factor, rope_low/high_freq_factor, rope_original_max_position */
    LOOM_ROPE_SCALING_LINEAR,   /* every frequency / rope_factor */
    LOOM_ROPE_SCALING_YARN,     /* rope_factor, rope_original_max_position, rope_beta_fast/slow, rope_attn_factor */
    LOOM_ROPE_SCALING_LONGROPE, /* per-pair factors (rope_ext_factors), rope_attn_factor */
} loom_rope_scaling;

typedef enum loom_activation { LOOM_ACT_SILU = 0, LOOM_ACT_GELU_TANH } loom_activation;

/* Where a block's RMSNorms sit around its attention and MLP. */
typedef enum loom_norm_placement {
    LOOM_NORMS_PRE = 0,  /* x += f(norm(x)) (Llama) */
    LOOM_NORMS_SANDWICH, /* x += post_norm(f(norm(x))) (Gemma 2/3) */
    LOOM_NORMS_POST,     /* x += post_norm(f(x)) (OLMo 2) */
} loom_norm_placement;

/* RMSNorm of the queries and keys before RoPE. */
typedef enum loom_qk_norm {
    LOOM_QK_NORM_NONE = 0,
    LOOM_QK_NORM_HEAD, /* each head over head_dim, one [head_dim] weight (Qwen3, Gemma 3) */
    LOOM_QK_NORM_FULL, /* the whole projection, [q_dim] / [kv_dim] weights (OLMo 2) */
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
    int32_t n_kv_heads; /* GQA: n_heads % n_kv_heads == 0 */
    int32_t head_dim;   /* usually hidden_size / n_heads, explicit for some Qwen/Mistral */
    int32_t max_position_embeddings;
    float rms_norm_eps;
    float rope_theta;
    loom_rope_layout rope_layout;
    loom_rope_scaling rope_scaling;
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int32_t rope_original_max_position;
    float rope_beta_fast, rope_beta_slow; /* YaRN's correction range */
    float rope_attn_factor;               /* YaRN / LongRoPE: cos and sin scaled by it (1 = none), folded into
                                           * the attention scale as its square */
    int32_t n_rope_ext_factors;           /* LongRoPE from config.json: the factors in use (long when the model's
                                           * context exceeds the original one, else short); 0 from GGUF (the
                                           * rope_factors_long/short tensors are read at load) */
    float rope_ext_factors[LOOM_MAX_ROPE_FACTORS];
    int tie_word_embeddings;
    int attention_bias; /* q/k/v projections carry biases (Qwen2) */
    loom_dtype dtype;   /* the checkpoint's float dtype: torch_dtype (F32 when absent); GGUF: F32 for
                                * an all-F32 file (general.file_type 0), else F16 (llama.cpp's KV type) */
    int32_t bos_id;     /* -1 when none */
    int32_t eos_ids[LOOM_MAX_EOS_IDS];
    int32_t n_eos_ids;

    /* ---- the block variants of the newer dense families (model/families.c sets them from the family
     * and its config); all zero is the Llama block ---- */
    loom_norm_placement norms;
    loom_qk_norm qk_norm;
    loom_activation activation; /* of the MLP's gate */
    int fused_projections;      /* Phi-3: q/k/v rows of one qkv_proj tensor, gate/up of one gate_up_proj */
    float norm_weight_offset;   /* added to every RMSNorm weight at load (Gemma's HF checkpoints store
                                   * weight - 1; its GGUF files hold the weight itself) */
    float embed_scale;          /* 0, or the factor the embeddings are multiplied by (Gemma: sqrt(hidden)) */
    float attn_scale;           /* 0, or the attention score scale when not 1/sqrt(head_dim) (Gemma:
                                   * query_pre_attn_scalar^-1/2) */
    float attn_softcap;         /* 0, or Gemma 2's cap on attention scores */
    float final_softcap;        /* 0, or the cap on the output logits (Gemma 2) */
    int32_t sliding_window;     /* 0, or the keys a sliding layer sees (its query included) */
    uint64_t sliding_layers[LOOM_MAX_LAYERS / 64]; /* bit l: layer l is a sliding-window layer */
    float rope_theta_local; /* 0, or the RoPE base of the sliding layers (Gemma 3), without scaling */
    int hf_text_model;      /* the text model of an image-text HF checkpoint (Gemma3ForConditionalGeneration):
                             * parameters from text_config, tensors under language_model. */
    loom_moe_config moe;
} loom_config;

/* Parses config.json text. `path` is used in error messages only. */
loom_status config_from_json(const char *json_text, const char *path, loom_config *cfg, loom_error *err);
/* Reads DIR/config.json into cfg. */
loom_status read_hf_config(const char *dir, loom_config *cfg, loom_error *err);
/* Reads general.architecture and the ARCH.* keys of a parsed GGUF. */
loom_status config_from_gguf(const loom_gguf *g, loom_config *cfg, loom_error *err);
/* Checks the invariants the forward pass relies on (positive sizes, head divisibility, ...). */
loom_status config_validate(const loom_config *cfg, loom_error *err);

const char *arch_name(loom_arch a);
int32_t config_q_dim(const loom_config *cfg);  /* n_heads * head_dim */
int32_t config_kv_dim(const loom_config *cfg); /* n_kv_heads * head_dim */
int config_is_moe(const loom_config *cfg);     /* moe.n_experts > 0 */
int config_layer_sliding(const loom_config *cfg, int32_t layer);

#endif
