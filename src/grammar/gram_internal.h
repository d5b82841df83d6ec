/* Internal shapes of the grammar engine.
 *
 * Compilers build rules out of expressions (gram_builder: byte classes, sequences, alternatives,
 * bounded or unbounded repetition, references to rules). gram_lower then flattens them into the form
 * the matcher runs (gram_grammar): each rule is a list of alternatives, each alternative a run of
 * elements (a byte class or a rule reference) ended by an END element; repetition becomes helper rules
 * whose recursive reference is the last element, so that stacks do not grow with the repetition. */
#ifndef LOOM_GRAMMAR_GRAM_INTERNAL_H
#define LOOM_GRAMMAR_GRAM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "grammar/grammar.h"

/* Limits on what a compiled grammar may hold (a schema or pattern beyond them is refused). */
enum {
    GRAM_MAX_ELEMS = 1 << 22, /* elements of the flattened grammar */
    GRAM_MAX_REPEAT = 100000, /* bound of one {m,n} */
    GRAM_MAX_NESTING = 200,   /* nesting of regex groups, GBNF groups, JSON Schema subschemas */
};

/* ---- byte classes ---- */
typedef struct gram_set {
    uint64_t w[4];
} gram_set;
static inline int gram_set_has(const gram_set *s, unsigned c) { return (int)((s->w[c >> 6] >> (c & 63)) & 1); }
static inline void gram_set_add(gram_set *s, unsigned c) { s->w[c >> 6] |= 1ull << (c & 63); }
void gram_set_add_range(gram_set *s, unsigned lo, unsigned hi); /* inclusive */
int gram_set_empty(const gram_set *s);

/* ---- expressions ---- */
typedef enum gram_expr_kind { GX_EMPTY, GX_CHARS, GX_SEQ, GX_ALT, GX_REPEAT, GX_REF, GX_NOTHING } gram_expr_kind;
/* GX_NOTHING matches no string (an empty enum); GX_EMPTY matches only the empty string. */
typedef struct gram_expr {
    uint8_t kind;
    int32_t a, b;         /* CHARS: set index; REPEAT: min, max (-1 = unbounded); REF: rule */
    int32_t first, count; /* SEQ / ALT: children kids[first .. first+count); REPEAT: kids[first] */
} gram_expr;

typedef struct gram_rule_def {
    char *name;
    int32_t expr; /* -1 while declared but not yet defined */
} gram_rule_def;

typedef struct gram_builder {
    gram_expr *exprs;
    int32_t n_exprs;
    size_t cap_exprs;
    int32_t *kids;
    int32_t n_kids;
    size_t cap_kids;
    gram_set *sets;
    int32_t n_sets;
    size_t cap_sets;
    gram_rule_def *rules;
    int32_t n_rules;
    size_t cap_rules;
    int32_t rule_scope; /* gram_rule_find sees rules from this index on: a grammar compiled inside another
                         * (GBNF in a structural tag) sets it, so its names never meet the host's rules */
    int oom;            /* an allocation failed: every constructor then returns -1 */
} gram_builder;

void gram_builder_free(gram_builder *b);
/* Room for need elements in a malloc'd array of capacity *cap (core/grow.h's doubling); 0 or -1. */
int gram_reserve(void **items, size_t *cap, size_t need, size_t elem_bytes);
/* Constructors return an expression index, or -1 after an allocation failure (b->oom). Children given
 * as -1 propagate the failure. */
int32_t gram_x_empty(gram_builder *b);
int32_t gram_x_nothing(gram_builder *b);
int32_t gram_x_set(gram_builder *b, const gram_set *s);
int32_t gram_x_byte(gram_builder *b, unsigned c);
int32_t gram_x_range(gram_builder *b, unsigned lo, unsigned hi);
int32_t gram_x_lit(gram_builder *b, const char *s, size_t n);
int32_t gram_x_str(gram_builder *b, const char *s); /* NUL-terminated literal */
int32_t gram_x_seq(gram_builder *b, const int32_t *items, int32_t n);
int32_t gram_x_alt(gram_builder *b, const int32_t *items, int32_t n);
int32_t gram_x_seq2(gram_builder *b, int32_t x, int32_t y);
int32_t gram_x_seq3(gram_builder *b, int32_t x, int32_t y, int32_t z);
int32_t gram_x_alt2(gram_builder *b, int32_t x, int32_t y);
int32_t gram_x_repeat(gram_builder *b, int32_t x, int32_t min, int32_t max);
int32_t gram_x_opt(gram_builder *b, int32_t x);
int32_t gram_x_ref(gram_builder *b, int32_t rule);
/* Declares a rule (expression -1 until gram_rule_define); returns its index or -1. */
int32_t gram_rule_add(gram_builder *b, const char *name, size_t name_len);
int32_t gram_rule_find(const gram_builder *b, const char *name, size_t name_len);
void gram_rule_define(gram_builder *b, int32_t rule, int32_t expr);

/* Unicode code points as UTF-8: an expression matching one character in [lo, hi] (surrogates
 * excluded), or any of a sorted list of disjoint ranges. */
typedef struct gram_cp_range {
    uint32_t lo, hi;
} gram_cp_range;
int32_t gram_x_utf8_ranges(gram_builder *b, const gram_cp_range *r, int32_t n);
/* Any valid UTF-8 character whose code point is not in the given (sorted, disjoint) ranges. */
int32_t gram_x_utf8_except(gram_builder *b, const gram_cp_range *r, int32_t n);

/* A growable set of code point ranges (character classes); functions return 0 or -1 (out of memory). */
typedef struct gram_cps {
    gram_cp_range *r;
    int32_t n, cap;
} gram_cps;
int gram_cps_add(gram_cps *c, uint32_t lo, uint32_t hi);
void gram_cps_normalize(gram_cps *c);                 /* sorted, overlapping and adjacent ranges merged */
int gram_cps_complement(gram_cps *c, uint32_t limit); /* everything in [0, limit] not in c */
/* Length of the valid UTF-8 character at s[0..n) (code point in *cp), 0 when invalid (core/utf8.h's
 * codec, refusing what it would decode as a raw byte). */
size_t gram_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* The value of a hexadecimal digit, -1 for any other character. */
int gram_hex_digit(char c);

/* ---- the flattened grammar ---- */
enum { GRAM_EL_CHARS = 0, GRAM_EL_REF = 1, GRAM_EL_END = 2 };
typedef struct gram_elem {
    uint32_t kind : 2, arg : 30;
} gram_elem; /* CHARS: set; REF: rule */

struct gram_grammar {
    gram_elem *elems; /* every alternative's elements, each run ended by END */
    int32_t n_elems;
    int32_t *alt_start; /* element index of each alternative's first element */
    int32_t n_alts;
    int32_t *rule_alts; /* alternatives of rule r: alt_start[rule_alts[r] .. rule_alts[r + 1]) */
    int32_t n_rules;
    gram_set *sets;
    int32_t n_sets;
    char **rule_names; /* for printing */
    int32_t root;
};

/* Flattens the builder's rules (root: the start rule) into a grammar. Fails on an undefined rule, a rule
 * that can call itself before matching a byte (left recursion, which a stack machine cannot run) or a
 * grammar over the size limits. The builder is left as is (free it after). */
loom_status gram_lower(gram_builder *b, int32_t root, gram_grammar **out, loom_error *err);

/* ---- compilers (each: spec -> builder rules, returns the root rule) ---- */
/* Regular expression (the common subset; see regex.c). Flags: GRAM_RX_JSON_STRING: the pattern
 * constrains the decoded content of a JSON string, so characters are emitted JSON-escaped where JSON
 * requires it; GRAM_RX_SEARCH: JSON Schema's `pattern` semantics, the match may be anywhere unless
 * anchored with ^ / $ (without it the whole text must match and anchors are implicit). */
enum { GRAM_RX_JSON_STRING = 1, GRAM_RX_SEARCH = 2 };
loom_status gram_regex_compile(gram_builder *b, const char *re, size_t len, int flags, int32_t *expr, loom_error *err);

/* Pieces of JSON text (json_value.c), created once per builder in the rules of j. */
typedef struct gram_json_rules {
    int32_t ws, value, string, number, integer, string_char; /* rule ids, -1 until made */
} gram_json_rules;
void gram_json_rules_init(gram_json_rules *j);
int32_t gram_json_ws(gram_builder *b, gram_json_rules *j);          /* bounded whitespace (json_value.c) */
int32_t gram_json_value(gram_builder *b, gram_json_rules *j);       /* any JSON value */
int32_t gram_json_string(gram_builder *b, gram_json_rules *j);      /* any JSON string */
int32_t gram_json_string_char(gram_builder *b, gram_json_rules *j); /* one character of a string's content */
int32_t gram_json_number(gram_builder *b, gram_json_rules *j);
int32_t gram_json_integer(gram_builder *b, gram_json_rules *j);
/* An object whose members' values match value (an expression; any JSON value when -1). */
int32_t gram_json_object_of(gram_builder *b, gram_json_rules *j, int32_t value);
loom_status gram_gbnf_compile(gram_builder *b, const char *text, size_t len, int32_t *root, loom_error *err);
loom_status gram_json_schema_compile(gram_builder *b, const char *text, size_t len, int32_t *root, loom_error *err);
loom_status gram_json_object_compile(gram_builder *b, int32_t *root, loom_error *err);
loom_status gram_choice_compile(gram_builder *b, const char *text, size_t len, int32_t *root, loom_error *err);
loom_status gram_structural_tag_compile(gram_builder *b, const char *text, size_t len, int32_t *root, loom_error *err);
/* Numbers in a range (json_number.c). A bound is given as value + inclusive flag; has_*: bounded on that
 * side. Integers: any bounds (rounded inward). Numbers (decimal text without exponent): integer-valued
 * bounds only (others are refused: no exact grammar is built for them). Magnitudes above 1e15 are
 * refused. */
typedef struct gram_bound {
    int has;
    double value;
    int exclusive;
} gram_bound;
loom_status gram_json_int_range(gram_builder *b, gram_bound lo, gram_bound hi, int32_t *expr, loom_error *err);
loom_status gram_json_number_range(gram_builder *b, gram_bound lo, gram_bound hi, int32_t *expr, loom_error *err);

#endif
