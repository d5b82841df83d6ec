/* One tokenizer API over every source a model can bring: HF tokenizer.json (BPE, SentencePiece-style
 * with byte fallback or byte-level GPT-2 style), vocab.json + merges.txt, SentencePiece
 * tokenizer.model, and GGUF-embedded vocabularies (tokenizer.ggml.*).
 * Encoding is meant to match Hugging Face `tokenizers` exactly. */
#ifndef LOOM_TOKENIZER_TOKENIZER_H
#define LOOM_TOKENIZER_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "formats/gguf.h"

typedef struct loom_tokenizer loom_tokenizer;

/* path: an HF model directory (tokenizer.json, else vocab.json + merges.txt, else tokenizer.model;
 * tokenizer_config.json beside it supplies add_bos_token / add_eos_token / special token strings) or
 * a tokenizer.json file itself. Errors name the file and the problem. */
loom_status loom_tokenizer_load_hf(const char *path, loom_tokenizer **out, loom_error *err);
/* From the tokenizer.ggml.* keys of a parsed GGUF (model "llama" = SentencePiece, "gpt2" = BPE with
 * the pre-tokenizer regex chosen by tokenizer.ggml.pre). */
loom_status loom_tokenizer_from_gguf(const loom_gguf *g, loom_tokenizer **out, loom_error *err);
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

/* Streaming decode of one sequence: each push returns only text that is final (complete UTF-8, and
 * the leading-space strip of the first token applied once). Concatenating every push and the flush
 * equals loom_tokenizer_decode of all ids. */
typedef struct loom_detok loom_detok;
loom_status loom_detok_create(const loom_tokenizer *t, int skip_special, loom_detok **out, loom_error *err);
loom_status loom_detok_push(loom_detok *d, int32_t id, char **text_out, size_t *len_out, loom_error *err);
loom_status loom_detok_flush(loom_detok *d, char **text_out, size_t *len_out, loom_error *err);
void loom_detok_free(loom_detok *d);

#endif
