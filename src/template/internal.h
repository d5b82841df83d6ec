/* Shared inside src/template/: the arena, strings, values, tokens, the AST and the render
 * state. Nothing here is part of loom's API (see template.h). */
#ifndef LOOM_TOKENIZER_TEMPLATE_INTERNAL_H
#define LOOM_TOKENIZER_TEMPLATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/utf8.h"
#include "template/template.h"

/* ---- arena: every AST node and every value lives in one, freed at once ------------------------ */
typedef struct tpl_chunk tpl_chunk;
typedef struct tpl_arena {
    tpl_chunk *head;
    size_t used_bytes, limit_bytes;
} tpl_arena;

void *tpl_alloc(tpl_arena *a, size_t n); /* zeroed; NULL past the limit or when malloc fails */
void tpl_arena_free(tpl_arena *a);

/* ---- growable byte buffer (malloc'd) with a size limit -------------------------------------- */
typedef struct tpl_buf {
    char *p;
    size_t len, cap, limit;
    bool over; /* an append went past limit (or malloc failed); the buffer stopped growing */
} tpl_buf;

void tpl_buf_put(tpl_buf *b, const char *s, size_t n);
void tpl_buf_puts(tpl_buf *b, const char *s);
void tpl_buf_printf(tpl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Python's notion of characters, whitespace, case (utf8.c; the codec is core/utf8.h) ------- */
size_t tpl_utf8_count(const char *s, size_t n);                /* code points */
size_t tpl_utf8_offset(const char *s, size_t n, size_t index); /* byte offset of code point index */
bool tpl_py_isspace(int32_t cp);
size_t tpl_space_len(const char *s, size_t n); /* bytes of the Python whitespace char at s, or 0 */
/* Python's repr() needs to know printable characters; title() needs cased ones. */
bool tpl_py_isprintable(int32_t cp);
bool tpl_py_iscased(int32_t cp);
int32_t tpl_py_upper(int32_t cp);
int32_t tpl_py_lower(int32_t cp);
int32_t tpl_py_title(int32_t cp);

/* ---- values ------------------------------------------------------------------------------- */
typedef enum tpl_kind {
    TV_UNDEF, /* Jinja's Undefined: prints "", iterates empty, fails on attribute access */
    TV_NONE,
    TV_BOOL,
    TV_INT,
    TV_FLOAT,
    TV_STR,
    TV_LIST, /* also tuples (list->is_tuple) */
    TV_DICT, /* also namespace() objects (dict->is_namespace) */
    TV_LOOP, /* the `loop` variable of a for */
    TV_FUNC, /* a global function: range, namespace, dict, raise_exception, strftime_now */
    TV_MACRO,
} tpl_kind;

typedef struct tpl_str {
    const char *p;
    size_t len;
} tpl_str;

typedef struct tpl_list tpl_list;
typedef struct tpl_dict tpl_dict;
typedef struct tpl_loop tpl_loop;
typedef struct tpl_node tpl_node;

typedef struct tpl_value {
    tpl_kind kind;
    union {
        bool b;
        int64_t i;
        double f;
        tpl_str s; /* TV_STR; for TV_UNDEF the name that was not found (may be empty) */
        tpl_list *list;
        tpl_dict *dict;
        tpl_loop *loop;
        int func;
        const tpl_node *macro;
    } u;
} tpl_value;

struct tpl_list {
    size_t n;
    bool is_tuple;
    tpl_value *items;
};

struct tpl_dict {
    size_t n, cap;
    bool is_namespace;
    tpl_value *keys, *vals; /* insertion order */
};

struct tpl_loop {
    const tpl_list *items; /* what the loop walks, after its `if` filter */
    size_t index0;
};

static inline tpl_value tv_undef(void) {
    tpl_value v = {TV_UNDEF, {0}};
    return v;
}
static inline tpl_value tv_none(void) {
    tpl_value v = {TV_NONE, {0}};
    return v;
}
static inline tpl_value tv_bool(bool b) {
    tpl_value v = {TV_BOOL, {.b = b}};
    return v;
}
static inline tpl_value tv_int(int64_t i) {
    tpl_value v = {TV_INT, {.i = i}};
    return v;
}
static inline tpl_value tv_float(double f) {
    tpl_value v = {TV_FLOAT, {.f = f}};
    return v;
}
static inline tpl_value tv_str(const char *p, size_t len) {
    tpl_value v = {TV_STR, {.s = {p, len}}};
    return v;
}
static inline bool tv_is_num(tpl_value v) { return v.kind == TV_INT || v.kind == TV_FLOAT || v.kind == TV_BOOL; }
static inline bool tv_is_intlike(tpl_value v) { return v.kind == TV_INT || v.kind == TV_BOOL; }
static inline int64_t tv_as_int(tpl_value v) { return v.kind == TV_BOOL ? v.u.b : v.u.i; }
static inline double tv_as_float(tpl_value v) { return v.kind == TV_FLOAT ? v.u.f : (double)tv_as_int(v); }

const char *tv_type_name(tpl_value v); /* Python's name: "str", "int", "NoneType", ... */
bool tv_truthy(tpl_value v);
bool tv_equal(tpl_value a, tpl_value b);
/* Python ordering (numbers, strings, lists); false when the types do not order. */
bool tv_order(tpl_value a, tpl_value b, int *cmp);
/* str(v) and repr(v) appended to b; false for values Python prints as objects (loop, macro). */
bool tv_write_str(tpl_buf *b, tpl_value v);
void tv_write_float(tpl_buf *b, double f); /* Python's repr of a float */

tpl_list *tv_list_new(tpl_arena *a, size_t n); /* n items, all TV_UNDEF; NULL on no memory */
tpl_dict *tv_dict_new(tpl_arena *a);
bool tv_dict_set(tpl_arena *a, tpl_dict *d, tpl_value key, tpl_value val); /* false: no memory */
const tpl_value *tv_dict_get(const tpl_dict *d, tpl_value key);
const tpl_value *tv_dict_get_str(const tpl_dict *d, const char *key, size_t len);

/* ---- JSON (json.c) ------------------------------------------------------------------------ */
/* false: no memory (a->limit) */
bool tpl_from_json(tpl_arena *a, const json_t *j, tpl_value *out);
typedef struct tpl_json_style {
    const char *indent; /* NULL: one line */
    const char *item_sep, *key_sep;
    bool sort_keys;
} tpl_json_style;
/* Python json.dumps(v, ensure_ascii=False, ...). On failure returns false and sets *why (initially
 * NULL) to what could not be written. */
bool tpl_to_json(tpl_buf *b, tpl_value v, const tpl_json_style *style, int depth, const char **why);

/* ---- tokens (lexer.c) ------------------------------------------------------------------------ */
typedef enum tpl_tok_kind {
    TK_EOF,
    TK_TEXT,        /* template data, whitespace control already applied */
    TK_VAR_BEGIN,   /* {{ */
    TK_VAR_END,     /* }} */
    TK_BLOCK_BEGIN, /* {% */
    TK_BLOCK_END,   /* %} */
    TK_NAME,
    TK_STRING, /* text: the decoded literal */
    TK_INT,
    TK_FLOAT,
    TK_OP, /* text: the operator, e.g. "//", "==", "(" */
} tpl_tok_kind;

typedef struct tpl_token {
    tpl_tok_kind kind;
    int line, col;
    tpl_str text;
    int64_t ival;
    double fval;
} tpl_token;

typedef struct tpl_tokens {
    tpl_token *v;
    size_t n, cap;
} tpl_tokens;

/* src must already have newlines normalized (template.c). Decoded strings live in a; out->v is malloc'd. */
loom_status tpl_lex(tpl_arena *a, const char *src, size_t len, tpl_tokens *out, loom_error *err);

/* ---- AST (parse_expr.c, parse_stmt.c) -------------------------------------------------------- */
typedef enum tpl_node_kind {
    /* expressions */
    N_CONST,   /* value */
    N_NAME,    /* name */
    N_LIST,    /* args = items */
    N_TUPLE,   /* args = items */
    N_DICT,    /* args = key, value, key, value ... */
    N_ATTR,    /* a.name */
    N_ITEM,    /* a[b] */
    N_SLICE,   /* a[b:c:d], any of b c d may be NULL */
    N_CALL,    /* a(args); keyword arguments are N_KWARG */
    N_KWARG,   /* name=a */
    N_FILTER,  /* a | name(args); an unknown name is an error when evaluated, as in Jinja */
    N_TEST,    /* a is [not] name(args); op = 1 for "is not" */
    N_UNARY,   /* op a: '-', '+', '!' (not) */
    N_BINARY,  /* a op b: + - * / F(//) % P(**) ~ */
    N_COMPARE, /* a, then args = N_CMP operands, chained as Python does */
    N_CMP,     /* op a: = ! < L(<=) > G(>=) i(in) n(not in) */
    N_AND,
    N_OR,
    N_COND, /* a if b else c (c NULL: undefined) */
    /* statements */
    N_BODY,   /* args = statements */
    N_TEXT,   /* value = the text */
    N_OUTPUT, /* {{ a }} */
    N_IF,     /* if a: body else orelse */
    N_FOR,    /* for args(targets) in a [if b]: body else orelse */
    N_SET,    /* args = targets (N_NAME, or one N_ATTR namespace target) = b, or block: body */
    N_MACRO,  /* name(args = N_NAME params with default a) body */
    N_BREAK,
    N_CONTINUE,
} tpl_node_kind;

typedef struct tpl_nodes {
    tpl_node **v;
    size_t n;
} tpl_nodes;

struct tpl_node {
    tpl_node_kind kind;
    int op;
    int line, col;
    tpl_value value;
    tpl_str name;
    tpl_node *a, *b, *c, *d;
    tpl_nodes args;
    tpl_node *body, *orelse; /* N_BODY nodes */
};

typedef struct tpl_parser {
    tpl_arena *arena;
    const tpl_tokens *toks;
    size_t pos;
    int depth; /* nesting, bounded so that hostile input cannot exhaust the stack */
    int loops; /* enclosing for loops (break/continue need one) */
    loom_error *err;
} tpl_parser;

#define TPL_MAX_PARSE_DEPTH 200

tpl_node *tpl_node_new(tpl_parser *p, tpl_node_kind kind, const tpl_token *at);
bool tpl_nodes_push(tpl_parser *p, tpl_nodes *list, size_t *cap, tpl_node *n);
const tpl_token *tpl_peek(const tpl_parser *p);
const tpl_token *tpl_next(tpl_parser *p);
bool tpl_is_op(const tpl_token *t, const char *op);
bool tpl_is_name(const tpl_token *t, const char *name);
bool tpl_expect_op(tpl_parser *p, const char *op);
loom_status tpl_syntax_error(tpl_parser *p, const tpl_token *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* NULL on error (p->err set). */
tpl_node *tpl_parse_expression(tpl_parser *p); /* with the ternary */
/* Jinja's parse_tuple: "a, b" is a tuple; condexpr=false leaves a trailing "if" to the caller. */
tpl_node *tpl_parse_tuple(tpl_parser *p, bool condexpr);
tpl_node *tpl_parse_template(tpl_parser *p); /* the whole token stream: an N_BODY */
const tpl_node *tpl_template_root(const loom_template *t);

/* ---- filters, tests, functions (filters.c, builtins.c) ------------------------------------ */
typedef struct tpl_render tpl_render;

/* Evaluated call arguments: positional then keyword. */
typedef struct tpl_args {
    tpl_value *pos;
    size_t n_pos;
    tpl_str *kw_names;
    tpl_value *kw;
    size_t n_kw;
} tpl_args;

/* Binds args to params (names in order, like a Python signature) into out[n_params]; an absent
 * parameter is TV_UNDEF. Errors: too many positionals, unknown or repeated keywords. */
loom_status tpl_bind(tpl_render *r, const tpl_node *at, const char *what, const tpl_args *args,
                     const char *const *params, size_t n_params, tpl_value *out);

loom_status tpl_apply_filter(tpl_render *r, const tpl_node *at, tpl_str name, tpl_value subject, const tpl_args *args,
                             tpl_value *out);
loom_status tpl_apply_test(tpl_render *r, const tpl_node *at, tpl_str name, tpl_value subject, const tpl_args *args,
                           bool *out);

enum { TPL_FN_RANGE, TPL_FN_NAMESPACE, TPL_FN_DICT, TPL_FN_RAISE, TPL_FN_STRFTIME, TPL_FN_COUNT };
bool tpl_global(const char *name, size_t len, tpl_value *out);
loom_status tpl_call_function(tpl_render *r, const tpl_node *at, int fn, const tpl_args *args, tpl_value *out);
/* Method call obj.name(args) on strings and dicts. *found = false when obj has no such method. */
loom_status tpl_call_method(tpl_render *r, const tpl_node *at, tpl_value obj, tpl_str name, const tpl_args *args,
                            bool *found, tpl_value *out);
bool tpl_is_method(tpl_value obj, tpl_str name);
/* Python str methods, shared with the filters of the same name. */
loom_status tpl_str_strip(tpl_render *r, const tpl_node *at, tpl_str s, tpl_value chars, bool left, bool right,
                          tpl_value *out);
loom_status tpl_str_replace(tpl_render *r, const tpl_node *at, tpl_str s, tpl_str old, tpl_str new_, int64_t count,
                            tpl_value *out);
/* mode: 'u' upper, 'l' lower, 't' title (str.title), 'c' capitalize */
loom_status tpl_str_case(tpl_render *r, const tpl_node *at, tpl_str s, int mode, tpl_value *out);

/* ---- operators and lookups (ops.c) -------------------------------------------------------- */
loom_status tpl_binary(tpl_render *r, const tpl_node *at, int op, tpl_value a, tpl_value b, tpl_value *out);
loom_status tpl_contains(tpl_render *r, const tpl_node *at, tpl_value container, tpl_value item, bool *out);
loom_status tpl_getattr(tpl_render *r, const tpl_node *at, tpl_value obj, tpl_str name, tpl_value *out);
loom_status tpl_getitem(tpl_render *r, const tpl_node *at, tpl_value obj, tpl_value key, tpl_value *out);
loom_status tpl_slice(tpl_render *r, const tpl_node *at, tpl_value obj, tpl_value start, tpl_value stop, tpl_value step,
                      tpl_value *out);
/* The items a for loop (or list(), join, ...) walks: list items, dict keys, string characters. */
loom_status tpl_iterate(tpl_render *r, const tpl_node *at, tpl_value v, tpl_list **out);

/* ---- render state (render.c, eval.c) ------------------------------------------------------ */
typedef struct tpl_scope tpl_scope;
struct tpl_scope {
    tpl_dict *vars;
    tpl_scope *parent;
};

struct tpl_render {
    tpl_arena arena;
    tpl_buf *out; /* where output goes (macro calls and block sets swap it) */
    loom_template_limits limits;
    uint64_t steps;
    int call_depth;
    int loop_ctl; /* 1: break, 2: continue pending */
    tpl_scope *scope, *root;
    const tpl_dict *context;
    loom_error *err;
};

/* Errors at a node: "template line L col C: message". */
loom_status tpl_fail(tpl_render *r, const tpl_node *at, loom_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
loom_status tpl_no_memory(tpl_render *r, const tpl_node *at);
/* Jinja's UndefinedError for a use of v (TV_UNDEF) that needs a value. */
loom_status tpl_undefined_error(tpl_render *r, const tpl_node *at, tpl_value v);
/* len + 1 bytes from the render arena, with len counted as work; NULL after setting the error. */
char *tpl_new_bytes(tpl_render *r, const tpl_node *at, size_t len);
/* Counts work; fails once limits.max_steps is spent. */
loom_status tpl_charge(tpl_render *r, const tpl_node *at, uint64_t steps);
/* Arena copy of a buffer's bytes; fails when the buffer overflowed. */
loom_status tpl_buf_value(tpl_render *r, const tpl_node *at, tpl_buf *b, tpl_value *out);
/* str(v) as a value (strings are returned as they are). */
loom_status tpl_to_str(tpl_render *r, const tpl_node *at, tpl_value v, tpl_value *out);

loom_status tpl_eval(tpl_render *r, const tpl_node *n, tpl_value *out);
loom_status tpl_eval_args(tpl_render *r, const tpl_nodes *nodes, size_t first, tpl_args *out);
loom_status tpl_call_macro(tpl_render *r, const tpl_node *at, const tpl_node *macro, const tpl_args *args,
                           tpl_value *out);
loom_status tpl_lookup(tpl_render *r, tpl_str name, tpl_value *out);

#endif
