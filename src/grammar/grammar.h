/* Structured outputs: constrained decoding by a grammar over the bytes of the output.
 *
 * Every constraint (JSON Schema, any JSON object, a regular expression, a list of choices, llama.cpp's
 * GBNF) is compiled into one representation: a context-free grammar whose terminals are byte classes
 * (gram_grammar). A matcher runs it as a pushdown automaton over bytes: its state is the set of stacks
 * of rule positions the bytes so far allow. Stacks are interned (one id per distinct stack) and sets of
 * stacks are interned too, so a state is one integer and each (state, byte) transition is computed once
 * and memoized: the automaton is determinized lazily, as it is used (gram_automaton). A token's mask is
 * the set of vocabulary tokens whose bytes the state can advance through; it is computed by walking a
 * trie of the vocabulary (shared prefixes walked once, dead subtrees skipped) and cached per state.
 *
 * One automaton is shared by every request with the same constraint and vocabulary; it holds a lock,
 * so matchers of one automaton may be used from several threads. Library code: errors are returned
 * with a message naming the problem (an unsupported JSON Schema keyword, a bad regex at an offset). */
#ifndef LOOM_GRAMMAR_GRAMMAR_H
#define LOOM_GRAMMAR_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum gram_kind {
    GRAM_JSON_SCHEMA,    /* a JSON Schema document */
    GRAM_JSON_OBJECT,    /* any JSON object (OpenAI's {"type": "json_object"}); the spec is ignored */
    GRAM_REGEX,          /* a regular expression the whole output must match */
    GRAM_CHOICE,         /* a JSON array of strings: the output is exactly one of them */
    GRAM_GBNF,           /* llama.cpp's GBNF; the start rule is `root` */
    GRAM_STRUCTURAL_TAG, /* XGrammar's structural tag JSON (structural_tag.c): tagged and free-text formats */
} gram_kind;

typedef struct gram_grammar gram_grammar;

/* Compiles spec[0..len) of the given kind. Errors: LOOM_ERR_INVALID_ARG with a message naming what is
 * wrong or unsupported (a JSON Schema keyword, a regex construct and its offset, a GBNF line). */
loom_status gram_compile(gram_kind kind, const char *spec, size_t len, gram_grammar **out, loom_error *err);
void gram_grammar_free(gram_grammar *g);
/* The grammar in GBNF-like text (tests, debugging); malloc'd. */
char *gram_grammar_print(const gram_grammar *g);

/* The vocabulary as bytes: what each token id adds to the output text mid-sequence. Special tokens and
 * tokens without bytes are never allowed by a mask; the EOS ids are allowed exactly when the grammar can
 * end. */
typedef struct gram_vocab gram_vocab;
/* n tokens; token i has bytes[off[i] .. off[i] + len[i]); special[i] != 0 excludes it (may be NULL). */
loom_status gram_vocab_create(int32_t n, const char *bytes, const uint32_t *off, const uint32_t *len,
                              const uint8_t *special, const int32_t *eos_ids, int32_t n_eos, gram_vocab **out,
                              loom_error *err);
/* From a tokenizer (src/tokenizer/): n_ids >= its vocabulary (a model's logits may be padded; the extra
 * ids are never allowed). */
struct loom_tokenizer;
loom_status gram_vocab_from_tokenizer(const struct loom_tokenizer *t, int32_t n_ids, const int32_t *eos_ids,
                                      int32_t n_eos, gram_vocab **out, loom_error *err);
void gram_vocab_free(gram_vocab *v);
int32_t gram_vocab_size(const gram_vocab *v);
/* 64-bit words of a mask over this vocabulary: (n + 63) / 64. */
size_t gram_vocab_mask_words(const gram_vocab *v);
/* Bytes of token id (NULL for a special or missing one). */
const char *gram_vocab_token(const gram_vocab *v, int32_t id, size_t *len);

/* The lazily determinized automaton of one grammar over one vocabulary. Takes ownership of g; v must
 * outlive it. Reference counted: the creator holds one reference. */
typedef struct gram_automaton gram_automaton;
loom_status gram_automaton_create(gram_grammar *g, const gram_vocab *v, gram_automaton **out, loom_error *err);
void gram_automaton_retain(gram_automaton *a);
void gram_automaton_release(gram_automaton *a);
/* Counters for benchmarks: interned stacks, states, computed masks. */
typedef struct gram_automaton_stats {
    int64_t n_stacks, n_states, n_masks, n_transitions, mask_bytes;
    int over_budget; /* it refused to grow: matchers of it fail from now on; make a new one */
} gram_automaton_stats;
void gram_automaton_get_stats(gram_automaton *a, gram_automaton_stats *out);

/* One sequence's position in the grammar, with the history of its last tokens for rollback. */
typedef struct gram_matcher gram_matcher;
loom_status gram_matcher_create(gram_automaton *a, gram_matcher **out, loom_error *err);
void gram_matcher_free(gram_matcher *m);
/* Advances by one token: 1 when the token is allowed (its bytes continue the grammar, or it is an EOS id
 * and the grammar can end: the matcher is then finished), 0 when it is not (nothing changes), -1 when
 * the automaton ran out of its memory budget (err says so). */
int gram_matcher_accept_token(gram_matcher *m, int32_t id, loom_error *err);
/* Advances by raw bytes (not recorded for rollback unless as one step): 1 / 0 / -1 as above. */
int gram_matcher_accept_bytes(gram_matcher *m, const char *s, size_t n, loom_error *err);
/* Undoes the last k accepted tokens (k <= gram_matcher_history(m)). */
void gram_matcher_rollback(gram_matcher *m, int32_t k);
/* Tokens that can still be rolled back. */
int32_t gram_matcher_history(const gram_matcher *m);
/* The output so far is a complete sentence of the grammar (EOS is allowed). */
int gram_matcher_is_accepting(const gram_matcher *m);
/* No byte can follow: the output is complete and only EOS makes sense. */
int gram_matcher_is_terminated(const gram_matcher *m);
/* The mask of allowed next tokens: bit id of words[id / 64]; gram_vocab_mask_words words. Returns a
 * pointer into the automaton's cache, valid until the automaton is released; NULL when the memory
 * budget ran out (err says so). */
const uint64_t *gram_matcher_mask(gram_matcher *m, loom_error *err);
void gram_matcher_reset(gram_matcher *m);
/* The bytes that can come next: bit c of bits[c / 64]. Returns how many, or -1 when the memory budget
 * ran out (err says so). For samplers of the grammar's language (tests, fuzzing). */
int gram_matcher_next_bytes(gram_matcher *m, uint64_t bits[4], loom_error *err);

#endif
