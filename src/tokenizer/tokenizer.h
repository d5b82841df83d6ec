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
#include "loom.h"

/* loom_tokenizer and its public calls (load, encode, decode, vocab queries) are declared in loom.h. */

/* path: an HF model directory (tokenizer.json, else vocab.json + merges.txt, else tokenizer.model;
 * tokenizer_config.json beside it supplies add_bos_token / add_eos_token / special token strings) or
 * a tokenizer.json file itself. Errors name the file and the problem. */
loom_status tokenizer_load_hf(const char *path, loom_tokenizer **out, loom_error *err);
/* From the tokenizer.ggml.* keys of a parsed GGUF (model "llama" = SentencePiece, "gpt2" = BPE with
 * the pre-tokenizer regex chosen by tokenizer.ggml.pre). */
loom_status tokenizer_from_gguf(const loom_gguf *g, loom_tokenizer **out, loom_error *err);
/* Streaming decode of one sequence: each push returns only text that is final (complete UTF-8, and
 * the leading-space strip of the first token applied once). Concatenating every push and the flush
 * equals loom_tokenizer_decode of all ids. */
typedef struct loom_detok loom_detok;
loom_status detok_create(const loom_tokenizer *t, int skip_special, loom_detok **out, loom_error *err);
loom_status detok_push(loom_detok *d, int32_t id, char **text_out, size_t *len_out, loom_error *err);
loom_status detok_flush(loom_detok *d, char **text_out, size_t *len_out, loom_error *err);
void detok_free(loom_detok *d);
/* What each id adds to the decoded text in the middle of a sequence (no leading-space strip, no
 * first-token Metaspace rule; a <0xXX> byte-fallback token is its byte), for constrained decoding.
 * Every token's bytes back to back in *bytes_out, off / len per id (len 0 for an id without a token);
 * special[id] = 1 for special tokens. All four arrays are malloc'd. */
loom_status tokenizer_token_bytes(const loom_tokenizer *t, char **bytes_out, uint32_t **off_out, uint32_t **len_out,
                                  uint8_t **special_out, loom_error *err);

#endif
