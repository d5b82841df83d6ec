/* loom: an LLM inference engine. The one public header.
 *
 * Conventions: opaque handles; every fallible call returns a loom_status and fills a caller-owned
 * loom_error with a one-line message; *_default_params() gives documented defaults; every create has
 * a free. Nothing in the library prints to stdout or exits. */
#ifndef LOOM_H
#define LOOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum loom_status {
    LOOM_OK = 0,
    LOOM_ERR_IO,          /* a file could not be opened or read */
    LOOM_ERR_FORMAT,      /* malformed or inconsistent input */
    LOOM_ERR_UNSUPPORTED, /* well-formed but not supported (architecture, dtype, ...) */
    LOOM_ERR_INVALID_ARG, /* a caller-supplied parameter is out of range */
    LOOM_ERR_NO_MEMORY,
    LOOM_ERR_INTERNAL,
} loom_status;

typedef struct loom_error {
    loom_status status;
    char message[512];
} loom_error;

const char *loom_status_name(loom_status s);
/* Fills err (when not NULL) with status and a printf-style message and returns status: how every loom
 * function reports a failure, for callers of the library to use the same way. */
loom_status loom_fail(loom_error *err, loom_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- models ------------------------------------------------------------------------------------ */

typedef struct loom_model loom_model;
typedef struct loom_context loom_context;

typedef enum loom_load_format {
    LOOM_LOAD_AUTO = 0, /* by what the path holds: *.gguf file, or an HF directory */
    LOOM_LOAD_DUMMY,    /* random weights for the config.json in the directory (benchmarks) */
} loom_load_format;

/* Load-time weight conversion (src/model/quant_load.c): INT8 = 32-element groups with an f16 scale
 * (GGUF Q8_0 layout), INT4 = 32-element groups with f16 scale and minimum (Q4_1 layout), FP8 = E4M3
 * with an f16 scale per 32 elements; F32 dequantizes everything (the accuracy reference). Matmuls with
 * INT8/INT4 weights run on int8-quantized activations. */
typedef enum loom_quantization {
    LOOM_QUANT_NONE = 0,
    LOOM_QUANT_F32,
    LOOM_QUANT_INT8,
    LOOM_QUANT_INT4,
    LOOM_QUANT_FP8
} loom_quantization;

typedef struct loom_model_params {
    const char *path; /* HF directory (config.json + weights + tokenizer) or a .gguf file */
    loom_load_format load_format;
    uint64_t dummy_seed;            /* for LOOM_LOAD_DUMMY */
    int metadata_only;              /* LOOM_LOAD_DUMMY: config and tensor sizes only, no weight data (for
                                   * `loom plan`); such a model cannot run (loom_context_create refuses) */
    loom_quantization quantization; /* weight matrices converted at load; default: as stored */
    /* Parallelism (needs an MPI build started by mpirun with tensor x pipeline ranks): this process loads
     * only its shard, rank r being tensor rank r % tensor_parallel_size of stage r / tensor_parallel_size.
     * 0 or 1 = none. See loom_parallel_init. */
    int32_t tensor_parallel_size;
    int32_t pipeline_parallel_size;
    /* Mixture-of-experts models: 1 gives each tensor-parallel rank whole experts (a share of them) instead
     * of a slice of every expert (vLLM's --enable-expert-parallel); attention stays tensor-parallel. No
     * effect on dense models. */
    int enable_expert_parallel;
    /* 0 (default): weight matrices the CPU kernels have a faster layout for are rearranged into it at
     * load; 1 keeps every matrix row by row as in the checkpoint (tests that compare weight bytes). */
    int keep_row_layout;
} loom_model_params;

loom_model_params loom_model_default_params(void);
loom_status loom_model_load(const loom_model_params *params, loom_model **out, loom_error *err);
/* `loom quantize`: the GGUF at in_path -> a GGUF at out_path with its weight matrices in type_name
 * ("int8" = "q8_0", "int4" = "q4_1", "q4_0", "fp8"); format in src/model/gguf_quantize.c. */
loom_status loom_quantize_gguf_file(const char *in_path, const char *out_path, const char *type_name, loom_error *err);
void loom_model_free(loom_model *model);

/* Parallel runs (tensor / pipeline parallelism over MPI, `mpirun -np T*P loom ...`). Every rank calls
 * loom_parallel_init first and loads the model with the same tensor_parallel_size and
 * pipeline_parallel_size (each gets its own shard). Rank 0 then does the work (contexts, engine,
 * sampling, server) as a single process would; every other rank calls loom_parallel_follow, which
 * mirrors rank 0's contexts on its shard until rank 0 calls loom_parallel_release_followers (after
 * freeing its contexts) and returns LOOM_OK. A rank that dies or hangs ends the whole job with a
 * message on stderr (no silent hang). Without MPI (or without mpirun) the world is one process. */
loom_status loom_parallel_init(int *argc, char ***argv, loom_error *err);
void loom_parallel_finalize(void);
int loom_parallel_rank(void);
loom_status loom_parallel_follow(loom_model *model, loom_error *err);
void loom_parallel_release_followers(void);

/* What each rank of a context holds and has spent; one entry per rank in rank order (one in a single
 * process). A parallel run gathers them from every rank (collective: called on rank 0 only). */
typedef struct loom_rank_stats {
    int32_t rank, tp_rank, pp_rank;
    uint64_t weight_bytes; /* weights of this rank's shard (loom_model_info.shard_weight_bytes) */
    uint64_t kv_bytes;     /* its KV cache allocation */
    uint64_t rss_bytes;    /* resident memory of the process */
    double comm_seconds;   /* time inside MPI calls since start */
} loom_rank_stats;
/* Writes up to cap entries; returns the number of ranks. */
int32_t loom_context_rank_stats(loom_context *ctx, loom_rank_stats *out, int32_t cap);

typedef struct loom_model_info {
    const char *architecture; /* "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "olmo2" */
    int32_t vocab_size;
    int32_t n_layers;
    int32_t hidden_size;
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t head_dim;
    int32_t max_position_embeddings;
    int32_t bos_id;         /* -1 when none */
    const int32_t *eos_ids; /* every id that ends generation */
    int32_t n_eos_ids;
    uint64_t weight_bytes; /* bytes of all weight tensors as stored */
    uint64_t n_params;
    uint64_t activation_bytes_per_token; /* forward workspace per batched token (memory plan) */
    int kv_dtype_auto;                   /* the loom_kv_dtype LOOM_KV_AUTO resolves to: the checkpoint's float dtype
                               * (torch_dtype f32 / f16 / bf16; a GGUF: f32 for an all-F32 file, else f16) */
    /* The part of the model this process holds (loom_model_params.tensor/pipeline_parallel_size; all of
     * it without parallelism): tensor rank tp_rank of tp_size in pipeline stage pp_rank of pp_size,
     * layers [shard_layer_begin, shard_layer_end) with shard_n_kv_heads KV heads each. */
    int32_t tp_rank, tp_size, pp_rank, pp_size;
    int32_t shard_layer_begin, shard_layer_end;
    int32_t shard_n_kv_heads;
    uint64_t shard_weight_bytes; /* bytes of the weight slices held, as stored in the checkpoint */
} loom_model_info;

const loom_model_info *loom_model_get_info(const loom_model *model);
/* The info rank (tp_rank, pp_rank) of a tp_size x pp_size layout would have: the model's info with that
 * rank's shard fields, from the tensor table and the sharding rules alone (no weight data is read, so a
 * metadata-only model works). Fails as loading that rank would (heads or intermediate_size that
 * tp_size does not divide, a block-quantized column split off block boundaries). */
loom_status loom_model_shard_info(const loom_model *model, int32_t tp_rank, int32_t tp_size, int32_t pp_rank,
                                  int32_t pp_size, loom_model_info *out, loom_error *err);

/* ---- tokenizer ---------------------------------------------------------------------------------- */

/* Encodes UTF-8 text. add_special: prepend BOS (and what the tokenizer's post-processor adds) per the
 * tokenizer config. *ids_out is malloc'd; free it with free(). */
loom_status loom_tokenize(const loom_model *model, const char *text, size_t text_len, int add_special,
                          int32_t **ids_out, size_t *n_ids_out, loom_error *err);

/* Incremental detokenizer for streaming: push ids one at a time, get back only complete UTF-8 text
 * (never half a character; leading-space rules applied as the tokenizer's decoder does). */
typedef struct loom_detokenizer loom_detokenizer;
loom_status loom_detokenizer_create(const loom_model *model, int skip_special, loom_detokenizer **out, loom_error *err);
/* Feeds the prompt's ids without producing text, so the continuation is decoded in context (e.g. a
 * SentencePiece "▁word" right after the prompt keeps its space). */
loom_status loom_detokenizer_prime(loom_detokenizer *d, const int32_t *ids, size_t n, loom_error *err);
/* Appends the newly completed text to *text_out (malloc'd, NUL-terminated, may be ""). */
loom_status loom_detokenizer_push(loom_detokenizer *d, int32_t id, char **text_out, loom_error *err);
/* Flushes whatever is pending (an incomplete UTF-8 tail becomes U+FFFD). */
loom_status loom_detokenizer_flush(loom_detokenizer *d, char **text_out, loom_error *err);
void loom_detokenizer_free(loom_detokenizer *d);

/* Renders the model's chat template (GGUF tokenizer.chat_template, or tokenizer_config.json's
 * chat_template) as transformers' apply_chat_template(tokenize=False) does. messages_json: a JSON array
 * of {"role", "content"} objects. *text_out is malloc'd and NUL-terminated. A model without a template
 * is LOOM_ERR_UNSUPPORTED; a template that rejects the messages is LOOM_ERR_INVALID_ARG. */
loom_status loom_apply_chat_template(const loom_model *model, const char *messages_json, int add_generation_prompt,
                                     char **text_out, loom_error *err);

/* The same with every option the OpenAI / vLLM chat API has for the template. */
typedef struct loom_chat_template_params {
    int add_generation_prompt; /* default 1: open the assistant's turn after the messages */
    /* default 0; 1: render the last message (an assistant's) open-ended, so generation continues it
     * (transformers' continue_final_message: the text is cut right after that message's content).
     * Exclusive with add_generation_prompt (both set is LOOM_ERR_INVALID_ARG). */
    int continue_final_message;
    /* NULL, or a JSON object whose members become template variables (vLLM's chat_template_kwargs, e.g.
     * {"enable_thinking": false} for Qwen3). They may not replace messages, tools, documents,
     * add_generation_prompt or continue_final_message (LOOM_ERR_INVALID_ARG naming the key). */
    const char *kwargs_json;
    /* NULL, or a JSON array: the template's `tools` (OpenAI's [{"type": "function", "function": {"name",
     * "description", "parameters"}}], as transformers passes them); NULL renders `tools` as none. */
    const char *tools_json;
} loom_chat_template_params;

loom_chat_template_params loom_chat_template_default_params(void);
/* The source of the template loom_apply_chat_template renders, malloc'd (the server reads which
 * tool-call format it writes); LOOM_ERR_UNSUPPORTED when the model has none. */
loom_status loom_model_chat_template(const loom_model *model, char **source_out, loom_error *err);
loom_status loom_apply_chat_template_ex(const loom_model *model, const char *messages_json,
                                        const loom_chat_template_params *params, char **text_out, loom_error *err);

/* ---- tokenizers on their own ------------------------------------------------------------------- */

/* Tokenizers match Hugging Face `tokenizers` exactly. */
typedef struct loom_tokenizer loom_tokenizer;

/* path: a .gguf file (a model or a vocab-only GGUF), an HF model directory (tokenizer.json, else
 * vocab.json + merges.txt, else tokenizer.model, with tokenizer_config.json beside it), or a
 * tokenizer.json file. */
loom_status loom_tokenizer_load(const char *path, loom_tokenizer **out, loom_error *err);
/* The model's own tokenizer (owned by the model), or NULL when it has none. */
const loom_tokenizer *loom_model_get_tokenizer(const loom_model *model);

void loom_tokenizer_free(loom_tokenizer *t);

int32_t loom_tokenizer_vocab_size(const loom_tokenizer *t); /* including added tokens */
int32_t loom_tokenizer_bos_id(const loom_tokenizer *t);     /* -1 when none */
int32_t loom_tokenizer_eos_id(const loom_tokenizer *t);     /* -1 when none */
int loom_tokenizer_is_special(const loom_tokenizer *t, int32_t id);

/* add_special: add what the tokenizer adds around a single sequence (BOS per add_bos_token / the
 * post-processor template). *ids_out is malloc'd. Invalid UTF-8 input is LOOM_ERR_INVALID_ARG. */
loom_status loom_tokenizer_encode(const loom_tokenizer *t, const char *text, size_t len, int add_special,
                                  int32_t **ids_out, size_t *n_out, loom_error *err);

/* Whole-sequence decode as HF `decode` does (decoder chain: ByteLevel / Metaspace / ByteFallback /
 * Fuse / Strip ...). *text_out is malloc'd and NUL-terminated. Out-of-range ids are an error. */
loom_status loom_tokenizer_decode(const loom_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                                  char **text_out, size_t *len_out, loom_error *err);

/* ---- running the model -------------------------------------------------------------------------- */

/* A context owns the KV cache, the activation buffers and the worker threads for one model. */

typedef struct loom_context_params {
    int32_t n_threads;          /* 0 = number of online CPUs */
    int32_t max_seqs;           /* sequences that can hold KV at once */
    int32_t max_tokens_per_seq; /* KV capacity per sequence; 0 = model's max_position_embeddings */
    int32_t max_batch_tokens;   /* tokens one forward may process */
    int32_t block_size;         /* tokens per KV block; 0 = 16 */
    int32_t num_kv_blocks;      /* 0 = max_seqs x blocks for max_tokens_per_seq */
    int kv_cache_dtype;         /* a loom_kv_dtype; default LOOM_KV_AUTO */
} loom_context_params;

loom_context_params loom_context_default_params(void);
loom_status loom_context_create(loom_model *model, const loom_context_params *params, loom_context **out,
                                loom_error *err);
void loom_context_free(loom_context *ctx);

/* One forward step over a ragged batch: n_tokens tokens, each belonging to a sequence and a position.
 * The tokens of one sequence must be consecutive positions continuing its KV cache. Logits are
 * produced for tokens with want_logits[i] != 0, in batch order. */
typedef struct loom_batch_input {
    int32_t n_tokens;
    const int32_t *tokens;
    const int32_t *positions;
    const int32_t *seq_ids;     /* 0 .. max_seqs-1 */
    const uint8_t *want_logits; /* NULL = only the last token of each sequence */
} loom_batch_input;

loom_status loom_decode(loom_context *ctx, const loom_batch_input *batch, loom_error *err);
/* Logits of the i-th token that wanted logits in the last loom_decode: vocab_size floats. */
const float *loom_get_logits(const loom_context *ctx, int32_t i);
/* Forgets the KV of a sequence (its slot can be reused from position 0). */
void loom_seq_clear(loom_context *ctx, int32_t seq_id);
/* Sequence dst (cleared first) shares src's KV copy-on-write: both continue from src's length. */
loom_status loom_seq_fork(loom_context *ctx, int32_t src_seq_id, int32_t dst_seq_id, loom_error *err);
/* Prefix caching for an empty sequence: attaches the KV of the longest run of full cached blocks
 * (block_size tokens each, computed earlier by any sequence of this context) matching tokens[0 .. n),
 * never all n. Returns how many tokens are now in the sequence's KV: decode from that position on. */
int32_t loom_seq_reuse_prefix(loom_context *ctx, int32_t seq_id, const int32_t *tokens, int32_t n_tokens);
/* Bytes allocated for the KV cache (num_kv_blocks x block_size x KV bytes per token). */
uint64_t loom_context_kv_bytes(const loom_context *ctx);

/* ---- sampling ------------------------------------------------------------------------------------ */

/* How each token is drawn (the sampler's fields; what ends a request is in loom_request_params).
 * Order of operations (vLLM v1's sampler), the one place it is written down:
 *   1. suppressed ids (loom_sampler_suppress: the engine passes EOS unless ignore_eos, and
 *      stop_token_ids) get -inf while fewer than min_tokens tokens exist;
 *   2. logit_bias added;
 *   3. repetition penalty (HF: over prompt + output ids, positive logits / r, negative ones * r),
 *      then frequency (- f * count) and presence (- p once) penalties over the output ids;
 *   4. temperature < 1e-5 (vLLM's epsilon; 0 included): greedy argmax, ties to the lowest id, no
 *      random draw; otherwise logits / temperature;
 *   5. min-p: drop tokens whose probability is below min_p x the top probability;
 *   6. top-k over what is left; 7. top-p: the smallest best-first prefix whose probability,
 *      renormalized over what is left, reaches top_p (a token stays while the mass before it is
 *      below top_p);
 *   8. one uniform draw from the sequence's own RNG stream (xoshiro256** seeded with `seed`).
 * Equal logits are ordered by lower id, so the result depends only on the row, the parameters and
 * the seed, never on the batch. Parallel samples (n > 1): sample i uses seed + i (vLLM's rule).
 * Log-probabilities are always those of the raw model distribution (log-softmax of the logits). */
#define LOOM_MAX_STOP_STRINGS 16
#define LOOM_MAX_STOP_TOKEN_IDS 16
#define LOOM_MAX_LOGPROBS 1024 /* the largest loom_engine_params.max_logprobs */

typedef struct loom_logit_bias {
    int32_t id;
    float bias;
} loom_logit_bias;

typedef struct loom_sampling_params {
    float temperature;                 /* default 1.0 */
    int32_t top_k;                     /* 0 or -1 = off */
    float top_p;                       /* 1.0 = off */
    float min_p;                       /* 0.0 = off */
    float repetition_penalty;          /* HF semantics over prompt + output ids; 1.0 = off */
    float presence_penalty;            /* OpenAI semantics over output ids; 0 = off */
    float frequency_penalty;           /* OpenAI semantics over output ids; 0 = off */
    uint64_t seed;                     /* used when has_seed */
    int has_seed;                      /* 0: seeded from the clock */
    const loom_logit_bias *logit_bias; /* caller-owned; the sampler and the engine copy it */
    int32_t n_logit_bias;
} loom_sampling_params;

loom_sampling_params loom_sampling_default_params(void);
/* The defaults a model's files ask for, for requests that leave a sampling field out (as vLLM's
 * generation_config "auto" and llama-server do): an HF directory's generation_config.json (temperature,
 * top_k, top_p, min_p, repetition_penalty) or a GGUF's general.sampling.* keys (temp, top_k, top_p, min_p,
 * penalty_repeat). A field the files do not set gets llama-server's default: temperature 0.8, top_k 40,
 * top_p 0.95, min_p 0.05, no penalties (not the API's loom_sampling_default_params). A value present but
 * malformed or out of range is LOOM_ERR_FORMAT naming the file and the field. No seed, no logit_bias. */
loom_status loom_model_sampling_defaults(const loom_model *model, loom_sampling_params *out, loom_error *err);
/* Checks every field; the message starts with the field's API name ("top_p must be in (0, 1]"). */
loom_status loom_sampling_params_validate(const loom_sampling_params *p, int32_t vocab_size, loom_error *err);

typedef struct loom_sampler loom_sampler;
/* A sampler for one sequence. prompt ids feed the repetition penalty. */
loom_status loom_sampler_create(const loom_sampling_params *params, int32_t vocab_size, loom_sampler **out,
                                loom_error *err);
loom_status loom_sampler_set_prompt(loom_sampler *s, const int32_t *prompt_ids, size_t n, loom_error *err);
/* ids (the engine passes the model's EOS ids unless ignore_eos, and stop_token_ids) get -inf while
 * fewer than min_tokens tokens have been sampled (vLLM's min_tokens). Replaces an earlier call's set. */
loom_status loom_sampler_suppress(loom_sampler *s, const int32_t *ids, size_t n, int32_t min_tokens, loom_error *err);
/* Draws the next token from logits (not modified) and records it in the sampler's history. */
int32_t loom_sampler_sample(loom_sampler *s, const float *logits);
/* The distribution the next loom_sampler_sample would draw from (after every step above, one-hot
 * when greedy), into probs[vocab_size]; changes nothing (tests, debugging). */
void loom_sampler_probs(loom_sampler *s, const float *logits, float *probs);
void loom_sampler_free(loom_sampler *s);

/* Log-softmax of the raw logits: the chosen id's log-probability, and the top k (ids and
 * log-probabilities, best first; k <= vocab_size). */
void loom_logprobs(const float *logits, int32_t vocab_size, int32_t chosen, int32_t k, float *chosen_logprob,
                   int32_t *top_ids, float *top_logprobs);

/* Stop strings on streamed text (semantics in src/sample/stop.h): push each detokenized delta, emit
 * what comes back; a tail that could still begin a stop string is held until it cannot. */
typedef struct loom_stop_matcher loom_stop_matcher;
typedef struct loom_stop_result {
    const char *text; /* text safe to emit now; valid until the next call on the matcher */
    size_t text_len;
    int32_t stop_index; /* -1, or the index of the stop string that matched (generation is over) */
} loom_stop_result;
/* Copies the strings. n_stop may be 0 (everything passes through). */
loom_status loom_stop_matcher_create(const char *const *stop, int32_t n_stop, int include_stop_str_in_output,
                                     loom_stop_matcher **out, loom_error *err);
/* check_stop = 0 while fewer than min_tokens tokens exist (vLLM ignores stop strings until then). */
loom_status loom_stop_matcher_push(loom_stop_matcher *m, const char *delta, size_t len, int check_stop,
                                   loom_stop_result *out, loom_error *err);
/* At EOS / length: releases the held tail. */
void loom_stop_matcher_flush(loom_stop_matcher *m, loom_stop_result *out);
const char *loom_stop_matcher_string(const loom_stop_matcher *m, int32_t index);
void loom_stop_matcher_free(loom_stop_matcher *m);

/* ---- engine: continuous batching over a paged KV cache ------------------------------------------ */

/* KV cache element types. f32/f16/bf16 and fp8 (per token and KV head scale) give results that do not
 * depend on how requests are batched or chunked. int8 keys share per-channel ranges within a block that
 * widen as the block fills (src/kv/kv_int8.h: far more accurate than per-token ranges, since RoPE gives
 * keys channels with large offsets), so a query may see earlier keys of its block at a slightly different
 * resolution depending on what its step also wrote: with int8 KV, prefill chunking and recompute
 * preemption can change sampled tokens. */
typedef enum loom_kv_dtype {
    LOOM_KV_AUTO = -1, /* the model's float dtype (loom_model_info.kv_dtype_auto), as vLLM's "auto" */
    LOOM_KV_F32 = 0,
    LOOM_KV_F16,
    LOOM_KV_BF16,
    LOOM_KV_INT8,
    LOOM_KV_FP8_E4M3
} loom_kv_dtype;

/* "auto", "f32", "f16", "bf16", "int8", "fp8" (also "fp8_e4m3"); parse returns -2 for an unknown name. */
const char *loom_kv_dtype_name(loom_kv_dtype t);
int loom_kv_dtype_parse(const char *name);

typedef enum loom_preemption_mode { LOOM_PREEMPT_RECOMPUTE = 0, LOOM_PREEMPT_SWAP } loom_preemption_mode;

/* Speculative decoding (vLLM's --speculative-config, llama.cpp's --model-draft): a proposer guesses the
 * next K tokens of a decoding sequence; one target forward over [last token + K proposals], in the same
 * ragged batch as every other sequence's work, gives the logits of all K + 1 positions; each proposal is
 * kept or rejected by rejection sampling against the distribution the sampler would draw from (exact:
 * outputs are distributed as without speculation, and greedy outputs are identical token for token);
 * the first rejected position gets a token from the residual distribution, and when all K are kept one
 * more token comes from the last position. Rejected tokens' KV is rolled back (never cached). */
typedef enum loom_spec_method {
    LOOM_SPEC_NONE = 0,
    LOOM_SPEC_NGRAM,       /* model-free prompt lookup: the last n tokens matched earlier in prompt + output */
    LOOM_SPEC_DRAFT_MODEL, /* a smaller model with the same vocabulary, run by the engine with its own KV */
} loom_spec_method;
#define LOOM_MAX_SPEC_TOKENS 16

typedef struct loom_engine_params {
    int32_t n_threads;              /* 0 = all CPUs */
    int32_t max_num_seqs;           /* sequences per step; default 64 */
    int32_t max_logprobs;           /* largest logprobs / prompt_logprobs a request may ask for; default 20 (vLLM's,
                                     * OpenAI's), at most LOOM_MAX_LOGPROBS */
    int32_t max_num_batched_tokens; /* tokens per step; default 2048 */
    int32_t max_model_len;          /* 0 = the model's max_position_embeddings */
    int32_t block_size;             /* tokens per KV block; default 16 */
    int32_t num_kv_blocks;          /* > 0 overrides the memory plan (tests force preemption with it) */
    uint64_t kv_cache_memory_bytes; /* > 0: the KV budget; 0: what max_num_seqs x max_model_len tokens need,
                                     * at most 4 GiB (vLLM CPU's VLLM_CPU_KVCACHE_SPACE default) */
    uint64_t memory_limit_bytes;    /* weights + activations + KV must fit; 0 = 0.9 x physical RAM */
    loom_kv_dtype kv_cache_dtype;   /* default LOOM_KV_AUTO */
    int enable_prefix_caching;      /* default 1 */
    int enable_chunked_prefill;     /* default 1 */
    loom_preemption_mode preemption_mode;
    uint64_t swap_space_bytes;           /* host area for LOOM_PREEMPT_SWAP */
    loom_spec_method speculative_method; /* default LOOM_SPEC_NONE */
    int32_t num_speculative_tokens;      /* K, in [1, LOOM_MAX_SPEC_TOKENS] with a method; default 0 */
    loom_model *draft_model;             /* LOOM_SPEC_DRAFT_MODEL: loaded by the caller, freed after the engine; its
                                     * vocabulary must be the target's (checked at create) */
    int32_t ngram_prompt_lookup_max;     /* LOOM_SPEC_NGRAM: longest n-gram matched; default 4 */
    int32_t ngram_prompt_lookup_min;     /* shortest; default 1 */
} loom_engine_params;

loom_engine_params loom_engine_default_params(void);

/* The memory plan (`loom plan`): what the engine would allocate for a model and these params. */
typedef struct loom_memory_plan {
    uint64_t weights_bytes;
    uint64_t activation_bytes;
    uint64_t kv_bytes_per_token;  /* 2 x layers x kv_heads x head_dim x dtype bytes + int8/fp8 scales (kv_store.h) */
    loom_kv_dtype kv_cache_dtype; /* resolved (never LOOM_KV_AUTO) */
    int32_t block_size;
    int32_t num_kv_blocks;
    uint64_t kv_cache_bytes; /* num_kv_blocks x block_size x kv_bytes_per_token */
    int64_t max_tokens_in_kv;
    int32_t max_model_len;
    int32_t max_concurrent_seqs; /* num_kv_blocks / ceil(max_model_len / block_size) */
    uint64_t memory_limit_bytes;
} loom_memory_plan;

/* Fails fast (LOOM_ERR_NO_MEMORY with what to change) when max_model_len cannot fit. For a sharded model
 * the plan is this process's: its shard_weight_bytes and the KV of its layers and KV heads. */
loom_status loom_memory_plan_compute(const loom_model *model, const loom_engine_params *params, loom_memory_plan *out,
                                     loom_error *err);
/* The same for the shard an info describes (loom_model_shard_info gives any rank's). */
loom_status loom_memory_plan_compute_for(const loom_model_info *info, const loom_engine_params *params,
                                         loom_memory_plan *out, loom_error *err);

typedef struct loom_engine loom_engine;

typedef enum loom_finish_reason {
    LOOM_FINISH_NONE = 0, /* still running */
    LOOM_FINISH_STOP,     /* EOS, a stop string or a stop token id */
    LOOM_FINISH_LENGTH,   /* max_tokens or the context length */
    LOOM_FINISH_ABORT,    /* loom_engine_abort */
    LOOM_FINISH_ERROR,
} loom_finish_reason;

typedef struct loom_token_logprob {
    int32_t id;
    float logprob;
    int32_t n_top;
    const int32_t *top_ids;    /* [n_top], best first */
    const float *top_logprobs; /* [n_top] */
} loom_token_logprob;

/* One event for one sequence of one request: the tokens produced since the last event. Pointers are
 * valid only during the callback. */
typedef struct loom_output {
    uint64_t request_id;
    int32_t seq_index; /* 0 .. n-1 */
    const int32_t *new_ids;
    int32_t n_new;
    const char *text_delta;             /* newly final text (stop strings already cut) */
    const loom_token_logprob *logprobs; /* [n_new] when requested, else NULL */
    loom_finish_reason finish_reason;
    const char *stop_reason; /* the stop string that matched, or NULL */
    int32_t stop_token_id;   /* the stop_token_ids entry that ended the sequence, else -1 */
    int32_t n_prompt_tokens;
    int32_t n_output_tokens;                   /* so far, this sequence */
    int32_t n_cached_prompt_tokens;            /* prompt tokens served from the prefix cache */
    const loom_token_logprob *prompt_logprobs; /* first event only, [n_prompt_tokens] (entry 0 empty) */
} loom_output;

/* Called on the engine thread (or inside loom_engine_step); must not block for long. */
typedef void (*loom_output_fn)(const loom_output *out, void *user);

/* Structured outputs (src/grammar/): the output is constrained to a language. At every step the tokens
 * whose bytes cannot continue it get -inf before sampling (special tokens never continue it), EOS ids
 * are allowed exactly when the output is a complete sentence, and a sample whose output nothing can
 * follow stops (finish_reason stop). Log-probabilities stay those of the raw model distribution. */
typedef enum loom_constraint_kind {
    LOOM_CONSTRAINT_NONE = 0,
    LOOM_CONSTRAINT_JSON_SCHEMA,    /* spec: a JSON Schema (keywords: src/grammar/json_schema.c) */
    LOOM_CONSTRAINT_JSON_OBJECT,    /* any JSON object (OpenAI's response_format json_object); spec unused */
    LOOM_CONSTRAINT_REGEX,          /* spec: a regular expression the whole output matches */
    LOOM_CONSTRAINT_CHOICE,         /* spec: a JSON array of strings; the output is exactly one of them */
    LOOM_CONSTRAINT_GBNF,           /* spec: a llama.cpp GBNF grammar whose start rule is `root` */
    LOOM_CONSTRAINT_STRUCTURAL_TAG, /* spec: XGrammar's structural tag JSON ({"type": "structural_tag",
                                     * "format": ...}): tags, free text with triggers (src/grammar/structural_tag.c) */
} loom_constraint_kind;

typedef struct loom_constraint {
    loom_constraint_kind kind;
    const char *spec; /* NUL-terminated; copied */
} loom_constraint;

/* A constraint compiled for a model's vocabulary, as one sequence's matcher, for callers that drive
 * loom_decode themselves (`loom generate`); the engine does the same per sample. A spec that does not
 * compile is LOOM_ERR_INVALID_ARG with the compiler's message (an unsupported JSON Schema keyword and
 * where it is, a regex construct and its offset, a GBNF line); a model without a tokenizer is
 * LOOM_ERR_UNSUPPORTED. */
typedef struct loom_grammar loom_grammar;
loom_status loom_grammar_create(const loom_model *model, const loom_constraint *c, loom_grammar **out, loom_error *err);
/* Sets logits[vocab_size] of every token not allowed next to -inf. */
loom_status loom_grammar_mask_logits(loom_grammar *g, float *logits, loom_error *err);
/* Advances by the sampled token; LOOM_ERR_INVALID_ARG when it was not allowed (nothing changes). */
loom_status loom_grammar_accept(loom_grammar *g, int32_t id, loom_error *err);
/* Nothing can follow the output: generation should stop. */
int loom_grammar_is_terminated(const loom_grammar *g);
void loom_grammar_free(loom_grammar *g);

/* One request: the prompt, how tokens are drawn (sampling), and what the engine does around the
 * sampler: how many samples, when a sample ends, what each event carries. Defaults are the OpenAI
 * API's (loom_request_default_params). loom_engine_add_request validates every field, once; its
 * message starts with the field's API name ("max_tokens must be >= 0"). */
typedef struct loom_request_params {
    const int32_t *prompt_ids; /* copied */
    size_t n_prompt;
    loom_sampling_params sampling;
    int32_t n;          /* independent samples of the prompt (seed + i each); default 1 */
    int32_t max_tokens; /* default 16 (OpenAI completions); capped to what the context leaves */
    int32_t min_tokens; /* EOS and stop_token_ids neither end nor get sampled before this many */
    int ignore_eos;
    const char *stop[LOOM_MAX_STOP_STRINGS]; /* matched on the detokenized output; copied */
    int32_t n_stop;
    int include_stop_str_in_output;
    int32_t stop_token_ids[LOOM_MAX_STOP_TOKEN_IDS];
    int32_t n_stop_token_ids;
    int32_t logprobs;        /* -1 = none; else also the top N per generated token (N <= the engine's max_logprobs) */
    int32_t prompt_logprobs; /* -1 = none; else per prompt token (and its top N) */
    int skip_special_tokens; /* default 1 */
    int32_t priority;        /* lower runs first (vLLM); default 0; FCFS within a priority */
    loom_constraint constraint; /* structured output; default none. One that does not compile fails
                                 * loom_engine_add_request with LOOM_ERR_INVALID_ARG and its message */
    loom_output_fn on_output;
    void *user;
    /* Evaluation and debugging (loom generate --dump-logits): when set, the engine computes the raw logits
     * of every position the request's sequences run, prompt positions included, and passes each row here in
     * position order (on the engine thread, before the token it samples is emitted). NULL: none. */
    void (*on_logits)(int32_t seq_index, int32_t position, const float *logits, int32_t vocab_size, void *user);
} loom_request_params;

loom_request_params loom_request_default_params(void);

loom_status loom_engine_create(loom_model *model, const loom_engine_params *params, loom_engine **out, loom_error *err);
/* Stops the engine thread if running, aborts what is left, frees everything. */
void loom_engine_free(loom_engine *e);

/* Thread-safe. Validates the request (prompt length vs max_model_len, sampling params). */
loom_status loom_engine_add_request(loom_engine *e, const loom_request_params *req, uint64_t *request_id,
                                    loom_error *err);
/* Thread-safe. Only the checks of loom_engine_add_request (same status and message), so a caller can
 * refuse a request before it sets anything up for it. */
loom_status loom_engine_validate_request(const loom_engine *e, const loom_request_params *req, loom_error *err);
/* Thread-safe; frees the request's KV blocks at the next step boundary; its callback gets
 * LOOM_FINISH_ABORT. Returns LOOM_ERR_INVALID_ARG for an unknown or finished id. */
loom_status loom_engine_abort(loom_engine *e, uint64_t request_id, loom_error *err);

/* Either drive the engine yourself, one scheduler step + forward per call ... */
loom_status loom_engine_step(loom_engine *e, loom_error *err);
int loom_engine_has_work(const loom_engine *e);
/* ... or let it run on its own thread (the server does). */
loom_status loom_engine_start(loom_engine *e, loom_error *err);
void loom_engine_stop(loom_engine *e);

#define LOOM_REQUEST_TIME_BUCKETS 20

typedef struct loom_engine_metrics {
    int32_t num_running, num_waiting, num_preempted_now;
    uint64_t num_preemptions_total;
    int32_t kv_blocks_total, kv_blocks_free;
    double kv_usage;                                  /* used / total blocks */
    uint64_t prefix_cache_queries, prefix_cache_hits; /* in tokens */
    uint64_t prompt_tokens_total, generation_tokens_total;
    uint64_t requests_finished_total;
    uint64_t steps_total;
    uint64_t batched_tokens_total; /* tokens computed over all steps: tokens per step = this / steps_total */
    double step_time_ms_total, forward_time_ms_total; /* scheduling overhead = step - forward */
    /* latency histograms for the server: per-bucket counts (not cumulative): an observation v lands in
     * the first bucket with v <= bound. TTFT and TPOT use loom_latency_buckets_s; the whole-request
     * times (end to end, and its parts as vLLM splits them: queue = arrival to first scheduled, prefill =
     * first scheduled to first token, decode = first to last token, inference = first scheduled to last
     * token; one observation per request, when it finishes) use loom_request_time_buckets_s. */
    uint64_t ttft_buckets[16], tpot_buckets[16], e2e_buckets[LOOM_REQUEST_TIME_BUCKETS];
    double ttft_sum_s, tpot_sum_s, e2e_sum_s;
    uint64_t ttft_count, tpot_count, e2e_count;
    uint64_t queue_buckets[LOOM_REQUEST_TIME_BUCKETS], prefill_buckets[LOOM_REQUEST_TIME_BUCKETS];
    uint64_t decode_buckets[LOOM_REQUEST_TIME_BUCKETS], inference_buckets[LOOM_REQUEST_TIME_BUCKETS];
    double queue_sum_s, prefill_sum_s, decode_sum_s, inference_sum_s;
    uint64_t queue_count, prefill_count, decode_count, inference_count;
    /* finished samples (each of a request's n) by how they ended, indexed by loom_finish_reason */
    uint64_t seqs_finished_by_reason[LOOM_FINISH_ERROR + 1];
    /* speculative decoding: acceptance rate = accepted / draft tokens; mean accepted length per verified
     * proposal = 1 + accepted / drafts (vLLM's spec_decode counters) */
    uint64_t spec_drafts_total;          /* proposals verified (one per sequence and step) */
    uint64_t spec_draft_tokens_total;    /* tokens proposed and verified */
    uint64_t spec_accepted_tokens_total; /* of those, kept */
} loom_engine_metrics;

extern const double loom_latency_buckets_s[16];                             /* upper bounds; the last is +inf */
extern const double loom_request_time_buckets_s[LOOM_REQUEST_TIME_BUCKETS]; /* 0.1 s .. 1 h, then +inf */

/* Thread-safe snapshot. */
void loom_engine_get_metrics(loom_engine *e, loom_engine_metrics *m);

#ifdef __cplusplus
}
#endif
#endif
