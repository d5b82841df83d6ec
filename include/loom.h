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

/* ---- models ------------------------------------------------------------------------------------ */

typedef struct loom_model loom_model;

typedef enum loom_load_format {
    LOOM_LOAD_AUTO = 0, /* by what the path holds: *.gguf file, or an HF directory */
    LOOM_LOAD_DUMMY,    /* random weights for the config.json in the directory (benchmarks) */
} loom_load_format;

typedef struct loom_model_params {
    const char *path;             /* HF directory (config.json + weights + tokenizer) or a .gguf file */
    loom_load_format load_format;
    uint64_t dummy_seed;          /* for LOOM_LOAD_DUMMY */
} loom_model_params;

loom_model_params loom_model_default_params(void);
loom_status loom_model_load(const loom_model_params *params, loom_model **out, loom_error *err);
void loom_model_free(loom_model *model);

typedef struct loom_model_info {
    const char *architecture; /* "llama", "qwen2", "mistral" */
    int32_t vocab_size;
    int32_t n_layers;
    int32_t hidden_size;
    int32_t n_heads;
    int32_t n_kv_heads;
    int32_t head_dim;
    int32_t max_position_embeddings;
    int32_t bos_id;           /* -1 when none */
    const int32_t *eos_ids;   /* every id that ends generation */
    int32_t n_eos_ids;
    uint64_t weight_bytes;    /* bytes of all weight tensors as stored */
    uint64_t n_params;
} loom_model_info;

const loom_model_info *loom_model_get_info(const loom_model *model);

/* ---- tokenizer ---------------------------------------------------------------------------------- */

/* Encodes UTF-8 text. add_special: prepend BOS (and what the tokenizer's post-processor adds) per the
 * tokenizer config. *ids_out is malloc'd; free it with free(). */
loom_status loom_tokenize(const loom_model *model, const char *text, size_t text_len, int add_special,
                          int32_t **ids_out, size_t *n_ids_out, loom_error *err);

/* Incremental detokenizer for streaming: push ids one at a time, get back only complete UTF-8 text
 * (never half a character; leading-space rules applied as the tokenizer's decoder does). */
typedef struct loom_detokenizer loom_detokenizer;
loom_status loom_detokenizer_create(const loom_model *model, int skip_special, loom_detokenizer **out,
                                    loom_error *err);
/* Feeds the prompt's ids without producing text, so the continuation is decoded in context (e.g. a
 * SentencePiece "▁word" right after the prompt keeps its space). */
loom_status loom_detokenizer_prime(loom_detokenizer *d, const int32_t *ids, size_t n, loom_error *err);
/* Appends the newly completed text to *text_out (malloc'd, NUL-terminated, may be ""). */
loom_status loom_detokenizer_push(loom_detokenizer *d, int32_t id, char **text_out, loom_error *err);
/* Flushes whatever is pending (an incomplete UTF-8 tail becomes U+FFFD). */
loom_status loom_detokenizer_flush(loom_detokenizer *d, char **text_out, loom_error *err);
void loom_detokenizer_free(loom_detokenizer *d);

/* ---- running the model -------------------------------------------------------------------------- */

/* A context owns the KV cache, the activation buffers and the worker threads for one model. */
typedef struct loom_context loom_context;

typedef struct loom_context_params {
    int32_t n_threads;          /* 0 = number of online CPUs */
    int32_t max_seqs;           /* sequences that can hold KV at once */
    int32_t max_tokens_per_seq; /* KV capacity per sequence; 0 = model's max_position_embeddings */
    int32_t max_batch_tokens;   /* tokens one forward may process */
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

/* ---- sampling ------------------------------------------------------------------------------------ */

/* Order of operations: logits / temperature -> top-k -> top-p -> min-p -> sample.
 * temperature 0 is greedy (argmax; ties go to the lowest id). */
typedef struct loom_sampling_params {
    float temperature; /* default 1.0 */
    int32_t top_k;     /* 0 or -1 = off */
    float top_p;       /* 1.0 = off */
    float min_p;       /* 0.0 = off */
    uint64_t seed;     /* used when has_seed */
    int has_seed;      /* 0: seeded from the clock */
} loom_sampling_params;

loom_sampling_params loom_sampling_default_params(void);

typedef struct loom_sampler loom_sampler;
loom_status loom_sampler_create(const loom_sampling_params *params, int32_t vocab_size, loom_sampler **out,
                                loom_error *err);
int32_t loom_sampler_sample(loom_sampler *s, const float *logits);
void loom_sampler_free(loom_sampler *s);

/* Log-softmax of the raw logits: the chosen id's log-probability, and the top k (ids and
 * log-probabilities, best first; k <= vocab_size). */
void loom_logprobs(const float *logits, int32_t vocab_size, int32_t chosen, int32_t k, float *chosen_logprob,
                   int32_t *top_ids, float *top_logprobs);

#ifdef __cplusplus
}
#endif
#endif
