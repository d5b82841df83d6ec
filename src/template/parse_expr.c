/* Expressions, with Jinja's grammar and precedence (lowest first): ternary "a if c else b", or, and,
 * not, comparisons (chained, in, not in), + -, ~, * / // %, **, unary - +, then primaries with their
 * postfix .attr [item] [a:b:c] (call), and filters "|f(args)" and tests "is [not] t(args)". */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "template/internal.h"

loom_status tpl_syntax_error(tpl_parser *p, const tpl_token *at, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    loom_status st = strncmp(msg, "unsupported", 11) == 0 ? LOOM_ERR_UNSUPPORTED : LOOM_ERR_FORMAT;
    return loom_fail(p->err, st, "template line %d col %d: %s", at->line, at->col, msg);
}

tpl_node *tpl_node_new(tpl_parser *p, tpl_node_kind kind, const tpl_token *at) {
    tpl_node *n = tpl_alloc(p->arena, sizeof *n);
    if (!n) {
        loom_fail(p->err, LOOM_ERR_NO_MEMORY, "template: out of memory while parsing");
        return NULL;
    }
    n->kind = kind;
    n->line = at->line;
    n->col = at->col;
    return n;
}

bool tpl_nodes_push(tpl_parser *p, tpl_nodes *list, size_t *cap, tpl_node *n) {
    if (list->n == *cap) {
        size_t new_cap = *cap ? *cap * 2 : 4;
        tpl_node **v = tpl_alloc(p->arena, new_cap * sizeof *v);
        if (!v) {
            loom_fail(p->err, LOOM_ERR_NO_MEMORY, "template: out of memory while parsing");
            return false;
        }
        if (list->n) memcpy(v, list->v, list->n * sizeof *v);
        list->v = v;
        *cap = new_cap;
    }
    list->v[list->n++] = n;
    return true;
}

const tpl_token *tpl_peek(const tpl_parser *p) { return &p->toks->v[p->pos]; }

const tpl_token *tpl_next(tpl_parser *p) {
    const tpl_token *t = &p->toks->v[p->pos];
    if (t->kind != TK_EOF) p->pos++;
    return t;
}

static bool str_is(tpl_str s, const char *lit) { return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0; }
bool tpl_is_op(const tpl_token *t, const char *op) { return t->kind == TK_OP && str_is(t->text, op); }
bool tpl_is_name(const tpl_token *t, const char *name) { return t->kind == TK_NAME && str_is(t->text, name); }

static const char *describe(const tpl_token *t) {
    switch (t->kind) {
        case TK_EOF: return "end of template";
        case TK_TEXT: return "template text";
        case TK_VAR_BEGIN: return "'{{'";
        case TK_VAR_END: return "'}}'";
        case TK_BLOCK_BEGIN: return "'{%'";
        case TK_BLOCK_END: return "'%}'";
        case TK_NAME: return "a name";
        case TK_STRING: return "a string";
        case TK_INT:
        case TK_FLOAT: return "a number";
        case TK_OP: return "an operator";
    }
    return "a token";
}

bool tpl_expect_op(tpl_parser *p, const char *op) {
    const tpl_token *t = tpl_peek(p);
    if (tpl_is_op(t, op)) {
        tpl_next(p);
        return true;
    }
    tpl_syntax_error(p, t, "expected '%s', got %s", op, describe(t));
    return false;
}

static bool enter(tpl_parser *p) {
    if (++p->depth <= TPL_MAX_PARSE_DEPTH) return true;
    tpl_syntax_error(p, tpl_peek(p), "unsupported: expression nested deeper than %d", TPL_MAX_PARSE_DEPTH);
    return false;
}

static tpl_node *parse_or(tpl_parser *p);
static tpl_node *parse_unary(tpl_parser *p, bool with_filter);

static tpl_node *parse_condexpr(tpl_parser *p) {
    if (!enter(p)) return NULL;
    tpl_node *n = parse_or(p);
    while (n && tpl_is_name(tpl_peek(p), "if")) {
        tpl_node *c = tpl_node_new(p, N_COND, tpl_next(p));
        if (!c) return NULL;
        c->a = n;
        if (!(c->b = parse_or(p))) return NULL;
        if (tpl_is_name(tpl_peek(p), "else")) {
            tpl_next(p);
            if (!(c->c = parse_condexpr(p))) return NULL;
        }
        n = c;
    }
    p->depth--;
    return n;
}

tpl_node *tpl_parse_expression(tpl_parser *p) { return parse_condexpr(p); }

/* Left-associative levels: a op b op c ... */
static tpl_node *binary_level(tpl_parser *p, tpl_node *(*operand)(tpl_parser *), const char *const *ops,
                              tpl_node_kind kind) {
    tpl_node *n = operand(p);
    for (;;) {
        const tpl_token *t = tpl_peek(p);
        int op = 0;
        for (const char *const *o = ops; *o && !op; o++)
            if ((kind == N_BINARY && tpl_is_op(t, *o)) || (kind != N_BINARY && tpl_is_name(t, *o))) op = **o;
        if (!n || !op) return n;
        if (t->text.len == 2 && t->kind == TK_OP) op = t->text.p[0] == '/' ? 'F' : 'P';
        tpl_node *b = tpl_node_new(p, kind, tpl_next(p));
        if (!b) return NULL;
        b->op = op;
        b->a = n;
        if (!(b->b = operand(p))) return NULL;
        n = b;
    }
}

static tpl_node *parse_pow(tpl_parser *p);
static tpl_node *parse_unary_filtered(tpl_parser *p) { return parse_unary(p, true); }
static tpl_node *parse_pow(tpl_parser *p) {
    static const char *const ops[] = {"**", NULL};
    return binary_level(p, parse_unary_filtered, ops, N_BINARY);
}
static tpl_node *parse_math2(tpl_parser *p) {
    static const char *const ops[] = {"*", "/", "//", "%", NULL};
    return binary_level(p, parse_pow, ops, N_BINARY);
}
static tpl_node *parse_concat(tpl_parser *p) {
    static const char *const ops[] = {"~", NULL};
    return binary_level(p, parse_math2, ops, N_BINARY);
}
static tpl_node *parse_math1(tpl_parser *p) {
    static const char *const ops[] = {"+", "-", NULL};
    return binary_level(p, parse_concat, ops, N_BINARY);
}

static tpl_node *parse_compare(tpl_parser *p) {
    tpl_node *first = parse_math1(p);
    if (!first) return NULL;
    tpl_node *cmp = NULL;
    size_t cap = 0;
    for (;;) {
        const tpl_token *t = tpl_peek(p);
        int op = 0;
        static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
        static const char codes[] = {'=', '!', '<', 'L', '>', 'G'};
        for (size_t i = 0; i < 6; i++)
            if (tpl_is_op(t, ops[i])) op = codes[i];
        if (tpl_is_name(t, "in")) op = 'i';
        else if (tpl_is_name(t, "not") && tpl_is_name(&p->toks->v[p->pos + 1], "in")) op = 'n';
        if (!op) break;
        tpl_next(p);
        if (op == 'n') tpl_next(p);
        if (!cmp) {
            if (!(cmp = tpl_node_new(p, N_COMPARE, t))) return NULL;
            cmp->a = first;
        }
        tpl_node *operand = tpl_node_new(p, N_CMP, t);
        if (!operand || !(operand->a = parse_math1(p)) || !tpl_nodes_push(p, &cmp->args, &cap, operand)) return NULL;
        operand->op = op;
    }
    return cmp ? cmp : first;
}

static tpl_node *parse_not(tpl_parser *p) {
    if (!tpl_is_name(tpl_peek(p), "not")) return parse_compare(p);
    if (!enter(p)) return NULL;
    tpl_node *n = tpl_node_new(p, N_UNARY, tpl_next(p));
    if (!n || !(n->a = parse_not(p))) return NULL;
    n->op = '!';
    p->depth--;
    return n;
}

static tpl_node *parse_and(tpl_parser *p) {
    static const char *const ops[] = {"and", NULL};
    return binary_level(p, parse_not, ops, N_AND);
}
static tpl_node *parse_or(tpl_parser *p) {
    static const char *const ops[] = {"or", NULL};
    return binary_level(p, parse_and, ops, N_OR);
}

/* Comma-separated expressions up to the closing op; keyword arguments allowed when kwargs. */
static bool parse_list_until(tpl_parser *p, tpl_nodes *out, const char *close, bool kwargs, bool pairs) {
    size_t cap = 0;
    while (!tpl_is_op(tpl_peek(p), close)) {
        if (out->n && !tpl_expect_op(p, ",")) return false;
        if (tpl_is_op(tpl_peek(p), close)) break;
        const tpl_token *t = tpl_peek(p);
        tpl_node *n;
        if (kwargs && t->kind == TK_NAME && tpl_is_op(&p->toks->v[p->pos + 1], "=")) {
            if (!(n = tpl_node_new(p, N_KWARG, t))) return false;
            n->name = t->text;
            p->pos += 2;
            if (!(n->a = tpl_parse_expression(p))) return false;
        } else if (tpl_is_op(t, "*") || tpl_is_op(t, "**")) {
            tpl_syntax_error(p, t, "unsupported: *args and **kwargs in calls");
            return false;
        } else if (!(n = tpl_parse_expression(p))) {
            return false;
        }
        if (!tpl_nodes_push(p, out, &cap, n)) return false;
        if (pairs) {
            tpl_node *v;
            if (!tpl_expect_op(p, ":") || !(v = tpl_parse_expression(p)) || !tpl_nodes_push(p, out, &cap, v))
                return false;
        }
    }
    tpl_next(p);
    return true;
}

static tpl_node *parse_primary(tpl_parser *p) {
    const tpl_token *t = tpl_next(p);
    tpl_node *n;
    switch (t->kind) {
        case TK_NAME:
            if (!(n = tpl_node_new(p, N_CONST, t))) return NULL;
            if (tpl_is_name(t, "true") || tpl_is_name(t, "True")) n->value = tv_bool(true);
            else if (tpl_is_name(t, "false") || tpl_is_name(t, "False")) n->value = tv_bool(false);
            else if (tpl_is_name(t, "none") || tpl_is_name(t, "None")) n->value = tv_none();
            else {
                n->kind = N_NAME;
                n->name = t->text;
            }
            return n;
        case TK_STRING: {
            if (!(n = tpl_node_new(p, N_CONST, t))) return NULL;
            size_t len = t->text.len, k = p->pos;
            for (; p->toks->v[k].kind == TK_STRING; k++) len += p->toks->v[k].text.len;
            if (k == p->pos) {
                n->value = tv_str(t->text.p, t->text.len);
                return n;
            }
            char *buf = tpl_alloc(p->arena, len + 1); /* adjacent literals concatenate: 'a' 'b' */
            if (!buf) {
                loom_fail(p->err, LOOM_ERR_NO_MEMORY, "template: out of memory while parsing");
                return NULL;
            }
            memcpy(buf, t->text.p, t->text.len);
            size_t at = t->text.len;
            for (; p->pos < k; p->pos++) {
                memcpy(buf + at, p->toks->v[p->pos].text.p, p->toks->v[p->pos].text.len);
                at += p->toks->v[p->pos].text.len;
            }
            n->value = tv_str(buf, len);
            return n;
        }
        case TK_INT:
        case TK_FLOAT:
            if (!(n = tpl_node_new(p, N_CONST, t))) return NULL;
            n->value = t->kind == TK_INT ? tv_int(t->ival) : tv_float(t->fval);
            return n;
        case TK_OP:
            if (tpl_is_op(t, "(")) {
                if (!(n = tpl_parse_tuple(p, true)) || !tpl_expect_op(p, ")")) return NULL;
                return n;
            }
            if (tpl_is_op(t, "[") || tpl_is_op(t, "{")) {
                bool dict = tpl_is_op(t, "{");
                if (!(n = tpl_node_new(p, dict ? N_DICT : N_LIST, t))) return NULL;
                if (!parse_list_until(p, &n->args, dict ? "}" : "]", false, dict)) return NULL;
                return n;
            }
            break;
        default: break;
    }
    if (t->kind == TK_OP) tpl_syntax_error(p, t, "unexpected '%.*s' in expression", (int)t->text.len, t->text.p);
    else tpl_syntax_error(p, t, "unexpected %s in expression", describe(t));
    return NULL;
}

static tpl_node *parse_call(tpl_parser *p, tpl_node *callee) {
    tpl_node *n = tpl_node_new(p, N_CALL, tpl_next(p));
    if (!n) return NULL;
    n->a = callee;
    return parse_list_until(p, &n->args, ")", true, false) ? n : NULL;
}

static tpl_node *parse_subscript(tpl_parser *p, tpl_node *obj) {
    const tpl_token *t = tpl_next(p);
    tpl_node *n;
    if (tpl_is_op(t, ".")) {
        const tpl_token *name = tpl_next(p);
        if (name->kind == TK_INT) {
            if (!(n = tpl_node_new(p, N_ITEM, t)) || !(n->b = tpl_node_new(p, N_CONST, name))) return NULL;
            n->b->value = tv_int(name->ival);
        } else if (name->kind == TK_NAME) {
            if (!(n = tpl_node_new(p, N_ATTR, t))) return NULL;
            n->name = name->text;
        } else {
            tpl_syntax_error(p, name, "expected an attribute name after '.', got %s", describe(name));
            return NULL;
        }
        n->a = obj;
        return n;
    }
    /* '[': an index or a slice */
    tpl_node *parts[3] = {NULL, NULL, NULL};
    int colons = 0;
    for (;;) {
        const tpl_token *c = tpl_peek(p);
        if (tpl_is_op(c, "]")) break;
        if (tpl_is_op(c, ":")) {
            if (++colons > 2) {
                tpl_syntax_error(p, c, "unexpected ':' in subscript");
                return NULL;
            }
            tpl_next(p);
            continue;
        }
        if (parts[colons] && colons == 0 && tpl_is_op(c, ",")) { /* x[a, b] subscripts with a tuple */
            tpl_node *tuple = tpl_node_new(p, N_TUPLE, c);
            size_t cap = 0;
            if (!tuple || !tpl_nodes_push(p, &tuple->args, &cap, parts[0])) return NULL;
            while (tpl_is_op(tpl_peek(p), ",")) {
                tpl_next(p);
                tpl_node *item = tpl_parse_expression(p);
                if (!item || !tpl_nodes_push(p, &tuple->args, &cap, item)) return NULL;
            }
            parts[0] = tuple;
            continue;
        }
        if (parts[colons]) {
            tpl_syntax_error(p, c, "expected ']' or ':' in subscript, got %s", describe(c));
            return NULL;
        }
        if (!(parts[colons] = tpl_parse_expression(p))) return NULL;
    }
    tpl_next(p);
    if (colons == 0 && !parts[0]) {
        tpl_syntax_error(p, t, "empty subscript");
        return NULL;
    }
    if (!(n = tpl_node_new(p, colons ? N_SLICE : N_ITEM, t))) return NULL;
    n->a = obj;
    n->b = parts[0];
    n->c = parts[1];
    n->d = parts[2];
    return n;
}

static tpl_node *parse_postfix(tpl_parser *p, tpl_node *n) {
    while (n) {
        const tpl_token *t = tpl_peek(p);
        if (tpl_is_op(t, ".") || tpl_is_op(t, "[")) n = parse_subscript(p, n);
        else if (tpl_is_op(t, "(")) n = parse_call(p, n);
        else break;
    }
    return n;
}

/* "| name(args)" or "is [not] name(args)" / "is name arg". */
static tpl_node *parse_filter_or_test(tpl_parser *p, tpl_node *subject, bool is_test) {
    tpl_next(p);
    bool negate = is_test && tpl_is_name(tpl_peek(p), "not");
    if (negate) tpl_next(p);
    const tpl_token *name = tpl_next(p);
    if (name->kind != TK_NAME) {
        tpl_syntax_error(p, name, "expected a %s name, got %s", is_test ? "test" : "filter", describe(name));
        return NULL;
    }
    /* An unknown name fails when it is evaluated: like Jinja, a template may hold one in a branch
     * that never runs. The node sits at the name, for the error. */
    tpl_node *n = tpl_node_new(p, is_test ? N_TEST : N_FILTER, name);
    if (!n) return NULL;
    n->a = subject;
    n->name = name->text;
    n->op = negate;
    const tpl_token *t = tpl_peek(p);
    if (tpl_is_op(t, "(")) {
        tpl_next(p);
        if (!parse_list_until(p, &n->args, ")", true, false)) return NULL;
    } else if (is_test &&
               (t->kind == TK_NAME || t->kind == TK_STRING || t->kind == TK_INT || t->kind == TK_FLOAT ||
                tpl_is_op(t, "[") || tpl_is_op(t, "{")) &&
               !tpl_is_name(t, "else") && !tpl_is_name(t, "or") && !tpl_is_name(t, "and")) {
        if (tpl_is_name(t, "is")) {
            tpl_syntax_error(p, t, "tests cannot be chained with 'is'");
            return NULL;
        }
        size_t cap = 0;
        tpl_node *arg = parse_postfix(p, parse_primary(p));
        if (!arg || !tpl_nodes_push(p, &n->args, &cap, arg)) return NULL;
    }
    return n;
}

static tpl_node *parse_unary(tpl_parser *p, bool with_filter) {
    if (!enter(p)) return NULL;
    const tpl_token *t = tpl_peek(p);
    tpl_node *n;
    if (tpl_is_op(t, "-") || tpl_is_op(t, "+")) {
        if (!(n = tpl_node_new(p, N_UNARY, tpl_next(p)))) return NULL;
        n->op = t->text.p[0];
        if (!(n->a = parse_unary(p, false))) return NULL;
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    while (n && with_filter) {
        t = tpl_peek(p);
        if (tpl_is_op(t, "|")) n = parse_filter_or_test(p, n, false);
        else if (tpl_is_name(t, "is")) n = parse_filter_or_test(p, n, true);
        else if (tpl_is_op(t, "(")) n = parse_call(p, n);
        else break;
    }
    p->depth--;
    return n;
}

static bool is_tuple_end(const tpl_token *t) {
    return t->kind == TK_VAR_END || t->kind == TK_BLOCK_END || t->kind == TK_EOF || tpl_is_op(t, ")") ||
        tpl_is_op(t, "=") || tpl_is_name(t, "in") || tpl_is_name(t, "recursive");
}

tpl_node *tpl_parse_tuple(tpl_parser *p, bool condexpr) {
    const tpl_token *start = tpl_peek(p);
    tpl_node *tuple = NULL, *first = NULL;
    size_t cap = 0;
    for (;;) {
        if (first && !tuple) {
            if (!tpl_is_op(tpl_peek(p), ",")) return first;
            if (!(tuple = tpl_node_new(p, N_TUPLE, start)) || !tpl_nodes_push(p, &tuple->args, &cap, first))
                return NULL;
        }
        if (tuple) {
            if (!tpl_is_op(tpl_peek(p), ",")) break;
            tpl_next(p);
        }
        if (is_tuple_end(tpl_peek(p))) break;
        tpl_node *n = condexpr ? parse_condexpr(p) : parse_or(p);
        if (!n) return NULL;
        if (!first) first = n;
        else if (!tpl_nodes_push(p, &tuple->args, &cap, n)) return NULL;
    }
    if (tuple) return tuple;
    if (tpl_is_op(tpl_peek(p), ")") && start == tpl_peek(p)) return tpl_node_new(p, N_TUPLE, start); /* () */
    tpl_syntax_error(p, tpl_peek(p), "expected an expression, got %s", describe(tpl_peek(p)));
    return NULL;
}
