/* Internal representation shared by the tokenizer's files. Every source (tokenizer.json, vocab.json +
 * merges.txt, tokenizer.model, GGUF) is loaded into this one shape, which mirrors the Hugging Face
 * `tokenizers` pipeline: added tokens → normalizer → pre-tokenizer → model (BPE by merge rank, or
 * SentencePiece BPE by score) → post-processor; decoding runs the decoder chain on token strings. */
#ifndef LOOM_TOKENIZER_TOK_INTERNAL_H
#define LOOM_TOKENIZER_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/utf8.h"
#include "tokenizer/tokenizer.h"

/* ---- growable buffers (buffers.c): functions return 0, or -1 when out of memory ---- */
typedef struct tok_buf {
    char *data;
    size_t len, cap;
} tok_buf;
typedef struct tok_ids {
    int32_t *data;
    size_t len, cap;
} tok_ids;
int tok_buf_append(tok_buf *b, const void *p, size_t n);
int tok_buf_reserve(tok_buf *b, size_t extra);
void tok_buf_free(tok_buf *b);
int tok_ids_push(tok_ids *v, int32_t id);
int tok_ids_append(tok_ids *v, const int32_t *ids, size_t n);
void tok_ids_free(tok_ids *v);

/* ---- UTF-8 repair and character classes (utf8.c; the UTF-8 codec is core/utf8.h) ---- */
/* Appends s[0..n) to out, replacing each maximal invalid subpart with U+FFFD (Rust from_utf8_lossy). */
int tok_utf8_append_lossy(tok_buf *out, const uint8_t *s, size_t n);
/* Character classes as Hugging Face uses them. */
int tok_cp_is_whitespace(int32_t cp);  /* Unicode White_Space */
int tok_cp_is_word(int32_t cp);        /* regex \w */
int tok_cp_is_numeric(int32_t cp);     /* Rust char::is_numeric: Nd, Nl, No */
int tok_cp_is_punctuation(int32_t cp); /* ASCII punctuation or P* */

/* ---- the GPT-2 byte ↔ unicode map (bytelevel.c) ---- */
int tok_bytelevel_append(tok_buf *out, const char *s, size_t n); /* bytes → mapped characters */
/* Appends the bytes a token string stands for; a string with any character outside the map is
 * appended as is (as HF does). */
int tok_bytelevel_decode_append(tok_buf *out, const char *s, size_t n);

/* ---- hash maps (maps.c) ---- */
typedef struct tok_strmap_slot {
    uint32_t off, len, hash;
    int32_t val;
} tok_strmap_slot;
typedef struct tok_strmap {
    tok_strmap_slot *slots; /* val < 0: empty */
    size_t cap, count;
    tok_buf keys;
} tok_strmap;
int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val); /* overwrites */
int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len);    /* -1 when absent */
void tok_strmap_free(tok_strmap *m);

typedef struct tok_pairmap {
    uint64_t *keys, *vals;
    size_t cap, count;
} tok_pairmap;
/* (a, b) → (rank, new_id); the first insertion of a pair wins. */
int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t new_id);
int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *new_id);
void tok_pairmap_free(tok_pairmap *m);

/* ---- vocabulary (vocab.c) ---- */
enum {
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6
};

typedef struct tok_vocab {
    int32_t n;             /* size of the id space */
    tok_buf pool;          /* every token's text */
    uint32_t *off, *len;   /* per id; len == UINT32_MAX: no token has this id */
    uint8_t *special;      /* skipped by decode with skip_special */
    float *score;          /* SentencePiece scores (NULL for rank-merged BPE) */
    tok_strmap model;      /* the model's own tokens (not added tokens): text → id */
    int32_t byte_tok[256]; /* id of "<0xXX>" or -1 */
} tok_vocab;

int tok_vocab_init(tok_vocab *v, int32_t n);
/* Sets the text of id (in the model map too when in_model). */
int tok_vocab_set(tok_vocab *v, int32_t id, const char *s, size_t len, int in_model);
/* Fills byte_tok from the "<0xXX>" model tokens. */
void tok_vocab_index_bytes(tok_vocab *v);
int tok_vocab_has(const tok_vocab *v, int32_t id);
const char *tok_vocab_text(const tok_vocab *v, int32_t id, size_t *len);
void tok_vocab_free(tok_vocab *v);

/* ---- added tokens (added_tokens.c) ---- */
typedef struct tok_added {
    int32_t id;
    uint8_t lstrip, rstrip, single_word, normalized, special;
} tok_added;

typedef struct tok_trie_node {
    int32_t child, sibling, added;
    uint8_t byte;
} tok_trie_node;
typedef struct tok_trie {
    tok_trie_node *nodes;
    size_t n, cap;
    uint8_t first[32];
} tok_trie;

typedef struct tok_added_set {
    tok_added *items;
    size_t n, cap;
    tok_trie raw, norm; /* tokens matched on the original / on the normalized text */
} tok_added_set;

/* Adds (or updates, by id) an added token. */
int tok_added_add(tok_added_set *a, const tok_added *tok);
/* Builds both tries from the vocab texts; call once after every add. */
int tok_added_build(tok_added_set *a, const tok_vocab *v);
/* A piece of text after splitting on added tokens: id >= 0 for an added token, else text [off, off+len). */
typedef struct tok_split {
    size_t off, len;
    int32_t id;
} tok_split;
typedef struct tok_splits {
    tok_split *data;
    size_t len, cap;
} tok_splits;
/* Appends the splits of s[0..n) (offsets relative to s, plus base) using trie `which` (0 raw, 1 norm). */
int tok_added_split(const tok_added_set *a, int which, const char *s, size_t n, size_t base, tok_splits *out);
void tok_added_free(tok_added_set *a);

/* ---- normalizer (normalize.c) ---- */
enum {
    TOK_NORM_NFC,
    TOK_NORM_NFD,
    TOK_NORM_NFKC,
    TOK_NORM_NFKD,
    TOK_NORM_LOWERCASE,
    TOK_NORM_PREPEND,
    TOK_NORM_REPLACE,
    TOK_NORM_STRIP
};
typedef struct tok_norm_step {
    int kind;
    char *a, *b; /* PREPEND: a; REPLACE: a → b */
    size_t a_len, b_len;
    int left, right; /* STRIP */
} tok_norm_step;
/* Normalizes s[0..n) into out (cleared first). */
int tok_normalize(const tok_norm_step *steps, size_t n_steps, const char *s, size_t n, tok_buf *out);

/* ---- pre-tokenizer (pretokenize.c) ---- */
enum { TOK_PRE_SPLIT, TOK_PRE_BYTELEVEL, TOK_PRE_DIGITS, TOK_PRE_PUNCT, TOK_PRE_METASPACE, TOK_PRE_WHITESPACE_SPLIT };
enum { TOK_SPLIT_REMOVED, TOK_SPLIT_ISOLATED, TOK_SPLIT_MERGED_PREV, TOK_SPLIT_MERGED_NEXT, TOK_SPLIT_CONTIGUOUS };
enum { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER };
typedef struct tok_pre_step {
    int kind;
    pcre2_code *re;        /* SPLIT, or BYTELEVEL with use_regex */
    int behavior, invert;  /* SPLIT, PUNCT, DIGITS */
    int add_prefix_space;  /* BYTELEVEL */
    int individual_digits; /* DIGITS */
    char repl[5];          /* METASPACE replacement character */
    size_t repl_len;
    int prepend_scheme, split; /* METASPACE */
} tok_pre_step;

/* Compiles a Hugging Face (Oniguruma) pattern with PCRE2, rewriting \s and \S to Oniguruma's classes. */
pcre2_code *tok_regex_compile(const char *pattern, size_t len, loom_error *err);
/* The GPT-2 regex of the ByteLevel pre-tokenizer. */
pcre2_code *tok_regex_gpt2(loom_error *err);
void tok_pre_step_free(tok_pre_step *s);

typedef struct tok_piece {
    size_t off, len;
    int at_start;
} tok_piece;
typedef struct tok_pieces {
    tok_piece *data;
    size_t len, cap;
} tok_pieces;
/* Splits arena[p.off..] into words, appending them to out (text stays in / is appended to arena).
 * at_start: the text begins the input (Metaspace prepend_scheme "first"). */
int tok_pretokenize(const tok_pre_step *steps, size_t n_steps, tok_buf *arena, tok_piece p, pcre2_match_data *md,
                    tok_pieces *out);

/* ---- merge candidates (heap.c): a max-heap by prio, then by lower pos ---- */
typedef struct tok_cand {
    double prio;
    int32_t pos, aux;
    size_t len;
} tok_cand;
typedef struct tok_heap {
    tok_cand *d;
    size_t n, cap;
} tok_heap;
int tok_heap_push(tok_heap *h, tok_cand c);
tok_cand tok_heap_pop(tok_heap *h); /* h->n > 0 */

/* ---- models (bpe.c, spm.c) ---- */
enum { TOK_MODEL_BPE, TOK_MODEL_SPM };

/* ---- decoder (decoder.c) ---- */
typedef struct tok_replace {
    char *from, *to;
    size_t from_len, to_len;
} tok_replace;
typedef struct tok_decoder {
    tok_replace *replaces; /* applied to each token in order (Replace, Metaspace) */
    size_t n_replaces;
    char *meta_first; /* Metaspace (prepend_scheme != never): dropped from the first token */
    size_t meta_first_len;
    int byte_fallback; /* <0xXX> runs → bytes (invalid UTF-8 → one U+FFFD per byte) */
    int byte_level;    /* characters → bytes through the GPT-2 map */
    int strip_start;   /* Strip after Fuse: leading spaces removed from the text */
    int join_space;    /* no decoder at all: tokens joined with " " */
} tok_decoder;
void tok_decoder_free(tok_decoder *d);

/* ---- the tokenizer ---- */
struct loom_tokenizer {
    tok_vocab vocab;
    int model;          /* TOK_MODEL_* */
    tok_pairmap merges; /* BPE */
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id; /* -1 when none */
    tok_norm_step *norm;
    size_t n_norm;
    tok_pre_step *pre;
    size_t n_pre;
    tok_added_set added;
    tok_decoder dec;
    int32_t *prefix, *suffix; /* post-processor ids around a single sequence */
    size_t n_prefix, n_suffix;
    int32_t bos_id, eos_id;
    /* word → ids cache (encode.c) */
    pthread_mutex_t cache_lock;
    tok_strmap cache;
    tok_ids cache_ids;
};

/* tokenizer.c: an empty tokenizer (ids -1, no steps), and the post-processor setter. */
loom_tokenizer *tok_new(void);
/* Id of an added token or model token with this text, or -1. */
int32_t tok_lookup_token(const loom_tokenizer *t, const char *s, size_t n);
int tok_set_post(loom_tokenizer *t, const int32_t *prefix, size_t n_prefix, const int32_t *suffix, size_t n_suffix);
/* Sets up a SentencePiece vocab as sentencepiece, llama.cpp and HF's (legacy) Llama tokenizer.json do:
 * normalizer Prepend ▁ (when add_space_prefix) + Replace " " → ▁, score-ordered merges with byte
 * fallback; decoder Replace ▁ → " ", ByteFallback, Fuse, Strip (one leading space). */
int tok_setup_spm_pipeline(loom_tokenizer *t, int add_space_prefix);
/* Marks control/unknown tokens special and registers control/user-defined/unknown tokens as added
 * tokens (matched before the model), as llama.cpp does for vocabularies with token types. */
int tok_register_typed_tokens(loom_tokenizer *t, const uint8_t *types);

/* pre_named.c: sets the normalizer, pre-tokenizer, ignore_merges and ByteLevel decoder of a named
 * byte-level BPE pre-tokenizer ("gpt-2", "llama-bpe", "qwen2", "smollm", ...); unknown names are
 * LOOM_ERR_UNSUPPORTED naming them. */
loom_status tok_setup_named_pre(loom_tokenizer *t, const char *name, size_t len, loom_error *err);

/* Model word encoders: append the ids of one pre-tokenized word. */
int tok_bpe_word(const loom_tokenizer *t, const char *w, size_t n, tok_ids *out);
int tok_spm_word(const loom_tokenizer *t, const char *w, size_t n, tok_ids *out);
/* Adds merge a + b with the given rank: 0, -1 out of memory, 1 when a, b or a+b is not in the vocab.
 * The line form is "a b" (split at the first space after the first byte). */
int tok_bpe_add_merge(loom_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int32_t rank);
int tok_bpe_add_merge_line(loom_tokenizer *t, const char *line, size_t len, int32_t rank);

/* Loaders (hf_json.c, hf_vocab_merges.c, spm_model.c) fill a fresh tokenizer. Errors name the file. */
loom_status tok_load_hf_json(loom_tokenizer *t, const char *data, size_t len, const char *name, loom_error *err);
loom_status tok_load_vocab_merges(loom_tokenizer *t, const char *dir, const char *config_path, loom_error *err);
loom_status tok_load_spm_model(loom_tokenizer *t, const uint8_t *data, size_t len, const char *name, loom_error *err);
/* hf_config.c: applies tokenizer_config.json (special token strings, added_tokens_decoder, and with
 * add_flags its add_bos_token / add_eos_token). */
loom_status tok_apply_hf_config(loom_tokenizer *t, const char *config_path, int add_flags, loom_error *err);

#endif
